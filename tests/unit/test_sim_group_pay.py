"""Paying with group money in the simulator (CI13: group money is accepted by anyone who trusts the
group): every payment is one the domain's rule allows, the vectorised form equals paying one after
another, and group money reaches nobody who does not trust the group.

Agreement with the engine itself: ``tests/integration/test_sim_agreement.py::test_ci13_*``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest

from civicledger.kernel.errors import RuleViolationError
from civicledger.kernel.identity import AccountId
from civicledger.kernel.ledger import Currency, CurrencyKind, IssuerRule, Leg
from civicledger.kernel.money import CurrencyId
from civicledger.mechanisms.circles import rules as circles
from civicledger.mechanisms.circles import sim as circles_sim
from civicledger.mechanisms.circles.policy import CirclesPolicy
from civicledger.mechanisms.circles.routing import LegFacts, check_plan
from civicledger.sim import Model, ScenarioError, parse_scenario

RNG = np.random.default_rng(20313)
T0 = 1_893_456_000
POLICY = CirclesPolicy()


def scenario(mode: str = "mutual", groups: int = 4, policy: dict[str, Any] | None = None, **parameters: float) -> Any:
    return parse_scenario(
        {
            "scenario": {"steps": 20, "step": 7 * 86_400, "seeds": [1]},
            "population": {"persons": 600, "companies": 0, "groups": groups, "group_share": 0.8, "resources": 0},
            "parameters": {"convert_share": 0.3, **parameters},
            "policy": {"circles": {"trust_mode": mode, **(policy or {})}},
        }
    )


def money(g: int) -> Currency:
    return Currency(CurrencyId(f"g{g}"), CurrencyKind.GROUP, AccountId(f"g{g}"), IssuerRule.CIRCLES_GROUP, 2, f"g{g}")


def leg_of(payer: int, receiver: int, g: int, units: int, trusts: set[tuple[int, int]]) -> tuple[Leg, LegFacts]:
    """The payment as the engine checks it (``routing.check_plan``): the receiver's trust in the group."""
    edge = circles.TrustEdge(AccountId(f"p{receiver}"), AccountId(f"g{g}")) if (receiver, g) in trusts else None
    leg = Leg(CurrencyId(f"g{g}"), AccountId(f"p{payer}"), AccountId(f"p{receiver}"), units)
    return leg, LegFacts(money(g), False, False, edge, 0, 0)


@pytest.mark.parametrize(("mode", "exchange"), [("mutual", False), ("directed", True)])
def test_ci13_every_group_payment_is_one_the_domain_rule_allows(mode: str, exchange: bool) -> None:
    """Replaying the trace, each payment in group money is a leg ``routing.check_plan`` accepts
    (the receiver trusts the group, so accepts its money, CI13), of no more than the payer holds of
    that group's money; the simulator's holdings end as the replay's, and money is conserved."""
    extra = {"group_trusts": 1.0, "group_exchange_share": 0.2} if exchange else {}
    model = Model(scenario(mode, group_pay_share=0.2, **extra), seed=5, trace=True)
    model.run()
    trusts: set[tuple[int, int]] = set()  # (person, group): the person accepts the group's money
    held: Counter[tuple[int, int]] = Counter()  # (person, group) -> that group's money held
    pays = 0
    for kind, _s, *args in model.trace.actions:  # type: ignore[union-attr]
        if kind == "group_member_trust":
            trusts.add((args[0], args[1]))
        elif kind == "convert":
            held[(args[0], args[1])] += args[2]
        elif kind == "group_exchange":
            person, source, target, units = args
            held[(person, source)] -= units
            held[(person, target)] += units
        elif kind == "group_pay":
            payer, receiver, g, units = args
            assert g == model.group[payer] and 0 < units <= held[(payer, g)]
            check_plan([leg_of(payer, receiver, g, units, trusts)], POLICY, T0)
            held[(payer, g)] -= units
            held[(receiver, g)] += units
            pays += 1
    assert pays == model.group_payments > 100
    for i in range(model.n):
        assert model.group_held[i] == sum(v for (p, _), v in held.items() if p == i), i
    last = model.rows[-1]
    assert last["supply_group"] == int(model.group_held.sum()) == model.group_money  # payments move, never mint
    assert last["group_paid_units"] > 0


def test_ci13_group_payments_equal_paying_one_after_another() -> None:
    """``group_payments`` against the rule applied payer by payer, holdings updated as it goes:
    the same payments, whoever receives before paying."""
    for _ in range(30):
        n = int(RNG.integers(5, 80))
        group = RNG.integers(-1, 3, size=n).astype(np.int32)
        held = RNG.integers(0, 10_000, size=n, dtype=np.int64)
        swapped = np.minimum(held, RNG.integers(0, 3_000, size=n, dtype=np.int64))
        deg = RNG.integers(0, 5, size=n, dtype=np.int64)
        indptr = np.concatenate([[0], np.cumsum(deg)]).astype(np.int64)
        neighbours = RNG.integers(0, n, size=int(indptr[-1]), dtype=np.int64)
        payers = np.unique(RNG.integers(0, n, size=n // 2, dtype=np.int64))
        pick = RNG.random(payers.size)
        got = circles_sim.group_payments(group, held, swapped, indptr, neighbours, payers, pick, deg[payers], 0.3)
        trusts = {(i, int(group[i])) for i in range(n) if group[i] >= 0}  # members trust their group
        running = held.copy()
        want: list[tuple[int, int, int]] = []
        for p, u in zip(payers.tolist(), pick.tolist(), strict=True):
            if deg[p] == 0 or group[p] < 0:
                continue
            r = int(neighbours[indptr[p] + int(u * deg[p])])
            units = int((int(held[p]) - int(swapped[p])) * 0.3)  # what it held of its own group's before
            g = int(group[p])
            room = circles.acceptance_room(
                circles.TrustEdge(AccountId(f"p{r}"), AccountId(f"g{g}")) if (r, g) in trusts else None,
                POLICY,
                T0,
                0,
                0,
            )
            if r == p or units <= 0 or room == 0:
                continue
            assert units <= running[p] - swapped[p]  # it still holds it when its turn comes
            running[p] -= units
            running[r] += units
            want.append((p, r, units))
        assert list(zip(*(x.tolist() for x in got), strict=True)) == want


def test_ci13_group_money_never_reaches_anyone_who_does_not_trust_the_group() -> None:
    """The attack: pay group money to someone outside the group. The engine's rule refuses it
    (``check_plan``: the receiver does not trust the group), and the simulator never makes one: with
    several groups and acquaintances across them, every receiver is a member of the payer's group."""
    with pytest.raises(RuleViolationError, match="does not trust"):
        check_plan([leg_of(1, 2, 0, 10, {(1, 0)})], POLICY, T0)
    model = Model(scenario(groups=6, group_pay_share=0.3), seed=8, trace=True)
    model.run()
    across = 0
    for kind, _s, *args in model.trace.actions:  # type: ignore[union-attr]
        if kind == "group_pay":
            assert model.group[args[1]] == args[2] == model.group[args[0]]
    for i in range(model.scenario.population.persons):  # acquaintances in another group exist
        nb = model.net.neighbours[model.net.indptr[i] : model.net.indptr[i + 1]]
        across += int(((model.group[nb] != model.group[i]) & (model.group[i] >= 0)).sum())
    assert across > 100 and model.group_payments > 100


def test_ci13_group_payments_off_keep_every_row_and_draw_nothing() -> None:
    plain = Model(scenario(), seed=3).run()
    assert Model(scenario(group_pay_share=0.0, group_pay_fraction=0.9), seed=3).run() == plain
    assert "group_payments" not in plain[-1]
    on = Model(scenario(group_pay_share=0.1), seed=3).run()[-1]
    assert on["group_payments"] > 0 and on["group_paid_units"] > 0


def test_ci13_group_payments_need_whole_trusts_and_no_demurrage() -> None:
    with pytest.raises(ScenarioError) as info:
        scenario(policy={"trust_limits": True, "demurrage": "7%"}, group_pay_share=0.1)
    assert "without demurrage only" in info.value.message and "without trust limits only" in info.value.message
    with pytest.raises(ScenarioError, match="without trust expiry only"):
        scenario(policy={"trust_expiry": True}, group_pay_share=0.1, trust_expiry_weeks=4.0)
    with pytest.raises(ScenarioError, match=r"group_pay_share: must be between 0 and 1"):
        scenario(group_pay_share=2.0)
