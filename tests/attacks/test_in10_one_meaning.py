"""IN10 One meaning per message: a signed message has exactly one reading, and one command's data can
never fail the other commands of the batch it arrives in.

The attack as it worked: on PostgreSQL an account name holding U+0000 passed every rule and failed at
COMMIT, so every other command in the same write batch failed with it (a 500 each). Now:

- U+0000 anywhere in a command is refused as invalid input (rule IN10) at the HTTP edge and by the
  engine, from rule version 2 on, on every backend: a message means the same whatever stores it.
  A journal written under rules 1 on SQLite may hold it and still re-executes.
- duplicate keys, a byte order mark, NaN and nesting beyond the canonical depth are refused where a
  message is parsed from text (``kernel.canonical.parse_json``).
- whatever still fails in storage (the real U+0000 on PostgreSQL under rules 1; any data exception;
  anything unforeseen at COMMIT) fails only its own command: ``Engine.execute_batch`` runs the
  batch's commands one by one and reports the storage refusal as that command's ``UnstorableError``
  (422, rule IN10), while the others land.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from civicledger.adapters.clock import WallClock
from civicledger.adapters.crypto import Ed25519Verifier
from civicledger.adapters.memory import MemoryStore
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.api.app import create_app
from civicledger.kernel import audit
from civicledger.kernel import ledger as led
from civicledger.kernel.canonical import contains_nul, parse_json
from civicledger.kernel.engine import Engine, Receipt
from civicledger.kernel.errors import InvalidInputError, UnstorableError
from civicledger.kernel.identity import AccountKind, OpenAccount
from civicledger.kernel.journal import SignedCommand
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.ports import Store
from tests.conftest import T0, open_test_store
from tests.e2e.conftest import Civic
from tests.e2e.conftest import civic as civic  # the CLI fixtures, used by name
from tests.e2e.conftest import db_url as db_url
from tests.e2e.serving import SigningClient, serve_app

XI = CurrencyId("xi")
HONEST = 7


def _economy(store: Store, rules: int) -> ScriptedEconomy:
    """A fund issuing xi, alice holding 1,000 of it, bob; at the given rule version."""
    e = ScriptedEconomy(store, start=T0, label="civicledger test key", rules=rules)
    e.open("fund", AccountKind.FUND)
    e.person("alice")
    e.person("bob")
    e.run(led.CreateCurrency("xi", e.account("fund"), "ethicap"), "fund")
    e.run(led.Issue(XI, e.account("alice"), 1_000), "fund")
    return e


def _pay(e: ScriptedEconomy, units: int, cid: str) -> SignedCommand:
    return e.sign(led.Transfer((led.Leg(XI, e.account("alice"), e.account("bob"), units),)), "alice", cid=cid)


def _hostile(e: ScriptedEconomy, name: str = "mal\x00lory") -> OpenAccount:
    return OpenAccount(AccountKind.PERSON, e.key("mallory").public_hex, name)


def _balance(e: ScriptedEconomy, name: str) -> int:
    with e.store.read() as uow:
        return uow.ledger.balance(e.account(name), XI)


def _size(e: ScriptedEconomy) -> int:
    with e.store.read() as uow:
        return uow.journal.head().size


def _verifies(e: ScriptedEconomy) -> None:
    report = audit.verify_store(e.store, Ed25519Verifier(), MemoryStore)
    assert report.ok, report.reason


class _LikePostgres:
    """The store, except that a write transaction holding U+0000 in an entry's command fails when it
    commits, as PostgreSQL's text columns do (``failure`` says with what; None leaves it to the real
    backend), on any backend. ``gate``, when set, holds the next write transaction until it is
    released (so that a batch can form behind it)."""

    def __init__(self, store: Store, failure: Callable[[], Exception] | None) -> None:
        self.store = store
        self.backend = store.backend
        self.failure = failure
        self.gate: threading.Event | None = None
        self.writes = 0

    def write(self) -> Any:
        outer = self
        uow = self.store.write()
        gate, self.gate = self.gate, None
        if gate is not None:
            gate.wait(30)

        class Refusing:
            def __enter__(self) -> Any:
                inner = uow.__enter__()
                appended: list[Any] = []
                journal, commit = inner.journal, inner.commit
                append = journal.append

                def recording(stored: Any, head: Any) -> None:
                    appended.append(stored)
                    append(stored, head)

                def refusing() -> None:
                    if outer.failure is not None and any(contains_nul(s.entry.command.payload) for s in appended):
                        raise outer.failure()
                    outer.writes += 1
                    commit()

                journal.append = recording
                inner.commit = refusing
                return inner

            def __exit__(self, *exc: object) -> None:
                uow.__exit__(*exc)

        return Refusing()

    def read(self) -> Any:
        return self.store.read()

    def consume_nonces(self, items: Any, forget_before: int | None) -> list[bool]:
        return self.store.consume_nonces(items, forget_before)

    def close(self) -> None:
        pass


def _unstorable() -> Exception:
    return UnstorableError("the database cannot store this command's data: text fields cannot contain NUL")


# Through the engine ------------------------------------------------------------------------------


def test_in10_u0000_is_refused_by_the_engine_under_rules_2_and_the_batch_runs_on(store: Store) -> None:
    e = _economy(store, rules=2)
    before = _size(e)
    batch = [_pay(e, 10, f"pay-{i}") for i in range(3)]
    batch.insert(1, e.sign(_hostile(e), "mallory", cid="hostile"))
    outcomes = e.engine.execute_batch(batch)
    error = outcomes[1]
    assert isinstance(error, InvalidInputError) and error.rule == "IN10" and "U+0000" in error.message
    assert all(isinstance(o, Receipt) for i, o in enumerate(outcomes) if i != 1)
    assert _size(e) == before + 3 and _balance(e, "bob") == 30
    with e.store.read() as uow:
        assert uow.accounts.get(e.account("mallory")) is None
    # Alone, in a key, a memo: anywhere in the payload.
    refused = e.refused(led.Transfer((led.Leg(XI, e.account("alice"), e.account("bob"), 1),), memo="a\x00b"), "alice")
    assert refused.rule == "IN10"
    _verifies(e)


def test_in10_under_rules_1_u0000_still_runs_where_the_backend_stores_it(tmp_path: Path) -> None:
    """IN8: on SQLite an economy of rules 1 accepted U+0000; its journal still re-executes and verifies."""
    store = open_test_store("sqlite", tmp_path)
    try:
        e = _economy(store, rules=1)
        e.run(_hostile(e), "mallory")
        with e.store.read() as uow:
            found = uow.accounts.get(e.account("mallory"))
        assert found is not None and found.name == "mal\x00lory"
        _verifies(e)
        exported = tmp_path / "journal.jsonl"
        with exported.open("w", encoding="utf-8") as out:
            audit.export_journal(e.store, out)
        report = audit.verify_export(exported, Ed25519Verifier(), MemoryStore)
        assert report.ok, report.reason
    finally:
        store.close()


def test_in10_on_postgresql_a_u0000_that_fails_at_commit_fails_only_its_own_command(tmp_path: Path) -> None:
    """The attack for real: rules 1 let U+0000 through, PostgreSQL refuses it at COMMIT. Before, all
    seven honest transfers of the batch failed with it; now they land and it alone gets IN10."""
    store = open_test_store("postgresql", tmp_path)  # skips where no PostgreSQL is reachable
    try:
        e = _economy(store, rules=1)
        before = _size(e)
        batch = [_pay(e, 10 + i, f"honest-{i}") for i in range(HONEST)]
        batch.insert(3, e.sign(_hostile(e), "mallory", cid="hostile"))
        outcomes = e.engine.execute_batch(batch)
        error = outcomes[3]
        assert isinstance(error, UnstorableError) and error.rule == "IN10", error
        assert [isinstance(o, Receipt) for o in outcomes].count(True) == HONEST
        assert _size(e) == before + HONEST and _balance(e, "bob") == sum(10 + i for i in range(HONEST))
        with pytest.raises(UnstorableError):  # alone it is refused the same way, nothing written
            e.run(_hostile(e), "mallory", cid="hostile-alone")
        assert _size(e) == before + HONEST
        _verifies(e)
    finally:
        store.close()


@pytest.mark.parametrize(
    "failure",
    [_unstorable, lambda: RuntimeError("an unforeseen failure at COMMIT")],
    ids=["data-exception", "unforeseen"],
)
def test_in10_a_storage_failure_at_commit_is_isolated_on_any_backend(
    store: Store, failure: Callable[[], Exception]
) -> None:
    e = _economy(store, rules=1)
    before = _size(e)
    wrapped = _LikePostgres(e.store, failure)
    writer = Engine(wrapped, e.clock, Ed25519Verifier(), e.key("journal"))  # type: ignore[arg-type]
    batch = [_pay(e, 1, f"honest-{i}") for i in range(HONEST)]
    batch.insert(0, e.sign(_hostile(e), "mallory", cid="hostile"))
    outcomes = writer.execute_batch(batch, [[(e.account("alice"), f"n-{i}", e.clock.now())] for i in range(8)])
    assert type(outcomes[0]) is type(failure())
    assert all(isinstance(o, Receipt) for o in outcomes[1:])
    assert _size(e) == before + HONEST and _balance(e, "bob") == HONEST
    # The refused command's request nonce is spent: the same request cannot be replayed later.
    again = e.engine.execute_batch([batch[0]], [[(e.account("alice"), "n-0", e.clock.now())]])
    assert "a replayed request" in str(again[0])
    _verifies(e)


# Parsing: one reading -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (b'\xef\xbb\xbf{"a": 1}', "byte order mark"),
        ('\ufeff{"a": 1}', "byte order mark"),
        (b'{"a": 1, "a": 2}', "appears twice"),
        (b'{"a": {"b": 1, "b": 1}}', "appears twice"),
        (b'{"a": NaN}', "NaN"),
        (b"[" * 40 + b"]" * 40, "nests too deeply"),
        (b'{"a": "x\\u0000"}', "U+0000"),
        (b'{"a\\u0000": 1}', "U+0000"),
    ],
)
def test_in10_a_message_with_two_readings_is_invalid_input(text: bytes | str, words: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_json(text)
    assert caught.value.rule == "IN10" and words in caught.value.message


def test_in10_an_export_line_with_a_key_twice_does_not_verify(store: Store, tmp_path: Path) -> None:
    e = _economy(store, rules=2)
    exported = tmp_path / "journal.jsonl"
    with exported.open("w", encoding="utf-8") as out:
        audit.export_journal(e.store, out)
    assert audit.verify_export(exported, Ed25519Verifier(), MemoryStore).ok
    lines = exported.read_text(encoding="utf-8").splitlines()
    lines[1] = lines[1][:-1] + ',"leaf_hash":"00"}'  # a second reading of the same line
    exported.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = audit.verify_export(exported, Ed25519Verifier(), MemoryStore)
    assert not report.ok and "appears twice" in (report.reason or "")


# Over HTTP: a real server, concurrent requests in one batch ----------------------------------------


@contextmanager
def _served(store: Store, e: ScriptedEconomy) -> Iterator[tuple[SigningClient, Any]]:
    app = create_app(store, WallClock(), e.key("journal"))
    with serve_app(app) as url, httpx.Client(base_url=url, timeout=60) as http:
        yield SigningClient(http, e), app.state.service


def _batched(service: Any) -> list[int]:
    """Record the size of every batch the server's writer executes."""
    sizes: list[int] = []
    engine = service.engine
    run = engine.execute_batch

    def recording(commands: Any, *args: Any) -> Any:
        sizes.append(len(commands))
        return run(commands, *args)

    engine.execute_batch = recording
    return sizes


def _one_batch(client: SigningClient, service: Any, gate_store: _LikePostgres, queued: int) -> list[httpx.Response]:
    """A first honest request holds the writer; meanwhile seven honest transfers and one hostile
    account arrive together, so the writer takes them as one batch. Returns the eight responses."""
    e = client.economy
    gate = threading.Event()
    gate_store.gate = gate
    one = led.Transfer((led.Leg(XI, e.account("alice"), e.account("bob"), 1),))
    bodies = [client.body(client.command(one, "alice")) for _ in range(HONEST + 1)]
    hostile = client.body(client.command(_hostile(e), "mallory"))
    signers = ["alice"] * (HONEST + 1) + ["mallory"]
    requests = [*bodies, hostile]
    headers = [client.headers(b, s) for b, s in zip(requests, signers, strict=True)]
    with ThreadPoolExecutor(max_workers=HONEST + 2) as pool:
        first = pool.submit(client.post, requests[0], headers[0])
        time.sleep(0.3)  # the writer now waits at the gate with the first request
        rest = [pool.submit(client.post, b, h) for b, h in zip(requests[1:], headers[1:], strict=True)]
        deadline = time.monotonic() + 20
        while service.batcher._queue.qsize() < queued and time.monotonic() < deadline:
            time.sleep(0.02)
        gate.set()
        assert first.result().status_code == 200, first.result().text
        return [f.result() for f in rest]


def test_in10_over_http_concurrent_honest_transfers_land_while_the_hostile_one_is_refused(store: Store) -> None:
    """Rules 2: the hostile body is refused at the edge (422, IN10) and never reaches the batch."""
    e = _economy(store, rules=2)
    wrapped = _LikePostgres(store, _unstorable)
    before = _size(e)
    with _served(wrapped, e) as (client, service):  # type: ignore[arg-type]
        sizes = _batched(service)
        responses = _one_batch(client, service, wrapped, queued=HONEST)
    *honest, hostile = responses
    assert [r.status_code for r in honest] == [200] * HONEST, [r.text for r in honest]
    assert hostile.status_code == 422 and hostile.json()["rule"] == "IN10" and "U+0000" in hostile.json()["detail"]
    assert max(sizes) == HONEST  # the honest ones did run as one batch
    assert _size(e) == before + HONEST + 1 and _balance(e, "bob") == HONEST + 1
    _verifies(e)


def test_in10_over_http_bodies_with_two_readings_are_422_naming_in10(store: Store) -> None:
    e = _economy(store, rules=2)
    before = _size(e)
    with _served(store, e) as (client, _service):
        body = client.body(
            client.command(led.Transfer((led.Leg(XI, e.account("alice"), e.account("bob"), 1),)), "alice")
        )
        twice = body[:-1] + b',"id":"another"}'  # a second id: which one was signed?
        for bad, words in ((b"\xef\xbb\xbf" + body, "byte order mark"), (twice, "appears twice")):
            response = client.post(bad, client.headers(bad, "alice"))
            assert response.status_code == 422 and response.json()["rule"] == "IN10", response.text
            assert words in response.json()["detail"]
    assert _size(e) == before and _balance(e, "bob") == 0


@pytest.mark.parametrize("backend", ["suite", "postgresql"])
def test_in10_over_http_a_storage_refusal_in_a_batch_fails_only_its_own_request(
    store: Store, tmp_path: Path, backend: str
) -> None:
    """Rules 1 let U+0000 through the edge and the engine; storing it fails (for real on PostgreSQL,
    by a store that refuses it like PostgreSQL on the suite's backend). It is in the same batch as
    seven honest transfers: they all answer 200, it alone a 422 naming IN10, never a 500."""
    target = open_test_store("postgresql", tmp_path) if backend == "postgresql" else store
    try:
        e = _economy(target, rules=1)
        wrapped = _LikePostgres(target, _unstorable if backend == "suite" else None)
        before = _size(e)
        with _served(wrapped, e) as (client, service):  # type: ignore[arg-type]
            sizes = _batched(service)
            responses = _one_batch(client, service, wrapped, queued=HONEST + 1)
        *honest, hostile = responses
        assert [r.status_code for r in honest] == [200] * HONEST, [r.text for r in honest]
        assert hostile.status_code == 422, hostile.text
        assert hostile.json()["rule"] == "IN10" and "cannot store" in hostile.json()["detail"]
        assert max(sizes) == HONEST + 1  # the hostile command shared the honest ones' batch
        assert _size(e) == before + HONEST + 1 and _balance(e, "bob") == HONEST + 1
        _verifies(e)
    finally:
        if target is not store:
            target.close()


# Through the CLI: a policy file and a policy value ---------------------------------------------------


def test_in10_the_cli_refuses_u0000_in_a_policy_file_and_a_key_twice_in_a_value(civic: Civic, tmp_path: Path) -> None:
    (tmp_path / "nul.toml").write_text('[economy]\nname = "River\\u0000side"\n', encoding="utf-8")
    refused = civic.json("init", "nul.toml", check=2)
    assert refused["rule"] == "IN10" and "U+0000" in refused["message"], refused
    (tmp_path / "economy.toml").write_text('[economy]\nname = "Riverside"\n', encoding="utf-8")
    civic("init", "economy.toml")
    twice = civic.json("policy", "set", "economy.name", '{"a": 1, "a": 2}', "--key", "governor-1", check=2)
    assert twice["rule"] == "IN10" and "appears twice" in twice["message"], twice
