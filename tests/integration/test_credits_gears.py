"""X8: a Gears vote in the same economy counts as civic participation for social credits (SC5, SC8)."""

from __future__ import annotations

from civicledger.adapters.crypto import Ed25519Verifier
from civicledger.adapters.memory import MemoryStore
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.kernel import audit
from civicledger.kernel.ports import Store
from civicledger.kernel.time import DAY, YEAR
from civicledger.mechanisms.credits import commands as cc
from civicledger.mechanisms.credits import queries, state
from civicledger.mechanisms.gears import commands as g
from tests.conftest import T0
from tests.integration.test_credits_lifecycle import make_town
from tests.integration.test_gears_flow import company, pass_test, setup_gears, vote


def test_x08_a_gears_vote_counts_as_participation_and_restarts_decay(store: Store) -> None:
    """Rule version 1: the vote is noted and the policy gives it its effect when grades are read."""
    town = make_town(ScriptedEconomy(store, start=T0, label="civicledger test key", rules=1))
    e = town.e
    setup_gears(e)
    firm = company(e, "widget-co")
    award = e.run(cc.AdjustGrade(town.alice, 2, 0, 2 * YEAR, "mural", "photo", technocrat=town.tess), "tess")
    e.advance(400 * DAY)
    before = town.grades("alice")
    receipt = vote(e, "alice", firm, 1)
    noted = [ev for ev in receipt.events if ev["type"] == "credits.participation_noted"]
    assert noted == [
        {"type": "credits.participation_noted", "person": town.alice, "kind": "gears_vote", "reference": firm}
    ]
    with e.store.read() as uow:
        explained = queries.explain(uow, town.alice, e.clock.now())
    lots = {lot["grade"]: lot for lot in explained["lots"]}
    # 400 days after the award: still inside decay window + one step, so grade 4; the vote
    # restarts the decay clock and lifts 10% of the balance one step for 90 days (policy gears_vote)
    assert set(before) == {4}
    assert set(town.grades("alice", e.clock.now() + 100 * DAY)) == {4}  # without the vote: 3
    assert explained["decay"]["steps"] == 0
    raised = [lot for g, lot in lots.items() if g == 5]
    assert raised and raised[0]["units"] == explained["available"] * 10 // 100
    gears_adj = raised[0]["adjustments"][-1]
    assert gears_adj["source"] == "gears" and gears_adj["steps"] == 1 and gears_adj["deciders"] == [town.alice]
    assert award.result["adjustment"] in [a["id"] for a in raised[0]["adjustments"]]
    # someone not enrolled in credits votes too: nothing of credits changes for them
    e.person("outsider")
    vote(e, "outsider", firm, 1)
    with e.store.read() as uow:
        assert state.PERSONS.get(uow, e.account("outsider")) is None
    report = audit.verify_store(e.store, Ed25519Verifier(), MemoryStore)
    assert report.ok, report.reason


def test_x08_a_gears_vote_counts_under_rule_version_2_with_its_effect_fixed_when_counted(
    economy: ScriptedEconomy,
) -> None:
    """Rule version 2 (IN2): Gears reports the vote's facts; credits counts it and fixes its effect."""
    town = make_town(economy)
    e = town.e
    setup_gears(e)
    firm = company(e, "widget-co")
    e.run(cc.AdjustGrade(town.alice, 2, 0, 2 * YEAR, "mural", "photo", technocrat=town.tess), "tess")
    e.advance(400 * DAY)
    pass_test(e, "alice", firm)
    e.advance(120)  # past vote_min_seconds_after_test
    receipt = e.run(g.CastVote(town.alice, firm, 1), "alice")
    types = [ev["type"] for ev in receipt.events]
    assert "credits.participation_noted" not in types
    reported = next(ev for ev in receipt.events if ev["type"] == "credits.participation_reported")
    assert reported["counted"] and reported["kind"] == "gears_vote" and reported["company"] == firm
    adjusted = next(ev for ev in receipt.events if ev["type"] == "credits.grade_adjusted")
    assert adjusted["source"] == "gears" and adjusted["steps"] == 1 and adjusted["deciders"] == []
    with e.store.read() as uow:
        explained = queries.explain(uow, town.alice, e.clock.now())
    assert explained["decay"]["steps"] == 0
    assert set(town.grades("alice", e.clock.now() + 100 * DAY)) == {4}  # the vote restarted decay
    raised = [lot for lot in explained["lots"] if lot["grade"] == 5]
    assert raised and raised[0]["units"] == adjusted["quantity"] == explained["available"] * 10 // 100
    # someone not enrolled in credits: no credits event at all
    e.person("outsider")
    outsider = vote(e, "outsider", firm, 1)
    assert not [ev for ev in outsider.events if ev["type"].startswith("credits.")]
    report = audit.verify_store(e.store, Ed25519Verifier(), MemoryStore)
    assert report.ok, report.reason
