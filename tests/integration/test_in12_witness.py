"""IN12: the tlog-witness (``POST /add-checkpoint``) and the server that asks witnesses to cosign.

The witness's answers are the ones C2SP tlog-witness specifies: 200 and a cosignature line; 400
malformed; 403 not signed by the log; 404 unknown log; 409 (``text/x.tlog.size``) when ``old`` is
not the size it holds; 422 when the consistency proof fails. It never cosigns two roots for one
size, keeps its state across restarts, and a witness that is down never stops the journal's writes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from civicledger.adapters.crypto import Ed25519Verifier, KeyPair
from civicledger.adapters.memory import MemoryStore
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.adapters.witness_state import WitnessState
from civicledger.api.app import create_app
from civicledger.api.checkpoints import CheckpointPublisher, WitnessConfig, parse_witnesses
from civicledger.api.witness import Witness, create_witness_app
from civicledger.kernel import merkle
from civicledger.kernel.checkpoint import (
    AddCheckpoint,
    Checkpoint,
    Note,
    cosignature_time,
    note_key,
    parse_note,
    parse_signature_line,
    sign_checkpoint,
    verify_witnessed,
    witness_key,
)
from civicledger.kernel.errors import InvalidInputError
from tests.conftest import T0
from tests.e2e.serving import serve_app

ORIGIN = "log.example/test"
LOG_KEY = KeyPair.from_seed(b"\x07" * 32)
WITNESS_KEY = KeyPair.from_seed(b"\x08" * 32)
LOG = note_key(ORIGIN, LOG_KEY.public_key)
WITNESS = witness_key("witness.example", WITNESS_KEY.public_key)


def leaves(n: int, fork: str = "") -> list[bytes]:
    return [merkle.leaf_hash(f"{fork}{i}".encode()) for i in range(n)]


def signed(tree: list[bytes], key: KeyPair = LOG_KEY) -> Note:
    return sign_checkpoint(Checkpoint(ORIGIN, len(tree), merkle.root_of(tree)), ORIGIN, key)


def request(old: int, tree: list[bytes], note: Note | None = None) -> bytes:
    proof = tuple(merkle.consistency_proof(old, tree)) if 0 < old < len(tree) else ()
    return AddCheckpoint(old, proof, (note or signed(tree)).encode().encode()).encode()


@pytest.fixture
def state(tmp_path: Path) -> WitnessState:
    s = WitnessState(f"sqlite:///{tmp_path / 'witness.db'}")
    s.set_meta("name", "witness.example")
    s.add_log(ORIGIN, LOG.text())
    return s


@contextmanager
def witness_client(witness: Witness) -> Iterator[httpx.Client]:
    with serve_app(create_witness_app(witness)) as url, httpx.Client(base_url=url) as http:
        yield http


@pytest.fixture
def client(state: WitnessState) -> Iterator[httpx.Client]:
    with witness_client(Witness(state, "witness.example", WITNESS_KEY, lambda: 1_900_000_000)) as http:
        yield http


def test_in12_witness_cosigns_a_checkpoint_that_extends_the_last_one(client: httpx.Client, state: WitnessState) -> None:
    first = client.post("/add-checkpoint", content=request(0, leaves(3)))
    assert first.status_code == 200
    cosig = parse_signature_line(first.text.rstrip("\n"))
    assert cosignature_time(Note(signed(leaves(3)).text, (cosig,)), WITNESS, Ed25519Verifier()) == 1_900_000_000
    second = client.post("/add-checkpoint", content=request(3, leaves(10)))
    assert second.status_code == 200
    held = state.log(ORIGIN)
    assert held is not None and (held.size, held.root) == (10, merkle.root_of(leaves(10)))
    again = client.post("/add-checkpoint", content=request(10, leaves(10)))  # the same head: cosigned again
    assert again.status_code == 200


def test_in12_witness_answers_409_with_its_size_when_old_is_not_it(client: httpx.Client) -> None:
    assert client.post("/add-checkpoint", content=request(0, leaves(5))).status_code == 200
    stale = client.post("/add-checkpoint", content=request(3, leaves(8)))
    assert stale.status_code == 409
    assert (stale.text, stale.headers["content-type"]) == ("5\n", "text/x.tlog.size")


def test_in12_witness_never_cosigns_two_roots_for_one_size(client: httpx.Client, state: WitnessState) -> None:
    assert client.post("/add-checkpoint", content=request(0, leaves(5))).status_code == 200
    other = client.post("/add-checkpoint", content=request(5, leaves(5, fork="x")))
    assert other.status_code == 422
    forked_longer = client.post("/add-checkpoint", content=request(5, leaves(5, fork="x") + leaves(3)))
    assert forked_longer.status_code == 422
    held = state.log(ORIGIN)
    assert held is not None and held.root == merkle.root_of(leaves(5))


def test_in12_witness_refuses_bad_signatures_unknown_logs_and_malformed_requests(client: httpx.Client) -> None:
    impostor = signed(leaves(2), KeyPair.generate())
    assert client.post("/add-checkpoint", content=request(0, leaves(2), impostor)).status_code == 403
    other = sign_checkpoint(Checkpoint("other.example", 2, merkle.root_of(leaves(2))), "other.example", LOG_KEY)
    assert client.post("/add-checkpoint", content=request(0, leaves(2), other)).status_code == 404
    assert client.post("/add-checkpoint", content=b"old 0\n\nnot a note").status_code == 400
    assert client.post("/add-checkpoint", content=b"garbage").status_code == 400
    too_old = AddCheckpoint(9, (), signed(leaves(2)).encode().encode()).encode()
    assert client.post("/add-checkpoint", content=too_old).status_code == 400
    huge = client.post("/add-checkpoint", content=b"x" * (1 << 17))
    assert huge.status_code == 413


def test_in12_witness_state_survives_a_restart(tmp_path: Path, state: WitnessState) -> None:
    with witness_client(Witness(state, "witness.example", WITNESS_KEY, lambda: 1)) as first:
        assert first.post("/add-checkpoint", content=request(0, leaves(4))).status_code == 200
    state.close()
    reopened = WitnessState(f"sqlite:///{tmp_path / 'witness.db'}")
    with witness_client(Witness(reopened, "witness.example", WITNESS_KEY, lambda: 2)) as again:
        assert again.post("/add-checkpoint", content=request(0, leaves(6))).status_code == 409
        assert again.post("/add-checkpoint", content=request(4, leaves(6))).status_code == 200


def test_in12_racing_requests_for_one_size_get_one_cosignature(state: WitnessState) -> None:
    """Many requests from the same old size with different new roots: the compare-and-swap lets
    exactly one through; the others learn the new size (409)."""
    witness = Witness(state, "witness.example", WITNESS_KEY, lambda: 1)
    assert witness.add_checkpoint(request(0, leaves(2))).status == 200
    statuses: list[int] = []
    barrier = threading.Barrier(8)

    def push(i: int) -> None:
        body = request(2, leaves(2) + leaves(1 + i, fork=f"f{i}"))
        barrier.wait()
        statuses.append(witness.add_checkpoint(body).status)

    threads = [threading.Thread(target=push, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses.count(200) == 1 and set(statuses) <= {200, 409}


def test_in12_witness_parses_its_configuration() -> None:
    [config] = parse_witnesses(f"http://127.0.0.1:9/={WITNESS.text()}")
    assert config == WitnessConfig("http://127.0.0.1:9", WITNESS)
    with pytest.raises(InvalidInputError):
        parse_witnesses(WITNESS.text())


# The server and its witnesses -------------------------------------------------------------------


def test_in12_server_asks_witnesses_after_writes_and_serves_the_cosigned_checkpoint(
    tmp_path: Path, state: WitnessState
) -> None:
    economy = ScriptedEconomy(MemoryStore(), start=T0)
    log = note_key(economy.economy_id, economy.key("journal").public_key)
    state.add_log(log.name, log.text())
    witness = Witness(state, "witness.example", WITNESS_KEY, lambda: int(time.time()))
    down = WitnessConfig("http://127.0.0.1:9", witness_key("down.example", KeyPair.generate().public_key))
    with serve_app(create_witness_app(witness)) as witness_url:
        up = WitnessConfig(witness_url, WITNESS)
        publisher = CheckpointPublisher(economy.store, economy.key("journal"), None, [down, up], timeout=1.0)
        app = create_app(economy.store, economy.clock, economy.key("journal"), pages=False, checkpoints=publisher)
        publisher.start(interval=0.2)
        try:
            with serve_app(app) as url:
                economy.person("alice")  # a write behind the server's back: the next round sees it
                size = _head_size(economy)
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    text = httpx.get(f"{url}/checkpoint").text
                    if cosignature_time(parse_note(text), WITNESS, Ed25519Verifier()) is not None:
                        break
                    time.sleep(0.05)
                served = verify_witnessed(text, log, [up.key, down.key], 1, Ed25519Verifier())
                assert served.checkpoint.size == size and served.witnesses == ("witness.example",)
                assert publisher.cosigned == {"witness.example": size}
                response = httpx.get(f"{url}/checkpoint")
                assert response.headers["content-type"] == "text/plain; charset=utf-8"
                assert "max-age" in response.headers["cache-control"]
                # the operator sees each witness's progress (docs/operations.md, "Watching a server")
                metrics = {
                    (sample.name, tuple(sample.labels.values())): sample.value
                    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics").text)
                    for sample in family.samples
                }
                assert metrics[("civic_witness_cosigned_entries", ("witness.example",))] == size
                assert metrics[("civic_witness_lag_entries", ("witness.example",))] == 0
                assert metrics[("civic_witness_last_cosignature_timestamp_seconds", ("witness.example",))] > 0
                assert metrics[("civic_witness_lag_entries", ("down.example",))] == size
                assert metrics[("civic_witness_last_cosignature_timestamp_seconds", ("down.example",))] == 0
        finally:
            publisher.stop()


def test_in12_a_down_witness_costs_writes_nothing() -> None:
    economy = ScriptedEconomy(MemoryStore(), start=T0)
    down = WitnessConfig("http://127.0.0.1:9", WITNESS)
    publisher = CheckpointPublisher(economy.store, economy.key("journal"), None, [down], timeout=0.5)
    publisher.start(interval=0.05)
    try:
        started = time.monotonic()
        for i in range(5):
            economy.person(f"p{i}")
            publisher.notify()
        assert time.monotonic() - started < 2
    finally:
        publisher.stop()
    current = publisher.current()
    assert current is not None and len(parse_note(current).signatures) == 1  # the journal's, no cosignature


def _head_size(economy: ScriptedEconomy) -> int:
    with economy.store.read() as uow:
        return uow.journal.head().size
