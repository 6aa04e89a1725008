"""Concurrent writers racing on the same accounts never overdraw, never lose an update and never
deadlock (X3, issue 2 point 6): 16 threads, each with its own engine, on PostgreSQL and SQLite."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from civicledger.adapters.crypto import Ed25519Verifier
from civicledger.adapters.memory import MemoryStore
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.kernel import audit
from civicledger.kernel import ledger as led
from civicledger.kernel.engine import Engine
from civicledger.kernel.errors import InsufficientFundsError
from civicledger.kernel.identity import AccountKind
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.ports import Store
from tests.conftest import T0, open_test_store

XI = CurrencyId("xi")
THREADS = 16
ATTEMPTS = 12
FUNDED = 100  # fewer than THREADS * ATTEMPTS = 192 one-unit payments


@pytest.fixture(params=["postgresql", "sqlite"])
def racing_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    store = open_test_store(request.param, tmp_path)
    yield store
    store.close()


@pytest.mark.timeout(120)
def test_16_writers_racing_on_one_account_never_overdraw_or_lose_an_update(racing_store: Store) -> None:
    e = ScriptedEconomy(racing_store, start=T0, label="race")
    e.open("fund", AccountKind.FUND)
    e.open("shared")
    workers = [f"w{i}" for i in range(THREADS)]
    for w in workers:
        e.open(w)
    e.run(led.CreateCurrency("xi", e.account("fund"), "xi"), "fund")
    e.run(led.Issue(XI, e.account("shared"), FUNDED), "fund")

    accepted = [0] * THREADS
    refused = [0] * THREADS
    failures: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def work(i: int) -> None:
        engine = Engine(racing_store, e.clock, Ed25519Verifier(), e.key("journal"))
        start.wait()
        try:
            for n in range(ATTEMPTS):
                # Each pays one unit out of the shared account and one back into a neighbour's,
                # so every writer touches the same hot row.
                legs = (led.Leg(XI, e.account("shared"), e.account(workers[i]), 1),)
                signed = e.sign(led.Transfer(legs), "shared", cid=f"race-{i}-{n}")
                try:
                    engine.execute(signed)
                    accepted[i] += 1
                except InsufficientFundsError:
                    refused[i] += 1
        except BaseException as error:  # surfaced below; a thread must not die silently
            failures.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=110)
    assert not any(thread.is_alive() for thread in threads), "a writer is stuck"
    assert not failures, failures
    assert sum(accepted) == FUNDED and sum(refused) == THREADS * ATTEMPTS - FUNDED
    with racing_store.read() as uow:
        assert uow.ledger.balance(e.account("shared"), XI) == 0
        paid = {w: uow.ledger.balance(e.account(w), XI) for w in workers}
        assert paid == {w: accepted[i] for i, w in enumerate(workers)}
        assert uow.ledger.sums_by_currency()[XI] == FUNDED
    report = audit.verify_store(racing_store, Ed25519Verifier(), MemoryStore)
    assert report.ok, report.reason
