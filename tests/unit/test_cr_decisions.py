"""The council's and the coops' decisions, on plain figures: allotments and capability (CR5-CR8),
approvals (CR8, CR14), the report (CR7-CR9), pre-orders (CR14) and what production earns (CR13)."""

from __future__ import annotations

from fractions import Fraction as F

import pytest

from civicledger.kernel.errors import InvalidInputError, RuleViolationError
from civicledger.mechanisms.creditism import rules
from civicledger.mechanisms.creditism.chain import (
    Node,
    Output,
    ProductionCredits,
    blend,
    decide_production,
    quote,
    row_breakdown,
    solve_chain,
)
from civicledger.mechanisms.creditism.rules import AssetFigures
from civicledger.mechanisms.creditism.values import AssetKind, Component

RENEWABLE, FINITE, GOOD = AssetKind.RENEWABLE, AssetKind.FINITE, AssetKind.GOOD
BICYCLE = {"steel": F(5), "rubber": F(2), "plastic": F(1)}


def seed_world(bicycle_allotted: F | None = None) -> dict[str, AssetFigures]:
    """The seed's resources, allotted 50,000 / 60,000 / 30,000 a year, and the bicycle."""
    return {
        "steel": AssetFigures(FINITE, allotted=F(50_000)),
        "rubber": AssetFigures(RENEWABLE, allotted=F(60_000)),
        "plastic": AssetFigures(FINITE, allotted=F(30_000)),
        "bicycle": AssetFigures(GOOD, score=F(1, 10), demand=F(4_000), allotted=bicycle_allotted, inputs=BICYCLE),
    }


# CR5-CR8: the rule's figure and the allotment ----------------------------------------------------


def test_cr05_cr06_sustainable_rate_of_a_resource_is_its_rule_figure() -> None:
    assets = {
        "apples": AssetFigures(RENEWABLE, score=F(1, 10), rejuvenation=F(500), mortality=F(300)),
        "ore": AssetFigures(FINITE, score=F(1, 2), total_supply=F(1_000_000), age=F(1_000)),
    }
    assert rules.sustainable(assets, "apples", "demand") == rules.Sustainable(F(180))
    assert rules.sustainable(assets, "ore", "demand") == rules.Sustainable(F(500))


def test_cr07_cr08_sustainable_rate_of_a_good_is_its_capability_less_its_harm() -> None:
    found = rules.sustainable(seed_world(), "bicycle", "demand")
    assert found.capability == 10_000 and found.limiting == "steel"
    assert found.rate == 9_000  # 10,000 x (1 - 0.1)
    assert found.shares == {"plastic": 30_000, "rubber": 60_000, "steel": 50_000}


def test_cr07_a_good_with_no_inputs_has_no_rule_figure() -> None:
    assets = {"song": AssetFigures(GOOD, score=F(1, 10))}
    assert rules.sustainable(assets, "song", "demand") == rules.Sustainable(None)


def test_cr07_goods_share_an_input_by_their_claims_on_it() -> None:
    assets = seed_world()
    assets["car"] = AssetFigures(GOOD, demand=F(30), inputs={"steel": F(1_000)})
    assert rules.claims_on(assets, "steel") == {"bicycle": F(20_000), "car": F(30_000)}
    assert rules.claims_on(assets, "bicycle") == {}
    can = rules.capability(assets, "bicycle", "demand")
    assert can.shares["steel"] == 20_000 and can.amount == 4_000 and can.limiting == "steel"
    assert rules.capability(assets, "bicycle", "equal").shares["steel"] == 25_000


def test_cr07_capability_is_refused_while_an_input_has_no_allotment() -> None:
    assets = seed_world()
    assets["rubber"] = AssetFigures(RENEWABLE)
    with pytest.raises(RuleViolationError) as e:
        rules.capability(assets, "bicycle", "demand")
    assert e.value.rule == "CR7" and e.value.message == "bicycle needs rubber, which has no allotment yet"


def test_cr05_allotment_is_the_rule_figure_unless_the_council_gives_less() -> None:
    assert rules.decide_allotment("apples", "CR5", F(180), None, F(0)) == 180
    assert rules.decide_allotment("apples", "CR5", F(180), F(100), F(0)) == 100
    with pytest.raises(RuleViolationError) as e:
        rules.decide_allotment("apples", "CR5", F(180), F(181), F(0))
    assert e.value.rule == "CR5"
    assert e.value.message == "over-allotment: apples may be allotted at most 180 a year, not 181"


def test_cr08_allotment_never_below_what_approved_coops_hold() -> None:
    with pytest.raises(RuleViolationError) as e:
        rules.decide_allotment("bicycle", "CR8", F(9_000), F(500), F(999))
    assert e.value.rule == "CR8" and e.value.message == "over-allotment: coops already hold 999 a year of bicycle"


def test_cr08_a_good_with_no_inputs_is_allotted_what_the_council_gives() -> None:
    assert rules.decide_allotment("song", "CR8", None, F(12), F(0)) == 12
    with pytest.raises(InvalidInputError) as e:
        rules.decide_allotment("song", "CR8", None, None, F(0))
    assert e.value.rule == "CR8" and "the council must give the amount" in e.value.message


def test_cr05_cr06_cr08_each_kind_is_allotted_under_its_own_rule() -> None:
    assert [rules.allotment_rule(k) for k in (RENEWABLE, FINITE, GOOD)] == ["CR5", "CR6", "CR8"]


# CR8, CR14: approving a coop -------------------------------------------------------------------


def test_cr08_an_approval_fits_within_the_goods_allotment() -> None:
    rules.check_coop_allotment("bicycle", F(600), F(999), F(399))
    with pytest.raises(RuleViolationError) as e:
        rules.check_coop_allotment("bicycle", F(601), F(999), F(399))
    assert e.value.rule == "CR8"
    assert e.value.message == "over-allotment: bicycle is allotted 999 a year and coops already hold 399"


def test_cr08_an_approval_allots_a_positive_production() -> None:
    with pytest.raises(InvalidInputError) as e:
        rules.check_coop_allotment("bicycle", F(0), F(999), F(0))
    assert e.value.rule == "CR8"


def test_cr14_no_approval_before_the_council_allots_the_good() -> None:
    with pytest.raises(RuleViolationError) as e:
        rules.check_coop_allotment("bicycle", F(1), None, F(0))
    assert e.value.rule == "CR14" and e.value.message == "the council has not set bicycle's allotted production yet"


# CR7-CR9: the report ------------------------------------------------------------------------------


def test_cr09_standing_of_a_resource_rating_actual_and_split() -> None:
    assets = seed_world()
    assets["steel"] = AssetFigures(FINITE, demand=F(4_000), allotted=F(5_000))
    assets["car"] = AssetFigures(GOOD, demand=F(4_000), inputs={"steel": F(5)})
    steel = rules.standing(assets, "steel", "demand")
    assert steel.rating == F(4, 5) and steel.actual == 4_000
    assert steel.split == {"bicycle": 2_500, "car": 2_500}
    assert steel.capability is None and steel.note is None


def test_cr09_standing_before_any_allotment_has_no_rating() -> None:
    standing = rules.standing({"oak": AssetFigures(RENEWABLE, demand=F(10))}, "oak", "demand")
    assert standing == rules.Standing(F(10), None, None, None, None, None, None)


def test_cr07_standing_of_a_good_shows_its_capability_or_why_not() -> None:
    assets = seed_world(F(9_000))
    bicycle = rules.standing(assets, "bicycle", "demand")
    assert bicycle.capability is not None and bicycle.capability.amount == 10_000
    assert bicycle.rating == F(4, 9) and bicycle.actual == 4_000
    assets["plastic"] = AssetFigures(FINITE)
    waiting = rules.standing(assets, "bicycle", "demand")
    assert waiting.capability is None and waiting.note == "bicycle needs plastic, which has no allotment yet"


# CR14: pre-orders -------------------------------------------------------------------------------


def test_cr14_pre_orders_count_as_demand_when_they_exceed_the_survey() -> None:
    assert rules.effective_demand(F(800), 300) == 800
    assert rules.effective_demand(F(800), 900) == 900


def test_cr14_a_pre_order_is_priced_at_demand_over_supply_when_placed() -> None:
    early = rules.pre_order_price(F(10_000), F(1, 20), 0, 60, F(600))
    assert early == rules.PreOrderPrice(F(1, 10), 1_050, 63_000)
    late = rules.pre_order_price(F(10_000), F(1, 20), 60, 240, F(600))
    assert late.ratio == F(1, 2) and late.unit_price == 5_250 and late.total == 5_250 * 240


def test_cr14_a_pre_order_price_is_rounded_half_up() -> None:
    assert rules.pre_order_price(F(1), F(0), 0, 1, F(2)).unit_price == 1  # 0.5 -> 1
    assert rules.pre_order_price(F(1), F(0), 0, 1, F(3)).unit_price == 0  # 0.33 -> 0


# CR13: coops --------------------------------------------------------------------------------------


def test_cr13_a_good_made_by_coops_is_priced_at_their_plans_weighted_by_allotment() -> None:
    green = Node(
        "green",
        labour=F(10_000),
        external=F(500),
        fee=F(4),
        council_markup=F(1, 20),
        coop_markup=F(1, 20),
        scarcity=F(4, 3),
        inputs={"steel": F(5)},
    )
    city = Node(
        "city",
        labour=F(14_000),
        external=F(1_500),
        fee=F(4),
        council_markup=F(1, 20),
        coop_markup=F(1, 10),
        scarcity=F(4, 3),
        inputs={"steel": F(4), "rubber": F(2)},
    )
    node = blend("bicycle", [(F(600), green), (F(200), city)])
    assert node == Node(
        "bicycle",
        labour=F(11_000),
        external=F(750),
        fee=F(4),
        council_markup=F(1, 20),
        coop_markup=F(1, 16),
        scarcity=F(4, 3),
        inputs={"rubber": F(1, 2), "steel": F(19, 4)},
    )


def test_cr13_a_coops_quote_sums_to_its_price_with_its_efficiency() -> None:
    chain = solve_chain([Node("steel", labour=F(150), external=F(40))])
    row = row_breakdown(Node("green", labour=F(1_001), coop_markup=F(1, 3), inputs={"steel": F(1, 3)}), chain)
    priced = quote(row, F(1_001))
    assert sum(priced.components.values()) == priced.price == 1_419  # (1,001 + 190 / 3) x 4 / 3 = 1,419.11
    assert priced.base_price == 1_064  # 1,001 + 190 / 3 = 1,064.33
    assert priced.components[Component.LABOUR] == 1_051 and priced.components[Component.COOP] == 355  # 354.78
    assert priced.efficiency == row.price / 1_001
    assert quote(row, F(0)).efficiency is None


def coop_world() -> tuple[Node, list[Node]]:
    nodes = [
        Node("steel", labour=F(150), external=F(50)),
        Node("bicycle", labour=F(5_000), council_markup=F(1, 10), inputs={"steel": F(5)}),
    ]
    coop = Node("green-bike", labour=F(4_000), council_markup=F(1, 10), coop_markup=F(1, 20), inputs={"steel": F(5)})
    return coop, nodes


def test_cr13_surplus_over_the_coops_base_price_becomes_credits() -> None:
    coop, nodes = coop_world()
    base = (4_000 + 5 * 200) * F(11, 10)  # 5,500: its own plan, steel at its market price
    credits = decide_production("green-bike", F(500), Output(), Output(10, 10, 56_000), coop, nodes, F(1, 2))
    assert base == 5_500 and credits == ProductionCredits(5_500, 500, 500)  # 1,000 over 10 x 5,500
    odd = decide_production("green-bike", F(500), Output(), Output(10, 10, 55_001), coop, nodes, F(1, 2))
    assert odd == ProductionCredits(5_500, 1, 0)  # the odd unit stays with the coop


def test_cr13_no_credits_at_or_below_the_base_price() -> None:
    coop, nodes = coop_world()
    credits = decide_production("green-bike", F(500), Output(), Output(10, 10, 55_000), coop, nodes, F(1, 2))
    assert credits == ProductionCredits(5_500, 0, 0)
    unsold = decide_production("green-bike", F(500), Output(), Output(10, 0, 0), coop, nodes, F(1, 2))
    assert unsold == ProductionCredits(5_500, 0, 0)


def test_cr08_production_beyond_the_coops_allotment_is_refused() -> None:
    coop, nodes = coop_world()
    with pytest.raises(RuleViolationError) as e:
        decide_production("green-bike", F(1_000, 3), Output(300, 300, 0), Output(34, 0, 0), coop, nodes, F(1, 2))
    assert e.value.rule == "CR8"
    assert e.value.message == "over-allotment: green-bike is allotted 1000/3 a year and has produced 300"
    decide_production("green-bike", F(1_000, 3), Output(300, 300, 0), Output(33, 0, 0), coop, nodes, F(1, 2))


def test_cr13_a_coop_sells_no_more_than_it_has_produced() -> None:
    coop, nodes = coop_world()
    with pytest.raises(RuleViolationError) as e:
        decide_production("green-bike", F(500), Output(10, 5, 0), Output(0, 6, 0), coop, nodes, F(1, 2))
    assert e.value.rule == "CR13" and e.value.message == "a coop cannot sell more units than it has produced"
