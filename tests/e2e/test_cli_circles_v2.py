"""`civic circles invite` and holdings at their worth end to end, under the circles-v2 preset at the
newest rule version (CI15, IN4)."""

from __future__ import annotations

import json
from pathlib import Path

from civicledger.mechanisms.circles.policy import preset_mapping
from tests.e2e.conftest import Civic


def test_ci15_cli_invite_gives_the_bonus_and_burns_the_inviters_cost(civic: Civic, tmp_path: Path) -> None:
    section = {**preset_mapping("circles-v2"), "signup_units": 20_000}  # so the inviter has units at once
    lines = ["[economy]", 'name = "Hubtown"', "[circles]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in section.items()]
    (tmp_path / "economy.toml").write_text("\n".join(lines) + "\n")
    civic("init", "economy.toml")
    ids = {n: civic.json("keys", "new", n)["account"] for n in ("a", "d")}
    for name in ("a", "d"):
        civic("account", "open", "--key", name)
    civic("circles", "account", "-k", "a")
    invited = civic.json("circles", "invite", "--inviter", "a", "--invitee", "d")
    assert invited["result"]["bonus"] == 4_800 and invited["result"]["cost"] == 9_600
    assert civic.json("circles", "show", "d")["holdings"] == {ids["d"]: 20_000 + 4_800}  # signup and bonus
    assert civic.json("circles", "show", "a")["holdings"] == {ids["a"]: 20_000 - 9_600}
    assert civic.json("account", "show", ids["a"])["balances"] == {ids["a"]: 10_400}
    refused = civic.json("circles", "invite", "--inviter", "a", "--invitee", "d", check=4)
    assert refused["rule"] == "CI1"
    assert civic.json("verify")["ok"]
