"""Social credits read endpoints under ``/api/credits/`` (SC4, SC11)."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import APIRouter

from civicledger.api.kit import READ_ERRORS, AccountPath, Reads
from civicledger.mechanisms.credits import queries


def router(reads: Reads) -> APIRouter:
    api = APIRouter(prefix="/api/credits", tags=["credits"], responses=READ_ERRORS)

    @api.get("/persons/{person}")
    def credits_person(person: AccountPath) -> Mapping[str, object]:
        """A person's credits: lots with their grades and the adjustments behind them (SC11)."""
        return queries.person(reads.store, person, reads.now())

    @api.get("/services")
    def credits_services() -> Mapping[str, object]:
        """Every registered service with its tiers, each tier's price and the grade it needs (SC10)."""
        return {"items": queries.service_rows(queries.services(reads.store))}

    @api.get("/grades")
    def credits_grades() -> Mapping[str, object]:
        return queries.grade_distribution(reads.store, reads.now())

    @api.get("/explain/grade/{person}")
    def credits_explain_grade(person: AccountPath) -> Mapping[str, object]:
        """Why a person's grade is what it is: base grade, adjustments, clamping, decay (SC4, SC8)."""
        return queries.grade_explanation(reads.store, person, reads.now()).to_wire()

    return api
