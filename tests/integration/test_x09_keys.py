"""X9 Keys change, accounts stay: rotation, guardians, recovery, re-binding, the stolen-key freeze,
and signatures checked against the key in force at each entry's time (docs/keys.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from civicledger.adapters.crypto import Ed25519Verifier
from civicledger.adapters.memory import MemoryStore
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.kernel import audit, state
from civicledger.kernel import identity as ident
from civicledger.kernel import ledger as led
from civicledger.kernel.economy import ChangePolicy
from civicledger.kernel.engine import Engine
from civicledger.kernel.errors import AuthorityError, InvalidInputError, NotFoundError, RuleViolationError
from civicledger.kernel.identity import AccountId
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.personal import reveal
from civicledger.kernel.time import DAY

XI = CurrencyId("xi")


def pay(e: ScriptedEconomy, source: str, target: str, units: int) -> led.Transfer:
    return led.Transfer((led.Leg(XI, e.account(source), e.account(target), units),))


def balance(e: ScriptedEconomy, name: str) -> int:
    with e.store.read() as uow:
        return uow.ledger.balance(e.account(name), XI)


def key_in_force(e: ScriptedEconomy, account: AccountId) -> str:
    with e.store.read() as uow:
        found = uow.accounts.get(account)
        assert found is not None
        return found.public_key


def with_guardians(e: ScriptedEconomy, owner: str = "alice", threshold: int = 3) -> list[str]:
    names = [f"guardian-{i}" for i in range(1, 6)]
    for name in names:
        e.person(name)
    e.run(ident.NameGuardians(e.account(owner), tuple(e.account(n) for n in names), threshold), owner)
    return names


def test_x09_a_rotation_keeps_the_account_and_its_money(funded: ScriptedEconomy) -> None:
    e = funded
    alice = e.account("alice")
    old = e.key("alice")
    new = e.rotate("alice")
    assert e.account("alice") == alice and key_in_force(e, alice) == new.public_hex
    e.run(pay(e, "alice", "bob", 100), "alice")
    assert (balance(e, "alice"), balance(e, "bob")) == (900, 100)
    error = e.refused(pay(e, "alice", "bob", 1), old)
    assert isinstance(error, AuthorityError) and "does not match" in error.message
    assert balance(e, "bob") == 100


def test_x09_a_rotation_needs_the_new_keys_signature_and_the_old_one(funded: ScriptedEconomy) -> None:
    e = funded
    alice = e.account("alice")
    new = e.new_key("alice", 2)
    missing_new = e.refused(ident.RotateKey(alice, new.public_hex), "alice")
    assert isinstance(missing_new, AuthorityError) and new.own_account in missing_new.message
    by_new_only = e.refused(ident.RotateKey(alice, new.public_hex), new)
    assert isinstance(by_new_only, AuthorityError) and alice in by_new_only.message
    assert key_in_force(e, alice) == e.first_key("alice").public_hex


def test_x09_a_key_is_bound_to_one_account_only(funded: ScriptedEconomy) -> None:
    e = funded
    bobs_key = e.key("bob")
    error = e.refused(ident.RotateKey(e.account("alice"), bobs_key.public_hex), "alice", bobs_key)
    assert isinstance(error, RuleViolationError) and error.rule == "X9"
    new = e.rotate("alice")
    error = e.refused(ident.OpenAccount(ident.AccountKind.PERSON, new.public_hex, "twin"), e.new_key("alice", 2))
    assert isinstance(error, RuleViolationError) and error.rule == "X9"


def test_x09_guardians_are_existing_other_accounts_named_once_k_of_n(funded: ScriptedEconomy) -> None:
    e = funded
    alice, bob, carol = (e.account(n) for n in ("alice", "bob", "carol"))
    cases: list[tuple[tuple[AccountId, ...], int, type[Exception]]] = [
        ((), 1, InvalidInputError),
        ((bob, bob), 1, InvalidInputError),
        ((bob, alice), 1, RuleViolationError),
        ((bob, AccountId("ac" + "0" * 32)), 1, NotFoundError),
        ((bob, carol), 3, InvalidInputError),
        ((bob, carol), 0, InvalidInputError),  # 0 takes the policy's 3, more than 2 guardians
    ]
    for guardians, k, error_type in cases:
        error = e.refused(ident.NameGuardians(alice, guardians, k), "alice")
        assert isinstance(error, error_type) and error.rule == "X9", (guardians, k)
    receipt = e.run(ident.NameGuardians(alice, (bob, carol), 2), "alice")
    assert receipt.result["threshold"] == 2 and receipt.result["effective_at"] == e.clock.now()
    with e.store.read() as uow:
        assert state.guardians_of(uow, alice, e.clock.now()) == ident.Guardians((bob, carol), 2)


def test_x09_the_policy_sets_the_default_threshold_and_the_waiting_period(funded: ScriptedEconomy) -> None:
    e = funded
    names = [f"g{i}" for i in range(5)]
    for n in names:
        e.person(n)
    receipt = e.run(ident.NameGuardians(e.account("alice"), tuple(e.account(n) for n in names)), "alice")
    assert receipt.result["threshold"] == 3
    e.council_decision(ChangePolicy("identity.recovery_wait", 2 * DAY))
    new = e.new_key("alice", 2)
    started = e.run(ident.StartRecovery(e.account("alice"), new.public_hex), *names[:3], new)
    assert started.result["completes_at"] == e.clock.now() + 2 * DAY


def test_x09_recovery_by_guardians_completes_after_the_wait_and_keeps_everything(funded: ScriptedEconomy) -> None:
    e = funded
    alice = e.account("alice")
    guardians = with_guardians(e)
    new = e.new_key("alice", 2)
    e.run(ident.StartRecovery(alice, new.public_hex), *guardians[:3], new)
    e.advance(7 * DAY)
    e.run(ident.CompleteRecovery(alice), "bob")
    assert key_in_force(e, alice) == new.public_hex
    e.bind("alice", new)
    e.run(pay(e, "alice", "carol", 250), "alice")
    assert (balance(e, "alice"), balance(e, "carol")) == (750, 250)
    assert audit.verify_store(e.store, Ed25519Verifier(), MemoryStore).ok


def test_x09_a_registrar_rebinds_a_verified_person_on_fresh_evidence_only(funded: ScriptedEconomy) -> None:
    e = funded
    alice, registrar = e.account("alice"), e.account("registrar")
    new = e.new_key("alice", 2)
    reused = e.refused(ident.RebindKey(alice, registrar, new.public_hex, "human-of-alice"), "registrar", new)
    assert isinstance(reused, RuleViolationError) and "fresh evidence" in reused.message
    not_registrar = e.refused(ident.RebindKey(alice, e.account("bob"), new.public_hex, "passport-2026"), "bob", new)
    assert isinstance(not_registrar, AuthorityError)
    e.run(ident.RebindKey(alice, registrar, new.public_hex, "passport-2026"), "registrar", new)
    with e.store.read() as uow:
        # under rule version 3 the journal keys the evidence by its salted reference (IN11)
        assert [reveal(uow.personal, ref) for ref, _ in uow.records.scan("key_evidence")] == ["passport-2026"]
    e.advance(7 * DAY)
    e.run(ident.CompleteRecovery(alice), "carol")
    assert key_in_force(e, alice) == new.public_hex


def test_x09_a_registrar_cannot_rebind_an_unverified_account(economy: ScriptedEconomy) -> None:
    e = economy
    stranger = e.person("stranger", verified=False)
    new = e.new_key("stranger", 2)
    error = e.refused(ident.RebindKey(stranger, e.account("registrar"), new.public_hex, "id-card-1"), "registrar", new)
    assert isinstance(error, RuleViolationError) and "not a verified person" in error.message


def test_x09_a_registrar_cancels_a_recovery_of_a_verified_person(funded: ScriptedEconomy) -> None:
    e = funded
    alice = e.account("alice")
    guardians = with_guardians(e)
    new = e.new_key("alice", 2)
    e.run(ident.StartRecovery(alice, new.public_hex), *guardians[:3], new)
    e.run(ident.ReportStolen(alice), *guardians[:3])  # colluding guardians freeze the owner out
    e.run(ident.CancelRecovery(alice, e.account("registrar")), "registrar")
    e.advance(7 * DAY)
    error = e.refused(ident.CompleteRecovery(alice), "bob")
    assert isinstance(error, NotFoundError) and error.rule == "X9"
    assert key_in_force(e, alice) == e.first_key("alice").public_hex


def test_x09_a_report_freezes_until_a_recovery_completes(funded: ScriptedEconomy) -> None:
    e = funded
    alice = e.account("alice")
    e.run(ident.ReportStolen(alice), "alice")
    frozen = e.refused(pay(e, "alice", "bob", 1), "alice")
    assert isinstance(frozen, AuthorityError) and frozen.rule == "X9"
    e.run(led.Issue(XI, alice, 5), "fund")  # receiving still works
    new = e.new_key("alice", 2)
    e.run(ident.RebindKey(alice, e.account("registrar"), new.public_hex, "passport-2026"), "registrar", new)
    e.advance(7 * DAY)
    e.run(ident.CompleteRecovery(alice), "bob")
    e.bind("alice", new)
    e.run(pay(e, "alice", "bob", 5), "alice")
    assert balance(e, "bob") == 5
    with e.store.read() as uow:
        assert uow.records.get("key_frozen", alice) is None


def test_x09_verify_and_verify_export_follow_key_history(funded: ScriptedEconomy, tmp_path: Path) -> None:
    e = funded
    guardians = with_guardians(e)
    e.rotate("alice")
    e.run(pay(e, "alice", "bob", 10), "alice")
    newer = e.new_key("alice", 3)
    e.run(ident.StartRecovery(e.account("alice"), newer.public_hex), *guardians[:3], newer)
    e.advance(7 * DAY)
    e.run(ident.CompleteRecovery(e.account("alice")), "carol")
    e.bind("alice", newer)
    e.run(pay(e, "alice", "bob", 20), "alice")
    assert audit.verify_store(e.store, Ed25519Verifier(), MemoryStore).ok
    path = tmp_path / "journal.jsonl"
    with path.open("w") as out:
        audit.export_journal(e.store, out)
    report = audit.verify_export(path, Ed25519Verifier(), MemoryStore)
    assert report.ok, report.reason
    assert report.entries == len(path.read_text().splitlines())


def test_x09_a_journal_holding_a_payment_signed_by_the_rotated_out_key_does_not_verify(
    funded: ScriptedEconomy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer holding the journal key that lets an old key's signature in (here: one that skips
    signature checks) writes a journal neither ``verify`` nor ``verify --export`` accepts."""
    e = funded
    old = e.key("alice")
    e.rotate("alice")
    stale = e.sign(pay(e, "alice", "bob", 10), old)
    with pytest.raises(AuthorityError, match="does not match"):
        e.engine.execute(stale)
    with monkeypatch.context() as m:
        m.setattr(e.engine, "_check_signature", lambda *args: None)
        e.engine.execute(stale)
    assert balance(e, "bob") == 10
    report = audit.verify_store(e.store, Ed25519Verifier(), MemoryStore)
    assert not report.ok and "does not match" in report.reason
    path = tmp_path / "journal.jsonl"
    with path.open("w") as out:
        audit.export_journal(e.store, out)
    report = audit.verify_export(path, Ed25519Verifier(), MemoryStore)
    assert not report.ok and "does not match" in report.reason
    assert report.bad_seq == len(path.read_text().splitlines()) - 1


def test_x09_a_rotation_by_another_writer_is_seen_by_an_engine_that_cached_the_old_key(
    funded: ScriptedEconomy,
) -> None:
    e = funded
    other = Engine(e.store, e.clock, Ed25519Verifier(), e.key("journal"))
    old = e.key("alice")
    assert other.key_of(e.account("alice")) == old.public_key  # cached
    other.execute(e.sign(pay(e, "alice", "bob", 1), "alice"))
    e.rotate("alice")  # written by the first engine
    stale = e.sign(pay(e, "alice", "bob", 1), old)
    with pytest.raises(AuthorityError, match="does not match"):
        other.execute(stale)
    assert other.key_of(e.account("alice")) == old.public_key  # still cached: never the last word
    assert other.key_of(e.account("alice"), fresh=True) == e.key("alice").public_key
    other.execute(e.sign(pay(e, "alice", "bob", 1), "alice"))
    assert balance(e, "bob") == 2
    assert other.key_of(e.account("alice")) == e.key("alice").public_key  # its commit refreshed it


def test_x09_a_rotation_in_a_batch_takes_effect_for_the_next_command_of_the_batch(funded: ScriptedEconomy) -> None:
    e = funded
    alice = e.account("alice")
    old = e.key("alice")
    new = e.new_key("alice", 2)
    rotate = e.sign(ident.RotateKey(alice, new.public_hex), "alice", new)
    e.engine.execute(e.sign(pay(e, "alice", "bob", 1), "alice"))  # the old key is cached
    stale = e.sign(pay(e, "alice", "bob", 5), old)
    fresh = e.sign(pay(e, "alice", "bob", 7), new.for_account(alice))
    outcomes = e.engine.execute_batch([rotate, stale, fresh])
    assert not isinstance(outcomes[0], Exception)
    assert isinstance(outcomes[1], AuthorityError)
    assert not isinstance(outcomes[2], Exception)
    assert balance(e, "bob") == 8


def test_x09_new_policy_values_leave_the_stored_policy_unchanged_at_default() -> None:
    from civicledger.kernel.policy import Policy, policy_to_mapping

    assert "identity" not in policy_to_mapping(Policy())
    assert policy_to_mapping(Policy(), every_value=True)["identity"] == {
        "recovery_wait": 7 * DAY,
        "guardian_threshold": 3,
        "max_guardians": 15,
    }
