"""Errors as RFC 7807 problem details (``application/problem+json``), one shape for every refusal.

``type`` is a relative URI naming the error class (``/problems/authority``), ``title`` a short
phrase, ``status`` the HTTP status from ``civicledger.error_codes.http_status``, ``detail`` the
refusing rule's one sentence, and ``rule`` the SPEC rule that refused (``X6``, ``CI9`` ...).
"""

from __future__ import annotations

import re

from fastapi.responses import JSONResponse

from civicledger.error_codes import http_status
from civicledger.kernel.canonical import JSONObject
from civicledger.kernel.errors import CivicLedgerError

PROBLEM_MEDIA_TYPE = "application/problem+json"

PROBLEM_SCHEMA: JSONObject = {
    "type": "object",
    "required": ["type", "title", "status", "detail", "rule"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "rule": {"type": "string"},
    },
}

_TITLES = {
    "InvalidInputError": "Invalid input",
    "NotFoundError": "Not found",
    "RuleViolationError": "Refused by a rule",
    "InsufficientFundsError": "Insufficient funds",
    "AuthorityError": "Signatures missing or invalid",
    "IdempotencyConflictError": "Command id reused for another payload",
    "ConcurrencyError": "Lost a race, retry",
    "StorageUnavailableError": "Storage unavailable",
    "IntegrityError": "Integrity check failed",
}


def _slug(name: str) -> str:
    name = name.removesuffix("Error")
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


RETRY_AFTER = "1"
"""Seconds a client waits before retrying a 503 (a lost race or a database that is restarting)."""


def problem(status: int, title: str, detail: str, rule: str, type_: str) -> JSONResponse:
    """A problem response; a 503 always carries ``Retry-After``: it means "try again", never "broken"."""
    body = {"type": type_, "title": title, "status": status, "detail": detail, "rule": rule}
    headers = {"Retry-After": RETRY_AFTER} if status == 503 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def from_error(error: CivicLedgerError, status: int | None = None) -> JSONResponse:
    name = type(error).__name__
    return problem(
        status if status is not None else http_status(error),
        _TITLES.get(name, "Refused"),
        error.message,
        error.rule,
        f"/problems/{_slug(name)}",
    )


def responses(*statuses: int) -> dict[int | str, JSONObject]:
    """OpenAPI ``responses`` entries for the problem statuses a route can answer."""
    return {
        s: {"description": "a problem (RFC 7807)", "content": {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_SCHEMA}}}
        for s in statuses
    }
