"""The write path's shortcuts (docs/api.md, "Performance"): ``POST /api/commands`` goes straight from
the outer ASGI layer to its handler, with the same answers as through the router; an unexpected
failure is still a problem+json 500 that writes nothing; a served process freezes its start-up heap."""

from __future__ import annotations

import gc
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from civicledger.adapters.clock import WallClock
from civicledger.adapters.keystore import save_key
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.adapters.stores import open_store
from civicledger.api.app import create_app
from civicledger.api.request_signing import sign_request
from civicledger.api.server import app_from_environment, settle_heap
from civicledger.kernel import ledger as led
from civicledger.kernel.canonical import canonical_bytes
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.signing import sign_command
from tests.e2e.serving import serve_app


def _routed_only(app: FastAPI) -> FastAPI:
    """The same app with the shortcut switched off: every request goes through the router."""
    for middleware in app.user_middleware:
        if "commands" in middleware.kwargs:
            middleware.kwargs["commands"] = None
    return app


@contextmanager
def serving(app: FastAPI) -> Iterator[httpx.Client]:
    with serve_app(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        client.app = app  # type: ignore[attr-defined]
        yield client


@pytest.fixture
def clients(economy: ScriptedEconomy) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    economy.person("alice")
    direct = create_app(economy.store, WallClock(), economy.key("journal"), pages=False)
    routed = _routed_only(create_app(economy.store, WallClock(), economy.key("journal"), pages=False))
    with serving(direct) as a, serving(routed) as b:
        yield a, b


def _signed(client: httpx.Client, economy: ScriptedEconomy, *, forge: bool = False) -> tuple[bytes, dict[str, str]]:
    now = int(client.get("/api/economy").json()["now"])
    alice = economy.key("alice")
    leg = led.Leg(CurrencyId("nothing-here"), alice.account, economy.account("gov1"), 5)
    command = sign_command(
        economy.economy_id, led.Transfer((leg,)), [alice], signed_at=now, command_id=uuid.uuid4().hex
    )
    body = canonical_bytes(command.to_wire())
    signer = economy.key("gov2") if forge else alice
    headers = sign_request(
        economy.economy_id, "POST", "/api/commands", body, [signer], timestamp=now, nonce=uuid.uuid4().hex
    )
    if forge:  # gov2's signature presented as alice's
        headers["Civic-Signature"] = headers["Civic-Signature"].replace(signer.account, alice.account)
    return body, headers | {"content-type": "application/json"}


def _answer(client: httpx.Client, body: bytes, headers: dict[str, str]) -> tuple[int, str, Any]:
    response = client.post("/api/commands", content=body, headers=headers)
    return response.status_code, response.headers["content-type"], response.json()


def test_x06_the_direct_command_path_answers_exactly_as_the_router_does(
    economy: ScriptedEconomy, clients: tuple[httpx.Client, httpx.Client]
) -> None:
    direct, routed = clients
    for body, headers in [
        (b"{not json", {"content-type": "application/json"}),
        (b'{"id": "x", "type": "ledger.transfer", "payload": {"a": 1.5}, "signed_at": 1, "signatures": []}', {}),
        _signed(direct, economy, forge=True),
    ]:
        assert _answer(direct, body, headers) == _answer(routed, body, headers)
    # A well-signed transfer of a currency that does not exist: refused by the rule, not by transport.
    first = _answer(direct, *_signed(direct, economy))
    second = _answer(routed, *_signed(routed, economy))
    assert first == second
    assert first[0] == 404 and first[1].startswith("application/problem+json")


def test_x05_an_unexpected_failure_on_the_direct_path_is_a_problem_and_writes_nothing(
    economy: ScriptedEconomy, clients: tuple[httpx.Client, httpx.Client]
) -> None:
    direct, _ = clients
    service = direct.app.state.service  # type: ignore[attr-defined]

    def broken(*args: object) -> None:
        raise RuntimeError("the writer is gone")

    service.batcher.submit = broken
    size = direct.get("/api/economy").json()["entries"]
    status, media, data = _answer(direct, *_signed(direct, economy))
    assert (status, data["title"], data["detail"]) == (500, "Internal error", "RuntimeError")
    assert media.startswith("application/problem+json")
    assert direct.get("/api/economy").json()["entries"] == size


def test_a_served_process_freezes_its_start_up_heap(
    economy: ScriptedEconomy, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "served.db"
    store = open_store(f"sqlite:///{db}", create=True)
    served = ScriptedEconomy(store, start=economy.clock.now(), label="served")
    store.close()
    keys = tmp_path / "keys"
    save_key(keys, served.key("journal"))
    monkeypatch.setenv("CIVIC_DB", f"sqlite:///{db}")
    monkeypatch.setenv("CIVIC_KEYS", str(keys))
    app = app_from_environment()
    assert settle_heap in app.router.on_startup
    try:
        settle_heap()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        for close in app.router.on_shutdown:
            close()
