"""The pure deciders of the social credits: what a command does, decided without a store (SC4-SC9)."""

from __future__ import annotations

import hashlib

import pytest

from civicledger.kernel.errors import AuthorityError, InvalidInputError, RuleViolationError
from civicledger.kernel.identity import AccountId
from civicledger.kernel.time import DAY, YEAR
from civicledger.mechanisms.credits import rules
from civicledger.mechanisms.credits.policy import CreditsPolicy
from civicledger.mechanisms.credits.rules import Tally, Terms

P = CreditsPolicy()
NOW = 2_000_000_000
SEED = hashlib.sha256(b"seed").digest()


def acc(name: str) -> AccountId:
    return AccountId(f"ac{name:0>32}")


# SC4-SC6: adjustments -----------------------------------------------------------------------------


def test_sc04_an_award_restarts_decay_and_a_quantity_award_is_used_up_as_spent() -> None:
    assert rules.decided_terms(1, 0, YEAR, P) == Terms("award", 1, 0, YEAR, consumable=False, fresh=True)
    assert rules.decided_terms(2, 500, YEAR, P) == Terms("award", 2, 500, YEAR, consumable=True, fresh=True)
    assert rules.decided_terms(-1, 500, YEAR, P) == Terms("reduction", -1, 500, YEAR, consumable=False, fresh=False)


def test_sc04_decided_terms_stay_within_the_policy_limits() -> None:
    with pytest.raises(RuleViolationError, match="grade steps") as e:
        rules.decided_terms(P.max_adjustment_steps + 1, 0, YEAR, P)
    assert e.value.rule == "SC4"
    with pytest.raises(InvalidInputError, match="quantity"):
        rules.decided_terms(1, -1, YEAR, P)
    with pytest.raises(RuleViolationError, match="lasts"):
        rules.decided_terms(1, 0, P.max_adjustment_duration + 1, P)


def test_sc05_participation_terms_are_the_policy_effect_on_the_credits_available() -> None:
    volunteering = P.participation["volunteering"]
    terms = rules.participation_terms("volunteering", 20_000, P)
    assert terms.kind == "volunteering" and terms.steps == volunteering.steps
    assert terms.quantity == rules.effect_quantity(volunteering, 20_000)
    assert terms.duration == volunteering.duration and terms.fresh == volunteering.qualifying
    infraction = rules.participation_terms("infraction", 20_000, P)
    assert infraction.steps < 0 and not infraction.consumable and not infraction.fresh
    with pytest.raises(InvalidInputError, match="not a participation kind") as e:
        rules.participation_terms("sunbathing", 20_000, P)
    assert e.value.rule == "SC5"


def test_sc05_reserved_kinds_are_recorded_only_through_their_own_controls() -> None:
    for kind in ("direct_democracy", "gears_vote", "gears_judgement", "whistleblowing"):
        with pytest.raises(RuleViolationError, match="only through its own controls") as e:
            rules.check_recorded_kind(kind)
        assert e.value.rule == "SC5"
    rules.check_recorded_kind("volunteering")


def test_sc06_exactly_one_decider_and_nobody_decides_their_own_adjustment() -> None:
    with pytest.raises(InvalidInputError, match="exactly one decider"):
        rules.check_one_decider(None, None)
    with pytest.raises(InvalidInputError, match="exactly one decider"):
        rules.check_one_decider(acc("t"), acc("c"))
    rules.check_one_decider(acc("t"), None)
    rules.check_one_decider(None, acc("c"))
    with pytest.raises(RuleViolationError, match="nobody decides their own adjustment") as e:
        rules.check_not_own(acc("a"), (acc("a"), acc("b")))
    assert e.value.rule == "SC6"
    rules.check_not_own(acc("a"), (acc("b"),))


# SC7: appeals ------------------------------------------------------------------------------------


def _appealable(source: str = "decision", overturned_by: str | None = None, start: int = NOW - DAY) -> None:
    rules.check_appealable("0000000007.0", source, overturned_by, start, None, NOW, P)


def test_sc07_only_decided_adjustments_not_overturned_are_appealed() -> None:
    _appealable()
    _appealable("participation")
    with pytest.raises(RuleViolationError, match="drawn, not decided"):
        _appealable("lottery-uplift")
    with pytest.raises(RuleViolationError, match="drawn, not decided"):
        _appealable("lottery-pledge")
    with pytest.raises(RuleViolationError, match="noted automatically"):
        _appealable("gears")
    with pytest.raises(RuleViolationError, match="already overturned"):
        _appealable(overturned_by="0000000009")


def test_sc07_appeals_within_the_window_and_one_at_a_time() -> None:
    _appealable(start=NOW - P.appeal_window)
    with pytest.raises(RuleViolationError, match=r"appeal window of 90 days after adjustment 0000000007\.0") as e:
        _appealable(start=NOW - P.appeal_window - 1)
    assert e.value.rule == "SC7"
    with pytest.raises(RuleViolationError, match="appeal 0000000008 on this adjustment is still open"):
        rules.check_appealable("0000000007.0", "decision", None, NOW, "0000000008", NOW, P)


def test_sc07_the_panel_is_drawn_from_those_not_involved() -> None:
    technocrats = [acc(f"t{i}") for i in range(4)]
    persons = [acc(f"p{i}") for i in range(8)]
    involved = {technocrats[0], persons[0], persons[1]}
    techs, jurors = rules.appeal_panel(SEED, involved, technocrats, persons, P)
    assert not involved & {*techs, *jurors}
    assert (techs, jurors) == rules.draw_panel(SEED, technocrats[1:], persons[2:], P)
    with pytest.raises(RuleViolationError, match="not involved") as e:
        rules.appeal_panel(SEED, set(technocrats), technocrats, persons, P)
    assert e.value.rule == "SC7"


def test_sc07_each_panel_member_votes_once_and_a_majority_decides() -> None:
    panel = (acc("a"), acc("b"), acc("c"))
    assert rules.tally_vote("0001", True, panel, {}, panel[0], True) == Tally(1, 0, None)
    assert rules.tally_vote("0001", True, panel, {panel[0]: True}, panel[1], False) == Tally(1, 1, None)
    assert rules.tally_vote("0001", True, panel, {panel[0]: True}, panel[1], True) == Tally(2, 0, True)
    assert rules.tally_vote("0001", True, panel, {panel[0]: False}, panel[2], False) == Tally(0, 2, False)
    with pytest.raises(RuleViolationError, match="already decided"):
        rules.tally_vote("0001", False, panel, {}, panel[0], True)
    with pytest.raises(AuthorityError, match="not drawn for the panel of appeal 0001") as e:
        rules.tally_vote("0001", True, panel, {}, acc("z"), True)
    assert e.value.rule == "SC7"
    with pytest.raises(RuleViolationError, match="already voted"):
        rules.tally_vote("0001", True, panel, {panel[0]: False}, panel[0], True)


# SC9: the civic lottery ---------------------------------------------------------------------------


def test_sc09_nominations_by_enough_cosigners_or_a_council_never_oneself() -> None:
    cosigners = {acc("b"), acc("c"), acc("d")}
    rules.check_nomination(acc("a"), cosigners, False, False, P)
    rules.check_nomination(acc("a"), set(), True, False, P)
    with pytest.raises(RuleViolationError, match="already a lottery candidate"):
        rules.check_nomination(acc("a"), cosigners, False, True, P)
    with pytest.raises(InvalidInputError, match="not both"):
        rules.check_nomination(acc("a"), cosigners, True, False, P)
    with pytest.raises(RuleViolationError, match="nobody nominates themselves"):
        rules.check_nomination(acc("a"), {*cosigners, acc("a")}, False, False, P)
    with pytest.raises(RuleViolationError, match="needs 3 co-signers, not 2") as e:
        rules.check_nomination(acc("a"), {acc("b"), acc("c")}, False, False, P)
    assert e.value.rule == "SC9"


def test_sc09_the_second_chance_is_once_in_a_life_for_grades_below_the_bound() -> None:
    below = P.second_chance_below_grade - 1
    rules.check_second_chance(acc("a"), False, False, below, P)
    with pytest.raises(RuleViolationError, match="one-time"):
        rules.check_second_chance(acc("a"), True, False, below, P)
    with pytest.raises(RuleViolationError, match="already a lottery candidate"):
        rules.check_second_chance(acc("a"), False, True, below, P)
    with pytest.raises(RuleViolationError, match=f"below {P.second_chance_below_grade}; this person's is 2"):
        rules.check_second_chance(acc("a"), False, False, 2, P)


def test_sc09_draws_are_periodic() -> None:
    rules.check_draw_due(None, NOW, P)
    rules.check_draw_due(NOW - P.draw_period, NOW, P)
    with pytest.raises(RuleViolationError, match="draws are periodic") as e:
        rules.check_draw_due(NOW - P.draw_period + 1, NOW, P)
    assert e.value.rule == "SC9"


def test_sc09_pledges_in_id_order_are_valid_while_their_donor_still_holds_them() -> None:
    a, b = acc("a"), acc("b")
    pledges = [("0001", a, 300), ("0002", b, 500), ("0003", a, 300), ("0004", a, 100)]
    valid, lapsed = rules.split_pledges(pledges, {a: 450, b: 500})
    assert valid == [("0001", a), ("0002", b), ("0004", a)]
    assert lapsed == ["0003"]
    assert rules.split_pledges([], {}) == ([], [])


def test_sc09_a_won_pledge_uplifts_the_winner_and_lends_the_donors_portion() -> None:
    uplift, loan = rules.lottery_terms(2, 400, 90 * DAY)
    assert uplift == Terms("lottery", 2, 400, 90 * DAY, consumable=True, fresh=True)
    assert loan == Terms("lottery", -2, 400, 90 * DAY, consumable=False, fresh=False)
