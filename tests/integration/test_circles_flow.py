"""The router's max-flow engine (CI9) against networkx on random networks, including edges added
after the index was built (the overflow lists) and capacities changed in place."""

from __future__ import annotations

import random

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civicledger.mechanisms.circles import flow as flow_module
from civicledger.mechanisms.circles.flow import FlowIndex


def check(index: FlowIndex, edges: dict[tuple[int, int], int], s: int, t: int, n: int) -> None:
    graph = nx.DiGraph()
    graph.add_nodes_from(range(n))
    for (u, v), c in edges.items():
        graph.add_edge(u, v, capacity=c)
    expected = int(nx.maximum_flow_value(graph, s, t))
    flow = index.max_flow(s, t)
    node_flow = index.node_flow(flow)
    assert (
        sum(node_flow.get(s, {}).values()) - sum(x for u in node_flow for v, x in node_flow[u].items() if v == s)
        == expected
    )
    for u, targets in node_flow.items():
        for v, x in targets.items():
            assert 0 < x <= edges[(u, v)]
    for w in range(n):
        if w in (s, t):
            continue
        out = sum(node_flow.get(w, {}).values())
        into = sum(targets.get(w, 0) for targets in node_flow.values())
        assert out == into
    limited = index.max_flow(s, t, limit=max(1, expected // 2))
    assert sum(x for e, x in limited.items() if int(index._src[e]) == s) - sum(
        x for e, x in limited.items() if int(index._dst[e]) == s
    ) == min(expected, max(1, expected // 2))


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 14), density=st.floats(0.05, 0.6))
def test_ci09_flow_index_max_flow_equals_networkx(seed: int, n: int, density: float) -> None:
    rng = random.Random(seed)
    edges = {(u, v): rng.randint(1, 50) for u in range(n) for v in range(n) if u != v and rng.random() < density}
    keys = sorted(edges)
    half = len(keys) // 2
    index = FlowIndex.from_arrays(
        n,
        np.array([u for u, _ in keys[:half]], dtype=np.int64),
        np.array([v for _, v in keys[:half]], dtype=np.int64),
        np.array([edges[k] for k in keys[:half]], dtype=np.int64),
    )
    index.edge_of = {k: i for i, k in enumerate(keys[:half])}
    for k in keys[half:]:  # added later: they live in the overflow lists
        index.set_capacity(k[0], k[1], edges[k])
    s, t = rng.sample(range(n), 2)
    check(index, edges, s, t, n)
    if keys:  # a capacity changed in place
        k = keys[0]
        edges[k] = rng.randint(1, 50)
        index.set_capacity(k[0], k[1], edges[k])
        check(index, edges, s, t, n)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 12),
    changes=st.integers(1, 60),
    merge_floor=st.integers(1, 8),
)
def test_ci09_flow_index_stays_exact_through_trust_changes_and_merges(
    seed: int, n: int, changes: int, merge_floor: int
) -> None:
    """Trust added, removed (capacity 0) and changed one edge at a time, with the overflow merged into
    the CSR arrays every few new edges: lookups find every edge wherever it lives, and the max-flow
    after the changes equals networkx's on the graph as it now is."""
    rng = random.Random(seed)
    index = FlowIndex(n)
    index.merge_floor = merge_floor
    edges: dict[tuple[int, int], int] = {}
    for _ in range(changes):
        u, v = rng.sample(range(n), 2) if n > 1 else (0, 0)
        capacity = rng.choice([0, 0, rng.randint(1, 40), rng.randint(1, 40), 2**40])
        index.set_capacity(u, v, capacity)
        if capacity:
            edges[(u, v)] = capacity
        elif (u, v) in edges:
            edges[(u, v)] = 0
    for (u, v), capacity in edges.items():
        assert index.capacity(u, v) == capacity
    assert index.m == len(edges)  # a changed or removed edge is never added twice
    live = {k: c for k, c in edges.items() if c}
    s, t = rng.sample(range(n), 2)
    check(index, live, s, t, n)


def test_ci09_edge_lookup_after_merge_uses_sorted_rows_not_a_table() -> None:
    """After a merge every edge is found by binary search in its tail's CSR row: no edge table is
    kept for indexed edges (at a country's scale it would outweigh the graph)."""
    index = FlowIndex(6)
    index.merge_floor = 1
    for u, v, c in [(0, 5, 3), (0, 2, 4), (0, 4, 1), (3, 1, 7), (0, 1, 9), (2, 5, 8)]:
        index.set_capacity(u, v, c)
    index._build()
    assert index.edge_of == {}
    assert [index.capacity(0, v) for v in range(6)] == [0, 9, 4, 0, 1, 3]
    assert index.capacity(3, 1) == 7 and index.capacity(1, 3) == 0 and index.capacity(5, 0) == 0
    index.set_capacity(0, 2, 0)
    assert index.capacity(0, 2) == 0 and index.m == 6
    assert sum(index.max_flow(0, 5).values()) > 0


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 14), density=st.floats(0.1, 0.7), chunk=st.integers(1, 5))
def test_ci09_flow_is_exact_when_a_search_stops_at_its_first_meeting_chunk(
    seed: int, n: int, density: float, chunk: int
) -> None:
    """A search level read a few edges at a time, stopping at the first chunk that meets the other
    side (what keeps hubs cheap at a country's scale), still gives networkx's maximum flow."""
    rng = random.Random(seed)
    edges = {(u, v): rng.randint(1, 50) for u in range(n) for v in range(n) if u != v and rng.random() < density}
    keys = sorted(edges)
    index = FlowIndex.from_arrays(
        n,
        np.array([u for u, _ in keys], dtype=np.int64),
        np.array([v for _, v in keys], dtype=np.int64),
        np.array([edges[k] for k in keys], dtype=np.int64),
    )
    s, t = rng.sample(range(n), 2)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(flow_module, "EXPAND_CHUNK", chunk)
        check(index, edges, s, t, n)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(3, 14),
    density=st.floats(0.2, 0.8),
    skipped=st.integers(0, 3),
    idle=st.integers(1, 3),
)
def test_ci09_flow_is_exact_when_paths_through_cut_off_nodes_are_skipped(
    seed: int, n: int, density: float, skipped: int, idle: int
) -> None:
    """Paths through a tree node already found cut off are skipped, and a search is redone after a
    few skipped or full paths: the flow is still networkx's maximum, since only a search that never
    meets ends the max-flow."""
    rng = random.Random(seed)
    edges = {(u, v): rng.randint(1, 9) for u in range(n) for v in range(n) if u != v and rng.random() < density}
    keys = sorted(edges)
    index = FlowIndex.from_arrays(
        n,
        np.array([u for u, _ in keys], dtype=np.int64),
        np.array([v for _, v in keys], dtype=np.int64),
        np.array([edges[k] for k in keys], dtype=np.int64),
    )
    s, t = rng.sample(range(n), 2)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(flow_module, "MAX_SKIPPED_PATHS", skipped)
        patch.setattr(flow_module, "MAX_IDLE_PATHS", idle)
        check(index, edges, s, t, n)
