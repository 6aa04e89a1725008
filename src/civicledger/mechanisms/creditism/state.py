"""Creditism state: the record types of its four namespaces, and the reads handlers share.

- ``creditism.asset``     one ``AssetRecord`` per asset: definition, factors and score, survey,
  allotment, pre-ordered units (CR1-CR9, CR14);
- ``creditism.coop``      one ``ApplicationRecord`` per coop application: the plan, its status and
  allotment, pre-orders, crowdfunding, production and credits (CR13, CR14);
- ``creditism.preorder``  one ``PreOrderRecord`` per pre-order, keyed ``application/seq`` (CR14);
- ``creditism.credits``   one ``CreditsRecord`` per coop: its coop credits and its workers' (CR13).

Exact quantities are stored as the text ``values.encode`` writes ("3/4"), money as minor units.
Each record encodes to exactly the JSON its namespace always held: fields a record gains only
later (``surveyed_at``, ``approved_at``, ``base_price`` ...) are left out until set.

The records are read here into the pure model the rules decide on: the chain's rows (``Node``,
CR10-CR12) and each asset's figures (``rules.AssetFigures``, CR5-CR9).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from civicledger.kernel.errors import NotFoundError
from civicledger.kernel.identity import AccountId
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.ports import UnitOfWork
from civicledger.kernel.records import Namespace, omitted_when_default
from civicledger.mechanisms.creditism import rules
from civicledger.mechanisms.creditism.chain import Node, blend
from civicledger.mechanisms.creditism.events import FactorScore
from civicledger.mechanisms.creditism.values import AssetKind, decode

ZERO = Fraction(0)

ApplicationStatus = Literal["applied", "approved"]


@dataclass(frozen=True, slots=True)
class AssetRecord:
    """An asset as the council defined, scored, surveyed and allotted it."""

    asset: str
    council: AccountId
    kind: AssetKind
    unit: str
    name: str
    rejuvenation: str  # units a year (renewable, CR5)
    mortality: str
    extraction: str
    total_supply: str  # units (finite, CR6; surveyed)
    age: str  # years since it formed (finite, CR6)
    labour: int  # minor units per unit (CR10, CR11)
    external: int
    council_markup: str  # CR11
    inputs: dict[str, str]  # units of each input per unit (CR7, CR12)
    score: str  # E (CR4)
    factors: tuple[FactorScore, ...]
    demand: str  # surveyed, units a year (CR9, CR14)
    allotted: str | None  # units a year (CR5-CR8); None until the council allots
    sustainable: str | None  # the rule's figure when last allotted
    capability: str | None  # goods: CR7
    limiting: str | None  # goods: the input that limits capability
    shares: dict[str, str]  # goods: this good's share of each input's allotment (CR7)
    preordered: int  # units pre-ordered from every coop making it (CR14)
    defined_at: int
    surveyed_at: int | None = omitted_when_default()
    allotted_at: int | None = omitted_when_default()

    @property
    def allotment(self) -> Fraction | None:
        """The allotted rate a year, or None before the council has set one."""
        return None if self.allotted is None else decode(self.allotted)

    @property
    def demand_rate(self) -> Fraction:
        """The demand the rules use: the survey, or the pre-orders when they exceed it (CR14)."""
        return rules.effective_demand(decode(self.demand), self.preordered)

    @property
    def input_rates(self) -> dict[str, Fraction]:
        return {k: decode(v) for k, v in self.inputs.items()}


@dataclass(frozen=True, slots=True)
class ApplicationRecord:
    """A cooperative's application to produce a good: its plan, then what it did (CR13, CR14)."""

    application: str
    coop: AccountId
    good: str
    labour: int  # minor units per unit
    external: int
    markup: str  # the coop markup, a ratio of BasePrice (CR11)
    inputs: dict[str, str]
    process: str
    status: ApplicationStatus
    allotted: str | None  # production a year, set on approval
    preordered: int
    preorder_value: int  # minor units
    crowdfunded: dict[CurrencyId, int]
    produced: int
    sold: int
    revenue: int  # minor units
    coop_credits: int
    worker_credits: int
    applied_at: int
    approved_at: int | None = omitted_when_default()
    base_price: int | None = omitted_when_default()  # the BasePrice of its last recorded production
    deadline: int | None = omitted_when_default()  # rules 2: not approved by then, it lapses (IN7)

    @property
    def allotment(self) -> Fraction:
        """The allotted production a year (0 until approved)."""
        return ZERO if self.allotted is None else decode(self.allotted)

    @property
    def input_rates(self) -> dict[str, Fraction]:
        return {k: decode(v) for k, v in self.inputs.items()}


@dataclass(frozen=True, slots=True)
class PreOrderRecord:
    """One pre-order, priced at the demand/supply ratio when it was placed (CR14)."""

    application: str
    good: str
    buyer: AccountId
    quantity: int
    ratio: str
    unit_price: int  # minor units
    total: int
    at: int
    seq: int
    currency: CurrencyId | None = omitted_when_default()  # rules 2: paid when placed (IN1)
    first_unit_price: int | None = omitted_when_default()  # rules 2: unit_price is its last unit's (IN5)
    delivered_at: int | None = omitted_when_default()  # rules 2: delivered by recorded production (IN1)
    first: int | None = omitted_when_default()  # rules 2: its first unit's position in the queue (IN5)
    price: str | None = omitted_when_default()  # rules 2: (BasePrice + CoopMarkup) when placed (IN5)


@dataclass(frozen=True, slots=True)
class CreditsRecord:
    """A coop's credits: its share of the surplus over BasePrice, and its workers' (CR13)."""

    coop: AccountId
    coop_credits: int
    worker_credits: int


ASSETS = Namespace("creditism.asset", AssetRecord)
APPLICATIONS = Namespace("creditism.coop", ApplicationRecord)
PREORDERS = Namespace("creditism.preorder", PreOrderRecord)
CREDITS = Namespace("creditism.credits", CreditsRecord)

Assets = dict[str, AssetRecord]
Applications = dict[str, ApplicationRecord]


def load(uow: UnitOfWork) -> tuple[Assets, Applications]:
    """Every asset and every application, by name."""
    return dict(ASSETS.scan(uow)), dict(APPLICATIONS.scan(uow))


def require_asset(assets: Mapping[str, AssetRecord], name: str, rule: str = "CR1") -> AssetRecord:
    found = assets.get(name)
    if found is None:
        raise NotFoundError(f"no asset {name}", rule=rule)
    return found


def require_application(uow: UnitOfWork, application: str) -> ApplicationRecord:
    found = APPLICATIONS.get(uow, application)
    if found is None:
        raise NotFoundError(f"no coop application {application}", rule="CR14")
    return found


def deadline_of(application: ApplicationRecord, waits: int) -> int:
    """IN7: when an application not yet approved lapses: its recorded deadline, or (one written
    before rules 2) ``waits`` seconds after it was made."""
    return application.deadline if application.deadline is not None else application.applied_at + waits


def lapsed(application: ApplicationRecord, time: int, waits: int) -> bool:
    """IN7: an application still waiting for approval at its deadline has lapsed (read lazily, at
    the time of each entry that asks: nothing needs to be sent for it to lapse)."""
    return application.status == "applied" and time >= deadline_of(application, waits)


def open_orders(uow: UnitOfWork, application: str) -> list[tuple[str, PreOrderRecord]]:
    """IN1: an application's paid pre-orders not yet delivered, in queue order."""
    found = PREORDERS.scan(uow, f"{application}/")
    return [(key, o) for key, o in found if o.currency is not None and o.delivered_at is None]


def approved_coops(applications: Mapping[str, ApplicationRecord], good: str) -> list[ApplicationRecord]:
    """The approved applications making ``good``, by application name."""
    found = (applications[name] for name in sorted(applications))
    return [c for c in found if c.good == good and c.status == "approved"]


def taken_by_coops(applications: Mapping[str, ApplicationRecord], good: str) -> Fraction:
    """CR8: the production a year already allotted to the approved coops making ``good``."""
    return sum((c.allotment for c in approved_coops(applications, good)), ZERO)


# The pure model -------------------------------------------------------------------------------


def _fee(asset: AssetRecord, fee_base: int) -> Fraction:
    return rules.externality_fee(decode(asset.score), fee_base)


def _scarcity(asset: AssetRecord) -> Fraction:
    return rules.scarcity(asset.demand_rate, asset.allotment or ZERO)


def coop_node(good: AssetRecord, coop: ApplicationRecord, fee_base: int) -> Node:
    """A coop's own row of the chain: its plan, at its good's fee, council markup and scarcity."""
    return Node(
        coop.application,
        labour=Fraction(coop.labour),
        external=Fraction(coop.external),
        fee=_fee(good, fee_base),
        council_markup=decode(good.council_markup),
        coop_markup=decode(coop.markup),
        scarcity=_scarcity(good),
        inputs=coop.input_rates,
    )


def asset_node(asset: AssetRecord, applications: Mapping[str, ApplicationRecord], fee_base: int) -> Node:
    """An asset's row of the chain: a good made by approved coops uses their plans, weighted by allotment."""
    makers = approved_coops(applications, asset.asset) if asset.kind == AssetKind.GOOD else []
    if makers:
        return blend(asset.asset, [(c.allotment, coop_node(asset, c, fee_base)) for c in makers])
    return Node(
        asset.asset,
        Fraction(asset.labour),
        Fraction(asset.external),
        _fee(asset, fee_base),
        decode(asset.council_markup),
        ZERO,
        _scarcity(asset),
        asset.input_rates,
    )


def nodes_of(
    assets: Mapping[str, AssetRecord], applications: Mapping[str, ApplicationRecord], fee_base: int
) -> list[Node]:
    """Every asset's row of the chain, by name (CR10-CR12)."""
    return [asset_node(assets[name], applications, fee_base) for name in sorted(assets)]


def figures_of(assets: Mapping[str, AssetRecord], nodes: list[Node]) -> dict[str, rules.AssetFigures]:
    """Each asset's figures for the allotment rules (CR5-CR9), its inputs as its row of the chain has them."""
    figures = {}
    for node in nodes:
        a = assets[node.name]
        figures[node.name] = rules.AssetFigures(
            kind=a.kind,
            score=decode(a.score),
            demand=a.demand_rate,
            allotted=a.allotment,
            inputs=node.inputs,
            rejuvenation=decode(a.rejuvenation),
            mortality=decode(a.mortality),
            total_supply=decode(a.total_supply),
            age=decode(a.age),
        )
    return figures
