"""Gears checks (GR2-GR4, GR7, GR8, IN3, IN7) and the reproducible draw of test questions (GR3).

Each function takes plain values the service read from state and either returns what to record
or raises an error naming the rule and saying why in one sentence.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence

from civicledger.kernel.errors import InvalidInputError, RuleViolationError
from civicledger.mechanisms.gears.values import (
    MAX_CHOICES,
    MAX_QUESTION_CHARS,
    MAX_REASON_CHARS,
    MAX_SECTOR_CHARS,
    MAX_STATEMENT_CHARS,
    MAX_STATEMENTS,
    VERDICT_ORDER,
    VOTE_VALUES,
    Verdict,
)

_DIGEST_RE = re.compile(r"^[0-9a-f]{64}$")
_SECTOR_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


# GR2 statements ---------------------------------------------------------------------------------


def check_statement(index: int, text: str, published: int, common_questions: int, frozen: bool) -> None:
    """A statement may be (re)published at ``index`` 1-20, each at most 200 characters.

    ``published`` is how many statements the company has (always indices 1..published): a new
    one takes the next index, so the first ones answer the platform's common questions in order.
    A statement under challenge cannot change.
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidInputError("a statement needs some text", rule="GR2")
    if len(text) > MAX_STATEMENT_CHARS:
        raise InvalidInputError(
            f"a statement has at most {MAX_STATEMENT_CHARS} characters, this one has {len(text)}", rule="GR2"
        )
    if index > MAX_STATEMENTS:
        raise RuleViolationError(f"a company has at most {MAX_STATEMENTS} statements; {index} is too many", rule="GR2")
    if index < 1:
        raise InvalidInputError(f"statements are numbered from 1, not {index}", rule="GR2")
    if index > published + 1:
        what = "common question" if published < common_questions else "statement"
        raise RuleViolationError(
            f"statement {published + 1} (the next {what}) must come before statement {index}", rule="GR2"
        )
    if frozen:
        raise RuleViolationError(
            f"statement {index} is under challenge and cannot change until it is decided", rule="GR2"
        )


# GR3 the test -----------------------------------------------------------------------------------


def answer_digest(salt: str, choice: int) -> str:
    """The salted digest under which a question's correct choice is stored.

    It keeps the answer out of plain sight in listings; it is not a secret from a determined
    reader of the public journal (the salt is public so that anyone can re-grade a test).
    """
    return hashlib.sha256(f"gears-answer:{salt}:{choice}".encode()).hexdigest()


def check_question(text: str, choices: Sequence[str], digest: str, salt: str) -> None:
    if not text.strip() or len(text) > MAX_QUESTION_CHARS:
        raise InvalidInputError(f"a question has 1-{MAX_QUESTION_CHARS} characters", rule="GR3")
    if not 2 <= len(choices) <= MAX_CHOICES or any(not c.strip() or len(c) > MAX_STATEMENT_CHARS for c in choices):
        raise InvalidInputError(f"a question has 2-{MAX_CHOICES} non-empty choices", rule="GR3")
    if not _DIGEST_RE.match(digest) or not 1 <= len(salt) <= 64:
        raise InvalidInputError("the answer is a 64-hex-digit salted digest with a salt of 1-64 characters", rule="GR3")
    if all(answer_digest(salt, i) != digest for i in range(len(choices))):
        raise InvalidInputError("the answer digest matches none of the choices", rule="GR3")


def check_sector(sector: str) -> None:
    """A sector is "" (none) or a short lower-case name such as "food" or "building-materials" (IN3)."""
    if not isinstance(sector, str) or (sector and (len(sector) > MAX_SECTOR_CHARS or not _SECTOR_RE.match(sector))):
        raise InvalidInputError(
            f"a sector is at most {MAX_SECTOR_CHARS} lower-case letters, digits and single hyphens, not {sector!r}",
            rule="IN3",
        )


def question_pool(
    approved: Sequence[int], sector: Sequence[int], general: Sequence[int], needed: int
) -> tuple[int, ...]:
    """The questions a test on a company draws from (IN3, rule version 2).

    The bank the council curates for the company: its own questions the council approved and the
    council's questions for its sector. When that bank holds fewer than ``needed``, the council's
    general questions join it, so that a company cannot shut voters out by publishing no
    questions. The result is in order (own, sector, general); how ``needed`` questions are drawn
    from it is ``draw_questions``'s business.
    """
    curated = (*approved, *sector)
    if len(curated) >= needed:
        return curated
    return (*curated, *general)


def check_review(now: int, review_by: int | None, approved: bool | None, approve: bool) -> None:
    """The council reviews a company's question (IN3) before its review deadline (IN7).

    A question still unreviewed at ``review_by`` has lapsed: it stays out of the bank for good and
    the company may add it again. A reviewed question may be reviewed again any time (an approval
    withdrawn, a rejection reconsidered); a review that changes nothing is refused.
    """
    if approved is None and review_by is not None and now >= review_by:
        raise RuleViolationError(
            f"this question lapsed unreviewed at {review_by}; the company may add it again", rule="IN7"
        )
    if approved is approve:
        raise RuleViolationError(f"this question is already {'approved' if approve else 'rejected'}", rule="IN3")


def draw_seed(root: bytes, voter: str, company: str) -> bytes:
    """The draw's seed: the journal's tree root before the entry, the voter and the company."""
    return hashlib.sha256(b"gears-test|" + root + f"|{voter}|{company}".encode()).digest()


def test_request(voter: str, company: str, entry: int) -> str:
    """The request id of a test asked for by entry ``entry`` (IN6): what its seed is drawn for."""
    return f"{voter}:{company}:{entry}"


def draw_questions(seed: bytes, bank: Sequence[int], n: int) -> tuple[int, ...]:
    """Draw n distinct questions of the bank: those with the smallest sha256(seed, id).

    Anyone holding the journal recomputes the same draw, and neither the voter nor the company
    can choose it without choosing the journal's root.
    """
    if len(bank) < n:
        raise RuleViolationError(
            f"the company's question bank holds {len(bank)} questions; a test draws {n}", rule="GR3"
        )
    ranked = sorted(bank, key=lambda q: (hashlib.sha256(seed + q.to_bytes(8, "big")).digest(), q))
    return tuple(ranked[:n])


def grade(answers: Sequence[int], questions: Sequence[tuple[str, str, int]]) -> int:
    """How many answers are right; ``questions`` gives (digest, salt, number of choices) in order."""
    if len(answers) != len(questions):
        raise InvalidInputError(f"answer each of the {len(questions)} drawn questions, in order", rule="GR3")
    correct = 0
    for answer, (digest, salt, choices) in zip(answers, questions, strict=True):
        if isinstance(answer, bool) or not isinstance(answer, int) or not 0 <= answer < choices:
            raise InvalidInputError(f"an answer is a choice number from 0 to {choices - 1}, not {answer!r}", rule="GR3")
        correct += answer_digest(salt, answer) == digest
    return correct


def check_can_start_test(now: int, is_open: bool, failed_at: int | None, retry_delay: int) -> None:
    """A voter starts a test on a company unless one is open or the last failure is too recent."""
    if is_open:
        raise RuleViolationError("this voter has an unanswered test on this company; answer it first", rule="GR3")
    if failed_at is not None and now < failed_at + retry_delay:
        raise RuleViolationError(
            f"a failed test may be retried {retry_delay} s after the failure, at {failed_at + retry_delay}", rule="GR3"
        )


def has_valid_pass(now: int, passed_at: int | None, valid_for: int) -> bool:
    """Whether the voter's last pass (None: never passed) still allows a vote at ``now``."""
    return passed_at is not None and passed_at <= now < passed_at + valid_for


# GR4 votes --------------------------------------------------------------------------------------


def check_vote_value(value: int) -> int:
    if isinstance(value, bool) or value not in VOTE_VALUES:
        raise InvalidInputError(f"a vote is +1, 0 or -1, not {value!r}", rule="GR4")
    return value


def vote_term(now: int, current: tuple[int, int] | None, term: int) -> tuple[int, int, bool]:
    """(cast_at, expires_at, is_change): a change within the term keeps the term (GR4).

    ``current`` is (cast_at, expires_at) of the voter's current vote on the company, if any.
    """
    if current is not None and now < current[1]:
        return current[0], current[1], True
    return now, now + term, False


# GR7, GR8 whistleblowing ------------------------------------------------------------------------


def check_reason(reason: str) -> None:
    if len(reason) > MAX_REASON_CHARS:
        raise InvalidInputError(f"a challenge's reason has at most {MAX_REASON_CHARS} characters", rule="GR7")


def failed_outstanding(now: int, failures: Sequence[int], recovery: int) -> int:
    """How many of a voter's failed challenges still hold a slot (GR8)."""
    return sum(1 for failed_at in failures if now < failed_at + recovery)


def check_challenge_slots(now: int, failures: Sequence[int], slots: int, recovery: int, undecided: int = 0) -> None:
    """At most ``slots`` unsuccessful challenges outstanding (GR8).

    From rule version 2 the ``undecided`` challenges (open, or past their deadline but not yet
    closed) hold a slot too (IN7): a whistleblower gains nothing by leaving a failed challenge
    unclosed, and cannot freeze more statements at once than they may fail.
    """
    failed = failed_outstanding(now, failures, recovery)
    if failed + undecided >= slots:
        if failed == 0:
            raise RuleViolationError(
                f"this voter has {undecided} challenges undecided (at most {slots} undecided or failed); "
                "a slot comes back when one is decided",
                rule="GR8",
            )
        first_back = min(f + recovery for f in failures if now < f + recovery)
        held = f" and {undecided} undecided" if undecided else ""
        raise RuleViolationError(
            f"this voter has {failed} unsuccessful challenges outstanding{held} (at most {slots}); "
            f"a slot comes back at {first_back}",
            rule="GR8",
        )


def verdict_of(tally: Mapping[str, int], quorum: int) -> Verdict | None:
    """The most-voted verdict, ties going to the milder one; None without a quorum (GR7)."""
    if sum(tally.values()) < max(quorum, 1):
        return None
    best = VERDICT_ORDER[0]
    for v in VERDICT_ORDER[1:]:
        if tally.get(v.value, 0) > tally.get(best.value, 0):
            best = v
    return best
