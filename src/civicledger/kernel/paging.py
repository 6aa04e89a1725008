"""One page of a read model's rows: the cursor pagination every list read uses (HTTP and pages).

``after`` is the last key of the previous page and ``limit`` its size; every page names the ``next``
cursor, or ``None`` at the end. Keys sort as code points on every backend, so a cursor means the
same thing on SQLite, PostgreSQL and in memory.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, TypedDict, TypeVar

MAX_LIMIT = 500

T = TypeVar("T")


class Page(TypedDict, Generic[T]):
    """One page: its rows, and the cursor of the next page (``None`` at the end)."""

    items: list[T]
    next: str | None


def page(rows: Iterable[tuple[str, T]], after: str | None, limit: int) -> Page[T]:
    """One page of (cursor, row) pairs sorted by cursor: rows strictly after ``after``."""
    items: list[T] = []
    last: str | None = None
    more = False
    for key, row in rows:
        if after is not None and key <= after:
            continue
        if len(items) == limit:
            more = True
            break
        items.append(row)
        last = key
    return {"items": items, "next": last if more else None}
