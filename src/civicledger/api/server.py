"""The app as uvicorn imports it (``civic serve``, the benchmark): store and key from the settings."""

from __future__ import annotations

import gc
import logging
import os
import sys

from fastapi import FastAPI

from civicledger.adapters.clock import WallClock
from civicledger.adapters.headmark import HeadMarkFile, RollbackGuard
from civicledger.adapters.keystore import load_key
from civicledger.adapters.stores import open_store
from civicledger.api.app import create_app
from civicledger.api.checkpoints import CheckpointPublisher, WitnessedHeads, parse_witnesses
from civicledger.kernel.errors import RuleViolationError
from civicledger.kernel.tilecache import TileCache
from civicledger.settings import Settings

_log = logging.getLogger("civicledger.api")


def settle_heap() -> None:
    """Put what start-up built (modules, the app, the store's metadata) out of the collector's reach.

    Python's full collection walks every tracked object; in a served process that is the whole
    import graph of FastAPI, SQLAlchemy and psycopg, and a pass stopped every request for 50-75 ms
    under the benchmark's load (measured; docs/api.md). ``gc.freeze`` moves the objects alive now
    to a permanent generation, so later passes walk only what requests created. Nothing is leaked
    that would otherwise be freed: start-up objects live as long as the process.
    """
    gc.collect()
    gc.freeze()


READ_NICE = 10
"""How much lower than the writer a read worker runs (``civic serve --read-only``'s default)."""
READ_SWITCH_INTERVAL = 0.0002
"""Seconds a thread of a read worker holds the GIL before another may take it (Python's default
is 0.005). A warm proof takes about 0.05 ms and never waits on I/O, so with the default a
request thread runs whole 5 ms slices and the others wait their turn: with 16 threads one proof
in a hundred waited 20-75 ms. Measured in docs/journal.md."""


def become_read_worker(nice: int, switch_interval: float = READ_SWITCH_INTERVAL, idle: bool = False) -> None:
    """Make this process a read worker (``civic serve --read-only``): ``nice`` lowers its CPU
    priority below the writer's, so readers take only the CPU the writer leaves (a paced write
    then waits for no reader), and a short ``switch_interval`` lets its request threads take
    turns often (see ``READ_SWITCH_INTERVAL``)."""
    if nice:
        os.nice(nice)
    if idle:  # Linux's SCHED_IDLE: any other task that wakes takes the core at once
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    sys.setswitchinterval(switch_interval)


def app_from_environment() -> FastAPI:
    """``CIVIC_DB`` / ``CIVIC_DATA_DIR`` / ``CIVIC_KEYS`` as the CLI reads them; one store per worker."""
    settings = Settings()
    if settings.read_only:
        become_read_worker(settings.nice, idle=settings.read_idle)
    elif settings.nice:
        os.nice(settings.nice)
    store = open_store(settings.db_url(), tiles=TileCache(entry_bytes=settings.entry_cache_mib << 20))
    journal_key = load_key(settings.key_dir(), "journal")
    publisher = CheckpointPublisher(store, journal_key, settings.origin or None, parse_witnesses(settings.witnesses))
    guard = RollbackGuard(store, HeadMarkFile.beside_key(settings.key_dir()), others=[WitnessedHeads(publisher)])
    try:
        guard.check()
    except RuleViolationError as e:  # serve reads, refuse writes, say why at start
        _log.error("writes are refused: %s", e.message)
    app = create_app(
        store, WallClock(), journal_key, checkpoints=publisher, rollback_guard=guard, read_only=settings.read_only
    )
    app.router.on_startup.append(settle_heap)
    app.router.on_shutdown.append(store.close)
    return app
