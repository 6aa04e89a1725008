"""The domain's scalar rules over whole arrays, exactly.

Each function here is the vectorised form of one rule of ``civicledger.domain`` and says which;
``tests/unit/test_sim_rules.py`` proves each equal to calling the domain function element by
element on random inputs. Money is ``int64`` throughout: every function keeps integer arithmetic
(floor and ceiling divisions, shifts), never floats, wherever a balance is the result.

Where the domain's arithmetic is exact over fractions with no bounded common denominator (the
Circles income rate, the Gears coefficient), the simulator calls the domain function itself, once
per *cohort* or per company rather than per person, so nothing is re-written (see ``model.py``).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from numpy.typing import NDArray

from civicledger.domain.time import YEAR

I64 = NDArray[np.int64]

_MAX_SHIFT = 62


def halved_reserve(reserve: I64, times: I64) -> I64:
    """The trustee reserve after ``times`` trusts (CI7): ceil(R / 2^times).

    The domain's ``trustee_reward`` pays floor(R/2) and keeps R - floor(R/2) = ceil(R/2);
    halving by ceiling twice is the ceiling of a quarter, so k trusts keep ceil(R / 2^k).
    """
    shift = np.minimum(times, _MAX_SHIFT).astype(np.int64)
    return -((-reserve) >> shift)


def trustee_reward_after(reserve: I64, earlier: I64) -> I64:
    """What one trust credits (CI7) when ``earlier`` trusts have already halved the reserve."""
    return halved_reserve(reserve, earlier) // 2


def credits_accrued(born_at: I64, at: int, annual: int) -> I64:
    """SC2 for a flat allocation: floor(annual x (at - born) / YEAR), 0 before birth."""
    elapsed = np.maximum(at - born_at, 0)
    return (elapsed * annual) // YEAR


def decay_steps(elapsed: I64, window: int, step: int) -> I64:
    """SC8: no step within ``window`` of the last fresh time, then one per full ``step``."""
    over = elapsed - window
    return np.where(over > 0, over // step, 0)


def grade_after_decay(grade: I64, steps: I64, base: int) -> I64:
    """SC8: grades above base fall one step per decay step, never below base."""
    lost = np.where(grade > base, np.minimum(steps, grade - base), 0)
    return grade - lost


def annual_sales(window_total: I64, age: I64, min_age: int) -> I64:
    """GR1: trailing-year sales, annualised pro rata for companies younger than a year."""
    young = age < YEAR
    scaled = window_total * YEAR // np.maximum(np.maximum(age, min_age), 1)
    return np.where(young, scaled, window_total)


def deltas_float(totals: I64, counts: I64, sales: I64, k: int, clamp: int = 0) -> NDArray[np.float64]:
    """GR5 in floating point, for distributions and plots only (never for money).

    Settlements use the domain's exact ``coefficients``; this form is what a plot of a hundred
    thousand companies needs, and a test holds it to the exact value within 1e-9.
    """
    voted = counts > 0
    means = np.where(voted, totals / np.maximum(counts, 1), 0.0)
    weight = float(sales[voted].sum())
    average = float((sales[voted] * means[voted]).sum() / weight) if weight else 0.0
    raw = np.where(voted, k * (means - average), 0.0)
    if clamp:
        largest = float(np.abs(raw).max()) if raw.size else 0.0
        if largest > clamp:
            raw = raw * (clamp / largest)
    return raw


def as_fraction(value: float | int | str) -> Fraction:
    """A parameter as an exact fraction (decimal text of a float, never its binary expansion)."""
    if isinstance(value, float):
        return Fraction(repr(value))
    return Fraction(value)
