"""Group-to-group exchange in the simulator (CI12): every exchange is one the domain's rule allows,
and group money is conserved.

Agreement with the engine itself: ``tests/integration/test_sim_agreement.py::test_ci12_*``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from civicledger.kernel.identity import AccountId
from civicledger.kernel.money import CurrencyId
from civicledger.mechanisms.circles import rules as circles
from civicledger.sim import Model, ScenarioError, parse_scenario


def scenario(mode: str = "mutual", groups: int = 6, **parameters: float) -> Any:
    return parse_scenario(
        {
            "scenario": {"steps": 20, "step": 7 * 86_400, "seeds": [1]},
            "population": {"persons": 600, "companies": 0, "groups": groups, "group_share": 0.8, "resources": 0},
            "parameters": {"convert_share": 0.3, **parameters},
            "policy": {"circles": {"trust_mode": mode}},
        }
    )


def group(j: int) -> AccountId:
    return AccountId(f"g{j}")


@pytest.mark.parametrize("mode", ["mutual", "directed"])
def test_ci12_every_exchange_is_one_the_domain_rule_allows(mode: str) -> None:
    """Replaying the trace, each exchange is ``rules.issue_group_money`` of a group exchange with
    the receiving group's trust and what the holder holds of the source group's money: allowed,
    1:1; the simulator's holdings end as the replay's."""
    model = Model(scenario(mode, group_trusts=2.0, group_exchange_share=0.2), seed=7, trace=True)
    model.run()
    trusts: set[tuple[int, int]] = set()  # (truster, trustee): the truster takes the trustee's money
    held: Counter[tuple[int, int]] = Counter()  # (person, group) -> that group's money held
    kept: Counter[int] = Counter()
    exchanges = 0
    for kind, _s, *args in model.trace.actions:  # type: ignore[union-attr]
        if kind == "group_trust":
            trusts.add((args[0], args[1]))
            if mode == "mutual":
                trusts.add((args[1], args[0]))
        elif kind == "convert":
            held[(args[0], args[1])] += args[2]
        elif kind == "group_exchange":
            person, source, target, units = args
            mint = circles.issue_group_money(
                circles.GROUP_EXCHANGE,
                AccountId(f"p{person}"),
                group(target),
                CurrencyId(group(source)),
                units,
                accepted=circles.trusts(circles.TrustEdge(group(target), group(source)), 0)
                if (target, source) in trusts
                else False,
                held=held[(person, source)],
            )
            assert (mint.units, mint.group, mint.currency) == (units, group(target), CurrencyId(group(target)))
            held[(person, source)] -= units
            held[(person, target)] += units
            kept[target] += units
            exchanges += 1
    assert exchanges == model.group_exchanges > 50
    for i in range(model.n):
        mine = held[(i, int(model.group[i]))] if model.group[i] >= 0 else 0
        assert mine + model.group_swapped[i] == model.group_held[i] == sum(v for (p, _), v in held.items() if p == i)
    assert [kept[j] for j in range(6)] == model.group_kept.tolist()
    last = model.rows[-1]
    assert last["supply_group"] == int(model.group_held.sum())  # swaps move no money out of circulation
    assert last["group_exchanged_units"] == int(model.group_kept.sum())
    if mode == "directed":
        assert last["group_trusts"] == len(trusts)


def test_ci12_a_group_nobody_trusts_takes_nothing() -> None:
    """Directed trust with one other group trusted each: some groups are trusted by none, so their
    members never exchange; no group takes money of a group it does not trust."""
    model = Model(scenario("directed", groups=8, group_trusts=1.0, group_exchange_share=0.3), seed=3, trace=True)
    model.run()
    truster, trustee = model.group_pairs
    untrusted = sorted(set(range(8)) - set(trustee.tolist()))
    acts = [a for a in model.trace.actions if a[0] == "group_exchange"]  # type: ignore[union-attr]
    pairs = set(zip(truster.tolist(), trustee.tolist(), strict=True))
    assert acts and all((a[4], a[3]) in pairs for a in acts)
    assert untrusted and not any(a[3] in untrusted for a in acts)


def test_ci12_off_by_default_and_with_fewer_than_two_groups_every_row_as_it_was() -> None:
    plain = Model(scenario(), seed=2).run()
    assert not any(k.startswith("group_") for k in plain[-1])
    one = Model(scenario(groups=1), seed=2).run()
    assert Model(scenario(groups=1, group_trusts=3.0, group_exchange_share=0.5), seed=2).run() == one
    on = Model(scenario(group_trusts=1.0), seed=2).run()  # trusts but nobody exchanging
    assert on[-1]["group_trusts"] >= 6 and on[-1]["group_exchanges"] == on[-1]["group_exchanged_units"] == 0


def test_ci12_group_parameters_are_checked() -> None:
    with pytest.raises(ScenarioError, match="needs group_trusts > 0"):
        scenario(group_exchange_share=0.1)
    with pytest.raises(ScenarioError, match="whole number of groups"):
        scenario(group_trusts=1.5)
    with pytest.raises(ScenarioError, match="without demurrage only"):
        parse_scenario({"parameters": {"group_trusts": 1.0}, "policy": {"circles": {"demurrage": "7%"}}})
