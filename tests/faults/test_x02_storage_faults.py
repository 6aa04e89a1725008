"""Faults under a served app (issue 15, part 6): a lost database connection is a 503 with
``Retry-After``, never a 500, and the server recovers by itself once the database is back."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from civicledger.adapters.clock import WallClock
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.adapters.sql.store import SqlStore
from civicledger.api.app import create_app
from civicledger.kernel import ledger as led
from civicledger.kernel.money import CurrencyId
from tests.conftest import POSTGRES_URL, require_postgres
from tests.e2e.serving import SigningClient, funded_pair, serve_app


def _pay(client: httpx.Client, economy: ScriptedEconomy, now: int) -> httpx.Response:
    """One signed transfer from alice to bob, signed at ``now`` (no read of the server's clock)."""
    leg = led.Leg(CurrencyId("xi"), economy.account("alice"), economy.account("bob"), 1)
    return SigningClient(client, economy).run(led.Transfer((leg,)), "alice", at=now, seal=False)


def _server_now(client: httpx.Client) -> int:
    """The server's time, read as a client reads it after a fault: a 503 (which must carry
    Retry-After) is waited out and asked again, a few times at most."""
    for _ in range(20):
        response = client.get("/api/economy")
        if response.status_code != 503:
            break
        assert response.headers.get("retry-after"), response.text
        time.sleep(0.25)
    assert response.status_code == 200, response.text
    return int(response.json()["now"])


def _load(url: str, economy: ScriptedEconomy, stop: threading.Event, seen: Counter[int], bad: list[str]) -> None:
    """One client alternating a write and two reads until ``stop``; records every status."""
    with httpx.Client(base_url=url, timeout=30) as client:
        now = _server_now(client)
        alice = economy.account("alice")
        while not stop.is_set():
            for response in (
                _pay(client, economy, now),
                client.get(f"/api/accounts/{alice}/balances"),
                client.get("/api/journal/1"),
            ):
                seen[response.status_code] += 1
                if response.status_code == 503:
                    if response.headers.get("retry-after") is None:
                        bad.append(f"503 without Retry-After: {response.text}")
                elif response.status_code >= 300:
                    bad.append(f"{response.status_code}: {response.text}")


@pytest.fixture
def pg_store() -> Iterator[SqlStore]:
    require_postgres()
    url = f"{POSTGRES_URL}{'&' if '?' in POSTGRES_URL else '?'}application_name={APPLICATION}"
    store = SqlStore.open(url, schema=f"f_{uuid.uuid4().hex[:16]}", drop_schema_on_close=True)
    yield store
    store.close()


APPLICATION = f"civic-faults-{uuid.uuid4().hex[:12]}"
"""The served store's connections name themselves, so the test kills only them, not another
process's connections to the same database."""


def _kill_backends() -> int:
    """Terminate the served store's backends (what a PostgreSQL restart does to them)."""
    admin = sa.create_engine(POSTGRES_URL, poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        killed = conn.exec_driver_sql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = %s",
            (APPLICATION,),
        ).scalar_one()
    admin.dispose()
    return int(killed)


def test_x02_killed_postgres_backends_give_503_with_retry_after_never_500_and_the_server_recovers(
    pg_store: SqlStore,
) -> None:
    economy = funded_pair(pg_store)
    app = create_app(pg_store, WallClock(), economy.key("journal"), pages=False)
    seen: Counter[int] = Counter()
    bad: list[str] = []
    stop = threading.Event()
    with serve_app(app) as url:
        workers = [threading.Thread(target=_load, args=(url, economy, stop, seen, bad)) for _ in range(8)]
        for w in workers:
            w.start()
        time.sleep(0.5)
        killed = 0
        for _ in range(6):  # kill mid-flight, repeatedly
            killed += _kill_backends()
            time.sleep(0.3)
        time.sleep(1.0)
        stop.set()
        for w in workers:
            w.join(timeout=60)
        assert killed > 0
        assert not bad, bad[:5]
        assert seen[200] > 0
        # by itself, with no restart: once a request is answered (the first may still meet a
        # connection killed a moment ago: a 503), the next ones are answered as if nothing had happened
        with httpx.Client(base_url=url, timeout=30) as client:
            now = _server_now(client)
            statuses = [_pay(client, economy, now).status_code for _ in range(5)]
            assert statuses == [200] * 5
            assert client.get(f"/api/accounts/{economy.account('alice')}/balances").status_code == 200


def test_x02_an_unreadable_sqlite_file_gives_503_with_retry_after(tmp_path: Path) -> None:
    path = tmp_path / "economy.db"
    store = SqlStore.open(f"sqlite:///{path}")
    try:
        economy = funded_pair(store)
        app = create_app(store, WallClock(), economy.key("journal"), pages=False)
        with serve_app(app) as url, httpx.Client(base_url=url, timeout=30) as client:
            assert client.get("/api/journal/1").status_code == 200
            store.engine.dispose()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            path.write_bytes(b"this is not a database" * 200)
            response = client.get("/api/journal/1")
            assert response.status_code == 503, response.text
            assert response.headers["retry-after"]
            assert response.json()["rule"] == "X2"
    finally:
        store.engine.dispose()


def test_x02_a_locked_sqlite_database_gives_503_with_retry_after(tmp_path: Path) -> None:
    path = tmp_path / "economy.db"
    store = SqlStore.open(f"sqlite:///{path}")
    try:
        economy = funded_pair(store)
        # a short busy timeout: another process holds the write lock longer than the server waits
        quick = SqlStore.open(f"sqlite:///{path}")
        quick.engine.dispose()
        quick.engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 0.2})
        sa.event.listen(quick.engine, "connect", _autocommit)
        sa.event.listen(quick.engine, "begin", _begin_immediate)
        app = create_app(quick, WallClock(), economy.key("journal"), pages=False)
        import sqlite3

        holder = sqlite3.connect(path, isolation_level=None)
        with serve_app(app) as url, httpx.Client(base_url=url, timeout=30) as client:
            now = int(client.get("/api/economy").json()["now"])
            holder.execute("BEGIN EXCLUSIVE")
            try:
                response = _pay(client, economy, now)
            finally:
                holder.execute("ROLLBACK")
            assert response.status_code == 503, response.text
            assert response.headers["retry-after"]
            assert _pay(client, economy, now).status_code == 200  # and carries on once released
        holder.close()
        quick.engine.dispose()
    finally:
        store.engine.dispose()


def _autocommit(dbapi_connection: object, _record: object) -> None:
    dbapi_connection.isolation_level = None  # type: ignore[attr-defined]


def _begin_immediate(conn: sa.Connection) -> None:
    write = conn.get_execution_options().get("civic_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
