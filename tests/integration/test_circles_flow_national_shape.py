"""The national benchmark's graph generator at a small size (CI9): its shape is what the figures in
docs/circles.md claim, and on it the router's maximum flow equals SciPy's for random pairs."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import maximum_flow

from civicledger.mechanisms.circles.flow import FlowIndex


def bench() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "pathfinding.py"
    spec = importlib.util.spec_from_file_location("pathfinding_benchmark", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    return module


def test_ci09_national_graph_shape_and_router_equals_scipy() -> None:
    accounts, groups, trust = 20_000, 100, 200_000
    econ = bench().build_national(accounts, groups, trust, seed=11, regions=40)
    assert 0.9 * trust <= econ.trust_edges <= trust  # de-duplication loses a few, most at hub groups
    n = 2 * accounts + groups
    pairs = econ.src.astype(np.int64) * n + econ.dst
    assert len(np.unique(pairs)) == len(pairs)  # no parallel edges
    is_acceptance = econ.cap == 2**62
    acc_src, acc_dst = econ.src[is_acceptance], econ.dst[is_acceptance]
    assert np.all(acc_src >= accounts) and np.all(acc_dst < accounts)
    personal = acc_src < 2 * accounts
    assert np.sum(acc_src[personal] - accounts == acc_dst[personal]) == accounts  # issuers accept their own
    members = np.bincount(acc_src[~personal] - 2 * accounts, minlength=groups)
    assert members.max() > 20 * max(1, int(np.median(members)))  # groups are hubs: a heavy tail
    assert np.all(econ.cap > 0)

    index = FlowIndex.from_arrays(n, econ.src, econ.dst, econ.cap)
    capped = np.minimum(econ.cap, np.iinfo(np.int32).max).astype(np.int32)
    matrix = sp.csr_matrix((capped, (econ.src, econ.dst)), shape=(n, n))
    rng = np.random.default_rng(5)
    for s, t in rng.choice(accounts, size=(8, 2)):
        if s == t:
            continue
        flow = index.max_flow(int(s), int(t))
        ours = sum(x for e, x in flow.items() if int(index._src[e]) == s) - sum(
            x for e, x in flow.items() if int(index._dst[e]) == s
        )
        assert ours == maximum_flow(matrix, int(s), int(t), method="dinic").flow_value
