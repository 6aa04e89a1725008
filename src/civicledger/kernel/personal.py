"""Personal data kept off the public journal (IN11).

From rule version 3 on, the text of a command field that is about a person (identity evidence, a
person's name, evidence of an infraction, an appeal's grounds) is never written to the journal.
The signed command carries a *reference* instead: ``pd:`` and the hex SHA-256 of a random 16-byte
salt followed by the canonical JSON form of the text. The text and its salt travel beside the
command (never inside its signed payload) and are kept in the off-journal store
(``UnitOfWork.personal``; the SQL table ``personal_data``), keyed by the reference.

So the journal proves that the data existed and did not change (anyone holding the text and the
salt can recompute the reference), yet a short text such as a passport number cannot be found by
hashing guesses: without the salt a guess cannot be checked. Erasing a person's data
(``identity.erase_personal_data``) deletes the text and the salt; the reference stays, now proving
nothing about anyone. Replay and verification never read this store (docs/privacy.md).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, replace
from typing import Protocol, TypeVar

from civicledger.kernel.canonical import JSONValue, canonical_bytes
from civicledger.kernel.errors import InvalidInputError

PERSONAL_RULES = 3
"""The rule version from which personal text must stay off the journal (IN11)."""

REF_PREFIX = "pd:"
SALT_BYTES = 16
ERASED = "erased"
"""What a read shows where the personal data a reference names was erased (or never stored here)."""

_REF_RE = re.compile(r"^pd:[0-9a-f]{64}$")
_SALT_RE = re.compile(r"^[0-9a-f]{32}$")
MAX_TEXT = 4000

C = TypeVar("C")


@dataclass(frozen=True, slots=True)
class PersonalItem:
    """One piece of personal data: its reference, salt and text, and the person it is about."""

    ref: str
    salt: str  # hex
    subject: str  # the account id of the person the data is about: erasure deletes by it
    text: str

    def to_wire(self) -> dict[str, JSONValue]:
        return {"ref": self.ref, "salt": self.salt, "subject": self.subject, "text": self.text}

    @staticmethod
    def from_wire(data: object) -> PersonalItem:
        if not isinstance(data, dict) or set(data) != {"ref", "salt", "subject", "text"}:
            raise InvalidInputError("a personal item has exactly ref, salt, subject and text", rule="IN11")
        values = [data["ref"], data["salt"], data["subject"], data["text"]]
        if not all(isinstance(v, str) for v in values):
            raise InvalidInputError("a personal item's ref, salt, subject and text are strings", rule="IN11")
        item = PersonalItem(*values)
        check(item)
        return item


def reference(salt: str, text: str) -> str:
    """The reference the journal carries: SHA-256 over the salt's bytes and the text's canonical form."""
    return REF_PREFIX + hashlib.sha256(bytes.fromhex(salt) + canonical_bytes(text)).hexdigest()


def seal(text: str, subject: str, salt: str | None = None) -> PersonalItem:
    """A new item for ``text`` about ``subject`` with a fresh random salt (or the one given)."""
    salt = salt if salt is not None else secrets.token_hex(SALT_BYTES)
    return PersonalItem(reference(salt, text), salt, subject, text)


def is_ref(value: object) -> bool:
    return isinstance(value, str) and _REF_RE.match(value) is not None


def check(item: PersonalItem) -> None:
    """Refuse an item whose reference is not the salted digest of its text (IN11)."""
    if not _SALT_RE.match(item.salt) or not is_ref(item.ref):
        raise InvalidInputError("a personal item has a 16-byte hex salt and a pd: reference", rule="IN11")
    if len(item.text) > MAX_TEXT:
        raise InvalidInputError(f"personal text has at most {MAX_TEXT} characters", rule="IN11")
    if reference(item.salt, item.text) != item.ref:
        raise InvalidInputError("a personal item's text and salt do not match its reference", rule="IN11")


def require_ref(value: str, what: str) -> None:
    """Under rule version 3 and later, a personal field holds a reference or nothing (IN11)."""
    if value and not is_ref(value):
        raise InvalidInputError(
            f"{what} is personal data: send a pd: reference and the text beside the command (IN11)", rule="IN11"
        )


def personal_fields(cmd: object) -> tuple[str, ...]:
    """The names of a command's fields that hold personal text (its ``PERSONAL_FIELDS``)."""
    chooser = getattr(cmd, "personal_fields", None)
    if callable(chooser):  # a command whose personal fields depend on its values
        chosen: tuple[str, ...] = chooser()
        return chosen
    declared: tuple[str, ...] = getattr(cmd, "PERSONAL_FIELDS", ())
    return declared


def subject_of(cmd: object) -> str:
    """The account the personal fields of ``cmd`` are about (its ``PERSONAL_SUBJECT`` field)."""
    chooser = getattr(cmd, "personal_subject", None)
    if callable(chooser):
        return str(chooser())
    name: str = getattr(cmd, "PERSONAL_SUBJECT", "")
    return str(getattr(cmd, name, "")) if name else ""


def move_off(
    cmd: C, subject: str | None = None, salt_for: Callable[[str], str] | None = None
) -> tuple[C, tuple[PersonalItem, ...]]:
    """Replace the plain text in ``cmd``'s personal fields with references; return the items that
    travel beside it. A field already holding a reference, or nothing, is left as it is.

    ``salt_for(field)`` gives the salt (hex) for a field instead of a random one: for scripted,
    seeded runs that must write the same journal twice; a live client keeps the random salt."""
    names = personal_fields(cmd)
    if not names:
        return cmd, ()
    who = subject if subject is not None else subject_of(cmd)
    changes: dict[str, str] = {}
    items: list[PersonalItem] = []
    for f in fields(cmd):  # type: ignore[arg-type]
        value = getattr(cmd, f.name)
        if f.name in names and isinstance(value, str) and value and not is_ref(value):
            item = seal(value, who, salt_for(f.name) if salt_for is not None else None)
            changes[f.name] = item.ref
            items.append(item)
    return (replace(cmd, **changes) if changes else cmd), tuple(items)  # type: ignore[type-var]


def refs_in(value: JSONValue) -> Iterator[str]:
    """Every reference found anywhere in a command's payload."""
    if isinstance(value, str):
        if is_ref(value):
            yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from refs_in(v)
    elif isinstance(value, list):
        for v in value:
            yield from refs_in(v)


class _Holder(Protocol):
    def get(self, ref: str) -> PersonalItem | None: ...


def reveal(held: _Holder, value: str) -> str:
    """What a read shows for a field: the text a reference names when it is held here, "erased"
    when it is gone (IN11), and any other value as it is (journals of rule versions 1 and 2)."""
    if not is_ref(value):
        return value
    item = held.get(value)
    return ERASED if item is None else item.text
