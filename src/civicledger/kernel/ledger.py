"""The multi-currency ledger (X3): currencies, their issuance rules, and atomic transfers.

Units appear only through a currency's issuer rule (``UnitsIssued``) and vanish only through an
explicit burn (``UnitsBurned``); a transfer moves units and never changes a currency's supply.
So, per currency, the sum of all balances equals issued minus burned after every entry.
No balance goes below zero: every debit is checked against a running balance, leg by leg.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from civicledger.kernel.errors import InsufficientFundsError, InvalidInputError, RuleViolationError
from civicledger.kernel.identity import AccountId
from civicledger.kernel.messages import Command, Event, command, event
from civicledger.kernel.money import CurrencyId, format_units, require_positive_units

MAX_UNITS = 2**63 - 1
"""The largest balance or supply a currency can reach; storage holds signed 64-bit integers."""

MAX_LEGS = 256

MAX_MEMO = 500
"""The most characters a memo (of a transfer, a routed payment or a sale) may hold."""

CIRCLES_SYMBOL = "CRC"
"""How amounts of a personal or group currency read (CI1, CI10): each is its account's, its id an account id."""

_SYMBOL_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


class CurrencyKind(StrEnum):
    ISSUED = "issued"  # issued by an organization, council or fund by explicit command
    PERSONAL = "personal"  # a Circles personal currency (CI1)
    GROUP = "group"  # a Circles group currency (CI10)


class IssuerRule(StrEnum):
    """How units of a currency may come into existence."""

    ISSUER_COMMAND = "ledger.issue"  # the issuer signs each issuance
    CIRCLES_INCOME = "circles.income"  # continuous basic income of the owner (CI2)
    CIRCLES_GROUP = "circles.group"  # conversion of members' personal coins (CI11)


@dataclass(frozen=True, slots=True)
class Currency:
    id: CurrencyId
    kind: CurrencyKind
    issuer: AccountId
    rule: IssuerRule
    decimals: int
    name: str
    issued: int = 0
    burned: int = 0

    @property
    def supply(self) -> int:
        return self.issued - self.burned

    @property
    def symbol(self) -> str:
        """What a person reads after an amount: an issued currency's own symbol ("xi"); a Circles
        personal or group currency, whose id is an account id, reads "CRC" as in Circles."""
        return self.id if self.kind is CurrencyKind.ISSUED else CIRCLES_SYMBOL

    def format(self, units: int) -> str:
        """``units`` in major units after this currency's symbol, e.g. "xi 12,000.00" (X3)."""
        return format_units(units, self.decimals, f"{self.symbol} ")


def parse_symbol(text: str) -> CurrencyId:
    if not isinstance(text, str) or not _SYMBOL_RE.match(text):
        raise InvalidInputError(
            f"{text!r} is not a currency symbol (lower-case letter, then up to 31 of a-z 0-9 _ -)", rule="X3"
        )
    return CurrencyId(text)


@dataclass(frozen=True, slots=True)
class Leg:
    """One movement of units inside an atomic transfer."""

    currency: CurrencyId
    source: AccountId
    target: AccountId
    units: int

    def __post_init__(self) -> None:
        require_positive_units(self.units, "a leg's amount")
        if self.units > MAX_UNITS:
            raise InvalidInputError(f"a leg's amount may not exceed {MAX_UNITS}", rule="X3")
        if self.source == self.target:
            raise InvalidInputError("a leg must move units between two different accounts", rule="X3")


# Commands -------------------------------------------------------------------------------------


@command("ledger.create_currency")
@dataclass(frozen=True, slots=True)
class CreateCurrency(Command):
    """Create an issued currency whose units only its issuer can create (signed by the issuer)."""

    symbol: str
    issuer: AccountId
    name: str
    decimals: int = 2


@command("ledger.issue")
@dataclass(frozen=True, slots=True)
class Issue(Command):
    currency: CurrencyId
    to: AccountId
    units: int


@command("ledger.burn")
@dataclass(frozen=True, slots=True)
class Burn(Command):
    currency: CurrencyId
    account: AccountId
    units: int


@command("ledger.transfer")
@dataclass(frozen=True, slots=True)
class Transfer(Command):
    """All legs or none; signed by every account a leg debits."""

    legs: tuple[Leg, ...]
    memo: str = ""


# Events ---------------------------------------------------------------------------------------


@event("ledger.currency_created")
@dataclass(frozen=True, slots=True)
class CurrencyCreated(Event):
    currency: CurrencyId
    kind: CurrencyKind
    issuer: AccountId
    rule: IssuerRule
    decimals: int
    name: str


@event("ledger.units_issued")
@dataclass(frozen=True, slots=True)
class UnitsIssued(Event):
    currency: CurrencyId
    account: AccountId
    units: int
    rule: IssuerRule


@event("ledger.units_burned")
@dataclass(frozen=True, slots=True)
class UnitsBurned(Event):
    currency: CurrencyId
    account: AccountId
    units: int


@event("ledger.units_transferred")
@dataclass(frozen=True, slots=True)
class UnitsTransferred(Event):
    currency: CurrencyId
    source: AccountId
    target: AccountId
    units: int


LedgerEvent = CurrencyCreated | UnitsIssued | UnitsBurned | UnitsTransferred

# Rules ----------------------------------------------------------------------------------------

BalanceKey = tuple[AccountId, CurrencyId]


def check_decimals(decimals: int) -> int:
    if not 0 <= decimals <= 18:
        raise InvalidInputError("a currency has between 0 and 18 decimals", rule="X3")
    return decimals


def check_memo(memo: str, rule: str) -> None:
    """Refuse a memo longer than ``MAX_MEMO`` characters, under the rule of the command that carries it."""
    if len(memo) > MAX_MEMO:
        raise InvalidInputError(f"a memo has at most {MAX_MEMO} characters", rule=rule)


def issue(currency: Currency, to: AccountId, units: int, rule: IssuerRule, holder_balance: int) -> UnitsIssued:
    """Create units through the currency's own issuer rule, and no other (X3)."""
    require_positive_units(units)
    if currency.rule is not rule:
        raise RuleViolationError(
            f"{currency.id} units come only from its rule {currency.rule.value}, not {rule.value}", rule="X3"
        )
    if currency.issued + units > MAX_UNITS or holder_balance + units > MAX_UNITS:
        raise RuleViolationError(f"issuing {units} would exceed the largest amount {MAX_UNITS}", rule="X3")
    return UnitsIssued(currency.id, to, units, rule)


def burn(currency: Currency, account: AccountId, units: int, balance: int) -> UnitsBurned:
    """Destroy units the holder owns; a burn is the only way units vanish (X3)."""
    require_positive_units(units)
    if units > balance:
        raise InsufficientFundsError(f"{account} holds {balance} {currency.id}, cannot burn {units}")
    return UnitsBurned(currency.id, account, units)


def transfer_legs(legs: Sequence[Leg], balances: Mapping[BalanceKey, int]) -> list[UnitsTransferred]:
    """Check legs in order against running balances; every leg or none (X3).

    A leg may pass on units received by an earlier leg of the same transfer, never units the
    account has not yet received: that is how a routed payment's steps are ordered (CI9).
    """
    if not legs:
        raise InvalidInputError("a transfer needs at least one leg", rule="X3")
    if len(legs) > MAX_LEGS:
        raise InvalidInputError(f"a transfer has at most {MAX_LEGS} legs", rule="X3")
    running = dict(balances)
    events = []
    for i, leg in enumerate(legs):
        source_key = (leg.source, leg.currency)
        target_key = (leg.target, leg.currency)
        held = running.get(source_key, 0)
        if held < leg.units:
            raise InsufficientFundsError(
                f"leg {i + 1}: {leg.source} holds {held} {leg.currency}, cannot send {leg.units}"
            )
        running[source_key] = held - leg.units
        received = running.get(target_key, 0) + leg.units
        if received > MAX_UNITS:
            raise RuleViolationError(f"leg {i + 1} would exceed the largest balance {MAX_UNITS}", rule="X3")
        running[target_key] = received
        events.append(UnitsTransferred(leg.currency, leg.source, leg.target, leg.units))
    return events


def debited_accounts(legs: Sequence[Leg]) -> frozenset[AccountId]:
    return frozenset(leg.source for leg in legs)


def balance_keys(legs: Sequence[Leg]) -> list[BalanceKey]:
    keys = {(leg.source, leg.currency) for leg in legs} | {(leg.target, leg.currency) for leg in legs}
    return sorted(keys)
