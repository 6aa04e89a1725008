"""An in-memory store: the default for fast tests, and where replay and export checks run.

It behaves like the SQL stores: one writer at a time (a lock held for the unit of work),
rollback unless committed (an undo log), and values copied in and out as canonical JSON so that
nothing a caller holds can alias stored state.
"""

from __future__ import annotations

import bisect
import dataclasses
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from typing import Self, TypeVar

from civicledger.kernel.canonical import JSONValue, canonical_bytes
from civicledger.kernel.identity import Account, AccountId
from civicledger.kernel.journal import TreeHead
from civicledger.kernel.ledger import Currency
from civicledger.kernel.merkle import Node, completed_subtrees
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.personal import PersonalItem
from civicledger.kernel.ports import JournalHead, JournalRows, Preload, StoredEntry
from civicledger.kernel.proposals import Proposal
from civicledger.kernel.tilecache import TileCache, TileSpan

K = TypeVar("K")
V = TypeVar("V")


class _State:
    def __init__(self) -> None:
        self.entries: list[StoredEntry] = []
        self.by_command: dict[str, int] = {}
        self.subtrees: dict[Node, bytes] = {}  # perfect subtrees of level >= 1 (X2 tiles)
        self.head = JournalHead()
        self.accounts: dict[AccountId, Account] = {}
        self.currencies: dict[CurrencyId, Currency] = {}
        self.balances: dict[tuple[AccountId, CurrencyId], int] = {}
        self.by_account: dict[AccountId, set[CurrencyId]] = {}
        self.by_currency: dict[CurrencyId, set[AccountId]] = {}
        self.sums: dict[CurrencyId, int] = {}
        self.records: dict[str, dict[str, str]] = {}
        self.record_keys: dict[str, list[str]] = {}
        self.nonces: dict[tuple[str, str], int] = {}
        self.personal: dict[str, PersonalItem] = {}  # off-journal personal data (IN11)
        self.proposals: dict[str, Proposal] = {}  # off-journal council drafts (kernel/proposals.py)


class MemoryStore:
    backend = "memory"

    def __init__(self, tiles: TileCache | None = None) -> None:
        self._state = _State()
        self._lock = threading.RLock()
        self.tiles = TileCache() if tiles is None else tiles

    def write(self) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self._state, self._lock, writable=True, grown=self.tiles.forget_head)

    def read(self) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self._state, self._lock, writable=False)

    def journal_rows(
        self, seq: int | None, nodes: Sequence[Node], spans: Sequence[TileSpan], bodies: tuple[int, int] | None = None
    ) -> JournalRows:
        with self.read() as uow:
            journal = uow.journal
            return JournalRows(
                None if seq is None else journal.get(seq),
                journal.subtrees(nodes) if nodes else {},
                [b"".join(journal.level_hashes(s.level, s.start, s.stop)) for s in spans],
                [] if bodies is None else journal.leaf_bodies(*bodies),
            )

    def consume_nonces(self, items: Sequence[tuple[str, str, int]], forget_before: int | None) -> list[bool]:
        with self.write() as uow:
            fresh = uow.spend_nonces(items, forget_before)
            uow.commit()
        return fresh

    def close(self) -> None:
        pass


class MemoryUnitOfWork:
    def __init__(
        self, state: _State, lock: threading.RLock, writable: bool, grown: Callable[[], None] | None = None
    ) -> None:
        self._s = state
        self._lock = lock
        self._writable = writable
        self._grown = grown  # told when a commit appended to the journal
        self._size_at_start = 0
        self._undo: list[Callable[[], None]] = []
        self.journal = _Journal(self)
        self.accounts = _Accounts(self)
        self.ledger = _Ledger(self)
        self.records = _Records(self)
        self.personal = _Personal(self)
        self.proposals = _Proposals(self)

    def __enter__(self) -> Self:
        self._lock.acquire()
        self._size_at_start = self._s.head.size
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.rollback()
        finally:
            self._lock.release()

    def commit(self) -> None:
        if self._grown is not None and self._s.head.size != self._size_at_start:
            self._grown()
        self._undo.clear()

    def rollback(self) -> None:
        while self._undo:
            self._undo.pop()()

    def _writing(self) -> None:
        if not self._writable:
            raise RuntimeError("this unit of work is read-only")

    def _put(self, write: Callable[[V], None], old: V, new: V) -> None:
        """Write ``new`` now, and ``old`` back if the unit of work rolls back."""
        write(new)
        self._undo.append(lambda: write(old))

    def preload(self, want: Preload) -> None:
        """Nothing to do: every read is already in memory."""

    def spend_nonces(
        self, items: Sequence[tuple[str, str, int]], forget_before: int | None, preload: Preload | None = None
    ) -> list[bool]:
        self._writing()
        nonces = self._s.nonces
        added: list[tuple[str, str]] = []
        forgotten: dict[tuple[str, str], int] = {}

        def restore() -> None:
            for key in added:
                del nonces[key]
            nonces.update(forgotten)

        self._undo.append(restore)
        if forget_before is not None:
            for key in [k for k, seen in nonces.items() if seen < forget_before]:
                forgotten[key] = nonces.pop(key)
        fresh = []
        for account, nonce, at in items:
            is_new = (account, nonce) not in nonces
            fresh.append(is_new)
            if is_new:
                nonces[(account, nonce)] = at
                added.append((account, nonce))
        return fresh

    def clear_projections(self) -> None:
        self._writing()
        s = self._s
        saved = (s.accounts, s.currencies, s.balances, s.by_account, s.by_currency, s.sums, s.records, s.record_keys)

        def restore() -> None:
            (s.accounts, s.currencies, s.balances, s.by_account, s.by_currency, s.sums, s.records, s.record_keys) = (
                saved
            )

        self._undo.append(restore)
        s.accounts, s.currencies, s.balances = {}, {}, {}
        s.by_account, s.by_currency, s.sums, s.records, s.record_keys = {}, {}, {}, {}, {}


def _assign(table: dict[K, V], key: K, value: V | None) -> None:
    """``table[key] = value``; ``None`` removes the key."""
    if value is None:
        del table[key]
    else:
        table[key] = value


class _Journal:
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._u = uow

    def head(self) -> JournalHead:
        return self._u._s.head

    def append(self, stored: StoredEntry, head: JournalHead) -> None:
        self._u._writing()
        s = self._u._s
        if stored.entry.seq != len(s.entries):
            raise RuntimeError(f"journal out of sequence: {stored.entry.seq} after {len(s.entries)}")
        old_head = s.head
        nodes = completed_subtrees(old_head.frontier, stored.leaf_hash)
        s.entries.append(stored)
        s.by_command[stored.entry.command.id] = stored.entry.seq
        s.head = head
        for level, index, value in nodes:
            s.subtrees[(level, index)] = value

        def undo() -> None:
            s.entries.pop()
            del s.by_command[stored.entry.command.id]
            s.head = old_head
            for level, index, _ in nodes:
                del s.subtrees[(level, index)]

        self._u._undo.append(undo)

    def get(self, seq: int) -> StoredEntry | None:
        entries = self._u._s.entries
        return entries[seq] if 0 <= seq < len(entries) else None

    def find_command(self, command_id: str) -> StoredEntry | None:
        seq = self._u._s.by_command.get(command_id)
        return None if seq is None else self._u._s.entries[seq]

    def sign_head(self, seq: int, signature: str) -> None:
        self._u._writing()
        entries = self._u._s.entries
        old = entries[seq]

        def write(stored: StoredEntry) -> None:
            if seq < len(entries):
                entries[seq] = stored

        self._u._put(write, old, dataclasses.replace(old, head=dataclasses.replace(old.head, signature=signature)))

    def scan(self, start: int = 0, stop: int | None = None) -> Iterator[StoredEntry]:
        yield from self._u._s.entries[start:stop]

    def leaf_hashes(self, size: int) -> list[bytes]:
        return [e.leaf_hash for e in self._u._s.entries[:size]]

    def subtrees(self, wanted: Sequence[Node]) -> dict[Node, bytes]:
        s = self._u._s
        out: dict[Node, bytes] = {}
        for level, index in wanted:
            if level == 0:
                if 0 <= index < len(s.entries):
                    out[(0, index)] = s.entries[index].leaf_hash
            elif (level, index) in s.subtrees:
                out[(level, index)] = s.subtrees[(level, index)]
        return out

    def level_hashes(self, level: int, start: int, stop: int) -> list[bytes]:
        if level == 0:
            return [e.leaf_hash for e in self._u._s.entries[start:stop]]
        table = self._u._s.subtrees
        return [table[(level, i)] for i in range(start, stop) if (level, i) in table]

    def leaf_bodies(self, start: int, stop: int) -> list[bytes]:
        return [e.body or e.entry.leaf_bytes() for e in self._u._s.entries[start:stop]]

    def signed_heads(self, start: int, stop: int) -> list[TreeHead]:
        return [e.head for e in self._u._s.entries[start:stop] if e.head.signature]

    def latest_signed_head(self, at_most: int | None = None) -> TreeHead | None:
        entries = self._u._s.entries
        last = len(entries) if at_most is None else min(at_most, len(entries))
        for stored in reversed(entries[:last]):
            if stored.head.signature:
                return stored.head
        return None


class _Accounts:
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._u = uow

    def get(self, account: AccountId) -> Account | None:
        return self._u._s.accounts.get(account)

    def get_many(self, accounts: Iterable[AccountId]) -> dict[AccountId, Account]:
        table = self._u._s.accounts
        return {a: table[a] for a in accounts if a in table}

    def put(self, account: Account) -> None:
        self._u._writing()
        accounts = self._u._s.accounts
        self._u._put(partial(_assign, accounts, account.id), accounts.get(account.id), account)

    def scan(self) -> Iterator[Account]:
        accounts = self._u._s.accounts
        for key in sorted(accounts):
            yield accounts[key]


class _Ledger:
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._u = uow

    def currency(self, currency: CurrencyId) -> Currency | None:
        return self._u._s.currencies.get(currency)

    def put_currency(self, currency: Currency) -> None:
        self._u._writing()
        table = self._u._s.currencies
        self._u._put(partial(_assign, table, currency.id), table.get(currency.id), currency)

    def currencies(self) -> Iterator[Currency]:
        table = self._u._s.currencies
        for key in sorted(table):
            yield table[key]

    def balance(self, account: AccountId, currency: CurrencyId) -> int:
        return self._u._s.balances.get((account, currency), 0)

    def balances(self, keys: Iterable[tuple[AccountId, CurrencyId]]) -> dict[tuple[AccountId, CurrencyId], int]:
        table = self._u._s.balances
        return {key: table.get(key, 0) for key in keys}

    def set_balance(self, account: AccountId, currency: CurrencyId, units: int) -> None:
        self._u._writing()
        key = (account, currency)
        self._u._put(partial(self._set, key), self._u._s.balances.get(key, 0), units)

    def _set(self, key: tuple[AccountId, CurrencyId], units: int) -> None:
        s = self._u._s
        account, currency = key
        old = s.balances.get(key, 0)
        s.sums[currency] = s.sums.get(currency, 0) + units - old
        if units == 0:
            s.balances.pop(key, None)
            s.by_account.get(account, set()).discard(currency)
            s.by_currency.get(currency, set()).discard(account)
        else:
            s.balances[key] = units
            s.by_account.setdefault(account, set()).add(currency)
            s.by_currency.setdefault(currency, set()).add(account)

    def holdings(self, account: AccountId) -> dict[CurrencyId, int]:
        s = self._u._s
        return {c: s.balances[(account, c)] for c in sorted(s.by_account.get(account, ()))}

    def holders(self, currency: CurrencyId) -> dict[AccountId, int]:
        s = self._u._s
        return {a: s.balances[(a, currency)] for a in sorted(s.by_currency.get(currency, ()))}

    def scan_balances(self) -> Iterator[tuple[AccountId, CurrencyId, int]]:
        for (account, currency), units in sorted(self._u._s.balances.items()):
            yield account, currency, units

    def sums_by_currency(self) -> dict[CurrencyId, int]:
        return {c: v for c, v in sorted(self._u._s.sums.items()) if v}


class _Records:
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._u = uow

    def get(self, ns: str, key: str) -> JSONValue:
        raw = self._u._s.records.get(ns, {}).get(key)
        return None if raw is None else json.loads(raw)

    def put(self, ns: str, key: str, value: object) -> None:
        self._u._writing()
        encoded = canonical_bytes(value).decode()
        self._write(ns, key, encoded)

    def delete(self, ns: str, key: str) -> None:
        self._u._writing()
        self._write(ns, key, None)

    def _write(self, ns: str, key: str, encoded: str | None) -> None:
        self._u._put(partial(self._raw_set, ns, key), self._u._s.records.get(ns, {}).get(key), encoded)

    def _raw_set(self, ns: str, key: str, encoded: str | None) -> None:
        s = self._u._s
        table = s.records.setdefault(ns, {})
        keys = s.record_keys.setdefault(ns, [])
        if encoded is None:
            if key in table:
                del table[key]
                keys.pop(bisect.bisect_left(keys, key))
            return
        if key not in table:
            bisect.insort(keys, key)
        table[key] = encoded

    def scan(self, ns: str, prefix: str = "") -> Iterator[tuple[str, JSONValue]]:
        s = self._u._s
        keys = s.record_keys.get(ns, [])
        table = s.records.get(ns, {})
        i = bisect.bisect_left(keys, prefix)
        snapshot = []
        while i < len(keys) and keys[i].startswith(prefix):
            snapshot.append(keys[i])
            i += 1
        for key in snapshot:
            raw = table.get(key)
            if raw is not None:
                yield key, json.loads(raw)

    def namespaces(self) -> list[str]:
        return sorted(ns for ns, table in self._u._s.records.items() if table)


class _Personal:
    """Off-journal personal data (IN11): not a projection, so ``clear_projections`` keeps it."""

    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._u = uow

    def put(self, item: PersonalItem) -> None:
        self._u._writing()
        table = self._u._s.personal
        self._u._put(partial(_assign, table, item.ref), table.get(item.ref), item)

    def get(self, ref: str) -> PersonalItem | None:
        return self._u._s.personal.get(ref)

    def erase_subject(self, subject: str) -> int:
        self._u._writing()
        table = self._u._s.personal
        refs = self.refs_of(subject)
        for ref in refs:
            self._u._put(partial(_assign, table, ref), table[ref], None)
        return len(refs)

    def refs_of(self, subject: str) -> list[str]:
        return sorted(ref for ref, item in self._u._s.personal.items() if item.subject == subject)

    def with_text(self, text: str) -> list[PersonalItem]:
        return [item for _, item in sorted(self._u._s.personal.items()) if item.text == text]


class _Proposals:
    """Council drafts collecting co-signatures: not a projection, so ``clear_projections`` keeps them."""

    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._u = uow

    def put(self, proposal: Proposal) -> None:
        self._u._writing()
        table = self._u._s.proposals
        self._u._put(partial(_assign, table, proposal.id), table.get(proposal.id), proposal)

    def get(self, proposal: str) -> Proposal | None:
        return self._u._s.proposals.get(proposal)

    def newest(self, limit: int) -> list[Proposal]:
        ordered = sorted(self._u._s.proposals.values(), key=lambda p: (p.created_at, p.id), reverse=True)
        return ordered[:limit]
