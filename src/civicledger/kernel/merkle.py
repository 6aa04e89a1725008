"""The journal's Merkle tree (X2), hashed exactly as RFC 6962 says.

Leaves are hashed as SHA-256(0x00 || entry) and inner nodes as SHA-256(0x01 || left || right), so
anyone with an export can check that an entry is in a tree head (inclusion proof) and that a
later tree head extends an earlier one (consistency proof) with any RFC 6962 tool.

``Frontier`` keeps only the roots of the perfect subtrees along the right edge, so appending an
entry and computing the new root costs O(log n), not O(n).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from civicledger.kernel.errors import InvalidInputError

HASH_BYTES = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _largest_power_of_two_below(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def root_of(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over already-hashed leaves."""
    if not leaves:
        return EMPTY_ROOT
    frontier = Frontier()
    for leaf in leaves:
        frontier = frontier.append(leaf)
    return frontier.root()


@dataclass(frozen=True, slots=True)
class Frontier:
    """Roots of the perfect subtrees of a tree of ``size`` leaves, largest (leftmost) first."""

    size: int = 0
    hashes: tuple[bytes, ...] = ()

    def append(self, leaf: bytes) -> Frontier:
        hashes = list(self.hashes)
        carry = leaf
        size = self.size
        # Like adding one to a binary counter: each trailing 1 bit merges two equal subtrees.
        while size & 1:
            carry = node_hash(hashes.pop(), carry)
            size >>= 1
        hashes.append(carry)
        return Frontier(self.size + 1, tuple(hashes))

    def root(self) -> bytes:
        if not self.hashes:
            return EMPTY_ROOT
        result = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            result = node_hash(left, result)
        return result


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 6962 section 2.1.1."""
    if not 0 <= index < len(leaves):
        raise ValueError(f"leaf {index} is not in a tree of {len(leaves)}")
    return _path(index, leaves)


def _path(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    n = len(leaves)
    if n <= 1:
        return []
    k = _largest_power_of_two_below(n)
    if m < k:
        return [*_path(m, leaves[:k]), root_of(leaves[k:])]
    return [*_path(m - k, leaves[k:]), root_of(leaves[:k])]


def consistency_proof(first: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 6962 section 2.1.2: the tree of ``first`` leaves is a prefix."""
    if not 0 < first <= len(leaves):
        raise ValueError(f"no consistency proof from {first} to {len(leaves)}")
    return _subproof(first, leaves, True)


def _subproof(m: int, leaves: Sequence[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [root_of(leaves)]
    k = _largest_power_of_two_below(n)
    if m <= k:
        return [*_subproof(m, leaves[:k], complete), root_of(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), root_of(leaves[:k])]


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2: does ``proof`` place ``leaf`` at ``index`` under ``root``?

    Malformed input (a hash that is not 32 bytes) is refused with ``InvalidInputError`` rather
    than answered ``False``: a caller that passed hex instead of bytes must learn it, not conclude
    that the log lied."""
    _check_hashes("leaf", [leaf])
    _check_hashes("root", [root])
    _check_hashes("proof", proof)
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]) -> bool:
    """RFC 9162 section 2.1.4.2: is the tree of ``first`` leaves a prefix of the one of ``second``?

    An empty tree is a prefix of every tree, so a proof from it proves nothing: RFC 9162 defines
    none, and one is refused (``InvalidInputError``), as are hashes that are not 32 bytes and sizes
    out of order."""
    if first < 1:
        raise InvalidInputError(
            f"no consistency proof exists from a tree of {first} entries: an empty tree proves nothing", rule="X2"
        )
    if second < first:
        raise InvalidInputError(
            f"a consistency proof goes from a smaller tree to a larger, not {first} to {second}", rule="X2"
        )
    _check_hashes("first root", [first_root])
    _check_hashes("second root", [second_root])
    _check_hashes("proof", proof)
    if first == second:
        return not proof and first_root == second_root
    if not 0 < first < second or not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root


def _check_hashes(what: str, hashes: Sequence[bytes]) -> None:
    for i, h in enumerate(hashes):
        if not isinstance(h, bytes) or len(h) != HASH_BYTES:
            kind = f"{len(h)} bytes" if isinstance(h, bytes) else type(h).__name__
            where = what if len(hashes) == 1 and what != "proof" else f"{what} hash {i}"
            raise InvalidInputError(f"the {where} must be a SHA-256 hash of {HASH_BYTES} bytes, not {kind}", rule="X2")


# Stored subtrees (tiles) ------------------------------------------------------------------------
#
# A perfect subtree is named (level, index): the 2**level leaves from index * 2**level on. Its hash
# never changes once the tree holds all its leaves, so a store can keep it; every proof element of
# RFC 6962 is such a hash or the fold of a few of them (the right edge of the tree), so a proof
# needs O(log n) stored hashes instead of all leaves.

Node = tuple[int, int]


def completed_subtrees(frontier: Frontier, leaf: bytes) -> list[tuple[int, int, bytes]]:
    """The perfect subtrees of level >= 1 that appending ``leaf`` completes, as (level, index, hash)."""
    out: list[tuple[int, int, bytes]] = []
    stack = list(frontier.hashes)
    carry, size, level = leaf, frontier.size, 0
    while size & 1:
        carry = node_hash(stack.pop(), carry)
        size >>= 1
        level += 1
        out.append((level, frontier.size >> level, carry))
    return out


def perfect_subtrees(start: int, stop: int) -> list[Node]:
    """Leaves [start, stop) as perfect subtrees, largest (leftmost) first; MTH of the range is
    ``fold_subtrees`` of their hashes when ``start`` is a multiple of the largest of them, as in
    every range RFC 6962's recursion visits."""
    out: list[Node] = []
    while start < stop:
        level = (stop - start).bit_length() - 1
        while start & ((1 << level) - 1):
            level -= 1
        out.append((level, start >> level))
        start += 1 << level
    return out


def fold_subtrees(hashes: Sequence[bytes]) -> bytes:
    """The hash of consecutive perfect subtrees, largest first (as ``Frontier.root``)."""
    if not hashes:
        return EMPTY_ROOT
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def inclusion_plan(index: int, size: int) -> list[list[Node]]:
    """PATH(index, D[size]) as the stored subtrees each proof element folds.

    RFC 6962's recursion, unrolled: each step splits [lo, hi) at the largest power of two k below
    its width and keeps the half that holds the leaf; the other half is the element that step adds
    (after the deeper ones, so the list is built from the top and reversed)."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    out: list[list[Node]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        level = (hi - lo - 1).bit_length() - 1  # k = 2**level, the largest power of two below the width
        mid = lo + (1 << level)
        if index < mid:
            out.append(perfect_subtrees(mid, hi))
            # [lo, mid) is perfect: below it each step's element is the sibling of the leaf's subtree
            # (the same recursion, each split exact; a warm proof's plan costs less this way)
            out += [[(lv, (index >> lv) ^ 1)] for lv in range(level - 1, -1, -1)]
            break
        out.append([(level, lo >> level)])  # [lo, mid) is one perfect subtree: lo is a multiple of k
        lo = mid
    out.reverse()
    return out


def consistency_plan(first: int, size: int) -> list[list[Node]]:
    """PROOF(first, D[size]) as the stored subtrees each proof element folds."""
    if not 0 < first <= size:
        raise ValueError(f"no consistency proof from {first} to {size}")
    return _subproof_plan(first, 0, size, True)


def _subproof_plan(m: int, lo: int, hi: int, complete: bool) -> list[list[Node]]:
    n = hi - lo
    if m == n:
        return [] if complete else [perfect_subtrees(lo, hi)]
    k = _largest_power_of_two_below(n)
    if m <= k:
        return [*_subproof_plan(m, lo, lo + k, complete), perfect_subtrees(lo + k, hi)]
    return [*_subproof_plan(m - k, lo + k, hi, False), perfect_subtrees(lo, lo + k)]
