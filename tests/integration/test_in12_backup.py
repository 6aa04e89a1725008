"""IN12 and backups (issue 15, part 4): an online, consistent, encrypted backup restores into an
empty SQLite or PostgreSQL database that verifies and holds the same state; a restored copy behind
the newest head its journal key signed refuses to write; nothing forks the signed journal."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from civicledger.adapters.clock import WallClock
from civicledger.adapters.crypto import Ed25519Verifier
from civicledger.adapters.headmark import HeadMarkFile, RollbackGuard, SignedHeadMark, newest_signed_in
from civicledger.adapters.keystore import key_path, save_key
from civicledger.adapters.memory import MemoryStore
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.adapters.sql.backup import back_up, restore, seal, unseal
from civicledger.adapters.sql.store import SqlStore
from civicledger.api.app import create_app
from civicledger.kernel import audit
from civicledger.kernel import ledger as led
from civicledger.kernel.errors import IntegrityError, RuleViolationError
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.snapshot import state_digest
from tests.conftest import POSTGRES_URL, T0, require_postgres
from tests.e2e.serving import SigningClient, funded_pair, serve_app

PASS = b"correct horse battery staple"


def _pay(client: httpx.Client, economy: ScriptedEconomy) -> httpx.Response:
    """One signed transfer from alice to bob over HTTP."""
    leg = led.Leg(CurrencyId("xi"), economy.account("alice"), economy.account("bob"), 1)
    return SigningClient(client, economy).run(led.Transfer((leg,)), "alice", seal=False)


def _digest(store: SqlStore) -> str:
    with store.read() as uow:
        return state_digest(uow, audit.record_namespaces(uow))


def _verified(store: SqlStore) -> audit.VerifyReport:
    report = audit.verify_store(store, Ed25519Verifier(), MemoryStore)
    assert report.ok, report.reason
    return report


@pytest.fixture
def source(tmp_path: Path) -> Iterator[tuple[SqlStore, ScriptedEconomy, Path]]:
    store = SqlStore.open(f"sqlite:///{tmp_path / 'live.db'}")
    economy = funded_pair(store)
    keys = tmp_path / "keys"
    save_key(keys, economy.key("journal"))
    yield store, economy, keys
    store.close()


def _guarded_app(store: SqlStore, economy: ScriptedEconomy, keys: Path) -> object:
    guard = RollbackGuard(store, HeadMarkFile.beside_key(keys))
    return create_app(store, WallClock(), economy.key("journal"), pages=False, rollback_guard=guard)


def test_in12_a_backup_taken_while_the_server_writes_restores_into_sqlite_and_postgres_and_verifies(
    source: tuple[SqlStore, ScriptedEconomy, Path], tmp_path: Path
) -> None:
    store, economy, keys = source
    out = tmp_path / "economy.backup"
    stop = threading.Event()
    with serve_app(_guarded_app(store, economy, keys)) as url:
        statuses: list[int] = []

        def write() -> None:
            with httpx.Client(base_url=url, timeout=30) as client:
                while not stop.is_set():
                    statuses.append(_pay(client, economy).status_code)

        writer = threading.Thread(target=write)
        writer.start()
        try:
            summary = back_up(store, key_path(keys, "journal"), out, PASS)  # online: the writer carries on
        finally:
            stop.set()
            writer.join(timeout=30)
    assert summary.entries > 0 and summary.has_journal_key
    assert statuses and set(statuses) == {200}
    assert newest_signed_in(store).size > summary.entries  # the server wrote on while the backup was read
    assert PASS not in out.read_bytes() and b"journal" not in out.read_bytes()  # encrypted

    targets = [("sqlite", lambda: SqlStore.open(f"sqlite:///{tmp_path / 'restored.db'}"))]
    require_postgres()
    schema = f"r_{uuid.uuid4().hex[:16]}"
    targets.append(("postgresql", lambda: SqlStore.open(POSTGRES_URL, schema=schema, drop_schema_on_close=True)))
    digests = []
    for _, open_target in targets:
        target = open_target()
        try:
            restored_keys = tmp_path / f"keys-{uuid.uuid4().hex[:6]}"
            result = restore(target, out.read_bytes(), PASS, key_path(restored_keys, "journal"))
            assert result.entries == summary.entries
            report = _verified(target)
            assert report.entries == summary.entries
            digests.append((_digest(target), newest_signed_in(target)))
            assert key_path(restored_keys, "journal").read_text() == key_path(keys, "journal").read_text()
        finally:
            target.close()
    assert digests[0] == digests[1]
    # the backup is one instant of the live journal: a prefix of it with the same signed head
    with store.read() as uow:
        stored = uow.journal.latest_signed_head(digests[0][1].size)
    assert stored is not None and stored.root == digests[0][1].root


def test_in12_a_restore_refuses_a_database_that_is_not_empty_and_a_wrong_passphrase(
    source: tuple[SqlStore, ScriptedEconomy, Path], tmp_path: Path
) -> None:
    store, _, keys = source
    out = tmp_path / "economy.backup"
    back_up(store, key_path(keys, "journal"), out, PASS)
    with pytest.raises(RuleViolationError, match="only into an empty database") as full:
        restore(store, out.read_bytes(), PASS, None)
    assert full.value.rule == "IN12"
    target = SqlStore.open(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        with pytest.raises(IntegrityError, match="wrong passphrase"):
            restore(target, out.read_bytes(), b"not the passphrase at all", None)
        flipped = bytearray(out.read_bytes())
        flipped[-5] ^= 1
        with pytest.raises(IntegrityError):
            restore(target, bytes(flipped), PASS, None)
        assert newest_signed_in(target).size == 0  # nothing was written
    finally:
        target.close()


def test_in12_sealing_round_trips_and_refuses_a_short_passphrase() -> None:
    assert unseal(seal(b"{}", PASS), PASS) == b"{}"
    with pytest.raises(Exception, match="at least 12"):
        seal(b"{}", b"short")


def test_in12_a_restored_old_backup_refuses_to_write_under_a_key_that_signed_more(
    source: tuple[SqlStore, ScriptedEconomy, Path], tmp_path: Path
) -> None:
    store, economy, keys = source
    old = tmp_path / "old.backup"
    back_up(store, key_path(keys, "journal"), old, PASS)
    with serve_app(_guarded_app(store, economy, keys)) as url, httpx.Client(base_url=url, timeout=30) as client:
        for _ in range(3):
            assert _pay(client, economy).status_code == 200
    live = newest_signed_in(store)
    assert HeadMarkFile.beside_key(keys).newest() == live  # the mark follows every write

    # disaster: the live database is gone; the operator restores yesterday's backup under the same key
    restored = SqlStore.open(f"sqlite:///{tmp_path / 'restored.db'}")
    try:
        restore(restored, old.read_bytes(), PASS, key_path(keys, "journal"))
        behind = newest_signed_in(restored)
        assert behind.size < live.size
        with pytest.raises(RuleViolationError, match=f"has {behind.size} entries but a tree head of {live.size}"):
            RollbackGuard(restored, HeadMarkFile.beside_key(keys)).check()
        with serve_app(_guarded_app(restored, economy, keys)) as url, httpx.Client(base_url=url, timeout=30) as c:
            response = _pay(c, economy)
            assert response.status_code == 409, response.text
            assert response.json()["rule"] == "IN12"
            assert str(live.size) in response.json()["detail"]
            assert c.get("/api/economy").status_code == 200  # reads are still served
        assert newest_signed_in(restored) == behind  # nothing was written: no fork
    finally:
        restored.close()

    # brought up to the head (a newer backup), the same key writes again
    newer = tmp_path / "newer.backup"
    back_up(store, key_path(keys, "journal"), newer, PASS)
    current = SqlStore.open(f"sqlite:///{tmp_path / 'current.db'}")
    try:
        restore(current, newer.read_bytes(), PASS, key_path(keys, "journal"))
        with serve_app(_guarded_app(current, economy, keys)) as url, httpx.Client(base_url=url, timeout=30) as c:
            assert _pay(c, economy).status_code == 200
        assert HeadMarkFile.beside_key(keys).newest() == newest_signed_in(current)
    finally:
        current.close()


def test_in12_a_journal_of_the_same_size_with_another_root_is_a_fork_and_refused(tmp_path: Path) -> None:
    mark = HeadMarkFile(tmp_path / "journal.head")
    mark.advance(SignedHeadMark(5, "aa" * 32))
    mark.advance(SignedHeadMark(3, "bb" * 32))  # never moves back
    assert mark.newest() == SignedHeadMark(5, "aa" * 32)
    store = SqlStore.open(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        economy = ScriptedEconomy(store, start=T0, label="civicledger test key")
        size = newest_signed_in(store).size
        other = HeadMarkFile(tmp_path / "other.head")
        other.advance(SignedHeadMark(size, "cc" * 32))
        with pytest.raises(RuleViolationError, match="different root"):
            RollbackGuard(store, other).check()
        assert economy.economy_id
    finally:
        store.close()


class _CountingSource:
    """A head source that counts how often it is asked (a witness costs a network round trip)."""

    def __init__(self) -> None:
        self.asked = 0

    def newest(self) -> SignedHeadMark | None:
        self.asked += 1
        return None


def test_in12_other_head_sources_are_asked_when_the_guard_checks_never_per_write(
    source: tuple[SqlStore, ScriptedEconomy, Path],
) -> None:
    store, economy, keys = source
    witness = _CountingSource()
    guard = RollbackGuard(store, HeadMarkFile.beside_key(keys), [witness])
    guard.check()
    assert witness.asked == 1
    for _ in range(3):
        guard.check()  # up to date once: not asked again
        economy.person(f"p{uuid.uuid4().hex[:6]}")
        guard.record()
    assert witness.asked == 1
    assert HeadMarkFile.beside_key(keys).newest() == newest_signed_in(store)
