"""`civic circles` end to end: join, claim, mutual trust with rewards, a routed payment through an
intermediary, query mode, a group with conversion, and refusals that name their rule."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import Civic


def test_circles_cli_income_trust_routed_payment_group_and_refusals(civic: Civic, tmp_path: Path) -> None:
    (tmp_path / "economy.toml").write_text('[economy]\nname = "Circletown"\n')
    civic("init", "economy.toml")
    ids = {n: civic.json("keys", "new", n)["account"] for n in ("a", "b", "c", "berlin")}
    for name in ("a", "b", "c"):
        civic("account", "open", "--key", name)
        joined = civic.json("circles", "account", "-k", name)
        assert joined["result"]["reserve"] == 869_625
    civic("account", "open", "--key", "berlin", "--kind", "group")

    claimed = civic.json("circles", "claim", "-k", "a")
    assert claimed["result"]["claimed"] >= 434_812
    trusted = civic.json("circles", "trust", "b", "-k", "a", "-k", "b")
    assert trusted["result"]["rewards"] == {ids["a"]: 434_812, ids["b"]: 434_812}
    civic("circles", "trust", "c", "-k", "b", "-k", "c")

    query = civic.json("circles", "route", "c", "--from", "a")
    assert query["max_flow"] >= 869_624 and query["steps"] >= 1
    paid = civic.json("circles", "pay", "c", "600000", "-k", "a")
    assert paid["result"]["paid"] == 600_000
    shown = civic.json("circles", "show", "c")
    assert sum(shown["holdings"].values()) >= 600_000

    refused = civic.json("circles", "pay", "c", "999999999", "-k", "a", check=4)
    assert refused["rule"] == "CI9"
    refused = civic.json("circles", "trust", "a", "-k", "a", check=4)
    assert refused["rule"] == "CI5"

    civic("circles", "group", "create", "--group", "berlin", "--owner", "a")
    refused = civic.json("circles", "group", "convert", "berlin", "100", "-k", "b", check=4)
    assert refused["rule"] == "CI11"
    civic("circles", "group", "add", "berlin", "b", "-k", "a")
    civic("circles", "claim", "-k", "b")
    converted = civic.json("circles", "group", "convert", "berlin", "100", "-k", "b")
    assert converted["result"]["converted"] == 100
    assert civic.json("verify")["ok"]
