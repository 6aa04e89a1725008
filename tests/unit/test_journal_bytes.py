"""One encoding per command (issue: one pass per request): the spliced forms of a signed command
and an entry are byte-identical to encoding the whole value, for any payload (X2, X5, X6)."""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from civicledger.kernel.canonical import canonical_bytes, digest
from civicledger.kernel.journal import Entry, SignatureRecord, SignedCommand, signing_bytes

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.text(max_size=12))
json_value = st.recursive(
    json_leaf,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)),
    max_leaves=20,
)
payloads = st.dictionaries(st.text(max_size=8), json_value, max_size=5)
SIGNATURE = SignatureRecord("ac" + "0" * 32, "ab" * 64)  # type: ignore[arg-type]


@given(payload=payloads, signed_at=st.integers(0, 2**40), type_name=st.text(min_size=1, max_size=20))
def test_x06_spliced_signing_bytes_digest_and_leaf_equal_the_whole_encoding(
    payload: dict[str, Any], signed_at: int, type_name: str
) -> None:
    command = SignedCommand("c-1", type_name, payload, signed_at, (SIGNATURE,))  # type: ignore[arg-type]
    assert command.signing_bytes("ec1") == signing_bytes("ec1", "c-1", type_name, payload, signed_at)
    assert command.payload_digest() == digest({"type": type_name, "payload": payload})
    assert command.wire_bytes() == canonical_bytes(command.to_wire())
    entry = Entry(7, signed_at, command, ({"type": "x.done", "n": 1},), {"ok": True})
    assert entry.leaf_bytes() == canonical_bytes(entry.to_wire())


def test_x05_a_copy_with_another_payload_encodes_its_own() -> None:
    """A tampered copy must never reuse the original's bytes (its signature would then pass)."""
    command = SignedCommand.from_wire({"id": "c", "type": "t.x", "payload": {"units": 45}, "signed_at": 1})
    assert command.payload_bytes() == b'{"units":45}'
    tampered = dataclasses.replace(command, payload={"units": 46})
    assert tampered.payload_bytes() == b'{"units":46}'
    assert tampered.signing_bytes("ec") != command.signing_bytes("ec")
