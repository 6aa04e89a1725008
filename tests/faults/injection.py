"""Deterministic fault injection under the ``Store`` port (issue 18): a seeded plan decides, at every
storage call, SQL statement and commit, whether the call fails, the connection drops, or the process
"crashes" there.

Where a fault can strike (a *point*):

- ``call``: before any method of a unit of work or of one of its repositories (every store);
- ``statement``: before each SQL statement SQLAlchemy sends, so between any two statements of a
  write, including those a commit flushes (SQLite; on PostgreSQL the statements SQLAlchemy runs
  itself: the buffered writes go in one psycopg pipeline, which is one ``call``);
- ``commit``: just before the driver's COMMIT;
- ``committed``: just after a commit returned and before the caller hears of it (the command is
  durable, its answer is lost: a client retrying it must get the same answer, X5).

What a fault does:

- ``fail``: the call raises what the store raises when its database fails (``StorageUnavailableError``
  at a ``call``; the driver's own I/O error at a ``statement``, which the store translates). The
  transaction rolls back; the process lives on.
- ``drop``: the connection under the unit of work is closed (SQL stores only; PostgreSQL: the server
  went away), and the call goes on into the closed connection.
- ``crash``: ``Crash`` is raised and the plan is *dead*: every later storage call of this process
  raises ``Crash`` too, so nothing more is written or committed. The harness then throws the store
  and the engine away and opens new ones on the same database (a restart). What the unit of work
  had not committed is lost: the memory store's undo log rolls it back, and a SQL unit of work's
  exit rolls its transaction back (the driver's rollback, not a statement, so never a point) before
  the old engine is disposed, as SQLite's WAL and PostgreSQL's recovery would after a real crash.
  (A real process death, ``SIGKILL``, is in ``test_x02_x05_killed_server.py``.)
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from civicledger.kernel.errors import StorageUnavailableError
from civicledger.kernel.merkle import Node
from civicledger.kernel.ports import JournalRows, Store
from civicledger.kernel.tilecache import TileSpan

KINDS = ("fail", "drop", "crash")


class Crash(BaseException):
    """The process died at this point. A ``BaseException``: no ``except Exception`` of the code under
    test may swallow it, as nothing can catch a SIGKILL."""


@dataclass
class FaultPlan:
    """Seeded: the same seed and the same calls give the same faults, so a failure reproduces."""

    seed: int
    rate: float = 0.01
    """The chance of a fault at each point."""
    max_faults: int = 10
    """After this many faults the plan stops injecting, so a history always finishes."""
    kinds: Sequence[str] = KINDS
    armed: bool = True
    dead: bool = False
    faults: int = 0
    crashes: int = 0
    points: int = 0
    log: list[str] = field(default_factory=list)
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def restarted(self) -> None:
        """A new process: storage calls work again."""
        self.dead = False

    def draw(self, where: str, kinds: Sequence[str]) -> str | None:
        """The fault to inject at this point, if any (and a crash kills the plan)."""
        if self.dead:
            raise Crash(f"{where}: after a crash")
        if not self.armed:
            return None
        self.points += 1
        if self.faults >= self.max_faults or self.rng.random() >= self.rate:
            return None
        kind = self.rng.choice([k for k in self.kinds if k in kinds])
        self.faults += 1
        self.log.append(f"{kind}@{where}#{self.points}")
        if kind == "crash":
            self.crashes += 1
            self.dead = True
            raise Crash(f"crash at {where} (point {self.points})")
        return kind

    def paused(self) -> _Paused:
        return _Paused(self)


class _Paused:
    """No faults while the harness checks the state (its reads are not the system under test)."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self.was = plan.armed

    def __enter__(self) -> None:
        self.plan.armed = False

    def __exit__(self, *exc: object) -> None:
        self.plan.armed = self.was


class FaultyStore:
    """A ``Store`` whose units of work meet ``plan`` at every call, and whose own ``write``,
    ``journal_rows`` and ``consume_nonces`` do too; on a SQL store, every statement and COMMIT also."""

    def __init__(self, inner: Store, plan: FaultPlan) -> None:
        self.inner = inner
        self.plan = plan
        self.backend = inner.backend
        self.tiles = inner.tiles
        engine = getattr(inner, "engine", None)
        if isinstance(engine, sa.engine.Engine):
            _listen(engine, plan, inner.backend)

    def write(self) -> Any:
        self.plan.draw("store.write", ("fail", "crash"))
        return _FaultyUnitOfWork(self.inner.write(), self.plan, self.backend)

    def read(self) -> Any:
        return _FaultyUnitOfWork(self.inner.read(), self.plan, self.backend)

    def journal_rows(
        self, seq: int | None, nodes: Sequence[Node], spans: Sequence[TileSpan], bodies: tuple[int, int] | None = None
    ) -> JournalRows:
        _fail_or_crash(self.plan, "store.journal_rows")
        return self.inner.journal_rows(seq, nodes, spans, bodies)

    def consume_nonces(self, items: Sequence[tuple[str, str, int]], forget_before: int | None) -> list[bool]:
        with self.write() as uow:
            fresh: list[bool] = uow.spend_nonces(items, forget_before)
            uow.commit()
        return fresh

    def close(self) -> None:
        self.inner.close()


def _fail_or_crash(plan: FaultPlan, where: str) -> None:
    if plan.draw(where, ("fail", "crash")) == "fail":
        raise StorageUnavailableError(f"the database failed (injected at {where})")


class _FaultyUnitOfWork:
    def __init__(self, inner: Any, plan: FaultPlan, backend: str) -> None:
        self._inner = inner
        self._plan = plan
        self._backend = backend
        for name in ("journal", "accounts", "ledger", "records", "personal"):
            setattr(self, name, _FaultyPart(getattr(inner, name), self, name))

    def point(self, where: str) -> None:
        kinds = ("fail", "drop", "crash") if self._backend != "memory" else ("fail", "crash")
        kind = self._plan.draw(where, kinds)
        if kind == "fail":
            raise StorageUnavailableError(f"the database failed (injected at {where})")
        if kind == "drop":
            _drop(self._inner)

    def __enter__(self) -> _FaultyUnitOfWork:
        _fail_or_crash(self._plan, "uow.begin")
        self._inner.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._inner.__exit__(*exc)

    def commit(self) -> None:
        self.point("uow.commit")
        self._inner.commit()
        self._plan.draw("uow.committed", ("crash",))

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self.point(f"uow.{name}")
            return attr(*args, **kwargs)

        return call


class _FaultyPart:
    """A repository of a faulty unit of work: each method call is a point."""

    def __init__(self, inner: Any, uow: _FaultyUnitOfWork, name: str) -> None:
        self._inner = inner
        self._uow = uow
        self._name = name

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr
        where = f"{self._name}.{name}"

        def call(*args: Any, **kwargs: Any) -> Any:
            self._uow.point(where)
            result = attr(*args, **kwargs)
            if isinstance(result, Iterator):
                return _points_while(result, self._uow, where)  # a scan can fail half way
            return result

        return call


def _points_while(items: Iterator[Any], uow: _FaultyUnitOfWork, where: str) -> Iterator[Any]:
    for i, item in enumerate(items):
        if i and i % 16 == 0:
            uow.point(where + ".next")
        yield item


def _drop(inner: Any) -> None:
    """Close the driver connection under a SQL unit of work (what a server restart does to it)."""
    conn = getattr(inner, "_conn", None)
    if conn is None:
        return
    try:
        driver = conn.connection.dbapi_connection
    except sa.exc.SQLAlchemyError:
        return
    if driver is not None:
        driver.close()


def _listen(engine: sa.engine.Engine, plan: FaultPlan, backend: str) -> None:
    """Points at every SQL statement and before every COMMIT of ``engine``."""

    def before(conn: sa.Connection, cursor: Any, statement: str, *_: Any) -> None:
        kind = plan.draw("sql:" + statement.split(None, 1)[0].lower(), KINDS)
        if kind == "fail":
            raise _io_error(backend)
        if kind == "drop":
            conn.connection.dbapi_connection.close()  # type: ignore[union-attr]

    def commit(conn: sa.Connection) -> None:
        if plan.draw("sql:commit", ("fail", "crash")) == "fail":
            raise _io_error(backend)

    sa.event.listen(engine, "before_cursor_execute", before)
    sa.event.listen(engine, "commit", commit)


def _io_error(backend: str) -> Exception:
    if backend == "postgresql":
        import psycopg

        return psycopg.OperationalError("server closed the connection unexpectedly (injected)")
    return sqlite3.OperationalError("disk I/O error (injected)")
