"""`civic sim run --partitions N --engine ray|local`: one run over partitions, the same Parquet rows
as one process; what is not partitioned yet is refused by name and nothing runs."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest

from tests.e2e.conftest import Civic

SCENARIO = """\
[scenario]
name = "split"
steps = 12
record_every = 4
seeds = [2]

[population]
persons = 1500
companies = 6
resources = 2
groups = 3

[parameters]
pledge_rate = 0.01
second_chance_rate = 0.01
"""


@pytest.mark.parametrize("engine", ["local", "ray"])
def test_sim_run_over_partitions_writes_the_single_process_rows(civic: Civic, tmp_path: Path, engine: str) -> None:
    if engine == "ray":
        pytest.importorskip("ray")
    path = tmp_path / "split.toml"
    path.write_text(SCENARIO)
    one = civic.json("sim", "run", str(path), "--out", str(tmp_path / "one"))
    split = civic.json(
        "sim", "run", str(path), "--out", str(tmp_path / "split"), "--partitions", "2", "--engine", engine
    )
    assert split["partitions"] == 2 and split["rows"] == one["rows"] == 4
    single, parted = pq.read_table(one["file"]), pq.read_table(split["file"])
    assert parted.replace_schema_metadata(None).equals(single.replace_schema_metadata(None))  # all but `created`


def test_what_is_not_partitioned_is_refused_and_nothing_runs(civic: Civic, tmp_path: Path) -> None:
    path = tmp_path / "fakes.toml"
    path.write_text(SCENARIO.replace("resources = 2", "resources = 2\nsybils = 20"))
    out = tmp_path / "never"
    human = civic("sim", "run", str(path), "--out", str(out), "--partitions", "2", check=2)
    assert "fake accounts" in human.stderr and "partitioned" in human.stderr
    assert not out.exists()


def test_sim_run_on_one_or_two_threads_writes_the_same_rows(civic: Civic, tmp_path: Path) -> None:
    """`--threads N`: the run's threads (``sim.threads``) change how fast, never the rows; a
    partitioned run's partitions take one thread each, so more is refused."""
    path = tmp_path / "threads.toml"
    path.write_text(SCENARIO)
    one = civic.json("sim", "run", str(path), "--out", str(tmp_path / "one"), "--threads", "1")
    two = civic.json("sim", "run", str(path), "--out", str(tmp_path / "two"), "--threads", "2")
    assert (one["threads"], two["threads"]) == (1, 2) and one["rows"] == two["rows"] == 4
    single, threaded = pq.read_table(one["file"]), pq.read_table(two["file"])
    assert threaded.replace_schema_metadata(None).equals(single.replace_schema_metadata(None))
    for bad in (["--threads", "0"], ["--threads", "2", "--partitions", "2"]):
        out = tmp_path / "never"
        human = civic("sim", "run", str(path), "--out", str(out), *bad, check=2)
        assert "--threads" in human.stderr
        assert not out.exists()
