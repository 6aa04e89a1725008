"""Compiled kernels for Circles' hottest simulation pass (issue 17, decision *A compiled kernel
for the payments to acquaintances*).

``pay_acquaintances`` is the payments behaviour ``random_pairs`` and the step's payment pass
(CI5, CI8) in one loop over the persons: the NumPy version makes a dozen passes over the
300,000 payers of a million persons each step (gathers, masks, copies), this one reads each
payer's row once. Same arithmetic in the same order for each payer, hence the same rows
(``tests/unit/test_sim_same_rows.py``, ``test_sim_kernels.py``): a payer pays only its own coins
and its own holding is changed by no one else in the pass, so the order of the payments cannot
change any sum.

Both kernels can cut their persons into contiguous parts, each run on its own thread (``run``,
the simulator's ``sim.threads``: the kernels are ``nogil``). Each part decides its payers'
payments exactly as the whole pass would. A part adds what it pays into the holdings of its own
range of persons at once, and keeps what it pays to persons of the other ranges in a list, which
the other parts then add into theirs: no two threads write the same holding, and the holdings
are sums of integers, so they end the same whatever the parts (``test_sim_kernels.py``). The
routes' candidates are found in parts, in the payers' order; the pass that settles them is one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numba import njit  # type: ignore[import-untyped]
from numpy.typing import NDArray

Runner = Callable[[Sequence[Callable[[], Any]]], list[Any]]
"""Runs tasks at once and returns their results in order (``sim.threads.Threads.run``)."""


def _one_thread(tasks: Sequence[Callable[[], Any]]) -> list[Any]:
    return [task() for task in tasks]


def cuts(size: int, parts: int) -> list[int]:
    """``0 .. size`` cut into at most ``parts`` contiguous, nearly equal parts (part k is
    ``cuts[k] .. cuts[k + 1] - 1``)."""
    k = max(1, min(parts, size))
    return [j * size // k for j in range(k + 1)]


@njit(cache=True, nogil=True)  # type: ignore[untyped-decorator]
def _pay_acquaintances(
    u: Any,
    pay_share: float,
    pay_fraction: float,
    indptr: Any,
    neighbours: Any,
    slot_when: Any,
    step: int,
    all_formed: bool,
    opened: Any,
    own: Any,
    held: Any,
) -> int:  # pragma: no cover - compiled; its Python twin is the NumPy path it replaces
    # The whole pass on one thread: ``_pay_part`` without the ranges, measured 8.4 ms against
    # 10.2 ms a step at a million persons (the part's extra branch and lists cost the compiled
    # loop a fifth even when nothing crosses), so one thread keeps this loop.
    paid = 0
    for i in range(u.shape[0]):
        if not u[i, 0] < pay_share:
            continue
        start = indptr[i]
        deg = indptr[i + 1] - start
        if deg <= 0:
            continue
        slot = start + np.int64(u[i, 1] * deg)
        units = np.int64(own[i] * pay_fraction)
        if not all_formed and slot_when[slot] > step:
            continue
        have = own[i]
        if have < units:
            units = have
        if units <= 0 or not opened[i]:
            continue
        own[i] -= units
        held[neighbours[slot]] += units
        paid += 1
    return paid


@njit(cache=True, nogil=True)  # type: ignore[untyped-decorator]
def _pay_part(
    u: Any,
    pay_share: float,
    pay_fraction: float,
    indptr: Any,
    neighbours: Any,
    slot_when: Any,
    step: int,
    all_formed: bool,
    opened: Any,
    own: Any,
    held: Any,
    mine_lo: int,
    mine_hi: int,
    cross_to: Any,
    cross_units: Any,
) -> tuple[int, int]:  # pragma: no cover - compiled; its Python twin is the NumPy path it replaces
    # u, indptr, opened and own are this part's views (indptr one longer): counted from 0, the
    # index is known not to be negative, so no wraparound check is compiled for it
    paid = 0
    c = 0
    for i in range(u.shape[0]):
        if not u[i, 0] < pay_share:
            continue
        start = indptr[i]
        deg = indptr[i + 1] - start
        if deg <= 0:
            continue
        slot = start + np.int64(u[i, 1] * deg)
        units = np.int64(own[i] * pay_fraction)
        if not all_formed and slot_when[slot] > step:
            continue
        have = own[i]
        if have < units:
            units = have
        if units <= 0 or not opened[i]:
            continue
        own[i] -= units
        receiver = neighbours[slot]
        if mine_lo <= receiver and receiver < mine_hi:
            held[receiver] += units
        else:  # another part's person: that part adds it (no two threads write one holding)
            cross_to[c] = receiver
            cross_units[c] = units
            c += 1
        paid += 1
    return paid, c


@njit(cache=True, nogil=True)  # type: ignore[untyped-decorator]
def _add_in_range(held: Any, lo: int, hi: int, to: Any, units: Any, count: int) -> None:  # pragma: no cover
    for j in range(count):
        receiver = to[j]
        if lo <= receiver and receiver < hi:
            held[receiver] += units[j]


def pay_acquaintances(
    u: NDArray[np.float64],
    pay_share: float,
    pay_fraction: float,
    indptr: NDArray[np.int64],
    neighbours: NDArray[Any],
    slot_when: NDArray[Any],
    step: int,
    all_formed: bool,
    opened: NDArray[np.bool_],
    own: NDArray[np.int64],
    held: NDArray[np.int64],
    parts: int = 1,
    run: Runner = _one_thread,
) -> int:
    """``random_pairs`` and the payment pass for every person (``u``: the keyed draws, two a
    person): a payer pays ``pay_fraction`` of its own coins (at most what it holds) to the
    acquaintance its second number picks, if that trust has formed (``slot_when`` <= ``step``,
    not read once ``all_formed``) and its income has opened. Changes ``own`` and ``held`` in
    place; returns the number of payments. ``parts`` contiguous parts of the persons, run at
    once by ``run``, give the same holdings."""
    n = u.shape[0]
    at = cuts(n, parts)
    if len(at) == 2:
        return int(
            _pay_acquaintances(
                u, pay_share, pay_fraction, indptr, neighbours, slot_when, step, all_formed, opened, own, held
            )
        )
    mine = [*at[:-1], max(n, held.shape[0])]  # part k adds into holdings mine[k] .. mine[k + 1] - 1
    k = len(at) - 1
    width = [at[j + 1] - at[j] if k > 1 else 0 for j in range(k)]  # a part pays at most once a person
    to = [np.empty(w, np.int64) for w in width]
    units = [np.empty(w, np.int64) for w in width]

    def pay(j: int) -> Callable[[], tuple[int, int]]:
        def task() -> tuple[int, int]:
            lo, hi = at[j], at[j + 1]
            paid, crossed = _pay_part(
                u[lo:hi],
                pay_share,
                pay_fraction,
                indptr[lo : hi + 1],
                neighbours,
                slot_when,
                step,
                all_formed,
                opened[lo:hi],
                own[lo:hi],
                held,
                mine[j],
                mine[j + 1],
                to[j],
                units[j],
            )
            return int(paid), int(crossed)

        return task

    found = run([pay(j) for j in range(k)])
    if k > 1:  # then each part adds what the others paid its persons

        def add(j: int) -> Callable[[], None]:
            def task() -> None:
                for i in range(k):
                    if i != j:
                        _add_in_range(held, mine[j], mine[j + 1], to[i], units[i], found[i][1])

            return task

        run([add(j) for j in range(k)])
    return sum(paid for paid, _ in found)


@njit(cache=True, nogil=True)  # type: ignore[untyped-decorator]
def _route_candidates(
    payers: Any,
    u: Any,
    pay_fraction: float,
    indptr: Any,
    neighbours: Any,
    slot_when: Any,
    step: int,
    all_formed: bool,
    opened: Any,
    own: Any,
    who: Any,
    via: Any,
    to: Any,
    amount: Any,
) -> int:  # pragma: no cover - compiled; its Python twin is the NumPy path it replaces
    c = 0  # payers, u and who .. amount are this part's views (reads only, but for its own slices)
    for j in range(payers.size):  # two_hops, then _routed's first checks: both trusts formed, enough coins
        p = payers[j]
        start = indptr[p]
        deg = indptr[p + 1] - start
        if deg <= 0:
            continue
        first = start + np.int64(u[j, 0] * deg)
        mid = neighbours[first]
        start2 = indptr[mid]
        deg2 = indptr[mid + 1] - start2
        second = start2 + np.int64(u[j, 1] * deg2)
        units = np.int64(own[p] * pay_fraction)
        if deg2 <= 0:
            continue
        if not all_formed and (slot_when[first] > step or slot_when[second] > step):
            continue
        receiver = neighbours[second]
        have = own[p]
        if have < units:
            units = have
        if receiver == p or units <= 0 or not opened[p]:
            continue
        who[c] = p
        via[c] = mid
        to[c] = receiver
        amount[c] = units
        c += 1
    return c


@njit(cache=True, nogil=True)  # type: ignore[untyped-decorator]
def _route_settle(
    who: Any,
    via: Any,
    to: Any,
    amount: Any,
    starts: Any,
    counts: Any,
    own: Any,
    held: Any,
    carried: Any,
    paying: Any,
) -> tuple[int, int]:  # pragma: no cover - compiled; its Python twin is the NumPy path it replaces
    for s in range(starts.size):  # one route per intermediary, none through a payer (CI9)
        for j in range(starts[s], starts[s] + counts[s]):
            paying[who[j]] = True
            carried[via[j]] += 1
    routed = 0
    total = 0
    for s in range(starts.size):  # an intermediary's coins change by its own route only: order-free
        for j in range(starts[s], starts[s] + counts[s]):
            mid = via[j]
            x = amount[j]
            if carried[mid] == 1 and not paying[mid] and own[mid] >= x:
                own[who[j]] -= x
                held[mid] += x
                own[mid] -= x
                held[to[j]] += x
                routed += 1
                total += x
    for s in range(starts.size):  # the scratch arrays back to zero for the next step
        for j in range(starts[s], starts[s] + counts[s]):
            paying[who[j]] = False
            carried[via[j]] = 0
    return routed, total


def route_two_hops(
    payers: NDArray[np.int64],
    u: NDArray[np.float64],
    pay_fraction: float,
    indptr: NDArray[np.int64],
    neighbours: NDArray[Any],
    slot_when: NDArray[Any],
    step: int,
    all_formed: bool,
    opened: NDArray[np.bool_],
    own: NDArray[np.int64],
    held: NDArray[np.int64],
    carried: NDArray[np.int32],
    paying: NDArray[np.bool_],
    parts: int = 1,
    run: Runner = _one_thread,
) -> tuple[int, int]:
    """``two_hops`` and ``CirclesSector._routed``'s pass through the friend (CI9) for the drawn
    ``payers`` (ascending, each once; ``u``: their two numbers): the payer's coins go to the
    intermediary, the intermediary's own to the receiver, when both trusts have formed, the
    receiver is not the payer, the intermediary carries no other route and pays nothing itself
    and holds enough. ``carried`` and ``paying`` are zeroed scratch arrays of every person, left
    zeroed. Changes ``own`` and ``held`` in place; returns (routes, units routed). The candidates
    are found in ``parts`` parts of the payers at once (``run``), then settled in one pass in the
    payers' order."""
    size = payers.size
    who, via, to, amount = (np.empty(size, np.int64) for _ in range(4))
    at = cuts(size, parts)

    def find(j: int) -> Callable[[], int]:
        def task() -> int:
            return int(
                _route_candidates(
                    payers[at[j] : at[j + 1]],
                    u[at[j] : at[j + 1]],
                    pay_fraction,
                    indptr,
                    neighbours,
                    slot_when,
                    step,
                    all_formed,
                    opened,
                    own,
                    who[at[j] : at[j + 1]],
                    via[at[j] : at[j + 1]],
                    to[at[j] : at[j + 1]],
                    amount[at[j] : at[j + 1]],
                )
            )

        return task

    counts = np.array(run([find(j) for j in range(len(at) - 1)]), np.int64)
    starts = np.array(at[:-1], np.int64)
    routed, total = _route_settle(who, via, to, amount, starts, counts, own, held, carried, paying)
    return int(routed), int(total)
