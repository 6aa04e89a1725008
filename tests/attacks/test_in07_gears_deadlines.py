"""IN7 Nothing stalls forever, for Gears challenges (GR7, GR8).

A challenge has a deadline (policy ``gears.challenge_window``, two weeks). From rule version 2:

- at the deadline anyone may close it; it is decided as at the deadline whenever the closing entry
  comes (the policy and the company's sales G_i of the last instant of judging, a failure dated at
  the deadline), so nobody gains by closing late or by choosing the moment;
- without a quorum the outcome is "no-quorum": no penalty, and the whistleblower's GR8 slot is used
  for a year from the deadline, as for any unsuccessful challenge;
- past its deadline a challenge no longer freezes its statement: the company may publish a new
  version, and the next challenge on it closes the old one in the same entry and opens;
- an undecided challenge holds a GR8 slot, so leaving failed challenges unclosed frees nothing.

Under rule version 1 the attacks worked: a whistleblower who never closed a failed challenge was
never charged a slot and could hold any number of statements frozen; whoever closed an upheld
challenge chose the G_i its penalty was computed on.
"""

from __future__ import annotations

from civicledger.adapters.memory import MemoryStore
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.kernel import ledger as led
from civicledger.kernel.economy import ChangePolicy
from civicledger.kernel.identity import AccountId
from civicledger.kernel.time import DAY, WEEK, YEAR
from civicledger.mechanisms.gears import commands as g
from civicledger.mechanisms.gears import state as gs
from civicledger.mechanisms.gears.values import Claim, Verdict
from tests.attacks.test_in03_question_bank import books_balance
from tests.conftest import T0
from tests.e2e.serving import SigningClient
from tests.integration.test_gears_flow import XI, balance, refused_cleanly, sell
from tests.integration.test_gears_whistleblowing import challenge, judge, world


def challenge_record(e: ScriptedEconomy, ch: str) -> gs.Challenge:
    with e.store.read() as uow:
        record = gs.CHALLENGES.get(uow, ch)
    assert record is not None
    return record


def v1() -> ScriptedEconomy:
    """The same economy under rule version 1, beside the suite's (in memory: one store per test)."""
    return ScriptedEconomy(MemoryStore(), start=T0, label="civicledger test key", rules=1)


def test_in07_a_challenge_without_quorum_closes_late_as_at_its_deadline_and_a_new_one_starts(
    economy: ScriptedEconomy,
) -> None:
    firm = world(economy)
    ch = challenge(economy, firm)
    judge(economy, ch, {"j1": Verdict.FALSE})  # one judgement of the three the quorum needs
    deadline = challenge_record(economy, ch).closes_at
    assert refused_cleanly(economy, g.CloseChallenge(ch, economy.account("j1")), "j1").rule == "GR7"
    economy.advance(10 * WEEK)  # nobody closes it for weeks
    late = refused_cleanly(economy, g.JudgeChallenge(economy.account("j2"), ch, Verdict.FALSE), "j2")
    assert late.rule == "GR7"
    closed = economy.run(g.CloseChallenge(ch, economy.account("j3")), "j3")  # anyone may close it
    assert closed.result == {"outcome": "no-quorum", "upheld": False, "penalty": 0, "paid": 0, "owed": 0}
    event = closed.events[0]
    assert event["failed_at"] == deadline and event["slot_returns_at"] == deadline + YEAR  # not now + YEAR
    with economy.store.read() as uow:
        assert gs.failures_of(uow, economy.account("whistle")) == [deadline]
    again = challenge(economy, firm, who="j4")  # a new process on the same statement
    assert challenge_record(economy, again).status == "open"
    books_balance(economy.store)


def test_in07_a_lapsed_challenge_unfreezes_its_statement_and_the_next_one_closes_it(economy: ScriptedEconomy) -> None:
    old = v1()
    firm = world(old)
    challenge(old, firm)
    old.advance(3 * WEEK)  # past the deadline, nobody closed it: under version 1 it holds forever
    assert refused_cleanly(old, g.PublishStatement(firm, 1, "reworded"), "acme").rule == "GR2"
    assert refused_cleanly(old, g.ChallengeStatement(old.account("j4"), firm, 1, Claim.FALSE), "j4").rule == "GR7"

    firm = world(economy)
    economy.run(led.Issue(XI, firm, 50_000), "fund")
    ch = challenge(economy, firm)
    judge(economy, ch, {"j1": Verdict.FALSE, "j2": Verdict.FALSE, "j3": Verdict.FALSE})
    assert refused_cleanly(economy, g.PublishStatement(firm, 1, "reworded"), "acme").rule == "GR2"  # judged now
    economy.advance(3 * WEEK)
    opened = economy.run(g.ChallengeStatement(economy.account("j4"), firm, 1, Claim.MISLEADING, "still"), "j4")
    types = [e["type"] for e in opened.events]
    assert types.index("gears.challenge_closed") < types.index("gears.challenge_opened")
    closed = next(e for e in opened.events if e["type"] == "gears.challenge_closed")
    assert (closed["challenge"], closed["outcome"], closed["penalty"]) == (ch, "false", 12_000)
    assert opened.result["closed"] == {
        "challenge": ch,
        **{k: closed[k] for k in ("outcome", "upheld", "penalty")},
        "paid": 12_000,
        "owed": 0,
    }
    assert balance(economy, "whistle") == 12_000  # the upheld verdict was paid in that same entry
    assert challenge_record(economy, ch).status == "closed"
    economy.advance(3 * WEEK)  # the new challenge lapses too: the company may now reword its statement
    economy.run(g.PublishStatement(firm, 1, "Half of our steel is recycled."), "acme")
    books_balance(economy.store)


def test_in07_closing_late_does_not_change_the_penalty(economy: ScriptedEconomy) -> None:
    """Under version 1 whoever closed chose the G_i of the penalty: here the whistleblower waits for
    a big sale. From version 2 the penalty is on G_i at the deadline."""
    penalties = []
    for e in (v1(), economy):
        firm = world(e)
        ch = challenge(e, firm)
        judge(e, ch, {"j1": Verdict.FALSE, "j2": Verdict.FALSE, "j3": Verdict.FALSE})
        e.advance(2 * WEEK + DAY)
        sell(e, "buyer", "acme", 4_000)  # after the deadline: G_i would grow from 12,000 to 48,000ish
        penalties.append(e.run(g.CloseChallenge(ch, e.account("whistle")), "whistle").result["penalty"])
    stalled, fixed = penalties
    assert fixed == 12_000  # G_i at the last instant of judging
    assert stalled > fixed  # the attack paid under version 1
    books_balance(economy.store)


def test_in07_a_policy_change_after_the_deadline_does_not_decide_a_challenge(economy: ScriptedEconomy) -> None:
    firm = world(economy)
    ch = challenge(economy, firm)
    judge(economy, ch, {"j1": Verdict.FALSE, "j2": Verdict.FALSE})  # two of the three needed
    economy.advance(2 * WEEK)
    economy.council_decision(ChangePolicy("gears.challenge_quorum", 2), cid="quorum-2")
    closed = economy.run(g.CloseChallenge(ch, economy.account("whistle")), "whistle")
    assert closed.result["outcome"] == "no-quorum"  # the quorum in force at the deadline was 3


def test_in07_leaving_failed_challenges_unclosed_frees_no_slot(economy: ScriptedEconomy) -> None:
    """GR8 allows two unsuccessful challenges outstanding. Under version 1 only closed ones counted,
    so a whistleblower who never closed could freeze every statement; from version 2 an undecided
    challenge holds a slot."""
    for e, third_refused in ((v1(), False), (economy, True)):
        firm = world(e)
        for index in (2, 3):
            e.run(g.PublishStatement(firm, index, f"statement {index}"), "acme")
        for index in (1, 2):
            e.run(g.ChallengeStatement(e.account("whistle"), firm, index, Claim.FALSE, ""), "whistle")
        third = g.ChallengeStatement(e.account("whistle"), firm, 3, Claim.FALSE, "")
        if third_refused:
            assert refused_cleanly(e, third, "whistle").rule == "GR8"
            e.advance(10 * WEEK)  # still nothing: the lapsed challenges hold their slots until decided
            assert refused_cleanly(e, third, "whistle").rule == "GR8"
        else:
            e.run(third, "whistle")  # the attack: a third statement frozen, no slot ever charged


def test_in07_over_http_anyone_closes_a_stalled_challenge_at_its_deadline(
    served: tuple[SigningClient, ScriptedEconomy],
) -> None:
    client, economy = served
    firm = world(economy)
    economy.person("passer-by")
    ch = challenge(economy, firm)
    closer = AccountId(economy.account("passer-by"))
    early = client.run(g.CloseChallenge(ch, closer), "passer-by")
    assert early.status_code >= 400 and early.json()["rule"] == "GR7"
    economy.advance(2 * WEEK)
    closed = client.run(g.CloseChallenge(ch, closer), "passer-by")
    assert closed.status_code == 200, closed.text
    assert closed.json()["result"]["outcome"] == "no-quorum"
    reopened = client.run(g.ChallengeStatement(AccountId(economy.account("j1")), firm, 1, Claim.FALSE, ""), "j1")
    assert reopened.status_code == 200, reopened.text
    company = client.http.get(f"/api/gears/companies/{firm}").json()
    statuses = sorted(c["status"] for c in company["challenges"])
    assert statuses == ["closed", "open"]
    books_balance(economy.store)
