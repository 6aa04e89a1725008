"""A witness's state: for each log it watches, the size and root it last cosigned (IN12).

SQLite by default (any SQLAlchemy URL works). The only write is a compare-and-swap: the new size
and root replace the old ones only if the row still holds the old ones, so two requests racing for
the same log cannot both be cosigned, and a witness never cosigns two roots for one size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Integer, LargeBinary, MetaData, String, Table, create_engine, event, select, update
from sqlalchemy.engine import Engine

from civicledger.kernel.errors import NotFoundError

metadata = MetaData(naming_convention={"pk": "pk_%(table_name)s"})

witness_meta = Table(
    "witness_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(1024), nullable=False),
)

witness_logs = Table(
    "witness_logs",
    metadata,
    Column("origin", String(256), primary_key=True),
    Column("vkey", String(1024), nullable=False),
    Column("size", Integer, nullable=False),
    Column("root", LargeBinary(32), nullable=False),  # empty until the first cosignature
)


@dataclass(frozen=True, slots=True)
class LogState:
    origin: str
    vkey: str
    size: int
    root: bytes


def _sqlite_pragmas(connection: Any, _record: object) -> None:
    """WAL: one fsync a commit instead of several; FULL: a cosigned size is on disk before the
    cosignature leaves (a witness that forgot what it cosigned could cosign a fork)."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=10000")  # racing requests wait for the writer, then see its change
    cursor.close()


class WitnessState:
    def __init__(self, url: str) -> None:
        self.engine: Engine = create_engine(url)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        metadata.create_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def get_meta(self, key: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(witness_meta.c.value).where(witness_meta.c.key == key)).scalar_one_or_none()

    def set_meta(self, key: str, value: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(witness_meta.delete().where(witness_meta.c.key == key))
            conn.execute(witness_meta.insert().values(key=key, value=value))

    def add_log(self, origin: str, vkey: str) -> None:
        """Watch a log from size 0; a log already watched keeps its state (its key may not change)."""
        with self.engine.begin() as conn:
            row = conn.execute(select(witness_logs.c.vkey).where(witness_logs.c.origin == origin)).first()
            if row is None:
                conn.execute(witness_logs.insert().values(origin=origin, vkey=vkey, size=0, root=b""))
            elif row.vkey != vkey:
                raise NotFoundError(f"the witness already watches {origin!r} under another key", rule="IN12")

    def log(self, origin: str) -> LogState | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(witness_logs).where(witness_logs.c.origin == origin)).first()
        return None if row is None else LogState(row.origin, row.vkey, row.size, bytes(row.root))

    def logs(self) -> list[LogState]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(witness_logs).order_by(witness_logs.c.origin)).all()
        return [LogState(r.origin, r.vkey, r.size, bytes(r.root)) for r in rows]

    def advance(self, origin: str, old: LogState, size: int, root: bytes) -> bool:
        """Move the log from ``old`` to (size, root) if nothing moved it meanwhile; False if it did."""
        with self.engine.begin() as conn:
            done = conn.execute(
                update(witness_logs)
                .where(
                    witness_logs.c.origin == origin, witness_logs.c.size == old.size, witness_logs.c.root == old.root
                )
                .values(size=size, root=root)
            )
            return done.rowcount == 1
