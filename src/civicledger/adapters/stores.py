"""Opening a store from a URL: ``memory://``, ``sqlite:///path`` or ``postgresql+psycopg://...``."""

from __future__ import annotations

from civicledger.adapters.memory import MemoryStore
from civicledger.kernel.ports import Store
from civicledger.kernel.tilecache import TileCache


def open_store(url: str, *, create: bool = True, tiles: TileCache | None = None) -> Store:
    """The store at ``url``; ``tiles`` its cache of tiles and entry bundles (default ``TileCache()``)."""
    if url.startswith("memory://"):
        return MemoryStore(tiles=tiles)
    from civicledger.adapters.sql.store import SqlStore

    return SqlStore.open(url, create=create, tiles=tiles)
