"""Gears handlers and projectors (GR1-GR11): companies, statements, tests, votes, coefficients,
settlement through the Common Good Fund, and whistleblowing.

State lives in records (namespaces below); every key that orders things zero-pads its numbers.
Money moves only through the ledger's ``UnitsTransferred`` events, all the legs of one settlement
in the same entry. The fund never goes below zero: a payout it cannot make now is queued
(``gears.payouts``, in order) and paid as soon as units arrive; what a company cannot pay is a debt
(``gears.debts``) withheld from its later sales.

    gears                 config, latest           the fund, the ethicap currency; latest snapshot
    gears.companies       <company>                joined_at, statements, questions
    gears.statements      <company>/<nn>           current version of statement nn, challenge if frozen
    gears.statement_log   <company>/<nn>/<vvvv>    every version
    gears.questions       <company>/<qqqq>         the question bank
    gears.tests           <voter>/<company>        open draw, last pass, last failure
    gears.votes           <company>/<voter>        current vote: value, cast_at, expires_at
    gears.vote_log        <company>/<voter>/<t>    vote segments [from, until) for any instant
    gears.sales           <company>/<t>/<sale>     settled sales, for G_i
    gears.snapshots       <vvvvvvvv>               published coefficients
    gears.deltas          <company>                the delta in force (latest snapshot)
    gears.payouts         <currency>/<seq>/<n>     the fund's waiting payouts, in order
    gears.debts           <company>/<seq>/<n>      what a company owes, withheld from later sales
    gears.accruals        <currency>/<period>/<c>  deferred p*delta/100 per company and period
    gears.periods         <currency>/<period>      closed deferred periods
    gears.challenges      <id>                     challenges and their tallies
    gears.judgements      <id>/<voter>             who judged what
    gears.failures        <voter>/<t>/<id>         unsuccessful challenges (GR8)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from civicledger.kernel import handlers as core
from civicledger.kernel import hooks, payments, state
from civicledger.kernel import ledger as led
from civicledger.kernel.errors import (
    IntegrityError,
    InvalidInputError,
    NotFoundError,
    RuleViolationError,
)
from civicledger.kernel.identity import Account, AccountId, AccountKind, Consent
from civicledger.kernel.messages import Event
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.ports import UnitOfWork
from civicledger.kernel.registry import Context, Decision, ProjectionContext, handles, projects
from civicledger.mechanisms.gears import coefficient as coef
from civicledger.mechanisms.gears import commands as cmds
from civicledger.mechanisms.gears import events as ev
from civicledger.mechanisms.gears import rules
from civicledger.mechanisms.gears.policy import GearsPolicy, SettlementMode
from civicledger.mechanisms.gears.values import Verdict, decode_ratio, encode_ratio

NS = "gears"
NS_COMPANIES = "gears.companies"
NS_STATEMENTS = "gears.statements"
NS_STATEMENT_LOG = "gears.statement_log"
NS_QUESTIONS = "gears.questions"
NS_TESTS = "gears.tests"
NS_VOTES = "gears.votes"
NS_VOTE_LOG = "gears.vote_log"
NS_SALES = "gears.sales"
NS_SNAPSHOTS = "gears.snapshots"
NS_DELTAS = "gears.deltas"
NS_PAYOUTS = "gears.payouts"
NS_DEBTS = "gears.debts"
NS_ACCRUALS = "gears.accruals"
NS_PERIODS = "gears.periods"
NS_CHALLENGES = "gears.challenges"
NS_JUDGEMENTS = "gears.judgements"
NS_FAILURES = "gears.failures"


# Reading state ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Config:
    fund: AccountId
    ethicap: CurrencyId
    since: int


def config(uow: UnitOfWork, rule: str = "GR6") -> Config:
    data = uow.records.get(NS, "config")
    if data is None:
        raise RuleViolationError("Gears is not set up yet: the council must name the fund and ethicap", rule=rule)
    return Config(AccountId(data["fund"]), CurrencyId(data["ethicap"]), int(data["since"]))


def require_company(uow: UnitOfWork, company: AccountId) -> dict[str, Any]:
    data = uow.records.get(NS_COMPANIES, company)
    if data is None:
        raise NotFoundError(f"{company} is not a company registered with Gears", rule="GR1")
    return data  # type: ignore[no-any-return]


def require_voter(uow: UnitOfWork, voter: AccountId, rule: str = "GR3") -> Account:
    account = uow.accounts.get(voter)
    if account is None:
        raise NotFoundError(f"no account {voter}", rule=rule)
    if account.kind is not AccountKind.PERSON or not account.verified:
        raise RuleViolationError(f"{voter} is not a verified person; only verified persons vote", rule=rule)
    return account


def _must(uow: UnitOfWork, ns: str, key: str) -> dict[str, Any]:
    """A record the journal's order guarantees exists (projectors, drawn questions)."""
    data = uow.records.get(ns, key)
    if not isinstance(data, dict):
        raise IntegrityError(f"record {ns}/{key} is missing", rule="X2")
    return data


def current_delta(uow: UnitOfWork, company: AccountId) -> Fraction:
    data = uow.records.get(NS_DELTAS, company)
    return Fraction(0) if data is None else decode_ratio(data["delta"])


def tallies_at(uow: UnitOfWork, at: int) -> dict[str, coef.Tally]:
    """Every company's current votes at ``at``, from the vote segments (GR4, GR5)."""
    tallies: dict[str, coef.Tally] = {}
    for key, seg in uow.records.scan(NS_VOTE_LOG):
        if seg["from"] <= at < seg["until"]:
            company = key.split("/", 1)[0]
            tallies[company] = tallies.get(company, coef.Tally()).add(int(seg["value"]))
    return tallies


def sales_at(uow: UnitOfWork, company: str, joined_at: int, at: int, policy: GearsPolicy) -> int:
    """G_i at ``at`` (GR1)."""
    rows = ((int(key.split("/")[1]), int(v["units"])) for key, v in uow.records.scan(NS_SALES, f"{company}/"))
    return coef.annual_sales(rows, joined_at, at, policy.annualise_min_age)


def coefficients_at(uow: UnitOfWork, policy: GearsPolicy, at: int) -> coef.Coefficients:
    """Recompute every company's V_i, G_i and delta_i at any instant (GR5)."""
    companies = {key: int(v["joined_at"]) for key, v in uow.records.scan(NS_COMPANIES) if int(v["joined_at"]) <= at}
    tallies = {c: t for c, t in tallies_at(uow, at).items() if c in companies}
    sales = {c: sales_at(uow, c, joined, at, policy) for c, joined in companies.items()}
    return coef.coefficients(tallies, sales, policy.k, policy.clamp)


def pending_payouts(uow: UnitOfWork, currency: str) -> list[tuple[str, dict[str, Any]]]:
    return list(uow.records.scan(NS_PAYOUTS, f"{currency}/"))


def debts_of(uow: UnitOfWork, company: str) -> list[tuple[str, dict[str, Any]]]:
    return list(uow.records.scan(NS_DEBTS, f"{company}/"))


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
        """Pay from the fund now if nothing waits before it and the balance allows; else queue it."""
        if units <= 0:
            return True
        waiting = [k for k, _ in pending_payouts(self.uow, currency) if k not in self.released]
        if not waiting and not self.queued.get(currency) and self.balance(self.fund, currency) >= units:
            self.move(currency, self.fund, to, units)
            return True
        key = f"{currency}/{self.key()}"
        self.queued.setdefault(currency, []).append((key, to, units))
        self.events.append(ev.PayoutQueued(key, currency, to, units, reason))
        return False

    def release(self, currency: CurrencyId) -> int:
        """Pay waiting payouts in order while the fund's balance covers the next one (GR6)."""
        stored = [(k, AccountId(v["to"]), int(v["units"])) for k, v in pending_payouts(self.uow, currency)]
        waiting = [p for p in stored + self.queued.get(currency, []) if p[0] not in self.released]
        paid, _ = coef.release_in_order(self.balance(self.fund, currency), [(k, u) for k, _, u in waiting])
        for key, to, units in waiting[: len(paid)]:
            self.move(currency, self.fund, to, units)
            self.released.add(key)
            self.events.append(ev.PayoutReleased(key, currency, to, units))
        return len(paid)

    def withhold(self, company: AccountId, currency: CurrencyId, available: int) -> int:
        """Withhold the company's debts, oldest first, from ``available`` units it just received (GR7)."""
        withheld = 0
        for key, debt in debts_of(self.uow, company):
            room = available - withheld
            if room <= 0:
                break
            units = min(int(debt["units"]), room)
            to = AccountId(debt["to"])
            self.move(currency, company, to, units)
            withheld += units
            self.events.append(ev.DebtPaid(key, company, to, currency, units, int(debt["units"]) - units))
        return withheld

    def decision_events(self) -> list[Event]:
        """Gears events, then the ledger's transfers, checked once more by the ledger's own rules."""
        if not self.book.legs:
            return list(self.events)
        return [*self.events, *self.book.transfers()]


def _payments(ctx: Context, cfg: Config) -> _Payments:
    return _Payments(ctx.uow, ctx.seq, ctx.time, cfg.fund)


def _participation(kind: str, person: AccountId, time: int, reference: str) -> list[Event]:
    """X8: votes, judgements and challenges count as civic participation where a mechanism listens."""
    events: list[Event] = []
    for hook in hooks.PARTICIPATION.each():
        events.extend(hook(kind, person, time, reference))
    return events


# Setup and companies ----------------------------------------------------------------------------


@handles(cmds.SetupGears)
def setup(cmd: cmds.SetupGears, ctx: Context) -> Decision:
    if ctx.uow.records.get(NS, "config") is not None:
        raise RuleViolationError("Gears is already set up", rule="GR6")
    fund = state.require_account(ctx.uow, cmd.fund, rule="GR6")
    if fund.kind is not AccountKind.FUND:
        raise RuleViolationError(f"the Common Good Fund must be a fund account, not a {fund.kind.value}", rule="GR6")
    state.require_currency(ctx.uow, cmd.ethicap, rule="GR11")
    consent = Consent(all_of=frozenset({cmd.fund}), quorums=core.governing_consent(ctx).quorums)
    return Decision([ev.GearsConfigured(cmd.fund, cmd.ethicap)], consent)


@projects(ev.GearsConfigured)
def _configured(e: ev.GearsConfigured, uow: UnitOfWork, pctx: ProjectionContext) -> None:
    uow.records.put(NS, "config", {"fund": e.fund, "ethicap": e.ethicap, "since": pctx.time})


@handles(cmds.RegisterCompany)
def register_company(cmd: cmds.RegisterCompany, ctx: Context) -> Decision:
    account = state.require_account(ctx.uow, cmd.company, rule="GR1")
    if account.kind is not AccountKind.ORGANIZATION:
        raise RuleViolationError(
            f"only organization accounts register as companies, not a {account.kind.value}", rule="GR1"
        )
    if ctx.uow.records.get(NS_COMPANIES, cmd.company) is not None:
        raise RuleViolationError(f"{cmd.company} is already registered", rule="GR1")
    return Decision([ev.CompanyRegistered(cmd.company)], Consent.of(cmd.company), {"company": cmd.company})


@projects(ev.CompanyRegistered)
def _company_registered(e: ev.CompanyRegistered, uow: UnitOfWork, pctx: ProjectionContext) -> None:
    uow.records.put(NS_COMPANIES, e.company, {"joined_at": pctx.time, "statements": 0, "questions": 0})


# GR2 statements ---------------------------------------------------------------------------------


@handles(cmds.PublishStatement)
def publish_statement(cmd: cmds.PublishStatement, ctx: Context) -> Decision:
    company = require_company(ctx.uow, cmd.company)
    common = ctx.policy.section(GearsPolicy).common_questions
    current = ctx.uow.records.get(NS_STATEMENTS, f"{cmd.company}/{cmd.index:02d}") if 1 <= cmd.index <= 99 else None
    frozen = bool(current and current.get("challenge"))
    rules.check_statement(cmd.index, cmd.text, int(company["statements"]), len(common), frozen)
    version = int(current["version"]) + 1 if current else 1
    question = common[cmd.index - 1] if cmd.index <= len(common) else ""
    event = ev.StatementPublished(cmd.company, cmd.index, version, cmd.text, question)
    return Decision([event], Consent.of(cmd.company), {"index": cmd.index, "version": version})


@projects(ev.StatementPublished)
def _statement_published(e: ev.StatementPublished, uow: UnitOfWork, pctx: ProjectionContext) -> None:
    record = {"version": e.version, "text": e.text, "question": e.question, "at": pctx.time, "challenge": None}
    uow.records.put(NS_STATEMENTS, f"{e.company}/{e.index:02d}", record)
    uow.records.put(NS_STATEMENT_LOG, f"{e.company}/{e.index:02d}/{e.version:04d}", {"text": e.text, "at": pctx.time})
    company = _must(uow, NS_COMPANIES, e.company)
    company["statements"] = max(int(company["statements"]), e.index)
    uow.records.put(NS_COMPANIES, e.company, company)


# GR3 question bank and test ---------------------------------------------------------------------


@handles(cmds.AddQuestion)
def add_question(cmd: cmds.AddQuestion, ctx: Context) -> Decision:
    company = require_company(ctx.uow, cmd.company)
    rules.check_question(cmd.text, cmd.choices, cmd.answer_digest, cmd.salt)
    if int(company["questions"]) >= 200:
        raise RuleViolationError("a question bank holds at most 200 questions", rule="GR3")
    number = int(company["questions"]) + 1
    event = ev.QuestionAdded(cmd.company, number, cmd.text, cmd.choices, cmd.answer_digest, cmd.salt)
    return Decision([event], Consent.of(cmd.company), {"question": number})


@projects(ev.QuestionAdded)
def _question_added(e: ev.QuestionAdded, uow: UnitOfWork, pctx: ProjectionContext) -> None:
    record = {"text": e.text, "choices": list(e.choices), "digest": e.answer_digest, "salt": e.salt}
    uow.records.put(NS_QUESTIONS, f"{e.company}/{e.question:04d}", record)
    company = _must(uow, NS_COMPANIES, e.company)
    company["questions"] = max(int(company["questions"]), e.question)
    uow.records.put(NS_COMPANIES, e.company, company)


@handles(cmds.StartTest)
def start_test(cmd: cmds.StartTest, ctx: Context) -> Decision:
    require_voter(ctx.uow, cmd.voter)
    require_company(ctx.uow, cmd.company)
    rules.check_can_start_test(
        ctx.time,
        ctx.uow.records.get(NS_TESTS, f"{cmd.voter}/{cmd.company}"),
        ctx.policy.section(GearsPolicy).test_retry_delay,
    )
    bank = [int(key.split("/")[1]) for key, _ in ctx.uow.records.scan(NS_QUESTIONS, f"{cmd.company}/")]
    seed = rules.draw_seed(ctx.uow.journal.head().frontier.root(), cmd.voter, cmd.company)
    drawn = rules.draw_questions(seed, bank, ctx.policy.section(GearsPolicy).test_questions)
    shown = []
    for number in drawn:
        q = _must(ctx.uow, NS_QUESTIONS, f"{cmd.company}/{number:04d}")
        shown.append({"question": number, "text": q["text"], "choices": q["choices"]})
    event = ev.TestStarted(cmd.voter, cmd.company, drawn, seed.hex())
    return Decision([event], Consent.of(cmd.voter), {"questions": shown})


@projects(ev.TestStarted)
def _test_started(e: ev.TestStarted, uow: UnitOfWork, pctx: ProjectionContext) -> None:
    key = f"{e.voter}/{e.company}"
    record = uow.records.get(NS_TESTS, key) or {"passed_at": None, "failed_at": None}
    record.update({"open": list(e.questions), "started_at": pctx.time})
    uow.records.put(NS_TESTS, key, record)


@handles(cmds.AnswerTest)
def answer_test(cmd: cmds.AnswerTest, ctx: Context) -> Decision:
    require_voter(ctx.uow, cmd.voter)
    require_company(ctx.uow, cmd.company)
    test = ctx.uow.records.get(NS_TESTS, f"{cmd.voter}/{cmd.company}")
    if not test or not test.get("open"):
        raise RuleViolationError("no test is open for this voter and company; start one first", rule="GR3")
    questions = []
    for number in test["open"]:
        q = _must(ctx.uow, NS_QUESTIONS, f"{cmd.company}/{int(number):04d}")
        questions.append((q["digest"], q["salt"], len(q["choices"])))
    correct = rules.grade(cmd.answers, questions)
    passed = correct >= ctx.policy.section(GearsPolicy).test_pass_mark
    event = ev.TestGraded(cmd.voter, cmd.company, correct, len(questions), passed)
    return Decision([event], Consent.of(cmd.voter), {"correct": correct, "asked": len(questions), "passed": passed})


@projects(ev.TestGraded)
def _test_graded(e: ev.TestGraded, uow: UnitOfWork, pctx: ProjectionContext) -> None:
    key = f"{e.voter}/{e.company}"
    record = uow.records.get(NS_TESTS, key) or {}
    record["open"] = None
    record["passed_at" if e.passed else "failed_at"] = pctx.time
    uow.records.put(NS_TESTS, key, record)


# GR4 votes --------------------------------------------------------------------------------------


@handles(cmds.CastVote)
def cast_vote(cmd: cmds.CastVote, ctx: Context) -> Decision:
    value = rules.check_vote_value(cmd.value)
    policy = ctx.policy.section(GearsPolicy)
    require_voter(ctx.uow, cmd.voter)
    require_company(ctx.uow, cmd.company)
    cfg = config(ctx.uow, rule="GR4")
    if not rules.has_valid_pass(
        ctx.time, ctx.uow.records.get(NS_TESTS, f"{cmd.voter}/{cmd.company}"), policy.test_valid_for
    ):
        raise RuleViolationError(
            f"a vote needs a test on this company passed within the last {policy.test_valid_for} s", rule="GR3"
        )
    current = ctx.uow.records.get(NS_VOTES, f"{cmd.company}/{cmd.voter}")
    cast_at, expires_at, change = rules.vote_term(ctx.time, current, policy.vote_term)
    if change and current is not None and int(current["value"]) == value:
        raise RuleViolationError(f"the current vote is already {value:+d}", rule="GR4")
    previous = int(current["value"]) if change and current is not None else None
    pay = _payments(ctx, cfg)
    pay.events.append(ev.VoteCast(cmd.voter, cmd.company, value, cast_at, expires_at, change, previous))
    rewarded = 0
    reason = f"vote reward {cmd.company}"
    if not change and policy.vote_reward > 0 and pay.fund_pay(cfg.ethicap, cmd.voter, policy.vote_reward, reason):
        rewarded = policy.vote_reward
    if not change:
        pay.events.extend(_participation("gears.vote", cmd.voter, ctx.time, f"{cmd.company}"))
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
    key = f"{e.company}/{e.voter}"
    current = uow.records.get(NS_VOTES, key)
    if e.change and current is not None:
        segment = f"{key}/{int(current['segment']):012d}"
        old = uow.records.get(NS_VOTE_LOG, segment)
        if old is not None:
            if int(old["from"]) == pctx.time:
                uow.records.delete(NS_VOTE_LOG, segment)
            else:
                old["until"] = pctx.time
                uow.records.put(NS_VOTE_LOG, segment, old)
    record = {"value": e.value, "cast_at": e.cast_at, "expires_at": e.expires_at, "segment": pctx.time}
    uow.records.put(NS_VOTES, key, record)
    opened = {"value": e.value, "from": pctx.time, "until": e.expires_at}
    uow.records.put(NS_VOTE_LOG, f"{key}/{pctx.time:012d}", opened)


# GR5 coefficients -------------------------------------------------------------------------------


@handles(cmds.PublishCoefficients)
def publish_coefficients(cmd: cmds.PublishCoefficients, ctx: Context) -> Decision:
    state.require_account(ctx.uow, cmd.publisher, rule="GR5")
    result = coefficients_at(ctx.uow, ctx.policy.section(GearsPolicy), ctx.time)
    latest = ctx.uow.records.get(NS, "latest")
    version = (int(latest["version"]) if latest else 0) + 1
    rows = {
        c: ev.CompanySnapshot(r.sales, r.votes, r.total, encode_ratio(r.delta)) for c, r in result.companies.items()
    }
    event = ev.CoefficientsPublished(version, ctx.time, encode_ratio(result.average), encode_ratio(result.scale), rows)
    return Decision([event], Consent.of(cmd.publisher), {"version": version, "companies": len(rows)})


@projects(ev.CoefficientsPublished)
def _coefficients_published(e: ev.CoefficientsPublished, uow: UnitOfWork, pctx: ProjectionContext) -> None:
    rows = {c: {"sales": r.sales, "votes": r.votes, "total": r.total, "delta": r.delta} for c, r in e.companies.items()}
    uow.records.put(
        NS_SNAPSHOTS,
        f"{e.version:08d}",
        {"version": e.version, "at": e.at, "average": e.average, "scale": e.scale, "companies": rows},
    )
    uow.records.put(NS, "latest", {"version": e.version, "at": e.at})
    for company, row in rows.items():
        uow.records.put(NS_DELTAS, company, {"delta": row["delta"], "version": e.version})


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
    uow.records.put(NS_SALES, f"{e.company}/{pctx.time:012d}/{e.sale}", {"units": e.price, "currency": e.currency})
    if e.mode is SettlementMode.DEFERRED:
        key = f"{e.currency}/{e.period:08d}/{e.company}"
        old = uow.records.get(NS_ACCRUALS, key)
        total = (decode_ratio(old["accrued"]) if old else Fraction(0)) + decode_ratio(e.accrued)
        uow.records.put(NS_ACCRUALS, key, {"accrued": encode_ratio(total)})


@projects(ev.PayoutQueued)
def _payout_queued(e: ev.PayoutQueued, uow: UnitOfWork, pctx: ProjectionContext) -> None:
    uow.records.put(NS_PAYOUTS, e.key, {"to": e.to, "units": e.units, "reason": e.reason, "at": pctx.time})


@projects(ev.PayoutReleased)
def _payout_released(e: ev.PayoutReleased, uow: UnitOfWork, pctx: ProjectionContext) -> None:
    uow.records.delete(NS_PAYOUTS, e.key)


@projects(ev.DebtRecorded)
def _debt_recorded(e: ev.DebtRecorded, uow: UnitOfWork, pctx: ProjectionContext) -> None:
    uow.records.put(NS_DEBTS, e.key, {"to": e.to, "units": e.units, "reason": e.reason, "at": pctx.time})


@projects(ev.DebtPaid)
def _debt_paid(e: ev.DebtPaid, uow: UnitOfWork, pctx: ProjectionContext) -> None:
    if e.remaining:
        record = _must(uow, NS_DEBTS, e.key)
        record["units"] = e.remaining
        uow.records.put(NS_DEBTS, e.key, record)
    else:
        uow.records.delete(NS_DEBTS, e.key)


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
    if ctx.uow.records.get(NS_PERIODS, f"{cmd.currency}/{cmd.period:08d}") is not None:
        raise RuleViolationError(f"period {cmd.period} in {cmd.currency} is already settled", rule="GR6")
    prefix = f"{cmd.currency}/{cmd.period:08d}/"
    accrued = {key[len(prefix) :]: decode_ratio(v["accrued"]) for key, v in ctx.uow.records.scan(NS_ACCRUALS, prefix)}
    payouts, charges = coef.net_zero_period(accrued)
    pay = _payments(ctx, cfg)
    pay.events.append(ev.PeriodClosed(cmd.currency, cmd.period, payouts, charges))
    for company, units in charges.items():
        paid = min(units, pay.balance(AccountId(company), cmd.currency))
        pay.move(cmd.currency, AccountId(company), cfg.fund, paid)
        if units > paid:
            key = f"{company}/{pay.key()}"
            reason = f"period {cmd.period} {cmd.currency} charge"
            pay.events.append(ev.DebtRecorded(key, AccountId(company), cfg.fund, units - paid, reason))
    for company, units in payouts.items():
        pay.fund_pay(cmd.currency, AccountId(company), units, f"period {cmd.period}")
    pay.release(cmd.currency)
    result = {"payouts": payouts, "charges": charges, "net": sum(payouts.values()) - sum(charges.values())}
    return Decision(pay.decision_events(), Consent.of(cmd.closer), result)


@projects(ev.PeriodClosed)
def _period_closed(e: ev.PeriodClosed, uow: UnitOfWork, pctx: ProjectionContext) -> None:
    uow.records.put(
        NS_PERIODS, f"{e.currency}/{e.period:08d}", {"payouts": e.payouts, "charges": e.charges, "at": pctx.time}
    )


# GR7, GR8 whistleblowing ------------------------------------------------------------------------


def _failures(uow: UnitOfWork, voter: str) -> list[int]:
    return [int(v["failed_at"]) for _, v in uow.records.scan(NS_FAILURES, f"{voter}/")]


@handles(cmds.ChallengeStatement)
def challenge_statement(cmd: cmds.ChallengeStatement, ctx: Context) -> Decision:
    policy = ctx.policy.section(GearsPolicy)
    rules.check_reason(cmd.reason)
    require_voter(ctx.uow, cmd.whistleblower, rule="GR7")
    require_company(ctx.uow, cmd.company)
    rules.check_challenge_slots(
        ctx.time, _failures(ctx.uow, cmd.whistleblower), policy.failed_challenge_slots, policy.failed_challenge_recovery
    )
    statement = ctx.uow.records.get(NS_STATEMENTS, f"{cmd.company}/{cmd.index:02d}") if 1 <= cmd.index <= 99 else None
    if statement is None:
        raise NotFoundError(f"{cmd.company} has no statement {cmd.index}", rule="GR7")
    if statement.get("challenge"):
        raise RuleViolationError(
            f"statement {cmd.index} is already under challenge {statement['challenge']}", rule="GR7"
        )
    challenge = f"ch{ctx.seq:010d}"
    closes_at = ctx.time + policy.challenge_window
    event = ev.ChallengeOpened(
        challenge,
        cmd.whistleblower,
        cmd.company,
        cmd.index,
        int(statement["version"]),
        cmd.claim,
        cmd.reason,
        closes_at,
    )
    events: list[Event] = [event, *_participation("gears.challenge", cmd.whistleblower, ctx.time, challenge)]
    return Decision(events, Consent.of(cmd.whistleblower), {"challenge": challenge, "closes_at": closes_at})


@projects(ev.ChallengeOpened)
def _challenge_opened(e: ev.ChallengeOpened, uow: UnitOfWork, pctx: ProjectionContext) -> None:
    uow.records.put(
        NS_CHALLENGES,
        e.challenge,
        {
            "whistleblower": e.whistleblower,
            "company": e.company,
            "index": e.index,
            "version": e.version,
            "claim": e.claim.value,
            "reason": e.reason,
            "opened_at": pctx.time,
            "closes_at": e.closes_at,
            "tally": {v.value: 0 for v in Verdict},
            "status": "open",
            "outcome": None,
        },
    )
    key = f"{e.company}/{e.index:02d}"
    statement = _must(uow, NS_STATEMENTS, key)
    statement["challenge"] = e.challenge
    uow.records.put(NS_STATEMENTS, key, statement)


def _require_challenge(uow: UnitOfWork, challenge: str) -> dict[str, Any]:
    data = uow.records.get(NS_CHALLENGES, challenge) if isinstance(challenge, str) and challenge else None
    if data is None:
        raise NotFoundError(f"no challenge {challenge!r}", rule="GR7")
    if data["status"] != "open":
        raise RuleViolationError(f"challenge {challenge} is already decided", rule="GR7")
    return data  # type: ignore[no-any-return]


@handles(cmds.JudgeChallenge)
def judge_challenge(cmd: cmds.JudgeChallenge, ctx: Context) -> Decision:
    data = _require_challenge(ctx.uow, cmd.challenge)
    require_voter(ctx.uow, cmd.voter, rule="GR7")
    if ctx.time >= int(data["closes_at"]):
        raise RuleViolationError(f"judging of {cmd.challenge} closed at {data['closes_at']}", rule="GR7")
    if cmd.voter == data["whistleblower"]:
        raise RuleViolationError("the whistleblower cannot judge their own challenge", rule="GR7")
    if ctx.uow.records.get(NS_JUDGEMENTS, f"{cmd.challenge}/{cmd.voter}") is not None:
        raise RuleViolationError(f"{cmd.voter} has already judged {cmd.challenge}", rule="GR7")
    events: list[Event] = [
        ev.ChallengeJudged(cmd.challenge, cmd.voter, cmd.verdict.value),
        *_participation("gears.judgement", cmd.voter, ctx.time, cmd.challenge),
    ]
    return Decision(events, Consent.of(cmd.voter))


@projects(ev.ChallengeJudged)
def _challenge_judged(e: ev.ChallengeJudged, uow: UnitOfWork, pctx: ProjectionContext) -> None:
    uow.records.put(NS_JUDGEMENTS, f"{e.challenge}/{e.voter}", {"verdict": e.verdict, "at": pctx.time})
    data = _must(uow, NS_CHALLENGES, e.challenge)
    data["tally"][e.verdict] = int(data["tally"].get(e.verdict, 0)) + 1
    uow.records.put(NS_CHALLENGES, e.challenge, data)


@handles(cmds.CloseChallenge)
def close_challenge(cmd: cmds.CloseChallenge, ctx: Context) -> Decision:
    data = _require_challenge(ctx.uow, cmd.challenge)
    state.require_account(ctx.uow, cmd.closer, rule="GR7")
    policy = ctx.policy.section(GearsPolicy)
    if ctx.time < int(data["closes_at"]):
        raise RuleViolationError(f"judging of {cmd.challenge} is open until {data['closes_at']}", rule="GR7")
    verdict = rules.verdict_of(data["tally"], policy.challenge_quorum)
    upheld = verdict in (Verdict.MISLEADING, Verdict.FALSE)
    cfg = config(ctx.uow, rule="GR7")
    pay = _payments(ctx, cfg)
    penalty = paid = 0
    returns_at = None
    company = AccountId(data["company"])
    whistleblower = AccountId(data["whistleblower"])
    if upheld and verdict is not None:
        joined = int(require_company(ctx.uow, company)["joined_at"])
        penalty = coef.penalty(sales_at(ctx.uow, company, joined, ctx.time, policy), verdict)
        paid = min(penalty, pay.balance(company, cfg.ethicap))
        pay.move(cfg.ethicap, company, whistleblower, paid)
        if penalty > paid:
            key = f"{company}/{pay.key()}"
            pay.events.append(ev.DebtRecorded(key, company, whistleblower, penalty - paid, f"penalty {cmd.challenge}"))
    else:
        returns_at = ctx.time + policy.failed_challenge_recovery
    outcome = verdict.value if verdict is not None else "no-quorum"
    closed = ev.ChallengeClosed(cmd.challenge, outcome, upheld, penalty, paid, penalty - paid, returns_at)
    pay.events.insert(0, closed)
    result = {"outcome": outcome, "upheld": upheld, "penalty": penalty, "paid": paid, "owed": penalty - paid}
    return Decision(pay.decision_events(), Consent.of(cmd.closer), result)


@projects(ev.ChallengeClosed)
def _challenge_closed(e: ev.ChallengeClosed, uow: UnitOfWork, pctx: ProjectionContext) -> None:
    data = _must(uow, NS_CHALLENGES, e.challenge)
    data.update(
        {"status": "closed", "outcome": e.outcome, "upheld": e.upheld, "penalty": e.penalty, "closed_at": pctx.time}
    )
    uow.records.put(NS_CHALLENGES, e.challenge, data)
    key = f"{data['company']}/{int(data['index']):02d}"
    statement = uow.records.get(NS_STATEMENTS, key)
    if statement is not None and statement.get("challenge") == e.challenge:
        statement["challenge"] = None
        uow.records.put(NS_STATEMENTS, key, statement)
    if not e.upheld:
        uow.records.put(
            NS_FAILURES,
            f"{data['whistleblower']}/{pctx.time:012d}/{e.challenge}",
            {"failed_at": pctx.time, "returns_at": e.slot_returns_at},
        )


# Queries ----------------------------------------------------------------------------------------


def snapshots(uow: UnitOfWork) -> Iterator[dict[str, Any]]:
    for _, value in uow.records.scan(NS_SNAPSHOTS):
        yield value


def fund_position(uow: UnitOfWork, policy: GearsPolicy) -> dict[str, Any]:
    """The fund's balance, waiting payouts and debts owed to it, per allowed currency."""
    cfg = config(uow)
    currencies = sorted({*policy.currencies, cfg.ethicap})
    position: dict[str, Any] = {"fund": cfg.fund, "ethicap": cfg.ethicap, "currencies": {}}
    debts_to_fund = sum(int(v["units"]) for _, v in uow.records.scan(NS_DEBTS) if v["to"] == cfg.fund)
    for c in currencies:
        waiting = pending_payouts(uow, c)
        position["currencies"][c] = {
            "balance": uow.ledger.balance(cfg.fund, CurrencyId(c)),
            "waiting_payouts": len(waiting),
            "waiting_units": sum(int(v["units"]) for _, v in waiting),
        }
    position["debts_owed_to_fund"] = debts_to_fund
    return position
