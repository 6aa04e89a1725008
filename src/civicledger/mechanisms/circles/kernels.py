"""Compiled kernels for Circles' hottest simulation pass (issue 17, decision *A compiled kernel
for the payments to acquaintances*).

``pay_acquaintances`` is the payments behaviour ``random_pairs`` and the step's payment pass
(CI5, CI8) in one loop over the persons: the NumPy version makes a dozen passes over the
300,000 payers of a million persons each step (gathers, masks, copies), this one reads each
payer's row once. Same arithmetic in the same order for each payer, hence the same rows
(``tests/unit/test_sim_same_rows.py``, ``test_sim_kernels.py``): a payer pays only its own coins
and its own holding is changed by no one else in the pass, so the order of the payments cannot
change any sum.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit  # type: ignore[import-untyped]
from numpy.typing import NDArray


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
) -> int:
    """``random_pairs`` and the payment pass for every person (``u``: the keyed draws, two a
    person): a payer pays ``pay_fraction`` of its own coins (at most what it holds) to the
    acquaintance its second number picks, if that trust has formed (``slot_when`` <= ``step``,
    not read once ``all_formed``) and its income has opened. Changes ``own`` and ``held`` in
    place; returns the number of payments."""
    return int(
        _pay_acquaintances(
            u, pay_share, pay_fraction, indptr, neighbours, slot_when, step, all_formed, opened, own, held
        )
    )


@njit(cache=True, nogil=True)  # type: ignore[untyped-decorator]
def _route_two_hops(
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
    held: Any,
    carried: Any,
    paying: Any,
) -> tuple[int, int]:  # pragma: no cover - compiled; its Python twin is the NumPy path it replaces
    k = payers.size
    who = np.empty(k, np.int64)
    via = np.empty(k, np.int64)
    to = np.empty(k, np.int64)
    amount = np.empty(k, np.int64)
    c = 0
    for j in range(k):  # two_hops, then _routed's first checks: both trusts formed, enough coins
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
    for j in range(c):  # one route per intermediary, none through a payer (CI9)
        paying[who[j]] = True
        carried[via[j]] += 1
    routed = 0
    total = 0
    for j in range(c):  # an intermediary's coins change by its own route only: order-free
        mid = via[j]
        x = amount[j]
        if carried[mid] == 1 and not paying[mid] and own[mid] >= x:
            own[who[j]] -= x
            held[mid] += x
            own[mid] -= x
            held[to[j]] += x
            routed += 1
            total += x
    for j in range(c):  # the scratch arrays back to zero for the next step
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
) -> tuple[int, int]:
    """``two_hops`` and ``CirclesSector._routed``'s pass through the friend (CI9) for the drawn
    ``payers`` (ascending, each once; ``u``: their two numbers): the payer's coins go to the
    intermediary, the intermediary's own to the receiver, when both trusts have formed, the
    receiver is not the payer, the intermediary carries no other route and pays nothing itself
    and holds enough. ``carried`` and ``paying`` are zeroed scratch arrays of every person, left
    zeroed. Changes ``own`` and ``held`` in place; returns (routes, units routed)."""
    routed, total = _route_two_hops(
        payers, u, pay_fraction, indptr, neighbours, slot_when, step, all_formed, opened, own, held, carried, paying
    )
    return int(routed), int(total)
