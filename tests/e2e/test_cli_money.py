"""The CLI reads like money: amounts in major units, global options anywhere, help text intact,
tables instead of dict reprs, a policy file written back and read again, exit 3 for not found,
explain at the journal's time, errors that say what to do (X3, X7)."""

from __future__ import annotations

import dataclasses
import json
import re
import time
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from civicledger.adapters.policy_file import load_policy_file, parse_policy_text, policy_to_toml
from civicledger.adapters.stores import open_store
from civicledger.cli.main import app, normalise
from civicledger.cli.output import journal_time
from civicledger.kernel.errors import CivicLedgerError, InvalidInputError
from civicledger.kernel.identity import AccountId
from civicledger.kernel.ledger import Currency, CurrencyKind, IssuerRule
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.ports import UnitOfWork
from civicledger.mechanisms.credits import queries
from tests.e2e.conftest import Civic

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "economy.toml"


def test_x03_a_currency_formats_exactly_with_its_records_decimals_and_symbol() -> None:
    xi = Currency(CurrencyId("xi"), CurrencyKind.ISSUED, AccountId("ac" + "0" * 32), IssuerRule.ISSUER_COMMAND, 2, "")
    assert xi.format(1_200_000) == "xi 12,000.00"
    assert xi.format(-5) == "-xi 0.05"
    assert xi.format(2**63 - 1) == "xi 92,233,720,368,547,758.07"  # no float on the way
    circles = dataclasses.replace(xi, kind=CurrencyKind.PERSONAL, decimals=0)
    assert circles.format(7) == "CRC 7"
    with pytest.raises(InvalidInputError):
        xi.format(1.5)  # type: ignore[arg-type]


def test_global_options_are_moved_before_the_command_unless_the_command_has_its_own() -> None:
    assert normalise(["verify", "--db", "x", "--keys=k", "--json"]) == ["--db", "x", "--keys=k", "--json", "verify"]
    assert normalise(["witness", "serve", "--db", "w.db"]) == ["witness", "serve", "--db", "w.db"]
    assert normalise(["ledger", "transfer", "--", "--db"]) == ["ledger", "transfer", "--", "--db"]


def test_help_text_keeps_every_bracket_and_env_variable() -> None:
    """Rich reads "[word]" as markup: every option's help, as written, must survive in --help."""
    runner = CliRunner()
    root = typer.main.get_command(app)
    shown = " ".join(runner.invoke(app, ["--help"], env={"COLUMNS": "300"}).output.split())
    for env in ("CIVIC_DB", "CIVIC_DATA_DIR", "CIVIC_KEYS"):
        assert f"(env {env})" in shown

    def walk(command: object, path: list[str]) -> None:
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])
        texts = [getattr(p, "help", None) or "" for p in getattr(command, "params", ())]
        bracketed = [t for t in texts if "[" in t]
        if not bracketed:
            return
        out = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "300"}).output
        flat = re.sub(r"[\s│]+", " ", out)
        for text in bracketed:
            assert " ".join(text.split()) in flat, (path, text)

    walk(root, [])


POLICY = '[economy]\nname = "Riverside"\n'


def _economy(civic: Civic, tmp_path: Path) -> dict[str, str]:
    (tmp_path / "economy.toml").write_text(POLICY)
    civic("init", "economy.toml")
    ids = {n: civic.json("keys", "new", n)["account"] for n in ("alice", "fund")}
    civic("account", "open", "--key", "alice")
    civic("account", "open", "--key", "fund", "--kind", "fund")
    civic("ledger", "create-currency", "xi", "--key", "fund", "--name", "ethicap")
    civic("ledger", "issue", "xi", ids["alice"], "123456", "--key", "fund")
    return ids


def test_tables_show_major_units_and_json_keeps_minor_units(civic: Civic, tmp_path: Path, db_url: str) -> None:
    ids = _economy(civic, tmp_path)
    supply = civic("ledger", "supply").stdout
    assert "xi 1,234.56" in supply and "123456" not in supply
    assert civic.json("ledger", "supply")[0]["issued"] == 123456
    shown = civic("account", "show", "alice").stdout
    assert "xi 1,234.56" in shown and "{" not in shown
    assert civic.json("account", "show", ids["alice"])["balances"] == {"xi": 123456}
    # the root's options after the command (civic verify --db x)
    env = {k: v for k, v in civic.env.items() if k != "CIVIC_DB"}
    after = Civic(civic.cwd, env)
    assert after.json("verify", "--db", db_url)["ok"]


def test_circles_show_is_a_table_in_major_units(civic: Civic, tmp_path: Path) -> None:
    _economy(civic, tmp_path)
    civic("circles", "account", "-k", "alice")
    table = civic("circles", "show", "alice").stdout
    assert "income to claim" in table and "CRC" in table and "{" not in table
    data = civic.json("circles", "show", "alice")
    assert isinstance(data["claimable"], int) and set(data) >= {"holdings", "reserve", "trusts"}


def test_x07_policy_show_is_a_table_and_toml_round_trips_through_init(civic: Civic, tmp_path: Path) -> None:
    _economy(civic, tmp_path)
    civic("policy", "set", "gears.k", "25", "-k", "governor-1")
    table = civic("policy", "show", "--toml", "written.toml").stdout
    assert "gears.k" in table and "{'" not in table and "policy written to written.toml" in table
    before = civic.json("policy", "show")["policy"]
    assert before["gears"]["k"] == 25
    text = (tmp_path / "written.toml").read_text()
    assert text.startswith("# The policy of Riverside") and "k = 25" in text
    fresh = tmp_path / "fresh"
    other = Civic(fresh.parent, {**civic.env, "CIVIC_DATA_DIR": str(fresh), "CIVIC_DB": f"sqlite:///{fresh}/c.db"})
    other("init", "written.toml")
    assert other.json("policy", "show")["policy"] == before


def test_x07_policy_to_toml_quotes_keys_and_strings_it_must() -> None:
    policy = {"economy": {"name": 'Quote " and \\ and é'}, "x": {"odd key": [1, "two"], "flag": True}}
    assert json.loads(json.dumps(policy)) == parse_policy_text.__globals__["tomllib"].loads(policy_to_toml(policy))
    with pytest.raises(InvalidInputError):
        policy_to_toml({"x": {"y": [{"z": 1}]}})


def test_x07_the_example_policy_loads_comments_every_section_and_starts_an_economy(civic: Civic) -> None:
    policy, _mapping = load_policy_file(EXAMPLE)
    assert policy.economy.name == "Riverside"
    lines = EXAMPLE.read_text().splitlines()
    headers = [i for i, line in enumerate(lines) if line.startswith("[")]
    assert {lines[i].strip("[]") for i in headers} >= {"economy", "journal", "circles", "credits", "gears"}
    for i in headers:  # every section explains itself in its first lines
        assert lines[i + 1].startswith("#") or lines[i - 1].startswith("#"), lines[i]
    assert civic.json("init", str(EXAMPLE))["name"] == "Riverside"


def test_not_found_exits_3_and_says_what_to_do(civic: Civic, tmp_path: Path) -> None:
    _economy(civic, tmp_path)
    missing = civic("account", "show", "nobody", check=3)
    assert "civic keys new nobody" in missing.stderr
    civic("keys", "new", "bob")  # a key, but no account opened for it
    unopened = civic.json("account", "show", "bob", check=3)
    assert unopened["error"] == "NotFoundError" and "account open" in unopened["message"]


def test_a_missing_role_names_the_role_and_who_grants_it(civic: Civic, tmp_path: Path) -> None:
    ids = _economy(civic, tmp_path)
    refused = civic.json("account", "attest", ids["alice"], "--human", "h", "-k", "alice", check=5)
    assert "registrar" in refused["message"] and "account grant" in refused["message"]


def test_explain_reads_at_the_journals_time_when_it_is_after_the_clock(civic: Civic, db_url: str) -> None:
    """The demo economy is dated 2027 on; a read defaults to its newest entry, not the wall clock."""
    civic("demo")
    store = open_store(db_url)
    try:
        with store.read() as uow:
            head = uow.journal.head().time
            assert journal_time(uow, 0) == head
            assert journal_time(uow, head + 10) == head + 10
            enrolled = next(a.id for a in uow.accounts.scan() if a.verified and _enrolled(uow, a.id, head))
    finally:
        store.close()
    assert head > time.time()  # the journal is dated after the wall clock
    assert civic.json("credits", "explain", enrolled)["at"] == head
    assert civic.json("credits", "explain", enrolled, "--at", "2027-06-01T00:00:00Z")["at"] == 1811808000


def _enrolled(uow: UnitOfWork, account: AccountId, at: int) -> bool:
    try:
        queries.explain(uow, account, at)
    except CivicLedgerError:
        return False
    return True
