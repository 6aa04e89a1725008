"""Circles in the simulator (CI2-CI5, CI7-CI9, CI11, CI12, CI14, CI15; X9): the sector and its vectorised rules.

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

Trust limits and expiry (CI5; circles-v1, circles-v2), group-to-group exchange (CI12) and routes
through coins of others held (CI9), each off by default and then drawing and keeping nothing: see
``_trust_options``, ``_group_trusts`` and ``routed_through_held`` in docs/simulator.md.

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
from civicledger.mechanisms.circles.kernels import pay_acquaintances, route_two_hops
from civicledger.mechanisms.circles.policy import CirclesPolicy
from civicledger.mechanisms.circles.routing import Plan, plan_from_flow
from civicledger.sim.draws import SETUP
from civicledger.sim.rules import (
    GENERATORS,
    Network,
    add_into,
    build,
    canonical,
    distinct,
    distinct_counts,
    gini,
    regional,
    rewire,
)
from civicledger.sim.sector import MONTHLY_INCOME, Problem, Row, Sector

I64 = NDArray[np.int64]
I32 = NDArray[np.int32]
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


# Trust limits and expiry (CI5: circles-v1's percent limits, circles-v2's expiring trust) -------


def acceptance_rooms(own: I64, held: I64, limit_percent: int) -> I64:
    """``rules.acceptance_room`` of trusts in force under trust limits, element by element (CI5):
    how much more of the trustee's currency each truster accepts, ``own x limit // 100 - held``
    (never below 0), ``own`` its holding of its own currency, ``held`` what it holds of the
    trustee's. Exact in int64 for holdings below 2^63 / 100 minor units."""
    out: I64 = np.maximum(0, own * limit_percent // 100 - held)
    return out


def capped_in_order(key: I64, units: I64, room: I64) -> I64:
    """What each of a sequence of payments moves when those of one ``key`` (a truster and a
    currency) share one ``room`` (CI5), each paying what is left of it, in order: ``check_plan``'s
    cumulative rule. The k-th of a key moves min(S_k, R) - min(S_{k-1}, R), S its running sum
    (by induction: the accepted total after k payments is min(S_k, R))."""
    if not key.size:
        return units.copy()
    order = np.argsort(key, kind="stable")
    k, x, r = key[order], units[order], room[order]
    run = np.cumsum(x)
    starts = np.flatnonzero(np.concatenate(([True], k[1:] != k[:-1])))
    base = np.repeat(run[starts] - x[starts], np.diff(np.append(starts, k.size)))
    after = np.minimum(run - base, r)
    before = np.minimum(run - base - x, r)
    out = np.empty_like(units)
    out[order] = after - before
    return out


def trust_lasting(duration: int, step: int) -> int:
    """Steps a trust made at a step stays in force (CI5, v2): its expiry falls ``duration`` seconds
    later, and the first step at or after it is the first that sees it expired."""
    return -(-duration // step)


def trust_expires(formed: I64, periods: I64, lasting: int) -> I64:
    """The first step each trust is no longer in force: made at ``formed``, renewed ``periods`` - 1
    times, each renewal made at the first step that sees the last one expired (CI5, v2)."""
    out: I64 = formed + periods * lasting
    return out


def revoke(expires: I64, picked: I64, s: int) -> int:
    """Revoke the trusts ``picked`` that are in force at step ``s`` (CI6, the engine's
    ``circles.untrust``: either party, both ways, at once): each carries nothing from ``s`` on,
    as if it had expired then, and is never made again (a renewal needs a trust in force). A
    trust picked that already expired or was revoked is left alone. Returns how many were revoked."""
    live = picked[expires[picked] > s]
    expires[live] = s
    return int(live.size)


def group_payments(
    group: NDArray[np.signedinteger[Any]],
    held: I64,
    swapped: I64 | None,
    indptr: NDArray[np.signedinteger[Any]],
    neighbours: NDArray[np.signedinteger[Any]],
    payers: I64,
    pick: NDArray[np.float64],
    deg: I64,
    fraction: float,
) -> tuple[I64, I64, I64]:
    """Payments in group money (CI13), element by element: each payer (distinct) pays the
    acquaintance ``pick`` chooses (uniform over its ``deg`` acquaintances) ``fraction`` of what it
    holds of its own group's money (``held`` less ``swapped``, others' group money), rounded down,
    if that acquaintance is a member of the same group (so trusts it: ``rules.acceptance_room``
    is unlimited) and something is paid. Every payer pays at most what it held before the step's
    payments, so they may be made one after another in any order."""
    keep = (deg > 0) & (group[payers] >= 0)
    payers, pick, deg = payers[keep], pick[keep], deg[keep]
    receivers = neighbours[indptr[payers] + (pick * deg).astype(np.int64)].astype(np.int64)
    own = held[payers] - (swapped[payers] if swapped is not None else 0)
    units = (own * fraction).astype(np.int64)
    ok = (group[receivers] == group[payers]) & (receivers != payers) & (units > 0)
    return payers[ok], receivers[ok], units[ok]


def in_force(formed: NDArray[np.signedinteger[Any]], expires: I64 | None, s: int) -> NDArray[np.bool_]:
    """Whether each trust carries payments at step ``s`` (CI5): formed, and not expired
    (``rules.TrustEdge.active``: the step's time before the expiry)."""
    out: NDArray[np.bool_] = formed <= s
    if expires is not None:
        out &= expires > s
    return out


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
        if c.trust_limits and c.demurrage:
            out.append(
                (
                    ("policy", "circles", "trust_limits"),
                    "the simulator models trust limits without demurrage only (CI5, CI15): it keeps what each "
                    "truster holds of each currency undiscounted",
                )
            )
        return out

    @classmethod
    def check_parameters(cls, policy: Policy, parameters: dict[str, float]) -> list[Problem]:
        """Trust limits and expiry (CI5) need the policy that allows them, as ``rules.check_trust``
        refuses a limit or an expiry the policy has not: set without it they would do nothing."""
        c = policy.section(CirclesPolicy)
        out: list[Problem] = []
        limit = parameters["trust_limit_percent"]
        if limit != int(limit) or not 0 <= limit <= 100:
            out.append((("parameters", "trust_limit_percent"), f"must be a whole percent from 0 to 100, not {limit:g}"))
        elif limit != 100 and not c.trust_limits:
            why = "needs [policy.circles] trust_limits = true (CI5; the circles-v1 preset has it)"
            out.append((("parameters", "trust_limit_percent"), why))
        if parameters["trust_expiry_weeks"] > 0 and not c.trust_expiry:
            why = "needs [policy.circles] trust_expiry = true (CI5; the circles-v2 preset has it)"
            out.append((("parameters", "trust_expiry_weeks"), why))
        if parameters["trust_renew_share"] > 0 and parameters["trust_expiry_weeks"] <= 0:
            out.append(
                (("parameters", "trust_renew_share"), "needs trust_expiry_weeks > 0: only an expired trust is renewed")
            )
        held = parameters["routed_through_held"]
        if held not in (0.0, 1.0):
            out.append((("parameters", "routed_through_held"), f"must be 0 or 1, not {held:g}"))
        elif held and c.demurrage:
            why = "routes through coins held are modelled without demurrage only (CI9, CI15)"
            out.append((("parameters", "routed_through_held"), why))
        elif held and not parameters["routed_sample"]:
            why = "needs routed_sample > 0: only routes by max flow pass on coins held (CI9)"
            out.append((("parameters", "routed_through_held"), why))
        k = parameters["group_trusts"]
        if k != int(k):
            out.append((("parameters", "group_trusts"), f"must be a whole number of groups, not {k:g}"))
        elif k and c.demurrage:
            why = "group exchange is modelled without demurrage only (CI12, CI15): others' group money is pooled"
            out.append((("parameters", "group_trusts"), why))
        if parameters["group_exchange_share"] > 0 and not k:
            why = "needs group_trusts > 0: group money is exchanged only into a group that trusts it (CI12)"
            out.append((("parameters", "group_exchange_share"), why))
        if parameters["group_pay_share"] > 0:  # CI13: members' trusts in their groups are whole and lasting
            expiring = c.trust_expiry and parameters["trust_expiry_weeks"] > 0
            for on, what, rules in (
                (bool(c.demurrage), "demurrage", "CI13, CI15"),
                (c.trust_limits, "trust limits", "CI5, CI13"),
                (expiring, "trust expiry", "CI5, CI13"),
            ):
                if on:
                    why = f"paying with group money is modelled without {what} only ({rules})"
                    out.append((("parameters", "group_pay_share"), why))
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
        places = m.places
        u64, v64, when = self._draw_network()
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
        # Each CSR slot's formation step, in the slots' order: a step's payers are in ascending
        # order, so reading it walks memory forward (``self.ew[self.net.edge[slots]]`` jumps across
        # every edge); int16 while steps fit. From ``all_formed`` on every acquaintance is a trust.
        narrow = np.int16 if sc.steps < 2**15 else np.int32
        self.slot_when = self.ew.astype(narrow)[self.net.edge]
        self.all_formed = int(self.ew[-1]) if self.ew.size else 0
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
        self._trust_options(pol)
        self._group_trusts(pol)
        self.routed = 0
        # Routed payments by each rule (CI9): counts and units, cumulative and in the last step.
        self.flow_routed = self.flow_units = self.flow_refused = self.two_hop_units = 0
        self.flow_routed_step = self.two_hop_step = 0
        self._carried: NDArray[np.int32] | None = None  # the routes' kernel's scratch (kernels.route_two_hops)
        self._paying: NDArray[np.bool_] | None = None
        self.flow_index: FlowIndex | None = None  # built on the first step routing by max flow

    def _draw_network(self) -> tuple[I64, I64, I64]:
        """The honest persons' acquaintances (CI5) from the run's generator: each edge's two ends and
        the step its trust forms; a country's regions draw each region's ties and ties across them.
        ``setup`` and a partitioned run's ``split_setup`` draw the same network through this."""
        m = self.model
        sc, rng, honest, net = m.scenario, m.rng, m.honest_count, m.scenario.network
        if m.places.active:
            regions = sc.regions
            u, v = regional(
                rng,
                m.places.home[:honest],
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
        return u.astype(np.int64), v.astype(np.int64), when

    def _trust_options(self, pol: CirclesPolicy) -> None:
        """Trust limits and expiry (CI5; circles-v1, circles-v2), each off unless the policy allows
        it: then nothing is kept, drawn or checked. Every trust accepts at most
        ``trust_limit_percent`` of the truster's own holding (``held_at``: what each side of each
        acquaintance holds of the other's currency), and lasts ``trust_expiry_weeks``, renewed at
        each expiry with chance ``trust_renew_share`` (``expires``: the first step it carries nothing).
        A ``trust_revoke_share`` of the trusts in force is revoked each step (CI6): ``expires`` is
        then kept without expiry too (``lasting`` 0: nothing renewed), and a revocation brings it
        forward to the step it happens (``_revoke``)."""
        m = self.model
        edges = int(self.eu.size)
        self.limit_percent = int(m.p["trust_limit_percent"])
        # Side 2k: what ev holds of eu's currency (ev accepts it); side 2k + 1: what eu holds of ev's.
        self.limits = pol.trust_limits
        self.through_held = bool(m.p["routed_through_held"])  # CI9: routes pass on coins of others held
        tracked = self.limits or self.through_held
        self.held_at: I64 | None = np.zeros(2 * edges, np.int64) if tracked else None
        self.limited_payments = self.limited_units = 0
        self.expires: I64 | None = None
        self.lasting = 0
        self.renewals = 0
        weeks = m.p["trust_expiry_weeks"]
        if pol.trust_expiry and weeks > 0:
            self.lasting = trust_lasting(round(weeks * WEEK), m.scenario.step)
            self.expires = trust_expires(self.ew.astype(np.int64), self._renewal_periods(edges), self.lasting)
        self.revoke_share = float(m.p["trust_revoke_share"])
        self.revoked = 0
        if self.revoke_share > 0 and self.expires is None:  # CI6: no trust ends but by revocation
            self.expires = np.full(edges, m.scenario.steps + 1, np.int64)

    def _renewal_periods(self, edges: int) -> I64:
        """The one draw of trust expiry (CI5, v2): how many periods each trust lasts, renewed at each
        expiry with chance ``trust_renew_share`` (geometric); none drawn at 0 or 1."""
        m = self.model
        share = m.p["trust_renew_share"]
        longest = m.scenario.steps + 1
        if share <= 0.0:
            return np.ones(edges, np.int64)
        if share >= 1.0:
            return np.full(edges, longest, np.int64)
        periods: I64 = np.minimum(m.rng.geometric(1.0 - share, size=edges), longest).astype(np.int64)
        return periods

    def _group_trusts(self, pol: CirclesPolicy) -> None:
        """Trusts between groups (CI12), off unless ``group_trusts`` > 0 and there are two groups or
        more: each group trusts that many others drawn at random (both ways with mutual trust, as
        the engine's ``circles.trust`` between two groups), made before the first step."""
        m = self.model
        self.group_swapped: I64 | None = None  # other groups' money each person holds (CI12)
        self.group_exchanges = self.group_exchanged_units = 0
        self.group_pay_share = float(m.p["group_pay_share"])  # CI13: off at 0, nothing kept or drawn
        self.group_payments = self.group_paid_units = 0
        count, k = int(self.group_supply.size), int(m.p["group_trusts"])
        if k <= 0 or count < 2:
            return
        truster = np.repeat(np.arange(count, dtype=np.int64), k)
        trustee = m.rng.integers(0, count - 1, size=truster.size, dtype=np.int64)  # the one draw of group trust
        trustee += trustee >= truster  # never itself
        if pol.trust_mode.value == "mutual":
            truster, trustee = np.concatenate([truster, trustee]), np.concatenate([trustee, truster])
        key = np.unique(truster * count + trustee)
        truster, trustee = key // count, key % count
        self.group_pairs = (truster, trustee)  # truster accepts the trustee's money (CI12)
        order = np.argsort(trustee, kind="stable")  # by trustee: the groups that take each group's money
        self.accepting = truster[order]
        self.accepting_at = np.searchsorted(trustee[order], np.arange(count + 1))
        self.group_swapped = np.zeros(m.n, np.int64)
        self.group_kept = np.zeros(count, np.int64)  # other groups' money each group keeps for good

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
            # Each person's run in the sorted occurrences: its start (where ``searchsorted`` would
            # find it, in one linear pass) and its length (what ``np.add.at`` would add, per person).
            head = np.ones(occ.size, bool)
            head[1:] = sorted_occ[1:] != sorted_occ[:-1]
            heads = np.flatnonzero(head)
            rank = np.arange(occ.size)
            first = np.maximum.accumulate(np.where(head, rank, 0))
            local = np.empty(occ.size, np.int64)
            local[order] = rank - first
            earlier = self.trusts[occ] + local
            paid = trustee_reward_after(self.reserve_open[occ], earlier)
            # occurrence 2i is u (its reserve pays v), 2i+1 is v (pays u)
            payer, receiver = occ, np.empty_like(occ)
            receiver[0::2], receiver[1::2] = v, u
            self._credit_foreign(payer, receiver, paid)
            if self.held_at is not None:  # occurrence 2i pays v in u's currency: side 2k (CI5 limits)
                self.held_at[2 * lo : 2 * hi] += paid
            self.trusts[sorted_occ[heads]] += np.diff(heads, append=occ.size).astype(np.int32)
            sybil_u = ~m.verified[u]
            sybil_v = ~m.verified[v]
            self.trusts_sybil[u[sybil_v]] = True
            self.trusts_sybil[v[sybil_u]] = True
            if m.trace is not None:
                for i in range(u.size):
                    m.log("trust", s, int(u[i]), int(v[i]), int(paid[2 * i + 1]), int(paid[2 * i]))
        if self.lasting:
            self._renew(s)
        if self.revoke_share > 0:
            self._revoke(s)
        # Payments to acquaintances who trust the payer (CI5, CI8), in the payer's own currency.
        out = None if self._pay_compiled(s) else m.behave["payments"](m, m.rng, m.p)
        if out is not None:
            payers, slots, units = out
            receivers = self.net.neighbours[slots].astype(np.int64)
            formed = self.formed(slots, s)  # CI5: an expired trust carries nothing
            if self.directed:
                formed &= self.accepts(payers, slots)
            units = np.minimum(units, self.view("own", payers))
            ok = formed & (units > 0) & self.opened[payers]
            if keys.active:
                ok &= ~keys.locked[payers]  # X9: nobody signs for a lost key
            payers, receivers, units = payers[ok], receivers[ok], units[ok]
            if self.held_at is not None:
                limited: Any = self._limit_payments(payers, receivers, slots[ok], units)
                payers, receivers, units = limited
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
        if self.group_swapped is not None:
            self._group_exchange(s)
        if self.group_pay_share > 0:
            self._group_pay(s)
        self._draw_ahead(s)

    def _draw_ahead(self, s: int) -> None:
        """Ask for the next step's draws of the payments, routes and conversions now: a worker
        thread draws them while the other sectors step (``Model.draw_ahead``; the same numbers,
        nothing with one thread)."""
        for role in ("payments", "routed_payments", "conversions"):
            self.model.draw_ahead(role, s + 1)

    def _compiled(self) -> bool:
        """Whether the compiled kernels (``kernels``: the same rows) may pay this run's payments:
        nothing else reads or changes them (no directed, limited or expiring trust, no lost keys,
        no demurrage, no fake accounts, no trace)."""
        m = self.model
        return not (
            self.directed
            or self.held_at is not None
            or self.expires is not None
            or m.keys.active
            or self.yearly
            or m.honest_count != m.n
            or m.trace is not None
        )

    def _route_compiled(self, s: int) -> bool:
        """The routes of ``two_hops`` and their pass through the friend (CI9) by the compiled
        kernel (``kernels.route_two_hops``) when no route goes by max flow. Returns whether it
        routed (else the behaviour and the NumPy pass do)."""
        m = self.model
        chosen = m.scenario.behaviours.get("routed_payments")
        if chosen != "two_hops" or int(m.p["routed_sample"]) or not self._compiled():
            return False
        payers, u = m.draws.sample(m.step_now, "routed_payments", m.first, m.n, m.p["route_share"], 2)
        if self._carried is None or self._paying is None:
            self._carried, self._paying = np.zeros(m.n, np.int32), np.zeros(m.n, bool)
        routed, units = route_two_hops(
            payers,
            u,
            m.p["pay_fraction"],
            self.net.indptr,
            self.net.neighbours,
            self.slot_when,
            s,
            s >= self.all_formed,
            self.opened,
            self.own,
            self.held_honest,
            self._carried,
            self._paying,
            m.threads.count,
            m.threads.run,
        )
        self.flow_routed_step = 0
        self.routed += routed
        self.two_hop_step = routed
        self.two_hop_units += units
        return True

    def _pay_compiled(self, s: int) -> bool:
        """The payments of ``random_pairs`` and their pass (CI5, CI8) by the compiled kernel
        (``kernels.pay_acquaintances``) where ``_compiled`` allows it. Returns whether it paid
        (else the behaviour and the NumPy pass do)."""
        m = self.model
        if m.scenario.behaviours.get("payments") != "random_pairs" or not self._compiled():
            return False
        u = m.draws.uniform(m.step_now, "payments", m.first, m.n, 2)
        pay_acquaintances(
            u,
            m.p["pay_share"],
            m.p["pay_fraction"],
            self.net.indptr,
            self.net.neighbours,
            self.slot_when,
            s,
            s >= self.all_formed,
            self.opened,
            self.own,
            self.held_honest,
            m.threads.count,
            m.threads.run,
        )
        return True

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
        if self._route_compiled(s):
            return
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
        formed = self.formed(first, s) & (deg > 0)  # CI5: both trusts in force
        formed &= self.formed(np.where(deg > 0, second, first), s)
        if self.directed:  # CI5: the intermediary accepts the payer's coins, the receiver the intermediary's
            formed &= self.accepts(payers, first) & self.accepts(mids, np.where(deg > 0, second, first))
        units = np.minimum(units, self.view("own", payers))
        ok = formed & (receivers != payers) & (units > 0) & self.opened[payers]
        if m.keys.active:
            ok &= ~m.keys.locked[payers] & ~m.keys.locked[mids]
        payers, mids, receivers, units = payers[ok], mids[ok], receivers[ok], units[ok]
        picked = np.flatnonzero(ok) if self.held_at is not None else None  # CI5 limits, CI9 coins held
        paying = np.zeros(m.n, bool)
        paying[payers] = True
        unique, counts = distinct_counts(mids)
        once = np.zeros(m.n, bool)
        once[unique[counts == 1]] = True
        ok = once[mids] & ~paying[mids] & (self.view("own", mids) >= units)
        payers, mids, receivers, units = payers[ok], mids[ok], receivers[ok], units[ok]
        if self.held_at is not None and picked is not None:
            picked = picked[ok]
            edges = (self.net.edge[first[picked]], self.net.edge[second[picked]])
            payers, mids, receivers, units = self._limit_routes(payers, mids, receivers, edges, units)
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

    def formed(self, slots: I64, s: int) -> NDArray[np.bool_]:
        """Whether the acquaintance at each CSR slot is a trust in force at step ``s`` (CI5): formed
        by then and, with expiry, not yet expired."""
        out: NDArray[np.bool_] = np.ones(slots.size, bool) if s >= self.all_formed else self.slot_when[slots] <= s
        if self.expires is not None:
            out &= self.expires[self.net.edge[slots]] > s
        return out

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
        if self.held_at is not None:  # the truster holds the trustee's currency, and back (CI5 limits)
            sides = 2 * np.arange(lo, hi, dtype=np.int64)
            self.held_at[sides + u_first] += paid[0::2]
            self.held_at[sides + ~u_first] += paid[1::2]
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

    # Group-to-group exchange (CI12) --------------------------------------------------------------

    def _group_exchange(self, s: int) -> None:
        """Members swap their own group's money for the money of a group that trusts theirs, 1:1
        (CI12, the engine's ``circles.group_exchange``): the receiving group keeps what it took as
        collateral for good and issues its own money. A ``group_exchange_share`` of members each
        step, ``group_exchange_fraction`` of what they hold of their own group's money, into one
        of the groups accepting it, drawn (``_group_exchangers``). Nobody exchanges money of
        another group again (the simulator pools it), nor without their key (X9)."""
        m = self.model
        assert self.group_swapped is not None
        if s == 0 and m.trace is not None:
            mutual = self.model.policy.section(CirclesPolicy).trust_mode.value == "mutual"
            for g, h in zip(*(x.tolist() for x in self.group_pairs), strict=True):
                if not mutual or g < h:  # a mutual trust is one command, both ways
                    m.log("group_trust", s, g, h)
        who, pick = self._group_exchangers()
        g = self.group[who].astype(np.int64)
        held = self.group_held[who] - self.group_swapped[who]
        units = (held * m.p["group_exchange_fraction"]).astype(np.int64)
        takers = self.accepting_at[g + 1] - self.accepting_at[g]
        ok = (units > 0) & (takers > 0)
        if m.keys.active:
            ok &= ~m.keys.locked[who]
        who, g, units = who[ok], g[ok], units[ok]
        h = self.accepting[self.accepting_at[g] + (pick[ok] * takers[ok]).astype(np.int64)]
        add_into(self.group_swapped, who, units)
        add_into(self.group_kept, h, units)
        self.group_exchanges += int(who.size)
        self.group_exchanged_units += int(units.sum())
        if m.trace is not None:
            for a, x, y, u in zip(who.tolist(), g.tolist(), h.tolist(), units.tolist(), strict=True):
                m.log("group_exchange", s, a, x, y, u)

    def _group_pay(self, s: int) -> None:
        """Payments in group money (CI13, the engine's transfer of a group's currency): a
        ``group_pay_share`` of persons each step, drawn by a keyed draw (``draws.sample``, the same
        whatever the process layout) with a uniform number each for the acquaintance they pay,
        pay ``group_pay_fraction`` of the money of their own group they hold to that acquaintance,
        if a member of the same group: every member trusts its group from the first step (a trust
        of a person in a group: the person alone signs, nobody is rewarded, CI7), and anyone who
        trusts a group accepts its money (CI13). Others' group money (CI12) is not paid on (the
        simulator pools it); nobody pays without their key (X9)."""
        m = self.model
        honest = m.scenario.population.persons
        if s == 0 and m.trace is not None:
            for i in np.flatnonzero(self.group[:honest] >= 0).tolist():
                m.log("group_member_trust", s, i, int(self.group[i]))
        picked, pick = m.draws.sample(s, "group_pay", 0, honest, self.group_pay_share, k=1)
        net = self.net
        deg = (net.indptr[picked + 1] - net.indptr[picked]).astype(np.int64)
        payers, receivers, units = group_payments(
            self.group,
            self.group_held,
            self.group_swapped,
            net.indptr,
            net.neighbours,
            picked,
            pick[:, 0],
            deg,
            m.p["group_pay_fraction"],
        )
        ok = self.opened[payers] & self.opened[receivers]
        if m.keys.active:
            ok &= ~m.keys.locked[payers]
        payers, receivers, units = payers[ok], receivers[ok], units[ok]
        add_into(self.group_held, payers, units, sign=-1)
        add_into(self.group_held, receivers, units)
        self.group_payments += int(payers.size)
        self.group_paid_units += int(units.sum())
        if m.trace is not None:
            for a, b, x in zip(payers.tolist(), receivers.tolist(), units.tolist(), strict=True):
                m.log("group_pay", s, a, b, int(self.group[a]), x)

    def _group_exchangers(self) -> tuple[I64, NDArray[np.float64]]:
        """The draws of group exchange (CI12): members who exchange this step, each with probability
        ``group_exchange_share``, and a uniform draw each to choose the group they exchange into."""
        m = self.model
        rng = m.rng
        size = rng.binomial(m.n, m.p["group_exchange_share"])
        picked = distinct(rng.integers(0, m.n, size=size, dtype=np.int64))
        who = picked[self.group[picked] >= 0]
        return who, rng.random(who.size)

    # Trust limits and expiry (CI5; circles-v1, circles-v2) -------------------------------------------

    def _side(self, edge: NDArray[np.signedinteger[Any]], holder: I64) -> I64:
        """The side of each acquaintance on which ``holder`` accepts the other's currency (``held_at``)."""
        e64 = edge.astype(np.int64)
        out: I64 = 2 * e64 + (self.eu[e64] == holder)
        return out

    def _rooms(self, sides: I64, own: I64) -> I64:
        """``acceptance_rooms`` of each side's truster, whose own holding is ``own`` (CI5)."""
        assert self.held_at is not None
        return acceptance_rooms(own, self.held_at[sides], self.limit_percent)

    def _side_caps(self, sides: I64, s: int, open_: NDArray[np.bool_]) -> I64:
        """The router's capacity of each side (the trustee's currency -> the truster, CI5): 0 where
        not ``open_`` or expired, else the room the truster's limit leaves (INF without limits)."""
        k = sides >> 1
        live = open_ & in_force(self.ew[k], None if self.expires is None else self.expires[k], s)
        if not self.limits:
            return np.where(live, INF, 0)
        truster = np.where(sides & 1, self.eu[k], self.ev[k]).astype(np.int64)
        return np.where(live, self._rooms(sides, self.own[truster]), 0)

    def _limit_payments(self, payers: I64, receivers: I64, slots: I64, units: I64) -> tuple[I64, I64, I64]:
        """Direct payments within the receivers' trust limits (CI5, v1): each pays at most what is
        left of its receiver's room, payments into one room in order (``capped_in_order``). A room
        is read at the receiver's own holding less all it pays this step, the least it can hold
        while the step's payments are made in any order, so each is accepted whatever came first."""
        assert self.held_at is not None
        sides = self._side(self.net.edge[slots], receivers)
        if not self.limits:  # only what each receiver holds of the payer's currency, kept (CI9)
            add_into(self.held_at, sides, units)
            return payers, receivers, units
        out = np.zeros(self.model.n, np.int64)
        add_into(out, payers, units)
        room = self._rooms(sides, self.own[receivers] - out[receivers])
        got = capped_in_order(sides, units, room)
        add_into(self.held_at, sides, got)
        self._count_limited(units, got)
        keep = got > 0
        return payers[keep], receivers[keep], got[keep]

    def _limit_routes(
        self, payers: I64, mids: I64, receivers: I64, edges: tuple[I32, I32], units: I64
    ) -> tuple[I64, I64, I64, I64]:
        """Two-hop routes within both trust limits (CI5, v1): the intermediary accepts the payer's
        coins, the receiver the intermediary's, each up to its room read at its own holding less
        all it pays in the step's routes. An intermediary carries one route a step and pays no
        other, so no room takes two of these routes: each moves the least of its units and rooms."""
        assert self.held_at is not None
        first, second = self._side(edges[0], mids), self._side(edges[1], receivers)
        if not self.limits:  # only what each holds of the other's currency, kept (CI9)
            add_into(self.held_at, first, units)
            add_into(self.held_at, second, units)
            return payers, mids, receivers, units
        out = np.zeros(self.model.n, np.int64)
        add_into(out, payers, units)
        add_into(out, mids, units)
        room_first = self._rooms(first, self.own[mids] - out[mids])
        room_second = self._rooms(second, self.own[receivers] - out[receivers])
        got = np.minimum(units, np.minimum(room_first, room_second))
        add_into(self.held_at, first, got)
        add_into(self.held_at, second, got)
        self._count_limited(units, got)
        keep = got > 0
        return payers[keep], mids[keep], receivers[keep], got[keep]

    def _count_limited(self, units: I64, got: I64) -> None:
        cut = units - got
        self.limited_payments += int((cut > 0).sum())
        self.limited_units += int(cut.sum())

    def _side_between(self, holder: int, issuer: int) -> int:
        """The side on which ``holder`` holds ``issuer``'s currency (their acquaintance's, CI5)."""
        net = self.net
        lo = int(net.indptr[holder])
        hit = lo + int(np.flatnonzero(net.neighbours[lo : int(net.indptr[holder + 1])] == issuer)[0])
        return int(2 * int(net.edge[hit]) + int(self.eu[int(net.edge[hit])] == holder))

    def _after_plan(self, index: FlowIndex, s: int, legs: list[tuple[int, int, int, int]]) -> None:
        """After a paid plan (CI5 limits, CI9 coins held): what each leg's target holds of the leg's
        currency grows, what its source held of it shrinks, and the issuer's own holding grows when
        coins come back to it; the rooms of the trusts they give and the coins they can pass on
        change with it."""
        assert self.held_at is not None
        touched: set[int] = set()
        for a, b, c, x in legs:
            if c != a:  # coins of c that a held
                self.held_at[self._side_between(a, c)] -= x
            if b != c:  # b holds more of c's coins; else they are back with their issuer
                self.held_at[self._side_between(b, c)] += x
            touched.update((a, b, c))
        net = self.net
        people = np.array(sorted(touched), np.int64)
        slots = np.concatenate([np.arange(net.indptr[p], net.indptr[p + 1]) for p in people.tolist()])
        holders = np.repeat(people, np.diff(net.indptr)[people])
        sides = self._side(net.edge[slots], holders)
        sides = sides[(sides >> 1) < int(self.estart[s + 1])]
        n = self.model.n
        if self.through_held:
            index.cap[2 * n + 2 * int(self.eu.size) + sides] = self._held_caps(sides)
        if not self.limits:
            return
        k = sides >> 1
        open_ = np.ones(sides.size, bool)
        if self.u_trusts is not None and self.v_trusts is not None:
            open_ = np.where(sides & 1, self.u_trusts[k], self.v_trusts[k])
        index.cap[n + sides] = self._side_caps(sides, s, open_)

    def _held_caps(self, sides: I64) -> I64:
        """What the holder of each side can pass on of the other's coins it holds (CI9): all of it,
        unless its key is lost (X9)."""
        assert self.held_at is not None
        held = self.held_at[sides]
        keys = self.model.keys
        if not keys.active:
            return held
        k = sides >> 1
        holder = np.where(sides & 1, self.eu[k], self.ev[k])
        return np.where(keys.locked[holder], 0, held)

    def _renew(self, s: int) -> None:
        """Trusts renewed this step (CI5, v2): those whose last period ended, made again at the first
        step that sees it expired, with no reward (a pair is rewarded once, CI7)."""
        assert self.expires is not None
        formed = int(self.estart[s + 1])
        ew = self.ew[:formed].astype(np.int64)
        renewed = np.flatnonzero((ew < s) & ((s - ew) % self.lasting == 0) & (self.expires[:formed] > s))
        self.renewals += int(renewed.size)
        m = self.model
        if m.trace is not None:
            for k in renewed.tolist():
                u_accepts = True if self.u_trusts is None else bool(self.u_trusts[k])
                v_accepts = True if self.v_trusts is None else bool(self.v_trusts[k])
                m.log("trust_renew", s, int(self.eu[k]), int(self.ev[k]), u_accepts, v_accepts)

    def _revoke(self, s: int) -> None:
        """Trusts revoked this step (CI6), after those made and renewed, before anything is paid:
        each trust formed by now is picked with chance ``trust_revoke_share``, by a keyed draw over
        the trusts' numbers (``draws.sample``: the same whatever the process layout), and revoked if
        still in force. Coins already held stay held (CI6): only what the trust carries ends."""
        assert self.expires is not None
        m = self.model
        formed = int(self.estart[s + 1])
        picked, _ = m.draws.sample(s, "trust_revoke", 0, formed, self.revoke_share)
        if m.trace is not None:
            live = picked[self.expires[picked] > s]
            for k in live.tolist():  # either party may sign (CI6): the first of the acquaintance here
                m.log("untrust", s, int(self.eu[k]), int(self.ev[k]))
        self.revoked += revoke(self.expires, picked, s)

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
            if self.through_held:  # CI9: edge 2n + 2E + j, the holder of side j -> its issuer's currency
                side = np.arange(2 * edges, dtype=np.int64)
                k = side >> 1
                holder = np.where(side & 1, self.eu[k], self.ev[k]).astype(np.int64)
                issuer = np.where(side & 1, self.ev[k], self.eu[k]).astype(np.int64)
                src, dst = np.concatenate([src[order], holder]), np.concatenate([dst[order], n + issuer])
                order = np.arange(src.size)
                cap = np.concatenate([cap, np.zeros(2 * edges, np.int64)])
            index = self.flow_index = FlowIndex.from_arrays(2 * n + 2 * edges, src[order], dst[order], cap)
        formed = int(self.estart[s + 1])  # edges are kept in formation order
        index.cap[n : n + 2 * formed] = INF
        index.cap[n + 2 * formed : n + 2 * edges] = 0
        if self.u_trusts is not None and self.v_trusts is not None:  # directed trust (CI5): one side may not accept
            index.cap[n : n + 2 * formed : 2][~self.v_trusts[:formed]] = 0
            index.cap[n + 1 : n + 2 * formed : 2][~self.u_trusts[:formed]] = 0
        if self.expires is not None or self.limits:  # CI5: expired trusts, trust limits
            sides = np.arange(2 * formed, dtype=np.int64)
            index.cap[n + sides] = self._side_caps(sides, s, index.cap[n + sides] > 0)
        index.cap[:n] = np.where(self.opened, self.view("own", slice(None)), 0)
        if m.keys.active:
            index.cap[:n][m.keys.locked] = 0  # X9: nobody passes on coins without their key
        if self.through_held:  # CI9: coins of others held, passed on as the engine's router does
            index.cap[2 * n + 2 * edges :] = self._held_caps(np.arange(2 * edges, dtype=np.int64))
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
            legs: list[Any] = [(int(leg.source), int(leg.target), leg.units) for leg in plan.legs]
            if self.through_held:  # CI9: a leg may pass on coins of another currency held
                legs = [(int(leg.source), int(leg.target), leg.units, int(leg.currency)) for leg in plan.legs]
            held = [leg for leg in legs if len(leg) == 4 and leg[3] != leg[0]]
            own_legs = [leg for leg in legs if len(leg) == 3 or leg[3] == leg[0]]
            src = np.array([leg[0] for leg in own_legs], np.int64)
            dst = np.array([leg[1] for leg in own_legs], np.int64)
            moved = np.array([leg[2] for leg in own_legs], np.int64)
            self._settle("own", src)
            add_into(self.own, src, moved, sign=-1)
            self._credit_foreign(src, dst, moved, minted=False)
            if held:
                self._pass_on_held(held)
            index.cap[src] = self.view("own", src)
            if self.held_at is not None:  # CI5 limits, CI9 coins held: holdings of each currency moved
                moves = [(leg[0], leg[1], leg[3] if len(leg) == 4 else leg[0], leg[2]) for leg in legs]
                self._after_plan(index, s, moves)
                back = np.array([leg[1] for leg in held if leg[1] == leg[3]], np.int64)  # back with their issuer
                index.cap[back] = self.view("own", back)
            self.flow_routed += 1
            self.flow_routed_step += 1
            self.flow_units += x
            self.routed += 1
            m.log("flow", s, a, b, x, plan.max_flow, tuple(legs))

    def _pass_on_held(self, legs: list[tuple[int, int, int, int]]) -> None:
        """Legs passing on coins of a third currency held (CI9): the source's holding of others'
        coins shrinks, the target's grows, or the issuer's own when they come back to it; nothing
        is minted or burned (no demurrage with this option)."""
        src = np.array([leg[0] for leg in legs], np.int64)
        dst = np.array([leg[1] for leg in legs], np.int64)
        moved = np.array([leg[2] for leg in legs], np.int64)
        issuer = np.array([leg[3] for leg in legs], np.int64)
        fake = ~self.model.verified[issuer]
        add_into(self.held_sybil, src[fake], moved[fake], sign=-1)
        add_into(self.held_honest, src[~fake], moved[~fake], sign=-1)
        back = dst == issuer
        add_into(self.own, dst[back], moved[back])
        gone = ~back
        if gone.any():
            self._credit_foreign(issuer[gone], dst[gone], moved[gone], minted=False)

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
        if self.model.honest_count == self.model.n:  # no fake accounts (CI14): every issuer is honest
            self._settle("held_honest", holder)
            add_into(self.held_honest, holder, units)
            if minted:
                self.supply_honest += int(units.sum())
            return
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
        if pol.trust_limits:
            out.append("trust limits (circles.trust_limits, CI5)")
        if pol.trust_expiry and scenario.parameters.get("trust_expiry_weeks", 0.0) > 0:
            out.append("trust expiry (circles.trust_expiry, parameters.trust_expiry_weeks, CI5)")
        if scenario.parameters.get("trust_revoke_share", 0.0) > 0:
            out.append("trust revocation (parameters.trust_revoke_share, CI6)")
        if scenario.parameters.get("routed_through_held", 0.0) > 0:
            out.append("routes through coins held (parameters.routed_through_held, CI9)")
        if scenario.parameters.get("group_trusts", 0.0) > 0:
            out.append("group-to-group exchange (parameters.group_trusts, CI12)")
        if scenario.parameters.get("group_pay_share", 0.0) > 0:
            out.append("paying with group money (parameters.group_pay_share, CI13)")
        if scenario.parameters.get("routed_sample", 0.0) > 0:
            out.append("routes by the max-flow router (parameters.routed_sample, CI9)")
        return out + cls.behaviour_refusals(scenario)

    def split_setup(self, where: list[int]) -> list[Any]:
        """At the coordinator: the network as ``setup`` draws it (one cohort, no fake accounts),
        with directed trust's draws and groups by region, and each partition's share: its persons'
        acquaintances (CSR rows, the other side's global number, the step each trust forms, whether
        it accepts the person's currency) and the trusts forming with one of them, in canonical
        order. The edges are freed once handed out."""
        m = self.model
        sc, rng, honest = m.scenario, m.rng, m.honest_count
        pol = m.policy.section(CirclesPolicy)
        m.shared[MONTHLY_INCOME] = pol.income_units * MONTH // pol.income_period
        self.cohorts = [Cohort(0, honest, 0)]
        places = m.places
        u64, v64, when = self._draw_network()  # as ``setup`` draws it
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
        # Directed trust (CI5), drawn as ``setup`` draws it: each edge's first truster and who
        # trusts back; each slot whether its acquaintance accepts the row's person's currency.
        self.directed = pol.trust_mode.value == "directed"
        self.back = np.zeros(0, bool)
        u_first = both = slot_accepts = np.ones(0, bool)
        if self.directed:
            u_first = rng.random(eu.size) < 0.5
            again = rng.random(eu.size) < m.p["trust_back_share"]
            u_trusts, v_trusts = u_first | again, ~u_first | again
            both = u_trusts & v_trusts
            slot_owner = np.repeat(np.arange(honest, dtype=np.int64), np.diff(full.indptr))
            edge = full.edge
            slot_accepts = np.where(eu[edge] == slot_owner, v_trusts[edge], u_trusts[edge])
            del again, u_trusts, v_trusts, slot_owner
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
            trust = None
            if self.directed:  # per edge touching us: its number, first truster, both; per slot: accepts
                trust = (touch, u_first[touch], both[touch], slot_accepts[a:z], self.estart)
            out.append((rows, eu[touch], ev[touch], starts, where, mine, trust))
        return out

    def part_setup(self, handoff: Any) -> None:
        m = self.model
        n = m.n
        self.net, self.eu, self.ev, self.estart, where, group, trust = handoff  # ``net``: a ``PartNet``
        self.directed = trust is not None
        if trust is not None:  # directed trust (CI5): see ``split_setup``
            self.touch, self.edge_u_first, self.both, self.slot_accepts, self.global_start = trust
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
        self.back = np.zeros(int(self.estart[s + 1] - self.estart[s]), bool)  # directed trusts back (CI7)
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
        if self.directed:  # rounds until the trusts back rewarded settle (``_trust_directed``)
            u_first, both = self.edge_u_first[lo:hi], self.both[lo:hi]
            at = self.touch[lo:hi] - int(self.global_start[s])  # the edge's place among the step's
            truster, trustee = np.where(u_first, u, v), np.where(u_first, v, u)
            owner = np.empty(2 * u.size, np.int64)  # occurrence 2i: the trustee's reserve pays the truster
            owner[0::2], owner[1::2] = trustee, truster  # 2i + 1: the truster's pays the trustee (if back)
            other = np.empty_like(owner)
            other[0::2], other[1::2] = truster, trustee
            ours_trustee = (trustee >= first) & (trustee < first + n)
            back = np.zeros(u.size, bool)
            while True:
                live = np.ones(owner.size, bool)
                live[1::2] = back
                occ, paid_all = self._rewards(owner, live, first, n)
                grown = both & (paid_all[0::2] == 0)
                settled = yield "trust", at[ours_trustee], grown[ours_trustee]
                if settled is None:
                    break
                back = settled[at]
            mine = live & (owner >= first) & (owner < first + n)
            occ, other, paid = owner[mine] - first, other[mine], paid_all[mine]
        else:
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
            if self.directed:  # CI5: the acquaintance accepts the payer's currency
                formed &= self.slot_accepts[slots]
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

    def _rewards(self, owner: I64, live: NDArray[np.bool_], first: int, n: int) -> tuple[I64, I64]:
        """What each live occurrence owned by one of our persons pays (CI7, as ``_trust_directed``:
        after the owner's earlier trusts and its live occurrences before it this step); 0 for the
        others. Returns (our live occurrences' owners, counted from ``first``; what every occurrence pays)."""
        ours = live & (owner >= first) & (owner < first + n)
        occ = owner[ours] - first
        order = np.argsort(occ, kind="stable")
        sorted_occ = occ[order]
        start = np.searchsorted(sorted_occ, sorted_occ, side="left")
        local = np.empty(occ.size, np.int64)
        local[order] = np.arange(occ.size) - start
        paid = np.zeros(owner.size, np.int64)
        paid[ours] = trustee_reward_after(self.reserve_open[occ], self.trusts[occ] + local)
        return occ, paid

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
        if self.directed:  # CI5: the intermediary accepts the payer's currency
            ok &= self.slot_accepts[slot]
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
        if self.directed:  # CI5: the receiver accepts the intermediary's currency
            ok &= self.slot_accepts[slot]
        return payers[ok], mids[ok], receivers[ok], units[ok], self.own[at[ok]]

    def split_round(self, s: int, t: int, asks: list[Any]) -> list[Any]:
        """At the coordinator, the rounds of routes (CI9): the asks sent on to the intermediaries'
        partitions; then, of all the routes, those whose intermediary carries no other route, pays
        no route itself and holds enough (``_routed``), each partition told its payers' and its
        intermediaries' part."""
        cut = self.where
        if isinstance(asks[0][0], str):  # directed trusts back (CI7): every edge's from its trustee's partition
            grown = np.zeros(self.back.size, bool)
            for _, at, flags in asks:
                grown[at] = flags
            if (grown == self.back).all():
                return [None] * len(asks)
            self.back = grown
            return [grown] * len(asks)
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
        row: Row = {
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
        row.update(self._trust_columns(s))
        return row

    def _trust_columns(self, s: int) -> Row:
        """Columns of trust limits, expiry (CI5) and revocation (CI6) and of group exchange (CI12),
        only where the run has them: a run without keeps its rows as they were."""
        out: Row = {}
        if self.limits:
            out["trust_limited_payments"] = self.limited_payments
            out["trust_limited_units"] = self.limited_units
        if self.group_pay_share > 0:
            out["group_payments"] = self.group_payments
            out["group_paid_units"] = self.group_paid_units
        if self.group_swapped is not None:
            out["group_trusts"] = int(self.group_pairs[0].size)
            out["group_exchanges"] = self.group_exchanges
            out["group_exchanged_units"] = self.group_exchanged_units
        if self.expires is not None:  # expired or revoked: each revoked trust was in force until then
            formed = int(self.estart[s + 1])
            ended = int((self.expires[:formed] <= s).sum())
            out["trusts_in_force"] = formed - ended
            if self.lasting:
                out["trusts_expired"] = ended - self.revoked
                out["trust_renewals"] = self.renewals
            if self.revoke_share > 0:
                out["trusts_revoked"] = self.revoked
        return out

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
