"""X2 tiles: every store keeps the journal's perfect Merkle subtrees, and proofs built from them
are byte for byte the proofs kernel/merkle.py computes from all the leaves."""

from __future__ import annotations

import random
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from civicledger.kernel import audit
from civicledger.kernel.audit import proof_from_subtrees
from civicledger.kernel.merkle import (
    Frontier,
    consistency_plan,
    consistency_proof,
    fold_subtrees,
    inclusion_plan,
    inclusion_proof,
    root_of,
)
from civicledger.kernel.ports import Store
from civicledger.kernel.tilecache import Tile, TileCache, TileSpan
from civicledger.kernel.tiles import TILE_WIDTH, TileRef, decode_bundle, tiles_of
from tests.conftest import POSTGRES_URL, require_postgres
from tests.contract.test_store_contract import stored


def _fill(store: Store, count: int, batches: int = 7) -> list[bytes]:
    """``count`` entries in a few transactions of different lengths; their leaf hashes."""
    with store.read() as uow:
        frontier = uow.journal.head().frontier
    leaves: list[bytes] = []
    seq = frontier.size
    cuts = sorted(random.Random(count).sample(range(1, count), batches - 1)) if count > batches else []
    for start, stop in zip([0, *cuts], [*cuts, count], strict=True):
        with store.write() as uow:
            for _ in range(start, stop):
                s, head = stored(seq, frontier)
                uow.journal.append(s, head)
                frontier, seq = head.frontier, seq + 1
                leaves.append(s.leaf_hash)
            uow.commit()
    return leaves


def test_x02_tile_proofs_equal_the_reference_proofs_for_many_sizes(any_store: Store) -> None:
    leaves = _fill(any_store, 300)
    rng = random.Random(6962)
    sizes = [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 32, 33, 255, 256, 257, 299, 300]
    sizes += rng.sample(range(1, 301), 20)
    with any_store.read() as uow:
        for size in sizes:
            for index in {0, size - 1, size // 2, rng.randrange(size)}:
                proof = proof_from_subtrees(uow.journal, inclusion_plan(index, size))
                assert proof == inclusion_proof(index, leaves[:size]), (index, size)
            for first in {1, size, size // 2 or 1, rng.randrange(1, size + 1)}:
                proof = proof_from_subtrees(uow.journal, consistency_plan(first, size))
                assert proof == consistency_proof(first, leaves[:size]), (first, size)


def test_x02_a_rolled_back_append_leaves_no_subtrees(any_store: Store) -> None:
    _fill(any_store, 3, batches=1)
    with any_store.read() as uow:
        frontier = uow.journal.head().frontier
    with any_store.write() as uow:
        s, head = stored(3, frontier)
        uow.journal.append(s, head)
        assert uow.journal.subtrees([(2, 0)])  # leaves 0..3 complete a subtree of level 2
        uow.rollback()
    with any_store.read() as uow:
        assert uow.journal.subtrees([(1, 1), (2, 0)]) == {}
        assert list(uow.journal.subtrees([(1, 0)])) == [(1, 0)]


def test_x02_hash_tiles_and_entry_bundles_rebuild_the_root(any_store: Store) -> None:
    count = TILE_WIDTH * 2 + 37
    leaves = _fill(any_store, count)
    with any_store.read() as uow:
        level0 = [
            h
            for ref in tiles_of(count, 0)
            for h in uow.journal.level_hashes(0, ref.index * 256, ref.index * 256 + ref.width)
        ]
        level1 = [
            h
            for ref in tiles_of(count, 1)
            for h in uow.journal.level_hashes(8, ref.index * 256, ref.index * 256 + ref.width)
        ]
        bodies = uow.journal.leaf_bodies(0, 256)
    assert level0 == leaves
    assert level1 == [root_of(leaves[i * 256 : (i + 1) * 256]) for i in range(2)]
    assert tiles_of(count, 1) == [TileRef(1, 0, 2)] and tiles_of(count, 2) == []
    from civicledger.kernel.merkle import leaf_hash

    assert [leaf_hash(b) for b in decode_bundle(b"".join(len(b).to_bytes(2, "big") + b for b in bodies))] == leaves[
        :256
    ]
    # The root from the level-1 tile and the leaves right of it, as a tile client computes it.
    tail = Frontier()
    for leaf in leaves[512:]:
        tail = tail.append(leaf)
    assert fold_subtrees([root_of(level1), tail.root()]) == root_of(leaves)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_x02_a_database_written_before_tiles_gets_them_on_open(backend: str, tmp_path: Path) -> None:
    """Revision 0003 backfills the subtrees of a journal written at revision 0002."""
    from alembic import command
    from alembic.config import Config

    from civicledger.adapters.sql.store import MIGRATIONS, SqlStore

    if backend == "sqlite":
        url, schema = f"sqlite:///{tmp_path / 'old.db'}", None
    else:
        require_postgres()
        url, schema = POSTGRES_URL, f"t_{uuid.uuid4().hex[:16]}"
    store = SqlStore.open(url, schema=schema)
    leaves = _fill(store, 517)
    with store.engine.connect() as conn:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        command.downgrade(config, "0003")
        conn.commit()
        assert not sa.inspect(conn).has_table("merkle_subtrees")
    store.close()

    store = SqlStore.open(url, schema=schema, drop_schema_on_close=schema is not None)
    try:
        with store.read() as uow:
            assert uow.journal.level_hashes(8, 0, 3) == [root_of(leaves[:256]), root_of(leaves[256:512])]
            for index, size in [(0, 517), (300, 517), (516, 517), (5, 9)]:
                proof = proof_from_subtrees(uow.journal, inclusion_plan(index, size))
                assert proof == inclusion_proof(index, leaves[:size])
            assert proof_from_subtrees(uow.journal, consistency_plan(300, 517)) == consistency_proof(300, leaves)
        _fill(store, 3, batches=1)  # and appending goes on from the backfilled tree
    finally:
        store.close()


# The tile cache (X2): proofs served from kept tiles are the proofs read from the store ----------


def _reference(seq: int, size: int, leaves: list[bytes]) -> list[str]:
    return [p.hex() for p in inclusion_proof(seq, leaves[:size])]


def test_x02_cached_and_uncached_proofs_agree_with_the_reference(any_store: Store) -> None:
    """``audit.inclusion`` and ``audit.consistency`` give the same answers cold, from kept tiles,
    and with the cache off, and those are the RFC 6962 proofs from all the leaves."""
    leaves = _fill(any_store, 700)  # level-0 tiles 0 and 1 full, tile 2 partial; odd sizes are signed
    cached = any_store.tiles
    off = TileCache(max_bytes=0)
    rng = random.Random(15)
    for size in [1, 3, 255, 257, 511, 513, 699, rng.randrange(1, 700) | 1]:
        for seq in {0, size - 1, size // 2, rng.randrange(size)}:
            any_store.tiles = cached
            cold_or_warm = audit.inclusion(any_store, seq, size)
            warm = audit.inclusion(any_store, seq, size)
            any_store.tiles = off
            uncached = audit.inclusion(any_store, seq, size)
            assert cold_or_warm == warm == uncached
            assert warm["tree_head"]["size"] == size
            assert warm["proof"] == _reference(seq, size, leaves), (seq, size)
        for first in {1, size, size // 2 | 1}:
            any_store.tiles = cached
            proof = audit.consistency(any_store, first, size)
            any_store.tiles = off
            assert audit.consistency(any_store, first, size) == proof
            assert proof["proof"] == [p.hex() for p in consistency_proof(first, leaves[:size])]
    any_store.tiles = cached
    assert cached.stats().hits > 0 and cached.stats().fills > 0


def test_x02_a_kept_partial_tile_grows_with_the_journal(any_store: Store) -> None:
    """A tile kept while partial answers for what it held, is read again wider when a proof needs
    more, and proofs against the older, smaller signed head stay right."""
    leaves = _fill(any_store, 301)
    assert audit.inclusion(any_store, 290)["proof"] == _reference(290, 301, leaves)
    leaves += _fill(any_store, 300)
    for seq in (290, 300, 511, 512, 600):
        data = audit.inclusion(any_store, seq)
        assert data["tree_head"]["size"] == 601  # a commit here forgets the kept head
        assert data["proof"] == _reference(seq, 601, leaves)
        assert audit.inclusion(any_store, seq % 301, 301)["proof"] == _reference(seq % 301, 301, leaves)


def test_x02_a_wrong_kept_tile_is_never_served(any_store: Store) -> None:
    """Every proof is checked against its signed root before it is served: a kept tile that
    disagrees with the store (here planted) is dropped and the proof read from the store."""
    leaves = _fill(any_store, 301)
    any_store.tiles.put(Tile.build(0, 0, bytes(32 * TILE_WIDTH)))
    assert audit.inclusion(any_store, 5)["proof"] == _reference(5, 301, leaves)
    assert any_store.tiles.node((0, 4), 301) is None  # dropped
    assert audit.inclusion(any_store, 5)["proof"] == _reference(5, 301, leaves)
    assert any_store.tiles.node((0, 4), 301) == leaves[4]  # read again, right this time


def test_x02_journal_rows_reads_the_entry_nodes_and_spans(any_store: Store) -> None:
    leaves = _fill(any_store, 300)
    rows = any_store.journal_rows(7, [(0, 6), (3, 1), (8, 0), (8, 1)], [TileSpan(0, 256, 300), TileSpan(1, 4, 9)])
    assert rows.entry is not None and rows.entry.entry.seq == 7 and rows.entry.leaf_hash == leaves[7]
    assert rows.nodes == {(0, 6): leaves[6], (3, 1): root_of(leaves[8:16]), (8, 0): root_of(leaves[:256])}
    assert rows.spans[0] == b"".join(leaves[256:300])
    assert rows.spans[1] == b"".join(root_of(leaves[2 * i : 2 * i + 2]) for i in range(4, 9))
    assert any_store.journal_rows(300, [], []).entry is None
    assert any_store.journal_rows(None, [], [TileSpan(0, 299, 310)]).spans == [leaves[299]]


def test_x02_journal_reads_past_the_kept_connections_borrow_one_and_give_it_back_as_it_was() -> None:
    """PostgreSQL: with every kept autocommit connection busy, a read borrows a pooled connection
    in autocommit for that read only; transactions on the pool still roll back."""
    from civicledger.adapters.sql.store import SqlStore

    require_postgres()
    store = SqlStore.open(POSTGRES_URL, schema=f"t_{uuid.uuid4().hex[:16]}", drop_schema_on_close=True, pool_size=1)
    try:
        leaves = _fill(store, 5)
        readers = store._readers
        assert readers is not None
        busy = readers._take()  # the one kept connection, as if another thread were reading on it
        assert busy.own
        rows = store.journal_rows(3, [(0, 2)], [])
        assert rows.entry is not None and rows.entry.leaf_hash == leaves[3] and rows.nodes == {(0, 2): leaves[2]}
        readers._give(busy, True)
        with store.write() as uow:  # the borrowed connection went back out of autocommit
            s, head = stored(5, uow.journal.head().frontier)
            uow.journal.append(s, head)
            uow.flush()  # sent, not committed
            uow.rollback()
        with store.read() as uow:
            assert uow.journal.head().size == 5
        assert store.journal_rows(3, [], []).entry is not None  # and the kept one serves again
    finally:
        store.close()
