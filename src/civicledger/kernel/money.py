"""Exact money (X3): an integer count of a currency's minor unit, never a float.

``Money`` refuses to be mixed across currencies and refuses floats, so an accidental
``balance + 0.1`` or euro-plus-circles fails loudly instead of silently drifting.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import NewType

from civicledger.kernel.errors import InvalidInputError

CurrencyId = NewType("CurrencyId", str)


def require_units(value: object, what: str = "amount") -> int:
    """Return value if it is a plain int (bool and float refused), else raise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"{what} must be a whole number of minor units, not {value!r}", rule="X3")
    return value


def require_positive_units(value: object, what: str = "amount") -> int:
    units = require_units(value, what)
    if units <= 0:
        raise InvalidInputError(f"{what} must be positive, not {units}", rule="X3")
    return units


@dataclass(frozen=True, slots=True)
class Money:
    """A whole number of minor units of one currency."""

    currency: CurrencyId
    units: int

    def __post_init__(self) -> None:
        require_units(self.units)

    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise InvalidInputError(f"cannot combine money with {other!r}", rule="X3")
        if other.currency != self.currency:
            raise InvalidInputError(f"cannot mix currencies {self.currency} and {other.currency}", rule="X3")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.currency, self.units + other.units)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.currency, self.units - other.units)

    def __neg__(self) -> Money:
        return Money(self.currency, -self.units)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.units < other.units

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.units <= other.units


def floor_fraction(value: Fraction) -> int:
    """Round an exact fraction down to whole units (the remainder stays with the issuer)."""
    return value.numerator // value.denominator


def split_evenly(total: int, parts: int) -> list[int]:
    """Split total into parts that differ by at most one unit and sum to total exactly."""
    if parts <= 0:
        raise InvalidInputError("cannot split into zero parts", rule="X3")
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def allocate(total: int, weights: list[int]) -> list[int]:
    """Split total in proportion to integer weights, largest remainders first; sums to total.

    Ties go to the earlier weight, so the result is deterministic.
    """
    weight_sum = sum(weights)
    if weight_sum <= 0 or any(w < 0 for w in weights):
        raise InvalidInputError("weights must be non-negative with a positive sum", rule="X3")
    shares = [total * w // weight_sum for w in weights]
    remainders = [(-(total * w % weight_sum), i) for i, w in enumerate(weights)]
    for _, i in sorted(remainders)[: total - sum(shares)]:
        shares[i] += 1
    return shares
