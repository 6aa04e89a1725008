"""IN7 for appeals (SC7): a panel that never reaches a majority does not block the adjustment's
appeals for ever.

Under rule version 1 an appeal stays open until a majority of its panel votes: a panel that never
votes (absent, or friends of the decider) keeps every further appeal of the adjustment refused
for good. Under rule version 2 an appeal has a deadline (``credits.panel_deadline``, 30 days from
filing). At the deadline it lapses: the adjustment stands, recorded as not decided, and a new
appeal may be filed, at most ``appeals_per_appellant`` (2) by one person on one adjustment, within
the appeal window or ``refile_grace`` (30 days) after the lapse.
"""

from __future__ import annotations

from civicledger.adapters.crypto import Ed25519Verifier
from civicledger.adapters.memory import MemoryStore
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.kernel import audit
from civicledger.kernel import identity as ident
from civicledger.kernel.economy import AdoptRules, ChangePolicy
from civicledger.kernel.identity import AccountId, Role
from civicledger.kernel.ports import Store
from civicledger.kernel.time import DAY, HOUR, YEAR
from civicledger.mechanisms.credits import commands as cc
from civicledger.mechanisms.credits import state as credit_state
from tests.conftest import T0

PERSONS = tuple(f"p{i}" for i in range(8))
TECHNOCRATS = ("tess", "tom", "tara")


def _town(store: Store, rules: int = 2) -> tuple[ScriptedEconomy, str]:
    e = ScriptedEconomy(store, start=T0, label="civicledger test key", rules=rules)
    for name in (*PERSONS, *TECHNOCRATS):
        e.person(name)
    for name in TECHNOCRATS:
        e.council_decision(ident.GrantRole(e.account(name), Role.TECHNOCRAT), cid=f"grant-{name}")
    born = e.clock.now() - 30 * YEAR
    for name in PERSONS:
        e.run(cc.EnrollPerson(e.account(name), born, e.account("registrar")), "registrar", cid=f"enroll-{name}")
    r = e.run(cc.RecordParticipation(e.account("p0"), "infraction", "hearsay", technocrat=e.account("tess")), "tess")
    return e, r.result["adjustment"]


def _appeal(e: ScriptedEconomy, adjustment: str, appellant: str) -> str:
    filed = e.run(cc.FileAppeal(adjustment, e.account(appellant), "the record is wrong"), appellant)
    return str(filed.result["appeal"])


def _draw(e: ScriptedEconomy, appeal: str) -> list[str]:
    e.advance(HOUR)
    for _ in range(2):
        result = e.run(cc.DrawPanel(appeal, e.account("p7")), "p7").result
        if result["drawn"]:
            return list(result["panel"])
    raise AssertionError("not drawn")


def _status(e: ScriptedEconomy, appeal: str) -> str:
    with e.store.read() as uow:
        return credit_state.require(credit_state.APPEALS, uow, appeal).status


def _grades(e: ScriptedEconomy, name: str) -> set[int]:
    with e.store.read() as uow:
        return set(credit_state.standing_of(uow, e.account(name), e.clock.now()).by_grade())


def _verified(e: ScriptedEconomy) -> None:
    report = audit.verify_store(e.store, Ed25519Verifier(), MemoryStore)
    assert report.ok, report.reason


def test_in07_under_rules_1_a_silent_panel_blocks_every_further_appeal_for_ever() -> None:
    e, adjustment = _town(MemoryStore(), rules=1)
    e.run(cc.FileAppeal(adjustment, e.account("p1"), "wrong"), "p1")
    e.advance(80 * DAY)  # the panel never votes
    blocked = e.refused(cc.FileAppeal(adjustment, e.account("p2"), "still wrong"), "p2")
    assert blocked.rule == "SC7" and "still open" in blocked.message


def test_in07_a_silent_panel_lapses_at_its_deadline_and_a_new_appeal_can_start() -> None:
    e, adjustment = _town(MemoryStore())
    before = _grades(e, "p0")
    appeal = _appeal(e, adjustment, "p1")
    panel = _draw(e, appeal)
    assert e.refused(cc.FileAppeal(adjustment, e.account("p2"), "me too"), "p2").rule == "SC7"  # one at a time
    early = e.refused(cc.CloseAppeal(appeal, e.account("p2")), "p2")
    assert early.rule == "IN7" and "deadline" in early.message
    e.advance(30 * DAY)  # the deadline: 30 days after filing
    member = next(n for n in (*PERSONS, *TECHNOCRATS) if e.account(n) == panel[0])
    late_vote = e.refused(cc.CastPanelVote(appeal, AccountId(panel[0]), True), member)
    assert late_vote.rule == "IN7"
    closed = e.run(cc.CloseAppeal(appeal, e.account("p2")), "p2")  # anyone may close it
    assert closed.events[0]["type"] == "credits.appeal_lapsed"
    assert _status(e, appeal) == "lapsed" and _grades(e, "p0") == before  # the adjustment stands
    assert e.refused(cc.CloseAppeal(appeal, e.account("p2")), "p2").rule == "IN7"  # lapses once
    again = _appeal(e, adjustment, "p1")  # a new appeal of the same adjustment
    assert _status(e, again) == "drawing"
    _verified(e)


def test_in07_a_new_appeal_closes_an_expired_one_in_its_own_entry() -> None:
    e, adjustment = _town(MemoryStore())
    appeal = _appeal(e, adjustment, "p1")
    _draw(e, appeal)
    e.advance(30 * DAY)
    filed = e.run(cc.FileAppeal(adjustment, e.account("p2"), "wrong"), "p2")
    assert [ev["type"] for ev in filed.events] == ["credits.appeal_lapsed", "credits.appeal_requested"]
    assert _status(e, appeal) == "lapsed"
    _verified(e)


def test_in07_one_person_cannot_re_appeal_without_end() -> None:
    e, adjustment = _town(MemoryStore())
    for _ in range(2):
        appeal = _appeal(e, adjustment, "p1")
        _draw(e, appeal)
        e.advance(30 * DAY)
        e.run(cc.CloseAppeal(appeal, e.account("p1")), "p1")
    third = e.refused(cc.FileAppeal(adjustment, e.account("p1"), "once more"), "p1")
    assert third.rule == "IN7" and "at most 2" in third.message
    assert _status(e, _appeal(e, adjustment, "p2")) == "drawing"  # another person still may
    _verified(e)


def test_in07_after_a_lapse_a_new_appeal_may_come_past_the_window_but_not_for_ever() -> None:
    e, adjustment = _town(MemoryStore())
    e.advance(85 * DAY)
    appeal = _appeal(e, adjustment, "p1")  # filed on day 85 of the 90-day window
    _draw(e, appeal)
    e.advance(30 * DAY)
    e.run(cc.CloseAppeal(appeal, e.account("p3")), "p3")  # lapsed on day 115
    e.advance(20 * DAY)  # day 135: past the window, within the 30-day grace after the lapse
    assert _status(e, _appeal(e, adjustment, "p2")) == "drawing"
    e2, adjustment2 = _town(MemoryStore())
    e2.advance(85 * DAY)
    appeal2 = _appeal(e2, adjustment2, "p1")
    _draw(e2, appeal2)
    e2.advance(30 * DAY)
    e2.run(cc.CloseAppeal(appeal2, e2.account("p3")), "p3")
    e2.advance(31 * DAY)  # past the grace too
    refused = e2.refused(cc.FileAppeal(adjustment2, e2.account("p2"), "late"), "p2")
    assert refused.rule == "SC7" and "window" in refused.message


def test_in07_letting_a_panel_go_undrawn_does_not_buy_another_panel() -> None:
    """The appellant can compute the panel from the public head before anyone draws it; if they
    dislike it and nobody draws it, the appeal lapses, and it gives no new appeal (IN6)."""
    e, adjustment = _town(MemoryStore())
    appeal = _appeal(e, adjustment, "p1")
    e.advance(30 * DAY)
    e.run(cc.CloseAppeal(appeal, e.account("p1")), "p1")
    for who in ("p1", "p2"):
        refused = e.refused(cc.FileAppeal(adjustment, e.account(who), "again"), who)
        assert refused.rule == "IN6" and "before anyone drew" in refused.message
    _verified(e)


def test_in07_an_appeal_stuck_under_rules_1_lapses_once_the_economy_moves_to_rules_2() -> None:
    e, adjustment = _town(MemoryStore(), rules=1)
    stuck = e.run(cc.FileAppeal(adjustment, e.account("p1"), "wrong"), "p1").result["appeal"]
    e.council_decision(AdoptRules(2, e.clock.now() + DAY))
    e.advance(DAY)
    assert e.refused(cc.CloseAppeal(stuck, e.account("p2")), "p2").rule == "IN7"  # 30 days from its filing
    e.advance(29 * DAY)
    e.run(cc.CloseAppeal(stuck, e.account("p2")), "p2")
    assert _status(e, stuck) == "lapsed"
    assert _status(e, _appeal(e, adjustment, "p2")) == "drawing"
    _verified(e)


def test_in07_a_panel_nobody_could_draw_lapses_without_blocking_the_next_appeal() -> None:
    e, adjustment = _town(MemoryStore())
    e.council_decision(ChangePolicy("credits.panel_jurors", 8))  # 6 eligible jurors: no panel can be drawn
    appeal = _appeal(e, adjustment, "p1")
    e.advance(HOUR)
    e.run(cc.DrawPanel(appeal, e.account("p7")), "p7")  # makes the head
    assert e.refused(cc.DrawPanel(appeal, e.account("p7")), "p7").rule == "SC7"
    e.advance(30 * DAY)
    e.run(cc.CloseAppeal(appeal, e.account("p7")), "p7")
    e.council_decision(ChangePolicy("credits.panel_jurors", 2))
    assert _status(e, _appeal(e, adjustment, "p2")) == "drawing"
    _verified(e)
