"""Whistleblowing through the real engine (GR7, GR8): challenges, judgements, penalties, slots."""

from __future__ import annotations

from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.kernel import ledger as led
from civicledger.kernel.errors import RuleViolationError
from civicledger.kernel.identity import AccountId
from civicledger.kernel.time import DAY, WEEK, YEAR
from civicledger.mechanisms.gears import commands as g
from civicledger.mechanisms.gears import state as gs
from civicledger.mechanisms.gears.values import Claim, Verdict
from tests.integration.test_gears_flow import XI, balance, company, fund_buyer, refused_cleanly, sell, setup_gears


def world(e: ScriptedEconomy) -> AccountId:
    """Acme with a first statement and G = 12,000 (1,000 sold in its first month); five voters."""
    setup_gears(e)
    firm = company(e, "acme")
    e.run(g.PublishStatement(firm, 1, "All our widgets are made from recycled steel."), "acme", cid="acme-s1")
    fund_buyer(e, "buyer", 100_000)
    sell(e, "buyer", "acme", 1_000)
    for name in ("whistle", "j1", "j2", "j3", "j4"):
        e.person(name)
    return firm


def challenge(e: ScriptedEconomy, firm: AccountId, who: str = "whistle", claim: Claim = Claim.FALSE) -> str:
    return str(e.run(g.ChallengeStatement(e.account(who), firm, 1, claim, "the steel is new"), who).result["challenge"])


def judge(e: ScriptedEconomy, ch: str, verdicts: dict[str, Verdict]) -> None:
    for name, verdict in verdicts.items():
        e.run(g.JudgeChallenge(e.account(name), ch, verdict), name)


def test_gr07_a_false_statement_costs_a_year_of_sales_paid_to_the_whistleblower(economy: ScriptedEconomy) -> None:
    firm = world(economy)
    economy.run(led.Issue(XI, firm, 50_000), "fund")
    ch = challenge(economy, firm)
    frozen = refused_cleanly(economy, g.PublishStatement(firm, 1, "quietly reworded"), "acme")
    assert frozen.rule == "GR2"
    judge(economy, ch, {"j1": Verdict.FALSE, "j2": Verdict.FALSE, "j3": Verdict.MISLEADING})
    early = refused_cleanly(economy, g.CloseChallenge(ch, economy.account("j1")), "j1")
    assert early.rule == "GR7"
    economy.advance(2 * WEEK)
    late = refused_cleanly(economy, g.JudgeChallenge(economy.account("j4"), ch, Verdict.ACCURATE), "j4")
    assert late.rule == "GR7"
    before = balance(economy, "acme")
    closed = economy.run(g.CloseChallenge(ch, economy.account("j1")), "j1")
    assert closed.result == {"outcome": "false", "upheld": True, "penalty": 12_000, "paid": 12_000, "owed": 0}
    assert balance(economy, "whistle") == 12_000
    assert balance(economy, "acme") == before - 12_000
    economy.run(g.PublishStatement(firm, 1, "Half of our steel is recycled."), "acme")  # unfrozen


def test_gr07_a_misleading_statement_costs_a_month_and_the_unpaid_part_is_withheld(economy: ScriptedEconomy) -> None:
    firm = world(economy)
    acme_has = balance(economy, "acme")  # 1,000 from the first sale
    assert acme_has == 1_000
    ch = challenge(economy, firm, claim=Claim.MISLEADING)
    judge(economy, ch, {"j1": Verdict.MISLEADING, "j2": Verdict.MISLEADING, "j3": Verdict.ACCURATE})
    economy.advance(2 * WEEK)
    closed = economy.run(g.CloseChallenge(ch, economy.account("j1")), "j1")
    # G = 12,000, one month = 1,000; acme holds exactly 1,000 -> all paid at once
    assert closed.result["penalty"] == 1_000 and closed.result["owed"] == 0
    # a second, false verdict: 12,000 owed, nothing held, withheld from later sales
    ch2 = challenge(economy, firm, who="j4")
    judge(economy, ch2, {"j1": Verdict.FALSE, "j2": Verdict.FALSE, "j3": Verdict.FALSE})
    economy.advance(2 * WEEK)
    closed = economy.run(g.CloseChallenge(ch2, economy.account("j1")), "j1")
    assert closed.result["paid"] == 0 and closed.result["owed"] == closed.result["penalty"]
    owed = closed.result["owed"]
    receipt = sell(economy, "buyer", "acme", 700)
    assert receipt.result["withheld"] == 700 and receipt.result["seller_receives"] == 0
    assert balance(economy, "j4") == 700
    with economy.store.read() as uow:
        debts = gs.debts_of(uow, firm)
    assert [d.units for _, d in debts] == [owed - 700]


def test_gr07_accurate_or_without_quorum_is_unsuccessful(economy: ScriptedEconomy) -> None:
    firm = world(economy)
    ch = challenge(economy, firm)
    own = refused_cleanly(economy, g.JudgeChallenge(economy.account("whistle"), ch, Verdict.FALSE), "whistle")
    assert own.rule == "GR7"
    judge(economy, ch, {"j1": Verdict.FALSE, "j2": Verdict.ACCURATE})  # a tie goes to the milder verdict
    twice = refused_cleanly(economy, g.JudgeChallenge(economy.account("j1"), ch, Verdict.FALSE), "j1")
    assert twice.rule == "GR7"
    economy.advance(2 * WEEK)
    closed = economy.run(g.CloseChallenge(ch, economy.account("j1")), "j1")
    assert closed.result["outcome"] == "no-quorum" and closed.result["upheld"] is False
    assert closed.events[0]["slot_returns_at"] == economy.clock.now() + YEAR


def test_gr08_two_failures_outstanding_block_a_third_until_a_year_after_the_first(economy: ScriptedEconomy) -> None:
    firm = world(economy)
    failed_at = []
    for _ in range(2):
        ch = challenge(economy, firm)
        judge(economy, ch, {"j1": Verdict.ACCURATE, "j2": Verdict.ACCURATE, "j3": Verdict.ACCURATE})
        economy.advance(2 * WEEK)
        economy.run(g.CloseChallenge(ch, economy.account("j1")), "j1")
        failed_at.append(economy.clock.now())
    error = refused_cleanly(
        economy, g.ChallengeStatement(economy.account("whistle"), firm, 1, Claim.FALSE, ""), "whistle"
    )
    assert isinstance(error, RuleViolationError) and error.rule == "GR8"
    economy.advance(failed_at[0] + YEAR - economy.clock.now() - DAY)
    assert (
        refused_cleanly(
            economy, g.ChallengeStatement(economy.account("whistle"), firm, 1, Claim.FALSE, ""), "whistle"
        ).rule
        == "GR8"
    )
    economy.advance(DAY)
    challenge(economy, firm)  # one slot is back


def test_gr07_only_verified_persons_challenge_and_only_existing_statements(economy: ScriptedEconomy) -> None:
    firm = world(economy)
    economy.person("ghost", verified=False)
    error = refused_cleanly(economy, g.ChallengeStatement(economy.account("ghost"), firm, 1, Claim.FALSE), "ghost")
    assert error.rule == "GR7"
    missing = refused_cleanly(economy, g.ChallengeStatement(economy.account("j1"), firm, 5, Claim.FALSE), "j1")
    assert missing.rule == "GR7"
