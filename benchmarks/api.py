"""Signed transfers per second over HTTP: `civic serve`'s app on uvicorn, driven from another process.

For each backend (SQLite file, PostgreSQL in a throwaway schema) it builds an economy of payers
holding an issued currency, starts uvicorn (``--workers``) on 127.0.0.1 as a subprocess, signs every
transfer (the command signature and the request signatures, X6) before the clock starts, warms the
server up with ``WARM_UP`` transfers at the same concurrency, then sends ``--transfers`` more over
``--clients`` keep-alive connections opened before the clock starts, and reports requests per
second, p50/p99 latency and ``server_cpu_us_per_transfer`` (the server processes' CPU time over the
measured transfers, read from /proc, divided by their number). Next to it, in the same run, two
baselines: the same kind of transfer through ``Engine.execute`` in-process (no HTTP), and
``GET /api/tree-heads/latest`` over HTTP (no write).

    .venv/bin/python benchmarks/api.py [--quick] [--workers 1] [--clients 32] [--no-postgres]

Targets (issue 7): at least 1,000 signed transfers/s, p99 at most 100 ms, no errors. The machine
these figures come from has 2 cores shared with other work, and the load generator runs on the
same cores as the server: figures are noisy and a lower bound.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from civicledger.adapters.keystore import save_key
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.adapters.sql.store import SqlStore
from civicledger.api.request_signing import sign_request
from civicledger.kernel import ledger as led
from civicledger.kernel.canonical import canonical_bytes
from civicledger.kernel.identity import AccountKind
from civicledger.kernel.money import CurrencyId

XI = CurrencyId("xi")
LABEL = "api benchmark"
WARM_UP = 500
"""Transfers sent before the measured ones, with the same number of connections."""
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def emit(**fields: Any) -> None:
    print(json.dumps(fields, sort_keys=True), flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build(store: Any, people: int) -> ScriptedEconomy:
    e = ScriptedEconomy(store, start=int(time.time()) - 120, label=LABEL)
    e.open("fund", AccountKind.FUND)
    e.run(led.CreateCurrency("xi", e.account("fund"), "xi"), "fund")
    for i in range(people):
        e.open(f"p{i}")
        e.run(led.Issue(XI, e.account(f"p{i}"), 10**9), "fund")
    return e


def sign_transfers(e: ScriptedEconomy, people: int, count: int, at: int) -> list[tuple[bytes, dict[str, str]]]:
    """Bodies and headers of ``count`` transfers, each payer to the next, signed as a client would."""
    from civicledger.kernel.signing import sign_command

    out = []
    keys = [e.key(f"p{i}") for i in range(people)]
    for n in range(count):
        i = n % people
        leg = led.Leg(XI, keys[i].account, keys[(i + 1) % people].account, 1 + n % 97)
        signed = sign_command(e.economy_id, led.Transfer((leg,)), [keys[i]], signed_at=at, command_id=f"t-{n}")
        body = canonical_bytes(signed.to_wire())
        headers = sign_request(
            e.economy_id, "POST", "/api/commands", body, [keys[i]], timestamp=at, nonce=uuid.uuid4().hex
        )
        out.append((body, headers | {"content-type": "application/json"}))
    return out


def engine_baseline(e: ScriptedEconomy, people: int, count: int) -> dict[str, Any]:
    """The same transfers through the engine in this process, one command per transaction."""
    from civicledger.kernel.signing import sign_command

    keys = [e.key(f"p{i}") for i in range(people)]
    at = e.clock.now()
    commands = []
    for n in range(count):
        i = n % people
        leg = led.Leg(XI, keys[i].account, keys[(i + 1) % people].account, 1)
        commands.append(sign_command(e.economy_id, led.Transfer((leg,)), [keys[i]], signed_at=at, command_id=f"b-{n}"))
    t0 = time.perf_counter()
    for c in commands:
        e.engine.execute(c)
    elapsed = time.perf_counter() - t0
    return {"per_s": round(count / elapsed, 1)}


class Connection:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams: the load generator shares the
    server's cores, so it must cost as little CPU per request as possible (httpx costs several
    times more)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> Connection:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def request(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> int:
        if self.writer is None:
            await self.connect()
        assert self.reader is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(body)}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return status


async def drive(url: str, requests: list[tuple[bytes, dict[str, str]]], clients: int) -> dict[str, Any]:
    latencies: list[float] = []
    errors: dict[str, int] = {}
    queue = list(reversed(requests))
    host, port = url.removeprefix("http://").split(":")

    async def worker(connection: Connection) -> None:
        while queue:
            body, headers = queue.pop()
            t0 = time.perf_counter()
            try:
                status = str(await connection.request("POST", "/api/commands", body, headers))
            except (OSError, asyncio.IncompleteReadError) as e:
                status = type(e).__name__
                connection = Connection(host, int(port))
            latencies.append(time.perf_counter() - t0)
            if status != "200":
                errors[status] = errors.get(status, 0) + 1

    # Keep-alive connections are opened before the clock starts: the figures are the steady state,
    # not 32 TCP handshakes and a first burst of 32 simultaneous requests.
    connections = await asyncio.gather(*(Connection(host, int(port)).connect() for _ in range(clients)))
    t0 = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in connections))
    elapsed = time.perf_counter() - t0
    latencies.sort()
    return {
        "requests": len(latencies),
        "per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(1000 * latencies[len(latencies) // 2], 1),
        "p99_ms": round(1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 1),
        "errors": errors,
    }


async def drive_reads(url: str, count: int, clients: int) -> dict[str, Any]:
    latencies: list[float] = []
    remaining = [count]
    host, port = url.removeprefix("http://").split(":")

    async def worker() -> None:
        connection = Connection(host, int(port))
        while remaining[0] > 0:
            remaining[0] -= 1
            t0 = time.perf_counter()
            await connection.request("GET", "/api/tree-heads/latest")
            latencies.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    elapsed = time.perf_counter() - t0
    latencies.sort()
    return {
        "per_s": round(len(latencies) / elapsed, 1),
        "p99_ms": round(1000 * latencies[int(len(latencies) * 0.99)], 1),
    }


def process_tree(pid: int) -> list[Path]:
    """The /proc folders of a process and its live descendants (uvicorn's workers); one that ends
    while it is read is left out."""
    found, todo, seen = [], [pid], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        folder = Path(f"/proc/{current}")
        try:
            for task in (folder / "task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
        found.append(folder)
    return found


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process and its live descendants, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for folder in process_tree(pid):
        try:
            fields = (folder / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def start_server(db_url: str, keys: Path, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = os.environ | {"CIVIC_DB": db_url, "CIVIC_KEYS": str(keys)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "civicledger.api.server:app_from_environment",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/api/economy", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("the server did not start")


def run(backend: str, url: str, args: argparse.Namespace, tmp: Path, schema: str | None = None) -> None:
    people, count = (20, 300) if args.quick else (200, args.transfers)
    warm = min(WARM_UP, count // 4)
    store = SqlStore.open(url, schema=schema) if schema else SqlStore.open(url)
    economy = build(store, people)
    baseline = engine_baseline(economy, people, 200 if args.quick else 1000)
    keys = tmp / f"keys-{backend}"
    save_key(keys, economy.key("journal"))
    store.close()
    server_url = url if schema is None else f"{url}?options=-csearch_path%3D{schema}"
    process, base = start_server(server_url, keys, args.workers)
    try:
        now = int(httpx.get(base + "/api/economy").json()["now"])
        requests = sign_transfers(economy, people, count + warm, now)
        # Warm up with the measured concurrency: batches of every size the run will see, so the
        # statements of each shape are prepared and cached before the clock starts.
        asyncio.run(drive(base, requests[:warm], args.clients))
        cpu_before = cpu_seconds(process.pid)
        result = asyncio.run(drive(base, requests[warm:], args.clients))
        server_cpu = cpu_seconds(process.pid) - cpu_before
        reads = asyncio.run(drive_reads(base, 300 if args.quick else 2000, args.clients))
    finally:
        process.terminate()
        process.wait(timeout=30)
    emit(
        name="signed transfers over HTTP",
        backend=backend,
        workers=args.workers,
        clients=args.clients,
        **result,
        server_cpu_us_per_transfer=round(server_cpu * 1e6 / max(1, len(requests) - warm)),
        engine_in_process_per_s=baseline["per_s"],
        http_read_per_s=reads["per_s"],
        http_read_p99_ms=reads["p99_ms"],
        cores=os.cpu_count(),
        load_average=[round(x, 2) for x in os.getloadavg()],
        target_per_s=1000,
        target_p99_ms=100,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a few hundred transfers")
    parser.add_argument("--transfers", type=int, default=4000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="civic-api-bench-") as tmp:
        run("sqlite", f"sqlite:///{tmp}/bench.db", args, Path(tmp))
        if not args.no_postgres:
            schema = f"bench_api_{uuid.uuid4().hex[:10]}"
            try:
                run("postgresql", args.postgres_url, args, Path(tmp), schema)
            except Exception as e:  # an unreachable server is reported, not hidden
                emit(name="signed transfers over HTTP", backend="postgresql", skipped=f"{type(e).__name__}: {e}")
            finally:
                try:
                    SqlStore.open(args.postgres_url, schema=schema, drop_schema_on_close=True).close()
                except Exception as e:
                    emit(name="drop schema", backend="postgresql", error=f"{type(e).__name__}: {e}")


if __name__ == "__main__":
    main()
