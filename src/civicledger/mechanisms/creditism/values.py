"""Values of Creditism: exact quantities written as text, asset kinds, price components.

Quantities (rates, per-unit inputs, weights, scores) are exact fractions. On the wire they are
strings — a decimal (``"0.61"``), a fraction (``"3/4"``) or a whole number (``"10000"``) — because
the journal refuses floats (X3). Money stays an integer of minor units.
"""

from __future__ import annotations

from enum import StrEnum
from fractions import Fraction

from civicledger.kernel.errors import InvalidInputError

MAX_TEXT = 64


class AssetKind(StrEnum):
    """CR1: what an asset is. Renewable and finite resources are extracted; goods are produced."""

    RENEWABLE = "renewable"
    FINITE = "finite"
    GOOD = "good"


class Component(StrEnum):
    """CR12: the slices every price is broken into, through the whole supply chain."""

    LABOUR = "labour"
    RESOURCES = "resources"
    EXTERNALITY = "externality"
    COUNCIL = "council"
    COOP = "coop"
    SCARCITY = "scarcity"


COMPONENTS: tuple[Component, ...] = tuple(Component)

UNITS = frozenset({"kg", "t", "g", "litre", "m3", "km", "kwh", "piece", "hour", "gb", "unit"})
"""CR1: the units an asset may be counted in."""


def parse_quantity(text: object, what: str, rule: str, *, negative: bool = False) -> Fraction:
    """An exact quantity from '0.61', '3/4' or '10000' (or an int); refuses floats and garbage."""
    if isinstance(text, (bool, float)):
        raise InvalidInputError(f"{what} must be written as text such as '0.61' or '3/4', not {text!r}", rule=rule)
    if isinstance(text, int):
        value = Fraction(text)
    elif isinstance(text, str) and 0 < len(text) <= MAX_TEXT:
        try:
            value = Fraction(text.strip())
        except (ValueError, ZeroDivisionError) as e:
            raise InvalidInputError(f"{what} must be a number such as '0.61' or '3/4', not {text!r}", rule=rule) from e
    else:
        raise InvalidInputError(f"{what} must be a number such as '0.61' or '3/4', not {text!r}", rule=rule)
    if value < 0 and not negative:
        raise InvalidInputError(f"{what} must not be negative, not {text}", rule=rule)
    return value


def encode(value: Fraction | int) -> str:
    """The wire form of an exact quantity: 'n' or 'n/d' in lowest terms."""
    value = Fraction(value)
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def decode(text: str) -> Fraction:
    """Read back a value written by ``encode`` (records and events only: already checked)."""
    return Fraction(text)


def show(value: Fraction, places: int = 4) -> str:
    """A human rendering of an exact value (never stored)."""
    if value.denominator == 1:
        return str(value.numerator)
    scaled = round(value * 10**places)
    sign = "-" if scaled < 0 else ""
    whole, frac = divmod(abs(scaled), 10**places)
    return f"{sign}{whole}.{frac:0{places}d}".rstrip("0").rstrip(".")


def parse_asset_name(text: object, rule: str = "CR1") -> str:
    """An asset's name: lower-case letters, digits, '-' and '_', 1-48 characters."""
    if not isinstance(text, str) or not 0 < len(text) <= 48 or not all(c.isalnum() or c in "-_" for c in text):
        raise InvalidInputError(f"{text!r} is not an asset name (letters, digits, '-', '_', at most 48)", rule=rule)
    if text != text.lower():
        raise InvalidInputError(f"asset names are lower case: {text!r}", rule=rule)
    return text
