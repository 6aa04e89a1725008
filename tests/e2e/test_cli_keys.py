"""X9 through the `civic` command line: rotate a key, name guardians, recover (start, cancel,
complete, rebind) and freeze, then verify the journal and its export (docs/keys.md)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.conftest import Civic

POLICY = """
[economy]
name = "Riverside"

[identity]
recovery_wait = 0
"""


def test_x09_keys_rotate_guardians_recover_and_freeze_through_the_cli(civic: Civic, tmp_path: Path) -> None:
    (tmp_path / "economy.toml").write_text(POLICY)
    civic.json("init", "economy.toml")
    keys = tmp_path / "civic-data" / "keys"
    names = ("alice", "bob", "fund", "g1", "g2", "g3")
    ids = {name: civic.json("keys", "new", name)["account"] for name in names}
    for name in names:
        civic("account", "open", "--key", name, *(["--kind", "fund"] if name == "fund" else []))
    civic("account", "attest", ids["alice"], "--human", "passport-digest-0001")
    civic("ledger", "create-currency", "xi", "--key", "fund", "--name", "ethicap")
    civic("ledger", "issue", "xi", ids["alice"], "500", "--key", "fund")

    rotated = civic.json("keys", "rotate", "alice")
    assert rotated["account"] == ids["alice"] and rotated["retired"].endswith("alice.retired-1.key")
    stored = json.loads((keys / "alice.key").read_text())
    assert stored["account"] == ids["alice"] and stored["public_key"] == rotated["public_key"]
    assert (keys / "alice.retired-1.key").exists() and not (keys / "alice.pending.key").exists()
    civic("ledger", "transfer", "xi", ids["bob"], "100", "--key", "alice")
    old = civic.json("ledger", "transfer", "xi", ids["bob"], "1", "--key", "alice.retired-1", check=5)
    assert "does not match" in old["message"]

    named = civic.json("account", "guardians", "g1", "g2", "g3", "--key", "alice", "--threshold", "2")
    assert named["result"]["threshold"] == 2
    civic("account", "recover", "start", "alice", "--new-key", "alice-phone-2", "-k", "g1", "-k", "g2")
    civic("account", "recover", "cancel", "alice", "-k", "alice")
    gone = civic.json("account", "recover", "complete", "alice", "-k", "bob", check=3)
    assert gone["rule"] == "X9"
    minority = civic.json("account", "recover", "start", "alice", "--new-key", "alice-phone-3", "-k", "g1", check=5)
    assert minority["rule"] == "X9" and not (keys / "alice-phone-3.key").exists()

    civic("account", "freeze", "alice", "-k", "g1", "-k", "g2")
    frozen = civic.json("ledger", "transfer", "xi", ids["bob"], "1", "--key", "alice", check=5)
    assert frozen["rule"] == "X9" and "frozen" in frozen["message"]
    civic("account", "recover", "rebind", "alice", "--new-key", "alice-phone-4", "--evidence", "passport-digest-0002")
    shown = civic.json("account", "show", "alice")
    assert shown["frozen"] and shown["guardians"]["threshold"] == 2 and shown["recovery"]["by"] == "registrar"
    done = civic.json("account", "recover", "complete", "alice", "-k", "bob")
    assert {e["type"] for e in done["events"]} >= {"identity.key_changed", "identity.account_unfrozen"}
    civic("ledger", "transfer", "xi", ids["bob"], "50", "--key", "alice-phone-4")
    assert civic.json("account", "show", ids["bob"])["balances"] == {"xi": 150}
    shown = civic.json("account", "show", ids["alice"])
    assert not shown["frozen"] and shown["recovery"] is None
    assert shown["public_key"] == json.loads((keys / "alice-phone-4.key").read_text())["public_key"]

    assert civic.json("verify")["ok"]
    civic("export", "--out", "journal.jsonl")
    assert civic.json("verify", "--export", "journal.jsonl")["ok"]
