"""Circles read endpoints under ``/api/circles/`` (CI1-CI9)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Query

from civicledger.api.kit import READ_ERRORS, AccountPath, After, Limit, Reads
from civicledger.mechanisms.circles import queries


def router(reads: Reads) -> APIRouter:
    api = APIRouter(prefix="/api/circles", tags=["circles"], responses=READ_ERRORS)

    @api.get("/accounts/{account}")
    def circles_account(account: AccountPath) -> Mapping[str, object]:
        """Claimable income, trustee reserve, trusts both ways and holdings (CI1-CI8)."""
        return queries.account_summary(reads.store, account, reads.now())

    @api.get("/trust")
    def circles_trust(
        after: After = None, limit: Limit = 50, account: Annotated[str | None, Query(max_length=40)] = None
    ) -> Mapping[str, object]:
        """Trust edges ``truster/trustee`` (who accepts whose currency), optionally of one account."""
        return queries.trust_edges(reads.store, after, limit, account)

    @api.get("/route")
    def circles_route(
        sender: Annotated[str, Query(max_length=40)],
        receiver: Annotated[str, Query(max_length=40)],
        units: Annotated[int | None, Query(ge=1, le=10**15)] = None,
        memo: Annotated[str, Query(max_length=200)] = "",
    ) -> Mapping[str, object]:
        """The most that can flow and the plan (CI9); with ``units``, the ``circles.pay`` payload to sign."""
        return queries.route(reads.store, sender, receiver, units, reads.now(), memo)

    @api.get("/explain/payment")
    def circles_explain_payment(
        sender: Annotated[str, Query(max_length=40)],
        receiver: Annotated[str, Query(max_length=40)],
        units: Annotated[int | None, Query(ge=1, le=10**15)] = None,
    ) -> Mapping[str, object]:
        """Why a payment can carry at most what it can: the maximum flow and its minimum cut (CI9)."""
        return queries.explain_payment(reads.store, sender, receiver, units, reads.now()).to_wire()

    return api
