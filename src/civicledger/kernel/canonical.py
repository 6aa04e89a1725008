"""Canonical JSON: the one byte form of every command, event and entry that is signed or hashed.

Keys sorted, no insignificant white space, UTF-8, and no floats anywhere: two parties that
build the same value get the same bytes, so signatures and hashes agree across machines.

One meaning per message (IN10): ``parse_json`` reads a message that arrives as text with exactly one
reading, refusing what parsers disagree on (duplicate keys, a byte order mark, NaN and Infinity,
nesting beyond ``MAX_DEPTH``); ``contains_nul`` finds U+0000, which one backend stores and another
cannot, so that the engine refuses it from rule version 2 on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import NoReturn, TypeAlias

from civicledger.kernel.errors import InvalidInputError

MAX_DEPTH = 32
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
"""One encoder for every canonical encoding (``json.dumps`` with these options builds a new one per call)."""

JSONValue: TypeAlias = bool | int | str | list["JSONValue"] | dict[str, "JSONValue"] | None
"""A value of canonical JSON: no floats (X3). What is stored, signed, hashed or sent on the wire."""
JSONObject: TypeAlias = dict[str, JSONValue]
"""A JSON object: a stored record, a payload, a policy mapping, an API body."""


def _check(value: object, depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise InvalidInputError("value nests too deeply", rule="X5")
    if value is None or isinstance(value, (str, bool, int)):
        return
    if isinstance(value, float):
        raise InvalidInputError("floats are not allowed; use integers of a minor unit", rule="X3")
    if isinstance(value, (list, tuple)):
        for item in value:
            _check(item, depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidInputError("object keys must be strings", rule="X5")
            _check(item, depth + 1)
        return
    raise InvalidInputError(f"{type(value).__name__} cannot be encoded canonically", rule="X5")


def canonical_bytes(value: object, *, trusted: bool = False) -> bytes:
    """Encode value as canonical JSON bytes, refusing floats and non-JSON types.

    ``trusted=True`` skips the walk that refuses floats, for values built from already-checked
    parts (a payload checked on arrival, events encoded by ``to_wire``); it is the hot path.
    """
    if not trusted:
        _check(value)
    try:
        return _ENCODER.encode(value).encode()
    except UnicodeEncodeError as e:  # a lone surrogate such as "\ud800" has no UTF-8 form
        raise InvalidInputError("text must be valid Unicode (no lone surrogates)", rule="X5") from e


_encode_str = json.encoder.encode_basestring  # what ``_ENCODER`` does with a string (ensure_ascii=False)


def canonical_str(value: str) -> bytes:
    """A string in canonical JSON, byte for byte ``canonical_bytes(value)`` without the encoder's
    dispatch: a journal entry splices a few per entry, and a replay makes them all again (X2)."""
    try:
        return _encode_str(value).encode()
    except UnicodeEncodeError as e:  # a lone surrogate such as "\ud800" has no UTF-8 form
        raise InvalidInputError("text must be valid Unicode (no lone surrogates)", rule="X5") from e


ONE_MEANING = 2
"""The rule version from which the engine refuses U+0000 in a command (IN10)."""

ENVELOPE_DEPTH = 2
"""Levels a message's envelope adds around its payload (the signed command, its payload object)."""

_BOM = "\ufeff"
_NUL_ESCAPED = b"\\u0000"


def parse_json(
    text: str | bytes, *, depth: int | None = MAX_DEPTH + ENVELOPE_DEPTH, nul: bool = True, rule: str = "IN10"
) -> JSONValue:
    """Parse a message that must have one reading (IN10): no byte order mark, no key twice in an
    object, no NaN or Infinity, no nesting deeper than ``depth`` levels (None: the decoder's own
    limit), and (unless ``nul=False``) no U+0000 in any string. Refusals are ``InvalidInputError``
    under ``rule``."""
    if isinstance(text, bytes):
        if text.startswith(b"\xef\xbb\xbf"):
            raise InvalidInputError("a message may not start with a byte order mark", rule=rule)
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise InvalidInputError("the message is not UTF-8", rule=rule) from e
    if text.startswith(_BOM):
        raise InvalidInputError("a message may not start with a byte order mark", rule=rule)
    try:
        value: JSONValue = json.loads(
            text, parse_constant=_refuse_constant(rule), object_pairs_hook=_refuse_duplicates(rule)
        )
    except RecursionError as e:  # the decoder's own limit, far beyond what a message may nest
        raise InvalidInputError("the message nests too deeply", rule=rule) from e
    except InvalidInputError:
        raise
    except ValueError as e:  # json.JSONDecodeError and over-long integers
        raise InvalidInputError(f"the message is not JSON: {e}", rule=rule) from e
    if depth is not None and _depth(value) > depth:
        raise InvalidInputError(f"the message nests too deeply (more than {depth} levels)", rule=rule)
    if nul:
        refuse_nul(value, "a message", rule)
    return value


def refuse_nul(value: object, what: str = "a command", rule: str = "IN10") -> None:
    """Refuse U+0000 anywhere in ``value`` (IN10): SQLite stores it, PostgreSQL cannot, so a message
    holding it would mean one thing on one backend and fail on another."""
    if contains_nul(value):
        raise InvalidInputError(
            f"{what} may not contain the character U+0000 (not every backend can store it)", rule=rule
        )


def _refuse_constant(rule: str) -> Callable[[str], NoReturn]:
    def refuse(name: str) -> NoReturn:
        raise InvalidInputError(f"{name} is not a JSON number this ledger accepts", rule=rule)

    return refuse


def _refuse_duplicates(rule: str) -> Callable[[list[tuple[str, JSONValue]]], JSONObject]:
    def refuse(pairs: list[tuple[str, JSONValue]]) -> JSONObject:
        found = dict(pairs)
        if len(found) != len(pairs):
            seen: set[str] = set()
            twice = next(key for key, _ in pairs if key in seen or seen.add(key))  # type: ignore[func-returns-value]
            raise InvalidInputError(f"the key {twice!r} appears twice in one object", rule=rule)
        return found

    return refuse


def _depth(value: object) -> int:
    """Levels of nesting: 0 for a scalar, 1 for a flat list or object."""
    deepest, level, stack = 0, 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
            deepest = max(deepest, level + 1)
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
            deepest = max(deepest, level + 1)
    return deepest


def contains_nul(value: object) -> bool:
    """Whether U+0000 appears in any string or key of ``value`` (IN10)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return False


def encoded_nul(encoded: bytes) -> bool:
    """A fast first look at canonical bytes: False means no U+0000 anywhere (it is always escaped as
    ``\\u0000``); True means ``contains_nul`` must look (a literal backslash can precede ``u0000``)."""
    return _NUL_ESCAPED in encoded


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def digest(value: object, *, trusted: bool = False) -> str:
    """SHA-256 of the canonical form, hex."""
    return sha256_hex(canonical_bytes(value, trusted=trusted))
