"""The journal's Merkle tree above its level-0 tiles, proven against one signed head (X2).

Every inclusion proof of an entry in a full level-0 tile is the entry's 8 siblings inside that
tile followed by the proof of the tile's root (tree level 8) in the whole tree: the second part
is the same for all 256 entries of the tile. A server that checks every proof it serves against
the signed root (``audit.inclusion``) would hash about 20 nodes a proof; with the tree above the
tiles built once per head and its root checked against the head's, a proof hashes only the 9 of
its own tile, compares the tile root it reaches with the one the proven tree holds, and takes
the rest from it (decision *Warm proofs on the event loop*).

The tree of level-8 hashes only grows: a perfect subtree's hash never changes, so the next
head's tree reuses every hash of the last and adds the new tiles' roots and what is above them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from civicledger.kernel.journal import TreeHead
from civicledger.kernel.merkle import Node, fold_subtrees, inclusion_plan, node_hash, perfect_subtrees
from civicledger.kernel.tiles import TILE_HEIGHT, TILE_WIDTH


def edge_nodes(size: int) -> list[Node]:
    """The perfect subtrees below tree level 8 that a tree of ``size`` leaves ends with (its
    partial level-0 tile): with the level-8 hashes, all a proof above the tiles folds."""
    return perfect_subtrees(size - size % TILE_WIDTH, size)


@dataclass(frozen=True, slots=True)
class UpperTree:
    """``levels[k]``: the hashes of tree level 8 + k, every perfect node a tree of ``size``
    leaves holds there; ``edge``: the hashes of ``edge_nodes(size)``. Built only when their
    fold is the signed ``head``'s root (``grow``), so everything it answers is proven."""

    head: TreeHead
    levels: tuple[tuple[bytes, ...], ...]
    edge: dict[Node, bytes]
    _above: dict[int, list[bytes]] = field(default_factory=dict, compare=False)

    @staticmethod
    def grow(
        last: UpperTree | None, head: TreeHead, new_tile_roots: Sequence[bytes], edge: dict[Node, bytes]
    ) -> UpperTree | None:
        """The tree for ``head``: ``last``'s level-8 hashes (of an earlier head of the same
        journal, or None) and ``new_tile_roots`` after them, the levels above recomputed where they
        changed. None unless its root is the head's (a kept tile disagreed with the journal)."""
        size = head.size
        base = list(last.levels[0]) if last is not None else []
        if len(base) + len(new_tile_roots) != size >> TILE_HEIGHT:
            raise ValueError(f"a tree of {size} leaves has {size >> TILE_HEIGHT} full tiles")
        base += new_tile_roots
        levels = [tuple(base)]
        below = base
        k = 0
        while len(below) > 1:
            # the last head's parents are final (perfect subtrees): only the new ones are hashed
            kept = list(last.levels[k + 1]) if last is not None and k + 1 < len(last.levels) else []
            above = kept + [node_hash(below[2 * j], below[2 * j + 1]) for j in range(len(kept), len(below) // 2)]
            levels.append(tuple(above))
            below = above
            k += 1
        tree = UpperTree(head, tuple(levels), dict(edge))
        if tree.root() != bytes.fromhex(head.root):
            return None
        return tree

    def value(self, node: Node) -> bytes:
        """The hash of a perfect node of the tree: level >= 8 from ``levels``, below from ``edge``."""
        level, index = node
        if level >= TILE_HEIGHT:
            return self.levels[level - TILE_HEIGHT][index]
        return self.edge[node]

    def root(self) -> bytes:
        return fold_subtrees([self.value(node) for node in perfect_subtrees(0, self.head.size)])

    def tile_root(self, tile: int) -> bytes | None:
        """The proven root of full level-0 tile ``tile``, or None if the tree has no such tile."""
        roots = self.levels[0]
        return roots[tile] if 0 <= tile < len(roots) else None

    def above(self, tile: int) -> list[bytes]:
        """The proof of full tile ``tile``'s root in the tree: what follows the 8 siblings inside
        the tile in the proof of any of its entries (RFC 6962's path, ``inclusion_plan``)."""
        found = self._above.get(tile)
        if found is None:
            plan = inclusion_plan(tile * TILE_WIDTH, self.head.size)[TILE_HEIGHT:]
            found = [self.value(e[0]) if len(e) == 1 else fold_subtrees([self.value(n) for n in e]) for e in plan]
            self._above[tile] = found
        return found
