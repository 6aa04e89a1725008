"""A full disk under a served SQLite economy (issue 18, part 2): writes are answered 503 with
Retry-After, never 500, nothing acknowledged is lost, and once space returns the server writes again
by itself (X2).

The disk is real where the test may mount one: a 16 MiB tmpfs holding the database, filled up by a
file that is removed to give the space back. Where mounting is not permitted, the same SQLite error
(SQLITE_FULL, "database or disk is full") comes from SQLite's own ``max_page_count`` limit, set on
every connection the store hands out, and raised to give the space back (``CIVIC_FAULTS_NO_MOUNT=1``
takes that way even where a mount is permitted)."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
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
from tests.faults.serving import send, transfer


@dataclass
class Disk:
    """Where the database lives, and how to fill it up and give the space back."""

    directory: Path
    fill: object
    free: object
    how: str


def _mount_tmpfs(directory: Path) -> bool:
    if os.geteuid() != 0 or os.environ.get("CIVIC_FAULTS_NO_MOUNT") == "1":
        return False
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "civic-full-disk", str(directory)], capture_output=True, timeout=30
    )
    return result.returncode == 0


@contextlib.contextmanager
def small_disk() -> Iterator[tuple[Path, bool]]:
    """A directory on a 16 MiB filesystem of its own if one can be mounted (True), else a plain one."""
    directory = Path(tempfile.mkdtemp(prefix="civic-disk-"))
    mounted = _mount_tmpfs(directory)
    try:
        yield directory, mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(directory)], capture_output=True, timeout=30)
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
        limit = {"pages": None}  # max_page_count when the disk is emulated; None: no limit

        if not mounted:

            @sa.event.listens_for(store.engine, "checkout")
            def _limit(dbapi_connection: object, _record: object, _proxy: object) -> None:
                cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
                cursor.execute(f"PRAGMA max_page_count = {limit['pages'] or 1073741823}")
                cursor.close()

        try:
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
                if mounted:
                    filler = _fill(directory)
                else:
                    with store.engine.connect() as conn:
                        limit["pages"] = int(conn.exec_driver_sql("PRAGMA page_count").scalar_one())
                full = 0
                for _ in range(400):  # until the WAL and the database need a page the disk has not got
                    cid = uuid.uuid4().hex
                    response = send(client, transfer(client, cid, now, units=1), now)
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
                if mounted:
                    filler.unlink()
                else:
                    limit["pages"] = None
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
        finally:
            store.close()
