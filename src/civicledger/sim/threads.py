"""Threads inside one run: the machine's other cores on the passes that release the GIL.

A run is one Python thread stepping NumPy arrays. A few of its passes spend their time outside
the interpreter, with the GIL released: NumPy filling arrays of random numbers (``sim.draws``)
and the compiled, ``nogil`` kernels of a mechanism (``circles.kernels``). Such a pass can be cut
into contiguous parts of its persons, each part run on its own thread, the caller's thread
taking the first. Every pass cut this way gives the same numbers whatever the number of parts:
each part draws from its own generator at the counters the single thread would use, and a sum
spread over threads is a sum of integers, whose order changes nothing (decision *Threads inside
one run*, ``tests/unit/test_sim_threads.py``). A worker may also be handed work to do while the
run's thread goes on (``submit``): the next step's keyed draws (``KeyedDraws.uniform_ahead``).

``Threads(count)`` is a run's share of the machine: ``count`` 1 runs every part on the caller's
thread and starts nothing. The workers are ``count - 1`` persistent threads shared by every run
of the process asking for that many (a step hands them work several times, so starting threads
there would cost more than the work saves). A sweep or a partitioned run already keeps every
core busy with a process each, so its runs take 1.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

MAX_DEFAULT = 2
"""The most threads a run takes unless told otherwise: past two, the passes cut here are bound by
memory, and the rest of a step still runs on one thread."""

_POOLS: dict[tuple[int, int], ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def cores() -> int:
    """The cores this process may run on (its CPU affinity where the system tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - systems without affinity
        return os.cpu_count() or 1


def default_threads() -> int:
    """Threads for a single run by default: the cores available, at most ``MAX_DEFAULT``."""
    return max(1, min(MAX_DEFAULT, cores()))


def _pool(workers: int) -> ThreadPoolExecutor:
    """The process's persistent pool of ``workers`` threads (one per process id: a forked child
    does not inherit its parent's threads)."""
    key = (os.getpid(), workers)
    with _POOLS_LOCK:
        pool = _POOLS.get(key)
        if pool is None:
            pool = _POOLS[key] = ThreadPoolExecutor(workers, thread_name_prefix="civic-sim")
        return pool


class Threads:
    """The threads one run may use: ``count`` parts run at once, the first on the caller's thread."""

    def __init__(self, count: int = 1) -> None:
        if count < 1:
            raise ValueError(f"a run needs at least one thread, not {count}")
        self.count = count
        self._pool = _pool(count - 1) if count > 1 else None

    def bounds(self, size: int, parts: int | None = None) -> list[int]:
        """Cut ``0 .. size - 1`` into at most ``parts`` (default ``count``) contiguous, nearly
        equal parts: part k is ``bounds[k] .. bounds[k + 1] - 1``."""
        k = max(1, min(self.count if parts is None else parts, size))
        return [j * size // k for j in range(k + 1)]

    def run(self, tasks: Sequence[Callable[[], T]]) -> list[T]:
        """Run ``tasks`` at once, the first on this thread, and return their results in order (the
        first error raised, once every task has ended). A task no worker has started by the time
        this thread is done with its own runs here (the workers may be busy with work ``submit``
        handed them): a task runs once, on one thread, whichever."""
        if self._pool is None or len(tasks) <= 1:
            return [task() for task in tasks]
        futures: list[Future[T]] = [self._pool.submit(task) for task in tasks[1:]]
        results: list[T] = []
        try:
            results.append(tasks[0]())
            for task, future in zip(tasks[1:], futures, strict=True):
                results.append(task() if future.cancel() else future.result())
        finally:
            for future in futures:  # every part ends before its arrays are read or freed
                if not future.cancelled():
                    future.exception()
        return results

    def submit(self, task: Callable[[], T]) -> Future[T]:
        """Start ``task`` on a worker (at once on this thread with one thread): its future."""
        if self._pool is None:
            done: Future[T] = Future()
            done.set_result(task())
            return done
        return self._pool.submit(task)


SINGLE = Threads(1)
"""Every part on the caller's thread."""
