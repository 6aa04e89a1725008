"""Opening a store from a URL: ``memory://``, ``sqlite:///path`` or ``postgresql+psycopg://...``."""

from __future__ import annotations

from civicledger.adapters.memory import MemoryStore
from civicledger.kernel.ports import Store


def open_store(url: str, *, create: bool = True) -> Store:
    if url.startswith("memory://"):
        return MemoryStore()
    from civicledger.adapters.sql.store import SqlStore

    return SqlStore.open(url, create=create)
