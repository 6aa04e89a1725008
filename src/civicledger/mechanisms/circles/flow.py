"""The max-flow kernel of Circles routing (CI9): a flow network kept as NumPy arrays with exact
integer max-flow between two accounts. Pure computation: it knows nothing of the store; the router
(``handlers.CirclesRouter``) builds it from trust edges and balances and turns a flow into a plan.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

INF = 2**62
"""Capacity of an acceptance without a limit; larger than any balance can be used for."""

IntArray = npt.NDArray[np.int64]
MAX_IDLE_PATHS = 256  # paths in a row without room before a search is redone
MAX_SKIPPED_PATHS = 4_096  # paths through a node known cut off, skipped before a search is redone
EXPAND_CHUNK = 32_768  # edges looked at before a search checks whether it met the other side


class FlowIndex:
    """A flow network kept as arrays, with exact integer max-flow between two nodes.

    Edges live in growable arrays (``src``, ``dst``, ``cap``); a CSR index over them (out- and
    in-edges, out-rows sorted by head) answers most lookups, and edges added since the index was
    built sit in small per-node overflow lists (and ``edge_of``) until the next merge, so a new
    trust or holding never forces a rebuild per query. Capacities change in place; removing an
    edge sets its capacity to 0. A change costs a binary search in one row plus, for a new edge,
    an append: O(change), whatever the size of the graph; the merge, once per ``merge_floor`` or
    one sixteenth of the indexed edges added, is amortized over them.

    The max-flow is Edmonds-Karp with a *bidirectional* breadth-first search over the residual
    graph, each level expanded with NumPy over the CSR arrays: in a small-world trust graph the
    two searches meet after touching a small part of it, and a search that runs out proves the
    flow maximal (no augmenting path: max-flow = min-cut).
    """

    def __init__(self, n_nodes: int = 0) -> None:
        self.n = n_nodes
        self._src: IntArray = np.zeros(16, dtype=np.int64)
        self._dst: IntArray = np.zeros(16, dtype=np.int64)
        self.cap: IntArray = np.zeros(16, dtype=np.int64)
        self.m = 0
        self.edge_of: dict[tuple[int, int], int] = {}  # edges not yet merged into the CSR index
        self.merge_floor = 1024
        self._indexed = 0  # edges [0, _indexed) are in the CSR index
        self._extra_out: dict[int, list[int]] = {}
        self._extra_in: dict[int, list[int]] = {}
        self._build()

    @classmethod
    def from_arrays(cls, n_nodes: int, src: IntArray, dst: IntArray, cap: IntArray) -> FlowIndex:
        """A network built at once (no parallel edges expected), e.g. a benchmark's synthetic graph."""
        index = cls.__new__(cls)
        index.n = n_nodes
        index._src, index._dst = np.ascontiguousarray(src, np.int64), np.ascontiguousarray(dst, np.int64)
        index.cap = np.ascontiguousarray(cap, np.int64).copy()
        index.m = len(src)
        index.edge_of = {}
        index.merge_floor = 1024
        index._extra_out, index._extra_in = {}, {}
        index._build()
        return index

    # Building -------------------------------------------------------------------------------

    def _build(self) -> None:
        """Merge every edge into the CSR index. Out-rows are sorted by head, so an edge is found by a
        binary search in its tail's row (``_find``) and no edge → id table is kept for indexed edges:
        at a country's scale such a table would outweigh the graph."""
        m, n = self.m, self.n
        src, dst = self._src[:m], self._dst[:m]
        order = np.argsort(src * max(n, 1) + dst)
        self._out_ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(src, minlength=n), out=self._out_ptr[1:])
        self._out_eid = order.astype(np.int64)
        self._out_dst = dst[order]
        order = np.argsort(dst, kind="stable")
        self._in_ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(dst, minlength=n), out=self._in_ptr[1:])
        self._in_eid = order.astype(np.int64)
        self._in_src = src[order]
        del order
        self._indexed = m
        self._extra_out.clear()
        self._extra_in.clear()
        self.edge_of.clear()
        self._flow = np.zeros(len(self.cap), dtype=np.int64)
        self._fwd_seen = np.full(n, -1, dtype=np.int64)
        self._bwd_seen = np.full(n, -1, dtype=np.int64)

    def _find(self, u: int, v: int) -> int | None:
        """The id of edge u→v, or None: the overflow table, else a binary search in u's CSR row."""
        eid = self.edge_of.get((u, v))
        if eid is not None or u + 1 >= len(self._out_ptr):
            return eid
        lo, hi = int(self._out_ptr[u]), int(self._out_ptr[u + 1])
        if lo == hi:
            return None
        i = lo + int(np.searchsorted(self._out_dst[lo:hi], v))
        return int(self._out_eid[i]) if i < hi and int(self._out_dst[i]) == v else None

    def add_node(self) -> int:
        self.n += 1
        self._out_ptr = np.append(self._out_ptr, self._out_ptr[-1])
        self._in_ptr = np.append(self._in_ptr, self._in_ptr[-1])
        self._fwd_seen = np.append(self._fwd_seen, -1)
        self._bwd_seen = np.append(self._bwd_seen, -1)
        return self.n - 1

    def set_capacity(self, u: int, v: int, capacity: int) -> None:
        """Set the capacity of edge u→v, adding the edge if it is new."""
        eid = self._find(u, v)
        if eid is None:
            if capacity <= 0:
                return
            eid = self._add_edge(u, v)
        self.cap[eid] = max(0, min(capacity, INF))

    def capacity(self, u: int, v: int) -> int:
        eid = self._find(u, v)
        return 0 if eid is None else int(self.cap[eid])

    def _add_edge(self, u: int, v: int) -> int:
        if self.m == len(self.cap):
            size = max(16, len(self.cap) + len(self.cap) // 8)  # a country's arrays do not double
            self._src = np.resize(self._src, size)
            self._dst = np.resize(self._dst, size)
            self.cap = np.resize(self.cap, size)
            self._flow = np.resize(self._flow, size)
            self._flow[self.m :] = 0
        eid = self.m
        self._src[eid], self._dst[eid], self.cap[eid] = u, v, 0
        self.m += 1
        self.edge_of[(u, v)] = eid
        self._extra_out.setdefault(u, []).append(eid)
        self._extra_in.setdefault(v, []).append(eid)
        if self.m - self._indexed > max(self.merge_floor, self._indexed // 16):
            self._build()
        return eid

    def edges(self) -> Iterator[tuple[int, int, int, int]]:
        """Every edge as (id, from, to, capacity): what a minimum cut is read from."""
        for e in range(self.m):
            yield e, int(self._src[e]), int(self._dst[e]), int(self.cap[e])

    # Max-flow --------------------------------------------------------------------------------

    def max_flow(self, s: int, t: int, limit: int | None = None) -> dict[int, int]:
        """An integer maximum flow from s to t (at most ``limit``): edge id → units on it."""
        flow: dict[int, int] = {}  # the flow on touched edges, mirrored into the array per search
        cap: dict[int, int] = {}
        ends: dict[int, tuple[int, int]] = {}
        flowed_out: dict[int, set[int]] = {}
        flowed_in: dict[int, set[int]] = {}
        total = 0
        try:
            while limit is None or total < limit:
                search = self._search(s, t, flowed_out, flowed_in)
                try:
                    if search is None:
                        break
                    idle = 0
                    for path in search.paths():  # one search, many paths: each used while it has room
                        if (limit is not None and total >= limit) or idle >= MAX_IDLE_PATHS:
                            break
                        residual = INF
                        for e, d in path:
                            if e not in cap:
                                cap[e] = int(self.cap[e])
                                ends[e] = (int(self._src[e]), int(self._dst[e]))
                            room = cap[e] - flow.get(e, 0) if d > 0 else flow.get(e, 0)
                            if room < residual:
                                residual = room
                        if residual <= 0:
                            idle += 1
                            search.prune(path, cap, flow)
                            continue
                        idle = 0
                        amount = residual if limit is None else min(residual, limit - total)
                        for e, d in path:
                            x = flow[e] = flow.get(e, 0) + amount * d
                            u, v = ends[e]
                            if x > 0:
                                flowed_out.setdefault(u, set()).add(e)
                                flowed_in.setdefault(v, set()).add(e)
                            else:
                                flowed_out.get(u, set()).discard(e)
                                flowed_in.get(v, set()).discard(e)
                        total += amount
                finally:
                    if search is not None:
                        search.reset()
                touched = np.fromiter(flow.keys(), dtype=np.int64, count=len(flow))
                self._flow[touched] = np.fromiter(flow.values(), dtype=np.int64, count=len(flow))
            return {e: x for e, x in sorted(flow.items()) if x > 0}
        finally:
            if flow:
                self._flow[np.fromiter(flow.keys(), dtype=np.int64, count=len(flow))] = 0

    @staticmethod
    def _offsets(frontier: IntArray, ptr: IntArray) -> IntArray:
        """Positions in the CSR arrays of every indexed edge at the frontier's nodes (vectorized)."""
        starts = ptr[frontier]
        lens = ptr[frontier + 1] - starts
        total = int(lens.sum())
        if total == 0:
            return np.zeros(0, dtype=np.int64)
        return np.repeat(starts - (np.cumsum(lens) - lens), lens) + np.arange(total, dtype=np.int64)

    def _expand(
        self, frontier: IntArray, forward: bool, flowed_out: dict[int, set[int]], flowed_in: dict[int, set[int]]
    ) -> tuple[IntArray, IntArray, IntArray, IntArray, IntArray]:
        """One residual step from the frontier.

        Returns the new nodes with the edge and direction (+1 along the edge, -1 against it) that
        reached each, and every residual edge from the frontier into a node the *other* search has
        seen: the edges where the two searches meet.

        The step goes through the frontier's edges ``EXPAND_CHUNK`` at a time and stops at the first
        chunk that meets the other search: next to a hub (a currency accepted by hundreds of
        thousands) a level can hold millions of edges, and one meeting is enough to augment. The
        nodes reached so far are returned either way, so a search that never meets still visits
        every residual edge and still proves the flow maximal.
        """
        if forward:
            ptr, csr_eid, csr_end = self._out_ptr, self._out_eid, self._out_dst
            extra, rev_map, seen, other = self._extra_out, flowed_in, self._fwd_seen, self._bwd_seen
        else:
            ptr, csr_eid, csr_end = self._in_ptr, self._in_eid, self._in_src
            extra, rev_map, seen, other = self._extra_in, flowed_out, self._bwd_seen, self._fwd_seen
        offsets = self._offsets(frontier, ptr)
        parts: list[tuple[IntArray, IntArray, IntArray]] = []
        for at in range(0, len(offsets), EXPAND_CHUNK):
            chunk = offsets[at : at + EXPAND_CHUNK]
            eids = csr_eid[chunk]
            residual = self.cap[eids] > self._flow[eids]
            eids = eids[residual]
            ends = csr_end[chunk][residual]
            found = self._visit(eids, ends, np.ones(len(eids), dtype=np.int64), seen, other)
            parts.append(found[:3])
            if len(found[3]):
                return (*self._joined(parts), found[3], found[4])
        more_e: list[int] = []
        more_n: list[int] = []
        more_d: list[int] = []
        if extra or rev_map:
            if len(frontier) <= len(extra) + len(rev_map):
                candidates = frontier.tolist()
            else:
                in_frontier = set(frontier.tolist())
                candidates = [u for u in (*extra, *rev_map) if u in in_frontier]
            for u in candidates:
                for e in extra.get(u, ()):
                    if self.cap[e] > self._flow[e]:
                        more_e.append(e)
                        more_n.append(int(self._dst[e] if forward else self._src[e]))
                        more_d.append(1)
                for e in rev_map.get(u, ()):
                    more_e.append(e)
                    more_n.append(int(self._src[e] if forward else self._dst[e]))
                    more_d.append(-1)
        empty = np.zeros(0, dtype=np.int64)
        meet_eids, meet_dirs = empty, empty
        if more_e:
            found = self._visit(
                np.array(more_e, dtype=np.int64),
                np.array(more_n, dtype=np.int64),
                np.array(more_d, dtype=np.int64),
                seen,
                other,
            )
            parts.append(found[:3])
            meet_eids, meet_dirs = found[3], found[4]
        return (*self._joined(parts), meet_eids, meet_dirs)

    @staticmethod
    def _joined(parts: list[tuple[IntArray, IntArray, IntArray]]) -> tuple[IntArray, IntArray, IntArray]:
        if len(parts) == 1:
            return parts[0]
        if not parts:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty
        return (
            np.concatenate([p[0] for p in parts]),
            np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]),
        )

    @staticmethod
    def _visit(
        eids: IntArray, ends: IntArray, dirs: IntArray, seen: IntArray, other: IntArray
    ) -> tuple[IntArray, IntArray, IntArray, IntArray, IntArray]:
        """Mark the residual edges' unseen far ends as reached (one edge each) and pick out the
        edges into nodes the other search has seen."""
        meeting = other[ends] >= 0
        meet_eids, meet_dirs = eids[meeting], dirs[meeting]
        fresh = seen[ends] < 0
        eids, ends, dirs = eids[fresh], ends[fresh], dirs[fresh]
        if len(ends):
            # Keep one edge per new node without sorting: scatter, then keep the entries that won.
            seen[ends] = eids
            won = seen[ends] == eids
            eids, ends, dirs = eids[won], ends[won], dirs[won]
        return ends, eids, dirs, meet_eids, meet_dirs

    def _search(
        self, s: int, t: int, flowed_out: dict[int, set[int]], flowed_in: dict[int, set[int]]
    ) -> _Search | None:
        """A bidirectional residual search from s and t; None if they never meet: the flow is maximal."""
        fwd_seen, bwd_seen = self._fwd_seen, self._bwd_seen
        found = _Search(self, s, t)
        fwd_seen[s] = INF  # roots: no parent edge
        bwd_seen[t] = INF
        front_f, front_b = found.visited_f[0], found.visited_b[0]
        cost_f = cost_b = 1
        try:
            while len(front_f) and len(front_b):
                forward = cost_f <= cost_b
                frontier = front_f if forward else front_b
                nodes, _, dirs, meet_eids, meet_dirs = self._expand(frontier, forward, flowed_out, flowed_in)
                (found.visited_f if forward else found.visited_b).append(nodes)
                if len(meet_eids):
                    found.meet_eids, found.meet_dirs = meet_eids, meet_dirs
                    return found
                against = dirs < 0
                if forward:
                    found.fwd_dir.update(zip(nodes[against].tolist(), dirs[against].tolist(), strict=True))
                    front_f = nodes
                    cost_f = int((self._out_ptr[nodes + 1] - self._out_ptr[nodes]).sum()) + len(nodes)
                else:
                    found.bwd_dir.update(zip(nodes[against].tolist(), dirs[against].tolist(), strict=True))
                    front_b = nodes
                    cost_b = int((self._in_ptr[nodes + 1] - self._in_ptr[nodes]).sum()) + len(nodes)
        except BaseException:
            found.reset()
            raise
        found.reset()
        return None

    def node_flow(self, flow: dict[int, int]) -> dict[int, dict[int, int]]:
        """The flow as node → node → units."""
        out: dict[int, dict[int, int]] = {}
        for e, x in flow.items():
            u, v = int(self._src[e]), int(self._dst[e])
            out.setdefault(u, {})[v] = out.get(u, {}).get(v, 0) + x
        return out


class _Search:
    """The two search trees of one bidirectional search, and the edges where they met.

    ``paths`` yields one s→t path through each meeting edge: the forward tree's path to the
    edge's tail, the edge, the backward tree's path from its head. They may share edges, so each
    is checked for room when used. ``reset`` clears the marks the search left in the index.
    """

    def __init__(self, index: FlowIndex, s: int, t: int) -> None:
        self.index, self.s, self.t = index, s, t
        self.visited_f = [np.array([s], dtype=np.int64)]
        self.visited_b = [np.array([t], dtype=np.int64)]
        self.fwd_dir: dict[int, int] = {}
        self.bwd_dir: dict[int, int] = {}
        self.meet_eids: IntArray = np.zeros(0, dtype=np.int64)
        self.meet_dirs: IntArray = self.meet_eids
        self.dead_f: set[int] = set()  # tree nodes whose way to s (dead_f) or t (dead_b) is full
        self.dead_b: set[int] = set()
        self.fwd_len = 0

    def paths(self) -> Iterator[list[tuple[int, int]]]:
        """Paths through the meeting edges, skipping (up to ``MAX_SKIPPED_PATHS``) those that pass
        through a tree node already found cut off (a search's first path never is, so every search
        augments): a sender's holding used up cuts off its whole
        branch, and skipping it costs a short walk instead of a path and a failed augmentation."""
        index = self.index
        src, dst, fwd_seen, bwd_seen = index._src, index._dst, index._fwd_seen, index._bwd_seen
        dead_f, dead_b = self.dead_f, self.dead_b
        skipped = 0
        for e0, d0 in zip(self.meet_eids.tolist(), self.meet_dirs.tolist(), strict=True):
            path: list[tuple[int, int]] = []
            node = int(src[e0] if d0 > 0 else dst[e0])
            while node != self.s and node not in dead_f:
                e = int(fwd_seen[node])
                d = self.fwd_dir.get(node, 1)
                path.append((e, d))
                node = int(src[e] if d > 0 else dst[e])
            if node != self.s:
                skipped += 1
                if skipped > MAX_SKIPPED_PATHS:
                    return
                continue
            path.reverse()
            self.fwd_len = len(path)
            path.append((e0, d0))
            node = int(dst[e0] if d0 > 0 else src[e0])
            while node != self.t and node not in dead_b:
                e = int(bwd_seen[node])
                d = self.bwd_dir.get(node, 1)
                path.append((e, d))
                node = int(dst[e] if d > 0 else src[e])
            if node != self.t:
                skipped += 1
                if skipped > MAX_SKIPPED_PATHS:
                    return
                continue
            if len({e for e, _ in path}) == len(path):
                yield path

    def prune(self, path: list[tuple[int, int]], cap: dict[int, int], flow: dict[int, int]) -> None:
        """Mark the tree node below the path's first full edge: every path through it is full too."""
        src, dst = self.index._src, self.index._dst
        for i, (e, d) in enumerate(path):
            room = cap[e] - flow.get(e, 0) if d > 0 else flow.get(e, 0)
            if room > 0:
                continue
            if i < self.fwd_len:
                self.dead_f.add(int(dst[e] if d > 0 else src[e]))  # the forward tree's child
            elif i > self.fwd_len:
                self.dead_b.add(int(src[e] if d > 0 else dst[e]))  # the backward tree's child
            return

    def reset(self) -> None:
        for visited, seen in ((self.visited_f, self.index._fwd_seen), (self.visited_b, self.index._bwd_seen)):
            for nodes in visited:
                seen[nodes] = -1
        self.visited_f, self.visited_b = [], []
