"""The compiled kernels of Circles' payments (``circles.kernels``) give the NumPy passes' rows.

``pay_acquaintances`` (``random_pairs`` and the payment pass, CI5, CI8) and ``route_two_hops``
(``two_hops`` and the pass through the friend, CI9) run where no option reads or changes the
payments; the same seeded runs with the kernels turned off take the NumPy path. Their full rows
must be equal, column for column, over the weeks while trusts form and after. Cut into parts run
on several threads (``sim.threads``), they give the one thread's holdings and rows.

The social credits' kernels (``credits.kernels``: lots, the grade table, adjustments, spending)
are compared with their NumPy twins on runs whose rings are then scrambled, so that every branch
of the walk is taken (bounds reached, lots split and consumed, nothing held, unverified persons).
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


# The credits sector's compiled passes (``credits.kernels``) against their NumPy twins ----------


def credits_model(slots: int, seed: int) -> Any:
    """A credits sector after a run with many lots (quantity raises from votes and the lottery,
    whole-balance awards and penalties, spending), its ring then scrambled at random: ends around
    the run's time, steps reaching the bounds, quantities partly consumed, some persons unverified
    or holding nothing, so that every branch of the walk is taken."""
    import numpy as np

    sc = parse_scenario(
        {
            "scenario": {"steps": 30, "seeds": [seed], "record_every": 10},
            "population": {"persons": 3000, "companies": 4, "resources": 0},
            "network": {"mean_degree": 0.0},
            "parameters": {
                "participation_rate": 0.2,
                "infraction_rate": 0.05,
                "pledge_rate": 0.02,
                "pledge_quantity": 50.0,
                "second_chance_rate": 0.2,
                "spend_rate": 0.2,
                "credit_slots": float(slots),
            },
        }
    )
    m = Model(sc, seed=seed)
    m.run()
    rng = np.random.default_rng(seed)
    n, t = m.n, m.t_now
    scramble = rng.random(n) < 0.5  # half keep the run's rings, half get random ones
    shape = (int(scramble.sum()), slots)
    m.adj_end[scramble] = t + rng.integers(-3, 4, shape) * m.scenario.step
    m.adj_steps[scramble] = rng.integers(-3, 4, shape)
    m.adj_seq[scramble] = rng.permutation(n * slots)[: shape[0] * slots].reshape(shape)
    m.adj_qty[scramble] = np.where(rng.random(shape) < 0.5, rng.integers(1, 3000, shape), 0)
    m.adj_consumable[scramble] = rng.random(shape) < 0.6
    m.adj_consumed[scramble] = rng.integers(0, 3000, shape)
    m.spent[:] = np.where(rng.random(n) < 0.1, 10**9, m.spent)  # some hold nothing
    m.verified[rng.random(n) < 0.05] = False
    m.last_fresh[:] = np.where(rng.random(n) < 0.5, t - rng.integers(0, 3 * 365, n) * 86_400, m.last_fresh)
    return m


@pytest.mark.parametrize(("slots", "seed"), [(8, 1), (5, 2), (4, 3), (1, 4)])
def test_sc4_sc8_compiled_lots_equal_the_numpy_walk(slots: int, seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """``standing`` (``kernels.standing``) gives ``standing_numpy``'s arrays, shape and all, in one
    walk and in groups, and ``by_grade`` (``kernels.grade_table``) gives ``by_grade_numpy``'s table."""
    import numpy as np

    from civicledger.mechanisms.credits import sim as credits_sim

    m = credits_model(slots, seed)
    t = m.t_now
    everyone = np.arange(m.n, dtype=np.int64)
    some = np.random.default_rng(seed).integers(0, m.n, 700).astype(np.int64)  # repeats, unsorted
    empty = np.zeros(0, np.int64)
    for who in (everyone, some, empty, everyone[:1]):
        for grouped_from in (0, 10**9):
            monkeypatch.setattr(credits_sim, "GROUPED_FROM", grouped_from)
            mine, theirs = m.standing(who, t), m.standing_numpy(who, t)
            for a, b in zip(mine, theirs, strict=True):
                assert a.shape == b.shape and a.dtype == b.dtype
                assert np.array_equal(a, b)
        assert np.array_equal(m.by_grade(t, who), m.by_grade_numpy(t, who))
    _, units, mask, _, available = m.standing(everyone, t)
    assert (units[:, 1:] > 0).any() and (mask > 0).any() and (available <= 0).any()  # splits, masks, empty
    assert np.array_equal(m.by_grade(t), m.by_grade_numpy(t))


@pytest.mark.parametrize("slots", [8, 3])
def test_sc4_compiled_adjustments_equal_the_numpy_writes(slots: int) -> None:
    """``_adjust`` (``kernels.adjust``) writes what ``_adjust_numpy`` writes, a person named twice
    keeping the last, and counts the same overflows."""
    import numpy as np

    m = credits_model(slots, 5)
    rng = np.random.default_rng(5)
    names = ("adj_end", "adj_steps", "adj_seq", "adj_qty", "adj_consumable", "adj_consumed", "adj_kind")
    for trial in range(12):
        persons = rng.integers(0, m.n, 400).astype(np.int64)  # repeats
        quantity = np.where(rng.random(400) < 0.5, rng.integers(1, 100, 400), 0).astype(np.int64)
        end, steps, consumable = m.t_now + trial * 3600, int(rng.integers(-2, 3)), bool(trial % 2)
        before = {k: getattr(m, k).copy() for k in names}, m.slot_overflows, m.adj_counter
        slots_fast = m._adjust(persons, end, steps, quantity, consumable=consumable, kind="infraction")
        fast = {k: getattr(m, k).copy() for k in names}, m.slot_overflows, m.adj_counter
        for k in names:
            getattr(m, k)[...] = before[0][k]
        m.slot_overflows, m.adj_counter = before[1], before[2]
        slots_slow = m._adjust_numpy(persons, end, steps, quantity, consumable, m.kinds["infraction"])
        assert np.array_equal(slots_fast, slots_slow) and slots_fast.dtype == slots_slow.dtype
        for k in names:
            assert np.array_equal(getattr(m, k), fast[0][k]), k
        assert (m.slot_overflows, m.adj_counter) == fast[1:]
    assert m.slot_overflows > 0


@pytest.mark.parametrize(("slots", "seed"), [(8, 6), (4, 7)])
def test_sc10_compiled_spending_equals_choose_credits(slots: int, seed: int) -> None:
    """``kernels.spend`` allows what ``choose_credits`` allows and consumes what
    ``used_by_adjustment`` gives, for prices and grades allowed and refused (SC2, SC10)."""
    import numpy as np

    from civicledger.mechanisms.credits import kernels
    from civicledger.mechanisms.credits import sim as credits_sim

    m = credits_model(slots, seed)
    rng = np.random.default_rng(seed)
    allowed = refused = 0
    for _ in range(10):
        persons = np.sort(rng.choice(m.n, 600, replace=False)).astype(np.int64)
        lots = m.standing(persons, m.t_now)
        price = rng.integers(0, 4000, persons.size).astype(np.int64)
        min_grade = rng.integers(0, 6, persons.size).astype(np.int64)
        columns = max(1, int(lots[2].max()).bit_length())
        fast, slow = m.adj_consumed.copy(), m.adj_consumed.copy()
        ok = kernels.spend(persons, lots, min_grade, price, credits_sim._lot_id_keys(columns), m.adj_consumable, fast)
        expected = credits_sim.spend_numpy(persons, lots, min_grade, price, m.adj_consumable, slow)
        assert np.array_equal(ok, expected) and np.array_equal(fast, slow)
        allowed, refused = allowed + int(ok.sum()), refused + int((~ok).sum())
        m.adj_consumed[...] = fast  # the next round spends from what this one left
    assert allowed > 0 and refused > 0 and (m.adj_consumed > 0).any()
