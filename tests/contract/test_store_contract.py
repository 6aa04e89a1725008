"""One contract every store passes: memory, SQLite and PostgreSQL cannot drift apart."""

from __future__ import annotations

import threading

import pytest

from civicledger.kernel.identity import Account, AccountId, AccountKind
from civicledger.kernel.journal import CommandId, Entry, SignatureRecord, SignedCommand, TreeHead
from civicledger.kernel.ledger import Currency, CurrencyKind, IssuerRule
from civicledger.kernel.merkle import Frontier, leaf_hash
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.personal import seal
from civicledger.kernel.ports import JournalHead, Store, StoredEntry
from civicledger.kernel.proposals import Proposal, ProposalStatus, with_signature

A, B = AccountId("ac" + "a" * 32), AccountId("ac" + "b" * 32)
XI, EU = CurrencyId("xi"), CurrencyId("eu")


def stored(seq: int, frontier: Frontier) -> tuple[StoredEntry, JournalHead]:
    command = SignedCommand(f"c{seq}", "test.noop", {"n": seq}, 100 + seq)
    entry = Entry(seq, 100 + seq, command, ({"type": "test.nothing"},), {"seq": seq})
    leaf = leaf_hash(entry.leaf_bytes())
    new = frontier.append(leaf)
    head = TreeHead(new.size, new.root().hex(), entry.time, "ab" * 64 if seq % 2 == 0 else "")
    return StoredEntry(entry, leaf, head, command.payload_digest()), JournalHead(new.size, new, entry.time)


def test_records_round_trip_scan_by_prefix_in_code_point_order(any_store: Store) -> None:
    keys = ["b", "a/2", "a/10", "a/1", "é", "Z", "a", "a/€"]
    with any_store.write() as uow:
        for i, key in enumerate(keys):
            uow.records.put("ns", key, {"i": i, "list": [1, "x", None, True]})
        uow.records.put("other", "a/1", 1)
        assert uow.records.get("ns", "a/1") == {"i": 3, "list": [1, "x", None, True]}
        uow.commit()
    with any_store.write() as uow:
        uow.records.delete("ns", "b")
        uow.records.put("ns", "a", "replaced")
        assert [k for k, _ in uow.records.scan("ns", "a/")] == ["a/1", "a/10", "a/2", "a/€"]
        assert [k for k, _ in uow.records.scan("ns")] == ["Z", "a", "a/1", "a/10", "a/2", "a/€", "é"]
        assert uow.records.get("ns", "a") == "replaced" and uow.records.get("ns", "b") is None
        assert uow.records.namespaces() == ["ns", "other"]
        uow.commit()


def test_balances_holdings_holders_and_sums(any_store: Store) -> None:
    with any_store.write() as uow:
        uow.ledger.set_balance(A, XI, 5)
        uow.ledger.set_balance(B, XI, 7)
        uow.ledger.set_balance(A, EU, 2**62)
        assert uow.ledger.balances([(A, XI), (B, EU)]) == {(A, XI): 5, (B, EU): 0}
        uow.commit()
    with any_store.write() as uow:
        uow.ledger.set_balance(B, XI, 0)
        assert uow.ledger.holdings(A) == {EU: 2**62, XI: 5}
        assert uow.ledger.holders(XI) == {A: 5}
        assert uow.ledger.sums_by_currency() == {EU: 2**62, XI: 5}
        assert list(uow.ledger.scan_balances()) == [(A, EU, 2**62), (A, XI, 5)]
        uow.commit()


def test_accounts_and_currencies_round_trip(any_store: Store) -> None:
    account = Account(
        A, AccountKind.COUNCIL, "00" * 32, "Council é", 123, True, frozenset({"governor", "registrar"}), B
    )
    currency = Currency(XI, CurrencyKind.ISSUED, A, IssuerRule.ISSUER_COMMAND, 2, "ethicap", 10, 3)
    with any_store.write() as uow:
        uow.accounts.put(account)
        uow.ledger.put_currency(currency)
        uow.commit()
    with any_store.read() as uow:
        assert uow.accounts.get(A) == account and uow.accounts.get(B) is None
        assert uow.accounts.get_many([B, A, A]) == {A: account}
        assert list(uow.accounts.scan()) == [account]
        assert uow.ledger.currency(XI) == currency and list(uow.ledger.currencies()) == [currency]


def test_journal_appends_in_sequence_and_finds_commands(any_store: Store) -> None:
    frontier = Frontier()
    entries = []
    with any_store.write() as uow:
        for seq in range(5):
            s, head = stored(seq, frontier)
            frontier = head.frontier
            uow.journal.append(s, head)
            entries.append(s)
        assert uow.journal.find_command("c3") == entries[3]
        uow.commit()
    with any_store.read() as uow:
        head = uow.journal.head()
        assert (head.size, head.frontier, head.time) == (5, frontier, 104)
        assert list(uow.journal.scan()) == entries
        assert list(uow.journal.scan(1, 3)) == entries[1:3]
        assert uow.journal.get(4) == entries[4] and uow.journal.get(5) is None
        assert uow.journal.find_command("c9") is None
        assert uow.journal.leaf_hashes(3) == [e.leaf_hash for e in entries[:3]]
        latest = uow.journal.latest_signed_head()
        assert latest is not None and latest.size == 5
        signed_before = uow.journal.latest_signed_head(at_most=4)
        assert signed_before is not None and signed_before.size == 3
        signed = [e.head for e in entries if e.head.signature]
        assert uow.journal.signed_heads(0, 5) == signed and len(signed) < 5
        assert uow.journal.signed_heads(3, 5) == [h for h in signed if h.size > 3]
        assert uow.journal.signed_heads(5, 9) == []


def test_a_unit_of_work_rolls_back_unless_committed(any_store: Store) -> None:
    with any_store.write() as uow:
        uow.records.put("ns", "k", 1)
        uow.ledger.set_balance(A, XI, 9)
        s, head = stored(0, Frontier())
        uow.journal.append(s, head)
    with any_store.write() as uow:
        uow.records.put("ns", "k", 2)
        uow.rollback()
    with any_store.read() as uow:
        assert uow.records.get("ns", "k") is None
        assert uow.ledger.balance(A, XI) == 0
        assert uow.journal.head().size == 0 and uow.journal.find_command("c0") is None


def test_clear_projections_keeps_the_journal(any_store: Store) -> None:
    with any_store.write() as uow:
        uow.records.put("ns", "k", 1)
        uow.ledger.set_balance(A, XI, 9)
        s, head = stored(0, Frontier())
        uow.journal.append(s, head)
        uow.commit()
    with any_store.write() as uow:
        uow.clear_projections()
        uow.commit()
    with any_store.read() as uow:
        assert uow.records.get("ns", "k") is None and uow.ledger.balance(A, XI) == 0
        assert uow.journal.head().size == 1


def test_a_read_unit_of_work_cannot_write(any_store: Store) -> None:
    with any_store.read() as uow, pytest.raises(RuntimeError, match="read-only"):
        uow.records.put("ns", "k", 1)


def test_writers_take_turns(any_store: Store) -> None:
    """Two writers never interleave: the second sees the first's committed counter."""
    with any_store.write() as uow:
        uow.records.put("ns", "counter", 0)
        uow.commit()

    def bump() -> None:
        for _ in range(20):
            with any_store.write() as uow:
                value = uow.records.get("ns", "counter")
                uow.records.put("ns", "counter", value + 1)
                uow.commit()

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with any_store.read() as uow:
        assert uow.records.get("ns", "counter") == 80


def test_a_nonce_is_accepted_once_and_forgotten_when_old(any_store: Store) -> None:
    assert any_store.consume_nonces([(A, "n1", 100)], forget_before=0) == [True]
    assert any_store.consume_nonces([(A, "n1", 101)], forget_before=0) == [False]
    # Per account; a repeat inside one batch is a replay; the old one is forgotten later.
    assert any_store.consume_nonces([(B, "n1", 101), (B, "n2", 101), (B, "n2", 101)], forget_before=0) == [
        True,
        True,
        False,
    ]
    assert any_store.consume_nonces([(A, "n1", 500)], forget_before=200) == [True]
    assert any_store.consume_nonces([], forget_before=0) == []


def test_in11_personal_data_is_kept_off_the_projections_and_erased_by_subject(any_store: Store) -> None:
    """IN11: the off-journal store survives clear_projections, rolls back, and erases by person."""
    first, second, other = seal("passport 123", A), seal("Alice Example", A), seal("Bob Example", B)
    with any_store.write() as uow:
        for item in (first, second, other):
            uow.personal.put(item)
        uow.commit()
    with any_store.write() as uow:
        uow.clear_projections()
        uow.commit()
    with any_store.read() as uow:
        assert uow.personal.get(first.ref) == first
        assert uow.personal.refs_of(A) == sorted([first.ref, second.ref])
        assert uow.personal.with_text("Bob Example") == [other]
    with any_store.write() as uow:
        assert uow.personal.erase_subject(A) == 2  # not committed: rolls back
    with any_store.write() as uow:
        assert uow.personal.get(second.ref) == second
        assert uow.personal.erase_subject(A) == 2
        uow.commit()
    with any_store.read() as uow:
        assert uow.personal.get(first.ref) is None and uow.personal.refs_of(A) == []
        assert uow.personal.get(other.ref) == other


def test_migrations_are_at_head_and_match_the_schema(tmp_path: object) -> None:
    """Alembic's migrations create exactly the tables SQLAlchemy's metadata describes."""
    import sqlalchemy as sa
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from civicledger.adapters.sql.schema import metadata
    from civicledger.adapters.sql.store import SqlStore

    store = SqlStore.open(f"sqlite:///{tmp_path}/m.db")  # type: ignore[str-format]
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn)
        assert context.get_current_revision() == "0005"
        diff = compare_metadata(context, metadata)
        assert diff == [], diff
        assert {
            "journal",
            "journal_head",
            "accounts",
            "currencies",
            "balances",
            "records",
            "request_nonces",
            "merkle_subtrees",
            "proposals",
        } <= set(sa.inspect(conn).get_table_names())
    store.close()


def test_x06_proposals_are_kept_off_the_projections_roll_back_and_list_newest_first(any_store: Store) -> None:
    """X6: council drafts collecting co-signatures live beside the journal; a rebuild keeps them."""
    older = Proposal(
        SignedCommand(CommandId("p-old"), "economy.change_policy", {"path": "a.b", "value": 1}, 100), A, 100, 400
    )
    newer = Proposal(
        SignedCommand(CommandId("p-new"), "identity.grant_role", {"account": B, "role": "registrar"}, 200), B, 200, 500
    )
    with any_store.write() as uow:
        uow.proposals.put(older)
        uow.proposals.put(newer)
        uow.commit()
    with any_store.write() as uow:
        uow.clear_projections()
        uow.proposals.put(with_signature(older, SignatureRecord(B, "0" * 128)))  # not committed: rolls back
    with any_store.read() as uow:
        assert uow.proposals.get("p-old") == older
        assert [p.id for p in uow.proposals.newest(10)] == ["p-new", "p-old"]
        assert [p.id for p in uow.proposals.newest(1)] == ["p-new"]
        assert uow.proposals.get("p-missing") is None
    submitted = Proposal(older.command, A, 100, 400, ProposalStatus.SUBMITTED, seq=7)
    with any_store.write() as uow:
        uow.proposals.put(submitted)
        uow.commit()
    with any_store.read() as uow:
        assert uow.proposals.get("p-old") == submitted
