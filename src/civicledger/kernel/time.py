"""Time as the rules see it (X4): whole seconds since the Unix epoch, read from the entry.

The rules never read a clock. An entry's time comes from an injected clock; scenarios move a
simulated clock, the service uses the wall clock. A year is 365.2425 days, a month a twelfth of it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NewType

from civicledger.kernel.errors import InvalidInputError

Instant = NewType("Instant", int)
"""Seconds since 1970-01-01T00:00:00Z."""

SECOND = 1
MINUTE = 60
HOUR = 3_600
DAY = 86_400
WEEK = 7 * DAY
YEAR = 31_556_952
MONTH = YEAR // 12  # 2,629,746 s exactly: 31,556,952 divides by 12.

assert MONTH * 12 == YEAR


def parse_instant(text: str) -> Instant:
    """Parse an ISO 8601 time (a bare date means midnight UTC) into an Instant."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as e:
        raise InvalidInputError(f"{text!r} is not an ISO 8601 time", rule="X4") from e
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return Instant(int(value.timestamp()))


def format_instant(instant: int) -> str:
    """Render an Instant as an ISO 8601 UTC time."""
    return datetime.fromtimestamp(instant, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def whole_years_between(start: int, end: int) -> int:
    """Whole years of 365.2425 days from start to end (0 if end is before start)."""
    return max(0, (end - start) // YEAR)


def format_duration(seconds: int) -> str:
    """A duration as people read it: "90 days", "1 day 6 hours", "45 minutes", "1 year" (X4's year).

    Whole years and days first, then hours and minutes; at most two parts, the rest dropped."""
    if seconds < 0:
        return "-" + format_duration(-seconds)
    if seconds == 0:
        return "0 seconds"
    return " ".join(f"{n:,} {word}{'' if n == 1 else 's'}" for n, word in duration_parts(seconds))


DURATION_UNITS = ((YEAR, "year"), (DAY, "day"), (HOUR, "hour"), (MINUTE, "minute"), (SECOND, "second"))


def duration_parts(seconds: int, most: int = 2) -> list[tuple[int, str]]:
    """``seconds`` (> 0) as at most ``most`` (count, unit) parts, largest first: two as
    ``format_duration`` shows them, every part (``most`` 5) for a text that reads back exactly. The
    pages say the units in the reader's language (``web.i18n.format_duration``)."""
    parts: list[tuple[int, str]] = []
    rest = seconds
    for size, word in DURATION_UNITS:
        n, rest = divmod(rest, size)
        if n:
            parts.append((n, word))
        if len(parts) == most:
            break
    return parts
