"""Gears read endpoints under ``/api/gears/`` (GR5, GR6)."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import APIRouter

from civicledger.api.kit import READ_ERRORS, AccountPath, Reads
from civicledger.mechanisms.gears import queries


def router(reads: Reads) -> APIRouter:
    api = APIRouter(prefix="/api/gears", tags=["gears"], responses=READ_ERRORS)

    @api.get("/coefficients")
    def gears_coefficients() -> Mapping[str, object]:
        """Every company's sales, votes, mean and delta now (GR5), the fund's position (GR6)."""
        return queries.coefficients(reads.store, reads.now())

    @api.get("/companies/{company}")
    def gears_company(company: AccountPath) -> Mapping[str, object]:
        return queries.company(reads.store, company)

    return api
