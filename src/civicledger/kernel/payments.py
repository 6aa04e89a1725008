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
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from civicledger.kernel import ledger as led
from civicledger.kernel import state
from civicledger.kernel.errors import RuleViolationError
from civicledger.kernel.identity import AccountId
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.ports import UnitOfWork
from civicledger.kernel.rules import FIRST_RULES

Acceptance = Callable[[UnitOfWork, led.Leg, led.Currency, int], None]
ACCEPTANCE: dict[led.CurrencyKind, Acceptance] = {}
"""Acceptance rules a mechanism sets for its currency kind: raise to refuse a leg (e.g. CI5)."""

Sink = Callable[[UnitOfWork, led.Leg, led.Currency], str | None]
SINKS: dict[led.CurrencyKind, Sink] = {}
"""IN9: per currency kind, why a leg's target could never spend the units (a sentence), else None."""

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

    def balance(self, account: AccountId, currency: CurrencyId) -> int:
        """What ``account`` holds of ``currency`` after everything added to this book so far (read
        from the store only when asked: a plain transfer reads its balances once, in ``transfers``)."""
        key = (account, currency)
        return self.uow.ledger.balance(account, currency) + self._credits.get(key, 0) + self._moved.get(key, 0)

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

    def transfers(self) -> list[led.UnitsTransferred]:
        """Check every leg (accounts and acceptance first, then balances in order) and return the
        transfer events, all or none (X3)."""
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
        starting = self.uow.ledger.balances(led.balance_keys(self.legs))
        for key, units in self._credits.items():
            starting[key] = starting.get(key, 0) + units
        return led.transfer_legs(self.legs, starting)

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


def transfer(
    uow: UnitOfWork, legs: Iterable[led.Leg], time: int, rules: int | None = None
) -> list[led.UnitsTransferred]:
    """The transfer events of ``legs``, checked as one book (a plain multi-leg transfer, X3; IN9)."""
    book = Payments(uow, time, rules)
    book.add_all(legs)
    return book.transfers()
