"""`civic serve --read-only`: the server an operator runs beside the writer for the journal's
readers (docs/operations.md): it answers reads, refuses every method that may write, and its
workers run below the writer's CPU priority with a short GIL switch interval."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from civicledger.adapters.keystore import save_key
from civicledger.adapters.sql.store import SqlStore
from civicledger.api.app import create_app
from civicledger.api.server import READ_NICE, READ_SWITCH_INTERVAL
from civicledger.kernel.ports import Store
from tests.e2e.serving import free_port, funded_pair, problem_of, serve_app
from tests.e2e.test_operations import _pay, store  # noqa: F401  (the suite's backend)


def test_x02_a_read_only_app_serves_proofs_and_refuses_writes(store: Store) -> None:  # noqa: F811
    economy = funded_pair(store)
    app = create_app(store, economy.clock, economy.key("journal"), pages=False, read_only=True)
    with serve_app(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        proof = client.get("/api/journal/1")
        assert proof.status_code == 200 and proof.json()["seq"] == 1
        refused = _pay(client, economy)
        assert refused.status_code == 405 and refused.headers["allow"] == "GET, HEAD, OPTIONS"
        assert "--read-only" in problem_of(refused)["detail"]
        assert client.delete("/api/journal/1").status_code == 405
    with store.read() as uow:
        before = uow.journal.head().size
    writer = create_app(store, economy.clock, economy.key("journal"), pages=False)
    with serve_app(writer) as url, httpx.Client(base_url=url, timeout=30) as client:
        assert _pay(client, economy).status_code == 200  # the same store takes writes from the writer
    with store.read() as uow:
        assert uow.journal.head().size == before + 1


def test_civic_serve_read_only_workers_run_at_a_lower_priority(store: Store, tmp_path: Path) -> None:  # noqa: F811
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
    env = os.environ | {"CIVIC_DB": db, "CIVIC_KEYS": str(keys)}
    code = "import sys; from civicledger.cli.main import main; sys.exit(main())"
    process = subprocess.Popen(
        [sys.executable, "-c", code, "serve", "--read-only", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline and process.poll() is None, process.stderr
                time.sleep(0.2)
            assert client.get("/api/journal/0").status_code == 200
            assert _pay(client, economy).status_code == 405
        # one worker: uvicorn serves in the process it was started in
        assert os.getpriority(os.PRIO_PROCESS, process.pid) == os.getpriority(os.PRIO_PROCESS, 0) + READ_NICE
    finally:
        process.terminate()
        process.communicate(timeout=30)


def test_a_read_worker_lowers_its_priority_and_shortens_its_gil_turns() -> None:
    code = (
        "import os, sys; from civicledger.api.server import become_read_worker; "
        "before = os.getpriority(os.PRIO_PROCESS, 0); become_read_worker(3, idle=True); "
        "print(os.getpriority(os.PRIO_PROCESS, 0) - before, sys.getswitchinterval(), os.sched_getscheduler(0))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    lowered, interval, policy = out.stdout.split()
    assert int(lowered) == 3 and float(interval) == pytest.approx(READ_SWITCH_INTERVAL)
    assert int(policy) == os.SCHED_IDLE
    assert sys.getswitchinterval() > READ_SWITCH_INTERVAL  # Python's default, which this process keeps
