"""Routed payments by the engine's max-flow kernel in the simulator (CI9): exact, conserving, counted.

A sample of each step's routed payments (``routed_sample``) is paid by ``plan_from_flow`` over
``FlowIndex`` as ``CirclesRouter.route`` pays it; the rest by the two-hop rule. Agreement with the
engine itself: ``tests/integration/test_sim_agreement.py``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest

from civicledger.sim import Model, parse_scenario


def scenario(**parameters: float) -> Any:
    return parse_scenario(
        {
            "scenario": {"steps": 12, "step": 7 * 86_400, "seeds": [1]},
            "population": {"persons": 300, "companies": 0, "groups": 0, "resources": 0},
            "network": {"mean_degree": 6.0, "formation_weeks": 2.0},
            "parameters": {"route_share": 0.2, "pay_fraction": 0.4, **parameters},
            "policy": {"circles": {"reserve_start": 0}},  # no trustee rewards: every coin moved is a route's
        }
    )


def test_ci09_max_flow_routes_conserve_every_currency_and_keep_intermediaries_whole() -> None:
    model = Model(scenario(routed_sample=1_000.0, pay_share=0.0, convert_share=0.0), seed=5, trace=True)
    model.run()
    actions = model.trace.actions  # type: ignore[union-attr]
    minted = np.zeros(model.n, np.int64)
    for kind, _s, *args in actions:
        if kind == "claim":
            minted[args[0] : args[1]] += args[2]
    passed_on = np.zeros(model.n, np.int64)  # each issuer's coins others hold
    received = np.zeros(model.n, np.int64)
    flows = [a for a in actions if a[0] == "flow"]
    assert len(flows) == model.flow_routed > 0
    assert any(len({leg[0] for leg in a[6]}) > 2 for a in flows)  # through more than one intermediary
    for _kind, _s, payer, receiver, units, _max_flow, legs in flows:
        net: Counter[int] = Counter()
        for source, target, x in legs:
            assert x > 0
            passed_on[source] += x
            received[target] += x
            net[source] -= x
            net[target] += x
        assert {k: v for k, v in net.items() if v} == {payer: -units, receiver: units}
    # CI9: coins move 1:1 and nothing is made or lost; every currency's holdings add up to its mint.
    assert (model.own + passed_on == minted).all()
    assert (model.held_honest == received).all()
    assert (model.own >= 0).all()
    assert model.routed == model.flow_routed  # a sample larger than the step's payments takes them all
    last = model.rows[-1]
    assert last["routed_two_hop"] == 0 and last["routed_max_flow"] == len(flows)
    assert last["routed_max_flow_units"] == sum(a[4] for a in flows)


def test_ci09_a_sample_splits_the_steps_routed_payments_between_the_two_rules() -> None:
    model = Model(scenario(routed_sample=3.0), seed=2)
    rows = model.run()
    assert all(r["routed_max_flow_step"] <= 3 for r in rows)
    last = rows[-1]
    assert last["routed_max_flow"] > 0 and last["routed_two_hop"] > 0
    assert last["routed_payments"] == last["routed_max_flow"] + last["routed_two_hop"]
    assert last["routed_max_flow"] + last["routed_max_flow_refused"] <= 3 * 12
    assert sum(r["routed_max_flow_step"] for r in rows) == last["routed_max_flow"]
    honest = model.own + model.held_honest
    assert int(honest.sum()) == last["supply_circles"]  # no money made or lost by either rule


def test_a_run_without_a_sample_routes_every_payment_by_two_hops() -> None:
    rows = Model(scenario(), seed=2).run()
    assert rows[-1]["routed_max_flow"] == 0 and rows[-1]["routed_two_hop"] == rows[-1]["routed_payments"] > 0


def test_ci05_with_directed_trust_money_goes_only_to_those_who_accept_it() -> None:
    data = {
        "scenario": {"steps": 8, "step": 7 * 86_400, "seeds": [1]},
        "population": {"persons": 400, "companies": 0, "groups": 0, "resources": 0},
        "parameters": {"trust_back_share": 0.3, "routed_sample": 20.0, "route_share": 0.2, "pay_share": 0.5},
        "policy": {"circles": {"trust_mode": "directed"}},
    }
    model = Model(parse_scenario(data), seed=3, trace=True)
    model.run()
    actions = model.trace.actions  # type: ignore[union-attr]
    accepts: set[tuple[int, int]] = set()  # (truster, trustee): the truster accepts the trustee's coins
    for kind, _s, *args in actions:
        if kind == "trust_directed":
            truster, trustee, both = args[0], args[1], args[2]
            accepts.add((truster, trustee))
            if both:
                accepts.add((trustee, truster))
    ways = Counter(bool(a[4]) for a in actions if a[0] == "trust_directed")
    assert 0 < ways[True] < ways[False]  # about 30% both ways
    moves = []
    for kind, _s, *args in actions:
        if kind == "pay":
            moves.append((args[0], args[1]))
        elif kind == "route":
            moves += [(args[0], args[1]), (args[1], args[2])]
        elif kind == "flow":
            moves += [(source, target) for source, target, _x in args[4]]
    assert len(moves) > 100
    assert all((target, source) in accepts for source, target in moves)  # CI5: only into accepted currencies
    assert any((source, target) not in accepts for source, target in moves)  # along one-way trusts too


def test_ci09_routes_through_coins_held_conserve_every_currency() -> None:
    """With ``routed_through_held`` a leg may pass on coins of a third currency held (CI9): replayed
    from the trace, every person's holding of every currency is what the simulator keeps per trust
    (``held_at``), never below zero; each issuer's coins add up to its mint; intermediaries keep
    their totals; and coins come back to their issuer."""
    data = scenario(routed_sample=50.0, pay_share=0.3, convert_share=0.0, routed_through_held=1.0).mapping
    model = Model(parse_scenario(data), seed=5, trace=True)
    model.run()
    minted = Counter[int]()
    held = Counter[tuple[int, int]]()  # (holder, issuer) -> coins of the issuer held
    third = back = 0
    for kind, _s, *args in model.trace.actions:  # type: ignore[union-attr]
        if kind == "claim":
            for i in range(args[0], args[1]):
                minted[i] += args[2]
                held[(i, i)] += args[2]
        elif kind == "pay":
            held[(args[0], args[0])] -= args[2]
            held[(args[1], args[0])] += args[2]
        elif kind == "route":
            a, b, c, x = args
            held[(a, a)] -= x
            held[(b, a)] += x
            held[(b, b)] -= x
            held[(c, b)] += x
        elif kind == "flow":
            net: Counter[int] = Counter()
            for source, target, x, issuer in args[4]:
                held[(source, issuer)] -= x
                held[(target, issuer)] += x
                assert held[(source, issuer)] >= 0
                net[source] -= x
                net[target] += x
                third += issuer != source
                back += target == issuer != source
            assert {k: v for k, v in net.items() if v} == {args[0]: -args[2], args[1]: args[2]}
    assert third > 0 and back > 0
    assert all(v >= 0 for v in held.values())
    for i in range(model.n):
        assert held[(i, i)] == model.own[i]
        assert sum(v for (h, c), v in held.items() if h == i and c != i) == model.held_honest[i]
    for issuer in range(model.n):  # CI9: nothing made or lost in any currency
        assert sum(v for (_, c), v in held.items() if c == issuer) == minted[issuer]
    eu, ev = model.eu.astype(int), model.ev.astype(int)
    for k in range(eu.size):  # side 2k: ev holds eu's coins; 2k + 1: eu holds ev's
        assert model.held_at[2 * k] == held[(ev[k], eu[k])] and model.held_at[2 * k + 1] == held[(eu[k], ev[k])]


def test_ci09_routes_through_coins_held_are_checked_and_off_by_default() -> None:
    from civicledger.sim import ScenarioError

    with pytest.raises(ScenarioError, match="needs routed_sample > 0"):
        scenario(routed_through_held=1.0)
    with pytest.raises(ScenarioError, match="must be 0 or 1"):
        scenario(routed_sample=5.0, routed_through_held=0.5)
    with pytest.raises(ScenarioError, match="without demurrage only"):
        parse_scenario(
            {
                "parameters": {"routed_sample": 5.0, "routed_through_held": 1.0},
                "policy": {"circles": {"demurrage": "7%"}},
            }
        )
    model = Model(scenario(routed_sample=5.0), seed=2)
    assert model.held_at is None and not model.through_held  # nothing kept without the option
