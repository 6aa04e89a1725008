"""X2, IN12: incremental verification. The verified state (a SQLite store of its own) carries on from
the last run, so verifying again re-executes only new entries; its result equals a full verify; a
changed entry is named; a rolled-back or forked journal is refused; a failed run changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa

from civicledger.adapters.crypto import Ed25519Verifier
from civicledger.adapters.memory import MemoryStore
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.adapters.sql import schema
from civicledger.adapters.sql.store import SqlStore
from civicledger.kernel import audit
from civicledger.kernel import ledger as led
from civicledger.kernel.canonical import JSONObject
from civicledger.kernel.errors import IntegrityError
from civicledger.kernel.identity import AccountId
from civicledger.kernel.incremental import (
    LogEntry,
    Target,
    VerifiedState,
    _Conservation,
    load_state,
    verify_increment,
    verify_journal_increment,
)
from civicledger.kernel.ledger import Currency, CurrencyKind, IssuerRule
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.ports import Store
from civicledger.kernel.snapshot import state_digest

XI = CurrencyId("xi")


@pytest.fixture
def state(tmp_path: Path) -> Iterator[SqlStore]:
    s = SqlStore.open(f"sqlite:///{tmp_path / 'state' / 'state.db'}")
    yield s
    s.close()


def pay(e: ScriptedEconomy, n: int, units: int = 1) -> None:
    for _ in range(n):
        e.run(led.Transfer((led.Leg(XI, e.account("alice"), e.account("bob"), units),)), "alice")
        e.advance(1)


def journal_digest(store: Store) -> str:
    with store.read() as uow:
        return state_digest(uow, sorted(set(uow.records.namespaces()) - {"verified_state"}))


def test_x02_a_second_run_re_executes_only_the_new_entries_and_ends_where_a_full_verify_does(
    funded: ScriptedEconomy, state: SqlStore
) -> None:
    first = verify_journal_increment(funded.store, state, Ed25519Verifier(), "test")
    assert first.ok and first.first_run and first.new_entries == first.size > 0
    pay(funded, 7)
    second = verify_journal_increment(funded.store, state, Ed25519Verifier(), "test")
    assert second.ok and not second.first_run
    assert (second.previous_size, second.new_entries, second.size) == (first.size, 7, first.size + 7)
    full = audit.verify_store(funded.store, Ed25519Verifier(), MemoryStore)
    assert full.ok and second.root == full.root and second.size == full.entries
    # the state replayed in two steps is the economy a full replay gives, row for row
    with funded.store.read() as uow:
        _, replayed = audit.verify_entries(uow.journal.scan(), Ed25519Verifier(), MemoryStore)
    assert journal_digest(state) == journal_digest(replayed)
    again = verify_journal_increment(funded.store, state, Ed25519Verifier(), "test")
    assert again.ok and again.new_entries == 0 and again.size == second.size
    kept = load_state(state)
    assert kept is not None and kept.size == second.size and kept.root == full.root


def _tamper_body(store: Store, seq: int, old: str, new: str) -> None:
    assert isinstance(store, SqlStore)
    with store.engine.begin() as conn:
        body = conn.execute(sa.select(schema.journal.c.body).where(schema.journal.c.seq == seq)).scalar_one()
        assert old in body
        conn.execute(schema.journal.update().where(schema.journal.c.seq == seq).values(body=body.replace(old, new)))


def test_x02_a_changed_new_entry_is_named_and_the_last_good_state_is_kept(
    funded: ScriptedEconomy, state: SqlStore
) -> None:
    if isinstance(funded.store, MemoryStore):
        pytest.skip("tampering is done with SQL on the stored rows")
    assert verify_journal_increment(funded.store, state, Ed25519Verifier(), "test").ok
    before = load_state(state)
    digest = journal_digest(state)
    assert before is not None
    pay(funded, 3, units=7)
    _tamper_body(funded.store, before.size + 1, '"units":7', '"units":8')
    report = verify_journal_increment(funded.store, state, Ed25519Verifier(), "test")
    assert not report.ok and report.bad_seq == before.size + 1 and not report.refused
    assert report.size == before.size
    assert load_state(state) == before and journal_digest(state) == digest  # nothing of the failed run kept


def test_in12_a_journal_rolled_back_below_the_verified_size_is_refused(
    funded: ScriptedEconomy, state: SqlStore, tmp_path: Path
) -> None:
    pay(funded, 4)
    assert verify_journal_increment(funded.store, state, Ed25519Verifier(), "test").ok
    before = load_state(state)
    assert before is not None
    target = Target(before.size - 2, bytes(32), before.log_key, before.origin, before.log_key, "test")
    report = verify_increment(state, Ed25519Verifier(), target, lambda start: iter(()))
    assert report.refused and report.rule == "IN12" and "rollback" in report.reason
    assert load_state(state) == before


def test_in12_another_root_for_the_verified_size_or_its_prefix_is_a_fork(
    funded: ScriptedEconomy, state: SqlStore
) -> None:
    assert verify_journal_increment(funded.store, state, Ed25519Verifier(), "test").ok
    before = load_state(state)
    assert before is not None
    same_size = Target(before.size, bytes(32), before.log_key, before.origin, before.log_key, "test")
    refused = verify_increment(state, Ed25519Verifier(), same_size, lambda start: iter(()))
    assert refused.refused and "fork" in refused.reason and refused.rule == "IN12"
    longer = Target(before.size + 5, bytes(32), before.log_key, before.origin, before.log_key, "test", bytes(32))
    refused = verify_increment(state, Ed25519Verifier(), longer, lambda start: iter(()))
    assert refused.refused and "rewrote history" in refused.reason
    other_key = Target(before.size + 1, bytes(32), "ab" * 32, before.origin, "ab" * 32, "test")
    refused = verify_increment(state, Ed25519Verifier(), other_key, lambda start: iter(()))
    assert refused.refused and "refusing" in refused.reason
    assert load_state(state) == before


def test_x02_a_log_whose_new_entries_do_not_reach_its_signed_root_is_refused_and_nothing_kept(
    funded: ScriptedEconomy, state: SqlStore
) -> None:
    """Entries read from a log (bundles) are checked against the signed root only at the end: a log
    that signs one tree and serves another entry that still re-executes fails there, and nothing
    of the run is kept."""
    with funded.store.read() as uow:
        stored = list(uow.journal.scan())
    info = funded.engine.economy()
    assert info is not None
    half = len(stored) // 2
    key = info.journal_key
    first = Target(half, bytes.fromhex(stored[half - 1].head.root), key, info.id, key, "log")
    items = [LogEntry(s.entry.seq, s.entry.leaf_bytes(), s.leaf_hash) for s in stored]
    assert verify_increment(state, Ed25519Verifier(), first, lambda start: iter(items[start:half])).ok
    before = load_state(state)
    wrong_root = Target(len(stored), bytes(32), key, info.id, key, "log")
    report = verify_increment(state, Ed25519Verifier(), wrong_root, lambda start: iter(items[start:]))
    assert not report.ok and report.bad_seq is None and "does not extend" in report.reason
    assert load_state(state) == before
    right = Target(len(stored), bytes.fromhex(stored[-1].head.root), key, info.id, key, "log")
    short = verify_increment(state, Ed25519Verifier(), right, lambda start: iter(items[start:-1]))
    assert not short.ok and short.bad_seq == len(stored) - 1 and "served" in short.reason
    done = verify_increment(state, Ed25519Verifier(), right, lambda start: iter(items[start:]))
    assert done.ok and done.new_entries == len(stored) - half


def test_x02_a_served_entry_that_is_not_its_canonical_bytes_is_named(funded: ScriptedEconomy, state: SqlStore) -> None:
    with funded.store.read() as uow:
        stored = list(uow.journal.scan())
    info = funded.engine.economy()
    assert info is not None
    key = info.journal_key
    target = Target(len(stored), bytes.fromhex(stored[-1].head.root), key, info.id, key, "log")
    items = [LogEntry(s.entry.seq, s.entry.leaf_bytes()) for s in stored]
    spaced = items[2].body.replace(b'{"command":', b'{ "command":', 1)
    items[2] = LogEntry(2, spaced)
    report = verify_increment(state, Ed25519Verifier(), target, lambda start: iter(items[start:]))
    assert not report.ok and report.bad_seq == 2 and "canonical" in report.reason
    assert load_state(state) is None


def test_x02_the_state_record_round_trips() -> None:
    kept = VerifiedState(3, "ab" * 32, ("cd" * 32, "ef" * 32), "log+01020304+AQ", "log", "http://x")
    assert VerifiedState.from_wire(kept.to_wire()) == kept


def test_x02_a_served_signed_head_is_checked_against_the_journal_key(funded: ScriptedEconomy, state: SqlStore) -> None:
    """Heads the journal key signed travel beside the bundles (the draws of IN6 need them): a forged
    one is named at its entry, as ``civic verify`` names it."""
    with funded.store.read() as uow:
        stored = list(uow.journal.scan())
    info = funded.engine.economy()
    assert info is not None
    key = info.journal_key
    target = Target(len(stored), bytes.fromhex(stored[-1].head.root), key, info.id, key, "log")
    items = [LogEntry(s.entry.seq, s.entry.leaf_bytes(), s.leaf_hash, s.head) for s in stored]
    forged = replace(items[3].head, signature="00" * 64) if items[3].head else None
    items[3] = replace(items[3], head=forged)
    report = verify_increment(state, Ed25519Verifier(), target, lambda start: iter(items[start:]))
    assert not report.ok and report.bad_seq == 3 and "not the journal key's" in report.reason
    misplaced = replace(items[4], head=items[5].head)
    items[3], items[4] = replace(items[3], head=stored[3].head), misplaced
    report = verify_increment(state, Ed25519Verifier(), target, lambda start: iter(items[start:]))
    assert not report.ok and report.bad_seq == 4 and "is not its head" in report.reason


def test_x03_conservation_is_checked_at_each_entry_and_a_balance_no_event_named_at_the_end() -> None:
    """The incremental X3 check adds, per entry, the change of the balances its units events name;
    a unit from nowhere fails at its entry, a change to a balance no event names fails at the end."""
    a, b, c = (AccountId("ac" + ch * 32) for ch in "abc")
    moved: list[JSONObject] = [
        {"type": "ledger.units_transferred", "currency": "xi", "source": a, "target": b, "units": 4}
    ]
    store = MemoryStore()
    with store.write() as uow:
        uow.ledger.put_currency(Currency(XI, CurrencyKind.ISSUED, a, IssuerRule.ISSUER_COMMAND, 2, "xi", 10, 0))
        uow.ledger.set_balance(a, XI, 10)
        conservation = _Conservation()
        keys = conservation.before(uow, moved)
        uow.ledger.set_balance(a, XI, 6)
        uow.ledger.set_balance(b, XI, 4)
        conservation.after(uow, keys)
        conservation.check_all(uow)

        keys = conservation.before(uow, moved)
        uow.ledger.set_balance(a, XI, 2)
        uow.ledger.set_balance(b, XI, 9)  # one unit more than moved
        with pytest.raises(IntegrityError, match="balances sum to 11 but issued - burned is 10"):
            conservation.after(uow, keys)

    with store.write() as uow:
        uow.ledger.put_currency(Currency(XI, CurrencyKind.ISSUED, a, IssuerRule.ISSUER_COMMAND, 2, "xi", 10, 0))
        uow.ledger.set_balance(a, XI, 10)
        conservation = _Conservation()
        keys = conservation.before(uow, moved)
        uow.ledger.set_balance(a, XI, 6)
        uow.ledger.set_balance(b, XI, 4)
        uow.ledger.set_balance(c, XI, 5)  # nobody's event names c
        conservation.after(uow, keys)
        with pytest.raises(IntegrityError, match="balances sum to 15"):
            conservation.check_all(uow)


def test_x02_a_run_racing_another_on_the_same_state_keeps_what_the_other_committed(
    funded: ScriptedEconomy, state: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two runs on one state: the one that read the state before the other committed finds the state
    moved when it takes the write lock, and stops without writing."""
    from civicledger.kernel import incremental

    half = 3
    with funded.store.read() as uow:
        stored = list(uow.journal.scan())
    info = funded.engine.economy()
    assert info is not None
    key = info.journal_key
    first = Target(half, bytes.fromhex(stored[half - 1].head.root), key, info.id, key, "log")
    assert verify_increment(state, Ed25519Verifier(), first, lambda start: iter(stored[start:half])).ok
    monkeypatch.setattr(incremental, "load_state", lambda store: None)  # what a run that started earlier saw
    whole = Target(len(stored), bytes.fromhex(stored[-1].head.root), key, info.id, key, "log")
    report = verify_increment(state, Ed25519Verifier(), whole, lambda start: iter(stored[start:]))
    assert not report.ok and "moved from 0 to 3" in report.reason
    monkeypatch.undo()
    kept = load_state(state)
    assert kept is not None and kept.size == half
