"""Sweeps: every parameter set of a scenario's grid times an explicit list of seeds.

Each run is independent and writes its own Parquet file (``run-<set>-seed-<seed>.parquet``) as
soon as it ends, so a sweep of thousands of runs holds one run's rows in memory at a time, and an
interrupted sweep keeps what it finished (``skip_existing`` resumes it). The rows are tidy: one
per run, recorded step and parameter set, with the parameter values as typed columns (an axis of
whole numbers is ``int64``, of numbers ``float64``, of ratios such as "2%" the ratio as ``float64``;
the file's text stays in ``param_label``). Each file's metadata (key ``civicledger``) says what made
it: the scenario, its file and digest, the release and rule version, the currencies' decimals.

Runs go to local processes (``concurrent.futures.ProcessPoolExecutor``, the default) or to a Ray
cluster (``engine="ray"``). A run depends only on its scenario and its seed, so the files' rows
are identical whichever engine made them (their metadata differs only in ``created``).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from multiprocessing import get_context
from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from civicledger.kernel.ratio import Ratio
from civicledger.kernel.rules import LATEST_RULES
from civicledger.sim.model import Model
from civicledger.sim.scenario import ParameterSet, Scenario, grid
from civicledger.sim.sector import Row

ENGINES = ("local", "ray")
Progress = Callable[[int, int, str], None]
SCENARIO_COPY = "scenario.toml"
"""The name of the scenario file's copy in a results folder (``copy_scenario``)."""
METADATA_KEY = b"civicledger"


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a sweep's scenario came from: its file and the file's SHA-256 (empty when built in code)."""

    scenario_file: str = ""
    scenario_sha256: str = ""


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What made one run's file, kept in its Parquet metadata so that a report can say it (and a
    reader of the file alone can too). Amount columns are minor units; ``circles_decimals`` and
    ``economy_decimals`` say how many of them make a major unit."""

    scenario: str
    scenario_file: str
    scenario_sha256: str
    civicledger_version: str
    rules: int
    param_set: int
    param_label: str
    seed: int
    steps: int
    step_seconds: int
    start: int
    circles_decimals: int
    economy_decimals: int
    created: str

    def encode(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode("utf-8")

    @classmethod
    def decode(cls, raw: bytes) -> RunInfo | None:
        """The info of a file's metadata, or None for a file an older release wrote."""
        try:
            data = json.loads(raw)
            return cls(**{name: data[name] for name in cls.__dataclass_fields__})
        except (ValueError, KeyError, TypeError):
            return None


@dataclass(frozen=True, slots=True)
class Task:
    point: ParameterSet
    seed: int
    path: str
    modules: tuple[str, ...] = ()
    types: tuple[tuple[str, str], ...] = ()  # parameter column -> "int", "float", "ratio", "bool" or "str"
    provenance: Provenance = field(default_factory=Provenance)
    partitions: int = 1  # above 1: one run over that many partitions (``sim.partition``), same rows
    split_engine: str = "local"  # the partitions' engine: "local" (this process) or "ray" (actors)
    threads: int = 1  # a run in one process: its threads (``sim.threads``); a sweep's runs fill the cores


def release() -> str:
    """The installed civicledger's version (its package metadata, as ``civicledger.__version__``)."""
    try:
        return metadata.version("civicledger")
    except metadata.PackageNotFoundError:  # pragma: no cover - a source tree that was never installed
        return "unknown"


def copy_scenario(path: Path, out: Path, *, keep: bool = False) -> Provenance:
    """Copy a scenario file into a results folder as ``scenario.toml`` and return its provenance.

    With ``keep`` (a resumed sweep) a copy already there must be the same file: runs of two
    different scenarios in one folder would make a report that describes neither.
    """
    data = path.read_bytes()
    out.mkdir(parents=True, exist_ok=True)
    target = out / SCENARIO_COPY
    if keep and target.exists() and target.read_bytes() != data:
        raise ValueError(f"{target} holds another scenario than {path}; resume with the same file or a new --out")
    if target.resolve() != path.resolve():
        shutil.copyfile(path, target)
    return Provenance(str(path), hashlib.sha256(data).hexdigest())


def _kind(values: Sequence[object]) -> str:
    """The Parquet type of a swept key's column, from all of its values (so every file of a sweep agrees)."""
    if all(isinstance(v, bool) for v in values):
        return "bool"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "int"
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return "float"
    if all(isinstance(v, str) for v in values):
        try:
            for v in values:
                Ratio.parse(v)
        except (ValueError, ZeroDivisionError):
            return "str"
        return "ratio"
    return "str"


def parameter_types(scenario: Scenario) -> tuple[tuple[str, str], ...]:
    """Each swept key's column name and kind (see ``_kind``)."""
    return tuple((f"param.{'.'.join(path)}", _kind(values)) for path, values in scenario.sweep)


_ARROW = {"bool": pa.bool_(), "int": pa.int64(), "float": pa.float64(), "ratio": pa.float64(), "str": pa.string()}


def _typed(kind: str, value: object) -> object:
    if kind == "ratio":
        return float(Ratio.parse(value))
    if kind == "float":
        return float(value)  # type: ignore[arg-type]
    if kind == "str":
        return str(value)
    return value


def run_file_name(point: int, seed: int) -> str:
    return f"run-{point:04d}-seed-{seed}.parquet"


def table_of(
    point: ParameterSet, seed: int, rows: list[Row], types: Sequence[tuple[str, str]] = (), info: RunInfo | None = None
) -> pa.Table:
    """The tidy table of one run: its rows with run, seed and parameter columns first.

    A parameter column has the type ``types`` gives it (``parameter_types``; a key missing there
    is typed by its own value), so ``param.population.persons`` is an integer and
    ``param.policy.circles.growth`` = "2%" is 0.02.
    """
    run_id = f"{point.index:04d}-{seed}"
    kinds = dict(types)
    fields = [
        pa.field("run", pa.string()),
        pa.field("seed", pa.int64()),
        pa.field("param_set", pa.int64()),
        pa.field("param_label", pa.string()),
    ]
    extra: list[object] = [run_id, seed, point.index, point.label]
    for key, value in point.values:
        name = f"param.{key}"
        kind = kinds.get(name) or _kind([value])
        fields.append(pa.field(name, _ARROW[kind]))
        extra.append(_typed(kind, value))
    columns = [pa.array([v] * len(rows), type=f.type) for f, v in zip(fields, extra, strict=True)]
    names = [f.name for f in fields]
    keys = dict.fromkeys(key for r in rows for key in r)  # a column some rows leave out is null there
    for key in keys:
        names.append(key)
        columns.append(pa.array([r.get(key) for r in rows]))
    table = pa.Table.from_arrays(columns, names=names)
    return table.replace_schema_metadata({METADATA_KEY: info.encode()}) if info else table


def run_info(task: Task) -> RunInfo:
    """The ``RunInfo`` of a task, dated now (UTC)."""
    sc = task.point.scenario
    return RunInfo(
        scenario=sc.name,
        scenario_file=task.provenance.scenario_file,
        scenario_sha256=task.provenance.scenario_sha256,
        civicledger_version=release(),
        rules=LATEST_RULES,
        param_set=task.point.index,
        param_label=task.point.label,
        seed=task.seed,
        steps=sc.steps,
        step_seconds=sc.step,
        start=sc.start,
        circles_decimals=_circles_decimals(sc),
        economy_decimals=sc.policy.economy.currency_decimals,
        created=datetime.now(UTC).replace(microsecond=0).isoformat(),
    )


def _circles_decimals(scenario: Scenario) -> int:
    """The decimals of the personal currencies: the one mechanism section with ``decimals`` (the
    Circles policy; ``sim`` names no mechanism), else the economy's."""
    for section in scenario.policy.sections:
        decimals = getattr(section, "decimals", None)
        if isinstance(decimals, int) and not isinstance(decimals, bool):
            return decimals
    return scenario.policy.economy.currency_decimals


def run_task(task: Task) -> tuple[str, int]:
    """Run one (parameter set, seed) and write its Parquet file; returns (path, rows)."""
    for module in task.modules:
        importlib.import_module(module)  # registers a researcher's behaviours in this process
    if task.partitions > 1:
        rows = _split_rows(task)
    else:
        rows = Model(task.point.scenario, seed=task.seed, threads=task.threads).run()
    table = table_of(task.point, task.seed, rows, task.types, run_info(task))
    tmp = task.path + ".part"
    pq.write_table(table, tmp)
    os.replace(tmp, task.path)  # a file is either whole or absent
    return task.path, len(rows)


def _split_rows(task: Task) -> list[Row]:
    """One run over ``task.partitions`` partitions (Ray started here if it is not, one CPU each)."""
    from civicledger.sim.partition import PartitionedRun

    split = PartitionedRun(
        task.point.scenario, seed=task.seed, partitions=task.partitions, engine=task.split_engine
    )  # refuses what it does not model before Ray starts
    if task.split_engine != "ray":
        return split.run()
    import ray

    started = False
    if not ray.is_initialized():
        ray.init(num_cpus=task.partitions, include_dashboard=False, log_to_driver=False)
        started = True
    try:
        return split.run()
    finally:
        if started:
            ray.shutdown()


def tasks(
    scenario: Scenario,
    out: Path,
    seeds: Sequence[int] | None = None,
    modules: Sequence[str] = (),
    provenance: Provenance | None = None,
) -> list[Task]:
    chosen = tuple(seeds) if seeds else scenario.seeds
    types = parameter_types(scenario)
    source = provenance or Provenance()
    return [
        Task(point, seed, str(out / run_file_name(point.index, seed)), tuple(modules), types, source)
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
    provenance: Provenance | None = None,
) -> list[str]:
    """Run the grid times the seeds and return the Parquet files written (in task order)."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    out.mkdir(parents=True, exist_ok=True)
    todo = tasks(scenario, out, seeds, modules, provenance)
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
