"""`civic sim ...`: run scenarios, sweep them over a grid of parameters and seeds, report.

``run`` and ``sweep`` check the scenario file first and, if anything is wrong, list every problem
with its line and run nothing (exit 2). Results are Parquet files (one per run) in ``--out``, with
a copy of the scenario file (``scenario.toml``) that the report quotes.
"""

from __future__ import annotations

import importlib
import re
import time
import tomllib
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from civicledger.adapters.policy_file import locate
from civicledger.cli.app import app
from civicledger.cli.output import console, emit, fail, json_mode
from civicledger.kernel.errors import InvalidInputError
from civicledger.sim.partition import refusals
from civicledger.sim.scenario import ParameterSet, Scenario, ScenarioError, grid, parse_scenario
from civicledger.sim.sweep import ENGINES, SCENARIO_COPY, Task, copy_scenario, run_file_name, run_task, sweep
from civicledger.sim.threads import default_threads

sim_app = typer.Typer(help="Simulate the economy at population scale: run, sweep, report.", no_args_is_help=True)
app.add_typer(sim_app, name="sim")

ScenarioArg = Annotated[Path, typer.Argument(help="Scenario TOML file (see examples/).")]
OutOption = Annotated[Path | None, typer.Option("--out", help="Folder for the Parquet results.")]
SeedsOption = Annotated[
    str | None, typer.Option("--seeds", help="Comma-separated seeds (default: the scenario's list).")
]
BehavioursOption = Annotated[
    list[str] | None, typer.Option("--behaviours", help="Module registering extra behaviours (repeatable).")
]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Override one key of the scenario, TABLE.KEY=VALUE in TOML (e.g. population.persons=2000; repeatable).",
    ),
]


def overrides(items: list[str] | None) -> list[tuple[tuple[str, ...], object]]:
    """``--set`` items as (key path, value); the value is read as TOML (a bare word as a string)."""
    out: list[tuple[tuple[str, ...], object]] = []
    for item in items or []:
        key, sep, raw = item.partition("=")
        path = tuple(part.strip() for part in key.split("."))
        if not sep or len(path) < 2 or not all(path):
            raise InvalidInputError(f"--set takes TABLE.KEY=VALUE, not {item!r}", rule="X5")
        try:
            value = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw.strip()
        out.append((path, value))
    return out


def note_overrides(folder: Path, changes: list[tuple[tuple[str, ...], object]]) -> None:
    """Say in the results' copy of the scenario what ``--set`` changed (the report quotes it)."""
    if not changes:
        return
    copy = folder / SCENARIO_COPY
    lines = "".join(f"# {'.'.join(path)} = {value!r}\n" for path, value in changes)
    with copy.open("a", encoding="utf-8") as f:
        f.write(f"\n# Overridden on the command line (--set); the runs used:\n{lines}")


def load_scenario(
    path: Path, modules: list[str] | None = None, changes: list[tuple[tuple[str, ...], object]] | None = None
) -> Scenario:
    """Read and check a scenario file (with ``changes`` set, from ``--set``); ScenarioError lists
    every problem with its line."""
    for module in modules or []:
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise ScenarioError([(None, f"cannot import behaviours module {module!r}: {e}")]) from e
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ScenarioError([(None, f"cannot read {path}: {e}")]) from e
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        match = re.search(r"at line (\d+)", str(e))
        raise ScenarioError([(int(match.group(1)) if match else None, f"not valid TOML: {e}")]) from e
    for key_path, value in changes or []:
        node = data
        for key in key_path[:-1]:
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                raise ScenarioError([(None, f"--set {'.'.join(key_path)}: {key} is not a table")])
            node = child
        node[key_path[-1]] = value
    return parse_scenario(data, lambda key_path: locate(text, key_path))


def _seeds(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError as e:
        raise InvalidInputError(f"--seeds takes whole numbers separated by commas, not {text!r}", rule="X5") from e
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise InvalidInputError("--seeds needs distinct non-negative whole numbers", rule="X5")
    return seeds


@sim_app.command("run")
def run_cmd(
    ctx: typer.Context,
    scenario: ScenarioArg,
    seed: Annotated[int | None, typer.Option("--seed", help="The run's seed (default: the scenario's first).")] = None,
    out: OutOption = None,
    behaviours: BehavioursOption = None,
    set_: SetOption = None,
    partitions: Annotated[
        int, typer.Option("--partitions", help="Split the run's persons over this many partitions (same rows).")
    ] = 1,
    engine: Annotated[str, typer.Option("--engine", help="The partitions': local (this process) or ray.")] = "local",
    threads: Annotated[
        int | None,
        typer.Option("--threads", help="Threads of a run in one process (same rows; default: the cores, at most 2)."),
    ] = None,
) -> None:
    """Run a scenario once (its base parameters) and write its tidy rows as Parquet."""
    try:
        changes = overrides(set_)
        sc = load_scenario(scenario, behaviours, changes)
        if seed is not None and seed < 0:
            raise InvalidInputError(f"--seed must not be negative, not {seed}", rule="X5")
        if partitions < 1:
            raise InvalidInputError(f"--partitions must be 1 or more, not {partitions}", rule="X5")
        if engine not in ENGINES:
            raise InvalidInputError(f"--engine must be one of {', '.join(ENGINES)}, not {engine!r}", rule="X5")
        if threads is not None and threads < 1:
            raise InvalidInputError(f"--threads must be 1 or more, not {threads}", rule="X5")
        if threads is not None and threads > 1 and partitions > 1:
            raise InvalidInputError("--threads is for a run in one process: each partition takes one", rule="X5")
        reasons = refusals(sc) if partitions > 1 else []
        if reasons:
            raise InvalidInputError("a partitioned run does not model yet: " + "; ".join(reasons), rule="X5")
    except (ScenarioError, InvalidInputError) as e:
        fail(ctx, e)
    folder = out or Path(f"{scenario.stem}-run")
    source = copy_scenario(scenario, folder)
    note_overrides(folder, changes)
    point = ParameterSet(0, (), sc)  # the base parameters, whatever the [sweep] says
    chosen = sc.seeds[0] if seed is None else seed
    started = time.perf_counter()
    task = Task(
        point,
        chosen,
        str(folder / run_file_name(0, chosen)),
        tuple(behaviours or ()),
        provenance=source,
        partitions=partitions,
        split_engine=engine,
        threads=1 if partitions > 1 else threads or default_threads(),
    )
    path, rows = run_task(task)
    data = {
        "scenario": sc.name,
        "seed": chosen,
        "persons": sc.population.persons,
        "steps": sc.steps,
        "rows": rows,
        "partitions": partitions,
        "threads": task.threads,
        "file": path,
        "seconds": round(time.perf_counter() - started, 3),
    }
    emit(
        ctx,
        data,
        lambda c: c.print(f"[bold]{sc.name}[/]: {sc.steps} steps, {rows} rows in {data['seconds']} s → {path}"),
    )


@sim_app.command("sweep")
def sweep_cmd(
    ctx: typer.Context,
    scenario: ScenarioArg,
    out: OutOption = None,
    seeds: SeedsOption = None,
    engine: Annotated[str, typer.Option("--engine", help="local (processes) or ray.")] = "local",
    workers: Annotated[int | None, typer.Option("--workers", help="Parallel runs (default: CPU count).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Keep runs already written in --out.")] = False,
    behaviours: BehavioursOption = None,
    set_: SetOption = None,
) -> None:
    """Run every parameter set of the scenario's [sweep] grid times every seed; one Parquet file per run."""
    try:
        changes = overrides(set_)
        sc = load_scenario(scenario, behaviours, changes)
        chosen = _seeds(seeds)
        if engine not in ENGINES:
            raise InvalidInputError(f"--engine must be one of {', '.join(ENGINES)}, not {engine!r}", rule="X5")
    except (ScenarioError, InvalidInputError) as e:
        fail(ctx, e)
    folder = out or Path(f"{scenario.stem}-sweep")
    try:
        source = copy_scenario(scenario, folder, keep=resume and not changes)
    except ValueError as e:
        fail(ctx, InvalidInputError(str(e), rule="X5"))
    note_overrides(folder, changes)
    started = time.perf_counter()
    sets = len(grid(sc))
    if json_mode(ctx):
        files = sweep(
            sc,
            folder,
            seeds=chosen,
            engine=engine,
            workers=workers,
            skip_existing=resume,
            modules=behaviours or [],
            provenance=source,
        )
    else:
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as bar:
            task = bar.add_task(f"{sc.name} ({engine})", total=None)

            def progress(done: int, total: int, _path: str) -> None:
                bar.update(task, completed=done, total=total)

            files = sweep(
                sc,
                folder,
                seeds=chosen,
                engine=engine,
                workers=workers,
                progress=progress,
                skip_existing=resume,
                modules=behaviours or [],
                provenance=source,
            )
    used = list(chosen or sc.seeds)
    data = {
        "scenario": sc.name,
        "engine": engine,
        "parameter_sets": sets,
        "seeds": used,
        "runs": len(files),
        "out": str(folder),
        "files": files,
        "seconds": round(time.perf_counter() - started, 3),
    }
    emit(
        ctx,
        data,
        lambda c: c.print(
            f"{len(files)} runs ({sets} parameter sets x {len(used)} seeds) in {data['seconds']} s → {folder}"
        ),
    )


@sim_app.command("report")
def report_cmd(
    ctx: typer.Context,
    results: Annotated[Path, typer.Argument(help="A results folder (or one Parquet file).")],
    out: Annotated[Path | None, typer.Option("--out", help="HTML file to write.")] = None,
    title: Annotated[
        str | None, typer.Option("--title", help="The page's title (default: the scenario's name).")
    ] = None,
) -> None:
    """Write an HTML report: what made the results, final values, plots and differences."""
    from civicledger.sim.report import (
        Results,
        attack_outcomes,
        currencies,
        final_values,
        key_loss_outcomes,
        load,
        number_text,
        run_infos,
        summary,
        write_report,
    )

    target = out or (results / "report.html" if results.is_dir() else results.with_suffix(".html"))
    try:
        path = write_report(results, target, title)
    except (FileNotFoundError, OSError) as e:
        fail(ctx, InvalidInputError(f"cannot read results at {results}: {e}", rule="X5"))
    runs = summary(results)
    table = load(results)
    money = currencies(run_infos(results))
    attacks = attack_outcomes(table, money)
    keys = key_loss_outcomes(table)
    finals = final_values(Results(table))

    def human(c: object) -> None:
        console.print(f"report of {len(runs)} runs → {path}")
        for a in attacks:
            verdict = "gains nothing" if a.gains_nothing else "[bold red]GAINS[/]"
            console.print(f"  {a.attack} ({a.rule}, {a.param_label}): {a.gained}: {verdict}")
        for k in keys:
            console.print(
                f"  lost keys {'with' if k.guardians else 'without'} guardians (X9, {k.param_label}): "
                f"{float(k.keys_lost):,.1f} persons, {number_text(k.income_lost, 'income_lost_guarded', money)} "
                f"of income lost ({number_text(k.per_person, 'income_lost_guarded', money)} per "
                f"{'recovered' if k.guardians else 'lost'} account)"
            )

    data = {
        "report": str(path),
        "runs": runs,
        "final": [  # exact minor units for money; the mean of whole numbers as a float
            {
                "metric": f.metric,
                "param_set": f.param_set,
                "param_label": f.param_label,
                "seeds": f.seeds,
                "mean": float(f.mean),
                "sd": f.sd,
                "min": f.low,
                "max": f.high,
            }
            for f in finals
        ],
        "attacks": [
            {
                "attack": a.attack,
                "rule": a.rule,
                "param_label": a.param_label,
                "gained": a.gained,
                "gains_nothing": a.gains_nothing,
            }
            for a in attacks
        ],
        "key_loss": [
            {
                "param_label": k.param_label,
                "guardians": k.guardians,
                "keys_lost": float(k.keys_lost),
                "recovered": float(k.recovered),
                "income_lost": float(k.income_lost),
                "income_lost_per_person": float(k.per_person),
                "holdings_frozen": float(k.holdings_frozen),
            }
            for k in keys
        ],
    }
    emit(ctx, data, human)
