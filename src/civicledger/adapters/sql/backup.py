"""``civic backup`` and ``civic restore``: a whole economy in one encrypted file (issue 15, IN12).

A backup is every table of the store read in one transaction (SQLite: one read transaction on
the WAL, so writers carry on and the copy is one instant; PostgreSQL: one REPEATABLE READ,
read-only snapshot), the schema's migration revision, and the journal key file, as one JSON
document, compressed and encrypted with a passphrase: scrypt (n=2**15, r=8, p=1) derives a 256-bit
key, AES-256-GCM seals the document with the file's header as associated data, so a changed
header, a wrong passphrase or a flipped bit are all refused the same way.

A restore goes only into a store that holds nothing (it refuses a non-empty one) at the same
schema revision, and writes the journal key beside it only where no different key is. A restored
journal is as old as its backup: IN12 (adapters/headmark.py) then refuses to write on it if its
journal key has signed a newer head. docs/operations.md.
"""

from __future__ import annotations

import base64
import json
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from civicledger.adapters.sql import schema as t
from civicledger.adapters.sql.store import SqlStore
from civicledger.kernel.errors import IntegrityError, InvalidInputError, RuleViolationError

MAGIC = b"CIVICLEDGER-BACKUP\x00"
FORMAT = 1
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
_HEADER = struct.Struct(">B I B B 16s 12s")  # format, n, r, p, salt, nonce
MIN_PASSPHRASE = 12


class _Table(TypedDict):
    columns: list[str]
    rows: list[list[object]]


@dataclass(frozen=True)
class BackupSummary:
    """What a backup holds, for the CLI to show (and a restore to check)."""

    revision: str
    entries: int
    rows: int
    has_journal_key: bool


def _key(passphrase: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase)


def seal(document: bytes, passphrase: bytes) -> bytes:
    """``document`` compressed and encrypted under ``passphrase`` (scrypt, AES-256-GCM)."""
    if len(passphrase) < MIN_PASSPHRASE:
        raise InvalidInputError(f"a backup passphrase has at least {MIN_PASSPHRASE} characters", rule="IN12")
    salt, nonce = os.urandom(16), os.urandom(12)
    header = MAGIC + _HEADER.pack(FORMAT, SCRYPT_N, SCRYPT_R, SCRYPT_P, salt, nonce)
    key = _key(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return header + AESGCM(key).encrypt(nonce, zlib.compress(document, 6), header)


def unseal(blob: bytes, passphrase: bytes) -> bytes:
    """The document in a sealed backup; refuses a wrong passphrase or any changed byte alike."""
    if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + _HEADER.size:
        raise InvalidInputError("this file is not a civicledger backup", rule="IN12")
    fields = _HEADER.unpack_from(blob, len(MAGIC))
    version, n, r, p, salt, nonce = fields
    if version != FORMAT or n > 2**20 or r > 16 or p > 4:
        raise InvalidInputError(f"unsupported backup format {version} or key derivation parameters", rule="IN12")
    header = blob[: len(MAGIC) + _HEADER.size]
    try:
        compressed = AESGCM(_key(passphrase, salt, n, r, p)).decrypt(nonce, blob[len(header) :], header)
    except InvalidTag as e:
        raise IntegrityError("wrong passphrase, or the backup file was changed", rule="IN12") from e
    return zlib.decompress(compressed)


def _encode(value: object) -> object:
    if isinstance(value, bytes):
        return {"b64": base64.b64encode(value).decode("ascii")}
    return value


def _decode(value: object) -> object:
    if isinstance(value, dict):
        return base64.b64decode(value["b64"])
    return value


def _revision(conn: sa.Connection) -> str:
    return str(conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one())


def snapshot(store: SqlStore, journal_key: bytes | None) -> tuple[bytes, BackupSummary]:
    """Every table of ``store`` in one consistent read, as a JSON document."""
    tables: dict[str, object] = {}
    rows = 0
    with store.read() as uow:
        conn = uow.conn
        revision = _revision(conn)
        for table in t.metadata.sorted_tables:
            columns = [c.name for c in table.columns]
            order = [table.c[c.name] for c in table.primary_key.columns] or [table.c[columns[0]]]
            data = [[_encode(v) for v in row] for row in conn.execute(sa.select(table).order_by(*order))]
            tables[table.name] = {"columns": columns, "rows": data}
            rows += len(data)
        entries = int(conn.execute(sa.select(sa.func.count()).select_from(t.journal)).scalar_one())
    document = {
        "format": FORMAT,
        "revision": revision,
        "tables": tables,
        "journal_key": journal_key.decode("utf-8") if journal_key is not None else None,
    }
    summary = BackupSummary(revision, entries, rows, journal_key is not None)
    return json.dumps(document, separators=(",", ":")).encode("utf-8"), summary


def back_up(store: SqlStore, key_file: Path | None, out: Path, passphrase: bytes) -> BackupSummary:
    """Write an encrypted backup of ``store`` (and the journal key file, if given) to ``out``."""
    key = key_file.read_bytes() if key_file is not None and key_file.exists() else None
    document, summary = snapshot(store, key)
    blob = seal(document, passphrase)
    temporary = out.with_name(f".{out.name}.partial")
    with open(temporary, "wb") as f:
        f.write(blob)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, out)
    return summary


def restore(store: SqlStore, blob: bytes, passphrase: bytes, key_file: Path | None) -> BackupSummary:
    """Load a backup into an empty ``store``; write its journal key to ``key_file`` unless one is there.

    Refuses a store that holds any row, a backup of another schema revision, and a key file that
    exists with a different key."""
    document = json.loads(unseal(blob, passphrase))
    tables: dict[str, _Table] = document["tables"]
    known = {table.name: table for table in t.metadata.sorted_tables}
    unknown = sorted(set(tables) - set(known))
    if unknown:
        raise InvalidInputError(f"the backup holds tables this release does not know: {', '.join(unknown)}")
    key_text: str | None = document.get("journal_key")
    if (
        key_file is not None
        and key_text is not None
        and key_file.exists()
        and json.loads(key_file.read_text(encoding="utf-8")) != json.loads(key_text)
    ):
        raise RuleViolationError(
            f"{key_file} holds a different journal key than the backup; restore into another key directory",
            rule="IN12",
        )
    rows = 0
    with store.write() as uow:
        conn = uow.conn
        revision = _revision(conn)
        if revision != document["revision"]:
            raise InvalidInputError(
                f"the backup is of schema revision {document['revision']}, this store is at {revision}: "
                "restore with the release that made the backup, then upgrade",
                rule="IN12",
            )
        for table in t.metadata.sorted_tables:
            count = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            if table.name == "journal_head":
                count = conn.execute(sa.select(sa.func.count()).select_from(table).where(table.c.size > 0)).scalar_one()
            if count:
                raise RuleViolationError(
                    f"a backup is restored only into an empty database; table {table.name} holds {count} rows",
                    rule="IN12",
                )
        for table in t.metadata.sorted_tables:
            if table.name not in tables:
                continue
            data = tables[table.name]
            columns: list[str] = data["columns"]
            values = [dict(zip(columns, [_decode(v) for v in row], strict=True)) for row in data["rows"]]
            if table.name == "journal_head":
                conn.execute(sa.delete(table))
            if values:
                conn.execute(sa.insert(table), values)
            rows += len(values)
        uow.commit()
    if key_file is not None and key_text is not None and not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(key_text)
    entries = len(tables["journal"]["rows"]) if "journal" in tables else 0
    return BackupSummary(str(document["revision"]), entries, rows, key_text is not None)
