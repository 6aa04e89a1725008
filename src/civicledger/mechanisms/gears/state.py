"""Gears state: the record each namespace holds, and the reads handlers, queries and the CLI share.

Every namespace holds one record type and its ``Namespace`` is the only place that record is
encoded or decoded. The JSON is exactly what Gears has always stored (the state digest of every
existing database depends on it); every key that orders things zero-pads its numbers.

    gears                 config, latest           the fund, the ethicap currency; latest snapshot
    gears.companies       <company>                joined_at, statements, questions
    gears.statements      <company>/<nn>           current version of statement nn, challenge if frozen
    gears.statement_log   <company>/<nn>/<vvvv>    every version
    gears.questions       <company>/<qqqq>         the company's own questions, with their review
    gears.bank            <nnnnnn>                 the council's questions, per sector or general
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

Ratios are stored as exact 'n/d' strings (``values.encode_ratio``), never floats.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal, TypeVar

from civicledger.kernel.errors import IntegrityError, NotFoundError, RuleViolationError
from civicledger.kernel.identity import Account, AccountId, AccountKind
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.ports import UnitOfWork
from civicledger.kernel.records import Namespace, omitted_when_default, stored_as
from civicledger.mechanisms.gears import coefficient as coef
from civicledger.mechanisms.gears import rules
from civicledger.mechanisms.gears.policy import GearsPolicy
from civicledger.mechanisms.gears.values import BANK_QUESTION_BASE, Claim, decode_ratio

R = TypeVar("R")

# Records ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Config:
    """``gears/config``: the Common Good Fund, the ethicap currency, and when Gears was set up."""

    fund: AccountId
    ethicap: CurrencyId
    since: int


@dataclass(frozen=True, slots=True)
class Latest:
    """``gears/latest``: the latest published snapshot."""

    version: int
    at: int


@dataclass(frozen=True, slots=True)
class Company:
    """A registered company (GR1): when it joined, how many statements and questions it has, and
    its sector (IN3; stored only when not "")."""

    joined_at: int
    statements: int
    questions: int
    sector: str = omitted_when_default("")


@dataclass(frozen=True, slots=True)
class Statement:
    """The current version of a statement (GR2); ``challenge`` names the challenge freezing it (GR7)."""

    version: int
    text: str
    question: str  # the common question it answers, or ""
    at: int
    challenge: str | None = None  # always stored, null when not under challenge


@dataclass(frozen=True, slots=True)
class StatementVersion:
    """One version of a statement, kept forever (GR2)."""

    text: str
    at: int


@dataclass(frozen=True, slots=True)
class Question:
    """A question of a company's bank (GR3); the answer is a salted digest.

    From rule version 2 (IN3, IN7) a company's question waits for the council's review until
    ``review_by``; ``approved`` is None while unreviewed, then True or False. Both are stored only
    when set, as questions were stored before.
    """

    text: str
    choices: tuple[str, ...]
    digest: str
    salt: str
    review_by: int | None = omitted_when_default()
    approved: bool | None = omitted_when_default()


@dataclass(frozen=True, slots=True)
class BankQuestion:
    """A question of the council's bank (IN3): for one sector, or general ("")."""

    sector: str
    text: str
    choices: tuple[str, ...]
    digest: str
    salt: str
    retired: bool = omitted_when_default(False)


@dataclass(frozen=True, slots=True)
class Test:
    """A voter's test on a company (GR3): the questions drawn while it is open, last pass and failure."""

    passed_at: int | None
    failed_at: int | None
    open: tuple[int, ...] | None
    started_at: int
    draw_at: int | None = omitted_when_default()  # rules 2: requested, questions drawn from then on (IN6)
    requested: int | None = omitted_when_default()  # rules 2: the request's entry

    @property
    def pending(self) -> bool:
        """Requested and its questions not drawn yet (IN6)."""
        return self.requested is not None


@dataclass(frozen=True, slots=True)
class Vote:
    """A voter's current vote on a company (GR4); ``segment`` is the start of its vote-log segment."""

    value: int
    cast_at: int
    expires_at: int
    segment: int


@dataclass(frozen=True, slots=True)
class VoteSegment:
    """A vote's value over [start, until) (GR4, GR5). Stored with the key "from" for ``start``."""

    value: int
    start: int = stored_as("from")  # "from" is a Python keyword
    until: int = stored_as("until")  # a plain annotation may not follow a field() in a dataclass


@dataclass(frozen=True, slots=True)
class Sale:
    """A settled sale, counted in G_i (GR1)."""

    units: int
    currency: CurrencyId


@dataclass(frozen=True, slots=True)
class SnapshotRow:
    """One company's row of a published snapshot (GR5)."""

    sales: int
    votes: int
    total: int
    delta: str  # 'n/d'


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Published coefficients (GR5)."""

    version: int
    at: int
    average: str  # S as 'n/d'
    scale: str  # the clamp factor as 'n/d'
    companies: dict[str, SnapshotRow]


@dataclass(frozen=True, slots=True)
class Delta:
    """The delta in force for a company: that of the latest snapshot (GR5, GR6)."""

    delta: str  # 'n/d'
    version: int


@dataclass(frozen=True, slots=True)
class Payout:
    """A payout waiting in the fund's queue (GR6)."""

    to: AccountId
    units: int
    reason: str
    at: int


@dataclass(frozen=True, slots=True)
class Debt:
    """What a company still owes (a period's charge, GR6, or a penalty, GR7), withheld from later sales."""

    to: AccountId
    units: int
    reason: str
    at: int


@dataclass(frozen=True, slots=True)
class Accrual:
    """A company's exact deferred adjustment in one period (GR6)."""

    accrued: str  # 'n/d'


@dataclass(frozen=True, slots=True)
class Period:
    """A closed deferred period (GR6): what the fund paid and charged."""

    payouts: dict[str, int]
    charges: dict[str, int]
    at: int


ChallengeStatus = Literal["open", "closed"]


@dataclass(frozen=True, slots=True)
class Challenge:
    """A whistleblower's challenge of a statement and its tally (GR7); the last three fields are
    stored once it is closed."""

    whistleblower: AccountId
    company: AccountId
    index: int
    version: int
    claim: Claim
    reason: str
    opened_at: int
    closes_at: int
    tally: dict[str, int]  # verdict -> judgements
    status: ChallengeStatus
    outcome: str | None  # a verdict or "no-quorum" once closed; always stored
    upheld: bool | None = omitted_when_default()
    penalty: int | None = omitted_when_default()
    closed_at: int | None = omitted_when_default()


@dataclass(frozen=True, slots=True)
class Judgement:
    """A voter's verdict on a challenge (GR7)."""

    verdict: str
    at: int


@dataclass(frozen=True, slots=True)
class Failure:
    """An unsuccessful challenge holding one of the whistleblower's slots (GR8)."""

    failed_at: int
    returns_at: int | None


# Namespaces -------------------------------------------------------------------------------------


# The namespace "gears" holds two single records, each under its own key with its own type.
CONFIG = Namespace("gears", Config)  # key "config"
LATEST = Namespace("gears", Latest)  # key "latest"
COMPANIES = Namespace("gears.companies", Company)
STATEMENTS = Namespace("gears.statements", Statement)
STATEMENT_LOG = Namespace("gears.statement_log", StatementVersion)
QUESTIONS = Namespace("gears.questions", Question)
BANK = Namespace("gears.bank", BankQuestion)
TESTS = Namespace("gears.tests", Test)
VOTES = Namespace("gears.votes", Vote)
VOTE_LOG = Namespace("gears.vote_log", VoteSegment)
SALES = Namespace("gears.sales", Sale)
SNAPSHOTS = Namespace("gears.snapshots", Snapshot)
DELTAS = Namespace("gears.deltas", Delta)
PAYOUTS = Namespace("gears.payouts", Payout)
DEBTS = Namespace("gears.debts", Debt)
ACCRUALS = Namespace("gears.accruals", Accrual)
PERIODS = Namespace("gears.periods", Period)
CHALLENGES = Namespace("gears.challenges", Challenge)
JUDGEMENTS = Namespace("gears.judgements", Judgement)
FAILURES = Namespace("gears.failures", Failure)


# Keys -------------------------------------------------------------------------------------------


def statement_key(company: str, index: int) -> str:
    return f"{company}/{index:02d}"


def question_key(company: str, number: int) -> str:
    return f"{company}/{number:04d}"


def bank_key(number: int) -> str:
    return f"{number:06d}"


def test_key(voter: str, company: str) -> str:
    return f"{voter}/{company}"


def vote_key(company: str, voter: str) -> str:
    return f"{company}/{voter}"


def segment_key(company: str, voter: str, start: int) -> str:
    return f"{company}/{voter}/{start:012d}"


def period_key(currency: str, period: int) -> str:
    return f"{currency}/{period:08d}"


def snapshot_key(version: int) -> str:
    return f"{version:08d}"


# Reading state ----------------------------------------------------------------------------------


def must(namespace: Namespace[R], uow: UnitOfWork, key: str) -> R:
    """A record the journal's order guarantees exists (projectors, drawn questions)."""
    record = namespace.get(uow, key)
    if record is None:
        raise IntegrityError(f"record {namespace.name}/{key} is missing", rule="X2")
    return record


def config(uow: UnitOfWork, rule: str = "GR6") -> Config:
    record = CONFIG.get(uow, "config")
    if record is None:
        raise RuleViolationError("Gears is not set up yet: the council must name the fund and ethicap", rule=rule)
    return record


def is_set_up(uow: UnitOfWork) -> bool:
    return CONFIG.get(uow, "config") is not None


def latest_version(uow: UnitOfWork) -> int:
    """The version of the latest published snapshot, 0 before the first."""
    latest = LATEST.get(uow, "latest")
    return latest.version if latest else 0


def require_company(uow: UnitOfWork, company: AccountId) -> Company:
    record = COMPANIES.get(uow, company)
    if record is None:
        raise NotFoundError(f"{company} is not a company registered with Gears", rule="GR1")
    return record


def require_voter(uow: UnitOfWork, voter: AccountId, rule: str = "GR3") -> Account:
    account = uow.accounts.get(voter)
    if account is None:
        raise NotFoundError(f"no account {voter}", rule=rule)
    if account.kind is not AccountKind.PERSON or not account.verified:
        raise RuleViolationError(f"{voter} is not a verified person; only verified persons vote", rule=rule)
    return account


def statement_of(uow: UnitOfWork, company: str, index: int) -> Statement | None:
    """The current version of statement ``index`` (numbers outside 1-99 have none)."""
    return STATEMENTS.get(uow, statement_key(company, index)) if 1 <= index <= 99 else None


def statements_of(uow: UnitOfWork, company: str) -> list[tuple[int, Statement]]:
    """(index, current version) of every statement of a company, in order."""
    return [(int(key.split("/")[1]), s) for key, s in STATEMENTS.scan(uow, f"{company}/")]


def statement_versions(uow: UnitOfWork, company: str, index: int) -> list[StatementVersion]:
    return [v for _, v in STATEMENT_LOG.scan(uow, f"{statement_key(company, index)}/")]


def question_bank(uow: UnitOfWork, company: str) -> list[int]:
    """The numbers of a company's questions, in order (GR3)."""
    return [int(key.split("/")[1]) for key, _ in QUESTIONS.scan(uow, f"{company}/")]


def question(uow: UnitOfWork, company: str, number: int) -> Question:
    """A drawn question: the company's own, or (numbered from ``BANK_QUESTION_BASE``) the council's."""
    if number >= BANK_QUESTION_BASE:
        q = must(BANK, uow, bank_key(number - BANK_QUESTION_BASE))
        return Question(q.text, q.choices, q.digest, q.salt)
    return must(QUESTIONS, uow, question_key(company, number))


def bank_size(uow: UnitOfWork) -> int:
    """How many questions the council's bank has ever held (their numbers are 1..this)."""
    return sum(1 for _ in BANK.scan(uow))


def bank_questions(uow: UnitOfWork, sector: str) -> list[int]:
    """The drawable numbers (``BANK_QUESTION_BASE`` + n) of the council's questions for ``sector``
    ("": the general ones), in order (IN3)."""
    return [BANK_QUESTION_BASE + int(key) for key, q in BANK.scan(uow) if q.sector == sector and not q.retired]


def approved_questions(uow: UnitOfWork, company: str) -> list[int]:
    """The numbers of a company's own questions the council approved, in order (IN3)."""
    return [int(key.split("/")[1]) for key, q in QUESTIONS.scan(uow, f"{company}/") if q.approved]


def pending_questions(uow: UnitOfWork, company: str, now: int) -> int:
    """How many of a company's questions still wait for the council's review at ``now`` (IN7)."""
    return sum(
        1
        for _, q in QUESTIONS.scan(uow, f"{company}/")
        if q.approved is None and q.review_by is not None and now < q.review_by
    )


def question_pool_of(uow: UnitOfWork, company: AccountId, needed: int) -> tuple[int, ...]:
    """The questions a test on ``company`` draws from under rule version 2 (IN3): its approved own
    questions and its sector's, filled with the general ones when fewer than ``needed``
    (``rules.question_pool``)."""
    record = require_company(uow, company)
    sector = bank_questions(uow, record.sector) if record.sector else []
    return rules.question_pool(approved_questions(uow, company), sector, bank_questions(uow, ""), needed)


def test_of(uow: UnitOfWork, voter: str, company: str) -> Test | None:
    return TESTS.get(uow, test_key(voter, company))


def vote_of(uow: UnitOfWork, company: str, voter: str) -> Vote | None:
    return VOTES.get(uow, vote_key(company, voter))


def votes_on(uow: UnitOfWork, company: str) -> list[tuple[str, Vote]]:
    """(voter, current vote) of every voter on a company."""
    return [(key.split("/")[1], v) for key, v in VOTES.scan(uow, f"{company}/")]


def current_delta(uow: UnitOfWork, company: AccountId) -> Fraction:
    record = DELTAS.get(uow, company)
    return Fraction(0) if record is None else decode_ratio(record.delta)


def tallies_at(uow: UnitOfWork, at: int) -> dict[str, coef.Tally]:
    """Every company's current votes at ``at``, from the vote segments (GR4, GR5)."""
    tallies: dict[str, coef.Tally] = {}
    for key, seg in VOTE_LOG.scan(uow):
        if seg.start <= at < seg.until:
            company = key.split("/", 1)[0]
            tallies[company] = tallies.get(company, coef.Tally()).add(seg.value)
    return tallies


def sales_at(uow: UnitOfWork, company: str, joined_at: int, at: int, policy: GearsPolicy) -> int:
    """G_i at ``at`` (GR1)."""
    rows = ((int(key.split("/")[1]), sale.units) for key, sale in SALES.scan(uow, f"{company}/"))
    return coef.annual_sales(rows, joined_at, at, policy.annualise_min_age)


def coefficients_at(uow: UnitOfWork, policy: GearsPolicy, at: int) -> coef.Coefficients:
    """Recompute every company's V_i, G_i and delta_i at any instant (GR5)."""
    companies = {key: c.joined_at for key, c in COMPANIES.scan(uow) if c.joined_at <= at}
    tallies = {c: t for c, t in tallies_at(uow, at).items() if c in companies}
    sales = {c: sales_at(uow, c, joined, at, policy) for c, joined in companies.items()}
    return coef.coefficients(tallies, sales, policy.k, policy.clamp)


def pending_payouts(uow: UnitOfWork, currency: str) -> list[tuple[str, Payout]]:
    """The fund's waiting payouts in ``currency``, in the order they are paid (GR6)."""
    return list(PAYOUTS.scan(uow, f"{currency}/"))


def debts_of(uow: UnitOfWork, company: str) -> list[tuple[str, Debt]]:
    """What a company owes, oldest first (GR6, GR7)."""
    return list(DEBTS.scan(uow, f"{company}/"))


def accrued_in(uow: UnitOfWork, currency: str, period: int) -> dict[str, Fraction]:
    """Each company's exact accrued adjustment in a deferred period (GR6)."""
    prefix = f"{period_key(currency, period)}/"
    return {key[len(prefix) :]: decode_ratio(a.accrued) for key, a in ACCRUALS.scan(uow, prefix)}


def period_closed(uow: UnitOfWork, currency: str, period: int) -> bool:
    return PERIODS.get(uow, period_key(currency, period)) is not None


def open_challenge(uow: UnitOfWork, challenge: str) -> Challenge:
    """A challenge still open for judgement (GR7)."""
    record = CHALLENGES.get(uow, challenge) if isinstance(challenge, str) and challenge else None
    if record is None:
        raise NotFoundError(f"no challenge {challenge!r}", rule="GR7")
    if record.status != "open":
        raise RuleViolationError(f"challenge {challenge} is already decided", rule="GR7")
    return record


def challenges_of(uow: UnitOfWork, company: str) -> list[tuple[str, Challenge]]:
    return [(key, c) for key, c in CHALLENGES.scan(uow) if c.company == company]


def has_judged(uow: UnitOfWork, challenge: str, voter: str) -> bool:
    return JUDGEMENTS.get(uow, f"{challenge}/{voter}") is not None


def open_challenges_by(uow: UnitOfWork, whistleblower: str) -> list[tuple[str, Challenge]]:
    """A whistleblower's challenges not yet decided (IN7, GR8 under rule version 2)."""
    return [(key, c) for key, c in CHALLENGES.scan(uow) if c.whistleblower == whistleblower and c.status == "open"]


def failures_of(uow: UnitOfWork, voter: str) -> list[int]:
    """When each of a voter's unsuccessful challenges failed (GR8)."""
    return [f.failed_at for _, f in FAILURES.scan(uow, f"{voter}/")]


def snapshots(uow: UnitOfWork) -> Iterator[Snapshot]:
    for _, snapshot in SNAPSHOTS.scan(uow):
        yield snapshot


def snapshot(uow: UnitOfWork, version: int) -> Snapshot | None:
    return SNAPSHOTS.get(uow, snapshot_key(version))


@dataclass(frozen=True, slots=True)
class CurrencyPosition:
    balance: int
    waiting_payouts: int
    waiting_units: int


@dataclass(frozen=True, slots=True)
class FundPosition:
    """The fund's balance and waiting payouts per allowed currency, and the debts owed to it (GR6)."""

    fund: AccountId
    ethicap: CurrencyId
    currencies: dict[str, CurrencyPosition]
    debts_owed_to_fund: int


def fund_position(uow: UnitOfWork, policy: GearsPolicy) -> FundPosition:
    """The fund's balance, waiting payouts and debts owed to it, per allowed currency."""
    cfg = config(uow)
    positions = {}
    for c in sorted({*policy.currencies, cfg.ethicap}):
        waiting = pending_payouts(uow, c)
        balance = uow.ledger.balance(cfg.fund, CurrencyId(c))
        positions[c] = CurrencyPosition(balance, len(waiting), sum(p.units for _, p in waiting))
    owed = sum(d.units for _, d in DEBTS.scan(uow) if d.to == cfg.fund)
    return FundPosition(cfg.fund, cfg.ethicap, positions, owed)
