"""`civic witness`: run a C2SP tlog-witness that cosigns a journal's checkpoints only when they
extend the last one it cosigned (IN12).

A witness lives in its own directory (``--dir``, default ``./civic-witness``): its Ed25519 key
(``witness.key``) and its state (``witness.db``, SQLite, or ``--db`` URL). ``init`` makes both and
names the witness; ``add-log`` (or ``serve --log``) says which journals it watches, by their
verifier keys (``civic journal vkey``): the key's name is the log's origin.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from civicledger.adapters.crypto import KeyPair
from civicledger.adapters.keystore import load_key, save_key
from civicledger.adapters.witness_state import WitnessState
from civicledger.cli.app import app
from civicledger.cli.output import emit, fail
from civicledger.kernel.checkpoint import VerifierKey, check_key_name, witness_key
from civicledger.kernel.errors import CivicLedgerError, InvalidInputError

witness_app = typer.Typer(
    help="A witness that cosigns journals' checkpoints (C2SP tlog-witness, IN12).", no_args_is_help=True
)
app.add_typer(witness_app, name="witness")

DirOption = Annotated[Path, typer.Option("--dir", help="The witness's directory (key and state).")]
DbOption = Annotated[str | None, typer.Option("--db", help="State database URL (default: <dir>/witness.db).")]


def _state(directory: Path, db: str | None) -> WitnessState:
    return WitnessState(db or f"sqlite:///{(directory / 'witness.db').resolve()}")


def _opened(ctx: typer.Context, directory: Path, db: str | None) -> tuple[WitnessState, KeyPair, str]:
    try:
        key = load_key(directory, "witness")
        state = _state(directory, db)
        name = state.get_meta("name")
        if name is None:
            raise InvalidInputError(f"{directory} holds no witness; run `civic witness init`", rule="IN12")
    except CivicLedgerError as e:
        fail(ctx, e)
    return state, key, name


@witness_app.command("init")
def init(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", help="The witness's name (e.g. witness.example.org).")],
    directory: DirOption = Path("civic-witness"),
    db: DbOption = None,
) -> None:
    """Make the witness's key and state; prints its verifier key."""
    try:
        check_key_name(name)
        key = KeyPair.generate("witness")
        save_key(directory, key)
    except CivicLedgerError as e:
        fail(ctx, e)
    state = _state(directory, db)
    state.set_meta("name", name)
    state.close()
    text = witness_key(name, key.public_key).text()
    emit(ctx, {"name": name, "vkey": text}, lambda c: c.print(text, soft_wrap=True, highlight=False))


@witness_app.command("vkey")
def vkey(ctx: typer.Context, directory: DirOption = Path("civic-witness"), db: DbOption = None) -> None:
    """The witness's verifier key (give it to servers and clients)."""
    state, key, name = _opened(ctx, directory, db)
    state.close()
    text = witness_key(name, key.public_key).text()
    emit(ctx, {"name": name, "vkey": text}, lambda c: c.print(text, soft_wrap=True, highlight=False))


def _add_logs(ctx: typer.Context, state: WitnessState, logs: list[str]) -> None:
    for text in logs:
        try:
            key = VerifierKey.parse(text)
            if key.key_type != 0x01:
                raise InvalidInputError("a log's verifier key is an Ed25519 note key (type 0x01)", rule="IN12")
            state.add_log(key.name, key.text())
        except CivicLedgerError as e:
            fail(ctx, e)


@witness_app.command("add-log")
def add_log(
    ctx: typer.Context,
    log: Annotated[str, typer.Argument(help="The log's verifier key (`civic journal vkey`).")],
    directory: DirOption = Path("civic-witness"),
    db: DbOption = None,
) -> None:
    """Watch a log from size 0."""
    state, _, _ = _opened(ctx, directory, db)
    _add_logs(ctx, state, [log])
    state.close()
    emit(ctx, {"added": VerifierKey.parse(log).name})


@witness_app.command("status")
def status(ctx: typer.Context, directory: DirOption = Path("civic-witness"), db: DbOption = None) -> None:
    """The logs watched and the size of each one's last cosigned checkpoint."""
    state, _, name = _opened(ctx, directory, db)
    logs = state.logs()
    state.close()
    emit(
        ctx, {"name": name, "logs": [{"origin": log.origin, "size": log.size, "root": log.root.hex()} for log in logs]}
    )


@witness_app.command("serve")
def serve(
    ctx: typer.Context,
    directory: DirOption = Path("civic-witness"),
    db: DbOption = None,
    log: Annotated[
        list[str] | None, typer.Option("--log", help="A log to watch, by its verifier key (repeatable).")
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8100,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve POST /add-checkpoint (one process: its state's compare-and-swap keeps it honest)."""
    import uvicorn

    from civicledger.api.witness import Witness, create_witness_app

    state, key, name = _opened(ctx, directory, db)
    _add_logs(ctx, state, log or [])
    app_ = create_witness_app(Witness(state, name, key, lambda: int(time.time())))
    uvicorn.run(app_, host=host, port=port, log_level=log_level)
    state.close()
