"""Sweeps: one Parquet file per run, tidy rows loadable in pandas and polars, same on every engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pyarrow.parquet as pq
import pytest

from civicledger.sim import parse_scenario
from civicledger.sim.report import write_report
from civicledger.sim.sweep import sweep

SCENARIO: dict[str, Any] = {
    "scenario": {"steps": 12, "seeds": [1, 2], "record_every": 3},
    "population": {"persons": 300, "companies": 5, "sybils": 20, "sybil_attack_edges": 2},
    "sweep": {"policy": {"circles": {"growth": ["2%", "5%"]}}},
}


def tables(files: list[str]) -> list[Any]:
    return [pq.read_table(f) for f in files]


def test_a_sweep_writes_one_tidy_parquet_file_per_run_for_pandas_and_polars(tmp_path: Path) -> None:
    scenario = parse_scenario(SCENARIO)
    seen: list[int] = []
    files = sweep(scenario, tmp_path / "out", workers=1, progress=lambda done, total, _p: seen.append(done))
    assert len(files) == 4 and seen[-1] == 4
    frame = pd.concat([pd.read_parquet(f) for f in files])
    assert len(frame) == 4 * 5  # steps 0, 3, 6, 9 and the last, 11
    assert set(frame["param.policy.circles.growth"]) == {0.02, 0.05}  # the ratio "2%", typed
    assert set(frame["param_label"]) == {"policy.circles.growth=2%", "policy.circles.growth=5%"}
    assert frame.groupby(["run", "step"]).size().max() == 1  # one row per run and step
    polars = pl.read_parquet(str(tmp_path / "out" / "*.parquet"))
    assert polars.height == 20 and {
        "supply_circles",
        "gini_holdings",
        "fund_balance",
        "delta_median",
        "grade_2",
        "allowance_max",
        "sybil_units_at_honest",
    } <= set(polars.columns)
    report = write_report(tmp_path / "out", tmp_path / "report.html")
    page = report.read_text()
    assert "<h2>Differences from the baseline</h2>" in page  # a plot of what differs, the names of the rest
    differ = page.count("<h2>Differences from the baseline</h2>\n<img")
    assert page.count("data:image/png;base64,") == 7 + differ


def test_processes_give_the_same_files_as_one_process_and_resume_skips_done_runs(tmp_path: Path) -> None:
    scenario = parse_scenario(SCENARIO)
    serial = sweep(scenario, tmp_path / "a", workers=1)
    parallel = sweep(scenario, tmp_path / "b", workers=2)
    assert [t.equals(u) for t, u in zip(tables(serial), tables(parallel), strict=True)] == [True] * 4
    Path(parallel[0]).unlink()
    again: list[str] = []
    sweep(scenario, tmp_path / "b", workers=1, skip_existing=True, progress=lambda d, t, p: again.append(p))
    assert [p for p in again if p] == [parallel[0]]


def test_ray_gives_the_same_files_as_local_processes(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    scenario = parse_scenario(SCENARIO)
    local = sweep(scenario, tmp_path / "local", workers=1)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        remote = sweep(scenario, tmp_path / "ray", engine="ray")
    finally:
        ray.shutdown()
    assert [t.equals(u) for t, u in zip(tables(local), tables(remote), strict=True)] == [True] * 4
