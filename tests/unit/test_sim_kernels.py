"""The compiled kernels of Circles' payments (``circles.kernels``) give the NumPy passes' rows.

``pay_acquaintances`` (``random_pairs`` and the payment pass, CI5, CI8) and ``route_two_hops``
(``two_hops`` and the pass through the friend, CI9) run where no option reads or changes the
payments; the same seeded runs with the kernels turned off take the NumPy path. Their full rows
must be equal, column for column, over the weeks while trusts form and after.
"""

from __future__ import annotations

from typing import Any

import pytest

from civicledger.mechanisms.circles.sim import CirclesSector
from civicledger.sim import Model, parse_scenario


def scenario(persons: int, steps: int, seed: int) -> Any:
    return parse_scenario(
        {
            "scenario": {"steps": steps, "seeds": [seed], "record_every": 1},
            "population": {"persons": persons, "companies": 10, "groups": 3, "resources": 2},
            "network": {"generator": "heavy_tailed", "mean_degree": 6.0, "formation_weeks": 8.0},
            "parameters": {"route_share": 0.2, "pay_share": 0.5, "publish_every": 4.0, "grade_every": 13.0},
        }
    )


def rows(persons: int, steps: int, seed: int, monkeypatch: pytest.MonkeyPatch, compiled: bool) -> list[Any]:
    used: list[bool] = []
    allowed = CirclesSector._compiled

    def spy(self: CirclesSector) -> bool:
        ok = compiled and allowed(self)
        used.append(ok)
        return ok

    with monkeypatch.context() as patch:
        patch.setattr(CirclesSector, "_compiled", spy)
        out = Model(scenario(persons, steps, seed), seed=seed).run()
    assert used and all(used) == compiled  # the path asked for is the path taken, every step
    return out


@pytest.mark.parametrize(("persons", "seed"), [(3000, 1), (5000, 2), (20000, 3)])
def test_ci8_ci9_compiled_payments_give_the_numpy_rows(
    persons: int, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = rows(persons, 40, seed, monkeypatch, compiled=True)
    slow = rows(persons, 40, seed, monkeypatch, compiled=False)
    assert fast[-1]["routed_two_hop"] > 0 and fast[-1]["trusts"] > 0  # payments and routes happened
    assert fast == slow


def test_sc4_ring_sums_equal_the_column_loop() -> None:
    """``credits.kernels.ring_sums`` gives what ``by_grade``'s loop over the ring's columns gave."""
    import numpy as np

    from civicledger.mechanisms.credits.kernels import ring_sums

    rng = np.random.default_rng(7)
    n, ring, t = 5000, 8, 500
    ends = rng.integers(0, 1000, (n, ring)).astype(np.int64)
    steps = rng.integers(-3, 4, (n, ring)).astype(np.int8)
    qty = np.where(rng.random((n, ring)) < 0.3, rng.integers(1, 50, (n, ring)), 0).astype(np.int32)
    up, down = np.zeros(n, np.int32), np.zeros(n, np.int32)
    busy, quantified = np.zeros(n, bool), np.zeros(n, bool)
    for j in range(ring):
        live = ends[:, j] > t
        move = np.where(live, steps[:, j], np.int8(0))
        busy |= live
        up += np.maximum(move, np.int8(0))
        down += np.minimum(move, np.int8(0))
        quantified |= (move != 0) & (qty[:, j] > 0)
    got = ring_sums(ends, steps, qty, t)
    assert busy.any() and (~busy).any() and quantified.any() and (up > 0).any() and (down < 0).any()
    for mine, theirs in zip(got, (up, down, busy, quantified), strict=True):
        assert mine.dtype == theirs.dtype
        assert np.array_equal(mine, theirs)
