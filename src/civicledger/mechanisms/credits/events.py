"""Events of the social credits: every allocation, adjustment, appeal, draw and spend (SC11)."""

from __future__ import annotations

from dataclasses import dataclass

from civicledger.kernel.identity import AccountId
from civicledger.kernel.messages import Event, event
from civicledger.mechanisms.credits.commands import Tier


@event("credits.enrolled")
@dataclass(frozen=True, slots=True)
class PersonEnrolled(Event):
    person: AccountId
    born_at: int
    registrar: AccountId


@event("credits.grade_adjusted")
@dataclass(frozen=True, slots=True)
class GradeAdjusted(Event):
    """One adjustment (SC4) with its deciders and evidence (SC6); ``fresh`` restarts decay (SC8)."""

    adjustment: str
    person: AccountId
    kind: str
    source: str  # participation | decision | direct-democracy | lottery-uplift | lottery-pledge | gears
    steps: int
    quantity: int  # 0 = the whole balance
    start: int
    end: int
    consumable: bool
    fresh: bool
    deciders: tuple[AccountId, ...]
    council: AccountId | None
    evidence: str
    reason: str


@event("credits.participation_noted")
@dataclass(frozen=True, slots=True)
class ParticipationNoted(Event):
    """Participation another mechanism recorded in its own entry (X8): a Gears vote, whistleblowing.

    Its effect comes from the credits policy for ``kind`` when grades are evaluated; a person
    not enrolled in credits is unaffected.
    """

    person: AccountId
    kind: str
    reference: str


@event("credits.participation_reported")
@dataclass(frozen=True, slots=True)
class ParticipationReported(Event):
    """Participation another mechanism reported (X8), as rule version 2 counts it (IN2).

    ``kind`` is the credits policy kind it was judged as; ``counted``: whether it raised grades (a
    ``GradeAdjusted`` with source "gears" follows in the same entry); ``note`` says why not, or
    why it was judged as another kind (a vote that changes nothing). A counted Gears vote names its
    ``company`` and the ``term`` (its start) it was counted for: once per company and vote term.
    """

    person: AccountId
    kind: str
    reference: str
    counted: bool
    note: str
    company: str = ""
    term: int | None = None


@event("credits.ballot_opened")
@dataclass(frozen=True, slots=True)
class BallotOpened(Event):
    ballot: str
    question: str
    answer_key: str
    operator: AccountId


@event("credits.ballot_answered")
@dataclass(frozen=True, slots=True)
class BallotAnswered(Event):
    ballot: str
    person: AccountId
    seconds_spent: int
    answers_digest: str
    day: int


@event("credits.appeal_filed")
@dataclass(frozen=True, slots=True)
class AppealFiled(Event):
    appeal: str
    adjustment: str
    person: AccountId
    appellant: AccountId
    grounds: str
    seed: str  # the journal's tree root before the appeal's entry, hex
    technocrats: tuple[AccountId, ...]
    jurors: tuple[AccountId, ...]


@event("credits.appeal_requested")
@dataclass(frozen=True, slots=True)
class AppealRequested(Event):
    """An appeal filed under rules 2: its panel is drawn later (IN6) and it lapses at ``deadline`` (IN7)."""

    appeal: str
    adjustment: str
    person: AccountId
    appellant: AccountId
    grounds: str
    draw_at: int  # the seed is the first signed tree head at or after this time
    deadline: int


@event("credits.panel_drawn")
@dataclass(frozen=True, slots=True)
class PanelDrawn(Event):
    """An appeal's panel drawn from the seed of a signed tree head after the appeal (IN6)."""

    appeal: str
    seed: str
    head_size: int
    head_root: str
    head_signature: str
    technocrats: tuple[AccountId, ...]
    jurors: tuple[AccountId, ...]


@event("credits.appeal_lapsed")
@dataclass(frozen=True, slots=True)
class AppealLapsed(Event):
    """An appeal its panel did not decide by its deadline: not decided, the adjustment stands (IN7)."""

    appeal: str
    adjustment: str
    votes_overturn: int
    votes_uphold: int
    lapsed_at: int


@event("credits.panel_vote_cast")
@dataclass(frozen=True, slots=True)
class PanelVoteCast(Event):
    appeal: str
    member: AccountId
    overturn: bool


@event("credits.appeal_decided")
@dataclass(frozen=True, slots=True)
class AppealDecided(Event):
    appeal: str
    adjustment: str
    person: AccountId
    overturned: bool
    votes_overturn: int
    votes_uphold: int
    decided_at: int


@event("credits.uplift_pledged")
@dataclass(frozen=True, slots=True)
class UpliftPledged(Event):
    pledge: str
    donor: AccountId
    steps: int
    quantity: int
    duration: int


@event("credits.candidate_nominated")
@dataclass(frozen=True, slots=True)
class CandidateNominated(Event):
    candidate: AccountId
    route: str  # nominated | second-chance
    reason: str
    nominators: tuple[AccountId, ...]
    council: AccountId | None


@dataclass(frozen=True, slots=True)
class Winner:
    pledge: str
    donor: AccountId
    candidate: AccountId


@event("credits.lottery_drawn")
@dataclass(frozen=True, slots=True)
class LotteryDrawn(Event):
    """A draw: its seed, what it drew from, and the winners anyone can recompute (SC9)."""

    draw: str
    seed: str
    pledges: tuple[str, ...]
    donors: tuple[AccountId, ...]
    candidates: tuple[AccountId, ...]
    winners: tuple[Winner, ...]
    lapsed: tuple[str, ...]  # pledges whose donor no longer held the pledged grades


@event("credits.lottery_scheduled")
@dataclass(frozen=True, slots=True)
class LotteryScheduled(Event):
    """A draw scheduled under rules 2: what it draws from is fixed now, its seed later (IN6)."""

    draw: str
    draw_at: int  # the seed is the first signed tree head at or after this time
    pledges: tuple[str, ...]
    donors: tuple[AccountId, ...]
    candidates: tuple[AccountId, ...]
    lapsed: tuple[str, ...]
    deciders: tuple[AccountId, ...]
    council: AccountId | None


@event("credits.draw_seeded")
@dataclass(frozen=True, slots=True)
class DrawSeeded(Event):
    """The signed tree head a scheduled draw's seed came from (IN6), for anyone recomputing it."""

    draw: str
    seed: str
    head_size: int
    head_root: str
    head_signature: str


@event("credits.service_registered")
@dataclass(frozen=True, slots=True)
class ServiceRegistered(Event):
    service: str
    provider: AccountId
    category: str
    essential: bool
    name: str
    tiers: tuple[Tier, ...]


@event("credits.spent")
@dataclass(frozen=True, slots=True)
class CreditsSpent(Event):
    """Credits burned on a service (SC3); the provider's redemption records it (SC10)."""

    spend: str
    person: AccountId
    service: str
    provider: AccountId
    tier: str
    units: int
    by_grade: dict[str, int]
    consumed: dict[str, int]
