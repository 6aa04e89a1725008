"""The vectorised economy: the installed mechanisms' sectors over NumPy arrays, one step at a time.

State lives in arrays indexed by person (honest persons first, then fake accounts), by company
and by resource; money is ``int64`` minor units. Each mechanism contributes one *sector*
(``civicledger.sim.sector.Sector``, found through the mechanism's ``sim`` reference in
``civicledger.kernel.registry.installed()``), which holds its own state. The model holds what the
whole run shares (the scenario, the one generator, the behaviours and their parameters, the
policy, the population and who is verified) and drives the sectors in their ``order``; each
step, at time t = start + s x step:

0. key loss and recovery (X9, ``sim.sector.Keys``), if the scenario's ``key_loss_rate`` is above 0;
1. every sector's ``begin(s, t)`` (the civic lottery draws here, SC9);
2. every sector's ``step(s, t)``: Circles (CI2-CI4, CI5, CI7-CI9, CI11, CI14, CI15), social credits
   (SC2-SC5, SC7-SC10), Gears (GR1, GR4-GR7) and Creditism (CR2, CR5, CR7-CR12) with the default
   mechanisms;
3. on a recorded step, one row: ``step``, ``time``, ``year``, the key columns, the regions'
   columns (with ``[regions]``: ``sim.sector.Places``), then every sector's columns.

Sectors meet through the model (X8): ``participated`` passes acts of participation from one
sector to the others, ``shared`` holds what a sector offers the others (``sim.sector``).

A run takes ``seed`` or ``rng``, never both. Draws for persons come from the run's keyed
streams (``model.draws``, ``civicledger.sim.draws``: by seed, step, purpose and block of persons),
so they are the same whichever process holds the persons (``civicledger.sim.partition``); the
economy-wide draws (the network, the companies, sales, the lottery's seed) come from the one
generator ``model.rng``, in the sectors' order.

A run may use several threads (``threads``, ``sim.threads``; by default the cores available, at
most two): the keyed draws and a mechanism's compiled passes cut their persons into parts run at
once, and the rows are the same whatever the number (``tests/unit/test_sim_threads.py``). A
sweep's runs and a partitioned run's partitions take one each: their processes already fill the
cores.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from civicledger.kernel.time import DAY, YEAR
from civicledger.sim.behaviours import AHEAD, lookup
from civicledger.sim.draws import KeyedDraws
from civicledger.sim.memory import KeptHeap
from civicledger.sim.scenario import Scenario
from civicledger.sim.sector import Keys, Places, Row, Sector, Trace, sectors
from civicledger.sim.threads import Threads, default_threads

I64 = NDArray[np.int64]

_NOT_FORWARDED = frozenset(dir(Sector)) | {"model"}

__all__ = ["Model", "Trace", "run"]


class Model:
    """One run of a scenario. ``Model(s, seed=1).run()`` returns the tidy rows.

    A name the model does not hold is read from (and set on) the one sector holding it, so a
    behaviour or a test reads ``model.own`` or ``model.fund`` whichever sector keeps it;
    ``model.sectors[name]`` is each mechanism's sector. ``threads`` (default: ``default_threads``)
    changes how fast, never what: ``model.threads`` is what the passes cut in parts run on.
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        seed: int | None = None,
        rng: np.random.Generator | None = None,
        trace: bool = False,
        threads: int | None = None,
    ) -> None:
        if seed is not None and rng is not None:
            raise ValueError("a run takes a seed or an rng, never both")
        self.scenario = scenario
        self.seed = seed if rng is None else None
        self.rng = rng if rng is not None else np.random.default_rng(seed if seed is not None else scenario.seeds[0])
        pop = scenario.population
        self.heap = KeptHeap.for_persons(pop.persons + pop.sybils)  # before the threads: they share the heap
        self.threads = Threads(default_threads() if threads is None else threads)
        self.draws = KeyedDraws.of(rng=self.rng, threads=self.threads)  # the run's SeedSequence, keyed further
        self.first = 0  # the number of this model's person 0 (another in a partition of a run)
        self.trace = Trace() if trace else None
        self.p = dict(scenario.parameters)
        self.policy = scenario.policy
        self.genesis = scenario.start
        self.behave = {role: lookup(role, name) for role, name in scenario.behaviours.items()}
        self.honest_count = pop.persons
        self.n = pop.persons + pop.sybils
        self.verified = np.arange(self.n) < pop.persons
        self.step_now = 0
        self.t_now = self.genesis
        self.shared: dict[str, int] = {}
        self.rows: list[Row] = []
        self.keys = Keys()
        self.places = Places.draw(self.rng, self.n, pop.persons, scenario.regions, scenario.steps)  # [regions]
        self.sectors: dict[str, Sector] = {name: cls(self) for name, cls in sectors()}
        self._order = tuple(self.sectors.values())
        self._held = tuple((x, x.__dict__, frozenset(dir(type(x))) - _NOT_FORWARDED) for x in self._order)
        for sector in self._order:
            sector.setup()
        days = self.p["recovery_days"]
        wait = round(days * DAY) if days >= 0 else scenario.policy.identity.recovery_wait  # X9
        self.keys = Keys.draw(self.draws, self.n, pop.persons, self.p["key_loss_rate"], self.p["guardian_share"], wait)

    # A sector's state under the model's name -------------------------------------------------

    def _owner(self, name: str) -> Sector | None:
        held = self.__dict__.get("_held")
        if held is None or name in _NOT_FORWARDED:
            return None
        owner = None
        for sector, state, methods in held:
            if name in state or name in methods:
                if owner is not None:
                    found = f"{type(owner).__name__}, {type(sector).__name__}"
                    raise AttributeError(
                        f"{name!r} is held by several sectors ({found}): read model.sectors[...].{name}"
                    )
                owner = sector
        return owner

    def __getattr__(self, name: str) -> Any:
        owner = self._owner(name)
        if owner is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return getattr(owner, name)

    def __setattr__(self, name: str, value: object) -> None:
        if name not in self.__dict__ and not hasattr(type(self), name):
            owner = self._owner(name)
            if owner is not None:
                setattr(owner, name, value)
                return
        object.__setattr__(self, name, value)

    # Stepping ------------------------------------------------------------------------------

    def run(self) -> list[Row]:
        try:
            for s in range(self.scenario.steps):
                self.step(s)
        finally:
            self.heap.release()
        return self.rows

    def log(self, *action: object) -> None:
        if self.trace is not None:
            self.trace.actions.append(action)

    def draw_ahead(self, role: str, s: int) -> None:
        """Ask for the keyed draws the role's behaviour will make at step ``s`` now (``AHEAD``):
        drawn on a worker while the run's thread goes on, the same numbers. Nothing with one
        thread, past the last step, or for a behaviour that declares none."""
        if self.threads.count < 2 or s >= self.scenario.steps:
            return
        ahead = AHEAD.get((role, self.scenario.behaviours.get(role, "")))
        if ahead is not None:
            ahead(self, s)

    def participated(self, kind: str, persons: I64, t: int) -> None:
        """X8: ``persons`` took part in civic life (``kind``) at ``t``; every sector hears it, in order."""
        for sector in self._order:
            sector.participation(kind, persons, t)

    def step(self, s: int) -> None:
        t = self.genesis + s * self.scenario.step
        self.step_now = s
        self.t_now = t
        self.keys.begin(self.draws, s, t, self.scenario.step, self.honest_count)
        for sector in self._order:
            sector.begin(s, t)
        for sector in self._order:
            sector.step(s, t)
        if self.threads.count > 1:  # the next step's draws a sector did not ask for already
            for role in self.behave:
                self.draw_ahead(role, s + 1)
        if s % self.scenario.record_every == 0 or s == self.scenario.steps - 1:
            self.rows.append(self._record(s, t))

    def _record(self, s: int, t: int) -> Row:
        row: Row = {"step": s, "time": t, "year": (t - self.genesis) / YEAR}
        row.update(self.keys.record())
        if self.places.active:
            row.update(self.places.record(s))
        for sector in self._order:
            row.update(sector.record(s, t))
        for sector in self._order:
            row.update(sector.record_last(s, t))
        return row


def run(
    scenario: Scenario, *, seed: int | None = None, rng: np.random.Generator | None = None, threads: int | None = None
) -> list[Row]:
    """Run a scenario once and return its tidy rows (one per recorded step)."""
    return Model(scenario, seed=seed, rng=rng, threads=threads).run()
