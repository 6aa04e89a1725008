"""IN11: personal data stays off the public journal, and a person can have it erased.

Under rule version 3 a person's name, the registrar's evidence of a human, the evidence of an
infraction, an adjustment's reason and an appeal's grounds are held in the off-journal store; the
journal carries salted references. The test writes each of them, exports the journal and looks for
the texts in its bytes, erases the person's data, and checks that the journal still verifies, the
projections rebuild, and the reads (API, credits explanation, pages) show "erased".
"""

from __future__ import annotations

import io
from pathlib import Path

import httpx

from civicledger.adapters.crypto import Ed25519Verifier
from civicledger.adapters.memory import MemoryStore
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.api import reads
from civicledger.api.app import create_app
from civicledger.kernel import audit
from civicledger.kernel import identity as ident
from civicledger.kernel.identity import AccountKind, Role
from civicledger.kernel.personal import ERASED, is_ref
from civicledger.kernel.ports import Store
from civicledger.kernel.time import YEAR
from civicledger.mechanisms.credits import commands as cc
from civicledger.mechanisms.credits import queries
from tests.conftest import T0
from tests.e2e.serving import serve_app

NAME = "Alice Wonderland-Smith"
EVIDENCE = "passport 123"
INFRACTION = "seen shoplifting at the Tuesday market by Ms Finch"
REASON = "repeated shoplifting, reported twice"
GROUNDS = "I was at the hospital that Tuesday, with my mother"
TEXTS = (NAME, EVIDENCE, INFRACTION, REASON, GROUNDS)


def _town(store: Store) -> tuple[ScriptedEconomy, str]:
    """Alice opened with her name, attested on her passport, enrolled, punished and appealing."""
    e = ScriptedEconomy(store, start=T0, label="civicledger test key")
    alice = e.key("alice")
    e.run(ident.OpenAccount(AccountKind.PERSON, alice.public_hex, NAME), "alice", cid="open-alice")
    e.run(ident.AttestPerson(alice.account, e.account("registrar"), EVIDENCE), "registrar", cid="attest-alice")
    e.person("tess")
    e.council_decision(ident.GrantRole(e.account("tess"), Role.TECHNOCRAT), cid="grant-tess")
    born = e.clock.now() - 30 * YEAR
    e.run(cc.EnrollPerson(alice.account, born, e.account("registrar")), "registrar", cid="enroll-alice")
    e.run(cc.RecordParticipation(alice.account, "infraction", INFRACTION, technocrat=e.account("tess")), "tess")
    adjusted = e.run(cc.AdjustGrade(alice.account, -1, 0, YEAR, REASON, INFRACTION, e.account("tess")), "tess")
    adjustment = str(adjusted.result["adjustment"])
    e.run(cc.FileAppeal(adjustment, alice.account, GROUNDS), "alice", cid="appeal-alice")
    return e, adjustment


def _export(store: Store) -> bytes:
    out = io.StringIO()
    audit.export_journal(store, out)
    return out.getvalue().encode()


def _explained(e: ScriptedEconomy) -> str:
    with e.store.read() as uow:
        return repr(queries.explain(uow, e.account("alice"), e.clock.now()))


def test_in11_no_personal_text_reaches_the_journal_and_an_erasure_keeps_it_valid(store: Store, tmp_path: Path) -> None:
    e, _ = _town(store)
    journal = _export(store)
    for text in TEXTS:
        assert text.encode() not in journal, text
    # ... while the reads show the data, fetched from the off-journal store
    assert reads.account(store, e.account("alice"))["name"] == NAME
    explained = _explained(e)
    for text in (INFRACTION, REASON, GROUNDS):
        assert text in explained

    e.run(ident.ErasePersonalData(e.account("alice"), registrar=e.account("registrar")), "registrar", "alice")

    journal = _export(store)
    for text in TEXTS:
        assert text.encode() not in journal
    assert b"identity.personal_data_erased" in journal
    with store.read() as uow:
        assert uow.personal.refs_of(e.account("alice")) == []
    assert reads.account(store, e.account("alice"))["name"] == ERASED
    explained = _explained(e)
    for text in (INFRACTION, REASON, GROUNDS):
        assert text not in explained
    assert ERASED in explained

    report = audit.verify_store(store, Ed25519Verifier(), MemoryStore)
    assert report.ok, report.reason
    path = tmp_path / "journal.jsonl"
    path.write_bytes(journal)
    exported = audit.verify_export(path, Ed25519Verifier(), MemoryStore)
    assert exported.ok, exported.reason
    before, after = audit.rebuild(store)
    assert before == after
    assert reads.account(store, e.account("alice"))["name"] == ERASED


def test_in11_the_api_and_pages_show_erased_data_as_erased() -> None:
    e, _ = _town(MemoryStore())
    alice = e.account("alice")
    with (
        serve_app(create_app(e.store, e.clock, e.key("journal"))) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        assert client.get(f"/api/accounts/{alice}").json()["name"] == NAME
        assert NAME in client.get(f"/persons/{alice}").text
        e.council_decision(ident.ErasePersonalData(alice, council=e.account("council")))
        assert client.get(f"/api/accounts/{alice}").json()["name"] == ERASED
        page = client.get(f"/persons/{alice}").text
        assert NAME not in page and GROUNDS not in page and ERASED in page


def test_in11_the_journal_names_the_data_by_salted_reference() -> None:
    e, _ = _town(MemoryStore())
    with e.store.read() as uow:
        alice = uow.accounts.get(e.account("alice"))
        assert alice is not None and is_ref(alice.name)
        item = uow.personal.get(alice.name)
        assert item is not None and item.text == NAME and item.subject == alice.id


def test_in11_under_rules_2_nothing_changes() -> None:
    """Rule versions 1 and 2 keep writing the text (their journals verify as they were)."""
    e = ScriptedEconomy(MemoryStore(), start=T0, label="civicledger test key", rules=2)
    e.open("alice")
    assert b'"name":"alice"' in _export(e.store)
    refused = e.refused(ident.ErasePersonalData(e.account("alice"), registrar=e.account("registrar")), "registrar")
    assert refused.rule == "IN8"
