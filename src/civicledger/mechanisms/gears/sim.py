"""Gears in the simulator (GR1, GR4-GR7, X8): the sector and its vectorised rules.

Verified persons cast noisy votes that count for ``vote_term``; each cast earns the reward;
coefficients come from the domain's exact ``coefficients``; each company's sales of the step are
settled with ``adjustment`` against the Common Good Fund, which never goes below zero (what it
cannot pay waits, ``release_in_order``); challenged statements cost the domain's ``penalty``.
A cast vote is civic participation (X8): the sector reports it to the model as ``"gears_vote"``.

``annual_sales`` and ``deltas_float`` are the vectorised forms of GR1 and GR5, and
``settlement_adjustment`` the integer form of GR6's ``adjustment``, proven equal to the domain's
by ``tests/unit/test_sim_rules.py``.

With the policy's ``gears.mode = "deferred"`` (GR6; the default ``"immediate"`` is unchanged) a sale
pays the seller its price only and accrues the exact p x delta / 100 to the company in its period
(``policy.gears.period`` from the start); at the first step after a period ends the sector closes
it as the engine's ``ClosePeriod`` does: ``net_zero_period`` rescales the accruals to net exactly
zero, each charge is paid as far as the company holds units (``charge``, the rest owed to the fund
and withheld from its later sales, oldest debt first with its penalties, ``withhold``), each payout
is paid by the fund or waits in its queue. Companies are taken in the order of their names, the
engine in the order of their account ids: the two differ only where largest remainders tie.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
from numpy.typing import NDArray

from civicledger.kernel.policy import Policy
from civicledger.kernel.time import YEAR
from civicledger.mechanisms.gears import coefficient as gears
from civicledger.mechanisms.gears.coefficient import Tally
from civicledger.mechanisms.gears.policy import GearsPolicy, SettlementMode
from civicledger.mechanisms.gears.values import Verdict
from civicledger.sim.rules import add_up, repeats
from civicledger.sim.sector import Problem, Row, Sector

I64 = NDArray[np.int64]

VERDICTS = (Verdict.ACCURATE, Verdict.MISLEADING, Verdict.FALSE)


# Vectorised rules ------------------------------------------------------------------------------


def annual_sales(window_total: I64, age: I64, min_age: int) -> I64:
    """GR1: trailing-year sales, annualised pro rata for companies younger than a year."""
    young = age < YEAR
    scaled = window_total * YEAR // np.maximum(np.maximum(age, min_age), 1)
    return np.where(young, scaled, window_total)


def settlement_adjustment(price: int, numerator: int, denominator: int) -> int:
    """GR6's ``adjustment(price, numerator / denominator)`` in whole numbers: p x delta / 100
    rounded toward zero, without building a ``Fraction`` per sale (``denominator`` > 0)."""
    scaled = price * numerator
    whole = abs(scaled) // (denominator * 100)
    return whole if scaled >= 0 else -whole


def deltas_float(totals: I64, counts: I64, sales: I64, k: int, clamp: int = 0) -> NDArray[np.float64]:
    """GR5 in floating point, for distributions and plots only (never for money).

    Settlements use the domain's exact ``coefficients``; this form is what a plot of a hundred
    thousand companies needs, and a test holds it to the exact value within 1e-9.
    """
    voted = counts > 0
    means = np.where(voted, totals / np.maximum(counts, 1), 0.0)
    weight = float(sales[voted].sum())
    average = float((sales[voted] * means[voted]).sum() / weight) if weight else 0.0
    raw = np.where(voted, k * (means - average), 0.0)
    if clamp:
        largest = float(np.abs(raw).max()) if raw.size else 0.0
        if largest > clamp:
            raw = raw * (clamp / largest)
    return raw


# The sector -------------------------------------------------------------------------------------


class GearsSector(Sector):
    """Votes per person, tallies, sales, balances and debts per company, the Common Good Fund."""

    order = 300

    @classmethod
    def unmodelled(cls, policy: Policy) -> list[Problem]:
        return []

    def setup(self) -> None:
        m = self.model
        self.companies = m.scenario.population.companies
        if self.companies > np.iinfo(np.int32).max:
            raise OverflowError("more companies than an int32 vote record holds")
        self.setup_votes(self.companies, m.rng.normal(0.0, m.p["quality_sigma"], size=self.companies))
        self.sales_hist = np.zeros((m.scenario.steps, self.companies), np.int64)
        self.company_balance = np.zeros(self.companies, np.int64)
        self.company_debt = np.zeros(self.companies, np.int64)
        self.fund = int(m.p["fund_reserve"])
        self.pending: list[tuple[str, int]] = []
        self.fund_paid = self.fund_received = self.rewards_paid = 0
        self.penalties_charged = self.penalties_paid = 0
        # closing step -> (company, verdict, deadline)
        self.challenges: dict[int, list[tuple[int, int, int]]] = {}
        self.challenged: set[int] = set()
        self.deltas = np.zeros(self.companies)
        self.coefficients: gears.Coefficients | None = None
        self.exact_deltas: list[Fraction] = []
        self.settle_with: list[tuple[int, int]] = []  # each company's settled delta as (numerator, denominator)
        self.company_names = [f"c{i:06d}" for i in range(self.companies)]
        # GR6 deferred: period -> company -> exact accrued p x delta / 100; debts in order, each
        # (owed to the fund: a period's charge, or else a penalty, units owed)
        self.deferred = m.policy.section(GearsPolicy).mode is SettlementMode.DEFERRED
        self.accrued: dict[int, dict[int, Fraction]] = {}
        self.periods_closed = 0
        self.period_payouts = self.period_charges = 0
        self.debts: list[list[tuple[bool, int]]] = [[] for _ in range(self.companies)] if self.deferred else []

    def setup_votes(self, companies: int, quality: NDArray[np.float64]) -> None:
        """The persons' votes (GR4) and the companies' tallies: all a partition of a run holds of
        Gears (``sim.partition``), the companies' quality drawn once by the run."""
        n = self.model.n
        self.companies = companies
        self.quality = quality
        self.vote_company = np.full(n, -1, np.int32)  # companies are few (checked in ``setup``)
        self.vote_value = np.zeros(n, np.int8)  # -1, 0, +1 (GR4)
        self.tally_count = np.zeros(companies, np.int64)
        self.tally_total = np.zeros(companies, np.int64)
        self.cast_log: dict[int, I64] = {}
        self.casts = 0
        self.current_votes: int | None = None  # a split run's coordinator: the partitions' count

    # A run split over processes (``civicledger.sim.partition``): votes stay with the persons in
    # their partitions; the companies, the fund and every economy-wide draw at the coordinator.

    @classmethod
    def split_refusals(cls, scenario: Any) -> list[str]:
        name = scenario.behaviours.get("votes", "")
        return [] if name in ("noisy_opinions", "none") else [f"the votes behaviour {name!r}"]

    def split_setup(self, where: list[int]) -> list[Any]:
        """At the coordinator: ``setup`` (the companies' quality drawn in order), without votes."""
        self.setup()
        self.vote_company = np.zeros(0, np.int32)  # the persons' votes are the partitions'
        self.vote_value = np.zeros(0, np.int8)
        return [self.quality] * (len(where) - 1)

    def part_setup(self, handoff: Any) -> None:
        self.setup_votes(int(handoff.size), handoff)

    def part_step(self, s: int, t: int) -> tuple[list[tuple[I64, I64]] | None, Any]:
        """Our persons' votes (GR4, X8): the tallies' changes and the votes cast."""
        count, total = self.tally_count.copy(), self.tally_total.copy()
        casts = self._vote(s, t)
        return None, (self.tally_count - count, self.tally_total - total, casts)

    def split_step(self, s: int, t: int, heard: list[Any]) -> None:
        """The partitions' tallies added, the rewards paid (GR6), then the companies' step."""
        casts = 0
        for count, total, cast in heard:
            self.tally_count += count
            self.tally_total += total
            casts += cast
        self.casts += casts
        self._pay_from_fund("reward", self.model.policy.section(GearsPolicy).vote_reward * casts)
        self._companies_step(s, t)

    def part_record(self, s: int, t: int) -> Any:
        return self.votes_current()

    def split_record(self, s: int, t: int, parts: list[Any]) -> Row:
        self.current_votes = sum(parts)
        return self.record(s, t)

    def step(self, s: int, t: int) -> None:
        m = self.model
        pol = m.policy.section(GearsPolicy)
        casts = self._vote(s, t)
        m.draw_ahead("votes", s + 1)  # the next step's voters, drawn on a worker while the others step
        self._pay_from_fund("reward", pol.vote_reward * casts)
        self._companies_step(s, t)

    def _vote(self, s: int, t: int) -> int:
        """GR4: votes cast k steps ago expire, the step's votes are cast and tallied, and reported
        as civic participation (X8); returns the votes cast (each earns the reward)."""
        m = self.model
        pol = m.policy.section(GearsPolicy)
        # GR4: a vote counts from its cast for vote_term; the votes cast k steps ago expire now.
        k = -(-pol.vote_term // m.scenario.step)
        expired = self.cast_log.pop(s - k, None)
        if expired is not None and expired.size:
            firms_gone = self.vote_company[expired]
            self.tally_count -= np.bincount(firms_gone, minlength=self.companies)
            self.tally_total -= add_up(firms_gone, self.vote_value[expired], self.companies)
            self.vote_company[expired] = -1
        out = m.behave["votes"](m, m.rng, m.p)
        if out is not None:
            voters, firms, values = out
            ok = m.verified[voters] & (self.vote_company[voters] < 0)
            voters, firms, values = voters[ok], firms[ok], values[ok]
            if repeats(voters):
                raise ValueError("the votes behaviour returned a voter twice in one step (GR4: one current vote)")
            self.cast_log[s] = voters
            self.tally_count += np.bincount(firms, minlength=self.companies)
            self.tally_total += add_up(firms, values, self.companies)
            if values.size and (int(values.min()) < -1 or int(values.max()) > 1):
                raise ValueError("the votes behaviour returned a value other than -1, 0, +1 (GR4)")
            self.vote_company[voters] = firms
            self.vote_value[voters] = values
            self.casts += int(voters.size)
            # X8: a cast vote is civic participation (for social credits: the decay clock, SC8, and
            # the effect the credits policy gives the kind "gears_vote").
            m.participated("gears_vote", voters, t)
            if m.trace is not None:
                for a, c, x in zip(voters.tolist(), firms.tolist(), values.tolist(), strict=True):
                    m.log("vote", s, a, c, x)
            return int(voters.size)
        return 0

    def votes_current(self) -> int:
        """Persons holding a current vote (GR4; at a split run's coordinator, the partitions')."""
        if self.current_votes is not None:
            return self.current_votes
        return int((self.vote_company >= 0).sum())

    def _companies_step(self, s: int, t: int) -> None:
        """The companies' part of a step: coefficients (GR5), challenges closing (GR7), sales
        settled (GR6), new challenges."""
        m = self.model
        pol = m.policy.section(GearsPolicy)
        if not self.companies:
            return
        counts, totals = self.tally_count, self.tally_total
        annual = self.annual_sales(s, t)
        names = self.company_names
        if self.coefficients is None or s % max(1, int(m.p["publish_every"])) == 0:
            # The fund publishes the coefficients (GR5); sales settle with the last published.
            tallies = {names[i]: Tally(int(totals[i]), int(counts[i])) for i in np.flatnonzero(counts)}
            sales = {names[i]: int(annual[i]) for i in range(self.companies)}
            co = gears.coefficients(tallies, sales, pol.k, pol.clamp)
            self.coefficients = co  # its imbalance (an exact sum over every company) is read when recorded
            self.exact_deltas = [co.companies[name].delta for name in names]
            settled = [gears.effective_delta(d, pol.early_stage_waiver) for d in self.exact_deltas]
            self.settle_with = [(d.numerator, d.denominator) for d in settled]  # GR6, GR9
            self.deltas = np.array([float(d) for d in self.exact_deltas])
            self.voted = counts > 0
        settle_with = self.settle_with
        if self.deferred:
            self._close_periods(s, t)
        # GR7: challenges whose judging window has passed close now, before the step's sales; the
        # penalty is on G_i at the last instant of judging (IN7: as the engine decides from rule
        # version 2), paid from what the company holds, the rest owed.
        for i, v, deadline in self.challenges.pop(s, []):
            self.challenged.discard(i)
            due = gears.penalty(int(self.sales_at(deadline - 1)[i]), VERDICTS[v])
            paid = min(due, int(self.company_balance[i]))
            self.company_balance[i] -= paid
            self.company_debt[i] += due - paid
            if self.deferred and due > paid:
                self.debts[i].append((False, due - paid))
            self.penalties_charged += due
            self.penalties_paid += paid
            m.log("challenge_closed", s, i, v, due, paid)
        sold = m.behave["sales"](m, m.rng, m.p)
        sold = np.zeros(self.companies, np.int64) if sold is None else np.maximum(sold, 0)
        self.sales_hist[s] = sold
        for i in np.flatnonzero(sold).tolist():
            price = int(sold[i])
            adj = 0 if self.deferred else settlement_adjustment(price, *settle_with[i])  # gears.adjustment, GR6
            self.company_balance[i] += price
            received = price
            if self.deferred:  # GR6: accrued exactly, settled when the period closes
                period = self.accrued.setdefault((t - m.genesis) // pol.period, {})
                numerator, denominator = settle_with[i]
                period[i] = period.get(i, Fraction(0)) + Fraction(price * numerator, denominator * 100)
            elif adj > 0:
                received += adj if self._pay_from_fund(str(i), adj) else 0
            elif adj < 0:
                self.company_balance[i] += adj
                self.fund += -adj
                self.fund_received += -adj
                received += adj
            # GR7: an unpaid penalty is withheld from what the company receives from later sales.
            if self.deferred:
                withheld = self._withhold(i, received)
            else:
                withheld = min(int(self.company_debt[i]), received)
                if withheld > 0:
                    self.company_balance[i] -= withheld
                    self.company_debt[i] -= withheld
                    self.penalties_paid += withheld
            m.log("sale", s, i, price, adj, withheld)
        self._release()
        out2 = m.behave["whistleblowing"](m, m.rng, m.p)
        if out2 is not None:
            firms, verdicts = out2
            close = s + max(1, -(-pol.challenge_window // m.scenario.step))
            for i, v in zip(firms.tolist(), verdicts.tolist(), strict=True):
                if i in self.challenged:
                    continue  # GR7: a statement under challenge is not challenged again
                self.challenged.add(i)
                self.challenges.setdefault(close, []).append((i, v, t + pol.challenge_window))
                m.log("challenge", s, i, v)

    def _close_periods(self, s: int, t: int) -> None:
        """GR6 deferred: every period ended by ``t`` closes, netting exactly zero (``ClosePeriod``)."""
        m = self.model
        length = m.policy.section(GearsPolicy).period
        while m.genesis + (self.periods_closed + 1) * length <= t:
            period = self.periods_closed
            accrued = self.accrued.pop(period, {})
            names = self.company_names
            payouts, charges = gears.net_zero_period({names[i]: a for i, a in accrued.items()})
            index = {name: i for i, name in enumerate(names)}
            for name, units in charges.items():
                i = index[name]
                owed = gears.charge(units, int(self.company_balance[i]))
                self.company_balance[i] -= owed.paid
                self.fund += owed.paid
                self.fund_received += owed.paid
                if owed.owed:
                    self.company_debt[i] += owed.owed
                    self.debts[i].append((True, owed.owed))
                self.period_charges += units
            for name, units in payouts.items():
                self._pay_from_fund(str(index[name]), units)
                self.period_payouts += units
            self._release()
            self.periods_closed += 1
            m.log("close_period", s, period, payouts, charges)

    def _withhold(self, i: int, received: int) -> int:
        """GR6, GR7 deferred: company ``i``'s debts withheld oldest first from what it ``received``
        (``withhold``): a period's charge goes to the fund, a penalty as in immediate mode."""
        debts = self.debts[i]
        taken = gears.withhold([(str(k), units) for k, (_, units) in enumerate(debts)], received)
        total = 0
        for w in taken:
            k = int(w.key)
            to_fund = debts[k][0]
            debts[k] = (to_fund, w.remaining)
            total += w.units
            if to_fund:
                self.fund += w.units
                self.fund_received += w.units
            else:
                self.penalties_paid += w.units
        self.debts[i] = [d for d in debts if d[1] > 0]
        self.company_balance[i] -= total
        self.company_debt[i] -= total
        return total

    def annual_sales(self, s: int, t: int) -> I64:
        """G_i at t (GR1) from the sales of earlier steps within the trailing year (t - YEAR, t]."""
        m = self.model
        times = m.genesis + np.arange(s) * m.scenario.step
        window = times > t - YEAR
        total = self.sales_hist[:s][window].sum(axis=0) if s else np.zeros(self.companies, np.int64)
        age = np.full(self.companies, t - m.genesis, np.int64)
        return annual_sales(total.astype(np.int64), age, m.policy.section(GearsPolicy).annualise_min_age)

    def sales_at(self, at: int) -> I64:
        """G_i at any instant ``at`` (GR1) from the sales of the steps at or before it, in (at - YEAR, at]."""
        m = self.model
        done = len(self.sales_hist)
        times = m.genesis + np.arange(done) * m.scenario.step
        window = (times > at - YEAR) & (times <= at)
        total = self.sales_hist[:done][window].sum(axis=0) if done else np.zeros(self.companies, np.int64)
        age = np.full(self.companies, at - m.genesis, np.int64)
        return annual_sales(total.astype(np.int64), age, m.policy.section(GearsPolicy).annualise_min_age)

    def _pay_from_fund(self, key: str, units: int) -> bool:
        """Pay now if nothing waits and the fund covers it (True), else queue it (GR6)."""
        if units <= 0:
            return False
        if gears.fund_pays_now(self.fund, len(self.pending), units):  # the engine's decision, GR6
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

    def record(self, s: int, t: int) -> Row:
        voted = self.deltas[self.voted] if self.companies and hasattr(self, "voted") else np.zeros(0)
        q = np.quantile(voted, [0.0, 0.1, 0.5, 0.9, 1.0]) if voted.size else np.zeros(5)
        pending = sum(u for _, u in self.pending)
        return {
            "companies_voted": int(voted.size),
            "votes_current": self.votes_current(),
            "votes_cast": self.casts,
            "delta_min": float(q[0]),
            "delta_p10": float(q[1]),
            "delta_median": float(q[2]),
            "delta_p90": float(q[3]),
            "delta_max": float(q[4]),
            "coefficient_imbalance": float(self.coefficients.imbalance()) if self.coefficients else 0.0,
            "fund_balance": self.fund,
            "fund_pending": pending,
            "fund_paid": self.fund_paid,
            "fund_received": self.fund_received,
            "vote_rewards_paid": self.rewards_paid,
            "solvency_drift": self.fund_paid + pending - self.fund_received + self.rewards_paid,
            "penalties_charged": self.penalties_charged,
            "penalties_unpaid": int(self.company_debt.sum()) - self._charges_unpaid(),
            **self._deferred_columns(),
        }

    def _charges_unpaid(self) -> int:
        return sum(units for debts in self.debts for to_fund, units in debts if to_fund)

    def _deferred_columns(self) -> Row:
        """GR6 deferred: periods closed, what they paid out and charged (both the same: each nets
        zero), and charges still owed; none in immediate mode."""
        if not self.deferred:
            return {}
        return {
            "periods_closed": self.periods_closed,
            "period_payouts": self.period_payouts,
            "period_charges": self.period_charges,
            "period_charges_unpaid": self._charges_unpaid(),
        }
