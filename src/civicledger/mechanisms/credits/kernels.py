"""Compiled kernels of the social credits sector (decisions *A compiled kernel for the payments
to acquaintances* and *Social credits' lots, adjustments and spending walked person by person,
compiled*): each reads a person's row once, where the NumPy passes they replace read it a dozen
times, each pass a gather of scattered rows or a (persons x lots) temporary.

- ``ring_sums``: what each person's active adjustments add up to (the NumPy grade table's sums).
- ``standing`` and ``grade_table``: a person's lots (SC2, SC4, SC8), and their credits by grade.
- ``adjust``: an adjustment written into each person's ring (SC4, SC5).
- ``spend``: a tier's price taken from the lots and the consumable raises consumed (SC2, SC10).

Each keeps its NumPy twin in ``credits.sim`` (``standing_numpy``, ``by_grade_numpy``,
``_adjust_numpy``, ``spend_numpy``) and ``tests/unit/test_sim_kernels.py`` proves them equal:
the same integer arithmetic in the same order, person by person, hence the same rows.
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


AHEAD = 32
"""Persons whose rows a kernel reads ahead, a batch at a time, before it walks them: the persons
of a step are scattered over the million, each read a few cache lines that miss; the reads of a
batch are independent, so the memory serves them together, where the walk would wait for each
person's in turn (``standing`` for 10,000 persons of a million: 1.2 ms against 1.8 ms; ``adjust``
for 20,000: 1.4 ms against 2.3 ms)."""


# A person's lots in one pass (SC2, SC4, SC8) --------------------------------------------------


@njit(cache=True, nogil=True)  # type: ignore[untyped-decorator]
def _walk_lots(
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
    table: Any,
    into_table: bool,
    sink: Any,
) -> None:  # pragma: no cover - compiled; its twins are ``CreditsSector.standing_numpy`` and ``by_grade_numpy``
    """Each person's lots (SC4, SC8) in a row of its own (``grade``, ``units``, ``mask``, with the
    ring slot of each adjustment column, the credits available, the number of active adjustments
    and whether all are simple), or, ``into_table``, only added up by grade into ``table`` (the
    rows of ``grade`` ... are then one scratch row). One loop, no call per person: a compiled call
    would count references to each of its arrays, which costs more than the walk."""
    annual, year, window, decay_step = rules[0], rules[1], rules[2], rules[3]
    grade_min, grade_max, base = rules[4], rules[5], rules[6]
    born, spent, verified, enrolled, last_fresh = people
    ends, steps, seq, quantity, consumable, consumed = ring
    width = grade.shape[1]
    order = np.zeros(width, np.int64)
    take = np.zeros(width, np.int64)
    by_place = np.zeros(width, np.int64)
    read = np.int64(0)  # what was read ahead (``AHEAD``), kept so that the reads are not dropped
    last = ends.shape[1] - 1
    for i in range(persons.shape[0]):
        if i % AHEAD == 0:
            for a in range(i + AHEAD, min(i + 2 * AHEAD, persons.shape[0])):
                q = persons[a]
                read += ends[q, 0] + ends[q, last] + seq[q, 0] + quantity[q, 0] + consumed[q, 0] + steps[q, 0]
                read += born[q] + spent[q] + enrolled[q] + last_fresh[q] + verified[q]
        p = persons[i]
        r = 0 if into_table else i
        elapsed = t - born[p]
        if elapsed < 0:
            elapsed = 0
        have = (elapsed * annual) // year - spent[p] if verified[p] else 0  # SC2
        since = max(enrolled[p], last_fresh[p])
        over = t - since - window
        decay = over // decay_step if over > 0 else 0  # SC8
        # The active adjustments (end > t, SC4) in the order applied (by ``seq``; an insertion
        # sort is stable, as the NumPy path's argsort), and what they add up to.
        active = 0
        up = np.int64(0)
        down = np.int64(0)
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
                k = active
                while k > 0 and seq[p, order[k - 1]] > seq[p, j]:
                    order[k] = order[k - 1]
                    k -= 1
                order[k] = j
                active += 1
        for k in range(width):
            grade[r, k] = base
            units[r, k] = 0
            mask[r, k] = 0
        units[r, 0] = have if have > 0 else 0
        easy = not quantified and base + up <= grade_max and base + down >= grade_min
        lots = 1
        if easy:  # no bound reachable in any order: one lot at base + the steps, then decay
            g = base + up + down
            grade[r, 0] = g - min(decay, g - base) if g > base else g
        else:
            lots = 1 if have > 0 else 0
            for c in range(active if lots else 0):  # ``lots``: column c is the c-th active adjustment
                j = order[c]
                st = np.int64(steps[p, j])
                q = np.int64(quantity[p, j])
                bit = np.int64(1) << c
                if q == 0:  # the whole balance: every lot moves, clamped
                    for k in range(lots):
                        g = grade[r, k] + st
                        grade[r, k] = grade_min if g < grade_min else grade_max if g > grade_max else g
                        mask[r, k] |= bit
                    continue
                left = q - np.int64(consumed[p, j]) if consumable[p, j] else q
                if left <= 0:
                    continue
                # a quantity: lots lowest grade first for a raise, highest first for a reduction,
                # ties by place, taken in that order up to ``left``, splitting at most one
                for k in range(lots):
                    key = grade[r, k] if st > 0 else -grade[r, k]
                    n = k
                    while n > 0:
                        other = by_place[n - 1]
                        if (grade[r, other] if st > 0 else -grade[r, other]) <= key:
                            break
                        by_place[n] = other
                        n -= 1
                    by_place[n] = k
                before = 0
                for n in range(lots):
                    k = by_place[n]
                    taken = min(max(left - before, 0), units[r, k])
                    take[k] = taken
                    before += units[r, k]
                split = -1
                for k in range(lots):
                    if take[k] <= 0:
                        continue
                    g = grade[r, k] + st
                    if take[k] == units[r, k]:
                        grade[r, k] = grade_min if g < grade_min else grade_max if g > grade_max else g
                        mask[r, k] |= bit
                    else:
                        units[r, k] -= take[k]
                        if split < 0:
                            split = k
                if split >= 0:  # the split lot's taken part becomes a new lot, last
                    g = grade[r, split] + st
                    grade[r, lots] = grade_min if g < grade_min else grade_max if g > grade_max else g
                    units[r, lots] = take[split]
                    mask[r, lots] = mask[r, split] | bit
                    lots += 1
            for k in range(lots):  # SC8: decay lowers every lot above base, never below it
                if grade[r, k] > base:
                    grade[r, k] -= min(decay, grade[r, k] - base)
        if into_table:
            for k in range(lots):
                table[i, grade[r, k] - grade_min] += units[r, k]
        else:
            available[i] = have
            count[i] = active
            simple[i] = easy
            if not easy:
                for k in range(active):
                    slots[i, k] = order[k]
    sink[0] = read


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
    table = np.zeros((0, 0), np.int64)
    sink = np.zeros(1, np.int64)
    _walk_lots(persons, t, rules, people, ring, grade, units, mask, slots, available, count, simple, table, False, sink)
    return grade, units, mask, slots, available, count, simple


def grade_table(
    persons: NDArray[np.int64], t: int, rules: NDArray[np.int64], people: People, ring: Ring
) -> NDArray[np.int64]:
    """Credits per grade (columns grade min .. grade max) of each person: their lots (``standing``)
    summed by grade, one person at a time, without the persons x lots arrays."""
    out = np.zeros((persons.size, int(rules[5] - rules[4]) + 1), np.int64)
    row = np.zeros((1, lot_columns(ring[0].shape[1])), np.int64)  # one person's lots, a scratch row
    none, flags, sink = np.zeros(0, np.int64), np.zeros(0, np.bool_), np.zeros(1, np.int64)
    _walk_lots(persons, t, rules, people, ring, row, row.copy(), row.copy(), row, none, none, flags, out, True, sink)
    return out


# An adjustment recorded in each person's ring (SC4, SC5) ---------------------------------------


@njit(cache=True, nogil=True)  # type: ignore[untyped-decorator]
def _adjust(
    persons: Any,
    now: int,
    end: int,
    steps: int,
    quantity: Any,
    consumable: bool,
    kind: int,
    first_seq: int,
    ring: Any,
    kinds: Any,
    slots: Any,
    sink: Any,
) -> int:  # pragma: no cover - compiled; its twin is ``CreditsSector._adjust``'s NumPy path
    ends, ring_steps, seq, ring_quantity, ring_consumable, consumed = ring
    overflows = 0
    read = np.int64(0)  # what was read ahead (``AHEAD``), kept so that the reads are not dropped
    last = ends.shape[1] - 1
    for i in range(persons.shape[0]):  # every slot chosen before any is written, as the NumPy path
        if i % AHEAD == 0:
            for a in range(i + AHEAD, min(i + 2 * AHEAD, persons.shape[0])):
                read += ends[persons[a], 0] + ends[persons[a], last]
        p = persons[i]
        slot = 0
        least = ends[p, 0]
        for j in range(1, ends.shape[1]):
            if ends[p, j] < least:
                least = ends[p, j]
                slot = j
        slots[i] = slot
        if least > now:
            overflows += 1
    for i in range(persons.shape[0]):  # in order: a person named twice keeps the last
        if i % AHEAD == 0:  # the lines about to be written, read ahead
            for a in range(i + AHEAD, min(i + 2 * AHEAD, persons.shape[0])):
                q = persons[a]
                read += seq[q, 0] + ring_quantity[q, last] + consumed[q, last] + kinds[q, last]
        p = persons[i]
        slot = slots[i]
        q = quantity[i]
        ends[p, slot] = end
        ring_steps[p, slot] = steps
        seq[p, slot] = first_seq + i
        ring_quantity[p, slot] = q
        ring_consumable[p, slot] = consumable and q > 0
        consumed[p, slot] = 0
        kinds[p, slot] = kind
    sink[0] = read
    return overflows


def adjust(
    persons: NDArray[np.int64],
    now: int,
    end: int,
    steps: int,
    quantity: NDArray[np.int64],
    consumable: bool,
    kind: int,
    first_seq: int,
    ring: Ring,
    kinds: NDArray[np.int8],
) -> tuple[NDArray[np.int64], int]:
    """Record one adjustment (SC4, SC5) for each of ``persons`` in the slot of their ring that ends
    first (the first such slot; an expired one while any is), the i-th's place in the order applied
    ``first_seq + i``; every slot is chosen before any is written. Returns the slots and how many
    replaced an adjustment still active at ``now`` (the ring's overflows)."""
    slots = np.empty(persons.size, np.int64)
    sink = np.zeros(1, np.int64)
    overflows = _adjust(persons, now, end, steps, quantity, consumable, kind, first_seq, ring, kinds, slots, sink)
    return slots, int(overflows)


# Spending a tier's price from the lots (SC2, SC10) ---------------------------------------------


@njit(cache=True, nogil=True)  # type: ignore[untyped-decorator]
def _spend(
    persons: Any,
    grade: Any,
    units: Any,
    mask: Any,
    slots: Any,
    available: Any,
    min_grade: Any,
    price: Any,
    ids: Any,
    consumable: Any,
    consumed: Any,
    ok: Any,
) -> None:  # pragma: no cover - compiled; its twin is ``choose_credits`` with ``used_by_adjustment``
    lots = grade.shape[1]
    columns = slots.shape[1]
    order = np.zeros(lots, np.int64)
    used = np.zeros(max(columns, 1), np.int64)
    for i in range(persons.shape[0]):
        have = 0
        n = 0
        for k in range(lots):  # the qualifying lots, lowest grade first, then by their ids (stable)
            if units[i, k] > 0 and grade[i, k] >= min_grade[i]:
                have += units[i, k]
                g, key = grade[i, k], ids[mask[i, k]]
                at = n
                while at > 0:
                    other = order[at - 1]
                    if grade[i, other] < g or (grade[i, other] == g and ids[mask[i, other]] <= key):
                        break
                    order[at] = other
                    at -= 1
                order[at] = k
                n += 1
        allowed = available[i] >= price[i] and have >= price[i] and price[i] > 0
        ok[i] = allowed
        if not allowed:
            continue
        for c in range(columns):
            used[c] = 0
        before = 0
        for at in range(n):
            k = order[at]
            taken = min(max(price[i] - before, 0), units[i, k])
            before += units[i, k]
            if taken != 0:
                for c in range(columns):
                    if (mask[i, k] >> c) & 1:
                        used[c] += taken
        p = persons[i]
        for c in range(columns):
            if used[c] != 0:
                slot = slots[i, c]
                if consumable[p, slot]:
                    consumed[p, slot] += used[c]


def spend(
    persons: NDArray[np.int64],
    lots: tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]],
    min_grade: NDArray[np.int64],
    price: NDArray[np.int64],
    ids: NDArray[np.int64],
    consumable: NDArray[np.bool_],
    consumed: NDArray[np.int32],
) -> NDArray[np.bool_]:
    """Each person (distinct) buys ``price`` credits of grade >= ``min_grade`` from their lots
    (``lots``: grade, units, mask, slots, available, as ``standing`` gives them), lowest
    qualifying grade first, lots of one grade in the order ``ids`` gives their masks (SC10); a
    consumable raise's ``consumed`` grows by what was taken from the lots it shaped. Refused
    (SC2: fewer available than the price; SC10: fewer qualifying): nothing taken. Returns which
    were allowed: ``choose_credits`` and ``used_by_adjustment``, person by person."""
    grade, units, mask, slots, available = lots
    ok = np.zeros(persons.size, np.bool_)
    _spend(persons, grade, units, mask, slots, available, min_grade, price, ids, consumable, consumed, ok)
    return ok
