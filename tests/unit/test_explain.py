"""Why a number is what it is: the explain functions of every mechanism, on the demo economy in
memory, each checked against its rule's arithmetic done again here (SC4, GR5, CR11, CI9, X4)."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

import pytest

from civicledger.adapters.memory import MemoryStore
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.demo import run_demo
from civicledger.kernel.explain import Explanation, Figure, Money, decimal
from civicledger.kernel.identity import AccountId
from civicledger.kernel.time import DAY, HOUR, MONTH, YEAR, format_duration
from civicledger.mechanisms.circles import handlers as circles
from civicledger.mechanisms.circles import queries as circles_queries
from civicledger.mechanisms.creditism import queries as creditism_queries
from civicledger.mechanisms.creditism.rules import component_shares, percent
from civicledger.mechanisms.credits import queries as credits_queries
from civicledger.mechanisms.gears import queries as gears_queries


@pytest.fixture(scope="module")
def demo() -> Iterator[ScriptedEconomy]:
    store = MemoryStore()
    economy, _ = run_demo(store)
    yield economy
    store.close()


def _by_name(figures: tuple[Figure, ...]) -> dict[str, Figure]:
    return {f.name: f for f in figures}


def test_sc04_explain_grade_adds_each_adjustments_steps_to_the_base_grade(demo: ScriptedEconomy) -> None:
    maya = demo.account("maya")
    found = credits_queries.grade_explanation(demo.store, maya, 0)
    inputs = _by_name(found.inputs)
    assert found.rule == "SC4"
    assert inputs["base grade"].value == 2
    assert (inputs["decay window"].shown(), inputs["decay step"].shown()) == ("365 days", "90 days")  # not seconds
    assert inputs["available"].value == inputs["accrued"].value - inputs["spent"].value == 29_759
    with demo.store.read() as uow:
        lots = credits_queries.explain(uow, AccountId(maya), found.at)["lots"]
    assert [s.value for s in found.steps] == [lot["grade"] for lot in lots] == [4, 4, 5]
    for lot, step in zip(lots, found.steps, strict=True):  # base + each step, kept within 0-5 (SC4)
        grade = 2
        for a in lot["adjustments"]:
            grade = min(5, max(0, grade + int(str(a["steps"]))))
        assert step.value == grade - lot["decayed"]
        assert step.formula.startswith("2 +2 (award")
    assert "+1 (direct_democracy" in found.steps[1].formula and "-1 (lottery" in found.steps[1].formula
    assert found.result.value == 4  # 26,759 + 400 credits at 4 against 2,600 at 5
    assert "27,159 of 29,759" in found.result.meaning


def test_gr05_explain_delta_is_k_times_mean_vote_minus_sales_weighted_average(demo: ScriptedEconomy) -> None:
    widget = demo.account("widget-co")
    found = gears_queries.delta_explanation(demo.store, widget, 0)
    inputs, steps = _by_name(found.inputs), _by_name(found.steps)
    rows = gears_queries.coefficients(demo.store, found.at)["companies"]
    voted = [r for r in rows if r["votes"]]
    s = sum(r["sales"] * Fraction(str(r["mean"])) for r in voted) / sum(r["sales"] for r in voted)
    assert inputs["k"].value == 30
    assert inputs["G"].value == 714_781 and inputs["G"].shown() == "xi 7,147.81"
    assert (inputs["n"].value, inputs["votes"].value) == (2, 1)  # +1 and 0
    assert steps["V"].value == Fraction(1, 2)
    assert steps["S"].value == s == Fraction(714_781, 4_808_528)
    assert found.result.value == 30 * (Fraction(1, 2) - s) == Fraction(25_342_245, 2_404_264)
    assert decimal(found.result.value) == "10.54"
    wire = found.to_wire()
    assert wire["result"]["value"] == "25342245/2404264"  # exact, never a float


def test_cr11_explain_price_goes_from_costs_through_markups_and_scarcity(demo: ScriptedEconomy) -> None:
    found = creditism_queries.price_explanation(demo.store, "bicycle")
    steps = _by_name(found.steps)
    inputs = _by_name(found.inputs)
    assert found.result.value == steps["MarketPrice"].value == 14_117 and found.result.shown() == "141.17"
    assert steps["BasePrice"].value == 16_476
    assert inputs["demand / supply"].value == Fraction(800, 999)
    # CR11: MarketPrice = q (1 + kappa)(1 + gamma) x demand / supply, to the minor unit
    q = Fraction(steps["q"].value)
    exact = q * (1 + inputs["council markup"].value) * (1 + inputs["coop markup"].value) * Fraction(800, 999)
    assert abs(exact - 14_117) < 1
    components = [steps[c] for c in ("labour", "resources", "externality", "council", "coop", "scarcity")]
    assert sum(int(c.value) for c in components) == 14_117  # the components sum to the price (CR12)
    assert steps["labour"].formula.startswith("73.2% of 177.11")


def test_cr11_a_share_is_of_what_the_price_pays_for_before_a_scarcity_discount() -> None:
    """The goods page and `civic creditism price` both use this: labour 12,956 of a 14,117 price whose
    other slices add to 4,755 and whose scarcity discount is -3,594 is 73.2%, not 91.8% (CR11)."""
    parts = {
        "labour": 12_956,
        "resources": 1_180,
        "externality": 1_638,
        "council": 784,
        "coop": 1_153,
        "scarcity": -3_594,
    }
    shares = component_shares(parts)
    assert shares["labour"] == Fraction(12_956, 17_711)
    assert percent(shares["labour"]) == "73.2%"
    assert percent(shares["scarcity"]) == "-20.3%"
    assert sum(v for v in shares.values() if v > 0) == 1
    premium = {"labour": 600, "resources": 300, "scarcity": 100}  # a premium is a slice of the price
    assert component_shares(premium) == {
        "labour": Fraction(6, 10),
        "resources": Fraction(3, 10),
        "scarcity": Fraction(1, 10),
    }
    assert component_shares({"labour": 0}) == {"labour": 0}


def test_ci09_explain_payment_names_the_full_edges_of_a_minimum_cut(demo: ScriptedEconomy) -> None:
    ada, cleo = demo.account("ada"), demo.account("cleo")
    found = circles_queries.explain_payment(demo.store, ada, cleo, None, 0)
    plan = circles.router_for(demo.store).route(AccountId(ada), AccountId(cleo), None, found.at)
    assert found.result.value == plan.max_flow == 778_722
    assert found.result.shown() == "CRC 7,787.22"
    # max-flow = min-cut: the limiting edges add up to the maximum, and here all are ben's holdings
    assert sum(int(s.value) for s in found.steps) == 778_722
    assert [s.name for s in found.steps] == [
        "ben holds riverside's coins",
        "ben holds ben's coins",
        "ben holds cleo's coins",
    ]
    assert _by_name(found.inputs)["unclaimed income"].value == 586_310


def test_ci09_a_sybil_account_can_pay_an_honest_one_nothing(demo: ScriptedEconomy) -> None:
    found = circles_queries.explain_payment(demo.store, demo.account("fake-1"), demo.account("cleo"), 100, 0)
    assert found.result.value == 0
    assert found.steps == ()  # nothing full limits it: no route leaves the Sybil pair at all (CI14)
    assert _by_name(found.inputs)["asked"].shown() == "CRC 1.00"


def test_x04_durations_read_in_years_days_and_hours() -> None:
    assert format_duration(90 * DAY) == "90 days"
    assert format_duration(DAY + 6 * HOUR) == "1 day 6 hours"
    assert format_duration(YEAR) == "1 year"
    assert format_duration(MONTH) == "30 days 10 hours"  # a twelfth of 365.2425 days, two parts shown
    assert format_duration(59) == "59 seconds"


def test_x03_a_figure_reads_in_major_units_and_keeps_exact_minor_units_on_the_wire() -> None:
    figure = Figure("price", 1_411_700, "per piece", money=Money(2, "xi", "xi"), rule="CR11")
    assert figure.shown() == "xi 14,117.00"
    assert figure.to_wire()["units"] == 1_411_700
    explained = Explanation("CR11", "why?", "x", 0, (figure,), (), figure)
    assert explained.to_wire()["inputs"][0]["decimals"] == 2
