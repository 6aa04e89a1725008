"""C2SP signed notes, checkpoints and cosignatures: the journal's tree heads in the format any
transparency-log client reads (X2; the witnesses that keep the journal from forking, IN12).

A *signed note* is UTF-8 text ending in a newline, a blank line, and one signature line per signer:
``— <key name> <base64(key id (4 bytes) || signature)>``. The key id of an Ed25519 key is the first
four bytes of SHA-256(name || 0x0A || 0x01 || public key); a *verifier key* (``vkey``) is
``<name>+<hex key id>+<base64(0x01 || public key)>``.

A *checkpoint* is a note whose text is the log's origin, its size in decimal and its root hash in
base64 (RFC 6962), then optional extension lines. A witness *cosigns* a checkpoint
(``tlog-cosignature/v1``, key type 0x04) by signing ``cosignature/v1\\ntime <t>\\n`` followed by the
checkpoint text; its signature is the 8-byte big-endian time followed by the Ed25519 signature.

Specifications: C2SP signed-note, tlog-checkpoint, tlog-cosignature (https://c2sp.org). Pure: the
Ed25519 arithmetic is a port (``Signer``, ``SignatureVerifier``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from civicledger.kernel.errors import IntegrityError, InvalidInputError
from civicledger.kernel.ports import SignatureVerifier, Signer

ED25519 = 0x01
COSIGNATURE_V1 = 0x04
MAX_NOTE_BYTES = 1 << 16  # a checkpoint is ~100 bytes; a note this size is an abuse, not a head
MAX_SIGNATURES = 100  # as the Go note package bounds them
MAX_NAME_BYTES = 256
DASH = "\u2014 "  # em dash and space open a signature line

_SIZE_RE = re.compile(r"^(0|[1-9][0-9]{0,19})$")


def _bad(reason: str) -> InvalidInputError:
    return InvalidInputError(reason, rule="X2")


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as e:
        raise _bad(f"{what} is not standard base64") from e


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def check_key_name(name: str) -> str:
    """A key name is non-empty text without spaces or '+' (signed-note)."""
    if not name or len(name.encode()) > MAX_NAME_BYTES or "+" in name or any(c.isspace() for c in name):
        raise _bad(f"a note key name must be 1-{MAX_NAME_BYTES} bytes without spaces or '+', not {name!r}")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        raise _bad("a note key name must not hold control characters")
    return name


def key_id(name: str, key_type: int, public_key: bytes) -> bytes:
    """The 4-byte id of a key: SHA-256(name || 0x0A || type || public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([key_type]) + public_key).digest()[:4]


@dataclass(frozen=True, slots=True)
class VerifierKey:
    """A public key by which signature lines of a note are checked (an Ed25519 note key or a
    tlog-cosignature/v1 witness key)."""

    name: str
    key_type: int
    public_key: bytes

    @property
    def id(self) -> bytes:
        return key_id(self.name, self.key_type, self.public_key)

    def text(self) -> str:
        """The vkey form: ``<name>+<hex key id>+<base64(type || key)>``."""
        return f"{self.name}+{self.id.hex()}+{_b64(bytes([self.key_type]) + self.public_key)}"

    @staticmethod
    def parse(text: str) -> VerifierKey:
        parts = text.strip().split("+", 2)  # the base64 key may itself hold a "+"
        if len(parts) != 3:
            raise _bad("a verifier key is <name>+<hex key id>+<base64 key>")
        name, hex_id, encoded = parts
        check_key_name(name)
        if not re.fullmatch(r"[0-9a-f]{8}", hex_id):
            raise _bad("a verifier key's id is 8 lower-case hex digits")
        raw = _b64decode(encoded, "a verifier key")
        if len(raw) != 33 or raw[0] not in (ED25519, COSIGNATURE_V1):
            raise _bad("a verifier key must be an Ed25519 (0x01) or cosignature/v1 (0x04) key of 32 bytes")
        key = VerifierKey(name, raw[0], raw[1:])
        if key.id.hex() != hex_id:
            raise _bad("a verifier key's id does not match its name and key")
        return key


def note_key(name: str, public_key: bytes) -> VerifierKey:
    """The Ed25519 note key a log signs its checkpoints with."""
    return VerifierKey(check_key_name(name), ED25519, public_key)


def witness_key(name: str, public_key: bytes) -> VerifierKey:
    """The tlog-cosignature/v1 key a witness cosigns with."""
    return VerifierKey(check_key_name(name), COSIGNATURE_V1, public_key)


@dataclass(frozen=True, slots=True)
class NoteSignature:
    name: str
    key_id: bytes  # 4 bytes
    signature: bytes

    def line(self) -> str:
        return f"{DASH}{self.name} {_b64(self.key_id + self.signature)}\n"


@dataclass(frozen=True, slots=True)
class Note:
    text: str  # ends with a newline
    signatures: tuple[NoteSignature, ...]

    def encode(self) -> str:
        return self.text + "\n" + "".join(s.line() for s in self.signatures)

    def with_signatures(self, extra: Iterable[NoteSignature]) -> Note:
        """The note with further signatures, skipping any already on it."""
        have = set(self.signatures)
        return Note(self.text, self.signatures + tuple(s for s in extra if s not in have))


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise _bad("a note's text must end with a newline")
    if any((ord(c) < 0x20 and c != "\n") or ord(c) == 0x7F for c in text):
        raise _bad("a note's text must not hold control characters other than newlines")


def parse_signature_line(line: str) -> NoteSignature:
    """One ``— <name> <base64>`` line (without its newline)."""
    if not line.startswith(DASH):
        raise _bad("a signature line must start with an em dash and a space")
    fields = line[len(DASH) :].split(" ")
    if len(fields) != 2:
        raise _bad("a signature line is '— <name> <base64 signature>'")
    name, encoded = fields
    check_key_name(name)
    raw = _b64decode(encoded, "a note signature")
    if len(raw) < 5:
        raise _bad("a note signature must hold a 4-byte key id and a signature")
    return NoteSignature(name, raw[:4], raw[4:])


def parse_note(data: bytes | str) -> Note:
    """A signed note, refused with a clear reason when malformed or larger than ``MAX_NOTE_BYTES``."""
    raw = data.encode() if isinstance(data, str) else data
    if len(raw) > MAX_NOTE_BYTES:
        raise _bad(f"a note must be at most {MAX_NOTE_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _bad("a note must be UTF-8") from e
    split = text.rfind("\n\n")
    if split < 0:
        raise _bad("a note needs a blank line between its text and its signatures")
    body, sigs = text[: split + 1], text[split + 2 :]
    _check_text(body)
    if not sigs:
        raise _bad("a note needs at least one signature line")
    if not sigs.endswith("\n"):
        raise _bad("a note's last signature line must end with a newline")
    lines = sigs[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise _bad(f"a note may carry at most {MAX_SIGNATURES} signatures")
    return Note(body, tuple(parse_signature_line(line) for line in lines))


def sign_note(text: str, name: str, signer: Signer) -> Note:
    """A note signed by an Ed25519 note key."""
    _check_text(text)
    key = note_key(name, signer.public_key)
    return Note(text, (NoteSignature(name, key.id, signer.sign(text.encode())),))


def verified_by(note: Note, key: VerifierKey, verifier: SignatureVerifier) -> bool:
    """Whether the note carries a valid signature by this Ed25519 note key."""
    if key.key_type != ED25519:
        return False
    return any(
        s.name == key.name and s.key_id == key.id and verifier.verify(key.public_key, note.text.encode(), s.signature)
        for s in note.signatures
    )


# Checkpoints ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes  # 32 bytes, RFC 6962
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        return "".join(f"{line}\n" for line in (self.origin, str(self.size), _b64(self.root), *self.extensions))

    @staticmethod
    def parse(text: str) -> Checkpoint:
        _check_text(text)
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise _bad("a checkpoint holds an origin, a size and a root hash")
        origin, size, root, *extensions = lines
        if not origin:
            raise _bad("a checkpoint's origin must not be empty")
        if not _SIZE_RE.match(size) or int(size) >= 1 << 64:
            raise _bad("a checkpoint's size must be a decimal number without leading zeros")
        digest = _b64decode(root, "a checkpoint's root hash")
        if len(digest) != 32:
            raise _bad("a checkpoint's root hash must be 32 bytes")
        if any(not line for line in extensions):
            raise _bad("a checkpoint's extension lines must not be empty")
        return Checkpoint(origin, int(size), digest, tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, name: str, signer: Signer) -> Note:
    return sign_note(checkpoint.text(), name, signer)


def open_checkpoint(data: bytes | str, log: VerifierKey, verifier: SignatureVerifier) -> tuple[Checkpoint, Note]:
    """A checkpoint note signed by ``log`` and naming it as origin; refused otherwise."""
    note = parse_note(data)
    checkpoint = Checkpoint.parse(note.text)
    if checkpoint.origin != log.name:
        raise IntegrityError(f"the checkpoint's origin {checkpoint.origin!r} is not the log {log.name!r}", rule="X2")
    if not verified_by(note, log, verifier):
        raise IntegrityError("the checkpoint carries no valid signature by the log's key", rule="X2")
    return checkpoint, note


# Cosignatures (tlog-cosignature/v1) -------------------------------------------------------------


def cosigned_message(text: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n{text}".encode()


def cosign(text: str, name: str, signer: Signer, timestamp: int) -> NoteSignature:
    """A witness's cosignature of a checkpoint's text at ``timestamp`` (seconds)."""
    if not 0 <= timestamp < 1 << 63:
        raise _bad("a cosignature's time must be a non-negative 64-bit number")
    key = witness_key(name, signer.public_key)
    sig = signer.sign(cosigned_message(text, timestamp))
    return NoteSignature(name, key.id, timestamp.to_bytes(8, "big") + sig)


def cosignature_time(note: Note, key: VerifierKey, verifier: SignatureVerifier) -> int | None:
    """The time of the note's valid cosignature by this witness key, or None."""
    if key.key_type != COSIGNATURE_V1:
        return None
    for s in note.signatures:
        if s.name != key.name or s.key_id != key.id or len(s.signature) != 72:
            continue
        timestamp = int.from_bytes(s.signature[:8], "big")
        if verifier.verify(key.public_key, cosigned_message(note.text, timestamp), s.signature[8:]):
            return timestamp
    return None


@dataclass(frozen=True, slots=True)
class WitnessedCheckpoint:
    checkpoint: Checkpoint
    witnesses: tuple[str, ...]  # names of the witnesses whose cosignatures are valid


def verify_witnessed(
    data: bytes | str,
    log: VerifierKey,
    witnesses: Sequence[VerifierKey],
    required: int,
    verifier: SignatureVerifier,
) -> WitnessedCheckpoint:
    """A checkpoint signed by the log and cosigned by at least ``required`` of ``witnesses``; a
    client that holds this cannot be shown a history the witnesses did not see (IN12)."""
    if required < 0 or required > len(witnesses):
        raise _bad(f"cannot require {required} cosignatures of {len(witnesses)} witness keys")
    checkpoint, note = open_checkpoint(data, log, verifier)
    names = tuple(sorted({w.name for w in witnesses if cosignature_time(note, w, verifier) is not None}))
    if len(names) < required:
        raise IntegrityError(
            f"the checkpoint has {len(names)} valid witness cosignatures of the {required} required", rule="IN12"
        )
    return WitnessedCheckpoint(checkpoint, names)


# Witness requests (tlog-witness add-checkpoint) -------------------------------------------------

MAX_PROOF_LINES = 63


@dataclass(frozen=True, slots=True)
class AddCheckpoint:
    old_size: int
    proof: tuple[bytes, ...]
    note: bytes

    def encode(self) -> bytes:
        head = f"old {self.old_size}\n" + "".join(f"{_b64(p)}\n" for p in self.proof) + "\n"
        return head.encode() + self.note

    @staticmethod
    def parse(body: bytes) -> AddCheckpoint:
        if len(body) > MAX_NOTE_BYTES + (MAX_PROOF_LINES + 1) * 64:
            raise _bad("an add-checkpoint request is too large")
        split = body.find(b"\n\n")
        if split < 0:
            raise _bad("an add-checkpoint request needs a blank line before its checkpoint")
        try:
            lines = body[:split].decode("ascii").split("\n")
        except UnicodeDecodeError as e:
            raise _bad("an add-checkpoint request's header must be ASCII") from e
        first = lines[0]
        if not first.startswith("old ") or not _SIZE_RE.match(first[4:]):
            raise _bad("an add-checkpoint request starts with 'old <size>'")
        if len(lines) - 1 > MAX_PROOF_LINES:
            raise _bad(f"a consistency proof has at most {MAX_PROOF_LINES} hashes")
        proof = tuple(_b64decode(line, "a consistency proof line") for line in lines[1:])
        if any(len(p) != 32 for p in proof):
            raise _bad("a consistency proof's hashes must be 32 bytes")
        return AddCheckpoint(int(first[4:]), proof, body[split + 2 :])
