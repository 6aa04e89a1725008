"""Sectors: each mechanism's part of the simulation, driven by the model in a fixed order.

A mechanism offers the simulator one ``Sector`` subclass (the ``sim`` reference of its
``Mechanism``, ``"module:Class"``). The model (``civicledger.sim.model``) knows none of them by
name: it finds them through ``civicledger.kernel.registry.installed()``, builds one of each, and
drives them in ``order`` (lower first):

1. ``setup()`` once, in order: the sector's state arrays, its economy-wide draws from the run's
   generator and its persons' keyed draws (``model.draws``, ``sim.draws``);
2. every step s, at time t: ``begin(s, t)`` of every sector, then ``step(s, t)`` of every sector;
3. on a recorded step: ``record(s, t)`` of every sector, then ``record_last(s, t)`` of every
   sector, each adding its columns to the row in that order.

A sector holds its own state; it reads what the whole run shares from the model (``model.rng``,
``model.p``, ``model.policy``, ``model.behave``, ``model.n``, ``model.verified``, ``model.trace``
...), and calls the behaviours with the model, so a behaviour reads any sector's state as
``m.<name>`` (``Model`` forwards a name to the one sector holding it).

A sector's module imports its own mechanism's pure modules, the kernel's, NumPy and ``civicledger.sim``
(this module, ``sim.rules``), never another mechanism. Where two mechanisms meet (X8) they meet
through the model, as the engine's mechanisms meet through ``civicledger.kernel.hooks``:

- ``model.participated(kind, persons, t)``: a sector reports acts of civic participation (a Gears
  vote is ``"gears_vote"``); every sector's ``participation(kind, persons, t)`` hears it, in order
  (the social credits sector restarts the decay clock and applies the kind's effect);
- ``model.shared``: values a sector offers the others at setup, under the keys declared here
  (``MONTHLY_INCOME``);
- ``model.keys``: who can sign this step (X9, ``Keys``): persons who lost their key, for good
  without guardians or until their guardians' recovery completes; a sector lets a locked person
  receive but never act.

``unmodelled(policy)`` lists the policy options of the sector's mechanism the simulator does not
model; ``parse_scenario`` refuses them with the reason rather than ignore them.

A run split over processes (``civicledger.sim.partition``) runs each sector at a coordinator
(``split_*``: the economy) and in each partition (``part_*``: its persons); ``split_refusals``
names what the sector cannot run split yet.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np
from numpy.typing import NDArray

from civicledger.kernel.policy import Policy
from civicledger.kernel.registry import Mechanism, installed, load
from civicledger.kernel.time import DAY, YEAR
from civicledger.sim.draws import SETUP, KeyedDraws
from civicledger.sim.threads import Threads

I64 = NDArray[np.int64]
Problem = tuple[tuple[str, ...], str]
"""A policy option the simulator refuses: (key path, reason)."""
Row = dict[str, float]
"""A recorded row's columns: metrics, whole numbers or not."""

MONTHLY_INCOME = "monthly_income"
"""X8, CR10: ``model.shared[MONTHLY_INCOME]``, a month of the basic income a sector pays (minor
units), offered at setup: the base of the externality fee where policy sets none (0 without it)."""


@dataclass
class Keys:
    """Key loss and recovery (X9): which persons cannot sign, and since when.

    Each step (from the second on) every honest person whose key works loses it with the
    probability that makes ``rate`` a year; a person with guardians (``guarded``, drawn once
    with ``guardian_share``) recovers the account ``wait`` seconds later, one without loses it for
    good: no income claimed and their holdings frozen for ever. Fake accounts never lose keys (their
    owner holds them all). With ``rate`` 0 nothing is drawn, so runs without key loss keep their
    numbers. The draws do not depend on ``guardian_share``: a sweep over it loses the same keys at
    the same steps, as far as the runs' other draws stay alike.
    """

    rate: float = 0.0
    wait: int = 7 * DAY
    guarded: NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, bool))
    locked: NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, bool))  # cannot sign now
    lost: NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, bool))  # for good (no guardians)
    lost_step: I64 = field(default_factory=lambda: np.zeros(0, np.int64))  # step of the latest loss, -1
    until: I64 = field(default_factory=lambda: np.zeros(0, np.int64))  # when a recovery completes, -1
    lost_now: I64 = field(default_factory=lambda: np.zeros(0, np.int64))  # lost their key this step
    recovered_now: I64 = field(default_factory=lambda: np.zeros(0, np.int64))  # recovered this step
    lost_guarded: int = 0  # keys lost by persons with guardians (cumulative)
    lost_unguarded: int = 0  # keys lost by persons without (cumulative: accounts lost for good)
    recovered: int = 0  # recoveries completed (cumulative)

    @property
    def active(self) -> bool:
        return self.rate > 0

    @classmethod
    def draw(cls, draws: KeyedDraws, n: int, honest: int, rate: float, share: float, wait: int) -> Keys:
        """The key state of a run of ``n`` persons (``honest`` of them real): who has guardians
        (keyed draws, ``sim.draws``)."""
        keys = cls(
            rate,
            wait,
            np.zeros(n, bool),
            np.zeros(n, bool),
            np.zeros(n, bool),
            np.full(n, -1, np.int64),
            np.full(n, -1, np.int64),
        )
        if keys.active:
            keys.guarded[:honest] = draws.uniform(SETUP, "guardians", 0, honest)[:, 0] < share
        return keys

    def begin(self, draws: KeyedDraws, s: int, t: int, step: int, honest: int) -> None:
        """Step ``s`` at ``t``: recoveries due complete, then keys are lost (none at step 0)."""
        self.lost_now = self.recovered_now = np.zeros(0, np.int64)
        if not self.active:
            return
        due = np.flatnonzero(self.locked & ~self.lost & (self.until >= 0) & (self.until <= t))
        self.locked[due] = False
        self.until[due] = -1
        self.recovered_now = due.astype(np.int64)
        self.recovered += int(due.size)
        chance = 1.0 - (1.0 - self.rate) ** (step / YEAR)
        if s == 0:
            return
        ok = np.ones(honest, bool)
        ok[self.recovered_now] = False  # a recovery this step takes effect first
        u = draws.uniform(s, "key_loss", 0, honest)[:, 0]  # keyed: the same whatever else is drawn
        lose = np.flatnonzero((u < chance) & ~self.locked[:honest] & ok).astype(np.int64)
        self.lost_now = lose
        self.locked[lose] = True
        self.lost_step[lose] = s
        guarded = self.guarded[lose]
        self.until[lose[guarded]] = t + self.wait
        self.lost[lose[~guarded]] = True
        self.lost_guarded += int(guarded.sum())
        self.lost_unguarded += int((~guarded).sum())

    def record(self) -> Row:
        return {
            "keys_lost_guarded": self.lost_guarded,
            "keys_lost_unguarded": self.lost_unguarded,
            "accounts_recovering": int((self.locked & ~self.lost).sum()),
            "accounts_recovered": self.recovered,
            "accounts_lost": int(self.lost.sum()),
        }


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name.strip().lower())


@dataclass
class Places:
    """Where persons live (``[regions]``): each person's home region, and the step at which they
    move (at most once a run) to their destination region, all drawn when the run starts.

    Regions are drawn as a random layout of exact counts (a region's share of the persons), so the
    persons the behaviours pick by number (the first ``farmer_share`` farm, IN2) fall in every
    region alike. A person moves at step ``moved_at`` (``steps``: never) with chance
    ``migration_rate`` a step, to another region drawn by the regions' shares; the ties they form
    from then on are with persons of their new region (``rewire``), the ties they had stay. Fake
    accounts live in no region (-1). Without regions nothing is drawn and no column is added.
    """

    names: tuple[str, ...] = ()
    home: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    dest: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    moved_at: I64 = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def active(self) -> bool:
        return bool(self.names)

    @classmethod
    def draw(cls, rng: np.random.Generator, n: int, honest: int, regions: Any, steps: int) -> Places:
        """The places of a run (``regions`` a ``sim.scenario.Regions`` or None: no draws at all)."""
        if regions is None:
            return cls()
        shares = np.array(regions.shares, np.float64)
        counts = np.floor(shares * honest).astype(np.int64)
        counts[np.argsort(-(shares * honest - counts), kind="stable")[: honest - int(counts.sum())]] += 1
        home = np.full(n, -1, np.int64)
        layout = np.repeat(np.arange(shares.size, dtype=np.int64), counts)
        home[:honest] = rng.permutation(layout) if shares.size > 1 else layout  # one region: nothing drawn
        moved_at = np.full(n, steps, np.int64)
        dest = home.copy()
        if regions.migration_rate > 0 and shares.size > 1:
            moved_at[:honest] = np.minimum(rng.geometric(regions.migration_rate, size=honest), steps)
            pick = rng.random(honest)
            for r in range(shares.size):
                mine = np.flatnonzero(home[:honest] == r)
                others = shares.copy()
                others[r] = 0.0
                if others.sum() <= 0:
                    moved_at[mine] = steps
                    continue
                cdf = np.cumsum(others) / others.sum()
                dest[mine] = np.searchsorted(cdf, pick[mine], side="right").clip(0, shares.size - 1)
        return cls(tuple(regions.names), home, dest, moved_at)

    def at(self, s: int) -> I64:
        """Each person's region at step ``s`` (-1: fake accounts)."""
        out: I64 = np.where(self.moved_at <= s, self.dest, self.home)
        return out

    def members(self, s: int) -> list[I64]:
        where = self.at(s)
        return [np.flatnonzero(where == r) for r in range(len(self.names))]

    def record(self, s: int) -> Row:
        """Persons per region at step ``s``, and the moves so far."""
        where = self.at(s)
        counts = np.bincount(where[where >= 0], minlength=len(self.names))
        row: Row = {f"region_{_slug(name)}_persons": int(counts[r]) for r, name in enumerate(self.names)}
        row["migrations"] = int((self.moved_at <= s).sum())
        return row

    def slice(self, first: int, stop: int) -> Places:
        """The places of persons ``first .. stop - 1`` (a partition's, ``sim.partition``)."""
        return Places(self.names, self.home[first:stop], self.dest[first:stop], self.moved_at[first:stop])

    def totals(self, values: I64, counted: NDArray[np.bool_], s: int) -> tuple[I64, I64]:
        """Per region, the exact sum of whole-number ``values`` over the ``counted`` persons and
        their number, at step ``s``: what ``means`` divides, added up over partitions."""
        where = self.at(s)[: values.size]
        keep = counted & (where >= 0)
        total = np.zeros(len(self.names), np.int64)
        np.add.at(total, where[keep], values[keep].astype(np.int64))
        count = np.bincount(where[keep], minlength=len(self.names)).astype(np.int64)
        return total, count

    def means_of(self, metric: str, total: I64, count: I64) -> Row:
        """``means`` from ``totals`` (added up over partitions): whole-number values' sums are exact
        in ``means``' float64 too (below 2^53), so the columns are the same."""
        row: Row = {metric: float(int(total.sum()) / max(1, int(count.sum())))}
        for r, name in enumerate(self.names):
            row[f"region_{_slug(name)}_{metric}"] = float(int(total[r]) / int(count[r])) if count[r] else 0.0
        return row

    def means(self, metric: str, values: NDArray[np.generic], counted: NDArray[np.bool_], s: int) -> Row:
        """The mean of ``values`` over the ``counted`` persons of each region at step ``s``, and of
        all of them (``metric`` alone); 0 where none is counted."""
        where = self.at(s)[: values.size]
        keep = counted & (where >= 0)
        x = values.astype(np.float64)
        total = np.bincount(where[keep], weights=x[keep], minlength=len(self.names))
        count = np.bincount(where[keep], minlength=len(self.names))
        row: Row = {metric: float(x[keep].sum() / max(1, int(keep.sum())))}
        for r, name in enumerate(self.names):
            row[f"region_{_slug(name)}_{metric}"] = float(total[r] / count[r]) if count[r] else 0.0
        return row


@dataclass
class Trace:
    """What the model applied, action by action, for small runs replayed through the engine."""

    actions: list[tuple[object, ...]] = field(default_factory=list)


class World(Protocol):
    """What the model offers its sectors (``civicledger.sim.model.Model``)."""

    scenario: Any  # the run's ``civicledger.sim.scenario.Scenario`` (an edge module this kit may not import)
    rng: np.random.Generator  # the run's generator for economy-wide draws (in the sectors' order)
    draws: KeyedDraws  # the run's keyed draws for persons (``sim.draws``): the same in any process
    threads: Threads  # the threads a pass cut in parts of persons may run on (``sim.threads``)
    first: int  # the run's number of person 0 here (0 but in a partition, ``sim.partition``)
    p: dict[str, float]  # the behaviours' parameters (``[parameters]``)
    policy: Policy
    genesis: int  # the scenario's start
    behave: dict[str, Callable[..., Any]]  # role -> behaviour (``sim.behaviours.Behaviour``), called with the model
    honest_count: int  # persons 0 .. honest_count - 1 are honest, the rest fake accounts
    n: int  # persons, fake accounts included
    verified: NDArray[np.bool_]
    step_now: int
    t_now: int
    trace: Trace | None
    shared: dict[str, int]  # what a sector offers the others (``MONTHLY_INCOME``)
    keys: Keys  # who can sign (X9)
    places: Places  # where persons live ([regions]; inactive without)

    def log(self, *action: object) -> None:
        """Add an action to the trace (if the run keeps one)."""

    def participated(self, kind: str, persons: I64, t: int) -> None:
        """X8: report acts of civic participation to every sector."""

    def draw_ahead(self, role: str, s: int) -> None:
        """Ask for the draws of the role's behaviour at step ``s`` now (on a worker thread)."""


class Sector:
    """One mechanism's state and its work in each step. Subclasses override what they need."""

    order: ClassVar[int] = 0
    """The sector's place in every phase of a step (lower first); it is also the order of its
    draws from the run's generator, so a sector's place decides the run's numbers."""

    behaviours: ClassVar[dict[str, dict[str, Callable[..., Any]]]] = {}
    """Behaviours the sector offers, by role and name (``civicledger.sim.behaviours`` registers
    them, under roles it declares, before a scenario's behaviours are checked)."""

    def __init__(self, model: World) -> None:
        self.model = model

    @classmethod
    def unmodelled(cls, policy: Policy) -> list[Problem]:
        """Options of ``policy`` the sector does not model (refused by ``parse_scenario``)."""
        return []

    @classmethod
    def check_parameters(cls, policy: Policy, parameters: dict[str, float]) -> list[Problem]:
        """Problems of the scenario's ``[parameters]`` under ``policy`` (e.g. a parameter for an
        option the policy does not allow), listed by ``parse_scenario`` with the others."""
        return []

    def setup(self) -> None:
        """The sector's state arrays and its draws from the run's generator."""

    def begin(self, s: int, t: int) -> None:
        """Work due at the start of step ``s``, before any sector's ``step``."""

    def step(self, s: int, t: int) -> None:
        """The sector's work in step ``s`` at time ``t``."""

    def participation(self, kind: str, persons: I64, t: int) -> None:
        """X8: ``persons`` took part in civic life (``kind``) at ``t``, reported by a sector."""

    def record(self, s: int, t: int) -> Row:
        """The sector's columns of the row recorded at step ``s``."""
        return {}

    def record_last(self, s: int, t: int) -> Row:
        """Columns placed after every sector's ``record`` (the end of the row)."""
        return {}

    # A run split over processes (``civicledger.sim.partition``) --------------------------------
    #
    # One instance of the sector runs at the coordinator (its model holds the run's generator and
    # no persons), one in each partition (its model holds persons ``first .. first + n - 1``).
    # The coordinator's ``split_*`` and the partitions' ``part_*`` together do what ``setup``,
    # ``begin``, ``step`` and ``record`` do in one process, with the same draws, so the rows are the
    # same. A sector that does not override them cannot be split: ``split_refusals`` says why.

    PARTITIONED: ClassVar[dict[str, tuple[str, ...]]] = {}
    """The behaviours of each role a partitioned run of this sector can run (a sector's own)."""

    @classmethod
    def split_refusals(cls, scenario: Any) -> list[str]:
        """What of ``scenario`` this sector cannot run split over processes (empty: it can)."""
        return [f"the {cls.__name__} is not partitioned"]

    @classmethod
    def behaviour_refusals(cls, scenario: Any) -> list[str]:
        """The scenario's behaviours of this sector's roles that ``PARTITIONED`` does not list."""
        out: list[str] = []
        for role, allowed in cls.PARTITIONED.items():
            name = scenario.behaviours.get(role, "")
            if name not in allowed:
                out.append(f"the {role} behaviour {name!r} (partitioned: {', '.join(allowed)})")
        return out

    def split_setup(self, where: list[int]) -> list[Any]:
        """At the coordinator: the economy's setup, drawn in the sector's order from the run's
        generator; returns what each partition (persons ``where[k]`` to ``where[k + 1]``) needs."""
        return [None] * (len(where) - 1)

    def part_setup(self, handoff: Any) -> None:
        """In a partition: the persons' state, from the coordinator's ``handoff``."""

    def split_begin(self, s: int, t: int) -> Any:
        """At the coordinator, first in step ``s``: what every partition hears this step."""
        return None

    def part_begin(self, s: int, t: int, heard: Any) -> None:
        """In a partition: ``begin`` for its persons, before any sector's ``part_step``."""

    def part_step(self, s: int, t: int) -> tuple[list[tuple[I64, I64]] | None, Any]:
        """In a partition: ``step`` for its persons. Returns (what persons of each partition
        receive: (global numbers, units) per partition, or None; what the coordinator hears)."""
        return None, None

    def part_steps(self, s: int, t: int) -> Generator[Any, Any, tuple[list[tuple[I64, I64]] | None, Any]]:
        """In a partition: ``part_step`` as a generator that may stop for rounds with the other
        partitions (an intermediary of a route in another partition): each value it yields is this
        partition's ask, which the coordinator's ``split_round`` answers, and it resumes with this
        partition's answer. Every partition makes the same rounds in a step. Default: no rounds."""
        yield from ()
        return self.part_step(s, t)

    def split_round(self, s: int, t: int, asks: list[Any]) -> list[Any]:
        """At the coordinator: each partition's answer to the asks of a round of ``part_steps``."""
        raise NotImplementedError(f"{type(self).__name__} asks for no rounds")

    def part_receive(self, persons: I64, units: I64) -> None:
        """In a partition: what its ``persons`` (global numbers) receive from other partitions."""

    def split_step(self, s: int, t: int, heard: list[Any]) -> None:
        """At the coordinator: ``step`` for the economy, after the partitions' (``heard``: theirs)."""

    def part_record(self, s: int, t: int) -> Any:
        """In a partition: what the coordinator needs for the row of step ``s``."""
        return None

    def split_record(self, s: int, t: int, parts: list[Any]) -> Row:
        """At the coordinator: the sector's columns of the row, as ``record`` gives them."""
        return {}

    def split_record_last(self, s: int, t: int, parts: list[Any]) -> Row:
        """At the coordinator: the columns of ``record_last``."""
        return {}


_CACHE: dict[Mechanism, type[Sector] | None] = {}
_LOCK = threading.Lock()


def sector_of(mechanism: Mechanism) -> type[Sector] | None:
    """The sector class a mechanism offers, or None if it offers none.

    ``mechanism.sim`` names it; a mechanism that names none is looked up by convention, in the
    module ``sim`` of its package, as the class ``<Name>Sector`` (absent: no sector).
    """
    with _LOCK:
        if mechanism in _CACHE:
            return _CACHE[mechanism]
    reference = mechanism.sim
    if reference is None:
        module = f"civicledger.mechanisms.{mechanism.name}.sim"
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:  # no such package
            found = False
        reference = f"{module}:{mechanism.name.capitalize()}Sector" if found else None
    sector: type[Sector] | None = None
    if reference is not None:
        loaded = load(reference)
        if not (isinstance(loaded, type) and issubclass(loaded, Sector)):
            raise RuntimeError(f"the simulation sector {reference} of {mechanism.name} is not a Sector")
        sector = loaded
    with _LOCK:
        _CACHE[mechanism] = sector
    return sector


def sectors() -> list[tuple[str, type[Sector]]]:
    """The installed mechanisms' sectors as (mechanism name, class), in the model's order."""
    found = [(m.name, sector) for m in installed() if (sector := sector_of(m)) is not None]
    return sorted(found, key=lambda item: (item[1].order, item[0]))
