"""X9 attacks: taking an account that is not one's own (docs/keys.md).

alice names five guardians, three of whom must sign (the policy's default). The attackers: a
minority of guardians, a thief holding alice's key, and anyone replaying or forging the
signatures of the key commands. Every refusal writes nothing.
"""

from __future__ import annotations

import dataclasses

import pytest

from civicledger.adapters.crypto import Ed25519Verifier, KeyPair
from civicledger.adapters.memory import MemoryStore
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.kernel import audit
from civicledger.kernel import identity as ident
from civicledger.kernel import ledger as led
from civicledger.kernel.errors import AuthorityError, CivicLedgerError, NotFoundError, RuleViolationError
from civicledger.kernel.identity import AccountId, AccountKind
from civicledger.kernel.journal import SignatureRecord
from civicledger.kernel.messages import Command
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.time import DAY
from civicledger.mechanisms.circles import messages as cm
from civicledger.mechanisms.gears import commands as g
from tests.e2e.serving import SigningClient
from tests.integration.test_gears_flow import company, pass_test, setup_gears

XI = CurrencyId("xi")
GUARDIANS = tuple(f"guardian-{i}" for i in range(1, 6))


def head(e: ScriptedEconomy) -> int:
    with e.store.read() as uow:
        return uow.journal.head().size


def refused(e: ScriptedEconomy, command: Command, *signers: str | KeyPair) -> CivicLedgerError:
    before = head(e)
    error = e.refused(command, *signers)
    assert head(e) == before, f"{command.TYPE} wrote something"
    return error


def key_in_force(e: ScriptedEconomy, account: AccountId) -> str:
    with e.store.read() as uow:
        found = uow.accounts.get(account)
        assert found is not None
        return found.public_key


def pay(e: ScriptedEconomy, source: str, target: str, units: int) -> led.Transfer:
    return led.Transfer((led.Leg(XI, e.account(source), e.account(target), units),))


@pytest.fixture
def town(economy: ScriptedEconomy) -> ScriptedEconomy:
    """Gears set up with a fund issuing xi; alice holds 1,000 xi, bob and carol none; alice named
    five guardians, three of whom must sign (the policy's default)."""
    e = economy
    setup_gears(e)
    for name in ("alice", "bob", "carol"):
        e.person(name)
    e.run(led.Issue(XI, e.account("alice"), 1_000), "fund")
    for name in GUARDIANS:
        e.person(name)
    e.run(ident.NameGuardians(e.account("alice"), tuple(e.account(n) for n in GUARDIANS)), "alice")
    return e


def test_x09_a_guardian_minority_cannot_take_an_account(town: ScriptedEconomy) -> None:
    e = town
    alice = e.account("alice")
    mallory_key = e.new_key("mallory", 1)
    e.person("mallory")
    e.person("trent")
    start = ident.StartRecovery(alice, mallory_key.public_hex)
    minority = refused(e, start, *GUARDIANS[:2], mallory_key)
    assert isinstance(minority, AuthorityError) and minority.rule == "X9"
    assert "quorum of 3 guardians" in minority.message
    padded = refused(e, start, *GUARDIANS[:2], "mallory", "trent", mallory_key)  # outsiders do not count
    assert isinstance(padded, AuthorityError) and "2 did" in padded.message
    freeze = refused(e, ident.ReportStolen(alice), *GUARDIANS[:2])  # nor can they freeze it
    assert isinstance(freeze, AuthorityError)
    assert key_in_force(e, alice) == e.first_key("alice").public_hex


def test_x09_the_old_key_cancels_a_recovery_within_the_waiting_period(town: ScriptedEconomy) -> None:
    e = town
    alice = e.account("alice")
    takeover = e.new_key("mallory", 1)
    e.run(ident.StartRecovery(alice, takeover.public_hex), *GUARDIANS[:3], takeover)
    e.advance(7 * DAY - 1)
    e.run(ident.CancelRecovery(alice), "alice")
    e.advance(1)
    error = refused(e, ident.CompleteRecovery(alice), "bob")
    assert isinstance(error, NotFoundError) and error.rule == "X9"
    assert key_in_force(e, alice) == e.first_key("alice").public_hex
    e.run(pay(e, "alice", "bob", 10), "alice")  # alice still holds her account


def test_x09_a_recovery_does_not_complete_before_its_waiting_period(town: ScriptedEconomy) -> None:
    e = town
    alice = e.account("alice")
    new = e.new_key("alice", 2)
    started = e.run(ident.StartRecovery(alice, new.public_hex), *GUARDIANS[:3], new)
    assert started.result["completes_at"] == e.clock.now() + 7 * DAY
    for wait in (0, DAY, 7 * DAY - 1):
        e.advance(wait - (e.clock.now() - started.time))
        early = refused(e, ident.CompleteRecovery(alice), "bob")
        assert isinstance(early, RuleViolationError) and early.rule == "X9" and "not before" in early.message
    e.advance(1)
    e.run(ident.CompleteRecovery(alice), "bob")
    assert key_in_force(e, alice) == new.public_hex
    second = refused(e, ident.CompleteRecovery(alice), "bob")
    assert isinstance(second, NotFoundError)


def test_x09_a_thief_with_a_reported_key_can_move_nothing(town: ScriptedEconomy) -> None:
    """The thief holds alice's key; alice's guardians report it stolen. Money, trust, votes, the
    recovery and the key itself are out of the thief's reach until the recovery completes."""
    e = town
    alice = e.account("alice")
    firm = company(e, "acme")
    e.run(cm.CreateCirclesAccount(alice), "alice")
    e.run(cm.CreateCirclesAccount(e.account("bob")), "bob")
    pass_test(e, "alice", firm)
    thief = e.key("alice")
    e.run(ident.ReportStolen(alice), *GUARDIANS[:3])
    new = e.new_key("alice", 2)
    e.run(ident.StartRecovery(alice, new.public_hex), *GUARDIANS[:3], new)
    thief_key = e.new_key("thief", 1)
    attempts: list[tuple[str, Command, tuple[str | KeyPair, ...]]] = [
        ("transfer", pay(e, "alice", "bob", 500), (thief,)),
        ("burn", led.Burn(XI, alice, 1), (thief,)),
        ("trust", cm.Trust(alice, e.account("bob")), (thief, "bob")),
        ("claim", cm.ClaimIncome(alice), (thief,)),
        ("vote", g.CastVote(alice, firm, 1), (thief,)),
        ("cancel the recovery", ident.CancelRecovery(alice), (thief,)),
        ("rotate", ident.RotateKey(alice, thief_key.public_hex), (thief, thief_key)),
        ("name guardians", ident.NameGuardians(alice, (e.account("bob"),), 1), (thief,)),
    ]
    for what, command, signers in attempts:
        error = refused(e, command, *signers)
        assert isinstance(error, AuthorityError) and error.rule == "X9" and "frozen" in error.message, what
    with e.store.read() as uow:
        assert uow.ledger.balance(alice, XI) == 1_000
    e.advance(7 * DAY)
    e.run(ident.CompleteRecovery(alice), "carol")
    e.bind("alice", new)
    e.run(pay(e, "alice", "bob", 500), "alice")
    e.run(g.CastVote(alice, firm, 1), "alice")
    stolen_again = refused(e, pay(e, "alice", "bob", 1), thief)
    assert isinstance(stolen_again, AuthorityError) and "does not match" in stolen_again.message
    assert audit.verify_store(e.store, Ed25519Verifier(), MemoryStore).ok


def test_x09_a_second_stolen_key_report_is_refused_and_changes_nothing(town: ScriptedEconomy) -> None:
    e = town
    alice = e.account("alice")
    e.run(ident.ReportStolen(alice), "alice")
    again = refused(e, ident.ReportStolen(alice), *GUARDIANS[:3])
    assert isinstance(again, RuleViolationError) and "already frozen" in again.message


def test_x09_replayed_and_forged_signatures_on_key_commands_are_refused(town: ScriptedEconomy) -> None:
    e = town
    alice, bob = e.account("alice"), e.account("bob")
    k2, k3 = e.new_key("alice", 2), e.new_key("alice", 3)
    first = e.sign(ident.RotateKey(alice, k2.public_hex), "alice", k2, cid="rotate-1")
    e.engine.execute(first)
    e.bind("alice", k2)
    e.rotate("alice", 3)
    assert key_in_force(e, alice) == k3.public_hex
    # The same rotation sent again is a retry: its first receipt, and the key stays k3 (X5).
    assert e.engine.execute(first).replayed and key_in_force(e, alice) == k3.public_hex
    before = head(e)
    # Its signatures under another command id, or over another account, do not match.
    moved = dataclasses.replace(first, id="rotate-again")
    with pytest.raises(AuthorityError, match="does not match"):
        e.engine.execute(moved)
    stolen_proof = dataclasses.replace(first, id="rotate-bob", payload={**first.payload, "account": bob})
    with pytest.raises(AuthorityError):
        e.engine.execute(stolen_proof)
    # A guardian's signature forged by someone else's key.
    mallory = e.new_key("mallory", 1)
    start = e.sign(ident.StartRecovery(alice, mallory.public_hex), *GUARDIANS[:2], mallory)
    message = start.signing_bytes(e.economy_id)
    forged = SignatureRecord(e.account(GUARDIANS[2]), mallory.sign(message).hex())
    with pytest.raises(AuthorityError, match="does not match"):
        e.engine.execute(dataclasses.replace(start, signatures=(*start.signatures, forged)))
    # A proof of possession made by another key than the one named.
    k4 = e.new_key("alice", 4)
    rotate = e.sign(ident.RotateKey(alice, k4.public_hex), "alice")
    fake_proof = SignatureRecord(k4.own_account, mallory.sign(rotate.signing_bytes(e.economy_id)).hex())
    with pytest.raises(AuthorityError, match="does not match"):
        e.engine.execute(dataclasses.replace(rotate, signatures=(*rotate.signatures, fake_proof)))
    # A registrar's re-binding signed by the registrar's key of another economy.
    rebind = e.sign(ident.RebindKey(alice, e.account("registrar"), k4.public_hex, "passport-2026"), k4)
    other = ScriptedEconomy(MemoryStore(), start=e.clock.now(), name="Elsewhere", label="civicledger test key")
    foreign = other.sign(ident.RebindKey(alice, e.account("registrar"), k4.public_hex, "passport-2026"), "registrar")
    spliced = dataclasses.replace(rebind, signatures=(*rebind.signatures, *foreign.signatures))
    with pytest.raises(AuthorityError, match="does not match"):
        e.engine.execute(spliced)
    assert head(e) == before and key_in_force(e, alice) == k3.public_hex


def test_x09_colluding_guardians_are_stopped_by_a_registrar_for_a_verified_person(town: ScriptedEconomy) -> None:
    """k guardians who collude can freeze alice and start a recovery to their own key; alice, frozen,
    cannot cancel it, but a registrar can (alice is a verified person), within the waiting period."""
    e = town
    alice = e.account("alice")
    theirs = e.new_key("mallory", 1)
    e.run(ident.ReportStolen(alice), *GUARDIANS[2:])
    e.run(ident.StartRecovery(alice, theirs.public_hex), *GUARDIANS[2:], theirs)
    own_cancel = refused(e, ident.CancelRecovery(alice), "alice")
    assert isinstance(own_cancel, AuthorityError) and own_cancel.rule == "X9"
    not_a_registrar = refused(e, ident.CancelRecovery(alice, e.account("bob")), "bob")
    assert isinstance(not_a_registrar, AuthorityError)
    e.run(ident.CancelRecovery(alice, e.account("registrar")), "registrar")
    e.advance(7 * DAY)
    assert isinstance(refused(e, ident.CompleteRecovery(alice), "bob"), NotFoundError)
    new = e.new_key("alice", 2)
    e.run(ident.RebindKey(alice, e.account("registrar"), new.public_hex, "passport-2026"), "registrar", new)
    e.advance(7 * DAY)
    e.run(ident.CompleteRecovery(alice), "bob")
    assert key_in_force(e, alice) == new.public_hex


def test_x09_over_http_a_rotation_and_then_the_old_keys_requests_are_refused(
    served: tuple[SigningClient, ScriptedEconomy],
) -> None:
    """The rotation is an ordinary command (POST /api/commands, signed and requested by the old key
    and the new one); afterwards a request signed by the old key is refused, one by the new key
    accepted. A rotation written by another writer (the scripted engine) is followed too."""
    client, e = served
    e.open("fund", AccountKind.FUND)
    e.run(led.CreateCurrency("xi", e.account("fund"), "ethicap"), "fund")
    alice, bob = e.person("alice"), e.person("bob")
    e.run(led.Issue(XI, alice, 1_000), "fund")
    old = e.key("alice")
    assert client.run(pay(e, "alice", "bob", 1), "alice").status_code == 200  # the server caches the old key
    new = e.new_key("alice", 2)
    rotated = client.run(ident.RotateKey(alice, new.public_hex), old, new)
    assert rotated.status_code == 200, rotated.text
    e.bind("alice", new)
    before = client.journal_size()
    stale = client.run(pay(e, "alice", "bob", 10), old)
    assert stale.status_code == 403 and stale.json()["rule"] == "X6", stale.text
    assert client.journal_size() == before
    fresh = client.run(pay(e, "alice", "bob", 10), "alice")
    assert fresh.status_code == 200, fresh.text
    # Rotated again by another writer on the same store: the server's cached key is the old one.
    e.rotate("alice", 3)
    previous = new.for_account(alice)
    refused_again = client.run(pay(e, "alice", "bob", 100), previous)
    assert refused_again.status_code == 403, refused_again.text
    accepted = client.run(pay(e, "alice", "bob", 100), "alice")
    assert accepted.status_code == 200, accepted.text
    with e.store.read() as uow:
        assert uow.ledger.balance(bob, XI) == 111


def test_x09_a_rogue_registrars_rebinding_lapses_when_the_council_revokes_its_role(town: ScriptedEconomy) -> None:
    """One registrar can freeze a verified person and re-bind it to its own key; the waiting period
    lets the council revoke the role, and the re-binding then lapses instead of completing."""
    e = town
    alice = e.account("alice")
    rogue = e.new_key("rogue", 1)
    e.run(ident.ReportStolen(alice, e.account("registrar")), "registrar")
    e.run(ident.RebindKey(alice, e.account("registrar"), rogue.public_hex, "forged-evidence-1"), "registrar", rogue)
    e.council_decision(ident.RevokeRole(e.account("registrar"), ident.Role.REGISTRAR))
    e.advance(7 * DAY)
    lapsed = e.run(ident.CompleteRecovery(alice), "bob")
    assert [ev["type"] for ev in lapsed.events] == ["identity.recovery_cancelled"]
    assert lapsed.events[0]["by"] == "lapsed"
    assert key_in_force(e, alice) == e.first_key("alice").public_hex
    new = e.new_key("alice", 2)  # alice's guardians recover her (and lift the freeze)
    e.run(ident.StartRecovery(alice, new.public_hex), *GUARDIANS[:3], new)
    e.advance(7 * DAY)
    e.run(ident.CompleteRecovery(alice), "bob")
    e.bind("alice", new)
    e.run(pay(e, "alice", "bob", 1), "alice")


def test_x09_a_thief_who_names_new_guardians_cannot_shut_the_old_ones_out(town: ScriptedEconomy) -> None:
    """With the stolen key (not yet reported) a thief names guardians of its own: they come into
    force only after the waiting period, the old guardians freeze the account before that (which
    drops the change) and recover it; the thief's guardians never can."""
    e = town
    alice = e.account("alice")
    for name in ("sock-1", "sock-2"):
        e.person(name)
    socks = (e.account("sock-1"), e.account("sock-2"))
    named = e.run(ident.NameGuardians(alice, socks, 1), "alice")  # signed with the stolen key
    assert named.result["effective_at"] == e.clock.now() + 7 * DAY
    theirs = e.new_key("thief", 1)
    early = refused(e, ident.StartRecovery(alice, theirs.public_hex), "sock-1", theirs)
    assert isinstance(early, AuthorityError) and early.rule == "X9"
    e.run(ident.ReportStolen(alice), *GUARDIANS[:3])
    e.advance(7 * DAY)
    late = refused(e, ident.StartRecovery(alice, theirs.public_hex), "sock-1", theirs)
    assert isinstance(late, AuthorityError)  # the change was dropped by the freeze
    new = e.new_key("alice", 2)
    e.run(ident.StartRecovery(alice, new.public_hex), *GUARDIANS[:3], new)
    e.advance(7 * DAY)
    e.run(ident.CompleteRecovery(alice), "bob")
    assert key_in_force(e, alice) == new.public_hex


def test_x09_an_owners_change_of_guardians_comes_into_force_after_the_wait(town: ScriptedEconomy) -> None:
    e = town
    alice = e.account("alice")
    e.run(ident.NameGuardians(alice, (e.account("bob"),), 1), "alice")
    new = e.new_key("alice", 2)
    before = refused(e, ident.StartRecovery(alice, new.public_hex), "bob", new)
    assert isinstance(before, AuthorityError)
    e.advance(7 * DAY)
    e.run(ident.StartRecovery(alice, new.public_hex), "bob", new)
