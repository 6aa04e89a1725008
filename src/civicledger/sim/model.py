"""The vectorised economy: the four mechanisms over NumPy arrays, one policy step at a time.

State lives in arrays indexed by person (honest persons first, then fake accounts), by company
and by resource; money is ``int64`` minor units. Each step, at time t = start + s x step:

1. **Circles** (CI2-CI4, CI7, CI11, CI14). Accounts open by *cohort* (everyone who joins in one
   step); a cohort shares one income clock, so the domain's exact ``open_income`` / ``claimable``
   run once per cohort and every member receives the same whole units (``rules.claimable`` proves
   that claiming every step mints what one claim would). Acquaintances become mutual trusts at
   their formation step, in a canonical order; each trust credits each side half of the other's
   remaining trustee reserve (``sim.rules.trustee_reward_after``). People pay acquaintances who
   trust them in their own currency (CI5, CI8) and convert coins into group money (CI11).
2. **Social credits** (SC2, SC4, SC5, SC7, SC8). Credits accrue from birth; participation and
   infractions are whole-balance adjustments of the policy's kinds (``citizens_council``,
   ``infraction``) kept in a small ring per person, applied in order of start with the grade
   clamped after each, as ``domain.credits.rules.standing`` does; an overturned appeal ends a
   penalty at the decision; decay follows SC8.
3. **Gears** (GR1, GR4-GR7). Verified persons cast noisy votes that count for ``vote_term``; each
   cast earns the reward; coefficients come from the domain's exact ``coefficients``; each
   company's sales of the step are settled with ``adjustment`` against the Common Good Fund,
   which never goes below zero (what it cannot pay waits, ``release_in_order``); challenged
   statements cost the domain's ``penalty``.
4. **Creditism** (CR2, CR5, CR7-CR11) over a synthetic economy of renewable resources and one
   good drawing on all of them, with the domain's exact formulas per resource.

A run takes ``seed`` or ``rng``, never both, and draws everything from that one generator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
from numpy.typing import NDArray

from civicledger.kernel.time import MONTH, WEEK, YEAR
from civicledger.mechanisms.circles import rules as circles
from civicledger.mechanisms.circles.policy import CirclesPolicy
from civicledger.mechanisms.creditism import rules as cr
from civicledger.mechanisms.creditism.chain import Node, solve_chain
from civicledger.mechanisms.creditism.policy import CreditismPolicy
from civicledger.mechanisms.credits import rules as credit_rules
from civicledger.mechanisms.credits.policy import CreditsPolicy, ParticipationEffect
from civicledger.mechanisms.gears import coefficient as gears
from civicledger.mechanisms.gears.coefficient import Tally
from civicledger.mechanisms.gears.policy import GearsPolicy
from civicledger.mechanisms.gears.values import Verdict
from civicledger.sim import rules
from civicledger.sim.behaviours import lookup
from civicledger.sim.network import GENERATORS, Network, build, canonical
from civicledger.sim.scenario import Scenario

I64 = NDArray[np.int64]
RING = 8  # default credit adjustments remembered per person (parameter credit_slots); a ninth *active*
# one replaces the one ending first, counted in ``credit_slot_overflows``
VERDICTS = (Verdict.ACCURATE, Verdict.MISLEADING, Verdict.FALSE)
GOOD_LABOUR = 50_000  # the synthetic good's labour per unit (minor units)
GOOD_MARKUP = Fraction(1, 10)  # its council markup (CR11)
GOOD_SCORE = Fraction(1, 10)  # its E (CR3-CR4)


@dataclass
class Cohort:
    """Accounts opened in one step: one income clock for all (CI2-CI4)."""

    first: int
    stop: int
    step: int
    state: circles.IncomeState | None = None


@dataclass
class Trace:
    """What the model applied, action by action, for small runs replayed through the engine."""

    actions: list[tuple[Any, ...]] = field(default_factory=list)


EXACT = 2**53


def add_up(index: I64, units: I64, size: int) -> I64:
    """Sum ``units`` per index, exactly, as an int64 array of ``size``.

    ``np.bincount`` sums in float64, which is exact while every partial sum stays below 2^53;
    above that (never in practice) the slower integer ``np.add.at`` is used.
    """
    if units.size == 0:
        return np.zeros(size, np.int64)
    if int(np.abs(units).sum()) < EXACT:
        out: I64 = np.bincount(index, weights=units, minlength=size).astype(np.int64)
        return out
    exact = np.zeros(size, np.int64)
    np.add.at(exact, index, units)
    return exact


def gini(values: NDArray[Any]) -> float:
    """The Gini coefficient of non-negative holdings (0 equal, 1 one holds all)."""
    if values.size == 0:
        return 0.0
    x = np.sort(values.astype(np.float64))
    total = x.sum()
    if total <= 0:
        return 0.0
    n = x.size
    ranks = np.arange(1, n + 1, dtype=np.float64)
    return float((2.0 * (ranks * x).sum() / (n * total)) - (n + 1.0) / n)


class Model:
    """One run of a scenario. ``Model(s, seed=1).run()`` returns the tidy rows."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        seed: int | None = None,
        rng: np.random.Generator | None = None,
        trace: bool = False,
    ) -> None:
        if seed is not None and rng is not None:
            raise ValueError("a run takes a seed or an rng, never both")
        self.scenario = scenario
        self.seed = seed if rng is None else None
        self.rng = rng if rng is not None else np.random.default_rng(seed if seed is not None else scenario.seeds[0])
        self.trace = Trace() if trace else None
        self.p = dict(scenario.parameters)
        self.policy = scenario.policy
        self.genesis = scenario.start
        self.behave = {role: lookup(role, name) for role, name in scenario.behaviours.items()}
        pop = scenario.population
        self.honest_count = pop.persons
        self.n = pop.persons + pop.sybils
        n, rng = self.n, self.rng
        self.verified = np.arange(n) < pop.persons
        self._setup_circles()
        # Social credits (SC2): birth dates in whole days, enrolment at the start.
        ages = rng.integers(pop.age_min * 365, pop.age_max * 365 + 1, size=n, dtype=np.int64)
        self.born = self.genesis - ages * 86_400
        self.enrolled = np.full(n, self.genesis, dtype=np.int64)
        self.spent = np.zeros(n, np.int64)
        self.last_fresh = np.full(n, np.iinfo(np.int64).min // 2, dtype=np.int64)
        self.ring = ring = max(1, int(self.p.get("credit_slots", RING)))
        self.slot_overflows = 0
        self.t_now = self.genesis
        self.adj_end = np.zeros((n, ring), np.int64)
        self.adj_steps = np.zeros((n, ring), np.int8)
        self.adj_count = np.zeros(n, np.int64)
        self.adj_seq = np.full((n, ring), -1, np.int64)
        self.adj_qty = np.zeros((n, ring), np.int64)  # SC4: 0 = the whole balance
        self.adj_consumable = np.zeros((n, ring), bool)
        self.adj_consumed = np.zeros((n, ring), np.int64)
        self.adj_counter = 0
        self.credits_spent_total = 0
        self.spends = self.spends_refused = 0
        cp = self.policy.section(CreditsPolicy)
        tier_grades = sorted({cp.essential_base_tier_grade, cp.base_grade, min(cp.base_grade + 1, cp.grade_max)})
        price = max(1, int(self.p["tier_price"]))
        self.tiers: list[tuple[str, int, int]] = [(f"grade-{g}", price, g) for g in tier_grades]
        # SC9: open pledges (donor, steps, quantity, duration) in pledge order, waiting candidates.
        self.pledges: list[tuple[int, int, int, int]] = []
        self.pledged = np.zeros(n, np.int64)
        self.candidate = np.zeros(n, bool)
        self.second_chance_used = np.zeros(n, bool)
        self.last_draw: int | None = None
        self.draws = self.lottery_winners = 0
        self.step_now = 0
        self._standing_cache: tuple[int, I64, tuple[I64, I64, I64, I64, I64]] | None = None
        self.draw_hook: Any = None  # replaces the draw (tests take the engine's winners); None: the domain's
        # Gears
        self.companies = pop.companies
        self.quality = rng.normal(0.0, self.p["quality_sigma"], size=self.companies)
        self.vote_company = np.full(n, -1, np.int64)
        self.vote_value = np.zeros(n, np.int64)
        self.vote_expires = np.zeros(n, np.int64)
        self.sales_hist = np.zeros((scenario.steps, self.companies), np.int64)
        self.company_balance = np.zeros(self.companies, np.int64)
        self.company_debt = np.zeros(self.companies, np.int64)
        self.fund = int(self.p["fund_reserve"])
        self.pending: list[tuple[str, int]] = []
        self.fund_paid = self.fund_received = self.rewards_paid = 0
        self.penalties_charged = self.penalties_paid = 0
        self.challenges: dict[int, list[tuple[int, int]]] = {}  # closing step -> (company, verdict)
        self.challenged: set[int] = set()
        self.casts = 0
        self.deltas = np.zeros(self.companies)
        self.coefficients: gears.Coefficients | None = None
        self.exact_deltas: list[Fraction] = []
        self.company_names = [f"c{i:06d}" for i in range(self.companies)]
        self.tally_count = np.zeros(self.companies, np.int64)
        self.tally_total = np.zeros(self.companies, np.int64)
        self.cast_log: dict[int, I64] = {}
        self.imbalance = Fraction(0)
        # Creditism: renewable resources with rejuvenation, mortality and one factor each.
        r = self.resources = pop.resources
        self.rejuvenation = rng.integers(5_000, 50_000, size=r, dtype=np.int64)
        self.mortality = (self.rejuvenation * rng.uniform(0.2, 0.6, size=r)).astype(np.int64)
        self.optimal = np.full(r, 10_000, np.int64)
        self.state = (self.optimal * rng.uniform(0.5, 0.9, size=r)).astype(np.int64)
        self.per_unit = rng.integers(10, 200, size=r, dtype=np.int64)
        self.labour = self.per_unit * 10  # extraction labour and external costs per unit (CR10)
        self.external = self.per_unit * 2
        self.allotted: dict[str, Fraction] = {}
        self.good_rating: Fraction | None = None
        weight = rng.uniform(0.5, 1.5, size=r)
        self.resource_weight = weight * (self.rejuvenation - self.mortality) / max(pop.persons, 1) / 2
        self.ratings = np.zeros(r)
        self.price = 0.0
        self.rows: list[dict[str, Any]] = []

    # Circles setup -------------------------------------------------------------------------

    def _setup_circles(self) -> None:
        sc, rng, pop = self.scenario, self.rng, self.scenario.population
        n, honest = self.n, pop.persons
        self.cohorts = [Cohort(0, honest, 0)]
        if pop.sybils:
            self.cohorts.append(Cohort(honest, n, pop.sybil_join_step))
        self.opened = np.zeros(n, bool)
        self.own = np.zeros(n, np.int64)  # own coins held by their issuer
        self.held_honest = np.zeros(n, np.int64)  # coins of other honest persons held
        self.held_sybil = np.zeros(n, np.int64)  # coins of fake accounts held
        self.group_held = np.zeros(n, np.int64)
        self.reserve_open = np.zeros(n, np.int64)
        self.trusts = np.zeros(n, np.int64)
        self.supply_honest = self.supply_sybil = 0
        groups = pop.groups
        self.group = np.full(n, -1, np.int64)
        if groups:
            members = np.flatnonzero(rng.random(honest) < pop.group_share)
            self.group[members] = members * groups // honest  # groups of neighbours (by place)
        self.group_supply = np.zeros(max(groups, 1), np.int64)
        net = sc.network
        u, v = GENERATORS[net.generator](rng, honest, net.mean_degree, net.exponent, net.locality)
        if net.formation_weeks > 0:
            mean_steps = net.formation_weeks * WEEK / sc.step
            when = rng.geometric(min(1.0, 1.0 / max(mean_steps, 1.0)), size=u.size).astype(np.int64) - 1
        else:
            when = np.zeros(u.size, np.int64)
        parts_u, parts_v, parts_w = [u.astype(np.int64)], [v.astype(np.int64)], [when]
        if pop.sybils:
            m = round(pop.sybils * pop.sybil_degree / 2)
            a = rng.integers(honest, n, size=m, dtype=np.int64)
            b = rng.integers(honest, n, size=m, dtype=np.int64)
            su, sv = canonical(n, a, b)
            victims = rng.choice(honest, size=pop.sybil_attack_edges, replace=False).astype(np.int64)
            fakes = rng.integers(honest, n, size=victims.size, dtype=np.int64)
            join = pop.sybil_join_step
            parts_u += [su.astype(np.int64), victims]
            parts_v += [sv.astype(np.int64), fakes]
            parts_w += [np.full(su.size, join, np.int64), np.full(victims.size, join, np.int64)]
        eu, ev, ew = np.concatenate(parts_u), np.concatenate(parts_v), np.concatenate(parts_w)
        ew = np.minimum(ew, sc.steps)  # formed after the horizon: never within the run
        order = np.argsort(ew, kind="stable")  # by formation step, then as generated
        self.eu, self.ev, self.ew = eu[order], ev[order], ew[order]
        self.estart = np.searchsorted(self.ew, np.arange(sc.steps + 2), side="left")
        self.net: Network = build(n, self.eu.astype(np.int32), self.ev.astype(np.int32))
        self.trusts_sybil = np.zeros(n, bool)
        self.routed = 0

    # Stepping ------------------------------------------------------------------------------

    def run(self) -> list[dict[str, Any]]:
        for s in range(self.scenario.steps):
            self.step(s)
        return self.rows

    def _log(self, *action: Any) -> None:
        if self.trace is not None:
            self.trace.actions.append(action)

    def step(self, s: int) -> None:
        t = self.genesis + s * self.scenario.step
        self.step_now = s
        self.t_now = t
        self._lottery(s, t)
        self._circles(s, t)
        self._credits(s, t)
        self._gears(s, t)
        self._creditism(t)
        if s % self.scenario.record_every == 0 or s == self.scenario.steps - 1:
            self.rows.append(self._record(s, t))

    def _circles(self, s: int, t: int) -> None:
        pol = self.policy.section(CirclesPolicy)
        schedule = ((self.genesis, pol),)
        for c in self.cohorts:
            if c.step == s:
                c.state = circles.open_income(pol, self.genesis, t)
                self.opened[c.first : c.stop] = True
                self.reserve_open[c.first : c.stop] = c.state.reserve
                self._log("open", s, c.first, c.stop)
                if pol.signup_units:
                    self._mint(c, pol.signup_units)
            if c.state is not None:
                units, c.state = circles.claimable(c.state, t, self.genesis, schedule)
                self._mint(c, units)
                self._log("claim", s, c.first, c.stop, units)
        # Trusts forming this step (CI5, CI7), in canonical edge order.
        lo, hi = int(self.estart[s]), int(self.estart[s + 1])
        if hi > lo:
            u, v = self.eu[lo:hi], self.ev[lo:hi]
            occ = np.empty(2 * u.size, np.int64)
            occ[0::2], occ[1::2] = u, v
            order = np.argsort(occ, kind="stable")
            sorted_occ = occ[order]
            first = np.searchsorted(sorted_occ, sorted_occ, side="left")
            local = np.empty(occ.size, np.int64)
            local[order] = np.arange(occ.size) - first
            earlier = self.trusts[occ] + local
            paid = rules.trustee_reward_after(self.reserve_open[occ], earlier)
            # occurrence 2i is u (its reserve pays v), 2i+1 is v (pays u)
            payer, receiver = occ, np.empty_like(occ)
            receiver[0::2], receiver[1::2] = v, u
            self._credit_foreign(payer, receiver, paid)
            np.add.at(self.trusts, occ, 1)
            sybil_u = ~self.verified[u]
            sybil_v = ~self.verified[v]
            self.trusts_sybil[u[sybil_v]] = True
            self.trusts_sybil[v[sybil_u]] = True
            if self.trace is not None:
                for i in range(u.size):
                    self._log("trust", s, int(u[i]), int(v[i]), int(paid[2 * i + 1]), int(paid[2 * i]))
        # Payments to acquaintances who trust the payer (CI5, CI8), in the payer's own currency.
        out = self.behave["payments"](self, self.rng, self.p)
        if out is not None:
            payers, slots, units = out
            receivers = self.net.neighbours[slots].astype(np.int64)
            formed = self.ew[self.net.edge[slots]] <= s
            units = np.minimum(units, self.own[payers])
            ok = formed & (units > 0) & self.opened[payers]
            payers, receivers, units = payers[ok], receivers[ok], units[ok]
            self.own -= add_up(payers, units, self.n)
            self._credit_foreign(payers, receivers, units, minted=False)
            if self.trace is not None:
                for a, b, x in zip(payers.tolist(), receivers.tolist(), units.tolist(), strict=True):
                    self._log("pay", s, a, b, x)
        self._routed(s)
        # Group money (CI11): own coins become group money 1:1, irreversibly.
        conv = self.behave["conversions"](self, self.rng, self.p)
        if conv is not None:
            members, units = conv
            units = np.minimum(units, self.own[members])
            ok = units > 0
            members, units = members[ok], units[ok]
            np.subtract.at(self.own, members, units)
            np.add.at(self.group_held, members, units)
            np.add.at(self.group_supply, self.group[members], units)
            if self.trace is not None:
                for a, x in zip(members.tolist(), units.tolist(), strict=True):
                    self._log("convert", s, a, int(self.group[a]), x)

    def _routed(self, s: int) -> None:
        """Payments to a friend of a friend through the friend (CI9), all steps or none.

        The payer's coins go to the intermediary, who trusts the payer; the intermediary's own
        coins go to the receiver, who trusts the intermediary; the intermediary ends with the same
        total. A route is dropped unless both trusts have formed and both hold enough; an
        intermediary carries at most one route a step and pays nothing else in it.
        """
        out = self.behave["routed_payments"](self, self.rng, self.p)
        if out is None:
            return
        payers, first, second, units = out
        mids = self.net.neighbours[first].astype(np.int64)
        receivers = self.net.neighbours[second].astype(np.int64)
        deg = self.net.indptr[mids + 1] - self.net.indptr[mids]
        formed = (self.ew[self.net.edge[first]] <= s) & (deg > 0)
        formed &= self.ew[self.net.edge[np.where(deg > 0, second, first)]] <= s
        units = np.minimum(units, self.own[payers])
        ok = formed & (receivers != payers) & (units > 0) & self.opened[payers]
        payers, mids, receivers, units = payers[ok], mids[ok], receivers[ok], units[ok]
        paying = np.zeros(self.n, bool)
        paying[payers] = True
        unique, counts = np.unique(mids, return_counts=True)
        once = np.zeros(self.n, bool)
        once[unique[counts == 1]] = True
        ok = once[mids] & ~paying[mids] & (self.own[mids] >= units)
        payers, mids, receivers, units = payers[ok], mids[ok], receivers[ok], units[ok]
        self.own -= add_up(payers, units, self.n)
        self._credit_foreign(payers, mids, units, minted=False)
        self.own -= add_up(mids, units, self.n)
        self._credit_foreign(mids, receivers, units, minted=False)
        self.routed += int(payers.size)
        if self.trace is not None:
            for a, b, c, x in zip(payers.tolist(), mids.tolist(), receivers.tolist(), units.tolist(), strict=True):
                self._log("route", s, a, b, c, x)

    def _mint(self, c: Cohort, units: int) -> None:
        self.own[c.first : c.stop] += units
        total = units * (c.stop - c.first)
        if c.first >= self.honest_count:
            self.supply_sybil += total
        else:
            self.supply_honest += total

    def _credit_foreign(self, issuer: I64, holder: I64, units: I64, *, minted: bool = True) -> None:
        fake = ~self.verified[issuer]
        if fake.any():
            self.held_sybil += add_up(holder[fake], units[fake], self.n)
            self.held_honest += add_up(holder[~fake], units[~fake], self.n)
        else:
            self.held_honest += add_up(holder, units, self.n)
        if minted:
            self.supply_sybil += int(units[fake].sum())
            self.supply_honest += int(units[~fake].sum())

    def _effect(self, persons: I64, t: int, effect: ParticipationEffect) -> I64:
        """SC5: one participation of a kind: its steps on the whole balance or on its portion."""
        quantity = rules.effect_quantity(effect.portion_percent, self.available_of(persons, t))
        steps = -effect.steps if effect.penalty else effect.steps
        return self._adjust(persons, t + effect.duration, steps, quantity, consumable=steps > 0)

    def _credits(self, s: int, t: int) -> None:
        pol = self.policy.section(CreditsPolicy)
        award = pol.participation["citizens_council"]
        infraction = pol.participation["infraction"]
        who = self.behave["participation"](self, self.rng, self.p)
        if who is not None and who.size:
            who = who[self.verified[who]]
            self._effect(who, t, award)
            if award.qualifying:
                self.last_fresh[who] = t
            for a in who.tolist():
                self._log("participate", s, a)
        bad = self.behave["infractions"](self, self.rng, self.p)
        if bad is not None and bad.size:
            bad = bad[self.verified[bad]]
            slots = self._effect(bad, t, infraction)
            for a in bad.tolist():
                self._log("infraction", s, a)
            overturned = self.behave["appeals"](self, self.rng, self.p, bad)
            if overturned is not None and overturned.any():
                # SC7: an overturned adjustment ends at the decision (the next step).
                self.adj_end[bad[overturned], slots[overturned]] = t + self.scenario.step
                for a in bad[overturned].tolist():
                    self._log("overturn", s, a)
        self._spend(s, t)
        self._pledge_and_apply(s, t)

    def _spend(self, s: int, t: int) -> None:
        """SC3, SC10: spends on a service's tiers, lowest qualifying grade first; refusals dropped."""
        out = self.behave["spending"](self, self.rng, self.p)
        if out is None:
            return
        persons, tier = out
        keep = self.verified[persons]
        persons, tier = persons[keep], tier[keep]
        if np.unique(persons).size != persons.size:
            raise ValueError("the spending behaviour returned a person twice in one step")
        if not persons.size:
            return
        price = np.array([p for _, p, _ in self.tiers], np.int64)[tier]
        min_grade = np.array([g for _, _, g in self.tiers], np.int64)[tier]
        cached, self._standing_cache = self._standing_cache, None
        if cached is not None and cached[0] == t and np.array_equal(cached[1], persons):
            grade, units, mask, slots, available = cached[2]  # what the behaviour just read: nothing changed
        else:
            grade, units, mask, slots, available = self.standing(persons, t)
        ok, taken = rules.choose_credits(grade, units, mask, available, min_grade, price)
        used = rules.used_by_adjustment(taken, mask, slots.shape[1])
        rows, cols = np.nonzero(used)
        ring = slots[rows, cols]
        consumable = self.adj_consumable[persons[rows], ring]
        np.add.at(self.adj_consumed, (persons[rows][consumable], ring[consumable]), used[rows, cols][consumable])
        self.spent[persons[ok]] += price[ok]
        self.credits_spent_total += int(price[ok].sum())
        self.spends += int(ok.sum())
        self.spends_refused += int((~ok).sum())
        if self.trace is not None:
            for a, k in zip(persons[ok].tolist(), tier[ok].tolist(), strict=True):
                self._log("spend", s, a, k)

    # The civic lottery (SC9) ------------------------------------------------------------------

    def _pledge_and_apply(self, s: int, t: int) -> None:
        pol = self.policy.section(CreditsPolicy)
        out = self.behave["pledges"](self, self.rng, self.p)
        if out is not None and out.size:
            donors = out[self.verified[out]]
            quantity = int(self.p["pledge_quantity"])
            if donors.size and 1 <= quantity <= pol.pledge_max_quantity:
                grade, units, _, _, _ = self.standing(donors, t)
                holds = (units * (grade >= pol.pledge_min_grade)).sum(axis=1)
                donors = donors[holds - self.pledged[donors] >= quantity]  # check_pledge (SC9)
                self.pledged[donors] += quantity
                for d in donors.tolist():
                    self.pledges.append((d, 1, quantity, pol.pledge_max_duration))
                    self._log("pledge", s, d, 1, quantity, pol.pledge_max_duration)
        out = self.behave["candidates"](self, self.rng, self.p)
        if out is not None and out.size:
            who = out[self.verified[out] & ~self.candidate[out] & ~self.second_chance_used[out]]
            if who.size:
                best = self.best_grade(who, t)
                who = who[best < pol.second_chance_below_grade]
                self.candidate[who] = True
                self.second_chance_used[who] = True
                for a in who.tolist():
                    self._log("second_chance", s, a)

    def _lottery(self, s: int, t: int) -> None:
        """SC9: periodic draws matching valid pledges (in order) to candidates ranked by the seed."""
        pol = self.policy.section(CreditsPolicy)
        if self.last_draw is not None and t - self.last_draw < pol.draw_period:
            return
        if not self.pledges and not self.candidate.any():
            return
        holding: dict[int, int] = {}
        valid: list[tuple[str, str]] = []
        data: dict[str, tuple[int, int, int, int]] = {}
        donors = sorted({d for d, _, _, _ in self.pledges})
        if donors:
            arr = np.array(donors, np.int64)
            grade, units, _, _, _ = self.standing(arr, t)
            holds = (units * (grade >= pol.pledge_min_grade)).sum(axis=1)
            holding = dict(zip(donors, holds.tolist(), strict=True))
        for i, pledge in enumerate(self.pledges):
            donor, _, quantity, _ = pledge
            key = f"{i:09d}"
            if holding[donor] >= quantity:
                holding[donor] -= quantity
                valid.append((key, f"{donor:09d}"))
                data[key] = pledge
        candidates = [f"{c:09d}" for c in np.flatnonzero(self.candidate).tolist()]
        if self.draw_hook is not None:
            winners = self.draw_hook(s, t, valid, candidates)
        else:
            winners = credit_rules.draw_winners(self.rng.bytes(32), valid, candidates)
        self._log("draw", s, tuple(winners))
        self.last_draw = t
        self.draws += 1
        for pledge_key, _donor, cand_key in winners:
            donor, steps, quantity, duration = data[pledge_key]
            cand = np.array([int(cand_key)], np.int64)
            self._adjust(cand, t + duration, steps, np.array([quantity], np.int64), consumable=True)
            self.last_fresh[cand] = t
            self._adjust(np.array([donor], np.int64), t + duration, -steps, np.array([quantity], np.int64))
            self.candidate[cand] = False
            self.lottery_winners += 1
        # Drawn and lapsed pledges close; valid ones no candidate was left for stay open.
        won = {pledge_key for pledge_key, _, _ in winners}
        self.pledges = [data[k] for k, _ in valid if k not in won]
        self.pledged[:] = 0
        for donor, _, quantity, _ in self.pledges:
            self.pledged[donor] += quantity

    def _adjust(
        self, persons: I64, end: int, steps: int, quantity: I64 | None = None, *, consumable: bool = False
    ) -> I64:
        """Record an adjustment in the slot that ends first (an expired one while any is); its
        place in the order applied is ``adj_seq``. Returns the slots."""
        self._standing_cache = None
        slots = np.argmin(self.adj_end[persons], axis=1)
        self.slot_overflows += int((self.adj_end[persons, slots] > self.t_now).sum())
        self.adj_end[persons, slots] = end
        self.adj_steps[persons, slots] = steps
        self.adj_seq[persons, slots] = self.adj_counter + np.arange(persons.size)
        q = np.zeros(persons.size, np.int64) if quantity is None else quantity
        self.adj_qty[persons, slots] = q
        self.adj_consumable[persons, slots] = consumable & (q > 0)
        self.adj_consumed[persons, slots] = 0
        self.adj_counter += int(persons.size)
        self.adj_count[persons] += 1
        out: I64 = slots.astype(np.int64)
        return out

    def available(self, t: int) -> I64:
        """SC2: accrued - spent, for every person (0 for the unverified)."""
        acc = rules.credits_accrued(self.born, t, self.policy.section(CreditsPolicy).annual_allocation)
        return (acc - self.spent) * self.verified

    def available_of(self, persons: I64, t: int) -> I64:
        """SC2 for some persons: accrued - spent (0 for the unverified)."""
        acc = rules.credits_accrued(self.born[persons], t, self.policy.section(CreditsPolicy).annual_allocation)
        out: I64 = (acc - self.spent[persons]) * self.verified[persons]
        return out

    def standing(self, persons: I64, t: int) -> tuple[I64, I64, I64, I64, I64]:
        """The domain's ``standing`` for ``persons`` at t: lots (grade, units, mask), the ring slot of
        each adjustment column, and the credits available (SC2, SC4, SC8).

        Persons whose active adjustments are all whole-balance ones that cannot reach a bound in any
        order hold one lot (base + their steps, then decay). The others are walked in groups by
        their number of active adjustments (1, 2, up to 4, up to 8 ...), so the work follows what
        each person has; unused columns hold no credits.
        """
        pol = self.policy.section(CreditsPolicy)
        m = persons.size
        stp = self.adj_steps[persons]
        moves = np.where(self.adj_end[persons] > t, stp, np.int8(0))
        active = moves != 0
        count = active.sum(axis=1)
        up = moves.clip(min=0).sum(axis=1, dtype=np.int64)
        down = moves.clip(max=0).sum(axis=1, dtype=np.int64)
        simple = ~(active & (self.adj_qty[persons] > 0)).any(axis=1)
        simple &= (pol.base_grade + up <= pol.grade_max) & (pol.base_grade + down >= pol.grade_min)
        width = int(count[~simple].max()) if (~simple).any() else 0
        width = 1 << (width - 1).bit_length() if width else 0
        available = self.available_of(persons, t)
        since = np.maximum(self.enrolled[persons], self.last_fresh[persons])
        decay = rules.decay_steps(t - since, pol.decay_window, pol.decay_step)
        grade = np.full((m, width + 1), pol.base_grade, np.int64)
        units = np.zeros((m, width + 1), np.int64)
        mask = np.zeros((m, width + 1), np.int64)
        slots = np.zeros((m, width), np.int64)
        grade[simple, 0] = rules.grade_after_decay(
            pol.base_grade + up[simple] + down[simple], decay[simple], pol.base_grade
        )
        units[simple, 0] = np.maximum(available[simple], 0)
        bucket = np.where(count > 0, 1 << np.ceil(np.log2(np.maximum(count, 1))).astype(np.int64), 0)
        for w in np.unique(bucket[~simple]).tolist():
            rows = np.flatnonzero(~simple & (bucket == w))
            who = persons[rows]
            key = np.where(active[rows], self.adj_seq[who], np.iinfo(np.int64).max)
            order = np.argsort(key, axis=1, kind="stable")[:, :w]  # the active ones, in the order applied
            on = np.take_along_axis(active[rows], order, axis=1)
            steps = np.where(on, np.take_along_axis(stp[rows], order, axis=1), 0).astype(np.int64)
            qty = np.take_along_axis(self.adj_qty[who], order, axis=1)
            consumable = np.take_along_axis(self.adj_consumable[who], order, axis=1)
            consumed = np.take_along_axis(self.adj_consumed[who], order, axis=1)
            left = np.where(consumable, qty - consumed, qty)
            g, u, mk = rules.lots(
                available[rows], steps, qty, left, decay[rows], pol.grade_min, pol.grade_max, pol.base_grade
            )
            grade[rows, : w + 1] = g
            units[rows, : w + 1] = u
            mask[rows, : w + 1] = mk
            slots[rows, :w] = order
        return grade, units, mask, slots, available

    def remember_standing(self, persons: I64, t: int) -> tuple[I64, I64, I64, I64, I64]:
        """``standing``, kept for ``_spend`` when the spending behaviour just read the same persons."""
        self._standing_cache = None
        result = self.standing(persons, t)
        self._standing_cache = (t, persons.copy(), result)
        return result

    def by_grade(self, t: int, persons: I64 | None = None) -> I64:
        """Credits per grade (columns grade_min..grade_max) for every person (or ``persons``)."""
        pol = self.policy.section(CreditsPolicy)
        span = pol.grade_max - pol.grade_min + 1
        if persons is None:
            who = np.arange(self.n, dtype=np.int64)
            available = np.maximum(self.available(t), 0)
            busy = (self.adj_end > t).any(axis=1)
        else:
            who = persons
            available = np.maximum(self.available_of(who, t), 0)
            busy = (self.adj_end[who] > t).any(axis=1)
        out = np.zeros((who.size, span), np.int64)
        out[~busy, pol.base_grade - pol.grade_min] = available[~busy]  # no active adjustment: all at base
        # Whole-balance adjustments only, never reaching a bound in any order: one lot at base + the
        # sum of their steps, then decay (the order of application cannot matter without a clamp).
        b = np.flatnonzero(busy)
        if persons is None:  # whole arrays: no copies of every busy person's ring
            ends, stp, qty = self.adj_end, self.adj_steps, self.adj_qty
        else:
            ends, stp, qty = self.adj_end[who], self.adj_steps[who], self.adj_qty[who]
        moves = np.where(ends > t, stp, np.int8(0))  # int8: a ring's steps sum well within it
        up = moves.clip(min=0).sum(axis=1, dtype=np.int64)[b]
        down = moves.clip(max=0).sum(axis=1, dtype=np.int64)[b]
        simple = ~((moves != 0) & (qty > 0)).any(axis=1)[b]
        simple &= (pol.base_grade + up <= pol.grade_max) & (pol.base_grade + down >= pol.grade_min)
        if simple.any():
            rows_s = b[simple]
            since = np.maximum(self.enrolled[who[rows_s]], self.last_fresh[who[rows_s]])
            decay = rules.decay_steps(t - since, pol.decay_window, pol.decay_step)
            g = rules.grade_after_decay(pol.base_grade + up[simple] + down[simple], decay, pol.base_grade)
            out[rows_s, g - pol.grade_min] = available[rows_s]
        rows = b[~simple]
        for lo in range(0, rows.size, 200_000):  # bounded memory on large runs
            part = rows[lo : lo + 200_000]
            grade, units, _, _, _ = self.standing(who[part], t)
            idx = np.repeat(part, grade.shape[1]) * span + (grade.ravel() - pol.grade_min)
            out.ravel()[:] += np.bincount(idx, weights=units.ravel(), minlength=out.size).astype(np.int64)
        return out

    def grades(self, t: int) -> I64:
        """Every person's grade at t: the grade holding most of their credits (the lower on a tie);
        the whole-balance walk's grade (SC4, SC8) for those holding none."""
        pol = self.policy.section(CreditsPolicy)
        table = self.by_grade(t)
        main = np.argmax(table, axis=1) + pol.grade_min
        empty = table.sum(axis=1) == 0
        if empty.any():
            main[empty] = self._walk_grades(t, np.flatnonzero(empty))
        out: I64 = main.astype(np.int64)
        return out

    def best_grade(self, persons: I64, t: int) -> I64:
        """The highest grade holding credits (the base grade for those holding none), as SC9 reads it."""
        pol = self.policy.section(CreditsPolicy)
        grade, units, _, _, _ = self.remember_standing(persons, t)
        best = np.where(units > 0, grade, np.iinfo(np.int64).min).max(axis=1, initial=np.iinfo(np.int64).min)
        return np.where(best == np.iinfo(np.int64).min, pol.base_grade, best)

    def _walk_grades(self, t: int, persons: I64) -> I64:
        """Whole-balance adjustments in order of start, clamped after each, then decay."""
        pol = self.policy.section(CreditsPolicy)
        g = np.full(persons.size, pol.base_grade, np.int64)
        ends, steps_, seqs = self.adj_end[persons], self.adj_steps[persons], self.adj_seq[persons]
        order = np.argsort(seqs, axis=1, kind="stable")
        ends = np.take_along_axis(ends, order, axis=1)
        steps_ = np.take_along_axis(steps_, order, axis=1).astype(np.int64)
        for j in range(self.ring):
            g = np.clip(g + steps_[:, j] * (ends[:, j] > t), pol.grade_min, pol.grade_max)
        since = np.maximum(self.enrolled[persons], self.last_fresh[persons])
        steps = rules.decay_steps(t - since, pol.decay_window, pol.decay_step)
        return rules.grade_after_decay(g, steps, pol.base_grade)

    def _gears(self, s: int, t: int) -> None:
        pol = self.policy.section(GearsPolicy)
        # GR4: a vote counts from its cast for vote_term; the votes cast k steps ago expire now.
        k = -(-pol.vote_term // self.scenario.step)
        expired = self.cast_log.pop(s - k, None)
        if expired is not None and expired.size:
            firms_gone = self.vote_company[expired]
            self.tally_count -= np.bincount(firms_gone, minlength=self.companies)
            self.tally_total -= add_up(firms_gone, self.vote_value[expired], self.companies)
            self.vote_company[expired] = -1
        out = self.behave["votes"](self, self.rng, self.p)
        if out is not None:
            voters, firms, values = out
            ok = self.verified[voters] & (self.vote_company[voters] < 0)
            voters, firms, values = voters[ok], firms[ok], values[ok]
            if np.unique(voters).size != voters.size:
                raise ValueError("the votes behaviour returned a voter twice in one step (GR4: one current vote)")
            self.cast_log[s] = voters
            self.tally_count += np.bincount(firms, minlength=self.companies)
            self.tally_total += add_up(firms, values, self.companies)
            self.vote_company[voters] = firms
            self.vote_value[voters] = values
            self.vote_expires[voters] = t + pol.vote_term
            self.casts += int(voters.size)
            self._pay_from_fund("reward", pol.vote_reward * int(voters.size))
            # X8: a cast vote is civic participation: it restarts the decay clock (SC8) and has the
            # effect the credits policy gives the kind "gears_vote", when that is a whole-balance one.
            self.last_fresh[voters] = t
            effect = self.policy.section(CreditsPolicy).participation.get("gears_vote")
            if effect is not None:
                self._effect(voters, t, effect)
            if self.trace is not None:
                for a, c, x in zip(voters.tolist(), firms.tolist(), values.tolist(), strict=True):
                    self._log("vote", s, a, c, x)
        if not self.companies:
            return
        counts, totals = self.tally_count, self.tally_total
        annual = self.annual_sales(s, t)
        names = self.company_names
        if self.coefficients is None or s % max(1, int(self.p["publish_every"])) == 0:
            # The fund publishes the coefficients (GR5); sales settle with the last published.
            tallies = {names[i]: Tally(int(totals[i]), int(counts[i])) for i in np.flatnonzero(counts)}
            sales = {names[i]: int(annual[i]) for i in range(self.companies)}
            co = gears.coefficients(tallies, sales, pol.k, pol.clamp)
            self.imbalance = co.imbalance()
            self.coefficients = co
            self.exact_deltas = [co.companies[name].delta for name in names]
            self.deltas = np.array([float(d) for d in self.exact_deltas])
            self.voted = counts > 0
        exact = self.exact_deltas
        # GR7: challenges whose judging window has passed close now, before the step's sales; the
        # penalty is on G_i at the close, paid from what the company holds, the rest owed.
        for i, v in self.challenges.pop(s, []):
            self.challenged.discard(i)
            due = gears.penalty(int(annual[i]), VERDICTS[v])
            paid = min(due, int(self.company_balance[i]))
            self.company_balance[i] -= paid
            self.company_debt[i] += due - paid
            self.penalties_charged += due
            self.penalties_paid += paid
            self._log("challenge_closed", s, i, v, due, paid)
        sold = self.behave["sales"](self, self.rng, self.p)
        sold = np.zeros(self.companies, np.int64) if sold is None else np.maximum(sold, 0)
        self.sales_hist[s] = sold
        for i in np.flatnonzero(sold).tolist():
            price = int(sold[i])
            adj = gears.adjustment(price, gears.effective_delta(exact[i], pol.early_stage_waiver))
            self.company_balance[i] += price
            received = price
            if adj > 0:
                received += adj if self._pay_from_fund(str(i), adj) else 0
            elif adj < 0:
                self.company_balance[i] += adj
                self.fund += -adj
                self.fund_received += -adj
                received += adj
            # GR7: an unpaid penalty is withheld from what the company receives from later sales.
            withheld = min(int(self.company_debt[i]), received)
            if withheld > 0:
                self.company_balance[i] -= withheld
                self.company_debt[i] -= withheld
                self.penalties_paid += withheld
            self._log("sale", s, i, price, adj, withheld)
        self._release()
        out2 = self.behave["whistleblowing"](self, self.rng, self.p)
        if out2 is not None:
            firms, verdicts = out2
            close = s + max(1, -(-pol.challenge_window // self.scenario.step))
            for i, v in zip(firms.tolist(), verdicts.tolist(), strict=True):
                if i in self.challenged:
                    continue  # GR7: a statement under challenge is not challenged again
                self.challenged.add(i)
                self.challenges.setdefault(close, []).append((i, v))
                self._log("challenge", s, i, v)

    def annual_sales(self, s: int, t: int) -> I64:
        """G_i at t (GR1) from the sales of earlier steps within the trailing year (t - YEAR, t]."""
        times = self.genesis + np.arange(s) * self.scenario.step
        window = times > t - YEAR
        total = self.sales_hist[:s][window].sum(axis=0) if s else np.zeros(self.companies, np.int64)
        age = np.full(self.companies, t - self.genesis, np.int64)
        return rules.annual_sales(total.astype(np.int64), age, self.policy.section(GearsPolicy).annualise_min_age)

    def _pay_from_fund(self, key: str, units: int) -> bool:
        """Pay now if nothing waits and the fund covers it (True), else queue it (GR6)."""
        if units <= 0:
            return False
        if not self.pending and self.fund >= units:
            self.fund -= units
            self._paid(key, units)
            return True
        self.pending.append((key, units))
        return False

    def _paid(self, key: str, units: int) -> None:
        if key == "reward":
            self.rewards_paid += units
        else:
            self.fund_paid += units
            self.company_balance[int(key)] += units

    def _release(self) -> None:
        """GR6: queued payouts are paid strictly in order while the fund covers the next one."""
        if not self.pending:
            return
        paid, self.fund = gears.release_in_order(self.fund, self.pending)
        for key, units in self.pending[: len(paid)]:
            self._paid(key, units)
        self.pending = self.pending[len(paid) :]

    def _creditism(self, t: int) -> None:
        if not self.resources:
            return
        years = (t - self.genesis) / YEAR
        demand = self.behave["demand"](self, self.rng, self.p, years)
        if demand is None:
            demand = np.zeros(self.resources, np.int64)
        self.demand = demand.astype(np.int64)
        self.economy_step(self.demand)
        for r in range(self.resources):
            allot = self.allotted[f"r{r}"]
            actual = cr.actual_rate(Fraction(int(self.demand[r])), allot)
            headroom = int(self.rejuvenation[r] - self.mortality[r])
            # The resource's state recovers with unused regrowth and suffers from over-extraction.
            change = (headroom - int(actual)) * self.scenario.step // YEAR // 10
            self.state[r] = min(int(self.optimal[r]) * 2, max(0, int(self.state[r]) + change))

    def economy_step(self, demand: I64) -> None:
        """CR2, CR5, CR7-CR12 for the synthetic economy at the resources' current state, exactly.

        Resource r (renewable) has one resource factor (its optimal and current state and its
        contribution per unit, weight 1), its rejuvenation and mortality, extraction labour and
        external costs per unit; the good draws one unit of each, needs ``GOOD_LABOUR`` of labour,
        has a council markup of 1/10 and E = 1/10, and its demand is the smallest resource demand.
        The same assets defined in the engine give the same allotments, ratings and prices (tested).
        """
        pol = self.policy
        fee_base = (
            pol.section(CreditismPolicy).fee_base
            or pol.section(CirclesPolicy).income_units * MONTH // pol.section(CirclesPolicy).income_period
        )
        nodes: list[Node] = []
        allotted: dict[str, Fraction] = {}
        for r in range(self.resources):
            name = f"r{r}"
            factor = cr.resource_factor(
                Fraction(int(self.optimal[r])), Fraction(int(self.state[r])), Fraction(int(self.per_unit[r]))
            )
            e = cr.externality_score([(Fraction(1), factor)], weights_sum_to_one=True)
            allot = cr.allotted_renewable(Fraction(int(self.rejuvenation[r])), Fraction(int(self.mortality[r])), e)
            allotted[name] = allot
            want = Fraction(int(demand[r]))
            rating = cr.allowance_rating(want, allot)
            self.ratings[r] = math.inf if rating is None else float(rating)
            nodes.append(
                Node(
                    name,
                    labour=Fraction(int(self.labour[r])),
                    external=Fraction(int(self.external[r])),
                    fee=cr.externality_fee(e, fee_base),
                    scarcity=cr.scarcity(want, allot),
                )
            )
        want_good = Fraction(int(demand.min())) if demand.size else Fraction(0)
        inputs = {name: Fraction(1) for name in allotted}
        shares = {
            name: cr.share_allotment(
                a, {"good": want_good * inputs[name]}, pol.section(CreditismPolicy).allotment_sharing
            )["good"]
            for name, a in allotted.items()
        }
        capability, _ = cr.production_capability(shares, inputs)
        allotted["good"] = cr.allotted_production(capability, GOOD_SCORE)
        self.good_rating = cr.allowance_rating(want_good, allotted["good"])
        nodes.append(
            Node(
                "good",
                labour=Fraction(GOOD_LABOUR),
                fee=cr.externality_fee(GOOD_SCORE, fee_base),
                council_markup=GOOD_MARKUP,
                scarcity=cr.scarcity(want_good, allotted["good"]),
                inputs=inputs,
            )
        )
        self.allotted = allotted
        self.chain = solve_chain(nodes)
        self.price = float(self.chain["good"].price)

    # Recording -----------------------------------------------------------------------------

    def _record(self, s: int, t: int) -> dict[str, Any]:
        pol = self.policy
        honest = self.verified
        holdings = (self.own + self.held_honest + self.held_sybil + self.group_held)[honest]
        available = self.available(t)
        table = self.by_grade(t)
        grades = (
            np.argmax(table, axis=1) + pol.section(CreditsPolicy).grade_min
        )  # the grade holding most of one's credits
        has = available > 0
        row: dict[str, Any] = {
            "step": s,
            "time": t,
            "year": (t - self.genesis) / YEAR,
            "accounts_open": int(self.opened.sum()),
            "trusts": int(self.estart[s + 1]),
            "routed_payments": self.routed,
            "supply_circles": self.supply_honest + self.supply_sybil,
            "supply_honest": self.supply_honest,
            "supply_sybil": self.supply_sybil,
            "supply_group": int(self.group_supply.sum()),
            "reserve_left": int(rules.halved_reserve(self.reserve_open, self.trusts)[self.opened].sum()),
            "gini_holdings": gini(holdings),
            "mean_holdings": float(holdings.mean()) if holdings.size else 0.0,
            "credits_available": int(available.sum()),
            "credits_spent": self.credits_spent_total,
            "credit_slot_overflows": self.slot_overflows,
            "spends": self.spends,
            "spends_refused": self.spends_refused,
            "lottery_draws": self.draws,
            "lottery_winners": self.lottery_winners,
            "pledges_open": len(self.pledges),
            "candidates_waiting": int(self.candidate.sum()),
        }
        counts = np.bincount(
            grades[has] - pol.section(CreditsPolicy).grade_min,
            minlength=pol.section(CreditsPolicy).grade_max - pol.section(CreditsPolicy).grade_min + 1,
        )
        for g in range(pol.section(CreditsPolicy).grade_min, pol.section(CreditsPolicy).grade_max + 1):
            row[f"grade_{g}"] = int(counts[g - pol.section(CreditsPolicy).grade_min])
        units_by_grade = table.sum(axis=0)
        for g in range(pol.section(CreditsPolicy).grade_min, pol.section(CreditsPolicy).grade_max + 1):
            row[f"credits_grade_{g}"] = int(units_by_grade[g - pol.section(CreditsPolicy).grade_min])
        voted = self.deltas[self.voted] if self.companies and hasattr(self, "voted") else np.zeros(0)
        q = np.quantile(voted, [0.0, 0.1, 0.5, 0.9, 1.0]) if voted.size else np.zeros(5)
        pending = sum(u for _, u in self.pending)
        row.update(
            {
                "companies_voted": int(voted.size),
                "votes_current": int((self.vote_company >= 0).sum()),
                "votes_cast": self.casts,
                "delta_min": float(q[0]),
                "delta_p10": float(q[1]),
                "delta_median": float(q[2]),
                "delta_p90": float(q[3]),
                "delta_max": float(q[4]),
                "coefficient_imbalance": float(self.imbalance),
                "fund_balance": self.fund,
                "fund_pending": pending,
                "fund_paid": self.fund_paid,
                "fund_received": self.fund_received,
                "vote_rewards_paid": self.rewards_paid,
                "solvency_drift": self.fund_paid + pending - self.fund_received + self.rewards_paid,
                "penalties_charged": self.penalties_charged,
                "penalties_unpaid": int(self.company_debt.sum()),
            }
        )
        for r in range(self.resources):
            row[f"allowance_r{r}"] = float(self.ratings[r])
        row["allowance_max"] = float(self.ratings.max()) if self.resources else 0.0
        row["price_good"] = self.price
        fake_held = self.held_sybil[honest]
        holders = fake_held > 0
        row.update(
            {
                "sybil_units_at_honest": int(fake_held.sum()),
                "sybil_honest_holders": int(holders.sum()),
                "sybil_honest_trusters": int(self.trusts_sybil[honest].sum()),
                "sybil_reach_beyond_trusters": int((holders & ~self.trusts_sybil[honest]).sum()),
            }
        )
        return row


def run(scenario: Scenario, *, seed: int | None = None, rng: np.random.Generator | None = None) -> list[dict[str, Any]]:
    """Run a scenario once and return its tidy rows (one per recorded step)."""
    return Model(scenario, seed=seed, rng=rng).run()
