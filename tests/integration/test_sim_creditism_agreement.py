"""Creditism in the simulator and through the engine: the same assets, the same figures (CR2-CR12).

The simulator's synthetic economy (renewable resources with one factor each, and one good drawing
a unit of each) is defined through the real engine at three steps of a run, with the resources'
state at that step: each resource's E, allotted extraction (CR5), allowance rating (CR9), the
good's shares, capability and allotted production (CR7, CR8) and the price breakdown of every asset
(CR10-CR12) must equal the simulator's exactly.
"""

from __future__ import annotations

from fractions import Fraction

from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.kernel.ports import Store
from civicledger.kernel.state import current_policy
from civicledger.mechanisms.creditism import commands as cc
from civicledger.mechanisms.creditism import handlers as svc
from civicledger.mechanisms.creditism.chain import round_breakdown
from civicledger.mechanisms.creditism.sim import GOOD_LABOUR, GOOD_MARKUP, GOOD_SCORE
from civicledger.mechanisms.creditism.values import AssetKind, decode, encode
from civicledger.sim import Model, parse_scenario
from civicledger.sim.scenario import policy_mapping
from tests.conftest import T0
from tests.integration.test_creditism_flow import council_of


def test_cr05_cr09_cr12_the_simulators_allotments_ratings_and_prices_are_the_engines(store: Store) -> None:
    sc = parse_scenario(
        {
            "scenario": {"steps": 30, "seeds": [5]},
            "population": {"persons": 200, "companies": 0, "resources": 3},
            "network": {"mean_degree": 0.0},
            "parameters": {"demand_per_capita": 40.0},
        }
    )
    model = Model(sc, seed=5)
    e = ScriptedEconomy(store, start=T0, label="civicledger test key", policy=policy_mapping(sc))
    c = council_of(e)
    names = [f"r{r}" for r in range(sc.population.resources)]
    for r, name in enumerate(names):
        e.council_decision(
            cc.DefineAsset(
                c,
                name,
                AssetKind.RENEWABLE,
                "kg",
                rejuvenation=str(int(model.rejuvenation[r])),
                mortality=str(int(model.mortality[r])),
                labour=int(model.labour[r]),
                external=int(model.external[r]),
            )
        )
    e.council_decision(
        cc.DefineAsset(
            c,
            "good",
            AssetKind.GOOD,
            "piece",
            labour=GOOD_LABOUR,
            council_markup=encode(GOOD_MARKUP),
            inputs={name: "1" for name in names},
        )
    )
    for s in range(sc.steps):
        model.step(s)  # the figures of the step are of the state before the step's change
        if s not in (0, 14, 29):
            continue
        model.economy_step(model.demand)  # the figures for the state after the step
        for r, name in enumerate(names):
            factor = cc.Factor(
                "habitat",
                "1",
                optimal=str(int(model.optimal[r])),
                current=str(int(model.state[r])),
                per_unit=str(int(model.per_unit[r])),
            )
            e.council_decision(cc.AssessExternality(c, name, (factor,)))
            e.council_decision(cc.SurveyAsset(c, name, str(int(model.demand[r]))))
            e.council_decision(cc.SetAllotment(c, name))
        # E of the good = (10 - 10 + 1) / 10 = 1/10 with one resource factor.
        assert Fraction(1, 10) == GOOD_SCORE
        good_factor = cc.Factor("air", "1", optimal="10", current="10", per_unit="1")
        e.council_decision(cc.AssessExternality(c, "good", (good_factor,)))
        e.council_decision(cc.SurveyAsset(c, "good", str(int(model.demand.min()))))
        e.council_decision(cc.SetAllotment(c, "good"))
        with e.store.read() as uow:
            policy = current_policy(uow)
            report = svc.report_view(uow, policy)
            rows = {row["asset"]: row for row in (*report["resources"], *report["goods"])}
            for r, name in enumerate(names):
                assert decode(rows[name]["allotted"]) == model.allotted[name], (s, name)  # CR5
                rating = decode(rows[name]["rating"])  # CR9
                assert float(rating) == model.ratings[r], (s, name)
            assert decode(rows["good"]["allotted"]) == model.allotted["good"], s  # CR7, CR8
            assert decode(rows["good"]["rating"]) == model.good_rating, s
            for name in (*names, "good"):  # CR10-CR12: the price and every component
                exact = svc.exact_price_view(uow, policy, name)
                price, parts = round_breakdown(model.chain[name].parts)
                assert exact["price"] == price, (s, name)
                assert exact["components"] == {k.value: v for k, v in parts.items()}, (s, name)
                assert svc.price_view(uow, policy, name)["price"] == price
    assert model.price > 0


def test_in05_in01_the_simulators_pre_orders_and_coop_surplus_are_the_engines(store: Store) -> None:
    """The sector's coop sells as rules 2 does: the same orders, placed in the same sequence through
    the engine, cost the same to the minor unit (IN5), are refused at the same point (CR8), and
    earn the coop the same surplus over BasePrice once delivered (IN1)."""
    from civicledger.kernel import ledger as led
    from civicledger.kernel.identity import AccountKind
    from civicledger.kernel.money import CurrencyId
    from civicledger.mechanisms.creditism.sim import COOP_MARKUP, Sales
    from civicledger.mechanisms.creditism.state import CREDITS

    e = ScriptedEconomy(store, start=T0, label="civicledger test key")
    c = council_of(e)
    labour, allotted = 12_345, 97
    e.council_decision(cc.DefineAsset(c, "good", AssetKind.GOOD, "piece", labour=labour))
    e.council_decision(cc.SetAllotment(c, "good", str(allotted)))
    e.open("coop", AccountKind.ORGANIZATION)
    e.run(cc.ApplyCoop(e.account("coop"), "coop-good", "good", labour=labour, markup=encode(COOP_MARKUP)), "coop")
    e.council_decision(cc.ApproveCoop(c, "coop-good", str(allotted)))
    xi = CurrencyId("xi")
    e.open("fund", AccountKind.FUND)
    e.run(led.CreateCurrency(xi, e.account("fund"), "xi"), "fund")
    for buyer in ("ada", "bo"):
        e.person(buyer)
        e.run(led.Issue(xi, e.account(buyer), 10**12), "fund")

    quantities = [3, 1, 1, 7, 2, 1, 1, 1, 30, 1, 45, 5, 9, 1, 2]  # after the 45, the 5 and the 9 do not fit
    splitter = [q == 1 for q in quantities]
    sales = Sales()
    price = Fraction(labour) * (1 + COOP_MARKUP)
    expected = Sales.prices(price, Fraction(allotted), 0, quantities)
    sales.place(price, Fraction(allotted), labour, quantities, splitter)
    for q, cost, by_splitter in zip(quantities, expected, splitter, strict=True):
        buyer = "ada" if by_splitter else "bo"
        order = cc.PreOrder(e.account(buyer), "coop-good", q, xi)
        if cost < 0:
            assert e.refused(order, buyer).rule == "CR8"
        else:
            assert e.run(order, buyer).result["total"] == cost
    placed = sum(q for q, cost in zip(quantities, expected, strict=True) if cost >= 0)
    assert sales.refused == 2 and sales.units == placed == 96
    done = e.run(cc.RecordProduction(e.account("coop"), "coop-good", sales.units, 0, 0), "coop")
    assert done.result["base_price"] == labour
    assert done.result["paid"] == sales.paid
    with e.store.read() as uow:
        credits = CREDITS.get(uow, e.account("coop"))
    assert credits is not None and credits.coop_credits + credits.worker_credits == sales.surplus > 0


def test_cr06_cr13_cr14_the_simulators_finite_resources_and_coops_are_the_engines(store: Store) -> None:
    """Finite resources (CR6: their supply shrinking by what is extracted, surveyed each step) and
    several coops approved to make the good (CR14), defined through the engine: the same allotments
    and ratings, the same refusals of an allotment below what the coops hold (CR8), the good priced
    at the coops' blended plans and each coop's own price and efficiency (CR9, CR12, CR13)."""
    from civicledger.kernel.identity import AccountKind
    from civicledger.mechanisms.creditism.chain import quote
    from civicledger.mechanisms.creditism.state import load

    sc = parse_scenario(
        {
            "scenario": {"steps": 30, "seeds": [7]},
            "population": {"persons": 200, "companies": 0, "resources": 3, "finite_resources": 2, "coops": 3},
            "network": {"mean_degree": 0.0},
            "parameters": {"demand_per_capita": 2.0},
        }
    )
    model = Model(sc, seed=7)
    assert list(model.finite) == [False, True, True]
    e = ScriptedEconomy(store, start=T0, label="civicledger test key", policy=policy_mapping(sc))
    c = council_of(e)
    names = [f"r{r}" for r in range(sc.population.resources)]
    for r, name in enumerate(names):
        finite = bool(model.finite[r])
        e.council_decision(
            cc.DefineAsset(
                c,
                name,
                AssetKind.FINITE if finite else AssetKind.RENEWABLE,
                "kg",
                rejuvenation=str(int(model.rejuvenation[r])),
                mortality=str(int(model.mortality[r])),
                total_supply=str(int(model.supply[r])),
                age=str(int(model.age[r])),
                labour=int(model.labour[r]),
                external=int(model.external[r]),
            )
        )
    e.council_decision(
        cc.DefineAsset(
            c,
            "good",
            AssetKind.GOOD,
            "piece",
            labour=GOOD_LABOUR,
            council_markup=encode(GOOD_MARKUP),
            inputs={name: "1" for name in names},
        )
    )
    for i in range(model.coops):
        e.open(f"coop{i}", AccountKind.ORGANIZATION)
        plan = cc.ApplyCoop(
            e.account(f"coop{i}"),
            f"coop{i}",
            "good",
            labour=int(model.coop_labour[i]),
            markup=encode(model.coop_markup[i]),
        )
        e.run(plan, f"coop{i}")
    good_factor = cc.Factor("air", "1", optimal="10", current="10", per_unit="1")
    e.council_decision(cc.AssessExternality(c, "good", (good_factor,)))
    supply_at_start = model.supply.copy()
    refused = 0
    for s in range(sc.steps):
        model.step(s)  # every step through the engine: an allotment refused stays the last one set
        before = model.good_refused
        if s == 14:  # a blight: every habitat falls to 3/10 of its optimum, E rises, allotments fall
            model.state[:] = model.optimal * 3 // 10
        model.economy_step(model.demand)
        for r, name in enumerate(names):
            factor = cc.Factor(
                "habitat",
                "1",
                optimal=str(int(model.optimal[r])),
                current=str(int(model.state[r])),
                per_unit=str(int(model.per_unit[r])),
            )
            e.council_decision(cc.AssessExternality(c, name, (factor,)))
            supply = str(int(model.supply[r])) if model.finite[r] else None
            e.council_decision(cc.SurveyAsset(c, name, str(int(model.demand[r])), total_supply=supply))
            e.council_decision(cc.SetAllotment(c, name))
        e.council_decision(cc.SurveyAsset(c, "good", str(int(model.demand.min()))))
        if model.good_refused > before:  # CR8: the coops hold more than the rule now allows
            assert e.refused(cc.SetAllotment(c, "good"), *e.governors).rule == "CR8"
            refused += 1
        else:
            e.council_decision(cc.SetAllotment(c, "good"))
        if s == 0:  # CR14: the council approves what the simulator approved
            for i, allotted in enumerate(model.coop_allotted):
                if allotted > 0:
                    e.council_decision(cc.ApproveCoop(c, f"coop{i}", encode(allotted)))
        with e.store.read() as uow:
            policy = current_policy(uow)
            report = svc.report_view(uow, policy)
            rows = {row["asset"]: row for row in (*report["resources"], *report["goods"])}
            for r, name in enumerate(names):
                assert decode(rows[name]["allotted"]) == model.allotted[name], (s, name)  # CR5, CR6
                assert float(decode(rows[name]["rating"])) == model.ratings[r], (s, name)  # CR9
            assert decode(rows["good"]["allotted"]) == model.allotted["good"], s  # CR7, CR8
            for name in (*names, "good"):  # CR10-CR13: the good at its coops' blended plans
                exact = svc.exact_price_view(uow, policy, name)
                price, parts = round_breakdown(model.chain[name].parts)
                assert exact["price"] == price, (s, name)
                assert exact["components"] == {k.value: v for k, v in parts.items()}, (s, name)
            assets, coops = load(uow)
            for i, (price_i, efficiency) in enumerate(model.coop_quotes):  # CR9, CR13: side by side
                row = quote(svc.coop_prices(assets, coops, policy, f"coop{i}"), Fraction(int(model.coop_labour[i])))
                assert (row.price, float(row.efficiency or 0)) == (price_i, efficiency), (s, i)
    assert refused > 0  # the blight made the coops hold more than the rule allowed, refused alike
    assert sum(1 for a in model.coop_allotted if a > 0) == model.coops
    assert all(model.supply[model.finite] < supply_at_start[model.finite])  # CR6: used up as extracted
