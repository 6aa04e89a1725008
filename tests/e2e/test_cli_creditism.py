"""`civic creditism` end to end: the bicycle chain, the report, the price with its pie chart, two
coops compared, a pre-order, production, and refusals that name their rule and write nothing."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import Civic


def test_creditism_cli_bicycle_story(civic: Civic, tmp_path: Path) -> None:
    (tmp_path / "economy.toml").write_text('[economy]\nname = "Bike Town"\n')
    civic("init", "economy.toml")
    k = ("-k", "governor-1")
    civic(
        "creditism",
        "define",
        "steel",
        "--kind",
        "finite",
        "--unit",
        "kg",
        "--total-supply",
        "100000000",
        "--age",
        "1000",
        "--labour",
        "200",
        "--external",
        "50",
        *k,
    )
    civic(
        "creditism",
        "define",
        "rubber",
        "--kind",
        "renewable",
        "--unit",
        "kg",
        "--rejuvenation",
        "100000",
        "--mortality",
        "20000",
        "--labour",
        "300",
        *k,
    )
    civic(
        "creditism",
        "define",
        "plastic",
        "--kind",
        "finite",
        "--unit",
        "kg",
        "--total-supply",
        "2000000",
        "--age",
        "50",
        "--labour",
        "100",
        *k,
    )
    assessed = civic.json("creditism", "assess", "steel", "--factor", "oxygen:1:10000:4000:100", *k)
    assert assessed["result"]["score"] == "61/100"
    civic("creditism", "assess", "rubber", "--factor", "forest:1:10000:15000:100", *k)
    shown = civic.json("creditism", "show", "rubber")
    assert shown["factors"] == [{"name": "forest", "weight": "1", "score": "0", "raw": "-49/100"}]
    assert "before clamping -0.49" in civic("creditism", "show", "rubber").stdout
    for name, demand, allot in (("steel", "4000", "5000"), ("rubber", "2000", "2000"), ("plastic", "1500", "1000")):
        civic("creditism", "survey", name, "--demand", demand, *k)
        civic("creditism", "allot", name, "--amount", allot, *k)
    civic(
        "creditism",
        "define",
        "bicycle",
        "--kind",
        "good",
        "--unit",
        "piece",
        "--labour",
        "5000",
        "--council-markup",
        "1/10",
        "-i",
        "steel=5",
        "-i",
        "rubber=2",
        "-i",
        "plastic=1",
        *k,
    )
    civic("creditism", "assess", "bicycle", "--good-factor", "co2:1:1000:60000:50000", *k)
    civic("creditism", "survey", "bicycle", "--demand", "800", *k)
    allotted = civic.json("creditism", "allot", "bicycle", *k)
    assert allotted["result"]["allotted"] == "900"  # capability 1,000 x (1 - 0.1)

    report = civic.json("creditism", "report")
    assert {r["asset"]: r["rating"] for r in report["resources"]} == {"plastic": "3/2", "rubber": "1", "steel": "4/5"}
    assert report["goods"][0]["capability"] == "1000"
    assert "allowance rating" in civic("creditism", "report").stdout

    for coop in ("green", "city"):
        civic("keys", "new", coop)
        civic("account", "open", "--key", coop, "--kind", "organization")
    civic(
        "creditism", "apply", "green-bike", "--good", "bicycle", "--labour", "4000", "--markup", "1/20", "-k", "green"
    )
    civic("creditism", "apply", "city-bike", "--good", "bicycle", "--labour", "6000", "--markup", "1/10", "-k", "city")
    civic("creditism", "approve", "green-bike", "--allotted", "500", *k)
    civic("creditism", "approve", "city-bike", "--allotted", "400", *k)

    chart = tmp_path / "bike.png"
    price = civic.json("creditism", "price", "bicycle", "--chart", str(chart))
    assert sum(price["components"].values()) == price["price"]
    table = civic("creditism", "price", "bicycle").stdout  # major units in the table, minor in --json (X3)
    whole, cents = divmod(price["price"], 100)
    assert f"{whole:,}.{cents:02d}" in table and "minor units" not in table
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    compared = civic.json("creditism", "compare", "bicycle")
    assert [c["application"] for c in compared["coops"]] == ["city-bike", "green-bike"]

    ada = civic.json("keys", "new", "ada")["account"]
    civic("account", "open", "--key", "ada")
    civic("keys", "new", "fund")
    civic("account", "open", "--key", "fund", "--kind", "fund")
    civic("ledger", "create-currency", "xi", "--key", "fund", "--name", "bike bonds")
    civic("ledger", "issue", "xi", ada, "1000000000", "--key", "fund")
    order = civic.json("creditism", "pre-order", "green-bike", "50", "-k", "ada", "--currency", "xi")
    assert order["result"]["ratio"] == "1/10"
    rest = civic.json("creditism", "pre-order", "green-bike", "450", "-k", "ada", "--currency", "xi")
    assert rest["result"]["ratio"] == "1"
    declared = civic.json(
        "creditism",
        "produce",
        "green-bike",
        "-k",
        "green",
        "--produced",
        "10",
        "--sold",
        "10",
        "--revenue",
        "100000000",
        check=4,
    )
    assert declared["rule"] == "IN1"  # rules 2: sales are not declared
    produced = civic.json("creditism", "produce", "green-bike", "-k", "green", "--produced", "500")
    assert produced["result"]["delivered"] == 500
    assert produced["result"]["paid"] == order["result"]["total"] + rest["result"]["total"]
    assert produced["result"]["coop_credits"] > 0

    before = civic.json("creditism", "report")
    refused = civic.json("creditism", "allot", "plastic", "--amount", "999999", *k, check=4)
    assert refused["rule"] == "CR6" and "over-allotment" in refused["message"]
    refused = civic.json(
        "creditism", "define", "car", "--kind", "good", "--unit", "piece", "-i", "unobtainium=1", *k, check=3
    )
    assert refused["rule"] == "CR7"
    refused = civic.json(
        "creditism", "assess", "rubber", "--factor", "a:1/2:10:5:1", "--factor", "b:1/3:10:5:1", *k, check=2
    )
    assert refused["rule"] == "CR4"
    assert civic.json("creditism", "report") == before
