"""The attack tests use the end-to-end fixtures too: the real `civic` process on the suite's backend,
and an economy behind a real HTTP server."""

from collections.abc import Iterator

import httpx
import pytest

from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.api.app import create_app
from tests.e2e.conftest import civic, db_url
from tests.e2e.serving import SigningClient, serve_app

__all__ = ["civic", "db_url", "served"]


@pytest.fixture
def served(economy: ScriptedEconomy) -> Iterator[tuple[SigningClient, ScriptedEconomy]]:
    """The economy behind a real server that reads the economy's own simulated clock."""
    with (
        serve_app(create_app(economy.store, economy.clock, economy.key("journal"))) as url,
        httpx.Client(base_url=url, timeout=30) as http,
    ):
        yield SigningClient(http, economy), economy
