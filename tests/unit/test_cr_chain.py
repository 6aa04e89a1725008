"""CR12: the whole supply chain as one linear system, solved exactly; rounding to minor units."""

from __future__ import annotations

from fractions import Fraction as F

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civicledger.kernel.errors import RuleViolationError
from civicledger.mechanisms.creditism.chain import Node, round_breakdown, row_breakdown, solve_chain, strongly_connected
from civicledger.mechanisms.creditism.values import COMPONENTS, Component


def bicycle_chain() -> list[Node]:
    return [
        Node("steel", labour=F(100), external=F(20), fee=F(30)),
        Node("rubber", labour=F(50), fee=F(10)),
        Node("plastic", labour=F(40), external=F(5)),
        Node(
            "bicycle",
            labour=F(2_000),
            council_markup=F(1, 10),
            coop_markup=F(1, 20),
            inputs={"steel": F(5), "rubber": F(2), "plastic": F(1)},
        ),
    ]


def test_cr12_bicycle_price_embeds_its_inputs_at_market_price() -> None:
    chain = solve_chain(bicycle_chain())
    assert chain["steel"].price == 150
    inputs = 5 * 150 + 2 * 60 + 45
    assert chain["bicycle"].cost == 2_000 + inputs
    assert chain["bicycle"].base == (2_000 + inputs) * F(11, 10)
    assert chain["bicycle"].price == (2_000 + inputs) * F(11, 10) * F(21, 20)
    parts = chain["bicycle"].parts
    assert parts[Component.LABOUR] == 2_000 + 5 * 100 + 2 * 50 + 40
    assert parts[Component.RESOURCES] == 5 * 20 + 5
    assert parts[Component.EXTERNALITY] == 5 * 30 + 2 * 10
    assert sum(parts.values()) == chain["bicycle"].price


def test_cr12_cycle_steel_needs_machines_that_need_steel() -> None:
    nodes = [
        Node("steel", labour=F(100), inputs={"machine": F(1, 100)}),
        Node("machine", labour=F(1_000), inputs={"steel": F(50)}),
    ]
    chain = solve_chain(nodes)
    # p_s = 100 + p_m / 100, p_m = 1000 + 50 p_s  ->  p_s = 110 / (1/2) = 220, p_m = 12,000
    assert chain["steel"].price == 220 and chain["machine"].price == 12_000
    assert chain["steel"].parts[Component.LABOUR] == 220


def test_cr12_scarcity_is_its_own_slice_and_may_be_a_discount() -> None:
    nodes = [
        Node("steel", labour=F(100), scarcity=F(4, 5)),
        Node("plastic", labour=F(100), scarcity=F(3, 2)),
        Node("toy", labour=F(10), inputs={"steel": F(1), "plastic": F(1)}),
    ]
    chain = solve_chain(nodes)
    assert chain["steel"].price == 80 and chain["steel"].parts[Component.SCARCITY] == -20
    assert chain["toy"].parts[Component.SCARCITY] == 30
    assert chain["toy"].price == 10 + 80 + 150


def test_cr12_unproductive_cycle_refused_naming_its_goods() -> None:
    nodes = [
        Node("ore", labour=F(1)),
        Node("steel", labour=F(1), inputs={"machine": F(1, 2), "ore": F(1)}),
        Node("machine", labour=F(1), inputs={"steel": F(3)}),
        Node("bicycle", labour=F(1), inputs={"steel": F(1)}),
    ]
    with pytest.raises(RuleViolationError) as e:
        solve_chain(nodes)
    assert e.value.rule == "CR12"
    assert "{machine, steel}" in e.value.message and "bicycle" not in e.value.message


def test_cr12_markups_compounding_round_a_cycle_refused() -> None:
    nodes = [
        Node("a", labour=F(1), scarcity=F(5), inputs={"b": F(1, 2)}),
        Node("b", labour=F(1), inputs={"a": F(1, 2)}),
    ]
    with pytest.raises(RuleViolationError) as e:
        solve_chain(nodes)
    assert "{a, b}" in e.value.message and "compound" in e.value.message


def test_cr12_unknown_input_refused() -> None:
    with pytest.raises(RuleViolationError) as e:
        solve_chain([Node("bike", inputs={"steel": F(1)})])
    assert "steel" in e.value.message


def test_cr13_row_breakdown_of_a_coop_uses_the_chain() -> None:
    chain = solve_chain(bicycle_chain())
    coop = Node(
        "bicycle@a",
        labour=F(1_500),
        council_markup=F(1, 10),
        coop_markup=F(1, 20),
        inputs={"steel": F(5), "rubber": F(2), "plastic": F(1)},
    )
    row = row_breakdown(coop, chain)
    assert row.price == (1_500 + 915) * F(11, 10) * F(21, 20)
    assert sum(row.parts.values()) == row.price


def test_scc_finds_cycles() -> None:
    comps = strongly_connected(["a", "b", "c", "d"], {"a": ["b"], "b": ["a", "c"], "c": [], "d": ["d"]})
    assert sorted(comps) == [["a", "b"], ["c"], ["d"]]


@given(st.lists(st.fractions(min_value=-1000, max_value=100_000, max_denominator=10_000), min_size=6, max_size=6))
@settings(max_examples=200)
def test_cr12_rounded_components_sum_exactly_to_the_rounded_price(values: list[F]) -> None:
    parts = dict(zip(COMPONENTS, values, strict=True))
    total, rounded = round_breakdown(parts)
    assert sum(rounded.values()) == total
    assert abs(total - sum(values)) <= F(1, 2)
    for c in COMPONENTS:
        assert abs(rounded[c] - parts[c]) < 1


@st.composite
def chains(draw: st.DrawFn) -> list[Node]:
    n = draw(st.integers(2, 7))
    names = [f"g{i}" for i in range(n)]
    nodes = []
    for i, name in enumerate(names):
        inputs = {}
        for j in draw(st.lists(st.integers(0, n - 1), max_size=3, unique=True)):
            # coefficients small enough that every cycle is productive
            inputs[names[j]] = F(draw(st.integers(1, 30)), 100)
        nodes.append(
            Node(
                name,
                labour=F(draw(st.integers(0, 10_000))),
                external=F(draw(st.integers(0, 500))),
                fee=F(draw(st.integers(0, 500))),
                council_markup=F(draw(st.integers(0, 20)), 100),
                coop_markup=F(draw(st.integers(0, 20)), 100),
                scarcity=F(draw(st.integers(50, 120)), 100),
                inputs=inputs,
            )
        )
        del i
    return nodes


@given(chains())
@settings(max_examples=60, deadline=None)
def test_cr12_every_price_is_the_sum_of_its_components_and_satisfies_cr11(nodes: list[Node]) -> None:
    chain = solve_chain(nodes)
    for node in nodes:
        b = chain[node.name]
        assert sum(b.parts.values()) == b.price
        inputs = sum((q * chain[k].price for k, q in node.inputs.items()), F(0))
        assert b.price == (node.direct + inputs) * node.multiplier
        total, rounded = round_breakdown(b.parts)
        assert sum(rounded.values()) == total
