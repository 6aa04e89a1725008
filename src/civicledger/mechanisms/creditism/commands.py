"""Creditism commands (CR14): what councils, cooperatives and buyers ask the journal to record.

Quantities are text ("0.61", "3/4", "10000"); money is whole minor units (X3). Council commands
carry the council's account and need a quorum of its members (X6).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from civicledger.kernel.identity import AccountId
from civicledger.kernel.messages import OMITTED_AT_DEFAULT, Command, command
from civicledger.kernel.money import CurrencyId
from civicledger.mechanisms.creditism.values import AssetKind


@dataclass(frozen=True, slots=True)
class Factor:
    """CR2/CR3: one kind of impact of processing an asset, with its council weight.

    A resource factor uses optimal, current, per_unit and quantity (CR2); a good's factor uses
    impact (per unit), absorption (the rejuvenation of what absorbs it) and current (CR3).
    """

    name: str
    weight: str
    kind: str = "resource"  # "resource" (CR2) or "good" (CR3)
    optimal: str = "0"
    current: str = "0"
    per_unit: str = "0"
    quantity: str = "1"
    impact: str = "0"
    absorption: str = "0"


@command("creditism.define_asset")
@dataclass(frozen=True, slots=True)
class DefineAsset(Command):
    """CR1: a council describes a resource or a good: unit, yearly rates, costs per unit, inputs."""

    council: AccountId
    asset: str
    kind: AssetKind
    unit: str
    name: str = ""
    rejuvenation: str = "0"  # a year (renewable)
    mortality: str = "0"  # a year (renewable)
    extraction: str = "0"  # a year, as now observed
    total_supply: str = "0"
    age: str = "0"  # years since it formed (finite)
    labour: int = 0  # minor units per unit: extraction labour, or the reference production labour
    external: int = 0  # minor units per unit: transport and other indirect inputs (CR10)
    council_markup: str = "0"  # ratio of resources + labour (CR11)
    inputs: dict[str, str] = field(default_factory=dict)  # bill of materials: asset -> per unit


@command("creditism.assess_externality")
@dataclass(frozen=True, slots=True)
class AssessExternality(Command):
    """CR2-CR4: the council scores an asset's factors; E is their weighted mean."""

    council: AccountId
    asset: str
    factors: tuple[Factor, ...]


@command("creditism.survey")
@dataclass(frozen=True, slots=True)
class SurveyAsset(Command):
    """CR14: the council's survey of an asset's yearly demand (and, for a resource, its supply)."""

    council: AccountId
    asset: str
    demand: str
    total_supply: str | None = None


@command("creditism.set_allotment")
@dataclass(frozen=True, slots=True)
class SetAllotment(Command):
    """CR5-CR8: the council sets an asset's allotted rate: the rule's figure, or less (``amount``)."""

    council: AccountId
    asset: str
    amount: str | None = None


@command("creditism.apply")
@dataclass(frozen=True, slots=True)
class ApplyCoop(Command):
    """CR14: a cooperative applies to produce a good with its plan (signed by the coop)."""

    coop: AccountId
    application: str
    good: str
    labour: int  # minor units per unit
    external: int = 0
    markup: str = "0"  # the coop's markup, a ratio of BasePrice (CR11)
    inputs: dict[str, str] = field(default_factory=dict)  # empty: the good's bill of materials
    process: str = ""


@command("creditism.approve")
@dataclass(frozen=True, slots=True)
class ApproveCoop(Command):
    """CR14: the council approves an application with the coop's allotted production a year."""

    council: AccountId
    application: str
    allotted: str


@command("creditism.pre_order")
@dataclass(frozen=True, slots=True)
class PreOrder(Command):
    """CR14: a buyer pre-orders units, priced at the demand/supply ratio when placed.

    Under rules 2 each unit is priced at its own position in the queue (IN5) and the order is paid
    when placed, in ``currency`` (IN1: a ledger transfer from the buyer to the coop)."""

    buyer: AccountId
    application: str
    quantity: int
    currency: CurrencyId | None = field(default=None, metadata=OMITTED_AT_DEFAULT)  # rules 2: required


@command("creditism.crowdfund")
@dataclass(frozen=True, slots=True)
class Crowdfund(Command):
    """CR14: a backer funds an application; the units move to the coop in the same entry."""

    backer: AccountId
    application: str
    currency: CurrencyId
    units: int


@command("creditism.record_production")
@dataclass(frozen=True, slots=True)
class RecordProduction(Command):
    """CR8, CR13: a coop records units produced and sold, and the revenue; surplus becomes credits.

    Under rules 2 (IN1) a coop declares only what it produced: ``sold`` and ``revenue`` must be 0,
    and the units go to its paid pre-orders in queue order, whose payments make the credits."""

    coop: AccountId
    application: str
    produced: int
    sold: int
    revenue: int


@command("creditism.set_inputs")
@dataclass(frozen=True, slots=True)
class SetInputs(Command):
    """CR12: the council changes an asset's bill of materials (how cycles such as steel-machines form)."""

    council: AccountId
    asset: str
    inputs: dict[str, str]
