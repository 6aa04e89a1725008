"""`civic sim run|sweep|report` end to end, and a bad scenario that runs nothing."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tests.e2e.conftest import Civic

SCENARIO = """\
[scenario]
name = "tiny"
steps = 6
seeds = [1, 2]

[population]
persons = 200
companies = 4
sybils = 10
sybil_attack_edges = 2

[sweep.policy.circles]
growth = ["2%", "5%"]
"""

BAD = """\
[scenario]
name = "bad"
steps = -1

[population]
persons = 100
haircolour = "red"

[behaviours]
payments = "telepathy"
"""


def test_sim_run_sweep_and_report(civic: Civic, tmp_path: Path) -> None:
    path = tmp_path / "tiny.toml"
    path.write_text(SCENARIO)
    ran = civic.json("sim", "run", str(path), "--seed", "3", "--out", str(tmp_path / "one"))
    assert ran["rows"] == 6 and Path(ran["file"]).exists()
    swept = civic.json("sim", "sweep", str(path), "--out", str(tmp_path / "many"), "--workers", "2")
    assert swept["runs"] == 4 and swept["parameter_sets"] == 2 and swept["seeds"] == [1, 2]
    frame = pd.concat([pd.read_parquet(f) for f in swept["files"]])
    assert len(frame) == 4 * 6
    human = civic("sim", "sweep", str(path), "--out", str(tmp_path / "many"), "--resume", "--seeds", "1,2")
    assert "4 runs" in human.stdout
    report = civic.json("sim", "report", str(tmp_path / "many"))
    page = Path(report["report"]).read_text()
    assert "<h2>Differences from the baseline</h2>" in page
    assert page.count("<img") == 7 + page.count("<h2>Differences from the baseline</h2>\n<img")
    assert len(report["runs"]) == 4


def test_a_bad_scenario_lists_every_problem_with_its_line_and_runs_nothing(civic: Civic, tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(BAD)
    out = tmp_path / "never"
    body = civic.json("sim", "sweep", str(path), "--out", str(out), check=2)
    lines = {p["line"] for p in body["problems"]}
    assert {3, 7, 10} <= lines, body
    assert not out.exists()
    human = civic("sim", "run", str(path), "--out", str(out), check=2)
    assert "line 10" in human.stderr and "telepathy" in human.stderr
    assert not out.exists()


def test_a_scenario_that_is_not_toml_names_the_line(civic: Civic, tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[scenario]\nsteps = 3\nname = \n")
    body = civic.json("sim", "run", str(path), check=2)
    assert body["problems"][0]["line"] == 3


def test_x09_sim_the_keyloss_example_runs_and_reports_income_lost_with_and_without_guardians(
    civic: Civic, tmp_path: Path
) -> None:
    example = Path(__file__).parents[2] / "examples" / "keyloss.toml"
    ran = civic.json("sim", "run", str(example), "--seed", "1", "--out", str(tmp_path / "one"))
    assert ran["rows"] == 104
    report = civic.json("sim", "report", str(tmp_path / "one"))
    page = Path(report["report"]).read_text()
    assert "What lost keys cost (X9)" in page and page.count("<img") == 9  # and demurrage, income lost
    lines = {row["guardians"]: row for row in report["key_loss"]}
    assert lines[True]["keys_lost"] > 0 and lines[False]["keys_lost"] > 0
    assert lines[False]["income_lost_per_person"] > 1_000 * lines[True]["income_lost_per_person"] > 0
    assert lines[False]["holdings_frozen"] > 0 == lines[True]["holdings_frozen"]
    human = civic("sim", "report", str(tmp_path / "one"))
    assert "lost keys without guardians (X9" in human.stdout


def test_sim_copies_the_scenario_into_the_results_and_the_report_names_it(civic: Civic, tmp_path: Path) -> None:
    path = tmp_path / "tiny.toml"
    path.write_text(SCENARIO)
    civic.json("sim", "run", str(path), "--seed", "3", "--out", str(tmp_path / "one"))
    assert (tmp_path / "one" / "scenario.toml").read_text() == SCENARIO
    report = civic.json("sim", "report", str(tmp_path / "one"))
    page = Path(report["report"]).read_text()
    assert "<title>Simulation report: tiny</title>" in page and str(path) in page
    assert "each line is one run" in page and "mean over" not in page
    finals = {row["metric"]: row for row in report["final"]}
    frame = pd.read_parquet(tmp_path / "one" / "run-0000-seed-3.parquet")
    assert finals["supply_circles"]["min"] == finals["supply_circles"]["max"] == frame["supply_circles"].iloc[-1]
    assert finals["supply_circles"]["seeds"] == 1


def test_sim_sweep_resume_refuses_a_folder_of_another_scenario(civic: Civic, tmp_path: Path) -> None:
    path, other = tmp_path / "tiny.toml", tmp_path / "other.toml"
    path.write_text(SCENARIO.replace("steps = 6", "steps = 2"))
    other.write_text(SCENARIO.replace("steps = 6", "steps = 3"))
    civic.json("sim", "sweep", str(path), "--out", str(tmp_path / "many"), "--seeds", "1", "--workers", "1")
    body = civic.json("sim", "sweep", str(other), "--out", str(tmp_path / "many"), "--resume", check=2)
    assert "another scenario" in str(body)
    assert (tmp_path / "many" / "scenario.toml").read_text() == path.read_text()


def test_the_country_example_answers_what_farmers_do_to_grades_region_by_region(civic: Civic, tmp_path: Path) -> None:
    """examples/country.toml at a tiny size (``--set``): the report's regions table and its sentence."""
    example = Path(__file__).resolve().parents[2] / "examples" / "country.toml"
    tiny = ["--set", "population.persons=400", "--set", "scenario.steps=6", "--set", "scenario.record_every=2"]
    ran = civic.json("sim", "run", str(example), "--out", str(tmp_path / "one"), *tiny)
    assert ran["persons"] == 400 and ran["steps"] == 6
    row = pd.read_parquet(ran["file"]).iloc[-1]
    assert sum(row[f"region_{r}_persons"] for r in ("capital", "north", "coast", "hills")) == 400
    assert "--set" in (tmp_path / "one" / "scenario.toml").read_text()  # the report quotes what ran
    swept = civic.json("sim", "sweep", str(example), "--out", str(tmp_path / "many"), "--workers", "2", *tiny)
    assert swept["runs"] == 4
    page = Path(civic.json("sim", "report", str(tmp_path / "many"))["report"]).read_text()
    assert "<h2>Regions</h2>" in page and "whole country" in page and "<h2>Mean grade by region</h2>" in page
    assert "With parameters.farmer_share=0.05, the mean grade of persons holding credits moves by +" in page
    bad = civic("sim", "run", str(example), "--set", "regions.shares=[0.5, 0.5]", check=2)
    assert "one value per region" in bad.stdout + bad.stderr
