"""One run over several processes: persons split into contiguous ranges, each held by a partition
(a Ray actor, or an object in this process with ``engine="local"``), with a coordinator.

A partition holds its persons' arrays: their Circles holdings, reserves and trusts, the acquaintances
of its persons (CSR rows with the other side's global number), the trusts forming with one of them
each step, their social credits (a ``CreditsSector`` of its own over its persons) and their Gears
votes (a ``GearsSector`` holding votes only). The coordinator holds what the economy shares: the
run's generator and its economy-wide draws (the network, the companies, sales, challenges,
resources), the income clock, the companies and the fund (a ``GearsSector`` holding companies
only) and Creditism. Each step:

1. the coordinator claims the step's income (CI2) once and sends each partition the units;
2. each partition runs the credits' ``begin``, mints, forms its persons' side of the step's trusts
   (CI5, CI7: the reward from a person's reserve depends on that person's earlier trusts only) and
   pays acquaintances (CI8); what it owes persons of another partition (rewards, payments) goes to
   the coordinator, which passes it on;
3. each partition adds what it received, runs the credits' step and casts its persons' votes (GR4,
   X8); the coordinator adds the tallies and pays the rewards (GR6), then settles the companies;
4. on a recorded step the coordinator merges the partitions' sums into the row (in exact int64,
   in any order), and the Gini of holdings from their holdings in person order.

Persons draw from the run's keyed draws (``sim.draws``), so a partition draws what the single
process draws for its persons; the coordinator makes the economy-wide draws in the single run's
order. The rows are therefore the single-process run's, exactly (tested with two Ray workers).

Not partitioned yet (``unpartitioned`` names them; a run asking for them is refused): fake
accounts, regions, groups and conversions, demurrage, directed trust, routed payments (two hops and
max flow need the intermediary's acquaintances, in another partition), key loss, the civic lottery
(pledges, candidates, nominations), farmers, and behaviours other than the defaults listed in
``PERSON_BEHAVIOURS``. The coordinator builds the network once at the start (O(edges) memory there,
freed after it is handed out).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from civicledger.kernel.time import MONTH, WEEK, YEAR
from civicledger.mechanisms.circles import rules as circles
from civicledger.mechanisms.circles.policy import CirclesPolicy
from civicledger.mechanisms.circles.sim import CirclesSector, claim, halved_reserve, trustee_reward_after
from civicledger.mechanisms.creditism.sim import CreditismSector
from civicledger.mechanisms.credits.sim import CreditsSector
from civicledger.mechanisms.gears.sim import GearsSector
from civicledger.sim.behaviours import lookup
from civicledger.sim.draws import BLOCK, KeyedDraws
from civicledger.sim.model import Model
from civicledger.sim.rules import GENERATORS, add_into, build, gini
from civicledger.sim.scenario import Scenario
from civicledger.sim.sector import MONTHLY_INCOME, Keys, Places, Row, Sector, sectors

I64 = NDArray[np.int64]
ENGINES = ("local", "ray")

PERSON_BEHAVIOURS: dict[str, frozenset[str]] = {
    "payments": frozenset({"random_pairs", "none"}),
    "routed_payments": frozenset({"none"}),
    "conversions": frozenset({"share_of_balance", "none"}),  # with no groups, nobody converts
    "participation": frozenset({"bernoulli", "none"}),
    "infractions": frozenset({"bernoulli", "none"}),
    "appeals": frozenset({"bernoulli", "draw_grinder", "none"}),
    "spending": frozenset({"best_tier", "none"}),
    "pledges": frozenset({"none"}),
    "candidates": frozenset({"none"}),
    "votes": frozenset({"noisy_opinions", "none"}),
}
"""The behaviours of the roles that act for persons, which a partitioned run can run (their draws
are keyed, their effects stay in the person's partition or are passed on); the economy's roles
(sales, whistleblowing, demand, pre-orders, coop reports) run at the coordinator, any of them."""

SECTORS = (CirclesSector, CreditsSector, GearsSector, CreditismSector)


class Unpartitioned(ValueError):
    """A scenario asks for something a partitioned run does not model yet."""


def unpartitioned(scenario: Scenario) -> list[str]:
    """What of ``scenario`` a partitioned run cannot run yet, one reason each (empty: it can)."""
    out: list[str] = []
    pop, p = scenario.population, scenario.parameters
    if tuple(cls for _, cls in sectors()) != SECTORS:
        out.append("mechanisms other than circles, credits, gears and creditism are installed")
    if pop.sybils:
        out.append("fake accounts (population.sybils, CI14)")
    if scenario.regions is not None:
        out.append("regions ([regions])")
    if pop.groups:
        out.append("groups and conversions into group money (population.groups, CI11)")
    pol = scenario.policy.section(CirclesPolicy)
    if pol.demurrage:
        out.append("demurrage (CI15)")
    if pol.trust_mode.value == "directed":
        out.append("directed trust (circles.trust_mode, CI5)")
    if p.get("key_loss_rate", 0.0) > 0:
        out.append("key loss (parameters.key_loss_rate, X9)")
    if p.get("nomination_rate", 0.0) > 0:
        out.append("nominations (parameters.nomination_rate, SC9)")
    if p.get("farmer_share", 0.0) > 0:
        out.append("farmers (parameters.farmer_share, IN2)")
    for role, allowed in PERSON_BEHAVIOURS.items():
        name = scenario.behaviours.get(role, "")
        if name not in allowed:
            out.append(f"the {role} behaviour {name!r} (partitioned: {', '.join(sorted(allowed))})")
    return out


def bounds(persons: int, partitions: int) -> list[int]:
    """Contiguous ranges of persons, one per partition, of whole blocks of keyed draws where the
    population allows (``sim.draws.BLOCK``), else of equal size; ``bounds[i]`` to ``bounds[i + 1]``."""
    if partitions < 1:
        raise ValueError("a run needs at least one partition")
    blocks = -(-persons // BLOCK)
    if blocks >= partitions:
        return [min(persons, (i * blocks // partitions) * BLOCK) for i in range(partitions)] + [persons]
    return [i * persons // partitions for i in range(partitions + 1)]


# A partition ------------------------------------------------------------------------------------


@dataclass
class LocalNet:
    """A partition's persons' acquaintances: CSR rows over its persons, the other side's global
    number, and the step each acquaintance becomes a mutual trust."""

    indptr: I64
    neighbours: NDArray[np.int32]
    formed: NDArray[np.int32]


class CirclesPart(Sector):
    """The Circles state of a partition's persons: holdings, reserves, trusts given (CI2-CI8)."""

    order = 100

    def setup_part(self, net: LocalNet, edges: tuple[I64, I64, I64], where: list[int]) -> None:
        n = self.model.n
        self.net = net
        self.eu, self.ev, self.estart = edges  # the trusts with one of ours, in canonical order, by step
        self.where = np.array(where, np.int64)  # every partition's first person, and the end
        self.opened = np.zeros(n, bool)
        self.own = np.zeros(n, np.int64)
        self.held_honest = np.zeros(n, np.int64)
        self.reserve_open = np.zeros(n, np.int64)
        self.trusts = np.zeros(n, np.int32)
        self.group = np.full(n, -1, np.int32)  # no groups (refused otherwise)
        self.supply = 0  # minted to our persons and paid from their reserves

    def mint(self, reserve: int, signup: int, units: int) -> None:
        """Open the accounts (``reserve`` >= 0) with their sign-up units, then the step's claim."""
        if reserve >= 0:
            self.opened[:] = True
            self.reserve_open[:] = reserve
            self.own += signup
            self.supply += signup * self.model.n
        self.own += units
        self.supply += units * self.model.n

    def trust(self, s: int) -> tuple[I64, I64]:
        """Our persons' side of the trusts forming at step ``s`` (CI5, CI7), in canonical order:
        each pays the other half its remaining reserve. Returns (receivers, units), global."""
        lo, hi = int(self.estart[s]), int(self.estart[s + 1])
        first, n = self.model.first, self.model.n
        u, v = self.eu[lo:hi], self.ev[lo:hi]
        owner = np.empty(2 * u.size, np.int64)  # as ``CirclesSector.step``: occurrence 2i is u, 2i+1 is v
        owner[0::2], owner[1::2] = u, v
        other = np.empty_like(owner)
        other[0::2], other[1::2] = v, u
        mine = (owner >= first) & (owner < first + n)
        occ, other = owner[mine] - first, other[mine]
        order = np.argsort(occ, kind="stable")  # by owner, then in canonical order
        sorted_occ = occ[order]
        start = np.searchsorted(sorted_occ, sorted_occ, side="left")
        local = np.empty(occ.size, np.int64)
        local[order] = np.arange(occ.size) - start
        paid = trustee_reward_after(self.reserve_open[occ], self.trusts[occ] + local)
        np.add.at(self.trusts, occ, 1)
        self.supply += int(paid.sum())
        return other, paid

    def pay(self, s: int) -> tuple[I64, I64]:
        """Payments to acquaintances (CI5, CI8) as ``CirclesSector.step``: (receivers, units), global."""
        m = self.model
        out = m.behave["payments"](m, m.rng, m.p)
        if out is None:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        payers, slots, units = out
        receivers = self.net.neighbours[slots].astype(np.int64)
        formed = self.net.formed[slots] <= s
        units = np.minimum(units, self.own[payers])
        ok = formed & (units > 0) & self.opened[payers]
        payers, receivers, units = payers[ok], receivers[ok], units[ok]
        add_into(self.own, payers, units, sign=-1)
        return receivers, units

    def outbox(self, receivers: I64, units: I64) -> list[tuple[I64, I64]]:
        """What each partition's persons receive, by partition: (global numbers, units)."""
        part = np.searchsorted(self.where, receivers, side="right") - 1
        return [(receivers[part == k], units[part == k]) for k in range(self.where.size - 1)]

    def receive(self, receivers: I64, units: I64) -> None:
        add_into(self.held_honest, receivers - self.model.first, units)

    def sums(self) -> dict[str, int]:
        return {
            "accounts_open": int(self.opened.sum()),
            "supply": self.supply,
            "reserve_left": int(halved_reserve(self.reserve_open, self.trusts)[self.opened].sum()),
            "holdings": int((self.own + self.held_honest).sum()),
        }


class PartWorld(Model):
    """What a partition's sectors read of the run: as ``Model``, over persons ``first ..
    first + count - 1`` (``n`` = count; the behaviours count from ``first``)."""

    def __init__(self, scenario: Scenario, seed: int, first: int, count: int) -> None:  # noqa: D107
        self.scenario = scenario
        self.seed = seed
        self.rng = np.random.default_rng(seed)  # unused by the persons' keyed behaviours
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
        self.places = Places()
        self.circles = CirclesPart(self)
        self.credits = CreditsSector(self)
        self.gears = GearsSector(self)
        self.sectors: dict[str, Sector] = {"circles": self.circles, "credits": self.credits, "gears": self.gears}
        self._order = tuple(self.sectors.values())
        self._held = tuple(
            (x, x.__dict__, frozenset(dir(type(x))) - frozenset(dir(Sector)) - {"model"}) for x in self._order
        )


class Part:
    """One partition of a run (a Ray actor's class, or used in the coordinator's process)."""

    def __init__(
        self,
        scenario: Scenario,
        seed: int,
        where: list[int],
        index: int,
        net: LocalNet,
        edges: tuple[I64, I64, I64],
        quality: NDArray[np.float64],
    ) -> None:
        first, stop = where[index], where[index + 1]
        self.world = w = PartWorld(scenario, seed, first, stop - first)
        w.circles.setup_part(net, edges, where)
        w.credits.setup()
        w.gears.setup_votes(int(quality.size), quality)

    def first_half(self, s: int, t: int, reserve: int, signup: int, units: int) -> list[tuple[I64, I64]]:
        """Step ``s`` up to the payments: credits' begin (SC9), income, trusts, payments; returns
        what persons of each partition receive (``CirclesPart.outbox``)."""
        w = self.world
        w.step_now, w.t_now = s, t
        w.credits.begin(s, t)
        w.circles.mint(reserve, signup, units)
        who, paid = w.circles.trust(s)
        to, sent = w.circles.pay(s)
        return w.circles.outbox(np.concatenate([who, to]), np.concatenate([paid, sent]))

    def second_half(self, s: int, t: int, receivers: I64, units: I64) -> tuple[I64, I64, int]:
        """What our persons received, then credits' step and our persons' votes (GR4, X8):
        returns the tallies' changes per company and the votes cast."""
        w = self.world
        w.circles.receive(receivers, units)
        w.credits.step(s, t)
        g = w.gears
        g.tally_count[:] = 0
        g.tally_total[:] = 0
        casts = g._vote(s, t)
        return g.tally_count.copy(), g.tally_total.copy(), casts

    def record(self, s: int, t: int) -> tuple[dict[str, int], I64, Row, int]:
        """Our sums for the row of step ``s``, our persons' holdings in order (for the Gini) and
        credits' columns over our persons."""
        w = self.world
        c = w.circles
        holdings = (c.own + c.held_honest)[w.verified]
        return c.sums(), holdings, w.credits.record(s, t), w.gears.votes_current()


# The coordinator --------------------------------------------------------------------------------


class DriverGears(GearsSector):
    """Gears at the coordinator: the companies and the fund; the votes are the partitions'."""

    def setup_votes(self, companies: int, quality: NDArray[np.float64]) -> None:
        self.companies = companies
        self.quality = quality
        self.tally_count = np.zeros(companies, np.int64)
        self.tally_total = np.zeros(companies, np.int64)
        self.casts = 0
        self.current = 0
        self.cast_now = 0

    def _vote(self, s: int, t: int) -> int:
        return self.cast_now

    def votes_current(self) -> int:
        return self.current


class Driver(Model):
    """The coordinator's view of the run: the economy's state and its one generator."""

    def __init__(self, scenario: Scenario, seed: int) -> None:  # noqa: D107
        self.scenario = scenario
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.draws = KeyedDraws.of(rng=self.rng)
        self.first = 0
        self.trace = None
        self.p = dict(scenario.parameters)
        self.policy = scenario.policy
        self.genesis = scenario.start
        self.behave = {role: lookup(role, name) for role, name in scenario.behaviours.items()}
        self.honest_count = self.n = scenario.population.persons
        self.verified = np.zeros(0, bool)
        self.step_now = 0
        self.t_now = self.genesis
        self.shared: dict[str, int] = {}
        self.rows: list[Row] = []
        self.keys = Keys()
        self.places = Places()
        self.gears = DriverGears(self)
        self.creditism = CreditismSector(self)
        self.sectors = {"gears": self.gears, "creditism": self.creditism}
        self._order = tuple(self.sectors.values())
        self._held = tuple(
            (x, x.__dict__, frozenset(dir(type(x))) - frozenset(dir(Sector)) - {"model"}) for x in self._order
        )


class PartitionedRun:
    """One run of ``scenario`` split over ``partitions`` (``engine`` "ray": Ray actors; "local":
    objects in this process). ``PartitionedRun(s, seed=1, partitions=2).run()`` returns the rows
    ``Model(s, seed=1).run()`` returns."""

    def __init__(self, scenario: Scenario, *, seed: int | None = None, partitions: int = 2, engine: str = "local"):
        reasons = unpartitioned(scenario)
        if reasons:
            raise Unpartitioned("a partitioned run does not model yet: " + "; ".join(reasons))
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
        self.scenario = sc = scenario
        self.seed = seed if seed is not None else sc.seeds[0]
        self.engine = engine
        d = self.driver = Driver(sc, self.seed)
        pol = sc.policy.section(CirclesPolicy)
        # Circles' setup, as ``CirclesSector.setup`` draws it from the run's generator (no regions,
        # fake accounts or directed trust here): the network and the steps its trusts form.
        honest = sc.population.persons
        d.shared[MONTHLY_INCOME] = pol.income_units * MONTH // pol.income_period
        net = sc.network
        u, v = GENERATORS[net.generator](d.rng, honest, net.mean_degree, net.exponent, net.locality)
        if net.formation_weeks > 0:
            mean_steps = net.formation_weeks * WEEK / sc.step
            when = d.rng.geometric(min(1.0, 1.0 / max(mean_steps, 1.0)), size=u.size).astype(np.int64) - 1
        else:
            when = np.zeros(u.size, np.int64)
        when = np.minimum(when, sc.steps)
        order = np.argsort(when.astype(np.int16) if sc.steps < 2**15 else when, kind="stable")
        ew = when[order].astype(np.int32)
        self.estart = np.searchsorted(ew, np.arange(sc.steps + 2), side="left")
        full = build(honest, u[order].astype(np.int32), v[order].astype(np.int32))
        del u, v, when, order
        # Gears' and Creditism's setup, in the sectors' order.
        d.gears.setup()
        d.creditism.setup()
        self.where = where = bounds(honest, partitions)
        eu, ev = full.u.astype(np.int64), full.v.astype(np.int64)
        parts: list[Any] = []
        for k in range(partitions):
            lo, hi = where[k], where[k + 1]
            a, z = int(full.indptr[lo]), int(full.indptr[hi])
            local = LocalNet(
                (full.indptr[lo : hi + 1] - a).astype(np.int64),
                full.neighbours[a:z].copy(),
                ew[full.edge[a:z]],
            )
            touch = np.flatnonzero(((eu >= lo) & (eu < hi)) | ((ev >= lo) & (ev < hi)))
            starts = np.searchsorted(touch, self.estart, side="left").astype(np.int64)
            edges = (eu[touch], ev[touch], starts)
            parts.append((sc, self.seed, where, k, local, edges, d.gears.quality))
        del full, eu, ev, ew
        self.parts = self._start(parts)
        self.cohort: circles.IncomeState | None = None

    def _start(self, args: list[Any]) -> list[Any]:
        if self.engine == "local":
            return [Part(*a) for a in args]
        import ray

        if not ray.is_initialized():
            raise RuntimeError("start Ray first (ray.init), or use engine='local'")
        actor = ray.remote(Part)
        return [actor.remote(*[ray.put(x) if isinstance(x, np.ndarray) else x for x in a]) for a in args]

    def _call(self, method: str, *args: Any, each: list[tuple[Any, ...]] | None = None) -> list[Any]:
        """Call ``method`` on every partition (with ``args``, then its own ``each[k]``) and wait."""
        if self.engine == "local":
            return [getattr(p, method)(*args, *(each[k] if each else ())) for k, p in enumerate(self.parts)]
        import ray

        refs = [getattr(p, method).remote(*args, *(each[k] if each else ())) for k, p in enumerate(self.parts)]
        return list(ray.get(refs))

    def run(self) -> list[Row]:
        for s in range(self.scenario.steps):
            self.step(s)
        return self.driver.rows

    def step(self, s: int) -> None:
        sc, d = self.scenario, self.driver
        pol = sc.policy.section(CirclesPolicy)
        t = sc.start + s * sc.step
        d.step_now, d.t_now = s, t
        reserve, signup = -1, 0
        if s == 0:  # the one cohort opens (CI2-CI4)
            self.cohort = circles.open_income(pol, d.genesis, t)
            reserve, signup = self.cohort.reserve, pol.signup_units
        assert self.cohort is not None
        units, self.cohort = claim(self.cohort, t, d.genesis, pol)
        boxes = self._call("first_half", s, t, reserve, signup, units)
        inbox = [
            (
                np.concatenate([box[k][0] for box in boxes]),
                np.concatenate([box[k][1] for box in boxes]),
            )
            for k in range(len(self.parts))
        ]
        d.creditism.begin(s, t)
        votes = self._call("second_half", s, t, each=inbox)
        g = d.gears
        for count, total, _ in votes:
            g.tally_count += count
            g.tally_total += total
        g.cast_now = sum(cast for _, _, cast in votes)
        g.casts += g.cast_now
        g.step(s, t)
        d.creditism.step(s, t)
        if s % sc.record_every == 0 or s == sc.steps - 1:
            d.rows.append(self._record(s, t))

    def _record(self, s: int, t: int) -> Row:
        """The row of step ``s`` as ``Model._record`` writes it, from the partitions' sums."""
        d = self.driver
        parts = self._call("record", s, t)
        sums = {key: sum(p[0][key] for p in parts) for key in parts[0][0]}
        holdings = np.concatenate([p[1] for p in parts])
        row: Row = {"step": s, "time": t, "year": (t - d.genesis) / YEAR}
        row.update(d.keys.record())
        supply = sums["supply"]
        row.update(
            {
                "accounts_open": sums["accounts_open"],
                "trusts": int(self.estart[s + 1]),
                "routed_payments": 0,
                "routed_two_hop": 0,
                "routed_two_hop_units": 0,
                "routed_two_hop_step": 0,
                "routed_max_flow": 0,
                "routed_max_flow_units": 0,
                "routed_max_flow_step": 0,
                "routed_max_flow_refused": 0,
                "supply_circles": supply,
                "supply_honest": supply,
                "supply_sybil": 0,
                "supply_group": 0,
                "reserve_left": sums["reserve_left"],
                "gini_holdings": gini(holdings),
                "mean_holdings": sums["holdings"] / holdings.size if holdings.size else 0.0,
                "demurrage_burned": 0,
                "demurrage_burned_step": 0,
                "demurrage_unsettled": 0,
                "income_lost_guarded": 0,
                "income_lost_unguarded": 0,
                "holdings_frozen": 0,
            }
        )
        credit_rows = [p[2] for p in parts]
        merged: Row = {}
        for key in credit_rows[0]:
            merged[key] = sum(r[key] for r in credit_rows)
        merged["appeals_overturned_expected"] = (
            int(merged["appeals_penalties"]) * d.p["appeal_rate"] * d.p["appeal_success"]
        )
        row.update(merged)
        d.gears.current = sum(p[3] for p in parts)
        row.update(d.gears.record(s, t))
        row.update(d.creditism.record(s, t))
        row.update(
            {
                "sybil_units_at_honest": 0,
                "sybil_honest_holders": 0,
                "sybil_honest_trusters": 0,
                "sybil_reach_beyond_trusters": 0,
            }
        )
        return row


def run(scenario: Scenario, *, seed: int | None = None, partitions: int = 2, engine: str = "local") -> list[Row]:
    """Run a scenario once over ``partitions`` and return its rows (``Model.run``'s, exactly)."""
    return PartitionedRun(scenario, seed=seed, partitions=partitions, engine=engine).run()
