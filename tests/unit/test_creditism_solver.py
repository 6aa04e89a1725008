"""CR12 at scale: the sparse solver agrees with the exact one, and names the goods it refuses."""

from __future__ import annotations

from fractions import Fraction as F

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civicledger.kernel.errors import RuleViolationError
from civicledger.mechanisms.creditism.chain import Node, round_breakdown, solve_chain
from civicledger.mechanisms.creditism.solver import SparseChain, round_rows, solve_sparse
from civicledger.mechanisms.creditism.values import COMPONENTS


@st.composite
def chains(draw: st.DrawFn) -> list[Node]:
    n = draw(st.integers(2, 9))
    names = [f"g{i}" for i in range(n)]
    nodes = []
    for name in names:
        inputs = {
            names[j]: F(draw(st.integers(1, 25)), 100)
            for j in draw(st.lists(st.integers(0, n - 1), max_size=3, unique=True))
        }
        nodes.append(
            Node(
                name,
                labour=F(draw(st.integers(0, 100_000))),
                external=F(draw(st.integers(0, 5_000))),
                fee=F(draw(st.integers(0, 5_000)), 3),
                council_markup=F(draw(st.integers(0, 20)), 100),
                coop_markup=F(draw(st.integers(0, 20)), 100),
                scarcity=F(draw(st.integers(50, 150)), 100),
                inputs=inputs,
            )
        )
    return nodes


@given(chains())
@settings(max_examples=60, deadline=None)
def test_cr12_sparse_solver_agrees_with_the_exact_one_to_the_minor_unit(nodes: list[Node]) -> None:
    exact = solve_chain(nodes)
    sparse = solve_sparse(SparseChain.from_nodes(nodes))
    assert np.all(sparse.parts_units.sum(axis=1) == sparse.price_units)
    for i, node in enumerate(nodes):
        total, parts = round_breakdown(exact[node.name].parts)
        assert abs(int(sparse.price_units[i]) - total) <= 1
        for j, c in enumerate(COMPONENTS):
            assert abs(int(sparse.parts_units[i, j]) - parts[c]) <= 1
            assert sparse.parts[i, j] == pytest.approx(float(exact[node.name].parts[c]), rel=1e-9, abs=1e-6)


@given(st.lists(st.lists(st.floats(-1e6, 1e7, allow_nan=False), min_size=6, max_size=6), min_size=1, max_size=20))
@settings(max_examples=100)
def test_cr12_vectorised_rounding_matches_the_domain_rounding(rows: list[list[float]]) -> None:
    parts = np.array(rows, dtype=np.float64)
    totals, units = round_rows(parts)
    assert np.all(units.sum(axis=1) == totals)
    for i, row in enumerate(rows):
        total, rounded = round_breakdown({c: F(v) for c, v in zip(COMPONENTS, row, strict=True)})
        assert abs(int(totals[i]) - total) <= 1  # the float sum may differ from the exact sum by an ulp
        if int(totals[i]) == total:
            assert [rounded[c] for c in COMPONENTS] == list(units[i])


def test_cr12_sparse_solver_refuses_naming_the_cycle() -> None:
    nodes = [
        Node("ore", labour=F(1)),
        Node("steel", labour=F(1), inputs={"machine": F(1, 2), "ore": F(1)}),
        Node("machine", labour=F(1), inputs={"steel": F(3)}),
        Node("bicycle", labour=F(1), inputs={"steel": F(1)}),
        Node("lamp", labour=F(1), inputs={"lamp": F(2)}),
    ]
    with pytest.raises(RuleViolationError) as e:
        solve_sparse(SparseChain.from_nodes(nodes))
    assert e.value.rule == "CR12"
    assert "{lamp}" in e.value.message and "{machine, steel}" in e.value.message and "bicycle" not in e.value.message


def test_cr12_sparse_solver_handles_a_cycle() -> None:
    nodes = [
        Node("steel", labour=F(100), inputs={"machine": F(1, 100)}),
        Node("machine", labour=F(1_000), inputs={"steel": F(50)}),
    ]
    result = solve_sparse(SparseChain.from_nodes(nodes))
    assert list(result.price_units) == [220, 12_000]


def test_benchmark_chain_is_reproducible_and_solvable() -> None:
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "creditism.py"
    spec = importlib.util.spec_from_file_location("creditism_benchmark", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    a = module.synthetic_chain(500, 5_000, seed=7)
    b = module.synthetic_chain(500, 5_000, seed=7)
    assert (a.inputs != b.inputs).nnz == 0
    result = solve_sparse(a)
    assert np.all(result.parts_units.sum(axis=1) == result.price_units)
