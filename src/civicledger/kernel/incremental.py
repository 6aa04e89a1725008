"""Incremental verification: re-execute only the entries a journal gained since the last run (X2, IN12).

A monitor (``civic monitor``) or an auditor (``civic verify --state``) keeps a store of its own, the
*verified state*: the economy it rebuilt by re-executing the journal, and one record of what it
verified (size, root, Merkle frontier, the log's key and origin). A later run opens that state and
re-executes only the new entries, each checked as ``civic verify`` checks it (its Merkle leaf, every
signature and consent by running its rule again, the same events and result, conservation per
currency), then checks that the tree it computed at the new size has exactly the root the log signed.

The Merkle frontier carries on from the verified tree, so a matching root also proves that the new
tree extends the verified one: a log that rewrote an entry after it was verified cannot match. A
signed tree smaller than the verified one (a rollback), of the same size with another root, or whose
first entries hash to another root than the verified one (a fork), is refused before any entry is
read.

All of it happens in one transaction of the state store, committed only when every new entry
verified and the root matched: a failed run leaves the last good state exactly as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from civicledger.kernel.audit import _NoClock, _RecordedHeads
from civicledger.kernel.canonical import JSONObject, parse_json
from civicledger.kernel.engine import Engine, Replay
from civicledger.kernel.errors import CivicLedgerError, IntegrityError
from civicledger.kernel.identity import AccountId
from civicledger.kernel.journal import Entry, TreeHead
from civicledger.kernel.ledger import BalanceKey
from civicledger.kernel.merkle import fold_subtrees, leaf_hash, perfect_subtrees
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.ports import SignatureVerifier, Store, StoredEntry, UnitOfWork
from civicledger.kernel.registry import EconomyInfo
from civicledger.kernel.state import economy_info

Progressed = Callable[[int, int], Callable[[int], None] | None]
"""Given the verified size and the target size, a callback told each new entry's position, or None."""

STATE_NAMESPACE = "verified_state"
"""The record namespace of the state store that holds what was verified (one record, ``journal``)."""


@dataclass(frozen=True, slots=True)
class VerifiedState:
    """What a run verified: the tree (size, root, frontier) and whose log it is."""

    size: int
    root: str  # hex
    frontier: tuple[str, ...]  # hex, largest subtree first (merkle.Frontier)
    log_key: str  # the log's verifier key (C2SP vkey), or the journal key in hex for a local store
    origin: str  # the checkpoint origin, or the economy id for a local store
    source: str  # where it was read from (URL or database), for the record only

    def to_wire(self) -> JSONObject:
        return {
            "size": self.size,
            "root": self.root,
            "frontier": list(self.frontier),
            "log_key": self.log_key,
            "origin": self.origin,
            "source": self.source,
        }

    @staticmethod
    def from_wire(data: JSONObject) -> VerifiedState:
        frontier = data["frontier"]
        assert isinstance(frontier, list)
        return VerifiedState(
            int(str(data["size"])),
            str(data["root"]),
            tuple(str(h) for h in frontier),
            str(data["log_key"]),
            str(data["origin"]),
            str(data["source"]),
        )


@dataclass(frozen=True, slots=True)
class Target:
    """The signed tree a run must reach, already checked to be signed by ``log_key`` (and cosigned
    as required). ``prefix_root`` is the log's own root of its first ``verified size`` entries
    (from its tiles or stored subtrees), when known: it tells a fork from a bad new entry."""

    size: int
    root: bytes
    log_key: str
    origin: str
    journal_key: str  # hex: the economy's journal key must be the key that signed the tree
    source: str
    prefix_root: bytes | None = None


@dataclass(frozen=True, slots=True)
class LogEntry:
    """An entry as a log serves it (an entry bundle's item): its position, its bytes, the leaf
    hash the log's hash tiles hold for it, when read, and the tree head the journal key signed
    right after it, if it signed one (the draws of IN6 take their seeds from signed heads)."""

    seq: int
    body: bytes
    leaf: bytes | None = None
    head: TreeHead | None = None


@dataclass
class IncrementalReport:
    ok: bool = True
    previous_size: int = 0
    size: int = 0
    new_entries: int = 0
    root: str = ""
    bad_seq: int | None = None
    reason: str = ""
    rule: str | None = None
    refused: bool = False  # the signed tree itself was refused (rollback, fork, another key)
    first_run: bool = False

    def fail(self, reason: str, rule: str | None, bad_seq: int | None = None) -> IncrementalReport:
        self.ok, self.reason, self.rule, self.bad_seq = False, reason, rule, bad_seq
        return self

    def to_wire(self) -> JSONObject:
        return {
            "ok": self.ok,
            "previous_size": self.previous_size,
            "size": self.size,
            "new_entries": self.new_entries,
            "root": self.root,
            "bad_seq": self.bad_seq,
            "reason": self.reason,
            "rule": self.rule,
            "refused": self.refused,
            "first_run": self.first_run,
        }


def load_state(store: Store) -> VerifiedState | None:
    """The verified state kept in ``store``; IntegrityError if its record and its tree disagree."""
    with store.read() as uow:
        data = uow.records.get(STATE_NAMESPACE, "journal")
        head = uow.journal.head()
    if data is None:
        if head.size:
            raise IntegrityError(f"the verified state holds {head.size} entries but no record of them")
        return None
    state = VerifiedState.from_wire(data)
    if (state.size, state.frontier) != (head.size, tuple(h.hex() for h in head.frontier.hashes)):
        raise IntegrityError(f"the verified state's record ({state.size} entries) does not match its tree")
    return state


def check_target(previous: VerifiedState | None, target: Target) -> None:
    """Refuse a signed tree that cannot follow the verified one (IN12): another log or key, a
    smaller tree (a rollback), or a tree whose verified part differs (a fork)."""
    if previous is None:
        return
    if previous.origin != target.origin or previous.log_key != target.log_key:
        raise IntegrityError(
            f"this state verified the log {previous.origin!r} with key {previous.log_key}; "
            f"refusing {target.origin!r} with key {target.log_key}",
            rule="IN12",
        )
    if target.size < previous.size:
        raise IntegrityError(
            f"rollback: the log's signed tree has {target.size} entries, fewer than the "
            f"{previous.size} already verified",
            rule="IN12",
        )
    if target.size == previous.size and target.root.hex() != previous.root:
        raise IntegrityError(
            f"fork: the log signed another root for the {target.size} entries already verified "
            f"({target.root.hex()[:16]}…, verified {previous.root[:16]}…)",
            rule="IN12",
        )
    if target.prefix_root is not None and target.prefix_root.hex() != previous.root:
        raise IntegrityError(
            f"fork: the log's first {previous.size} entries hash to {target.prefix_root.hex()[:16]}…, "
            f"not the verified root {previous.root[:16]}…: it rewrote history that was verified",
            rule="IN12",
        )


class _Abort(Exception):
    """Leaves the replay's transaction without committing: the state stays the last good one."""


class _ServedHeads(_RecordedHeads):
    """The sealer of a log read from tiles: a head the journal key signed is checked and kept as
    ``civic verify`` does; after an entry with no signed head the head the engine computed is kept
    (the checkpoint's root is checked at the end)."""

    def __call__(self, stored: StoredEntry, economy: EconomyInfo | None) -> StoredEntry:
        assert self.expected is not None
        if not self.expected.head.root:
            return stored
        return super().__call__(stored, economy)


def entry_of(item: LogEntry) -> StoredEntry:
    """Parse an entry bundle's item: one reading (IN10), and the bytes must be its canonical form,
    or the tree would hash other bytes than those re-executed."""
    if item.leaf is not None and leaf_hash(item.body) != item.leaf:
        raise IntegrityError("the entry's bytes do not match the leaf hash in the log's tiles")
    try:
        entry = Entry.from_wire(parse_json(item.body, depth=None, nul=False, rule="X2"))
    except (CivicLedgerError, UnicodeDecodeError) as e:
        raise IntegrityError(f"the entry's bytes are not an entry: {e}") from e
    if entry.leaf_bytes() != item.body:
        raise IntegrityError("the entry's bytes are not its canonical encoding")
    leaf = leaf_hash(item.body)
    head = TreeHead(entry.seq + 1, "", entry.time, "")
    if item.head is not None:
        if (item.head.size, item.head.time) != (entry.seq + 1, entry.time) or not item.head.signature:
            raise IntegrityError(f"the signed tree head served after entry {entry.seq} is not its head")
        head = item.head
    return StoredEntry(entry, leaf, head, entry.command.payload_digest(), item.body)


def verify_increment(
    state: Store,
    verifier: SignatureVerifier,
    target: Target,
    entries: Callable[[int], Iterable[StoredEntry | LogEntry]],
    *,
    progress: Callable[[int], None] | None = None,
) -> IncrementalReport:
    """Re-execute the entries from the verified size up to ``target.size`` on ``state`` and keep the
    result only if all verified and the tree's root is the target's. ``entries(start)`` yields them
    from ``start`` on: a local journal's, each with its tree head, or a served log's (``LogEntry``),
    with the heads the journal key signed; every signed head is checked as ``civic verify`` does."""
    report = IncrementalReport()
    try:
        previous = load_state(state)
        check_target(previous, target)
    except CivicLedgerError as e:
        report.refused = True
        return report.fail(e.message, e.rule)
    start = previous.size if previous is not None else 0
    report.previous_size = report.size = start
    report.first_run = previous is None
    report.root = previous.root if previous is not None else ""
    if previous is not None and target.size == previous.size:
        return report  # nothing new; the root was checked equal
    engine = Engine(state, _NoClock(), verifier, None)
    sealer = _ServedHeads(verifier)
    try:
        with engine.replaying() as replay:
            if replay.head.size != start:  # another run on the same state committed meanwhile
                report.fail(
                    f"the verified state moved from {start} to {replay.head.size} entries during this run", "X2"
                )
                raise _Abort
            _replay_new(replay, sealer, entries(start), start, target, report, progress)
            if report.ok:
                _check_reached(replay, target, report)
            if not report.ok:
                raise _Abort
            frontier = tuple(h.hex() for h in replay.head.frontier.hashes)
            kept = VerifiedState(target.size, target.root.hex(), frontier, target.log_key, target.origin, target.source)
            replay.uow.records.put(STATE_NAMESPACE, "journal", kept.to_wire())
    except _Abort:
        report.size = start
        return report
    report.size, report.root = target.size, target.root.hex()
    return report


def _replay_new(
    replay: Replay,
    sealer: _RecordedHeads,
    items: Iterable[StoredEntry | LogEntry],
    start: int,
    target: Target,
    report: IncrementalReport,
    progress: Callable[[int], None] | None,
) -> None:
    seq = start
    iterator: Iterator[StoredEntry | LogEntry] = iter(items)
    conservation = _Conservation()
    while seq < target.size:
        try:
            item = next(iterator, None)
            if item is None:
                raise IntegrityError(f"the log served {seq} entries of the {target.size} its tree holds")
            stored = item if isinstance(item, StoredEntry) else entry_of(item)
            _check_one(replay, sealer, stored, seq, conservation)
        except CivicLedgerError as e:
            report.fail(e.message, e.rule, seq)
            return
        except OSError:
            raise  # the log could not be read: no verdict on the entry; the state stays as it was
        except Exception as e:  # a malformed entry must be named, not crash verification
            report.fail(f"{type(e).__name__}: {e}", "X2", seq)
            return
        seq += 1
        report.new_entries += 1
        if progress is not None:
            progress(seq)
    try:
        conservation.check_all(replay.uow)
    except CivicLedgerError as e:
        report.fail(e.message, e.rule)


def _check_one(
    replay: Replay, sealer: _RecordedHeads, stored: StoredEntry, seq: int, conservation: _Conservation
) -> None:
    """One entry, checked as ``audit.verify_entries`` checks it (sequence, leaf, time, a fresh command
    id, re-execution to the same events and result, conservation), conservation kept incrementally."""
    entry = stored.entry
    if entry.seq != seq:
        raise IntegrityError(f"expected entry {seq}, found {entry.seq}")
    if leaf_hash(stored.body or entry.leaf_bytes()) != stored.leaf_hash:
        raise IntegrityError("the entry's bytes do not match its Merkle leaf hash")
    if entry.time < replay.head.time:
        raise IntegrityError(f"time {entry.time} goes back before {replay.head.time}")
    sealer.expected = stored
    if replay.uow.journal.find_command(entry.command.id) is not None:
        raise IntegrityError(f"command id {entry.command.id} appears twice")
    keys = conservation.before(replay.uow, entry.events)
    receipt = replay.run(entry.command, entry.time, sealer)
    entry.command.forget_encodings()  # the replayed journal keeps the command: only what it needs
    if list(receipt.events) != list(entry.events) or receipt.result != entry.result:
        raise IntegrityError("re-running the command gives other events than the recorded ones")
    conservation.after(replay.uow, keys)


class _Conservation:
    """X3 at every entry, without summing every balance of every currency after each one (the
    ledger of a large economy is most of its state). The sums per currency are read once, when the
    first entry moves units; each entry then adds the change of the balances its units events
    name, and the sum must equal issued minus burned. At the end of the run every touched
    currency's balances are summed in full: a change to a balance no event named shows there."""

    def __init__(self) -> None:
        self.sums: dict[CurrencyId, int] | None = None
        self.touched: set[CurrencyId] = set()
        self._before: dict[BalanceKey, int] = {}

    def before(self, uow: UnitOfWork, events: Iterable[JSONObject]) -> list[BalanceKey]:
        keys: list[BalanceKey] = []
        for e in events:
            kind = str(e.get("type", ""))
            if not kind.startswith("ledger.units_"):
                continue
            currency = CurrencyId(str(e["currency"]))
            for field in ("account", "source", "target"):
                if field in e:
                    keys.append((AccountId(str(e[field])), currency))
        if keys:
            if self.sums is None:
                self.sums = uow.ledger.sums_by_currency()
            self._before = uow.ledger.balances(keys)
        return keys

    def after(self, uow: UnitOfWork, keys: list[BalanceKey]) -> None:
        if not keys or self.sums is None:
            return
        after = uow.ledger.balances(keys)
        currencies = sorted({c for _, c in keys})
        for key in set(keys):
            self.sums[key[1]] = self.sums.get(key[1], 0) + after.get(key, 0) - self._before.get(key, 0)
        for currency_id in currencies:
            self._check(uow, currency_id, self.sums.get(currency_id, 0))
        self.touched.update(currencies)

    def check_all(self, uow: UnitOfWork) -> None:
        if not self.touched:
            return
        sums = uow.ledger.sums_by_currency()
        for currency_id in sorted(self.touched):
            self._check(uow, currency_id, sums.get(currency_id, 0))

    @staticmethod
    def _check(uow: UnitOfWork, currency_id: CurrencyId, total: int) -> None:
        currency = uow.ledger.currency(currency_id)
        if currency is None:
            raise IntegrityError(f"units of unknown currency {currency_id}")
        if total != currency.supply:
            raise IntegrityError(
                f"{currency_id}: balances sum to {total} but issued - burned is {currency.supply}", rule="X3"
            )


def _check_reached(replay: Replay, target: Target, report: IncrementalReport) -> None:
    """The tree computed from the verified one and the new entries must be the signed one, and the
    key that signed it the economy's journal key."""
    root = replay.head.frontier.root()
    if root != target.root:
        report.fail(
            f"the {target.size} entries hash to root {root.hex()[:16]}…, not the signed "
            f"{target.root.hex()[:16]}…: the log's tree does not extend the verified one or holds "
            "other entries than it served",
            "X2",
        )
        return
    info = economy_info(replay.uow)
    if info is None or info.journal_key != target.journal_key:
        report.fail("the key that signed the tree is not the economy's journal key", "X2")


def verify_journal_increment(
    source: Store, state: Store, verifier: SignatureVerifier, where: str, progressed: Progressed | None = None
) -> IncrementalReport:
    """Re-execute the entries a local journal gained since the state's last run, each against its
    signed tree head as ``civic verify`` checks it, up to the newest signed head (X2)."""
    with source.read() as uow:
        info = economy_info(uow)
        head = uow.journal.latest_signed_head()
        if info is None or head is None:
            raise IntegrityError("the journal has no signed tree head yet")
        previous = load_state(state)
        start = previous.size if previous is not None else 0
        prefix = None
        if 0 < start < head.size:  # the journal's own root of what was verified (a fork shows here)
            nodes = perfect_subtrees(0, start)
            found = uow.journal.subtrees(nodes)
            if all(node in found for node in nodes):
                prefix = fold_subtrees([found[node] for node in nodes])
        key = info.journal_key
        target = Target(head.size, bytes.fromhex(head.root), key, info.id, key, where, prefix)
        return verify_increment(
            state,
            verifier,
            target,
            lambda first: uow.journal.scan(first, head.size),
            progress=progressed(start, head.size) if progressed is not None else None,
        )
