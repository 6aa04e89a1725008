"""End to end over a running server: signed commands of several mechanisms, idempotent retries,
and the reads (balances, trust, routes, coefficients, grades, prices, journal proofs, pagination)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from civicledger.kernel.identity import AccountKind, OpenAccount
from civicledger.kernel.merkle import verify_consistency, verify_inclusion
from civicledger.kernel.messages import decode_command
from civicledger.mechanisms.circles import messages as cm
from tests.e2e.serving import SigningClient, demo_economy, live_server


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SigningClient]:
    with (
        demo_economy(tmp_path_factory.mktemp("api")) as economy,
        live_server(economy.store, economy.key("journal")) as url,
        httpx.Client(base_url=url, timeout=30) as http,
    ):
        yield SigningClient(http, economy)


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _open(client: SigningClient, name: str) -> str:
    key = client.economy.key(name)
    ok(client.run(OpenAccount(AccountKind.PERSON, key.public_hex, name), name))
    ok(client.run(cm.CreateCirclesAccount(key.account), name))
    return key.account


def test_x05_a_retry_over_http_with_a_new_nonce_returns_the_first_receipt(client: SigningClient) -> None:
    key = client.economy.key("http-retry")
    signed = client.command(OpenAccount(AccountKind.PERSON, key.public_hex, "http-retry"), "http-retry", cid="retry-1")
    body = client.body(signed)
    first = ok(client.post(body, client.headers(body, "http-retry")))
    size = client.journal_size()
    again = ok(client.post(body, client.headers(body, "http-retry")))  # a new nonce: a retry, not a replay
    assert again["replayed"] is True and first["replayed"] is False
    assert (again["seq"], again["events"]) == (first["seq"], first["events"])
    assert client.journal_size() == size


def test_ci09_trust_and_pay_across_a_chain_over_http(client: SigningClient) -> None:
    ann, bo, cy = (_open(client, n) for n in ("http-ann", "http-bo", "http-cy"))
    ok(client.run(cm.Trust(ann, bo), "http-ann", "http-bo"))
    ok(client.run(cm.Trust(bo, cy), "http-bo", "http-cy"))
    trust = ok(client.http.get("/api/circles/trust", params={"account": bo, "limit": 10}))
    pairs = {(e["truster"], e["trustee"]) for e in trust["items"]}
    assert {(bo, ann), (ann, bo), (bo, cy), (cy, bo)} <= pairs
    # More than ann holds of bo's coins (her CI7 reward), so part of it must swap through bo.
    units = ok(client.http.get(f"/api/accounts/{ann}/balances"))["balances"][bo] + 100
    plan = ok(client.http.get("/api/circles/route", params={"sender": ann, "receiver": cy, "units": units}))
    assert plan["units"] == units and len(plan["legs"]) >= 2, plan
    command = plan["command"]
    assert command["type"] == "circles.pay"
    cy_before = ok(client.http.get(f"/api/accounts/{cy}/balances"))["balances"]
    pay = decode_command(command["type"], command["payload"])
    receipt = ok(client.run(pay, "http-ann"))
    assert any(e["type"] == "ledger.units_transferred" for e in receipt["events"])
    after = ok(client.http.get(f"/api/accounts/{cy}/balances"))["balances"]
    assert sum(after.values()) - sum(cy_before.values()) == units
    bo_view = ok(client.http.get(f"/api/circles/accounts/{bo}"))
    assert sorted(bo_view["trusts"]) == sorted([ann, cy])


def test_reads_of_every_mechanism_answer(client: SigningClient) -> None:
    coefficients = ok(client.http.get("/api/gears/coefficients"))
    assert coefficients["companies"] and coefficients["fund"]["ethicap"] == "xi"
    company = coefficients["companies"][0]["company"]
    view = ok(client.http.get(f"/api/gears/companies/{company}"))
    assert view["statements"] and view["delta_history"]
    grades = ok(client.http.get("/api/credits/grades"))
    assert grades["persons"] > 0 and grades["units_by_grade"]
    maya = client.economy.account("maya")
    person = ok(client.http.get(f"/api/credits/persons/{maya}"))
    assert person["person"] == maya and person["lots"]
    price = ok(client.http.get("/api/creditism/prices/bicycle"))
    assert price["price"] == sum(price["components"].values())
    assert ok(client.http.get("/api/creditism/report"))["goods"]
    assert {a["asset"] for a in ok(client.http.get("/api/creditism/assets"))["items"]} >= {"bicycle", "steel"}
    types = {t["type"] for t in ok(client.http.get("/api/command-types"))["items"]}
    assert {"circles.pay", "gears.cast_vote", "credits.appeal", "creditism.define_asset"} <= types
    assert client.http.get("/openapi.json").json()["paths"]["/api/commands"]["post"]


def test_x02_journal_entries_come_with_inclusion_and_consistency_proofs(client: SigningClient) -> None:
    head = ok(client.http.get("/api/tree-heads/latest"))
    for seq in (0, 7, head["size"] - 1):
        data = ok(client.http.get(f"/api/journal/{seq}"))
        proof = [bytes.fromhex(p) for p in data["proof"]]
        root = bytes.fromhex(data["tree_head"]["root"])
        assert verify_inclusion(bytes.fromhex(data["leaf_hash"]), seq, data["tree_head"]["size"], proof, root)
    first = ok(client.http.get("/api/journal/10", params={"size": 11}))["tree_head"]
    cons = ok(client.http.get("/api/tree-heads/consistency", params={"first": first["size"]}))
    assert verify_consistency(
        cons["first"]["size"],
        cons["second"]["size"],
        bytes.fromhex(cons["first"]["root"]),
        bytes.fromhex(cons["second"]["root"]),
        [bytes.fromhex(p) for p in cons["proof"]],
    )


def test_lists_paginate_without_gaps_or_repeats(client: SigningClient) -> None:
    seen: list[str] = []
    after = None
    while True:
        params: dict[str, Any] = {"limit": 7}
        if after:
            params["after"] = after
        data = ok(client.http.get("/api/accounts", params=params))
        seen += [a["id"] for a in data["items"]]
        after = data["next"]
        if after is None:
            break
    everything = ok(client.http.get("/api/accounts", params={"limit": 500}))["items"]
    assert seen == [a["id"] for a in everything] and len(seen) == len(set(seen)) > 7
    entries = ok(client.http.get("/api/journal", params={"start": 3, "limit": 4}))
    assert [e["seq"] for e in entries["items"]] == [3, 4, 5, 6] and entries["next"] == 7


def test_x05_concurrent_requests_and_their_retries_land_exactly_once(client: SigningClient) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from civicledger.kernel import ledger as led
    from civicledger.kernel.money import CurrencyId

    alice, bob = client.economy.account("alice"), client.economy.account("bob")
    before = client.journal_size()
    bob_before = ok(client.http.get(f"/api/accounts/{bob}/balances"))["balances"].get("xi", 0)
    bodies = [
        client.body(
            client.command(led.Transfer((led.Leg(CurrencyId("xi"), alice, bob, 1),)), "alice", cid=f"burst-{i}")
        )
        for i in range(20)
    ]
    requests = [(b, client.headers(b, "alice")) for b in bodies for _ in range(2)]  # each sent twice, new nonces

    def send(item: tuple[bytes, dict[str, str]]) -> dict[str, Any]:
        return ok(client.post(*item))

    with ThreadPoolExecutor(max_workers=16) as pool:
        receipts = list(pool.map(send, requests))
    assert sum(not r["replayed"] for r in receipts) == 20 and sum(r["replayed"] for r in receipts) == 20
    assert len({r["seq"] for r in receipts}) == 20
    assert client.journal_size() == before + 20
    assert ok(client.http.get(f"/api/accounts/{bob}/balances"))["balances"]["xi"] == bob_before + 20
