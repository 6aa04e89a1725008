"""What the simulator's sectors share: exact sums of money over arrays, statistics, networks.

The vectorised forms of one mechanism's rules live with that mechanism, in its ``sim`` module
(``civicledger.mechanisms.<name>.sim``), each proven equal to the scalar rule it stands for by
``tests/unit/test_sim_rules.py`` and ``tests/unit/test_sim_credits.py``. Money is ``int64``
throughout: integer arithmetic, never floats, wherever a balance is the result.

Networks are seeded, built with NumPy alone. ``heavy_tailed`` mixes two kinds of ties, as real
acquaintance networks do: *local* ties between people who live close (persons are numbered by
place, a tie reaches a geometric distance along that order, which gives clustering) and *long*
ties drawn by a Chung-Lu model with Pareto weights (a few people know very many, most know a few:
a heavy-tailed degree distribution). Edges are undirected pairs (u < v), de-duplicated, without
loops, in a canonical sorted order, so the same generator returns the same network for the same
draws.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

I32 = NDArray[np.int32]
I64 = NDArray[np.int64]
Ints = NDArray[np.signedinteger[Any]]  # indices or counts in any signed width


def add_up(index: Ints, units: Ints, size: int) -> I64:
    """Sum ``units`` per index, exactly, as an int64 array of ``size``."""
    out = np.zeros(size, np.int64)
    np.add.at(out, index, units)
    return out


def add_into(target: I64, index: Ints, units: Ints, *, sign: int = 1) -> None:
    """``target[index] += units`` (or ``-=`` with ``sign`` -1) in place, a repeated index once per
    occurrence, in exact int64.

    ``np.add.at`` touches only the indexed entries: a step's few hundred thousand payments cost
    their own number, not the population's (``np.bincount`` with ``minlength`` writes and
    converts a float64 array as large as the population for every sum, and is exact only below
    2^53)."""
    if sign < 0:
        np.subtract.at(target, index, units)
    else:
        np.add.at(target, index, units)


def distinct(values: Ints) -> Ints:
    """``np.unique(values)`` of a 1-D integer array: the distinct values, ascending.

    A sort and one comparison: NumPy 2.3's ``np.unique`` hashes first and costs ten to thirty
    times as much on the simulator's arrays of 10^4 to 10^5 persons, every step."""
    ordered = np.sort(values)
    if ordered.size < 2:
        return ordered
    keep = np.empty(ordered.size, bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    out: Ints = ordered[keep]
    return out


def distinct_counts(values: Ints) -> tuple[Ints, I64]:
    """``np.unique(values, return_counts=True)`` of a 1-D integer array, by one sort."""
    ordered = np.sort(values)
    if ordered.size == 0:
        return ordered, np.zeros(0, np.int64)
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    counts: I64 = np.diff(np.append(starts, ordered.size)).astype(np.int64)
    return ordered[starts], counts


def distinct_first(values: Ints, below: int | None = None) -> tuple[Ints, I64]:
    """``np.unique(values, return_index=True)`` of a 1-D integer array: the distinct values,
    ascending, and where each first occurs, by one stable sort. With ``below`` at most 2^16 (the
    values are known to lie in 0 .. below - 1: a block's sampled positions, ``sim.draws``) the sort
    is NumPy's radix sort of 16-bit numbers, linear where a 64-bit sort is not."""
    keys = values.astype(np.uint16) if below is not None and below <= 1 << 16 else values
    order = np.argsort(keys, kind="stable")  # equal values keep their order: the first leads
    ordered = values[order]
    keep = np.empty(ordered.size, bool)
    keep[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    first: I64 = order[keep].astype(np.int64)
    return ordered[keep], first


def repeats(values: Ints) -> bool:
    """Whether a 1-D integer array holds a value twice (``np.unique(values).size != values.size``)."""
    if values.size < 2:
        return False
    ordered = np.sort(values)
    return bool((ordered[1:] == ordered[:-1]).any())


def gini(values: NDArray[np.generic]) -> float:
    """The Gini coefficient of non-negative holdings (0 equal, 1 one holds all)."""
    if values.size == 0:
        return 0.0
    x = np.sort(values.astype(np.float64))
    total = x.sum()
    if total <= 0:
        return 0.0
    n = x.size
    ranks = np.arange(1, n + 1, dtype=np.float64)
    return float((2.0 * (ranks * x).sum() / (n * total)) - (n + 1.0) / n)


# Networks ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Network:
    """Undirected edges and, per node, its neighbours (CSR: ``indptr``, ``neighbours``, ``edge``)."""

    nodes: int
    u: I32
    v: I32
    indptr: I64
    neighbours: I32
    edge: I32  # for each CSR slot, the index of the edge in (u, v)

    @property
    def edges(self) -> int:
        return int(self.u.size)

    def degree(self) -> I64:
        return np.diff(self.indptr)


def canonical(nodes: int, a: NDArray[np.int64], b: NDArray[np.int64]) -> tuple[I32, I32]:
    """Sorted, de-duplicated (u < v) pairs without loops."""
    lo = np.minimum(a, b)
    hi = np.maximum(a, b)
    keep = lo != hi
    key = lo[keep].astype(np.int64) * nodes + hi[keep].astype(np.int64)
    key.sort()
    if key.size:
        key = key[np.concatenate(([True], key[1:] != key[:-1]))]
    return (key // nodes).astype(np.int32), (key % nodes).astype(np.int32)


def build(nodes: int, u: I32, v: I32) -> Network:
    """The CSR view of an edge list (node and edge indices in int32: fewer than 2^31 of each)."""
    if nodes > np.iinfo(np.int32).max or u.size > np.iinfo(np.int32).max:
        raise OverflowError("a network of 2^31 nodes or edges or more: widen the simulator's indices")
    ends = np.concatenate([u, v]).astype(np.int32)
    order = np.argsort(ends, kind="stable")
    counts = np.bincount(ends, minlength=nodes)
    del ends
    other = np.concatenate([v, u]).astype(np.int32)[order]
    edge = np.arange(u.size, dtype=np.int32)
    edge = np.concatenate([edge, edge])[order]
    del order
    indptr = np.zeros(nodes + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    return Network(nodes, u, v, indptr, other, edge)


def drawn_from(cdf: NDArray[np.float64], draws: NDArray[np.float64]) -> I64:
    """``np.searchsorted(cdf, draws, side="right")``, the same indices, searched in sorted order.

    NumPy's search starts from the last key's place when keys ascend: ten million draws on a
    national population's weights take a tenth of the time of the same draws in random order
    (each a walk through memory the size of the population)."""
    order = np.argsort(draws)
    out = np.empty(draws.size, np.int64)
    out[order] = np.searchsorted(cdf, draws[order], side="right")
    return out


def heavy_tailed(
    rng: np.random.Generator, nodes: int, mean_degree: float, exponent: float, locality: float
) -> tuple[I32, I32]:
    """Local geometric ties plus Chung-Lu ties with Pareto weights (tail exponent ``exponent``)."""
    if nodes < 2 or mean_degree <= 0:
        return np.zeros(0, np.int32), np.zeros(0, np.int32)
    target = round(nodes * mean_degree / 2)
    local = round(target * locality)
    far = target - local
    a_local = rng.integers(0, nodes, size=local, dtype=np.int64)
    reach = rng.geometric(p=min(1.0, 2.0 / max(mean_degree, 1.0)), size=local).astype(np.int64)
    b_local = (a_local + reach) % nodes
    weights = rng.pareto(max(exponent - 1.0, 0.1), size=nodes) + 1.0
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    a_far = drawn_from(cdf, rng.random(far)).clip(0, nodes - 1)
    b_far = drawn_from(cdf, rng.random(far)).clip(0, nodes - 1)
    return canonical(nodes, np.concatenate([a_local, a_far]), np.concatenate([b_local, b_far]))


def random_graph(
    rng: np.random.Generator, nodes: int, mean_degree: float, exponent: float, locality: float
) -> tuple[I32, I32]:
    """An Erdos-Renyi-like graph of the same mean degree (no locality, no heavy tail): a baseline."""
    del exponent, locality
    m = round(nodes * mean_degree / 2)
    a = rng.integers(0, nodes, size=m, dtype=np.int64)
    b = rng.integers(0, nodes, size=m, dtype=np.int64)
    return canonical(nodes, a, b)


Generator = Callable[[np.random.Generator, int, float, float, float], tuple[I32, I32]]

GENERATORS: dict[str, Generator] = {"heavy_tailed": heavy_tailed, "random": random_graph}


def regional(
    rng: np.random.Generator,
    home: I64,
    generator: Generator,
    degrees: tuple[float, ...],
    exponent: float,
    locality: float,
    cross_share: float,
) -> tuple[I32, I32]:
    """A country's network: each region's own ties by ``generator`` among its persons (``home``,
    the region of each, numbered by place within it) with its mean degree ``degrees[r]``, then
    ties across regions, about ``cross_share`` of all, between persons drawn uniformly (pairs in
    one region are dropped)."""
    nodes = int(home.size)
    parts_a: list[I64] = []
    parts_b: list[I64] = []
    within = 0
    for r, degree in enumerate(degrees):
        members = np.flatnonzero(home == r).astype(np.int64)
        if members.size < 2:  # a region of one person or none has no ties within
            continue
        u, v = generator(rng, int(members.size), degree, exponent, locality)
        parts_a.append(members[u])
        parts_b.append(members[v])
        within += int(u.size)
    if cross_share > 0 and len(degrees) > 1:
        shares = np.bincount(home, minlength=len(degrees)) / max(nodes, 1)
        differ = max(1.0 - float((shares**2).sum()), 1e-9)
        wanted = within * cross_share / max(1.0 - cross_share, 1e-9)
        drawn = round(min(wanted / differ, 50.0 * nodes))
        a = rng.integers(0, nodes, size=drawn, dtype=np.int64)
        b = rng.integers(0, nodes, size=drawn, dtype=np.int64)
        keep = home[a] != home[b]
        parts_a.append(a[keep])
        parts_b.append(b[keep])
    return canonical(nodes, np.concatenate(parts_a), np.concatenate(parts_b))


def rewire(rng: np.random.Generator, moved_at: I64, dest: I64, u: I64, v: I64, when: I64) -> tuple[I64, I64, I64]:
    """Migration: a tie that forms (step ``when``) after one of its persons moved (``moved_at``)
    is with a person of their new region (``dest``) instead, drawn uniformly; loops and repeated
    pairs are dropped (the first kept). Returns the pairs (u < v) and their formation steps."""
    u, v = u.copy(), v.copy()
    regions = int(dest.max()) + 1 if dest.size else 0
    people = [np.flatnonzero(dest == r).astype(np.int64) for r in range(regions)]
    # Everyone's destination is their home unless they move: draw from those living there then
    # (approximately: the destination's residents at the end of the run).
    for ends, other in ((u, v), (v, u)):
        moved = np.flatnonzero((ends < moved_at.size) & (moved_at[ends] <= when))
        if not moved.size:
            continue
        draws = rng.random(moved.size)
        target = dest[ends[moved]]
        for r in range(regions):
            here = moved[target == r]
            if here.size and people[r].size:
                other[here] = people[r][(draws[target == r] * people[r].size).astype(np.int64)]
    lo, hi = np.minimum(u, v), np.maximum(u, v)
    nodes = int(moved_at.size)
    key = lo * nodes + hi
    _, first = np.unique(key, return_index=True)
    keep = np.zeros(key.size, bool)
    keep[first] = True
    keep &= lo != hi
    return lo[keep], hi[keep], when[keep]
