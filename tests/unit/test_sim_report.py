"""The simulation report a researcher can publish: what made it, final values, honest plots.

The header names the scenario, its file, parameters, seeds, release and rule version (IN8); bands
appear only where a parameter set ran several seeds; parameter sets have distinct colour-blind-safe
colours and legends outside the data; amounts are major units formatted from exact minor units
(X3); the table of final values is the data's; Parquet parameter columns are typed.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import matplotlib
import pandas as pd
import pyarrow.parquet as pq
import pytest

from civicledger.kernel.money import format_units
from civicledger.kernel.rules import LATEST_RULES
from civicledger.sim import parse_scenario
from civicledger.sim.report import (
    PALETTE,
    PLOTS,
    Results,
    colour,
    currencies,
    differences,
    figure,
    final_values,
    load,
    run_infos,
    unchanged,
    write_report,
)
from civicledger.sim.sweep import SCENARIO_COPY, copy_scenario, release, sweep

matplotlib.use("Agg")
import matplotlib.pyplot as plt

TOML = """\
# Two growth rates and two population sizes, for the report's tests.
[scenario]
name = "report-test"
description = "A small town for the report's tests."
steps = 8
record_every = 2
seeds = [1, 2]

[population]
persons = 150
companies = 4
sybils = 10
sybil_attack_edges = 2

[parameters]
pay_share = 0.25

[sweep.policy.circles]
growth = ["5%", "2%"]

[sweep.parameters]
vote_rate = [0.02, 0.05]
"""


def _sweep(folder: Path, text: str, seeds: list[int] | None = None) -> Path:
    path = folder / "input" / "report-test.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    source = copy_scenario(path, folder / "out")
    sweep(parse_scenario(tomllib.loads(text)), folder / "out", seeds=seeds, workers=1, provenance=source)
    return folder / "out"


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _sweep(tmp_path_factory.mktemp("swept"), TOML)


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> Path:
    one = TOML.replace("seeds = [1, 2]", "seeds = [7]").split("[sweep")[0]
    return _sweep(tmp_path_factory.mktemp("single"), one)


def test_the_scenario_file_is_copied_into_the_results_folder_byte_for_byte(swept: Path) -> None:
    copy = swept / SCENARIO_COPY
    assert copy.read_text() == TOML
    info = run_infos(swept)[0]
    assert info.scenario_file.endswith("report-test.toml") and len(info.scenario_sha256) == 64


def test_a_resumed_sweep_refuses_a_folder_holding_another_scenario(tmp_path: Path) -> None:
    first, second = tmp_path / "a.toml", tmp_path / "b.toml"
    first.write_text(TOML)
    second.write_text(TOML.replace("persons = 150", "persons = 160"))
    copy_scenario(first, tmp_path / "out")
    copy_scenario(first, tmp_path / "out", keep=True)  # the same file: fine
    with pytest.raises(ValueError, match="another scenario"):
        copy_scenario(second, tmp_path / "out", keep=True)
    copy_scenario(second, tmp_path / "out")  # a new sweep into the folder replaces the copy
    assert (tmp_path / "out" / SCENARIO_COPY).read_text() == second.read_text()


def test_parquet_parameter_columns_are_typed_and_every_file_says_what_made_it(swept: Path) -> None:
    files = sorted(swept.glob("*.parquet"))
    assert len(files) == 8  # 2 x 2 parameter sets x 2 seeds
    schema = pq.read_schema(files[0])
    assert str(schema.field("param.policy.circles.growth").type) == "double"  # "5%" -> 0.05
    assert str(schema.field("param.parameters.vote_rate").type) == "double"
    assert str(schema.field("seed").type) == "int64" and str(schema.field("param_set").type) == "int64"
    frame = pd.concat([pd.read_parquet(f) for f in files])
    assert frame["param.policy.circles.growth"].dtype == "float64"
    assert set(frame["param.policy.circles.growth"]) == {0.05, 0.02}
    assert set(frame["param.parameters.vote_rate"]) == {0.02, 0.05}
    info = run_infos(swept)[0]
    assert (info.scenario, info.rules, info.civicledger_version) == ("report-test", LATEST_RULES, release())
    assert (info.circles_decimals, info.economy_decimals) == (2, 2)


def test_whole_number_axes_are_int64_and_text_axes_strings(tmp_path: Path) -> None:
    text = TOML.split("[sweep")[0] + '[sweep.population]\npersons = [120, 150]\n[sweep.behaviours]\nvotes = ["none"]\n'
    out = _sweep(tmp_path, text, seeds=[1])
    schema = pq.read_schema(sorted(out.glob("*.parquet"))[0])
    assert str(schema.field("param.population.persons").type) == "int64"
    assert str(schema.field("param.behaviours.votes").type) == "string"


def test_the_header_says_scenario_file_parameters_seeds_versions_and_dates(swept: Path, tmp_path: Path) -> None:
    page = write_report(swept, tmp_path / "report.html").read_text()
    info = run_infos(swept)[0]
    assert "<title>Simulation report: report-test</title>" in page
    assert "A small town for the report&#x27;s tests." in page
    assert info.scenario_file in page and info.scenario_sha256 in page and SCENARIO_COPY in page
    for label in ("policy.circles.growth=5%, parameters.vote_rate=0.02", "policy.circles.growth=2%"):
        assert label in page
    assert "the first, policy.circles.growth=5%, parameters.vote_rate=0.02, is the baseline" in page
    assert "1, 2 (2 per parameter set; 8 runs)" in page
    assert f"<th>civicledger</th><td>{release()}</td>" in page
    assert re.search(rf"<th>rule version</th><td>{LATEST_RULES} <small>", page)
    assert "<th>runs made</th>" in page and "<th>report written</th>" in page
    assert "8 steps of 7 days from 2030-01-01" in page
    assert "<th>parameters.pay_share</th><td>0.25</td>" in page  # a base parameter as the file sets it
    assert "The scenario file</summary><pre># Two growth rates" in page
    assert "lines are the mean over a parameter set&#x27;s seeds, shaded bands" in page
    text = re.sub(r"base64,[^']*", "", page)
    assert not re.search(r"\d minor units|\b\d(\.\d+)?e[+-]?\d+\b", text)  # no amount in minor units, none as 1e12


def test_a_single_seed_report_speaks_of_runs_and_draws_no_bands(single: Path, tmp_path: Path) -> None:
    page = write_report(single, tmp_path / "report.html").read_text()
    assert "each line is one run (one seed per parameter set); no bands" in page
    assert "mean over" not in page and "min to max" not in page and "minimum to maximum" not in page
    assert "Differences from the baseline" not in page  # one parameter set: nothing to compare
    data = Results(load(single))
    fig = figure(plt, data, PLOTS[0], currencies(run_infos(single)))
    assert not fig.axes[0].collections  # no fill_between
    plt.close(fig)


def test_several_seeds_draw_one_band_per_parameter_set_in_its_colour(swept: Path) -> None:
    data = Results(load(swept))
    fig = figure(plt, data, PLOTS[1], currencies(run_infos(swept)))  # the Gini, one metric
    ax = fig.axes[0]
    assert len(ax.collections) == 4 and len(ax.lines) == 4
    colours = [line.get_color() for line in ax.lines]
    assert colours == [colour(s.index) for s in data.sets] and len(set(colours)) == 4
    plt.close(fig)


def test_the_palette_is_okabe_and_ito_colour_blind_safe_and_distinct() -> None:
    okabe_ito = {"#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000"}
    assert set(PALETTE) == okabe_ito and len(PALETTE) == 8
    assert len({colour(i) for i in range(8)}) == 8
    assert PALETTE[-1] == "#F0E442"  # yellow, faint on white, only for an eighth set


def test_legends_lie_outside_the_data_and_money_axes_have_no_offset(swept: Path) -> None:
    data = Results(load(swept))
    fig = figure(plt, data, PLOTS[0], currencies(run_infos(swept)))  # Circles money
    fig.canvas.draw()
    ax = fig.axes[0]
    legend, plotted = ax.get_legend().get_window_extent(), ax.get_window_extent()
    assert legend.x0 >= plotted.x1  # right of the plotting area, over no line
    assert ax.yaxis.get_offset_text().get_text() == ""  # no "1e9" above the axis
    assert ax.get_ylabel() == "CRC (major units)"
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert any(t.endswith(("k", "M")) for t in ticks), ticks
    plt.close(fig)


def test_x03_the_table_of_final_values_is_the_data_in_major_units(swept: Path, tmp_path: Path) -> None:
    frame = pd.concat([pd.read_parquet(f) for f in sorted(swept.glob("*.parquet"))])
    last = frame[frame["step"] == frame["step"].max()]
    finals = {(f.metric, f.param_set): f for f in final_values(Results(load(swept)))}
    for index, group in last.groupby("param_set"):
        for metric in ("supply_circles", "gini_holdings", "fund_balance"):
            f = finals[(metric, int(str(index)))]
            values = group[metric]
            assert f.seeds == 2
            assert float(f.mean) == pytest.approx(values.mean())
            assert f.low == values.min() and f.high == values.max()
            assert f.sd == pytest.approx(values.std(ddof=1))
    page = write_report(swept, tmp_path / "report.html").read_text()
    supply = finals[("supply_circles", 0)]
    exact = round(supply.mean)
    low, high = format_units(int(supply.low), 2), format_units(int(supply.high), 2)
    assert f"<td>{format_units(exact, 2)}<br><small>sd " in page and f"; range {low} to {high}</small>" in page
    assert "<th>all Circles money (CRC)</th>" in page


def test_a_single_seed_table_shows_the_one_value_without_spread(single: Path, tmp_path: Path) -> None:
    frame = pd.read_parquet(sorted(single.glob("*.parquet"))[0])
    value = int(frame["supply_circles"].iloc[-1])
    page = write_report(single, tmp_path / "report.html").read_text()
    assert f"<td>{format_units(value, 2)}</td>" in page
    assert "<small>sd" not in page


def test_differences_from_the_baseline_are_paired_by_seed(swept: Path, tmp_path: Path) -> None:
    data = Results(load(swept))
    found = differences(data, "supply_circles")
    assert [d.param_set for d in found] == [1, 2, 3] and all(d.seeds == 2 for d in found)
    frame = pd.concat([pd.read_parquet(f) for f in sorted(swept.glob("*.parquet"))])
    final = frame[frame["step"] == frame["step"].max()].set_index(["param_set", "seed"])["supply_circles"]
    for d in found:
        paired = [final[(d.param_set, seed)] - final[(0, seed)] for seed in (1, 2)]
        assert d.mean[-1] == pytest.approx(sum(paired) / 2)
        assert d.low[-1] == min(paired) and d.high[-1] == max(paired)
    assert any(d.mean.any() for d in differences(data, "fund_balance"))  # more votes move the fund
    assert "fund_balance" not in unchanged(data) and "supply_circles" in unchanged(data)
    page = write_report(swept, tmp_path / "report.html").read_text()
    assert "<h2>Differences from the baseline</h2>\n<img" in page
    assert re.search(r"No difference from the baseline in any run: all Circles money;[^<]*</p>", page)


def test_ci09_the_header_says_how_many_payments_each_routing_rule_carried(tmp_path: Path) -> None:
    text = TOML.replace("seeds = [1, 2]", "seeds = [3]").split("[sweep")[0] + "routed_sample = 2\nroute_share = 0.2\n"
    out = _sweep(tmp_path, text)
    table = pq.read_table(next(out.glob("*.parquet"))).to_pandas()
    last = table.sort_values("step").iloc[-1]
    flow, two_hop = int(last["routed_max_flow"]), int(last["routed_two_hop"])
    assert flow > 0 and two_hop > 0
    page = write_report(out, tmp_path / "report.html").read_text()
    expected = f"{flow:,} payments routed by max flow (engine kernel), {two_hop:,} by the two-hop rule (over 1 run)"
    assert f"<th>routed payments</th><td>{expected}" in page


def test_a_report_without_max_flow_routes_still_says_the_two_hop_rule_carried_them(
    single: Path, tmp_path: Path
) -> None:
    page = write_report(single, tmp_path / "report.html").read_text()
    assert re.search(
        r"<th>routed payments</th><td>0 payments routed by max flow \(engine kernel\), [1-9][\d,]* by", page
    )


def test_ci06_ci13_the_report_shows_revocations_and_group_payments_where_the_runs_have_them(
    swept: Path, tmp_path: Path
) -> None:
    """Trust revocation (CI6) and paying with group money (CI13): their columns in the final values
    and the revocations in the trusts' plot, only in a report of runs that have them."""
    text = TOML.replace("seeds = [1, 2]", "seeds = [3]").split("[sweep")[0]
    text = text.replace("sybil_attack_edges = 2\n", "sybil_attack_edges = 2\ngroups = 1\ngroup_share = 1.0\n")
    text += "trust_revoke_share = 0.05\ngroup_pay_share = 0.5\nconvert_share = 0.5\n"
    out = _sweep(tmp_path, text)
    finals = {f.metric: f for f in final_values(Results(load(out)))}
    assert finals["trusts_revoked"].mean > 0 and finals["group_paid_units"].mean > 0
    page = write_report(out, tmp_path / "report.html").read_text()
    assert "Trusts in force, expired and revoked" in page and "trusts revoked" in page
    assert "group money paid to members" in page
    plain = write_report(swept, tmp_path / "plain.html").read_text()
    assert "trusts revoked" not in plain and "Trusts in force, expired and revoked" not in plain
