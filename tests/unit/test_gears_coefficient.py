"""The Gears arithmetic, exact (GR1, GR5, GR6, GR7, GR9): worked numbers and properties."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from civicledger.kernel.time import DAY, MONTH, YEAR
from civicledger.mechanisms.gears import coefficient as coef
from civicledger.mechanisms.gears.coefficient import Tally, coefficients
from civicledger.mechanisms.gears.values import Verdict, decode_ratio, encode_ratio, ratio_text

# Strategies: companies with random votes (-1/0/+1) and random trailing-year sales.
tally = st.builds(
    lambda plus, zero, minus: Tally(plus - minus, plus + zero + minus),
    st.integers(0, 40),
    st.integers(0, 40),
    st.integers(0, 40),
)
economies = st.dictionaries(
    st.sampled_from([f"c{i:02d}" for i in range(30)]),
    st.tuples(tally, st.integers(0, 10**9)),
    min_size=1,
    max_size=30,
)


def split(world: dict[str, tuple[Tally, int]]) -> tuple[dict[str, Tally], dict[str, int]]:
    return {c: t for c, (t, _) in world.items()}, {c: g for c, (_, g) in world.items()}


# GR5 worked numbers -----------------------------------------------------------------------------


def test_gr05_widget_co_delta_is_20_when_s_is_one_third() -> None:
    result = coefficients({"widget": Tally(1, 1), "other": Tally(0, 1)}, {"widget": 12_000, "other": 24_000}, k=30)
    assert result.average == Fraction(1, 3)
    assert result.companies["widget"].delta == 20
    assert result.companies["other"].delta == -10
    assert result.imbalance() == 0


def test_gr05_all_plus_one_or_all_minus_one_gives_zero_not_thirty() -> None:
    """With S subtracted, unanimity everywhere gives delta 0: delta is relative to the average."""
    result = coefficients({"a": Tally(5, 5), "b": Tally(3, 3)}, {"a": 10, "b": 20}, k=30)
    assert all(c.delta == 0 for c in result.companies.values())


def test_gr05_the_formula_reaches_plus_60_and_the_clamp_rescales_to_30_keeping_solvency() -> None:
    tallies = {"saint": Tally(10, 10), "giant": Tally(-10, 10)}
    sales = {"saint": 0, "giant": 1_000_000}
    raw = coefficients(tallies, sales, k=30)
    assert raw.average == -1
    assert raw.companies["saint"].delta == 60  # 30 * (1 - (-1))
    assert raw.companies["giant"].delta == 0
    clamped = coefficients(tallies, sales, k=30, clamp=30)
    assert clamped.scale == Fraction(1, 2) and clamped.companies["saint"].delta == 30
    assert clamped.imbalance() == 0


def test_gr05_minus_60_and_a_near_extreme_with_positive_sales() -> None:
    assert coefficients({"a": Tally(-4, 4), "b": Tally(2, 2)}, {"a": 0, "b": 7}, k=30).companies["a"].delta == -60
    near = coefficients({"small": Tally(1, 1), "big": Tally(-1, 1)}, {"small": 1, "big": 999}, k=30)
    assert near.average == Fraction(-998, 1000)
    assert near.companies["small"].delta == Fraction(5994, 100)  # 59.94
    assert near.companies["big"].delta == Fraction(-6, 100)  # -0.06
    assert near.imbalance() == 0
    clamped = coefficients({"small": Tally(1, 1), "big": Tally(-1, 1)}, {"small": 1, "big": 999}, k=30, clamp=30)
    assert clamped.companies["small"].delta == 30
    assert clamped.companies["big"].delta == Fraction(-6, 100) * Fraction(30, 1) / Fraction(5994, 100)
    assert clamped.imbalance() == 0


def test_gr05_no_votes_means_delta_zero_and_no_weight_in_s() -> None:
    result = coefficients({"a": Tally(1, 2), "b": Tally(0, 0)}, {"a": 100, "b": 10**9}, k=30)
    assert result.average == Fraction(1, 2) and result.companies["b"].delta == 0
    assert result.companies["b"].mean is None


@settings(max_examples=300, deadline=None)
@given(economies, st.integers(0, 60), st.sampled_from([0, 10, 30]))
def test_gr05_sum_of_sales_times_delta_is_exactly_zero_for_any_votes_and_sales(
    world: dict[str, tuple[Tally, int]], k: int, clamp: int
) -> None:
    tallies, sales = split(world)
    result = coefficients(tallies, sales, k=k, clamp=clamp)
    assert sum(sales[c] * r.delta for c, r in result.companies.items()) == 0
    bound = clamp if clamp else 2 * k
    assert all(abs(r.delta) <= bound for r in result.companies.values())
    for c, r in result.companies.items():
        if tallies[c].count == 0:
            assert r.delta == 0


@settings(max_examples=100, deadline=None)
@given(economies)
def test_gr05_splitting_a_company_into_two_equal_halves_changes_no_delta(world: dict[str, tuple[Tally, int]]) -> None:
    """The seed's invariance: m companies with equal votes selling G each = one selling m G."""
    tallies, sales = split(world)
    name = sorted(world)[0]
    halves_t = {**tallies, f"{name}-bis": tallies[name]}
    halves_s = {**sales, name: sales[name], f"{name}-bis": sales[name]}
    doubled_s = {**sales, name: 2 * sales[name]}
    a = coefficients(halves_t, halves_s, k=30)
    b = coefficients(tallies, doubled_s, k=30)
    assert a.average == b.average
    assert a.companies[name].delta == b.companies[name].delta


# GR6, GR9 settlement arithmetic ----------------------------------------------------------------


def test_gr06_widget_co_price_100_delta_20_seller_receives_120_fund_pays_20() -> None:
    assert coef.adjustment(100, Fraction(20)) == 20
    assert 100 + coef.adjustment(100, Fraction(20)) == 120


def test_gr06_adjustments_round_toward_zero() -> None:
    assert coef.adjustment(105, Fraction(-10)) == -10  # exact -10.5: the seller pays 10
    assert coef.adjustment(105, Fraction(10)) == 10  # exact 10.5: the fund pays 10
    assert coef.adjustment(1, Fraction(59)) == 0


@given(st.integers(1, 10**12), st.fractions(min_value=-60, max_value=60, max_denominator=10**6))
def test_gr06_an_adjustment_never_exceeds_the_exact_amount(price: int, delta: Fraction) -> None:
    exact = price * delta / 100
    a = coef.adjustment(price, delta)
    assert abs(a) <= abs(exact) < abs(a) + 1
    assert price + a >= 0  # |delta| <= 60: a seller never ends below zero


def test_gr09_the_waiver_drops_only_negative_deltas() -> None:
    assert coef.effective_delta(Fraction(-10), True) == 0
    assert coef.effective_delta(Fraction(-10), False) == -10
    assert coef.effective_delta(Fraction(20), True) == 20


def test_gr06_deferred_period_scaled_to_net_exactly_zero() -> None:
    payouts, charges = coef.net_zero_period({"w": Fraction(20), "o": Fraction(-10), "p": Fraction(-33, 10)})
    assert payouts == {"w": 13}
    assert sum(charges.values()) == 13 and charges == {"o": 10, "p": 3}


@given(
    st.dictionaries(
        st.text("abcdef", min_size=1, max_size=3),
        st.fractions(min_value=-(10**6), max_value=10**6, max_denominator=1000),
        max_size=12,
    )
)
def test_gr06_a_deferred_period_always_nets_exactly_zero(accrued: dict[str, Fraction]) -> None:
    payouts, charges = coef.net_zero_period(accrued)
    assert sum(payouts.values()) == sum(charges.values())
    assert all(0 < units <= accrued[c] for c, units in payouts.items())
    assert all(0 < units <= -accrued[c] for c, units in charges.items())


@given(st.integers(0, 10**6), st.lists(st.integers(1, 1000), max_size=20))
def test_gr06_payouts_are_released_in_order_and_never_overdraw(balance: int, units: list[int]) -> None:
    pending = [(f"{i:04d}", u) for i, u in enumerate(units)]
    paid, left = coef.release_in_order(balance, pending)
    assert paid == [k for k, _ in pending[: len(paid)]]  # a prefix: nobody jumps the queue
    assert left == balance - sum(u for _, u in pending[: len(paid)]) >= 0
    if len(paid) < len(pending):
        assert pending[len(paid)][1] > left


# GR1 sales, GR7 penalties ----------------------------------------------------------------------


def test_gr01_trailing_year_and_pro_rata_for_young_companies() -> None:
    sales = [(100, 1_000), (100 + YEAR, 500)]
    assert coef.annual_sales(sales, joined_at=0, at=100 + YEAR, min_age=MONTH) == 500  # the first left the year
    assert coef.annual_sales([(10, 300)], joined_at=0, at=3 * MONTH, min_age=MONTH) == 1_200  # 3 months -> x4
    assert coef.annual_sales([(10, 300)], joined_at=0, at=DAY, min_age=MONTH) == 3_600  # as if one month old


def test_gr07_penalties_are_a_month_or_a_year_of_sales() -> None:
    assert coef.penalty(12_000, Verdict.MISLEADING) == 1_000
    assert coef.penalty(12_000, Verdict.FALSE) == 12_000
    assert coef.penalty(12_007, Verdict.MISLEADING) == 1_000  # rounded down
    assert coef.penalty(12_000, Verdict.ACCURATE) == 0


def test_ratios_travel_as_exact_text() -> None:
    assert decode_ratio(encode_ratio(Fraction(-2, 3))) == Fraction(-2, 3)
    assert ratio_text(Fraction(20)) == "20.0000" and ratio_text(Fraction(-1, 3), 2) == "-0.33"
