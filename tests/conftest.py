"""Shared fixtures.

``store`` is the backend the suite runs on: ``CIVIC_TEST_STORE`` = sqlite (default), postgresql
or memory. ``.ci/run`` runs the whole suite twice, on SQLite and on PostgreSQL, and sets
``CIVIC_REQUIRE_POSTGRES=1`` so that an unreachable server fails the run instead of skipping.
``any_store`` runs a test on all three backends (the contract tests).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from civicledger.adapters.memory import MemoryStore
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.kernel import ledger as led
from civicledger.kernel.identity import AccountKind
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.ports import Store
from civicledger.kernel.time import parse_instant

BACKEND = os.environ.get("CIVIC_TEST_STORE", "sqlite")
POSTGRES_URL = os.environ.get("CIVIC_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REQUIRE_POSTGRES = os.environ.get("CIVIC_REQUIRE_POSTGRES") == "1"
T0 = parse_instant("2030-01-01T00:00:00Z")


def pytest_report_header() -> str:
    return f"civicledger store backend: {BACKEND} (CIVIC_TEST_STORE); postgres: {POSTGRES_URL}"


def _postgres_reason() -> str | None:
    import sqlalchemy

    try:
        engine = sqlalchemy.create_engine(POSTGRES_URL)
        with engine.connect() as conn:
            conn.exec_driver_sql("select 1")
        engine.dispose()
    except Exception as e:  # any failure to connect means: no server here
        return f"PostgreSQL not reachable at {POSTGRES_URL}: {type(e).__name__}"
    return None


_pg_reason: list[str | None] = []


def require_postgres() -> None:
    if not _pg_reason:
        _pg_reason.append(_postgres_reason())
    reason = _pg_reason[0]
    if reason is not None:
        if REQUIRE_POSTGRES:
            pytest.fail(reason + " (CIVIC_REQUIRE_POSTGRES=1)")
        pytest.skip(reason)


def open_test_store(backend: str, tmp_path: Path) -> Store:
    if backend == "memory":
        return MemoryStore()
    from civicledger.adapters.sql.store import SqlStore

    if backend == "sqlite":
        return SqlStore.open(f"sqlite:///{tmp_path / 'test.db'}")
    if backend == "postgresql":
        require_postgres()
        return SqlStore.open(POSTGRES_URL, schema=f"t_{uuid.uuid4().hex[:16]}", drop_schema_on_close=True)
    raise ValueError(f"unknown backend {backend}")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_test_store(BACKEND, tmp_path)
    yield s
    s.close()


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s = open_test_store(request.param, tmp_path)
    yield s
    s.close()


@pytest.fixture
def economy(store: Store) -> ScriptedEconomy:
    """A fresh economy on the suite's backend, started at T0 with three governors (quorum 2)."""
    return ScriptedEconomy(store, start=T0, label="civicledger test key")


@pytest.fixture
def funded(economy: ScriptedEconomy) -> ScriptedEconomy:
    """``economy`` with a fund issuing currency ``xi``, and alice (1,000 xi), bob and carol."""
    economy.open("fund", AccountKind.FUND)
    for name in ("alice", "bob", "carol"):
        economy.person(name)
    economy.run(led.CreateCurrency("xi", economy.account("fund"), "ethicap"), "fund")
    economy.run(led.Issue(CurrencyId("xi"), economy.account("alice"), 1_000), "fund")
    return economy


@pytest.fixture
def memory_economy() -> ScriptedEconomy:
    return ScriptedEconomy(MemoryStore(), start=T0, label="civicledger test key")
