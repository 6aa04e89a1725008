"""Evaluating social credit balances and grades at one instant, next to a replay baseline (SC4, SC8).

Builds a SQLite economy with 100,000 enrolled persons and 1,000,000 recorded items (7 grade
adjustments, participations and infractions, and 3 spends per person), then measures:

- ``credits.evaluate_all``: every person's balance and grades at one instant, from the compact
  per-person records the projectors keep (``credits.person``), in one pass (target <= 5 s);
- ``credits.one_person``: one person's balance-and-grades query (target p99 <= 5 ms);
- ``credits.baseline_replay_one_person``: the same query done by replaying that person's journal
  events through the real projectors into an empty store and evaluating there (the events are
  kept per person, which favours the baseline: a real journal is not indexed by person);
  ``credits.baseline_replay_all_estimate`` extrapolates it to every person.

The records are written directly in the exact form the projectors produce (checked on a sample
by replaying the events through the projectors and comparing), since pushing a million signed
commands through the engine would measure the engine, not the evaluation. Detail records
(deciders, evidence) are not written: no figure here reads them.

    .venv/bin/python benchmarks/credits.py [--quick] [--persons N] [--db PATH]

Prints one JSON object per line, with the load average at the start; next to wall-clock figures it
gives CPU time (process time for the whole pass, thread time per query), which other work on the
machine does not inflate. The machine is shared
(2 cores, other work running): figures are noisy, tail latencies most of all.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from civicledger.adapters.memory import MemoryStore
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.adapters.sql.store import SqlStore
from civicledger.kernel.identity import AccountId
from civicledger.kernel.messages import decode_event, encode_message
from civicledger.kernel.registry import ProjectionContext, project
from civicledger.kernel.time import DAY, YEAR, parse_instant
from civicledger.mechanisms.credits import handlers as svc
from civicledger.mechanisms.credits import rules
from civicledger.mechanisms.credits.events import CreditsSpent, GradeAdjusted, PersonEnrolled

START = parse_instant("2030-01-01T00:00:00Z")
AT = START + YEAR
NS_EVENTS = "bench.person_events"
ADJUSTMENTS, SPENDS = 7, 3


def emit(**fields: Any) -> None:
    print(json.dumps(fields, sort_keys=True), flush=True)


def person_id(i: int) -> AccountId:
    return AccountId(f"ac{i:032x}")


def generate(i: int, rng: random.Random, seq: list[int]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One person's compact record and the journal events (with time and seq) that produce it."""
    person = person_id(i)
    born = AT - rng.randint(2 * YEAR, 80 * YEAR)
    enrolled = max(born + YEAR, AT - 5 * YEAR)
    events: list[dict[str, Any]] = [
        {"seq": seq[0], "time": enrolled, "event": encode_message(PersonEnrolled(person, born, person))}
    ]
    seq[0] += 1
    record = rules.new_record(born, enrolled)
    timeline: list[tuple[int, str]] = [(rng.randint(enrolled, AT), "adj") for _ in range(ADJUSTMENTS)]
    timeline += [(rng.randint(enrolled, AT), "spend") for _ in range(SPENDS)]
    spent = 0
    for when, what in sorted(timeline):
        adj_id = f"{seq[0]:010d}.0"
        if what == "adj":
            steps = rng.choice((-2, -1, 1, 1, 2))
            quantity = 0 if rng.random() < 0.4 else rng.randint(1, 2_000)
            duration = rng.randint(30 * DAY, 2 * YEAR)
            consumable, fresh = steps > 0 and quantity > 0, steps > 0
            ev: Any = GradeAdjusted(
                adj_id,
                person,
                "volunteering" if steps > 0 else "infraction",
                "participation",
                steps,
                quantity,
                when,
                when + duration,
                consumable,
                fresh,
                (),
                None,
                "bench",
                "bench",
            )
            record["adj"].append([adj_id, when, when + duration, steps, quantity, int(consumable), ev.kind])
            if fresh:
                record["fresh"].append(when)
        else:
            units = rng.randint(10, 200)
            if rules.accrued(born, when, ((0, 1_000),)) - spent < units:
                continue
            spent += units
            ev = CreditsSpent(f"{seq[0]:010d}", person, "bench", person, "basic", units, {"2": units}, {})
            record["spends"].append([ev.spend, when, units, []])
        events.append({"seq": seq[0], "time": when, "event": encode_message(ev)})
        seq[0] += 1
    record["fresh"].sort()
    return record, events


def replay(events: list[dict[str, Any]]) -> MemoryStore:
    """The baseline's state: that person's events through the real projectors, from nothing."""
    store = MemoryStore()
    with store.write() as uow:
        for item in events:
            project(decode_event(item["event"]), uow, ProjectionContext(item["time"], item["seq"]))
        uow.commit()
    return store


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 persons instead of 100,000")
    parser.add_argument("--persons", type=int, default=None)
    parser.add_argument("--samples", type=int, default=2_000)
    parser.add_argument("--db", type=Path, default=None, help="SQLite file (default: a temporary one)")
    args = parser.parse_args()
    persons = args.persons or (2_000 if args.quick else 100_000)
    workdir = Path(tempfile.mkdtemp(prefix="credits-bench-"))
    db = args.db or workdir / "credits.db"
    store = SqlStore.open(f"sqlite:///{db}")
    ScriptedEconomy(store, start=START, label="credits benchmark")

    rng = random.Random(20300101)
    seq = [1_000]
    items = 0
    t0 = time.perf_counter()
    batch = 10_000
    for first in range(0, persons, batch):
        with store.write() as uow:
            for i in range(first, min(persons, first + batch)):
                record, events = generate(i, rng, seq)
                items += len(record["adj"]) + len(record["spends"])
                uow.records.put(svc.NS_PERSON, person_id(i), record)
                uow.records.put(NS_EVENTS, person_id(i), events)
            uow.commit()
    emit(bench="credits.load", load_average=[round(x, 2) for x in os.getloadavg()], cpus=os.cpu_count())
    emit(
        bench="credits.build",
        backend="sqlite",
        persons=persons,
        items=items,
        seconds=round(time.perf_counter() - t0, 2),
    )

    sample = random.Random(7).sample(range(persons), min(args.samples, persons))
    with store.read() as uow:
        # The records are what the projectors make: replay a few and compare.
        for i in sample[:50]:
            events = uow.records.get(NS_EVENTS, person_id(i))
            with replay(events).read() as mem:
                assert mem.records.get(svc.NS_PERSON, person_id(i)) == uow.records.get(svc.NS_PERSON, person_id(i))

        t0, c0 = time.perf_counter(), time.process_time()
        evaluated = 0
        units = 0
        for standing in svc.evaluate_all(uow, AT):
            evaluated += 1
            units += standing.available
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    emit(
        bench="credits.evaluate_all",
        backend="sqlite",
        persons=evaluated,
        items=items,
        seconds=round(seconds, 3),
        cpu_seconds=round(cpu, 3),
        target_seconds=5.0,
        per_person_us=round(seconds / max(1, evaluated) * 1e6, 1),
        total_available=units,
    )

    # Two separate loops, so the baseline's garbage does not land in the fast path's timings.
    fast: list[float] = []
    slow: list[float] = []
    fast_cpu: list[float] = []
    slow_cpu: list[float] = []
    answers = {}
    gc.collect()
    for i in sample:
        person = person_id(i)
        with store.read() as uow:
            t0, c0 = time.perf_counter(), time.thread_time()
            summary = svc.standing_of(uow, person, AT)
            fast.append((time.perf_counter() - t0) * 1e3)
            fast_cpu.append((time.thread_time() - c0) * 1e3)
        answers[i] = (summary.available, summary.by_grade())
    gc.collect()
    for i in sample:
        person = person_id(i)
        with store.read() as uow:
            t0, c0 = time.perf_counter(), time.thread_time()
            events = uow.records.get(NS_EVENTS, person)
            with replay(events).read() as mem:
                replayed = svc.standing_of(mem, person, AT)
            slow.append((time.perf_counter() - t0) * 1e3)
            slow_cpu.append((time.thread_time() - c0) * 1e3)
        assert answers[i] == (replayed.available, replayed.by_grade())
    emit(
        bench="credits.one_person",
        backend="sqlite",
        samples=len(fast),
        p50_ms=round(statistics.median(fast), 3),
        p99_ms=round(percentile(fast, 0.99), 3),
        cpu_p99_ms=round(percentile(fast_cpu, 0.99), 3),
        max_ms=round(max(fast), 3),
        target_p99_ms=5.0,
    )
    emit(
        bench="credits.baseline_replay_one_person",
        backend="sqlite",
        samples=len(slow),
        p50_ms=round(statistics.median(slow), 3),
        p99_ms=round(percentile(slow, 0.99), 3),
        cpu_p99_ms=round(percentile(slow_cpu, 0.99), 3),
        max_ms=round(max(slow), 3),
        ratio_p99=round(percentile(slow, 0.99) / percentile(fast, 0.99), 2),
    )
    emit(
        bench="credits.baseline_replay_all_estimate",
        backend="sqlite",
        persons=persons,
        seconds=round(statistics.mean(slow) * persons / 1e3, 1),
        note="mean replay time x persons",
    )
    store.close()
    if args.db is None:
        for f in workdir.iterdir():
            f.unlink()
        workdir.rmdir()


if __name__ == "__main__":
    sys.exit(main())
