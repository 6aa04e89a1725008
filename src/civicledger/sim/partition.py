"""One run over several processes: persons split into contiguous ranges, each held by a partition
(a Ray actor, or an object in this process with ``engine="local"``), and a coordinator.

Each installed mechanism's sector runs twice over (``sim.sector.Sector``'s ``split_*`` and
``part_*``): once at the coordinator, which holds the economy (the run's generator and its
economy-wide draws, in the sectors' order: the network, the companies, sales, challenges,
resources; the income clock, the companies and the fund), and once in each partition, which holds
its persons' arrays (holdings, reserves, trusts given, acquaintances, credits, votes). Each step:

1. the coordinator's ``split_begin`` of every sector: what every partition hears (the income a
   claim mints, CI2);
2. in each partition, what it was sent at the last exchange is added (``part_receive``), then every
   sector's ``part_begin``, then every sector's ``part_step``: trusts (CI5, CI7), payments (CI8),
   credits (SC2-SC10), votes (GR4, X8). What persons of another partition receive (trustee rewards,
   payments) goes back to the coordinator, which passes it on with the next call (nothing in a step
   reads what its persons received in it). A sector whose step needs persons of other partitions
   stops for a round (``Sector.part_steps`` yields an ask, the coordinator's ``split_round``
   answers every partition, ``Part.resume`` goes on): routes through a friend, the civic
   lottery's draw, nominations;
3. the coordinator's ``split_step`` of every sector with what the partitions reported (the tallies,
   the votes cast): rewards, coefficients, sales, settlement, Creditism;
4. on a recorded step, every sector's ``part_record`` and the coordinator's ``split_record``: sums
   over persons in exact integers (the same in any order), the Gini from holdings in person order.

Persons draw from the run's keyed draws (``sim.draws``), so a partition draws what one process
draws for its persons; the coordinator makes the economy-wide draws in one process's order. The
rows are therefore ``Model(scenario, seed=seed).run()``'s, exactly (``tests/unit/test_sim_partition.py``,
with two Ray workers). What a sector cannot run split yet it names in ``split_refusals``, and a run
asking for it is refused (``Unpartitioned``), as is key loss. Regions are drawn at the coordinator
(``Places``, first, as ``Model`` draws them), and each partition holds its persons' places.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import Any

import numpy as np

from civicledger.kernel.time import YEAR
from civicledger.sim.behaviours import lookup
from civicledger.sim.draws import BLOCK, KeyedDraws
from civicledger.sim.memory import KeptHeap
from civicledger.sim.model import _NOT_FORWARDED, Model
from civicledger.sim.scenario import Scenario
from civicledger.sim.sector import Keys, Places, Row, sectors
from civicledger.sim.threads import SINGLE

ENGINES = ("local", "ray")


class Unpartitioned(ValueError):
    """A scenario asks for something a partitioned run does not model yet."""


def refusals(scenario: Scenario) -> list[str]:
    """What of ``scenario`` a partitioned run cannot run yet, one reason each (empty: it can)."""
    out: list[str] = []
    if scenario.parameters.get("key_loss_rate", 0.0) > 0:
        out.append("key loss (parameters.key_loss_rate, X9)")
    for _, sector in sectors():
        out.extend(sector.split_refusals(scenario))
    return list(dict.fromkeys(out))


def bounds(persons: int, partitions: int) -> list[int]:
    """Contiguous ranges of persons, one per partition (``bounds[k]`` to ``bounds[k + 1]``): whole
    blocks of keyed draws (``sim.draws.BLOCK``) when there are enough, else equal shares."""
    if partitions < 1:
        raise ValueError("a run needs at least one partition")
    blocks = -(-persons // BLOCK)
    if blocks >= partitions:
        return [min(persons, (k * blocks // partitions) * BLOCK) for k in range(partitions)] + [persons]
    return [k * persons // partitions for k in range(partitions + 1)]


class World(Model):
    """A ``Model`` over persons ``first .. first + count - 1`` (``count`` 0: the coordinator, which
    holds no persons); its sectors are built, not set up (``split_setup``/``part_setup`` do it)."""

    def __init__(self, scenario: Scenario, seed: int, first: int, count: int, places: Places | None = None) -> None:
        self.scenario = scenario
        self.seed = seed
        self.rng = np.random.default_rng(seed)  # the coordinator's draws; the persons' are keyed
        self.heap = KeptHeap.for_persons(count)  # a partition of a country is a national run's size
        self.threads = SINGLE  # a partition is one process of several: the cores are taken
        self.draws = KeyedDraws.of(rng=self.rng)
        self.first = first
        self.trace = None
        self.p = dict(scenario.parameters)
        self.policy = scenario.policy
        self.genesis = scenario.start
        self.behave = {role: lookup(role, name) for role, name in scenario.behaviours.items()}
        self.honest_count = scenario.population.persons
        self.n = count
        self.verified = first + np.arange(count) < self.honest_count
        self.step_now = 0
        self.t_now = self.genesis
        self.shared: dict[str, int] = {}
        self.rows: list[Row] = []
        self.keys = Keys()
        if places is None:  # the coordinator: where everyone lives, drawn first as ``Model`` draws it
            persons = scenario.population.persons + scenario.population.sybils
            places = Places.draw(self.rng, persons, scenario.population.persons, scenario.regions, scenario.steps)
        self.places = places
        self.sectors = {name: cls(self) for name, cls in sectors()}
        self._order = tuple(self.sectors.values())
        self._held = tuple((x, x.__dict__, frozenset(dir(type(x))) - _NOT_FORWARDED) for x in self._order)


Box = list[tuple[np.ndarray, np.ndarray]]  # type: ignore[type-arg]
"""What persons of each partition receive: (global numbers, units) per partition."""


class Part:
    """One partition (a Ray actor's class, or an object of the coordinator's process)."""

    def __init__(
        self, scenario: Scenario, seed: int, where: list[int], index: int, places: Places, handoffs: list[Any]
    ) -> None:
        self.started = (time.process_time(), _status_mb("VmRSS"))  # before any of its persons' arrays
        first, stop = where[index], where[index + 1]
        self.world = World(scenario, seed, first, stop - first, places)
        for sector, handoff in zip(self.world._order, handoffs, strict=True):
            sector.part_setup(handoff)

    def _receive(self, inbox: list[tuple[Any, Any]]) -> None:
        for sector, (persons, units) in zip(self.world._order, inbox, strict=True):
            if persons is not None and persons.size:
                sector.part_receive(persons, units)

    def step(self, s: int, t: int, heard: list[Any], inbox: list[tuple[Any, Any]]) -> tuple[Any, ...]:
        """Step ``s`` for our persons, after adding what we were sent; returns ("done", each
        sector's box (what persons of each partition receive), what the coordinator hears from
        it), or ("round", sector, ask) when a sector needs a round first (``resume`` goes on)."""
        w = self.world
        self._receive(inbox)
        w.step_now, w.t_now = s, t
        for sector, said in zip(w._order, heard, strict=True):
            sector.part_begin(s, t, said)
        self._pending = self._steps(s, t)
        return self._go(None)

    def resume(self, answer: Any) -> tuple[Any, ...]:
        """Go on with the step after a round: ``answer`` is the coordinator's to our last ask."""
        return self._go(answer)

    def _go(self, answer: Any) -> tuple[Any, ...]:
        """("round", sector, ask) while a sector waits for a round, then ("done", boxes, reports)."""
        try:
            j, ask = self._pending.send(answer)
        except StopIteration as done:
            boxes, reports = done.value
            return "done", boxes, reports
        return "round", j, ask

    def _steps(self, s: int, t: int) -> Generator[tuple[int, Any], Any, tuple[list[Any], list[Any]]]:
        """Every sector's ``part_steps`` in order; an ask is tagged with its sector's place."""
        boxes, reports = [], []
        for j, sector in enumerate(self.world._order):
            steps = sector.part_steps(s, t)
            answer = None
            while True:
                try:
                    ask = steps.send(answer)
                except StopIteration as done:
                    box, report = done.value
                    break
                answer = yield j, ask
            boxes.append(box)
            reports.append(report)
        return boxes, reports

    def record(self, s: int, t: int, inbox: list[tuple[Any, Any]]) -> list[Any]:
        self._receive(inbox)
        return [sector.part_record(s, t) for sector in self.world._order]

    def usage(self) -> dict[str, float]:
        """What this partition used (for ``benchmarks/sim.py``): its persons, its process's CPU
        seconds since it started, its memory when it started and at its peak (MB, Linux)."""
        cpu0, rss0 = self.started
        return {
            "persons": self.world.n,
            "cpu_seconds": time.process_time() - cpu0,
            "start_mb": rss0,
            "peak_mb": _status_mb("VmHWM"),
        }


def _status_mb(key: str) -> float:
    """A line of /proc/self/status in MB (0 where there is none)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return 0.0
    return 0.0


class PartitionedRun:
    """One run of ``scenario`` over ``partitions`` (``engine`` "ray": Ray actors, Ray started by
    the caller; "local": objects in this process). ``.run()`` returns ``Model(scenario,
    seed=seed).run()``'s rows."""

    def __init__(
        self, scenario: Scenario, *, seed: int | None = None, partitions: int = 2, engine: str = "local"
    ) -> None:
        reasons = refusals(scenario)
        if reasons:
            raise Unpartitioned("a partitioned run does not model yet: " + "; ".join(reasons))
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
        self.scenario = scenario
        self.seed = seed if seed is not None else scenario.seeds[0]
        self.engine = engine
        self.where = bounds(scenario.population.persons, partitions)
        self.coordinator = World(scenario, self.seed, 0, 0)
        handoffs = [sector.split_setup(self.where) for sector in self.coordinator._order]  # in the sectors' order
        places = self.coordinator.places
        args = [
            (
                scenario,
                self.seed,
                self.where,
                k,
                places.slice(self.where[k], self.where[k + 1]),
                [h[k] for h in handoffs],
            )
            for k in range(partitions)
        ]
        del handoffs
        self.pending = args  # the partitions start at the first step (Ray may be started meanwhile)
        self.parts: list[Any] = []
        self.inbox: list[list[tuple[Any, Any]]] = [[(None, None)] * len(self.coordinator._order)] * partitions
        if engine == "local":
            self.parts, self.pending = self._start(args), []

    def _start(self, args: list[tuple[Any, ...]]) -> list[Any]:
        if self.engine == "local":
            return [Part(*a) for a in args]
        import ray

        if not ray.is_initialized():
            raise RuntimeError("a partitioned run on Ray needs Ray started (ray.init) first")
        actor = ray.remote(Part)
        return [actor.remote(*a) for a in args]

    def _each(self, method: str, *args: Any) -> list[Any]:
        """Call ``method`` on every partition with ``args`` and its inbox, and wait for them all."""
        if self.engine == "local":
            return [getattr(p, method)(*args, self.inbox[k]) for k, p in enumerate(self.parts)]
        import ray

        refs = [getattr(p, method).remote(*args, self.inbox[k]) for k, p in enumerate(self.parts)]
        return list(ray.get(refs))

    def _each_given(self, method: str, given: list[Any]) -> list[Any]:
        """Call ``method`` on partition k with ``given[k]``, and wait for them all."""
        if self.engine == "local":
            return [getattr(p, method)(given[k]) for k, p in enumerate(self.parts)]
        import ray

        return list(ray.get([getattr(p, method).remote(given[k]) for k, p in enumerate(self.parts)]))

    def _post(self, boxes: list[list[Box | None]]) -> None:
        """Each partition's inbox, per sector: what the others' boxes hold for it."""
        k_parts, sectors_ = len(self.parts), len(self.coordinator._order)
        inbox: list[list[tuple[Any, Any]]] = []
        for k in range(k_parts):
            mine: list[tuple[Any, Any]] = []
            for j in range(sectors_):
                held = [b[j][k] for b in boxes if b[j] is not None]  # type: ignore[index]
                if held:
                    mine.append((np.concatenate([h[0] for h in held]), np.concatenate([h[1] for h in held])))
                else:
                    mine.append((None, None))
            inbox.append(mine)
        self.inbox = inbox

    def run(self) -> list[Row]:
        for s in range(self.scenario.steps):
            self.step(s)
        return self.coordinator.rows

    def usage(self) -> list[dict[str, float]]:
        """Each partition's ``Part.usage``."""
        return self._each_plain("usage")

    def _each_plain(self, method: str) -> list[Any]:
        if self.engine == "local":
            return [getattr(p, method)() for p in self.parts]
        import ray

        return list(ray.get([getattr(p, method).remote() for p in self.parts]))

    def step(self, s: int) -> None:
        sc, c = self.scenario, self.coordinator
        if not self.parts:
            self.parts, self.pending = self._start(self.pending), []
        t = sc.start + s * sc.step
        c.step_now, c.t_now = s, t
        heard = [sector.split_begin(s, t) for sector in c._order]
        done = self._each("step", s, t, heard)
        while done[0][0] == "round":  # every partition waits in the same round of the same sector
            j = done[0][1]
            done = self._each_given("resume", c._order[j].split_round(s, t, [d[2] for d in done]))
        self._post([boxes for _, boxes, _ in done])
        for j, sector in enumerate(c._order):
            sector.split_step(s, t, [reports[j] for _, _, reports in done])
        if s % sc.record_every == 0 or s == sc.steps - 1:
            c.rows.append(self._record(s, t))

    def _record(self, s: int, t: int) -> Row:
        """The row of step ``s`` as ``Model._record`` writes it, from the partitions' parts."""
        c = self.coordinator
        parts = self._each("record", s, t)
        self.inbox = [[(None, None)] * len(c._order)] * len(self.parts)
        row: Row = {"step": s, "time": t, "year": (t - c.genesis) / YEAR}
        row.update(c.keys.record())
        if c.places.active:
            row.update(c.places.record(s))
        for j, sector in enumerate(c._order):
            row.update(sector.split_record(s, t, [p[j] for p in parts]))
        for j, sector in enumerate(c._order):
            row.update(sector.split_record_last(s, t, [p[j] for p in parts]))
        return row


def run(scenario: Scenario, *, seed: int | None = None, partitions: int = 2, engine: str = "local") -> list[Row]:
    """Run a scenario once over ``partitions`` and return its rows (``Model.run``'s, exactly)."""
    return PartitionedRun(scenario, seed=seed, partitions=partitions, engine=engine).run()
