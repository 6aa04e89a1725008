"""The values the credit rules work on: a person's history, its lots and their standing.

A ``History`` is everything recorded about one person that matters for their credits, in the
compact form the services keep per person. A ``Standing`` is what that history means at one
instant: how much has accrued and been spent, and the available credits split into *lots*, each
with one grade and the adjustments that made it so (SC11).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from civicledger.kernel.identity import AccountId

AdjustmentId = str
"""The entry's sequence number, zero-padded, a dot, and the event's index: ``0000000042.0``."""

AdjustmentRow = tuple[AdjustmentId, int, int, int, int, int, str]
"""An adjustment as a person's compact record keeps it: [id, start, end, steps, quantity, consumable
(1 or 0), kind]."""

SpendRow = tuple[str, int, int, tuple[tuple[AdjustmentId, int], ...]]
"""A spend as a person's compact record keeps it: [id, time, units, [[adjustment, units used up], ...]]."""

NotedRow = tuple[AdjustmentId, int, str]
"""Participation noted by another mechanism (X8), as a person's compact record keeps it: [id, time, kind]."""

AppealStatus = Literal["drawing", "open", "upheld", "overturned", "lapsed"]
"""An appeal is open until a majority of its panel decides it (SC7). Under rules 2 it first waits
for its panel's draw ("drawing", IN6) and lapses, not decided, at its deadline ("lapsed", IN7)."""

PledgeStatus = Literal["open", "drawn", "lapsed"]
"""A pledge waits for a draw, which gives it to a candidate or finds its donor no longer covers it (SC9)."""

CandidateStatus = Literal["waiting", "won"]
"""A lottery candidate waits for draws until one gives them an uplift (SC9)."""


@dataclass(frozen=True, slots=True)
class Adjustment:
    """One grade change (SC4): ``steps`` (signed) on the whole balance or on ``quantity`` credits."""

    id: AdjustmentId
    start: int
    end: int  # exclusive; an overturn (SC7) moves it to the decision's time
    steps: int
    quantity: int  # 0 = the whole balance
    consumable: bool  # a quantity raise is used up as its credits are spent; penalties never are
    kind: str

    @property
    def whole(self) -> bool:
        return self.quantity == 0

    def to_row(self) -> AdjustmentRow:
        return (self.id, self.start, self.end, self.steps, self.quantity, int(self.consumable), self.kind)

    @staticmethod
    def from_row(row: AdjustmentRow) -> Adjustment:
        return Adjustment(row[0], row[1], row[2], row[3], row[4], bool(row[5]), row[6])


@dataclass(frozen=True, slots=True)
class Spend:
    """Credits burned on a service at ``time``; ``consumed`` = units used up of each quantity raise."""

    id: str
    time: int
    units: int
    consumed: tuple[tuple[AdjustmentId, int], ...] = ()

    def to_row(self) -> SpendRow:
        return (self.id, self.time, self.units, self.consumed)

    @staticmethod
    def from_row(row: SpendRow) -> Spend:
        return Spend(row[0], row[1], row[2], row[3])


@dataclass(frozen=True, slots=True)
class History:
    person: AccountId
    born_at: int
    enrolled_at: int
    adjustments: tuple[Adjustment, ...] = ()
    spends: tuple[Spend, ...] = ()
    fresh: tuple[int, ...] = ()  # sorted times that restart the decay clock (SC8)
    noted: tuple[NotedRow, ...] = ()  # participation noted by another mechanism (X8)


@dataclass(frozen=True, slots=True)
class Lot:
    """``units`` credits of one ``grade``, shaped by ``adjustments`` (in the order applied)."""

    grade: int
    units: int
    adjustments: tuple[AdjustmentId, ...] = ()
    decayed: int = 0  # steps the grade lost to decay (SC8)


@dataclass(frozen=True, slots=True)
class Standing:
    person: AccountId
    at: int
    accrued: int
    spent: int
    lots: tuple[Lot, ...]
    decay_steps: int = 0
    decay_since: int = 0
    active: tuple[AdjustmentId, ...] = ()
    consumed: dict[AdjustmentId, int] = field(default_factory=dict)

    @property
    def available(self) -> int:
        return self.accrued - self.spent

    def by_grade(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for lot in self.lots:
            out[lot.grade] = out.get(lot.grade, 0) + lot.units
        return dict(sorted(out.items()))

    def units_at_least(self, grade: int) -> int:
        return sum(lot.units for lot in self.lots if lot.grade >= grade)

    def best_grade(self, default: int) -> int:
        return max((lot.grade for lot in self.lots if lot.units > 0), default=default)
