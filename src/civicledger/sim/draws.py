"""Keyed draws: random numbers for a person that depend on the seed, the step, the purpose and
the person's block only, never on which process draws them or what it drew before.

One run may be split over several processes (``civicledger.sim.partition``), each holding a
range of persons. A single generator shared by the whole run cannot give a process the numbers
the single-process run gives the same persons: its stream depends on everything drawn before.
Here each block of ``BLOCK`` consecutive persons has, for each (step, purpose), a stream of its
own: a ``numpy.random.Philox`` generator seeded with ``SeedSequence(run entropy, spawn_key=(step
+ 1, purpose code, block))``. A process holding persons ``first .. first + count - 1`` draws the
blocks overlapping its range and keeps its part, so it draws exactly what the single process
draws for those persons, whatever the split. The run's own generator (``Model.rng``, the
``SeedSequence`` with an empty spawn key) stays for the economy-wide draws (the network, the
companies, the lottery's seed), which one process (the coordinator of a split run) makes in the
same order as a single-process run.

A run with several threads (``sim.threads``) fills the blocks of one call on several threads at
once, each with a Philox generator of its own set to the same (key, counter) as the single
thread's, and may draw a call ahead on a worker thread (``ahead``): the numbers do not depend on
which thread draws them, or when.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from itertools import pairwise
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from civicledger.sim.rules import distinct_first
from civicledger.sim.threads import SINGLE, Threads

F64 = NDArray[np.float64]
T = TypeVar("T")
Runner = Callable[[Sequence[Callable[[], Any]]], list[Any]]

BLOCK = 1 << 16
"""Persons per block: each block of persons has its own stream per (step, purpose)."""

SETUP = -1
"""The step of draws made when the run starts (the spawn key holds step + 1, never negative)."""


PURPOSES = 1 << 32
"""The spawn key word (above any step + 1) under which the purposes' Philox keys are hashed."""


SPLIT_SAMPLE = 1 << 15
"""Persons expected in a sample below which it is drawn on one thread: a block's sample is a dozen
short NumPy calls that hold the GIL, so a small sample gains less from threads than it pays."""


def purpose_code(purpose: str) -> int:
    """A stable number for a purpose's name (CRC-32: the same in every process and release)."""
    return zlib.crc32(purpose.encode("utf-8"))


class KeyedDraws:
    """The keyed streams of one run (``root``: the run's ``SeedSequence``).

    One Philox generator serves every stream: a stream is a (key, counter) pair, set in place
    (``_seek``), so opening one costs a state assignment, not a ``SeedSequence`` and a generator.
    With ``threads``, each thread has one of its own (``_gens``; the first is the caller's)."""

    def __init__(self, root: np.random.SeedSequence, threads: Threads = SINGLE) -> None:
        self.entropy = root.entropy
        self.spawn_key = tuple(root.spawn_key)
        self.threads = threads
        self._keys: dict[str, NDArray[np.uint64]] = {}
        self._gens = [np.random.Generator(np.random.Philox(key=np.zeros(2, np.uint64))) for _ in range(threads.count)]
        self._gen = self._gens[0]
        self._ahead: dict[tuple[object, ...], Future[Any]] = {}  # calls being drawn ahead (``ahead``)

    @classmethod
    def of(
        cls, seed: int | None = None, rng: np.random.Generator | None = None, threads: Threads = SINGLE
    ) -> KeyedDraws:
        """The keyed draws of a run made from ``seed``, or from ``rng``'s own seed sequence."""
        if rng is not None:
            seq = getattr(rng.bit_generator, "seed_seq", None)
            if not isinstance(seq, np.random.SeedSequence):
                raise ValueError("keyed draws need a generator made from a SeedSequence (np.random.default_rng)")
            return cls(seq, threads)
        return cls(np.random.SeedSequence(seed), threads)

    def key(self, purpose: str) -> NDArray[np.uint64]:
        """The Philox key of a purpose in this run: hashed once (``SeedSequence`` of the run's
        entropy and spawn key, ``PURPOSES``, the purpose's code), then kept."""
        if purpose not in self._keys:
            seq = np.random.SeedSequence(self.entropy, spawn_key=(*self.spawn_key, PURPOSES, purpose_code(purpose)))
            self._keys[purpose] = seq.generate_state(2, np.uint64).astype(np.uint64)
        return self._keys[purpose]

    def _seek(
        self, step: int, purpose: str, block: int, skip: int = 0, gen: np.random.Generator | None = None
    ) -> np.random.Generator:
        """The generator (``gen``, default the caller's thread's) at number ``skip`` (64-bit
        outputs) of the stream of (step, purpose, block): Philox under the purpose's key, at
        counter (skip // 4, block, step + 1, 0). A stream never reaches the next counter word
        (2**66 numbers), so no two overlap."""
        g = self._gen if gen is None else gen
        g.bit_generator.state = {
            "bit_generator": "Philox",
            "state": {
                "counter": np.array([skip // 4, block, step + 1, 0], np.uint64),
                "key": self.key(purpose),
            },
            "buffer": np.zeros(4, np.uint64),
            "buffer_pos": 4,
            "has_uint32": 0,
            "uinteger": 0,
        }
        if skip % 4:
            g.random(skip % 4)  # a double is one 64-bit output
        return g

    def _parts(self, first: int, count: int, parts: int) -> list[range]:
        """The blocks overlapping persons ``first .. first + count - 1``, cut into at most
        ``parts`` contiguous runs of blocks (fewer when there are fewer blocks)."""
        blocks = range(first // BLOCK, (first + count - 1) // BLOCK + 1)
        cuts = self.threads.bounds(len(blocks), parts)
        return [blocks[a:z] for a, z in pairwise(cuts)]

    def block(self, step: int, purpose: str, block: int) -> np.random.Generator:
        """The generator of one block of persons for (step, purpose) (shared: draw from it before
        asking for another)."""
        return self._seek(step, purpose, block)

    def uniform_ahead(self, step: int, purpose: str, first: int, count: int, k: int = 1) -> None:
        """Start ``uniform(step, purpose, first, count, k)`` on a worker thread, for that call,
        made later, to take instead of drawing (``_start``)."""

        def draw(gens: list[np.random.Generator]) -> F64:
            return self._uniform(gens, _one_thread, step, purpose, first, count, k)

        self._start(("uniform", step, purpose, first, count, k), draw)

    def sample_ahead(self, step: int, purpose: str, first: int, count: int, rate: float, k: int = 0) -> None:
        """Start ``sample(step, purpose, first, count, rate, k)`` on a worker thread, for that
        call, made later, to take instead of drawing (``_start``)."""

        def draw(gens: list[np.random.Generator]) -> tuple[NDArray[np.int64], F64]:
            return self._sample(gens, _one_thread, step, purpose, first, count, rate, k)

        if rate > 0:
            self._start(("sample", step, purpose, first, count, rate, k), draw)

    def _start(self, call: tuple[Any, ...], draw: Callable[[list[np.random.Generator]], Any]) -> None:
        """Draw ``call`` ahead: a sector asks, at the end of a step, for what it draws first in the
        next, and the numbers are drawn on a worker while the other sectors step. They are the
        call's own (keyed: whoever draws them, and when). Nothing with one thread."""
        step, purpose, count = call[1], call[2], call[4]
        if self.threads.count < 2 or count <= 0 or call in self._ahead:
            return
        for old in [c for c in self._ahead if c[1] < step - 1]:  # never taken by its step: dropped
            del self._ahead[old]
        self.key(purpose)  # hashed here, before the worker reads the keys
        gens = [np.random.Generator(np.random.Philox(key=np.zeros(2, np.uint64)))]  # the worker's own
        self._ahead[call] = self.threads.submit(lambda: draw(gens))

    def _taken(self, call: tuple[object, ...]) -> Any:
        """The result of a call drawn ahead (``ahead``), or None."""
        pending = self._ahead.pop(call, None) if self._ahead else None
        return None if pending is None else pending.result()

    def uniform(self, step: int, purpose: str, first: int, count: int, k: int = 1) -> F64:
        """``k`` uniform numbers in [0, 1) for each of the persons ``first .. first + count - 1``:
        shape (count, k), row i being person first + i's, the same in any process. Person j of a
        block has numbers j * k .. j * k + k - 1 of its block's stream; only those asked for are
        drawn (the stream is entered at the first one)."""
        drawn: F64 | None = self._taken(("uniform", step, purpose, first, count, k))
        if drawn is not None:
            return drawn
        return self._uniform(self._gens, self.threads.run, step, purpose, first, count, k)

    def _uniform(
        self, gens: list[np.random.Generator], run: Runner, step: int, purpose: str, first: int, count: int, k: int = 1
    ) -> F64:
        """``uniform``, its blocks cut into one run of blocks per generator of ``gens``, run by ``run``."""
        out = np.empty((count, k), np.float64)
        if count <= 0:
            return out
        stop = first + count
        self.key(purpose)  # hashed here, before any thread reads the keys

        def fill(blocks: range, gen: np.random.Generator) -> None:
            for b in blocks:
                lo = b * BLOCK
                a, z = max(lo, first), min(lo + BLOCK, stop)
                self._seek(step, purpose, b, (a - lo) * k, gen).random(out=out[a - first : z - first])

        parts = self._parts(first, count, len(gens))
        run([_bind(fill, part, gen) for part, gen in zip(parts, gens, strict=False)])
        return out

    def sample(
        self, step: int, purpose: str, first: int, count: int, rate: float, k: int = 0
    ) -> tuple[NDArray[np.int64], F64]:
        """Persons drawn with probability ``rate`` each among ``first .. first + count - 1``, and
        ``k`` uniform numbers for each: per block, a binomial count of uniform positions, duplicates
        dropped, then the numbers of each position drawn (the work follows the number drawn, not
        the population). Returns (indices counted from ``first``, in order; shape (drawn, k))."""
        drawn: tuple[NDArray[np.int64], F64] | None = self._taken(("sample", step, purpose, first, count, rate, k))
        if drawn is not None:
            return drawn
        gens = self._gens if rate * count >= SPLIT_SAMPLE else self._gens[:1]
        return self._sample(gens, self.threads.run, step, purpose, first, count, rate, k)

    def _sample(
        self,
        gens: list[np.random.Generator],
        run: Runner,
        step: int,
        purpose: str,
        first: int,
        count: int,
        rate: float,
        k: int = 0,
    ) -> tuple[NDArray[np.int64], F64]:
        """``sample``, its blocks cut into one run of blocks per generator of ``gens``, run by ``run``."""
        picks: list[NDArray[np.int64]] = []
        extras: list[F64] = []
        stop = first + count
        if count > 0 and rate > 0:
            self.key(purpose)  # hashed here, before any thread reads the keys

            def draw(blocks: range, gen: np.random.Generator) -> list[tuple[NDArray[np.int64], F64]]:
                found = []
                for b in blocks:
                    g = self._seek(step, purpose, b, 0, gen)
                    pos = g.integers(0, BLOCK, size=g.binomial(BLOCK, rate), dtype=np.int64)
                    extra = g.random((pos.size, k))
                    pos, once = distinct_first(pos, below=BLOCK)
                    at = b * BLOCK + pos
                    keep = (at >= first) & (at < stop)
                    found.append((at[keep] - first, extra[once][keep]))
                return found

            parts = self._parts(first, count, len(gens))
            for found in run([_bind(draw, part, gen) for part, gen in zip(parts, gens, strict=False)]):
                for pick, extra in found:  # in the blocks' order, whichever thread drew them
                    picks.append(pick)
                    extras.append(extra)
        if not picks:
            return np.zeros(0, np.int64), np.zeros((0, k), np.float64)
        return np.concatenate(picks), np.concatenate(extras)

    def at(self, step: int, purpose: str, persons: NDArray[np.int64], k: int = 1) -> F64:
        """``k`` uniform numbers for each of some persons (global numbers), shape (size, k): a
        SplitMix64 mix of (the key of (step, purpose), person, column), for persons too scattered
        for ``uniform``'s blocks (the penalised, for their appeals). The same in any process."""
        key = np.random.SeedSequence(self.entropy, spawn_key=(*self.spawn_key, step + 1, purpose_code(purpose)))
        base = key.generate_state(1, np.uint64)[0]
        x = persons.astype(np.uint64)[:, None] * np.uint64(k) + np.arange(k, dtype=np.uint64)[None, :]
        with np.errstate(over="ignore"):
            z = x * np.uint64(0x9E3779B97F4A7C15) + base
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            z = z ^ (z >> np.uint64(31))
        out: F64 = (z >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
        return out


def _one_thread(tasks: Sequence[Callable[[], T]]) -> list[T]:
    return [task() for task in tasks]


def _bind(task: Callable[[range, np.random.Generator], T], blocks: range, gen: np.random.Generator) -> Callable[[], T]:
    """``task`` on one thread's blocks with that thread's generator."""
    return lambda: task(blocks, gen)


def normal_of(u: F64) -> F64:
    """Standard normal numbers from uniform ones (the inverse of the normal distribution)."""
    from scipy.special import ndtri

    out: F64 = ndtri(np.clip(u, 1e-300, None))
    return out
