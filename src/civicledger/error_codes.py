"""One table from errors to CLI exit codes and HTTP statuses, so every edge answers alike.

| error                     | exit | HTTP |
|---------------------------|------|------|
| (success)                 | 0    | 200  |
| IntegrityError            | 1    | 409  |
| InvalidInputError         | 2    | 422  |
| NotFoundError             | 3    | 404  |
| RuleViolationError        | 4    | 409  |
| AuthorityError            | 5    | 403  |
| IdempotencyConflictError  | 6    | 409  |
| ConcurrencyError          | 7    | 503  |
| StorageUnavailableError   | 8    | 503  |
"""

from __future__ import annotations

from civicledger.kernel import errors as e

TABLE: list[tuple[type[e.CivicLedgerError], int, int]] = [
    (e.IntegrityError, 1, 409),
    (e.InvalidInputError, 2, 422),
    (e.NotFoundError, 3, 404),
    (e.RuleViolationError, 4, 409),
    (e.AuthorityError, 5, 403),
    (e.IdempotencyConflictError, 6, 409),
    (e.ConcurrencyError, 7, 503),
    (e.StorageUnavailableError, 8, 503),
]


def exit_code(error: e.CivicLedgerError) -> int:
    for cls, code, _ in TABLE:
        if isinstance(error, cls):
            return code
    return 4


def http_status(error: e.CivicLedgerError) -> int:
    for cls, _, status in TABLE:
        if isinstance(error, cls):
            return status
    return 409
