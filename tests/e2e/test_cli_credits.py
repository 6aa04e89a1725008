"""`civic credits ...` end to end: enrol, adjust, explain, services, spend, refusals, draws from an export."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import Civic

POLICY = """
[economy]
name = "Creditville"
"""


def test_credits_cli_enroll_adjust_explain_spend_and_refusals(civic: Civic, tmp_path: Path) -> None:
    (tmp_path / "economy.toml").write_text(POLICY)
    civic.json("init", "economy.toml")
    ids = {n: civic.json("keys", "new", n)["account"] for n in ("alice", "tess", "clinic")}
    civic("account", "open", "--key", "alice")
    civic("account", "open", "--key", "tess")
    civic("account", "open", "--key", "clinic", "--kind", "organization")
    civic("account", "attest", ids["alice"], "--human", "passport-digest-alice")
    civic("account", "grant", ids["tess"], "technocrat", "-k", "governor-1")

    enrolled = civic.json("credits", "enroll", "alice", "--born", "2000-01-01")
    assert enrolled["events"][0]["type"] == "credits.enrolled"
    refused = civic.json(
        "credits",
        "adjust",
        "alice",
        "--steps",
        "1",
        "--days",
        "30",
        "--reason",
        "r",
        "--evidence",
        "e",
        "--technocrat",
        "alice",
        check=5,
    )
    assert refused["rule"] == "SC6"
    award = civic.json(
        "credits",
        "adjust",
        "alice",
        "--steps",
        "1",
        "--quantity",
        "500",
        "--days",
        "365",
        "--reason",
        "library volunteer",
        "--evidence",
        "https://example.org/log",
        "--technocrat",
        "tess",
    )
    adjustment = award["result"]["adjustment"]

    explained = civic.json("credits", "explain", ids["alice"])
    assert explained["available"] >= 26_000
    lot = next(lot for lot in explained["lots"] if lot["grade"] == 3)
    assert lot["units"] == 500 and lot["adjustments"][0]["id"] == adjustment
    assert lot["adjustments"][0]["deciders"] == [ids["tess"]]
    past = civic.json("credits", "explain", "alice", "--at", "2010-01-01")
    # 3,653 calendar days are 10 years of 365.2425 days and 0.575 days more: 10,001 credits
    assert past["accrued"] == 10_001 and [lot["grade"] for lot in past["lots"]] == [2]
    human = civic("credits", "explain", "alice")
    assert adjustment in human.stdout and "available" in human.stdout

    bad = civic.json(
        "credits",
        "register-service",
        "care",
        "-k",
        "clinic",
        "--category",
        "healthcare",
        "--name",
        "Care",
        "--tier",
        "basic:100:2",
        check=4,
    )
    assert bad["rule"] == "SC10"
    civic(
        "credits",
        "register-service",
        "care",
        "-k",
        "clinic",
        "--category",
        "healthcare",
        "--name",
        "Care",
        "--tier",
        "basic:100:0",
        "--tier",
        "plus:200:3",
        "--tier",
        "suite:300:5",
    )
    assert civic.json("credits", "services")[0]["essential"] is True
    spent = civic.json("credits", "spend", "care", "plus", "-k", "alice")
    assert spent["result"]["by_grade"] == {"3": 200}
    below = civic.json("credits", "spend", "care", "suite", "-k", "alice", check=4)
    assert below["rule"] == "SC10"

    late = civic.json("credits", "appeal", "no-such", "-k", "alice", "--grounds", "why", check=3)
    assert late["rule"] == "SC7"
    civic("export", "--out", "journal.jsonl")
    draws = civic.json("credits", "recompute-draws", "journal.jsonl")
    assert draws == {"ok": True, "draws": []}
    assert civic.json("verify")["ok"]
