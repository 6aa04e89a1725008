"""Signed HTTP requests (X6 over HTTP): who sent this request, now, and only once.

A request that changes state carries three headers:

- ``Civic-Timestamp``: whole seconds since the epoch, on the server's clock (``GET /api/economy``
  says ``now``);
- ``Civic-Nonce``: 16-128 characters of letters, digits, ``-`` and ``_``, never reused by the same
  account;
- ``Civic-Signature``: ``<account>=<hex>, <account>=<hex>``: each consenting account's Ed25519
  signature over the canonical JSON of
  ``{"economy", "method", "path", "body_sha256", "timestamp", "nonce"}`` (``request_bytes``).

The server refuses, before anything is written: a stale or future timestamp (policy
``journal.signature_max_age`` and ``journal.max_clock_skew``), a forged signature, a request signed
by fewer accounts than signed the command inside it, and, in the command's own transaction before
it runs, a nonce an account already used (so a replayed request stays refused even though its
command is refused or replayed; docs/decisions/0004).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from civicledger.kernel.canonical import JSONObject, canonical_bytes
from civicledger.kernel.errors import AuthorityError, InvalidInputError
from civicledger.kernel.identity import AccountId, account_id_for, parse_account_id, parse_signature
from civicledger.kernel.ports import Signer
from civicledger.kernel.signing import signer_account

TIMESTAMP_HEADER = "Civic-Timestamp"
NONCE_HEADER = "Civic-Nonce"
SIGNATURE_HEADER = "Civic-Signature"
MAX_REQUEST_SIGNATURES = 64
_NONCE_RE = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
_TIMESTAMP_RE = re.compile(r"^[0-9]{1,12}$")
_HEX64_RE = re.compile(r"^[0-9a-f]{64}$")


def request_bytes(economy_id: str, method: str, path: str, body: bytes, timestamp: int, nonce: str) -> bytes:
    """The bytes every consenting account signs for one request."""
    return canonical_bytes(
        {
            "economy": economy_id,
            "method": method.upper(),
            "path": path,
            "body_sha256": hashlib.sha256(body).hexdigest(),
            "timestamp": timestamp,
            "nonce": nonce,
        }
    )


def sign_request(
    economy_id: str, method: str, path: str, body: bytes, signers: Sequence[Signer], *, timestamp: int, nonce: str
) -> dict[str, str]:
    """The three headers for a request signed by ``signers`` (clients, tests, the benchmark)."""
    message = request_bytes(economy_id, method, path, body, timestamp, nonce)
    parts = [f"{signer_account(s)}={s.sign(message).hex()}" for s in signers]
    return {TIMESTAMP_HEADER: str(timestamp), NONCE_HEADER: nonce, SIGNATURE_HEADER: ", ".join(parts)}


@dataclass(frozen=True, slots=True)
class RequestSignatures:
    timestamp: int
    nonce: str
    signatures: dict[AccountId, bytes]


def parse_headers(headers: Mapping[str, str]) -> RequestSignatures:
    """Read the three headers; refuse (X6) when one is missing or malformed."""
    raw_ts = headers.get(TIMESTAMP_HEADER.lower()) or headers.get(TIMESTAMP_HEADER)
    nonce = headers.get(NONCE_HEADER.lower()) or headers.get(NONCE_HEADER)
    raw_sig = headers.get(SIGNATURE_HEADER.lower()) or headers.get(SIGNATURE_HEADER)
    if raw_ts is None or nonce is None or raw_sig is None:
        raise AuthorityError(
            f"a request that changes state must carry {TIMESTAMP_HEADER}, {NONCE_HEADER} and {SIGNATURE_HEADER}",
            rule="X6",
        )
    if not _TIMESTAMP_RE.match(raw_ts.strip()):
        raise AuthorityError(f"{TIMESTAMP_HEADER} must be whole seconds since the epoch", rule="X6")
    if not _NONCE_RE.match(nonce.strip()):
        raise AuthorityError(f"{NONCE_HEADER} must be 16-128 letters, digits, '-' or '_'", rule="X6")
    signatures: dict[AccountId, bytes] = {}
    parts = [p.strip() for p in raw_sig.split(",") if p.strip()]
    if not parts or len(parts) > MAX_REQUEST_SIGNATURES:
        raise AuthorityError(f"{SIGNATURE_HEADER} needs 1 to {MAX_REQUEST_SIGNATURES} signatures", rule="X6")
    for part in parts:
        account_text, sep, hex_text = part.partition("=")
        if not sep:
            raise AuthorityError(f"{SIGNATURE_HEADER} entries look like <account>=<hex signature>", rule="X6")
        try:
            account = parse_account_id(account_text.strip())
            signature = parse_signature(hex_text.strip())
        except InvalidInputError as e:
            raise AuthorityError(f"{SIGNATURE_HEADER}: {e.message}", rule="X6") from e
        if account in signatures:
            raise AuthorityError(f"{account} signed the request twice", rule="X6")
        signatures[account] = signature
    return RequestSignatures(int(raw_ts.strip()), nonce.strip(), signatures)


def check_freshness(timestamp: int, now: int, max_age: int, max_skew: int) -> None:
    if now - timestamp > max_age:
        raise AuthorityError(f"the request timestamp {timestamp} is stale at {now} (older than {max_age} s)", rule="X6")
    if timestamp - now > max_skew:
        raise AuthorityError(f"the request timestamp {timestamp} is in the future (server time {now})", rule="X6")


def keys_in_payload(payload: object) -> dict[AccountId, bytes]:
    """Public keys a command introduces (an ``open_account``'s key): the only way to know a new signer's key."""
    found: dict[AccountId, bytes] = {}
    stack = [payload]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "public_key" and isinstance(item, str) and _HEX64_RE.match(item):
                    raw = bytes.fromhex(item)
                    found[account_id_for(raw)] = raw
                else:
                    stack.append(item)
        elif isinstance(value, list):
            stack.extend(value)
    return found


# The three headers as OpenAPI parameters, for every route whose requests are signed.
SIGNATURE_HEADERS: list[JSONObject] = [
    {
        "name": "Civic-Timestamp",
        "in": "header",
        "required": True,
        "schema": {"type": "string"},
        "description": "whole seconds since the epoch on the server's clock",
    },
    {
        "name": "Civic-Nonce",
        "in": "header",
        "required": True,
        "schema": {"type": "string"},
        "description": "16-128 letters, digits, - or _; never reused by an account",
    },
    {
        "name": "Civic-Signature",
        "in": "header",
        "required": True,
        "schema": {"type": "string"},
        "description": "<account>=<hex Ed25519 signature>, ... over the request's canonical bytes",
    },
]
