"""The ``creditism`` policy section (X7).

``fee_base`` is the externality fee's base (CR10, X8): the fee of an asset is E x fee base per unit.
0 (the default) means "one month of the Circles basic income": the ``circles`` section's
``income_units`` per ``income_period``, scaled to a month (``handlers.fee_base``), so
the fee follows the income when its policy changes. At the seed's rate of 1,000 units a week, in
minor units at 2 decimals, that is 100,000 x 2,629,746 / 604,800 = 434,812.5, rounded down to
434,812 (``DEFAULT_FEE_BASE``). A positive value fixes the base in minor units instead.

Under rules 2 (IN1, IN5, IN7): ``application_deadline`` is how long a coop application waits for
the council's approval before it lapses (default 90 days: a quarter, long enough for a council that
meets monthly to decide twice); ``currency`` names the one currency pre-orders must be paid in (""
= any currency the buyer holds, as crowdfunding; a price is in minor units whichever it is).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import ClassVar

from civicledger.kernel.messages import OMITTED_AT_DEFAULT
from civicledger.kernel.policy import Unit
from civicledger.kernel.time import DAY, MONTH, WEEK

SEED_WEEKLY_INCOME_MINOR = 1_000 * 100
"""The seed's default basic income: 1,000 units a week, at 2 decimals."""

DEFAULT_FEE_BASE = SEED_WEEKLY_INCOME_MINOR * MONTH // WEEK  # 434,812 minor units

SHARING_RULES = ("demand", "equal")

DEFAULT_APPLICATION_DEADLINE = 90 * DAY
"""IN7: a coop application not approved within 90 days lapses."""


def _ratio(text: str, what: str, at_most_one: bool = True) -> Fraction:
    try:
        value = Fraction(text[:-1]) / 100 if text.endswith("%") else Fraction(text)
    except (ValueError, ZeroDivisionError) as e:
        raise ValueError(f"{what} must be a ratio such as '50%' or '1/2', not {text!r}") from e
    if value < 0 or (at_most_one and value > 1):
        raise ValueError(f"{what} must be between 0 and 1, not {text!r}")
    return value


@dataclass(frozen=True, slots=True)
class CreditismPolicy:
    """Creditism parameters. Ratios are text ('50%', '1/2', '0.5') so the section is self-contained."""

    UNITS: ClassVar[dict[str, Unit]] = {
        "fee_base": Unit.MINOR_UNITS,
        "legal_ceiling": Unit.RATIO,
        "workers_share": Unit.RATIO,
        "application_deadline": Unit.SECONDS,
    }
    fee_base: int = 0  # CR10: minor units; 0 = one month of the Circles basic income
    legal_ceiling: str = "1"  # CR4: an asset whose E is above this is refused ("1" = no ceiling)
    weights_must_sum_to_one: bool = True  # CR4: the seed fixes sum(w) = 1
    workers_share: str = "1/2"  # CR13: the workers' share of a coop's surplus over BasePrice
    allotment_sharing: str = "demand"  # CR7: how goods share one input's allotment: demand | equal
    # Added with rules 2: left out of the stored policy while at their default (never change them).
    application_deadline: int = field(default=DEFAULT_APPLICATION_DEADLINE, metadata=OMITTED_AT_DEFAULT)  # IN7
    currency: str = field(default="", metadata=OMITTED_AT_DEFAULT)  # IN1: pre-orders paid in it ("" = any)

    def __post_init__(self) -> None:
        _ratio(self.legal_ceiling, "creditism.legal_ceiling")
        _ratio(self.workers_share, "creditism.workers_share")
        if self.allotment_sharing not in SHARING_RULES:
            raise ValueError(f"creditism.allotment_sharing must be one of {', '.join(SHARING_RULES)}")
        if self.application_deadline <= 0:
            raise ValueError("creditism.application_deadline must be a positive number of seconds")

    @property
    def ceiling(self) -> Fraction:
        return _ratio(self.legal_ceiling, "creditism.legal_ceiling")

    @property
    def workers(self) -> Fraction:
        return _ratio(self.workers_share, "creditism.workers_share")
