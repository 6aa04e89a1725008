"""Trust revocation in the simulator (CI6: either party revokes a trust, at once, for future
payments; coins already held stay held): the vectorised form equals the domain's rule, a revoked
trust carries nothing, and revoking gains nobody a second trustee reward (CI7).

Agreement with the engine itself: ``tests/integration/test_sim_agreement.py::test_ci06_*``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from civicledger.kernel.identity import AccountId
from civicledger.mechanisms.circles import rules as circles
from civicledger.mechanisms.circles import sim as circles_sim
from civicledger.sim import Model, ScenarioError, parse_scenario

RNG = np.random.default_rng(20306)
T0 = 1_893_456_000
WEEK = 7 * 86_400


@pytest.mark.parametrize("renew", [False, True])
def test_ci06_revoke_equals_the_domain_trust_by_trust(renew: bool) -> None:
    """Trusts made at their steps (and, with expiry, renewed at each expiry, CI5), some picked for
    revocation at each step: ``revoke`` then ``in_force`` say at every step exactly what the
    domain says of each trust replayed step by step as the engine keeps it (``circles.untrust``
    deletes the record: ``rules.trusts`` of no trust is False; only an expired trust is made again)."""
    size, steps, lasting = 300, 60, 7
    formed = RNG.integers(0, 30, size=size, dtype=np.int64)
    periods = RNG.geometric(0.3, size=size).astype(np.int64) if renew else np.full(size, steps + 1, np.int64)
    expires = circles_sim.trust_expires(formed, periods, lasting) if renew else np.full(size, steps + 1, np.int64)
    edges: list[circles.TrustEdge | None] = [None] * size
    left = (periods - 1).tolist()
    gone = [False] * size
    revoked = 0
    for s in range(steps):
        now = T0 + s * WEEK
        for i in range(size):  # made, or made again at the first step that sees it expired
            if gone[i] or formed[i] > s:
                continue
            if edges[i] is None and formed[i] == s:
                until = now + lasting * WEEK if renew else None
                edges[i] = circles.TrustEdge(AccountId("a"), AccountId("b"), 100, until)
            elif renew and not circles.trusts(edges[i], now) and left[i]:
                left[i] -= 1
                edges[i] = circles.TrustEdge(AccountId("a"), AccountId("b"), 100, now + lasting * WEEK)
        picked = np.flatnonzero(RNG.random(size) < 0.04).astype(np.int64)
        picked = picked[formed[picked] <= s]  # only trusts formed by now are drawn
        want = 0
        for i in picked.tolist():  # revoked if there is a trust in force to revoke (CI6)
            if circles.trusts(edges[i], now):
                edges[i], gone[i] = None, True
                want += 1
        got = circles_sim.revoke(expires, picked, s)
        assert got == want, s
        revoked += got
        force = circles_sim.in_force(formed, expires, s)
        assert force.tolist() == [circles.trusts(e, now) for e in edges], s
    assert revoked > 50


def scenario(policy: dict[str, Any] | None = None, **parameters: float) -> Any:
    return parse_scenario(
        {
            "scenario": {"steps": 30, "step": WEEK, "seeds": [1]},
            "population": {"persons": 300, "companies": 0, "groups": 0, "resources": 0},
            "network": {"mean_degree": 6.0, "formation_weeks": 3.0},
            "parameters": {"route_share": 0.2, "pay_share": 0.5, "pay_fraction": 0.3, **parameters},
            "policy": {"circles": {"reserve_start": 0, **(policy or {})}},
        }
    )


@pytest.mark.parametrize("mode", ["mutual", "directed"])
def test_ci06_a_revoked_trust_carries_nothing(mode: str) -> None:
    """Every coin moved (paid, routed by two hops or by max flow) crosses a trust never revoked
    before or at that step, read from the trace alone, with mutual and with directed trust (where
    revoking ends both sides, as ``circles.untrust`` does)."""
    policy = {"trust_mode": mode}
    sc = scenario(policy, trust_revoke_share=0.03, routed_sample=5.0, trust_back_share=0.5)
    model = Model(sc, seed=4, trace=True)
    model.run()
    revoked: dict[tuple[int, int], int] = {}
    moves = 0
    for kind, s, *args in model.trace.actions:  # type: ignore[union-attr]
        if kind == "untrust":
            pair = (min(args[0], args[1]), max(args[0], args[1]))
            assert pair not in revoked  # a trust is revoked once: it is never made again
            revoked[pair] = s
            continue
        pairs: list[tuple[int, int]] = []
        if kind == "pay":
            pairs = [(args[0], args[1])]
        elif kind == "route":
            pairs = [(args[0], args[1]), (args[1], args[2])]
        elif kind == "flow":
            pairs = [(a, b) for a, b, _x in args[4]]
        for a, b in pairs:
            assert (min(a, b), max(a, b)) not in revoked, (kind, s, a, b)
            moves += 1
    last = model.rows[-1]
    assert moves > 500 and last["trusts_revoked"] == len(revoked) > 50
    assert last["trusts_in_force"] + last["trusts_revoked"] == last["trusts"]
    plain = Model(scenario(policy, routed_sample=5.0, trust_back_share=0.5), seed=4).run()[-1]
    assert last["routed_payments"] < plain["routed_payments"]  # the revoked trusts carried less


def test_ci07_revoking_gains_no_second_trustee_reward() -> None:
    """An attack on CI7: revoke trusts (and, with expiry, let them be made again at expiry) to be
    rewarded twice. Every trustee reward is paid when the pair first trusts: the reserves left are
    the same step by step with and without revocations, and no revoked pair is made again."""
    policy = {"trust_expiry": True}
    base = {"trust_expiry_weeks": 4.0, "trust_renew_share": 0.9}
    with_revoke = Model(scenario(policy, trust_revoke_share=0.1, **base), seed=6, trace=True)
    rows = with_revoke.run()
    plain = Model(scenario(policy, **base), seed=6).run()
    assert [r["reserve_left"] for r in rows] == [r["reserve_left"] for r in plain]
    assert rows[-1]["trusts_revoked"] > 100 and rows[-1]["trust_renewals"] < plain[-1]["trust_renewals"]
    revoked: set[tuple[int, int]] = set()
    for kind, _s, *args in with_revoke.trace.actions:  # type: ignore[union-attr]
        if kind == "untrust":
            revoked.add((args[0], args[1]))
        elif kind in ("trust", "trust_renew"):
            assert (args[0], args[1]) not in revoked


def test_ci06_revocation_off_keeps_every_row_and_draws_nothing() -> None:
    """Off by default: a share of 0 gives the same rows as a scenario without it, with no new
    column; the column appears only with revocation on."""
    plain = Model(scenario(), seed=3).run()
    assert Model(scenario(trust_revoke_share=0.0), seed=3).run() == plain
    assert "trusts_revoked" not in plain[-1] and "trusts_in_force" not in plain[-1]
    on = Model(scenario(trust_revoke_share=0.01), seed=3).run()[-1]
    assert on["trusts_revoked"] > 0 and "trusts_expired" not in on


def test_ci06_the_revoked_share_must_be_a_share() -> None:
    """A share of trusts (``FRACTIONS``: every ``*_share`` is one), refused outside 0..1 by name."""
    for bad in (1.5, -0.1):
        with pytest.raises(ScenarioError, match=r"parameters\.trust_revoke_share: must be between 0 and 1"):
            scenario(trust_revoke_share=bad)
