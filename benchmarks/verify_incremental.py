"""Incremental verification (X2): re-executing the 1,000 entries a journal gained since the last run,
against re-executing the whole journal, in one run.

It builds a journal of real signed transfers (``--people`` payers of an issued currency, signed
transfers executed through the engine in transactions of ``--batch``) up to ``--entries`` entries,
on a SQLite file. Then:

- ``baseline_full_verify_seconds``: ``civic verify`` on the whole journal (``audit.verify_store``:
  every entry re-executed in memory, then replay compared with the stored state);
- the first incremental run (``civic verify --state``: every entry re-executed into the verified
  state, a SQLite file of its own), which a monitor pays once;
- ``--new`` (1,000) more signed transfers are appended, and the second incremental run is timed:
  only the new entries are re-executed, into the kept state;
- with ``--http``, the same through ``civic monitor``'s code path against the journal served over
  HTTP (checkpoint, tiles, entry bundles, signed heads).

    .venv/bin/python benchmarks/verify_incremental.py [--entries 50000] [--new 1000] [--http]

One JSON object per line, the load average in each. Target (issue 15): incremental verify of 1,000
new entries <= 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn

from civicledger.adapters.crypto import Ed25519Verifier
from civicledger.adapters.memory import MemoryStore
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.adapters.sql.store import SqlStore
from civicledger.kernel import audit
from civicledger.kernel import ledger as led
from civicledger.kernel.identity import AccountKind
from civicledger.kernel.incremental import verify_journal_increment
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.time import parse_instant

XI = CurrencyId("xi")
START = parse_instant("2030-01-01T00:00:00Z")
LABEL = "incremental verify benchmark"


def emit(**fields: Any) -> None:
    fields["load_average"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(fields, sort_keys=True), flush=True)


def build(store: SqlStore, people: int) -> ScriptedEconomy:
    e = ScriptedEconomy(store, start=START, label=LABEL)
    e.open("fund", AccountKind.FUND)
    e.run(led.CreateCurrency("xi", e.account("fund"), "xi"), "fund")
    for i in range(people):
        e.open(f"p{i}")
        e.run(led.Issue(XI, e.account(f"p{i}"), 10**12), "fund")
    return e


def transfers(e: ScriptedEconomy, count: int, people: int, batch: int, tag: str) -> float:
    """``count`` signed transfers through the engine, ``batch`` per transaction; entries per second."""
    rng = random.Random(tag)
    started = time.perf_counter()
    for first in range(0, count, batch):
        commands = []
        for n in range(first, min(count, first + batch)):
            a, b = rng.sample(range(people), 2)
            legs = (led.Leg(XI, e.account(f"p{a}"), e.account(f"p{b}"), 1 + rng.randrange(100)),)
            commands.append(e.sign(led.Transfer(legs), f"p{a}", cid=f"{tag}-{n}"))
        e.advance(1)
        bad = [o for o in e.engine.execute_batch(commands) if isinstance(o, Exception)]
        if bad:
            raise RuntimeError(bad[0])
    return count / (time.perf_counter() - started)


def size_of(store: SqlStore) -> int:
    with store.read() as uow:
        return uow.journal.head().size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=50_000, help="journal size before the new entries")
    parser.add_argument("--new", type=int, default=1_000, help="entries appended after the state was saved")
    parser.add_argument("--people", type=int, default=200)
    parser.add_argument("--batch", type=int, default=100, help="transfers per write transaction")
    parser.add_argument("--http", action="store_true", help="also time civic monitor's path over HTTP")
    parser.add_argument("--quick", action="store_true", help="a small journal (2,000 entries, 200 new)")
    args = parser.parse_args()
    if args.quick:
        args.entries, args.new = 2_000, 200
    verifier = Ed25519Verifier()
    with tempfile.TemporaryDirectory() as tmp:
        store = SqlStore.open(f"sqlite:///{Path(tmp) / 'journal.db'}")
        state = SqlStore.open(f"sqlite:///{Path(tmp) / 'state' / 'state.db'}")
        e = build(store, args.people)
        rate = transfers(e, args.entries - size_of(store), args.people, args.batch, "old")
        entries = size_of(store)
        emit(what="journal built", entries=entries, per_s=round(rate))

        t0 = time.perf_counter()
        full = audit.verify_store(store, verifier, MemoryStore)
        baseline = time.perf_counter() - t0
        assert full.ok, full.reason

        t0 = time.perf_counter()
        first = verify_journal_increment(store, state, verifier, "benchmark")
        first_run = time.perf_counter() - t0
        assert first.ok and first.new_entries == entries, first.reason
        emit(
            what="incremental verify, first run",
            entries=entries,
            seconds=round(first_run, 3),
            baseline_full_verify_seconds=round(baseline, 3),
        )

        transfers(e, args.new, args.people, args.batch, "new")
        t0 = time.perf_counter()
        second = verify_journal_increment(store, state, verifier, "benchmark")
        seconds = time.perf_counter() - t0
        assert second.ok and second.new_entries == args.new, second.reason
        emit(
            what="incremental verify",
            entries=entries,
            new_entries=args.new,
            seconds=round(seconds, 3),
            baseline_full_verify_seconds=round(baseline, 3),
            target_seconds=2.0,
        )
        if args.http:
            http_monitor(e, store, Path(tmp), args)
        state.close()
        store.close()


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """uvicorn on a free port of 127.0.0.1 in a thread; yields the base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def http_monitor(e: ScriptedEconomy, store: SqlStore, tmp: Path, args: argparse.Namespace) -> None:
    """The same over HTTP: the journal served by the app, followed by ``civic monitor``'s code."""
    from civicledger.adapters.clock import WallClock
    from civicledger.api.app import create_app
    from civicledger.cli.monitor import monitor_once

    state = SqlStore.open(f"sqlite:///{tmp / 'monitor' / 'state.db'}")
    try:
        with serving(create_app(store, WallClock(), e.key("journal"), pages=False)) as url:
            t0 = time.perf_counter()
            first = monitor_once(url, state, log_vkey=None, witnesses=[], required=0)
            first_run = time.perf_counter() - t0
            assert first.report.ok, first.report.reason
            transfers(e, args.new, args.people, args.batch, "http")
            t0 = time.perf_counter()
            second = monitor_once(url, state, log_vkey=None, witnesses=[], required=0)
            seconds = time.perf_counter() - t0
            assert second.report.ok and second.report.new_entries == args.new, second.report.reason
        emit(
            what="incremental monitor over HTTP",
            entries=first.report.size,
            new_entries=second.report.new_entries,
            seconds=round(seconds, 3),
            first_run_seconds=round(first_run, 3),
            tiles_fetched=second.tiles_fetched,
        )
    finally:
        state.close()


if __name__ == "__main__":
    sys.exit(main())
