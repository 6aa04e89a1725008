"""What a mechanism's read endpoints share with the API: parameter types, the documented errors and
the ``Reads`` a router is built from (``Mechanism.api``: ``(Reads) -> APIRouter``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Path, Query

from civicledger.api.problems import responses
from civicledger.kernel.paging import MAX_LIMIT
from civicledger.kernel.ports import Store

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="page size")]
After = Annotated[str | None, Query(max_length=200, description="cursor: the `next` of the previous page")]
AccountPath = Annotated[str, Path(description="an account id (ac + 32 hex digits)")]
READ_ERRORS = responses(404, 409, 422)


@dataclass(frozen=True, slots=True)
class Reads:
    """The store reads come from and the server's time (never before the journal's last entry, X4)."""

    store: Store
    now: Callable[[], int]
