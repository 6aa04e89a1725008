"""Gears events (past tense): the facts the journal records and the projections fold."""

from __future__ import annotations

from dataclasses import dataclass, field

from civicledger.kernel.identity import AccountId
from civicledger.kernel.messages import OMITTED_AT_DEFAULT, Event, event
from civicledger.kernel.money import CurrencyId
from civicledger.mechanisms.gears.policy import SettlementMode
from civicledger.mechanisms.gears.values import Claim


@event("gears.configured")
@dataclass(frozen=True, slots=True)
class GearsConfigured(Event):
    fund: AccountId
    ethicap: CurrencyId


@event("gears.company_registered")
@dataclass(frozen=True, slots=True)
class CompanyRegistered(Event):
    company: AccountId
    sector: str = field(default="", metadata=OMITTED_AT_DEFAULT)  # IN3


@event("gears.sector_set")
@dataclass(frozen=True, slots=True)
class SectorSet(Event):
    company: AccountId
    sector: str


@event("gears.statement_published")
@dataclass(frozen=True, slots=True)
class StatementPublished(Event):
    company: AccountId
    index: int
    version: int
    text: str
    question: str  # the common question it answers, or "" for an open statement


@event("gears.question_added")
@dataclass(frozen=True, slots=True)
class QuestionAdded(Event):
    company: AccountId
    question: int
    text: str
    choices: tuple[str, ...]
    answer_digest: str
    salt: str
    review_by: int | None = field(default=None, metadata=OMITTED_AT_DEFAULT)  # IN7, rule version 2


@event("gears.bank_question_added")
@dataclass(frozen=True, slots=True)
class BankQuestionAdded(Event):
    number: int
    sector: str  # "" for a general question
    text: str
    choices: tuple[str, ...]
    answer_digest: str
    salt: str


@event("gears.bank_question_retired")
@dataclass(frozen=True, slots=True)
class BankQuestionRetired(Event):
    number: int


@event("gears.question_reviewed")
@dataclass(frozen=True, slots=True)
class QuestionReviewed(Event):
    company: AccountId
    question: int
    approved: bool


@event("gears.test_started")
@dataclass(frozen=True, slots=True)
class TestStarted(Event):
    voter: AccountId
    company: AccountId
    questions: tuple[int, ...]
    draw: str  # hex seed the questions were drawn from (journal root, voter, company)


@event("gears.test_requested")
@dataclass(frozen=True, slots=True)
class TestRequested(Event):
    """A test asked for under rules 2: its questions are drawn later, from the first signed tree
    head at or after ``draw_at`` (IN6), by ``gears.draw_test``."""

    voter: AccountId
    company: AccountId
    draw_at: int


@event("gears.test_graded")
@dataclass(frozen=True, slots=True)
class TestGraded(Event):
    voter: AccountId
    company: AccountId
    correct: int
    asked: int
    passed: bool


@event("gears.vote_cast")
@dataclass(frozen=True, slots=True)
class VoteCast(Event):
    voter: AccountId
    company: AccountId
    value: int
    cast_at: int
    expires_at: int
    change: bool  # a change within the term: no extension, no reward
    previous: int | None


@dataclass(frozen=True, slots=True)
class CompanySnapshot:
    """One company's row of a published snapshot."""

    sales: int  # G_i
    votes: int  # n_i
    total: int  # sum of the current votes
    delta: str  # delta_i as 'n/d'


@event("gears.coefficients_published")
@dataclass(frozen=True, slots=True)
class CoefficientsPublished(Event):
    version: int
    at: int
    average: str  # S as 'n/d'
    scale: str  # the clamp factor as 'n/d'
    companies: dict[str, CompanySnapshot]


@event("gears.sale_settled")
@dataclass(frozen=True, slots=True)
class SaleSettled(Event):
    sale: str
    buyer: AccountId
    company: AccountId
    currency: CurrencyId
    price: int
    delta: str  # the delta applied, 'n/d'
    adjustment: int  # p * delta / 100 rounded toward zero (immediate) or 0 (deferred)
    accrued: str  # exact p * delta / 100 accrued for period-end settlement (deferred), else '0/1'
    mode: SettlementMode
    period: int  # deferred period number, -1 in immediate mode
    waived: bool  # GR9 waived a negative delta


@event("gears.payout_queued")
@dataclass(frozen=True, slots=True)
class PayoutQueued(Event):
    key: str
    currency: CurrencyId
    to: AccountId
    units: int
    reason: str


@event("gears.payout_released")
@dataclass(frozen=True, slots=True)
class PayoutReleased(Event):
    key: str
    currency: CurrencyId
    to: AccountId
    units: int


@event("gears.debt_recorded")
@dataclass(frozen=True, slots=True)
class DebtRecorded(Event):
    key: str
    company: AccountId
    to: AccountId
    units: int
    reason: str


@event("gears.debt_paid")
@dataclass(frozen=True, slots=True)
class DebtPaid(Event):
    key: str
    company: AccountId
    to: AccountId
    currency: CurrencyId
    units: int
    remaining: int


@event("gears.period_closed")
@dataclass(frozen=True, slots=True)
class PeriodClosed(Event):
    currency: CurrencyId
    period: int
    payouts: dict[str, int]
    charges: dict[str, int]


@event("gears.challenge_opened")
@dataclass(frozen=True, slots=True)
class ChallengeOpened(Event):
    challenge: str
    whistleblower: AccountId
    company: AccountId
    index: int
    version: int
    claim: Claim
    reason: str
    closes_at: int


@event("gears.challenge_judged")
@dataclass(frozen=True, slots=True)
class ChallengeJudged(Event):
    challenge: str
    voter: AccountId
    verdict: str


@event("gears.challenge_closed")
@dataclass(frozen=True, slots=True)
class ChallengeClosed(Event):
    challenge: str
    outcome: str  # a verdict, or "no-quorum"
    upheld: bool
    penalty: int
    paid: int
    owed: int
    slot_returns_at: int | None  # for an unsuccessful challenge (GR8)
    # IN7 (rule version 2): an unsuccessful challenge counts as failed at its deadline, not at the
    # moment someone closed it; None: at the entry's time (rule version 1)
    failed_at: int | None = field(default=None, metadata=OMITTED_AT_DEFAULT)
