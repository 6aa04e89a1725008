"""End-to-end fixtures: the real `civic` process, on the suite's backend.

On PostgreSQL each test gets its own schema, named in the URL's ``options`` so the CLI needs no
special flag: ``postgresql+psycopg://...?options=-csearch_path%3D<schema>``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from civicledger.adapters.scripted import ScriptedEconomy
from tests.conftest import BACKEND, POSTGRES_URL, require_postgres
from tests.e2e.serving import demo_economy, live_server


@dataclass
class Civic:
    """Runs `civic` in a fresh directory with its own data directory and database."""

    cwd: Path
    env: dict[str, str]

    def __call__(self, *args: str, check: int | None = 0) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "civicledger", *args],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check is not None:
            assert result.returncode == check, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
        return result

    def json(self, *args: str, check: int | None = 0) -> Any:
        result = self(*args, "--json", check=check)
        return json.loads(result.stdout)


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    if BACKEND != "postgresql":
        yield f"sqlite:///{tmp_path / 'civic-data' / 'civicledger.db'}"
        return
    require_postgres()
    schema = f"e2e_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    admin.dispose()


@pytest.fixture
def civic(tmp_path: Path, db_url: str) -> Civic:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIVIC_")}
    env.update({"CIVIC_DATA_DIR": str(tmp_path / "civic-data"), "CIVIC_DB": db_url, "COLUMNS": "200"})
    return Civic(tmp_path, env)


CivicRunner = Callable[..., subprocess.CompletedProcess[str]]


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REQUIRE_BROWSER = os.environ.get("CIVIC_REQUIRE_BROWSER") == "1"
"""Debian's Chromium, which the browser tests drive through Playwright; without it they skip,
unless ``CIVIC_REQUIRE_BROWSER=1`` (CI) turns the skip into a failure."""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (apt-get install chromium)"
        if REQUIRE_BROWSER:
            pytest.fail(reason + " and CIVIC_REQUIRE_BROWSER=1")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ScriptedEconomy]]:
    """The demo economy served over HTTP, once per test module (the browser tests' server)."""
    with (
        demo_economy(tmp_path_factory.mktemp("web")) as economy,
        live_server(economy.store, economy.key("journal")) as url,
    ):
        yield url, economy
