"""The arithmetic of Gears, exact: sales G_i (GR1), the coefficient delta_i (GR5), the seller's
adjustment (GR6, GR9), the deferred period's net-zero rescaling (GR6) and penalties (GR7), and
the decisions of the Common Good Fund's queue and of a company's debts (GR6, GR7).

Ratios are ``fractions.Fraction``; money is an integer of a currency's minor unit. Where a ratio
becomes money it is rounded by one documented rule, always in the fund's or the payer's favour so
that no unit is ever created: the seller's adjustment ``p * delta / 100`` is rounded toward zero
(the fund keeps the remainder), penalties and annualised sales are rounded down.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from civicledger.kernel.errors import InvalidInputError
from civicledger.kernel.money import allocate
from civicledger.kernel.time import YEAR
from civicledger.mechanisms.gears.values import Verdict


@dataclass(frozen=True, slots=True)
class Tally:
    """A company's current votes: their sum and their number (n_i)."""

    total: int = 0
    count: int = 0

    def add(self, value: int) -> Tally:
        return Tally(self.total + value, self.count + 1)


@dataclass(frozen=True, slots=True)
class CompanyCoefficient:
    company: str
    sales: int  # G_i, minor units, trailing year (GR1)
    votes: int  # n_i, current votes
    total: int  # sum of the current votes
    mean: Fraction | None  # V_i; None without current votes
    delta: Fraction  # delta_i after the optional clamp


@dataclass(frozen=True, slots=True)
class Coefficients:
    """Every company's coefficient at one instant."""

    average: Fraction  # S, the sales-weighted average vote
    scale: Fraction  # the clamp's rescaling factor (1 when no clamp applies)
    companies: dict[str, CompanyCoefficient]

    def imbalance(self) -> Fraction:
        """sum_i G_i delta_i: zero by construction (GR5, GR6)."""
        return sum((c.sales * c.delta for c in self.companies.values()), Fraction(0))


def coefficients(tallies: Mapping[str, Tally], sales: Mapping[str, int], k: int, clamp: int = 0) -> Coefficients:
    """delta_i = k (V_i - S) for every company named in ``tallies`` or ``sales`` (GR5).

    A company with no current votes has delta 0 and is left out of S. When ``clamp`` > 0 and some
    |delta_i| exceeds it, every delta is multiplied by the same factor clamp / max|delta_i|: the
    largest then sits exactly on the bound, and sum_i G_i delta_i stays exactly zero (a plain cut
    at the bound would break solvency). S is summed per distinct vote count n, so the exact sum
    has few distinct denominators even with a hundred thousand companies.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise InvalidInputError(f"k must be a non-negative whole number, not {k!r}", rule="GR5")
    if clamp < 0:
        raise InvalidInputError("the clamp must not be negative", rule="GR5")
    names = sorted(set(tallies) | set(sales))
    voted = [c for c in names if tallies.get(c, Tally()).count > 0]
    weight = 0
    by_count: dict[int, int] = {}
    for c in voted:
        g = sales.get(c, 0)
        if g < 0:
            raise InvalidInputError(f"sales of {c} are negative", rule="GR1")
        t = tallies[c]
        if abs(t.total) > t.count:
            raise InvalidInputError(f"{c}: {t.count} votes of -1, 0 or +1 cannot sum to {t.total}", rule="GR4")
        weight += g
        by_count[t.count] = by_count.get(t.count, 0) + g * t.total
    average = Fraction(0)
    if weight:
        average = sum((Fraction(a, n) for n, a in sorted(by_count.items())), Fraction(0)) / weight
    raw: dict[str, Fraction] = {}
    for c in names:
        t = tallies.get(c, Tally())
        raw[c] = k * (Fraction(t.total, t.count) - average) if t.count else Fraction(0)
    scale = Fraction(1)
    if clamp:
        largest = max((abs(d) for d in raw.values()), default=Fraction(0))
        if largest > clamp:
            scale = Fraction(clamp) / largest
    result = {}
    for c in names:
        t = tallies.get(c, Tally())
        mean = Fraction(t.total, t.count) if t.count else None
        result[c] = CompanyCoefficient(c, sales.get(c, 0), t.count, t.total, mean, raw[c] * scale)
    return Coefficients(average, scale, result)


def annual_sales(sales: Iterable[tuple[int, int]], joined_at: int, at: int, min_age: int) -> int:
    """G_i at ``at`` (GR1): sales in the trailing year (at - YEAR, at].

    A company that joined less than a year ago has its sales since joining annualised pro rata,
    as if it were at least ``min_age`` seconds old (so a first-day sale is not multiplied by
    365), rounded down.
    """
    start = at - YEAR
    total = sum(units for time, units in sales if start < time <= at)
    age = at - joined_at
    if age >= YEAR:
        return total
    return total * YEAR // max(age, min_age, 1)


def effective_delta(delta: Fraction, waiver: bool) -> Fraction:
    """The delta a sale is settled with: a negative delta is waived in the early stage (GR9)."""
    return Fraction(0) if waiver and delta < 0 else delta


def adjustment(price: int, delta: Fraction) -> int:
    """What the fund pays the seller (positive) or receives from it (negative) on a sale (GR6).

    Exactly p * delta / 100, rounded toward zero: the seller never receives more than its exact
    due and never pays more than its exact share; the remainder stays with the fund.
    """
    exact = price * delta / 100
    return math.trunc(exact)


def penalty(annual: int, verdict: Verdict) -> int:
    """One month of sales for a misleading statement, one year for a false one (GR7)."""
    if verdict is Verdict.FALSE:
        return annual
    if verdict is Verdict.MISLEADING:
        return annual // 12
    return 0


def net_zero_period(accrued: Mapping[str, Fraction]) -> tuple[dict[str, int], dict[str, int]]:
    """Deferred settlement of one period (GR6): (payouts by the fund, charges to the fund).

    ``accrued`` is each company's exact sum of p * delta / 100 over the period. The side with the
    larger total is scaled down to the smaller one (factor min(P, N) / side total), and each
    company's scaled amount is rounded down: nobody is paid or charged more than its exact share.
    The two sides' rounded sums may then differ by a few units; the larger side is trimmed to the
    smaller by a largest-remainder split capped at each company's rounded share. Payouts and
    charges therefore sum to the same integer T: the period nets exactly zero.
    """
    positive = {c: a for c, a in sorted(accrued.items()) if a > 0}
    negative = {c: -a for c, a in sorted(accrued.items()) if a < 0}
    matched = min(sum(positive.values(), Fraction(0)), sum(negative.values(), Fraction(0)))
    caps_pos = _scaled_floors(positive, matched)
    caps_neg = _scaled_floors(negative, matched)
    total = min(sum(caps_pos.values()), sum(caps_neg.values()))
    return _capped_split(total, caps_pos), _capped_split(total, caps_neg)


def _scaled_floors(side: Mapping[str, Fraction], matched: Fraction) -> dict[str, int]:
    side_total = sum(side.values(), Fraction(0))
    if not side_total:
        return {}
    return {c: math.floor(a * matched / side_total) for c, a in side.items()}


def _capped_split(total: int, caps: Mapping[str, int]) -> dict[str, int]:
    """Split total (<= sum of caps) in proportion to the caps; no share exceeds its cap."""
    if total <= 0:
        return {}
    names = [c for c, cap in caps.items() if cap > 0]
    shares = allocate(total, [caps[c] for c in names])
    return {c: s for c, s in zip(names, shares, strict=True) if s}


# The Common Good Fund's queue and a company's debts (GR6, GR7) ---------------------------------
#
# The handlers apply these decisions through the kernel's Payments book; the simulator's sector
# makes the same ones on its own arrays.


def fund_pays_now(balance: int, waiting: int, units: int) -> bool:
    """Whether the fund pays a payout of ``units`` (> 0) now, or queues it (GR6).

    It pays now only if no payout is waiting (``waiting`` counts those before this one) and its
    ``balance`` covers it; otherwise the payout joins the end of the queue. So the fund never goes
    below zero and a later payout never overtakes an earlier one.
    """
    return waiting == 0 and balance >= units


def release_in_order(balance: int, pending: Sequence[tuple[str, int]]) -> tuple[list[str], int]:
    """Pay queued payouts strictly in order while the balance covers the next one (GR6).

    Returns the keys paid and the balance left; the first payout that does not fit, and every
    later one, keeps waiting (a later, smaller payout never jumps the queue).
    """
    paid = []
    for key, units in pending:
        if units > balance:
            break
        balance -= units
        paid.append(key)
    return paid, balance


@dataclass(frozen=True, slots=True)
class Charge:
    """A charge or penalty against what the payer holds: paid now, and owed as a debt."""

    paid: int
    owed: int


def charge(due: int, held: int) -> Charge:
    """What a company pays of ``due`` (>= 0) from the ``held`` units it has; the rest is a debt.

    A deferred period's charge (GR6) and a penalty (GR7) are paid as far as the company's balance
    allows at once; what is left is owed and withheld from its later sales (``withhold``).
    """
    paid = min(due, held)
    return Charge(paid, due - paid)


@dataclass(frozen=True, slots=True)
class Withholding:
    """Units withheld for one debt from what a company received, and what it still owes."""

    key: str
    units: int
    remaining: int


def withhold(debts: Sequence[tuple[str, int]], available: int) -> list[Withholding]:
    """Withhold a company's debts, oldest first, from ``available`` units it just received (GR7).

    ``debts`` are (key, units owed) in order. Each debt takes what is left of ``available`` up to
    its units; the first debt that is not paid in full ends the withholding. In total the
    company pays min(sum of the debts, available), whatever the split into debts.
    """
    withheld: list[Withholding] = []
    room = available
    for key, owed in debts:
        if room <= 0:
            break
        units = min(owed, room)
        room -= units
        withheld.append(Withholding(key, units, owed - units))
    return withheld
