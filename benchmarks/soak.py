"""Soak: a steady signed load against a real `civic serve` for N minutes, one JSON line per window.

It builds an economy of payers holding an issued currency (as benchmarks/api.py does), starts
`civic serve` as a subprocess over it, and sends signed transfers at a fixed rate (``--rate`` per
second, over ``--clients`` keep-alive connections) for ``--minutes``, after ``--warm-up`` seconds
that are not measured. Transfers are signed as they are sent, with the server's time, so the
run can last any length. Every ``--window`` seconds it prints: throughput, p50/p99 latency,
errors by status, the transfers due but not yet sent (the server falling behind the rate), the server's
resident memory (from /proc, the `civic serve` process and its workers), and from the server's
/metrics the journal's size and the mean write batch. The last line checks the targets (issue 18):
no errors, p99 drift under 50% from the first window to the last, RSS growth under 10%; and that
the load was steady: at the end, less than a second's transfers still waiting to be sent.

    .venv/bin/python benchmarks/soak.py [--minutes 10] [--rate 250] [--backend sqlite|postgresql]

The machine these figures come from has 2 cores shared with other work and the load generator runs
on the same cores: each line carries the load average, read it beside the latencies.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

# benchmarks/ is a folder of scripts: the sibling api.py has the economy and the light HTTP client
from api import POSTGRES_URL, XI, Connection, build, emit, free_port, process_tree

from civicledger.adapters.crypto import KeyPair
from civicledger.adapters.keystore import save_key
from civicledger.adapters.sql.store import SqlStore
from civicledger.api.request_signing import sign_request
from civicledger.kernel import ledger as led
from civicledger.kernel.canonical import canonical_bytes
from civicledger.kernel.signing import sign_command

TARGET_P99_DRIFT = 0.5
TARGET_RSS_GROWTH = 0.1
TICK = 0.05
"""Seconds between two rounds of signing the transfers now due (the load is paced, not a burst)."""


def rss_bytes(pid: int) -> int:
    """Resident memory of a process and its live descendants (uvicorn's workers), from /proc."""
    total = 0
    for folder in process_tree(pid):
        try:
            lines = (folder / "status").read_text().splitlines()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += sum(int(line.split()[1]) * 1024 for line in lines if line.startswith("VmRSS:"))
    return total


def scrape(base: str) -> dict[str, float]:
    """The few unlabelled samples of the server's /metrics this report uses."""
    wanted = {"civic_journal_entries", "civic_write_batch_size_sum", "civic_write_batch_size_count"}
    out: dict[str, float] = {}
    for line in httpx.get(base + "/metrics", timeout=10).text.splitlines():
        name, _, value = line.partition(" ")
        if name in wanted:
            out[name] = float(value)
    return out


def start_civic_serve(db_url: str, keys: Path, workers: int, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`civic serve` as an operator runs it; ready when /readyz answers 200."""
    port = free_port()
    env = os.environ | {"CIVIC_DB": db_url, "CIVIC_KEYS": str(keys)}
    code = "import sys; from civicledger.cli.main import main; sys.exit(main())"
    command = [sys.executable, "-c", code, "serve", "--port", str(port), "--workers", str(workers)]
    with log.open("wb") as sink:
        process = subprocess.Popen([*command, "--log-level", "warning"], env=env, stdout=sink, stderr=sink)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                return process, base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"civic serve did not become ready: {log.read_text()[-2000:]}")


class Signer:
    """Signs transfer n (payer n mod people to the next) at the server's time, as a client would."""

    def __init__(self, economy_id: str, keys: list[KeyPair], server_now: int) -> None:
        self.economy_id = economy_id
        self.keys = keys
        self.offset = server_now - time.time()
        self.count = 0

    def next(self) -> tuple[bytes, dict[str, str]]:
        n = self.count
        self.count += 1
        payer, payee = self.keys[n % len(self.keys)], self.keys[(n + 1) % len(self.keys)]
        at = int(time.time() + self.offset)
        leg = led.Leg(XI, payer.account, payee.account, 1 + n % 97)
        signed = sign_command(self.economy_id, led.Transfer((leg,)), [payer], signed_at=at, command_id=f"soak-{n}")
        body = canonical_bytes(signed.to_wire())
        headers = sign_request(
            self.economy_id, "POST", "/api/commands", body, [payer], timestamp=at, nonce=uuid.uuid4().hex
        )
        return body, headers | {"content-type": "application/json"}


class Window:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors: dict[str, int] = {}
        self.started = time.perf_counter()


async def soak(base: str, signer: Signer, pid: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    host, port = base.removeprefix("http://").split(":")
    queue: asyncio.Queue[bool] = asyncio.Queue()  # True: one transfer is due; False: stop
    window = Window()
    measuring = False
    lines: list[dict[str, Any]] = []

    async def client() -> None:
        nonlocal window
        connection = await Connection(host, int(port)).connect()
        while await queue.get():
            body, headers = signer.next()  # signed when sent: a backlog never sends stale signatures
            t0 = time.perf_counter()
            try:
                status = str(await connection.request("POST", "/api/commands", body, headers))
            except (OSError, asyncio.IncompleteReadError) as e:
                status = type(e).__name__
                connection = Connection(host, int(port))
            if measuring:
                window.latencies.append(time.perf_counter() - t0)
                if status != "200":
                    window.errors[status] = window.errors.get(status, 0) + 1

    async def produce(seconds: float) -> None:
        start, sent = time.perf_counter(), 0
        while (elapsed := time.perf_counter() - start) < seconds:
            due = int(args.rate * elapsed) - sent
            for _ in range(due):
                queue.put_nowait(True)
            sent += due
            await asyncio.sleep(TICK)

    clients = [asyncio.create_task(client()) for _ in range(args.clients)]
    await produce(args.warm_up)
    previous = await asyncio.to_thread(scrape, base)
    measuring = True
    window = Window()
    windows = max(1, round(args.minutes * 60 / args.window))
    for index in range(1, windows + 1):
        await produce(args.window)
        done, window = window, Window()
        elapsed = time.perf_counter() - done.started
        metrics = await asyncio.to_thread(scrape, base)
        batches = metrics["civic_write_batch_size_count"] - previous["civic_write_batch_size_count"]
        batched = metrics["civic_write_batch_size_sum"] - previous["civic_write_batch_size_sum"]
        previous = metrics
        latencies = sorted(done.latencies) or [0.0]
        line = {
            "name": "soak window",
            "window": index,
            "seconds": round(elapsed, 1),
            "requests": len(done.latencies),
            "per_s": round(len(done.latencies) / elapsed, 1),
            "p50_ms": round(1000 * latencies[len(latencies) // 2], 1),
            "p99_ms": round(1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 1),
            "errors": done.errors,
            "queued": queue.qsize(),
            "server_rss_bytes": rss_bytes(pid),
            "journal_entries": int(metrics["civic_journal_entries"]),
            "mean_batch": round(batched / batches, 2) if batches else 0,
            "load_average": [round(x, 2) for x in os.getloadavg()],
        }
        emit(**line)
        lines.append(line)
    while not queue.empty():  # what the server did not take in time is dropped, not sent after the run
        queue.get_nowait()
    for _ in clients:
        queue.put_nowait(False)
    await asyncio.gather(*clients)
    return lines


def verdict(lines: list[dict[str, Any]], args: argparse.Namespace, backend: str) -> None:
    first, last = lines[0], lines[-1]
    errors = sum(sum(line["errors"].values()) for line in lines)
    drift = (last["p99_ms"] - first["p99_ms"]) / first["p99_ms"] if first["p99_ms"] else 0.0
    growth = (last["server_rss_bytes"] - first["server_rss_bytes"]) / first["server_rss_bytes"]
    checks = {
        "no_errors": errors == 0,
        "p99_drift_under_50pct": drift < TARGET_P99_DRIFT,
        "rss_growth_under_10pct": growth < TARGET_RSS_GROWTH,
        # a steady load only if the server kept up: under a second's worth still queued at the end
        "rate_kept": last["queued"] <= args.rate,
    }
    emit(
        name="soak targets",
        backend=backend,
        minutes=args.minutes,
        rate=args.rate,
        clients=args.clients,
        workers=args.workers,
        requests=sum(line["requests"] for line in lines),
        errors=errors,
        p99_first_ms=first["p99_ms"],
        p99_last_ms=last["p99_ms"],
        p99_drift=round(drift, 3),
        p99_max_ms=max(line["p99_ms"] for line in lines),
        queued_max=max(line["queued"] for line in lines),
        rss_first_bytes=first["server_rss_bytes"],
        rss_last_bytes=last["server_rss_bytes"],
        rss_growth=round(growth, 4),
        journal_entries=last["journal_entries"],
        cores=os.cpu_count(),
        load_average=[round(x, 2) for x in os.getloadavg()],
        checks=checks,
        passed=all(checks.values()),
    )


def run(args: argparse.Namespace, tmp: Path) -> None:
    schema = f"bench_soak_{uuid.uuid4().hex[:10]}" if args.backend == "postgresql" else None
    url = args.postgres_url if schema else f"sqlite:///{tmp}/soak.db"
    store = SqlStore.open(url, schema=schema) if schema else SqlStore.open(url)
    try:
        economy = build(store, args.people)
        keys = tmp / "keys"
        save_key(keys, economy.key("journal"))
        store.close()
        server_url = f"{url}?options=-csearch_path%3D{schema}" if schema else url
        process, base = start_civic_serve(server_url, keys, args.workers, tmp / "serve.log")
        try:
            now = int(httpx.get(base + "/api/economy").json()["now"])
            signer = Signer(economy.economy_id, [economy.key(f"p{i}") for i in range(args.people)], now)
            lines = asyncio.run(soak(base, signer, process.pid, args))
        finally:
            process.terminate()
            process.wait(timeout=30)
        verdict(lines, args, args.backend)
    finally:
        if schema:
            SqlStore.open(args.postgres_url, schema=schema, drop_schema_on_close=True).close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="measured minutes (after the warm-up)")
    parser.add_argument("--window", type=float, default=30.0, help="seconds a reported window lasts")
    parser.add_argument("--warm-up", type=float, default=15.0, help="seconds of load before the first window")
    parser.add_argument("--rate", type=int, default=250, help="signed transfers sent per second")
    parser.add_argument("--clients", type=int, default=16, help="keep-alive connections")
    parser.add_argument("--people", type=int, default=200, help="payers (each pays the next)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="civic-soak-") as tmp:
        run(args, Path(tmp))


if __name__ == "__main__":
    main()
