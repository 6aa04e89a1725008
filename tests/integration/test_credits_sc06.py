"""SC6 through the engine: nobody decides their own adjustment, as a technocrat or in a council."""

from __future__ import annotations

import pytest

from civicledger.adapters.crypto import Ed25519Verifier
from civicledger.adapters.memory import MemoryStore
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.kernel import audit
from civicledger.kernel import identity as ident
from civicledger.kernel.time import YEAR
from civicledger.mechanisms.credits import commands as cc
from civicledger.mechanisms.credits import state
from tests.integration.test_credits_lifecycle import Town, make_town


@pytest.fixture
def town(economy: ScriptedEconomy) -> Town:
    return make_town(economy)


def _enrol(t: Town, name: str) -> None:
    e = t.e
    e.run(cc.EnrollPerson(e.account(name), e.clock.now() - 20 * YEAR, e.account("registrar")), "registrar")


def test_sc06_a_technocrat_never_decides_their_own_adjustment_or_participation(town: Town) -> None:
    e = town.e
    _enrol(town, "tess")
    own_award = cc.AdjustGrade(town.tess, 1, 0, YEAR, "x", "y", technocrat=town.tess)
    err = town.refused(own_award, "tess")
    assert err.rule == "SC6" and "their own" in err.message
    own_participation = cc.RecordParticipation(town.tess, "ngo_work", "my own log", technocrat=town.tess)
    err = town.refused(own_participation, "tess")
    assert err.rule == "SC6" and "their own" in err.message
    assert town.grades("tess") == {2: 20_000}
    # the same award decided by another technocrat is accepted and names that decider
    receipt = e.run(cc.AdjustGrade(town.tess, 1, 0, YEAR, "x", "y", technocrat=town.tom), "tom")
    with e.store.read() as uow:
        assert state.require(state.ADJUSTMENTS, uow, receipt.result["adjustment"]).deciders == (town.tom,)
    assert town.grades("tess") == {3: 20_000}
    report = audit.verify_store(e.store, Ed25519Verifier(), MemoryStore)
    assert report.ok, report.reason


def test_sc06_a_council_member_never_signs_their_own_adjustment(town: Town) -> None:
    e = town.e
    member = e.account("governor-1")
    e.run(ident.AttestPerson(member, e.account("registrar"), "human-of-governor-1"), "registrar")
    _enrol(town, "governor-1")
    council = e.account("council")
    for own in (
        cc.AdjustGrade(member, 1, 0, YEAR, "council work", "minutes", council=council),
        cc.RecordParticipation(member, "citizens_council", "minutes 2030-01", council=council),
    ):
        err = town.refused(own, "governor-1", "governor-2")  # a quorum, but the holder signs
        assert err.rule == "SC6" and "their own" in err.message
    assert town.grades("governor-1") == {2: 20_000}
    # the other members' quorum decides it; the deciders recorded are exactly the signers
    receipt = e.run(
        cc.RecordParticipation(member, "citizens_council", "minutes 2030-01", council=council),
        "governor-2",
        "governor-3",
    )
    with e.store.read() as uow:
        adj = state.require(state.ADJUSTMENTS, uow, receipt.result["adjustment"])
    assert adj.deciders == tuple(sorted([e.account("governor-2"), e.account("governor-3")]))
    assert adj.council == council and member not in adj.deciders
    assert town.grades("governor-1") == {3: 20_000}
    report = audit.verify_store(e.store, Ed25519Verifier(), MemoryStore)
    assert report.ok, report.reason
