"""Gears checks (GR2-GR4, GR7, GR8): each refusal names its rule."""

from __future__ import annotations

import pytest

from civicledger.kernel.errors import InvalidInputError, RuleViolationError
from civicledger.kernel.time import YEAR
from civicledger.mechanisms.gears import rules
from civicledger.mechanisms.gears.values import Verdict


def test_gr02_a_21st_statement_and_a_201_character_one_are_refused() -> None:
    with pytest.raises(RuleViolationError) as e:
        rules.check_statement(21, "ok", 20, 3, False)
    assert e.value.rule == "GR2"
    with pytest.raises(InvalidInputError) as e2:
        rules.check_statement(1, "x" * 201, 0, 3, False)
    assert e2.value.rule == "GR2"
    rules.check_statement(1, "x" * 200, 0, 3, False)


def test_gr02_statements_come_in_order_and_freeze_under_challenge() -> None:
    with pytest.raises(RuleViolationError, match="common question"):
        rules.check_statement(3, "skip", 1, 3, False)
    with pytest.raises(RuleViolationError, match="under challenge"):
        rules.check_statement(1, "reword", 1, 3, True)


def test_gr03_the_draw_is_deterministic_distinct_and_depends_on_the_root() -> None:
    bank = list(range(1, 21))
    seed = rules.draw_seed(b"\x01" * 32, "voter", "company")
    first = rules.draw_questions(seed, bank, 3)
    assert first == rules.draw_questions(seed, bank, 3) and len(set(first)) == 3
    others = {rules.draw_questions(rules.draw_seed(bytes([i]) * 32, "voter", "company"), bank, 3) for i in range(20)}
    assert len(others) > 1
    with pytest.raises(RuleViolationError) as e:
        rules.draw_questions(seed, [1, 2], 3)
    assert e.value.rule == "GR3"


def test_gr03_grading_uses_salted_digests_and_rejects_bad_choices() -> None:
    questions = [(rules.answer_digest("s1", 2), "s1", 3), (rules.answer_digest("s2", 0), "s2", 3)]
    assert rules.grade([2, 0], questions) == 2
    assert rules.grade([1, 0], questions) == 1
    with pytest.raises(InvalidInputError):
        rules.grade([3, 0], questions)
    with pytest.raises(InvalidInputError):
        rules.grade([2], questions)
    with pytest.raises(InvalidInputError):
        rules.check_question("Q?", ["a", "b"], rules.answer_digest("s", 5), "s")


def test_gr03_retry_delay_and_pass_validity() -> None:
    rules.check_can_start_test(100, False, 0, 100)
    rules.check_can_start_test(0, False, None, 100)  # never failed
    with pytest.raises(RuleViolationError, match="retried"):
        rules.check_can_start_test(99, False, 0, 100)
    with pytest.raises(RuleViolationError, match="unanswered"):
        rules.check_can_start_test(500, True, None, 100)
    assert rules.has_valid_pass(10, 5, 10)
    assert not rules.has_valid_pass(15, 5, 10)
    assert not rules.has_valid_pass(15, None, 10)  # never passed


def test_gr04_vote_values_and_terms() -> None:
    for bad in (2, -2, True):
        with pytest.raises(InvalidInputError) as e:
            rules.check_vote_value(bad)
        assert e.value.rule == "GR4"
    assert rules.vote_term(10, None, YEAR) == (10, 10 + YEAR, False)
    assert rules.vote_term(50, (10, 10 + YEAR), YEAR) == (10, 10 + YEAR, True)
    assert rules.vote_term(10 + YEAR, (10, 10 + YEAR), YEAR) == (10 + YEAR, 10 + 2 * YEAR, False)  # expired


def test_gr07_verdicts_need_a_quorum_and_ties_go_to_the_milder() -> None:
    assert rules.verdict_of({"accurate": 1, "misleading": 1}, 3) is None
    assert rules.verdict_of({"accurate": 1, "misleading": 1, "false": 1}, 3) is Verdict.ACCURATE
    assert rules.verdict_of({"accurate": 1, "misleading": 2, "false": 2}, 3) is Verdict.MISLEADING
    assert rules.verdict_of({"false": 3}, 3) is Verdict.FALSE


def test_gr08_two_failures_outstanding_and_recovery_after_a_year() -> None:
    rules.check_challenge_slots(100, [0], 2, YEAR)
    with pytest.raises(RuleViolationError) as e:
        rules.check_challenge_slots(100, [0, 50], 2, YEAR)
    assert e.value.rule == "GR8"
    rules.check_challenge_slots(YEAR, [0, 50], 2, YEAR)
    assert rules.failed_outstanding(YEAR + 50, [0, 50], YEAR) == 0


def test_in03_the_pool_is_the_curated_bank_filled_with_general_questions() -> None:
    general = [1_000_001, 1_000_002, 1_000_003]
    assert rules.question_pool([4, 5, 6], [], general, 3) == (4, 5, 6)  # enough: no general ones
    assert rules.question_pool([4], [1_000_009], general, 3) == (4, 1_000_009, *general)
    assert rules.question_pool([], [], general, 3) == tuple(general)  # no questions of its own: still a test
    assert rules.question_pool([], [], [], 3) == ()


def test_in03_sectors_are_short_lower_case_names() -> None:
    for ok in ("", "food", "building-materials", "x9"):
        rules.check_sector(ok)
    for bad in ("Food", "-food", "food-", "fo--od", "food stuff", "x" * 41):
        with pytest.raises(InvalidInputError) as e:
            rules.check_sector(bad)
        assert e.value.rule == "IN3"


def test_in07_a_question_unreviewed_by_its_deadline_lapses() -> None:
    rules.check_review(99, 100, None, True)
    with pytest.raises(RuleViolationError) as e:
        rules.check_review(100, 100, None, True)
    assert e.value.rule == "IN7"
    rules.check_review(10_000, 100, True, False)  # a reviewed question may be reviewed again any time
    rules.check_review(10_000, None, None, True)  # added under rule version 1: no deadline
    with pytest.raises(RuleViolationError, match="already approved"):
        rules.check_review(50, 100, True, True)


def test_in07_undecided_challenges_hold_slots_like_failures() -> None:
    rules.check_challenge_slots(0, [], 2, YEAR, undecided=1)
    with pytest.raises(RuleViolationError, match="2 challenges undecided") as e:
        rules.check_challenge_slots(0, [], 2, YEAR, undecided=2)
    assert e.value.rule == "GR8"
    with pytest.raises(RuleViolationError, match="1 undecided"):
        rules.check_challenge_slots(10, [5], 2, YEAR, undecided=1)
    rules.check_challenge_slots(5 + YEAR, [5], 2, YEAR, undecided=1)  # the failure's slot is back
