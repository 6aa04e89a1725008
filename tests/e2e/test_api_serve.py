"""`civic serve` as a user runs it: a real process on a free port, SQLite by default."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.e2e.serving import free_port


def _wait(url: str, process: subprocess.Popen[str]) -> httpx.Response:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        try:
            return httpx.get(url, timeout=2)
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError("civic serve did not answer")


def test_civic_serve_demo_serves_the_api_and_the_pages_on_sqlite(tmp_path: Path) -> None:
    port = free_port()
    env = os.environ | {"CIVIC_DATA_DIR": str(tmp_path / "data")}
    env.pop("CIVIC_DB", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "civicledger", "serve", "--demo", "--port", str(port), "--log-level", "warning"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        economy = _wait(f"http://127.0.0.1:{port}/api/economy", process).json()
        assert economy["name"] == "Demo Town" and economy["entries"] > 100
        assert httpx.get(f"http://127.0.0.1:{port}/").status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/openapi.json").json()["info"]["title"] == "civicledger"
    finally:
        process.terminate()
        process.communicate(timeout=30)
    assert (tmp_path / "data" / "civicledger.db").exists()  # the CLI's default store: a SQLite file


def test_civic_serve_without_a_journal_key_says_so(tmp_path: Path) -> None:
    env = os.environ | {"CIVIC_DATA_DIR": str(tmp_path / "data")}
    result = subprocess.run(
        [sys.executable, "-m", "civicledger", "serve", "--port", str(free_port())],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 3, result.stderr
    assert "journal" in result.stdout + result.stderr
