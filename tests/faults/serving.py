"""`civic serve` as a separate process over a funded economy, to be killed and restarted (issue 18)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from civicledger.adapters.keystore import save_key
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.kernel import ledger as led
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.ports import Store
from tests.conftest import BACKEND, POSTGRES_URL, require_postgres
from tests.e2e.serving import SigningClient, free_port, funded_pair


@dataclass
class Economy:
    """A funded pair on a database a served process can open by URL."""

    scripted: ScriptedEconomy
    url: str  # what the server is given (CIVIC_DB)
    keys: Path

    def open(self) -> Store:
        from civicledger.adapters.sql.store import SqlStore

        return SqlStore.open(self.url, create=False)


@contextmanager
def served_economy(tmp_path: Path, url: str | None = None) -> Iterator[Economy]:
    """``funded_pair`` on the suite's SQL backend (or at ``url``), its journal key in a key directory."""
    from civicledger.adapters.sql.store import SqlStore

    schema = None
    if url is None and BACKEND == "postgresql":
        require_postgres()
        schema = f"k_{uuid.uuid4().hex[:16]}"
        store = SqlStore.open(POSTGRES_URL, schema=schema)
        sep = "&" if "?" in POSTGRES_URL else "?"
        url = f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    else:
        url = url or f"sqlite:///{tmp_path / 'economy.db'}"
        store = SqlStore.open(url)
    try:
        scripted = funded_pair(store)
    finally:
        store.close()
    keys = tmp_path / "keys"
    save_key(keys, scripted.key("journal"))
    try:
        yield Economy(scripted, url, keys)
    finally:
        if schema is not None:
            SqlStore.open(POSTGRES_URL, schema=schema, create=False, drop_schema_on_close=True).close()


@contextmanager
def civic_serve(economy: Economy, log: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`civic serve` on a free port; yields its URL and process once it answers. Stopped (SIGKILL)
    on the way out if still running."""
    port = free_port()
    env = os.environ | {"CIVIC_DB": economy.url, "CIVIC_KEYS": str(economy.keys)}
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "civicledger", "serve", "--port", str(port), "--log-level", "warning"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"{url}/api/economy", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "civic serve did not answer:\n" + log.read_text()
            time.sleep(0.1)
        yield url, process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def transfer(client: SigningClient, cid: str, now: int, units: int = 1) -> bytes:
    """The body of a signed transfer of ``units`` from alice to bob with command id ``cid``."""
    e = client.economy
    leg = led.Leg(CurrencyId("xi"), e.account("alice"), e.account("bob"), units)
    return client.body(client.command(led.Transfer((leg,)), "alice", cid=cid, signed_at=now, seal=False))


def send(client: SigningClient, body: bytes, now: int) -> httpx.Response:
    """Send a signed command with a freshly signed request (a new nonce): how a client retries (X5)."""
    return client.post(body, client.headers(body, "alice", timestamp=now))
