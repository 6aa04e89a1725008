"""Trust limits and expiry in the simulator (CI5: circles-v1's percent limits, circles-v2's expiring
trust): the vectorised forms equal the domain's rules, and an attacker cannot get past them.

Agreement with the engine itself: ``tests/integration/test_sim_agreement.py::test_ci05_trust_limits_and_expiry_*``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest

from civicledger.kernel.identity import AccountId
from civicledger.mechanisms.circles import rules as circles
from civicledger.mechanisms.circles import sim as circles_sim
from civicledger.mechanisms.circles.policy import CirclesPolicy
from civicledger.sim import Model, ScenarioError, parse_scenario
from civicledger.sim.behaviours import behaviour

RNG = np.random.default_rng(20305)
T0 = 1_893_456_000
WEEK = 7 * 86_400


def test_ci05_acceptance_rooms_equal_the_domain_trust_by_trust() -> None:
    policy = CirclesPolicy(trust_limits=True)
    own = RNG.integers(0, 10**15, size=2_000, dtype=np.int64)
    held = RNG.integers(0, 10**15, size=2_000, dtype=np.int64)
    held[::3] = 0
    for limit in (0, 1, 37, 50, 99, 100):
        got = circles_sim.acceptance_rooms(own, held, limit)
        edge = circles.TrustEdge(AccountId("a"), AccountId("b"), limit)
        want = [
            circles.acceptance_room(edge, policy, T0, o, h) for o, h in zip(own.tolist(), held.tolist(), strict=True)
        ]
        assert got.tolist() == want


def test_ci05_capped_in_order_equals_paying_one_after_another() -> None:
    for _ in range(50):
        size = int(RNG.integers(1, 300))
        key = RNG.integers(0, 20, size=size, dtype=np.int64)
        units = RNG.integers(0, 1_000, size=size, dtype=np.int64)
        rooms = RNG.integers(0, 3_000, size=20, dtype=np.int64)
        got = circles_sim.capped_in_order(key, units, rooms[key])
        taken: Counter[int] = Counter()
        want = []
        for k, x in zip(key.tolist(), units.tolist(), strict=True):  # check_plan: cumulatively, in order
            paid = min(x, int(rooms[k]) - taken[k])
            taken[k] += paid
            want.append(paid)
        assert got.tolist() == want


@pytest.mark.parametrize(("duration", "step"), [(12 * WEEK, WEEK), (10 * WEEK, 30 * 86_400), (3 * 86_400, WEEK)])
def test_ci05_expiry_and_renewal_equal_the_domain_trust_by_trust(duration: int, step: int) -> None:
    """Each trust made at its step expires ``duration`` later (``TrustEdge.active``) and is made
    again at the first step that sees it expired, ``periods`` - 1 times: in force at exactly the
    steps ``in_force`` says."""
    formed = RNG.integers(0, 30, size=200, dtype=np.int64)
    periods = RNG.geometric(0.4, size=200).astype(np.int64)
    expires = circles_sim.trust_expires(formed, periods, circles_sim.trust_lasting(duration, step))
    for s in range(80):
        got = circles_sim.in_force(formed, expires, s)
        for i in range(formed.size):
            f, left = int(formed[i]), int(periods[i]) - 1
            edge: circles.TrustEdge | None = None
            for at in range(f, s + 1):  # step by step, as the engine sees it
                now = T0 + at * step
                if edge is None:
                    edge = circles.TrustEdge(AccountId("a"), AccountId("b"), 100, now + duration)
                elif not circles.trusts(edge, now) and left:
                    left -= 1
                    edge = circles.TrustEdge(AccountId("a"), AccountId("b"), 100, now + duration)
            assert bool(got[i]) == circles.trusts(edge, T0 + s * step), (i, s)


def scenario(policy: dict[str, Any], **parameters: float) -> Any:
    return parse_scenario(
        {
            "scenario": {"steps": 30, "step": WEEK, "seeds": [1]},
            "population": {"persons": 300, "companies": 0, "groups": 0, "resources": 0},
            "network": {"mean_degree": 6.0, "formation_weeks": 3.0},
            "parameters": {"route_share": 0.2, "pay_share": 0.5, "pay_fraction": 0.3, **parameters},
            "policy": {"circles": {"reserve_start": 0, **policy}},
        }
    )


def test_ci05_an_expired_trust_carries_nothing() -> None:
    """Every coin moved (paid, routed by two hops or by max flow) crosses a trust in force at that
    step, read from the trace alone: made or made again at a step r, it carries until r + lasting."""
    sc = scenario({"trust_expiry": True}, trust_expiry_weeks=5.0, trust_renew_share=0.5, routed_sample=5.0)
    model = Model(sc, seed=4, trace=True)
    model.run()
    made: dict[tuple[int, int], int] = {}
    moves = 0
    for kind, s, *args in model.trace.actions:  # type: ignore[union-attr]
        if kind in ("trust", "trust_renew"):
            made[(args[0], args[1])] = s
            continue
        pairs: list[tuple[int, int]] = []
        if kind == "pay":
            pairs = [(args[0], args[1])]
        elif kind == "route":
            pairs = [(args[0], args[1]), (args[1], args[2])]
        elif kind == "flow":
            pairs = [(a, b) for a, b, _x in args[4]]
        for a, b in pairs:
            assert s < made[(min(a, b), max(a, b))] + model.lasting, (kind, s, a, b)
            moves += 1
    last = model.rows[-1]
    assert moves > 500 and last["trust_renewals"] > 0 and last["trusts_expired"] > 0
    assert last["trusts_in_force"] + last["trusts_expired"] == last["trusts"]
    # Without renewals, no trust carries beyond its first period.
    bare = Model(scenario({"trust_expiry": True}, trust_expiry_weeks=5.0), seed=4).run()
    assert bare[-1]["trust_renewals"] == 0 and bare[-1]["routed_payments"] < last["routed_payments"]


_TARGET: dict[str, int] = {}


@behaviour("payments", "split_test")
def split(m: Any, rng: np.random.Generator, p: dict[str, float]) -> Any:
    """The attacker (person 0) pays person ``_TARGET`` everything it holds, in ``pieces`` payments a step."""
    pieces = int(p["pay_share"] * 10)
    slot = _TARGET["slot"]
    return np.zeros(pieces, np.int64), np.full(pieces, slot, np.int64), np.full(pieces, int(m.own[0]) // pieces)


def test_ci05_a_trust_limit_cannot_be_bypassed_by_splitting_a_payment() -> None:
    """An attacker pays one person in many small payments a step, every step: the person never
    holds more of the attacker's currency than the limit allows at that step (25% of what it holds
    of its own), and splitting moves exactly what whole payments move."""
    got = {}
    for pieces in (0.1, 0.7):  # one payment a step, or seven
        sc = scenario({"trust_limits": True}, trust_limit_percent=25.0, pay_share=pieces, route_share=0.0)
        data = dict(sc.mapping)
        data["behaviours"] = {"payments": "split_test", "conversions": "none"}
        data["network"] = {"mean_degree": 6.0}
        model = Model(parse_scenario(data), seed=2, trace=True)
        _TARGET["slot"] = int(model.net.indptr[0])
        target = int(model.net.neighbours[_TARGET["slot"]])
        rows = model.run()
        received = own = 0
        for kind, s, *args in model.trace.actions:  # type: ignore[union-attr]
            if kind == "claim" and args[0] <= target < args[1]:
                own += args[2]
            elif kind == "pay":
                assert (args[0], args[1]) == (0, target)
                received += args[2]
                assert received <= own * 25 // 100, (s, received, own)  # CI5 at every payment
        assert received > 0 and rows[-1]["trust_limited_units"] > 0  # it tried for more
        got[pieces] = received
    assert got[0.1] == got[0.7]  # splitting gains nothing


def test_ci05_options_off_or_unused_keep_every_row_as_it_was() -> None:
    """A policy that allows expiring trust but no trust expiring (weeks 0) draws and keeps nothing
    more: the same rows, no new columns; the columns appear only with the options used."""
    plain = Model(scenario({}), seed=3).run()
    assert Model(scenario({"trust_expiry": True}), seed=3).run() == plain
    assert not any(k.startswith(("trust_", "trusts_")) for k in plain[-1])
    limited = Model(scenario({"trust_limits": True}), seed=3).run()[-1]
    assert limited["trust_limited_payments"] > 0  # 100% of one's own holding is still a limit (v1)


def test_ci05_trust_parameters_need_the_policy_that_allows_them() -> None:
    with pytest.raises(ScenarioError) as info:
        scenario({}, trust_limit_percent=40.0, trust_expiry_weeks=4.0)
    assert "trust_limits = true" in info.value.message and "trust_expiry = true" in info.value.message
    with pytest.raises(ScenarioError, match="whole percent"):
        scenario({"trust_limits": True}, trust_limit_percent=40.5)
    with pytest.raises(ScenarioError, match="only an expired trust is renewed"):
        scenario({"trust_expiry": True}, trust_renew_share=0.5)
    with pytest.raises(ScenarioError, match="without demurrage only"):
        scenario({"trust_limits": True, "demurrage": "7%"})
    v2 = {"trust_mode": "directed", "trust_expiry": True, "demurrage": "7%", "claim_window": 14 * 86_400}
    scenario(v2, trust_expiry_weeks=26.0, trust_renew_share=0.9)  # modelled: circles-v2's trust
