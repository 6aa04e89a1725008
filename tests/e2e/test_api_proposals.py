"""Council decisions collecting co-signatures over HTTP (X6, X7; kernel/proposals.py), on the
suite's backend (SQLite, or PostgreSQL with CIVIC_TEST_STORE=postgresql)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from civicledger.kernel.economy import AdoptRules, ChangePolicy
from tests.e2e.proposals_kit import change, cosign, draft, governed, ok, signature_of
from tests.e2e.serving import SigningClient, problem_of


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SigningClient]:
    with governed(tmp_path_factory.mktemp("proposals")) as c:
        yield c


def test_x06_a_treasurer_drafts_two_members_cosign_and_the_decision_lands_on_the_journal(
    client: SigningClient,
) -> None:
    size = client.journal_size()
    signed, response = draft(client, change(900), "treasurer")  # the treasurer is not a member: no signature
    proposal = ok(response)
    assert (proposal["status"], proposal["signed"], proposal["needed"]) == ("pending", 0, 2)
    assert proposal["proposer"] == client.economy.account("treasurer")
    assert client.journal_size() == size  # held off the journal
    listed = ok(client.http.get("/api/proposals"))["proposals"]
    assert listed[0]["id"] == signed.id and listed[0]["status"] == "pending"

    first = ok(cosign(client, signed.id, "governor-1", signature_of(client, signed, "governor-1")))
    assert (first["status"], first["signed"]) == ("pending", 1)
    assert client.journal_size() == size
    done = ok(cosign(client, signed.id, "governor-3", signature_of(client, signed, "governor-3")))
    assert done["status"] == "submitted" and done["signed"] == 2
    assert client.journal_size() == size + 1
    entry = ok(client.http.get(f"/api/journal/{done['seq']}"))["entry"]
    assert entry["command"]["id"] == signed.id and entry["command"]["type"] == "economy.change_policy"
    assert {s["account"] for s in entry["command"]["signatures"]} == {
        client.economy.account("governor-1"),
        client.economy.account("governor-3"),
    }
    policy = ok(client.http.get("/api/policy"))
    assert {
        "section": "journal",
        "path": "journal.signature_max_age",
        "value": 900,
        "unit": "seconds",
    } in policy["rows"]
    newest = policy["history"][0]
    assert newest["seq"] == done["seq"] and newest["command_type"] == "economy.change_policy"
    assert newest["changes"] == [{"path": "journal.signature_max_age", "before": 300, "after": 900, "unit": "seconds"}]
    # A submitted proposal takes no more signatures.
    late = cosign(client, signed.id, "governor-2", signature_of(client, signed, "governor-2"))
    assert late.status_code == 409 and problem_of(late)["rule"] == "X6"


def test_x07_a_policy_value_the_policy_refuses_is_refused_when_drafted(client: SigningClient) -> None:
    _, response = draft(client, ChangePolicy("journal.signature_max_age", "soon"), "treasurer")
    assert response.status_code == 422 and problem_of(response)["rule"] == "X7"
    _, response = draft(client, ChangePolicy("journal.no_such_value", 1), "governor-1")
    assert response.status_code == 422 and problem_of(response)["rule"] == "X7"


def test_x06_a_drafter_who_is_a_member_signs_the_draft_and_one_more_member_completes_it(
    client: SigningClient,
) -> None:
    size = client.journal_size()
    signed, response = draft(client, change(1200), "governor-2", "governor-2")
    assert ok(response)["signed"] == 1
    done = ok(cosign(client, signed.id, "governor-1", signature_of(client, signed, "governor-1")))
    assert done["status"] == "submitted" and client.journal_size() == size + 1


def test_x06_a_draft_expires_when_its_signatures_are_stale(client: SigningClient) -> None:
    now = client.now()
    rows = ok(client.http.get("/api/policy"))["rows"]
    max_age = next(r["value"] for r in rows if r["path"] == "journal.signature_max_age")
    signed, response = draft(client, change(700), "treasurer", signed_at=now - max_age + 1)
    assert ok(response)["status"] == "pending"
    ok(cosign(client, signed.id, "governor-1", signature_of(client, signed, "governor-1")))
    # Older than the age the engine accepts: refused when drafted, so never collected.
    _, stale = draft(client, change(701), "treasurer", signed_at=now - max_age - 5)
    assert stale.status_code == 403 and problem_of(stale)["rule"] == "X6"
    # The journal's time moves on (another entry, 10 s later): the draft's signatures are stale.
    client.economy.advance(10)
    client.economy.person("latecomer")
    assert ok(client.http.get(f"/api/proposals/{signed.id}"))["status"] == "expired"
    size = client.journal_size()
    late = cosign(client, signed.id, "governor-2", signature_of(client, signed, "governor-2"))
    assert late.status_code == 403 and problem_of(late)["rule"] == "X6" and "expired" in problem_of(late)["detail"]
    assert client.journal_size() == size


def test_x06_a_replaced_draft_takes_no_signatures_and_its_signatures_do_not_carry_over(
    client: SigningClient,
) -> None:
    size = client.journal_size()
    old, response = draft(client, change(800), "treasurer")
    ok(response)
    ok(cosign(client, old.id, "governor-1", signature_of(client, old, "governor-1")))
    new, response = draft(client, change(820), "treasurer", replaces=old.id)
    assert ok(response)["signed"] == 0  # governor-1 signed 800, not 820
    assert ok(client.http.get(f"/api/proposals/{old.id}"))["status"] == "replaced"
    assert ok(client.http.get(f"/api/proposals/{old.id}"))["replaced_by"] == new.id
    refused = cosign(client, old.id, "governor-2", signature_of(client, old, "governor-2"))
    assert refused.status_code == 409 and problem_of(refused)["rule"] == "X6"
    # Only its drafter replaces a draft.
    _, other = draft(client, change(830), "governor-3", replaces=new.id)
    assert other.status_code == 403 and problem_of(other)["rule"] == "X6"
    assert client.journal_size() == size


def test_x06_a_draft_is_kept_in_the_store_and_not_on_the_journal(client: SigningClient) -> None:
    signed, response = draft(client, change(640), "treasurer")
    ok(response)
    with client.economy.store.read() as uow:
        kept = uow.proposals.get(signed.id)
        assert uow.journal.find_command(signed.id) is None
    assert kept is not None and kept.command.payload == {"path": "journal.signature_max_age", "value": 640}


def test_x06_two_members_signing_at_once_are_both_counted_and_submit_once(client: SigningClient) -> None:
    size = client.journal_size()
    signed, response = draft(client, change(660), "treasurer")
    ok(response)
    members = ("governor-2", "governor-3")
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda m: cosign(client, signed.id, m, signature_of(client, signed, m)), members))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    final = ok(client.http.get(f"/api/proposals/{signed.id}"))
    assert final["status"] == "submitted" and final["signed"] == 2
    assert client.journal_size() == size + 1


def test_in08_a_decision_the_engine_refuses_at_quorum_is_recorded_as_refused_and_writes_nothing(
    client: SigningClient,
) -> None:
    size = client.journal_size()
    signed, response = draft(client, AdoptRules(99, client.now()), "governor-1", "governor-1")
    assert ok(response)["status"] == "pending"
    refused = cosign(client, signed.id, "governor-2", signature_of(client, signed, "governor-2"))
    assert refused.status_code == 422 and problem_of(refused)["rule"] == "IN8"
    final = ok(client.http.get(f"/api/proposals/{signed.id}"))
    assert final["status"] == "refused" and final["reason"].startswith("IN8:")
    assert client.journal_size() == size
