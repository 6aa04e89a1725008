"""`civic verify` on a journal of real signed entries: serial against signatures checked on every core.

It builds an economy through the engine (a fund issuing a currency, ``--people`` verified persons,
then signed transfers one per transaction, so every tree head is signed; every few hundred entries
a new person opened and attested by the registrar, and some keys rotated, X9) up to ``--entries``
entries or ``--build-seconds``, whichever comes first, and exports it once to a file. Then, in the
same run, it verifies the export (``audit.verify_export``, what ``civic verify --export`` runs):

- the baseline: serially (``--workers 1``, every signature checked in the replay's process);
- in parallel: signatures checked ahead by ``--workers`` processes (default every core,
  ``adapters/parallel_verify.py``), the replay unchanged.

Both reports must be identical. One JSON object per line, with the load average (the machine may be
shared: other work on it slows both runs).

    .venv/bin/python benchmarks/verify.py [--entries 60000] [--build-seconds 240] [--workers N]

Target (issue 15): >= 6,000 entries/s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from civicledger.adapters import parallel_verify
from civicledger.adapters.crypto import Ed25519Verifier
from civicledger.adapters.memory import MemoryStore
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.kernel import audit
from civicledger.kernel import ledger as led
from civicledger.kernel.identity import AccountKind
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.time import parse_instant

XI = CurrencyId("xi")
START = parse_instant("2030-01-01T00:00:00Z")


def emit(**fields: Any) -> None:
    print(json.dumps({**fields, "load_average": [round(x, 2) for x in os.getloadavg()]}, sort_keys=True), flush=True)


def build(entries: int, people: int, seconds: float) -> ScriptedEconomy:
    e = ScriptedEconomy(MemoryStore(), start=START, label="verify benchmark")
    e.open("fund", AccountKind.FUND)
    e.run(led.CreateCurrency("xi", e.account("fund"), "xi"), "fund")
    names = [f"p{i}" for i in range(people)]
    for name in names:
        e.person(name)
        e.run(led.Issue(XI, e.account(name), 10**12), "fund")
    rng = random.Random(15)
    deadline = time.monotonic() + seconds
    n = 0
    while e.executed < entries and time.monotonic() < deadline:
        n += 1
        if n % 500 == 0:
            e.person(f"late-{n}")  # another mechanism command: open, then the registrar attests (X1)
        elif n % 2_000 == 1:
            e.rotate(names[n // 2_000 % people], generation=n)  # X9: the key in force changes
        else:
            a, b = rng.sample(names, 2)
            e.run(led.Transfer((led.Leg(XI, e.account(a), e.account(b), 1 + rng.randrange(1_000)),)), a)
        if n % 100 == 0:
            e.advance(1)
    return e


def timed(path: Path, workers: int) -> tuple[audit.VerifyReport, float, float]:
    """The report, the wall time and this process's CPU time (the replay's; the workers' is
    elsewhere): on a shared machine the CPU time per entry moves less than the wall time."""
    started, cpu = time.perf_counter(), time.process_time()
    report = audit.verify_export(path, Ed25519Verifier(), MemoryStore, parallel_verify.with_workers(workers))
    return report, time.perf_counter() - started, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=60_000)
    parser.add_argument("--build-seconds", type=float, default=240.0)
    parser.add_argument("--people", type=int, default=200)
    parser.add_argument("--workers", type=int, default=parallel_verify.default_workers())
    parser.add_argument("--rounds", type=int, default=2, help="serial and parallel runs, alternated; best kept")
    args = parser.parse_args()

    started = time.perf_counter()
    e = build(args.entries, args.people, args.build_seconds)
    built = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "journal.jsonl"
        with path.open("w", encoding="utf-8") as f:
            count = audit.export_journal(e.store, f)
        emit(what="build", entries=count, seconds=round(built, 1), export_bytes=path.stat().st_size)
        del e

        serial_best = parallel_best = serial_cpu = parallel_cpu = float("inf")
        for _ in range(args.rounds):
            serial, seconds, cpu = timed(path, 1)
            serial_best, serial_cpu = min(serial_best, seconds), min(serial_cpu, cpu)
            emit(
                what="verify serial run",
                entries=serial.entries,
                per_s=round(serial.entries / seconds),
                main_cpu_us_per_entry=round(cpu / count * 1e6),
                ok=serial.ok,
            )
            parallel, seconds, cpu = timed(path, args.workers)
            parallel_best, parallel_cpu = min(parallel_best, seconds), min(parallel_cpu, cpu)
            emit(
                what="verify parallel run",
                entries=parallel.entries,
                per_s=round(parallel.entries / seconds),
                main_cpu_us_per_entry=round(cpu / count * 1e6),
                ok=parallel.ok,
                workers=args.workers,
            )
            if parallel.to_wire() != serial.to_wire() or not serial.ok:
                emit(what="error", serial=serial.to_wire(), parallel=parallel.to_wire())
                sys.exit(1)
    emit(
        what="verify",
        entries=count,
        per_s=round(count / parallel_best),
        cores=os.cpu_count(),
        workers=args.workers,
        baseline_serial_per_s=round(count / serial_best),
        speedup=round(serial_best / parallel_best, 2),
        main_cpu_us_per_entry=round(parallel_cpu / count * 1e6),
        baseline_main_cpu_us_per_entry=round(serial_cpu / count * 1e6),
        target_per_s=6_000,
    )


if __name__ == "__main__":
    main()
