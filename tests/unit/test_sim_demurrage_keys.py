"""The simulator's circles-v2 demurrage (CI15, IN4) and key loss (X9).

The vectorised discount and the sim's claim are proven equal to the pure rules (``rules.discounted``,
``rules.accrued``) on random values; whole runs are checked against figures computed with the
pure rules alone: what a holding that keeps moving loses, what a lost key costs with and without
guardians.
"""

from __future__ import annotations

import math
from decimal import ROUND_FLOOR, Decimal, localcontext
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

from civicledger.kernel.money import format_units
from civicledger.kernel.policy import Ratio
from civicledger.kernel.time import DAY, HOUR
from civicledger.mechanisms.circles import rules as circles
from civicledger.mechanisms.circles import sim as circles_sim
from civicledger.mechanisms.circles.policy import CirclesPolicy
from civicledger.mechanisms.circles.policy import preset as circles_preset
from civicledger.sim import Model, parse_scenario, run
from civicledger.sim.report import key_loss_outcomes, load, write_report
from civicledger.sim.sweep import sweep

RNG = np.random.default_rng(20_315)
SEVEN = Fraction(7, 100)
V2 = {
    "preset": "circles-v2",
    "income_units": 100,
    "income_period": HOUR,
    "growth": "0",
    "owner_start": 0,
    "reserve_start": 0,
    "claim_window": 14 * DAY,
    "demurrage": "7%",
}
"""circles-v2's income and demurrage, with the seed's mutual trust (the simulator's only trust)."""

QUIET: dict[str, Any] = {
    "population": {"persons": 40, "companies": 0, "resources": 0},
    "network": {"mean_degree": 0.0},
    "behaviours": {"payments": "none", "routed_payments": "none", "conversions": "none"},
}
"""Persons who only claim their income: nothing else moves their holdings."""


def _v2_fields() -> dict[str, Any]:
    return {
        "income_units": 100,
        "income_period": HOUR,
        "growth": Ratio(0),
        "owner_start": 0,
        "reserve_start": 0,
        "claim_window": 14 * DAY,
        "demurrage": Ratio(7, 100),
    }


def _scenario(steps: int, circles: dict[str, Any] | None = None, **parameters: float) -> Any:
    data: dict[str, Any] = {**QUIET, "scenario": {"steps": steps, "seeds": [1]}, "parameters": parameters}
    if circles is not None:
        data["policy"] = {"circles": circles}
    return parse_scenario(data)


# The vectorised rules ------------------------------------------------------------------------


def test_ci15_sim_mul_high_is_the_high_half_of_the_exact_product() -> None:
    top = 2**64 - 1
    a = RNG.integers(0, 2**63, size=2_000, dtype=np.int64).astype(np.uint64) * np.uint64(2)
    b = RNG.integers(0, 2**63, size=2_000, dtype=np.int64).astype(np.uint64) * np.uint64(2) + np.uint64(1)
    a = np.concatenate([a, np.array([top, top, 0, 1, 2**32], np.uint64)])
    b = np.concatenate([b, np.array([top, 1, top, top, 2**32], np.uint64)])
    got = circles_sim.mul_high(a, b)
    assert got.tolist() == [(int(x) * int(y)) >> 64 for x, y in zip(a.tolist(), b.tolist(), strict=True)]


@pytest.mark.parametrize("yearly", [SEVEN, Fraction(1, 2), Fraction(1, 1000)])
def test_ci15_sim_discounted_equals_the_pure_rule_on_random_values(yearly: Fraction) -> None:
    """Units up to 2^63 - 1 times factors up to 65 bits: the vectorised form never overflows."""
    size = 3_000
    units = np.concatenate(
        [
            RNG.integers(0, 2**63 - 1, size=size, dtype=np.int64, endpoint=True),
            RNG.integers(0, 10**6, size=size, dtype=np.int64),
            np.array([2**63 - 1, 2**63 - 1, 0, 1, 1_000, 1_000, 1_000, 1_000], np.int64),
        ]
    )
    days = np.concatenate(
        [
            RNG.integers(-3, 3_000, size=size, dtype=np.int64),
            RNG.integers(0, 40, size=size, dtype=np.int64),
            np.array([1, 0, 5, 9_000, 1, 30, 365, 730], np.int64),
        ]
    )
    got = circles_sim.discounted(units, days, yearly)
    want = [circles.discounted(u, d, yearly) for u, d in zip(units.tolist(), days.tolist(), strict=True)]
    assert got.tolist() == want


def test_ci15_sim_no_demurrage_keeps_every_unit() -> None:
    units = RNG.integers(0, 2**63 - 1, size=100, dtype=np.int64)
    days = RNG.integers(0, 10_000, size=100, dtype=np.int64)
    assert circles_sim.discounted(units, days, Fraction(0)).tolist() == units.tolist()


def _v2_reference(state: circles.IncomeState, now: int, policy: CirclesPolicy) -> int:
    """v2's issuance counted hour by hour, independently of ``rules.v2_issuance``: the whole hour
    slots from the one holding the start (the last claim, at most the window back) up to, not
    including, the current hour (and the hour before it when ``now`` falls on the hour, as v2's
    ``+ 1`` does), each worth the hourly income times gamma^(its age in days), exact in decimal,
    rounded down once; the whole units of the carry are kept. Nothing within an hour of a claim."""
    carried = math.floor(state.carry)
    if state.claimed_to + HOUR > now:
        return carried
    start = max(state.claimed_to, now - policy.claim_window)
    zero = policy.day_zero
    today = (now - zero) // DAY
    per_hour = Decimal(policy.income_units) * HOUR / policy.income_period
    with localcontext() as ctx:
        ctx.prec = 80
        gamma = Decimal("0.93") ** (Decimal(1) / Decimal("365.25"))
        total = Decimal(0)
        for slot in range((start - zero) // HOUR, (now - zero + HOUR - 1) // HOUR - 1):
            total += gamma ** (today - slot * HOUR // DAY)
        return carried + int((total * per_hour).to_integral_value(rounding=ROUND_FLOOR))


@pytest.mark.parametrize(
    "policy",
    [
        circles_preset("circles-v2"),
        CirclesPolicy(demurrage=Ratio(7, 100), claim_window=14 * DAY, growth=Ratio(0), day_zero=circles.V2_DAY_ZERO),
    ],
)
def test_ci15_sim_claim_equals_v2_issuance_counted_hour_by_hour(policy: CirclesPolicy) -> None:
    """The simulator's claims are the engine's rule (rule version 3), which is v2's issuance, made at
    half past the hour of the step."""
    genesis = 1_893_456_000
    for _ in range(60):
        claimed_to = genesis + int(RNG.integers(0, 400 * DAY))
        now = claimed_to + int(RNG.integers(0, 30 * DAY))
        if RNG.random() < 0.2:
            now -= now % HOUR  # on the hour, as steps are
        carry = Fraction(int(RNG.integers(0, 3_000)), 1_000)
        state = circles.IncomeState(claimed_to, carry, 0)
        units, after = circles_sim.claim(state, now, genesis, policy)
        assert units == _v2_reference(state, now + circles_sim.HALF_HOUR, policy)
        assert after.claimed_to == max(now + circles_sim.HALF_HOUR, claimed_to) and after.carry == 0


def test_ci15_sim_demurrage_without_a_claim_window_mints_income_undiscounted() -> None:
    """Only v2's claim window brings v2's discounted issuance; without one a claim is CI2's."""
    policy = CirclesPolicy(demurrage=Ratio(1, 10))
    genesis = 1_893_456_000
    state = circles.IncomeState(genesis, Fraction(1, 3), 0)
    units, _ = circles_sim.claim(state, genesis + 30 * DAY, genesis, policy)
    assert units == math.floor(Fraction(1, 3) + Fraction(100_000 * 30, 7))


def _whole_days(ages: range) -> int:
    """v2's income of whole days of 24 units (2,400 minor units) at the given ages, each hour worth
    gamma^age, summed exactly in decimal and rounded down once, as v2 mints a claim."""
    with localcontext() as ctx:
        ctx.prec = 80
        gamma = Decimal("0.93") ** (Decimal(1) / Decimal("365.25"))
        total = sum((gamma**age for age in ages), Decimal(0)) * 2_400
        return int(total.to_integral_value(rounding=ROUND_FLOOR))


def test_ci15_sim_a_14_day_back_claim_of_circles_v2_discounts_each_day_by_its_age() -> None:
    """14 whole days at 24 units (2,400 minor units) a day, claimed in the first hour of a day:
    ages 1 to 14."""
    policy = CirclesPolicy(preset="circles-v2", **_v2_fields())
    now = circles.V2_DAY_ZERO + 4_000 * DAY
    state = circles.IncomeState(now - 20 * DAY, Fraction(0), 0)
    units, _ = circles_sim.claim(state, now, now - 400 * DAY, policy)
    assert units == _whole_days(range(1, 15))
    assert 14 * 2_400 * (1 - 0.07 * 15 / 365) < units < 14 * 2_400  # about 7.5 days of 7% a year


def test_ci15_sim_without_demurrage_a_claim_is_the_domain_claimable() -> None:
    policy = CirclesPolicy(claim_window=14 * DAY)
    genesis = 1_893_456_000
    state = circles.open_income(policy, genesis, genesis)
    for days in (0, 3, 14, 40):
        got = circles_sim.claim(state, genesis + days * DAY, genesis, policy)
        assert got == circles.claimable(state, genesis + days * DAY, genesis, ((genesis, policy),))


# Whole runs: demurrage ----------------------------------------------------------------------


def test_ci15_sim_a_v2_scenario_is_modelled_not_refused() -> None:
    scenario = _scenario(3, V2)
    assert scenario.policy.section(CirclesPolicy).demurrage == SEVEN


def test_ci15_sim_holdings_that_move_every_week_lose_what_the_pure_rule_says() -> None:
    """Each week's claim first discounts the balance by its 7 days (the burn), then adds the week's
    income, which is itself discounted day by day; the reference uses ``rules.discounted`` only."""
    steps = 30
    model = Model(_scenario(steps, V2), seed=1)
    model.run()
    balance = burned = 0
    week = _whole_days(range(1, 8))
    for s in range(steps):
        kept = circles.discounted(balance, 7, SEVEN) if s else 0
        burned += balance - kept
        balance = kept + (week if s else 0)
    assert model.own.tolist() == [balance] * 40
    assert model.burned == 40 * burned > 0
    last = model.rows[-1]
    assert last["demurrage_burned"] == 40 * burned
    assert last["supply_circles"] == 40 * balance  # every holding moved today: nothing unsettled
    assert last["demurrage_unsettled"] == 0


def test_ci15_sim_every_unit_minted_is_held_or_burned_and_reads_are_discounted() -> None:
    """Conservation with demurrage as an explicit burn (X3, CI15): the stored holdings add up to the
    supply after burns, and what the rows show is each holding discounted to the day (IN4)."""
    data = {
        "scenario": {"steps": 40, "seeds": [1]},
        "population": {"persons": 300, "companies": 4, "groups": 2, "sybils": 30, "sybil_attack_edges": 4},
        "network": {"formation_weeks": 3.0},
        "parameters": {"key_loss_rate": 0.3, "guardian_share": 0.5},
        "policy": {"circles": V2},
    }
    model = Model(parse_scenario(data), seed=2)
    for s in range(model.scenario.steps):
        model.step(s)
        stored = model.own.sum() + model.held_honest.sum() + model.held_sybil.sum() + model.group_supply.sum()
        assert stored == model.supply_honest + model.supply_sybil
        assert model.group_held.sum() == model.group_money
        row = model.rows[-1]
        read = model.sectors["circles"].read()
        personal = ("own", "held_honest", "held_sybil", "group_supply")
        assert row["supply_circles"] == sum(int(read[k].sum()) for k in personal)
        assert row["supply_group"] == int(read["group_held"].sum())
        assert row["supply_circles"] + row["supply_group"] + row["demurrage_unsettled"] == stored + model.group_money
        assert (model.own >= 0).all()
    assert model.rows[-1]["demurrage_burned"] > 0 and model.rows[-1]["demurrage_unsettled"] > 0
    steps = [row["demurrage_burned_step"] for row in model.rows]
    assert sum(steps) == model.rows[-1]["demurrage_burned"] and all(x >= 0 for x in steps)


# Whole runs: key loss -------------------------------------------------------------------------


def test_x09_sim_without_guardians_an_account_claims_and_pays_nothing_after_its_key_is_lost() -> None:
    """With the seed's income (no demurrage) and nothing else moving own coins, a lost account's
    own coins stop at the loss: the difference to an account that never lost its key is exactly
    the income lost, and the row's ``income_lost_unguarded`` is its sum."""
    model = Model(_scenario(60, None, key_loss_rate=0.5), seed=4)
    model.run()
    keys = model.keys
    lost = np.flatnonzero(keys.lost)
    kept = np.flatnonzero(~keys.lost)
    assert lost.size > 5 and kept.size > 5 and not keys.guarded.any()
    full = int(model.own[kept[0]])
    assert (model.own[kept] == full).all()
    assert model.rows[-1]["income_lost_unguarded"] == int((full - model.own[lost]).sum()) > 0
    assert model.rows[-1]["accounts_lost"] == lost.size == model.rows[-1]["keys_lost_unguarded"]
    assert model.rows[-1]["accounts_recovered"] == 0


def test_x09_sim_a_lost_account_neither_pays_nor_routes_but_its_holdings_stay() -> None:
    scenario = parse_scenario(
        {
            "scenario": {"steps": 40, "seeds": [1]},
            "population": {"persons": 300, "companies": 0, "resources": 0},
            "parameters": {"key_loss_rate": 0.4, "pay_share": 0.6, "route_share": 0.3},
        }
    )
    model = Model(scenario, seed=3)
    frozen: dict[int, int] = {}
    for s in range(scenario.steps):
        model.step(s)
        for p in model.keys.lost_now.tolist():
            frozen[p] = int(model.own[p])  # a loss at step s: nothing of s was minted to them
        for p, units in frozen.items():
            assert model.own[p] == units
    assert len(frozen) > 10
    row = model.rows[-1]
    lost = model.keys.lost
    held = model.own + model.held_honest + model.held_sybil + model.group_held
    assert row["holdings_frozen"] == int(held[lost].sum()) > 0


def test_x09_sim_with_guardians_and_no_demurrage_a_recovery_loses_nothing() -> None:
    """Under the seed's policy a claim reaches back without limit: at recovery the account claims
    every unit it missed, and ends with what an account that never lost its key holds."""
    model = Model(_scenario(80, None, key_loss_rate=0.6, guardian_share=1.0), seed=5)
    model.run()
    keys = model.keys
    assert keys.recovered > 10 and not keys.lost.any()
    able = np.flatnonzero(~keys.locked)
    assert (model.own[able] == model.own[able[0]]).all()
    assert model.rows[-1]["income_lost_guarded"] == 0


def test_x09_sim_under_v2_a_recovery_loses_only_the_demurrage_of_its_back_claimed_week() -> None:
    """A week's wait with weekly steps: the account misses one claim and at recovery claims 14 days,
    the older week a week older than a timely claim would have found it; that extra week of
    demurrage on 7 days of 2,400 units is all it loses: two weekly claims less one of 14 days."""
    model = Model(_scenario(60, V2, key_loss_rate=0.6, guardian_share=1.0, recovery_days=7.0), seed=6)
    model.run()
    keys = model.keys
    per_recovery = 2 * _whole_days(range(1, 8)) - _whole_days(range(1, 15))
    assert keys.recovered > 10 and per_recovery > 0
    assert model.rows[-1]["income_lost_guarded"] == keys.recovered * per_recovery


def test_x09_sim_a_wait_beyond_the_claim_window_loses_the_income_beyond_it() -> None:
    """A 28-day wait with a 14-day window (no demurrage). A loss is found at a step's start, a week
    after the last claim: the account misses five weekly claims (35 days) and claims back 14 days,
    so each recovery loses 21 days of income."""
    circles_v = {**V2, "demurrage": "0"}
    model = Model(_scenario(60, circles_v, key_loss_rate=0.6, guardian_share=1.0, recovery_days=28.0), seed=7)
    model.run()
    assert model.keys.recovered > 5
    assert model.rows[-1]["income_lost_guarded"] == model.keys.recovered * 21 * 2_400


def test_x09_sim_same_seed_same_losses_and_runs_without_key_loss_draw_nothing_more() -> None:
    with_loss = _scenario(20, V2, key_loss_rate=0.3, guardian_share=0.5)
    assert run(with_loss, seed=9) == run(with_loss, seed=9)
    plain = run(_scenario(20, V2), seed=9)
    assert all(r["keys_lost_guarded"] == r["keys_lost_unguarded"] == 0 for r in plain)
    # guardian_share changes who recovers, not who loses a key (with no recovery within the run:
    # a recovered account may lose its key again, a locked one may not)
    slow = {"key_loss_rate": 0.3, "recovery_days": 365.0}
    other = run(_scenario(20, V2, guardian_share=0.9, **slow), seed=9)
    first = run(_scenario(20, V2, guardian_share=0.5, **slow), seed=9)
    lost = [r["keys_lost_guarded"] + r["keys_lost_unguarded"] for r in first]
    assert lost[-1] > 3 and [r["keys_lost_guarded"] + r["keys_lost_unguarded"] for r in other] == lost
    assert other[-1]["keys_lost_guarded"] > first[-1]["keys_lost_guarded"]


def test_x09_sim_the_report_shows_income_lost_with_and_without_guardians(tmp_path: Any) -> None:
    data = {
        **QUIET,
        "scenario": {"steps": 30, "seeds": [1, 2]},
        "parameters": {"key_loss_rate": 0.5, "guardian_share": 0.5},
        "policy": {"circles": V2},
        "sweep": {"parameters": {"guardian_share": [0.0, 0.5]}},
    }
    sweep(parse_scenario(data), tmp_path, workers=1)
    outcomes = key_loss_outcomes(load(tmp_path))
    by = {(o.param_label, o.guardians): o for o in outcomes}
    assert ("parameters.guardian_share=0.0", True) not in by  # nobody had guardians
    without = by[("parameters.guardian_share=0.5", False)]
    guarded = by[("parameters.guardian_share=0.5", True)]
    assert without.per_person > 100 * guarded.per_person > 0
    assert without.holdings_frozen > 0 and guarded.holdings_frozen == 0
    page = write_report(tmp_path, tmp_path / "report.html").read_text()
    assert "What lost keys cost (X9)" in page and "Demurrage burned (CI15)" in page
    assert format_units(round(without.income_lost), 2, "CRC ") in page  # major units, exact (X3)


def test_x09_sim_key_loss_parameters_are_checked_with_the_others() -> None:
    from civicledger.sim import ScenarioError

    with pytest.raises(ScenarioError) as info:
        parse_scenario({"parameters": {"key_loss_rate": 1.5, "guardian_share": -0.1}})
    assert "parameters.key_loss_rate" in info.value.message and "parameters.guardian_share" in info.value.message


def test_x09_sim_the_waiting_period_is_the_policys_unless_a_parameter_sets_it() -> None:
    """Left out, ``recovery_days`` is the scenario policy's ``[identity] recovery_wait`` (X9), the
    wait the engine enforces: a 28-day policy wait loses what the 28-day parameter loses."""
    circles_v = {**V2, "demurrage": "0"}
    data = _scenario(60, circles_v, key_loss_rate=0.6, guardian_share=1.0)
    assert Model(data, seed=7).keys.wait == 7 * DAY  # the policy's default
    by_policy = parse_scenario(
        {
            **QUIET,
            "scenario": {"steps": 60, "seeds": [7]},
            "parameters": {"key_loss_rate": 0.6, "guardian_share": 1.0},
            "policy": {"circles": circles_v, "identity": {"recovery_wait": 28 * DAY}},
        }
    )
    by_parameter = _scenario(60, circles_v, key_loss_rate=0.6, guardian_share=1.0, recovery_days=28.0)
    assert Model(by_policy, seed=7).keys.wait == 28 * DAY
    assert run(by_policy, seed=7)[-1]["income_lost_guarded"] == run(by_parameter, seed=7)[-1]["income_lost_guarded"] > 0
