"""IN11 through the `civic` command line: personal text stays off the journal; `civic account erase`."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import Civic

POLICY = """
[economy]
name = "Riverside"
"""


def test_in11_cli_keeps_names_and_evidence_off_the_journal_and_erases_them(civic: Civic, tmp_path: Path) -> None:
    (tmp_path / "economy.toml").write_text(POLICY)
    civic.json("init", "economy.toml")
    alice = civic.json("keys", "new", "alice")["account"]
    civic("account", "open", "--key", "alice", "--name", "Alice Wonderland-Smith")
    civic("account", "attest", alice, "--human", "passport 123")
    assert civic.json("account", "show", alice)["name"] == "Alice Wonderland-Smith"

    civic("export", "--out", "journal.jsonl")
    exported = (tmp_path / "journal.jsonl").read_bytes()
    assert b"passport 123" not in exported and b"Wonderland" not in exported

    alone = civic("account", "erase", alice, "--registrar", "registrar-1", "--key", "registrar-1", check=5)
    assert "alice" in alone.stderr or alice in alone.stderr or "missing" in alone.stderr
    civic("account", "erase", alice, "--registrar", "registrar-1", "--key", "registrar-1", "--key", "alice")
    assert civic.json("account", "show", alice)["name"] == "erased"
    assert civic.json("verify")["ok"]
    civic("export", "--out", "after.jsonl")
    assert civic.json("verify", "--export", "after.jsonl")["ok"]
    civic("rebuild")
    assert civic.json("account", "show", alice)["name"] == "erased"
