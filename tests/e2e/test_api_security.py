"""Security over HTTP (issue point 6): every bad request is a 4xx problem naming its rule, and the
journal is unchanged after it. Forged and replayed signatures, stale and future timestamps, missing
co-signatures, wrong roles, oversized and malformed bodies, unknown routes."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from civicledger.kernel.identity import AccountKind, AttestPerson, GrantRole, OpenAccount, Role
from civicledger.kernel.policy import Policy
from civicledger.mechanisms.circles import messages as cm
from tests.e2e.serving import SigningClient, demo_economy, live_server, problem_of


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SigningClient]:
    with (
        demo_economy(tmp_path_factory.mktemp("security")) as economy,
        live_server(economy.store, economy.key("journal")) as url,
        httpx.Client(base_url=url, timeout=30) as http,
    ):
        yield SigningClient(http, economy)


def refused(client: SigningClient, response: httpx.Response, status: int, rule: str, words: str) -> None:
    data = problem_of(response)
    assert response.status_code == status, data
    assert data["rule"] == rule, data
    assert words in data["detail"], data


@pytest.fixture
def journal_unchanged(client: SigningClient) -> Iterator[None]:
    before = client.http.get("/api/tree-heads/latest").json()
    yield
    assert client.http.get("/api/tree-heads/latest").json() == before


def _claim(client: SigningClient, name: str = "alice") -> tuple[bytes, str]:
    signed = client.command(cm.ClaimIncome(client.economy.account(name)), name)
    return client.body(signed), name


@pytest.mark.usefixtures("journal_unchanged")
def test_x06_a_request_signed_by_another_key_is_refused_as_forged(client: SigningClient) -> None:
    body, _ = _claim(client)
    headers = client.headers(body, "bob")  # bob signs...
    alice, bob = client.economy.account("alice"), client.economy.account("bob")
    headers["Civic-Signature"] = headers["Civic-Signature"].replace(bob, alice)  # ...claiming to be alice
    refused(client, client.post(body, headers), 403, "X6", "does not match this request")


@pytest.mark.usefixtures("journal_unchanged")
def test_x06_a_request_signature_does_not_cover_another_body(client: SigningClient) -> None:
    body, name = _claim(client)
    headers = client.headers(body, name)
    other = client.body(client.command(cm.ClaimIncome(client.economy.account(name)), name, cid="another-id"))
    refused(client, client.post(other, headers), 403, "X6", "does not match this request")


@pytest.mark.usefixtures("journal_unchanged")
def test_x06_a_forged_command_signature_is_refused(client: SigningClient) -> None:
    signed = client.command(cm.ClaimIncome(client.economy.account("alice")), "alice")
    wire = signed.to_wire()
    wire["signatures"][0]["signature"] = "00" * 64
    body = json.dumps(wire).encode()
    refused(client, client.post(body, client.headers(body, "alice")), 403, "X6", "does not match this command")


def test_x06_a_replayed_request_is_refused_even_after_it_succeeded(client: SigningClient) -> None:
    key = client.economy.key("replay-victim")
    body = client.body(client.command(OpenAccount(AccountKind.PERSON, key.public_hex, "v"), "replay-victim"))
    headers = client.headers(body, "replay-victim", nonce="the-same-nonce-0001")
    assert client.post(body, headers).status_code == 200
    before = client.http.get("/api/tree-heads/latest").json()
    refused(client, client.post(body, headers), 403, "X6", "a replayed request")
    assert client.http.get("/api/tree-heads/latest").json() == before


@pytest.mark.usefixtures("journal_unchanged")
def test_x06_a_replayed_refused_request_stays_refused(client: SigningClient) -> None:
    body = client.body(client.command(GrantRole(client.economy.account("alice"), Role.GOVERNOR), "alice"))
    headers = client.headers(body, "alice", nonce="refused-nonce-000001")
    first = client.post(body, headers)
    assert first.status_code == 403  # wrong role: alice alone is not a council quorum
    refused(client, client.post(body, headers), 403, "X6", "a replayed request")


@pytest.mark.usefixtures("journal_unchanged")
def test_x06_stale_and_future_timestamps_are_refused(client: SigningClient) -> None:
    policy = Policy().journal
    body, name = _claim(client)
    now = client.now()
    stale = client.headers(body, name, timestamp=now - policy.signature_max_age - 5)
    refused(client, client.post(body, stale), 403, "X6", "is stale")
    future = client.headers(body, name, timestamp=now + policy.max_clock_skew + 60)
    refused(client, client.post(body, future), 403, "X6", "in the future")


@pytest.mark.usefixtures("journal_unchanged")
def test_x06_a_stale_command_signature_is_refused_under_a_fresh_request(client: SigningClient) -> None:
    now = client.now()
    signed = client.command(cm.ClaimIncome(client.economy.account("alice")), "alice", signed_at=now - 3600)
    body = client.body(signed)
    refused(client, client.post(body, client.headers(body, "alice")), 403, "X6", "stale")


@pytest.mark.usefixtures("journal_unchanged")
def test_x06_every_command_signer_must_sign_the_request(client: SigningClient) -> None:
    alice, bob = client.economy.account("alice"), client.economy.account("bob")
    body = client.body(client.command(cm.Trust(alice, bob, 100), "alice", "bob"))
    refused(client, client.post(body, client.headers(body, "alice")), 403, "X6", "missing " + bob)


@pytest.mark.usefixtures("journal_unchanged")
def test_x06_missing_or_malformed_signature_headers_are_refused(client: SigningClient) -> None:
    body, name = _claim(client)
    refused(client, client.post(body, {"content-type": "application/json"}), 403, "X6", "must carry")
    bad_nonce = client.headers(body, name) | {"Civic-Nonce": "short"}
    refused(client, client.post(body, bad_nonce), 403, "X6", "Civic-Nonce")
    bad_sig = client.headers(body, name) | {"Civic-Signature": "nonsense"}
    refused(client, client.post(body, bad_sig), 403, "X6", "<account>=<hex signature>")


@pytest.mark.usefixtures("journal_unchanged")
def test_x01_wrong_roles_are_refused(client: SigningClient) -> None:
    # alice is no registrar: she cannot attest a person.
    target = client.economy.account("replay-victim")
    attest = AttestPerson(target, client.economy.account("alice"), "some-human-digest")
    refused(client, client.run(attest, "alice"), 403, "X1", "only a registrar")
    grant = GrantRole(client.economy.account("alice"), Role.REGISTRAR)
    refused(client, client.run(grant, "alice"), 403, "X6", "quorum")


def test_x05_the_same_command_id_with_another_payload_is_a_conflict(client: SigningClient) -> None:
    key = client.economy.key("id-owner")
    assert (
        client.run(OpenAccount(AccountKind.PERSON, key.public_hex, "a"), "id-owner", cid="fixed-id-1").status_code
        == 200
    )
    before = client.http.get("/api/tree-heads/latest").json()
    refused(
        client, client.run(cm.ClaimIncome(key.account), "id-owner", cid="fixed-id-1"), 409, "X5", "different payload"
    )
    assert client.http.get("/api/tree-heads/latest").json() == before


@pytest.mark.usefixtures("journal_unchanged")
def test_x05_oversized_bodies_are_413(client: SigningClient) -> None:
    limit = Policy().journal.max_command_bytes
    big = cm.Pay(client.economy.account("alice"), client.economy.account("bob"), 1, (), "x" * (limit + 10))
    body = client.body(client.command(big, "alice"))
    refused(client, client.post(body, client.headers(body, "alice")), 413, "X5", "at most")
    huge = b'{"id":"x","payload":"' + b"y" * (2 << 20) + b'"}'
    refused(client, client.post(huge, {"content-type": "application/json"}), 413, "X5", "at most")


CLAIM_WITH_X = b'{"id": "a", "type": "circles.claim", "payload": {"x": '


@pytest.mark.usefixtures("journal_unchanged")
@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"{not json", "not JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[1, 2]", "must be an object"),
        (b'{"id": "a", "type": "circles.claim", "payload": {"x": 1.5}, "signed_at": 1}', "floats"),
        (b'{"id": "a", "type": "circles.claim", "payload": {"x": NaN}, "signed_at": 1}', "NaN"),
        (b'{"id": "a", "type": "circles.claim", "payload": {"x": "\\ud800"}, "signed_at": 1}', "lone surrogates"),
        (b'{"id": "a b", "type": "circles.claim", "payload": {}, "signed_at": 1}', "command id"),
        (b'{"id": "a", "type": "circles.claim", "payload": {}, "signed_at": 1, "extra": 1}', "unknown command field"),
        (b'{"id": "a", "type": "circles.claim", "payload": {"x": ' + b"9" * 5000 + b"}, " + b'"signed_at": 1}', "JSON"),
        (CLAIM_WITH_X + b"[" * 5000 + b"]" * 5000 + b'}, "signed_at": 1}', "nests"),  # the decoder's limit
        (CLAIM_WITH_X + b"[" * 40 + b"]" * 40 + b'}, "signed_at": 1}', "nests"),  # the canonical form's limit
        (b'{"id": "a", "type": "circles.claim", "id": "b", "payload": {}, "signed_at": 1}', "appears twice"),
        (b'{"id": "a", "type": "circles.claim", "payload": {"x": 1, "x": 2}, "signed_at": 1}', "appears twice"),
    ],
)
def test_x05_malformed_bodies_are_422(client: SigningClient, body: bytes, words: str) -> None:
    refused(
        client, client.post(body, client.headers(body, "alice")), 422, problem_of(client.post(body, {}))["rule"], words
    )


@pytest.mark.usefixtures("journal_unchanged")
def test_x05_an_unknown_command_type_is_refused_by_the_engine(client: SigningClient) -> None:
    wire = client.command(cm.ClaimIncome(client.economy.account("alice")), "alice").to_wire()
    wire["type"] = "circles.no_such_command"
    body = json.dumps(wire).encode()
    response = client.post(body, client.headers(body, "alice"))
    assert response.status_code == 422
    assert "circles.no_such_command" in problem_of(response)["detail"]


@pytest.mark.usefixtures("journal_unchanged")
def test_unknown_routes_and_methods_are_problems(client: SigningClient) -> None:
    response = client.http.get("/api/no-such-thing")
    assert response.status_code == 404 and "no route" in problem_of(response)["detail"]
    response = client.http.delete("/api/commands")
    assert response.status_code == 405 and problem_of(response)["detail"].startswith("DELETE")
    response = client.http.get("/api/accounts/not-an-account")
    assert response.status_code == 422 and problem_of(response)["rule"] == "X1"
    response = client.http.get("/api/accounts", params={"limit": 0})
    assert response.status_code == 422 and "limit" in problem_of(response)["detail"]
