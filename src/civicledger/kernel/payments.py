"""The one money path (X3): every handler that moves units adds legs to a ``Payments`` book, and the
book alone turns them into ``ledger.units_transferred`` events.

The book checks what every transfer must satisfy, whatever rule asked for it: the accounts exist,
each currency's acceptance rule holds (a mechanism registers one per currency kind in
``ACCEPTANCE``, e.g. Circles trust, CI5), and the legs fit the balances in order, never below zero
(``ledger.transfer_legs``). While a handler decides, ``balance`` answers with the running balance:
what the store holds, plus units issued earlier in the same entry (``credit``), plus and minus the
legs already added, so a decision that depends on an earlier payment (a fund paying out what it has
just received, GR6) sees it.

No black holes (IN9, rules 2 on): a leg may not put units where nobody can ever spend them. A
mechanism registers in ``SINKS``, per currency kind, what says why an account can never spend units
it would receive (e.g. a Circles group, whose coins never move, CI11); the book refuses such a leg,
checked or not, unless the handler adds it as collateral the target keeps by its own rule.

Holdings that lose value while held (Circles v2 demurrage, IN4): a mechanism registers in
``DISCOUNTS``, per currency kind, what gives the discount in force for one entry (None where none
applies, e.g. the seed preset; a currency of a kind nobody registered never asks). The book reads such a
holding at its discounted worth, and before any leg touches it journals what the holding lost
(``settle``: a burn and the mechanism's record of the holding's new day), so issued - burned still
equals the sum of stored balances per currency. ``worth`` gives reads (the API, pages) the same
figure without writing anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from civicledger.kernel import ledger as led
from civicledger.kernel import state
from civicledger.kernel.errors import RuleViolationError
from civicledger.kernel.identity import AccountId
from civicledger.kernel.messages import Event
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.ports import UnitOfWork
from civicledger.kernel.rules import FIRST_RULES

Acceptance = Callable[[UnitOfWork, led.Leg, led.Currency, int], None]
ACCEPTANCE: dict[led.CurrencyKind, Acceptance] = {}
"""Acceptance rules a mechanism sets for its currency kind: raise to refuse a leg (e.g. CI5)."""

Sink = Callable[[UnitOfWork, led.Leg, led.Currency], str | None]
SINKS: dict[led.CurrencyKind, Sink] = {}
"""IN9: per currency kind, why a leg's target could never spend the units (a sentence), else None."""


class HoldingDiscount(Protocol):
    """The discount of one currency kind's holdings at one time (IN4)."""

    def worth(self, uow: UnitOfWork, account: AccountId, currency: CurrencyId, stored: int) -> int:
        """What a holding whose stored balance is ``stored`` is worth now (never more than stored)."""
        ...

    def settle(self, uow: UnitOfWork, account: AccountId, currency: CurrencyId, stored: int) -> list[Event]:
        """The events that bring the stored holding to its worth now: a burn of what it lost and
        the holding's new day (an empty list if nothing changes)."""
        ...


DiscountAt = Callable[[UnitOfWork, int, int], HoldingDiscount | None]
DISCOUNTS: dict[led.CurrencyKind, DiscountAt] = {}
"""IN4: per currency kind, the discount in force at (time, rule version), or None where none applies."""

NO_BLACK_HOLES = 2
"""The rule version from which the book refuses legs into black holes (IN9)."""


class Payments:
    """The legs of one entry, checked as a whole by ``transfers``; running balances while deciding."""

    def __init__(self, uow: UnitOfWork, time: int, rules: int | None = None) -> None:
        """``rules`` is the rule version in force (``ctx.rules``); None reads it from the economy's
        record when a leg needs it (IN8)."""
        self.uow = uow
        self.time = time
        self.rules = rules
        self.legs: list[led.Leg] = []
        self._checked: list[bool] = []
        self._kept: list[bool] = []
        self._credits: dict[led.BalanceKey, int] = {}
        self._moved: dict[led.BalanceKey, int] = {}  # what the legs added so far move, per balance
        self._discounts: dict[DiscountAt, HoldingDiscount | None] = {}  # per registered discount, once asked
        self._kinds: dict[CurrencyId, led.CurrencyKind | None] = {}
        self._settled: set[led.BalanceKey] = set()

    def balance(self, account: AccountId, currency: CurrencyId) -> int:
        """What ``account`` holds of ``currency`` after everything added to this book so far (read
        from the store only when asked: a plain transfer reads its balances once, in ``transfers``),
        at its discounted worth where its kind loses value while held (IN4)."""
        key = (account, currency)
        held = self.uow.ledger.balance(account, currency)
        discount = self.discount(currency)
        if discount is not None:
            held = discount.worth(self.uow, account, currency, held)
        return held + self._credits.get(key, 0) + self._moved.get(key, 0)

    def discount(self, currency: CurrencyId) -> HoldingDiscount | None:
        """The discount in force for ``currency``'s holdings in this entry, if any (IN4). A currency
        of a kind nobody registered (an issued currency) costs no more than its kind's lookup."""
        if not DISCOUNTS:
            return None
        if currency not in self._kinds:
            known = self.uow.ledger.currency(currency)
            self._kinds[currency] = None if known is None else known.kind
        kind = self._kinds[currency]
        if kind is None or kind not in DISCOUNTS:
            return None
        return self._discount_of(kind)

    def _discount_of(self, kind: led.CurrencyKind) -> HoldingDiscount | None:
        """The registered discount of ``kind`` in force at this book's time and rules, asked once."""
        at = DISCOUNTS[kind]
        if at not in self._discounts:
            self._discounts[at] = at(self.uow, self.time, self._rules())
        return self._discounts[at]

    def settle(self, account: AccountId, currency: CurrencyId) -> list[Event]:
        """The events that bring a holding to its discounted worth before it moves or receives units
        (IN4), once per entry: a handler that issues units to a holding settles it first."""
        key = (account, currency)
        if key in self._settled:
            return []
        self._settled.add(key)
        discount = self.discount(currency)
        if discount is None:
            return []
        return discount.settle(self.uow, account, currency, self.uow.ledger.balance(account, currency))

    def credit(self, account: AccountId, currency: CurrencyId, units: int) -> None:
        """Units issued to ``account`` in this entry before its legs (e.g. income minted to pay, CI9)."""
        key = (account, currency)
        self._credits[key] = self._credits.get(key, 0) + units

    def add(self, leg: led.Leg, *, accept: bool = True, collateral: bool = False) -> None:
        """Add a leg. ``accept=False`` only where the handler has checked the accounts and acceptance
        under its own rule (a routed payment's cumulative trust limits, CI5; a group's collateral, CI11).
        ``collateral=True`` only for units the target keeps for good by its own rule, against which
        it issues something in the same entry (a group's collateral, CI11): exempt from IN9."""
        source, target = (leg.source, leg.currency), (leg.target, leg.currency)
        self._moved[source] = self._moved.get(source, 0) - leg.units
        self._moved[target] = self._moved.get(target, 0) + leg.units
        self.legs.append(leg)
        self._checked.append(accept)
        self._kept.append(collateral)

    def add_all(self, legs: Iterable[led.Leg]) -> None:
        for leg in legs:
            self.add(leg)

    def transfers(self) -> list[Event]:
        """Check every leg (accounts and acceptance first, then balances in order) and return the
        transfer events, all or none (X3), after the settling events of the holdings they touch (IN4)."""
        currencies: dict[CurrencyId, led.Currency] = {}
        for leg, accept, kept in zip(self.legs, self._checked, self._kept, strict=True):
            if accept:
                if leg.currency not in currencies:
                    currencies[leg.currency] = state.require_currency(self.uow, leg.currency)
                for account in (leg.source, leg.target):
                    state.require_account(self.uow, account)
                check = ACCEPTANCE.get(currencies[leg.currency].kind)
                if check is not None:
                    check(self.uow, leg, currencies[leg.currency], self.time)
            if not kept:
                self._refuse_black_hole(leg, currencies)
        keys = led.balance_keys(self.legs)
        starting = self.uow.ledger.balances(keys)
        settling: list[Event] = []
        if DISCOUNTS:
            for currency, found in currencies.items():  # kinds already looked up for the checks
                self._kinds.setdefault(currency, found.kind)
            for account, currency in keys:
                discount = self.discount(currency)
                if discount is None:
                    continue
                stored = starting.get((account, currency), 0)
                settling += self.settle(account, currency)
                starting[(account, currency)] = discount.worth(self.uow, account, currency, stored)
        for key, units in self._credits.items():
            starting[key] = starting.get(key, 0) + units
        return [*settling, *led.transfer_legs(self.legs, starting)]

    def discount_applies(self) -> bool:
        """Whether any registered discount is in force for this book (the seed preset: none, IN4)."""
        return any(self._discount_of(kind) is not None for kind in DISCOUNTS)

    def _refuse_black_hole(self, leg: led.Leg, currencies: dict[CurrencyId, led.Currency]) -> None:
        """IN9: refuse a leg whose target could never spend what it receives (rules 2 on)."""
        found = currencies.get(leg.currency) or self.uow.ledger.currency(leg.currency)
        if found is None:
            return  # the acceptance check reports the missing currency in its own words (X3)
        currencies[leg.currency] = found
        sink = SINKS.get(found.kind)
        if sink is None or self._rules() < NO_BLACK_HOLES:
            return
        why = sink(self.uow, leg, found)
        if why is not None:
            raise RuleViolationError(why, rule="IN9")

    def _rules(self) -> int:
        if self.rules is None:
            info = state.economy_info(self.uow)
            self.rules = info.rules_at(self.time) if info is not None else FIRST_RULES
        return self.rules


def worth(uow: UnitOfWork, account: AccountId, holdings: Mapping[CurrencyId, int], time: int) -> dict[CurrencyId, int]:
    """What an account's holdings are worth at ``time`` (IN4): a read, which never writes."""
    info = state.economy_info(uow)
    book = Payments(uow, time, info.rules_at(time) if info is not None else FIRST_RULES)
    if not book.discount_applies():
        return dict(holdings)
    out: dict[CurrencyId, int] = {}
    for currency, stored in holdings.items():
        discount = book.discount(currency)
        out[currency] = stored if discount is None else discount.worth(uow, account, currency, stored)
    return out


def transfer(uow: UnitOfWork, legs: Iterable[led.Leg], time: int, rules: int | None = None) -> list[Event]:
    """The transfer events of ``legs``, checked as one book (a plain multi-leg transfer, X3; IN9)."""
    book = Payments(uow, time, rules)
    book.add_all(legs)
    return book.transfers()
