"""The app as uvicorn imports it (``civic serve``, the benchmark): store and key from the settings."""

from __future__ import annotations

from fastapi import FastAPI

from civicledger.adapters.clock import WallClock
from civicledger.adapters.keystore import load_key
from civicledger.adapters.stores import open_store
from civicledger.api.app import create_app
from civicledger.settings import Settings


def app_from_environment() -> FastAPI:
    """``CIVIC_DB`` / ``CIVIC_DATA_DIR`` / ``CIVIC_KEYS`` as the CLI reads them; one store per worker."""
    settings = Settings()
    store = open_store(settings.db_url())
    app = create_app(store, WallClock(), load_key(settings.key_dir(), "journal"))
    app.router.on_shutdown.append(store.close)
    return app
