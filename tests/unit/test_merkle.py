"""X2: the journal's Merkle tree hashes as RFC 6962 says, and its proofs check as RFC 9162 says."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from civicledger.kernel.errors import InvalidInputError
from civicledger.kernel.merkle import (
    EMPTY_ROOT,
    Frontier,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)


def reference_root(leaves: list[bytes]) -> bytes:
    """MTH straight from RFC 6962 section 2.1, recursively, as an independent reference."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + reference_root(leaves[:k]) + reference_root(leaves[k:])).digest()


def leaves(n: int) -> list[bytes]:
    return [leaf_hash(f"entry {i}".encode()) for i in range(n)]


def test_x02_hashing_follows_rfc6962_prefixes() -> None:
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()
    assert root_of([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 33, 100])
def test_x02_frontier_root_equals_the_rfc6962_recursive_root(n: int) -> None:
    assert root_of(leaves(n)) == reference_root(leaves(n))
    frontier = Frontier()
    for i, leaf in enumerate(leaves(n)):
        frontier = frontier.append(leaf)
        assert frontier.root() == reference_root(leaves(i + 1))
    assert len(frontier.hashes) == bin(n).count("1")


def test_x02_every_inclusion_proof_verifies_and_a_wrong_one_does_not() -> None:
    for n in range(1, 34):
        tree = leaves(n)
        root = root_of(tree)
        for m in range(n):
            proof = inclusion_proof(m, tree)
            assert verify_inclusion(tree[m], m, n, proof, root)
            assert not verify_inclusion(leaf_hash(b"forged"), m, n, proof, root)
            if n > 1:
                assert not verify_inclusion(tree[m], (m + 1) % n, n, proof, root)


def test_x02_every_consistency_proof_verifies_and_a_fork_does_not() -> None:
    for n in range(1, 34):
        tree = leaves(n)
        for m in range(1, n + 1):
            proof = consistency_proof(m, tree)
            assert verify_consistency(m, n, root_of(tree[:m]), root_of(tree), proof)
            if m < n:
                forked = [*tree[: m - 1], leaf_hash(b"rewritten history")]
                assert not verify_consistency(m, n, root_of(forked), root_of(tree), proof)


@given(st.integers(1, 300), st.data())
def test_x02_proofs_hold_for_random_sizes(n: int, data: st.DataObject) -> None:
    tree = leaves(n)
    m = data.draw(st.integers(0, n - 1))
    assert verify_inclusion(tree[m], m, n, inclusion_proof(m, tree), root_of(tree))
    first = data.draw(st.integers(1, n))
    assert verify_consistency(first, n, root_of(tree[:first]), root_of(tree), consistency_proof(first, tree))


@pytest.mark.parametrize("bad", [b"", b"\x00" * 31, b"\x00" * 33, leaf_hash(b"x").hex().encode()])
def test_x02_inclusion_refuses_hashes_that_are_not_32_bytes(bad: bytes) -> None:
    tree = leaves(5)
    proof = inclusion_proof(2, tree)
    root = root_of(tree)
    with pytest.raises(InvalidInputError, match="32 bytes") as leaf:
        verify_inclusion(bad, 2, 5, proof, root)
    assert leaf.value.rule == "X2"
    with pytest.raises(InvalidInputError, match="root must be"):
        verify_inclusion(tree[2], 2, 5, proof, bad)
    with pytest.raises(InvalidInputError, match="proof hash 1"):
        verify_inclusion(tree[2], 2, 5, [proof[0], bad, *proof[2:]], root)


@pytest.mark.parametrize("bad", [b"", b"\x00" * 31, b"\x00" * 64])
def test_x02_consistency_refuses_hashes_that_are_not_32_bytes(bad: bytes) -> None:
    tree = leaves(7)
    proof = consistency_proof(3, tree)
    first, second = root_of(tree[:3]), root_of(tree)
    assert verify_consistency(3, 7, first, second, proof)
    with pytest.raises(InvalidInputError, match="first root"):
        verify_consistency(3, 7, bad, second, proof)
    with pytest.raises(InvalidInputError, match="second root"):
        verify_consistency(3, 7, first, bad, proof)
    with pytest.raises(InvalidInputError, match="proof hash 0"):
        verify_consistency(3, 7, first, second, [bad, *proof[1:]])
    with pytest.raises(InvalidInputError, match="32 bytes"):
        verify_consistency(7, 7, second, bad, [])


def test_x02_no_consistency_proof_from_an_empty_tree() -> None:
    tree = leaves(4)
    with pytest.raises(InvalidInputError, match="empty tree") as empty:
        verify_consistency(0, 4, EMPTY_ROOT, root_of(tree), [])
    assert empty.value.rule == "X2"
    with pytest.raises(InvalidInputError, match="empty tree"):
        verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    with pytest.raises(InvalidInputError, match="smaller tree to a larger"):
        verify_consistency(4, 2, root_of(tree), root_of(tree[:2]), [])
    with pytest.raises(InvalidInputError, match="empty tree"):
        verify_consistency(-1, 4, EMPTY_ROOT, root_of(tree), [])
