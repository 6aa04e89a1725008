"""Accounts and who may act for them (X1, X6).

Every account has an Ed25519 public key and its id is derived from that key, so an id cannot be
claimed by anyone who does not hold the private key. A person becomes a *verified person* only
by a registrar's attestation (one human, one verified account).

Signature checking itself needs a cryptography library, so it lives behind the ``Signer`` /
``SignatureVerifier`` ports; this module only says *whose* signatures a command needs.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NewType

from civicledger.kernel.errors import (
    AuthorityError,
    InvalidInputError,
    NotFoundError,
    RuleViolationError,
)
from civicledger.kernel.messages import Command, Event, command, event

AccountId = NewType("AccountId", str)

ACCOUNT_ID_PREFIX = "ac"
_ACCOUNT_ID_RE = re.compile(r"^ac[0-9a-f]{32}$")
PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64


class AccountKind(StrEnum):
    PERSON = "person"
    ORGANIZATION = "organization"
    GROUP = "group"
    COUNCIL = "council"
    FUND = "fund"


class Role(StrEnum):
    """Civic roles an account can hold; granted by journal entries, never implicitly."""

    REGISTRAR = "registrar"
    TECHNOCRAT = "technocrat"
    GOVERNOR = "governor"


def account_id_for(public_key: bytes) -> AccountId:
    """The account id of an Ed25519 public key: 'ac' + the first 16 bytes of its SHA-256, hex."""
    if len(public_key) != PUBLIC_KEY_BYTES:
        raise InvalidInputError(f"an Ed25519 public key has 32 bytes, not {len(public_key)}", rule="X1")
    return AccountId(ACCOUNT_ID_PREFIX + hashlib.sha256(public_key).digest()[:16].hex())


def parse_account_id(text: str) -> AccountId:
    if not isinstance(text, str) or not _ACCOUNT_ID_RE.match(text):
        raise InvalidInputError(f"{text!r} is not an account id (ac + 32 hex digits)", rule="X1")
    return AccountId(text)


@dataclass(frozen=True, slots=True)
class Account:
    id: AccountId
    kind: AccountKind
    public_key: str  # hex
    name: str
    created_at: int
    verified: bool = False
    roles: frozenset[str] = field(default_factory=frozenset)
    parent: AccountId | None = None  # the council or group an account belongs to, if any


@dataclass(frozen=True, slots=True)
class Quorum:
    """At least ``threshold`` of ``members`` must sign (a council decision)."""

    members: frozenset[AccountId]
    threshold: int

    def satisfied_by(self, signers: frozenset[AccountId]) -> bool:
        return len(self.members & signers) >= self.threshold


@dataclass(frozen=True, slots=True)
class Consent:
    """Whose signatures a command needs: every one of ``all_of``, and every quorum."""

    all_of: frozenset[AccountId] = frozenset()
    quorums: tuple[Quorum, ...] = ()

    @staticmethod
    def of(*accounts: AccountId) -> Consent:
        return Consent(all_of=frozenset(accounts))

    def check(self, signers: frozenset[AccountId], rule: str = "X6") -> None:
        """Raise AuthorityError naming what is missing, or return if consent is complete."""
        missing = sorted(self.all_of - signers)
        if missing:
            raise AuthorityError(f"missing signature of {', '.join(missing)}", rule=rule)
        for quorum in self.quorums:
            if not quorum.satisfied_by(signers):
                got = len(quorum.members & signers)
                raise AuthorityError(f"a quorum of {quorum.threshold} council members must sign; {got} did", rule=rule)


# Commands -------------------------------------------------------------------------------------


@command("identity.open_account")
@dataclass(frozen=True, slots=True)
class OpenAccount(Command):
    """Open an account for a public key; signed by that key, so nobody opens one for another."""

    kind: AccountKind
    public_key: str
    name: str = ""


@command("identity.attest_person")
@dataclass(frozen=True, slots=True)
class AttestPerson(Command):
    """A registrar attests that a person account belongs to one real human (X1).

    ``human`` is a digest of the registrar's evidence (never the evidence itself): the same human
    cannot be attested twice, so one human holds at most one verified account.
    """

    person: AccountId
    registrar: AccountId
    human: str


@command("identity.grant_role")
@dataclass(frozen=True, slots=True)
class GrantRole(Command):
    """Grant a civic role; needs a quorum of the economy's governing council."""

    account: AccountId
    role: Role


@command("identity.revoke_role")
@dataclass(frozen=True, slots=True)
class RevokeRole(Command):
    account: AccountId
    role: Role


@command("identity.form_council")
@dataclass(frozen=True, slots=True)
class FormCouncil(Command):
    """Form a council from an opened council account; signed by the council key and every member."""

    council: AccountId
    members: frozenset[AccountId]
    quorum: int


# Events ---------------------------------------------------------------------------------------


@event("identity.account_opened")
@dataclass(frozen=True, slots=True)
class AccountOpened(Event):
    account: AccountId
    kind: AccountKind
    public_key: str
    name: str


@event("identity.person_verified")
@dataclass(frozen=True, slots=True)
class PersonVerified(Event):
    person: AccountId
    registrar: AccountId
    human: str


@event("identity.role_granted")
@dataclass(frozen=True, slots=True)
class RoleGranted(Event):
    account: AccountId
    role: Role


@event("identity.role_revoked")
@dataclass(frozen=True, slots=True)
class RoleRevoked(Event):
    account: AccountId
    role: Role


@event("identity.council_formed")
@dataclass(frozen=True, slots=True)
class CouncilFormed(Event):
    council: AccountId
    members: frozenset[AccountId]
    quorum: int


# Rules ----------------------------------------------------------------------------------------

_HEX_RE = re.compile(r"^[0-9a-f]*$")


def parse_public_key(text: str) -> bytes:
    if not isinstance(text, str) or len(text) != 2 * PUBLIC_KEY_BYTES or not _HEX_RE.match(text):
        raise InvalidInputError("a public key is 64 lower-case hex digits (32 bytes)", rule="X1")
    return bytes.fromhex(text)


def parse_signature(text: str) -> bytes:
    if not isinstance(text, str) or len(text) != 2 * SIGNATURE_BYTES or not _HEX_RE.match(text):
        raise InvalidInputError("a signature is 128 lower-case hex digits (64 bytes)", rule="X6")
    return bytes.fromhex(text)


def open_account(cmd: OpenAccount, existing: Account | None) -> AccountOpened:
    account = account_id_for(parse_public_key(cmd.public_key))
    if existing is not None:
        raise RuleViolationError(f"account {account} already exists", rule="X1")
    if len(cmd.name) > 200:
        raise InvalidInputError("an account name has at most 200 characters", rule="X1")
    return AccountOpened(account, cmd.kind, cmd.public_key, cmd.name)


def attest_person(
    cmd: AttestPerson, person: Account | None, registrar: Account | None, human_taken: bool
) -> PersonVerified:
    if registrar is None or Role.REGISTRAR not in registrar.roles:
        raise AuthorityError("only a registrar may attest a verified person", rule="X1")
    if person is None:
        raise NotFoundError(f"no account {cmd.person}", rule="X1")
    if person.kind is not AccountKind.PERSON:
        raise RuleViolationError(f"{cmd.person} is a {person.kind.value}, not a person", rule="X1")
    if person.verified:
        raise RuleViolationError(f"{cmd.person} is already a verified person", rule="X1")
    if not 8 <= len(cmd.human) <= 128:
        raise InvalidInputError("the human reference is a digest of 8-128 characters", rule="X1")
    if human_taken:
        raise RuleViolationError("this human already holds a verified account (one human, one account)", rule="X1")
    return PersonVerified(cmd.person, registrar.id, cmd.human)


def form_council(cmd: FormCouncil, council: Account | None, members_exist: bool) -> CouncilFormed:
    if council is None or council.kind is not AccountKind.COUNCIL:
        raise RuleViolationError(f"{cmd.council} is not an opened council account", rule="X1")
    if not cmd.members or not members_exist:
        raise RuleViolationError("a council needs existing member accounts", rule="X1")
    if not 1 <= cmd.quorum <= len(cmd.members):
        raise InvalidInputError(f"quorum must be between 1 and {len(cmd.members)}", rule="X6")
    return CouncilFormed(cmd.council, cmd.members, cmd.quorum)
