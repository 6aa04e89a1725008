"""Every refusal the economy can give, as one tree of exceptions.

Each error names the rule of SPEC.md that refused (``rule``) and says why in one sentence, so a
person at the CLI, an HTTP client and a test all see the same reason.

    CivicLedgerError
    ├── InvalidInputError          malformed or out-of-range input (X5)
    │   ├── PolicyFileError        a policy file with one or more problems, each with its line (X7)
    │   └── UnstorableError        data the database refused to store, the command's own error (IN10)
    ├── NotFoundError              an account, currency, entry or record that does not exist
    ├── RuleViolationError         a well-formed command that a rule of the economy refuses
    │   └── InsufficientFundsError a debit larger than the balance (X3)
    ├── AuthorityError             missing, forged, stale or unauthorised signatures (X6)
    ├── IdempotencyConflictError   a command id reused with a different payload (X5)
    ├── ConcurrencyError           a write that lost a race and may be retried
    ├── StorageUnavailableError    the database cannot be reached or failed
    └── IntegrityError             stored or exported data that fails verification (X2)
"""

from __future__ import annotations


class CivicLedgerError(Exception):
    """Root of every error the project raises on purpose."""

    rule: str = "X"

    def __init__(self, message: str, *, rule: str | None = None) -> None:
        super().__init__(message)
        if rule is not None:
            self.rule = rule
        self.message = message

    def __str__(self) -> str:
        return f"{self.rule}: {self.message}"


class InvalidInputError(CivicLedgerError):
    """Input that is malformed, oversized or outside the allowed range."""

    rule = "X5"


class PolicyFileError(InvalidInputError):
    """A policy file with problems; ``problems`` lists each one with its line."""

    rule = "X7"

    def __init__(self, problems: list[tuple[int | None, str]]) -> None:
        self.problems = problems
        lines = [f"line {line}: {text}" if line else text for line, text in problems]
        super().__init__(f"{len(problems)} problem(s) in the policy file: " + "; ".join(lines))


class UnstorableError(InvalidInputError):
    """The database refused to store a command's data (e.g. U+0000 in a PostgreSQL text column).

    It is that command's error alone: a batch it arrived in runs its other commands without it (IN10)."""

    rule = "IN10"


class NotFoundError(CivicLedgerError):
    """Something named by a command does not exist."""

    rule = "X1"


class RuleViolationError(CivicLedgerError):
    """A rule of the economy refuses an otherwise well-formed command."""


class InsufficientFundsError(RuleViolationError):
    """A debit larger than the holder's balance (no balance goes below zero)."""

    rule = "X3"


class AuthorityError(CivicLedgerError):
    """The signatures a rule needs are missing, forged, stale or from the wrong accounts."""

    rule = "X6"


class IdempotencyConflictError(CivicLedgerError):
    """A command id was used before with a different payload."""

    rule = "X5"


class ConcurrencyError(CivicLedgerError):
    """A concurrent writer changed the same state first; the command may be retried."""

    rule = "X2"


class StorageUnavailableError(CivicLedgerError):
    """The database cannot be opened or reached; nothing was written."""

    rule = "X2"


class IntegrityError(CivicLedgerError):
    """Stored or exported data fails verification (hash, signature, tree head or invariant)."""

    rule = "X2"
