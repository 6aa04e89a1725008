"""Threads inside one run (``sim.threads``): the same numbers whatever the number of threads.

The keyed draws fill their blocks of persons on several threads, each with its own generator
set to the single thread's counters; these tests ask for ranges that start and end inside
blocks, so that a stream is entered part way and a thread's blocks split at any block. The compiled kernels are
checked in ``test_sim_kernels.py``, whole seeded runs in ``test_sim_same_rows.py``.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from civicledger.sim.draws import BLOCK, KeyedDraws
from civicledger.sim.threads import SINGLE, Threads, default_threads


def draws(threads: Threads) -> KeyedDraws:
    return KeyedDraws.of(rng=np.random.default_rng(11), threads=threads)


@pytest.mark.parametrize("count", [2, 3, 5])
@pytest.mark.parametrize(("first", "size"), [(0, 4 * BLOCK), (BLOCK // 3, 3 * BLOCK + 17), (5, 100), (0, 0)])
def test_uniform_draws_are_the_same_on_any_number_of_threads(count: int, first: int, size: int) -> None:
    for k in (1, 2, 3):
        one = draws(SINGLE).uniform(7, "payments", first, size, k)
        many = draws(Threads(count)).uniform(7, "payments", first, size, k)
        assert many.shape == (size, k)
        assert np.array_equal(one, many)


@pytest.mark.parametrize("count", [2, 3])
@pytest.mark.parametrize(("first", "size"), [(0, 4 * BLOCK), (BLOCK // 3, 3 * BLOCK + 17), (5, 100)])
def test_sampled_persons_and_their_numbers_are_the_same_on_any_number_of_threads(
    count: int, first: int, size: int
) -> None:
    for rate, k in ((0.05, 2), (0.3, 0), (1e-4, 1)):
        picks, extra = draws(SINGLE).sample(3, "routed_payments", first, size, rate, k)
        got_picks, got_extra = draws(Threads(count)).sample(3, "routed_payments", first, size, rate, k)
        assert np.array_equal(picks, got_picks) and np.array_equal(extra, got_extra)
        assert np.all(np.diff(got_picks) > 0)  # in order, each once, whichever thread drew them


def test_a_runs_draws_then_the_callers_generator_are_those_of_one_thread() -> None:
    """The caller's thread keeps its generator (``block``) between threaded calls."""
    one, two = draws(SINGLE), draws(Threads(2))
    for d in (one, two):
        d.uniform(1, "payments", 0, 3 * BLOCK, 2)
    assert np.array_equal(one.block(2, "x", 1).random(9), two.block(2, "x", 1).random(9))


def test_tasks_run_at_once_and_return_in_order() -> None:
    threads = Threads(2)
    names: list[str] = []

    def task(i: int) -> int:
        names.append(threading.current_thread().name)
        return i * i

    assert threads.run([lambda i=i: task(i) for i in range(5)]) == [0, 1, 4, 9, 16]
    assert names.count(threading.current_thread().name) >= 1  # the first part runs on the caller's thread
    assert SINGLE.run([lambda: 1, lambda: 2]) == [1, 2]


def test_an_error_in_a_part_is_raised_once_every_part_has_ended() -> None:
    ended = threading.Event()

    def slow() -> None:
        ended.wait(0.05)
        ended.set()

    def fail() -> None:
        raise ValueError("a part failed")

    with pytest.raises(ValueError, match="a part failed"):
        Threads(2).run([fail, slow])
    assert ended.is_set()


def test_bounds_cut_persons_into_contiguous_parts() -> None:
    assert Threads(2).bounds(10) == [0, 5, 10]
    assert Threads(3).bounds(2) == [0, 1, 2]  # never an empty part
    assert Threads(3).bounds(0) == [0, 0]
    assert SINGLE.bounds(7) == [0, 7]


def test_a_run_needs_a_thread_and_takes_at_most_two_by_default() -> None:
    with pytest.raises(ValueError):
        Threads(0)
    assert 1 <= default_threads() <= 2


def test_draws_asked_for_ahead_are_the_draws_of_the_call() -> None:
    """``uniform_ahead``/``sample_ahead`` draw on a worker while the caller's thread draws other
    numbers: the later call takes them, the same numbers as drawn then and there."""
    one, two = draws(SINGLE), draws(Threads(2))
    first, size = BLOCK // 5, 3 * BLOCK + 11
    two.uniform_ahead(4, "payments", first, size, 2)
    two.sample_ahead(4, "routed_payments", first, size, 0.05, 2)
    assert len(two._ahead) == 2
    assert np.array_equal(two.uniform(3, "payments", 0, size, 2), one.uniform(3, "payments", 0, size, 2))
    assert np.array_equal(two.uniform(4, "payments", first, size, 2), one.uniform(4, "payments", first, size, 2))
    got, want = (
        two.sample(4, "routed_payments", first, size, 0.05, 2),
        one.sample(4, "routed_payments", first, size, 0.05, 2),
    )
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
    assert not two._ahead  # taken
    two.uniform_ahead(5, "payments", 0, size, 1)
    two.uniform_ahead(6, "payments", 0, size, 1)  # step 5 may still come (another sector's draws)
    two.uniform_ahead(7, "payments", 0, size, 1)  # past step 5: never taken, dropped
    assert list(two._ahead) == [("uniform", 6, "payments", 0, size, 1), ("uniform", 7, "payments", 0, size, 1)]
    one_thread = draws(SINGLE)
    one_thread.uniform_ahead(5, "payments", 0, size, 1)
    assert not one_thread._ahead  # one thread: nothing drawn ahead


def test_a_part_no_worker_started_runs_on_the_callers_thread() -> None:
    """The worker busy with work handed to it (``submit``): the caller runs the other parts."""
    threads = Threads(2)
    release = threading.Event()
    busy = threads.submit(lambda: release.wait(5))
    where: list[str] = []
    out = threads.run([lambda: where.append(threading.current_thread().name) or 1] * 3)
    release.set()
    assert busy.result() is True
    assert out == [1, 1, 1] and where == [threading.current_thread().name] * 3


def test_a_run_on_two_threads_takes_its_draws_ahead_and_keeps_the_one_threads_rows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from civicledger.sim import Model, parse_scenario

    data = {
        "scenario": {"steps": 12, "seeds": [5], "record_every": 1},
        "population": {"persons": 4000, "companies": 10, "groups": 3},
        "network": {"formation_weeks": 4.0},
        "parameters": {"route_share": 0.2, "vote_rate": 0.1},
    }
    taken: list[object] = []
    take = KeyedDraws._taken

    def spy(self: KeyedDraws, call: tuple[object, ...]) -> object:
        out = take(self, call)
        if out is not None:
            taken.append(call[0:3])
        return out

    one = Model(parse_scenario(data), seed=5, threads=1).run()
    monkeypatch.setattr(KeyedDraws, "_taken", spy)
    two = Model(parse_scenario(data), seed=5, threads=2).run()
    assert two == one
    purposes = ("payments", "routed_payments", "conversions", "votes", "participation", "infractions")
    for purpose in (*purposes, "spending", "pledges", "candidates"):  # every step after the first
        assert sum(1 for c in taken if c[2] == purpose) == 11, purpose
