"""The simulator finds each mechanism's sector through the registry and drives them in order."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from civicledger.kernel.registry import Mechanism, installed
from civicledger.mechanisms.circles.sim import CirclesSector
from civicledger.mechanisms.creditism.sim import CreditismSector
from civicledger.mechanisms.credits.sim import CreditsSector
from civicledger.mechanisms.gears.sim import GearsSector
from civicledger.sim import Model, parse_scenario, run
from civicledger.sim import sector as sector_module
from civicledger.sim.sector import Sector, sector_of, sectors

TINY: dict[str, Any] = {
    "scenario": {"steps": 6, "seeds": [1]},
    "population": {"persons": 50, "companies": 3, "resources": 2},
}


def test_every_installed_mechanism_offers_its_sector_in_the_step_order() -> None:
    assert [name for name, _ in sectors()] == ["circles", "credits", "gears", "creditism"]
    assert [cls for _, cls in sectors()] == [CirclesSector, CreditsSector, GearsSector, CreditismSector]


def test_a_sector_is_found_by_its_reference_or_by_the_mechanism_name() -> None:
    gears = next(m for m in installed() if m.name == "gears")
    named = dataclasses.replace(gears, sim="civicledger.mechanisms.gears.sim:GearsSector")
    unnamed = dataclasses.replace(gears, sim=None)
    assert sector_of(named) is GearsSector
    assert sector_of(unnamed) is GearsSector
    assert sector_of(Mechanism(name="nosuch", title="none", rule_prefix="NS", position=9)) is None
    wrong = dataclasses.replace(gears, sim="civicledger.mechanisms.gears.sim:VERDICTS")
    with pytest.raises(RuntimeError, match="not a Sector"):
        sector_of(wrong)


class Counting(Sector):
    """A sector of a mechanism the simulator does not know: it counts, records and listens."""

    order = 250  # between social credits and Gears

    def setup(self) -> None:
        self.counted = 0
        self.heard: list[tuple[str, int]] = []

    def step(self, s: int, t: int) -> None:
        self.counted += 1

    def participation(self, kind: str, persons: Any, t: int) -> None:
        self.heard.append((kind, int(persons.size)))

    def record(self, s: int, t: int) -> dict[str, Any]:
        return {"counted": self.counted}


def test_a_further_mechanism_takes_part_without_changing_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = parse_scenario(TINY)
    before = run(scenario, seed=3)
    extra = Mechanism(name="counting", title="Counting", rule_prefix="CT", position=9, sim=f"{__name__}:Counting")
    monkeypatch.setattr(sector_module, "installed", lambda: [*installed(), extra])
    model = Model(scenario, seed=3)
    rows = model.run()
    assert list(model.sectors) == ["circles", "credits", "counting", "gears", "creditism"]
    assert [r.pop("counted") for r in rows] == list(range(1, 7))
    assert rows == before
    assert model.heard and {kind for kind, _ in model.heard} == {"gears_vote"}  # X8 reaches every sector


def test_the_model_reads_and_sets_a_name_on_the_one_sector_holding_it() -> None:
    model = Model(parse_scenario(TINY), seed=1)
    circles, credits = model.sectors["circles"], model.sectors["credits"]
    assert model.own is circles.own  # type: ignore[attr-defined]
    model.draw_hook = "hook"
    assert credits.draw_hook == "hook" and "draw_hook" not in vars(model)  # type: ignore[attr-defined]
    model.tiers = [("x", 1, 0)]
    assert credits.tiers == [("x", 1, 0)]  # type: ignore[attr-defined]
    assert model.verified is model.__dict__["verified"]  # the model's own names stay the model's
    with pytest.raises(AttributeError, match="no attribute"):
        _ = model.no_such_name
    with pytest.raises(AttributeError, match="no attribute"):
        _ = model.setup  # the sector interface is not forwarded
    circles.fund = 0  # type: ignore[attr-defined]
    with pytest.raises(AttributeError, match="several sectors"):
        _ = model.fund
    assert isinstance(model.sectors["gears"].fund, int)  # type: ignore[attr-defined]
    assert np.array_equal(model.available(model.genesis), credits.available(model.genesis))  # type: ignore[attr-defined]


def _creditism(**population: int) -> dict[str, Any]:
    return {
        "scenario": {"steps": 20, "seeds": [3]},
        "population": {"persons": 100, "companies": 0, "resources": 3, **population},
        "network": {"mean_degree": 0.0},
        "parameters": {"demand_per_capita": 2.0},
    }


def test_cr06_a_finite_resource_is_allotted_by_its_rule_and_used_up_by_extraction() -> None:
    from fractions import Fraction

    from civicledger.kernel.time import YEAR
    from civicledger.mechanisms.creditism import rules as cr

    model = Model(parse_scenario(_creditism(finite_resources=1)), seed=3)
    assert list(model.finite) == [False, False, True] and model.rejuvenation[2] == model.mortality[2] == 0
    for s in range(20):
        supply = int(model.supply[2])
        model.step(s)
        allotted = model.allotted["r2"]
        taken = int(cr.actual_rate(Fraction(int(model.demand[2])), allotted) * model.scenario.step // YEAR)
        assert int(model.supply[2]) == supply - taken  # CR6, CR8: what is extracted leaves the supply
    row = model.rows[-1]
    assert row["finite_supply_r2"] == int(model.supply[2]) and "finite_supply_r1" not in row


def test_cr13_without_finite_resources_or_coops_a_run_is_what_it_was() -> None:
    plain = run(parse_scenario(_creditism()), seed=3)
    assert not any(k.startswith(("finite_supply", "coop")) for k in plain[-1])
    with_coops = run(parse_scenario(_creditism(coops=2)), seed=3)
    assert with_coops[-1]["coops_approved"] == 2 and with_coops[-1]["coop1_price"] > 0
    assert with_coops[-1]["price_good"] != plain[-1]["price_good"]  # CR13: the coops' blended plans


def test_cr06_more_finite_resources_than_resources_are_refused() -> None:
    with pytest.raises(Exception, match="finite_resources"):
        parse_scenario(_creditism(finite_resources=4))


def test_gr06_deferred_periods_net_zero_and_immediate_runs_write_no_period_columns() -> None:
    base: dict[str, Any] = {
        "scenario": {"steps": 20, "seeds": [5]},
        "population": {"persons": 400, "companies": 6, "resources": 0},
        "parameters": {"vote_rate": 0.2},
    }
    immediate = run(parse_scenario(base), seed=5)
    assert "periods_closed" not in immediate[-1]
    model = Model(parse_scenario({**base, "policy": {"gears": {"mode": "deferred"}}}), seed=5, trace=True)
    rows = model.run()
    last = rows[-1]
    assert last["periods_closed"] == 4  # weekly steps, 30-day periods: four ended within 20 weeks
    assert last["period_payouts"] == last["period_charges"] > 0  # GR6: each period nets exactly zero
    sales = [a for a in model.trace.actions if a[0] == "sale"]  # type: ignore[union-attr]
    assert sales and all(a[4] == 0 for a in sales)  # nothing settled at the sale itself
    assert last["fund_paid"] != immediate[-1]["fund_paid"]
