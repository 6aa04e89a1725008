"""kernel.draws (IN6): which signed tree head seeds a draw, and the seed it gives."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import pytest

from civicledger.kernel import draws
from civicledger.kernel.errors import RuleViolationError
from civicledger.kernel.journal import TreeHead
from civicledger.kernel.ports import JournalRepository, StoredEntry


class _Entry:
    def __init__(self, time: int) -> None:
        self.time = time


class _Stored:
    def __init__(self, seq: int, time: int, signed: bool) -> None:
        self.entry = _Entry(time)
        self.head = TreeHead(seq + 1, f"{seq:064x}", time, "ab" * 64 if signed else "")


class _Journal:
    """Entries at the given times; ``unsigned`` are inside a batch (not the last of their transaction)."""

    def __init__(self, times: list[int], unsigned: set[int] | None = None) -> None:
        self.entries = [_Stored(i, t, i not in (unsigned or set())) for i, t in enumerate(times)]
        self.reads = 0

    def get(self, seq: int) -> Any:
        self.reads += 1
        return self.entries[seq] if 0 <= seq < len(self.entries) else None

    def scan(self, start: int = 0, stop: int | None = None) -> Iterator[StoredEntry]:
        yield from cast(list[StoredEntry], self.entries[start:stop])


def _journal(times: list[int], unsigned: set[int] | None = None) -> JournalRepository:
    return cast(JournalRepository, _Journal(times, unsigned or set()))


def test_in06_the_seed_head_is_the_first_signed_one_at_or_after_the_time_and_after_the_request() -> None:
    journal = _journal([0, 10, 20, 30, 40, 50], unsigned={3})
    assert draws.seed_head(journal, after_seq=1, not_before=25, before_seq=6) == journal.get(4).head
    assert draws.seed_head(journal, after_seq=1, not_before=20, before_seq=6) == journal.get(2).head
    assert draws.seed_head(journal, after_seq=3, not_before=0, before_seq=6) == journal.get(4).head
    assert draws.seed_head(journal, after_seq=1, not_before=60, before_seq=6) is None
    assert draws.seed_head(journal, after_seq=1, not_before=25, before_seq=4) is None  # only unsigned ones


def test_in06_the_head_is_found_by_bisection_not_a_scan_of_the_delay() -> None:
    fake = _Journal(list(range(100_000)))
    head = draws.seed_head(cast(JournalRepository, fake), after_seq=0, not_before=70_000, before_seq=100_000)
    assert head is not None and head.size == 70_001 and fake.reads < 40


def test_in06_a_draw_before_its_time_is_refused_naming_the_time() -> None:
    journal = _journal([0, 10])
    with pytest.raises(RuleViolationError) as refused:
        draws.draw(journal, purpose="p", request="r", request_seq=0, not_before=3600, now=3599, seq=2)
    assert refused.value.rule == "IN6" and "1970-01-01T01:00:00Z" in refused.value.message
    assert draws.draw(journal, purpose="p", request="r", request_seq=0, not_before=3600, now=3600, seq=2) is None


def test_in06_the_seed_depends_on_purpose_request_root_and_signature() -> None:
    head = TreeHead(5, "00" * 32, 7, "11" * 64)
    seeds = {
        draws.seed_of(head, "credits.panel", "1"),
        draws.seed_of(head, "credits.lottery", "1"),
        draws.seed_of(head, "credits.panel", "2"),
        draws.seed_of(TreeHead(5, "01" * 32, 7, "11" * 64), "credits.panel", "1"),
        draws.seed_of(TreeHead(5, "00" * 32, 7, "12" * 64), "credits.panel", "1"),
    }
    assert len(seeds) == 5
