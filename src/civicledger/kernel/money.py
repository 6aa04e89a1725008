"""Exact money (X3): an integer count of a currency's minor unit, never a float.

Amounts are plain ints checked where they enter (``require_units``), so an accidental
``balance + 0.1`` fails loudly instead of silently drifting.
"""

from __future__ import annotations

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


def format_units(units: int, decimals: int, symbol: str = "") -> str:
    """An exact amount in major units for people: ``format_units(1_200_000, 2, "ξ")`` is "ξ12,000.00".

    Works on the integer alone (X3), so no amount is ever rounded through a float; thousands are
    separated by commas and a negative amount reads "-ξ1.50".
    """
    units = require_units(units)
    if not 0 <= decimals <= 18:
        raise InvalidInputError("a currency has between 0 and 18 decimals", rule="X3")
    sign = "-" if units < 0 else ""
    whole, part = divmod(abs(units), 10**decimals)
    text = f"{whole:,}" + (f".{part:0{decimals}d}" if decimals else "")
    return f"{sign}{symbol}{text}"
