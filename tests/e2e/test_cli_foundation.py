"""The `civic` command line end to end: init, keys, accounts, the ledger, verify, export, rebuild, demo."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.conftest import Civic

POLICY = """
[economy]
name = "Riverside"

[journal]
signature_max_age = 600
"""


def test_init_accounts_transfer_verify_export_and_rebuild(civic: Civic, tmp_path: Path) -> None:
    (tmp_path / "economy.toml").write_text(POLICY)
    created = civic.json("init", "economy.toml")
    assert created["name"] == "Riverside" and created["economy"].startswith("ec")
    assert (tmp_path / "civic-data" / "keys" / "journal.key").exists()
    again = civic("init", "economy.toml", check=4)
    assert "already holds an economy" in again.stderr

    ids = {name: civic.json("keys", "new", name)["account"] for name in ("alice", "bob", "fund")}
    civic("account", "open", "--key", "alice")
    civic("account", "open", "--key", "bob")
    civic("account", "open", "--key", "fund", "--kind", "fund")
    civic("account", "attest", ids["alice"], "--human", "passport-digest-0001")
    civic("ledger", "create-currency", "xi", "--key", "fund", "--name", "ethicap")
    civic("ledger", "issue", "xi", ids["alice"], "500", "--key", "fund")

    first = civic.json("ledger", "transfer", "xi", ids["bob"], "200", "--key", "alice", "--id", "rent-1")
    retry = civic.json("ledger", "transfer", "xi", ids["bob"], "200", "--key", "alice", "--id", "rent-1")
    assert retry["replayed"] and retry["seq"] == first["seq"] and not first["replayed"]
    conflict = civic.json("ledger", "transfer", "xi", ids["bob"], "201", "--key", "alice", "--id", "rent-1", check=6)
    assert conflict["rule"] == "X5"
    overdraft = civic("ledger", "transfer", "xi", ids["bob"], "10000", "--key", "alice", check=4)
    assert "X3" in overdraft.stderr and "cannot send 10000" in overdraft.stderr
    missing = civic("ledger", "transfer", "xi", ids["bob"], "1", "--key", "nobody", check=3)
    assert "no key 'nobody'" in missing.stderr

    supply = civic.json("ledger", "supply")
    assert supply == [{"balances": 500, "burned": 0, "currency": "xi", "issued": 500, "kind": "issued"}]
    shown = civic.json("account", "show", ids["alice"])
    assert shown["verified"] and shown["balances"] == {"xi": 300}

    verified = civic.json("verify")
    assert verified["ok"] and verified["replay_digest"] == verified["stored_digest"]
    civic("export", "--out", "journal.jsonl")
    lines = (tmp_path / "journal.jsonl").read_text().splitlines()
    assert len(lines) == verified["entries"]
    assert civic.json("verify", "--export", "journal.jsonl")["ok"]

    tampered = [json.loads(line) for line in lines]
    tampered[-1]["entry"]["events"][0]["units"] = 199
    (tmp_path / "bad.jsonl").write_text("\n".join(json.dumps(t) for t in tampered) + "\n")
    bad = civic("verify", "--export", "bad.jsonl", check=1)
    assert f"entry {len(lines) - 1}" in bad.stdout and "Merkle leaf" in bad.stdout

    rebuilt = civic.json("rebuild")
    assert rebuilt["identical"] and rebuilt["after"] == verified["stored_digest"]


def test_a_malformed_policy_file_lists_every_problem_and_writes_nothing(civic: Civic, tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text('[economy]\nname = 7\nflavour = "x"\n\n[journal]\nmax_clock_skew = -1\n')
    result = civic.json("init", "bad.toml", check=2)
    assert result["rule"] == "X7"
    assert sorted(p["line"] for p in result["problems"]) == [2, 3, 6]
    assert not (tmp_path / "civic-data" / "civicledger.db").exists()
    assert not (tmp_path / "civic-data" / "keys").exists()
    human = civic("init", "bad.toml", check=2)
    assert "line 3" in human.stderr and "unknown key" in human.stderr


def test_commands_without_an_economy_say_what_to_do(civic: Civic, tmp_path: Path) -> None:
    result = civic("verify", check=None)
    assert result.returncode in (3, 4)
    assert "civic init" in result.stderr


def test_demo_twice_is_safe_and_verifies(civic: Civic) -> None:
    first = civic.json("demo")
    assert first["verify"]["ok"] and first["entries_written"] > 10
    second = civic.json("demo")
    assert second["entries_written"] == 0 and second["verify"]["root"] == first["verify"]["root"]
    human = civic("demo")
    assert "Foundation" in human.stdout and "verified" in human.stdout


def test_keys_new_refuses_to_overwrite(civic: Civic) -> None:
    civic("keys", "new", "alice")
    result = civic.json("keys", "new", "alice", check=2)
    assert "already exists" in result["message"]


def test_journal_head_show_and_consistency(civic: Civic, tmp_path: Path) -> None:
    (tmp_path / "economy.toml").write_text(POLICY)
    civic("init", "economy.toml")
    civic("keys", "new", "alice")
    civic("account", "open", "--key", "alice")
    head = civic.json("journal", "head")
    assert head["size"] == 2 and len(head["signature"]) == 128
    shown = civic.json("journal", "show", "1")
    assert shown["entry"]["command"]["type"] == "identity.open_account" and shown["tree_head"] == head
    proof = civic.json("journal", "consistency", "1")
    assert proof["first"]["size"] == 1 and proof["second"]["size"] == 2 and len(proof["proof"]) == 1
    missing = civic.json("journal", "show", "9", check=3)
    assert missing["rule"] == "X2"


def test_verify_an_unreadable_export_says_why(civic: Civic, tmp_path: Path) -> None:
    missing = civic.json("verify", "--export", "missing.jsonl", check=1)
    assert not missing["ok"] and "cannot read the export" in missing["reason"]
    (tmp_path / "binary.jsonl").write_bytes(b"\xff\xfe\x00garbage")
    garbled = civic.json("verify", "--export", "binary.jsonl", check=1)
    assert not garbled["ok"] and garbled["reason"]


def test_an_unreachable_database_is_exit_8(civic: Civic) -> None:
    result = civic("--db", "postgresql+psycopg://postgres@127.0.0.1:1/none", "verify", check=8)
    assert "cannot open the database" in result.stderr
