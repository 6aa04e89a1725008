"""What the engine and the handlers need from the outside world, as Protocols.

Adapters implement them: ``adapters.memory`` (fast tests, replay, verification of an export),
``adapters.sql`` (SQLite and PostgreSQL), ``adapters.crypto`` (Ed25519), ``adapters.clock``.

A *unit of work* is one transaction: it rolls back unless ``commit()`` is called. A write unit of
work holds the journal's single writer lock from its start to its end, so decisions are always
taken on exactly the state the journal order implies (docs/decisions/0002-one-writer.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, Self

from civicledger.kernel.canonical import JSONValue
from civicledger.kernel.identity import Account, AccountId
from civicledger.kernel.journal import Entry, TreeHead
from civicledger.kernel.ledger import Currency
from civicledger.kernel.merkle import Frontier, Node
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.personal import PersonalItem
from civicledger.kernel.proposals import Proposal
from civicledger.kernel.tilecache import TileCache, TileSpan


class Clock(Protocol):
    def now(self) -> int:
        """Whole seconds since the epoch."""
        ...


class SignatureVerifier(Protocol):
    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool: ...


class Signer(Protocol):
    """Holds a private key; the journal key and client keys both sign through this."""

    @property
    def public_key(self) -> bytes: ...

    def sign(self, message: bytes) -> bytes: ...


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """An entry with its Merkle leaf hash and the tree head right after it."""

    entry: Entry
    leaf_hash: bytes
    head: TreeHead  # signature is "" inside a transaction; its last entry's head is signed
    payload_digest: str
    body: bytes = b""  # the entry's canonical bytes (the Merkle leaf data), when already encoded


@dataclass(frozen=True, slots=True)
class JournalHead:
    size: int = 0
    frontier: Frontier = field(default_factory=Frontier)
    time: int = 0


class JournalRepository(Protocol):
    def head(self) -> JournalHead: ...

    def append(self, stored: StoredEntry, head: JournalHead) -> None: ...

    def get(self, seq: int) -> StoredEntry | None: ...

    def find_command(self, command_id: str) -> StoredEntry | None: ...

    def sign_head(self, seq: int, signature: str) -> None:
        """Record the journal key's signature on the tree head right after entry ``seq``."""
        ...

    def scan(self, start: int = 0, stop: int | None = None) -> Iterator[StoredEntry]: ...

    def leaf_hashes(self, size: int) -> list[bytes]: ...

    def subtrees(self, wanted: Sequence[Node]) -> dict[Node, bytes]:
        """The stored hashes of perfect subtrees ``(level, index)`` (level 0: leaf hashes), in at
        most two queries; ``append`` stores each one in the transaction that completes it (X2)."""
        ...

    def level_hashes(self, level: int, start: int, stop: int) -> list[bytes]:
        """The hashes of the perfect subtrees of ``level`` numbered [start, stop): a hash tile."""
        ...

    def leaf_bodies(self, start: int, stop: int) -> list[bytes]:
        """The leaf bytes (``StoredEntry.body``) of entries [start, stop): an entry bundle."""
        ...

    def latest_signed_head(self, at_most: int | None = None) -> TreeHead | None: ...

    def signed_heads(self, start: int, stop: int) -> list[TreeHead]:
        """The signed tree heads after entries [start, stop), in order (a monitor needs them: the
        draws of IN6 take their seeds from signed heads, so a replay must know which were signed)."""
        ...


class AccountRepository(Protocol):
    def get(self, account: AccountId) -> Account | None: ...

    def get_many(self, accounts: Iterable[AccountId]) -> dict[AccountId, Account]:
        """The existing ones among ``accounts``, in one query."""
        ...

    def put(self, account: Account) -> None: ...

    def scan(self) -> Iterator[Account]: ...


class LedgerRepository(Protocol):
    def currency(self, currency: CurrencyId) -> Currency | None: ...

    def put_currency(self, currency: Currency) -> None: ...

    def currencies(self) -> Iterator[Currency]: ...

    def balance(self, account: AccountId, currency: CurrencyId) -> int: ...

    def balances(self, keys: Iterable[tuple[AccountId, CurrencyId]]) -> dict[tuple[AccountId, CurrencyId], int]: ...

    def set_balance(self, account: AccountId, currency: CurrencyId, units: int) -> None: ...

    def holdings(self, account: AccountId) -> dict[CurrencyId, int]: ...

    def holders(self, currency: CurrencyId) -> dict[AccountId, int]: ...

    def scan_balances(self) -> Iterator[tuple[AccountId, CurrencyId, int]]: ...

    def sums_by_currency(self) -> dict[CurrencyId, int]: ...


class RecordRepository(Protocol):
    """Mechanism state as JSON values under (namespace, key); keys sort as code points."""

    def get(self, ns: str, key: str) -> Any | None: ...  # untyped: kernel/handlers.py copies a record with dict()

    def put(self, ns: str, key: str, value: object) -> None: ...

    def delete(self, ns: str, key: str) -> None: ...

    def scan(self, ns: str, prefix: str = "") -> Iterator[tuple[str, JSONValue]]: ...

    def namespaces(self) -> list[str]: ...


class PersonalDataRepository(Protocol):
    """Personal data kept off the journal (IN11), keyed by the reference the journal carries.

    Not a projection: ``clear_projections`` and rebuilds leave it alone, and replay never reads it.
    """

    def put(self, item: PersonalItem) -> None: ...

    def get(self, ref: str) -> PersonalItem | None: ...

    def erase_subject(self, subject: str) -> int:
        """Delete every item about ``subject``; return how many there were."""
        ...

    def refs_of(self, subject: str) -> list[str]: ...

    def with_text(self, text: str) -> list[PersonalItem]:
        """The items holding exactly ``text`` (X1 under IN11: the same evidence of a human twice)."""
        ...


class ProposalRepository(Protocol):
    """Council decisions collecting co-signatures (``kernel.proposals``), kept off the journal.

    Not a projection: ``clear_projections`` and rebuilds leave it alone, and replay never reads it.
    """

    def put(self, proposal: Proposal) -> None: ...

    def get(self, proposal: str) -> Proposal | None: ...

    def newest(self, limit: int) -> list[Proposal]:
        """Up to ``limit`` proposals, the newest drafted first."""
        ...


@dataclass(frozen=True, slots=True)
class Preload:
    """What a batch of commands is about to read, to be loaded at once (``UnitOfWork.preload``)."""

    command_ids: Sequence[str] = ()
    accounts: Sequence[AccountId] = ()
    balances: Sequence[tuple[AccountId, CurrencyId]] = ()
    currencies: Sequence[CurrencyId] = ()


class UnitOfWork(Protocol):
    @property
    def journal(self) -> JournalRepository: ...

    @property
    def accounts(self) -> AccountRepository: ...

    @property
    def ledger(self) -> LedgerRepository: ...

    @property
    def records(self) -> RecordRepository: ...

    @property
    def personal(self) -> PersonalDataRepository: ...

    @property
    def proposals(self) -> ProposalRepository: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def preload(self, want: Preload) -> None:
        """Load these into the unit of work's cache in as few round trips as the store allows (one
        on PostgreSQL); later reads of them cost nothing. A cache warm-up only: it changes no state."""
        ...

    def spend_nonces(
        self, items: Sequence[tuple[str, str, int]], forget_before: int | None, preload: Preload | None = None
    ) -> list[bool]:
        """Record request nonces ``(account, nonce, at)`` in this unit of work; for each, False if
        it was seen before (a replayed request, X6). A repeat within one call is accepted only the
        first time. With ``forget_before``, nonces seen before that time are forgotten first (by
        then a request's timestamp is stale anyway). Nonces are transport state, not economy
        state: they live outside the journal, and commit or roll back with the unit of work. With
        ``preload``, also ``preload(preload)``, in the same round trip where the store allows."""
        ...

    def clear_projections(self) -> None:
        """Delete every projection (accounts, currencies, balances, records), not the journal."""
        ...


@dataclass(frozen=True, slots=True)
class JournalRows:
    """What ``Store.journal_rows`` read: the entry (None if there is none at that position), the
    hashes of the subtrees asked for that are stored, each span's hashes concatenated (shorter
    than asked if the store lacks some), and the leaf bytes of the entries asked for (an entry
    bundle, as ``JournalRepository.leaf_bodies``)."""

    entry: StoredEntry | None
    nodes: dict[Node, bytes]
    spans: list[bytes]
    bodies: list[bytes] = field(default_factory=list)


class Store(Protocol):
    """A place the economy lives: opens units of work."""

    @property
    def backend(self) -> str:
        """ "memory", "sqlite" or "postgresql"."""
        ...

    tiles: TileCache
    """This store's process-wide cache of Merkle tiles and of the newest signed head (X2); a
    store opens with ``TileCache()``, and it may be replaced (another size, or ``TileCache(0)``)."""

    def journal_rows(
        self, seq: int | None, nodes: Sequence[Node], spans: Sequence[TileSpan], bodies: tuple[int, int] | None = None
    ) -> JournalRows:
        """Entry ``seq``, the subtree hashes ``nodes`` (as ``JournalRepository.subtrees``) and each
        span's level hashes (as ``JournalRepository.level_hashes``), the leaf bytes of entries
        ``bodies`` = [start, stop) (as ``JournalRepository.leaf_bodies``), in one round trip and no
        transaction: committed journal rows and subtrees never change, so any snapshot that holds
        them reads the same (what a proof against an already read signed head needs, X2)."""
        ...

    def write(self) -> UnitOfWork: ...

    def read(self) -> UnitOfWork: ...

    def consume_nonces(self, items: Sequence[tuple[str, str, int]], forget_before: int | None) -> list[bool]:
        """``UnitOfWork.spend_nonces`` in a committed transaction of its own (used when the
        transaction the nonces came with failed: see ``Engine.execute_batch``)."""
        ...

    def close(self) -> None: ...
