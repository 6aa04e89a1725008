"""X2 entry bundles kept beside the tiles: on every store a warm proof reads nothing, serves the
same entry and proof as a proof read from the store, and a kept bundle that disagrees with the
store is never served."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest

from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.kernel import audit
from civicledger.kernel import ledger as led
from civicledger.kernel.identity import AccountKind
from civicledger.kernel.merkle import Node, leaf_hash
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.ports import JournalRows, Store
from civicledger.kernel.tilecache import Bundle, Tile, TileCache, TileSpan
from civicledger.kernel.tiles import TILE_WIDTH
from tests.contract.test_x02_tiles import _fill

COUNT = 2 * TILE_WIDTH + 45  # two full bundles and a partial one


def _reference(store: Store, seq: int) -> audit.JSONObject:
    """The proof as read from the store alone (no tile, no bundle kept)."""
    kept = store.tiles
    store.tiles = TileCache(max_bytes=0, entry_bytes=0)
    try:
        return audit.inclusion(store, seq)
    finally:
        store.tiles = kept


def _count_reads(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[int | None]:
    """Record the entry (or None) of every ``journal_rows`` round trip the store makes."""
    reads: list[int | None] = []
    real = store.journal_rows

    def counted(
        seq: int | None, nodes: Sequence[Node], spans: Sequence[TileSpan], bodies: tuple[int, int] | None = None
    ) -> JournalRows:
        reads.append(seq)
        return real(seq, nodes, spans, bodies)

    monkeypatch.setattr(store, "journal_rows", counted)
    return reads


def test_x02_warm_proofs_of_full_bundles_read_nothing_and_equal_the_stores(
    any_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(any_store, COUNT)
    seqs = [0, 1, 255, 256, 300, 511, 512, COUNT - 1, *random.Random(15).sample(range(COUNT), 30)]
    expected = {seq: _reference(any_store, seq) for seq in seqs}
    for seq in seqs:  # cold: tiles and bundles are read and kept
        assert audit.inclusion(any_store, seq) == expected[seq], seq
    assert any_store.tiles.entries.stats().bundles == 2  # the partial bundle is not kept
    reads = _count_reads(any_store, monkeypatch)
    for seq in seqs:  # warm
        assert audit.inclusion(any_store, seq) == expected[seq], seq
    full = [seq for seq in seqs if seq < 2 * TILE_WIDTH]
    assert reads == [seq for seq in seqs if seq >= 2 * TILE_WIDTH]  # only the partial bundle's entries
    assert any_store.tiles.entries.stats().hits >= len(full)


def test_x02_a_kept_bundle_that_disagrees_with_the_store_is_never_served(any_store: Store) -> None:
    _fill(any_store, COUNT)
    expected = _reference(any_store, 5)
    bodies = any_store.journal_rows(None, [], [], (0, TILE_WIDTH)).bodies
    forged = [b.replace(b'"n":5', b'"n":6') if i == 5 else b for i, b in enumerate(bodies)]
    assert forged[5] != bodies[5]
    any_store.tiles.entries.put(Bundle.build(0, forged))
    assert any_store.tiles.entries.body(5, COUNT) == forged[5]
    assert audit.inclusion(any_store, 5) == expected  # checked against the signed root, read again
    assert any_store.tiles.entries.body(5, COUNT) is None  # the forged bundle was dropped
    assert audit.inclusion(any_store, 5) == expected
    assert any_store.tiles.entries.body(5, COUNT) == bodies[5]  # read again, right this time


def test_x02_journal_rows_reads_an_entry_bundle(any_store: Store) -> None:
    leaves = _fill(any_store, COUNT)
    rows = any_store.journal_rows(None, [], [TileSpan(0, 256, 300)], (TILE_WIDTH, 2 * TILE_WIDTH))
    assert rows.spans == [b"".join(leaves[256:300])]
    assert [leaf_hash(body) for body in rows.bodies] == leaves[TILE_WIDTH : 2 * TILE_WIDTH]
    with any_store.read() as uow:
        assert rows.bodies == uow.journal.leaf_bodies(TILE_WIDTH, 2 * TILE_WIDTH)
    assert len(any_store.journal_rows(None, [], [], (COUNT - 5, COUNT + 5)).bodies) == 5  # what there is


def test_x02_signed_entries_served_from_a_bundle_equal_the_stored_entries(any_store: Store) -> None:
    """Real signed commands (accounts opened, a currency, transfers): the entry read from a kept
    bundle is the entry the store holds, field for field."""
    e = ScriptedEconomy(any_store, start=1_900_000_000, label="entry cache test")
    e.open("fund", AccountKind.FUND)
    e.run(led.CreateCurrency("xi", e.account("fund"), "xi"), "fund")
    for i in range(4):
        e.open(f"p{i}")
        e.run(led.Issue(CurrencyId("xi"), e.account(f"p{i}"), 1_000), "fund")
    xi = CurrencyId("xi")
    while e.executed < TILE_WIDTH + 3:
        i = e.executed % 4
        e.run(led.Transfer((led.Leg(xi, e.account(f"p{i}"), e.account(f"p{(i + 1) % 4}"), 1),)), f"p{i}")
    for seq in (0, 7, 100, TILE_WIDTH - 1):
        expected = _reference(any_store, seq)
        assert audit.inclusion(any_store, seq) == expected  # fills the bundle
        assert any_store.tiles.entries.body(seq, TILE_WIDTH) is not None
        assert audit.inclusion(any_store, seq) == expected  # served from it
        with any_store.read() as uow:
            stored = uow.journal.get(seq)
        assert stored is not None and expected["entry"] == stored.entry.to_wire()


def _no_reads(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Any read of the store from here on fails the test."""

    def refused(*args: object, **kwargs: object) -> object:
        raise AssertionError("a warm proof read the store")

    monkeypatch.setattr(store, "journal_rows", refused)
    monkeypatch.setattr(store, "read", refused)


def test_x02_warm_inclusion_answers_from_the_cache_alone_or_not_at_all(
    any_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``warm_inclusion`` (what the server answers on its event loop) gives exactly ``inclusion``'s
    answer when the cache holds all it needs, None when it would have to read, and never reads."""
    _fill(any_store, COUNT)
    seqs = [0, 1, 255, 256, 511, COUNT - 1, *random.Random(16).sample(range(2 * TILE_WIDTH), 20)]
    assert audit.warm_inclusion(any_store, 0) is None  # nothing kept yet: no head
    expected = {seq: audit.inclusion(any_store, seq) for seq in seqs}
    assert expected == {seq: _reference(any_store, seq) for seq in seqs}
    _no_reads(any_store, monkeypatch)
    for seq in seqs:
        warm = audit.warm_inclusion(any_store, seq)
        if seq < 2 * TILE_WIDTH:
            assert warm == expected[seq], seq
        else:  # the partial bundle is never kept: its entries are read each time
            assert warm is None
    assert audit.warm_inclusion(any_store, COUNT) is None  # beyond the tree: ``inclusion`` says why
    assert audit.warm_inclusion(any_store, 5, size=COUNT - 1) is None  # an older head: read it


def test_x02_warm_inclusion_never_serves_a_bundle_that_disagrees(any_store: Store) -> None:
    _fill(any_store, COUNT)
    expected = audit.inclusion(any_store, 5)
    assert audit.warm_inclusion(any_store, 5) == expected
    bodies = any_store.journal_rows(None, [], [], (0, TILE_WIDTH)).bodies
    forged = [b.replace(b'"n":5', b'"n":6') if i == 5 else b for i, b in enumerate(bodies)]
    any_store.tiles.entries.put(Bundle.build(0, forged))
    assert audit.warm_inclusion(any_store, 5) is None  # fails the signed root: left to ``inclusion``
    assert audit.inclusion(any_store, 5) == expected  # the cache emptied, read from the store alone
    assert audit.warm_inclusion(any_store, 5) is None
    assert audit.inclusion(any_store, 5) == expected  # kept again
    assert audit.warm_inclusion(any_store, 5) == expected


def test_x02_warm_inclusion_leaves_reading_an_expired_head_to_inclusion(any_store: Store) -> None:
    """Past the kept head's time a warm proof does not take the turn to read the newest head:
    the next ``inclusion`` reads it, so a growing journal's proofs move on to its newest head."""
    now = [0.0]
    any_store.tiles = TileCache(head_ttl=1.0, clock=lambda: now[0])
    _fill(any_store, COUNT)
    first = audit.inclusion(any_store, 5)
    assert audit.warm_inclusion(any_store, 5) == first
    now[0] = 5.0
    assert audit.warm_inclusion(any_store, 5) is None
    assert audit.warm_inclusion(any_store, 5) is None
    assert any_store.tiles.head() is None  # the turn to read is still free


def test_x02_warm_proofs_from_the_proven_tree_above_the_tiles(
    any_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once a server's warm proofs are asked for, each newest head read grows the tree above the
    tiles proven for it; warm proofs of full tiles then come from it (no general verification,
    nothing read) and equal the store's, and a kept tile that disagrees is never served."""
    now = [0.0]
    any_store.tiles = TileCache(head_ttl=1.0, clock=lambda: now[0])
    _fill(any_store, COUNT)
    assert audit.warm_inclusion(any_store, 0) is None  # no head kept; asks for the tree from now on
    seqs = [0, 5, 255, 256, 511, *random.Random(17).sample(range(2 * TILE_WIDTH), 20)]
    expected = {seq: _reference(any_store, seq) for seq in seqs}
    for seq in seqs:
        assert audit.inclusion(any_store, seq) == expected[seq]
    upper = any_store.tiles.upper
    assert upper is not None and upper.head.size == COUNT
    with monkeypatch.context() as m:
        _no_reads(any_store, m)

        def refused(*args: object) -> bool:
            raise AssertionError("a proof from the proven tree verified the whole path")

        m.setattr(audit, "verify_inclusion", refused)
        for seq in seqs:
            assert audit.warm_inclusion(any_store, seq) == expected[seq], seq

    kept = any_store.tiles.full_tile(0, 0)
    assert kept is not None
    forged = bytearray(kept.levels[0])
    forged[4 * 32] ^= 1  # the hash of leaf 4, the sibling in entry 5's proof
    corrupt = Tile.build(0, 0, bytes(forged))
    with monkeypatch.context() as m:  # the kept tile, corrupted in memory
        m.setattr(any_store.tiles, "full_tile", lambda level, index: corrupt)
        assert audit.warm_inclusion(any_store, 5) == expected[5]  # the proven root refused it
    now[0] = 5.0  # a later head: the tree grows from the last one
    _fill(any_store, TILE_WIDTH)
    assert audit.inclusion(any_store, 600)["tree_head"]["size"] == COUNT + TILE_WIDTH
    grown = any_store.tiles.upper
    assert grown is not None and grown.head.size == COUNT + TILE_WIDTH and len(grown.levels[0]) == 3
    assert grown.levels[0][:2] == upper.levels[0][:2]
