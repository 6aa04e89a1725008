"""`civic demo`: build the demo economy on the embedded default store and tell what happened."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from civicledger.adapters.crypto import Ed25519Verifier
from civicledger.adapters.memory import MemoryStore
from civicledger.adapters.stores import open_store
from civicledger.cli.app import app, settings_of
from civicledger.cli.output import emit, fail
from civicledger.demo import run_demo
from civicledger.kernel import audit
from civicledger.kernel.errors import CivicLedgerError
from civicledger.kernel.rules import LATEST_RULES
from civicledger.settings import database_url


@app.command()
def demo(
    ctx: typer.Context,
    db: Annotated[
        str | None, typer.Option("--db", help="Where the demo economy lives (default: <data dir>/demo.db).")
    ] = None,
    rules: Annotated[
        int, typer.Option("--rules", help="The rule version the demo economy starts with (IN8).")
    ] = LATEST_RULES,
) -> None:
    """Build a small economy exercising every mechanism, verify it, and print a summary (safe to re-run)."""
    settings = settings_of(ctx)
    url = database_url(db or settings.db or str(Path(settings.data_dir) / "demo.db"))
    try:
        store = open_store(url, create=True)
        try:
            economy, told = run_demo(store, rules)
            report = audit.verify_store(store, Ed25519Verifier(), MemoryStore)
        finally:
            store.close()
    except CivicLedgerError as e:
        fail(ctx, e)

    data = {
        "db": url,
        "economy": economy.economy_id,
        "entries_written": economy.executed,
        "entries_already_there": economy.replayed,
        "chapters": [{"title": title, "lines": lines} for title, lines in told],
        "verify": report.to_wire(),
    }

    def human(console: object) -> None:
        from civicledger.cli.output import console as out

        out.rule(f"[bold]Demo Town[/] ({economy.economy_id}) in {url}")
        for title, lines in told:
            out.print(f"\n[bold cyan]{title}[/]")
            for line in lines:
                out.print(f"  • {line}")
        status = "[green]verified[/]" if report.ok else f"[red]FAILED[/] {report.reason}"
        out.print(
            f"\njournal: {report.entries} entries, root {report.root[:16]}…, {status}; "
            f"{economy.executed} entries written by this run, {economy.replayed} command(s) answered "
            "with their first result (retries, X5)"
        )

    emit(ctx, data, human)
    raise typer.Exit(0 if report.ok else 1)
