"""What an operator watches (issue 18, part 4): /healthz, /readyz, /metrics and JSON logs carrying
the request id, on the suite's backend (CIVIC_TEST_STORE), served by a real uvicorn."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from civicledger.adapters.clock import WallClock
from civicledger.adapters.headmark import HeadMarkFile, RollbackGuard, SignedHeadMark
from civicledger.adapters.keystore import save_key
from civicledger.adapters.sql.store import SqlStore
from civicledger.api.app import create_app
from civicledger.api.observe import JsonFormatter
from civicledger.kernel import ledger as led
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.ports import Store
from tests.conftest import BACKEND, POSTGRES_URL, open_test_store, require_postgres
from tests.e2e.serving import SigningClient, free_port, funded_pair, problem_of, serve_app

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
"""Prometheus samples by name and sorted labels."""


def _samples(text: str) -> Samples:
    """Every sample of a Prometheus text exposition, by name and sorted labels."""
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _scrape(client: httpx.Client) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return _samples(response.text)


def _requests(samples: Samples, method: str, route: str, status: str) -> float:
    key = ("civic_http_requests_total", (("method", method), ("route", route), ("status", status)))
    return samples.get(key, 0.0)


def _pay(client: httpx.Client, economy: object, amount: int = 1) -> httpx.Response:
    signing = SigningClient(client, economy)  # type: ignore[arg-type]
    leg = led.Leg(CurrencyId("xi"), signing.economy.account("alice"), signing.economy.account("bob"), amount)
    return signing.run(led.Transfer((leg,)), "alice", seal=False)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_test_store(BACKEND, tmp_path)
    yield s
    s.close()


def test_healthz_answers_200_and_echoes_the_request_id(store: Store) -> None:
    economy = funded_pair(store)
    app = create_app(store, WallClock(), economy.key("journal"), pages=False)
    with serve_app(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        response = client.get("/healthz", headers={"X-Request-ID": "probe-7f3a.1"})
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}
        assert response.headers["x-request-id"] == "probe-7f3a.1"
        generated = client.get("/healthz").headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", generated)
        assert client.get("/healthz").headers["x-request-id"] != generated  # a new id for each request
        # an id that is not a plain token (spaces, or over 128 characters) is replaced, not echoed
        for bad in ("two words", "x" * 129):
            echoed = client.get("/healthz", headers={"X-Request-ID": bad}).headers["x-request-id"]
            assert echoed != bad and re.fullmatch(r"[0-9a-f]{32}", echoed)


def test_readyz_is_ready_with_every_entry_under_a_signed_head_and_stays_so_after_writes(store: Store) -> None:
    economy = funded_pair(store)
    app = create_app(store, WallClock(), economy.key("journal"), pages=False)
    with serve_app(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        assert client.get("/readyz").json() == {"status": "ready"}
        assert _pay(client, economy).status_code == 200
        response = client.get("/readyz")
        assert response.status_code == 200, response.text


def test_readyz_is_503_naming_x1_on_a_store_without_an_economy(store: Store) -> None:
    from civicledger.adapters.crypto import KeyPair

    app = create_app(store, WallClock(), KeyPair.generate("journal"), pages=False)
    with serve_app(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.headers["retry-after"]
        problem = problem_of(response)
        assert problem["rule"] == "X1" and "no economy" in problem["detail"]
        assert client.get("/healthz").status_code == 200


def test_readyz_is_503_naming_in12_while_writes_are_refused_behind_a_signed_head(store: Store, tmp_path: Path) -> None:
    economy = funded_pair(store)
    mark = HeadMarkFile(tmp_path / "journal.head")
    with store.read() as uow:
        size = uow.journal.head().size
    mark.advance(SignedHeadMark(size + 5, "ab" * 32))  # the key signed more elsewhere: a restored old copy
    guard = RollbackGuard(store, mark)
    app = create_app(store, WallClock(), economy.key("journal"), pages=False, rollback_guard=guard)
    with serve_app(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert problem_of(response)["rule"] == "IN12"
        assert _samples(client.get("/metrics").text)[("civic_writes_allowed", ())] == 0


@contextmanager
def _own_postgres_database() -> Iterator[tuple[SqlStore, sa.Engine, str]]:
    """A store in a database of its own, so that refusing connections to it touches nobody else."""
    require_postgres()
    name = f"ops_ready_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    store = SqlStore.open(sa.make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False))
    try:
        yield store, admin, name
    finally:
        store.close()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.dispose()


def _cut(store: SqlStore, admin: sa.Engine | None, name: str, path: Path) -> bytes:
    """Make the database unreachable: PostgreSQL refuses new connections to it and its backends are
    terminated; the SQLite file is replaced by bytes that are not a database. Returns what to restore."""
    if admin is not None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            conn.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
        return b""
    store.engine.dispose()
    saved = path.read_bytes()
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.write_bytes(b"this is not a database" * 200)
    return saved


def _mend(store: SqlStore, admin: sa.Engine | None, name: str, path: Path, saved: bytes) -> None:
    if admin is not None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        return
    store.engine.dispose()
    path.write_bytes(saved)


def test_readyz_is_503_while_the_database_is_unreachable_healthz_stays_200_and_it_recovers(tmp_path: Path) -> None:
    with _unreachable_setup(tmp_path) as (store, admin, name, path):
        economy = funded_pair(store)
        if admin is None:
            store.engine.dispose()  # the WAL folded into the file: the file alone is the database
        app = create_app(store, WallClock(), economy.key("journal"), pages=False)
        with serve_app(app) as url, httpx.Client(base_url=url, timeout=30) as client:
            assert client.get("/readyz").status_code == 200
            saved = _cut(store, admin, name, path)
            response = client.get("/readyz")
            assert response.status_code == 503, response.text
            assert response.headers["retry-after"]
            problem = problem_of(response)
            assert problem["rule"] == "X2" and "database cannot be read" in problem["detail"]
            assert client.get("/healthz").status_code == 200
            metrics = client.get("/metrics")
            assert metrics.status_code == 200  # the scrape answers and says the database is down
            assert _samples(metrics.text)[("civic_database_up", ())] == 0
            _mend(store, admin, name, path, saved)
            deadline = time.monotonic() + 20
            while client.get("/readyz").status_code != 200:
                assert time.monotonic() < deadline, "the server did not become ready again by itself"
                time.sleep(0.2)
            assert _samples(client.get("/metrics").text)[("civic_database_up", ())] == 1


@contextmanager
def _unreachable_setup(tmp_path: Path) -> Iterator[tuple[SqlStore, sa.Engine | None, str, Path]]:
    if BACKEND == "postgresql":
        with _own_postgres_database() as (store, admin, name):
            yield store, admin, name, tmp_path
        return
    if BACKEND != "sqlite":
        pytest.skip("a database that cannot be reached needs SQLite or PostgreSQL")
    path = tmp_path / "economy.db"
    store = SqlStore.open(f"sqlite:///{path}")
    try:
        yield store, None, "", path
    finally:
        store.engine.dispose()


def test_metrics_count_requests_by_route_template_and_status_and_record_write_batches(store: Store) -> None:
    economy = funded_pair(store)
    app = create_app(store, WallClock(), economy.key("journal"), pages=False)
    alice = economy.account("alice")
    with serve_app(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        before = _scrape(client)
        assert client.get(f"/api/accounts/{alice}/balances").status_code == 200
        assert client.get("/no/such/page").status_code == 404
        assert client.request("PROPFIND", "/api/economy").status_code == 405
        for amount in (1, 2, 3):
            assert _pay(client, economy, amount).status_code == 200
        after = _scrape(client)
        route = "/api/accounts/{account}/balances"  # the template, not the account's id
        assert _requests(after, "GET", route, "200") - _requests(before, "GET", route, "200") == 1
        assert _requests(after, "GET", "<unmatched>", "404") - _requests(before, "GET", "<unmatched>", "404") == 1
        assert _requests(after, "POST", "/api/commands", "200") - _requests(before, "POST", "/api/commands", "200") == 3
        assert not any(alice in str(labels) for _, labels in after)  # no account id becomes a label
        assert _requests(after, "OTHER", "/api/economy", "405") == 1  # nor a method a client made up
        batches = after[("civic_write_batch_size_count", ())] - before.get(("civic_write_batch_size_count", ()), 0)
        commands = after[("civic_write_batch_size_sum", ())] - before.get(("civic_write_batch_size_sum", ()), 0)
        assert 1 <= batches <= 3 and commands == 3
        assert after[("civic_write_batch_duration_seconds_count", ())] == after[("civic_write_batch_size_count", ())]
        assert after[("civic_write_batch_duration_seconds_sum", ())] > 0
        entries = int(client.get("/api/economy").json()["entries"])
        assert after[("civic_journal_entries", ())] == entries
        assert after[("civic_journal_signed_entries", ())] == entries
        assert after[("civic_database_up", ())] == 1
        if sys.platform.startswith("linux"):
            assert after[("process_resident_memory_bytes", ())] > 0
        schema = client.get("/openapi.json").json()["paths"]
        assert not {"/healthz", "/readyz", "/metrics"} & set(schema)


def test_every_log_line_written_while_a_request_runs_is_json_with_its_request_id(store: Store) -> None:
    economy = funded_pair(store)
    app = create_app(store, WallClock(), economy.key("journal"), pages=False)
    inner = logging.getLogger("civicledger.api.test_inner")

    @app.get("/test-logs")
    def logs_twice() -> dict[str, str]:  # a sync route: runs in a worker thread, the id must follow
        inner.warning("first line")
        inner.warning("second line", extra={"detail_of_test": 7})
        return {"ok": "yes"}

    @app.get("/test-boom")
    def boom() -> None:  # an unexpected error: answered by the outermost handler, still with the id
        raise RuntimeError("boom")

    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("civicledger")
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        with serve_app(app) as url, httpx.Client(base_url=url, timeout=30) as client:
            assert client.get("/test-logs", headers={"X-Request-ID": "req-42"}).status_code == 200
            assert _pay(client, economy).status_code == 200
            failed = client.get("/test-boom", headers={"X-Request-ID": "req-500"})
            assert failed.status_code == 500
            assert failed.headers.get_list("x-request-id") == ["req-500"]
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    mine = [r for r in records if r.get("request_id") == "req-42"]
    assert [r["message"] for r in mine if r["logger"] == "civicledger.api.test_inner"] == ["first line", "second line"]
    assert mine[1]["detail_of_test"] == 7
    access = [r for r in mine if r["logger"] == "civicledger.access"]
    assert len(access) == 1 and access[0]["status"] == 200 and access[0]["route"] == "/test-logs"
    posts = [r for r in records if r["logger"] == "civicledger.access" and r["route"] == "/api/commands"]
    assert len(posts) == 1 and re.fullmatch(r"[0-9a-f]{32}", posts[0]["request_id"])


def test_civic_serve_writes_json_log_lines_with_the_request_id_on_stderr(store: Store, tmp_path: Path) -> None:
    economy = funded_pair(store)
    if not isinstance(store, SqlStore):
        pytest.skip("civic serve opens a database by URL: SQLite or PostgreSQL")
    keys = tmp_path / "keys"
    save_key(keys, economy.key("journal"))
    db = store.engine.url.render_as_string(hide_password=False)
    schema = getattr(store, "_schema", None)
    if schema:
        db += f"{'&' if '?' in db else '?'}options=-csearch_path%3D{schema}"
    port = free_port()
    err = tmp_path / "stderr.log"
    env = os.environ | {"CIVIC_DB": db, "CIVIC_KEYS": str(keys)}
    code = "import sys; from civicledger.cli.main import main; sys.exit(main())"
    with err.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-c", code, "serve", "--port", str(port)], env=env, stderr=sink, stdout=sink
        )
        try:
            url = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=url, timeout=30) as client:
                deadline = time.monotonic() + 60
                while True:
                    try:
                        if client.get("/healthz").status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    assert time.monotonic() < deadline and process.poll() is None, err.read_text()
                    time.sleep(0.2)
                assert client.get("/readyz", headers={"X-Request-ID": "op-1"}).status_code == 200
                response = _pay(client, economy)
                assert response.status_code == 200, response.text
                posted = response.headers["x-request-id"]
        finally:
            process.terminate()
            process.wait(timeout=30)
    lines = [line for line in err.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # uvicorn's own lines are JSON too
    assert any(r["logger"].startswith("uvicorn") for r in records)
    ready = [r for r in records if r.get("request_id") == "op-1"]
    assert [(r["logger"], r["route"], r["status"]) for r in ready] == [("civicledger.access", "/readyz", 200)]
    assert [r["route"] for r in records if r.get("request_id") == posted] == ["/api/commands"]
