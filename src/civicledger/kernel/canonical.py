"""Canonical JSON: the one byte form of every command, event and entry that is signed or hashed.

Keys sorted, no insignificant white space, UTF-8, and no floats anywhere: two parties that
build the same value get the same bytes, so signatures and hashes agree across machines.
"""

from __future__ import annotations

import hashlib
import json
from typing import TypeAlias

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


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def digest(value: object, *, trusted: bool = False) -> str:
    """SHA-256 of the canonical form, hex."""
    return sha256_hex(canonical_bytes(value, trusted=trusted))
