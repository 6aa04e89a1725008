"""Sweeps: every parameter set of a scenario's grid times an explicit list of seeds.

Each run is independent and writes its own Parquet file (``run-<set>-seed-<seed>.parquet``) as
soon as it ends, so a sweep of thousands of runs holds one run's rows in memory at a time, and an
interrupted sweep keeps what it finished (``skip_existing`` resumes it). The rows are tidy: one
per run, recorded step and parameter set, with the parameter values as columns.

Runs go to local processes (``concurrent.futures.ProcessPoolExecutor``, the default) or to a Ray
cluster (``engine="ray"``). A run depends only on its scenario and its seed, so the files are
identical whichever engine made them.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from civicledger.sim.model import Model
from civicledger.sim.scenario import ParameterSet, Scenario, grid
from civicledger.sim.sector import Row

ENGINES = ("local", "ray")
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True, slots=True)
class Task:
    point: ParameterSet
    seed: int
    path: str
    modules: tuple[str, ...] = ()


def run_file_name(point: int, seed: int) -> str:
    return f"run-{point:04d}-seed-{seed}.parquet"


def table_of(point: ParameterSet, seed: int, rows: list[Row]) -> pa.Table:
    """The tidy table of one run: its rows with run, seed and parameter columns first."""
    run_id = f"{point.index:04d}-{seed}"
    extra: dict[str, object] = {"run": run_id, "seed": seed, "param_set": point.index, "param_label": point.label}
    for key, value in point.values:
        extra[f"param.{key}"] = str(value)
    columns: dict[str, list[object]] = {k: [v] * len(rows) for k, v in extra.items()}
    for key in rows[0] if rows else ():
        columns[key] = [r[key] for r in rows]
    return pa.table(columns)


def run_task(task: Task) -> tuple[str, int]:
    """Run one (parameter set, seed) and write its Parquet file; returns (path, rows)."""
    for module in task.modules:
        importlib.import_module(module)  # registers a researcher's behaviours in this process
    rows = Model(task.point.scenario, seed=task.seed).run()
    table = table_of(task.point, task.seed, rows)
    tmp = task.path + ".part"
    pq.write_table(table, tmp)
    os.replace(tmp, task.path)  # a file is either whole or absent
    return task.path, len(rows)


def tasks(scenario: Scenario, out: Path, seeds: Sequence[int] | None = None, modules: Sequence[str] = ()) -> list[Task]:
    chosen = tuple(seeds) if seeds else scenario.seeds
    return [
        Task(point, seed, str(out / run_file_name(point.index, seed)), tuple(modules))
        for point in grid(scenario)
        for seed in chosen
    ]


def sweep(
    scenario: Scenario,
    out: Path,
    *,
    seeds: Sequence[int] | None = None,
    engine: str = "local",
    workers: int | None = None,
    progress: Progress | None = None,
    skip_existing: bool = False,
    modules: Sequence[str] = (),
) -> list[str]:
    """Run the grid times the seeds and return the Parquet files written (in task order)."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    out.mkdir(parents=True, exist_ok=True)
    todo = tasks(scenario, out, seeds, modules)
    done = [t for t in todo if skip_existing and Path(t.path).exists()]
    left = [t for t in todo if t not in done]
    total, finished = len(todo), len(done)
    if progress:
        progress(finished, total, "")
    workers = max(1, workers or (os.cpu_count() or 1))
    count = [finished]

    def tick(path: str) -> None:
        count[0] += 1
        if progress:
            progress(count[0], total, path)

    (_local if engine == "local" else _ray)(left, workers, tick)
    return [t.path for t in todo]


def _local(todo: list[Task], workers: int, finished: Callable[[str], None]) -> None:
    if not todo:
        return
    if workers == 1:
        for t in todo:
            finished(run_task(t)[0])
        return
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        running: set[Future[tuple[str, int]]] = set()
        queue = list(todo)
        while queue or running:
            while queue and len(running) < 2 * workers:
                running.add(pool.submit(run_task, queue.pop(0)))
            ready, running = wait(running, return_when=FIRST_COMPLETED)
            for f in ready:
                finished(f.result()[0])


def _ray(todo: list[Task], workers: int, finished: Callable[[str], None]) -> None:
    import ray

    started = False
    if not ray.is_initialized():
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        started = True
    try:
        remote = ray.remote(run_task)
        refs = [remote.remote(t) for t in todo]
        while refs:
            ready, refs = ray.wait(refs, num_returns=1)
            for ref in ready:
                finished(ray.get(ref)[0])
    finally:
        if started:
            ray.shutdown()
