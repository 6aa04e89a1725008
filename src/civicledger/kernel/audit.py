"""Verification, rebuild and export of the journal (X2, issue: `civic verify/rebuild/export`).

``verify_entries`` re-executes every entry on a fresh in-memory economy with the entry's own time,
and checks, in order: the sequence, every command signature and consent (by re-running the
rule), that the rule produces exactly the recorded events and result, the Merkle leaf, the tree
root and the journal key's signature on every tree head, and per currency that balances sum to
issued minus burned. It stops at the first bad entry and names it. It needs no database, so an
export can be checked by anyone.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TypedDict, cast

from civicledger.kernel.canonical import JSONObject, parse_json
from civicledger.kernel.engine import Engine, Replay
from civicledger.kernel.errors import CivicLedgerError, IntegrityError, InvalidInputError, NotFoundError
from civicledger.kernel.journal import Entry, TreeHead, tree_head_bytes
from civicledger.kernel.merkle import (
    Node,
    consistency_plan,
    fold_subtrees,
    inclusion_plan,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)
from civicledger.kernel.messages import decode_event
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.ports import JournalRepository, SignatureVerifier, Store, StoredEntry, UnitOfWork
from civicledger.kernel.registry import EconomyInfo, ProjectionContext, project
from civicledger.kernel.snapshot import state_digest
from civicledger.kernel.tilecache import HASH, Bundle, Tile, TileCache, tile_of, tile_span
from civicledger.kernel.tiles import TILE_HEIGHT, TILE_WIDTH
from civicledger.kernel.uppertree import UpperTree, edge_nodes


@dataclass
class VerifyReport:
    entries: int = 0
    ok: bool = True
    bad_seq: int | None = None
    reason: str = ""
    replay_digest: str = ""
    stored_digest: str = ""
    root: str = ""
    notes: list[str] = field(default_factory=list)

    def to_wire(self) -> JSONObject:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "bad_seq": self.bad_seq,
            "reason": self.reason,
            "root": self.root,
            "replay_digest": self.replay_digest,
            "stored_digest": self.stored_digest,
        }


class _RecordedHeads:
    """The sealer of a replay: the head the engine computes must be the recorded one, and the
    recorded head's signature the journal key's; the recorded head is the one kept."""

    def __init__(self, verifier: SignatureVerifier) -> None:
        self.verifier = verifier
        self.expected: StoredEntry | None = None

    def __call__(self, stored: StoredEntry, economy: EconomyInfo | None) -> StoredEntry:
        expected = self.expected
        assert expected is not None
        recorded = expected.head
        if (recorded.size, recorded.root, recorded.time) != (stored.head.size, stored.head.root, stored.head.time):
            raise IntegrityError(
                f"tree head {recorded.size}/{recorded.root[:16]}… does not match the entries "
                f"(root {stored.head.root[:16]}…)"
            )
        if recorded.signature and economy is not None:
            ok = self.verifier.verify(
                bytes.fromhex(economy.journal_key),
                tree_head_bytes(economy.id, recorded.size, recorded.root, recorded.time),
                bytes.fromhex(recorded.signature),
            )
            if not ok:
                raise IntegrityError("the tree head's signature is not the journal key's")
        return StoredEntry(stored.entry, stored.leaf_hash, recorded, stored.payload_digest, stored.body)


class _NoClock:
    """A replay runs every entry at its recorded time; nothing asks the clock."""

    def now(self) -> int:
        raise AssertionError("a replay runs each entry at its recorded time")


def record_namespaces(*uows: UnitOfWork) -> list[str]:
    return sorted({ns for uow in uows for ns in uow.records.namespaces()})


ScratchStore = Callable[[], Store]
"""Opens the empty store a journal is replayed into (the memory adapter's ``MemoryStore``)."""

Precheck = Callable[
    [Iterable[StoredEntry], SignatureVerifier], AbstractContextManager[tuple[Iterator[StoredEntry], SignatureVerifier]]
]
"""Given the entries and the verifier, the entries and the verifier to replay them with: signatures
checked ahead on other cores (``adapters.parallel_verify``); the answers must be the verifier's own."""


@contextmanager
def _as_given(
    entries: Iterable[StoredEntry], verifier: SignatureVerifier
) -> Iterator[tuple[Iterator[StoredEntry], SignatureVerifier]]:
    yield iter(entries), verifier


def verify_entries(
    stored_entries: Iterable[StoredEntry], verifier: SignatureVerifier, scratch: ScratchStore
) -> tuple[VerifyReport, Store]:
    memory = scratch()
    engine = Engine(memory, _NoClock(), verifier, None)
    sealer = _RecordedHeads(verifier)
    report = VerifyReport()
    expected_seq = 0
    last_signed = False
    with engine.replaying() as replay:
        for stored in stored_entries:
            entry = stored.entry
            try:
                _check_one(replay, sealer, stored, expected_seq)
            except CivicLedgerError as e:
                report.ok, report.bad_seq, report.reason = False, entry.seq, str(e)
                break
            except Exception as e:  # a malformed entry must be named, not crash verification
                report.ok, report.bad_seq, report.reason = False, entry.seq, f"{type(e).__name__}: {e}"
                break
            expected_seq += 1
            last_signed = bool(stored.head.signature)
        report.entries = expected_seq
        report.root = replay.head.frontier.root().hex()
        if report.ok and expected_seq and not last_signed:
            report.ok, report.bad_seq = False, expected_seq - 1
            report.reason = "X2: the newest tree head is not signed by the journal key"
    return report, memory


def _check_one(replay: Replay, sealer: _RecordedHeads, stored: StoredEntry, expected_seq: int) -> None:
    entry = stored.entry
    if entry.seq != expected_seq:
        raise IntegrityError(f"expected entry {expected_seq}, found {entry.seq}")
    if leaf_hash(entry.leaf_bytes()) != stored.leaf_hash:
        raise IntegrityError("the entry's bytes do not match its Merkle leaf hash")
    if entry.time < replay.head.time:
        raise IntegrityError(f"time {entry.time} goes back before {replay.head.time}")
    sealer.expected = stored
    if replay.uow.journal.find_command(entry.command.id) is not None:
        raise IntegrityError(f"command id {entry.command.id} appears twice")
    receipt = replay.run(entry.command, entry.time, sealer)
    entry.command.forget_encodings()  # the replayed journal keeps the command: only what it needs
    if list(receipt.events) != list(entry.events) or receipt.result != entry.result:
        raise IntegrityError("re-running the command gives other events than the recorded ones")
    _check_conservation(replay.uow, entry)


def _check_conservation(uow: UnitOfWork, entry: Entry) -> None:
    units_events = (e for e in entry.events if str(e.get("type", "")).startswith("ledger.units_"))
    touched = {CurrencyId(str(e["currency"])) for e in units_events}
    if not touched:
        return
    sums = uow.ledger.sums_by_currency()
    for currency_id in sorted(touched):
        currency = uow.ledger.currency(currency_id)
        if currency is None:
            raise IntegrityError(f"units of unknown currency {currency_id}")
        if sums.get(currency_id, 0) != currency.supply:
            raise IntegrityError(
                f"{currency_id}: balances sum to {sums.get(currency_id, 0)} but issued - burned is {currency.supply}",
                rule="X3",
            )


def verify_store(
    store: Store, verifier: SignatureVerifier, scratch: ScratchStore, precheck: Precheck = _as_given
) -> VerifyReport:
    """Verify every stored entry, then that replay gives exactly the stored state."""
    with store.read() as uow:
        with precheck(uow.journal.scan(), verifier) as (stored_entries, checked):
            report, memory = verify_entries(stored_entries, checked, scratch)
        if not report.ok:
            return report
        head = uow.journal.head()
        if head.size != report.entries:
            report.ok, report.bad_seq = False, report.entries
            report.reason = f"the journal head says {head.size} entries, {report.entries} were found"
            return report
        with memory.read() as replayed:
            namespaces = record_namespaces(uow, replayed)
            report.stored_digest = state_digest(uow, namespaces)
            report.replay_digest = state_digest(replayed, namespaces)
    if report.replay_digest != report.stored_digest:
        report.ok = False
        report.reason = "replaying the journal gives a different state than the stored one"
    return report


def rebuild(store: Store) -> tuple[str, str]:
    """Drop every projection and rebuild it from the journal's events; return digests before/after."""
    with store.write() as uow:
        namespaces = record_namespaces(uow)
        before = state_digest(uow, namespaces)
        uow.clear_projections()
        for stored in list(uow.journal.scan()):
            ctx = ProjectionContext(stored.entry.time, stored.entry.seq)
            for data in stored.entry.events:
                project(decode_event(data), uow, ctx)
        after = state_digest(uow, record_namespaces(uow))
        uow.commit()
    return before, after


# Export -----------------------------------------------------------------------------------------


def export_line(stored: StoredEntry) -> str:
    return json.dumps(
        {"entry": stored.entry.to_wire(), "leaf_hash": stored.leaf_hash.hex(), "head": stored.head.to_wire()},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )


def export_journal(store: Store, out: IO[str]) -> int:
    count = 0
    with store.read() as uow:
        for stored in uow.journal.scan():
            out.write(export_line(stored) + "\n")
            count += 1
    return count


class _ExportHead(TypedDict):
    size: int
    root: str
    time: int
    signature: str


class _ExportLine(TypedDict):
    """One line of an export (``export_line``); a line of any other shape is malformed."""

    entry: JSONObject
    head: _ExportHead
    leaf_hash: str


def read_export(path: Path) -> Iterator[StoredEntry]:
    """Parse an export line by line; a malformed line becomes an IntegrityError naming it."""
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                # One reading (IN10): a line with a key twice is malformed; U+0000 stays readable
                # (a journal written under rules 1 may hold it) and depth is the decoder's own limit.
                data = cast(_ExportLine, parse_json(line, depth=None, nul=False, rule="X2"))
                entry = Entry.from_wire(data["entry"])
                h = data["head"]
                head = TreeHead(int(h["size"]), str(h["root"]), int(h["time"]), str(h["signature"]))
                yield StoredEntry(entry, bytes.fromhex(data["leaf_hash"]), head, entry.command.payload_digest())
            except (ValueError, KeyError, TypeError, CivicLedgerError) as e:
                raise IntegrityError(f"export line {number} is malformed: {e}") from e


def verify_export(
    path: Path, verifier: SignatureVerifier, scratch: ScratchStore, precheck: Precheck = _as_given
) -> VerifyReport:
    try:
        with precheck(read_export(path), verifier) as (entries, checked):
            report, _ = verify_entries(entries, checked, scratch)
    except IntegrityError as e:
        return VerifyReport(ok=False, reason=str(e))
    except (OSError, UnicodeDecodeError) as e:
        return VerifyReport(ok=False, reason=f"X2: cannot read the export {path}: {e}")
    return report


# Proofs -----------------------------------------------------------------------------------------


def proof_from_subtrees(journal: JournalRepository, plan: list[list[Node]]) -> list[bytes]:
    """An RFC 6962 proof from the stored perfect subtrees its plan names (``merkle.inclusion_plan``,
    ``merkle.consistency_plan``): O(log n) rows in one or two queries, not every leaf (X2)."""
    found = journal.subtrees([node for element in plan for node in element])
    missing = [node for element in plan for node in element if node not in found]
    if missing:
        raise IntegrityError(f"the journal's stored Merkle subtrees lack {missing[:3]}")
    return [fold_subtrees([found[node] for node in element]) for element in plan]


def _signed_head(uow: UnitOfWork, size: int | None) -> TreeHead:
    head = uow.journal.latest_signed_head(at_most=size)
    if head is None:
        raise NotFoundError("the journal has no signed tree head yet", rule="X2")
    return head


def inclusion(store: Store, seq: int, size: int | None = None) -> JSONObject:
    """An entry with its inclusion proof against a signed tree head (the newest, as the store's
    tile cache last read it, or the newest covering at most ``size`` entries).

    Served from the store's tile cache where it holds the proof's nodes and the entry's bundle,
    so that a warm proof reads nothing, and checked against the head's root before it is served:
    the leaf hash checked is computed from the very bytes the entry is served from (X2)."""
    head = _head_for(store, seq, size)
    if not 0 <= seq < head.size:
        raise NotFoundError(f"entry {seq} is not in the signed tree of {head.size} entries", rule="X2")
    plan = inclusion_plan(seq, head.size)
    leaf, proof = _proved(_proof(store, plan, head.size, seq))
    if leaf is None:
        raise NotFoundError(f"entry {seq} is not in the signed tree of {head.size} entries", rule="X2")
    root = bytes.fromhex(head.root)
    if not verify_inclusion(leaf.hash, seq, head.size, proof, root):
        store.tiles.clear()  # a kept tile or bundle disagrees with the store: read everything again
        leaf, proof = _proved(_proof(store, plan, head.size, seq, cached=False))
        if leaf is None or not verify_inclusion(leaf.hash, seq, head.size, proof, root):
            raise IntegrityError(f"the journal's stored subtrees do not prove entry {seq} in its signed tree")
    return _inclusion_wire(seq, leaf, head, proof)


def consistency(store: Store, first: int, second: int | None = None) -> JSONObject:
    """A proof that the signed tree of ``first`` entries is a prefix of a later signed tree."""
    if first < 1 or (second is not None and second < first):
        raise InvalidInputError(
            f"a consistency proof goes from a smaller tree to a larger one, not {first} to {second}", rule="X2"
        )
    with store.read() as uow:
        later = _signed_head(uow, second)
        earlier = _signed_head(uow, first)
    if earlier.size != first:
        raise NotFoundError(f"there is no signed tree head of exactly {first} entries", rule="X2")
    plan = consistency_plan(first, later.size)
    roots = (first, later.size, bytes.fromhex(earlier.root), bytes.fromhex(later.root))
    _, proof = _proved(_proof(store, plan, later.size, None))
    if not verify_consistency(*roots, proof):
        store.tiles.clear()
        _, proof = _proved(_proof(store, plan, later.size, None, cached=False))
        if not verify_consistency(*roots, proof):
            raise IntegrityError(f"the journal's stored subtrees do not prove {first} consistent with {later.size}")
    return {
        "first": earlier.to_wire(),
        "second": later.to_wire(),
        "proof": [p.hex() for p in proof],
    }


def warm_inclusion(store: Store, seq: int, size: int | None = None) -> JSONObject | None:
    """``inclusion``'s answer when it needs nothing but the tile cache (the kept head covers
    ``seq``, the proof's nodes and the entry's bundle are kept), else None: then the caller asks
    ``inclusion``, which reads the store. A server answers a warm proof at once on its event loop,
    in the order requests came, instead of handing it to a request thread that waits its turn for
    the interpreter among dozens (decision *Warm proofs on the event loop*)."""
    cache = store.tiles
    kept = cache.fresh_head()
    cache.upper_wanted = True
    if kept is None or not seq < kept.size or (size is not None and kept.size > size):
        return None
    fast = _from_upper_tree(cache, kept, seq)
    if fast is not None:
        return fast
    plan = inclusion_plan(seq, kept.size)
    found = _proof(store, plan, kept.size, seq, reads=False)
    if found is None:
        return None
    leaf, proof = found
    if leaf is None or not verify_inclusion(leaf.hash, seq, kept.size, proof, bytes.fromhex(kept.root)):
        return None  # ``inclusion`` finds out why, reading the store
    return _inclusion_wire(seq, leaf, kept, proof)


def _from_upper_tree(cache: TileCache, head: TreeHead, seq: int) -> JSONObject | None:
    """A proof of an entry of a full level-0 tile from the kept tile, the kept bundle and the tree
    above the tiles proven for ``head`` (``kernel/uppertree.py``): 9 hashes, the tile's root they
    reach compared with the proven one; None unless all three are kept and agree."""
    upper = cache.upper
    if upper is None or upper.head != head or seq | (TILE_WIDTH - 1) >= head.size:
        return None
    tile_index = seq >> TILE_HEIGHT
    proven = upper.tile_root(tile_index)
    tile = cache.full_tile(0, tile_index)
    body = cache.entries.body(seq, head.size)
    if proven is None or tile is None or body is None:
        return None
    leaf = leaf_hash(body)
    value = leaf
    siblings = []
    for r in range(TILE_HEIGHT):
        offset = ((seq >> r) ^ 1) & ((TILE_WIDTH >> r) - 1)
        sibling = tile.levels[r][offset * HASH : offset * HASH + HASH]
        siblings.append(sibling)
        value = node_hash(sibling, value) if (seq >> r) & 1 else node_hash(value, sibling)
    if value != proven:
        return None  # ``inclusion`` finds out why, reading the store
    return _inclusion_wire(seq, _Leaf(leaf, body), head, siblings + upper.above(tile_index))


def _grow_upper_tree(store: Store, head: TreeHead) -> None:
    """Keep the tree above the tiles proven for ``head``, the newest signed head just read (for a
    server's warm proofs): the last one's level-8 hashes, the new full tiles' roots and the
    partial tile's subtrees read as a proof's nodes are (from kept tiles, else the store)."""
    cache = store.tiles
    last = cache.upper
    if last is not None and last.head.size > head.size:
        last = None
    known = len(last.levels[0]) if last is not None else 0
    new_roots = [(TILE_HEIGHT, t) for t in range(known, head.size >> TILE_HEIGHT)]
    edge = edge_nodes(head.size)
    if not new_roots and not edge:
        return
    _, values = _proved(_proof(store, [[node] for node in new_roots + edge], head.size, None))
    cache.upper = UpperTree.grow(
        last, head, values[: len(new_roots)], dict(zip(edge, values[len(new_roots) :], strict=True))
    )


def _inclusion_wire(seq: int, leaf: _Leaf, head: TreeHead, proof: list[bytes]) -> JSONObject:
    return {
        "seq": seq,
        "entry": leaf.wire(),
        "leaf_hash": leaf.hash.hex(),
        "tree_head": head.to_wire(),
        "proof": [p.hex() for p in proof],
    }


def _head_for(store: Store, seq: int, size: int | None) -> TreeHead:
    """The newest signed head (covering at most ``size``): the one the tile cache keeps if it
    covers ``seq``, else read from the store (and kept, when it is the newest of all)."""
    cache = store.tiles
    kept = cache.head()
    if kept is not None and seq < kept.size and (size is None or kept.size <= size):
        return kept
    read_at = cache.now()
    with store.read() as uow:
        head = _signed_head(uow, size)
    if size is None:
        cache.put_head(head, read_at)
        if cache.upper_wanted and cache.enabled and (cache.upper is None or cache.upper.head != head):
            _grow_upper_tree(store, head)
    return head


@dataclass(frozen=True, slots=True)
class _Leaf:
    """The entry a proof is for: its leaf hash with its leaf bytes (from an entry bundle, the hash
    computed from them) or its stored row."""

    hash: bytes
    body: bytes | None = None
    stored: StoredEntry | None = None

    def wire(self) -> JSONObject:
        """The entry as served: the leaf bytes are the canonical JSON of its wire form."""
        if self.body is not None:
            return cast(JSONObject, json.loads(self.body))
        assert self.stored is not None
        return self.stored.entry.to_wire()


def _proved(found: tuple[_Leaf | None, list[bytes]] | None) -> tuple[_Leaf | None, list[bytes]]:
    assert found is not None  # ``_proof`` answers None only when told not to read
    return found


def _proof(
    store: Store, plan: list[list[Node]], size: int, seq: int | None, cached: bool = True, reads: bool = True
) -> tuple[_Leaf | None, list[bytes]] | None:
    """Entry ``seq`` (if not None) and the proof ``plan`` names in the tree of ``size`` leaves.

    The nodes the tile cache holds cost nothing, nor does an entry whose full bundle it keeps; the
    tiles holding the other nodes are read whole with the entry (or its whole bundle, when the
    cache wants it), in one round trip (``Store.journal_rows``), and kept. With the cache off (or
    ``cached`` False) the nodes and the entry themselves are read, as ``proof_from_subtrees`` does."""
    cache = store.tiles
    use_tiles = cached and cache.enabled
    folded: dict[int, bytes] = {}  # the plan's elements of several nodes whose fold is kept
    if use_tiles:
        for i, element in enumerate(plan):
            if len(element) > 1 and (value := cache.fold(tuple(element))) is not None:
                folded[i] = value
    wanted = list(dict.fromkeys(node for i, element in enumerate(plan) if i not in folded for node in element))
    found, missing = cache.nodes(wanted, size) if use_tiles else ({}, wanted)
    leaf = None
    bundle = None
    if seq is not None and cached:
        body = cache.entries.body(seq, size)
        if body is not None:
            leaf = _Leaf(leaf_hash(body), body)
        elif not reads:
            return None
        elif seq | (TILE_WIDTH - 1) < size and cache.entries.wants(seq // TILE_WIDTH):
            start = seq - seq % TILE_WIDTH  # a full bundle: immutable, worth keeping
            bundle = (start, start + TILE_WIDTH)
    read_entry = seq is not None and leaf is None and bundle is None
    if not reads and missing:
        return None
    if missing or read_entry or bundle is not None:
        tiles = sorted({tile_of(n) for n in missing}) if use_tiles else []
        spans = [tile_span(t, size) for t in tiles]
        rows = store.journal_rows(seq if read_entry else None, [] if use_tiles else missing, spans, bundle)
        if rows.entry is not None:
            leaf = _Leaf(rows.entry.leaf_hash, stored=rows.entry)
        if bundle is not None and seq is not None:
            if len(rows.bodies) != TILE_WIDTH:
                raise IntegrityError(f"the journal lacks entries of its full bundle {bundle[0]} to {bundle[1]}")
            kept = Bundle.build(seq // TILE_WIDTH, rows.bodies)
            cache.entries.put(kept)
            body = kept.body(seq)
            leaf = _Leaf(leaf_hash(body), body)
        found.update(rows.nodes)
        for (level, index), span, data in zip(tiles, spans, rows.spans, strict=True):
            if len(data) != (span.stop - span.start) * HASH:
                raise IntegrityError(
                    f"the journal's stored Merkle subtrees lack some of level {span.level}, {span.start} to {span.stop}"
                )
            tile = Tile.build(level, index, data)
            cache.put(tile)
            for node in missing:
                if node not in found and (value := tile.get(node)) is not None:
                    found[node] = value
    lacking = [node for node in wanted if node not in found]
    if lacking:
        raise IntegrityError(f"the journal's stored Merkle subtrees lack {lacking[:3]}")
    proof = []
    for i, element in enumerate(plan):
        if len(element) == 1:
            proof.append(found[element[0]])
        elif i in folded:
            proof.append(folded[i])
        else:
            value = fold_subtrees([found[node] for node in element])
            if use_tiles:
                cache.put_fold(tuple(element), value)
            proof.append(value)
    return leaf, proof
