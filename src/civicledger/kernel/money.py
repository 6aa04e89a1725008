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


def format_money(units: int, decimals: int, symbol: str = "") -> str:
    """Minor units as a person reads them: ``format_money(1200000, 2, "xi") == "12,000.00 xi"``.

    Exact: the digits come from integer division, never a float, so the text always says what the
    ledger holds (X3). One function serves the CLI's tables, the demo and the pages; a currency's
    ``decimals`` and symbol come from its record (``Currency.format``)."""
    units = require_units(units)
    if decimals < 0:
        raise InvalidInputError(f"a currency has 0 or more decimals, not {decimals}", rule="X3")
    whole, fraction = divmod(abs(units), 10**decimals)
    text = ("-" if units < 0 else "") + f"{whole:,}" + (f".{fraction:0{decimals}d}" if decimals else "")
    return f"{text} {symbol}" if symbol else text


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
