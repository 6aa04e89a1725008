"""The ``[circles]`` policy section (CI2-CI9, CI15) and its three presets.

``seed`` reads the essay: 1,000 units a week, +5% a year, a month for the owner and a two-month
trustee reserve, mutual trust. ``circles-v1`` and ``circles-v2`` are the rules the Circles project
later ran: 8 units a day, +7% a year, a 50-unit signup and directed trust with percent limits (v1);
1 unit an hour, claims reaching back 14 days, 7% yearly demurrage applied daily and binary
expiring trust (v2). Amounts are minor units of a personal currency with ``decimals`` decimals.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from civicledger.kernel.canonical import JSONObject
from civicledger.kernel.policy import Unit, since_rules
from civicledger.kernel.ratio import Ratio
from civicledger.kernel.time import DAY, HOUR, MONTH, WEEK

V2_DAY_ZERO = 1_602_720_000
"""Circles v2's day zero (2020-10-15 00:00 UTC, the midnight before Hub v1's deployment): demurrage
days are counted from it, so a day ends at midnight UTC as it does on chain."""


class TrustMode(StrEnum):
    MUTUAL = "mutual"  # both sign; each accepts the other's currency (the seed, CI5)
    DIRECTED = "directed"  # the truster alone signs and accepts the trustee's currency (v1, v2)


@dataclass(frozen=True, slots=True)
class CirclesPolicy:
    UNITS: ClassVar[dict[str, Unit]] = {
        **dict.fromkeys(
            ("income_period", "owner_start", "reserve_start", "claim_window", "claim_timeout"), Unit.SECONDS
        ),
        **dict.fromkeys(("income_units", "signup_units", "welcome_bonus", "invitation_cost"), Unit.MINOR_UNITS),
    }
    preset: str = "seed"
    decimals: int = 2
    income_units: int = 100_000  # minor units per income_period: 1,000.00 a week (CI2)
    income_period: int = WEEK
    growth: Ratio = Ratio(1, 20)  # noqa: RUF009  a fraction is immutable; per whole year (CI3)
    owner_start: int = MONTH  # seconds of income a new account owns at once (CI4)
    reserve_start: int = 2 * MONTH  # seconds of income set aside as its trustee reserve (CI4)
    signup_units: int = 0  # a fixed signup grant in minor units (circles-v1: 50 units)
    claim_window: int = 0  # 0: unlimited; else how far back a claim reaches (circles-v2: 14 days)
    demurrage: Ratio = Ratio(0)  # noqa: RUF009  yearly, applied per whole day (circles-v2: 7%)
    trust_mode: TrustMode = TrustMode.MUTUAL
    trust_limits: bool = False  # a trust may accept only up to a percent of the truster's own holding (v1)
    trust_expiry: bool = False  # a trust may carry an expiry time (v2)
    max_steps: int = 30  # transfers in one routed payment (CI9)
    # Rule version 3 (CI15, IN4); each is left out of a policy that holds its default:
    day_zero: int = since_rules(3, 0)  # demurrage days are whole days since this time (v2: V2_DAY_ZERO)
    welcome_bonus: int = since_rules(3, 0)  # minor units an invited person receives (v2: 48 units)
    invitation_cost: int = since_rules(3, 0)  # minor units of its own currency the inviter burns (v2: 96 units)
    claim_timeout: int = since_rules(3, 0)  # 0: none; else seconds without a claim until issuance stops (v1: 90 days)

    def __post_init__(self) -> None:
        if self.preset not in PRESET_NAMES:
            raise ValueError(f"preset must be one of {', '.join(PRESET_NAMES)}, not {self.preset!r}")
        if self.income_period <= 0:
            raise ValueError("income_period must be a positive number of seconds")
        if not 0 <= self.decimals <= 18:
            raise ValueError("decimals must be between 0 and 18")
        if not 1 <= self.max_steps <= 256:
            raise ValueError("max_steps must be between 1 and 256 (a transfer's legs)")
        if self.demurrage >= 1:
            raise ValueError("demurrage must be below 100% a year")
        if min(self.welcome_bonus, self.invitation_cost, self.claim_timeout) < 0:
            raise ValueError("welcome_bonus, invitation_cost and claim_timeout must not be negative")


PRESET_NAMES = ("seed", "circles-v1", "circles-v2")


def preset(name: str) -> CirclesPolicy:
    """The section of a named preset (CI15); ``seed`` is the default."""
    if name == "seed":
        return CirclesPolicy()
    if name == "circles-v1":
        return CirclesPolicy(
            preset="circles-v1",
            income_units=800,
            income_period=DAY,
            growth=Ratio(7, 100),
            owner_start=0,
            reserve_start=0,
            signup_units=5_000,
            trust_mode=TrustMode.DIRECTED,
            trust_limits=True,
            claim_timeout=90 * DAY,
        )
    if name == "circles-v2":
        return CirclesPolicy(
            preset="circles-v2",
            income_units=100,
            income_period=HOUR,
            growth=Ratio(0),
            owner_start=0,
            reserve_start=0,
            claim_window=14 * DAY,
            demurrage=Ratio(7, 100),
            trust_mode=TrustMode.DIRECTED,
            trust_expiry=True,
            day_zero=V2_DAY_ZERO,
            welcome_bonus=4_800,
            invitation_cost=9_600,
        )
    raise ValueError(f"no Circles preset {name!r}; presets are {', '.join(PRESET_NAMES)}")


def preset_mapping(name: str) -> JSONObject:
    """A preset as the mapping a policy file's ``[circles]`` table holds."""
    section = preset(name)
    out: JSONObject = {}
    for f in dataclasses.fields(section):
        value = getattr(section, f.name)
        if isinstance(value, Ratio):
            value = value.encode()
        elif isinstance(value, StrEnum):
            value = value.value
        out[f.name] = value
    return out
