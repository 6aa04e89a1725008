"""A full disk under a served economy (issue 18, part 2): writes are answered 503 with
Retry-After, never 500, nothing acknowledged is lost, and once space returns the server writes again
by itself (X2).

The disk is real where the test may mount one: a 16 MiB tmpfs holding the database, filled up by a
file that is removed to give the space back. Where mounting is not permitted, the same SQLite error
(SQLITE_FULL, "database or disk is full") comes from SQLite's own ``max_page_count`` limit, set on
every connection the store hands out, and raised to give the space back (``CIVIC_FAULTS_NO_MOUNT=1``
takes that way even where a mount is permitted). On PostgreSQL (in the suite's PostgreSQL run) a
private cluster's data directory is on a 96 MiB tmpfs, filled up the same way."""

from __future__ import annotations

import contextlib
import errno
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import sqlalchemy as sa

from civicledger.adapters.clock import WallClock
from civicledger.adapters.crypto import Ed25519Verifier
from civicledger.adapters.memory import MemoryStore
from civicledger.adapters.sql.store import SqlStore
from civicledger.api.app import create_app
from civicledger.kernel import audit
from tests.e2e.serving import SigningClient, funded_pair, serve_app
from tests.faults.cluster import mount_tmpfs, private_cluster, unmount
from tests.faults.serving import send, transfer


@contextlib.contextmanager
def small_disk() -> Iterator[tuple[Path, bool]]:
    """A directory on a 16 MiB filesystem of its own if one can be mounted (True), else a plain one."""
    directory = Path(tempfile.mkdtemp(prefix="civic-disk-"))
    mounted = mount_tmpfs(directory, 16)
    try:
        yield directory, mounted
    finally:
        if mounted:
            unmount(directory)
        subprocess.run(["rm", "-rf", str(directory)], capture_output=True, timeout=30)


def _fill(directory: Path) -> Path:
    """Write a file until the filesystem says it is full (ENOSPC)."""
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError as e:
            assert e.errno == errno.ENOSPC, e
    return filler


def test_x02_a_full_disk_gives_503_with_retry_after_and_writes_resume_when_space_returns() -> None:
    with small_disk() as (directory, mounted):
        store = SqlStore.open(f"sqlite:///{directory / 'economy.db'}")
        limit: dict[str, int | None] = {"pages": None}  # max_page_count when the disk is emulated

        if not mounted:

            @sa.event.listens_for(store.engine, "checkout")
            def _limit(dbapi_connection: object, _record: object, _proxy: object) -> None:
                cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
                cursor.execute(f"PRAGMA max_page_count = {limit['pages'] or 1073741823}")
                cursor.close()

        def fill() -> None:
            if mounted:
                _fill(directory)
            else:
                with store.engine.connect() as conn:
                    limit["pages"] = int(conn.exec_driver_sql("PRAGMA page_count").scalar_one())

        def free() -> None:
            if mounted:
                (directory / "filler").unlink()
            else:
                limit["pages"] = None

        try:
            _starve_and_recover(store, fill, free)
        finally:
            store.close()


def test_x02_a_full_disk_under_postgres_gives_503_and_writes_resume_when_space_returns() -> None:
    """The same with a private PostgreSQL cluster on a 96 MiB tmpfs ("could not extend file": SQLSTATE
    53100); in the PostgreSQL run only, skipped where no filesystem can be mounted."""
    with private_cluster(disk_megabytes=96) as cluster:
        store = SqlStore.open(cluster.url, pool_size=4)
        try:
            _starve_and_recover(store, lambda: _fill(cluster.home), lambda: (cluster.home / "filler").unlink())
        finally:
            store.close()


def _starve_and_recover(store: SqlStore, fill: Callable[[], object], free: Callable[[], object]) -> None:
    """Serve ``store``, fill the disk under load, then give the space back: 503s while it is full,
    never a 500, reads go on, writes resume by themselves, nothing acknowledged is lost."""
    economy = funded_pair(store)
    app = create_app(store, WallClock(), economy.key("journal"), pages=False)
    acked: set[str] = set()
    with serve_app(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        client = SigningClient(http, economy)
        now = int(http.get("/api/economy").json()["now"])
        for _ in range(3):
            cid = uuid.uuid4().hex
            assert send(client, transfer(client, cid, now), now).status_code == 200
            acked.add(cid)
        fill()
        full = 0
        for _ in range(400):  # until a write needs a page the disk has not got
            cid = uuid.uuid4().hex
            response = send(client, transfer(client, cid, now), now)
            assert response.status_code in (200, 503), response.text
            if response.status_code == 200:
                acked.add(cid)
                continue
            assert response.headers["retry-after"], response.text
            assert response.json()["rule"] == "X2"
            full += 1
            if full >= 5:
                break
        assert full >= 5, "the disk never filled up"
        assert http.get("/api/journal/1").status_code == 200  # reads go on while the disk is full
        free()
        for _ in range(5):  # by itself: no restart, no action but the space coming back
            cid = uuid.uuid4().hex
            response = send(client, transfer(client, cid, now), now)
            assert response.status_code == 200, response.text
            acked.add(cid)
    with store.read() as uow:
        for cid in acked:
            assert uow.journal.find_command(cid) is not None, f"acknowledged {cid} is lost"
    report = audit.verify_store(store, Ed25519Verifier(), MemoryStore)
    assert report.ok, report.reason
