"""Helpers for the HTTP tests: the demo economy on the suite's backend, a real uvicorn server on a
free port of 127.0.0.1, and a client that signs commands and requests like any outside client."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from civicledger.adapters.clock import WallClock
from civicledger.adapters.crypto import KeyPair
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.api.app import create_app
from civicledger.api.request_signing import sign_request
from civicledger.demo import run_demo
from civicledger.kernel import ledger as led
from civicledger.kernel.canonical import canonical_bytes
from civicledger.kernel.identity import AccountKind
from civicledger.kernel.journal import SignedCommand
from civicledger.kernel.messages import Command
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.personal import PersonalItem
from civicledger.kernel.ports import Store
from civicledger.kernel.signing import sign_command
from tests.conftest import BACKEND, T0, open_test_store


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def funded_pair(store: Store) -> ScriptedEconomy:
    """A fund that issued the currency ``xi`` and two verified persons, alice (holding 1,000,000
    minor units) and bob: what the fault and backup tests pay with."""
    economy = ScriptedEconomy(store, start=T0, label="civicledger test key")
    economy.open("fund", AccountKind.FUND)
    for name in ("alice", "bob"):
        economy.person(name)
    economy.run(led.CreateCurrency("xi", economy.account("fund"), "ethicap"), "fund")
    economy.run(led.Issue(CurrencyId("xi"), economy.account("alice"), 1_000_000), "fund")
    return economy


@contextmanager
def demo_economy(tmp_path: Path) -> Iterator[ScriptedEconomy]:
    """The `civic demo` economy (every mechanism) on the suite's backend."""
    store = open_test_store(BACKEND, tmp_path)
    try:
        economy, _ = run_demo(store)
        yield economy
    finally:
        store.close()


@contextmanager
def serve_app(app: Any, **options: Any) -> Iterator[str]:
    """uvicorn serving ``app`` on a free port in a background thread, with any further uvicorn
    ``options`` (e.g. the request limits of ``api.limits.server_options``); yields the base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def live_server(store: Store, journal_key: KeyPair) -> Iterator[str]:
    """The civicledger app on ``store``, served in a background thread; yields the base URL."""
    with serve_app(create_app(store, WallClock(), journal_key)) as url:
        yield url


@dataclass
class SigningClient:
    """Signs commands and requests with named keys of a scripted economy, as any client would."""

    http: httpx.Client
    economy: ScriptedEconomy
    personal: dict[str, tuple[PersonalItem, ...]] = field(default_factory=dict)
    """Personal data sealed off a command (IN11), by command id, sent beside it by ``body``."""

    def now(self) -> int:
        return int(self.http.get("/api/economy").json()["now"])

    def key(self, signer: str | KeyPair) -> KeyPair:
        """A named key of the economy (its key in force), or a key given as it is (X9)."""
        return self.economy.key(signer) if isinstance(signer, str) else signer

    def command(
        self,
        command: Command,
        *signers: str | KeyPair,
        cid: str | None = None,
        signed_at: int | None = None,
        seal: bool = True,
    ) -> SignedCommand:
        """Sign ``command``; with ``seal``, its personal text goes off the journal first when the
        rules in force ask it (IN11), to be sent beside it."""
        at = self.now() if signed_at is None else signed_at
        keys = [self.key(s) for s in signers]
        cid = cid or uuid.uuid4().hex
        items: tuple[PersonalItem, ...] = ()
        if seal:
            command, items = self.economy.off_journal(command, cid)
        signed = sign_command(self.economy.economy_id, command, keys, signed_at=at, command_id=cid)
        if items:
            self.personal[cid] = items
        return signed

    def body(self, signed: SignedCommand) -> bytes:
        items = self.personal.get(signed.id, ())
        if items:
            return canonical_bytes({**signed.to_wire(), "personal": [item.to_wire() for item in items]})
        return canonical_bytes(signed.to_wire())

    def headers(
        self,
        body: bytes,
        *signers: str | KeyPair,
        timestamp: int | None = None,
        nonce: str | None = None,
        path: str = "/api/commands",
        method: str = "POST",
    ) -> dict[str, str]:
        keys = [self.key(s) for s in signers]
        ts = self.now() if timestamp is None else timestamp
        return sign_request(
            self.economy.economy_id, method, path, body, keys, timestamp=ts, nonce=nonce or uuid.uuid4().hex
        ) | {"content-type": "application/json"}

    def post(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return self.http.post("/api/commands", content=body, headers=headers)

    def run(
        self,
        command: Command,
        *signers: str | KeyPair,
        cid: str | None = None,
        at: int | None = None,
        seal: bool = True,
    ) -> httpx.Response:
        """Sign the command and the request with the same keys and send it; ``at`` signs both at that
        time instead of asking the server for its clock (a test that must not read while it writes)."""
        body = self.body(self.command(command, *signers, cid=cid, signed_at=at, seal=seal))
        return self.post(body, self.headers(body, *signers, timestamp=at))

    def journal_size(self) -> int:
        return int(self.http.get("/api/economy").json()["entries"])


def problem_of(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    data = response.json()
    assert set(data) >= {"type", "title", "status", "detail", "rule"}, data
    assert data["status"] == response.status_code
    return data  # type: ignore[no-any-return]
