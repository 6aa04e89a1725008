"""IN11 attacks: reading personal data out of the public journal, slipping it back in, and erasing
someone else's.

- A reader of the journal hashes guesses of a short evidence text (a passport number) and compares
  them with the journal's digest: the digest is salted, and the salt is not in the journal.
- A client sends personal text in the old fields under rule version 3: refused (IN11).
- A client sends personal data the command does not name, that does not match its reference, or
  filed under another person (to escape that person's erasure): refused.
- Anyone but a registrar with the person, or a quorum of the council, asks for an erasure: refused.
"""

from __future__ import annotations

import hashlib

import pytest

from civicledger.adapters.memory import MemoryStore
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.kernel import identity as ident
from civicledger.kernel.canonical import canonical_bytes
from civicledger.kernel.errors import AuthorityError, CivicLedgerError
from civicledger.kernel.identity import AccountKind, Role
from civicledger.kernel.messages import Command
from civicledger.kernel.personal import PersonalItem, reference, seal
from civicledger.kernel.time import YEAR
from civicledger.mechanisms.credits import commands as cc
from tests.conftest import T0
from tests.e2e.serving import SigningClient, problem_of


def _town() -> ScriptedEconomy:
    e = ScriptedEconomy(MemoryStore(), start=T0, label="civicledger test key")
    for name in ("alice", "bob", "tess", "mallory"):
        e.person(name)
    e.council_decision(ident.GrantRole(e.account("tess"), Role.TECHNOCRAT), cid="grant-tess")
    born = e.clock.now() - 30 * YEAR
    for name in ("alice", "bob"):
        e.run(cc.EnrollPerson(e.account(name), born, e.account("registrar")), "registrar", cid=f"enroll-{name}")
    return e


def _plain(e: ScriptedEconomy, command: Command, *signers: str, personal: tuple[PersonalItem, ...] = ()) -> None:
    """Send the command as it is, text and all, past the scripted client's sealing."""
    e.engine.execute(e.sign(command, *signers), personal)


def test_in11_a_guessable_evidence_cannot_be_brute_forced_from_the_journal() -> None:
    e = ScriptedEconomy(MemoryStore(), start=T0, label="civicledger test key")
    e.open("carol")
    e.run(ident.AttestPerson(e.account("carol"), e.account("registrar"), "passport 123"), "registrar")
    with e.store.read() as uow:
        [(ref, _)] = list(uow.records.scan("humans"))
    digest = ref.removeprefix("pd:")
    # every unsalted way of hashing every guess of the same shape misses
    for n in range(1000):
        guess = f"passport {n:03d}"
        for form in (guess.encode(), canonical_bytes(guess)):
            assert hashlib.sha256(form).hexdigest() != digest
    # the holder of the off-journal salt proves the data matches without anyone else learning it
    with e.store.read() as uow:
        item = uow.personal.get(ref)
    assert item is not None and reference(item.salt, "passport 123") == ref
    assert reference(item.salt, "passport 124") != ref


@pytest.mark.parametrize(
    "build",
    [
        lambda e: (ident.OpenAccount(AccountKind.PERSON, e.key("dave").public_hex, "Dave Jones"), "dave"),
        lambda e: (ident.AttestPerson(e.account("mallory"), e.account("registrar"), "passport 9"), "registrar"),
        lambda e: (cc.RecordParticipation(e.account("alice"), "infraction", "stole", e.account("tess")), "tess"),
        lambda e: (cc.AdjustGrade(e.account("alice"), -1, 0, YEAR, "thief", "seen", e.account("tess")), "tess"),
        lambda e: (cc.NominateCandidate(e.account("alice"), "she is kind", council=e.account("council")), "gov-1"),
    ],
    ids=["name", "evidence", "infraction", "adjustment", "nomination"],
)
def test_in11_personal_text_in_the_old_fields_is_refused_under_rules_3(build: object) -> None:
    e = _town()
    command, signer = build(e)  # type: ignore[operator]
    with e.store.read() as uow:
        size = uow.journal.head().size
    with pytest.raises(CivicLedgerError) as refused:
        _plain(e, command, *(e.governors if signer == "gov-1" else (signer,)))
    assert refused.value.rule == "IN11"
    with e.store.read() as uow:
        assert uow.journal.head().size == size


def test_in11_appeal_grounds_in_the_old_field_are_refused() -> None:
    e = _town()
    adjusted = e.run(cc.AdjustGrade(e.account("alice"), -1, 0, YEAR, "thief", "seen", e.account("tess")), "tess")
    with pytest.raises(CivicLedgerError) as refused:
        _plain(e, cc.FileAppeal(str(adjusted.result["adjustment"]), e.account("alice"), "I was away"), "alice")
    assert refused.value.rule == "IN11"


def test_in11_personal_data_must_be_named_by_the_command_match_it_and_be_about_its_person() -> None:
    e = _town()
    alice = e.account("alice")
    item = seal("seen stealing", alice)
    command = cc.RecordParticipation(alice, "infraction", item.ref, e.account("tess"))
    stray = seal("something else entirely", alice)
    forged = PersonalItem(item.ref, item.salt, alice, "a different text")
    elsewhere = seal("seen stealing", e.account("bob"), salt=item.salt)  # same ref, filed under bob
    for personal in ((item, stray), (forged,), (elsewhere,)):
        with pytest.raises(CivicLedgerError) as refused:
            _plain(e, command, "tess", personal=personal)
        assert refused.value.rule == "IN11"
    with e.store.read() as uow:
        before = set(uow.personal.refs_of(alice))  # her name and the evidence of her attestation
    _plain(e, command, "tess", personal=(item,))
    with e.store.read() as uow:
        assert set(uow.personal.refs_of(alice)) == before | {item.ref}


def test_in11_the_same_evidence_of_a_human_cannot_verify_a_second_account() -> None:
    """X1 still holds with salted references: the off-journal store sees the same evidence twice."""
    e = ScriptedEconomy(MemoryStore(), start=T0, label="civicledger test key")
    e.open("carol")
    e.open("carol2")
    e.run(ident.AttestPerson(e.account("carol"), e.account("registrar"), "passport 555"), "registrar")
    refused = e.refused(ident.AttestPerson(e.account("carol2"), e.account("registrar"), "passport 555"), "registrar")
    assert refused.rule == "X1"


def _erase(e: ScriptedEconomy, command: ident.ErasePersonalData, *signers: str) -> CivicLedgerError | None:
    try:
        e.run(command, *signers)
    except CivicLedgerError as error:
        return error
    return None


def test_in11_only_registrar_and_person_or_the_council_can_erase() -> None:
    e = _town()
    alice = e.account("alice")
    e.run(cc.RecordParticipation(alice, "infraction", "seen stealing", e.account("tess")), "tess")
    registrar = e.account("registrar")
    attempts: list[tuple[ident.ErasePersonalData, tuple[str, ...]]] = [
        (ident.ErasePersonalData(alice, registrar=registrar), ("registrar",)),  # without the person
        (ident.ErasePersonalData(alice, registrar=registrar), ("alice",)),  # without the registrar
        (ident.ErasePersonalData(alice, registrar=e.account("tess")), ("tess", "alice")),  # not a registrar
        (ident.ErasePersonalData(alice, registrar=registrar), ("registrar", "mallory")),  # the wrong person
        (ident.ErasePersonalData(alice, council=e.account("council")), (e.governors[0],)),  # below quorum
        (ident.ErasePersonalData(alice, council=e.account("mallory")), ("mallory",)),  # not the council
    ]
    for command, signers in attempts:
        error = _erase(e, command, *signers)
        assert isinstance(error, CivicLedgerError), signers
        assert isinstance(error, AuthorityError) or error.rule in {"IN11", "X6"}
        with e.store.read() as uow:
            assert uow.personal.refs_of(alice), "refused, yet erased"
    assert _erase(e, ident.ErasePersonalData(alice, registrar=registrar), "registrar", "alice") is None
    with e.store.read() as uow:
        assert uow.personal.refs_of(alice) == []
        assert uow.personal.refs_of(e.account("bob"))  # bob's data stays


def test_in11_the_http_path_refuses_plain_text_and_accepts_data_beside_the_command(
    served: tuple[SigningClient, ScriptedEconomy],
) -> None:
    client, e = served
    alice = e.account("alice")
    plain = cc.RecordParticipation(alice, "infraction", "seen stealing", e.account("tess"))
    plain_body = client.body(client.command(plain, "tess", seal=False))
    refused = client.post(plain_body, client.headers(plain_body, "tess"))
    assert refused.status_code == 422 or refused.status_code == 400, refused.text
    assert problem_of(refused)["rule"] == "IN11"

    item = seal("seen stealing", alice)
    signed = client.command(cc.RecordParticipation(alice, "infraction", item.ref, e.account("tess")), "tess")
    body = canonical_bytes({**signed.to_wire(), "personal": [item.to_wire()]})
    accepted = client.post(body, client.headers(body, "tess"))
    assert accepted.status_code == 200, accepted.text
    with e.store.read() as uow:
        assert uow.personal.get(item.ref) == item
    entry = client.http.get(f"/api/journal/{accepted.json()['seq']}").text
    assert "seen stealing" not in entry and item.ref in entry


@pytest.fixture
def economy() -> ScriptedEconomy:
    """The served economy of these tests: ``_town`` (persons enrolled, a technocrat)."""
    return _town()
