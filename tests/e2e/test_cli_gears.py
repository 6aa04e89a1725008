"""`civic gears` end to end: setup, companies, the test, votes, the Widget Co sale, the report
with its chart, and refusals that name their rule and write nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from civicledger.cli.main import app, normalise
from tests.e2e.conftest import Civic


class InProcess:
    """The same `civic` app and environment, run in this process: the many set-up steps stay fast;
    the report, the chart, the refusals and verify run as the real `civic` process."""

    def __init__(self, civic: Civic) -> None:
        self.env = civic.env
        self.runner = CliRunner()

    def __call__(self, *args: str, check: int = 0) -> Any:
        result = self.runner.invoke(app, normalise(["--json", *args]), env=self.env, catch_exceptions=False)
        assert result.exit_code == check, result.output
        return json.loads(result.stdout)


POLICY = """
[economy]
name = "Gearsville"

[journal]
draw_delay = 0

[gears]
test_questions = 1
test_pass_mark = 1
vote_reward = 10
"""


def test_gears_cli_widget_co_sale_report_chart_and_refusals(civic: Civic, tmp_path: Path) -> None:
    (tmp_path / "economy.toml").write_text(POLICY)
    civic("init", "economy.toml")
    run = InProcess(civic)
    ids = {n: run("keys", "new", n)["account"] for n in ("fund", "widget", "other", "ann", "buyer")}
    run("account", "open", "--key", "fund", "--kind", "fund")
    for firm in ("widget", "other"):
        run("account", "open", "--key", firm, "--kind", "organization", "--name", firm)
    for person in ("ann", "buyer"):
        run("account", "open", "--key", person)
        run("account", "attest", ids[person], "--human", f"evidence-of-{person}")
    run("ledger", "create-currency", "xi", "--key", "fund", "--name", "ethicap")
    run("ledger", "issue", "xi", ids["buyer"], "100000", "--key", "fund")
    run("ledger", "issue", "xi", ids["fund"], "100000", "--key", "fund")
    run("gears", "setup", "--fund", "fund", "-k", "governor-1")
    for firm in ("widget", "other"):
        run("gears", "register", "-k", firm)
        run("gears", "statement", "1", f"{firm} sells to local shops.", "-k", firm)
        asked = run(
            "gears",
            "question",
            "What do we make?",
            "--choice",
            "bread",
            "--choice",
            "widgets",
            "--answer",
            "1",
            "-k",
            firm,
        )
        # IN3: from rule version 2 a company's question is drawn only once the council approves it
        run("gears", "approve", firm, str(asked["result"]["question"]), "-k", "governor-1")
    run("gears", "sell", "1000", "--buyer", "buyer", "--seller", "widget")
    run("gears", "sell", "2000", "--buyer", "buyer", "--seller", "other")

    refused = run("gears", "vote", "widget", "beneficial", "-k", "ann", check=4)
    assert refused["rule"] == "GR3"
    for firm, value in (("widget", "beneficial"), ("other", "neutral")):
        asked = run("gears", "test", "start", firm, "-k", "ann")
        assert "questions" not in asked["result"]  # IN6: drawn later, by a command anyone may send
        drawn = run("gears", "test", "draw", firm, "--voter", "ann", "-k", "buyer")
        if not drawn["result"]["drawn"]:  # the first made the signed head the draw needs
            drawn = run("gears", "test", "draw", firm, "--voter", "ann", "-k", "buyer")
        assert len(drawn["result"]["questions"]) == 1
        assert run("gears", "test", "answer", firm, "1", "-k", "ann")["result"]["passed"]
        run("gears", "vote", firm, value, "-k", "ann")
    assert run("account", "show", ids["ann"])["balances"] == {"xi": 20}

    snapshot = run("gears", "publish", "-k", "ann")
    assert snapshot["result"]["version"] == 1
    sale = civic.json("gears", "sell", "100", "--buyer", "buyer", "--seller", "widget")
    assert sale["result"]["seller_receives"] == 120 and sale["result"]["fund_pays"] == 20
    last = run("gears", "publish", "-k", "ann")

    report = civic.json("gears", "report", "--chart", "delta.png", "--company", "widget")
    rows = {r["company"]: r for r in report["companies"]}
    # recomputed after the ξ100 sale: G = 13,200 and 24,000, S = 11/31, delta = 30 (1 - 11/31) = 600/31
    assert rows[ids["widget"]]["delta"] == "600/31" and rows[ids["other"]]["delta"] == "-330/31"
    assert report["average"] == "11/31" and report["imbalance"] == "0/1"
    assert report["chart"]["points"] == 2
    assert (tmp_path / "delta.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    human = civic("gears", "report")
    assert "19.3548" in human.stdout and "widget" in human.stdout and "fund" in human.stdout
    g = rows[ids["widget"]]["sales"]  # G = 13,200 minor units: xi 132.00 in the table (X3)
    assert g == 13_200 and "xi 132.00" in human.stdout
    company = civic("gears", "company", ids["widget"]).stdout  # a table, not a dictionary
    assert "statements (GR2, GR7)" in company and "{'" not in company

    before = last["seq"] + 1
    too_long = civic.json("gears", "statement", "2", "x" * 201, "-k", "widget", check=2)
    assert too_long["rule"] == "GR2"
    bad_vote = civic.json("gears", "vote", "widget", "2", "-k", "ann", check=2)
    assert bad_vote["rule"] == "GR4"
    unknown = civic.json("gears", "sell", "100", "--buyer", "buyer", "--seller", "ann", check=3)
    assert unknown["rule"] == "GR1"
    after = civic.json("verify")
    assert after["ok"] and after["entries"] == before


def test_in03_cli_the_council_curates_the_bank_and_a_company_without_questions_is_voted_on(civic: Civic) -> None:
    (civic.cwd / "economy.toml").write_text(POLICY)
    civic("init", "economy.toml")
    run = InProcess(civic)
    ids = {n: run("keys", "new", n)["account"] for n in ("fund", "silent", "ann")}
    run("account", "open", "--key", "fund", "--kind", "fund")
    run("account", "open", "--key", "silent", "--kind", "organization", "--name", "silent")
    run("account", "open", "--key", "ann")
    run("account", "attest", ids["ann"], "--human", "evidence-of-ann")
    run("ledger", "create-currency", "xi", "--key", "fund", "--name", "ethicap")
    run("ledger", "issue", "xi", ids["fund"], "100000", "--key", "fund")
    run("gears", "setup", "--fund", "fund", "-k", "governor-1")
    run("gears", "register", "-k", "silent", "--sector", "food")
    # the company publishes a question of its own; unapproved, it is not in the pool
    run("gears", "question", "Trick?", "--choice", "x", "--choice", "y", "--answer", "1", "-k", "silent")
    assert run("gears", "questions", "silent")["pool"] == []
    refused = run("gears", "test", "start", "silent", "-k", "ann", check=4)
    assert refused["rule"] == "IN3"
    added = run(
        "gears",
        "bank-question",
        "Is bread food?",
        "--choice",
        "yes",
        "--choice",
        "no",
        "--answer",
        "0",
        "--sector",
        "food",
        "-k",
        "governor-1",
    )
    number = added["result"]["number"]
    shown = run("gears", "questions", "silent")
    assert shown["sector"] == "food" and shown["pool"] == [1_000_000 + number]
    assert [q["question"] for q in shown["questions"]] == [1] and "approved" not in shown["questions"][0]
    assert run("gears", "questions")["bank"][0]["sector"] == "food"
    run("gears", "test", "start", "silent", "-k", "ann")
    drawn = run("gears", "test", "draw", "silent", "--voter", "ann", "-k", "ann")["result"]
    if not drawn["drawn"]:  # IN6: the first made the signed head the draw needs
        drawn = run("gears", "test", "draw", "silent", "--voter", "ann", "-k", "ann")["result"]
    assert [q["question"] for q in drawn["questions"]] == [1_000_000 + number]
    assert run("gears", "test", "answer", "silent", "0", "-k", "ann")["result"]["passed"]
    assert run("gears", "vote", "silent", "detrimental", "-k", "ann")["result"]["value"] == -1
    # the council moves the company to another sector, retires, approves: each by its quorum
    run("gears", "sector", "silent", "bakery", "-k", "governor-1")
    run("gears", "retire-question", str(number), "-k", "governor-1")
    run("gears", "approve", "silent", "1", "-k", "governor-1")
    assert run("gears", "questions", "silent")["pool"] == [1]
    assert civic.json("verify")["ok"]
