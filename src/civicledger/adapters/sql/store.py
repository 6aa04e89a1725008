"""The SQL store: SQLite (a WAL file, the embedded default) and PostgreSQL, through SQLAlchemy Core.

One writer at a time: a write unit of work starts with ``BEGIN IMMEDIATE`` on SQLite and with
``SELECT ... FOR UPDATE`` of the journal's head row on PostgreSQL, and holds that lock until it
commits or rolls back. Every decision is therefore taken on exactly the state the journal order
implies, concurrent writers can neither overdraw nor lose an update, and there is one lock, so no
deadlock (docs/decisions/0002-one-writer.md). Readers never wait: they read a snapshot.

A unit of work buffers its writes (balances, records, accounts, currencies, journal rows) and
flushes them in a few batched statements before any bulk read and at commit, so a batch of
commands costs a handful of round trips, not several per command.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple, Protocol, Self, TypeVar, cast

import sqlalchemy as sa
from alembic import command as alembic_command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import PoolProxiedConnection

from civicledger.adapters.sql import schema as t
from civicledger.kernel.canonical import JSONValue, canonical_bytes
from civicledger.kernel.errors import ConcurrencyError, NotFoundError, StorageUnavailableError, UnstorableError
from civicledger.kernel.identity import Account, AccountId, AccountKind
from civicledger.kernel.journal import Entry, TreeHead
from civicledger.kernel.ledger import Currency, CurrencyKind, IssuerRule
from civicledger.kernel.merkle import Frontier, Node, completed_subtrees
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.personal import PersonalItem
from civicledger.kernel.ports import JournalHead, JournalRows, Preload, StoredEntry
from civicledger.kernel.proposals import Proposal
from civicledger.kernel.tilecache import TileCache, TileSpan

MIGRATIONS = Path(__file__).parent / "migrations"
K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")

Statement = tuple[str, Sequence[object] | None]
"""Driver SQL and its positional parameters (for ``executemany`` and PostgreSQL arrays, a sequence of
sequences)."""
Rows = Sequence[object]
"""A statement's result rows (SQLAlchemy's or psycopg's), read by the code that wrote its SELECT."""
Result = sa.CursorResult[*tuple[object, ...]]


class _AccountColumns(Protocol):
    id: str
    kind: str
    public_key: str
    name: str
    created_at: int
    verified: bool
    roles: str
    parent: str | None


class _CurrencyColumns(Protocol):
    id: str
    kind: str
    issuer: str
    rule: str
    decimals: int
    name: str
    issued: int
    burned: int


class _HeadColumns(Protocol):
    size: int
    frontier: str
    time: int


class _JournalColumns(Protocol):
    seq: int
    command_id: str
    time: int
    body: str
    leaf_hash: bytes
    root: str
    head_signature: str
    payload_digest: str


class _JournalRow(NamedTuple):
    """A journal row read positionally (``_JOURNAL_COLUMNS``' order)."""

    seq: int
    command_id: str
    command_type: str
    time: int
    body: str
    leaf_hash: bytes
    root: str
    head_signature: str
    payload_digest: str


class _NonceColumns(Protocol):
    account: str
    nonce: str


class _BalanceColumns(Protocol):
    account: str
    currency: str
    units: int


class SqlStore:
    def __init__(
        self,
        engine: Engine,
        backend: str,
        schema: str | None,
        drop_schema_on_close: bool,
        tiles: TileCache | None = None,
        pool_size: int = 20,
    ) -> None:
        self.engine = engine
        self.backend = backend
        self._schema = schema
        self._drop_schema = drop_schema_on_close
        self.tiles = TileCache() if tiles is None else tiles
        self._readers = _ReadConnections(engine, pool_size) if backend == "postgresql" else None

    @classmethod
    def open(
        cls,
        url: str,
        *,
        create: bool = True,
        schema: str | None = None,
        drop_schema_on_close: bool = False,
        pool_size: int = 20,
        tiles: TileCache | None = None,
    ) -> SqlStore:
        """Open (and by default create or migrate) the store at ``url``; ``tiles`` is its cache of
        Merkle tiles and entry bundles (by default ``TileCache()``: 64 MiB of tiles, 256 MiB of
        bundles, the newest head kept 1 s)."""
        try:
            if url.startswith("sqlite"):
                return cls._open_sqlite(url, create, tiles)
            if url.startswith("postgresql"):
                return cls._open_postgres(url, create, schema, drop_schema_on_close, pool_size, tiles)
        except sa.exc.OperationalError as e:
            raise StorageUnavailableError(f"cannot open the database at {_safe(url)}: {e.orig}") from e
        raise StorageUnavailableError(
            f"unsupported database URL {_safe(url)} (use a SQLite path or postgresql+psycopg://)"
        )

    @classmethod
    def _open_sqlite(cls, url: str, create: bool, tiles: TileCache | None) -> SqlStore:
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            if not Path(path).exists() and not create:
                raise NotFoundError(f"no economy database at {path}; create one with `civic init`", rule="X1")
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")  # a committed entry survives a power cut
            cursor.execute("PRAGMA busy_timeout=60000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            write = conn.get_execution_options().get("civic_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        store = cls(engine, "sqlite", None, False, tiles)
        store._migrate(create)
        return store

    @classmethod
    def _open_postgres(
        cls, url: str, create: bool, schema: str | None, drop: bool, pool_size: int, tiles: TileCache | None
    ) -> SqlStore:
        connect_args: dict[str, object] = {"connect_timeout": 10}
        if schema is not None:
            if not schema.replace("_", "").isalnum():
                raise ValueError(f"bad schema name {schema!r}")
            bootstrap = sa.create_engine(url, connect_args=connect_args)
            with bootstrap.begin() as conn:
                conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            bootstrap.dispose()
            connect_args["options"] = f"-csearch_path={schema}"
        engine = sa.create_engine(
            url, connect_args=connect_args, pool_size=pool_size, max_overflow=pool_size, pool_recycle=3600
        )
        store = cls(engine, "postgresql", schema, drop, tiles, pool_size)
        store._migrate(create)
        return store

    def _migrate(self, create: bool) -> None:
        """Bring the schema to the newest migration (Alembic); refuse to create it if create=False."""
        with self.engine.connect() as conn:
            if self.backend == "postgresql":
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7420013)")  # one migrator at a time
            exists = sa.inspect(conn).has_table("journal")
            if not exists and not create:
                raise NotFoundError("no economy database here; create one with `civic init`", rule="X1")
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = conn
            alembic_command.upgrade(config, "head")
            conn.commit()

    def write(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self, writable=True)

    def read(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self, writable=False)

    def consume_nonces(self, items: Sequence[tuple[str, str, int]], forget_before: int | None) -> list[bool]:
        with self.write() as uow:
            fresh = uow.spend_nonces(items, forget_before)
            uow.commit()
        return fresh

    def journal_rows(
        self, seq: int | None, nodes: Sequence[Node], spans: Sequence[TileSpan], bodies: tuple[int, int] | None = None
    ) -> JournalRows:
        """One round trip outside any transaction (PostgreSQL: ``_ReadConnections``). Only committed
        rows are read, and those never change."""
        statements = _journal_row_statements(self.backend, seq, nodes, spans, bodies)
        results = self._readers.read(statements) if self._readers else self._read_sqlite(statements)
        at = 0
        entry = None
        if seq is not None:
            rows = results[0]
            entry = _stored_of(cast(_JournalColumns, _JournalRow(*cast(tuple[Any, ...], rows[0])))) if rows else None
            at = 1
        found: dict[Node, bytes] = {}
        if nodes:
            found = {(int(lv), int(i)): bytes(h) for lv, i, h in cast(list[tuple[int, int, bytes]], results[at])}
            at += 1
        if bodies is not None:
            found_bodies = [str(body).encode() for (body,) in cast(list[tuple[str]], results[-1])]
            return JournalRows(entry, found, [_concatenated(rows) for rows in results[at:-1]], found_bodies)
        return JournalRows(entry, found, [_concatenated(rows) for rows in results[at:]])

    def _read_sqlite(self, statements: list[Statement]) -> list[Rows]:
        try:
            raw = self.engine.raw_connection()
        except _FAULTS as e:
            raise _translate(e) from e
        try:
            cursor = cast(sqlite3.Connection, raw.driver_connection).cursor()  # autocommit: we issue BEGIN
            return [cursor.execute(sql, params or ()).fetchall() for sql, params in statements]
        except _FAULTS as e:
            raise _translate(e) from e
        finally:
            with contextlib.suppress(*_FAULTS):
                raw.close()

    def close(self) -> None:
        if self._readers:
            self._readers.close()
        if self._drop_schema and self._schema:
            with self.engine.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{self._schema}" CASCADE')
        self.engine.dispose()


def _nonce_statements(
    backend: str, items: Sequence[tuple[str, str, int]], forget_before: int | None
) -> list[Statement]:
    """The statements that spend request nonces: an optional sweep, then inserts returning the new ones."""
    rows: dict[tuple[str, str], int] = {}
    for account, nonce, at in items:
        rows.setdefault((account, nonce), at)
    pairs = list(rows.items())
    statements: list[Statement] = []
    if forget_before is not None:
        statements.append((_FORGET_NONCES_SQL[backend], (forget_before,)))
    if backend == "postgresql":
        if pairs:
            columns = ([a for (a, _), _ in pairs], [k for (_, k), _ in pairs], [at for _, at in pairs])
            statements.append((_INSERT_NONCES_PG, columns))
    else:
        for part in _chunks(pairs, _SQLITE_NONCE_CHUNK):
            sql = (
                "INSERT INTO request_nonces (account, nonce, seen_at) VALUES "
                + ", ".join(["(?, ?, ?)"] * len(part))
                + " ON CONFLICT DO NOTHING RETURNING account, nonce"
            )
            statements.append((sql, tuple(v for (a, k), at in part for v in (a, k, at))))
    return statements


def _fresh_nonces(items: Sequence[tuple[str, str, int]], inserted: set[tuple[str, str]]) -> list[bool]:
    fresh = []
    for account, nonce, _ in items:
        fresh.append((account, nonce) in inserted)
        inserted.discard((account, nonce))  # a repeat within this batch is a replay too
    return fresh


def _run_statements(conn: Connection, backend: str, statements: list[Statement], commit: bool = False) -> list[Rows]:
    """Run driver statements (positional parameters; a list of them runs the statement for each)
    and return each one's rows; with ``commit``, commit after them on PostgreSQL.

    On PostgreSQL they go in one pipeline, one round trip, on psycopg's own cursors (SQLAlchemy's
    result machinery costs more than these statements). Errors come back as the driver's."""
    if backend != "postgresql":
        out: list[Rows] = []
        for sql, params in statements:
            result = conn.exec_driver_sql(sql, params)
            out.append(list(result) if result.returns_rows else [])  # read before the next statement runs
        return out
    if not statements and not commit:
        return []
    from psycopg.rows import namedtuple_row

    pg = _psycopg(conn)
    cursors = []
    with pg.pipeline():
        for sql, params in statements:
            cursor = pg.cursor(row_factory=namedtuple_row)
            if isinstance(params, list):
                cursor.executemany(sql, params)
            else:
                cursor.execute(sql, params)
            cursors.append(cursor)
        if commit:
            pg.commit()
    return [cursor.fetchall() if cursor.description is not None else [] for cursor in cursors]


def _journal_row_statements(
    backend: str, seq: int | None, nodes: Sequence[Node], spans: Sequence[TileSpan], bodies: tuple[int, int] | None
) -> list[Statement]:
    """The reads of ``SqlStore.journal_rows``: the entry, the nodes (one statement), each span,
    the bodies."""
    pg = backend == "postgresql"
    out: list[Statement] = []
    if seq is not None:
        out.append((_ENTRY_SQL[backend], (seq,)))
    if nodes:
        leaves = sorted({i for lv, i in nodes if lv == 0})
        inner = sorted({(lv, i) for lv, i in nodes if lv > 0})
        if pg:
            out.append((_NODES_PG, (leaves, [lv for lv, _ in inner], [i for _, i in inner])))
        else:
            parts, params = [], []
            if leaves:
                parts.append(f"SELECT 0, seq, leaf_hash FROM journal WHERE seq IN ({', '.join('?' * len(leaves))})")
                params += leaves
            if inner:
                pairs = ", ".join(["(?, ?)"] * len(inner))
                parts.append(f"SELECT level, idx, hash FROM merkle_subtrees WHERE (level, idx) IN (VALUES {pairs})")
                params += [v for pair in inner for v in pair]
            out.append((" UNION ALL ".join(parts), tuple(params)))
    for span in spans:
        if span.level == 0:
            out.append((_LEAF_SPAN_SQL[backend], (span.start, span.stop)))
        else:
            out.append((_NODE_SPAN_SQL[backend], (span.level, span.start, span.stop)))
    if bodies is not None:
        out.append((_BODIES_SQL[backend], bodies))
    return out


class _ReadConnections:
    """PostgreSQL connections in autocommit for reads of committed journal rows (proofs, X2).

    Each is taken out of SQLAlchemy's pool once (``detach``) and kept in autocommit, so such a
    read costs no pool checkout, no BEGIN, no ROLLBACK on return, and psycopg's prepared
    statements stay from one read to the next; a read of several statements sends them in one
    pipeline. At most ``limit`` are kept; past that a read borrows a pooled connection, in
    autocommit for that read only. A lost connection closes every idle one too (a restart killed
    them all), as ``SqlUnitOfWork._lose`` does for the pool."""

    def __init__(self, engine: Engine, limit: int) -> None:
        self._engine = engine
        self._limit = limit
        self._idle: list[_Reader] = []
        self._open = 0
        self._lock = threading.Lock()

    def read(self, statements: list[Statement]) -> list[Rows]:
        try:
            reader = self._take()
        except _FAULTS as e:
            raise _translate(e) from e
        ok = False
        try:
            if not reader.own:
                reader.pg.autocommit = True
            results = _run_autocommit(reader, statements)
            ok = True
            return results
        except _FAULTS as e:
            if _lost(e):
                # As SqlUnitOfWork._lose: the pool replaces every connection opened before now.
                with contextlib.suppress(*_FAULTS):
                    self._engine.pool._invalidate(reader.raw, e)
                self._close_idle()
            raise _translate(e) from e
        finally:
            self._give(reader, ok)

    def _take(self) -> _Reader:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            own = self._open < self._limit
            self._open += own
        try:
            raw = self._engine.raw_connection()
            pg = cast("psycopg.Connection[tuple[object, ...]]", raw.dbapi_connection)
            reader = _Reader(raw, pg, own, pg.cursor())
            if own:
                raw.detach()
                reader.pg.autocommit = True
        except BaseException:
            if own:
                with self._lock:
                    self._open -= 1
            raise
        return reader

    def _give(self, reader: _Reader, ok: bool) -> None:
        if not reader.own:
            with contextlib.suppress(*_FAULTS):
                if ok:
                    reader.pg.autocommit = False
                else:
                    reader.raw.invalidate()
                reader.raw.close()
            return
        if ok:
            with self._lock:
                self._idle.append(reader)
            return
        with contextlib.suppress(*_FAULTS):
            reader.pg.close()  # detached: the pool neither resets nor closes it
        with self._lock:
            self._open -= 1

    def _close_idle(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
            self._open -= len(idle)
        for reader in idle:
            with contextlib.suppress(*_FAULTS):
                reader.pg.close()

    def close(self) -> None:
        self._close_idle()


@dataclass(frozen=True, slots=True)
class _Reader:
    raw: PoolProxiedConnection
    pg: psycopg.Connection[tuple[object, ...]]
    own: bool  # detached and kept in autocommit, or borrowed from the pool for one read
    cursor: psycopg.Cursor[tuple[object, ...]]  # reused: a read of one statement makes no cursor


def _run_autocommit(reader: _Reader, statements: list[Statement]) -> list[Rows]:
    """Each statement's rows; several go in one pipeline (one round trip)."""
    if len(statements) == 1:
        sql, params = statements[0]
        return [reader.cursor.execute(sql, params).fetchall()]
    pg = reader.pg
    with pg.pipeline():
        cursors = [pg.execute(sql, params) for sql, params in statements]
    return [cursor.fetchall() for cursor in cursors]


def _concatenated(rows: Rows) -> bytes:
    """A span's hashes as one bytes: PostgreSQL aggregates them into one value, SQLite returns rows."""
    values = [cast(tuple[bytes | None], row)[0] for row in rows]
    return b"".join(bytes(v) for v in values if v is not None)


_NODES_PG = (
    "SELECT 0, seq, leaf_hash FROM journal WHERE seq = ANY(%s::bigint[]) "
    "UNION ALL SELECT m.level, m.idx, m.hash FROM unnest(%s::int[], %s::bigint[]) AS w(level, idx) "
    "JOIN merkle_subtrees m ON m.level = w.level AND m.idx = w.idx"
)
_LEAF_SPAN_SQL = {
    "sqlite": "SELECT leaf_hash FROM journal WHERE seq >= ? AND seq < ? ORDER BY seq",
    "postgresql": "SELECT string_agg(leaf_hash, ''::bytea ORDER BY seq) FROM journal WHERE seq >= %s AND seq < %s",
}
_BODIES_SQL = {
    "sqlite": "SELECT body FROM journal WHERE seq >= ? AND seq < ? ORDER BY seq",
    "postgresql": "SELECT body FROM journal WHERE seq >= %s AND seq < %s ORDER BY seq",
}
_NODE_SPAN_SQL = {
    "sqlite": "SELECT hash FROM merkle_subtrees WHERE level = ? AND idx >= ? AND idx < ? ORDER BY idx",
    "postgresql": (
        "SELECT string_agg(hash, ''::bytea ORDER BY idx) FROM merkle_subtrees "
        "WHERE level = %s AND idx >= %s AND idx < %s"
    ),
}


_FORGET_NONCES_SQL = {
    "sqlite": "DELETE FROM request_nonces WHERE seen_at < ?",
    "postgresql": "DELETE FROM request_nonces WHERE seen_at < %s",
}
_INSERT_NONCES_PG = (
    "INSERT INTO request_nonces (account, nonce, seen_at) "
    "SELECT * FROM unnest(%s::text[], %s::text[], %s::bigint[]) "
    "ON CONFLICT DO NOTHING RETURNING account, nonce"
)
_SQLITE_NONCE_CHUNK = 300
"""Rows per SQLite INSERT: 900 bound values, under every SQLite's limit on variables."""
_CHUNK = 400
"""Keys per preload query: on SQLite at most 800 bound values (balances name two columns)."""


@lru_cache(maxsize=512)
def _write_sql(table: str, names: tuple[str, ...], keys: tuple[str, ...], rows: int, dialect: str) -> str:
    """``INSERT`` of ``rows`` rows; with ``keys``, rows whose keys exist replace the stored ones."""
    mark = "%s" if dialect == "postgresql" else "?"
    row = "(" + ", ".join([mark] * len(names)) + ")"
    columns = ", ".join(f'"{n}"' for n in names)
    sql = f"INSERT INTO {table} ({columns}) VALUES {', '.join([row] * rows)}"
    if keys:
        conflict = ", ".join(f'"{k}"' for k in keys)
        updates = ", ".join(f'"{n}" = excluded."{n}"' for n in names if n not in keys)
        sql += f" ON CONFLICT ({conflict}) DO UPDATE SET {updates}"
    return sql


def _cached(cache: dict[K, V], key: K, fetch: Callable[[K], V]) -> V:
    """``cache[key]``, fetched and kept in the cache the first time it is asked for."""
    if key not in cache:
        cache[key] = fetch(key)
    return cache[key]


def _chunks(values: Sequence[T], size: int = _CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _safe(url: str) -> str:
    return sa.engine.make_url(url).render_as_string(hide_password=True)


def _translate(error: Exception) -> Exception:
    """Driver errors that mean 'lost a race, retry' become ConcurrencyError; others stay.

    ``error`` is SQLAlchemy's wrapper or, for statements sent in a PostgreSQL pipeline, psycopg's
    own error."""
    orig = error.orig if isinstance(error, sa.exc.DBAPIError) else error
    text = str(orig).lower()
    code = getattr(orig, "sqlstate", None)
    if "database is locked" in text or code in {"40001", "40P01", "55P03"}:
        return ConcurrencyError(f"a concurrent writer got there first: {orig}")
    integrity = isinstance(error, sa.exc.IntegrityError) or (code or "").startswith("23")
    if integrity and "command_id" in text:
        return ConcurrencyError("a concurrent writer recorded this command id first")
    if _lost(error) or (isinstance(orig, sqlite3.DatabaseError) and not isinstance(orig, _SQLITE_DATA)):
        # includes a SQLite file that is unreadable, not a database or on a failing disk
        return StorageUnavailableError(f"the database failed: {orig}")
    if isinstance(error, _DATA_ERRORS) or isinstance(orig, _DATA_ERRORS) or (code or "").startswith("22"):
        # A data exception (SQLSTATE class 22): this data cannot be stored, e.g. U+0000 in text on
        # PostgreSQL. The engine reports it as the offending command's own error (IN10).
        return UnstorableError(f"the database cannot store this command's data: {orig}")
    return error


def _lost(error: BaseException) -> bool:
    """Whether ``error`` means the database or the connection to it is gone (a restart, a killed
    backend, a locked or unreadable SQLite file): the request may be retried later (HTTP 503)."""
    if isinstance(error, sa.exc.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, _OPERATIONAL_ERRORS + _INTERFACE_ERRORS + _POOL_ERRORS)


def _psycopg(conn: Connection) -> psycopg.Connection[tuple[object, ...]]:
    """The psycopg connection under SQLAlchemy's, for pipeline mode (SQLAlchemy has no API for it)."""
    driver: psycopg.Connection[tuple[object, ...]] | None = conn.connection.driver_connection
    if driver is None:
        raise StorageUnavailableError("the connection to the database was lost")
    return driver


_DRIVER_ERRORS: tuple[type[Exception], ...] = (sa.exc.DBAPIError,)
_OPERATIONAL_ERRORS: tuple[type[Exception], ...] = (sa.exc.OperationalError,)
_DATA_ERRORS: tuple[type[Exception], ...] = (sa.exc.DataError,)
_INTERFACE_ERRORS: tuple[type[Exception], ...] = (sa.exc.InterfaceError, sqlite3.OperationalError)
_POOL_ERRORS: tuple[type[Exception], ...] = (
    sa.exc.TimeoutError,
    sa.exc.PendingRollbackError,
    sa.exc.ResourceClosedError,
)
"""Raised by SQLAlchemy itself, not the driver, when its pool is exhausted or a connection it holds
has died under a transaction; they mean the same to a client as a lost connection."""
try:
    import psycopg

    _DRIVER_ERRORS = (sa.exc.DBAPIError, psycopg.Error)
    _OPERATIONAL_ERRORS = (sa.exc.OperationalError, psycopg.OperationalError)
    _INTERFACE_ERRORS = (sa.exc.InterfaceError, sqlite3.OperationalError, psycopg.InterfaceError)
    _DATA_ERRORS = (sa.exc.DataError, psycopg.DataError)
except ImportError:  # SQLite only
    pass
_SQLITE_DATA = (sqlite3.IntegrityError, sqlite3.DataError, sqlite3.ProgrammingError)
_FAULTS: tuple[type[Exception], ...] = _DRIVER_ERRORS + _POOL_ERRORS + (sqlite3.Error,)


class SqlUnitOfWork:
    def __init__(self, store: SqlStore, writable: bool) -> None:
        self._store = store
        self._writable = writable
        self._conn: Connection | None = None
        self._committed = False
        self.journal = _Journal(self)
        self.accounts = _Accounts(self)
        self.ledger = _Ledger(self)
        self.records = _Records(self)
        self.personal = _Personal(self)
        self.proposals = _Proposals(self)
        self._balances: dict[tuple[AccountId, CurrencyId], int] = {}
        self._dirty_balances: set[tuple[AccountId, CurrencyId]] = set()
        self._records: dict[tuple[str, str], str | None] = {}
        self._dirty_records: set[tuple[str, str]] = set()
        self._accounts: dict[AccountId, Account | None] = {}
        self._dirty_accounts: set[AccountId] = set()
        self._currencies: dict[CurrencyId, Currency | None] = {}
        self._dirty_currencies: set[CurrencyId] = set()
        self._pending: list[StoredEntry] = []
        self._pending_subtrees: list[dict[str, object]] = []
        self._commands: dict[str, StoredEntry | None] = {}
        self._head: JournalHead | None = None
        self._head_dirty = False
        self._grew = False  # entries were appended: a commit tells the tile cache (its newest head)

    @property
    def dialect(self) -> str:
        return self._store.backend

    def __enter__(self) -> Self:
        try:
            conn = self._store.engine.connect()
            if self._writable:
                conn = conn.execution_options(civic_write=True)
            elif self.dialect == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            self._conn = conn
            conn.begin()
            if self._writable and self.dialect == "postgresql":
                # This read takes the one writer lock (FOR UPDATE) for the transaction; sent in a
                # pipeline, the driver's BEGIN and the read share one round trip.
                [rows] = _run_statements(conn, self.dialect, [(_HEAD_FOR_UPDATE_PG, None)])
                self._head = _head_of(cast(_HeadColumns, rows[0]))
            elif self._writable:
                self._head = _head_of(conn.execute(_HEAD).one())  # BEGIN IMMEDIATE holds the lock
        except _FAULTS as e:
            self._lose(e)
            self._close()
            raise _translate(e) from e
        return self

    def __exit__(self, *exc: object) -> None:
        """Roll back unless committed, then give the connection back. A connection that died (the
        server restarted, the backend was killed) fails to roll back: nothing was committed on it,
        so the failure is not the caller's; the connection is thrown away and the error the caller
        is already raising, if any, stays the one it sees."""
        try:
            if not self._committed and self._conn is not None:
                self._conn.rollback()
        except _FAULTS as e:
            self._lose(e)
        finally:
            self._close()

    def _lose(self, error: BaseException) -> None:
        """After a lost connection: discard it, and have the pool replace the others it handed out
        before the loss (a restart kills them all; otherwise each would fail one more request)."""
        if self.dialect != "postgresql" or not _lost(error) or self._conn is None:
            return  # a SQLite file has no connection to lose; a lock is waited out, not reset
        # What SQLAlchemy does itself when a statement it ran meets a disconnect (statements of a
        # psycopg pipeline bypass it): this connection is discarded and every one opened before
        # now is closed and replaced when next checked out.
        with contextlib.suppress(*_FAULTS):
            self._store.engine.pool._invalidate(self._conn.connection, error if isinstance(error, Exception) else None)

    def _close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(*_FAULTS):  # the pool's reset rolled back on a dead connection
                conn.close()

    @property
    def conn(self) -> Connection:
        if self._conn is None:
            raise RuntimeError("the unit of work is not open")
        return self._conn

    def execute(self, statement: sa.Executable, params: Mapping[str, object] | None = None) -> Result:
        try:
            return self.conn.execute(statement, params) if params is not None else self.conn.execute(statement)
        except _FAULTS as e:
            self._lose(e)
            raise _translate(e) from e

    def driver(self, sql: str, params: Mapping[str, object]) -> Result:
        """Plain driver SQL for the few hottest lookups (named parameters in the driver's style)."""
        try:
            return self.conn.exec_driver_sql(sql, params)
        except _FAULTS as e:
            self._lose(e)
            raise _translate(e) from e

    def commit(self) -> None:
        # The buffered writes and, on PostgreSQL, the COMMIT go in one pipeline: one round trip.
        self._run(self._flush_statements(), commit=True)
        try:
            self.conn.commit()  # on PostgreSQL only SQLAlchemy's bookkeeping is left
        except _FAULTS as e:
            self._lose(e)
            raise _translate(e) from e
        self._committed = True
        if self._grew:
            self._store.tiles.forget_head()

    def rollback(self) -> None:
        try:
            self.conn.rollback()
        except _FAULTS as e:
            self._lose(e)
            raise _translate(e) from e

    def _writing(self) -> None:
        if not self._writable:
            raise RuntimeError("this unit of work is read-only")

    def preload(self, want: Preload) -> None:
        reads, fill = self._preload_reads(want)
        fill(self._run(reads))

    def spend_nonces(
        self, items: Sequence[tuple[str, str, int]], forget_before: int | None, preload: Preload | None = None
    ) -> list[bool]:
        self._writing()
        nonces = _nonce_statements(self.dialect, items, forget_before)
        reads, fill = self._preload_reads(preload or Preload())
        results = self._run(nonces + reads)
        fill(results[len(nonces) :])
        inserted = {(r.account, r.nonce) for rows in results[: len(nonces)] for r in cast(list[_NonceColumns], rows)}
        return _fresh_nonces(items, inserted)

    def _run(self, statements: list[Statement], commit: bool = False) -> list[Rows]:
        try:
            return _run_statements(self.conn, self.dialect, statements, commit)
        except _FAULTS as e:
            self._lose(e)
            raise _translate(e) from e

    def _preload_reads(self, want: Preload) -> tuple[list[Statement], Callable[[list[Rows]], None]]:
        """The SELECTs that load ``want`` into the caches, and what puts their rows there."""
        accounts = [a for a in dict.fromkeys(want.accounts) if a not in self._accounts]
        balances = [k for k in dict.fromkeys(want.balances) if k not in self._balances]
        currencies = [c for c in dict.fromkeys(want.currencies) if c not in self._currencies]
        commands = [c for c in dict.fromkeys(want.command_ids) if c not in self._commands]
        wanted_balances = set(balances)

        def put_account(row: object) -> None:
            row = cast(_AccountColumns, row)
            self._accounts[AccountId(row.id)] = _account_of(row)

        def put_currency(row: object) -> None:
            row = cast(_CurrencyColumns, row)
            self._currencies[CurrencyId(row.id)] = _currency_of(row)

        def put_command(row: object) -> None:
            row = cast(_JournalColumns, row)
            self._commands[row.command_id] = _stored_of(row)

        def put_balance(row: object) -> None:
            row = cast(_BalanceColumns, row)
            key = (AccountId(row.account), CurrencyId(row.currency))
            if key in wanted_balances:  # the query may also match pairs nobody asked for
                self._balances[key] = int(row.units)

        reads: list[Statement] = []
        fills: list[Callable[[object], None]] = []
        part: Sequence[str]
        for part in _chunks(accounts):
            reads.append(self._select_in(f"SELECT {_ACCOUNT_COLUMNS} FROM accounts", [("id", part)]))
            fills.append(put_account)
        for part in _chunks(currencies):
            reads.append(self._select_in(f"SELECT {_CURRENCY_COLUMNS} FROM currencies", [("id", part)]))
            fills.append(put_currency)
        for part in _chunks(commands):
            reads.append(self._select_in(f"SELECT {_JOURNAL_COLUMNS} FROM journal", [("command_id", part)]))
            fills.append(put_command)
        for pairs in _chunks(balances):
            columns: list[tuple[str, Sequence[str]]] = [
                ("account", sorted({a for a, _ in pairs})),
                ("currency", sorted({c for _, c in pairs})),
            ]
            reads.append(self._select_in("SELECT account, currency, units FROM balances", columns))
            fills.append(put_balance)

        def fill(results: list[Rows]) -> None:
            for a in accounts:
                self._accounts[a] = None
            for c in currencies:
                self._currencies[c] = None
            for k in balances:
                self._balances[k] = 0
            for cid in commands:
                self._commands[cid] = None
            for put, rows in zip(fills, results, strict=True):
                for row in rows:
                    put(row)

        return reads, fill

    def _select_in(self, select: str, columns: Sequence[tuple[str, Sequence[str]]]) -> Statement:
        """``select`` where each column is in its list (PostgreSQL: ``= ANY(array)``, one plan)."""
        if self.dialect == "postgresql":
            where = " AND ".join(f"{c} = ANY(%s)" for c, _ in columns)
            return f"{select} WHERE {where}", tuple(values for _, values in columns)
        where = " AND ".join(f"{c} IN ({', '.join('?' * len(values))})" for c, values in columns)
        return f"{select} WHERE {where}", tuple(v for _, values in columns for v in values)

    def clear_projections(self) -> None:
        self._writing()
        self.flush()
        for table in t.PROJECTION_TABLES:
            self.execute(table.delete())
        self._balances.clear()
        self._records.clear()
        self._accounts.clear()
        self._currencies.clear()

    # Flushing buffered writes -------------------------------------------------------------------

    def flush(self) -> None:
        self._run(self._flush_statements())

    def _flush_statements(self) -> list[Statement]:
        """The buffered writes as driver statements, in an order the constraints accept; clears the buffer."""
        if not self._writable:
            return []
        out: list[Statement] = []
        if self._dirty_accounts:
            rows = [_account_row(a) for a in (self._accounts[i] for i in sorted(self._dirty_accounts)) if a]
            out += self._upserts(t.accounts, ["id"], rows)
            self._dirty_accounts.clear()
        if self._dirty_currencies:
            rows = [_currency_row(c) for c in (self._currencies[i] for i in sorted(self._dirty_currencies)) if c]
            out += self._upserts(t.currencies, ["id"], rows)
            self._dirty_currencies.clear()
        if self._dirty_balances:
            keys = sorted(self._dirty_balances)
            units = self._balances
            put = [{"account": a, "currency": c, "units": units[(a, c)]} for a, c in keys if units[(a, c)]]
            gone = [(a, c) for a, c in keys if not units[(a, c)]]
            out += self._deletes(t.balances, ["account", "currency"], gone)
            out += self._upserts(t.balances, ["account", "currency"], put)
            self._dirty_balances.clear()
        if self._dirty_records:
            keys2 = sorted(self._dirty_records)
            values = self._records
            put = [{"ns": ns, "key": k, "value": values[(ns, k)]} for ns, k in keys2 if values[(ns, k)] is not None]
            deleted = [(ns, k) for ns, k in keys2 if values[(ns, k)] is None]
            out += self._deletes(t.records, ["ns", "key"], deleted)
            out += self._upserts(t.records, ["ns", "key"], put)
            self._dirty_records.clear()
        if self._pending:
            out += self._upserts(t.journal, [], [_journal_row(s) for s in self._pending])
            self._pending.clear()
        if self._pending_subtrees:
            out += self._upserts(t.merkle_subtrees, [], self._pending_subtrees)
            self._pending_subtrees = []
        if self._head_dirty and self._head is not None:
            head = self._head
            frontier = json.dumps([h.hex() for h in head.frontier.hashes])
            out.append((_UPDATE_HEAD_SQL[self.dialect], (head.size, frontier, head.time)))
            self._head_dirty = False
        return out

    def _upserts(self, table: sa.Table, keys: list[str], rows: Sequence[Mapping[str, object]]) -> list[Statement]:
        """Insert (or, with ``keys``, insert or replace) rows, as plain driver SQL compiled once per
        shape. On PostgreSQL as multi-row statements: psycopg sends every row of an ``executemany``
        as a command of its own, each a pass through the interpreter lock; SQLite's loops in C."""
        if not rows:
            return []
        names = tuple(c.name for c in table.columns)
        if self.dialect == "postgresql":
            return [
                (
                    _write_sql(table.name, names, tuple(keys), len(part), self.dialect),
                    tuple(r[n] for r in part for n in names),
                )
                for part in _chunks(rows)
            ]
        return [
            (_write_sql(table.name, names, tuple(keys), 1, self.dialect), [tuple(r[n] for n in names) for r in rows])
        ]

    def _deletes(self, table: sa.Table, keys: list[str], rows: Sequence[tuple[str, str]]) -> list[Statement]:
        if not rows:
            return []
        mark = "%s" if self.dialect == "postgresql" else "?"
        where = " AND ".join(f'"{k}" = {mark}' for k in keys)
        return [(f"DELETE FROM {table.name} WHERE {where}", rows)]


def _account_row(a: Account) -> dict[str, object]:
    return {
        "id": a.id,
        "kind": a.kind.value,
        "public_key": a.public_key,
        "name": a.name,
        "created_at": a.created_at,
        "verified": a.verified,
        "roles": json.dumps(sorted(a.roles)),
        "parent": a.parent,
    }


def _account_of(row: _AccountColumns) -> Account:
    return Account(
        AccountId(row.id),
        AccountKind(row.kind),
        row.public_key,
        row.name,
        int(row.created_at),
        bool(row.verified),
        frozenset(json.loads(row.roles)),
        AccountId(row.parent) if row.parent else None,
    )


def _currency_row(c: Currency) -> dict[str, object]:
    return {
        "id": c.id,
        "kind": c.kind.value,
        "issuer": c.issuer,
        "rule": c.rule.value,
        "decimals": c.decimals,
        "name": c.name,
        "issued": c.issued,
        "burned": c.burned,
    }


def _currency_of(row: _CurrencyColumns) -> Currency:
    return Currency(
        CurrencyId(row.id),
        CurrencyKind(row.kind),
        AccountId(row.issuer),
        IssuerRule(row.rule),
        int(row.decimals),
        row.name,
        int(row.issued),
        int(row.burned),
    )


_HEAD = sa.select(t.journal_head).where(t.journal_head.c.id == 1)
_UPDATE_HEAD_SQL = {
    "sqlite": "UPDATE journal_head SET size = ?, frontier = ?, time = ? WHERE id = 1",
    "postgresql": "UPDATE journal_head SET size = %s, frontier = %s, time = %s WHERE id = 1",
}
_HEAD_FOR_UPDATE_PG = "SELECT id, size, frontier, time FROM journal_head WHERE id = 1 FOR UPDATE"


_ACCOUNT_COLUMNS = "id, kind, public_key, name, created_at, verified, roles, parent"
_CURRENCY_COLUMNS = "id, kind, issuer, rule, decimals, name, issued, burned"
_JOURNAL_COLUMNS = "seq, command_id, command_type, time, body, leaf_hash, root, head_signature, payload_digest"
_FIND_COMMAND_SQL = {
    "sqlite": f"SELECT {_JOURNAL_COLUMNS} FROM journal WHERE command_id = :cid",
    "postgresql": f"SELECT {_JOURNAL_COLUMNS} FROM journal WHERE command_id = %(cid)s",
}
_ENTRY_SQL = {
    "sqlite": f"SELECT {_JOURNAL_COLUMNS} FROM journal WHERE seq = ?",
    "postgresql": f"SELECT {_JOURNAL_COLUMNS} FROM journal WHERE seq = %s",
}
_BALANCE_SQL = {
    "sqlite": "SELECT units FROM balances WHERE account = :a AND currency = :c",
    "postgresql": "SELECT units FROM balances WHERE account = %(a)s AND currency = %(c)s",
}
_ACCOUNT = sa.select(t.accounts).where(t.accounts.c.id == sa.bindparam("id"))
_CURRENCY = sa.select(t.currencies).where(t.currencies.c.id == sa.bindparam("id"))
_RECORD = sa.select(t.records.c.value).where(
    t.records.c.ns == sa.bindparam("ns"), t.records.c.key == sa.bindparam("key")
)


def _head_of(row: _HeadColumns) -> JournalHead:
    hashes = tuple(bytes.fromhex(h) for h in json.loads(row.frontier))
    return JournalHead(int(row.size), Frontier(int(row.size), hashes), int(row.time))


def _journal_row(s: StoredEntry) -> dict[str, object]:
    e = s.entry
    body = s.body or canonical_bytes(e.to_wire(), trusted=True)
    return {
        "seq": e.seq,
        "command_id": e.command.id,
        "command_type": e.command.type,
        "time": e.time,
        "body": body.decode(),
        "leaf_hash": s.leaf_hash,
        "root": s.head.root,
        "head_signature": s.head.signature,
        "payload_digest": s.payload_digest,
    }


def _stored_of(row: _JournalColumns) -> StoredEntry:
    entry = Entry.from_wire(json.loads(row.body))
    head = TreeHead(int(row.seq) + 1, row.root, int(row.time), row.head_signature)
    return StoredEntry(entry, bytes(row.leaf_hash), head, row.payload_digest)


class _Journal:
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._u = uow

    def head(self) -> JournalHead:
        if self._u._head is None:
            self._u._head = _head_of(self._u.execute(_HEAD).one())
        return self._u._head

    def append(self, stored: StoredEntry, head: JournalHead) -> None:
        self._u._writing()
        if stored.entry.seq != self.head().size:
            raise RuntimeError(f"journal out of sequence: {stored.entry.seq} after {self.head().size}")
        self._u._pending.append(stored)
        self._u._pending_subtrees += (
            {"level": level, "idx": index, "hash": value}
            for level, index, value in completed_subtrees(self.head().frontier, stored.leaf_hash)
        )
        self._u._commands[stored.entry.command.id] = stored
        self._u._head = head
        self._u._head_dirty = True
        self._u._grew = True

    def get(self, seq: int) -> StoredEntry | None:
        for s in self._u._pending:
            if s.entry.seq == seq:
                return s
        row = self._u.execute(sa.select(t.journal).where(t.journal.c.seq == seq)).first()
        return None if row is None else _stored_of(row)

    def find_command(self, command_id: str) -> StoredEntry | None:
        return _cached(self._u._commands, command_id, self._fetch_command)  # holds this transaction's own entries too

    def _fetch_command(self, command_id: str) -> StoredEntry | None:
        row = self._u.driver(_FIND_COMMAND_SQL[self._u.dialect], {"cid": command_id}).first()
        return None if row is None else _stored_of(row)

    def sign_head(self, seq: int, signature: str) -> None:
        self._u._writing()
        pending = self._u._pending
        for i, s in enumerate(pending):
            if s.entry.seq == seq:
                signed = StoredEntry(
                    s.entry,
                    s.leaf_hash,
                    TreeHead(s.head.size, s.head.root, s.head.time, signature),
                    s.payload_digest,
                    s.body,
                )
                pending[i] = self._u._commands[s.entry.command.id] = signed
                return
        self._u.execute(t.journal.update().where(t.journal.c.seq == seq).values(head_signature=signature))
        self._u._commands = {c: e for c, e in self._u._commands.items() if e is None or e.entry.seq != seq}

    def scan(self, start: int = 0, stop: int | None = None) -> Iterator[StoredEntry]:
        self._u.flush()
        query = sa.select(t.journal).where(t.journal.c.seq >= start).order_by(t.journal.c.seq)
        if stop is not None:
            query = query.where(t.journal.c.seq < stop)
        chunk = 1000
        position = start
        while True:
            rows = self._u.execute(query.where(t.journal.c.seq >= position).limit(chunk)).all()
            for row in rows:
                yield _stored_of(row)
            if len(rows) < chunk:
                return
            position = int(rows[-1].seq) + 1

    def leaf_hashes(self, size: int) -> list[bytes]:
        self._u.flush()
        rows = self._u.execute(
            sa.select(t.journal.c.leaf_hash).where(t.journal.c.seq < size).order_by(t.journal.c.seq)
        ).all()
        return [bytes(r.leaf_hash) for r in rows]

    def subtrees(self, wanted: Sequence[Node]) -> dict[Node, bytes]:
        self._u.flush()
        leaves = sorted({i for lv, i in wanted if lv == 0})
        inner = sorted({(lv, i) for lv, i in wanted if lv > 0})
        j, m = t.journal.c, t.merkle_subtrees.c
        parts: list[sa.Select[Any]] = []
        if leaves:
            parts.append(sa.select(sa.literal(0).label("level"), j.seq, j.leaf_hash).where(j.seq.in_(leaves)))
        if inner:
            parts.append(sa.select(m.level, m.idx, m.hash).where(sa.tuple_(m.level, m.idx).in_(inner)))
        if not parts:
            return {}
        query = parts[0] if len(parts) == 1 else sa.union_all(*parts)  # one round trip
        rows = cast(list[tuple[int, int, bytes]], self._u.execute(query).all())
        return {(int(lv), int(i)): bytes(h) for lv, i, h in rows}

    def level_hashes(self, level: int, start: int, stop: int) -> list[bytes]:
        self._u.flush()
        if level == 0:
            j = t.journal.c
            query = sa.select(j.leaf_hash.label("hash")).where(j.seq >= start, j.seq < stop).order_by(j.seq)
        else:
            m = t.merkle_subtrees.c
            query = sa.select(m.hash).where(m.level == level, m.idx >= start, m.idx < stop).order_by(m.idx)
        return [bytes(r.hash) for r in self._u.execute(query)]

    def leaf_bodies(self, start: int, stop: int) -> list[bytes]:
        self._u.flush()
        j = t.journal.c
        query = sa.select(j.body).where(j.seq >= start, j.seq < stop).order_by(j.seq)
        return [r.body.encode() for r in self._u.execute(query)]

    def latest_signed_head(self, at_most: int | None = None) -> TreeHead | None:
        self._u.flush()
        j = t.journal.c
        # The head's columns only: parsing the entry's JSON would cost more than the query.
        query = sa.select(j.seq, j.root, j.time, j.head_signature).where(j.head_signature != "")
        query = query.order_by(j.seq.desc()).limit(1)
        if at_most is not None:
            query = query.where(j.seq < at_most)
        row = self._u.execute(query).first()
        return None if row is None else TreeHead(int(row.seq) + 1, row.root, int(row.time), row.head_signature)

    def signed_heads(self, start: int, stop: int) -> list[TreeHead]:
        self._u.flush()
        j = t.journal.c
        query = sa.select(j.seq, j.root, j.time, j.head_signature).where(
            j.seq >= start, j.seq < stop, j.head_signature != ""
        )
        rows = self._u.execute(query.order_by(j.seq))
        return [TreeHead(int(r.seq) + 1, r.root, int(r.time), r.head_signature) for r in rows]


class _Accounts:
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._u = uow

    def get(self, account: AccountId) -> Account | None:
        return _cached(self._u._accounts, account, self._fetch)

    def _fetch(self, account: AccountId) -> Account | None:
        row = self._u.execute(_ACCOUNT, {"id": account}).first()
        return None if row is None else _account_of(row)

    def get_many(self, accounts: Iterable[AccountId]) -> dict[AccountId, Account]:
        wanted = list(dict.fromkeys(accounts))
        self._u.preload(Preload(accounts=wanted))
        cache = self._u._accounts
        return {a: found for a in wanted if (found := cache[a]) is not None}

    def put(self, account: Account) -> None:
        self._u._writing()
        self._u._accounts[account.id] = account
        self._u._dirty_accounts.add(account.id)

    def scan(self) -> Iterator[Account]:
        self._u.flush()
        for row in self._u.execute(sa.select(t.accounts).order_by(t.accounts.c.id)):
            yield _account_of(row)


class _Ledger:
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._u = uow

    def currency(self, currency: CurrencyId) -> Currency | None:
        return _cached(self._u._currencies, currency, self._fetch_currency)

    def _fetch_currency(self, currency: CurrencyId) -> Currency | None:
        row = self._u.execute(_CURRENCY, {"id": currency}).first()
        return None if row is None else _currency_of(row)

    def put_currency(self, currency: Currency) -> None:
        self._u._writing()
        self._u._currencies[currency.id] = currency
        self._u._dirty_currencies.add(currency.id)

    def currencies(self) -> Iterator[Currency]:
        self._u.flush()
        for row in self._u.execute(sa.select(t.currencies).order_by(t.currencies.c.id)):
            yield _currency_of(row)

    def balance(self, account: AccountId, currency: CurrencyId) -> int:
        return self.balances([(account, currency)])[(account, currency)]

    def balances(self, keys: Iterable[tuple[AccountId, CurrencyId]]) -> dict[tuple[AccountId, CurrencyId], int]:
        cache = self._u._balances
        wanted = list(keys)
        missing = [k for k in wanted if k not in cache]
        if missing:
            if len(missing) <= 2:
                for k in missing:
                    cache[k] = 0
                # The hottest read of all (a transfer): plain driver SQL, one row per key.
                sql = _BALANCE_SQL[self._u.dialect]
                for account, currency in missing:
                    row = self._u.driver(sql, {"a": account, "c": currency}).first()
                    if row is not None:
                        cache[(account, currency)] = int(cast(int, row[0]))
            else:
                self._u.preload(Preload(balances=missing))
        return {k: cache[k] for k in wanted}

    def set_balance(self, account: AccountId, currency: CurrencyId, units: int) -> None:
        self._u._writing()
        self._u._balances[(account, currency)] = units
        self._u._dirty_balances.add((account, currency))

    def holdings(self, account: AccountId) -> dict[CurrencyId, int]:
        self._u.flush()
        b = t.balances
        rows = self._u.execute(sa.select(b.c.currency, b.c.units).where(b.c.account == account).order_by(b.c.currency))
        return {CurrencyId(r.currency): int(r.units) for r in rows}

    def holders(self, currency: CurrencyId) -> dict[AccountId, int]:
        self._u.flush()
        b = t.balances
        rows = self._u.execute(sa.select(b.c.account, b.c.units).where(b.c.currency == currency).order_by(b.c.account))
        return {AccountId(r.account): int(r.units) for r in rows}

    def scan_balances(self) -> Iterator[tuple[AccountId, CurrencyId, int]]:
        self._u.flush()
        b = t.balances
        for r in self._u.execute(sa.select(b).order_by(b.c.account, b.c.currency)):
            yield AccountId(r.account), CurrencyId(r.currency), int(r.units)

    def sums_by_currency(self) -> dict[CurrencyId, int]:
        self._u.flush()
        b = t.balances
        rows = self._u.execute(sa.select(b.c.currency, sa.func.sum(b.c.units)).group_by(b.c.currency))
        return {CurrencyId(c): int(s) for c, s in sorted(cast(Iterable[tuple[str, int]], rows)) if s}


class _Records:
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._u = uow

    def get(self, ns: str, key: str) -> JSONValue:
        raw = _cached(self._u._records, (ns, key), self._fetch)
        return None if raw is None else json.loads(raw)

    def _fetch(self, ns_key: tuple[str, str]) -> str | None:
        ns, key = ns_key
        row = self._u.execute(_RECORD, {"ns": ns, "key": key}).first()
        return None if row is None else str(row.value)

    def put(self, ns: str, key: str, value: object) -> None:
        self._u._writing()
        self._u._records[(ns, key)] = canonical_bytes(value).decode()
        self._u._dirty_records.add((ns, key))

    def delete(self, ns: str, key: str) -> None:
        self._u._writing()
        self._u._records[(ns, key)] = None
        self._u._dirty_records.add((ns, key))

    def scan(self, ns: str, prefix: str = "") -> Iterator[tuple[str, JSONValue]]:
        self._u.flush()
        r = t.records
        query = sa.select(r.c.key, r.c.value).where(r.c.ns == ns).order_by(r.c.key)
        if prefix:
            query = query.where(r.c.key >= prefix, r.c.key < prefix + "\U0010ffff")
        for row in self._u.execute(query).all():
            yield row.key, json.loads(row.value)

    def namespaces(self) -> list[str]:
        self._u.flush()
        r = t.records
        return [row.ns for row in self._u.execute(sa.select(r.c.ns).distinct().order_by(r.c.ns))]


class _Personal:
    """Off-journal personal data (IN11), table ``personal_data``: not a projection."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._u = uow

    def put(self, item: PersonalItem) -> None:
        self._u._writing()
        p = t.personal_data
        self._u.execute(p.delete().where(p.c.ref == item.ref))
        self._u.execute(p.insert().values(ref=item.ref, subject=item.subject, salt=item.salt, text=item.text))

    def get(self, ref: str) -> PersonalItem | None:
        p = t.personal_data
        row = self._u.execute(sa.select(p.c.ref, p.c.salt, p.c.subject, p.c.text).where(p.c.ref == ref)).first()
        return None if row is None else PersonalItem(str(row.ref), str(row.salt), str(row.subject), str(row.text))

    def erase_subject(self, subject: str) -> int:
        self._u._writing()
        p = t.personal_data
        count = len(self.refs_of(subject))
        self._u.execute(p.delete().where(p.c.subject == subject))
        return count

    def refs_of(self, subject: str) -> list[str]:
        p = t.personal_data
        return [str(r.ref) for r in self._u.execute(sa.select(p.c.ref).where(p.c.subject == subject).order_by(p.c.ref))]

    def with_text(self, text: str) -> list[PersonalItem]:
        p = t.personal_data
        query = sa.select(p.c.ref, p.c.salt, p.c.subject, p.c.text).where(p.c.text == text).order_by(p.c.ref)
        return [PersonalItem(str(r.ref), str(r.salt), str(r.subject), str(r.text)) for r in self._u.execute(query)]


class _Proposals:
    """Council drafts collecting co-signatures (kernel/proposals.py), table ``proposals``: not a projection."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._u = uow

    def put(self, proposal: Proposal) -> None:
        self._u._writing()
        p = t.proposals
        body = canonical_bytes(proposal.to_wire()).decode()
        self._u.execute(p.delete().where(p.c.id == proposal.id))
        self._u.execute(
            p.insert().values(id=proposal.id, created_at=proposal.created_at, status=proposal.status.value, body=body)
        )

    def get(self, proposal: str) -> Proposal | None:
        p = t.proposals
        row = self._u.execute(sa.select(p.c.body).where(p.c.id == proposal)).first()
        return None if row is None else Proposal.from_wire(json.loads(row.body))

    def newest(self, limit: int) -> list[Proposal]:
        p = t.proposals
        query = sa.select(p.c.body).order_by(p.c.created_at.desc(), p.c.id.desc()).limit(limit)
        return [Proposal.from_wire(json.loads(r.body)) for r in self._u.execute(query)]
