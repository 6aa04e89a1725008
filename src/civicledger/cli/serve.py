"""`civic serve`: the HTTP API and the web pages on uvicorn, over the configured store.

The store is the CLI's (SQLite file by default, PostgreSQL by ``--db`` URL or ``CIVIC_DB``); the
journal key is loaded from the key directory like every other command that appends entries.
"""

from __future__ import annotations

from typing import Annotated

import typer

from civicledger.cli.app import app, settings_of
from civicledger.cli.output import fail
from civicledger.kernel.errors import CivicLedgerError


@app.command("serve")
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (each opens the store).")] = 1,
    log_level: Annotated[
        str, typer.Option(help="Log level (info logs one JSON line per request; warning does not).")
    ] = "info",
    demo: Annotated[
        bool, typer.Option("--demo", help="Build the demo economy on the store first and serve it (public demo keys).")
    ] = False,
    witness: Annotated[
        list[str] | None,
        typer.Option("--witness", help="A witness to ask for cosignatures: <url>=<vkey> (repeatable)."),
    ] = None,
    origin: Annotated[str | None, typer.Option(help="The checkpoints' origin (default: the economy's id).")] = None,
    read_only: Annotated[
        bool,
        typer.Option(
            "--read-only",
            help="Serve only GET/HEAD/OPTIONS (405 for the rest), behind a proxy that sends writes to the writer.",
        ),
    ] = False,
    nice: Annotated[
        int | None,
        typer.Option(help="Lower each worker's CPU priority by this much (default: 10 with --read-only, else 0)."),
    ] = None,
    idle: Annotated[
        bool,
        typer.Option("--idle", help="With --read-only: workers only use CPU no other task wants (SCHED_IDLE)."),
    ] = False,
) -> None:
    """Serve the signed HTTP API (/api, /openapi.json) and the pages (/, /journal, /wallet ...)."""
    import os

    import uvicorn

    from civicledger.api.limits import server_options
    from civicledger.api.observe import log_config

    settings = settings_of(ctx)
    limits = server_options()  # CIVIC_REQUEST_* in the environment, read by each worker
    # JSON lines on stderr, each request's with its id; civicledger.access replaces uvicorn's access log
    logs = log_config(log_level)
    if demo:
        from civicledger.adapters.clock import WallClock
        from civicledger.adapters.stores import open_store
        from civicledger.api.app import create_app
        from civicledger.demo import run_demo

        store = open_store(settings.db_url(), create=True)
        try:
            economy, _ = run_demo(store)
        except CivicLedgerError as e:
            fail(ctx, e)
        from civicledger.api.server import settle_heap

        app = create_app(store, WallClock(), economy.key("journal"))
        app.router.on_startup.append(settle_heap)
        uvicorn.run(app, host=host, port=port, log_level=log_level, log_config=logs, access_log=False, **limits)
        store.close()
        return
    try:
        from civicledger.adapters.keystore import load_key

        load_key(settings.key_dir(), "journal")  # fail early, with the CLI's message, if it is missing
    except CivicLedgerError as e:
        fail(ctx, e)
    if witness:
        from civicledger.api.checkpoints import parse_witnesses

        try:
            parse_witnesses(",".join(witness))  # refuse a bad one here, with the CLI's message
        except CivicLedgerError as e:
            fail(ctx, e)
        os.environ["CIVIC_WITNESSES"] = ",".join(witness)
    if origin:
        os.environ["CIVIC_ORIGIN"] = origin
    if read_only or nice:
        from civicledger.api.server import READ_NICE

        os.environ["CIVIC_READ_ONLY"] = "1" if read_only else "0"
        os.environ["CIVIC_READ_IDLE"] = "1" if idle and read_only else "0"
        os.environ["CIVIC_NICE"] = str(nice if nice is not None else READ_NICE if read_only else 0)
    os.environ["CIVIC_DB"] = settings.db_url()
    os.environ["CIVIC_KEYS"] = str(settings.key_dir().resolve())
    uvicorn.run(
        "civicledger.api.server:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        log_config=logs,
        access_log=False,
        **limits,
    )
