"""Creditism in the simulator (CR2, CR5, CR7-CR14, IN1, IN5): the sector.

A synthetic economy of renewable resources and one good drawing on all of them, with the
domain's exact formulas per resource and the domain's chain solver for prices. The externality
fee's base is the policy's, or a month of the basic income another sector offers
(``sim.sector.MONTHLY_INCOME``, X8, CR10), or 0 without one, as in the engine.

With a ``pre_orders`` behaviour other than ``"none"``, one coop makes the good at its BasePrice
plus ``COOP_MARKUP`` and sells it by pre-orders as rules 2 does: each unit at its own position in
the coop's queue (``rules.pre_order_total``, IN5), never beyond the good's allotted production
(CR8; the queue starts again each simulated year, one allotment period), paid when placed and
delivered at once; its credits are what buyers paid for each unit above BasePrice
(``rules.surplus_of_units``, IN1). Two attackers can be played:

- ``pre_orders = "order_splitter"``: besides honest buyers, one buyer takes ``splitter_units``
  units a step in orders of one, interleaved with the honest orders. ``splitter_gain`` is what one
  order of those units, placed at its first unit's position, would have cost minus what the
  splitter paid (never positive: splitting does not pay); ``splitter_gain_rules_1`` is the same
  under rules 1's pricing (an order at the ratio after its last unit), for comparison.
- ``coop_reports = "revenue_inflator"``: the coop declares ``revenue_inflation`` times what it was
  paid. ``inflator_gain`` is what that declaration earns it over the paid figure (0: rules 2 never
  reads a declared revenue); ``inflator_gain_rules_1`` what it would have earned under rules 1.

The columns are cumulative over the run and written only when a ``pre_orders`` behaviour runs.

Two options of ``[population]`` (both 0 by default: no draw is made and no column written):

- ``finite_resources``: the last that many resources are finite (CR6): a total supply and an age in
  years, allotted supply / age x (1 - E) (``rules.allotted_finite``); what is extracted (CR8: min of
  demand and allotment) leaves the supply, which the council's survey reports each step, so the
  allotment shrinks as the resource is used up. Columns ``finite_supply_r<i>``.
- ``coops``: that many cooperatives apply to make the good, each with its own labour per unit and
  markup (CR14). At the good's first allotment the council approves half of it, shared by weight
  (``rules.check_coop_allotment``); from then on the good is priced at their plans weighted by
  allotment (``chain.blend``, CR13) and a later allotment below what the coops hold is refused (CR8,
  ``rules.decide_allotment``: the allotment stays). Columns ``coops_approved``,
  ``good_allotments_refused`` and each coop's ``coop<i>_price`` and ``coop<i>_efficiency`` (CR9,
  CR13: the side-by-side comparison, ``chain.quote``).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np
from numpy.typing import NDArray

from civicledger.kernel.errors import RuleViolationError
from civicledger.kernel.time import YEAR
from civicledger.mechanisms.creditism import rules as cr
from civicledger.mechanisms.creditism.chain import Node, blend, quote, row_breakdown, solve_chain
from civicledger.mechanisms.creditism.policy import CreditismPolicy
from civicledger.sim.sector import MONTHLY_INCOME, Row, Sector, World

I64 = NDArray[np.int64]

GOOD_LABOUR = 50_000  # the synthetic good's labour per unit (minor units)
GOOD_MARKUP = Fraction(1, 10)  # its council markup (CR11)
GOOD_SCORE = Fraction(1, 10)  # its E (CR3-CR4)
COOP_MARKUP = Fraction(1, 20)  # the coop's markup over BasePrice (CR11) when pre-orders are simulated
COOPS_TAKE = Fraction(1, 2)  # the share of the good's first allotment approved to its coops (CR14)


class CreditismSector(Sector):
    """Renewable resources with rejuvenation, mortality and one factor each; one good."""

    order = 400

    def setup(self) -> None:
        m = self.model
        rng, pop = m.rng, m.scenario.population
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
        self.coop_sales = Sales()  # CR14, IN1, IN5: the coop's pre-orders, when a behaviour places them
        self.setup_finite(rng, pop.finite_resources, pop.persons)
        self.setup_coops(rng, pop.coops)

    def setup_finite(self, rng: np.random.Generator, finite: int, persons: int) -> None:
        """CR6: the last ``finite`` resources are finite: no regrowth, a total supply and an age."""
        r = self.resources
        self.finite = np.zeros(r, bool)
        self.supply = np.zeros(r, np.int64)  # total supply left (finite resources)
        self.age = np.zeros(r, np.int64)  # years since it formed
        if not finite:
            return
        at = slice(r - finite, r)
        self.finite[at] = True
        self.age[at] = rng.integers(20, 200, size=finite, dtype=np.int64)
        yearly = rng.integers(2_000, 30_000, size=finite, dtype=np.int64)
        self.supply[at] = yearly * self.age[at]
        self.rejuvenation[at] = 0
        self.mortality[at] = 0
        self.resource_weight[at] = rng.uniform(0.5, 1.5, size=finite) * yearly / max(persons, 1) / 2

    def setup_coops(self, rng: np.random.Generator, coops: int) -> None:
        """CR14: ``coops`` applications to make the good, each with its own plan."""
        self.coops = coops
        self.coop_allotted: list[Fraction] = []  # approved allotments a year, empty until approved
        self.coop_quotes: list[tuple[int, float]] = []  # each coop's price and efficiency (CR13)
        self.good_refused = 0  # allotments of the good refused: below what the coops hold (CR8)
        self.coop_labour = np.zeros(0, np.int64)
        self.coop_markup: list[Fraction] = []
        self.coop_weight = np.zeros(0, np.int64)
        if not coops:
            return
        self.coop_labour = (GOOD_LABOUR * rng.uniform(0.8, 1.2, size=coops)).astype(np.int64)
        self.coop_markup = [Fraction(int(k), 100) for k in rng.integers(0, 11, size=coops)]
        self.coop_weight = rng.integers(1, 5, size=coops, dtype=np.int64)

    def approve_coops(self, allotted: Fraction) -> None:
        """CR14: the council approves ``COOPS_TAKE`` of the good's allotment, shared by weight, in
        whole units a year (a coop whose share is under one unit is not approved)."""
        total = int(allotted * COOPS_TAKE)
        weights = int(self.coop_weight.sum())
        taken = Fraction(0)
        shares = []
        for w in self.coop_weight:
            share = Fraction(total * int(w) // weights)
            if share > 0:
                cr.check_coop_allotment("good", share, allotted, taken)
                taken += share
            shares.append(share)
        self.coop_allotted = shares

    def coop_node(self, i: int, fee: Fraction, scarcity: Fraction, inputs: dict[str, Fraction]) -> Node:
        """Coop ``i``'s own row of the chain: its plan at the good's fee, council markup and scarcity."""
        return Node(
            f"coop{i}",
            labour=Fraction(int(self.coop_labour[i])),
            fee=fee,
            council_markup=GOOD_MARKUP,
            coop_markup=self.coop_markup[i],
            scarcity=scarcity,
            inputs=inputs,
        )

    def step(self, s: int, t: int) -> None:
        if not self.resources:
            return
        m = self.model
        years = (t - m.genesis) / YEAR
        demand = m.behave["demand"](m, m.rng, m.p, years)
        if demand is None:
            demand = np.zeros(self.resources, np.int64)
        self.demand = demand.astype(np.int64)
        self.economy_step(self.demand)
        for r in range(self.resources):
            allot = self.allotted[f"r{r}"]
            actual = cr.actual_rate(Fraction(int(self.demand[r])), allot)
            if self.finite[r]:  # CR6: what is extracted leaves the supply for good
                taken = int(actual * m.scenario.step // YEAR)
                self.supply[r] = max(0, int(self.supply[r]) - taken)
            headroom = int(self.rejuvenation[r] - self.mortality[r])
            # The resource's state recovers with unused regrowth and suffers from over-extraction.
            change = (headroom - int(actual)) * m.scenario.step // YEAR // 10
            self.state[r] = min(int(self.optimal[r]) * 2, max(0, int(self.state[r]) + change))
        if self.coop_selling:
            self.sell_pre_orders(s, t)

    def economy_step(self, demand: I64) -> None:
        """CR2, CR5, CR7-CR12 for the synthetic economy at the resources' current state, exactly.

        Resource r (renewable) has one resource factor (its optimal and current state and its
        contribution per unit, weight 1), its rejuvenation and mortality, extraction labour and
        external costs per unit; the good draws one unit of each, needs ``GOOD_LABOUR`` of labour,
        has a council markup of 1/10 and E = 1/10, and its demand is the smallest resource demand.
        The same assets defined in the engine give the same allotments, ratings and prices (tested).
        """
        m = self.model
        pol = m.policy.section(CreditismPolicy)
        fee_base = pol.fee_base or int(m.shared.get(MONTHLY_INCOME, 0))
        nodes: list[Node] = []
        allotted: dict[str, Fraction] = {}
        for r in range(self.resources):
            name = f"r{r}"
            factor = cr.resource_factor(
                Fraction(int(self.optimal[r])), Fraction(int(self.state[r])), Fraction(int(self.per_unit[r]))
            )
            e = cr.externality_score([(Fraction(1), factor)], weights_sum_to_one=True)
            if self.finite[r]:
                allot = cr.allotted_finite(Fraction(int(self.supply[r])), Fraction(int(self.age[r])), e)
            else:
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
            name: cr.share_allotment(a, {"good": want_good * inputs[name]}, pol.allotment_sharing)["good"]
            for name, a in allotted.items()
        }
        capability, _ = cr.production_capability(shares, inputs)
        rate = cr.allotted_production(capability, GOOD_SCORE)
        taken = sum(self.coop_allotted, Fraction(0)) if self.coops else Fraction(0)
        try:
            allotted["good"] = cr.decide_allotment("good", "CR8", rate, None, taken)
        except RuleViolationError:  # CR8: below what approved coops hold; the allotment stays
            allotted["good"] = self.allotted["good"]
            self.good_refused += 1
        if self.coops and not self.coop_allotted and allotted["good"] > 0:
            self.approve_coops(allotted["good"])
        self.good_rating = cr.allowance_rating(want_good, allotted["good"])
        fee = cr.externality_fee(GOOD_SCORE, fee_base)
        scarce = cr.scarcity(want_good, allotted["good"])
        makers = [(a, self.coop_node(i, fee, scarce, inputs)) for i, a in enumerate(self.coop_allotted) if a > 0]
        if makers:  # CR13: the good priced at its coops' plans, weighted by allotment
            nodes.append(blend("good", makers))
        else:
            nodes.append(
                Node(
                    "good",
                    labour=Fraction(GOOD_LABOUR),
                    fee=fee,
                    council_markup=GOOD_MARKUP,
                    scarcity=scarce,
                    inputs=inputs,
                )
            )
        self.allotted = allotted
        self.chain = solve_chain(nodes)
        self.price = float(self.chain["good"].price)
        self.coop_quotes = []
        for i in range(self.coops):  # CR9, CR13: each coop's price at its own plan, side by side
            row = quote(
                row_breakdown(self.coop_node(i, fee, scarce, inputs), self.chain), Fraction(int(self.coop_labour[i]))
            )
            self.coop_quotes.append((row.price, math.inf if row.efficiency is None else float(row.efficiency)))

    # A run split over processes (``civicledger.sim.partition``): Creditism holds no persons and
    # runs at the coordinator, with its draws in the run's order.

    @classmethod
    def split_refusals(cls, scenario: Any) -> list[str]:
        return []

    def split_setup(self, where: list[int]) -> list[Any]:
        self.setup()
        return [None] * (len(where) - 1)

    def split_step(self, s: int, t: int, heard: list[Any]) -> None:
        self.step(s, t)

    def split_record(self, s: int, t: int, parts: list[Any]) -> Row:
        return self.record(s, t)

    def record(self, s: int, t: int) -> Row:
        row: Row = {f"allowance_r{r}": float(self.ratings[r]) for r in range(self.resources)}
        row["allowance_max"] = float(self.ratings.max()) if self.resources else 0.0
        row["price_good"] = self.price
        for r in np.flatnonzero(self.finite):
            row[f"finite_supply_r{r}"] = int(self.supply[r])
        if self.coops:
            row["coops_approved"] = sum(1 for a in self.coop_allotted if a > 0)
            row["good_allotments_refused"] = self.good_refused
            for i, (price, efficiency) in enumerate(self.coop_quotes):
                row[f"coop{i}_price"] = price
                row[f"coop{i}_efficiency"] = efficiency
        if self.coop_selling:
            row.update(self.coop_sales.columns())
        return row

    # Pre-orders (CR14, IN1, IN5) ---------------------------------------------------------------

    @property
    def coop_selling(self) -> bool:
        return bool(self.model.scenario.behaviours.get("pre_orders", "none") != "none")

    def sell_pre_orders(self, s: int, t: int) -> None:
        """One step of pre-orders of the good from its coop, paid, delivered and credited (rules 2)."""
        m = self.model
        sales = self.coop_sales
        year = int((t - m.genesis) // YEAR)
        if year != sales.year:
            sales.year, sales.queued = year, 0
        allotted = self.allotted.get("good", Fraction(0))
        if allotted <= 0:
            return
        orders = m.behave["pre_orders"](m, m.rng, m.p)
        if orders is None:
            return
        quantities, splitter = orders
        base = self.chain["good"].base
        paid = sales.place(base * (1 + COOP_MARKUP), allotted, cr.round_half_up(base), quantities, splitter)
        declared = m.behave["coop_reports"](m, m.rng, m.p, paid)
        sales.report(paid, declared, cr.round_half_up(base), m.policy.section(CreditismPolicy).workers)


class Sales:
    """The coop's pre-orders in the simulator, as rules 2 prices, takes and credits them."""

    def __init__(self) -> None:
        self.year = -1
        self.queued = 0  # units pre-ordered in this allotment period
        self.units = 0
        self.paid = 0
        self.refused = 0
        self.surplus = 0  # rules 2: paid above BasePrice, unit by unit
        self.units_step = 0
        self.splitter_paid = 0
        self.splitter_gain = 0
        self.splitter_gain_rules_1 = 0
        self.inflator_gain = 0
        self.inflator_gain_rules_1 = 0

    @staticmethod
    def prices(price: Fraction, allotted: Fraction, queued: int, quantities: list[int]) -> list[int]:
        """IN5: what each order costs, placed in a row after ``queued`` units (the engine's rule;
        an order beyond the allotment is refused, -1, and takes no place, CR8)."""
        out = []
        for q in quantities:
            if q <= 0 or queued + q > allotted:
                out.append(-1)
                continue
            out.append(cr.pre_order_total(price, allotted, queued, q))
            queued += q
        return out

    def place(
        self, price: Fraction, allotted: Fraction, base_units: int, quantities: list[int], splitter: list[bool]
    ) -> int:
        """Place the step's orders in sequence; return what was paid for them."""
        costs = self.prices(price, allotted, self.queued, quantities)
        paid = units = 0
        split_first: int | None = None
        split_units = split_paid = split_rules_1 = 0
        for q, cost, by_splitter in zip(quantities, costs, splitter, strict=True):
            if cost < 0:
                self.refused += 1
                continue
            first = self.queued + 1
            self.surplus += cr.surplus_of_units(price, allotted, first, q, base_units)
            if by_splitter:
                split_first = first if split_first is None else split_first
                split_units += q
                split_paid += cost
                split_rules_1 += cr.pre_order_price(price, Fraction(0), self.queued, q, allotted).total
            self.queued += q
            paid += cost
            units += q
        if split_first is not None:
            before = split_first - 1
            one = cr.pre_order_total(price, allotted, before, split_units)
            one_rules_1 = cr.pre_order_price(price, Fraction(0), before, split_units, allotted).total
            self.splitter_paid += split_paid
            self.splitter_gain += one - split_paid
            self.splitter_gain_rules_1 += one_rules_1 - split_rules_1
        self.units += units
        self.units_step = units
        self.paid += paid
        return paid

    def report(self, paid: int, declared: int | None, base_units: int, workers: Fraction) -> None:
        """IN1: a declared revenue earns nothing under rules 2; under rules 1 it was the surplus."""
        if declared is None or declared == paid:
            return
        honest = sum(cr.coop_surplus(paid, base_units, self.units_step, workers))
        inflated = sum(cr.coop_surplus(declared, base_units, self.units_step, workers))
        self.inflator_gain_rules_1 += inflated - honest
        # rules 2 credits come from self.surplus, which no declaration reaches: inflator_gain stays 0

    def columns(self) -> Row:
        return {
            "pre_ordered_units": self.units,
            "pre_orders_paid": self.paid,
            "pre_orders_refused": self.refused,
            "coop_surplus": self.surplus,
            "splitter_paid": self.splitter_paid,
            "splitter_gain": self.splitter_gain,
            "splitter_gain_rules_1": self.splitter_gain_rules_1,
            "inflator_gain": self.inflator_gain,
            "inflator_gain_rules_1": self.inflator_gain_rules_1,
        }


# Behaviours of the roles ``pre_orders`` and ``coop_reports`` (offered as ``CreditismSector.behaviours``)


def _honest(m: World, rng: np.random.Generator, p: dict[str, float]) -> list[int]:
    buyers = int(rng.binomial(m.honest_count, p["pre_order_share"]))
    return [int(q) for q in rng.integers(1, 4, size=buyers)]


def honest_pre_orders(m: World, rng: np.random.Generator, p: dict[str, float]) -> tuple[list[int], list[bool]]:
    """A ``pre_order_share`` of persons each pre-order 1 to 3 units."""
    quantities = _honest(m, rng, p)
    return quantities, [False] * len(quantities)


def order_splitter(m: World, rng: np.random.Generator, p: dict[str, float]) -> tuple[list[int], list[bool]]:
    """Honest buyers, and one buyer taking ``splitter_units`` units in orders of one, each slipped
    in at a random place among the honest orders (IN5)."""
    orders = [(q, False) for q in _honest(m, rng, p)]
    for _ in range(int(p["splitter_units"])):
        orders.insert(int(rng.integers(0, len(orders) + 1)), (1, True))
    return [q for q, _ in orders], [s for _, s in orders]


def revenue_inflator(m: World, rng: np.random.Generator, p: dict[str, float], paid: int) -> int:
    """The coop declares ``revenue_inflation`` times what its buyers paid (IN1)."""
    return int(paid * p["revenue_inflation"])


CreditismSector.behaviours = {
    "pre_orders": {"honest": honest_pre_orders, "order_splitter": order_splitter},
    "coop_reports": {"revenue_inflator": revenue_inflator},
}
