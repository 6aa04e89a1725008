"""Policy values name their unit (X7), so pages show them for people and keep the exact value:
durations (X4), money (X3), ratios, percentages, yes/no. See kernel.policy.Unit and docs/web.md."""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from typing import get_type_hints

from civicledger.api.governance import flatten
from civicledger.kernel.policy import Policy, Unit, policy_to_mapping, policy_units, unit_of
from civicledger.kernel.ratio import Ratio
from civicledger.web.council import _duration, _percent


def test_x07_every_policy_value_of_seconds_or_money_declares_its_unit() -> None:
    units = policy_units()
    assert units["circles.income_period"] is Unit.SECONDS
    assert units["circles.income_units"] is Unit.MINOR_UNITS
    assert units["circles.growth"] is Unit.RATIO  # by its type
    assert units["creditism.workers_share"] is Unit.RATIO  # a ratio kept as text, declared
    assert units["gears.early_stage_waiver"] is Unit.YES_NO  # by its type
    assert unit_of("credits.participation.risky_work.duration", units) is Unit.SECONDS
    assert unit_of("credits.participation.risky_work.portion_percent", units) is Unit.PERCENT
    assert unit_of("credits.grade_max", units) is None and unit_of("gears.k", units) is None
    # Every value whose name says it counts time or money has a unit: a new one cannot be forgotten.
    for path in flatten(policy_to_mapping(Policy(), every_value=True)):
        name = path.rsplit(".", 1)[-1]
        if name.endswith(("window", "period", "duration", "delay", "seconds", "_age", "wait", "timeout", "deadline")):
            assert unit_of(path, units) is Unit.SECONDS, path
        if name.endswith(("_units", "_bonus", "_cost", "_reward", "fee_base")):
            assert unit_of(path, units) is Unit.MINOR_UNITS, path


def test_x07_a_units_table_names_only_fields_of_its_section() -> None:
    for path in policy_units():
        assert path.split(".")[0] in {"economy", "journal", "identity", "circles", "credits", "creditism", "gears"}
    from civicledger.kernel.policy import mechanism_sections

    for cls in mechanism_sections().values():
        declared = getattr(cls, "UNITS", {})
        names = {f.name for f in dataclasses.fields(cls)}
        assert set(declared) <= names, (cls, set(declared) - names)
        assert "UNITS" not in names and "UNITS" in get_type_hints(cls)  # a ClassVar, never stored


def test_x04_a_duration_that_drops_a_rest_says_so() -> None:
    assert _duration(90 * 86_400) == "90 days"
    assert _duration(300) == "5 minutes"
    assert _duration(2_629_746) == "≈ 30 days 10 hours"  # X4's month
    assert _duration(31_556_952) == "1 year"


def test_x03_ratios_read_as_exact_percentages_or_say_they_round() -> None:
    assert _percent(Ratio(1, 20)) == "5%"
    assert _percent(Fraction(7, 100)) == "7%"
    assert _percent(Fraction(1, 3)) == "≈ 33.3333%"
    assert _percent(Fraction(1, 8)) == "12.5%"
