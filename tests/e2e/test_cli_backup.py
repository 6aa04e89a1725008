"""`civic backup` and `civic restore` (IN12): the whole economy and its journal key, encrypted, into
an empty database elsewhere, which verifies; a restore under a key that signed more cannot write."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import Civic
from tests.e2e.test_cli_foundation import POLICY


def test_in12_civic_backup_and_restore_into_an_empty_database_that_verifies(civic: Civic, tmp_path: Path) -> None:
    (tmp_path / "economy.toml").write_text(POLICY)
    civic.json("init", "economy.toml")
    civic.json("keys", "new", "alice")
    civic("account", "open", "--key", "alice")
    secret = tmp_path / "passphrase"
    secret.write_text("a long enough passphrase\n")
    backup = civic.json("backup", "--out", str(tmp_path / "economy.backup"), "--passphrase-file", str(secret))
    assert backup["entries"] >= 2 and backup["journal_key"] is True
    assert civic("backup", "--out", str(tmp_path / "x.backup"), check=2).stderr  # no passphrase given

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = civic.env | {"CIVIC_DATA_DIR": str(elsewhere / "civic-data"), "CIVIC_BACKUP_PASSPHRASE": "wrong passphrase!"}
    env.pop("CIVIC_DB")
    other = Civic(elsewhere, env)
    assert "wrong passphrase" in other("restore", str(tmp_path / "economy.backup"), check=1).stderr
    other.env["CIVIC_BACKUP_PASSPHRASE"] = "a long enough passphrase"
    restored = other.json("restore", str(tmp_path / "economy.backup"))
    assert restored["entries"] == backup["entries"]
    assert (elsewhere / "civic-data" / "keys" / "journal.key").read_text() == (
        tmp_path / "civic-data" / "keys" / "journal.key"
    ).read_text()
    assert other.json("verify")["ok"] is True
    assert other.json("journal", "head") == civic.json("journal", "head")
    again = other("restore", str(tmp_path / "economy.backup"), check=4)
    assert "only into an empty database" in again.stderr

    # the original goes on; a restore of the old backup under its key directory refuses to write
    civic.json("keys", "new", "bob")
    civic("account", "open", "--key", "bob")
    stale = Civic(tmp_path, civic.env | {"CIVIC_DB": f"sqlite:///{tmp_path / 'stale.db'}"})
    stale.env["CIVIC_BACKUP_PASSPHRASE"] = "a long enough passphrase"
    stale.json("restore", str(tmp_path / "economy.backup"))
    refused = stale("account", "open", "--key", "bob", check=4)
    assert "IN12" in refused.stderr and "fork" in refused.stderr
