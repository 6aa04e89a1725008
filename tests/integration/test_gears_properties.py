"""Gears invariants through the real engine: the fund never goes below zero, units are conserved,
and re-executing the journal (`civic verify`) and rebuilding it give exactly the stored state."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from civicledger.adapters.crypto import Ed25519Verifier
from civicledger.adapters.memory import MemoryStore
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.kernel import audit
from civicledger.kernel.economy import ChangePolicy
from civicledger.kernel.identity import AccountId
from civicledger.kernel.time import DAY, MONTH, WEEK
from civicledger.mechanisms.gears import commands as g
from civicledger.mechanisms.gears import state as gs
from civicledger.mechanisms.gears.values import Claim, Verdict
from tests.conftest import T0
from tests.integration.test_gears_flow import XI, balance, company, fund_buyer, publish, sell, setup_gears, vote


def three_companies(e: ScriptedEconomy, fund_units: int) -> None:
    setup_gears(e, fund_units=fund_units, vote_reward=0)
    for name in ("good", "plain", "bad"):
        company(e, name)
    fund_buyer(e, "buyer", 10**9)
    e.person("v1")
    e.person("v2")
    sell(e, "buyer", "good", 100)
    sell(e, "buyer", "plain", 300)
    sell(e, "buyer", "bad", 600)
    for voter in ("v1", "v2"):
        vote(e, voter, AccountId(e.account("good")), 1)
        vote(e, voter, AccountId(e.account("bad")), -1)
    vote(e, "v1", AccountId(e.account("plain")), 0)


sales = st.lists(st.tuples(st.sampled_from(["good", "plain", "bad"]), st.integers(1, 5_000)), min_size=1, max_size=12)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 300), sales, st.sampled_from(["immediate", "deferred"]), st.booleans())
def test_gr06_the_fund_never_goes_below_zero_and_every_unit_is_accounted_for(
    fund_units: int, plan: list[tuple[str, int]], mode: str, waiver: bool
) -> None:
    e = ScriptedEconomy(MemoryStore(), start=T0, label="civicledger test key")
    three_companies(e, fund_units)
    publish(e)
    e.council_decision(ChangePolicy("gears.mode", mode), cid="mode")
    e.council_decision(ChangePolicy("gears.early_stage_waiver", waiver), cid="waiver")
    for firm, price in plan:
        sell(e, "buyer", firm, price)
        assert balance(e, "fund") >= 0
    if mode == "deferred":
        e.advance(MONTH)
        closed = e.run(g.ClosePeriod(XI, 0, e.account("v1")), "v1")
        assert closed.result["net"] == 0
    with e.store.read() as uow:
        currency = uow.ledger.currency(XI)
        assert currency is not None
        assert uow.ledger.sums_by_currency()[XI] == currency.supply
        waiting = sum(p.units for _, p in gs.pending_payouts(uow, "xi"))
        if waiting:
            first = min(p.units for _, p in gs.pending_payouts(uow, "xi")[:1])
            assert first > uow.ledger.balance(AccountId(e.account("fund")), XI)  # the head of the queue does not fit


def test_x02_a_gears_economy_verifies_and_rebuilds_to_the_same_state(economy: ScriptedEconomy) -> None:
    three_companies(economy, fund_units=50)
    firm = AccountId(economy.account("good"))
    economy.run(g.PublishStatement(firm, 1, "We make solar panels."), "good")
    publish(economy)
    sell(economy, "buyer", "good", 1_000)  # the fund cannot pay all: a payout waits
    sell(economy, "buyer", "bad", 2_000)  # the fund receives, the payout is released
    economy.advance(DAY)
    economy.run(g.CastVote(economy.account("v1"), firm, 0), "v1")  # a change
    ch = economy.run(g.ChallengeStatement(economy.account("v2"), firm, 1, Claim.FALSE, "they import them"), "v2")
    for voter in ("v1", "buyer"):
        economy.run(g.JudgeChallenge(economy.account(voter), ch.result["challenge"], Verdict.FALSE), voter)
    economy.person("v3")
    economy.run(g.JudgeChallenge(economy.account("v3"), ch.result["challenge"], Verdict.FALSE), "v3")
    economy.advance(2 * WEEK)
    economy.run(g.CloseChallenge(ch.result["challenge"], economy.account("v1")), "v1")
    publish(economy)
    report = audit.verify_store(economy.store, Ed25519Verifier(), MemoryStore)
    assert report.ok, report.reason
    before, after = audit.rebuild(economy.store)
    assert before == after
