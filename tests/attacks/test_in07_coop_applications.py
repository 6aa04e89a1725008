"""IN7 for Creditism: a coop application has a deadline (``creditism.application_deadline``,
default 90 days, fixed in the application's entry). An application the council has not approved by
then has lapsed: read lazily at the time of each entry that asks, so nobody needs to send anything.
A lapsed application cannot be approved; the coop may apply again for the same good, which it may
not do while an application of its for that good is still waiting. Crowdfunding waits for the
approval, so a lapse leaves no backer's money behind. Under rules 1 an application waited forever."""

from __future__ import annotations

from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.kernel.economy import ChangePolicy
from civicledger.kernel.identity import AccountKind
from civicledger.kernel.ports import Store
from civicledger.kernel.time import DAY
from civicledger.mechanisms.creditism import commands as cc
from civicledger.mechanisms.creditism.policy import DEFAULT_APPLICATION_DEADLINE
from civicledger.mechanisms.creditism.state import APPLICATIONS
from civicledger.mechanisms.creditism.values import AssetKind
from tests.attacks.creditism_world import XI, head, sound, world
from tests.integration.test_creditism_flow import council_of


def _apply(e: ScriptedEconomy, name: str) -> dict[str, object]:
    plan = cc.ApplyCoop(e.account("third-coop"), name, "tricycle", labour=3_000, markup="1/20")
    return dict(e.run(plan, "third-coop").result)


def _third_coop(store: Store, rules: int = 2) -> ScriptedEconomy:
    e = world(store, "ada", rules=rules)
    c = council_of(e)
    e.council_decision(cc.DefineAsset(c, "tricycle", AssetKind.GOOD, "piece", labour=3_000))
    e.council_decision(cc.SetAllotment(c, "tricycle", "100"))
    e.open("third-coop", AccountKind.ORGANIZATION)
    return e


def test_in07_under_rules_1_an_application_waited_forever(store: Store) -> None:
    e = _third_coop(store, rules=1)
    _apply(e, "third-bike")
    e.clock.advance(10 * 365 * DAY)
    e.council_decision(cc.ApproveCoop(council_of(e), "third-bike", "10"))  # ten years on, still approvable
    with e.store.read() as uow:
        record = APPLICATIONS.get(uow, "third-bike")
    assert record is not None and record.deadline is None


def test_in07_an_application_lapses_at_its_deadline_and_cannot_be_approved_after(store: Store) -> None:
    e = _third_coop(store)
    c = council_of(e)
    applied = _apply(e, "third-bike")
    with e.store.read() as uow:
        record = APPLICATIONS.get(uow, "third-bike")
    assert record is not None and record.deadline == record.applied_at + DEFAULT_APPLICATION_DEADLINE
    assert applied["deadline"] == record.deadline
    e.clock.advance(DEFAULT_APPLICATION_DEADLINE)
    before = head(e)
    error = e.refused(cc.ApproveCoop(c, "third-bike", "10"), *e.governors)
    assert error.rule == "IN7" and "lapsed" in error.message
    funding = e.refused(cc.Crowdfund(e.account("ada"), "third-bike", XI, 100), "ada")
    assert funding.rule == "CR14"
    assert head(e) == before
    sound(e)


def test_in07_one_second_before_the_deadline_the_council_can_still_approve(store: Store) -> None:
    e = _third_coop(store)
    c = council_of(e)
    _apply(e, "third-bike")
    e.clock.advance(DEFAULT_APPLICATION_DEADLINE - 1)
    e.council_decision(cc.ApproveCoop(c, "third-bike", "10"))
    e.clock.advance(DAY)  # an approved application never lapses
    e.run(cc.PreOrder(e.account("ada"), "third-bike", 1, XI), "ada")
    sound(e)


def test_in07_a_new_application_for_the_same_good_starts_after_the_lapse(store: Store) -> None:
    e = _third_coop(store)
    c = council_of(e)
    _apply(e, "third-bike")
    before = head(e)
    waiting = e.refused(cc.ApplyCoop(e.account("third-coop"), "third-bike-2", "tricycle", labour=3_000), "third-coop")
    assert waiting.rule == "IN7" and "awaits" in waiting.message
    assert head(e) == before
    e.clock.advance(DEFAULT_APPLICATION_DEADLINE)
    again = _apply(e, "third-bike-2")
    e.council_decision(cc.ApproveCoop(c, "third-bike-2", "10"))
    assert again["application"] == "third-bike-2"
    sound(e)


def test_in07_the_deadline_is_the_policy_in_force_when_the_coop_applied(store: Store) -> None:
    """A shorter deadline the council sets later does not shorten an application already made (X7),
    and applies to the next one."""
    e = _third_coop(store)
    c = council_of(e)
    applied = _apply(e, "third-bike")
    assert applied["deadline"] == e.clock.now() + DEFAULT_APPLICATION_DEADLINE
    e.council_decision(ChangePolicy("creditism.application_deadline", DAY))
    e.clock.advance(2 * DAY)
    e.council_decision(cc.ApproveCoop(c, "third-bike", "10"))  # still within its own 90 days
    e.open("fourth-coop", AccountKind.ORGANIZATION)
    plan = cc.ApplyCoop(e.account("fourth-coop"), "fourth-bike", "tricycle", labour=3_000)
    assert e.run(plan, "fourth-coop").result["deadline"] == e.clock.now() + DAY
    e.clock.advance(DAY)
    assert e.refused(cc.ApproveCoop(c, "fourth-bike", "10"), *e.governors).rule == "IN7"
    sound(e)
