"""CI2-CI9, CI15 as pure rules: every worked number of the seed and SPEC, and the rounding invariants."""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civicledger.kernel.errors import InvalidInputError, RuleViolationError
from civicledger.kernel.identity import AccountId
from civicledger.kernel.ledger import Leg
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.policy import Policy, policy_from_mapping
from civicledger.kernel.time import DAY, HOUR, MONTH, WEEK, YEAR
from civicledger.mechanisms.circles import rules
from civicledger.mechanisms.circles.policy import V2_DAY_ZERO, CirclesPolicy, TrustMode, preset, preset_mapping
from civicledger.mechanisms.circles.routing import account_node, currency_node, order_legs, plan_from_flow

G = 1_900_000_000  # a genesis instant
SEED = CirclesPolicy()
SCHEDULE = [(G, SEED)]
A, B, C = AccountId("a"), AccountId("b"), AccountId("c")


def test_ci02_the_default_income_is_1000_units_a_week() -> None:
    assert SEED.income_units == 100_000 and SEED.decimals == 2  # 1,000.00 units
    assert rules.accrued(G, G + WEEK, G, SCHEDULE) == 100_000
    assert rules.accrued(G, G + DAY, G, SCHEDULE) == Fraction(100_000, 7)


def test_ci03_the_rate_grows_5_percent_per_whole_year_since_genesis() -> None:
    assert rules.rate(SEED, G, G + YEAR - 1) * WEEK == 100_000
    assert rules.rate(SEED, G, G + YEAR) * WEEK == 105_000
    assert rules.rate(SEED, G, G + 2 * YEAR) * WEEK == 110_250
    assert rules.rate(SEED, G, G + 3 * YEAR + 5) * WEEK == Fraction(115_762_5, 10)
    # A week straddling the first anniversary is paid half at each rate.
    assert rules.accrued(G + YEAR - WEEK // 2, G + YEAR + WEEK // 2, G, SCHEDULE) == 102_500


def test_ci04_a_new_account_owns_one_month_and_reserves_two() -> None:
    income = rules.open_income(SEED, G, G)
    # A month is 2,629,746 s: 1,000 units × 2,629,746 / 604,800 = 4,348.125 units.
    assert income.carry == Fraction(434_812_5, 10)
    assert income.reserve == 869_625  # 8,696.25 units, two months exactly
    units, after = rules.claimable(income, G, G, SCHEDULE)
    assert units == 434_812 and after.carry == Fraction(1, 2)


def test_ci04_the_start_income_follows_the_grown_rate() -> None:
    income = rules.open_income(SEED, G, G + YEAR)
    assert income.reserve == 913_106  # 869,625 × 1.05 = 913,106.25, the quarter unit is never created
    assert income.carry == Fraction(434_812_5, 10) * Fraction(21, 20)


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(st.integers(min_value=0, max_value=40 * DAY), min_size=1, max_size=25))
def test_ci02_claiming_in_small_steps_mints_exactly_one_big_claim(steps: list[int]) -> None:
    start = G + YEAR - 200 * DAY
    one = rules.open_income(SEED, G, start)
    small, total, t = one, 0, start
    for step in steps:
        t += step
        units, small = rules.claimable(small, t, G, SCHEDULE)
        total += units
    big, _ = rules.claimable(one, t, G, SCHEDULE)
    assert total == big
    exact = one.carry + rules.accrued(start, t, G, SCHEDULE)
    assert total + small.carry == exact  # nothing lost, nothing created


def test_ci02_a_policy_change_takes_effect_from_its_time_onward() -> None:
    doubled = CirclesPolicy(income_units=200_000)
    schedule = [(G, SEED), (G + WEEK, doubled)]
    assert rules.accrued(G, G + 2 * WEEK, G, schedule) == 300_000


@given(st.integers(min_value=0, max_value=10**15))
def test_ci07_the_reward_is_half_the_reserve_and_the_rest_stays(reserve: int) -> None:
    credited, left = rules.trustee_reward(reserve)
    assert credited + left == reserve and credited == reserve // 2 and 0 <= left - credited <= 1


def test_ci07_worked_numbers() -> None:
    assert rules.trustee_reward(869_625) == (434_812, 434_813)
    assert rules.trustee_reward(434_813) == (217_406, 217_407)


def test_ci05_an_account_cannot_trust_itself() -> None:
    with pytest.raises(RuleViolationError) as e:
        rules.check_trust(SEED, A, A, 100, None, G)
    assert e.value.rule == "CI5"


def test_ci05_limits_and_expiry_need_the_policy_options() -> None:
    with pytest.raises(RuleViolationError, match="trust_limits"):
        rules.check_trust(SEED, A, B, 50, None, G)
    with pytest.raises(RuleViolationError, match="trust_expiry"):
        rules.check_trust(SEED, A, B, 100, G + DAY, G)
    with pytest.raises(InvalidInputError):
        rules.check_trust(preset("circles-v2"), A, B, 100, G - 1, G)
    rules.check_trust(preset("circles-v1"), A, B, 50, None, G)


def test_ci05_a_percent_limit_leaves_room_up_to_a_share_of_the_trusters_own_holding() -> None:
    v1 = preset("circles-v1")
    edge = rules.TrustEdge(A, B, 50)
    assert rules.acceptance_room(edge, v1, G, own_balance=1_000, held=100) == 400
    assert rules.acceptance_room(edge, v1, G, own_balance=100, held=100) == 0
    assert rules.acceptance_room(rules.TrustEdge(A, B), SEED, G, 0, 10**9) is None
    assert rules.acceptance_room(None, SEED, G, 0, 0) == 0


def test_ci05_an_expired_trust_accepts_nothing() -> None:
    edge = rules.TrustEdge(A, B, 100, G + DAY)
    assert rules.acceptance_room(edge, preset("circles-v2"), G, 0, 0) is None
    assert rules.acceptance_room(edge, preset("circles-v2"), G + DAY, 0, 0) == 0


def test_ci09_intermediaries_must_end_with_the_same_total() -> None:
    legs = [Leg(CurrencyId("a"), A, B, 10), Leg(CurrencyId("b"), B, C, 10)]
    assert rules.check_routed_payment(A, C, 10, legs, 30) == {A: -10, B: 0, C: 10}
    with pytest.raises(RuleViolationError, match="intermediary"):
        d = AccountId("d")
        bent = [Leg(CurrencyId("a"), A, B, 10), Leg(CurrencyId("b"), B, C, 9), Leg(CurrencyId("d"), d, C, 1)]
        rules.check_routed_payment(A, C, 10, bent, 30)
    with pytest.raises(RuleViolationError, match="max_steps"):
        rules.check_routed_payment(A, C, 10, legs, 1)
    with pytest.raises(RuleViolationError, match="exactly"):
        rules.check_routed_payment(A, C, 11, legs, 30)


def test_ci15_the_presets_carry_their_numbers() -> None:
    seed, v1, v2 = preset("seed"), preset("circles-v1"), preset("circles-v2")
    assert seed == CirclesPolicy() == Policy().section(CirclesPolicy)
    assert (seed.income_units, seed.income_period, seed.growth, seed.trust_mode) == (
        100_000,
        WEEK,
        Fraction(1, 20),
        TrustMode.MUTUAL,
    )
    assert (seed.owner_start, seed.reserve_start, seed.max_steps) == (MONTH, 2 * MONTH, 30)
    # circles-v1: 8 units a day, +7% a year, a 50-unit signup, directed trust with percent limits.
    assert rules.accrued(G, G + DAY, G, [(G, v1)]) == 800
    assert rules.rate(v1, G, G + YEAR) * DAY == 856
    assert (v1.signup_units, v1.trust_mode, v1.trust_limits, v1.reserve_start) == (5_000, TrustMode.DIRECTED, True, 0)
    # circles-v2: 1 unit an hour (24 a day), claims reach back 14 days, 7% demurrage, expiring trust.
    assert rules.accrued(G, G + DAY, G, [(G, v2)]) == 2_400
    assert (v2.claim_window, v2.demurrage, v2.trust_expiry, v2.trust_limits) == (
        14 * DAY,
        Fraction(7, 100),
        True,
        False,
    )
    units, _ = rules.claimable(rules.open_income(v2, G, G), G + 30 * DAY, G, [(G, v2)])
    assert units == 14 * 24 * 100  # 336 units: the older 16 days lapsed
    assert rules.accrued(G, G + HOUR, G, [(G, v2)]) == 100


def test_ci15_presets_load_from_a_policy_mapping_and_unknown_names_are_listed() -> None:
    for name in ("seed", "circles-v1", "circles-v2"):
        policy, problems = policy_from_mapping({"circles": preset_mapping(name)})
        assert problems == [] and policy.section(CirclesPolicy) == preset(name)
    _, problems = policy_from_mapping({"circles": {"preset": "circles-v9"}})
    assert problems and "preset" in problems[0][1]


def test_ci15_v2_demurrage_takes_7_percent_over_a_year() -> None:
    factor = rules.daily_demurrage_factor(Fraction(7, 100))
    assert abs(float(factor) ** 365.2425 - 0.93) < 1e-12
    assert rules.demurrage_due(1_000_000, 365, Fraction(7, 100)) == 69_955
    assert rules.demurrage_due(100, 1, Fraction(7, 100)) == 0  # the holder keeps the fraction
    assert rules.demurrage_due(1_000_000, 0, Fraction(7, 100)) == 0


def n(name: str) -> tuple[str, str]:
    return account_node(name)


def test_ci09_a_plan_orders_transfers_so_nobody_passes_on_what_it_has_not_received() -> None:
    flow = {
        n("s"): {currency_node("s"): 5},
        currency_node("s"): {n("m"): 5},
        n("m"): {currency_node("m"): 5},
        currency_node("m"): {n("t"): 5},
    }
    plan = plan_from_flow(flow, AccountId("s"), AccountId("t"), 30)
    assert plan.units == 5 and [(leg.source, leg.target) for leg in plan.legs] == [("s", "m"), ("m", "t")]


def test_ci09_flow_cycles_are_cancelled_and_max_steps_keeps_the_widest_paths() -> None:
    flow = {
        n("s"): {currency_node("x"): 7, currency_node("y"): 3},
        currency_node("x"): {n("t"): 7},
        currency_node("y"): {n("u"): 3},
        n("u"): {currency_node("z"): 4},
        currency_node("z"): {n("t"): 3, n("u"): 1},  # a cycle u → z → u moves nothing
    }
    plan = plan_from_flow(flow, AccountId("s"), AccountId("t"), 30)
    assert plan.units == 10 and plan.max_flow == 10
    one = plan_from_flow(flow, AccountId("s"), AccountId("t"), 1)
    assert one.units == 7 and len(one.legs) == 1


def test_ci09_ordering_refuses_a_cycle() -> None:
    with pytest.raises(ValueError, match="cycle"):
        order_legs({(CurrencyId("x"), A, B): 1, (CurrencyId("y"), B, A): 1}, A)


def _keep_reference(days: int) -> Decimal:
    """0.93^(days/365.25) at 80 digits, independently of the 64.64 code (CI15)."""
    with localcontext() as ctx:
        ctx.prec = 80
        return Decimal("0.93") ** (Decimal(days) / Decimal("365.25"))


def test_ci15_v2_issuance_counts_whole_hours_each_discounted_by_its_day() -> None:
    v2 = preset("circles-v2")
    day = V2_DAY_ZERO + 4_000 * DAY  # a midnight
    # from midnight of one day to 10:30 the next: 24 hours one day old, then 10 hours of today
    minted = rules.v2_issuance(day, day + DAY + 10 * HOUR + 30 * 60, v2, Fraction(100))
    with localcontext() as ctx:
        ctx.prec = 80
        expected = int((100 * (24 * _keep_reference(1) + 10)).to_integral_value(rounding=ROUND_FLOOR))
    assert minted == expected == 3_399
    assert rules.v2_issuance(day, day + HOUR - 1, v2, Fraction(100)) == 0  # not within the hour
    assert rules.v2_issuance(day, day + HOUR + 1, v2, Fraction(100)) == 100  # the first whole hour


def test_ci15_a_v1_currency_stops_after_more_than_its_timeout() -> None:
    v1 = preset("circles-v1")
    assert not rules.stopped(v1, G, G + 90 * DAY)
    assert rules.stopped(v1, G, G + 90 * DAY + 1)
    assert not rules.stopped(preset("seed"), G, G + 10 * YEAR)
    state = rules.IncomeState(G, Fraction(1, 2), 0)
    assert rules.claimable(state, G + 91 * DAY, G, [(G, v1)], 3) == (0, state)
    assert rules.claimable(state, G + 91 * DAY, G, [(G, v1)], 2)[0] == 91 * 800


def test_ci15_discounted_matches_an_independent_reference() -> None:
    for days in (1, 30, 365, 730, 3_650):
        with localcontext() as ctx:
            ctx.prec = 80
            expected = int((100_000 * _keep_reference(days)).to_integral_value(rounding=ROUND_FLOOR))
        assert rules.discounted(100_000, days, Fraction(7, 100)) == expected
