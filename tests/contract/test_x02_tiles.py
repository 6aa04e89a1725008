"""X2 tiles: every store keeps the journal's perfect Merkle subtrees, and proofs built from them
are byte for byte the proofs kernel/merkle.py computes from all the leaves."""

from __future__ import annotations

import random
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

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
