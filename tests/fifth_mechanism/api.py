"""Tallies' read endpoint, ``GET /api/tallies/{account}``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from civicledger.api.kit import READ_ERRORS, AccountPath, Reads
from tests.fifth_mechanism import queries


def router(reads: Reads) -> APIRouter:
    api = APIRouter(prefix="/api/tallies", tags=["tallies"], responses=READ_ERRORS)

    @api.get("/{account}")
    def tallies(account: AccountPath) -> dict[str, Any]:
        return queries.tallies_of(reads.store, account)

    return api
