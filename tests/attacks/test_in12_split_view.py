"""IN12: an operator who shows one history to some people and another to others (a split view).

Two stores share a prefix and then fork; both are served under the same journal key, so each
history, on its own, verifies. Two witnesses watch the log: they cosign the first history's
checkpoint and refuse the second (no consistency proof joins two different roots), and a client
that requires the witnesses' cosignatures accepts the first server and refuses the second. A
server on a copy behind what the witnesses hold, or forked from it, refuses to write.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from civicledger.adapters.crypto import Ed25519Verifier, KeyPair
from civicledger.adapters.headmark import HeadMarkFile, RollbackGuard, newest_signed_in
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.adapters.witness_state import WitnessState
from civicledger.api.app import create_app
from civicledger.api.checkpoints import CheckpointPublisher, WitnessConfig, WitnessedHeads
from civicledger.api.witness import Witness, create_witness_app
from civicledger.kernel import audit
from civicledger.kernel.checkpoint import (
    AddCheckpoint,
    Checkpoint,
    VerifierKey,
    note_key,
    parse_note,
    verify_witnessed,
    witness_key,
)
from civicledger.kernel.errors import IntegrityError, RuleViolationError
from civicledger.kernel.ports import Store
from tests.conftest import BACKEND, T0, open_test_store
from tests.e2e.conftest import Civic
from tests.e2e.serving import serve_app

LABEL = "civicledger split view key"


@dataclass
class World:
    honest: ScriptedEconomy
    forked: ScriptedEconomy
    log: VerifierKey
    witnesses: list[WitnessConfig]
    states: list[WitnessState]
    honest_url: str
    forked_url: str
    honest_publisher: CheckpointPublisher
    forked_publisher: CheckpointPublisher


def _store(tmp_path: Path, name: str) -> Store:
    (tmp_path / name).mkdir()
    return open_test_store(BACKEND, tmp_path / name)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with ExitStack() as stack:
        stores = [_store(tmp_path, "honest"), _store(tmp_path, "forked")]
        for s in stores:
            stack.callback(s.close)
        # Same label, same clock, same commands: the same genesis, economy id and journal key.
        honest, forked = (ScriptedEconomy(s, start=T0, label=LABEL) for s in stores)
        for economy in (honest, forked):
            economy.person("alice")
            economy.person("bob")
        assert _root(honest.store) == _root(forked.store)
        log = note_key(honest.economy_id, honest.key("journal").public_key)

        witnesses, states = [], []
        for i in range(2):
            state = WitnessState(f"sqlite:///{tmp_path / f'witness-{i}.db'}")
            stack.callback(state.close)
            state.add_log(log.name, log.text())
            key = KeyPair.generate()
            name = f"witness-{i}.example"
            url = stack.enter_context(
                serve_app(create_witness_app(Witness(state, name, key, lambda: int(time.time()))))
            )
            witnesses.append(WitnessConfig(url, witness_key(name, key.public_key)))
            states.append(state)

        publishers = [CheckpointPublisher(e.store, e.key("journal"), None, witnesses) for e in (honest, forked)]
        urls = [
            stack.enter_context(serve_app(create_app(e.store, e.clock, e.key("journal"), pages=False, checkpoints=p)))
            for e, p in zip((honest, forked), publishers, strict=True)
        ]
        yield World(honest, forked, log, witnesses, states, urls[0], urls[1], publishers[0], publishers[1])


def _root(store: Store) -> str:
    with store.read() as uow:
        head = uow.journal.latest_signed_head()
    assert head is not None
    return head.root


def _checkpoint(url: str) -> bytes:
    response = httpx.get(f"{url}/checkpoint")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    return response.content


def test_in12_witnesses_cosign_one_history_and_refuse_the_other(world: World) -> None:
    keys = [w.key for w in world.witnesses]
    world.honest_publisher.publish_once()  # the common prefix, cosigned
    prefix = world.states[0].log(world.log.name)
    assert prefix is not None and prefix.size > 0

    # The fork: the honest server records carol, the forked one records mallory instead.
    world.honest.person("carol")
    world.forked.person("mallory")
    assert _root(world.honest.store) != _root(world.forked.store)
    world.honest_publisher.publish_once()
    world.forked_publisher.publish_once()

    honest = verify_witnessed(_checkpoint(world.honest_url), world.log, keys, 2, Ed25519Verifier())
    assert honest.witnesses == ("witness-0.example", "witness-1.example")
    forked = _checkpoint(world.forked_url)
    verify_witnessed(forked, world.log, keys, 0, Ed25519Verifier())  # signed by the journal key: it "verifies"
    with pytest.raises(IntegrityError, match="0 valid witness cosignatures of the 1 required"):
        verify_witnessed(forked, world.log, keys, 1, Ed25519Verifier())
    for state in world.states:  # each witness holds the honest head, never the forked one
        held = state.log(world.log.name)
        assert held is not None and (held.size, held.root.hex()) == (honest.checkpoint.size, _root(world.honest.store))


def test_in12_a_witness_refuses_the_forked_checkpoint_with_the_specified_statuses(world: World) -> None:
    world.honest_publisher.publish_once()
    world.honest.person("carol")
    world.forked.person("mallory")
    world.forked.person("mallet")  # the forked history is longer: a proof from the honest size is asked
    world.honest_publisher.publish_once()
    held = world.states[0].log(world.log.name)
    assert held is not None
    note = world.forked_publisher.note()
    assert note is not None
    forked = Checkpoint.parse(note.text)
    url = f"{world.witnesses[0].url}/add-checkpoint"

    stale = httpx.post(url, content=AddCheckpoint(0, (), note.encode().encode()).encode())
    assert (stale.status_code, stale.text, stale.headers["content-type"]) == (409, f"{held.size}\n", "text/x.tlog.size")

    # The best proof the forked server can give from the size the witness holds: its own.
    proof = audit.consistency(world.forked.store, held.size, forked.size)["proof"]
    assert isinstance(proof, list)
    body = AddCheckpoint(held.size, tuple(bytes.fromhex(str(p)) for p in proof), note.encode().encode()).encode()
    refused = httpx.post(url, content=body)
    assert refused.status_code == 422
    after = world.states[0].log(world.log.name)
    assert after == held  # nothing moved


def test_in12_civic_verify_requires_k_of_n_witnesses(world: World, civic: Civic) -> None:
    world.honest_publisher.publish_once()
    world.honest.person("carol")
    world.forked.person("mallory")
    world.honest_publisher.publish_once()
    world.forked_publisher.publish_once()
    args = [a for w in world.witnesses for a in ("--witness", w.key.text())]
    ok = civic.json(
        "verify", "--url", world.honest_url, *args, "--witnesses-required", "2", "--log-vkey", world.log.text()
    )
    assert ok["ok"] and ok["witnesses"] == ["witness-0.example", "witness-1.example"]
    refused = civic.json("verify", "--url", world.forked_url, *args, "--witnesses-required", "1", check=1)
    assert refused["ok"] is False and refused["rule"] == "IN12"
    assert parse_note(_checkpoint(world.forked_url)).text.startswith(world.log.name + "\n")


def _guard(economy: ScriptedEconomy, publisher: CheckpointPublisher, tmp_path: Path) -> RollbackGuard:
    """A guard whose mark file is new (the operator lost or replaced the key directory's mark):
    only the witnesses know what was signed."""
    return RollbackGuard(economy.store, HeadMarkFile(tmp_path / f"{id(publisher)}.head"), [WitnessedHeads(publisher)])


def test_in12_a_copy_behind_what_the_witnesses_cosigned_is_refused_writes_without_the_mark_file(
    world: World, tmp_path: Path
) -> None:
    world.honest_publisher.publish_once()
    world.honest.person("carol")
    world.honest_publisher.publish_once()  # the witnesses now hold the head with carol
    held = world.states[0].log(world.log.name)
    assert held is not None
    # the forked store is the honest one's old copy: it lacks carol
    behind = newest_signed_in(world.forked.store)
    assert behind.size < held.size
    with pytest.raises(RuleViolationError, match=f"has {behind.size} entries but a tree head of {held.size}") as e:
        _guard(world.forked, world.forked_publisher, tmp_path).check()
    assert e.value.rule == "IN12" and "witness-" in e.value.message
    _guard(world.honest, world.honest_publisher, tmp_path).check()  # the witnessed journal may write


def test_in12_a_copy_of_the_witnessed_size_with_another_root_is_a_fork_and_refused(
    world: World, tmp_path: Path
) -> None:
    world.honest_publisher.publish_once()
    world.honest.person("carol")
    world.forked.person("mallory")  # same size, another root
    world.honest_publisher.publish_once()
    assert newest_signed_in(world.forked.store).size == newest_signed_in(world.honest.store).size
    with pytest.raises(RuleViolationError, match="different root") as e:
        _guard(world.forked, world.forked_publisher, tmp_path).check()
    assert e.value.rule == "IN12"
    held = world.states[0].log(world.log.name)
    assert held is not None and held.root.hex() == newest_signed_in(world.honest.store).root  # nothing moved


def test_in12_a_witness_that_is_down_does_not_stop_writes(world: World, tmp_path: Path) -> None:
    down = WitnessConfig("http://127.0.0.1:9", world.witnesses[0].key)  # the discard port: nothing answers
    publisher = CheckpointPublisher(world.honest.store, world.honest.key("journal"), None, [down], timeout=0.5)
    assert WitnessedHeads(publisher).newest() is None
    RollbackGuard(world.honest.store, HeadMarkFile(tmp_path / "j.head"), [WitnessedHeads(publisher)]).check()
