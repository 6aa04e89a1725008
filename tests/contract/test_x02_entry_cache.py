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
from civicledger.kernel.tilecache import Bundle, TileCache, TileSpan
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
