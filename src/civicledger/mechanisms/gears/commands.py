"""Gears commands (imperative): what a council, a company, a voter, a buyer or anyone may ask."""

from __future__ import annotations

from dataclasses import dataclass, field

from civicledger.kernel.identity import AccountId
from civicledger.kernel.messages import OMITTED_AT_DEFAULT, Command, command
from civicledger.kernel.money import CurrencyId
from civicledger.mechanisms.gears.values import Claim, Verdict


@command("gears.setup")
@dataclass(frozen=True, slots=True)
class SetupGears(Command):
    """Name the Common Good Fund and the ethicap currency; signed by the governing council's
    quorum and by the fund, which thereby lets the Gears rules pay from it."""

    fund: AccountId
    ethicap: CurrencyId


@command("gears.register_company")
@dataclass(frozen=True, slots=True)
class RegisterCompany(Command):
    """An organization account joins Gears (GR1); signed by the company.

    ``sector`` (IN3) picks the council's sector bank its tests draw from; "" for none (general
    questions only). Absent from the wire form while "", as before it existed.
    """

    company: AccountId
    sector: str = field(default="", metadata=OMITTED_AT_DEFAULT)


@command("gears.publish_statement")
@dataclass(frozen=True, slots=True)
class PublishStatement(Command):
    """Publish statement ``index`` (1-20), or a new version of it (GR2); signed by the company."""

    company: AccountId
    index: int
    text: str


@command("gears.add_question")
@dataclass(frozen=True, slots=True)
class AddQuestion(Command):
    """Add a multiple-choice question to the company's bank (GR3); signed by the company.

    From rule version 2 (IN3) it enters the bank tests draw from only once the council approves it
    (``ReviewQuestion``), within the review window (IN7). The correct choice is given only as
    ``answer_digest`` = sha256 of 'gears-answer:<salt>:<choice>' (see ``rules.answer_digest``).
    """

    company: AccountId
    text: str
    choices: tuple[str, ...]
    answer_digest: str
    salt: str


@command("gears.set_sector")
@dataclass(frozen=True, slots=True)
class SetSector(Command):
    """Set or correct a company's sector, "" for none (IN3); signed by the governing council's quorum."""

    company: AccountId
    sector: str


@command("gears.add_bank_question")
@dataclass(frozen=True, slots=True)
class AddBankQuestion(Command):
    """Add a question to the council's bank (IN3): for one ``sector``, or general ("") to fill
    any test the sector's questions cannot; signed by the governing council's quorum. The answer is
    a salted digest as in ``AddQuestion``."""

    sector: str
    text: str
    choices: tuple[str, ...]
    answer_digest: str
    salt: str


@command("gears.retire_bank_question")
@dataclass(frozen=True, slots=True)
class RetireBankQuestion(Command):
    """Take question ``number`` of the council's bank out of later draws (IN3); council quorum."""

    number: int


@command("gears.review_question")
@dataclass(frozen=True, slots=True)
class ReviewQuestion(Command):
    """Approve (or reject, or withdraw the approval of) a company's own question (IN3); signed by
    the governing council's quorum. Only approved questions are drawn."""

    company: AccountId
    question: int
    approve: bool


@command("gears.start_test")
@dataclass(frozen=True, slots=True)
class StartTest(Command):
    """Ask for a voter's test on a company (GR3); signed by the voter. Rules 1 draws its questions
    now; rules 2 draws them later (``gears.draw_test``, IN6)."""

    voter: AccountId
    company: AccountId


@command("gears.draw_test")
@dataclass(frozen=True, slots=True)
class DrawTest(Command):
    """Draw the questions of a requested test from the first signed tree head ``journal.draw_delay``
    after its request (IN6, rules 2); anyone may send it, signed by ``sender``."""

    voter: AccountId
    company: AccountId
    sender: AccountId


@command("gears.answer_test")
@dataclass(frozen=True, slots=True)
class AnswerTest(Command):
    """Answer the drawn questions, one choice index (0-based) each, in the drawn order (GR3)."""

    voter: AccountId
    company: AccountId
    answers: tuple[int, ...]


@command("gears.cast_vote")
@dataclass(frozen=True, slots=True)
class CastVote(Command):
    """Cast or change a vote: +1 beneficial, 0 neutral, -1 detrimental (GR4); signed by the voter."""

    voter: AccountId
    company: AccountId
    value: int


@command("gears.publish_coefficients")
@dataclass(frozen=True, slots=True)
class PublishCoefficients(Command):
    """Compute every delta at the entry's time and publish it as the next snapshot (GR5).

    Anyone may sign: the result is determined by the journal; the snapshot is the delta in force.
    """

    publisher: AccountId


@command("gears.settle_sale")
@dataclass(frozen=True, slots=True)
class SettleSale(Command):
    """A sale at price p: the buyer pays p, the seller receives p (1 + delta/100) (GR6, GR10, GR11).

    Signed by the buyer and the company: the sale counts toward the company's sales G_i.
    """

    buyer: AccountId
    company: AccountId
    price: int
    currency: CurrencyId
    memo: str = ""


@command("gears.close_period")
@dataclass(frozen=True, slots=True)
class ClosePeriod(Command):
    """Settle a finished deferred period in one currency, netting exactly zero (GR6); anyone signs."""

    currency: CurrencyId
    period: int
    closer: AccountId


@command("gears.release_payouts")
@dataclass(frozen=True, slots=True)
class ReleasePayouts(Command):
    """Pay waiting payouts in order as far as the fund's balance allows (GR6); anyone signs."""

    currency: CurrencyId
    caller: AccountId


@command("gears.challenge")
@dataclass(frozen=True, slots=True)
class ChallengeStatement(Command):
    """Blow the whistle on a statement as misleading or false (GR7); signed by the whistleblower."""

    whistleblower: AccountId
    company: AccountId
    index: int
    claim: Claim
    reason: str = ""


@command("gears.judge_challenge")
@dataclass(frozen=True, slots=True)
class JudgeChallenge(Command):
    """A voter's judgement of a challenged statement (GR7); signed by the voter."""

    voter: AccountId
    challenge: str
    verdict: Verdict


@command("gears.close_challenge")
@dataclass(frozen=True, slots=True)
class CloseChallenge(Command):
    """Decide a challenge once its window has passed (GR7, GR8); anyone signs."""

    challenge: str
    closer: AccountId
