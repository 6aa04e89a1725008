"""Inclusion proofs from tiles on a large journal, with writes going on, against the old way in one run.

It builds an economy (a fund, ``PEOPLE`` payers of an issued currency), then bulk-loads filler
entries straight through the store (``JournalRepository.append`` in transactions of ``--batch``
entries, the last head of each signed with the journal key) up to ``--entries`` entries: the
store writes their Merkle subtrees (tiles) exactly as for engine-written entries. The filler
commands are unsigned ``bench.filler`` entries: the journal serves proofs, but ``civic verify``
would refuse it, so it is for this benchmark only.

Then, on that journal:

- ``writes alone``: signed transfers through ``Engine.execute``, one per transaction, paced at
  ``--write-rate`` per second for ``--seconds``; their latency p50/p99;
- ``proof``: ``--readers`` reader threads (spread over ``--reader-processes`` processes, one per
  core by default: a reader process is like one server worker) ask ``audit.inclusion`` (what
  ``GET /api/journal/{seq}`` and ``civic journal show`` serve) for random entries in a closed loop
  while the same paced writes go on; the proofs' latency (GIL and CPU queueing included) and the
  writes' p99 with readers;
- the baseline, in the same run: a few proofs the old way (every leaf hash read, then
  ``merkle.inclusion_proof``), and one reader alone from tiles.

    .venv/bin/python benchmarks/journal.py [--entries 1000000] [--no-postgres] [--postgres-url URL]

One JSON object per line. Targets (issue 15): proof p99 <= 5 ms with 32 readers; writes' p99
with readers at most twice their p99 alone.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.adapters.sql.store import SqlStore
from civicledger.kernel import audit
from civicledger.kernel import ledger as led
from civicledger.kernel.identity import AccountKind
from civicledger.kernel.journal import Entry, SignedCommand, TreeHead, tree_head_bytes
from civicledger.kernel.merkle import inclusion_proof, leaf_hash
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.ports import JournalHead, Store, StoredEntry
from civicledger.kernel.signing import sign_command
from civicledger.kernel.time import parse_instant

XI = CurrencyId("xi")
START = parse_instant("2030-01-01T00:00:00Z")
LABEL = "journal benchmark"
PEOPLE = 20
POSTGRES_URL = os.environ.get("CIVIC_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def emit(**fields: Any) -> None:
    print(json.dumps(fields, sort_keys=True), flush=True)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2) if ordered else 0.0


def build(store: Store) -> ScriptedEconomy:
    e = ScriptedEconomy(store, start=START, label=LABEL)
    e.open("fund", AccountKind.FUND)
    e.run(led.CreateCurrency("xi", e.account("fund"), "xi"), "fund")
    for i in range(PEOPLE):
        e.open(f"p{i}")
        e.run(led.Issue(XI, e.account(f"p{i}"), 10**12), "fund")
    return e


def bulk_load(e: ScriptedEconomy, entries: int, batch: int) -> float:
    """Filler entries through ``JournalRepository.append`` until the journal holds ``entries``;
    returns the entries per second."""
    key = e.key("journal")
    economy_id = e.economy_id
    with e.store.read() as uow:
        size = uow.journal.head().size
    at = e.clock.now()
    t0 = time.perf_counter()
    loaded = 0
    while size < entries:
        with e.store.write() as uow:
            head = uow.journal.head()
            frontier = head.frontier
            stop = min(entries, size + batch)
            for seq in range(size, stop):
                command = SignedCommand(f"filler-{seq}", "bench.filler", {"n": seq}, at)
                entry = Entry(seq, at, command, ({"type": "bench.filled"},), {})
                body = entry.leaf_bytes()
                leaf = leaf_hash(body)
                frontier = frontier.append(leaf)
                signature = ""
                if seq == stop - 1:
                    signature = key.sign(tree_head_bytes(economy_id, frontier.size, frontier.root().hex(), at)).hex()
                tree_head = TreeHead(frontier.size, frontier.root().hex(), at, signature)
                stored = StoredEntry(entry, leaf, tree_head, command.payload_digest(), body)
                uow.journal.append(stored, JournalHead(frontier.size, frontier, at))
            uow.commit()
        loaded += stop - size
        size = stop
    return loaded / (time.perf_counter() - t0) if loaded else 0.0


def paced_writes(e: ScriptedEconomy, rate: float, seconds: float, tag: str) -> list[float]:
    """Transfers one per transaction at ``rate`` per second; each one's latency in ms."""
    keys = [e.key(f"p{i}") for i in range(PEOPLE)]
    count = int(rate * seconds)
    at = e.clock.now()
    commands = []
    for n in range(count):
        i = n % PEOPLE
        leg = led.Leg(XI, keys[i].account, keys[(i + 1) % PEOPLE].account, 1)
        commands.append(
            sign_command(e.economy_id, led.Transfer((leg,)), [keys[i]], signed_at=at, command_id=f"{tag}-{n}")
        )
    out = []
    start = time.perf_counter()
    for n, command in enumerate(commands):
        due = start + n / rate
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        t0 = time.perf_counter()
        e.engine.execute(command)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def reader_process(url: str, schema: str | None, threads: int, size: int, stop_at: float, out: Any) -> None:
    """``threads`` readers asking for inclusion proofs of random entries until ``stop_at``."""
    store = SqlStore.open(url, create=False, schema=schema, pool_size=threads)
    latencies: list[float] = []
    lock = threading.Lock()

    def read(seed: int) -> None:
        rng = random.Random(seed)
        mine = []
        while time.time() < stop_at:
            t0 = time.perf_counter()
            audit.inclusion(store, rng.randrange(size))
            mine.append((time.perf_counter() - t0) * 1000)
        with lock:
            latencies.extend(mine)

    workers = [threading.Thread(target=read, args=(os.getpid() * 100 + i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    store.close()
    out.put(latencies)


def measure(backend: str, url: str, schema: str | None, args: argparse.Namespace) -> None:
    store = SqlStore.open(url, schema=schema, drop_schema_on_close=schema is not None)
    try:
        e = build(store)
        per_s = bulk_load(e, args.entries, args.batch)
        with store.read() as uow:
            size = uow.journal.head().size
        emit(what="bulk load", backend=backend, entries=size, per_s=round(per_s))

        # The baseline: the old way reads every leaf hash for one proof.
        old: list[float] = []
        for seq in random.Random(1).sample(range(size), 3):
            t0 = time.perf_counter()
            with store.read() as uow:
                head = uow.journal.latest_signed_head()
                assert head is not None
                reference = inclusion_proof(seq, uow.journal.leaf_hashes(head.size))
            old.append((time.perf_counter() - t0) * 1000)
            assert audit.inclusion(store, seq, head.size)["proof"] == [p.hex() for p in reference]
        alone: list[float] = []
        rng = random.Random(2)
        for _ in range(300):
            t0 = time.perf_counter()
            audit.inclusion(store, rng.randrange(size))
            alone.append((time.perf_counter() - t0) * 1000)
        emit(
            what="proof, one reader",
            backend=backend,
            entries=size,
            p50_ms=pct(alone, 0.5),
            p99_ms=pct(alone, 0.99),
            baseline_all_leaves_ms=round(statistics.median(old), 1),
        )

        writes_alone = paced_writes(e, args.write_rate, args.seconds, "alone")
        processes = max(1, min(args.reader_processes, args.readers))
        stop_at = time.time() + args.seconds + 2
        queue: Any = mp.get_context("spawn").Queue()
        shares = [args.readers // processes + (i < args.readers % processes) for i in range(processes)]
        readers = [
            mp.get_context("spawn").Process(target=reader_process, args=(url, schema, n, size, stop_at, queue))
            for n in shares
        ]
        for r in readers:
            r.start()
        time.sleep(1.5)  # the readers connect and warm up
        writes_with = paced_writes(e, args.write_rate, args.seconds, "with")
        proofs: list[float] = []
        for _ in readers:
            proofs += queue.get()
        for r in readers:
            r.join()
        emit(
            what="proof",
            backend=backend,
            entries=size,
            readers=args.readers,
            reader_processes=processes,
            proofs_per_s=round(len(proofs) / (args.seconds + 0.5)),
            p50_ms=pct(proofs, 0.5),
            p99_ms=pct(proofs, 0.99),
            writes_per_s=args.write_rate,
            writes_p99_ms_alone=pct(writes_alone, 0.99),
            writes_p99_ms_with_readers=pct(writes_with, 0.99),
            target="proof p99 <= 5 ms with 32 readers; writes' p99 with readers <= 2x alone",
            met_proof=pct(proofs, 0.99) <= 5,
            met_writes=pct(writes_with, 0.99) <= 2 * pct(writes_alone, 0.99),
            cores=os.cpu_count(),
            load_average=[round(x, 2) for x in os.getloadavg()],
        )
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=5_000, help="bulk-loaded entries per transaction")
    parser.add_argument("--readers", type=int, default=32)
    parser.add_argument("--reader-processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--write-rate", type=float, default=100.0, help="paced writes per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--sqlite", action="store_true", help="also measure a SQLite file")
    args = parser.parse_args()
    if args.sqlite or args.no_postgres:
        with tempfile.TemporaryDirectory() as tmp:
            measure("sqlite", f"sqlite:///{Path(tmp) / 'journal.db'}", None, args)
    if not args.no_postgres:
        measure("postgresql", args.postgres_url, f"bench_{uuid.uuid4().hex[:10]}", args)


if __name__ == "__main__":
    sys.exit(main())
