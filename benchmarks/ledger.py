"""Signed transfers per second through the engine, next to a plain-SQL baseline in the same run.

For each backend (SQLite file, PostgreSQL) it measures transfers executed one command per
transaction and in batches, and a baseline that does the same work by hand with the database
driver: check the Ed25519 signature, read both balances, write both, hash the entry into a leaf,
insert the journal row and update the head, one transaction per command or per batch. On
PostgreSQL it also runs 8 writer processes at once (target: at least 3,000 transfers/s).

    .venv/bin/python benchmarks/ledger.py [--quick] [--postgres-url URL] [--no-postgres]

Prints one JSON object per line: name, backend, per_s, baseline_per_s, ratio (and more).
Commands are signed before the clock starts: clients sign, the server verifies.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from civicledger.adapters.crypto import Ed25519Verifier
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.adapters.sql.store import SqlStore
from civicledger.kernel import ledger as led
from civicledger.kernel.engine import Engine
from civicledger.kernel.identity import AccountKind
from civicledger.kernel.journal import SignedCommand
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.ports import Store
from civicledger.kernel.time import parse_instant

XI = CurrencyId("xi")
START = parse_instant("2030-01-01T00:00:00Z")
LABEL = "ledger benchmark"


def emit(**fields: Any) -> None:
    print(json.dumps(fields, sort_keys=True), flush=True)


def build(store: Store, people: int) -> ScriptedEconomy:
    e = ScriptedEconomy(store, start=START, label=LABEL)
    e.open("fund", AccountKind.FUND)
    e.run(led.CreateCurrency("xi", e.account("fund"), "xi"), "fund")
    for i in range(people):
        e.open(f"p{i}")
        e.run(led.Issue(XI, e.account(f"p{i}"), 10**9), "fund")
    return e


def signed_transfers(e: ScriptedEconomy, count: int, people: range, tag: str, seed: int) -> list[SignedCommand]:
    rng = random.Random(seed)
    commands = []
    for n in range(count):
        a, b = rng.sample(list(people), 2)
        legs = (led.Leg(XI, e.account(f"p{a}"), e.account(f"p{b}"), 1 + rng.randrange(100)),)
        commands.append(e.sign(led.Transfer(legs), f"p{a}", cid=f"{tag}-{n}"))
    return commands


def run_engine(engine: Engine, commands: list[SignedCommand], batch: int) -> float:
    started = time.perf_counter()
    if batch == 1:
        for c in commands:
            engine.execute(c)
    else:
        for i in range(0, len(commands), batch):
            outcomes = engine.execute_batch(commands[i : i + batch])
            bad = [o for o in outcomes if isinstance(o, Exception)]
            if bad:
                raise RuntimeError(bad[0])
    return len(commands) / (time.perf_counter() - started)


# The baseline: the same work by hand -----------------------------------------------------------


def baseline_schema(dialect: str) -> list[str]:
    blob = "BLOB" if dialect == "sqlite" else "BYTEA"
    return [
        "CREATE TABLE b_balances (account TEXT, currency TEXT, units BIGINT, PRIMARY KEY (account, currency))",
        f"CREATE TABLE b_journal (seq BIGINT PRIMARY KEY, command_id TEXT UNIQUE, body TEXT, leaf {blob})",
        "CREATE TABLE b_head (id INT PRIMARY KEY, size BIGINT, root TEXT)",
        "INSERT INTO b_head VALUES (1, 0, '')",
    ]


def baseline_prepare(conn: Any, dialect: str, e: ScriptedEconomy, people: int) -> None:
    cur = conn.cursor()
    for statement in baseline_schema(dialect):
        cur.execute(statement)
    ph = "?" if dialect == "sqlite" else "%s"
    cur.executemany(
        f"INSERT INTO b_balances VALUES ({ph}, {ph}, {ph})", [(e.account(f"p{i}"), "xi", 10**9) for i in range(people)]
    )
    conn.commit()


def baseline_run(
    conn: Any, dialect: str, commands: list[SignedCommand], keys: dict[str, bytes], economy_id: str, batch: int
) -> float:
    ph = "?" if dialect == "sqlite" else "%s"
    lock = "" if dialect == "sqlite" else " FOR UPDATE"
    cur = conn.cursor()
    started = time.perf_counter()
    for i in range(0, len(commands), batch):
        if dialect == "sqlite":
            cur.execute("BEGIN IMMEDIATE")
        cur.execute(f"SELECT size, root FROM b_head WHERE id = 1{lock}")
        size, root = cur.fetchone()
        for c in commands[i : i + batch]:
            signature = c.signatures[0]
            Ed25519PublicKey.from_public_bytes(keys[signature.account]).verify(
                bytes.fromhex(signature.signature), c.signing_bytes(economy_id)
            )
            cur.execute(f"SELECT seq FROM b_journal WHERE command_id = {ph}", (c.id,))
            assert cur.fetchone() is None
            leg = c.payload["legs"][0]
            cur.execute(
                f"SELECT units FROM b_balances WHERE account IN ({ph}, {ph}) AND currency = {ph}",
                (leg["source"], leg["target"], leg["currency"]),
            )
            cur.fetchall()
            cur.execute(
                f"UPDATE b_balances SET units = units - {ph} WHERE account = {ph} AND currency = {ph}",
                (leg["units"], leg["source"], leg["currency"]),
            )
            cur.execute(
                f"UPDATE b_balances SET units = units + {ph} WHERE account = {ph} AND currency = {ph}",
                (leg["units"], leg["target"], leg["currency"]),
            )
            body = json.dumps(c.to_wire(), sort_keys=True, separators=(",", ":"))
            leaf = hashlib.sha256(b"\x00" + body.encode()).digest()
            root = hashlib.sha256(b"\x01" + bytes.fromhex(root or "00") + leaf).hexdigest()
            cur.execute(f"INSERT INTO b_journal VALUES ({ph}, {ph}, {ph}, {ph})", (size, c.id, body, leaf))
            size += 1
        cur.execute(f"UPDATE b_head SET size = {ph}, root = {ph} WHERE id = 1", (size, root))
        conn.commit()
    return len(commands) / (time.perf_counter() - started)


# One backend ------------------------------------------------------------------------------------


def measure(backend: str, store: Store, baseline_conn: Any, people: int, count: int, batch: int) -> None:
    e = build(store, people)
    keys = {e.account(f"p{i}"): e.key(f"p{i}").public_key for i in range(people)}
    baseline_prepare(baseline_conn, backend, e, people)
    for mode, size in (("one_command_per_transaction", 1), ("batched", batch)):
        tag = f"{mode}-{uuid.uuid4().hex[:6]}"
        commands = signed_transfers(e, count, range(people), tag, seed=size)
        engine_rate = run_engine(e.engine, commands, size)
        base_rate = baseline_run(
            baseline_conn, backend, signed_transfers(e, count, range(people), tag + "b", size), keys, e.economy_id, size
        )
        emit(
            name=f"signed_transfers_{mode}",
            backend=backend,
            per_s=round(engine_rate, 1),
            baseline_per_s=round(base_rate, 1),
            ratio=round(engine_rate / base_rate, 3),
            transfers=count,
            batch=size,
        )


def concurrent_worker(
    url: str, schema: str, worker: int, people: int, count: int, batch: int, barrier: Any, out: Any
) -> None:
    store = SqlStore.open(url, schema=schema, pool_size=2)
    e = ScriptedEconomy.__new__(ScriptedEconomy)
    e.label = LABEL
    e._bound = {}  # no key of this economy changed (X9)
    e.clock = type("Clock", (), {"now": staticmethod(lambda: START)})()  # type: ignore[assignment]
    with store.read() as uow:
        from civicledger.kernel.state import economy_info

        info = economy_info(uow)
    assert info is not None
    e.economy_id = info.id
    e._ids = iter(range(10**9))  # type: ignore[assignment]
    # Each writer moves money among its own slice of accounts: the writers contend only for the journal.
    mine = range(worker * (people // 8), (worker + 1) * (people // 8))
    commands = signed_transfers(e, count, mine, f"w{worker}-{uuid.uuid4().hex[:6]}", seed=worker)
    engine = Engine(store, e.clock, Ed25519Verifier(), e.key("journal"))
    barrier.wait()
    started = time.perf_counter()
    run_engine(engine, commands, batch)
    out.put((started, time.perf_counter()))
    store.close()


def measure_concurrent(url: str, people: int, count: int, batch: int) -> None:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    store = SqlStore.open(url, schema=schema)
    try:
        build(store, people)
        ctx = mp.get_context("spawn")
        barrier, out = ctx.Barrier(8), ctx.Queue()
        workers = [
            ctx.Process(target=concurrent_worker, args=(url, schema, w, people, count, batch, barrier, out))
            for w in range(8)
        ]
        for p in workers:
            p.start()
        spans = [out.get(timeout=600) for _ in workers]
        for p in workers:
            p.join()
        seconds = max(end for _, end in spans) - min(start for start, _ in spans)
        total = 8 * count
        emit(
            name="signed_transfers_8_concurrent_writers",
            backend="postgresql",
            per_s=round(total / seconds, 1),
            target_per_s=3000,
            transfers=total,
            batch=batch,
            writers=8,
        )
    finally:
        store.close()
        drop = SqlStore.open(url, schema=schema, drop_schema_on_close=True)
        drop.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts, for a smoke run")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("CIVIC_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
    )
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    people, count, batch, concurrent = (40, 200, 50, 200) if args.quick else (400, 3000, 200, 3000)

    with tempfile.TemporaryDirectory() as tmp:
        store = SqlStore.open(f"sqlite:///{Path(tmp) / 'engine.db'}")
        conn = sqlite3.connect(Path(tmp) / "baseline.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        measure("sqlite", store, conn, people, count, batch)
        store.close()

    if args.no_postgres:
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    store = SqlStore.open(args.postgres_url, schema=schema, drop_schema_on_close=True)
    dsn = args.postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, options=f"-csearch_path={schema}") as conn:
        measure("postgresql", store, conn, people, count, batch)
    store.close()
    measure_concurrent(args.postgres_url, people, concurrent, batch)


if __name__ == "__main__":
    sys.exit(main())
