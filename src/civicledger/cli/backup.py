"""`civic backup` and `civic restore`: the whole economy and its journal key in one encrypted file.

The passphrase comes from ``--passphrase-file`` or the ``CIVIC_BACKUP_PASSPHRASE`` environment
variable, never from the command line (where other users of the machine can read it). A backup is
taken while the server writes; a restore goes only into an empty database. docs/operations.md.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from civicledger.adapters.keystore import key_path
from civicledger.adapters.stores import open_store
from civicledger.cli.app import app, settings_of
from civicledger.cli.output import emit, fail
from civicledger.kernel.errors import CivicLedgerError, InvalidInputError

PASSPHRASE_ENV = "CIVIC_BACKUP_PASSPHRASE"
PassphraseFile = Annotated[
    Path | None,
    typer.Option("--passphrase-file", help=f"File whose first line is the passphrase (else ${PASSPHRASE_ENV})."),
]


def _passphrase(passphrase_file: Path | None) -> bytes:
    if passphrase_file is not None:
        try:
            lines = passphrase_file.read_text(encoding="utf-8").splitlines()
        except OSError as e:
            raise InvalidInputError(f"cannot read the passphrase file {passphrase_file}: {e.strerror}") from e
        return (lines[0] if lines else "").encode("utf-8")
    value = os.environ.get(PASSPHRASE_ENV)
    if not value:
        raise InvalidInputError(f"give the backup passphrase with --passphrase-file or ${PASSPHRASE_ENV}")
    return value.encode("utf-8")


def _sql_store(url: str, create: bool):  # type: ignore[no-untyped-def]
    from civicledger.adapters.sql.store import SqlStore

    store = open_store(url, create=create)
    if not isinstance(store, SqlStore):
        store.close()
        raise InvalidInputError("backups are of SQLite and PostgreSQL stores")
    return store


@app.command("backup")
def backup(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="The backup file to write.")],
    passphrase_file: PassphraseFile = None,
) -> None:
    """Back up the economy (one consistent read, while the server writes) and the journal key, encrypted."""
    from civicledger.adapters.sql.backup import back_up

    settings = settings_of(ctx)
    try:
        passphrase = _passphrase(passphrase_file)
        store = _sql_store(settings.db_url(), create=False)
        try:
            summary = back_up(store, key_path(settings.key_dir(), "journal"), out, passphrase)
        finally:
            store.close()
    except CivicLedgerError as e:
        fail(ctx, e)
    data = {"file": str(out), "entries": summary.entries, "rows": summary.rows, "journal_key": summary.has_journal_key}
    emit(ctx, data, lambda c: c.print(f"backed up {summary.entries} journal entries ({summary.rows} rows) to {out}"))


@app.command("restore")
def restore(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A file written by `civic backup`.")],
    passphrase_file: PassphraseFile = None,
) -> None:
    """Restore a backup into an empty database, and its journal key into the key directory if none is there."""
    from civicledger.adapters.sql.backup import restore as load

    settings = settings_of(ctx)
    try:
        passphrase = _passphrase(passphrase_file)
        try:
            blob = file.read_bytes()
        except OSError as e:
            raise InvalidInputError(f"cannot read {file}: {e.strerror}") from e
        store = _sql_store(settings.db_url(), create=True)
        try:
            summary = load(store, blob, passphrase, key_path(settings.key_dir(), "journal"))
        finally:
            store.close()
    except CivicLedgerError as e:
        fail(ctx, e)
    data = {"file": str(file), "entries": summary.entries, "rows": summary.rows, "journal_key": summary.has_journal_key}
    emit(ctx, data, lambda c: c.print(f"restored {summary.entries} journal entries ({summary.rows} rows) from {file}"))
