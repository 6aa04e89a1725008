"""A compiled kernel for the grade table (decision *A compiled kernel for the payments to
acquaintances*): what each person's active adjustments add up to, in one pass over the ring.

``CreditsSector.by_grade`` read the ring (persons x slots) one column at a time: eight passes
over a million persons' 64-byte rows of ends for the table, each pulling the whole array through
the caches. ``ring_sums`` reads each person's row once. Integer sums and flags: the same values.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit  # type: ignore[import-untyped]
from numpy.typing import NDArray


@njit(cache=True, nogil=True)  # type: ignore[untyped-decorator]
def _ring_sums(
    ends: Any, steps: Any, quantity: Any, t: int, up: Any, down: Any, busy: Any, quantified: Any
) -> None:  # pragma: no cover - compiled; its twin is the column loop it replaces
    for i in range(ends.shape[0]):
        raised = 0
        lowered = 0
        live = False
        some = False
        for j in range(ends.shape[1]):
            if ends[i, j] > t:
                live = True
                move = steps[i, j]
                if move > 0:
                    raised += move
                elif move < 0:
                    lowered += move
                if move != 0 and quantity[i, j] > 0:
                    some = True
        up[i] = raised
        down[i] = lowered
        busy[i] = live
        quantified[i] = some


def ring_sums(
    ends: NDArray[np.int64], steps: NDArray[np.int8], quantity: NDArray[np.int32], t: int
) -> tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.bool_], NDArray[np.bool_]]:
    """For each person (row) of the ring, over the adjustments still in force at ``t`` (end >
    ``t``, SC4): the sum of their raising steps, the sum of their lowering steps, whether any is
    in force, and whether any in force moves a quantity of credits (``quantity`` > 0)."""
    n = ends.shape[0]
    up = np.zeros(n, np.int32)
    down = np.zeros(n, np.int32)
    busy = np.zeros(n, np.bool_)
    quantified = np.zeros(n, np.bool_)
    _ring_sums(ends, steps, quantity, t, up, down, busy, quantified)
    return up, down, busy, quantified


# A person's lots in one pass (SC2, SC4, SC8) --------------------------------------------------


@njit(cache=True, nogil=True, inline="always")  # type: ignore[untyped-decorator]
def _clip(value: int, low: int, high: int) -> int:  # pragma: no cover - compiled
    return low if value < low else high if value > high else value


@njit(cache=True, nogil=True)  # type: ignore[untyped-decorator]
def _person_lots(
    p: int,
    t: int,
    rules: Any,
    born: Any,
    spent: Any,
    verified: Any,
    enrolled: Any,
    last_fresh: Any,
    ring: Any,
    order: Any,
    grade: Any,
    units: Any,
    mask: Any,
    take: Any,
    sorted_lots: Any,
) -> tuple[int, int, int, bool]:  # pragma: no cover - compiled; its twin is ``CreditsSector.standing``
    """Person ``p``'s lots into ``grade``, ``units``, ``mask`` (SC4, SC8), the ring slots of their
    active adjustments in the order applied into ``order``; returns (available, active adjustments,
    lots, simple). ``rules``: annual allocation, YEAR, decay window, decay step, grade min, max, base."""
    annual, year, window, decay_step, grade_min, grade_max, base = (
        rules[0], rules[1], rules[2], rules[3], rules[4], rules[5], rules[6]
    )
    ends, steps, seq, quantity, consumable, consumed = ring
    elapsed = t - born[p]
    if elapsed < 0:
        elapsed = 0
    available = (elapsed * annual) // year - spent[p] if verified[p] else 0
    since = max(enrolled[p], last_fresh[p])
    over = t - since - window
    decay = over // decay_step if over > 0 else 0
    # The active adjustments (end > t, SC4), in the order applied (by ``seq``; insertion sort is
    # stable, as the NumPy path's argsort), with what they add up to.
    count = 0
    up = 0
    down = 0
    quantified = False
    for j in range(ends.shape[1]):
        move = np.int64(steps[p, j])
        if ends[p, j] > t and move != 0:
            if move > 0:
                up += move
            else:
                down += move
            if quantity[p, j] > 0:
                quantified = True
            k = count
            while k > 0 and seq[p, order[k - 1]] > seq[p, j]:
                order[k] = order[k - 1]
                k -= 1
            order[k] = j
            count += 1
    for k in range(grade.shape[0]):
        grade[k] = base
        units[k] = 0
        mask[k] = 0
    units[0] = available if available > 0 else 0
    simple = not quantified and base + up <= grade_max and base + down >= grade_min
    if simple:  # no bound reachable in any order: one lot at base + the steps (``grade_after_decay``)
        g = base + up + down
        if g > base:
            g -= min(decay, g - base)
        grade[0] = g
        return available, count, 1, True
    lots = 1 if available > 0 else 0
    for c in range(count):  # ``lots``: column c is the c-th active adjustment
        if lots == 0:
            break
        j = order[c]
        st = np.int64(steps[p, j])
        q = np.int64(quantity[p, j])
        bit = np.int64(1) << c
        if q == 0:  # whole balance: every lot moves
            for k in range(lots):
                grade[k] = _clip(grade[k] + st, grade_min, grade_max)
                mask[k] |= bit
            continue
        left = q - np.int64(consumed[p, j]) if consumable[p, j] else q
        if left <= 0:
            continue
        # lots by grade (lowest first for a raise, highest first for a reduction), ties by place
        for k in range(lots):
            key = grade[k] if st > 0 else -grade[k]
            i = k
            while i > 0:
                other = sorted_lots[i - 1]
                other_key = grade[other] if st > 0 else -grade[other]
                if other_key <= key:
                    break
                sorted_lots[i] = other
                i -= 1
            sorted_lots[i] = k
        before = 0
        for i in range(lots):
            k = sorted_lots[i]
            taken = left - before
            if taken < 0:
                taken = 0
            if taken > units[k]:
                taken = units[k]
            take[k] = taken
            before += units[k]
        split = -1
        for k in range(lots):
            if take[k] <= 0:
                continue
            moved = _clip(grade[k] + st, grade_min, grade_max)
            if take[k] == units[k]:
                grade[k] = moved
                mask[k] |= bit
            else:
                units[k] -= take[k]
                if split < 0:
                    split = k
        if split >= 0:  # the split lot's taken part becomes a new lot, last
            grade[lots] = _clip(grade[split] + st, grade_min, grade_max)
            units[lots] = take[split]
            mask[lots] = mask[split] | bit
            lots += 1
    for k in range(grade.shape[0]):  # SC8: decay lowers every lot above base, never below it
        if grade[k] > base:
            grade[k] -= min(decay, grade[k] - base)
    return available, count, lots, False


@njit(cache=True, nogil=True)  # type: ignore[untyped-decorator]
def _standing(
    persons: Any,
    t: int,
    rules: Any,
    people: Any,
    ring: Any,
    grade: Any,
    units: Any,
    mask: Any,
    slots: Any,
    available: Any,
    count: Any,
    simple: Any,
) -> None:  # pragma: no cover - compiled; its twin is ``CreditsSector.standing``
    born, spent, verified, enrolled, last_fresh = people
    width = grade.shape[1]
    order = np.zeros(width, np.int64)
    take = np.zeros(width, np.int64)
    sorted_lots = np.zeros(width, np.int64)
    for i in range(persons.shape[0]):
        p = persons[i]
        a, c, _, easy = _person_lots(
            p, t, rules, born, spent, verified, enrolled, last_fresh, ring,
            order, grade[i], units[i], mask[i], take, sorted_lots,
        )  # fmt: skip
        available[i] = a
        count[i] = c
        simple[i] = easy
        if not easy:
            for k in range(c):
                slots[i, k] = order[k]


@njit(cache=True, nogil=True)  # type: ignore[untyped-decorator]
def _grade_table(
    persons: Any, t: int, rules: Any, people: Any, ring: Any, width: int, out: Any
) -> None:  # pragma: no cover - compiled; its twin is ``CreditsSector.standing`` summed by grade
    born, spent, verified, enrolled, last_fresh = people
    grade_min = rules[4]
    order = np.zeros(width, np.int64)
    take = np.zeros(width, np.int64)
    sorted_lots = np.zeros(width, np.int64)
    grade = np.zeros(width, np.int64)
    units = np.zeros(width, np.int64)
    mask = np.zeros(width, np.int64)
    for i in range(persons.shape[0]):
        _, _, lots, _ = _person_lots(
            persons[i], t, rules, born, spent, verified, enrolled, last_fresh, ring,
            order, grade, units, mask, take, sorted_lots,
        )  # fmt: skip
        for k in range(lots):
            out[i, grade[k] - grade_min] += units[k]


Ring = tuple[
    NDArray[np.int64], NDArray[np.int8], NDArray[np.int32], NDArray[np.int32], NDArray[np.bool_], NDArray[np.int32]
]
"""A person's ring of adjustments (persons x slots): end, steps, order applied (seq), quantity,
consumable, consumed."""

People = tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.bool_], NDArray[np.int64], NDArray[np.int64]]
"""Per person: birth, credits spent, verified, enrolment, last fresh participation."""


def lot_columns(slots: int) -> int:
    """Columns a person's lots may need: one more than the power of two at or above the ring's
    slots (the NumPy walk's widest group), so that ``standing`` can cut its result to any width."""
    return (1 << (max(slots, 1) - 1).bit_length()) + 1


def standing(
    persons: NDArray[np.int64], t: int, rules: NDArray[np.int64], people: People, ring: Ring
) -> tuple[
    NDArray[np.int64],
    NDArray[np.int64],
    NDArray[np.int64],
    NDArray[np.int64],
    NDArray[np.int64],
    NDArray[np.int64],
    NDArray[np.bool_],
]:
    """Each person's lots (grade, units, mask), the ring slot of each adjustment column, credits
    available, number of active adjustments and whether they are all simple whole-balance ones
    (SC2, SC4, SC8), reading each person's row once: ``CreditsSector.standing``'s arithmetic, in
    its order, person by person. ``rules``: annual allocation, YEAR, decay window, decay step,
    grade min, grade max, base grade. The lots are ``lot_columns(slots)`` wide; the caller cuts."""
    m, width = persons.size, lot_columns(ring[0].shape[1])
    grade = np.empty((m, width), np.int64)
    units = np.empty((m, width), np.int64)
    mask = np.empty((m, width), np.int64)
    slots = np.zeros((m, width - 1), np.int64)
    available = np.empty(m, np.int64)
    count = np.empty(m, np.int64)
    simple = np.empty(m, np.bool_)
    _standing(persons, t, rules, people, ring, grade, units, mask, slots, available, count, simple)
    return grade, units, mask, slots, available, count, simple


def grade_table(
    persons: NDArray[np.int64], t: int, rules: NDArray[np.int64], people: People, ring: Ring
) -> NDArray[np.int64]:
    """Credits per grade (columns grade min .. grade max) of each person: their lots (``standing``)
    summed by grade, one person at a time, without the persons x lots arrays."""
    out = np.zeros((persons.size, int(rules[5] - rules[4]) + 1), np.int64)
    _grade_table(persons, t, rules, people, ring, lot_columns(ring[0].shape[1]), out)
    return out
