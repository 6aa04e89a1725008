"""Behaviours: what people do each step, as plain functions a researcher can replace.

A behaviour fills one *role* (``payments``, ``votes`` ...). It receives the model (read its
arrays, never write them), the run's generator, and the scenario's ``[parameters]``; the default
behaviours draw for persons from the run's keyed draws (``m.draws``, ``civicledger.sim.draws``, by
step and purpose, persons counted from ``m.first``), so a partitioned run draws what a single
process draws, and the generator only for the economy (companies, resources);
it returns what people *try* to do. The model then applies the rules, so a behaviour cannot break
them: a payment to someone who does not trust the payer is dropped (CI5), a vote by an unverified
account is not counted (X1), a spend is capped at what is available (SC2).

Register a new one with ``@behaviour("payments", "my_rule")`` in a module imported before the run
(``civic sim run --behaviours mymodule``) and name it in the scenario:
``[behaviours] payments = "my_rule"``. Unknown names are errors listed with their line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from civicledger.sim.draws import normal_of
from civicledger.sim.rules import distinct

if TYPE_CHECKING:  # pragma: no cover
    from civicledger.sim.model import Model

I64 = NDArray[np.int64]
Behaviour = Callable[..., Any]

ROLES: dict[str, str] = {
    "payments": "random_pairs",
    "routed_payments": "two_hops",
    "conversions": "share_of_balance",
    "participation": "bernoulli",
    "infractions": "bernoulli",
    "appeals": "bernoulli",
    "spending": "best_tier",
    "pledges": "bernoulli",
    "candidates": "second_chance",
    "votes": "noisy_opinions",
    "sales": "lognormal",
    "whistleblowing": "bernoulli",
    "demand": "per_capita",
    "pre_orders": "none",
    "coop_reports": "none",
}
"""Every role and its default behaviour."""

REGISTRY: dict[str, dict[str, Behaviour]] = {role: {} for role in ROLES}


def behaviour(role: str, name: str) -> Callable[[Behaviour], Behaviour]:
    """Register ``fn`` as behaviour ``name`` of ``role``."""
    if role not in REGISTRY:
        raise ValueError(f"no behaviour role {role!r}; roles are {', '.join(ROLES)}")

    def register(fn: Behaviour) -> Behaviour:
        REGISTRY[role][name] = fn
        return fn

    return register


def register_sector_behaviours() -> None:
    """Register the behaviours the installed mechanisms' sectors offer (``Sector.behaviours``)."""
    from civicledger.sim.sector import sectors

    for _, sector in sectors():
        for role, named in sector.behaviours.items():
            if role not in REGISTRY:
                raise ValueError(f"{sector.__name__} offers behaviours of an unknown role {role!r}")
            for name, fn in named.items():
                REGISTRY[role].setdefault(name, fn)


def lookup(role: str, name: str) -> Behaviour:
    if name not in REGISTRY[role]:
        register_sector_behaviours()
    return REGISTRY[role][name]


def _none(*_args: object) -> None:
    return None


for _role in ROLES:
    REGISTRY[_role]["none"] = _none

_EMPTY = np.zeros(0, np.int64)

AHEAD: dict[tuple[str, str], Callable[[Model, int], None]] = {}
"""(role, behaviour) -> what it will draw at a step, asked for ahead (``Model.draw_ahead``): the
same keyed call the behaviour makes, drawn on a worker thread while the other sectors step."""


def draw_share(m: Model, rng: np.random.Generator, rate: float, purpose: str = "") -> I64:
    """Verified persons drawn with probability ``rate`` each: a binomial count of uniform draws,
    duplicates dropped (so slightly fewer when the rate is high), in index order. The work follows
    the number drawn, not the population. With a ``purpose`` the draws are the run's keyed draws
    for it (``sim.draws``: the same in any process holding the persons), else from ``rng``."""
    if purpose:
        picked, _ = m.draws.sample(m.step_now, purpose, m.first, m.n, rate)
    else:
        picked = distinct(rng.integers(0, m.n, size=rng.binomial(m.n, rate), dtype=np.int64))
    out: I64 = picked[m.verified[picked]]
    return out


# Circles ------------------------------------------------------------------------------------


@behaviour("payments", "random_pairs")
def random_pairs(m: Model, rng: np.random.Generator, p: dict[str, float]) -> tuple[I64, I64, I64]:
    """A share of people each pay a fraction of their own coins to a random acquaintance (keyed
    draws, ``sim.draws``)."""
    u = m.draws.uniform(m.step_now, "payments", m.first, m.n, 2)
    payers = np.flatnonzero(u[:, 0] < p["pay_share"])
    deg = m.net.indptr[payers + 1] - m.net.indptr[payers]
    keep = deg > 0
    payers, deg = payers[keep], deg[keep]
    slot = m.net.indptr[payers] + (u[payers, 1] * deg).astype(np.int64)
    units = (m.own[payers] * p["pay_fraction"]).astype(np.int64)
    return payers, slot, units


def _random_pairs_ahead(m: Model, s: int) -> None:
    m.draws.uniform_ahead(s, "payments", m.first, m.n, 2)


AHEAD["payments", "random_pairs"] = _random_pairs_ahead


@behaviour("routed_payments", "two_hops")
def two_hops(m: Model, rng: np.random.Generator, p: dict[str, float]) -> tuple[I64, I64, I64, I64]:
    """A share of people pay a friend of a friend, through the friend (CI9): (payers, first CSR
    slot = the intermediary, second CSR slot = the receiver, units)."""
    payers, u = m.draws.sample(m.step_now, "routed_payments", m.first, m.n, p["route_share"], 2)
    deg = m.net.indptr[payers + 1] - m.net.indptr[payers]
    keep = deg > 0
    payers, deg, u = payers[keep], deg[keep], u[keep]
    first = m.net.indptr[payers] + (u[:, 0] * deg).astype(np.int64)
    middle = m.net.neighbours[first].astype(np.int64)
    deg2 = m.net.indptr[middle + 1] - m.net.indptr[middle]
    second = m.net.indptr[middle] + (u[:, 1] * deg2).astype(np.int64)
    units = (m.own[payers] * p["pay_fraction"]).astype(np.int64)
    return payers, first, second, units


def _two_hops_ahead(m: Model, s: int) -> None:
    m.draws.sample_ahead(s, "routed_payments", m.first, m.n, m.p["route_share"], 2)


AHEAD["routed_payments", "two_hops"] = _two_hops_ahead


@behaviour("conversions", "share_of_balance")
def share_of_balance(m: Model, rng: np.random.Generator, p: dict[str, float]) -> tuple[I64, I64]:
    """Some group members convert a fraction of their own coins into group money (CI11)."""
    drawn, _ = m.draws.sample(m.step_now, "conversions", m.first, m.n, p["convert_share"])
    members = drawn[m.group[drawn] >= 0]
    return members, (m.own[members] * p["convert_fraction"]).astype(np.int64)


def _share_of_balance_ahead(m: Model, s: int) -> None:
    m.draws.sample_ahead(s, "conversions", m.first, m.n, m.p["convert_share"])


AHEAD["conversions", "share_of_balance"] = _share_of_balance_ahead


# Social credits -----------------------------------------------------------------------------


@behaviour("participation", "bernoulli")
def participate(m: Model, rng: np.random.Generator, p: dict[str, float]) -> I64:
    """Each verified person takes part with probability ``participation_rate`` a step."""
    return draw_share(m, rng, p["participation_rate"], "participation")


@behaviour("participation", "farmers")
def farmers(m: Model, rng: np.random.Generator, p: dict[str, float]) -> I64:
    """IN2: the first ``farmer_share`` of the persons take part every step, to farm their grades."""
    who = _farmers(m, p)
    out: I64 = who[m.verified[who]]
    return out


def _farmers(m: Model, p: dict[str, float]) -> I64:
    """The farmers among ``m``'s persons (IN2): the first ``farmer_share`` of all the run's
    persons, counted from ``m.first`` (a partition holds a range of them)."""
    pop = m.scenario.population
    farmers = int((pop.persons + pop.sybils) * p["farmer_share"])
    return np.arange(max(0, min(m.n, farmers - m.first)), dtype=np.int64)


@behaviour("participation", "farmers_among_others")
def farmers_among_others(m: Model, rng: np.random.Generator, p: dict[str, float]) -> I64:
    """IN2 in a population that takes part: the first ``farmer_share`` of the persons take part
    every step, everyone else with probability ``participation_rate`` (as ``bernoulli``)."""
    others = draw_share(m, rng, p["participation_rate"], "participation")
    who = _farmers(m, p)
    out: I64 = np.union1d(who[m.verified[who]], others)
    return out


@behaviour("infractions", "bernoulli")
def infract(m: Model, rng: np.random.Generator, p: dict[str, float]) -> I64:
    return draw_share(m, rng, p["infraction_rate"], "infractions")


@behaviour("appeals", "bernoulli")
def appeal(m: Model, rng: np.random.Generator, p: dict[str, float], penalised: I64) -> NDArray[np.bool_]:
    """Which penalties are appealed and overturned (SC7): appeal_rate x appeal_success."""
    out: NDArray[np.bool_] = m.draws.at(m.step_now, "appeals", m.first + penalised)[:, 0] < (
        p["appeal_rate"] * p["appeal_success"]
    )
    return out


@behaviour("appeals", "draw_grinder")
def grind_appeals(m: Model, rng: np.random.Generator, p: dict[str, float], penalised: I64) -> NDArray[np.bool_]:
    """Appeals where a ``grind_share`` of appellants try to choose their panel (IN6).

    Under rule version 1 (``grind_rules`` = 1) a panel's seed is the tree root just before the
    appeal, known when it is signed: a grinder reads the panel of up to ``grind_tries`` moments (an
    entry such as opening a throwaway account moves the root) and files at one whose panel
    overturns, if any: each moment is an independent panel, overturning with ``appeal_success``.
    Under version 2 (the default) the seed is a tree head signed after the appeal, unknown when it
    is signed: every moment gives the same chance, so grinding gains nothing.
    """
    u = m.draws.at(m.step_now, "appeals", m.first + penalised, 3)
    appealed = u[:, 0] < p["appeal_rate"]
    grinds = u[:, 1] < p["grind_share"]
    tries = np.where(grinds & (p["grind_rules"] < 2), max(1, int(p["grind_tries"])), 1)
    success = 1.0 - (1.0 - p["appeal_success"]) ** tries
    out: NDArray[np.bool_] = appealed & (u[:, 2] < success)
    return out


@behaviour("spending", "best_tier")
def best_tier(m: Model, rng: np.random.Generator, p: dict[str, float]) -> tuple[I64, I64]:
    """A ``spend_rate`` share of verified persons buy the best tier their best grade reaches (SC10).

    Returns (persons, tier index into ``m.tiers``); the model refuses what the rules refuse (a tier
    whose grade their credits lack, SC10, or too few credits, SC2).
    """
    who = draw_share(m, rng, p["spend_rate"], "spending")
    if who.size == 0:
        return _EMPTY, _EMPTY
    t = m.genesis + m.step_now * m.scenario.step
    best = m.best_grade(who, t)
    mins = np.array([g for _, _, g in m.tiers], np.int64)
    tier = np.maximum(np.searchsorted(mins, best, side="right") - 1, 0).astype(np.int64)
    return who, tier


@behaviour("pledges", "bernoulli")
def pledge(m: Model, rng: np.random.Generator, p: dict[str, float]) -> I64:
    """A ``pledge_rate`` share of verified persons pledge ``pledge_quantity`` credits (SC9)."""
    return draw_share(m, rng, p["pledge_rate"], "pledges")


@behaviour("candidates", "second_chance")
def second_chance(m: Model, rng: np.random.Generator, p: dict[str, float]) -> I64:
    """A ``second_chance_rate`` share of persons apply for the one-time second chance (SC9); the
    model keeps those whose best grade is below the policy's threshold."""
    return draw_share(m, rng, p["second_chance_rate"], "candidates")


def _draw_share_ahead(rate: str, purpose: str) -> Callable[[Model, int], None]:
    """What ``draw_share(m, rng, p[rate], purpose)`` draws at a step, asked for ahead."""

    def ahead(m: Model, s: int) -> None:
        m.draws.sample_ahead(s, purpose, m.first, m.n, m.p[rate])

    return ahead


AHEAD["participation", "bernoulli"] = _draw_share_ahead("participation_rate", "participation")
AHEAD["participation", "farmers_among_others"] = _draw_share_ahead("participation_rate", "participation")
AHEAD["infractions", "bernoulli"] = _draw_share_ahead("infraction_rate", "infractions")
AHEAD["spending", "best_tier"] = _draw_share_ahead("spend_rate", "spending")
AHEAD["pledges", "bernoulli"] = _draw_share_ahead("pledge_rate", "pledges")
AHEAD["candidates", "second_chance"] = _draw_share_ahead("second_chance_rate", "candidates")


# Gears --------------------------------------------------------------------------------------


@behaviour("votes", "noisy_opinions")
def noisy_opinions(m: Model, rng: np.random.Generator, p: dict[str, float]) -> tuple[I64, I64, I64]:
    """A ``vote_rate`` share of people, drawn at random, consider a vote each step; those who are
    verified and hold no current vote judge a random company: its quality plus their noise."""
    drawn, u = m.draws.sample(m.step_now, "votes", m.first, m.n, p["vote_rate"], 2)
    mine = m.verified[drawn] & (m.vote_company[drawn] < 0)
    voters, u = drawn[mine], u[mine]
    if m.companies == 0 or voters.size == 0:
        return _EMPTY, _EMPTY, _EMPTY
    firms = np.minimum((u[:, 0] * m.companies).astype(np.int64), m.companies - 1)
    opinion = m.quality[firms] + p["opinion_noise"] * normal_of(u[:, 1])
    t = p["opinion_threshold"]
    values = np.where(opinion > t, 1, np.where(opinion < -t, -1, 0)).astype(np.int64)
    return voters, firms, values


def _noisy_opinions_ahead(m: Model, s: int) -> None:
    m.draws.sample_ahead(s, "votes", m.first, m.n, m.p["vote_rate"], 2)


AHEAD["votes", "noisy_opinions"] = _noisy_opinions_ahead


@behaviour("sales", "lognormal")
def lognormal_sales(m: Model, rng: np.random.Generator, p: dict[str, float]) -> I64:
    """Each company's sales this step (minor units): lognormal around ``sales_mean``."""
    sigma = p["sales_sigma"]
    draw = rng.lognormal(mean=-sigma * sigma / 2, sigma=sigma, size=m.companies)
    out: I64 = (draw * p["sales_mean"]).astype(np.int64)
    return out


@behaviour("whistleblowing", "bernoulli")
def whistle(m: Model, rng: np.random.Generator, p: dict[str, float]) -> tuple[I64, I64]:
    """Challenged companies and the verdicts (0 accurate, 1 misleading, 2 false): worse firms lie more."""
    firms = np.flatnonzero(rng.random(m.companies) < p["challenge_rate"])
    lie = 1.0 / (1.0 + np.exp(2.0 * m.quality[firms]))
    u = rng.random(firms.size)
    verdicts = np.where(u < lie / 2, 2, np.where(u < lie, 1, 0)).astype(np.int64)
    return firms, verdicts


# Creditism ----------------------------------------------------------------------------------


@behaviour("demand", "per_capita")
def per_capita(m: Model, rng: np.random.Generator, p: dict[str, float], years: float) -> I64:
    """Yearly demand of each resource: people x per-capita use, growing yearly, with 5% noise."""
    base = m.honest_count * p["demand_per_capita"] * (1.0 + p["demand_growth"]) ** years
    noise = 1.0 + 0.05 * rng.standard_normal(m.resources)
    out: I64 = np.maximum(0, base * m.resource_weight * noise).astype(np.int64)
    return out


PARAMETERS: dict[str, float] = {
    "pay_share": 0.3,
    "pay_fraction": 0.1,
    "route_share": 0.05,
    "trust_back_share": 1.0,  # CI5, directed trust only: acquaintances whose trust goes both ways
    "routed_sample": 0.0,  # CI9: routed payments a step paid by the engine's max-flow router (the rest: two hops)
    "routed_through_held": 0.0,  # CI9: 1, routes by max flow also pass on coins of other currencies held
    "trust_limit_percent": 100.0,  # CI5, policy trust_limits: a trust accepts up to this % of the truster's own
    "trust_expiry_weeks": 0.0,  # CI5, policy trust_expiry: weeks a trust lasts (0: trusts never expire)
    "trust_renew_share": 0.0,  # CI5, expiring trust: the chance a trust is made again at each expiry
    "trust_revoke_share": 0.0,  # CI6: the chance each trust in force is revoked in a step (0: none ever is)
    "convert_share": 0.05,
    "convert_fraction": 0.2,
    "group_trusts": 0.0,  # CI12: other groups each group trusts (0: no group exchange)
    "group_exchange_share": 0.0,  # CI12: members a step who swap their group's money for a trusting group's
    "group_exchange_fraction": 0.5,  # CI12: the share of their own group's money they swap
    "group_pay_share": 0.0,  # CI13: persons a step who pay an acquaintance of their group in its money (0: none)
    "group_pay_fraction": 0.2,  # CI13: the share of their own group's money they pay
    "participation_rate": 0.02,
    "infraction_rate": 0.002,
    "appeal_rate": 0.3,
    "appeal_success": 0.5,
    "grind_share": 0.5,  # IN6: appellants who try to choose their panel (behaviour appeals = "draw_grinder")
    "grind_tries": 5.0,  # moments a grinder reads before filing (one throwaway account each)
    "grind_rules": 2.0,  # the rule version in force: 1, the seed is known when filing; 2, it is not
    "spend_rate": 0.01,
    "tier_price": 100.0,  # credits per tier (every tier the same price: grades decide quality, SC10)
    "pledge_rate": 0.0005,
    "pledge_quantity": 100.0,
    "second_chance_rate": 0.001,
    "nomination_rate": 0.0,  # SC9: persons nominated by co-signers each step (0: no nominations)
    "council_nomination_rate": 0.0,  # SC9: persons nominated by a council's decision each step (0: none)
    "credit_slots": 8.0,  # credit adjustments remembered per person (SC4); more cost memory
    "grade_every": 0.0,  # steps between two rows carrying the grade table (0: every recorded row; the last always)
    "participation_caps": 0.0,  # 1: participation counts within the IN2 caps (rule version 2); 0: version 1
    "farmer_share": 0.0,  # persons who take part every step (participation behaviour "farmers", IN2)
    "vote_rate": 0.02,
    "opinion_noise": 0.5,
    "opinion_threshold": 0.3,
    "quality_sigma": 1.0,
    "sales_mean": 1_000_000.0,
    "sales_sigma": 1.0,
    "challenge_rate": 0.002,
    "publish_every": 1.0,  # steps between two publications of the coefficients (GR5)
    "fund_reserve": 1_000_000_000.0,
    "demand_per_capita": 1.0,
    "demand_growth": 0.02,
    "pre_order_share": 0.001,  # persons pre-ordering from the coop each step (CR14, IN5)
    "splitter_units": 20.0,  # units an order splitter buys a step, in orders of one (IN5)
    "revenue_inflation": 1_000.0,  # what a revenue inflator multiplies its revenue by (IN1)
    "key_loss_rate": 0.0,  # X9: the chance a year that a person loses their key (0: keys are never lost)
    "guardian_share": 0.0,  # X9: persons who named guardians, who recover a lost key's account
    "recovery_days": -1.0,  # X9: the guardians' waiting period in days; below 0: the policy's identity.recovery_wait
}
"""The behaviours' parameters and their defaults (``[parameters]`` in a scenario)."""

FRACTIONS = {k for k in PARAMETERS if k.endswith(("_share", "_fraction", "_rate", "_success"))}
"""Parameters that are probabilities or shares: between 0 and 1."""
