"""Creditism read endpoints under ``/api/creditism/`` (CR10-CR12)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Path

from civicledger.api.kit import READ_ERRORS, PageNumber, Reads, Search, search_json
from civicledger.mechanisms.creditism import queries


def router(reads: Reads) -> APIRouter:
    api = APIRouter(prefix="/api/creditism", tags=["creditism"], responses=READ_ERRORS)

    @api.get("/assets")
    def creditism_assets(q: Search = "", page: PageNumber = 1) -> Mapping[str, object]:
        """Goods and resources whose id, kind or unit contains ``q``, a page at a time."""
        return search_json(queries.assets(reads.store), q, queries.asset_text, page)

    @api.get("/coops")
    def creditism_coops(q: Search = "", page: PageNumber = 1) -> Mapping[str, object]:
        """Coop applications whose coop, good or status contains ``q`` (CR13, CR14), a page at a time."""
        return search_json(queries.coops(reads.store), q, queries.coop_text, page)

    @api.get("/prices/{asset}")
    def creditism_price(asset: Annotated[str, Path(max_length=64)]) -> Mapping[str, object]:
        """An asset's market price and its components (CR10-CR12)."""
        return queries.price(reads.store, asset)

    @api.get("/report")
    def creditism_report() -> Mapping[str, object]:
        return queries.report(reads.store)

    @api.get("/explain/price/{asset}")
    def creditism_explain_price(asset: Annotated[str, Path(max_length=64)]) -> Mapping[str, object]:
        """Why an asset's price is what it is: costs, inputs, markups, demand/supply, shares (CR10-CR12)."""
        return queries.price_explanation(reads.store, asset).to_wire()

    return api
