"""Agreement with the engine (issue 8, point 3): the simulator and the services, same story.

A small scenario runs in the simulator with a trace of every action it applied; the same actions
then go through the real engine on the suite's store (ScriptedEconomy), at the same instants.
Both must end with the same balances (Circles: own coins, others' coins, group money; Gears: the
seller's and the fund's xi), the same coefficients (GR5) at every step, and the same social credit
balances and grades (SC2, SC4, SC8) at every step.

Covered: Circles income (CI2-CI4), mutual trust with trustee rewards (CI5, CI7), direct payments
between persons who trust each other (CI8), two-hop routed payments (CI9), groups and conversion
(CI10, CI11); social credit
accrual, participation, infractions and decay (SC2, SC4, SC5, SC8); Gears votes with their
rewards and expiry, coefficients and immediate settlement (GR1, GR4-GR6).
Not covered here: appeals, the lottery and spending of social credits, whistleblowing, Creditism.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from civicledger.domain import identity as ident
from civicledger.domain import ledger as led
from civicledger.domain.circles import messages as cm
from civicledger.domain.credits import commands as cc
from civicledger.domain.gears import commands as g
from civicledger.domain.identity import AccountKind, Role
from civicledger.domain.money import CurrencyId
from civicledger.domain.time import DAY, YEAR, format_instant
from civicledger.ports import Store
from civicledger.services import credits as credit_svc
from civicledger.services import gears as gear_svc
from civicledger.services.scripted import ScriptedEconomy
from civicledger.sim import Model, parse_scenario
from civicledger.sim.behaviours import REGISTRY, behaviour
from civicledger.sim.scenario import policy_mapping
from tests.conftest import T0
from tests.integration.test_gears_flow import XI, company, pass_test, setup_gears

STEP = 30 * 86_400
FUND = 50_000_000


@behaviour("sales", "first_company_only_test")
def first_company_only(m: Any, rng: np.random.Generator, p: dict[str, float]) -> Any:
    """Only company 0 sells (so the order of sales within a step cannot matter)."""
    out = np.zeros(m.companies, np.int64)
    out[0] = int(rng.integers(1_000, 100_000))
    return out


PARTICIPATION = {
    "citizens_council": {"steps": 1, "portion_percent": 100, "duration": YEAR},
    "infraction": {"steps": 1, "penalty": True, "qualifying": False, "portion_percent": 100, "duration": 180 * DAY},
    "gears_vote": {"steps": 1, "portion_percent": 100, "duration": 90 * DAY},
}
"""Whole-balance effects (the simulator's credit model), a Gears vote included (X8)."""


def scenario(seed: int) -> Any:
    return parse_scenario(
        {
            "scenario": {"steps": 18, "step": STEP, "seeds": [seed], "start": format_instant(T0)},
            "population": {
                "persons": 6,
                "companies": 2,
                "groups": 1,
                "group_share": 0.5,
                "resources": 0,
                "age_min": 20,
                "age_max": 60,
            },
            "network": {"mean_degree": 3.0, "formation_weeks": 8.0},
            "behaviours": {
                "appeals": "none",
                "spending": "none",
                "whistleblowing": "none",
                "demand": "none",
                "sales": "first_company_only_test",
            },
            "parameters": {
                "pay_share": 0.5,
                "route_share": 0.3,
                "convert_share": 0.3,
                "participation_rate": 0.2,
                "infraction_rate": 0.1,
                "vote_rate": 0.5,
                "fund_reserve": float(FUND),
            },
            "policy": {"credits": {"participation": PARTICIPATION}},
        }
    )


def held(e: ScriptedEconomy, holder: str, currency: str) -> int:
    with e.store.read() as uow:
        return uow.ledger.balance(e.account(holder), CurrencyId(e.account(currency)))


def xi(e: ScriptedEconomy, name: str) -> int:
    with e.store.read() as uow:
        return uow.ledger.balance(e.account(name), XI)


def same_coefficients(e: ScriptedEconomy, model: Model, firms: list[str], s: int) -> bool:
    """GR5: the engine's coefficients before the step's sales equal the simulator's, exactly.

    The simulator publishes coefficients every step before the sales; so does the fund here.
    """
    e.run(g.PublishCoefficients(e.account("fund")), "fund")
    with e.store.read() as uow:
        engine_co = gear_svc.coefficients_at(uow, model.policy.gears, e.clock.now())
    sim_co = model.coefficients
    assert sim_co is not None
    for i, firm in enumerate(firms):
        assert engine_co.companies[e.account(firm)].delta == sim_co.companies[f"c{i:06d}"].delta, (s, firm)
    return True


@pytest.mark.parametrize("seed", [11, 12])
def test_the_simulator_and_the_engine_agree_on_balances_coefficients_and_grades(store: Store, seed: int) -> None:
    assert "first_company_only_test" in REGISTRY["sales"]
    sc = scenario(seed)
    model = Model(sc, seed=seed, trace=True)
    e = ScriptedEconomy(store, start=T0, label="civicledger test key", policy=policy_mapping(sc))
    names = [f"p{i}" for i in range(sc.population.persons)]
    firms = [f"firm{i}" for i in range(sc.population.companies)]
    # Who exists before the first step: persons (verified, enrolled with the model's birth dates),
    # a technocrat, the group with its owner, the fund and the companies, a shopper with xi.
    e.person("tess")
    e.council_decision(ident.GrantRole(e.account("tess"), Role.TECHNOCRAT), cid="grant-tess")
    for i, name in enumerate(names):
        e.person(name)
        born = int(model.born[i])
        e.run(cc.EnrollPerson(e.account(name), born, e.account("registrar")), "registrar", cid=f"enroll-{name}")
    setup_gears(e, fund_units=FUND)
    for firm in firms:
        company(e, firm)
    e.person("shopper")
    e.run(led.Issue(XI, e.account("shopper"), 10**12), "fund", cid="issue-shopper")
    e.open("grp-owner")
    e.run(cm.CreateCirclesAccount(e.account("grp-owner")), "grp-owner")
    group = e.open("grp", AccountKind.GROUP)
    e.run(cm.CreateGroup(group, e.account("grp-owner")), "grp", "grp-owner")
    members = [i for i in range(sc.population.persons) if model.group[i] >= 0]

    seen = 0
    for s in range(sc.steps):
        model.step(s)
        assert e.clock.now() == sc.start + s * STEP
        actions = model.trace.actions[seen:]  # type: ignore[union-attr]
        seen += len(actions)
        checked = False
        for action in actions:
            kind, _step, *args = action
            if kind == "open":
                for i in range(args[0], args[1]):
                    e.run(cm.CreateCirclesAccount(e.account(names[i])), names[i])
                for i in members:
                    e.run(cm.AddMember(group, e.account(names[i])), "grp-owner")
            elif kind == "claim":
                if args[2]:
                    for i in range(args[0], args[1]):
                        e.run(cm.ClaimIncome(e.account(names[i])), names[i])
            elif kind == "trust":
                u, v = names[args[0]], names[args[1]]
                e.run(cm.Trust(e.account(u), e.account(v)), u, v)
            elif kind == "pay":
                a, b, units = names[args[0]], names[args[1]], args[2]
                leg = led.Leg(CurrencyId(e.account(a)), e.account(a), e.account(b), units)
                e.run(led.Transfer((leg,)), a)
            elif kind == "route":
                a, b, c, units = names[args[0]], names[args[1]], names[args[2]], args[3]
                legs = (
                    led.Leg(CurrencyId(e.account(a)), e.account(a), e.account(b), units),
                    led.Leg(CurrencyId(e.account(b)), e.account(b), e.account(c), units),
                )
                e.run(cm.Pay(e.account(a), e.account(c), units, legs), a)
            elif kind == "convert":
                a, units = names[args[0]], args[2]
                e.run(cm.Convert(e.account(a), group, units), a)
            elif kind in ("participate", "infraction"):
                what = "citizens_council" if kind == "participate" else "infraction"
                cmd = cc.RecordParticipation(e.account(names[args[0]]), what, "minutes", technocrat=e.account("tess"))
                e.run(cmd, "tess")
            elif kind == "vote":
                voter, firm, value = names[args[0]], e.account(firms[args[1]]), args[2]
                pass_test(e, voter, firm)
                e.run(g.CastVote(e.account(voter), firm, value), voter)
            elif kind == "sale":
                checked = same_coefficients(e, model, firms, s)
                firm, price = firms[args[0]], args[1]
                receipt = e.run(g.SettleSale(e.account("shopper"), e.account(firm), price, XI), "shopper", firm)
                assert receipt.result["seller_receives"] == price + args[2]
            else:
                raise AssertionError(f"no replay for {kind}")
        t = e.clock.now()
        if not checked:
            checked = same_coefficients(e, model, firms, s)
        # SC2, SC4, SC8: the same balance and grades for every person.
        grades = model.grades(t)
        available = model.available(t)
        with e.store.read() as uow:
            for i, name in enumerate(names):
                standing = credit_svc.standing_of(uow, e.account(name), t)
                expected = {int(grades[i]): int(available[i])} if available[i] > 0 else {}
                assert standing.by_grade() == expected, (s, name)
        e.advance(STEP)

    # Circles: each person's own coins, others' coins and group money; Gears: seller and fund.
    for i, name in enumerate(names):
        assert held(e, name, name) == model.own[i], name
        others = sum(held(e, name, other) for other in names if other != name)
        assert others == model.held_honest[i], name
        assert held(e, name, "grp") == model.group_held[i], name
    assert sum(held(e, "grp", name) for name in names) == int(model.group_supply.sum())
    assert xi(e, firms[0]) == model.company_balance[0]
    assert xi(e, "fund") == model.fund
    kinds = {a[0] for a in model.trace.actions}  # type: ignore[union-attr]
    assert {"trust", "pay", "route", "convert", "participate", "infraction", "vote", "sale"} <= kinds
