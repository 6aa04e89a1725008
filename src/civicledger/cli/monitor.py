"""`civic monitor URL`: follow a served journal through its C2SP tiles and entry bundles, re-execute
each new entry, and keep the verified state on disk so the next run costs only the new entries
(X2, IN12); and ``civic verify --state DIR``, the same on a local store.

The state lives in a directory (``--state``, default ``./civic-monitor``): ``state.db``, a SQLite
store holding the economy rebuilt by re-executing the journal and the record of what was verified
(``kernel/incremental.py``). The first run trusts the journal key given by ``--log-vkey`` or, if
none, the one the server names (trust on first use, said so in the output) and keeps it; later runs
refuse a checkpoint signed by another key, smaller than the verified tree (a rollback) or
inconsistent with it (a fork). Exit 0 when everything verified, 1 on a bad entry or a refused
checkpoint, naming the first bad entry, its rule and why.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from civicledger.adapters.crypto import Ed25519Verifier
from civicledger.adapters.sql.store import SqlStore
from civicledger.adapters.tile_reader import TileReader, http_fetch
from civicledger.cli.app import app, session
from civicledger.cli.output import console, emit, err_console, fail, json_mode
from civicledger.kernel.checkpoint import VerifierKey, note_key, parse_note, verify_witnessed
from civicledger.kernel.errors import CivicLedgerError, IntegrityError
from civicledger.kernel.incremental import (
    IncrementalReport,
    Progressed,
    Target,
    load_state,
    verify_increment,
    verify_journal_increment,
)
from civicledger.kernel.ports import Store

StateOption = Annotated[
    Path, typer.Option("--state", help="Directory of the verified state (state.db), kept between runs.")
]


@contextmanager
def state_store(directory: Path) -> Iterator[Store]:
    """The verified state's store: a SQLite file in ``directory`` (made on first use)."""
    directory.mkdir(parents=True, exist_ok=True)
    store = SqlStore.open(f"sqlite:///{(directory / 'state.db').resolve()}", create=True)
    try:
        yield store
    finally:
        store.close()


@dataclass
class MonitorRun:
    """One round of monitoring: the verdict and what it was reached against."""

    url: str
    report: IncrementalReport
    log_key: str = ""
    trusted_on_first_use: bool = False
    witnesses: tuple[str, ...] = ()
    tiles_fetched: int = 0
    seconds: float = 0.0

    def to_wire(self) -> dict[str, object]:
        return {
            **self.report.to_wire(),
            "url": self.url,
            "log_key": self.log_key,
            "trusted_on_first_use": self.trusted_on_first_use,
            "witnesses": list(self.witnesses),
            "tiles_fetched": self.tiles_fetched,
            "seconds": round(self.seconds, 3),
        }


def monitor_once(
    url: str,
    state: Store,
    *,
    log_vkey: str | None,
    witnesses: list[VerifierKey],
    required: int,
    progressed: Progressed | None = None,
) -> MonitorRun:
    """Fetch the checkpoint, check it (log key, k-of-n cosignatures, no rollback or fork), then
    re-execute the new entries into ``state``. OSError when the log cannot be read."""
    started = time.perf_counter()
    base = url.rstrip("/")
    run = MonitorRun(base, IncrementalReport())
    fetch = http_fetch(base)
    reader = TileReader(fetch, 0)
    try:
        previous = load_state(state)
        data = reader.checkpoint()
        if log_vkey is not None:
            log = VerifierKey.parse(log_vkey)
        elif previous is not None:
            log = VerifierKey.parse(previous.log_key)
        else:  # trust on first use: the key the server names, kept for every later run
            origin = parse_note(data).text.split("\n", 1)[0]
            log = note_key(origin, bytes.fromhex(reader.economy_journal_key()))
            run.trusted_on_first_use = True
        run.log_key = log.text()
        witnessed = verify_witnessed(data, log, witnesses, required, Ed25519Verifier())
        run.witnesses = witnessed.witnesses
        checkpoint = witnessed.checkpoint
        reader.size = checkpoint.size
        prefix = None
        if previous is not None and 0 < previous.size < checkpoint.size and previous.log_key == run.log_key:
            prefix = reader.root(previous.size)  # the log's own root of what was verified (a fork shows here)
    except CivicLedgerError as e:
        run.report.refused = True
        run.report.fail(e.message, e.rule)
        run.seconds = time.perf_counter() - started
        return run
    target = Target(
        checkpoint.size, checkpoint.root, run.log_key, checkpoint.origin, log.public_key.hex(), base, prefix
    )
    start = previous.size if previous is not None else 0
    progress = progressed(start, checkpoint.size) if progressed is not None else None
    run.report = verify_increment(state, Ed25519Verifier(), target, reader.entries, progress=progress)
    run.tiles_fetched = reader.fetched
    run.seconds = time.perf_counter() - started
    return run


@contextmanager
def _progress(ctx: typer.Context, what: str) -> Iterator[Progressed]:
    """A Rich progress bar over the new entries (none with --json or when nothing is new)."""
    if json_mode(ctx):
        yield lambda start, stop: None
        return
    columns = (TextColumn(what), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True) as bar:

        def progressed(start: int, stop: int) -> Callable[[int], None] | None:
            if stop <= start:
                return None
            task = bar.add_task(what, total=stop - start)
            return lambda seq: bar.update(task, completed=seq - start)

        yield progressed


def _print_run(ctx: typer.Context, run: MonitorRun, follow: bool) -> None:
    if json_mode(ctx):
        data = run.to_wire()
        if follow:  # one line per round
            sys.stdout.write(json.dumps(data, sort_keys=True, ensure_ascii=False) + "\n")
            sys.stdout.flush()
        else:
            emit(ctx, data)
        return
    if run.trusted_on_first_use:
        console.print(
            f"[yellow]trust on first use[/]: the journal key is the one the server names, {run.log_key}; "
            "it is kept, and later runs refuse any other (give --log-vkey to pin it yourself)"
        )
    _print_report(run.report, f" ({run.url}, {run.seconds:.2f} s)")


def _print_report(report: IncrementalReport, suffix: str = "") -> None:
    if report.ok:
        console.print(
            f"[green]verified[/]: {report.size} entries ({report.new_entries} new, {report.previous_size} "
            f"verified before), root {report.root}{suffix}"
        )
    elif report.refused:
        console.print(f"[bold red]checkpoint refused[/] ({report.rule}): {report.reason}")
    else:
        where = f"entry {report.bad_seq}" if report.bad_seq is not None else "the tree"
        console.print(f"[bold red]bad entry[/]: {where} ({report.rule}): {report.reason}; state kept at {report.size}")


@app.command()
def monitor(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="The served journal's base URL (GET <url>/checkpoint, /tile/...).")],
    state: StateOption = Path("civic-monitor"),
    log_vkey: Annotated[
        str | None,
        typer.Option("--log-vkey", help="The journal's verifier key (default: trust the server's on first use)."),
    ] = None,
    witness: Annotated[
        list[str] | None, typer.Option("--witness", help="A witness's verifier key (repeatable).")
    ] = None,
    witnesses_required: Annotated[
        int, typer.Option("--witnesses-required", help="Cosignatures required of the --witness keys (k of n).")
    ] = 0,
    follow: Annotated[bool, typer.Option("--follow", help="Keep checking every --interval seconds.")] = False,
    interval: Annotated[float, typer.Option("--interval", help="Seconds between rounds with --follow.")] = 30.0,
) -> None:
    """Follow a served journal: re-execute each new entry, keep the verified state in --state, report
    the first bad entry or a refused checkpoint (rollback, fork, other key) and exit 1 (X2, IN12)."""
    try:
        keys = [VerifierKey.parse(w) for w in witness or []]
    except CivicLedgerError as e:
        fail(ctx, e)
    with state_store(state) as store:
        while True:
            try:
                with _progress(ctx, "re-executing") as progressed:
                    run = monitor_once(
                        url,
                        store,
                        log_vkey=log_vkey,
                        witnesses=keys,
                        required=witnesses_required,
                        progressed=progressed,
                    )
            except (OSError, ValueError) as e:
                fail(ctx, IntegrityError(f"could not read the journal at {url}: {e}", rule="X2"))
            _print_run(ctx, run, follow)
            if not run.report.ok:
                raise typer.Exit(1)
            if not follow:
                return
            time.sleep(interval)


def verify_with_state(ctx: typer.Context, directory: Path) -> None:
    """``civic verify --state DIR``: verify the local journal's new entries only, against the state
    kept in DIR by the last run (the stored projections are compared by plain ``civic verify``)."""
    with (
        session(ctx, need_journal_key=False) as s,
        state_store(directory) as store,
        _progress(ctx, "re-executing") as p,
    ):
        try:
            report = verify_journal_increment(s.store, store, Ed25519Verifier(), s.settings.db_url(), p)
        except CivicLedgerError as e:
            fail(ctx, e)
    emit(ctx, report.to_wire(), lambda c: _print_report(report))
    raise typer.Exit(0 if report.ok else 1)
