"""IN12: an operator rewrites history after a monitor has verified it. Every copy below has the same
genesis and journal key, so each history, on its own, verifies and is signed by the right key; the
monitor's verified state is what tells them apart. A copy that serves a longer journal whose verified
part differs, another root for the verified size, or fewer entries than were verified (a rollback)
is refused, the state is kept, and the honest journal still carries on from it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.api.app import create_app
from civicledger.cli.monitor import MonitorRun, monitor_once, state_store
from civicledger.kernel.checkpoint import note_key
from civicledger.kernel.incremental import load_state
from civicledger.kernel.ports import Store
from tests.conftest import BACKEND, T0, open_test_store
from tests.e2e.conftest import Civic
from tests.e2e.serving import serve_app

LABEL = "civicledger rewritten history key"


@dataclass
class World:
    honest: ScriptedEconomy
    urls: dict[str, str]
    state: Store
    vkey: str

    def watch(self, name: str) -> MonitorRun:
        return monitor_once(self.urls[name], self.state, log_vkey=self.vkey, witnesses=[], required=0)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with ExitStack() as stack:
        histories = {
            "honest": ["carol"],
            "same_size": ["mallory"],  # as many entries as the honest one, other entries
            "longer": ["mallory", "mallet", "trent"],
            "rolled_back": [],
        }
        urls: dict[str, str] = {}
        economies: dict[str, ScriptedEconomy] = {}
        for name, people in histories.items():
            (tmp_path / name).mkdir()
            store = open_test_store(BACKEND, tmp_path / name)
            stack.callback(store.close)
            economy = ScriptedEconomy(store, start=T0, label=LABEL)  # the same genesis and journal key
            for person in ["alice", "bob", *people]:
                economy.person(person)
            economies[name] = economy
            app = create_app(store, economy.clock, economy.key("journal"), pages=False)
            urls[name] = stack.enter_context(serve_app(app))
        honest = economies["honest"]
        vkey = note_key(honest.economy_id, honest.key("journal").public_key).text()
        yield World(honest, urls, stack.enter_context(state_store(tmp_path / "monitor")), vkey)


def test_in12_a_monitor_refuses_every_rewrite_of_what_it_verified_and_keeps_its_state(world: World) -> None:
    seen = world.watch("honest")
    assert seen.report.ok and seen.report.size > 0
    kept = load_state(world.state)

    longer = world.watch("longer")
    assert longer.report.refused and longer.report.rule == "IN12"
    assert "fork" in longer.report.reason and "rewrote history" in longer.report.reason

    same = world.watch("same_size")
    assert same.report.refused and "fork" in same.report.reason and "another root" in same.report.reason

    rolled = world.watch("rolled_back")
    assert rolled.report.refused and "rollback" in rolled.report.reason

    assert load_state(world.state) == kept  # no refusal moved the verified state
    world.honest.person("dave")
    carried_on = world.watch("honest")
    assert carried_on.report.ok and carried_on.report.previous_size == seen.report.size
    assert carried_on.report.new_entries == 2


def test_in12_civic_monitor_exits_1_on_a_rewritten_history(world: World, civic: Civic) -> None:
    civic.json("monitor", world.urls["honest"], "--state", "m")
    refused = civic.json("monitor", world.urls["longer"], "--state", "m", check=1)
    assert refused["refused"] and refused["rule"] == "IN12" and "fork" in refused["reason"]
    human = civic("monitor", world.urls["rolled_back"], "--state", "m", check=1)
    assert "checkpoint refused" in human.stdout and "rollback" in human.stdout
