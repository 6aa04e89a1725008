"""IN3 Nobody can shut voters out: the GR3 test draws from a question bank the council curates.

The attack (rule version 1): a company publishes no test questions, or only questions of its own
that voters cannot pass. No voter can start (or pass) a test on it, so no vote counts against it:
its delta stays 0 while a peer with the same sales and one honest -1 vote gets -30 (GR5).

From rule version 2 a test draws from the company's own questions the council approved and the
council's questions for its sector; with fewer than a test needs, the council's general questions
fill it. A company's unapproved questions are never drawn. Played through the engine and over
HTTP, as a voter's client would.
"""

from __future__ import annotations

from fractions import Fraction

from civicledger.adapters.crypto import Ed25519Verifier
from civicledger.adapters.memory import MemoryStore
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.kernel import audit
from civicledger.kernel.errors import AuthorityError, RuleViolationError
from civicledger.kernel.identity import AccountId, AccountKind
from civicledger.kernel.ports import Store
from civicledger.kernel.time import DAY
from civicledger.mechanisms.gears import commands as g
from civicledger.mechanisms.gears import rules
from civicledger.mechanisms.gears import state as gs
from civicledger.mechanisms.gears.rules import answer_digest
from civicledger.mechanisms.gears.values import BANK_QUESTION_BASE, decode_ratio
from tests.conftest import T0
from tests.e2e.serving import SigningClient
from tests.integration.test_gears_flow import (
    company,
    fund_buyer,
    publish,
    refused_cleanly,
    sell,
    setup_gears,
    start_test,
    vote,
)

RIGHT = 0  # the right choice of the council's questions here
COMPANY_RIGHT = 2  # the right choice of the companies' own questions


def bank_question(e: ScriptedEconomy, n: int, sector: str = "") -> int:
    salt = f"bank-{sector or 'general'}-{n}"
    cmd = g.AddBankQuestion(
        sector, f"Council question {n} ({sector or 'general'})?", ("a", "b", "c"), answer_digest(salt, RIGHT), salt
    )
    return int(e.council_decision(cmd, cid=f"bank-{sector}-{n}").result["number"])


def own_question(e: ScriptedEconomy, name: str, i: int) -> int:
    salt = f"{name}-own-{i}"
    cmd = g.AddQuestion(
        e.account(name), f"Trick question {i}?", ("x", "y", "z"), answer_digest(salt, COMPANY_RIGHT), salt
    )
    return int(e.run(cmd, name, cid=f"own-{name}-{i}").result["question"])


def silent_and_peer(e: ScriptedEconomy, sector: str = "") -> tuple[AccountId, AccountId]:
    """Three companies with the same sales: "silent" publishes no questions; "peer" and "fair" have
    their own (approved by the council from rule version 2); vic may vote."""
    setup_gears(e)
    silent = e.open("silent", AccountKind.ORGANIZATION)
    e.run(g.RegisterCompany(silent, sector), "silent")
    peer = company(e, "peer")
    company(e, "fair")
    fund_buyer(e, "buyer", 100_000)
    for name in ("silent", "peer", "fair"):
        sell(e, "buyer", name, 1_000)
    e.person("vic")
    return silent, peer


def take_test(e: ScriptedEconomy, voter: str, firm: AccountId, right: int) -> tuple[list[int], bool]:
    who = e.account(voter)
    drawn = [int(q["question"]) for q in start_test(e, voter, firm)]  # IN6: drawn an hour later
    passed = bool(e.run(g.AnswerTest(who, firm, tuple(right for _ in drawn)), voter).result["passed"])
    return drawn, passed


def books_balance(store: Store) -> None:
    """The journal verifies (signatures, replay, conservation at every entry) and balances now sum to supply."""
    report = audit.verify_store(store, Ed25519Verifier(), MemoryStore)
    assert report.ok, report.reason
    with store.read() as uow:
        sums = uow.ledger.sums_by_currency()
        currency = uow.ledger.currency(next(iter(sums)))  # xi
        assert currency is not None and sums[currency.id] == currency.supply


def test_in03_under_rule_version_1_a_company_without_questions_shuts_voters_out(store: Store) -> None:
    e = ScriptedEconomy(store, start=T0, label="civicledger test key", rules=1)
    silent, peer = silent_and_peer(e)
    refused = refused_cleanly(e, g.StartTest(e.account("vic"), silent), "vic")
    assert refused.rule == "GR3"  # the attack works: nobody can take the test, nobody can vote
    vote(e, "vic", peer, -1)
    vote(e, "vic", AccountId(e.account("fair")), 1)
    snapshot = publish(e)
    assert decode_ratio(snapshot.companies[peer].delta) == -30  # the honest peer pays for its one -1
    assert decode_ratio(snapshot.companies[silent].delta) == 0  # the silent company escapes judgement


def test_in03_a_company_without_questions_is_tested_on_the_councils_general_questions(economy: ScriptedEconomy) -> None:
    silent, peer = silent_and_peer(economy)
    no_bank = refused_cleanly(economy, g.StartTest(economy.account("vic"), silent), "vic")
    assert no_bank.rule == "IN3" and "general questions" in no_bank.message  # the council must curate one
    general = [bank_question(economy, n) for n in range(1, 5)]
    drawn, passed = take_test(economy, "vic", silent, RIGHT)
    assert passed and set(drawn) <= {BANK_QUESTION_BASE + n for n in general}
    economy.run(g.CastVote(economy.account("vic"), silent, -1), "vic")
    vote(economy, "vic", peer, -1)  # the peer's approved questions suffice for its test
    vote(economy, "vic", AccountId(economy.account("fair")), 1)
    snapshot = publish(economy)
    # the silent company is judged like its peer: S = -1/3, both get 30 (-1 + 1/3) = -20
    assert snapshot.companies[silent].votes == 1
    assert decode_ratio(snapshot.companies[silent].delta) == decode_ratio(snapshot.companies[peer].delta) == -20
    books_balance(economy.store)


def test_in03_a_companys_unapproved_questions_are_never_drawn(economy: ScriptedEconomy) -> None:
    silent, _ = silent_and_peer(economy, sector="food")
    for n in range(1, 4):
        bank_question(economy, n)  # general
    food = [bank_question(economy, n, "food") for n in range(4, 6)]
    # The company fills its bank with trick questions nobody would answer "z" to: not drawn unapproved.
    tricks = [own_question(economy, "silent", i) for i in range(5)]
    with economy.store.read() as uow:
        pool = gs.question_pool_of(uow, silent, 3)
    assert not set(pool) & set(tricks)
    assert pool[:2] == tuple(BANK_QUESTION_BASE + n for n in food)  # the sector's first, general fill
    drawn, passed = take_test(economy, "vic", silent, RIGHT)
    assert passed and not set(drawn) & set(tricks)
    # The council rejects one and approves one: with the two food questions the curated bank holds 3,
    # so the general ones leave the pool and the approved question can be drawn.
    economy.council_decision(g.ReviewQuestion(silent, tricks[0], False), cid="reject-0")
    economy.council_decision(g.ReviewQuestion(silent, tricks[1], True), cid="approve-1")
    with economy.store.read() as uow:
        pool = gs.question_pool_of(uow, silent, 3)
    assert pool == (tricks[1], *(BANK_QUESTION_BASE + n for n in food))
    books_balance(economy.store)


def test_in03_only_the_councils_quorum_curates_the_bank(economy: ScriptedEconomy) -> None:
    silent, _ = silent_and_peer(economy)
    number = own_question(economy, "silent", 0)
    alone = economy.refused(g.ReviewQuestion(silent, number, True), "silent")
    assert isinstance(alone, AuthorityError)  # a company cannot approve its own question
    one = economy.refused(g.AddBankQuestion("", "Q?", ("a", "b"), answer_digest("s", 0), "s"), "governor-1")
    assert isinstance(one, AuthorityError)  # one governor is not the quorum (2 of 3)
    sector = economy.refused(g.SetSector(silent, "no-questions-here"), "silent")
    assert isinstance(sector, AuthorityError)  # nor can it move itself to another sector


def test_in03_a_question_the_council_never_reviews_lapses_and_can_be_added_again(economy: ScriptedEconomy) -> None:
    """IN7 for the review: the company's question waits until question_review_window (90 days)."""
    silent, _ = silent_and_peer(economy)
    first = own_question(economy, "silent", 0)
    economy.advance(90 * DAY)
    lapsed = refused_cleanly(economy, g.ReviewQuestion(silent, first, True), "governor-1", "governor-2")
    assert isinstance(lapsed, RuleViolationError) and lapsed.rule == "IN7"
    again = own_question(economy, "silent", 1)
    economy.council_decision(g.ReviewQuestion(silent, again, True), cid="approve-again")
    with economy.store.read() as uow:
        assert gs.approved_questions(uow, silent) == [again]


def test_in03_the_bank_commands_do_not_exist_under_rule_version_1(store: Store) -> None:
    e = ScriptedEconomy(store, start=T0, label="civicledger test key", rules=1)
    setup_gears(e)
    refused = e.refused(g.AddBankQuestion("", "Q?", ("a", "b"), answer_digest("s", 0), "s"), *e.governors)
    assert refused.rule == "IN8"


def test_in03_the_pool_is_a_pure_function_of_the_curated_bank() -> None:
    assert rules.question_pool([1, 2], [1_000_007], [1_000_001, 1_000_002], 3) == (1, 2, 1_000_007)
    assert rules.question_pool([1], [1_000_007], [1_000_001, 1_000_002], 3) == (1, 1_000_007, 1_000_001, 1_000_002)
    assert rules.question_pool([], [], [], 3) == ()


def test_in03_over_http_a_voter_passes_a_test_on_a_company_without_questions_and_votes(
    served: tuple[SigningClient, ScriptedEconomy],
) -> None:
    client, economy = served
    silent, _ = silent_and_peer(economy)
    for n in range(1, 4):
        bank_question(economy, n)
    vic = AccountId(economy.account("vic"))
    started = client.run(g.StartTest(vic, silent), "vic")
    assert started.status_code == 200, started.text
    economy.advance(started.json()["result"]["draw_at"] - economy.clock.now())  # IN6: drawn later
    result = client.run(g.DrawTest(vic, silent, vic), "vic").json()["result"]
    if not result["drawn"]:  # no head signed since the draw time: that entry made one
        result = client.run(g.DrawTest(vic, silent, vic), "vic").json()["result"]
    drawn = result["questions"]
    assert all(q["question"] > BANK_QUESTION_BASE for q in drawn)
    answered = client.run(g.AnswerTest(vic, silent, tuple(RIGHT for _ in drawn)), "vic")
    assert answered.json()["result"]["passed"] is True
    voted = client.run(g.CastVote(vic, silent, -1), "vic")
    assert voted.status_code == 200, voted.text
    coefficients = client.http.get("/api/gears/coefficients").json()
    row = next(r for r in coefficients["companies"] if r["company"] == silent)
    assert row["votes"] == 1 and Fraction(row["mean"]) == -1
    books_balance(economy.store)
