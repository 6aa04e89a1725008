"""The attackers of SPEC IN played by the simulator at scale (``examples/attackers.toml``), and
``civic sim report`` saying what each gained: under rule version 2 nobody gains; with the rules as
version 1 had them, the participation farmer (IN2) and the draw grinder (IN6) do, which shows the
report would see a gain. Order splitters (IN5) and revenue inflators (IN1) are measured against
version 1's prices and credits in every run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).parent.parent.parent / "examples" / "attackers.toml"


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], bool]:
    out = tmp_path_factory.mktemp("attackers")
    env = {**os.environ, "COLUMNS": "200"}
    run = [sys.executable, "-m", "civicledger"]
    subprocess.run([*run, "sim", "sweep", str(EXAMPLE), "--out", str(out)], check=True, env=env, capture_output=True)
    report = subprocess.run(
        [*run, "--json", "sim", "report", str(out)], check=True, env=env, capture_output=True, text=True
    )
    data = json.loads(report.stdout)
    page = (out / "report.html").read_text()
    table = page.split("<h2>What attackers gained</h2>")[1].split("</table>")[0]
    assert table.count("<tr>") == len(data["attacks"]) + 1
    return {(a["attack"], a["param_label"]): a["gains_nothing"] for a in data["attacks"]}


V1 = "parameters.participation_caps=0.0, parameters.grind_rules=1.0"
V2 = "parameters.participation_caps=1.0, parameters.grind_rules=2.0"


def test_in01_a_revenue_inflating_coop_gains_nothing_in_the_simulator(outcomes: dict[tuple[str, str], bool]) -> None:
    assert outcomes[("revenue inflator", V1)] and outcomes[("revenue inflator", V2)]


def test_in02_participation_farmers_gain_under_version_1_and_nothing_under_version_2(
    outcomes: dict[tuple[str, str], bool],
) -> None:
    assert not outcomes[("participation farmer", V1)]
    assert outcomes[("participation farmer", V2)]


def test_in05_an_order_splitter_gains_nothing_in_the_simulator(outcomes: dict[tuple[str, str], bool]) -> None:
    assert outcomes[("order splitter", V1)] and outcomes[("order splitter", V2)]


def test_in06_draw_grinders_gain_under_version_1_and_nothing_under_version_2(
    outcomes: dict[tuple[str, str], bool],
) -> None:
    assert not outcomes[("draw grinder", V1)]
    assert outcomes[("draw grinder", V2)]


def test_in01_in02_in05_in06_the_sim_report_names_every_attacker(outcomes: dict[tuple[str, str], bool]) -> None:
    assert {attack for attack, _ in outcomes} == {
        "order splitter",
        "revenue inflator",
        "participation farmer",
        "draw grinder",
    }
