"""A private PostgreSQL cluster a test may crash, restart or starve of disk: Debian's ``initdb`` and
``pg_ctl`` (under /usr/lib/postgresql/*/bin) on a free port in a temporary directory, never the shared
server the rest of the suite uses. As root they run as the ``postgres`` user (they refuse root)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import BACKEND
from tests.e2e.serving import free_port


def binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


def run_as_postgres(command: list[str]) -> None:
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    subprocess.run(command, check=True, capture_output=True, timeout=120)


@dataclass
class Cluster:
    bin: Path
    home: Path
    data: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def pg_ctl(self, *args: str) -> None:
        run_as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60", *args])

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data} -c fsync=on"
        self.pg_ctl("-o", options, "-l", str(self.home / "server.log"), "start")


def mount_tmpfs(directory: Path, megabytes: int) -> bool:
    """A filesystem of ``megabytes`` at ``directory``, if this process may mount one
    (``CIVIC_FAULTS_NO_MOUNT=1`` says it may not)."""
    if os.geteuid() != 0 or os.environ.get("CIVIC_FAULTS_NO_MOUNT") == "1":
        return False
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "civic-faults", str(directory)],
        capture_output=True,
        timeout=30,
    )
    return result.returncode == 0


def unmount(directory: Path) -> None:
    subprocess.run(["umount", "-l", str(directory)], capture_output=True, timeout=30)


@contextmanager
def private_cluster(disk_megabytes: int | None = None) -> Iterator[Cluster]:
    """A started cluster, stopped and removed on the way out; with ``disk_megabytes``, on a tmpfs of
    that size (skipped if none can be mounted). Only in the suite's PostgreSQL run."""
    if BACKEND != "postgresql":
        pytest.skip("tried once per CI run: in the run with CIVIC_TEST_STORE=postgresql")
    found = binaries()
    if found is None:
        pytest.skip("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin (Debian's postgresql package)")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: initdb cannot run as the postgres user")
    home = Path(tempfile.mkdtemp(prefix="civic-pg-"))
    mounted = False
    if disk_megabytes is not None:
        mounted = mount_tmpfs(home, disk_megabytes)
        if not mounted:
            shutil.rmtree(home, ignore_errors=True)
            pytest.skip("no filesystem could be mounted for the cluster's full disk (not root, or not permitted)")
    if os.geteuid() == 0:
        shutil.chown(home, "postgres")
    data = home / "data"
    try:
        run_as_postgres([str(found / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"])
        cluster = Cluster(found, home, data, free_port())
        cluster.start()
        try:
            yield cluster
        finally:
            cluster.pg_ctl("-m", "immediate", "stop")
    finally:
        if mounted:
            unmount(home)
        shutil.rmtree(home, ignore_errors=True)
