"""Draws nobody can steer (IN6).

Every random choice (an appeal panel, SC7; lottery winners, SC9; test questions, GR3) takes two
entries under rule version 2:

1. the *request* (filing the appeal, scheduling the draw, starting the test) fixes what is drawn
   from and the earliest time of the seed: its entry's time plus ``journal.draw_delay``;
2. a later *draw* command, which anyone may send, draws with the seed of the first tree head the
   journal key signed at or after that time (``seed_head``).

The seed is SHA-256 of the canonical JSON of the draw's purpose and request id and of that head:
its size, its root and the journal key's signature on it. Nobody knows it when the request is
signed: the head covers entries that do not exist yet. Opening accounts or sending entries
before the head changes the root, but nobody can tell which way: the head's signature (Ed25519,
deterministic, by the journal key) is unknown until the journal signs it, so even whoever sends the
last entry before it cannot try entries until one gives a panel they like. Sending the draw
command early, late or twice changes nothing: the head is the *first* signed one after the time,
whoever asks and whenever. Anyone holding an export recomputes every seed (``seed_of``).

Pure code: it reads the journal only through the ``JournalRepository`` port it is given.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from civicledger.kernel.canonical import canonical_bytes
from civicledger.kernel.errors import RuleViolationError
from civicledger.kernel.journal import TreeHead
from civicledger.kernel.ports import JournalRepository
from civicledger.kernel.time import format_instant

RULE = "IN6"


def seed_of(head: TreeHead, purpose: str, request: str) -> bytes:
    """The seed of the draw ``purpose`` (e.g. ``"credits.panel"``) for ``request`` from a signed head."""
    return hashlib.sha256(
        canonical_bytes(
            {
                "purpose": purpose,
                "request": request,
                "size": head.size,
                "root": head.root,
                "signature": head.signature,
            }
        )
    ).digest()


def seed_head(journal: JournalRepository, after_seq: int, not_before: int, before_seq: int) -> TreeHead | None:
    """The first tree head signed after entry ``after_seq`` whose time is ``not_before`` or later,
    among the heads of entries before ``before_seq`` (the entry being decided); None if none yet.

    Entry times never decrease along the journal, so the first entry at or after the time is
    found by bisection (a few point reads, however long the delay), then the first signed head
    from there. Heads inside a write transaction are unsigned until it ends, and only its last is
    ever signed: a head that is unsigned now stays unsigned, so a replay finds the same one.
    """
    low, high = after_seq + 1, before_seq
    while low < high:
        middle = (low + high) // 2
        stored = journal.get(middle)
        if stored is None:
            return None
        if stored.entry.time >= not_before:
            high = middle
        else:
            low = middle + 1
    for stored in journal.scan(low, before_seq):
        if stored.head.signature:
            return stored.head
    return None


@dataclass(frozen=True, slots=True)
class Drawn:
    """A draw's seed and the signed head it came from (kept in the draw's event for readers)."""

    seed: bytes
    head: TreeHead


def draw(
    journal: JournalRepository,
    *,
    purpose: str,
    request: str,
    request_seq: int,
    not_before: int,
    now: int,
    seq: int,
) -> Drawn | None:
    """IN6: the seed of a draw requested by entry ``request_seq``, decided by entry ``seq`` at ``now``.

    Before ``not_before`` the draw command is refused, naming the time it can be sent. From then
    on, None while no signed head at or after that time exists yet: the draw command's own entry
    then makes one (its caller records that it waits), and the next draw command draws."""
    if now < not_before:
        raise RuleViolationError(
            f"this draw's seed is the first signed tree head from {format_instant(not_before)} on; "
            f"send the draw command at or after that time",
            rule=RULE,
        )
    head = seed_head(journal, request_seq, not_before, seq)
    return None if head is None else Drawn(seed_of(head, purpose, request), head)


def head_record(head: TreeHead) -> dict[str, object]:
    """How an event names the head a seed came from."""
    return {"size": head.size, "root": head.root, "signature": head.signature}
