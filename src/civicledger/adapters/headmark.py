"""IN12: a copy cannot fork the journal. The newest signed tree head, kept outside the database.

A database restored from a backup is behind the journal the world has seen: entries after the
backup were signed, served and perhaps cosigned. If a server carried on writing on the copy, it
would sign different entries at the same sequence numbers, a fork of the signed journal. So the
journal key's directory keeps a small file, ``journal.head``, with the largest signed tree head
this key has signed (its size and root), advanced after every write. A writer compares the
database's newest signed head with it (and with any other source that knows signed heads, such
as witnesses: ``HeadSource``) and refuses to write while the database is behind it, or holds a
different tree of the same size, until an operator brings the database up to it (restores a newer
backup) or starts a new, differently named log (a new journal key in a new key directory).
docs/operations.md.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from civicledger.kernel.errors import RuleViolationError
from civicledger.kernel.ports import Store

MARK_FILE = "journal.head"


@dataclass(frozen=True, slots=True)
class SignedHeadMark:
    """A signed tree head's size and root (hex), as a high-water mark.

    ``root`` is empty when the source knows only the size (a witness answering 409 with the size
    it holds), and ``FORKED`` when the source holds a head of this size with another root."""

    size: int
    root: str
    source: str = field(default="the journal key's mark file", compare=False)


FORKED = "forked"
"""The root of a mark whose source holds another root at this size (a witness's 422)."""


class HeadSource(Protocol):
    """Anything that knows signed heads of this journal beyond the database: the local mark file,
    the witnesses' cosigned checkpoints (api/checkpoints.py ``WitnessedHeads``). ``newest`` is the
    largest it knows, if any."""

    def newest(self) -> SignedHeadMark | None: ...


class HeadMarkFile:
    """``journal.head`` next to the journal key: advanced atomically (write, then rename), never back."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._known: SignedHeadMark | None = None

    @classmethod
    def beside_key(cls, key_dir: Path) -> HeadMarkFile:
        return cls(key_dir / MARK_FILE)

    def newest(self) -> SignedHeadMark | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        return SignedHeadMark(int(data["size"]), str(data["root"]))

    def advance(self, mark: SignedHeadMark) -> None:
        """Record ``mark`` if it is larger than the one on file (another worker may have written one)."""
        with self._lock:
            if self._known is not None and mark.size <= self._known.size:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Workers of one server share the file: read, compare and replace under one lock, so a
            # slower worker never writes a smaller head over a larger one.
            with open(self.path.with_name(f".{self.path.name}.lock"), "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                current = self.newest()
                if current is not None and current.size >= mark.size:
                    self._known = current
                    return
                temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}")
                temporary.write_text(json.dumps({"size": mark.size, "root": mark.root}) + "\n", encoding="utf-8")
                os.replace(temporary, self.path)
                self._known = mark


def newest_of(marks: Iterable[SignedHeadMark | None]) -> SignedHeadMark | None:
    """The largest mark; at one size, one saying "another root" before one that knows none."""
    known = [m for m in marks if m is not None]
    return max(known, key=lambda m: (m.size, m.root == FORKED, bool(m.root)), default=None)


def newest_signed_in(store: Store) -> SignedHeadMark:
    """The database's newest signed tree head (size 0 for an empty journal)."""
    with store.read() as uow:
        head = uow.journal.latest_signed_head()
    if head is None:
        return SignedHeadMark(0, "", "this database")
    return SignedHeadMark(head.size, head.root, "this database")


def behind(database: SignedHeadMark, known: SignedHeadMark) -> str | None:
    """Why ``database`` may not be written on, given a signed head known elsewhere; None if it may."""
    if database.size < known.size:
        return (
            f"this database's journal has {database.size} entries but a tree head of {known.size} entries "
            f"was signed ({known.source}); writing here would fork the signed journal: restore a backup of "
            f"at least {known.size} entries (docs/operations.md)"
        )
    if database.size == known.size and known.root and database.root != known.root:
        return (
            f"this database's journal of {database.size} entries has a different root from the signed head "
            f"of that size ({known.source}): it is a fork and is not written on (docs/operations.md)"
        )
    return None


class RollbackGuard:
    """Refuses writes on a database behind a known signed head (IN12) and advances the mark after them.

    ``check`` is called before a write (it reads the database only until it has once found it up
    to date, and again after any refusal); ``record`` after a write, with the database's new head."""

    def __init__(self, store: Store, mark: HeadMarkFile, others: Sequence[HeadSource] = ()) -> None:
        self.store = store
        self.mark = mark
        self.others = list(others)
        self._ok = False

    @property
    def writable(self) -> bool:
        """Whether the last check found the database up to date (False before the first check
        and after a refusal, until a check passes)."""
        return self._ok

    def newest_known(self) -> SignedHeadMark | None:
        return newest_of(s.newest() for s in [self.mark, *self.others])

    def check(self) -> None:
        if self._ok:
            return
        database = newest_signed_in(self.store)
        known = self.newest_known()
        reason = behind(database, known) if known is not None else None
        if reason is not None:
            raise RuleViolationError(reason, rule="IN12")
        self._ok = True
        if database.size > 0:
            self.mark.advance(database)

    def record(self) -> None:
        """After a write: the database's newest signed head becomes the mark. Only the mark file
        is read here (other sources, such as witnesses, are asked only by ``check``: never per write)."""
        database = newest_signed_in(self.store)
        known = self.mark.newest()
        reason = behind(database, known) if known is not None else None
        if reason is not None:  # another writer moved the mark beyond this database
            self._ok = False
            return
        if database.size > 0:
            self.mark.advance(database)
