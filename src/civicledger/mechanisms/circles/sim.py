"""Circles in the simulator (CI2-CI4, CI5, CI7-CI9, CI11, CI14): the sector and its vectorised rules.

Accounts open by *cohort* (everyone who joins in one step); a cohort shares one income clock, so
the exact ``rules.open_income`` / ``claimable`` run once per cohort and every member receives the
same whole units (a test proves that claiming every step mints what one claim would).
Acquaintances of the network become mutual trusts at their formation step, in a canonical order;
each trust credits each side half of the other's remaining trustee reserve
(``trustee_reward_after``). People pay acquaintances who trust them in their own currency (CI5,
CI8), pay a friend of a friend through the friend (CI9) and convert coins into group money (CI11).
Fake accounts (CI14) are the last ``sybils`` persons, unverified, joining as one cohort.

The sector offers the others a month of the basic income (``sim.sector.MONTHLY_INCOME``: the
externality fee's base, X8, CR10).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from civicledger.kernel.policy import Policy
from civicledger.kernel.time import MONTH, WEEK
from civicledger.mechanisms.circles import rules as circles
from civicledger.mechanisms.circles.policy import CirclesPolicy
from civicledger.sim.rules import GENERATORS, Network, add_up, build, canonical, gini
from civicledger.sim.sector import MONTHLY_INCOME, Problem, Row, Sector

I64 = NDArray[np.int64]

_MAX_SHIFT = 62


# Vectorised rules ------------------------------------------------------------------------------


def halved_reserve(reserve: I64, times: I64) -> I64:
    """The trustee reserve after ``times`` trusts (CI7): ceil(R / 2^times).

    The domain's ``trustee_reward`` pays floor(R/2) and keeps R - floor(R/2) = ceil(R/2);
    halving by ceiling twice is the ceiling of a quarter, so k trusts keep ceil(R / 2^k).
    """
    shift = np.minimum(times, _MAX_SHIFT).astype(np.int64)
    return -((-reserve) >> shift)


def trustee_reward_after(reserve: I64, earlier: I64) -> I64:
    """What one trust credits (CI7) when ``earlier`` trusts have already halved the reserve."""
    return halved_reserve(reserve, earlier) // 2


# The sector -------------------------------------------------------------------------------------


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

    @classmethod
    def unmodelled(cls, policy: Policy) -> list[Problem]:
        out: list[Problem] = []
        c = policy.section(CirclesPolicy)
        if c.trust_mode.value != "mutual" or c.trust_limits or c.trust_expiry:
            out.append((("policy", "circles", "trust_mode"), "the simulator models mutual trust only (CI5, the seed)"))
        if c.demurrage or c.claim_window:
            out.append((("policy", "circles", "demurrage"), "the simulator does not model demurrage or claim windows"))
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
        order = np.argsort(ew, kind="stable")  # by formation step, then as generated
        self.eu, self.ev, self.ew = eu[order], ev[order], ew[order]
        self.estart = np.searchsorted(self.ew, np.arange(sc.steps + 2), side="left")
        self.net: Network = build(n, self.eu.astype(np.int32), self.ev.astype(np.int32))
        self.trusts_sybil = np.zeros(n, bool)
        self.routed = 0

    def step(self, s: int, t: int) -> None:
        m = self.model
        pol = m.policy.section(CirclesPolicy)
        schedule = ((m.genesis, pol),)
        for c in self.cohorts:
            if c.step == s:
                c.state = circles.open_income(pol, m.genesis, t)
                self.opened[c.first : c.stop] = True
                self.reserve_open[c.first : c.stop] = c.state.reserve
                m.log("open", s, c.first, c.stop)
                if pol.signup_units:
                    self._mint(c, pol.signup_units)
            if c.state is not None:
                units, c.state = circles.claimable(c.state, t, m.genesis, schedule)
                self._mint(c, units)
                m.log("claim", s, c.first, c.stop, units)
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
            units = np.minimum(units, self.own[payers])
            ok = formed & (units > 0) & self.opened[payers]
            payers, receivers, units = payers[ok], receivers[ok], units[ok]
            self.own -= add_up(payers, units, m.n)
            self._credit_foreign(payers, receivers, units, minted=False)
            if m.trace is not None:
                for a, b, x in zip(payers.tolist(), receivers.tolist(), units.tolist(), strict=True):
                    m.log("pay", s, a, b, x)
        self._routed(s)
        # Group money (CI11): own coins become group money 1:1, irreversibly.
        conv = m.behave["conversions"](m, m.rng, m.p)
        if conv is not None:
            members, units = conv
            units = np.minimum(units, self.own[members])
            ok = units > 0
            members, units = members[ok], units[ok]
            np.subtract.at(self.own, members, units)
            np.add.at(self.group_held, members, units)
            np.add.at(self.group_supply, self.group[members], units)
            if m.trace is not None:
                for a, x in zip(members.tolist(), units.tolist(), strict=True):
                    m.log("convert", s, a, int(self.group[a]), x)

    def _routed(self, s: int) -> None:
        """Payments to a friend of a friend through the friend (CI9), all steps or none.

        The payer's coins go to the intermediary, who trusts the payer; the intermediary's own
        coins go to the receiver, who trusts the intermediary; the intermediary ends with the same
        total. A route is dropped unless both trusts have formed and both hold enough; an
        intermediary carries at most one route a step and pays nothing else in it.
        """
        m = self.model
        out = m.behave["routed_payments"](m, m.rng, m.p)
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
        paying = np.zeros(m.n, bool)
        paying[payers] = True
        unique, counts = np.unique(mids, return_counts=True)
        once = np.zeros(m.n, bool)
        once[unique[counts == 1]] = True
        ok = once[mids] & ~paying[mids] & (self.own[mids] >= units)
        payers, mids, receivers, units = payers[ok], mids[ok], receivers[ok], units[ok]
        self.own -= add_up(payers, units, m.n)
        self._credit_foreign(payers, mids, units, minted=False)
        self.own -= add_up(mids, units, m.n)
        self._credit_foreign(mids, receivers, units, minted=False)
        self.routed += int(payers.size)
        if m.trace is not None:
            for a, b, c, x in zip(payers.tolist(), mids.tolist(), receivers.tolist(), units.tolist(), strict=True):
                m.log("route", s, a, b, c, x)

    def _mint(self, c: Cohort, units: int) -> None:
        self.own[c.first : c.stop] += units
        total = units * (c.stop - c.first)
        if c.first >= self.model.honest_count:
            self.supply_sybil += total
        else:
            self.supply_honest += total

    def _credit_foreign(self, issuer: I64, holder: I64, units: I64, *, minted: bool = True) -> None:
        n = self.model.n
        fake = ~self.model.verified[issuer]
        if fake.any():
            self.held_sybil += add_up(holder[fake], units[fake], n)
            self.held_honest += add_up(holder[~fake], units[~fake], n)
        else:
            self.held_honest += add_up(holder, units, n)
        if minted:
            self.supply_sybil += int(units[fake].sum())
            self.supply_honest += int(units[~fake].sum())

    def record(self, s: int, t: int) -> Row:
        honest = self.model.verified
        holdings = (self.own + self.held_honest + self.held_sybil + self.group_held)[honest]
        return {
            "accounts_open": int(self.opened.sum()),
            "trusts": int(self.estart[s + 1]),
            "routed_payments": self.routed,
            "supply_circles": self.supply_honest + self.supply_sybil,
            "supply_honest": self.supply_honest,
            "supply_sybil": self.supply_sybil,
            "supply_group": int(self.group_supply.sum()),
            "reserve_left": int(halved_reserve(self.reserve_open, self.trusts)[self.opened].sum()),
            "gini_holdings": gini(holdings),
            "mean_holdings": float(holdings.mean()) if holdings.size else 0.0,
        }

    def record_last(self, s: int, t: int) -> Row:
        """What fake accounts reached (CI14), at the end of the row."""
        honest = self.model.verified
        fake_held = self.held_sybil[honest]
        holders = fake_held > 0
        return {
            "sybil_units_at_honest": int(fake_held.sum()),
            "sybil_honest_holders": int(holders.sum()),
            "sybil_honest_trusters": int(self.trusts_sybil[honest].sum()),
            "sybil_reach_beyond_trusters": int((holders & ~self.trusts_sybil[honest]).sum()),
        }
