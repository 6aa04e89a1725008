"""Gears handlers and projectors (GR1-GR11): companies, statements, tests, votes, coefficients,
settlement through the Common Good Fund, and whistleblowing.

State lives in typed records (``state``: one record type per namespace). Money moves only through
the kernel's Payments book, all the legs of one settlement in the same entry. The fund never goes
below zero: a payout it cannot make now is queued (``gears.payouts``, in order) and paid as soon as
units arrive; what a company cannot pay is a debt (``gears.debts``) withheld from its later sales.
Those decisions are pure functions of ``coefficient`` (``fund_pays_now``, ``release_in_order``,
``charge``, ``withhold``); the handlers turn them into events and legs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction

from civicledger.kernel import draws, hooks, payments, state
from civicledger.kernel import handlers as core
from civicledger.kernel import ledger as led
from civicledger.kernel.errors import IntegrityError, InvalidInputError, NotFoundError, RuleViolationError
from civicledger.kernel.identity import AccountId, AccountKind, Consent
from civicledger.kernel.messages import Event
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.ports import UnitOfWork
from civicledger.kernel.registry import Context, Decision, ProjectionContext, handles, projects
from civicledger.mechanisms.gears import coefficient as coef
from civicledger.mechanisms.gears import commands as cmds
from civicledger.mechanisms.gears import events as ev
from civicledger.mechanisms.gears import rules
from civicledger.mechanisms.gears.policy import GearsPolicy, SettlementMode
from civicledger.mechanisms.gears.state import (
    ACCRUALS,
    BANK,
    CHALLENGES,
    COMPANIES,
    CONFIG,
    DEBTS,
    DELTAS,
    FAILURES,
    JUDGEMENTS,
    LATEST,
    PAYOUTS,
    PERIODS,
    QUESTIONS,
    SALES,
    SNAPSHOTS,
    STATEMENT_LOG,
    STATEMENTS,
    TESTS,
    VOTE_LOG,
    VOTES,
    Accrual,
    BankQuestion,
    Challenge,
    Company,
    Config,
    Debt,
    Delta,
    Failure,
    Judgement,
    Latest,
    Payout,
    Period,
    Question,
    Sale,
    Snapshot,
    SnapshotRow,
    Statement,
    StatementVersion,
    Test,
    Vote,
    VoteSegment,
    accrued_in,
    bank_key,
    bank_size,
    coefficients_at,
    config,
    current_delta,
    debts_of,
    failures_of,
    has_judged,
    is_set_up,
    latest_version,
    must,
    open_challenge,
    open_challenges_by,
    pending_payouts,
    pending_questions,
    period_closed,
    period_key,
    question,
    question_bank,
    question_key,
    question_pool_of,
    require_company,
    require_voter,
    sales_at,
    segment_key,
    snapshot_key,
    statement_key,
    statement_of,
    test_key,
    test_of,
    vote_key,
    vote_of,
)
from civicledger.mechanisms.gears.values import (
    MAX_BANK_QUESTIONS,
    MAX_COMPANY_QUESTIONS,
    MAX_PENDING_QUESTIONS,
    Verdict,
    decode_ratio,
    encode_ratio,
)

# Moving money inside one decision ---------------------------------------------------------------


@dataclass
class _Payments:
    """Gears' events of one entry and its money, moved through the kernel's one money path
    (``kernel.payments``): running balances while deciding, the legs checked as one book at the end."""

    uow: UnitOfWork
    seq: int
    time: int
    fund: AccountId
    events: list[Event] = field(default_factory=list)
    book: payments.Payments = field(init=False)
    queued: dict[str, list[tuple[str, AccountId, int]]] = field(default_factory=dict)
    released: set[str] = field(default_factory=set)
    n: int = 0

    def __post_init__(self) -> None:
        self.book = payments.Payments(self.uow, self.time)

    def key(self) -> str:
        self.n += 1
        return f"{self.seq:012d}/{self.n:04d}"

    def balance(self, account: AccountId, currency: CurrencyId) -> int:
        return self.book.balance(account, currency)

    def move(self, currency: CurrencyId, source: AccountId, target: AccountId, units: int) -> None:
        if units <= 0:
            return
        held = self.balance(source, currency)
        if held < units:
            raise IntegrityError(f"{source} holds {held} {currency}, cannot pay {units}", rule="X3")
        self.book.add(led.Leg(currency, source, target, units))

    def fund_pay(self, currency: CurrencyId, to: AccountId, units: int, reason: str) -> bool:
        """Pay from the fund now if nothing waits before it and the balance allows; else queue it (GR6)."""
        if units <= 0:
            return True
        stored = sum(1 for key, _ in pending_payouts(self.uow, currency) if key not in self.released)
        waiting = stored + len(self.queued.get(currency, []))
        if coef.fund_pays_now(self.balance(self.fund, currency), waiting, units):
            self.move(currency, self.fund, to, units)
            return True
        key = f"{currency}/{self.key()}"
        self.queued.setdefault(currency, []).append((key, to, units))
        self.events.append(ev.PayoutQueued(key, currency, to, units, reason))
        return False

    def release(self, currency: CurrencyId) -> int:
        """Pay waiting payouts in order while the fund's balance covers the next one (GR6)."""
        stored = [(key, p.to, p.units) for key, p in pending_payouts(self.uow, currency)]
        waiting = [p for p in stored + self.queued.get(currency, []) if p[0] not in self.released]
        paid, _ = coef.release_in_order(self.balance(self.fund, currency), [(k, u) for k, _, u in waiting])
        for key, to, units in waiting[: len(paid)]:
            self.move(currency, self.fund, to, units)
            self.released.add(key)
            self.events.append(ev.PayoutReleased(key, currency, to, units))
        return len(paid)

    def charge(self, currency: CurrencyId, company: AccountId, to: AccountId, due: int, reason: str) -> coef.Charge:
        """The company pays ``due`` to ``to`` as far as it holds units now; the rest is its debt (GR6, GR7)."""
        decided = coef.charge(due, self.balance(company, currency))
        self.move(currency, company, to, decided.paid)
        if decided.owed > 0:
            self.events.append(ev.DebtRecorded(f"{company}/{self.key()}", company, to, decided.owed, reason))
        return decided

    def withhold(self, company: AccountId, currency: CurrencyId, available: int) -> int:
        """Withhold the company's debts, oldest first, from ``available`` units it just received (GR7)."""
        debts = debts_of(self.uow, company)
        creditor = {key: debt.to for key, debt in debts}
        decided = coef.withhold([(key, debt.units) for key, debt in debts], available)
        for w in decided:
            self.move(currency, company, creditor[w.key], w.units)
            self.events.append(ev.DebtPaid(w.key, company, creditor[w.key], currency, w.units, w.remaining))
        return sum(w.units for w in decided)

    def decision_events(self) -> list[Event]:
        """Gears events, then the ledger's transfers, checked once more by the ledger's own rules."""
        if not self.book.legs:
            return list(self.events)
        return [*self.events, *self.book.transfers()]


def _payments(ctx: Context, cfg: Config) -> _Payments:
    return _Payments(ctx.uow, ctx.seq, ctx.time, cfg.fund)


def _participation(ctx: Context, kind: str, person: AccountId, reference: str, **facts: hooks.Fact) -> list[Event]:
    """X8: votes, judgements and challenges count as civic participation where a mechanism listens.

    Gears reports the facts only (IN2); the listener decides what they earn.
    """
    act = hooks.Participation(kind, person, reference, facts)
    events: list[Event] = []
    for hook in hooks.PARTICIPATION.each():
        events.extend(hook(ctx, act))
    return events


# Setup and companies ----------------------------------------------------------------------------


@handles(cmds.SetupGears)
def setup(cmd: cmds.SetupGears, ctx: Context) -> Decision:
    if is_set_up(ctx.uow):
        raise RuleViolationError("Gears is already set up", rule="GR6")
    fund = state.require_account(ctx.uow, cmd.fund, rule="GR6")
    if fund.kind is not AccountKind.FUND:
        raise RuleViolationError(f"the Common Good Fund must be a fund account, not a {fund.kind.value}", rule="GR6")
    state.require_currency(ctx.uow, cmd.ethicap, rule="GR11")
    consent = Consent(all_of=frozenset({cmd.fund}), quorums=core.governing_consent(ctx).quorums)
    return Decision([ev.GearsConfigured(cmd.fund, cmd.ethicap)], consent)


@projects(ev.GearsConfigured)
def _configured(e: ev.GearsConfigured, uow: UnitOfWork, pctx: ProjectionContext) -> None:
    CONFIG.put(uow, "config", Config(e.fund, e.ethicap, pctx.time))


@handles(cmds.RegisterCompany)
def register_company(cmd: cmds.RegisterCompany, ctx: Context) -> Decision:
    account = state.require_account(ctx.uow, cmd.company, rule="GR1")
    if account.kind is not AccountKind.ORGANIZATION:
        raise RuleViolationError(
            f"only organization accounts register as companies, not a {account.kind.value}", rule="GR1"
        )
    if COMPANIES.get(ctx.uow, cmd.company) is not None:
        raise RuleViolationError(f"{cmd.company} is already registered", rule="GR1")
    rules.check_sector(cmd.sector)
    event = ev.CompanyRegistered(cmd.company, cmd.sector)
    return Decision([event], Consent.of(cmd.company), {"company": cmd.company})


@projects(ev.CompanyRegistered)
def _company_registered(e: ev.CompanyRegistered, uow: UnitOfWork, pctx: ProjectionContext) -> None:
    COMPANIES.put(uow, e.company, Company(joined_at=pctx.time, statements=0, questions=0, sector=e.sector))


def _council_question_bank(ctx: Context, what: str) -> Consent:
    """The council curates the question bank (IN3) from rule version 2, by its governing quorum,
    whose signatures are collected before the command is sent: nothing waits on the journal (IN7)."""
    if ctx.rules < 2:
        raise RuleViolationError(f"{what} exists from rule version 2 (IN3)", rule="IN8")
    return core.governing_consent(ctx)


@handles(cmds.SetSector)
def set_sector(cmd: cmds.SetSector, ctx: Context) -> Decision:
    consent = _council_question_bank(ctx, "a company's sector")
    company = require_company(ctx.uow, cmd.company)
    rules.check_sector(cmd.sector)
    if company.sector == cmd.sector:
        raise RuleViolationError(f"{cmd.company} is already in sector {cmd.sector!r}", rule="IN3")
    return Decision([ev.SectorSet(cmd.company, cmd.sector)], consent, {"sector": cmd.sector})


@projects(ev.SectorSet)
def _sector_set(e: ev.SectorSet, uow: UnitOfWork, pctx: ProjectionContext) -> None:
    COMPANIES.put(uow, e.company, replace(must(COMPANIES, uow, e.company), sector=e.sector))


# GR2 statements ---------------------------------------------------------------------------------


@handles(cmds.PublishStatement)
def publish_statement(cmd: cmds.PublishStatement, ctx: Context) -> Decision:
    company = require_company(ctx.uow, cmd.company)
    common = ctx.policy.section(GearsPolicy).common_questions
    current = statement_of(ctx.uow, cmd.company, cmd.index)
    frozen = bool(current and current.challenge)
    if ctx.rules >= 2 and current is not None and current.challenge:
        # IN7: a statement is frozen while voters judge it, not past the challenge's deadline
        frozen = ctx.time < must(CHALLENGES, ctx.uow, current.challenge).closes_at
    rules.check_statement(cmd.index, cmd.text, company.statements, len(common), frozen)
    version = current.version + 1 if current else 1
    question_text = common[cmd.index - 1] if cmd.index <= len(common) else ""
    event = ev.StatementPublished(cmd.company, cmd.index, version, cmd.text, question_text)
    return Decision([event], Consent.of(cmd.company), {"index": cmd.index, "version": version})


@projects(ev.StatementPublished)
def _statement_published(e: ev.StatementPublished, uow: UnitOfWork, pctx: ProjectionContext) -> None:
    key = statement_key(e.company, e.index)
    STATEMENTS.put(uow, key, Statement(e.version, e.text, e.question, pctx.time, challenge=None))
    STATEMENT_LOG.put(uow, f"{key}/{e.version:04d}", StatementVersion(e.text, pctx.time))
    company = must(COMPANIES, uow, e.company)
    COMPANIES.put(uow, e.company, replace(company, statements=max(company.statements, e.index)))


# GR3 question bank and test ---------------------------------------------------------------------


@handles(cmds.AddQuestion)
def add_question(cmd: cmds.AddQuestion, ctx: Context) -> Decision:
    company = require_company(ctx.uow, cmd.company)
    rules.check_question(cmd.text, cmd.choices, cmd.answer_digest, cmd.salt)
    review_by = None
    if ctx.rules >= 2:
        # IN3: a company's question waits for the council's review; IN7: until a deadline
        if company.questions >= MAX_COMPANY_QUESTIONS:
            raise RuleViolationError(f"a company adds at most {MAX_COMPANY_QUESTIONS} questions", rule="GR3")
        if pending_questions(ctx.uow, cmd.company, ctx.time) >= MAX_PENDING_QUESTIONS:
            raise RuleViolationError(
                f"{MAX_PENDING_QUESTIONS} of this company's questions already wait for the council's review",
                rule="IN3",
            )
        review_by = ctx.time + ctx.policy.section(GearsPolicy).question_review_window
    elif company.questions >= 200:
        raise RuleViolationError("a question bank holds at most 200 questions", rule="GR3")
    number = company.questions + 1
    event = ev.QuestionAdded(cmd.company, number, cmd.text, cmd.choices, cmd.answer_digest, cmd.salt, review_by)
    result: dict[str, object] = {"question": number}
    if review_by is not None:
        result["review_by"] = review_by
    return Decision([event], Consent.of(cmd.company), result)


@projects(ev.QuestionAdded)
def _question_added(e: ev.QuestionAdded, uow: UnitOfWork, pctx: ProjectionContext) -> None:
    record = Question(e.text, e.choices, e.answer_digest, e.salt, review_by=e.review_by)
    QUESTIONS.put(uow, question_key(e.company, e.question), record)
    company = must(COMPANIES, uow, e.company)
    COMPANIES.put(uow, e.company, replace(company, questions=max(company.questions, e.question)))


@handles(cmds.ReviewQuestion)
def review_question(cmd: cmds.ReviewQuestion, ctx: Context) -> Decision:
    consent = _council_question_bank(ctx, "the review of a company's question")
    require_company(ctx.uow, cmd.company)
    if isinstance(cmd.question, bool) or not isinstance(cmd.question, int) or not 1 <= cmd.question <= 9999:
        raise InvalidInputError(f"a company's questions are numbered 1-9999, not {cmd.question!r}", rule="IN3")
    record = QUESTIONS.get(ctx.uow, question_key(cmd.company, cmd.question))
    if record is None:
        raise NotFoundError(f"{cmd.company} has no question {cmd.question}", rule="IN3")
    rules.check_review(ctx.time, record.review_by, record.approved, cmd.approve)
    event = ev.QuestionReviewed(cmd.company, cmd.question, cmd.approve)
    return Decision([event], consent, {"question": cmd.question, "approved": cmd.approve})


@projects(ev.QuestionReviewed)
def _question_reviewed(e: ev.QuestionReviewed, uow: UnitOfWork, pctx: ProjectionContext) -> None:
    key = question_key(e.company, e.question)
    QUESTIONS.put(uow, key, replace(must(QUESTIONS, uow, key), approved=e.approved))


@handles(cmds.AddBankQuestion)
def add_bank_question(cmd: cmds.AddBankQuestion, ctx: Context) -> Decision:
    consent = _council_question_bank(ctx, "the council's question bank")
    rules.check_sector(cmd.sector)
    rules.check_question(cmd.text, cmd.choices, cmd.answer_digest, cmd.salt)
    number = bank_size(ctx.uow) + 1
    if number > MAX_BANK_QUESTIONS:
        raise RuleViolationError(f"the council's bank holds at most {MAX_BANK_QUESTIONS} questions", rule="IN3")
    event = ev.BankQuestionAdded(number, cmd.sector, cmd.text, cmd.choices, cmd.answer_digest, cmd.salt)
    return Decision([event], consent, {"number": number, "sector": cmd.sector})


@projects(ev.BankQuestionAdded)
def _bank_question_added(e: ev.BankQuestionAdded, uow: UnitOfWork, pctx: ProjectionContext) -> None:
    BANK.put(uow, bank_key(e.number), BankQuestion(e.sector, e.text, e.choices, e.answer_digest, e.salt))


@handles(cmds.RetireBankQuestion)
def retire_bank_question(cmd: cmds.RetireBankQuestion, ctx: Context) -> Decision:
    consent = _council_question_bank(ctx, "the council's question bank")
    valid = not isinstance(cmd.number, bool) and isinstance(cmd.number, int) and 1 <= cmd.number <= MAX_BANK_QUESTIONS
    record = BANK.get(ctx.uow, bank_key(cmd.number)) if valid else None
    if record is None:
        raise NotFoundError(f"the council's bank has no question {cmd.number!r}", rule="IN3")
    if record.retired:
        raise RuleViolationError(f"question {cmd.number} of the council's bank is already retired", rule="IN3")
    return Decision([ev.BankQuestionRetired(cmd.number)], consent, {"number": cmd.number})


@projects(ev.BankQuestionRetired)
def _bank_question_retired(e: ev.BankQuestionRetired, uow: UnitOfWork, pctx: ProjectionContext) -> None:
    key = bank_key(e.number)
    BANK.put(uow, key, replace(must(BANK, uow, key), retired=True))


@handles(cmds.StartTest)
def start_test(cmd: cmds.StartTest, ctx: Context) -> Decision:
    require_voter(ctx.uow, cmd.voter)
    require_company(ctx.uow, cmd.company)
    test = test_of(ctx.uow, cmd.voter, cmd.company)
    rules.check_can_start_test(
        ctx.time,
        bool(test and (test.open or (ctx.rules >= 2 and test.pending))),
        test.failed_at if test else None,
        ctx.policy.section(GearsPolicy).test_retry_delay,
    )
    if ctx.rules >= 2:
        _test_pool(ctx, cmd.company)  # IN3: refused now, not at the draw, if the bank cannot fill a test
        draw_at = ctx.time + ctx.policy.journal.draw_delay
        event: Event = ev.TestRequested(cmd.voter, cmd.company, draw_at)
        return Decision([event], Consent.of(cmd.voter), {"draw_at": draw_at})
    seed = rules.draw_seed(ctx.uow.journal.head().frontier.root(), cmd.voter, cmd.company)
    return _test_drawn(ctx, cmd.voter, cmd.company, seed, Consent.of(cmd.voter))


def _test_pool(ctx: Context, company: AccountId) -> list[int]:
    """The questions a test on ``company`` draws from: under rule version 2 the bank the council
    curates, filled with its general questions, never the company's alone (IN3); before, the
    company's own questions."""
    if ctx.rules < 2:
        return question_bank(ctx.uow, company)
    needed = ctx.policy.section(GearsPolicy).test_questions
    pool = list(question_pool_of(ctx.uow, company, needed))
    if len(pool) < needed:
        raise RuleViolationError(
            f"the council's bank for this company holds {len(pool)} questions, a test draws {needed}: "
            "the council must add general questions",
            rule="IN3",
        )
    return pool


def _test_drawn(ctx: Context, voter: AccountId, company: AccountId, seed: bytes, consent: Consent) -> Decision:
    """GR3: the test's questions, drawn from the company's question pool with ``seed``."""
    drawn = rules.draw_questions(seed, _test_pool(ctx, company), ctx.policy.section(GearsPolicy).test_questions)
    shown = []
    for number in drawn:
        q = question(ctx.uow, company, number)
        shown.append({"question": number, "text": q.text, "choices": list(q.choices)})
    event = ev.TestStarted(voter, company, drawn, seed.hex())
    return Decision([event], consent, {"questions": shown})


@handles(cmds.DrawTest)
def draw_test(cmd: cmds.DrawTest, ctx: Context) -> Decision:
    """IN6: draw a requested test's questions from the seed of the first signed tree head at or
    after its ``draw_at``; anyone may send it, and whoever sends it, whenever, draws the same
    questions. A requested test cannot be asked for again until drawn and answered, so a voter
    who reads the seed before drawing cannot trade it for another."""
    state.require_account(ctx.uow, cmd.sender, "IN6")
    if ctx.rules < 2:
        raise RuleViolationError("under rule version 1 a test's questions are drawn when it starts", rule="IN6")
    test = test_of(ctx.uow, cmd.voter, cmd.company)
    if test is None or test.requested is None or test.draw_at is None:
        raise RuleViolationError("no test of this voter on this company waits for its questions", rule="GR3")
    drawn = draws.draw(
        ctx.uow.journal,
        purpose="gears.test",
        request=rules.test_request(cmd.voter, cmd.company, test.requested),
        request_seq=test.requested,
        not_before=test.draw_at,
        now=ctx.time,
        seq=ctx.seq,
    )
    if drawn is None:
        note = "no tree head was signed since the draw time; this entry makes one: send the draw command again"
        return Decision([], Consent.of(cmd.sender), {"drawn": False, "draw_at": test.draw_at, "note": note})
    decision = _test_drawn(ctx, cmd.voter, cmd.company, drawn.seed, Consent.of(cmd.sender))
    decision.result = {"drawn": True, **decision.result, "seed": drawn.seed.hex()}
    return decision


@projects(ev.TestRequested)
def _test_requested(e: ev.TestRequested, uow: UnitOfWork, pctx: ProjectionContext) -> None:
    key = test_key(e.voter, e.company)
    old = TESTS.get(uow, key)
    passed_at, failed_at = (old.passed_at, old.failed_at) if old else (None, None)
    TESTS.put(uow, key, Test(passed_at, failed_at, None, pctx.time, draw_at=e.draw_at, requested=pctx.seq))


@projects(ev.TestStarted)
def _test_started(e: ev.TestStarted, uow: UnitOfWork, pctx: ProjectionContext) -> None:
    key = test_key(e.voter, e.company)
    old = TESTS.get(uow, key)
    passed_at, failed_at = (old.passed_at, old.failed_at) if old else (None, None)
    TESTS.put(uow, key, Test(passed_at, failed_at, open=e.questions, started_at=pctx.time))


@handles(cmds.AnswerTest)
def answer_test(cmd: cmds.AnswerTest, ctx: Context) -> Decision:
    require_voter(ctx.uow, cmd.voter)
    require_company(ctx.uow, cmd.company)
    test = test_of(ctx.uow, cmd.voter, cmd.company)
    if not test or not test.open:
        raise RuleViolationError("no test is open for this voter and company; start one first", rule="GR3")
    questions = []
    for number in test.open:
        q = question(ctx.uow, cmd.company, number)
        questions.append((q.digest, q.salt, len(q.choices)))
    correct = rules.grade(cmd.answers, questions)
    passed = correct >= ctx.policy.section(GearsPolicy).test_pass_mark
    event = ev.TestGraded(cmd.voter, cmd.company, correct, len(questions), passed)
    return Decision([event], Consent.of(cmd.voter), {"correct": correct, "asked": len(questions), "passed": passed})


@projects(ev.TestGraded)
def _test_graded(e: ev.TestGraded, uow: UnitOfWork, pctx: ProjectionContext) -> None:
    key = test_key(e.voter, e.company)
    test = must(TESTS, uow, key)  # graded only while open: TestStarted wrote it
    if e.passed:
        TESTS.put(uow, key, replace(test, open=None, passed_at=pctx.time))
    else:
        TESTS.put(uow, key, replace(test, open=None, failed_at=pctx.time))


# GR4 votes --------------------------------------------------------------------------------------


@handles(cmds.CastVote)
def cast_vote(cmd: cmds.CastVote, ctx: Context) -> Decision:
    value = rules.check_vote_value(cmd.value)
    policy = ctx.policy.section(GearsPolicy)
    require_voter(ctx.uow, cmd.voter)
    require_company(ctx.uow, cmd.company)
    cfg = config(ctx.uow, rule="GR4")
    test = test_of(ctx.uow, cmd.voter, cmd.company)
    if not rules.has_valid_pass(ctx.time, test.passed_at if test else None, policy.test_valid_for):
        raise RuleViolationError(
            f"a vote needs a test on this company passed within the last {policy.test_valid_for} s", rule="GR3"
        )
    current = vote_of(ctx.uow, cmd.company, cmd.voter)
    term = (current.cast_at, current.expires_at) if current else None
    cast_at, expires_at, change = rules.vote_term(ctx.time, term, policy.vote_term)
    if change and current is not None and current.value == value:
        raise RuleViolationError(f"the current vote is already {value:+d}", rule="GR4")
    previous = current.value if change and current is not None else None
    pay = _payments(ctx, cfg)
    pay.events.append(ev.VoteCast(cmd.voter, cmd.company, value, cast_at, expires_at, change, previous))
    rewarded = 0
    reason = f"vote reward {cmd.company}"
    if not change and policy.vote_reward > 0 and pay.fund_pay(cfg.ethicap, cmd.voter, policy.vote_reward, reason):
        rewarded = policy.vote_reward
    if not change or ctx.rules >= 2:  # IN2: from rule version 2 re-casts are reported too, as such
        passed_at = test.passed_at if test is not None and test.passed_at is not None else ctx.time
        facts: dict[str, hooks.Fact] = {
            "company": cmd.company,
            "value": value,
            "recast": change,
            "previous": current.value if current is not None else None,
            "seconds_since_test": ctx.time - passed_at,
            "term_start": cast_at,
            "term_end": expires_at,
        }
        pay.events.extend(_participation(ctx, "gears.vote", cmd.voter, f"{cmd.company}", **facts))
    result = {
        "value": value,
        "change": change,
        "expires_at": expires_at,
        "reward_paid": rewarded,
        "reward_queued": 0 if change or rewarded else policy.vote_reward,
    }
    return Decision(pay.decision_events(), Consent.of(cmd.voter), result)


@projects(ev.VoteCast)
def _vote_cast(e: ev.VoteCast, uow: UnitOfWork, pctx: ProjectionContext) -> None:
    current = vote_of(uow, e.company, e.voter)
    if e.change and current is not None:
        segment = segment_key(e.company, e.voter, current.segment)
        old = VOTE_LOG.get(uow, segment)
        if old is not None:
            if old.start == pctx.time:
                VOTE_LOG.delete(uow, segment)
            else:
                VOTE_LOG.put(uow, segment, replace(old, until=pctx.time))
    VOTES.put(uow, vote_key(e.company, e.voter), Vote(e.value, e.cast_at, e.expires_at, segment=pctx.time))
    opened = VoteSegment(e.value, start=pctx.time, until=e.expires_at)
    VOTE_LOG.put(uow, segment_key(e.company, e.voter, pctx.time), opened)


# GR5 coefficients -------------------------------------------------------------------------------


@handles(cmds.PublishCoefficients)
def publish_coefficients(cmd: cmds.PublishCoefficients, ctx: Context) -> Decision:
    state.require_account(ctx.uow, cmd.publisher, rule="GR5")
    result = coefficients_at(ctx.uow, ctx.policy.section(GearsPolicy), ctx.time)
    version = latest_version(ctx.uow) + 1
    rows = {
        c: ev.CompanySnapshot(r.sales, r.votes, r.total, encode_ratio(r.delta)) for c, r in result.companies.items()
    }
    event = ev.CoefficientsPublished(version, ctx.time, encode_ratio(result.average), encode_ratio(result.scale), rows)
    return Decision([event], Consent.of(cmd.publisher), {"version": version, "companies": len(rows)})


@projects(ev.CoefficientsPublished)
def _coefficients_published(e: ev.CoefficientsPublished, uow: UnitOfWork, pctx: ProjectionContext) -> None:
    rows = {c: SnapshotRow(r.sales, r.votes, r.total, r.delta) for c, r in e.companies.items()}
    SNAPSHOTS.put(uow, snapshot_key(e.version), Snapshot(e.version, e.at, e.average, e.scale, rows))
    LATEST.put(uow, "latest", Latest(e.version, e.at))
    for company, row in rows.items():
        DELTAS.put(uow, company, Delta(row.delta, e.version))


# GR6, GR9-GR11 settlement -----------------------------------------------------------------------


@handles(cmds.SettleSale)
def settle_sale(cmd: cmds.SettleSale, ctx: Context) -> Decision:
    policy = ctx.policy.section(GearsPolicy)
    if isinstance(cmd.price, bool) or not isinstance(cmd.price, int) or cmd.price <= 0:
        raise InvalidInputError(f"a price is a positive whole number of minor units, not {cmd.price!r}", rule="GR6")
    led.check_memo(cmd.memo, rule="GR6")
    require_company(ctx.uow, cmd.company)
    if cmd.currency not in policy.currencies:
        raise RuleViolationError(
            f"sales are paid in {', '.join(policy.currencies)}; {cmd.currency} is not allowed", rule="GR11"
        )
    state.require_currency(ctx.uow, cmd.currency, rule="GR11")
    state.require_account(ctx.uow, cmd.buyer, rule="GR10")
    if cmd.buyer == cmd.company:
        raise InvalidInputError("a company cannot buy from itself", rule="GR6")
    cfg = config(ctx.uow)
    if cmd.buyer == cfg.fund or cmd.company == cfg.fund:
        raise InvalidInputError("the Common Good Fund takes no part in a sale", rule="GR6")
    delta = current_delta(ctx.uow, cmd.company)
    applied = coef.effective_delta(delta, policy.early_stage_waiver)
    pay = _payments(ctx, cfg)
    sale = f"{ctx.seq:012d}"
    pay.move(cmd.currency, cmd.buyer, cmd.company, cmd.price)
    received = cmd.price
    adjustment, accrued, period = 0, Fraction(0), -1
    if policy.mode is SettlementMode.IMMEDIATE:
        adjustment = coef.adjustment(cmd.price, applied)
        if adjustment < 0:
            pay.move(cmd.currency, cmd.company, cfg.fund, -adjustment)
            received += adjustment
        elif adjustment > 0 and pay.fund_pay(cmd.currency, cmd.company, adjustment, f"sale {sale}"):
            received += adjustment
    else:
        accrued = cmd.price * applied / 100
        period = (ctx.time - cfg.since) // policy.period
    settled = ev.SaleSettled(
        sale,
        cmd.buyer,
        cmd.company,
        cmd.currency,
        cmd.price,
        encode_ratio(applied),
        adjustment,
        encode_ratio(accrued),
        policy.mode,
        period,
        applied != delta,
    )
    pay.events.insert(0, settled)
    withheld = pay.withhold(cmd.company, cmd.currency, received)
    pay.release(cmd.currency)
    result = {
        "sale": sale,
        "delta": encode_ratio(applied),
        "buyer_pays": cmd.price,
        "seller_receives": received - withheld,
        "fund_pays": max(adjustment, 0),
        "fund_receives": max(-adjustment, 0),
        "withheld": withheld,
        "adjustment_waiting": adjustment > 0 and received == cmd.price,
    }
    return Decision(pay.decision_events(), Consent.of(cmd.buyer, cmd.company), result)


@projects(ev.SaleSettled)
def _sale_settled(e: ev.SaleSettled, uow: UnitOfWork, pctx: ProjectionContext) -> None:
    SALES.put(uow, f"{e.company}/{pctx.time:012d}/{e.sale}", Sale(e.price, e.currency))
    if e.mode is SettlementMode.DEFERRED:
        key = f"{period_key(e.currency, e.period)}/{e.company}"
        old = ACCRUALS.get(uow, key)
        total = (decode_ratio(old.accrued) if old else Fraction(0)) + decode_ratio(e.accrued)
        ACCRUALS.put(uow, key, Accrual(encode_ratio(total)))


@projects(ev.PayoutQueued)
def _payout_queued(e: ev.PayoutQueued, uow: UnitOfWork, pctx: ProjectionContext) -> None:
    PAYOUTS.put(uow, e.key, Payout(e.to, e.units, e.reason, pctx.time))


@projects(ev.PayoutReleased)
def _payout_released(e: ev.PayoutReleased, uow: UnitOfWork, pctx: ProjectionContext) -> None:
    PAYOUTS.delete(uow, e.key)


@projects(ev.DebtRecorded)
def _debt_recorded(e: ev.DebtRecorded, uow: UnitOfWork, pctx: ProjectionContext) -> None:
    DEBTS.put(uow, e.key, Debt(e.to, e.units, e.reason, pctx.time))


@projects(ev.DebtPaid)
def _debt_paid(e: ev.DebtPaid, uow: UnitOfWork, pctx: ProjectionContext) -> None:
    if e.remaining:
        DEBTS.put(uow, e.key, replace(must(DEBTS, uow, e.key), units=e.remaining))
    else:
        DEBTS.delete(uow, e.key)


@handles(cmds.ReleasePayouts)
def release_payouts(cmd: cmds.ReleasePayouts, ctx: Context) -> Decision:
    state.require_account(ctx.uow, cmd.caller, rule="GR6")
    pay = _payments(ctx, config(ctx.uow))
    released = pay.release(cmd.currency)
    if not released:
        raise RuleViolationError(f"no waiting {cmd.currency} payout fits the fund's balance yet", rule="GR6")
    return Decision(pay.decision_events(), Consent.of(cmd.caller), {"released": released})


@handles(cmds.ClosePeriod)
def close_period(cmd: cmds.ClosePeriod, ctx: Context) -> Decision:
    state.require_account(ctx.uow, cmd.closer, rule="GR6")
    cfg = config(ctx.uow)
    policy = ctx.policy.section(GearsPolicy)
    if cmd.period < 0:
        raise InvalidInputError("periods are numbered from 0", rule="GR6")
    state.require_currency(ctx.uow, cmd.currency, rule="GR11")
    ends = cfg.since + (cmd.period + 1) * policy.period
    if ctx.time < ends:
        raise RuleViolationError(f"period {cmd.period} ends at {ends}; it cannot be settled before", rule="GR6")
    if period_closed(ctx.uow, cmd.currency, cmd.period):
        raise RuleViolationError(f"period {cmd.period} in {cmd.currency} is already settled", rule="GR6")
    payouts, charges = coef.net_zero_period(accrued_in(ctx.uow, cmd.currency, cmd.period))
    pay = _payments(ctx, cfg)
    pay.events.append(ev.PeriodClosed(cmd.currency, cmd.period, payouts, charges))
    for company, units in charges.items():
        pay.charge(cmd.currency, AccountId(company), cfg.fund, units, f"period {cmd.period} {cmd.currency} charge")
    for company, units in payouts.items():
        pay.fund_pay(cmd.currency, AccountId(company), units, f"period {cmd.period}")
    pay.release(cmd.currency)
    result = {"payouts": payouts, "charges": charges, "net": sum(payouts.values()) - sum(charges.values())}
    return Decision(pay.decision_events(), Consent.of(cmd.closer), result)


@projects(ev.PeriodClosed)
def _period_closed(e: ev.PeriodClosed, uow: UnitOfWork, pctx: ProjectionContext) -> None:
    PERIODS.put(uow, period_key(e.currency, e.period), Period(e.payouts, e.charges, pctx.time))


# GR7, GR8 whistleblowing ------------------------------------------------------------------------


@handles(cmds.ChallengeStatement)
def challenge_statement(cmd: cmds.ChallengeStatement, ctx: Context) -> Decision:
    policy = ctx.policy.section(GearsPolicy)
    rules.check_reason(cmd.reason)
    require_voter(ctx.uow, cmd.whistleblower, rule="GR7")
    require_company(ctx.uow, cmd.company)
    failures = failures_of(ctx.uow, cmd.whistleblower)
    statement = statement_of(ctx.uow, cmd.company, cmd.index)
    if ctx.rules >= 2:
        return _challenge_v2(cmd, ctx, policy, failures, statement)
    rules.check_challenge_slots(ctx.time, failures, policy.failed_challenge_slots, policy.failed_challenge_recovery)
    if statement is None:
        raise NotFoundError(f"{cmd.company} has no statement {cmd.index}", rule="GR7")
    if statement.challenge:
        raise RuleViolationError(f"statement {cmd.index} is already under challenge {statement.challenge}", rule="GR7")
    return _open_challenge(cmd, ctx, policy, statement, [])


def _challenge_v2(
    cmd: cmds.ChallengeStatement, ctx: Context, policy: GearsPolicy, failures: list[int], statement: Statement | None
) -> Decision:
    """GR7 under rule version 2 (IN7): a challenge past its deadline no longer holds the statement.

    If the statement's last challenge passed its deadline unclosed, this entry closes it first, with
    the outcome it had at its deadline; then the new challenge opens. The whistleblower's undecided
    challenges hold GR8 slots as failures do.
    """
    if statement is None:
        raise NotFoundError(f"{cmd.company} has no statement {cmd.index}", rule="GR7")
    lapsed: tuple[str, Challenge] | None = None
    if statement.challenge:
        current = must(CHALLENGES, ctx.uow, statement.challenge)
        if current.status == "open" and ctx.time < current.closes_at:
            raise RuleViolationError(
                f"statement {cmd.index} is under challenge {statement.challenge} until {current.closes_at}", rule="GR7"
            )
        if current.status == "open":
            lapsed = (statement.challenge, current)
    undecided = [key for key, _ in open_challenges_by(ctx.uow, cmd.whistleblower)]
    if lapsed is None:
        rules.check_challenge_slots(
            ctx.time, failures, policy.failed_challenge_slots, policy.failed_challenge_recovery, len(undecided)
        )
        return _open_challenge(cmd, ctx, policy, statement, [])
    pay = _payments(ctx, config(ctx.uow, rule="GR7"))
    closed = _close(ctx, pay, lapsed[0], lapsed[1])
    if lapsed[1].whistleblower == cmd.whistleblower:
        undecided.remove(lapsed[0])
        if not closed["upheld"]:
            failures = [*failures, lapsed[1].closes_at]
    rules.check_challenge_slots(
        ctx.time, failures, policy.failed_challenge_slots, policy.failed_challenge_recovery, len(undecided)
    )
    decision = _open_challenge(cmd, ctx, policy, statement, pay.events)
    pay.events = list(decision.events)
    result = {**decision.result, "closed": {"challenge": lapsed[0], **closed}}
    return Decision(pay.decision_events(), decision.consent, result)


def _open_challenge(
    cmd: cmds.ChallengeStatement, ctx: Context, policy: GearsPolicy, statement: Statement, before: list[Event]
) -> Decision:
    challenge = f"ch{ctx.seq:010d}"
    closes_at = ctx.time + policy.challenge_window
    event = ev.ChallengeOpened(
        challenge,
        cmd.whistleblower,
        cmd.company,
        cmd.index,
        statement.version,
        cmd.claim,
        cmd.reason,
        closes_at,
    )
    reported = _participation(ctx, "gears.challenge", cmd.whistleblower, challenge, company=cmd.company)
    events: list[Event] = [*before, event, *reported]
    return Decision(events, Consent.of(cmd.whistleblower), {"challenge": challenge, "closes_at": closes_at})


@projects(ev.ChallengeOpened)
def _challenge_opened(e: ev.ChallengeOpened, uow: UnitOfWork, pctx: ProjectionContext) -> None:
    opened = Challenge(
        whistleblower=e.whistleblower,
        company=e.company,
        index=e.index,
        version=e.version,
        claim=e.claim,
        reason=e.reason,
        opened_at=pctx.time,
        closes_at=e.closes_at,
        tally={v.value: 0 for v in Verdict},
        status="open",
        outcome=None,
    )
    CHALLENGES.put(uow, e.challenge, opened)
    key = statement_key(e.company, e.index)
    STATEMENTS.put(uow, key, replace(must(STATEMENTS, uow, key), challenge=e.challenge))


@handles(cmds.JudgeChallenge)
def judge_challenge(cmd: cmds.JudgeChallenge, ctx: Context) -> Decision:
    challenge = open_challenge(ctx.uow, cmd.challenge)
    require_voter(ctx.uow, cmd.voter, rule="GR7")
    if ctx.time >= challenge.closes_at:
        raise RuleViolationError(f"judging of {cmd.challenge} closed at {challenge.closes_at}", rule="GR7")
    if cmd.voter == challenge.whistleblower:
        raise RuleViolationError("the whistleblower cannot judge their own challenge", rule="GR7")
    if has_judged(ctx.uow, cmd.challenge, cmd.voter):
        raise RuleViolationError(f"{cmd.voter} has already judged {cmd.challenge}", rule="GR7")
    events: list[Event] = [
        ev.ChallengeJudged(cmd.challenge, cmd.voter, cmd.verdict.value),
        *_participation(ctx, "gears.judgement", cmd.voter, cmd.challenge, company=challenge.company),
    ]
    return Decision(events, Consent.of(cmd.voter))


@projects(ev.ChallengeJudged)
def _challenge_judged(e: ev.ChallengeJudged, uow: UnitOfWork, pctx: ProjectionContext) -> None:
    JUDGEMENTS.put(uow, f"{e.challenge}/{e.voter}", Judgement(e.verdict, pctx.time))
    challenge = must(CHALLENGES, uow, e.challenge)
    tally = {**challenge.tally, e.verdict: challenge.tally.get(e.verdict, 0) + 1}
    CHALLENGES.put(uow, e.challenge, replace(challenge, tally=tally))


@handles(cmds.CloseChallenge)
def close_challenge(cmd: cmds.CloseChallenge, ctx: Context) -> Decision:
    challenge = open_challenge(ctx.uow, cmd.challenge)
    state.require_account(ctx.uow, cmd.closer, rule="GR7")
    if ctx.time < challenge.closes_at:
        raise RuleViolationError(f"judging of {cmd.challenge} is open until {challenge.closes_at}", rule="GR7")
    pay = _payments(ctx, config(ctx.uow, rule="GR7"))
    result = _close(ctx, pay, cmd.challenge, challenge)
    return Decision(pay.decision_events(), Consent.of(cmd.closer), result)


def _close(ctx: Context, pay: _Payments, key: str, challenge: Challenge) -> dict[str, object]:
    """Decide a challenge past its deadline (GR7, GR8); appends its events to ``pay``.

    Under rule version 1 it is decided as at the closing entry. From version 2 (IN7) it is decided
    as at its deadline, whenever anyone closes it: the policy (quorum, recovery) and the company's
    sales G_i of the last instant of judging (``closes_at - 1``, before any entry may close it),
    and a failure dated at the deadline, so that nobody gains by closing late or by choosing the
    moment. Without a quorum the outcome is "no-quorum": no penalty, and the whistleblower's GR8
    slot is used as for any unsuccessful challenge.
    """
    at, failed_at = ctx.time, None
    policy = ctx.policy.section(GearsPolicy)
    if ctx.rules >= 2:
        at, failed_at = challenge.closes_at - 1, challenge.closes_at
        policy = state.policy_at(ctx.uow, at).section(GearsPolicy)
    verdict = rules.verdict_of(challenge.tally, policy.challenge_quorum)
    upheld = verdict in (Verdict.MISLEADING, Verdict.FALSE)
    cfg = config(ctx.uow, rule="GR7")
    first = len(pay.events)
    penalty = paid = 0
    returns_at = None
    company, whistleblower = challenge.company, challenge.whistleblower
    if upheld and verdict is not None:
        joined = require_company(ctx.uow, company).joined_at
        penalty = coef.penalty(sales_at(ctx.uow, company, joined, at, policy), verdict)
        paid = pay.charge(cfg.ethicap, company, whistleblower, penalty, f"penalty {key}").paid
    else:
        returns_at = (failed_at if failed_at is not None else at) + policy.failed_challenge_recovery
    outcome = verdict.value if verdict is not None else "no-quorum"
    closed = ev.ChallengeClosed(key, outcome, upheld, penalty, paid, penalty - paid, returns_at, failed_at)
    pay.events.insert(first, closed)
    return {"outcome": outcome, "upheld": upheld, "penalty": penalty, "paid": paid, "owed": penalty - paid}


@projects(ev.ChallengeClosed)
def _challenge_closed(e: ev.ChallengeClosed, uow: UnitOfWork, pctx: ProjectionContext) -> None:
    challenge = replace(
        must(CHALLENGES, uow, e.challenge),
        status="closed",
        outcome=e.outcome,
        upheld=e.upheld,
        penalty=e.penalty,
        closed_at=pctx.time,
    )
    CHALLENGES.put(uow, e.challenge, challenge)
    key = statement_key(challenge.company, challenge.index)
    statement = STATEMENTS.get(uow, key)
    if statement is not None and statement.challenge == e.challenge:
        STATEMENTS.put(uow, key, replace(statement, challenge=None))
    if not e.upheld:
        failed_at = pctx.time if e.failed_at is None else e.failed_at
        failure = Failure(failed_at=failed_at, returns_at=e.slot_returns_at)
        FAILURES.put(uow, f"{challenge.whistleblower}/{pctx.time:012d}/{e.challenge}", failure)
