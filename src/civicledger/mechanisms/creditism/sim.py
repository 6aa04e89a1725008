"""Creditism in the simulator (CR2, CR5, CR7-CR12): the sector.

A synthetic economy of renewable resources and one good drawing on all of them, with the
domain's exact formulas per resource and the domain's chain solver for prices. The externality
fee's base is the policy's, or a month of the basic income another sector offers
(``sim.sector.MONTHLY_INCOME``, X8, CR10), or 0 without one, as in the engine.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from numpy.typing import NDArray

from civicledger.kernel.time import YEAR
from civicledger.mechanisms.creditism import rules as cr
from civicledger.mechanisms.creditism.chain import Node, solve_chain
from civicledger.mechanisms.creditism.policy import CreditismPolicy
from civicledger.sim.sector import MONTHLY_INCOME, Row, Sector

I64 = NDArray[np.int64]

GOOD_LABOUR = 50_000  # the synthetic good's labour per unit (minor units)
GOOD_MARKUP = Fraction(1, 10)  # its council markup (CR11)
GOOD_SCORE = Fraction(1, 10)  # its E (CR3-CR4)


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
            headroom = int(self.rejuvenation[r] - self.mortality[r])
            # The resource's state recovers with unused regrowth and suffers from over-extraction.
            change = (headroom - int(actual)) * m.scenario.step // YEAR // 10
            self.state[r] = min(int(self.optimal[r]) * 2, max(0, int(self.state[r]) + change))

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

    def record(self, s: int, t: int) -> Row:
        row: Row = {f"allowance_r{r}": float(self.ratings[r]) for r in range(self.resources)}
        row["allowance_max"] = float(self.ratings.max()) if self.resources else 0.0
        row["price_good"] = self.price
        return row
