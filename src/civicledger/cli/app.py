"""The root `civic` app, its global options, and the session every command opens."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, TypedDict

import typer

from civicledger.adapters.clock import WallClock
from civicledger.adapters.crypto import Ed25519Verifier, KeyPair
from civicledger.adapters.headmark import HeadMarkFile, RollbackGuard
from civicledger.adapters.keystore import load_key
from civicledger.adapters.stores import open_store
from civicledger.cli.output import emit, fail
from civicledger.kernel.engine import Engine, Receipt
from civicledger.kernel.errors import CivicLedgerError, NotFoundError
from civicledger.kernel.identity import ACCOUNT_ID_PREFIX, AccountId, parse_account_id
from civicledger.kernel.journal import SignedCommand
from civicledger.kernel.messages import Command
from civicledger.kernel.personal import PERSONAL_RULES, PersonalItem, move_off
from civicledger.kernel.ports import Clock, Store
from civicledger.kernel.signing import sign_command
from civicledger.kernel.time import format_instant
from civicledger.settings import Settings

app = typer.Typer(
    help="civicledger: run, audit and simulate an economy on one signed public journal.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",  # "[word ...]" in help is markup: write "(env X)" (tests/e2e/test_cli_help.py)
)


NO_ECONOMY = "this store holds no economy yet; create one with `civic init examples/economy.toml`"


class _Overrides(TypedDict, total=False):
    db: str
    data_dir: Path
    keys: Path


@app.callback()
def root(
    ctx: typer.Context,
    db: Annotated[str | None, typer.Option(help="SQLite file path or database URL (env CIVIC_DB).")] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Where the default database and keys live (env CIVIC_DATA_DIR).")
    ] = None,
    keys: Annotated[Path | None, typer.Option(help="Key directory (env CIVIC_KEYS).")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON document instead of tables.")] = False,
) -> None:
    overrides: _Overrides = {}
    if db is not None:
        overrides["db"] = db
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    if keys is not None:
        overrides["keys"] = keys
    ctx.obj = {"settings": Settings(**overrides), "json": json_output}


def settings_of(ctx: typer.Context) -> Settings:
    obj = ctx.find_root().obj
    return obj["settings"] if obj else Settings()  # type: ignore[no-any-return]


@dataclass
class Session:
    """An open store and an engine that signs tree heads with the economy's journal key."""

    settings: Settings
    store: Store
    engine: Engine
    clock: Clock

    @property
    def economy_id(self) -> str:
        info = self.engine.economy()
        if info is None:
            raise NotFoundError(NO_ECONOMY, rule="X1")
        return info.id

    def key(self, name_or_path: str) -> KeyPair:
        return load_key(self.settings.key_dir(), name_or_path)

    def account(self, text: str) -> AccountId:
        """An account id as given, or the account of the key of that name (every command takes both)."""
        if text.startswith(ACCOUNT_ID_PREFIX) and len(text) == 34:
            return parse_account_id(text)
        return self.key(text).account

    def run(self, command: Command, signers: list[str], command_id: str | None = None) -> Receipt:
        """Sign the command with the named keys and execute it (``send``)."""
        return self.send(command, [self.key(name) for name in signers], command_id)

    def send(self, command: Command, keys: list[KeyPair], command_id: str | None = None) -> Receipt:
        """Sign the command with ``keys`` and execute it. Under rule version 3 and later its personal
        text is sealed with a random salt and stored beside it, off the journal (IN11)."""
        personal: tuple[PersonalItem, ...] = ()
        info = self.engine.economy()
        if info is not None and info.rules_at(self.clock.now()) >= PERSONAL_RULES:
            command, personal = move_off(command)
        signed = sign_command(self.economy_id, command, keys, signed_at=self.clock.now(), command_id=command_id)
        return self.execute(signed, personal)

    def execute(self, signed: SignedCommand, personal: tuple[PersonalItem, ...] = ()) -> Receipt:
        """Execute a signed command with the personal data it seals (IN11), unless the store is
        behind a signed head (IN12, adapters/headmark.py)."""
        guard = RollbackGuard(self.store, HeadMarkFile.beside_key(self.settings.key_dir()))
        guard.check()
        receipt = self.engine.execute(signed, personal)
        guard.record()
        return receipt


@contextlib.contextmanager
def session(ctx: typer.Context, *, need_journal_key: bool = True, create: bool = False) -> Iterator[Session]:
    """Open the configured store; refusals inside become the documented exit codes."""
    settings = settings_of(ctx)
    try:
        store = open_store(settings.db_url(), create=create)
        try:
            journal: KeyPair | None = None
            if need_journal_key:
                journal = load_key(settings.key_dir(), "journal")
            clock = WallClock()
            yield Session(settings, store, Engine(store, clock, Ed25519Verifier(), journal), clock)
        finally:
            store.close()
    except CivicLedgerError as e:
        fail(ctx, e)


Submission = tuple[Command, list[str]]
"""A command and the names (or files) of the keys that sign it."""


def submit(ctx: typer.Context, build: Callable[[Session], Submission], command_id: str | None) -> None:
    """Open a session, build a command and the names of the keys that sign it, sign and execute it
    (``Session.run``), and show the receipt; a refusal on the way exits with its documented code."""
    with session(ctx) as s:
        command, signers = build(s)
        receipt = s.run(command, signers, command_id)
    show_receipt(ctx, receipt)


KeyOption = Annotated[list[str], typer.Option("--key", "-k", help="Key name or file that signs (repeat for several).")]
IdOption = Annotated[str | None, typer.Option("--id", help="Command id; reuse it to retry safely.")]


def show_receipt(ctx: typer.Context, receipt: Receipt) -> None:
    def human(console: object) -> None:
        from civicledger.cli.output import console as c

        note = " (already done: first result returned)" if receipt.replayed else ""
        c.print(f"entry [bold]{receipt.seq}[/] at {format_instant(receipt.time)}{note}")
        for event in receipt.events:
            fields = ", ".join(f"{k}={v}" for k, v in event.items() if k != "type")
            c.print(f"  {event['type']}: {fields}")
        if receipt.result:
            c.print(f"  result: {json.dumps(receipt.result)}")

    emit(ctx, receipt.to_wire(), human)
