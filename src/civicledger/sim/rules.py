"""The domain's scalar rules over whole arrays, exactly.

Each function here is the vectorised form of one rule of ``civicledger.kernel`` and says which;
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

from civicledger.kernel.time import YEAR

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


# Social credit lots (SC4, SC8, SC10) ------------------------------------------------------------


def effect_quantity(portion_percent: int, available: I64) -> I64:
    """SC5's ``effect_quantity`` over an array: 0 (whole balance) or the portion, at least 1."""
    if portion_percent >= 100:
        return np.zeros(available.shape, np.int64)
    return np.maximum(1, available * portion_percent // 100)


def _lot_id_keys(columns: int) -> I64:
    """For every bitmask of adjustment positions, its rank among the positions' tuples as Python orders them.

    The domain orders lots of one grade by the tuple of their adjustment ids (in the order applied,
    which is the ids' order); tuples compare element by element and a prefix comes first.
    """
    masks = range(1 << columns)
    tuples = [tuple(p for p in range(columns) if mask >> p & 1) for mask in masks]
    ranks = np.empty(1 << columns, np.int64)
    for rank, mask in enumerate(sorted(masks, key=lambda k: tuples[k])):
        ranks[mask] = rank
    return ranks


_ID_KEYS: dict[int, I64] = {}


def lots(
    available: I64,
    steps: I64,
    quantity: I64,
    left: I64,
    decay: I64,
    grade_min: int,
    grade_max: int,
    base: int,
) -> tuple[I64, I64, I64]:
    """``credits.rules.standing``'s lots for many persons at once (SC4, SC8).

    Row r is one person: ``available`` (accrued - spent) credits at the base grade, then the
    person's *active* adjustments in the order applied (columns; a column with ``steps`` 0 is
    none): a whole-balance one (``quantity`` 0) moves every lot; a quantity one moves ``left`` of
    its credits (its quantity less what spending consumed, for a consumable raise), lowest grades
    first for a raise and highest first for a reduction, ties by the lot's place in the list,
    splitting at most one lot (the new lot goes last); grades are clamped after each. Then ``decay``
    steps lower every lot above base, never below it. Returns (grade, units, mask) of shape
    (rows, columns + 1): a lot's bit j is set when adjustment j shaped it; lots with 0 units are
    not lots.
    """
    m, j_count = steps.shape
    width = j_count + 1
    grade = np.full((m, width), base, np.int64)
    units = np.zeros((m, width), np.int64)
    mask = np.zeros((m, width), np.int64)
    units[:, 0] = np.maximum(available, 0)
    count = (available > 0).astype(np.int64)
    place = np.arange(width, dtype=np.int64)
    for j in range(j_count):
        valid = place[None, :] < count[:, None]
        st = steps[:, j]
        active = (st != 0) & (count > 0)
        whole = active & (quantity[:, j] == 0)
        if whole.any():
            sel = whole[:, None] & valid
            grade = np.where(sel, np.clip(grade + st[:, None], grade_min, grade_max), grade)
            mask = np.where(sel, mask | (1 << j), mask)
        part = active & (quantity[:, j] > 0) & (left[:, j] > 0)
        if not part.any():
            continue
        rows = np.flatnonzero(part)
        g, u, v = grade[rows], units[rows], valid[rows]
        sign = np.where(st[rows] > 0, 1, -1)
        key = np.where(v, sign[:, None] * g * width + place[None, :], np.iinfo(np.int64).max)
        order = np.argsort(key, axis=1, kind="stable")
        us = np.take_along_axis(u * v, order, axis=1)
        before = np.cumsum(us, axis=1) - us
        taken_sorted = np.clip(left[rows, j][:, None] - before, 0, us)
        take = np.empty_like(taken_sorted)
        np.put_along_axis(take, order, taken_sorted, axis=1)
        moved = np.clip(g + st[rows][:, None], grade_min, grade_max)
        full = (take > 0) & (take == u)
        split = (take > 0) & (take < u)
        bit = np.int64(1) << j
        grade[rows] = np.where(full, moved, g)
        mask[rows] = np.where(full, mask[rows] | bit, mask[rows])
        units[rows] = u - np.where(split, take, 0)
        has = split.any(axis=1)
        if has.any():
            r2 = rows[has]
            col = np.argmax(split[has], axis=1)
            new = count[r2]
            grade[r2, new] = moved[has, col]
            units[r2, new] = take[has, col]
            mask[r2, new] = mask[r2, col] | bit
            count[r2] += 1
    lost = np.where(grade > base, np.minimum(decay[:, None], grade - base), 0)
    return grade - lost, units, mask


def choose_credits(
    grade: I64, units: I64, mask: I64, available: I64, min_grade: I64, price: I64
) -> tuple[NDArray[np.bool_], I64]:
    """``credits.rules.choose_credits`` for many persons at once (SC2, SC10).

    ``price`` credits of grade >= ``min_grade``, lowest qualifying grade first, lots of one grade in
    the order of their adjustments' ids (as the domain sorts them). Returns (allowed, taken per lot);
    a refused row (SC2: fewer available than the price; SC10: fewer qualifying) takes nothing.
    """
    columns = max(1, int(mask.max()).bit_length()) if mask.size else 1
    if columns not in _ID_KEYS:
        _ID_KEYS[columns] = _lot_id_keys(columns)
    ids = _ID_KEYS[columns]
    qualifying = (units > 0) & (grade >= min_grade[:, None])
    have = (units * qualifying).sum(axis=1)
    ok = (available >= price) & (have >= price) & (price > 0)
    span = int(ids.max()) + 1
    key = np.where(qualifying, grade * span + ids[mask], np.iinfo(np.int64).max)
    order = np.argsort(key, axis=1, kind="stable")
    us = np.take_along_axis(units * qualifying, order, axis=1)
    before = np.cumsum(us, axis=1) - us
    taken_sorted = np.clip(np.where(ok, price, 0)[:, None] - before, 0, us)
    taken = np.empty_like(taken_sorted)
    np.put_along_axis(taken, order, taken_sorted, axis=1)
    return ok, taken


def used_by_adjustment(taken: I64, mask: I64, columns: int) -> I64:
    """Per adjustment column, the credits taken from lots it shaped (``choose_credits``'s ``used``)."""
    bits = (mask[:, :, None] >> np.arange(columns, dtype=np.int64)[None, None, :]) & 1
    out: I64 = (taken[:, :, None] * bits).sum(axis=1)
    return out
