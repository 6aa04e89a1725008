"""X1-X7 through the real engine on the suite's store (SQLite by default, PostgreSQL in CI)."""

from __future__ import annotations

import dataclasses

import pytest

from civicledger.adapters.crypto import Ed25519Verifier, KeyPair
from civicledger.adapters.memory import MemoryStore
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.kernel import audit
from civicledger.kernel import identity as ident
from civicledger.kernel import ledger as led
from civicledger.kernel.economy import ChangePolicy
from civicledger.kernel.engine import Engine
from civicledger.kernel.errors import (
    AuthorityError,
    IdempotencyConflictError,
    InsufficientFundsError,
    InvalidInputError,
    NotFoundError,
    RuleViolationError,
)
from civicledger.kernel.identity import AccountKind, Role
from civicledger.kernel.journal import SignatureRecord
from civicledger.kernel.merkle import (
    consistency_proof,
    inclusion_proof,
    verify_consistency,
    verify_inclusion,
)
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.signing import sign_command
from civicledger.kernel.state import current_policy
from tests.conftest import T0

XI = CurrencyId("xi")


def journal_size(e: ScriptedEconomy) -> int:
    with e.store.read() as uow:
        return uow.journal.head().size


def leg(e: ScriptedEconomy, source: str, target: str, units: int) -> led.Leg:
    return led.Leg(XI, e.account(source), e.account(target), units)


def balance(e: ScriptedEconomy, name: str) -> int:
    with e.store.read() as uow:
        return uow.ledger.balance(e.account(name), XI)


# X1 ---------------------------------------------------------------------------------------------


def test_x01_account_id_derives_from_the_key_and_one_human_holds_one_verified_account(economy: ScriptedEconomy) -> None:
    alice = economy.person("alice")
    assert alice == ident.account_id_for(economy.key("alice").public_key)
    twin = economy.open("alice-again")
    before = journal_size(economy)
    error = economy.refused(ident.AttestPerson(twin, economy.account("registrar"), "human-of-alice"), "registrar")
    assert isinstance(error, RuleViolationError) and error.rule == "X1" and "one human" in error.message
    assert journal_size(economy) == before


def test_x01_only_a_registrar_attests(economy: ScriptedEconomy) -> None:
    economy.person("alice")
    bob = economy.open("bob")
    error = economy.refused(ident.AttestPerson(bob, economy.account("alice"), "human-of-bob"), "alice")
    assert isinstance(error, AuthorityError) and "registrar" in error.message


def test_x01_nobody_opens_an_account_for_someone_elses_key(economy: ScriptedEconomy) -> None:
    victim = economy.key("victim")
    error = economy.refused(ident.OpenAccount(AccountKind.PERSON, victim.public_hex, "x"), "mallory")
    assert isinstance(error, AuthorityError)


# X3 ---------------------------------------------------------------------------------------------


def test_x03_a_multi_leg_transfer_is_all_or_nothing(funded: ScriptedEconomy) -> None:
    e = funded
    before = journal_size(e)
    error = e.refused(led.Transfer((leg(e, "alice", "bob", 600), leg(e, "bob", "carol", 700))), "alice", "bob")
    assert isinstance(error, InsufficientFundsError) and error.rule == "X3" and "leg 2" in error.message
    assert (balance(e, "alice"), balance(e, "bob"), balance(e, "carol")) == (1_000, 0, 0)
    assert journal_size(e) == before
    e.run(led.Transfer((leg(e, "alice", "bob", 600), leg(e, "bob", "carol", 500))), "alice", "bob")
    assert (balance(e, "alice"), balance(e, "bob"), balance(e, "carol")) == (400, 100, 500)


def test_x03_units_appear_only_through_the_issuer_and_vanish_only_by_burn(funded: ScriptedEconomy) -> None:
    e = funded
    error = e.refused(led.Issue(XI, e.account("alice"), 5), "alice")
    assert isinstance(error, AuthorityError)
    e.run(led.Burn(XI, e.account("alice"), 300), "alice")
    with e.store.read() as uow:
        currency = uow.ledger.currency(XI)
        assert currency is not None and (currency.issued, currency.burned) == (1_000, 300)
        assert uow.ledger.sums_by_currency()[XI] == currency.supply == 700
    assert isinstance(e.refused(led.Burn(XI, e.account("alice"), 701), "alice"), InsufficientFundsError)


@pytest.mark.parametrize(
    ("units", "fragment"),
    [(0, "positive"), (-5, "positive"), (2**63, "may not exceed")],
)
def test_x03_bad_amounts_are_refused_with_nothing_written(funded: ScriptedEconomy, units: int, fragment: str) -> None:
    e = funded
    before = journal_size(e)
    command = e.sign(led.Transfer((leg(e, "alice", "bob", 1),)), "alice")
    bad = dataclasses.replace(command, payload={"legs": [{**command.payload["legs"][0], "units": units}], "memo": ""})
    with pytest.raises(InvalidInputError, match=fragment):
        e.engine.execute(bad)
    assert journal_size(e) == before


def test_x03_unknown_accounts_and_currencies_are_named(funded: ScriptedEconomy) -> None:
    e = funded
    ghost = ident.account_id_for(KeyPair.generate().public_key)
    error = e.refused(led.Transfer((led.Leg(XI, e.account("alice"), ghost, 1),)), "alice")
    assert isinstance(error, NotFoundError) and ghost in error.message
    error = e.refused(led.Transfer((led.Leg(CurrencyId("nope"), e.account("alice"), e.account("bob"), 1),)), "alice")
    assert isinstance(error, NotFoundError) and "nope" in error.message


# X5 ---------------------------------------------------------------------------------------------


def test_x05_a_retry_returns_the_first_result_and_writes_nothing(funded: ScriptedEconomy) -> None:
    e = funded
    first = e.run(led.Transfer((leg(e, "alice", "bob", 10),)), "alice", cid="pay-1")
    size = journal_size(e)
    e.advance(30)
    again = e.run(led.Transfer((leg(e, "alice", "bob", 10),)), "alice", cid="pay-1")
    assert again.replayed and (again.seq, again.time, again.events) == (first.seq, first.time, first.events)
    assert journal_size(e) == size and balance(e, "bob") == 10


def test_x05_the_same_id_with_another_payload_is_refused(funded: ScriptedEconomy) -> None:
    e = funded
    e.run(led.Transfer((leg(e, "alice", "bob", 10),)), "alice", cid="pay-1")
    error = e.refused(led.Transfer((leg(e, "alice", "bob", 11),)), "alice", cid="pay-1")
    assert isinstance(error, IdempotencyConflictError) and error.rule == "X5"
    assert balance(e, "bob") == 10


# X6 ---------------------------------------------------------------------------------------------


def test_x06_forged_missing_stale_future_and_foreign_signatures_are_refused(funded: ScriptedEconomy) -> None:
    e = funded
    before = journal_size(e)
    good = e.sign(led.Transfer((leg(e, "alice", "bob", 10),)), "alice")

    forged_sig = e.key("mallory").sign(good.signing_bytes(e.economy_id)).hex()
    future = sign_command(
        e.economy_id, led.Transfer((leg(e, "alice", "bob", 1),)), [e.key("alice")], signed_at=e.clock.now() + 3_600
    )
    other_economy = sign_command(
        "ec" + "0" * 32, led.Transfer((leg(e, "alice", "bob", 1),)), [e.key("alice")], signed_at=e.clock.now()
    )
    cases = [
        (
            "forged",
            dataclasses.replace(good, signatures=(SignatureRecord(e.account("alice"), forged_sig),)),
            "does not match",
        ),
        ("tampered", dataclasses.replace(good, payload={**good.payload, "memo": "changed"}), "does not match"),
        ("unsigned", dataclasses.replace(good, signatures=()), "missing signature"),
        ("twice", dataclasses.replace(good, signatures=good.signatures * 2), "signed the command twice"),
        ("future", future, "future"),
        ("other economy", other_economy, "does not match"),
    ]
    for name, command, fragment in cases:
        with pytest.raises(AuthorityError, match=fragment):
            e.engine.execute(command)
        assert journal_size(e) == before, name
    e.advance(3_600)
    with pytest.raises(AuthorityError, match="stale"):
        e.engine.execute(good)
    assert journal_size(e) == before and balance(e, "bob") == 0


def test_x06_a_council_decision_needs_its_quorum(economy: ScriptedEconomy) -> None:
    alice = economy.person("alice")
    error = economy.refused(ident.GrantRole(alice, Role.TECHNOCRAT), "governor-1")
    assert isinstance(error, AuthorityError) and "quorum of 2" in error.message
    economy.council_decision(ident.GrantRole(alice, Role.TECHNOCRAT))
    with economy.store.read() as uow:
        account = uow.accounts.get(alice)
        assert account is not None and "technocrat" in account.roles


# X7 ---------------------------------------------------------------------------------------------


def test_x07_a_policy_change_is_a_journal_entry_effective_from_then(economy: ScriptedEconomy) -> None:
    error = economy.refused(ChangePolicy("journal.signature_max_age", 60), "governor-1")
    assert isinstance(error, AuthorityError)
    bad = economy.refused(ChangePolicy("journal.signature_max_age", "soon"), *economy.governors)
    assert isinstance(bad, InvalidInputError) and bad.rule == "X7"
    receipt = economy.council_decision(ChangePolicy("journal.signature_max_age", 60))
    assert receipt.events[0]["type"] == "economy.policy_set" and receipt.events[0]["version"] == 2
    with economy.store.read() as uow:
        assert current_policy(uow).journal.signature_max_age == 60
        history = [value["effective_at"] for _, value in uow.records.scan("policy")]
    assert history == [T0, receipt.time]


def test_x07_an_engine_sees_a_policy_changed_by_another_writer(funded: ScriptedEconomy) -> None:
    """The engine keeps the policy while the journal head is the one it committed; an entry by
    another writer (another process) moves the head, so the next transaction reads it again."""
    e = funded
    e.run(led.Transfer((leg(e, "alice", "bob", 1),)), "alice")  # e.engine now holds the policy
    other = Engine(e.store, e.clock, Ed25519Verifier(), e.key("journal"))
    other.execute(e.sign(ChangePolicy("journal.signature_max_age", 60), *e.governors))
    late = e.sign(led.Transfer((leg(e, "alice", "bob", 1),)), "alice")
    e.advance(100)  # stale under the new policy (60 s), fresh under the old one (300 s)
    with pytest.raises(AuthorityError, match="stale"):
        e.engine.execute(late)


# X2 ---------------------------------------------------------------------------------------------


def test_x02_verify_rebuild_and_export_agree(funded: ScriptedEconomy, tmp_path: object) -> None:
    e = funded
    e.run(led.Transfer((leg(e, "alice", "bob", 250),)), "alice")
    report = audit.verify_store(e.store, Ed25519Verifier(), MemoryStore)
    assert report.ok and report.replay_digest == report.stored_digest
    before, after = audit.rebuild(e.store)
    assert before == after == report.stored_digest
    assert audit.verify_store(e.store, Ed25519Verifier(), MemoryStore).ok


def test_x02_inclusion_and_consistency_proofs_from_the_store(funded: ScriptedEconomy) -> None:
    e = funded
    with e.store.read() as uow:
        size = uow.journal.head().size
        leaves = uow.journal.leaf_hashes(size)
        head = uow.journal.get(size - 1)
        early = uow.journal.get(2)
    assert head is not None and early is not None
    root = bytes.fromhex(head.head.root)
    for seq in range(size):
        assert verify_inclusion(leaves[seq], seq, size, inclusion_proof(seq, leaves), root)
    proof = consistency_proof(3, leaves)
    assert verify_consistency(3, size, bytes.fromhex(early.head.root), root, proof)
    verifier = Ed25519Verifier()
    from civicledger.kernel.journal import tree_head_bytes

    journal_key = e.key("journal").public_key
    assert verifier.verify(
        journal_key,
        tree_head_bytes(e.economy_id, size, head.head.root, head.head.time),
        bytes.fromhex(head.head.signature),
    )


def test_x07_a_journal_written_before_a_policy_section_existed_still_verifies(store: object) -> None:
    """Newer code may add policy sections; re-executing an old genesis must give the same entry."""
    from civicledger.adapters.memory import MemoryStore
    from civicledger.kernel.economy import Genesis, economy_id_for
    from civicledger.kernel.engine import Engine
    from civicledger.kernel.messages import to_wire

    keys = ScriptedEconomy.__new__(ScriptedEconomy)
    keys.label = "old journal"
    keys._bound = {}  # no economy: only its reproducible keys are wanted
    old_policy = {"economy": {"name": "Old Town", "currency_decimals": 2}}  # no journal section at all
    genesis = Genesis(
        "Old Town",
        keys.key("journal").public_hex,
        keys.key("council").public_hex,
        (keys.key("g").public_hex,),
        1,
        (keys.key("r").public_hex,),
        old_policy,
        T0,
    )
    signed = sign_command(
        economy_id_for(to_wire(genesis)), genesis, [keys.key("journal")], signed_at=T0, command_id="genesis"
    )
    memory = MemoryStore()
    clock = type("C", (), {"now": staticmethod(lambda: T0)})()
    engine = Engine(memory, clock, Ed25519Verifier(), keys.key("journal"))
    receipt = engine.execute(signed)
    assert receipt.events[-1]["policy"] == old_policy
    with memory.read() as uow:
        assert current_policy(uow).journal.signature_max_age == 300  # filled from defaults when read
    assert audit.verify_store(memory, Ed25519Verifier(), MemoryStore).ok


def test_x05_a_batch_accepts_and_refuses_each_command_on_its_own(funded: ScriptedEconomy) -> None:
    e = funded
    size = journal_size(e)
    first = e.sign(led.Transfer((leg(e, "alice", "bob", 10),)), "alice", cid="b1")
    outcomes = e.engine.execute_batch(
        [
            first,
            e.sign(led.Transfer((leg(e, "carol", "bob", 10),)), "carol", cid="b2"),
            first,
            e.sign(led.Transfer((leg(e, "alice", "bob", 11),)), "alice", cid="b1"),
            e.sign(led.Transfer((leg(e, "bob", "carol", 5),)), "bob", cid="b5"),
        ]
    )
    kinds = [type(o).__name__ for o in outcomes]
    assert kinds == ["Receipt", "InsufficientFundsError", "Receipt", "IdempotencyConflictError", "Receipt"]
    assert outcomes[2].replayed and outcomes[2].seq == outcomes[0].seq  # type: ignore[union-attr]
    assert journal_size(e) == size + 2
    assert (balance(e, "alice"), balance(e, "bob"), balance(e, "carol")) == (990, 5, 5)
    with e.store.read() as uow:
        inside, last = uow.journal.get(size), uow.journal.get(size + 1)
    assert inside is not None and last is not None
    assert inside.head.signature == "" and last.head.signature != ""  # one signed head per transaction
    assert audit.verify_store(e.store, Ed25519Verifier(), MemoryStore).ok


def test_x02_proofs_served_by_the_audit_service_check_out(funded: ScriptedEconomy) -> None:
    e = funded
    size = journal_size(e)
    data = audit.inclusion(e.store, 3)
    assert data["tree_head"]["size"] == size
    assert verify_inclusion(
        bytes.fromhex(data["leaf_hash"]),
        3,
        size,
        [bytes.fromhex(p) for p in data["proof"]],
        bytes.fromhex(data["tree_head"]["root"]),
    )
    e.run(led.Transfer((leg(e, "alice", "bob", 1),)), "alice")
    proof = audit.consistency(e.store, size)
    assert proof["second"]["size"] == size + 1
    assert verify_consistency(
        size,
        size + 1,
        bytes.fromhex(proof["first"]["root"]),
        bytes.fromhex(proof["second"]["root"]),
        [bytes.fromhex(p) for p in proof["proof"]],
    )
    with pytest.raises(NotFoundError):
        audit.inclusion(e.store, size + 5)


def test_x05_a_payload_with_a_lone_surrogate_is_refused_alone_in_a_batch(funded: ScriptedEconomy) -> None:
    e = funded
    good = e.sign(led.Transfer((leg(e, "alice", "bob", 3),)), "alice", cid="fine")
    bad = dataclasses.replace(good, id="bad", payload={**good.payload, "memo": "\ud800"})
    outcomes = e.engine.execute_batch([bad, good])
    assert isinstance(outcomes[0], InvalidInputError) and not isinstance(outcomes[1], Exception)
    assert balance(e, "bob") == 3


def test_x02_an_inverted_consistency_request_is_invalid_input(funded: ScriptedEconomy) -> None:
    with pytest.raises(InvalidInputError):
        audit.consistency(funded.store, 5, 3)
    with pytest.raises(InvalidInputError):
        audit.consistency(funded.store, 0)


def test_x04_entries_take_their_time_from_the_injected_clock_and_replay_at_it() -> None:
    """X4: a rule reads the entry's time, which comes from the injected (here simulated) clock; a
    year is 365.2425 days and a month a twelfth of it; verification replays each entry at its own
    recorded time, whatever the time is now."""
    from civicledger.kernel.time import DAY, MONTH, WEEK, YEAR

    assert (YEAR, MONTH, WEEK) == (31_556_952, 2_629_746, 7 * DAY)
    economy = ScriptedEconomy(MemoryStore(), start=T0, label="x04")
    economy.advance(3 * YEAR)
    receipt = economy.run(ident.OpenAccount(AccountKind.PERSON, economy.key("late").public_hex, "late"), "late")
    assert receipt.time == T0 + 3 * YEAR
    with economy.store.read() as uow:
        stored = uow.journal.get(receipt.seq)
    assert stored is not None and stored.entry.time == T0 + 3 * YEAR
    economy.advance(10 * YEAR)  # the clock moves on; the journal does not
    assert audit.verify_store(economy.store, Ed25519Verifier(), MemoryStore).ok
