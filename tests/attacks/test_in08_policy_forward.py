"""IN8 and X7 for the social credits: a policy change applies from its entry onward.

Rule version 1 re-graded the past: participation noted by Gears took its effect from the policy in
force when grades were read, and a standing at an earlier instant used today's policy. Rule version
2 fixes a counted participation's effect when it is counted, evaluates a standing at an instant
with the policy in force at that instant, and gives participation noted under version 1 the effect
of its own time.
"""

from __future__ import annotations

from civicledger.adapters.crypto import Ed25519Verifier
from civicledger.adapters.memory import MemoryStore
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.kernel import audit
from civicledger.kernel.economy import AdoptRules, ChangePolicy
from civicledger.kernel.time import DAY, HOUR, YEAR
from civicledger.mechanisms.credits import commands as cc
from civicledger.mechanisms.credits import queries
from civicledger.mechanisms.credits.policy import CreditsPolicy
from civicledger.mechanisms.gears import commands as g
from tests.conftest import T0
from tests.integration.test_credits_lifecycle import Town, make_town
from tests.integration.test_gears_flow import company, pass_test, setup_gears

AFTER_TEST = CreditsPolicy().vote_min_seconds_after_test + 1


def _town(rules: int) -> Town:
    e = ScriptedEconomy(MemoryStore(), start=T0, label="civicledger test key", rules=rules)
    town = make_town(e, born_years_ago=30)
    setup_gears(e, test_pass_mark=1, test_questions=1)
    return town


def _vote(town: Town, name: str) -> None:
    e = town.e
    firm = company(e, name, questions=1)
    pass_test(e, "alice", firm)
    e.advance(AFTER_TEST)
    e.run(g.CastVote(town.alice, firm, 1), "alice")


def _raise_vote_effect(town: Town) -> None:
    """The council raises what a Gears vote earns: two steps on the whole balance."""
    town.e.council_decision(ChangePolicy("credits.participation.gears_vote.steps", 2))
    town.e.council_decision(ChangePolicy("credits.participation.gears_vote.portion_percent", 100))


def _verified(town: Town) -> None:
    report = audit.verify_store(town.e.store, Ed25519Verifier(), MemoryStore)
    assert report.ok, report.reason


def test_in08_a_policy_raised_later_does_not_regrade_earlier_votes() -> None:
    seen = {}
    for rules in (1, 2):
        town = _town(rules)
        _vote(town, "widget-co")
        voted_at = town.e.clock.now()
        before = town.grades("alice")
        town.e.advance(DAY)
        _raise_vote_effect(town)
        seen[rules] = (before, town.grades("alice"), town.grades("alice", voted_at + HOUR))
        _verified(town)
    before, now, then = seen[1]
    assert before == {2: 27_000, 3: 3_000}
    assert set(now) == set(then) == {4}  # the attack: yesterday's vote re-graded, even as of yesterday
    before, now, then = seen[2]
    assert before == {2: 27_000, 3: 3_000}
    assert set(now) == {2, 3} and now[3] == 3_000 and then == before  # forward only
    with town.e.store.read() as uow:
        explained = queries.explain(uow, town.alice, town.e.clock.now())
    (raised,) = [lot for lot in explained["lots"] if lot["grade"] == 3]
    assert raised["adjustments"][0]["steps"] == 1 and raised["adjustments"][0]["source"] == "gears"


def test_in08_a_vote_after_the_change_earns_the_new_effect() -> None:
    town = _town(2)
    _raise_vote_effect(town)
    _vote(town, "widget-co")
    assert set(town.grades("alice")) == {4}


def test_in08_a_standing_at_an_earlier_instant_uses_the_decay_policy_then_in_force() -> None:
    seen = {}
    for rules in (1, 2):
        town = _town(rules)
        e = town.e
        start = e.clock.now()
        e.run(cc.AdjustGrade(town.alice, 2, 0, 2 * YEAR, "mural", "photo", technocrat=town.tess), "tess")
        e.advance(200 * DAY)
        e.council_decision(ChangePolicy("credits.decay_window", 30 * DAY))
        seen[rules] = set(town.grades("alice", start + 150 * DAY))
        _verified(town)
    assert seen[1] == {3}  # the new, shorter window applied to a time before it existed
    assert seen[2] == {4}  # 150 days < the 365-day window then in force: no decay


def test_in08_participation_noted_under_version_1_keeps_the_effect_of_its_time_under_version_2() -> None:
    town = _town(1)
    e = town.e
    _vote(town, "widget-co")  # noted under rule version 1: its effect is read from the policy
    assert town.grades("alice") == {2: 27_000, 3: 3_000}
    e.advance(DAY)
    _raise_vote_effect(town)
    assert set(town.grades("alice")) == {4}  # version 1 re-grades it at once
    starts = e.clock.now() + HOUR
    e.council_decision(AdoptRules(2, starts))
    e.advance(2 * HOUR)
    now = town.grades("alice")
    assert set(now) == {2, 3} and now[3] == 3_000  # version 2: the effect of its own time
    e.advance(90 * DAY)  # the old vote's raise has ended (IN2: one kind, at most two steps at once)
    _vote(town, "other-co")  # a vote under version 2 earns the policy now in force
    assert set(town.grades("alice")) == {4}
    _verified(town)
