"""Circles in the simulator (CI2-CI5, CI7-CI9, CI11, CI14, CI15; X9): the sector and its vectorised rules.

Accounts open by *cohort* (everyone who joins in one step); a cohort shares one income clock, so
the exact ``rules.open_income`` / ``claimable`` run once per cohort and every member receives the
same whole units (a test proves that claiming every step mints what one claim would).
Acquaintances of the network become mutual trusts at their formation step, in a canonical order;
each trust credits each side half of the other's remaining trustee reserve
(``trustee_reward_after``); with directed trust (``_trust_directed``) one side trusts, the other
back for a share of them, and a pair is rewarded once (CI7). People pay acquaintances who trust
them in their own currency (CI5, CI8), pay a friend of a friend through the friend (CI9) or, for
a sample, by the engine's max-flow router (``_by_max_flow``), and convert coins into group money (CI11).
Fake accounts (CI14) are the last ``sybils`` persons, unverified, joining as one cohort.

The sector offers the others a month of the basic income (``sim.sector.MONTHLY_INCOME``: the
externality fee's base, X8, CR10).

Demurrage (CI15, IN4; circles-v2): every holding is an amount at a day. A holding that moves (a
mint, a payment in or out, a conversion) is first discounted to today by ``discounted``, the
vectorised form of ``rules.discounted`` (64.64 fixed point, rounded down), and what it lost is
burned and counted (``demurrage_burned``); a holding that does not move keeps its amount and day,
and every read (the recorded columns) discounts it without writing. Income is claimed by
``claim``: each past day of the claim discounted by its age. The sim keeps one holding per person
and kind (own coins, honest persons' coins, fake accounts' coins, group money) where the engine
keeps one per currency; see docs/simulator.md.

Key loss (X9, ``sim.sector.Keys``): a person who cannot sign claims nothing and pays, routes and
converts nothing; they may still receive. At recovery the account claims what it missed as any
claim does (``claim``: back to the last claim, within the claim window, each past day discounted).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from civicledger.kernel.identity import AccountId
from civicledger.kernel.policy import Policy
from civicledger.kernel.time import MONTH, WEEK
from civicledger.mechanisms.circles import rules as circles
from civicledger.mechanisms.circles.flow import INF, FlowIndex
from civicledger.mechanisms.circles.policy import CirclesPolicy
from civicledger.mechanisms.circles.routing import Plan, plan_from_flow
from civicledger.sim.draws import SETUP
from civicledger.sim.rules import GENERATORS, Network, add_into, build, canonical, gini, regional, rewire
from civicledger.sim.sector import MONTHLY_INCOME, Problem, Row, Sector

I64 = NDArray[np.int64]
U64 = NDArray[np.uint64]

_MAX_SHIFT = 62
_LOW32 = np.uint64(0xFFFF_FFFF)
_TABLE = 1_024  # day counts spanned by one table of factors (beyond: one factor per distinct count)
_32 = np.uint64(32)


# Vectorised rules ------------------------------------------------------------------------------


def halved_reserve(reserve: I64, times: NDArray[np.signedinteger[Any]]) -> I64:
    """The trustee reserve after ``times`` trusts (CI7): ceil(R / 2^times).

    The domain's ``trustee_reward`` pays floor(R/2) and keeps R - floor(R/2) = ceil(R/2);
    halving by ceiling twice is the ceiling of a quarter, so k trusts keep ceil(R / 2^k).
    """
    shift: I64 = np.minimum(times, _MAX_SHIFT).astype(np.int64)
    out: I64 = -((-reserve) >> shift)
    return out


def trustee_reward_after(reserve: I64, earlier: I64) -> I64:
    """What one trust credits (CI7) when ``earlier`` trusts have already halved the reserve."""
    return halved_reserve(reserve, earlier) // 2


def mul_high(a: U64, b: U64) -> U64:
    """(a x b) >> 64 for 64-bit unsigned a and b, exactly, in uint64.

    Each factor splits into 32-bit halves; the four partial products fit 64 bits each, and the
    middle column (its low halves plus the carry of the lowest product) is below 3 x 2^32, so no
    step overflows: a x b = ah.bh 2^64 + (ah.bl + al.bh) 2^32 + al.bl.
    """
    ah, al = a >> _32, a & _LOW32
    bh, bl = b >> _32, b & _LOW32
    hl, lh, ll = ah * bl, al * bh, al * bl
    middle = (ll >> _32) + (hl & _LOW32) + (lh & _LOW32)
    out: U64 = ah * bh + (hl >> _32) + (lh >> _32) + (middle >> _32)
    return out


def discounted(units: I64, days: I64, yearly: Fraction) -> I64:
    """``rules.discounted`` element by element (CI15, IN4): what ``units`` held ``days`` whole days
    keep, ``(gamma^days in 64.64 x units) >> 64``, rounded down as the v2 contracts do.

    The factor of each distinct day count is the pure ``rules.demurrage_factor_64x64`` (below 2^64
    for a day or more); units are below 2^63, so the product's high 64 bits (``mul_high``) are the
    result, exact in uint64. No days, no units or no demurrage keeps everything.
    """
    out = units.copy()
    if yearly == 0:
        return out
    due = (days > 0) & (units > 0)
    if not due.any():
        return out
    spans = days[due]
    low, high = int(spans.min()), int(spans.max())
    if high - low <= _TABLE:  # the usual case: a table of the few day counts, indexed in O(n)
        table = np.array([circles.demurrage_factor_64x64(yearly, d) for d in range(low, high + 1)], np.uint64)
        factors = table[spans - low]
    else:
        distinct, where = np.unique(spans, return_inverse=True)
        factors = np.array([circles.demurrage_factor_64x64(yearly, int(d)) for d in distinct], np.uint64)[where]
    out[due] = mul_high(units[due].astype(np.uint64), factors).astype(np.int64)
    return out


def claim(state: circles.IncomeState, now: int, genesis: int, policy: CirclesPolicy) -> tuple[int, circles.IncomeState]:
    """Whole units a claim at ``now`` mints and the income state after it (CI2, CI15): the engine's
    own rule as rule version 3 decides it (``rules.claimable``), so a simulated claim mints what the
    engine would. With demurrage and a claim window (circles-v2) that is v2's issuance: whole hours
    reaching back at most the window, each discounted by its age in days; v1's timeout stops a
    currency whose owner has not claimed for ``claim_timeout``.

    Steps fall on the hour, where v2 leaves out the hour before the claim (its ``+ 1``); a person
    claims at a moment of the hour, not at its first second, so a v2 claim is made at half past the
    step's hour: it mints every whole hour before the step and loses none to that edge."""
    if policy.demurrage and policy.claim_window:
        now += HALF_HOUR
    return circles.claimable(state, now, genesis, ((genesis, policy),), version=circles.ISSUANCE_AS_V1_V2)


HALF_HOUR = 1_800


def _name(person: int) -> str:
    """A person's account name in a plan: nine digits, so names sort as the persons do."""
    return f"{person:09d}"


def _node(node: int, n: int) -> tuple[str, str]:
    """The router's name of a node of ``_flow_network``: ("a", account) or ("c", currency)."""
    return ("a", _name(node)) if node < n else ("c", _name(node - n))


# The sector -------------------------------------------------------------------------------------


@dataclass
class PartNet:
    """A partition's persons' acquaintances (``civicledger.sim.partition``): CSR rows over its
    persons, the other side's global number at each slot, and the step that trust forms."""

    indptr: I64
    neighbours: NDArray[np.int32]
    formed: NDArray[np.int32]


@dataclass
class Cohort:
    """Accounts opened in one step: one income clock for all (CI2-CI4)."""

    first: int
    stop: int
    step: int
    state: circles.IncomeState | None = None


class CirclesSector(Sector):
    """Personal currencies, trust, payments and group money over arrays indexed by person."""

    order = 100

    HOLDINGS = ("own", "held_honest", "held_sybil", "group_held", "group_supply")
    """The arrays of holdings, each kept as an amount at a demurrage day (CI15)."""

    @classmethod
    def unmodelled(cls, policy: Policy) -> list[Problem]:
        out: list[Problem] = []
        c = policy.section(CirclesPolicy)
        if c.trust_limits or c.trust_expiry:
            out.append(
                (("policy", "circles", "trust_mode"), "the simulator models trust without limits or expiry only (CI5)")
            )
        return out

    def setup(self) -> None:
        m = self.model
        sc, rng, pop = m.scenario, m.rng, m.scenario.population
        n, honest = m.n, pop.persons
        pol = m.policy.section(CirclesPolicy)
        m.shared[MONTHLY_INCOME] = pol.income_units * MONTH // pol.income_period
        self.cohorts = [Cohort(0, honest, 0)]
        if pop.sybils:
            self.cohorts.append(Cohort(honest, n, pop.sybil_join_step))
        self.opened = np.zeros(n, bool)
        self.own = np.zeros(n, np.int64)  # own coins held by their issuer
        self.held_honest = np.zeros(n, np.int64)  # coins of other honest persons held
        self.held_sybil = np.zeros(n, np.int64)  # coins of fake accounts held
        self.group_held = np.zeros(n, np.int64)
        self.reserve_open = np.zeros(n, np.int64)
        self.trusts = np.zeros(n, np.int32)  # trusts a person gave: at most their degree
        self.supply_honest = self.supply_sybil = 0
        groups = pop.groups
        self.group = np.full(n, -1, np.int32)
        if groups:
            members = np.flatnonzero(m.draws.uniform(SETUP, "groups", 0, honest)[:, 0] < pop.group_share)
            self.group[members] = members * groups // honest  # groups of neighbours (by place)
        elif m.places.active and sc.regions is not None and sum(sc.regions.groups):
            groups = self._regional_groups(sc.regions.groups, pop.group_share)
        self.group_supply = np.zeros(max(groups, 1), np.int64)  # the collateral each group keeps
        self.group_money = 0  # group money in circulation (what members hold of it)
        # Demurrage (CI15): the day each holding was last moved; what moving holdings burned.
        self.yearly = Fraction(pol.demurrage)
        self.day_zero = pol.day_zero
        self.today = circles.demurrage_day(m.genesis, self.day_zero)
        self.day: dict[str, I64] = {}  # read only with demurrage: without it, no array of days at all
        if self.yearly:
            self.day = {name: np.full(getattr(self, name).size, self.today, np.int64) for name in self.HOLDINGS}
        self.burned = self.burned_before = 0  # cumulative; before the current step
        # Key loss (X9): income not claimed by persons who lost their key, the income clock at a loss.
        self.income_lost_guarded = self.income_lost_unguarded = 0
        self.missed = np.zeros(n, np.int64)  # what a recovering account's cohort minted meanwhile
        self.loss_clock: dict[tuple[int, int], circles.IncomeState] = {}
        net = sc.network
        places = m.places
        if places.active:  # a country's regions: each region's ties, and ties across them
            home = places.home[:honest]
            regions = sc.regions
            u, v = regional(
                rng,
                home,
                GENERATORS[net.generator],
                regions.mean_degree,
                net.exponent,
                net.locality,
                regions.cross_share,
            )
        else:
            u, v = GENERATORS[net.generator](rng, honest, net.mean_degree, net.exponent, net.locality)
        if net.formation_weeks > 0:
            mean_steps = net.formation_weeks * WEEK / sc.step
            when = rng.geometric(min(1.0, 1.0 / max(mean_steps, 1.0)), size=u.size).astype(np.int64) - 1
        else:
            when = np.zeros(u.size, np.int64)
        u64, v64 = u.astype(np.int64), v.astype(np.int64)
        if places.active and bool((places.moved_at[:honest] < sc.steps).any()):
            u64, v64, when = rewire(rng, places.moved_at[:honest], places.dest[:honest], u64, v64, when)
        parts_u, parts_v, parts_w = [u64], [v64], [when]
        if pop.sybils:
            k = round(pop.sybils * pop.sybil_degree / 2)
            a = rng.integers(honest, n, size=k, dtype=np.int64)
            b = rng.integers(honest, n, size=k, dtype=np.int64)
            su, sv = canonical(n, a, b)
            victims = rng.choice(honest, size=pop.sybil_attack_edges, replace=False).astype(np.int64)
            fakes = rng.integers(honest, n, size=victims.size, dtype=np.int64)
            join = pop.sybil_join_step
            parts_u += [su.astype(np.int64), victims]
            parts_v += [sv.astype(np.int64), fakes]
            parts_w += [np.full(su.size, join, np.int64), np.full(victims.size, join, np.int64)]
        eu, ev, ew = np.concatenate(parts_u), np.concatenate(parts_v), np.concatenate(parts_w)
        ew = np.minimum(ew, sc.steps)  # formed after the horizon: never within the run
        # by formation step, then as generated (steps below 2^15: NumPy's radix sort, in O(edges))
        order = np.argsort(ew.astype(np.int16) if sc.steps < 2**15 else ew, kind="stable")
        del parts_u, parts_v, parts_w
        self.ew = ew[order].astype(np.int32)  # formation steps: at most ``steps``
        del ew
        self.estart = np.searchsorted(self.ew, np.arange(sc.steps + 2), side="left")
        eu32, ev32 = eu[order].astype(np.int32), ev[order].astype(np.int32)
        del eu, ev, order
        self.net: Network = build(n, eu32, ev32)
        self.eu, self.ev = self.net.u, self.net.v  # the same int32 arrays: one copy of the edges
        self.trusts_sybil = np.zeros(n, bool)
        # Directed trust (CI5, circles-v1/v2): who of each acquaintance accepts the other's currency.
        # With mutual trust (the seed) both do, and nothing is drawn or kept.
        self.directed = pol.trust_mode.value == "directed"
        self.u_trusts: NDArray[np.bool_] | None = None  # eu accepts ev's currency
        self.v_trusts: NDArray[np.bool_] | None = None
        self.u_first: NDArray[np.bool_] | None = None  # eu signs first (and alone, unless trusted back)
        if self.directed:
            self.u_first = rng.random(self.eu.size) < 0.5
            back = rng.random(self.eu.size) < m.p["trust_back_share"]
            self.u_trusts, self.v_trusts = self.u_first | back, ~self.u_first | back
        self.routed = 0
        # Routed payments by each rule (CI9): counts and units, cumulative and in the last step.
        self.flow_routed = self.flow_units = self.flow_refused = self.two_hop_units = 0
        self.flow_routed_step = self.two_hop_step = 0
        self.flow_index: FlowIndex | None = None  # built on the first step routing by max flow

    def _regional_groups(self, per_region: tuple[int, ...], share: float) -> int:
        """Groups per region ([regions] groups): a ``share`` of each region's persons join one of its
        groups, neighbours (by number) together; returns the number of groups in all."""
        m = self.model
        honest = m.honest_count
        home = m.places.home[:honest]
        joins = m.draws.uniform(SETUP, "groups", 0, honest)[:, 0] < share
        first = 0
        for r, count in enumerate(per_region):
            people = np.flatnonzero(home == r)
            if count and people.size:
                rank = np.flatnonzero(joins[people])
                self.group[people[rank]] = first + rank * count // people.size
            first += count
        return first

    # Demurrage (CI15, IN4) -----------------------------------------------------------------------

    def view(self, name: str, who: I64 | slice) -> I64:
        """What the holdings ``name`` of ``who`` read today: discounted, nothing written (IN4)."""
        held: I64 = getattr(self, name)[who]
        if not self.yearly:
            return held
        return discounted(held, self.today - self.day[name][who], self.yearly)

    def _settle(self, name: str, who: I64 | slice) -> None:
        """Discount the holdings ``name`` of ``who`` to today before they move, and burn what they
        lost (CI15): the explicit burn the engine journals, counted in ``demurrage_burned``."""
        if not self.yearly:
            return
        held: I64 = getattr(self, name)
        if not isinstance(who, slice):  # each holding once (a mask: faster than np.unique)
            once = np.zeros(held.size, bool)
            once[who] = True
            who = np.flatnonzero(once)
        before = held[who].copy()  # a slice would be a view of what is overwritten below
        after = discounted(before, self.today - self.day[name][who], self.yearly)
        held[who] = after
        self.day[name][who] = self.today
        lost = before - after
        total = int(lost.sum())
        if not total:
            return
        self.burned += total
        if name == "group_held":
            self.group_money -= total
        elif name == "held_sybil":
            self.supply_sybil -= total
        elif name == "own":
            fake = int(lost[~self.model.verified[who]].sum())
            self.supply_sybil -= fake
            self.supply_honest -= total - fake
        else:  # honest persons' coins, and the collateral groups keep (honest members' coins)
            self.supply_honest -= total

    # The step ----------------------------------------------------------------------------------

    def step(self, s: int, t: int) -> None:
        m = self.model
        pol = m.policy.section(CirclesPolicy)
        self.today = circles.demurrage_day(t, self.day_zero)
        self.burned_before = self.burned
        keys = m.keys
        skip: NDArray[np.bool_] | None = None
        if keys.active:
            skip = keys.locked.copy()
            skip[keys.recovered_now] = True  # they claim what they missed instead (``_recover``)
        for i, c in enumerate(self.cohorts):
            if c.step == s:
                c.state = circles.open_income(pol, m.genesis, t)
                self.opened[c.first : c.stop] = True
                self.reserve_open[c.first : c.stop] = c.state.reserve
                m.log("open", s, c.first, c.stop)
                if pol.signup_units:
                    self._mint(c, pol.signup_units, skip)
            if c.state is not None:
                lost_here = keys.lost_now[(keys.lost_now >= c.first) & (keys.lost_now < c.stop)]
                if keys.guarded[lost_here].any():
                    self.loss_clock[(i, s)] = c.state  # their clock stops at the last claim
                units, c.state = claim(c.state, t, m.genesis, pol)
                self._mint(c, units, skip)
                m.log("claim", s, c.first, c.stop, units)
                if keys.recovered_now.size:
                    self._recover(i, c, s, t, pol)
        # Trusts forming this step (CI5, CI7), in canonical edge order.
        lo, hi = int(self.estart[s]), int(self.estart[s + 1])
        if hi > lo and self.directed:
            self._trust_directed(s, lo, hi)
        elif hi > lo:
            u, v = self.eu[lo:hi], self.ev[lo:hi]
            occ = np.empty(2 * u.size, np.int64)
            occ[0::2], occ[1::2] = u, v
            order = np.argsort(occ, kind="stable")
            sorted_occ = occ[order]
            first = np.searchsorted(sorted_occ, sorted_occ, side="left")
            local = np.empty(occ.size, np.int64)
            local[order] = np.arange(occ.size) - first
            earlier = self.trusts[occ] + local
            paid = trustee_reward_after(self.reserve_open[occ], earlier)
            # occurrence 2i is u (its reserve pays v), 2i+1 is v (pays u)
            payer, receiver = occ, np.empty_like(occ)
            receiver[0::2], receiver[1::2] = v, u
            self._credit_foreign(payer, receiver, paid)
            np.add.at(self.trusts, occ, 1)
            sybil_u = ~m.verified[u]
            sybil_v = ~m.verified[v]
            self.trusts_sybil[u[sybil_v]] = True
            self.trusts_sybil[v[sybil_u]] = True
            if m.trace is not None:
                for i in range(u.size):
                    m.log("trust", s, int(u[i]), int(v[i]), int(paid[2 * i + 1]), int(paid[2 * i]))
        # Payments to acquaintances who trust the payer (CI5, CI8), in the payer's own currency.
        out = m.behave["payments"](m, m.rng, m.p)
        if out is not None:
            payers, slots, units = out
            receivers = self.net.neighbours[slots].astype(np.int64)
            formed = self.ew[self.net.edge[slots]] <= s
            if self.directed:
                formed &= self.accepts(payers, slots)
            units = np.minimum(units, self.view("own", payers))
            ok = formed & (units > 0) & self.opened[payers]
            if keys.active:
                ok &= ~keys.locked[payers]  # X9: nobody signs for a lost key
            payers, receivers, units = payers[ok], receivers[ok], units[ok]
            self._settle("own", payers)
            add_into(self.own, payers, units, sign=-1)
            self._credit_foreign(payers, receivers, units, minted=False)
            if m.trace is not None:
                for a, b, x in zip(payers.tolist(), receivers.tolist(), units.tolist(), strict=True):
                    m.log("pay", s, a, b, x)
        self._routed(s)
        # Group money (CI11): own coins become group money 1:1, irreversibly.
        conv = m.behave["conversions"](m, m.rng, m.p)
        if conv is not None:
            members, units = conv
            units = np.minimum(units, self.view("own", members))
            ok = units > 0
            if keys.active:
                ok &= ~keys.locked[members]
            members, units = members[ok], units[ok]
            self._settle("own", members)
            self._settle("group_held", members)
            self._settle("group_supply", self.group[members])
            np.subtract.at(self.own, members, units)
            np.add.at(self.group_held, members, units)
            np.add.at(self.group_supply, self.group[members], units)
            self.group_money += int(units.sum())
            if m.trace is not None:
                for a, x in zip(members.tolist(), units.tolist(), strict=True):
                    m.log("convert", s, a, int(self.group[a]), x)

    def _routed(self, s: int) -> None:
        """Payments to a friend of a friend (CI9): a sample of ``routed_sample`` of them a step by
        the engine's max-flow router (``_by_max_flow``), the rest through the friend, here.

        The payer's coins go to the intermediary, who trusts the payer; the intermediary's own
        coins go to the receiver, who trusts the intermediary; the intermediary ends with the same
        total. A route is dropped unless both trusts have formed and both hold enough; an
        intermediary carries at most one route a step and pays nothing else in it. Neither the payer
        nor the intermediary may have lost their key (X9): both sign.
        """
        m = self.model
        out = m.behave["routed_payments"](m, m.rng, m.p)
        if out is None:
            return
        payers, first, second, units = out
        self.flow_routed_step = self.two_hop_step = 0
        sample = min(int(m.p["routed_sample"]), int(payers.size))
        if sample:  # drawn only when asked for: a run without a sample draws what it always drew
            rest = np.ones(payers.size, bool)
            rest[m.rng.choice(payers.size, size=sample, replace=False)] = False
            self._by_max_flow(s, payers[~rest], first[~rest], second[~rest], units[~rest])
            payers, first, second, units = payers[rest], first[rest], second[rest], units[rest]
        mids = self.net.neighbours[first].astype(np.int64)
        receivers = self.net.neighbours[second].astype(np.int64)
        deg = self.net.indptr[mids + 1] - self.net.indptr[mids]
        formed = (self.ew[self.net.edge[first]] <= s) & (deg > 0)
        formed &= self.ew[self.net.edge[np.where(deg > 0, second, first)]] <= s
        if self.directed:  # CI5: the intermediary accepts the payer's coins, the receiver the intermediary's
            formed &= self.accepts(payers, first) & self.accepts(mids, np.where(deg > 0, second, first))
        units = np.minimum(units, self.view("own", payers))
        ok = formed & (receivers != payers) & (units > 0) & self.opened[payers]
        if m.keys.active:
            ok &= ~m.keys.locked[payers] & ~m.keys.locked[mids]
        payers, mids, receivers, units = payers[ok], mids[ok], receivers[ok], units[ok]
        paying = np.zeros(m.n, bool)
        paying[payers] = True
        unique, counts = np.unique(mids, return_counts=True)
        once = np.zeros(m.n, bool)
        once[unique[counts == 1]] = True
        ok = once[mids] & ~paying[mids] & (self.view("own", mids) >= units)
        payers, mids, receivers, units = payers[ok], mids[ok], receivers[ok], units[ok]
        self._settle("own", payers)
        add_into(self.own, payers, units, sign=-1)
        self._credit_foreign(payers, mids, units, minted=False)
        self._settle("own", mids)
        add_into(self.own, mids, units, sign=-1)
        self._credit_foreign(mids, receivers, units, minted=False)
        self.routed += int(payers.size)
        self.two_hop_step = int(payers.size)
        self.two_hop_units += int(units.sum())
        if m.trace is not None:
            for a, b, c, x in zip(payers.tolist(), mids.tolist(), receivers.tolist(), units.tolist(), strict=True):
                m.log("route", s, a, b, c, x)

    def accepts(self, holder: I64, slots: I64) -> NDArray[np.bool_]:
        """Whether the acquaintance at each CSR slot of ``holder`` accepts ``holder``'s currency (CI5):
        always with mutual trust; with directed trust, if that side trusts."""
        if self.u_trusts is None or self.v_trusts is None:
            return np.ones(holder.size, bool)
        edge = self.net.edge[slots]
        out: NDArray[np.bool_] = np.where(self.eu[edge] == holder, self.v_trusts[edge], self.u_trusts[edge])
        return out

    def _trust_directed(self, s: int, lo: int, hi: int) -> None:
        """Directed trusts forming this step (CI5, CI7), acquaintance by acquaintance in canonical order:
        the first truster alone signs and is rewarded half the trustee's remaining reserve; a trust
        back rewards nothing, unless the first rewarded nothing (the pair is rewarded once).

        Whether a trust back is rewarded depends on the reserves earlier trusts left; it is found
        by adding those rewards until none is added: a reward added only halves a reserve further,
        so it never takes back an earlier one, and the set grows to what one trust after another gives.
        """
        m = self.model
        assert self.u_trusts is not None and self.v_trusts is not None and self.u_first is not None
        u, v = self.eu[lo:hi].astype(np.int64), self.ev[lo:hi].astype(np.int64)
        u_first = self.u_first[lo:hi]
        truster, trustee = np.where(u_first, u, v), np.where(u_first, v, u)
        both = self.u_trusts[lo:hi] & self.v_trusts[lo:hi]
        back = np.zeros(u.size, bool)
        while True:
            owner = np.empty(2 * u.size, np.int64)  # occurrence 2i: the trustee's reserve pays the truster
            owner[0::2], owner[1::2] = trustee, truster  # 2i + 1: the truster's pays the trustee (if back)
            live = np.ones(owner.size, bool)
            live[1::2] = back
            occ = owner[live]
            order = np.argsort(occ, kind="stable")
            sorted_occ = occ[order]
            first = np.searchsorted(sorted_occ, sorted_occ, side="left")
            local = np.empty(occ.size, np.int64)
            local[order] = np.arange(occ.size) - first
            paid_live = trustee_reward_after(self.reserve_open[occ], self.trusts[occ] + local)
            paid = np.zeros(owner.size, np.int64)
            paid[live] = paid_live
            grown = both & (paid[0::2] == 0)
            if (grown == back).all():
                break
            back = grown
        receiver = np.empty_like(owner)
        receiver[0::2], receiver[1::2] = truster, trustee
        self._credit_foreign(occ, receiver[live], paid_live)
        np.add.at(self.trusts, occ, 1)
        accepts_u = self.u_trusts[lo:hi]  # u accepts v's currency
        accepts_v = self.v_trusts[lo:hi]
        self.trusts_sybil[u[accepts_u & ~m.verified[v]]] = True
        self.trusts_sybil[v[accepts_v & ~m.verified[u]]] = True
        if m.trace is not None:
            for i in range(u.size):
                m.log(
                    "trust_directed",
                    s,
                    int(truster[i]),
                    int(trustee[i]),
                    bool(both[i]),
                    int(paid[2 * i]),
                    int(paid[2 * i + 1]),
                )

    # Routing by the engine's max-flow kernel (CI9) -------------------------------------------------

    def _flow_network(self, s: int) -> FlowIndex:
        """The router's network (``handlers.CirclesRouter``) over the simulator's arrays, as at step ``s``.

        Node i is person i's account, node n + i their currency. Edge i (account -> currency) carries
        what they hold of their own coins, at its worth today (IN4); edges n + 2k and n + 2k + 1 are
        the two sides of acquaintance k's mutual trust (the currency of one -> the account of the
        other: unlimited once formed, CI5); edge n + 2E + i is person i's acceptance of their own
        currency (unlimited), E the acquaintances. The simulator keeps others' coins pooled by kind, not by currency, so
        only own coins can be passed on: an intermediary swaps a coin received for one of its own,
        as the two-hop rule does. Built once; each step sets the capacities that changed.
        """
        m = self.model
        n, edges = m.n, int(self.eu.size)
        index = self.flow_index
        if index is None:
            who = np.arange(n, dtype=np.int64)
            src = np.concatenate([who, n + self.eu.astype(np.int64), n + self.ev.astype(np.int64), n + who])
            dst = np.concatenate([n + who, self.ev.astype(np.int64), self.eu.astype(np.int64), who])
            trust = np.empty(2 * edges, np.int64)  # interleaved: the sides of edge k at n + 2k, n + 2k + 1
            trust[0::2], trust[1::2] = np.arange(edges), edges + np.arange(edges)
            order = np.concatenate([who, n + trust, n + 2 * edges + who])
            cap = np.zeros(2 * n + 2 * edges, np.int64)
            cap[n + 2 * edges :] = INF
            index = self.flow_index = FlowIndex.from_arrays(2 * n + 2 * edges, src[order], dst[order], cap)
        formed = int(self.estart[s + 1])  # edges are kept in formation order
        index.cap[n : n + 2 * formed] = INF
        index.cap[n + 2 * formed : n + 2 * edges] = 0
        if self.u_trusts is not None and self.v_trusts is not None:  # directed trust (CI5): one side may not accept
            index.cap[n : n + 2 * formed : 2][~self.v_trusts[:formed]] = 0
            index.cap[n + 1 : n + 2 * formed : 2][~self.u_trusts[:formed]] = 0
        index.cap[:n] = np.where(self.opened, self.view("own", slice(None)), 0)
        if m.keys.active:
            index.cap[:n][m.keys.locked] = 0  # X9: nobody passes on coins without their key
        return index

    def _by_max_flow(self, s: int, payers: I64, first: I64, second: I64, units: I64) -> None:
        """Pay each sampled route's receiver by the engine's max-flow router, one payment after
        another (CI9): ``handlers.CirclesRouter.route``'s plan over ``_flow_network``, paid in
        full or refused (``circles.pay`` refuses what cannot flow in full, in ``max_steps``
        transfers). Every leg moves the source's own coins to a target who trusts it, in exact
        integers: each intermediary ends with the same total, and the money in every currency is
        conserved."""
        m = self.model
        mids = self.net.neighbours[first].astype(np.int64)
        deg = self.net.indptr[mids + 1] - self.net.indptr[mids]
        receivers = np.where(deg > 0, self.net.neighbours[second].astype(np.int64), mids)
        units = np.minimum(units, self.view("own", payers))
        ok = (receivers != payers) & (units > 0) & self.opened[payers] & self.opened[receivers]
        if m.keys.active:
            ok &= ~m.keys.locked[payers]
        payers, receivers, units = payers[ok], receivers[ok], units[ok]
        if not payers.size:
            return
        index = self._flow_network(s)
        max_steps = m.policy.section(CirclesPolicy).max_steps
        for a, b, x in zip(payers.tolist(), receivers.tolist(), units.tolist(), strict=True):
            plan = self._plan(index, m.n, a, b, x, max_steps)
            if plan.units < x:
                self.flow_refused += 1
                m.log("flow_refused", s, a, b, x, plan.max_flow)
                continue
            legs = [(int(leg.source), int(leg.target), leg.units) for leg in plan.legs]
            src = np.array([leg[0] for leg in legs], np.int64)
            dst = np.array([leg[1] for leg in legs], np.int64)
            moved = np.array([leg[2] for leg in legs], np.int64)
            self._settle("own", src)
            add_into(self.own, src, moved, sign=-1)
            self._credit_foreign(src, dst, moved, minted=False)
            index.cap[src] = self.view("own", src)
            self.flow_routed += 1
            self.flow_routed_step += 1
            self.flow_units += x
            self.routed += 1
            m.log("flow", s, a, b, x, plan.max_flow, tuple(legs))

    @staticmethod
    def _plan(index: FlowIndex, n: int, a: int, b: int, units: int, max_steps: int) -> Plan:
        """``CirclesRouter.route(a, b, units)`` over ``index`` (of ``n`` persons): the capped flow's
        plan, or the full flow's when the capped one needed too many transfers."""

        def named(flow: dict[int, int]) -> dict[tuple[str, str], dict[tuple[str, str], int]]:
            return {
                _node(u, n): {_node(v, n): x for v, x in targets.items()}
                for u, targets in index.node_flow(flow).items()
            }

        sender, receiver = AccountId(_name(a)), AccountId(_name(b))
        plan = plan_from_flow(named(index.max_flow(a, b, units)), sender, receiver, max_steps, units)
        if plan.units < units and plan.max_flow >= units:
            wider = plan_from_flow(named(index.max_flow(a, b)), sender, receiver, max_steps, units)
            plan = max(plan, wider, key=lambda p: p.units)
        return plan

    def _mint(self, c: Cohort, units: int, skip: NDArray[np.bool_] | None = None) -> None:
        """Mint ``units`` to each member of a cohort who can claim (``skip``: who cannot, X9)."""
        who: I64 | slice = slice(c.first, c.stop)
        count = c.stop - c.first
        if skip is not None and skip[who].any():
            skipped = skip[who]
            lost = skipped & self.model.keys.lost[who]
            self.income_lost_unguarded += units * int(lost.sum())
            self.missed[c.first + np.flatnonzero(skipped & ~lost)] += units  # settled at recovery
            who = c.first + np.flatnonzero(~skipped)
            count = who.size
        self._settle("own", who)
        self.own[who] += units
        self._supply(c, units * count)

    def _supply(self, c: Cohort, total: int) -> None:
        if c.first >= self.model.honest_count:
            self.supply_sybil += total
        else:
            self.supply_honest += total

    def _recover(self, i: int, c: Cohort, s: int, t: int, pol: CirclesPolicy) -> None:
        """X9: accounts of cohort ``c`` whose guardians' recovery completed this step claim what
        their key's loss kept them from claiming: one claim from their clock at the loss (``claim``:
        within the claim window, each past day discounted by its age). They then share the
        cohort's clock again (its remainder below one unit, not theirs)."""
        m = self.model
        back = m.keys.recovered_now
        back = back[(back >= c.first) & (back < c.stop)]
        since = m.keys.lost_step[back]
        for lost_at in np.unique(since).tolist():
            who = back[since == lost_at]
            units, _ = claim(self.loss_clock.pop((i, lost_at)), t, m.genesis, pol)
            self._settle("own", who)
            self.own[who] += units
            self._supply(c, units * who.size)
            self.income_lost_guarded += int(self.missed[who].sum()) - units * who.size
            self.missed[who] = 0
            m.log("recover", s, who.tolist(), units)

    def _credit_foreign(self, issuer: I64, holder: I64, units: I64, *, minted: bool = True) -> None:
        fake = ~self.model.verified[issuer]
        if fake.any():
            self._settle("held_sybil", holder[fake])
            self._settle("held_honest", holder[~fake])
            add_into(self.held_sybil, holder[fake], units[fake])
            add_into(self.held_honest, holder[~fake], units[~fake])
        else:
            self._settle("held_honest", holder)
            add_into(self.held_honest, holder, units)
        if minted:
            self.supply_sybil += int(units[fake].sum())
            self.supply_honest += int(units[~fake].sum())

    # A run split over processes (``civicledger.sim.partition``) --------------------------------

    PARTITIONED: ClassVar[dict[str, tuple[str, ...]]] = {
        "payments": ("random_pairs", "none"),
        "routed_payments": ("two_hops", "none"),
        "conversions": ("share_of_balance", "none"),
    }
    """The behaviours a partitioned run can run: their draws are keyed, and a route's intermediary
    in another partition is asked in rounds (``part_steps``)."""

    @classmethod
    def split_refusals(cls, scenario: Any) -> list[str]:
        """What a partitioned run does not model of Circles yet (routes by max flow need the
        whole network in one place), named."""
        out: list[str] = []
        pop, pol = scenario.population, scenario.policy.section(CirclesPolicy)
        if pop.sybils:
            out.append("fake accounts (population.sybils, CI14)")
        if pol.demurrage:
            out.append("demurrage (CI15)")
        if pol.trust_mode.value == "directed":
            out.append("directed trust (circles.trust_mode, CI5)")
        if scenario.parameters.get("routed_sample", 0.0) > 0:
            out.append("routes by the max-flow router (parameters.routed_sample, CI9)")
        for role, allowed in cls.PARTITIONED.items():
            name = scenario.behaviours.get(role, "")
            if name not in allowed:
                out.append(f"the {role} behaviour {name!r} (partitioned: {', '.join(allowed)})")
        return out

    def split_setup(self, where: list[int]) -> list[Any]:
        """At the coordinator: the network as ``setup`` draws it (one cohort, no regions, fake
        accounts or directed trust), and each partition's share: its persons' acquaintances (CSR
        rows, the other side's global number, the step each trust forms) and the trusts forming
        with one of them, in canonical order. The edges are freed once handed out."""
        m = self.model
        sc, rng, honest = m.scenario, m.rng, m.honest_count
        pol = m.policy.section(CirclesPolicy)
        m.shared[MONTHLY_INCOME] = pol.income_units * MONTH // pol.income_period
        self.cohorts = [Cohort(0, honest, 0)]
        net, places = sc.network, m.places
        if places.active:  # a country's regions, as ``setup`` draws them
            regions = sc.regions
            u, v = regional(
                rng,
                places.home[:honest],
                GENERATORS[net.generator],
                regions.mean_degree,
                net.exponent,
                net.locality,
                regions.cross_share,
            )
        else:
            u, v = GENERATORS[net.generator](rng, honest, net.mean_degree, net.exponent, net.locality)
        if net.formation_weeks > 0:
            mean_steps = net.formation_weeks * WEEK / sc.step
            when = rng.geometric(min(1.0, 1.0 / max(mean_steps, 1.0)), size=u.size).astype(np.int64) - 1
        else:
            when = np.zeros(u.size, np.int64)
        u64, v64 = u.astype(np.int64), v.astype(np.int64)
        del u, v
        if places.active and bool((places.moved_at[:honest] < sc.steps).any()):
            u64, v64, when = rewire(rng, places.moved_at[:honest], places.dest[:honest], u64, v64, when)
        when = np.minimum(when, sc.steps)
        order = np.argsort(when.astype(np.int16) if sc.steps < 2**15 else when, kind="stable")
        ew = when[order].astype(np.int32)
        self.estart = np.searchsorted(ew, np.arange(sc.steps + 2), side="left")
        full = build(honest, u64[order].astype(np.int32), v64[order].astype(np.int32))
        del u64, v64, when, order
        eu, ev = full.u.astype(np.int64), full.v.astype(np.int64)
        self.where = np.array(where, np.int64)
        self.routed = self.two_hop_units = self.two_hop_step = 0
        group: NDArray[np.int32] | None = None  # groups by region are drawn here, the others in the partitions
        if not sc.population.groups and places.active and sc.regions is not None and sum(sc.regions.groups):
            self.group = np.full(honest, -1, np.int32)
            self._regional_groups(sc.regions.groups, sc.population.group_share)
            group, self.group = self.group, np.zeros(0, np.int32)
        out: list[Any] = []
        for k in range(len(where) - 1):
            lo, hi = where[k], where[k + 1]
            a, z = int(full.indptr[lo]), int(full.indptr[hi])
            rows = PartNet(
                (full.indptr[lo : hi + 1] - a).astype(np.int64), full.neighbours[a:z].copy(), ew[full.edge[a:z]]
            )
            touch = np.flatnonzero(((eu >= lo) & (eu < hi)) | ((ev >= lo) & (ev < hi)))
            starts = np.searchsorted(touch, self.estart, side="left").astype(np.int64)
            mine = None if group is None else group[lo:hi].copy()
            out.append((rows, eu[touch], ev[touch], starts, where, mine))
        return out

    def part_setup(self, handoff: Any) -> None:
        m = self.model
        n = m.n
        self.net, self.eu, self.ev, self.estart, where, group = handoff  # ``net``: a ``PartNet``
        self.slot_formed: NDArray[np.int32] = handoff[0].formed  # the step each slot's trust forms
        self.where = np.array(where, np.int64)  # every partition's first person, and the end
        self.opened = np.zeros(n, bool)
        self.own = np.zeros(n, np.int64)
        self.held_honest = np.zeros(n, np.int64)
        self.reserve_open = np.zeros(n, np.int64)
        self.trusts = np.zeros(n, np.int32)
        self.group_held = np.zeros(n, np.int64)
        pop = m.scenario.population
        groups = pop.groups
        if group is not None:  # by region, from the coordinator
            self.group, groups = group, sum(m.scenario.regions.groups)
        else:  # as ``setup`` draws them (keyed: the same numbers for our persons)
            self.group = np.full(n, -1, np.int32)
            if groups:
                members = np.flatnonzero(m.draws.uniform(SETUP, "groups", m.first, n)[:, 0] < pop.group_share)
                self.group[members] = (m.first + members) * groups // m.honest_count
        self.group_supply = np.zeros(max(groups, 1), np.int64)  # our members' part of each group's collateral
        self.group_money = 0  # group money our persons converted
        self.supply_honest = 0  # minted to our persons and paid from their reserves

    def split_begin(self, s: int, t: int) -> Any:
        """At the coordinator: the one cohort's claim (CI2-CI4): (reserve at opening or -1, sign-up
        units, the claim's units), the same for every person."""
        m = self.model
        pol = m.policy.section(CirclesPolicy)
        c = self.cohorts[0]
        reserve, signup = -1, 0
        if c.step == s:
            c.state = circles.open_income(pol, m.genesis, t)
            reserve, signup = c.state.reserve, pol.signup_units
        if c.state is None:
            return reserve, signup, 0
        units, c.state = claim(c.state, t, m.genesis, pol)
        return reserve, signup, units

    def part_begin(self, s: int, t: int, heard: Any) -> None:
        reserve, signup, units = heard
        n = self.model.n
        if reserve >= 0:
            self.opened[:] = True
            self.reserve_open[:] = reserve
            self.own += signup
            self.supply_honest += signup * n
        self.own += units
        self.supply_honest += units * n

    def part_steps(self, s: int, t: int) -> Generator[Any, Any, tuple[list[tuple[I64, I64]] | None, Any]]:
        """Our persons' side of the step's trusts (CI5, CI7: a reward depends on the payer's
        reserve and earlier trusts only), then their payments (CI5, CI8), routes (CI9, two rounds:
        ``_route_asks``, ``_route_ends``, decided by ``split_round``) and conversions (CI11), as
        ``step`` makes them; what persons of each partition receive."""
        m = self.model
        first, n = m.first, m.n
        lo, hi = int(self.estart[s]), int(self.estart[s + 1])
        u, v = self.eu[lo:hi], self.ev[lo:hi]
        owner = np.empty(2 * u.size, np.int64)  # as ``step``: occurrence 2i is u (pays v), 2i+1 is v
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
        self.supply_honest += int(paid.sum())
        to, sent = [other], [paid]
        out = m.behave["payments"](m, m.rng, m.p)
        if out is not None:
            payers, slots, units = out
            receivers = self.net.neighbours[slots].astype(np.int64)
            formed = self.slot_formed[slots] <= s
            units = np.minimum(units, self.own[payers])
            ok = formed & (units > 0) & self.opened[payers]
            payers, receivers, units = payers[ok], receivers[ok], units[ok]
            add_into(self.own, payers, units, sign=-1)
            to.append(receivers)
            sent.append(units)
        if m.scenario.behaviours.get("routed_payments") == "two_hops":
            ends = self._route_ends(s, (yield self._route_asks(s)))
            payers, mids, mid_units, mine_mid, receivers, units = yield ends
            add_into(self.own, payers - first, mid_units, sign=-1)
            add_into(self.own, mine_mid - first, units, sign=-1)
            to += [mids, receivers]
            sent += [mid_units, units]
        conv = m.behave["conversions"](m, m.rng, m.p)
        if conv is not None:  # as ``step`` (CI11): our members' own coins become group money
            members, units = conv
            units = np.minimum(units, self.own[members])
            ok = units > 0
            members, units = members[ok], units[ok]
            np.subtract.at(self.own, members, units)
            np.add.at(self.group_held, members, units)
            np.add.at(self.group_supply, self.group[members], units)
            self.group_money += int(units.sum())
        every, all_sent = np.concatenate(to), np.concatenate(sent)
        part = np.searchsorted(self.where, every, side="right") - 1
        return [(every[part == k], all_sent[part == k]) for k in range(self.where.size - 1)], None

    def _route_asks(self, s: int) -> tuple[I64, I64, NDArray[np.float64], I64]:
        """Round 1 of routes (CI9), our payers' side of ``two_hops`` and ``_routed``: the payer,
        the intermediary (a global number), the draw that picks the receiver, the units, for routes
        whose first trust has formed and whose payer can pay."""
        m = self.model
        payers, u = m.draws.sample(s, "routed_payments", m.first, m.n, m.p["route_share"], 2)
        deg = self.net.indptr[payers + 1] - self.net.indptr[payers]
        keep = deg > 0
        payers, deg, u = payers[keep], deg[keep], u[keep]
        slot = self.net.indptr[payers] + (u[:, 0] * deg).astype(np.int64)
        mids = self.net.neighbours[slot].astype(np.int64)
        units = np.minimum((self.own[payers] * m.p["pay_fraction"]).astype(np.int64), self.own[payers])
        ok = (self.slot_formed[slot] <= s) & (units > 0) & self.opened[payers]
        return m.first + payers[ok], mids[ok], u[ok, 1], units[ok]

    def _route_ends(self, s: int, asked: tuple[I64, I64, NDArray[np.float64], I64]) -> tuple[I64, ...]:
        """Round 2 (CI9), at the intermediaries' partition: the receiver each route reaches from its
        intermediary (one of ours), kept if that trust has formed and the receiver is not the payer;
        (payer, intermediary, receiver, units, the intermediary's own coins now)."""
        payers, mids, u, units = asked
        at = mids - self.model.first
        deg = self.net.indptr[at + 1] - self.net.indptr[at]
        slot = np.minimum(self.net.indptr[at] + (u * deg).astype(np.int64), self.net.neighbours.size - 1)
        receivers = self.net.neighbours[slot].astype(np.int64)
        ok = (deg > 0) & (self.slot_formed[slot] <= s) & (receivers != payers)
        return payers[ok], mids[ok], receivers[ok], units[ok], self.own[at[ok]]

    def split_round(self, s: int, t: int, asks: list[Any]) -> list[Any]:
        """At the coordinator, the rounds of routes (CI9): the asks sent on to the intermediaries'
        partitions; then, of all the routes, those whose intermediary carries no other route, pays
        no route itself and holds enough (``_routed``), each partition told its payers' and its
        intermediaries' part."""
        cut = self.where
        if len(asks[0]) == 4:  # round 1: to the intermediaries
            payers, mids, u, units = (np.concatenate([a[i] for a in asks]) for i in range(4))
            at = np.searchsorted(cut, mids, side="right") - 1
            return [(payers[at == k], mids[at == k], u[at == k], units[at == k]) for k in range(cut.size - 1)]
        payers, mids, receivers, units, held = (np.concatenate([a[i] for a in asks]) for i in range(5))
        unique, counts = np.unique(mids, return_counts=True)
        ok = np.isin(mids, unique[counts == 1]) & ~np.isin(mids, payers) & (held >= units)
        payers, mids, receivers, units = payers[ok], mids[ok], receivers[ok], units[ok]
        self.routed += int(payers.size)
        self.two_hop_step = int(payers.size)
        self.two_hop_units += int(units.sum())
        by_payer = np.searchsorted(cut, payers, side="right") - 1
        by_mid = np.searchsorted(cut, mids, side="right") - 1
        return [
            (
                payers[by_payer == k],
                mids[by_payer == k],
                units[by_payer == k],
                mids[by_mid == k],
                receivers[by_mid == k],
                units[by_mid == k],
            )
            for k in range(cut.size - 1)
        ]

    def part_receive(self, persons: I64, units: I64) -> None:
        add_into(self.held_honest, persons - self.model.first, units)

    def part_record(self, s: int, t: int) -> Any:
        holdings = (self.own + self.held_honest + self.group_held)[self.model.verified]
        reserve = int(halved_reserve(self.reserve_open, self.trusts)[self.opened].sum())
        return int(self.opened.sum()), self.supply_honest, reserve, holdings, self.group_money

    def split_record(self, s: int, t: int, parts: list[Any]) -> Row:
        """``record``'s columns from the partitions' sums (exact integers, in any order) and their
        holdings in person order (the Gini sorts them as one process does)."""
        supply = sum(p[1] for p in parts)
        holdings = np.concatenate([p[3] for p in parts])
        return {
            "accounts_open": sum(p[0] for p in parts),
            "trusts": int(self.estart[s + 1]),
            "routed_payments": self.routed,
            "routed_two_hop": self.routed,
            "routed_two_hop_units": self.two_hop_units,
            "routed_two_hop_step": self.two_hop_step,
            "routed_max_flow": 0,
            "routed_max_flow_units": 0,
            "routed_max_flow_step": 0,
            "routed_max_flow_refused": 0,
            "supply_circles": supply,
            "supply_honest": supply,
            "supply_sybil": 0,
            "supply_group": sum(p[4] for p in parts),
            "reserve_left": sum(p[2] for p in parts),
            "gini_holdings": gini(holdings),
            "mean_holdings": int(holdings.sum()) / holdings.size if holdings.size else 0.0,
            "demurrage_burned": 0,
            "demurrage_burned_step": 0,
            "demurrage_unsettled": 0,
            "income_lost_guarded": 0,
            "income_lost_unguarded": 0,
            "holdings_frozen": 0,
        }

    def split_record_last(self, s: int, t: int, parts: list[Any]) -> Row:
        return {
            "sybil_units_at_honest": 0,
            "sybil_honest_holders": 0,
            "sybil_honest_trusters": 0,
            "sybil_reach_beyond_trusters": 0,
        }

    # Records -----------------------------------------------------------------------------------

    def read(self) -> dict[str, I64]:
        """Every holding as read today (discounted, IN4), by array name."""
        return {name: self.view(name, slice(None)) for name in self.HOLDINGS}

    def record(self, s: int, t: int) -> Row:
        m = self.model
        honest = m.verified
        now = self.read()
        unsettled = dict.fromkeys(self.HOLDINGS, 0)
        if self.yearly:
            unsettled = {name: int(getattr(self, name).sum() - now[name].sum()) for name in self.HOLDINGS}
        own_fake = int((self.own - now["own"])[~honest].sum())
        supply_sybil = self.supply_sybil - unsettled["held_sybil"] - own_fake
        supply_honest = (
            self.supply_honest - unsettled["held_honest"] - unsettled["group_supply"] - (unsettled["own"] - own_fake)
        )
        every = now["own"] + now["held_honest"] + now["held_sybil"] + now["group_held"]
        holdings = every[honest]
        return {
            "accounts_open": int(self.opened.sum()),
            "trusts": int(self.estart[s + 1]),
            "routed_payments": self.routed,
            "routed_two_hop": self.routed - self.flow_routed,
            "routed_two_hop_units": self.two_hop_units,
            "routed_two_hop_step": self.two_hop_step,
            "routed_max_flow": self.flow_routed,
            "routed_max_flow_units": self.flow_units,
            "routed_max_flow_step": self.flow_routed_step,
            "routed_max_flow_refused": self.flow_refused,
            "supply_circles": supply_honest + supply_sybil,
            "supply_honest": supply_honest,
            "supply_sybil": supply_sybil,
            "supply_group": self.group_money - unsettled["group_held"],
            "reserve_left": int(halved_reserve(self.reserve_open, self.trusts)[self.opened].sum()),
            "gini_holdings": gini(holdings),
            "mean_holdings": int(holdings.sum()) / holdings.size if holdings.size else 0.0,  # exact sum: any split
            "demurrage_burned": self.burned,
            "demurrage_burned_step": self.burned - self.burned_before,
            "demurrage_unsettled": sum(unsettled.values()),
            "income_lost_guarded": self.income_lost_guarded,
            "income_lost_unguarded": self.income_lost_unguarded,
            "holdings_frozen": int(every[m.keys.lost].sum()) if m.keys.active else 0,
        }

    def record_last(self, s: int, t: int) -> Row:
        """What fake accounts reached (CI14), at the end of the row."""
        honest = self.model.verified
        fake_held = self.view("held_sybil", slice(None))[honest]
        holders = fake_held > 0
        return {
            "sybil_units_at_honest": int(fake_held.sum()),
            "sybil_honest_holders": int(holders.sum()),
            "sybil_honest_trusters": int(self.trusts_sybil[honest].sum()),
            "sybil_reach_beyond_trusters": int((holders & ~self.trusts_sybil[honest]).sum()),
        }
