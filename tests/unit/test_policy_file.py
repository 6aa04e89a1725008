"""X7: a malformed policy file gets every problem listed with its line."""

from __future__ import annotations

from fractions import Fraction

import pytest

from civicledger.adapters.policy_file import parse_policy_text
from civicledger.kernel.errors import PolicyFileError
from civicledger.kernel.policy import Policy, Ratio, policy_from_mapping, policy_to_mapping, with_change

GOOD = """
[economy]
name = "Riverside"

[journal]
signature_max_age = 600
"""


def test_x07_a_good_file_gives_a_policy() -> None:
    policy, mapping = parse_policy_text(GOOD)
    assert policy.economy.name == "Riverside"
    assert policy.journal.signature_max_age == 600
    assert mapping["economy"]["name"] == "Riverside"


def test_x07_every_problem_is_listed_with_its_line() -> None:
    text = """[economy]
name = 42
colour = "blue"

[journal]
signature_max_age = -5
max_clock_skew = "soon"

[nonsense]
x = 1
"""
    with pytest.raises(PolicyFileError) as info:
        parse_policy_text(text)
    problems = {line: text for line, text in info.value.problems}
    assert set(problems) == {2, 3, 6, 7, 9}
    assert "must be a string" in problems[2]
    assert "unknown key" in problems[3]
    assert "must not be negative" in problems[6]
    assert "whole number" in problems[7]
    assert "nonsense" in problems[9]


def test_x07_a_syntax_error_names_its_line() -> None:
    with pytest.raises(PolicyFileError) as info:
        parse_policy_text("[economy]\nname = \n")
    assert info.value.problems[0][0] == 2


def test_x07_ratios_are_exact_and_never_floats() -> None:
    assert Ratio.parse("5%") == Fraction(1, 20)
    assert Ratio.parse(0.05) == Fraction(1, 20)
    assert Ratio.parse("1/20") == Fraction(1, 20)
    assert Ratio.parse("1/20").encode() == "1/20"


def test_x07_a_change_is_checked_like_a_whole_file() -> None:
    stored = policy_to_mapping(Policy())
    changed, problems = with_change(stored, ("journal", "signature_max_age"), 900)
    assert not problems and policy_from_mapping(changed)[0].journal.signature_max_age == 900
    assert stored["journal"]["signature_max_age"] == Policy().journal.signature_max_age  # not mutated
    _, problems = with_change(stored, ("journal", "signature_max_age"), "soon")
    assert problems
    _, problems = with_change(stored, ("journal", "nope"), 1)
    assert problems


def test_x07_a_change_to_a_section_the_stored_policy_lacks_starts_from_its_defaults() -> None:
    """An economy created before a section existed can still change it (older journal, newer code)."""
    stored = {"economy": {"name": "Old Town"}}
    changed, problems = with_change(stored, ("journal", "max_clock_skew"), 5)
    assert not problems
    assert changed == {
        "economy": {"name": "Old Town"},
        "journal": {**policy_to_mapping(Policy())["journal"], "max_clock_skew": 5},
    }


def test_x07_lines_are_found_for_quoted_and_dotted_keys() -> None:
    from civicledger.adapters.policy_file import locate

    text = '[economy]\nname = "x"\n\n[sweep."a.b"]\nvalues = [1]\n\n[journal]\nmax.clock = 1\n"odd key" = 2\n'
    assert locate(text, ("sweep", "a.b", "values")) == 5
    assert locate(text, ("sweep", "a.b")) == 4
    assert locate(text, ("journal", "max", "clock")) == 8
    assert locate(text, ("journal", "odd key")) == 9
    assert locate(text, ("economy", "name")) == 2
    assert locate(text, ("economy", "missing")) == 1


def test_x07_decoding_again_finds_the_same_values_and_problems() -> None:
    """A section's types are worked out once per class: a second decoding answers as the first,
    for a good mapping and for a bad one (every problem again, none remembered from before)."""
    good = policy_to_mapping(Policy(), every_value=True)
    bad = {"journal": {"max_command_bytes": -1, "nonsense": 1}, "economy": {"name": 7}}
    first_good, first_bad = policy_from_mapping(good), policy_from_mapping(bad)
    assert first_good == (Policy(), [])
    assert {path for path, _ in first_bad[1]} == {
        ("journal", "max_command_bytes"),
        ("journal", "nonsense"),
        ("economy", "name"),
    }
    assert policy_from_mapping(good) == first_good
    assert sorted(policy_from_mapping(bad)[1]) == sorted(first_bad[1])
