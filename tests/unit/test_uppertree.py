"""X2: the tree above the level-0 tiles, proven against a signed head, gives exactly RFC 6962's
proof of each full tile's root, grows head by head, and is refused when it is not the head's."""

from __future__ import annotations

import random

from civicledger.kernel.journal import TreeHead
from civicledger.kernel.merkle import Node, inclusion_proof, leaf_hash, root_of
from civicledger.kernel.tiles import TILE_HEIGHT, TILE_WIDTH
from civicledger.kernel.uppertree import UpperTree, edge_nodes

LEAVES = [leaf_hash(str(i).encode()) for i in range(6 * TILE_WIDTH + 77)]


def _true(node: Node) -> bytes:
    level, index = node
    return root_of(LEAVES[index << level : (index + 1) << level])


def _head(size: int) -> TreeHead:
    return TreeHead(size, root_of(LEAVES[:size]).hex(), size, "sig")


def _grow(last: UpperTree | None, size: int) -> UpperTree | None:
    known = len(last.levels[0]) if last is not None else 0
    roots = [_true((TILE_HEIGHT, t)) for t in range(known, size >> TILE_HEIGHT)]
    return UpperTree.grow(last, _head(size), roots, {n: _true(n) for n in edge_nodes(size)})


def test_x02_the_proof_above_a_tile_is_the_tail_of_every_entrys_proof_in_it() -> None:
    rng = random.Random(9162)
    sizes = [1, 255, 256, 257, 511, 512, 513, 768, 1024, 1025, 3 * TILE_WIDTH + 1, len(LEAVES)]
    sizes += sorted(rng.sample(range(2, len(LEAVES) + 1), 12))
    for size in sizes:
        tree = _grow(None, size)
        assert tree is not None and tree.root() == root_of(LEAVES[:size]), size
        for tile in range(size >> TILE_HEIGHT):
            for seq in {tile * TILE_WIDTH, tile * TILE_WIDTH + 255, tile * TILE_WIDTH + rng.randrange(256)}:
                assert inclusion_proof(seq, LEAVES[:size])[TILE_HEIGHT:] == tree.above(tile), (size, seq)
            assert tree.tile_root(tile) == _true((TILE_HEIGHT, tile))
        assert tree.tile_root(size >> TILE_HEIGHT) is None  # the partial tile is not proven here


def test_x02_a_tree_grown_head_by_head_equals_one_built_at_once() -> None:
    tree = None
    for size in (3, 256, 300, 700, 1024, 1500, len(LEAVES)):
        tree = _grow(tree, size)
        assert tree is not None
        fresh = _grow(None, size)
        assert fresh is not None and tree.levels == fresh.levels and tree.edge == fresh.edge, size


def test_x02_a_tree_that_is_not_the_heads_is_refused() -> None:
    size = 4 * TILE_WIDTH + 10
    roots = [_true((TILE_HEIGHT, t)) for t in range(4)]
    edge = {n: _true(n) for n in edge_nodes(size)}
    forged = [*roots[:2], bytes(32), roots[3]]
    assert UpperTree.grow(None, _head(size), forged, edge) is None
    wrong_edge = {n: bytes(32) for n in edge}
    assert UpperTree.grow(None, _head(size), roots, wrong_edge) is None
    assert UpperTree.grow(None, _head(size), roots, edge) is not None
    other = TreeHead(size, root_of(LEAVES[1 : size + 1]).hex(), size, "sig")
    assert UpperTree.grow(None, other, roots, edge) is None
