"""The compiled kernels of Circles' payments (``circles.kernels``) give the NumPy passes' rows.

``pay_acquaintances`` (``random_pairs`` and the payment pass, CI5, CI8) and ``route_two_hops``
(``two_hops`` and the pass through the friend, CI9) run where no option reads or changes the
payments; the same seeded runs with the kernels turned off take the NumPy path. Their full rows
must be equal, column for column, over the weeks while trusts form and after. Cut into parts run
on several threads (``sim.threads``), they give the one thread's holdings and rows.
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


def rows(
    persons: int, steps: int, seed: int, monkeypatch: pytest.MonkeyPatch, compiled: bool, threads: int = 1
) -> list[Any]:
    used: list[bool] = []
    allowed = CirclesSector._compiled

    def spy(self: CirclesSector) -> bool:
        ok = compiled and allowed(self)
        used.append(ok)
        return ok

    with monkeypatch.context() as patch:
        patch.setattr(CirclesSector, "_compiled", spy)
        out = Model(scenario(persons, steps, seed), seed=seed, threads=threads).run()
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


def test_ci8_ci9_compiled_payments_on_two_threads_give_the_one_threads_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    one = rows(20000, 40, 3, monkeypatch, compiled=True, threads=1)
    two = rows(20000, 40, 3, monkeypatch, compiled=True, threads=2)
    assert two[-1]["routed_two_hop"] > 0
    assert two == one


def graph(n: int, seed: int) -> tuple[Any, ...]:
    """A random network of ``n`` persons (CSR), some without acquaintances, every person of the
    first and the last quarter knowing person ``n // 2`` (whose holding both halves pay into)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    deg = rng.integers(0, 7, n)
    rows = []
    for i in range(n):
        near = rng.integers(max(0, i - 40), min(n, i + 40), deg[i])  # mostly within a part, some across
        far = rng.integers(0, n, rng.integers(0, 2))
        shared = [n // 2] if (i < n // 4 or i >= 3 * n // 4) else []
        rows.append(np.concatenate([near, far, shared]).astype(np.int32))
    indptr = np.zeros(n + 1, np.int64)
    indptr[1:] = np.cumsum([r.size for r in rows])
    neighbours = np.concatenate(rows).astype(np.int32)
    slot_when = rng.integers(0, 12, neighbours.size).astype(np.int16)
    own = rng.integers(0, 5000, n).astype(np.int64)
    held = rng.integers(0, 100, n).astype(np.int64)
    opened = rng.random(n) < 0.9
    return rng, indptr, neighbours, slot_when, own, held, opened


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ci8_the_payment_kernel_in_parts_on_threads_pays_what_one_pass_pays(seed: int) -> None:
    import numpy as np

    from civicledger.mechanisms.circles.kernels import pay_acquaintances
    from civicledger.sim.threads import Threads

    n = 3001
    rng, indptr, neighbours, slot_when, own, held, opened = graph(n, seed)
    u = rng.random((n, 2))
    for step, formed in ((5, False), (20, True)):
        want_own, want_held = own.copy(), held.copy()
        want = pay_acquaintances(u, 0.6, 0.1, indptr, neighbours, slot_when, step, formed, opened, want_own, want_held)
        assert want > 0
        for parts in (2, 3, 7):
            got_own, got_held = own.copy(), held.copy()
            threads = Threads(min(parts, 3))
            got = pay_acquaintances(
                u, 0.6, 0.1, indptr, neighbours, slot_when, step, formed, opened, got_own, got_held, parts, threads.run
            )
            assert got == want
            assert np.array_equal(got_own, want_own) and np.array_equal(got_held, want_held)
        assert want_held[n // 2] > held[n // 2]  # the shared acquaintance was paid, from both halves


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ci9_the_route_kernel_in_parts_on_threads_routes_what_one_pass_routes(seed: int) -> None:
    import numpy as np

    from civicledger.mechanisms.circles.kernels import route_two_hops
    from civicledger.sim.threads import Threads

    n = 3001
    rng, indptr, neighbours, slot_when, own, held, opened = graph(n, seed)
    payers = np.flatnonzero(rng.random(n) < 0.3).astype(np.int64)
    u = rng.random((payers.size, 2))
    carried, paying = np.zeros(n, np.int32), np.zeros(n, bool)
    for step, formed in ((5, False), (20, True)):
        want_own, want_held = own.copy(), held.copy()
        args = (payers, u, 0.1, indptr, neighbours, slot_when, step, formed, opened)
        want = route_two_hops(*args, want_own, want_held, carried, paying)
        assert want[0] > 0
        for parts in (2, 3, 7):
            got_own, got_held = own.copy(), held.copy()
            got = route_two_hops(*args, got_own, got_held, carried, paying, parts, Threads(min(parts, 3)).run)
            assert got == want
            assert np.array_equal(got_own, want_own) and np.array_equal(got_held, want_held)
            assert not carried.any() and not paying.any()  # the scratch arrays left zeroed


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
