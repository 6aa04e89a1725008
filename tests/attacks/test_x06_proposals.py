"""Attacks on council decisions collecting co-signatures (X6; kernel/proposals.py): a member trying
to count as two, a non-member signing, a draft changed after members signed."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from civicledger.kernel.canonical import canonical_bytes
from civicledger.kernel.journal import SignatureRecord
from tests.e2e.proposals_kit import change, cosign, draft, governed, ok, signature_of
from tests.e2e.serving import SigningClient, problem_of


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SigningClient]:
    with governed(tmp_path_factory.mktemp("proposal-attacks")) as c:
        yield c


def test_x06_a_member_signing_twice_counts_once(client: SigningClient) -> None:
    size = client.journal_size()
    signed, response = draft(client, change(901), "treasurer")
    ok(response)
    signature = signature_of(client, signed, "governor-1")
    assert ok(cosign(client, signed.id, "governor-1", signature))["signed"] == 1
    again = ok(cosign(client, signed.id, "governor-1", signature))  # a retry: counted once, not submitted
    assert (again["signed"], again["status"]) == (1, "pending")
    assert client.journal_size() == size
    # Nor can a draft arrive carrying one member's signature twice.
    twice = client.command(change(902), "governor-1", "governor-1", seal=False)
    body = canonical_bytes(twice.to_wire())
    response = client.http.post(
        "/api/proposals", content=body, headers=client.headers(body, "governor-1", path="/api/proposals")
    )
    assert response.status_code == 403 and problem_of(response)["rule"] == "X6"
    assert client.journal_size() == size


def test_x06_a_member_cannot_sign_in_another_members_name(client: SigningClient) -> None:
    signed, response = draft(client, change(903), "treasurer")
    ok(response)
    # governor-1's key, claiming to be governor-2: neither the request nor the command signature verify.
    forged = cosign(
        client,
        signed.id,
        "governor-1",
        signature_of(client, signed, "governor-1"),
        account=client.economy.account("governor-2"),
    )
    assert forged.status_code == 403 and problem_of(forged)["rule"] == "X6"
    assert ok(client.http.get(f"/api/proposals/{signed.id}"))["signed"] == 0


def test_x06_a_non_member_signature_is_refused(client: SigningClient) -> None:
    signed, response = draft(client, change(904), "treasurer")
    ok(response)
    refused = cosign(client, signed.id, "treasurer", signature_of(client, signed, "treasurer"))
    assert refused.status_code == 403 and problem_of(refused)["rule"] == "X6"
    assert "not a member" in problem_of(refused)["detail"]
    _, signed_draft = draft(client, change(905), "treasurer", "treasurer")
    assert signed_draft.status_code == 403 and problem_of(signed_draft)["rule"] == "X6"


def test_x06_a_signature_over_a_changed_draft_does_not_count(client: SigningClient) -> None:
    size = client.journal_size()
    signed, response = draft(client, change(906), "treasurer")
    ok(response)
    ok(cosign(client, signed.id, "governor-1", signature_of(client, signed, "governor-1")))
    # The drafter changes the value and sends governor-1's signature along with the new draft.
    changed = client.command(change(999), seal=False)
    carried = dataclasses.replace(
        changed,
        signatures=(SignatureRecord(client.economy.account("governor-1"), signature_of(client, signed, "governor-1")),),
    )
    body = canonical_bytes(carried.to_wire())
    path = "/api/proposals"
    response = client.http.post(
        path, content=body, headers=client.headers(body, "treasurer", path=path), params={"replaces": signed.id}
    )
    assert response.status_code == 403 and problem_of(response)["rule"] == "X6"
    assert ok(client.http.get(f"/api/proposals/{signed.id}"))["status"] == "pending"  # nothing changed
    # A signature made over other bytes (the changed value) does not count on the first draft either.
    wrong = cosign(client, signed.id, "governor-2", signature_of(client, changed, "governor-2"))
    assert wrong.status_code == 403 and problem_of(wrong)["rule"] == "X6"
    assert ok(client.http.get(f"/api/proposals/{signed.id}"))["signed"] == 1
    assert client.journal_size() == size
