"""Creditism events: what the journal records, with every computed figure (ratios as "n/d")."""

from __future__ import annotations

from dataclasses import dataclass, field

from civicledger.kernel.identity import AccountId
from civicledger.kernel.messages import OMITTED_AT_DEFAULT, Event, event
from civicledger.kernel.money import CurrencyId
from civicledger.mechanisms.creditism.values import AssetKind


@event("creditism.asset_defined")
@dataclass(frozen=True, slots=True)
class AssetDefined(Event):
    council: AccountId
    asset: str
    kind: AssetKind
    unit: str
    name: str
    rejuvenation: str
    mortality: str
    extraction: str
    total_supply: str
    age: str
    labour: int
    external: int
    council_markup: str
    inputs: dict[str, str]


@dataclass(frozen=True, slots=True)
class FactorScore:
    name: str
    weight: str
    score: str  # EF, clamped as the rule says
    raw: str  # EF before clamping (CR2 shows -0.49 before it becomes 0)


@event("creditism.externality_assessed")
@dataclass(frozen=True, slots=True)
class ExternalityAssessed(Event):
    asset: str
    factors: tuple[FactorScore, ...]
    score: str  # E (CR4)


@event("creditism.surveyed")
@dataclass(frozen=True, slots=True)
class AssetSurveyed(Event):
    asset: str
    demand: str
    total_supply: str


@event("creditism.allotment_set")
@dataclass(frozen=True, slots=True)
class AllotmentSet(Event):
    asset: str
    allotted: str  # a year
    sustainable: str  # the rule's figure (CR5, CR6 or CR8); allotted <= sustainable
    capability: str | None  # goods: CR7
    limiting: str | None  # goods: the input that limits capability
    shares: dict[str, str]  # goods: this good's share of each input's allotment (CR7)


@event("creditism.applied")
@dataclass(frozen=True, slots=True)
class CoopApplied(Event):
    application: str
    coop: AccountId
    good: str
    labour: int
    external: int
    markup: str
    inputs: dict[str, str]
    process: str
    deadline: int | None = field(default=None, metadata=OMITTED_AT_DEFAULT)  # rules 2: lapses then (IN7)


@event("creditism.approved")
@dataclass(frozen=True, slots=True)
class CoopApproved(Event):
    application: str
    good: str
    allotted: str


@event("creditism.pre_ordered")
@dataclass(frozen=True, slots=True)
class PreOrdered(Event):
    application: str
    good: str
    buyer: AccountId
    quantity: int
    ratio: str  # demand / supply when placed, this order included
    unit_price: int  # minor units
    total: int


@event("creditism.pre_order_paid")
@dataclass(frozen=True, slots=True)
class PreOrderPaid(Event):
    """Rules 2 (IN1, IN5): a pre-order priced unit by unit and paid when placed."""

    application: str
    good: str
    buyer: AccountId
    order: str  # the pre-order's key, "application/seq"
    quantity: int
    first: int  # the position of its first unit in the coop's queue (1 = the first unit ever)
    price: str  # the coop's (BasePrice + CoopMarkup) when placed, exact; unit k costs price x k / allotted
    first_ratio: str  # demand / supply at its first unit
    ratio: str  # at its last unit (this order included)
    first_unit_price: int
    unit_price: int  # its last unit's price
    total: int  # the sum over every unit's own position, paid to the coop
    currency: CurrencyId


@event("creditism.crowdfunded")
@dataclass(frozen=True, slots=True)
class Crowdfunded(Event):
    application: str
    backer: AccountId
    currency: CurrencyId
    units: int


@event("creditism.production_recorded")
@dataclass(frozen=True, slots=True)
class ProductionRecorded(Event):
    application: str
    coop: AccountId
    good: str
    produced: int
    sold: int
    revenue: int
    base_price: int  # the coop's BasePrice per unit, minor units
    coop_credits: int  # CR13: surplus over BasePrice, less the workers' share
    worker_credits: int
    # Rules 2 (IN1): the paid pre-orders delivered, in queue order; sold and revenue are theirs.
    delivered: tuple[str, ...] = field(default=(), metadata=OMITTED_AT_DEFAULT)


@event("creditism.inputs_set")
@dataclass(frozen=True, slots=True)
class InputsSet(Event):
    asset: str
    inputs: dict[str, str]
