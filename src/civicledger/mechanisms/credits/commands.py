"""Commands of the social credits (SC1-SC11).

Every command that touches a holder's credits names exactly one holder in the field given by
``HOLDER_FIELD``; no command moves quantity from one holder to another (SC3). Appeals and panel
votes name an adjustment (whose holder is recorded with it), and the lottery draw names no holder:
its winners follow from the journal's tree root (SC9).

Deciders (SC6): a command deciding a grade names either a ``technocrat`` (an account holding
``Role.TECHNOCRAT``, who signs) or a ``council`` (whose quorum signs), never both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from civicledger.kernel.identity import AccountId
from civicledger.kernel.messages import Command, command


class CreditsCommand(Command):
    HOLDER_FIELD: ClassVar[str | None] = None


@command("credits.enroll")
@dataclass(frozen=True, slots=True)
class EnrollPerson(CreditsCommand):
    """A registrar records a verified person's date of birth; accrual runs from it (SC1, SC2)."""

    HOLDER_FIELD: ClassVar[str | None] = "person"
    person: AccountId
    born_at: int
    registrar: AccountId


@command("credits.record_participation")
@dataclass(frozen=True, slots=True)
class RecordParticipation(CreditsCommand):
    """Record participation (or an infraction) of a policy kind; its effect comes from policy (SC5)."""

    PERSONAL_FIELDS: ClassVar[tuple[str, ...]] = ("evidence",)  # IN11, from rule version 3
    PERSONAL_SUBJECT: ClassVar[str] = "person"

    HOLDER_FIELD: ClassVar[str | None] = "person"
    person: AccountId
    kind: str
    evidence: str
    technocrat: AccountId | None = None
    council: AccountId | None = None


@command("credits.adjust")
@dataclass(frozen=True, slots=True)
class AdjustGrade(CreditsCommand):
    """An explicit award or reduction within policy limits (SC4, SC6); quantity 0 = whole balance."""

    PERSONAL_FIELDS: ClassVar[tuple[str, ...]] = ("reason", "evidence")  # IN11, from rule version 3
    PERSONAL_SUBJECT: ClassVar[str] = "person"

    HOLDER_FIELD: ClassVar[str | None] = "person"
    person: AccountId
    steps: int
    quantity: int
    duration: int
    reason: str
    evidence: str
    technocrat: AccountId | None = None
    council: AccountId | None = None


@command("credits.open_ballot")
@dataclass(frozen=True, slots=True)
class OpenBallot(CreditsCommand):
    """A technocrat opens a direct-democracy ballot with the digest of its comprehension answers."""

    ballot: str
    question: str
    answer_key: str  # sha256 hex of the correct comprehension answers
    operator: AccountId


@command("credits.take_part")
@dataclass(frozen=True, slots=True)
class TakePart(CreditsCommand):
    """A person's direct-democracy participation, signed by them and the ballot's operator (SC5)."""

    HOLDER_FIELD: ClassVar[str | None] = "person"
    ballot: str
    person: AccountId
    seconds_spent: int
    answers_digest: str


@command("credits.appeal")
@dataclass(frozen=True, slots=True)
class FileAppeal(CreditsCommand):
    """A verified person appeals an adjustment within the window (SC7)."""

    PERSONAL_FIELDS: ClassVar[tuple[str, ...]] = ("grounds",)  # IN11, from rule version 3
    PERSONAL_SUBJECT: ClassVar[str] = "appellant"

    adjustment: str
    appellant: AccountId
    grounds: str


@command("credits.panel_vote")
@dataclass(frozen=True, slots=True)
class CastPanelVote(CreditsCommand):
    """A drawn panel member votes to overturn or uphold; the majority decides (SC7)."""

    appeal: str
    member: AccountId
    overturn: bool


@command("credits.draw_panel")
@dataclass(frozen=True, slots=True)
class DrawPanel(CreditsCommand):
    """Draw an appeal's panel from the first signed tree head ``journal.draw_delay`` after the
    appeal's entry (IN6, rules 2); anyone may send it, signed by ``sender``."""

    appeal: str
    sender: AccountId


@command("credits.close_appeal")
@dataclass(frozen=True, slots=True)
class CloseAppeal(CreditsCommand):
    """Close an appeal its panel did not decide by its deadline: it lapses, the adjustment stands
    (IN7, rules 2); anyone may send it, signed by ``sender``."""

    appeal: str
    sender: AccountId


@command("credits.pledge")
@dataclass(frozen=True, slots=True)
class PledgeUplift(CreditsCommand):
    """A holder of high grades pledges an uplift for the civic lottery (SC9)."""

    HOLDER_FIELD: ClassVar[str | None] = "donor"
    donor: AccountId
    steps: int
    quantity: int
    duration: int


@command("credits.nominate")
@dataclass(frozen=True, slots=True)
class NominateCandidate(CreditsCommand):
    """A community nominates a lottery candidate: co-signers or a council decision (SC9)."""

    PERSONAL_FIELDS: ClassVar[tuple[str, ...]] = ("reason",)  # IN11, from rule version 3
    PERSONAL_SUBJECT: ClassVar[str] = "candidate"

    HOLDER_FIELD: ClassVar[str | None] = "candidate"
    candidate: AccountId
    reason: str
    cosigners: frozenset[AccountId] = frozenset()
    council: AccountId | None = None


@command("credits.second_chance")
@dataclass(frozen=True, slots=True)
class ApplySecondChance(CreditsCommand):
    """A person whose best grade is below the threshold applies, once in a life (SC9)."""

    HOLDER_FIELD: ClassVar[str | None] = "person"
    person: AccountId


@command("credits.draw")
@dataclass(frozen=True, slots=True)
class DrawLottery(CreditsCommand):
    """Run the periodic draw (SC9). Rules 1: the seed is the journal's tree root before this entry.
    Rules 2: this schedules the draw, fixing its pledges and candidates; ``credits.run_draw`` draws
    it from a later signed tree head (IN6)."""

    technocrat: AccountId | None = None
    council: AccountId | None = None


@command("credits.run_draw")
@dataclass(frozen=True, slots=True)
class RunDraw(CreditsCommand):
    """Draw a scheduled lottery draw from the first signed tree head ``journal.draw_delay`` after
    its scheduling entry (IN6, rules 2); anyone may send it, signed by ``sender``."""

    draw: str
    sender: AccountId


@dataclass(frozen=True, slots=True)
class Tier:
    name: str
    price: int  # credits
    min_grade: int


@command("credits.register_service")
@dataclass(frozen=True, slots=True)
class RegisterService(CreditsCommand):
    """A provider registers (or re-registers) a service with its tiers (SC10)."""

    service: str
    provider: AccountId
    category: str
    name: str
    tiers: tuple[Tier, ...]


@command("credits.spend")
@dataclass(frozen=True, slots=True)
class SpendCredits(CreditsCommand):
    """A person spends credits on a tier of a service: burned, redeemed by the provider (SC3, SC10)."""

    HOLDER_FIELD: ClassVar[str | None] = "person"
    person: AccountId
    service: str
    tier: str
