"""Inclusion proofs from tiles on a large journal, with writes going on, against the old way in one run.

It builds an economy (a fund, ``PEOPLE`` payers of an issued currency), then bulk-loads filler
entries straight through the store (``JournalRepository.append`` in transactions of ``--batch``
entries, the last head of each signed with the journal key) up to ``--entries`` entries: the
store writes their Merkle subtrees (tiles) exactly as for engine-written entries. The filler
commands are unsigned ``bench.filler`` entries: the journal serves proofs, but ``civic verify``
would refuse it, so it is for this benchmark only.

Then, on that journal:

- ``proof, one reader``: 300 proofs the way before the tile cache (a read transaction: newest
  signed head, entry, subtrees), 300 from a cold tile cache, and a few the oldest way (every leaf
  hash read, then ``merkle.inclusion_proof``): the baselines, in the same run;
- ``writes alone``: signed transfers through ``Engine.execute``, one per transaction, paced at
  ``--write-rate`` per second for ``--seconds``; their latency p50/p99;
- ``proof, before the tile cache`` (unless ``--no-baseline-readers`` or ``--no-baselines``),
  ``proof, request threads`` (unless ``--no-baseline-readers``) and ``proof``: ``--readers``
  readers (spread over ``--reader-processes`` processes, one per core by default: a reader
  process is like one server worker) ask for random entries in a closed loop while the same
  paced writes go on: the way before the cache, in threads; ``audit.inclusion`` in threads (a
  ``def`` route's thread pool, before decision 0031); and ``proof``, the readers as tasks of one
  asyncio loop a process, each request answered by ``reads.served_inclusion`` as ``GET
  /api/journal/{seq}`` answers it (a warm proof at once, from the tree above the tiles proven
  for the head; any other in a request thread). The proofs' latency (GIL and CPU queueing
  included), the readers' CPU per proof, and the writes' latency with readers. Before
  ``proof`` each reader process warms its tile cache for up to ``--warmup`` seconds (one proof per
  level-0 tile, newest first, until the cache's bound: each also keeps its entry bundle), as a
  running server's cache is; the warm-up time and the cache's size and hits are printed.

A reader process is a read worker of ``civic serve --read-only`` (docs/operations.md): it calls
the same ``become_read_worker`` (nice ``--reader-nice``, 10; GIL switch interval
``--switch-interval``, 0.2 ms) and opens the same ``TileCache`` (``--entry-mib`` of entry
bundles, 256). ``--reader-nice 0 --switch-interval 0.005`` measures readers as plain workers.

``--reuse`` keeps the PostgreSQL journal in schema ``bench_journal_<entries>`` of the database
and finds it again next time (the economy's commands replay, nothing is loaded), so a measurement
takes about a minute with ``--no-baselines`` instead of a bulk load each time; the paced writes
add ``--write-rate x --seconds`` entries to it two or three times a run.

    .venv/bin/python benchmarks/journal.py [--entries 1000000] [--reuse] [--no-baselines]
        [--no-postgres] [--postgres-url URL]

One JSON object per line. Targets (issue 15): proof p99 <= 5 ms with 32 readers; writes' p99
with readers at most twice their p99 alone (``met_proof``, ``met_writes``, with the load average).
"""

from __future__ import annotations

import argparse
import asyncio
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
from civicledger.api import reads
from civicledger.api.server import READ_NICE, READ_SWITCH_INTERVAL, become_read_worker
from civicledger.kernel import audit
from civicledger.kernel import ledger as led
from civicledger.kernel.identity import AccountKind
from civicledger.kernel.journal import Entry, SignedCommand, TreeHead, tree_head_bytes
from civicledger.kernel.merkle import inclusion_plan, inclusion_proof, leaf_hash
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.ports import JournalHead, Store, StoredEntry
from civicledger.kernel.signing import sign_command
from civicledger.kernel.tilecache import DEFAULT_ENTRY_BYTES, TileCache
from civicledger.kernel.tiles import TILE_WIDTH
from civicledger.kernel.time import parse_instant

XI = CurrencyId("xi")
START = parse_instant("2030-01-01T00:00:00Z")
LABEL = "journal benchmark"
PEOPLE = 20
POSTGRES_URL = os.environ.get("CIVIC_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


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


def old_inclusion(store: Store, seq: int) -> list[bytes]:
    """A proof as ``audit.inclusion`` read it before the tile cache: in a read transaction, the
    newest signed head, the entry, then the plan's subtrees (four statements and a rollback)."""
    with store.read() as uow:
        head = uow.journal.latest_signed_head()
        assert head is not None and uow.journal.get(seq) is not None
        return audit.proof_from_subtrees(uow.journal, inclusion_plan(seq, head.size))


def reader_process(
    url: str,
    schema: str | None,
    threads: int,
    size: int,
    start_at: float,
    stop_at: float,
    old: bool,
    worker: tuple[int, float, bool],
    entry_bytes: int,
    model: str,
    out: Any,
) -> None:
    """``threads`` readers asking for inclusion proofs of random entries from ``start_at`` until
    ``stop_at``; before that, the process warms its tile cache as a long-running server's is (one
    proof per level-0 tile, newest first, up to the cache's bound: each also reads its entry
    bundle). ``old``: the way before the cache. ``worker``: the nice and switch interval
    ``become_read_worker`` gives the process, as ``civic serve --read-only`` gives its workers."""
    become_read_worker(*worker)
    store = SqlStore.open(url, create=False, schema=schema, pool_size=threads, tiles=TileCache(entry_bytes=entry_bytes))
    t0 = time.perf_counter()
    warmed = 0
    if not old:
        for seq in range(size - 1, -1, -TILE_WIDTH):
            audit.inclusion(store, seq)
            warmed += 1
            if store.tiles.stats().evictions or time.time() > start_at - 0.5:
                break
    warm_s = time.perf_counter() - t0
    latencies: list[float] = []
    lock = threading.Lock()
    cpu0 = time.process_time()
    if model == "loop" and not old:
        latencies = asyncio.run(_loop_readers(store, threads, size, start_at, stop_at))
        cpu = time.process_time() - cpu0
        _report(store, latencies, warm_s, warmed, cpu, out)
        return

    def read(seed: int) -> None:
        rng = random.Random(seed)
        mine = []
        while time.time() < start_at:
            time.sleep(0.005)
        while time.time() < stop_at:
            t0 = time.perf_counter()
            if old:
                old_inclusion(store, rng.randrange(size))
            else:
                audit.inclusion(store, rng.randrange(size))
            mine.append((time.perf_counter() - t0) * 1000)
        with lock:
            latencies.extend(mine)

    workers = [threading.Thread(target=read, args=(os.getpid() * 100 + i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    _report(store, latencies, warm_s, warmed, time.process_time() - cpu0, out)


async def _loop_readers(store: Store, clients: int, size: int, start_at: float, stop_at: float) -> list[float]:
    """``clients`` readers as a server's event loop serves them (``GET /api/journal/{seq}``,
    ``reads.served_inclusion``): each asks for a random entry, its request joins the loop's queue
    behind those already there (one ``sleep(0)``), and the loop answers them in turn, a warm proof
    at once and any other from a request thread. HTTP's own parsing is left out, as for the
    threads."""
    latencies: list[float] = []

    async def client(seed: int) -> None:
        rng = random.Random(seed)
        while time.time() < start_at:
            await asyncio.sleep(0.005)
        while time.time() < stop_at:
            seq = rng.randrange(size)
            t0 = time.perf_counter()
            await asyncio.sleep(0)
            await reads.served_inclusion(store, seq, None)
            latencies.append((time.perf_counter() - t0) * 1000)

    await asyncio.gather(*(client(os.getpid() * 100 + i) for i in range(clients)))
    return latencies


def _report(store: SqlStore, latencies: list[float], warm_s: float, warmed: int, cpu: float, out: Any) -> None:
    stats = store.tiles.stats()
    entries = store.tiles.entries.stats()
    store.close()
    out.put((latencies, warm_s, warmed, cpu, stats, entries))


def raise_priority(store: Store, nice: int) -> None:
    """The diagnosis of slow writes under readers: give this process and the PostgreSQL backends of
    its pool the CPU first (needs root and the database on this machine)."""
    assert isinstance(store, SqlStore)
    os.setpriority(os.PRIO_PROCESS, 0, nice)
    connections = [store.engine.connect() for _ in range(4)]  # the pool's, the writer's among them
    try:
        for conn in connections:
            backend = int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
            os.setpriority(os.PRIO_PROCESS, backend, nice)
    finally:
        for conn in connections:
            conn.close()


def readers_with_writes(
    e: ScriptedEconomy,
    url: str,
    schema: str | None,
    size: int,
    args: argparse.Namespace,
    old: bool,
    tag: str,
    model: str = "loop",
) -> dict[str, Any]:
    """32 readers (the old way, or from the tile cache) while the paced writes go on."""
    processes = max(1, min(args.reader_processes, args.readers))
    start_at = time.time() + (2.0 if old else args.warmup)  # the old way has no cache to fill
    favoured = args.writer_nice is not None and not old and e.store.backend == "postgresql"
    stop_at = start_at + args.seconds * (2 if favoured else 1) + 1.5
    worker = (args.reader_nice, args.switch_interval, args.reader_idle)
    ctx = mp.get_context("spawn")
    queue: Any = ctx.Queue()
    shares = [args.readers // processes + (i < args.readers % processes) for i in range(processes)]
    readers = [
        ctx.Process(
            target=reader_process,
            args=(url, schema, n, size, start_at, stop_at, old, worker, args.entry_mib << 20, model, queue),
        )
        for n in shares
    ]
    for r in readers:
        r.start()
    time.sleep(max(0.0, start_at - time.time()) + 1.5)  # the readers are reading
    writes = paced_writes(e, args.write_rate, args.seconds, tag)
    favoured_writes = None
    if favoured:
        raise_priority(e.store, args.writer_nice)
        favoured_writes = paced_writes(e, args.write_rate, args.seconds, tag + "-nice")
    proofs: list[float] = []
    warm: list[float] = []
    cpu = 0.0
    tiles = bytes_ = hits = misses = bundles = entry_bytes = entry_hits = entry_misses = 0
    for _ in readers:
        latencies, warm_s, _, process_cpu, stats, entries = queue.get()
        proofs += latencies
        warm.append(round(warm_s, 1))
        cpu += process_cpu
        tiles, bytes_ = max(tiles, stats.tiles), max(bytes_, stats.bytes)
        hits, misses = hits + stats.hits, misses + stats.misses
        bundles, entry_bytes = max(bundles, entries.bundles), max(entry_bytes, entries.bytes)
        entry_hits, entry_misses = entry_hits + entries.hits, entry_misses + entries.misses
    for r in readers:
        r.join()
    seconds = stop_at - start_at
    extra: dict[str, Any] = {}
    if favoured_writes is not None:
        extra = {
            "writer_nice": args.writer_nice,
            "writes_p50_ms_with_readers_writer_favoured": pct(favoured_writes, 0.5),
            "writes_p99_ms_with_readers_writer_favoured": pct(favoured_writes, 0.99),
        }
    return {
        **extra,
        "proofs_per_s": round(len(proofs) / seconds),
        "p50_ms": pct(proofs, 0.5),
        "p90_ms": pct(proofs, 0.9),
        "p99_ms": pct(proofs, 0.99),
        "reader_cpu_ms_per_proof": round(cpu * 1000 / max(1, len(proofs)), 3),
        "writes_p50_ms_with_readers": pct(writes, 0.5),
        "writes_p99_ms_with_readers": pct(writes, 0.99),
        "warmup_s": warm,
        "cache": {
            "tiles": tiles,
            "mib": round(bytes_ / 2**20, 1),
            "node_hits": hits,
            "node_misses": misses,
            "bundles": bundles,
            "bundle_mib": round(entry_bytes / 2**20, 1),
            "entry_hits": entry_hits,
            "entry_misses": entry_misses,
        },
        "entry_cache_mib": args.entry_mib,
        "reader_model": "threads" if old else model,
        "reader_nice": args.reader_nice,
        "reader_idle": args.reader_idle,
        "switch_interval_ms": round(args.switch_interval * 1000, 3),
    }


def reused_schema(entries: int) -> str:
    """The PostgreSQL schema ``--reuse`` keeps a journal of ``entries`` in, found again by its name."""
    return f"bench_journal_{entries}"


def measure(backend: str, url: str, schema: str | None, args: argparse.Namespace) -> None:
    keep = args.reuse and schema is not None
    store = SqlStore.open(url, schema=schema, drop_schema_on_close=schema is not None and not keep)
    try:
        t0 = time.perf_counter()
        e = build(store)  # on a kept journal the same commands are replayed (idempotent), nothing is written
        per_s = bulk_load(e, args.entries, args.batch)
        with store.read() as uow:
            size = uow.journal.head().size
        emit(
            what="bulk load",
            backend=backend,
            entries=size,
            per_s=round(per_s),
            reused=e.replayed > 0,
            schema=schema,
            seconds=round(time.perf_counter() - t0, 1),
        )

        # The baseline: the old way reads every leaf hash for one proof.
        old: list[float] = []
        for seq in random.Random(1).sample(range(size), 3 if args.baselines else 0):
            t0 = time.perf_counter()
            with store.read() as uow:
                head = uow.journal.latest_signed_head()
                assert head is not None
                reference = inclusion_proof(seq, uow.journal.leaf_hashes(head.size))
            old.append((time.perf_counter() - t0) * 1000)
            assert audit.inclusion(store, seq, head.size)["proof"] == [p.hex() for p in reference]
        uncached: list[float] = []
        rng = random.Random(2)
        for _ in range(300):
            t0 = time.perf_counter()
            old_inclusion(store, rng.randrange(size))
            uncached.append((time.perf_counter() - t0) * 1000)
        alone: list[float] = []
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
            note="a cold tile cache: most proofs read a tile",
            before_tile_cache_p50_ms=pct(uncached, 0.5),
            before_tile_cache_p99_ms=pct(uncached, 0.99),
            baseline_all_leaves_ms=round(statistics.median(old), 1) if old else None,
        )

        run = uuid.uuid4().hex[:8]  # a kept journal already holds the command ids of earlier runs
        writes_alone = paced_writes(e, args.write_rate, args.seconds, f"alone-{run}")
        common = {
            "backend": backend,
            "entries": size,
            "readers": args.readers,
            "reader_processes": max(1, min(args.reader_processes, args.readers)),
            "writes_per_s": args.write_rate,
            "writes_p50_ms_alone": pct(writes_alone, 0.5),
            "writes_p99_ms_alone": pct(writes_alone, 0.99),
            "cores": os.cpu_count(),
        }
        if args.baseline_readers and args.baselines:
            before = readers_with_writes(e, url, schema, size, args, True, f"before-{run}")
            before.pop("cache")
            before.pop("warmup_s")
            emit(what="proof, before the tile cache", **common, **before, load_average=load())
        if args.baseline_readers:
            threads = readers_with_writes(e, url, schema, size, args, False, f"threads-{run}", "threads")
            emit(what="proof, request threads", **common, **threads, load_average=load())
        after = readers_with_writes(e, url, schema, size, args, False, f"with-{run}")
        emit(
            what="proof",
            **common,
            **after,
            target="proof p99 <= 5 ms with 32 readers; writes' p99 with readers <= 2x alone",
            met_proof=after["p99_ms"] <= 5,
            met_writes=after["writes_p99_ms_with_readers"] <= 2 * common["writes_p99_ms_alone"],
            load_average=load(),
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
    parser.add_argument(
        "--warmup", type=float, default=30.0, help="seconds the readers may spend filling their tile caches"
    )
    parser.add_argument(
        "--writer-nice",
        type=int,
        default=None,
        help="after the writes with readers, write again with the writer and its backends at this nice (root)",
    )
    parser.add_argument(
        "--no-baseline-readers",
        dest="baseline_readers",
        action="store_false",
        help="skip the baseline readers: request threads (and, unless --no-baselines, the way before the tile cache)",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the PostgreSQL journal in schema bench_journal_ENTRIES and use it again next time (no bulk load)",
    )
    parser.add_argument(
        "--no-baselines",
        dest="baselines",
        action="store_false",
        help="skip the slow baselines (every leaf read for a proof; the readers before the tile cache)",
    )
    parser.add_argument(
        "--reader-nice",
        type=int,
        default=READ_NICE,
        help="the reader processes' nice, as `civic serve --read-only` gives its workers (0: the writer's)",
    )
    parser.add_argument(
        "--reader-idle",
        action="store_true",
        help="the reader processes under SCHED_IDLE (`civic serve --read-only --idle`)",
    )
    parser.add_argument(
        "--switch-interval",
        type=float,
        default=READ_SWITCH_INTERVAL,
        help="the reader processes' sys.setswitchinterval, as a read worker's (Python's default: 0.005)",
    )
    parser.add_argument(
        "--entry-mib",
        type=int,
        default=DEFAULT_ENTRY_BYTES >> 20,
        help="each reader process's bound on kept entry bundles (a server's default; the fillers are "
        "a third of a signed transfer's size: 80 holds what the default holds of real entries, 41%%)",
    )
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--sqlite", action="store_true", help="also measure a SQLite file")
    args = parser.parse_args()
    if args.sqlite or args.no_postgres:
        with tempfile.TemporaryDirectory() as tmp:
            measure("sqlite", f"sqlite:///{Path(tmp) / 'journal.db'}", None, args)
    if not args.no_postgres:
        schema = reused_schema(args.entries) if args.reuse else f"bench_{uuid.uuid4().hex[:10]}"
        measure("postgresql", args.postgres_url, schema, args)


if __name__ == "__main__":
    sys.exit(main())
