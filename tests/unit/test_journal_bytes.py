"""One encoding per command (issue: one pass per request): the spliced forms of a signed command
and an entry are byte-identical to encoding the whole value, for any payload (X2, X5, X6)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from civicledger.kernel.canonical import canonical_bytes, canonical_str, digest
from civicledger.kernel.errors import InvalidInputError
from civicledger.kernel.journal import Entry, SignatureRecord, SignedCommand, signing_bytes, tree_head_bytes

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


def test_x05_a_copy_never_reuses_the_kept_wire_signing_or_digest_bytes() -> None:
    """The bytes a command keeps (wire, signing, digest) are its own: a copy with another time,
    signature, id or type encodes afresh, and another economy id gets other signing bytes (X2, X6)."""
    command = SignedCommand.from_wire(
        {"id": "c", "type": "t.x", "payload": {"units": 45}, "signed_at": 1, "signatures": []}
    )
    kept = (command.wire_bytes(), command.signing_bytes("ec"), command.payload_digest())
    for changed in (
        {"signed_at": 2},
        {"signatures": (SIGNATURE,)},
        {"id": "d"},
        {"type": "t.y"},
    ):
        copy = dataclasses.replace(command, **changed)  # type: ignore[arg-type]
        assert copy.wire_bytes() == canonical_bytes(copy.to_wire()) != kept[0]
        assert copy.signing_bytes("ec") == signing_bytes("ec", copy.id, copy.type, copy.payload, copy.signed_at)
    assert command.signing_bytes("other") == signing_bytes("other", "c", "t.x", {"units": 45}, 1) != kept[1]
    assert command.signing_bytes("ec") == kept[1]
    command.forget_encodings()
    assert (command.wire_bytes(), command.signing_bytes("ec"), command.payload_digest()) == kept


@given(
    economy=st.text(max_size=12),
    size=st.integers(0, 2**70),
    root=st.text(max_size=70),
    time=st.integers(-(2**40), 2**40),
)
def test_x02_spliced_tree_head_bytes_equal_the_whole_encoding(economy: str, size: int, root: str, time: int) -> None:
    whole = canonical_bytes({"economy": economy, "size": size, "root": root, "time": time})
    assert tree_head_bytes(economy, size, root, time) == whole


def test_x03_a_tree_head_with_a_float_time_is_refused_as_before() -> None:
    with pytest.raises(InvalidInputError) as refused:
        tree_head_bytes("ec", 1, "ab", 1.5)  # type: ignore[arg-type]
    assert refused.value.rule == "X3"
    assert tree_head_bytes("ec", True, "ab", 1) == b'{"economy":"ec","root":"ab","size":true,"time":1}'  # type: ignore[arg-type]


@given(text=st.text())
def test_x05_a_string_spliced_alone_equals_its_canonical_encoding(text: str) -> None:
    assert canonical_str(text) == canonical_bytes(text)


def test_x05_a_lone_surrogate_is_refused_spliced_as_whole() -> None:
    for encode in (canonical_str, canonical_bytes):
        with pytest.raises(InvalidInputError) as refused:
            encode("\ud800")
        assert refused.value.rule == "X5"
