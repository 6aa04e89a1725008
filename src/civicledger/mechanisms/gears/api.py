"""Gears read endpoints under ``/api/gears/`` (GR5, GR6)."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import APIRouter

from civicledger.api.kit import READ_ERRORS, AccountPath, PageNumber, Reads, Search, search_json
from civicledger.mechanisms.gears import queries


def router(reads: Reads) -> APIRouter:
    api = APIRouter(prefix="/api/gears", tags=["gears"], responses=READ_ERRORS)

    @api.get("/coefficients")
    def gears_coefficients() -> Mapping[str, object]:
        """Every company's sales, votes, mean and delta now (GR5), the fund's position (GR6)."""
        return queries.coefficients(reads.store, reads.now())

    @api.get("/fund")
    def gears_fund() -> Mapping[str, object]:
        """The Common Good Fund: balance and waiting payouts per currency, and its payout queue (GR6)."""
        return queries.treasury(reads.store)

    @api.get("/companies")
    def gears_companies(q: Search = "", page: PageNumber = 1) -> Mapping[str, object]:
        """Companies whose name or id contains ``q``, with their delta now (GR5), a page at a time."""
        rows = queries.coefficients(reads.store, reads.now())["companies"]
        return search_json(rows, q, queries.company_text, page)

    @api.get("/companies/{company}")
    def gears_company(company: AccountPath) -> Mapping[str, object]:
        return queries.company(reads.store, company)

    @api.get("/explain/delta/{company}")
    def gears_explain_delta(company: AccountPath) -> Mapping[str, object]:
        """Why a company's delta is what it is: k, G, V and S (GR5)."""
        return queries.delta_explanation(reads.store, company, reads.now()).to_wire()

    return api
