"""Every worked number of SPEC CR2-CR9 (seed 001), exact, and the pure price rules."""

from __future__ import annotations

from fractions import Fraction as F

import pytest

from civicledger.kernel.errors import InvalidInputError, RuleViolationError
from civicledger.mechanisms.creditism import rules
from civicledger.mechanisms.creditism.policy import DEFAULT_FEE_BASE, CreditismPolicy
from civicledger.mechanisms.creditism.values import encode, parse_quantity


def test_cr02_resource_factor_below_optimum_is_0_61() -> None:
    assert rules.resource_factor(F(10_000), F(4_000), F(100)) == F(61, 100)


def test_cr02_resource_factor_above_optimum_is_minus_0_49_then_0() -> None:
    assert rules.resource_factor_raw(F(10_000), F(15_000), F(100)) == F(-49, 100)
    assert rules.resource_factor(F(10_000), F(15_000), F(100)) == 0


def test_cr02_quantity_assessed_scales_the_contribution() -> None:
    assert rules.resource_factor(F(10_000), F(10_000), F(100), F(1)) == F(1, 100)
    assert rules.resource_factor(F(10_000), F(10_000), F(100), F(3)) == F(3, 100)


def test_cr02_optimal_state_must_be_positive() -> None:
    with pytest.raises(InvalidInputError) as e:
        rules.resource_factor(F(0), F(1), F(1))
    assert e.value.rule == "CR2"


def test_cr03_good_factor_bicycle_co2_is_0_1() -> None:
    assert rules.good_factor(F(1_000), F(60_000), F(50_000)) == F(1, 10)


def test_cr03_good_factor_is_1_without_headroom() -> None:
    assert rules.good_factor(F(1_000), F(50_000), F(50_000)) == 1
    assert rules.good_factor(F(1_000), F(40_000), F(50_000)) == 1
    assert rules.good_factor(F(20_000), F(60_000), F(50_000)) == 1


def test_cr04_score_is_the_weighted_mean_clamped() -> None:
    score = rules.externality_score([(F(1, 2), F(61, 100)), (F(1, 2), F(1, 10))], weights_sum_to_one=True)
    assert score == F(71, 200)
    assert rules.externality_score([(F(1), F(3))], weights_sum_to_one=True) == 1


def test_cr04_weights_must_sum_to_one_when_policy_says_so() -> None:
    with pytest.raises(InvalidInputError) as e:
        rules.externality_score([(F(1, 2), F(1, 10)), (F(1, 3), F(1, 10))], weights_sum_to_one=True)
    assert e.value.rule == "CR4" and "sum to 1" in e.value.message
    assert rules.externality_score([(F(2), F(1, 10)), (F(2), F(3, 10))], weights_sum_to_one=False) == F(1, 5)


def test_cr04_negative_weight_refused() -> None:
    with pytest.raises(InvalidInputError):
        rules.externality_score([(F(-1), F(1)), (F(2), F(0))], weights_sum_to_one=True)


def test_cr04_legal_ceiling_refuses_scores_above_it() -> None:
    rules.check_ceiling(F(1, 2), F(1, 2), "oak")
    with pytest.raises(RuleViolationError) as e:
        rules.check_ceiling(F(61, 100), F(1, 2), "oak")
    assert e.value.rule == "CR4" and "oak" in e.value.message


def test_cr05_apples_180_a_year() -> None:
    assert rules.allotted_renewable(F(500), F(300), F(1, 10)) == 180


def test_cr05_trees_780_a_year() -> None:
    assert rules.allotted_renewable(F(5_000), F(3_000), F(61, 100)) == 780


def test_cr05_mortality_above_rejuvenation_allots_nothing() -> None:
    assert rules.allotted_renewable(F(300), F(500), F(0)) == 0


def test_cr05_negative_rates_refused() -> None:
    with pytest.raises(InvalidInputError) as e:
        rules.allotted_renewable(F(-1), F(0), F(0))
    assert e.value.rule == "CR5"


def test_cr06_finite_resource_supply_over_age() -> None:
    assert rules.allotted_finite(F(1_000_000), F(1_000), F(1, 2)) == 500
    with pytest.raises(InvalidInputError):
        rules.allotted_finite(F(1), F(0), F(0))


def test_cr07_ten_thousand_bicycles() -> None:
    capability, limiting = rules.production_capability(
        {"steel": F(50_000), "rubber": F(60_000), "plastic": F(30_000)},
        {"steel": F(5), "rubber": F(2), "plastic": F(1)},
    )
    assert capability == 10_000 and limiting == "steel"


def test_cr07_unknown_input_refused() -> None:
    with pytest.raises(RuleViolationError) as e:
        rules.production_capability({"steel": F(1)}, {"steel": F(1), "unobtainium": F(1)})
    assert e.value.rule == "CR7" and "unobtainium" in e.value.message


def test_cr07_shared_allotment_split_by_demand_sums_to_whole() -> None:
    shares = rules.share_allotment(F(50_000), {"bicycle": F(4_000 * 5), "car": F(30 * 1_000)})
    assert shares == {"bicycle": F(20_000), "car": F(30_000)}
    assert rules.share_allotment(F(9), {"a": F(0), "b": F(0), "c": F(0)}) == {"a": 3, "b": 3, "c": 3}
    assert rules.share_allotment(F(10), {"a": F(1), "b": F(3)}, "equal") == {"a": 5, "b": 5}


def test_cr08_allotted_and_actual_production() -> None:
    assert rules.allotted_production(F(10_000), F(1, 10)) == 9_000
    assert rules.actual_rate(F(12_000), F(9_000)) == 9_000
    assert rules.actual_rate(F(7_000), F(9_000)) == 7_000


def test_cr09_allowance_ratings_0_8_1_1_5() -> None:
    assert rules.allowance_rating(F(4_000), F(5_000)) == F(4, 5)
    assert rules.allowance_rating(F(2_000), F(2_000)) == 1
    assert rules.allowance_rating(F(1_500), F(1_000)) == F(3, 2)
    assert rules.allowance_rating(F(1), F(0)) is None


def test_cr09_efficiency_rating_is_price_over_labour() -> None:
    assert rules.efficiency_rating(F(300), F(100)) == 3
    assert rules.efficiency_rating(F(300), F(0)) is None


def test_cr10_fee_base_defaults_to_one_month_of_basic_income() -> None:
    # 1,000 units a week at 2 decimals, for 2,629,746 s / 604,800 s of a week: 434,812.5 -> 434,812
    assert DEFAULT_FEE_BASE == 434_812
    assert CreditismPolicy().fee_base == 0  # follow the Circles section
    assert rules.externality_fee(F(1, 10), 434_812) == F(434_812, 10)


def test_cr10_cr11_prices() -> None:
    cost = rules.resource_cost(F(100), F(20), F(30))
    assert cost == 150
    base = rules.base_price(cost, F(50), F(1, 10))
    assert base == 220
    assert rules.market_price(base, F(1, 20), F(4_000), F(5_000)) == F(220) * F(21, 20) * F(4, 5)
    assert rules.scarcity(F(0), F(5)) == 1


def test_cr13_surplus_over_base_price_becomes_credits_with_workers_share() -> None:
    assert rules.coop_surplus(revenue=12_000, base_units=100, sold=100, workers_share=F(1, 2)) == (1_000, 1_000)
    assert rules.coop_surplus(revenue=12_001, base_units=100, sold=100, workers_share=F(1, 2)) == (1_001, 1_000)
    assert rules.coop_surplus(revenue=9_000, base_units=100, sold=100, workers_share=F(1, 2)) == (0, 0)


def test_quantities_are_text_never_floats() -> None:
    assert parse_quantity("0.61", "x", "CR2") == F(61, 100)
    assert parse_quantity("3/4", "x", "CR2") == F(3, 4)
    assert encode(F(6, 4)) == "3/2" and encode(F(4)) == "4"
    for bad in (0.5, "abc", "", "1/0", True):
        with pytest.raises(InvalidInputError):
            parse_quantity(bad, "x", "CR5")
    with pytest.raises(InvalidInputError) as e:
        parse_quantity("-3", "rejuvenation", "CR5")
    assert e.value.rule == "CR5"


def test_policy_section_refuses_bad_ratios() -> None:
    with pytest.raises(ValueError):
        CreditismPolicy(workers_share="150%")
    with pytest.raises(ValueError):
        CreditismPolicy(allotment_sharing="lottery")
    assert CreditismPolicy(legal_ceiling="50%").ceiling == F(1, 2)
