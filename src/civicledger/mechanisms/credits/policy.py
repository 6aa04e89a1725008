"""The ``[credits]`` policy section (SC2-SC10), with the SPEC's defaults.

Cross-field checks raise ``ValueError`` from ``__post_init__``; the policy loader reports them
with the section's path, together with every other problem of the file (X7).
Portions are whole percentages (100 = the whole balance), so the section holds no fractions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from civicledger.kernel.policy import ADDED_LATER, Unit, since_rules
from civicledger.kernel.time import DAY, YEAR


@dataclass(frozen=True, slots=True)
class ParticipationEffect:
    """What one recorded participation of a kind does to the grades (SC5)."""

    UNITS: ClassVar[dict[str, Unit]] = {"portion_percent": Unit.PERCENT, "duration": Unit.SECONDS}
    steps: int = 1  # grade steps, at most the policy's max_adjustment_steps
    penalty: bool = False  # True: the steps lower the grade (an infraction)
    portion_percent: int = 100  # share of the available balance it covers; 100 = the whole balance
    duration: int = YEAR
    qualifying: bool = True  # restarts the decay clock (SC8); infractions never do

    def __post_init__(self) -> None:
        if not 1 <= self.portion_percent <= 100:
            raise ValueError("portion_percent must be between 1 and 100")
        if self.duration <= 0:
            raise ValueError("a participation effect needs a positive duration")
        if self.penalty and self.qualifying:
            raise ValueError("an infraction (penalty) cannot be qualifying participation")


def default_participation() -> dict[str, ParticipationEffect]:
    """The kinds the seed lists (SC5) and the Gears kinds (X8), with modest default effects."""
    award = ParticipationEffect()
    small = ParticipationEffect(steps=1, portion_percent=10, duration=90 * DAY)
    return {
        "citizens_council": award,
        "direct_democracy": small,
        "contribution_culture": award,
        "contribution_economy": award,
        "contribution_innovation": award,
        "contribution_education": award,
        "contribution_science": award,
        "contribution_arts": award,
        "public_information_database": ParticipationEffect(steps=1, portion_percent=50, duration=YEAR),
        "ngo_work": award,
        "skilled_work": award,
        "risky_work": ParticipationEffect(steps=2, portion_percent=100, duration=YEAR),
        "volunteering": ParticipationEffect(steps=1, portion_percent=50, duration=YEAR),
        "gears_vote": small,
        "gears_judgement": small,
        "whistleblowing": ParticipationEffect(steps=1, portion_percent=50, duration=YEAR),
        "infraction": ParticipationEffect(
            steps=1, penalty=True, portion_percent=100, duration=180 * DAY, qualifying=False
        ),
    }


DEFAULT_ESSENTIAL = ("education", "mass-transit", "healthcare", "communication", "clt-housing")


@dataclass(frozen=True, slots=True)
class CreditsPolicy:
    UNITS: ClassVar[dict[str, Unit]] = dict.fromkeys(
        (
            "max_adjustment_duration",
            "dd_min_seconds",
            "appeal_window",
            "panel_deadline",
            "refile_grace",
            "decay_window",
            "decay_step",
            "pledge_max_duration",
            "draw_period",
            "vote_min_seconds_after_test",
        ),
        Unit.SECONDS,
    )
    annual_allocation: int = 1_000  # SC2: credits a year, from birth
    grade_min: int = 0  # SC4
    grade_max: int = 5
    base_grade: int = 2
    max_adjustment_steps: int = 2  # SC4: policy limits of one adjustment
    max_adjustment_duration: int = 2 * YEAR
    participation: dict[str, ParticipationEffect] = field(default_factory=default_participation)
    dd_min_seconds: int = 120  # SC5: anti-automation controls of direct democracy
    dd_daily_cap: int = 3
    appeal_window: int = 90 * DAY  # SC7
    panel_technocrats: int = 1
    panel_jurors: int = 2
    panel_deadline: int = since_rules(2, 30 * DAY)  # IN7: an appeal not decided this long after filing lapses
    appeals_per_appellant: int = since_rules(2, 2)  # IN7: appeals one person may file on one adjustment
    refile_grace: int = since_rules(2, 30 * DAY)  # IN7: after a lapse, a new appeal may come this late
    decay_window: int = 365 * DAY  # SC8
    decay_step: int = 90 * DAY
    pledge_min_grade: int = 3  # SC9: only credits of this grade or higher can be pledged
    pledge_max_steps: int = 2
    pledge_max_quantity: int = 500
    pledge_max_duration: int = 180 * DAY
    nomination_cosigners: int = 3
    second_chance_below_grade: int = 2  # a person whose best grade is below this may apply once
    draw_period: int = 30 * DAY
    essential_categories: tuple[str, ...] = DEFAULT_ESSENTIAL  # SC10
    essential_base_tier_grade: int = 0  # the highest minimum grade an essential base tier may ask
    # IN2 (rule version 2): participation cannot be farmed. A kind counts at most
    # ``participation_caps[kind]`` (else ``participation_cap``) times in any rolling year, and never
    # while its own raises still active would then lift a credit to the top grade (see
    # rules.cap_refusal). A Gears vote that changes nothing earns the effect of the kind
    # ``null_vote_kind`` if the table lists it (by default it does not: nothing).
    participation_cap: int = field(default=4, metadata=ADDED_LATER)
    participation_caps: dict[str, int] = field(default_factory=dict, metadata=ADDED_LATER)
    # a vote cast sooner than this after passing the GR3 test changes nothing
    vote_min_seconds_after_test: int = field(default=60, metadata=ADDED_LATER)
    null_vote_kind: str = field(default="gears_null_vote", metadata=ADDED_LATER)

    def __post_init__(self) -> None:
        if not self.grade_min <= self.base_grade <= self.grade_max <= 20:
            raise ValueError("grades need grade_min <= base_grade <= grade_max <= 20")
        if not self.grade_min <= self.essential_base_tier_grade <= self.base_grade:
            raise ValueError("essential_base_tier_grade must lie between grade_min and base_grade (SC10)")
        if not self.grade_min <= self.pledge_min_grade <= self.grade_max:
            raise ValueError("pledge_min_grade must be a grade")
        if self.decay_step <= 0 or self.draw_period <= 0:
            raise ValueError("decay_step and draw_period must be positive")
        if (self.panel_technocrats + self.panel_jurors) % 2 == 0:
            raise ValueError("an appeal panel needs an odd number of members so a majority always exists")
        for kind, effect in self.participation.items():
            if effect.steps > self.max_adjustment_steps:
                raise ValueError(f"participation {kind}: steps exceed max_adjustment_steps")
            if effect.duration > self.max_adjustment_duration:
                raise ValueError(f"participation {kind}: duration exceeds max_adjustment_duration")
