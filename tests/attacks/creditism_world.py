"""The bicycle world the Creditism attacks are played in (IN1, IN5, IN7), and the checks every
attack ends with: the journal verifies and, per currency, balances sum to issued minus burned."""

from __future__ import annotations

from civicledger.adapters.crypto import Ed25519Verifier
from civicledger.adapters.memory import MemoryStore
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.kernel import ledger as led
from civicledger.kernel.audit import verify_store
from civicledger.kernel.identity import AccountKind
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.ports import Store
from civicledger.mechanisms.creditism.state import CREDITS, CreditsRecord
from tests.conftest import T0
from tests.integration.test_creditism_flow import bike_world

XI = CurrencyId("xi")
WEALTH = 10_000_000_000


def world(store: Store, *buyers: str, rules: int = 2) -> ScriptedEconomy:
    """The seed's bicycle story with two approved coops (green-bike 600 a year, city-bike 400), and
    buyers holding ``WEALTH`` units of the currency ``XI``."""
    e = ScriptedEconomy(store, start=T0, label="civicledger test key", rules=rules)
    bike_world(e)
    e.open("fund", AccountKind.FUND)
    e.run(led.CreateCurrency(XI, e.account("fund"), "xi"), "fund")
    for name in buyers:
        e.person(name)
        e.run(led.Issue(XI, e.account(name), WEALTH), "fund")
    return e


def head(e: ScriptedEconomy) -> int:
    with e.store.read() as uow:
        return uow.journal.head().size


def balance(e: ScriptedEconomy, name: str) -> int:
    with e.store.read() as uow:
        return uow.ledger.balance(e.account(name), XI)


def credits(e: ScriptedEconomy, name: str) -> CreditsRecord:
    with e.store.read() as uow:
        return CREDITS.get(uow, e.account(name)) or CreditsRecord(e.account(name), 0, 0)


def sound(e: ScriptedEconomy) -> None:
    """The journal verifies (re-executed, same state) and every currency balances (X2, X3)."""
    report = verify_store(e.store, Ed25519Verifier(), MemoryStore)
    assert report.ok, report.reason
    with e.store.read() as uow:
        sums = uow.ledger.sums_by_currency()
        for currency in uow.ledger.currencies():
            assert sums.get(currency.id, 0) == currency.supply, currency.id
