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
