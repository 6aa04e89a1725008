"""X2: verification names the first bad entry when anything stored is changed."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from civicledger.adapters.crypto import Ed25519Verifier
from civicledger.adapters.memory import MemoryStore
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.adapters.sql import schema
from civicledger.adapters.sql.store import SqlStore
from civicledger.kernel import audit
from civicledger.kernel import ledger as led
from civicledger.kernel.identity import AccountKind
from civicledger.kernel.money import CurrencyId

XI = CurrencyId("xi")


@pytest.fixture
def history(economy: ScriptedEconomy) -> ScriptedEconomy:
    if isinstance(economy.store, MemoryStore):
        pytest.skip("tampering is done with SQL on the stored rows")
    economy.open("fund", AccountKind.FUND)
    economy.person("alice")
    economy.person("bob")
    economy.run(led.CreateCurrency("xi", economy.account("fund"), "ethicap"), "fund")
    economy.run(led.Issue(XI, economy.account("alice"), 1_000), "fund")
    economy.run(led.Transfer((led.Leg(XI, economy.account("alice"), economy.account("bob"), 345),)), "alice")
    economy.run(led.Transfer((led.Leg(XI, economy.account("bob"), economy.account("alice"), 45),)), "bob")
    return economy


def sql(e: ScriptedEconomy) -> SqlStore:
    assert isinstance(e.store, SqlStore)
    return e.store


def entry_with(e: ScriptedEconomy, text: str) -> tuple[int, str]:
    with sql(e).engine.connect() as conn:
        for seq, body in conn.execute(
            sa.select(schema.journal.c.seq, schema.journal.c.body).order_by(schema.journal.c.seq)
        ):
            if text in body:
                return int(seq), body
    raise AssertionError(text)


def update_body(e: ScriptedEconomy, seq: int, body: str) -> None:
    with sql(e).engine.begin() as conn:
        conn.execute(schema.journal.update().where(schema.journal.c.seq == seq).values(body=body))


def test_x02_flipping_one_byte_of_an_entry_is_named(history: ScriptedEconomy) -> None:
    assert audit.verify_store(history.store, Ed25519Verifier(), MemoryStore).ok
    seq, body = entry_with(history, '"units":345')
    flipped = body.replace('"units":345', '"units":355', 1)
    assert len(flipped) == len(body) and sum(a != b for a, b in zip(flipped, body, strict=True)) == 1
    update_body(history, seq, flipped)
    report = audit.verify_store(history.store, Ed25519Verifier(), MemoryStore)
    assert not report.ok and report.bad_seq == seq and "Merkle leaf" in report.reason


def test_x02_a_rewritten_entry_with_a_matching_leaf_still_fails_its_signed_head(history: ScriptedEconomy) -> None:
    """Even someone who recomputes the leaf hash cannot forge the journal key's signature on the head."""
    import json

    from civicledger.kernel.journal import Entry
    from civicledger.kernel.merkle import leaf_hash

    seq, body = entry_with(history, '"units":45')
    entry = Entry.from_wire(json.loads(body.replace('"units":45', '"units":46')))
    with sql(history).engine.begin() as conn:
        conn.execute(
            schema.journal.update()
            .where(schema.journal.c.seq == seq)
            .values(body=body.replace('"units":45', '"units":46'), leaf_hash=leaf_hash(entry.leaf_bytes()))
        )
    report = audit.verify_store(history.store, Ed25519Verifier(), MemoryStore)
    assert not report.ok and report.bad_seq == seq


def test_x02_a_changed_balance_is_caught_by_replay(history: ScriptedEconomy) -> None:
    with sql(history).engine.begin() as conn:
        conn.execute(
            schema.balances.update().where(schema.balances.c.account == history.account("bob")).values(units=301)
        )
    report = audit.verify_store(history.store, Ed25519Verifier(), MemoryStore)
    assert not report.ok and "different state" in report.reason


def test_x02_a_forged_tree_head_signature_is_named(history: ScriptedEconomy) -> None:
    with sql(history).engine.begin() as conn:
        conn.execute(schema.journal.update().where(schema.journal.c.seq == 3).values(head_signature="00" * 64))
    report = audit.verify_store(history.store, Ed25519Verifier(), MemoryStore)
    assert not report.ok and report.bad_seq == 3 and "signature" in report.reason
