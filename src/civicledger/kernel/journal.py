"""The one append-only journal (X2) and the signed envelope every command travels in (X5, X6).

A ``SignedCommand`` carries a client-chosen id, the command, the time it was signed and the
signatures of every account whose consent the rule needs. All of them sign the same bytes: the
canonical JSON of the economy id, command id, type, payload and signing time, so a signature
cannot be moved to another command, another economy or another time.

An ``Entry`` is what the journal keeps: the signed command, the entry's time and the events the
command produced. Its canonical JSON is the Merkle leaf; after each entry the journal signs a
*tree head* (size, root, time) with the economy's journal key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import NewType

from civicledger.kernel.canonical import JSONObject, JSONValue, canonical_bytes, canonical_str, sha256_hex
from civicledger.kernel.errors import InvalidInputError
from civicledger.kernel.identity import AccountId, parse_account_id

CommandId = NewType("CommandId", str)

_COMMAND_ID_RE = re.compile(r"^[A-Za-z0-9._:~-]{1,128}$")
MAX_SIGNATURES = 64


def parse_command_id(text: object) -> CommandId:
    if not isinstance(text, str) or not _COMMAND_ID_RE.match(text):
        raise InvalidInputError("a command id is 1-128 characters of letters, digits and . _ : ~ -", rule="X5")
    return CommandId(text)


@dataclass(frozen=True, slots=True)
class SignatureRecord:
    account: AccountId
    signature: str  # hex of the 64-byte Ed25519 signature


@dataclass(frozen=True, slots=True)
class SignedCommand:
    id: CommandId
    type: str
    payload: JSONObject
    signed_at: int
    signatures: tuple[SignatureRecord, ...] = ()
    _encoded: tuple[JSONObject, bytes] | None = field(default=None, compare=False, repr=False)
    """The payload's canonical JSON, made once: every form of the command that is signed, hashed or
    stored (signing bytes, payload digest, Merkle leaf) splices these bytes in, byte-identical to
    encoding the whole again. Kept with the payload it encodes, so a copy with another payload
    (``dataclasses.replace``) encodes its own."""
    _wire: tuple[JSONObject, bytes] | None = field(default=None, init=False, compare=False, repr=False)
    """``wire_bytes()``, made once, with the payload it encodes: a replay splices them into the
    recorded entry's leaf and into the re-executed one's (X2). Not copied by ``dataclasses.replace``."""
    _signing: tuple[JSONObject, str, bytes] | None = field(default=None, init=False, compare=False, repr=False)
    """The last ``signing_bytes(economy_id)`` with its payload and economy id: a verification asks
    for them ahead of the replay (the parallel checks) and again in it."""
    _digest: tuple[JSONObject, str] | None = field(default=None, init=False, compare=False, repr=False)
    """``payload_digest()`` with its payload: read with the entry, and again when it is sealed."""

    def payload_bytes(self) -> bytes:
        """The payload's canonical JSON (checked for floats and other non-JSON values once)."""
        encoded = self._encoded
        if encoded is None or encoded[0] is not self.payload:
            encoded = (self.payload, canonical_bytes(self.payload))
            object.__setattr__(self, "_encoded", encoded)
        return encoded[1]

    def signing_bytes(self, economy_id: str) -> bytes:
        """What every signer signs: economy id, command id, type, payload and time (X6)."""
        signing = self._signing
        if signing is None or signing[0] is not self.payload or signing[1] != economy_id:
            signing = (self.payload, economy_id, self._signing_bytes(economy_id))
            object.__setattr__(self, "_signing", signing)
        return signing[2]

    def _signing_bytes(self, economy_id: str) -> bytes:
        return b"".join(
            (
                b'{"economy":',
                _json(economy_id),
                b',"id":',
                _json(self.id),
                b',"payload":',
                self.payload_bytes(),
                b',"signed_at":',
                _json(self.signed_at),
                b',"type":',
                _json(self.type),
                b"}",
            )
        )

    def payload_digest(self) -> str:
        """What 'the same payload' means for retries (X5): the type and payload, not the signatures."""
        digest = self._digest
        if digest is None or digest[0] is not self.payload:
            digest = (self.payload, self._payload_digest())
            object.__setattr__(self, "_digest", digest)
        return digest[1]

    def _payload_digest(self) -> str:
        return sha256_hex(b"".join((b'{"payload":', self.payload_bytes(), b',"type":', _json(self.type), b"}")))

    def wire_bytes(self) -> bytes:
        """The canonical JSON of ``to_wire()``."""
        wire = self._wire
        if wire is None or wire[0] is not self.payload:
            wire = (self.payload, self._wire_bytes())
            object.__setattr__(self, "_wire", wire)
        return wire[1]

    def _wire_bytes(self) -> bytes:
        signatures = canonical_bytes(
            [{"account": s.account, "signature": s.signature} for s in self.signatures], trusted=True
        )
        return b"".join(
            (
                b'{"id":',
                _json(self.id),
                b',"payload":',
                self.payload_bytes(),
                b',"signatures":',
                signatures,
                b',"signed_at":',
                _json(self.signed_at),
                b',"type":',
                _json(self.type),
                b"}",
            )
        )

    def forget_encodings(self) -> None:
        """Drop the kept wire and signing bytes (not the payload's): a replay keeps every command it
        re-executed, and these are needed only while its entry is checked (X2)."""
        object.__setattr__(self, "_wire", None)
        object.__setattr__(self, "_signing", None)

    def signers(self) -> frozenset[AccountId]:
        return frozenset(s.account for s in self.signatures)

    def to_wire(self) -> JSONObject:
        return {
            "id": self.id,
            "type": self.type,
            "payload": self.payload,
            "signed_at": self.signed_at,
            "signatures": [{"account": s.account, "signature": s.signature} for s in self.signatures],
        }

    @staticmethod
    def from_wire(data: object) -> SignedCommand:
        if not isinstance(data, dict):
            raise InvalidInputError("a command must be an object", rule="X5")
        unknown = set(data) - {"id", "type", "payload", "signed_at", "signatures"}
        if unknown:
            raise InvalidInputError(f"unknown command field(s) {', '.join(sorted(unknown))}", rule="X5")
        type_name = data.get("type")
        payload = data.get("payload", {})
        signed_at = data.get("signed_at")
        raw_signatures = data.get("signatures", [])
        if not isinstance(type_name, str) or not type_name:
            raise InvalidInputError("a command needs a type", rule="X5")
        if not isinstance(payload, dict):
            raise InvalidInputError("a command payload must be an object", rule="X5")
        if isinstance(signed_at, bool) or not isinstance(signed_at, int):
            raise InvalidInputError("signed_at must be whole seconds since the epoch", rule="X6")
        if not isinstance(raw_signatures, list) or len(raw_signatures) > MAX_SIGNATURES:
            raise InvalidInputError(f"signatures must be a list of at most {MAX_SIGNATURES}", rule="X6")
        signatures = []
        for s in raw_signatures:
            if not isinstance(s, dict) or not isinstance(s.get("signature"), str):
                raise InvalidInputError("each signature needs an account and a hex signature", rule="X6")
            signatures.append(SignatureRecord(parse_account_id(s.get("account", "")), s["signature"]))
        encoded = (payload, canonical_bytes(payload))  # refuses floats and other non-canonical values early
        return SignedCommand(
            parse_command_id(data.get("id")), type_name, payload, signed_at, tuple(signatures), encoded
        )


def _json(value: str | int) -> bytes:
    """A string or an integer in canonical JSON."""
    if type(value) is int:
        return str(value).encode()
    if isinstance(value, str):
        return canonical_str(value)
    return canonical_bytes(value, trusted=True)


def signing_bytes(economy_id: str, command_id: str, type_name: str, payload: JSONValue, signed_at: int) -> bytes:
    """The signing bytes by encoding the whole envelope: the reference ``SignedCommand.signing_bytes``
    must equal (tests), and what a client without a ``SignedCommand`` can sign."""
    return canonical_bytes(
        {"economy": economy_id, "id": command_id, "type": type_name, "payload": payload, "signed_at": signed_at},
        trusted=True,
    )


@dataclass(frozen=True, slots=True)
class Entry:
    """One journal entry: its position, time, the signed command and the events it produced."""

    seq: int
    time: int
    command: SignedCommand
    events: tuple[JSONObject, ...]
    result: JSONObject = field(default_factory=dict)

    def to_wire(self) -> JSONObject:
        return {
            "seq": self.seq,
            "time": self.time,
            "command": self.command.to_wire(),
            "events": list(self.events),
            "result": self.result,
        }

    def leaf_bytes(self) -> bytes:
        """The canonical JSON of ``to_wire()``: the Merkle leaf (the command's payload spliced in)."""
        return b"".join(
            (
                b'{"command":',
                self.command.wire_bytes(),
                b',"events":',
                canonical_bytes(list(self.events), trusted=True),
                b',"result":',
                canonical_bytes(self.result, trusted=True),
                b',"seq":',
                _json(self.seq),
                b',"time":',
                _json(self.time),
                b"}",
            )
        )

    @staticmethod
    def from_wire(data: object) -> Entry:
        if not isinstance(data, dict):
            raise InvalidInputError("an entry must be an object", rule="X2")
        try:
            return Entry(
                seq=int(data["seq"]),
                time=int(data["time"]),
                command=SignedCommand.from_wire(data["command"]),
                events=tuple(data["events"]),
                result=dict(data.get("result", {})),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise InvalidInputError(f"malformed entry: {e}", rule="X2") from e


def tree_head_bytes(economy_id: str, size: int, root_hex: str, time: int) -> bytes:
    """The bytes the journal key signs for a tree head: the canonical JSON of
    ``{"economy", "root", "size", "time"}``, spliced when the values are plain strings and integers
    (every head of a replay, X2), else encoded and checked as a whole (same bytes, same refusals)."""
    if type(economy_id) is str and type(root_hex) is str and type(size) is int and type(time) is int:
        return b"".join(
            (
                b'{"economy":',
                canonical_str(economy_id),
                b',"root":',
                canonical_str(root_hex),
                b',"size":',
                str(size).encode(),
                b',"time":',
                str(time).encode(),
                b"}",
            )
        )
    return canonical_bytes({"economy": economy_id, "size": size, "root": root_hex, "time": time})


@dataclass(frozen=True, slots=True)
class TreeHead:
    size: int
    root: str  # hex
    time: int
    signature: str  # hex, by the economy's journal key

    def to_wire(self) -> JSONObject:
        return {"size": self.size, "root": self.root, "time": self.time, "signature": self.signature}
