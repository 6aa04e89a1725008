"""A small governed economy served over HTTP, and a client that drafts and co-signs council
decisions as a browser does (docs/web.md, kernel/proposals.py): shared by the proposal tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from civicledger.adapters.crypto import KeyPair
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.kernel.canonical import canonical_bytes
from civicledger.kernel.economy import ChangePolicy
from civicledger.kernel.journal import SignedCommand
from civicledger.kernel.messages import Command
from tests.conftest import BACKEND, T0, open_test_store
from tests.e2e.serving import SigningClient, live_server


@contextmanager
def governed(tmp_path: Path) -> Iterator[SigningClient]:
    """Three governors (a quorum of two) and a treasurer who is not one, served over HTTP."""
    store = open_test_store(BACKEND, tmp_path)
    try:
        economy = ScriptedEconomy(store, start=T0, label="civicledger proposal test")
        economy.person("treasurer")
        with live_server(store, economy.key("journal")) as url, httpx.Client(base_url=url, timeout=30) as http:
            yield SigningClient(http, economy)
    finally:
        store.close()


def draft(
    client: SigningClient,
    command: Command,
    proposer: str,
    *signers: str | KeyPair,
    replaces: str | None = None,
    signed_at: int | None = None,
) -> tuple[SignedCommand, httpx.Response]:
    """Draft ``command`` as ``proposer`` with the signatures of ``signers`` (none: an unsigned draft)."""
    signed = client.command(command, *signers, cid=f"p-{uuid.uuid4().hex[:12]}", signed_at=signed_at, seal=False)
    body = canonical_bytes(signed.to_wire())
    params = {"replaces": replaces} if replaces else {}
    path = "/api/proposals"
    response = client.http.post(path, content=body, headers=client.headers(body, proposer, path=path), params=params)
    return signed, response


def cosign(
    client: SigningClient, proposal: str, signer: str | KeyPair, signature: str, account: str | None = None
) -> httpx.Response:
    """Send one co-signature, the request signed by ``signer``."""
    key = client.key(signer)
    body = canonical_bytes({"account": account or key.account, "signature": signature})
    path = f"/api/proposals/{proposal}/signatures"
    return client.http.post(path, content=body, headers=client.headers(body, key, path=path))


def signature_of(client: SigningClient, signed: SignedCommand, signer: str | KeyPair) -> str:
    """``signer``'s signature over the command's signing bytes (what a member's browser makes)."""
    return client.key(signer).sign(signed.signing_bytes(client.economy.economy_id)).hex()


def change(value: int = 600) -> ChangePolicy:
    return ChangePolicy("journal.signature_max_age", value)


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]
