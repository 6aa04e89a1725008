"""Random histories through injected faults, for as long as asked (issue 18): the CI run of
``tests/faults/test_x05_injected_faults.py``, longer.

For each backend and kind of history it runs ``--histories`` histories (or as many as fit in
``--seconds``) from ``--seed`` on, through ``tests/faults/harness.py``: each with a seeded fault plan
(failed calls, dropped connections, crashes between statements, restarts, retries with the same
command id, every check after every step), then the same histories again without faults (the
*baseline*: the same harness and checks, fault rate 0), in the same run. One JSON object per line:
histories/s and faults/s with faults, histories/s of the baseline, and the load average (the machine
may be shared: other work on it slows both). The first failing seed stops the run and prints the
line that reproduces it.

    .venv/bin/python benchmarks/faults.py [--backend memory sqlite postgresql] [--kind ledger demo]
        [--histories 2000 | --seconds 60] [--seed 0] [--rate 0.01] [--verify-every-step]
        [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the harness lives with the tests

from tests.faults.harness import HistoryFailed, database, history, reproduce_line, run_history
from tests.faults.injection import FaultPlan


def run(
    backend: str,
    kind: str,
    seeds: range,
    seconds: float | None,
    rate: float,
    work: Path,
    url: str | None,
    every_step: bool = False,
) -> dict[str, Any]:
    ran: list[int] = []
    faults = restarts = retries = 0
    started = time.perf_counter()
    for seed in seeds:
        if seconds is not None and time.perf_counter() - started > seconds:
            break
        h = history(kind, seed)
        with database(backend, work, url) as db:
            try:
                out = run_history(h, db, FaultPlan(seed, rate), verify_every_step=every_step)
            except HistoryFailed as e:
                raise HistoryFailed(f"{e}\nreproduce: {reproduce_line(kind, seed, backend, rate)}") from e
        ran.append(seed)
        faults += out.plan.faults
        restarts += out.restarts
        retries += out.retries
    faulty = time.perf_counter() - started
    started = time.perf_counter()
    for seed in ran:
        with database(backend, work, url) as db:
            run_history(history(kind, seed), db, FaultPlan(seed, 0.0), verify_every_step=every_step)
    clean = time.perf_counter() - started
    return {
        "backend": backend,
        "kind": kind,
        "histories": len(ran),
        "seeds": [ran[0], ran[-1]] if ran else [],
        "rate": rate,
        "verify_every_step": every_step,
        "seconds": round(faulty, 2),
        "histories_per_s": round(len(ran) / faulty, 2),
        "faults": faults,
        "faults_per_s": round(faults / faulty, 2),
        "restarts": restarts,
        "retries": retries,
        "baseline_seconds": round(clean, 2),
        "baseline_histories_per_s": round(len(ran) / clean, 2) if clean else None,
        "load": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--backend", nargs="+", default=["memory", "sqlite"], choices=["memory", "sqlite", "postgresql"]
    )
    parser.add_argument("--kind", nargs="+", default=["ledger", "demo"], choices=["ledger", "demo"])
    parser.add_argument("--histories", type=int, default=2000, help="per backend and kind (demo: a tenth)")
    parser.add_argument("--seconds", type=float, default=None, help="stop starting histories after this long")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rate", type=float, default=0.01)
    parser.add_argument("--verify-every-step", action="store_true", help="verify after every step, not at the end")
    parser.add_argument("--postgres-url", default=os.environ.get("CIVIC_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backend:
            for kind in args.kind:
                count = args.histories if kind == "ledger" else max(1, args.histories // 10)
                work = Path(tmp) / f"{backend}-{kind}"
                work.mkdir()
                try:
                    row = run(
                        backend,
                        kind,
                        range(args.seed, args.seed + count),
                        args.seconds,
                        args.rate,
                        work,
                        args.postgres_url,
                        args.verify_every_step,
                    )
                except HistoryFailed as e:
                    print(json.dumps({"backend": backend, "kind": kind, "failed": str(e)}), flush=True)
                    return 1
                print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
