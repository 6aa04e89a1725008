"""`civic monitor` (X2, IN12) through the real `civic` process against a served journal: it follows
the log through its C2SP tiles and entry bundles, re-executes every entry of every mechanism (the
demo's), then only new ones; it names the first bad entry of a server whose journal was tampered
with and exits 1, keeping its last good state. Also ``civic verify --state`` on a local store."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from civicledger.adapters.crypto import KeyPair
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.adapters.sql import schema
from civicledger.adapters.sql.store import SqlStore
from civicledger.kernel import ledger as led
from civicledger.kernel.checkpoint import note_key, witness_key
from civicledger.kernel.identity import AccountKind, OpenAccount
from civicledger.kernel.journal import Entry
from civicledger.kernel.merkle import leaf_hash
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.tiles import TILE_WIDTH
from tests.conftest import BACKEND, T0, open_test_store
from tests.e2e.conftest import Civic
from tests.e2e.serving import SigningClient, demo_economy, live_server

XI = CurrencyId("xi")


@dataclass
class Served:
    economy: ScriptedEconomy
    url: str
    signing: SigningClient


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with (
        demo_economy(Path(tmp_path_factory.mktemp("monitor"))) as economy,
        live_server(economy.store, economy.key("journal")) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        signing = SigningClient(client, economy)
        while signing.journal_size() <= TILE_WIDTH:  # past one full tile and bundle
            key = economy.key(f"watched-{signing.journal_size()}")
            assert signing.run(OpenAccount(AccountKind.PERSON, key.public_hex, key.account[:8]), key).status_code == 200
        yield Served(economy, url, signing)


def test_x02_monitor_re_executes_the_whole_journal_then_only_new_entries(demo: Served, civic: Civic) -> None:
    size = demo.signing.journal_size()
    first = civic.json("monitor", demo.url, "--state", "watch")
    assert first["ok"] and first["first_run"] and first["trusted_on_first_use"]
    assert (first["previous_size"], first["new_entries"], first["size"]) == (0, size, size)
    assert first["root"] == httpx.get(f"{demo.url}/api/tree-heads/latest").json()["root"]
    economy_id = demo.economy.economy_id
    assert first["log_key"] == note_key(economy_id, demo.economy.key("journal").public_key).text()

    for n in range(3):
        key = demo.economy.key(f"late-{n}")
        assert demo.signing.run(OpenAccount(AccountKind.PERSON, key.public_hex, "late"), key).status_code == 200
    second = civic.json("monitor", demo.url, "--state", "watch")
    assert second["ok"] and not second["first_run"] and not second["trusted_on_first_use"]
    assert (second["previous_size"], second["new_entries"], second["size"]) == (size, 3, size + 3)
    assert second["tiles_fetched"] <= 4  # the bundle and level-0 tile at the edge, and the prefix's tiles

    human = civic("monitor", demo.url, "--state", "watch")
    assert "verified" in human.stdout and "0 new" in human.stdout

    fresh = civic("monitor", demo.url, "--state", "pinned", "--log-vkey", first["log_key"])
    assert "trust on first use" not in fresh.stdout and "verified" in fresh.stdout
    tofu = civic("monitor", demo.url, "--state", "other")
    assert "trust on first use" in tofu.stdout


def test_in12_monitor_refuses_a_log_key_other_than_the_one_it_kept(demo: Served, civic: Civic) -> None:
    civic.json("monitor", demo.url, "--state", "kept")
    other = note_key(demo.economy.economy_id, bytes(range(32))).text()
    refused = civic.json("monitor", demo.url, "--state", "kept", "--log-vkey", other, check=1)
    assert not refused["ok"] and refused["refused"] and refused["rule"] == "X2"  # not signed by that key
    wrong = civic.json("monitor", demo.url, "--state", "new", "--log-vkey", other, check=1)
    assert wrong["refused"] and "no valid signature" in wrong["reason"]


def test_in12_monitor_requires_k_of_n_witness_cosignatures(demo: Served, civic: Civic) -> None:
    witness = witness_key("w.example", KeyPair.generate().public_key).text()  # cosigned nothing here
    refused = civic.json(
        "monitor", demo.url, "--state", "w", "--witness", witness, "--witnesses-required", "1", check=1
    )
    assert refused["refused"] and refused["rule"] == "IN12" and "cosignatures" in refused["reason"]
    assert not (civic.cwd / "w" / "state.db").exists() or civic.json("monitor", demo.url, "--state", "w")["first_run"]


@pytest.fixture
def small(tmp_path: Path) -> Iterator[Served]:
    """A scripted economy of its own, served, whose rows a test may change."""
    store = open_test_store(BACKEND, tmp_path)
    if not isinstance(store, SqlStore):
        store.close()
        pytest.skip("tampering is done with SQL on the stored rows")
    economy = ScriptedEconomy(store, start=T0, label="civicledger monitor key")
    economy.open("fund", AccountKind.FUND)
    economy.person("alice")
    economy.person("bob")
    economy.run(led.CreateCurrency("xi", economy.account("fund"), "ethicap"), "fund")
    economy.run(led.Issue(XI, economy.account("alice"), 1_000), "fund")
    try:
        with live_server(store, economy.key("journal")) as url, httpx.Client(base_url=url) as client:
            yield Served(economy, url, SigningClient(client, economy))
    finally:
        store.close()


def _pay(e: ScriptedEconomy, n: int) -> None:
    for _ in range(n):
        e.run(led.Transfer((led.Leg(XI, e.account("alice"), e.account("bob"), 7),)), "alice")


def _body(store: SqlStore, seq: int) -> str:
    with store.engine.connect() as conn:
        return str(conn.execute(sa.select(schema.journal.c.body).where(schema.journal.c.seq == seq)).scalar_one())


def _set_row(store: SqlStore, seq: int, body: str, leaf: bytes | None = None) -> None:
    values: dict[str, object] = {"body": body}
    if leaf is not None:
        values["leaf_hash"] = leaf
    with store.engine.begin() as conn:
        conn.execute(schema.journal.update().where(schema.journal.c.seq == seq).values(**values))


def test_x02_monitor_names_the_first_bad_entry_of_a_tampered_server_and_keeps_its_state(
    small: Served, civic: Civic
) -> None:
    store = small.economy.store
    assert isinstance(store, SqlStore)
    good = civic.json("monitor", small.url, "--state", "s")
    assert good["ok"]
    _pay(small.economy, 4)
    bad_seq = good["size"] + 1
    body = _body(store, bad_seq)
    _set_row(store, bad_seq, body.replace('"units":7', '"units":9'))
    refused = civic.json("monitor", small.url, "--state", "s", check=1)
    assert not refused["ok"] and not refused["refused"] and refused["bad_seq"] == bad_seq
    assert "leaf hash in the log's tiles" in refused["reason"] and refused["rule"] == "X2"
    assert refused["size"] == good["size"]  # the last good state, kept

    # A tamperer who also rewrites the stored leaf hash: the tiles agree, the signatures do not.
    forged = body.replace('"units":7', '"units":9')
    entry = Entry.from_wire(json.loads(forged))
    _set_row(store, bad_seq, forged, leaf_hash(entry.leaf_bytes()))
    human = civic("monitor", small.url, "--state", "s", check=1)
    assert f"entry {bad_seq}" in human.stdout and "X6" in human.stdout
    _set_row(store, bad_seq, body, leaf_hash(body.encode()))
    healed = civic.json("monitor", small.url, "--state", "s")
    assert healed["ok"] and healed["previous_size"] == good["size"] and healed["new_entries"] == 4


def test_x02_verify_state_verifies_a_local_journal_incrementally(civic: Civic, tmp_path: Path) -> None:
    from tests.e2e.test_cli_foundation import POLICY

    (tmp_path / "economy.toml").write_text(POLICY)
    civic("init", "economy.toml")
    civic("keys", "new", "alice")
    civic("account", "open", "--key", "alice")
    first = civic.json("verify", "--state", "v")
    assert first["ok"] and first["first_run"] and first["size"] == 2
    civic("keys", "new", "bob")
    civic("account", "open", "--key", "bob")
    second = civic.json("verify", "--state", "v")
    assert second["ok"] and (second["previous_size"], second["new_entries"]) == (2, 1)
    assert civic.json("verify")["root"] == second["root"]  # plain verify unchanged
    mixed = civic.json("verify", "--state", "v", "--url", "http://127.0.0.1:9", check=2)
    assert "civic monitor" in mixed["message"]


def test_x02_monitor_follow_reports_each_round_and_exits_1_at_the_first_bad_one(small: Served, civic: Civic) -> None:
    store = small.economy.store
    assert isinstance(store, SqlStore)
    args = ["monitor", small.url, "--state", "f", "--follow", "--interval", "2", "--json"]
    with subprocess.Popen(
        [sys.executable, "-m", "civicledger", *args], cwd=civic.cwd, env=civic.env, stdout=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stdout is not None
            first = json.loads(process.stdout.readline())
            assert first["ok"] and first["first_run"]
            _pay(small.economy, 2)
            seq = first["size"]
            _set_row(store, seq, _body(store, seq).replace('"units":7', '"units":8'))
            while True:  # the change is made well within the 2 s between rounds
                line = json.loads(process.stdout.readline())
                if not line["ok"]:
                    break
                assert line["size"] == first["size"]
            assert line["bad_seq"] == seq and line["size"] == first["size"]
            assert process.wait(timeout=60) == 1
        finally:
            if process.poll() is None:
                process.kill()
