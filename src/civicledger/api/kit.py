"""What a mechanism's read endpoints share with the API: parameter types, the documented errors and
the ``Reads`` a router is built from (``Mechanism.api``: ``(Reads) -> APIRouter``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Path, Query

from civicledger.api.problems import responses
from civicledger.kernel.paging import MAX_LIMIT
from civicledger.kernel.ports import Store

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="page size")]
After = Annotated[str | None, Query(max_length=200, description="cursor: the `next` of the previous page")]
AccountPath = Annotated[str, Path(description="an account id (ac + 32 hex digits)")]
READ_ERRORS = responses(404, 409, 422)
PER_PAGE = 25
"""Rows a searchable list shows a page (companies, goods, coops), on the page and in its JSON alike."""
Search = Annotated[str, Query(max_length=200, description="text the rows contain (any case)")]
PageNumber = Annotated[int, Query(ge=1, le=10**6, description="page, from 1")]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Reads:
    """The store reads come from and the server's time (never before the journal's last entry, X4)."""

    store: Store
    now: Callable[[], int]


def search_page(items: Sequence[T], q: str, text: Callable[[T], str], page: int) -> tuple[list[T], int, int, int]:
    """The items whose ``text`` contains ``q`` (any case), page ``page`` (from 1) of them: returns
    (this page's items, the page shown, how many pages, how many matched)."""
    needle = q.strip().casefold()
    matched = [item for item in items if needle in text(item).casefold()] if needle else list(items)
    pages = max(1, -(-len(matched) // PER_PAGE))
    page = min(max(page, 1), pages)
    return matched[(page - 1) * PER_PAGE : page * PER_PAGE], page, pages, len(matched)


def search_json(items: Sequence[T], q: str, text: Callable[[T], str], page: int) -> dict[str, object]:
    """``search_page`` as an endpoint answers it (and the page with the same search shows it)."""
    rows, shown, pages, total = search_page(items, q, text, page)
    return {"q": q, "page": shown, "pages": pages, "per_page": PER_PAGE, "total": total, "items": rows}
