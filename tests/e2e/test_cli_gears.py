"""`civic gears` end to end: setup, companies, the test, votes, the Widget Co sale, the report
with its chart, and refusals that name their rule and write nothing."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import Civic

POLICY = """
[economy]
name = "Gearsville"

[gears]
test_questions = 1
test_pass_mark = 1
vote_reward = 10
"""


def test_gears_cli_widget_co_sale_report_chart_and_refusals(civic: Civic, tmp_path: Path) -> None:
    (tmp_path / "economy.toml").write_text(POLICY)
    civic("init", "economy.toml")
    ids = {n: civic.json("keys", "new", n)["account"] for n in ("fund", "widget", "other", "ann", "buyer")}
    civic("account", "open", "--key", "fund", "--kind", "fund")
    for firm in ("widget", "other"):
        civic("account", "open", "--key", firm, "--kind", "organization")
    for person in ("ann", "buyer"):
        civic("account", "open", "--key", person)
        civic("account", "attest", ids[person], "--human", f"evidence-of-{person}")
    civic("ledger", "create-currency", "xi", "--key", "fund", "--name", "ethicap")
    civic("ledger", "issue", "xi", ids["buyer"], "100000", "--key", "fund")
    civic("ledger", "issue", "xi", ids["fund"], "100000", "--key", "fund")
    civic("gears", "setup", "--fund", "fund", "-k", "governor-1")
    for firm in ("widget", "other"):
        civic("gears", "register", "-k", firm)
        civic("gears", "statement", "1", f"{firm} sells to local shops.", "-k", firm)
        civic("gears", "question", "What do we make?", "--choice", "bread", "--choice", "widgets", "--answer", "1",
              "-k", firm)
    civic("gears", "sell", "1000", "--buyer", "buyer", "--seller", "widget")
    civic("gears", "sell", "2000", "--buyer", "buyer", "--seller", "other")

    refused = civic.json("gears", "vote", "widget", "beneficial", "-k", "ann", check=4)
    assert refused["rule"] == "GR3"
    for firm, value in (("widget", "beneficial"), ("other", "neutral")):
        drawn = civic.json("gears", "test", "start", firm, "-k", "ann")
        assert len(drawn["result"]["questions"]) == 1
        assert civic.json("gears", "test", "answer", firm, "1", "-k", "ann")["result"]["passed"]
        civic("gears", "vote", firm, value, "-k", "ann")
    assert civic.json("account", "show", ids["ann"])["balances"] == {"xi": 20}

    snapshot = civic.json("gears", "publish", "-k", "ann")
    assert snapshot["result"]["version"] == 1
    sale = civic.json("gears", "sell", "100", "--buyer", "buyer", "--seller", "widget")
    assert sale["result"]["seller_receives"] == 120 and sale["result"]["fund_pays"] == 20
    civic("gears", "publish", "-k", "ann")

    report = civic.json("gears", "report", "--chart", "delta.png", "--company", "widget")
    rows = {r["company"]: r for r in report["companies"]}
    # recomputed after the ξ100 sale: G = 13,200 and 24,000, S = 11/31, delta = 30 (1 - 11/31) = 600/31
    assert rows[ids["widget"]]["delta"] == "600/31" and rows[ids["other"]]["delta"] == "-330/31"
    assert report["average"] == "11/31" and report["imbalance"] == "0/1"
    assert report["chart"]["points"] == 2
    assert (tmp_path / "delta.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    human = civic("gears", "report")
    assert "19.3548" in human.stdout and "fund" in human.stdout

    before = civic.json("verify")["entries"]
    too_long = civic.json("gears", "statement", "2", "x" * 201, "-k", "widget", check=2)
    assert too_long["rule"] == "GR2"
    bad_vote = civic.json("gears", "vote", "widget", "2", "-k", "ann", check=2)
    assert bad_vote["rule"] == "GR4"
    unknown = civic.json("gears", "sell", "100", "--buyer", "buyer", "--seller", "ann", check=3)
    assert unknown["rule"] == "GR1"
    after = civic.json("verify")
    assert after["ok"] and after["entries"] == before
