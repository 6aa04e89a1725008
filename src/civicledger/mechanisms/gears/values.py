"""Gears values: limits fixed by the rules, the verdicts of a challenge, exact ratios on the wire."""

from __future__ import annotations

import re
from enum import StrEnum
from fractions import Fraction

from civicledger.kernel.errors import InvalidInputError

MAX_STATEMENTS = 20  # GR2
MAX_STATEMENT_CHARS = 200  # GR2
MAX_QUESTION_CHARS = 300
MAX_CHOICES = 6
MAX_REASON_CHARS = 500
VOTE_VALUES = (-1, 0, 1)  # GR4
MAX_SECTOR_CHARS = 40  # IN3: a sector is a short lower-case name, e.g. "food" or "building-materials"
MAX_COMPANY_QUESTIONS = 9999  # GR3: a company's questions are numbered 1-9999 (rule version 1: 200)
MAX_PENDING_QUESTIONS = 20  # IN3, IN7: a company's questions awaiting the council's review at once
MAX_BANK_QUESTIONS = 999_999  # IN3: the council's questions, all sectors together
BANK_QUESTION_BASE = 1_000_000
"""IN3: in a drawn test the council's question n is numbered ``BANK_QUESTION_BASE + n``, so that one
number names either a company's own question (below it) or one of the council's bank."""


class Claim(StrEnum):
    """What a whistleblower says a statement is (GR7)."""

    MISLEADING = "misleading"
    FALSE = "false"


class Verdict(StrEnum):
    """What voters decide about a challenged statement (GR7), mildest first."""

    ACCURATE = "accurate"
    MISLEADING = "misleading"
    FALSE = "false"


VERDICT_ORDER = (Verdict.ACCURATE, Verdict.MISLEADING, Verdict.FALSE)

_RATIO_RE = re.compile(r"^-?[0-9]+/[0-9]+$")


def encode_ratio(value: Fraction) -> str:
    """An exact ratio as 'n/d' (never a float on the wire, X3)."""
    return f"{value.numerator}/{value.denominator}"


def decode_ratio(text: str) -> Fraction:
    if not isinstance(text, str) or not _RATIO_RE.match(text):
        raise InvalidInputError(f"{text!r} is not an exact ratio 'n/d'", rule="GR5")
    numerator, denominator = text.split("/")
    if int(denominator) == 0:
        raise InvalidInputError(f"{text!r} has a zero denominator", rule="GR5")
    return Fraction(int(numerator), int(denominator))


def ratio_text(value: Fraction, places: int = 4) -> str:
    """A human rendering of an exact ratio, rounded half away from zero to ``places`` decimals."""
    scale = 10**places
    scaled = abs(value) * scale
    whole = int(scaled + Fraction(1, 2))
    sign = "-" if value < 0 and whole else ""
    return f"{sign}{whole // scale}.{whole % scale:0{places}d}"
