"""Accounts and who may act for them (X1, X6, X9).

Every account has an Ed25519 public key and its id is derived from the key it was opened with, so
an id cannot be claimed by anyone who does not hold that private key. The key can change later
(X9: rotation, recovery by guardians, a registrar's re-binding) and the id stays: ``Account.public_key``
is the key in force, and signatures are checked against the key in force at each entry's time. A
person becomes a *verified person* only by a registrar's attestation (one human, one verified account).

Signature checking itself needs a cryptography library, so it lives behind the ``Signer`` /
``SignatureVerifier`` ports; this module only says *whose* signatures a command needs.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar, NewType

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


GRANT_HINT = "; a council quorum grants that role (civic account grant ACCOUNT {role} -k GOVERNOR ...)"
"""What a refusal for a missing role tells its reader to do (X1): the role and who grants it."""


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
    who: str = "council members"

    def satisfied_by(self, signers: frozenset[AccountId]) -> bool:
        return len(self.members & signers) >= self.threshold


@dataclass(frozen=True, slots=True)
class Consent:
    """Whose signatures a command needs: every one of ``all_of``, and every quorum."""

    all_of: frozenset[AccountId] = frozenset()
    quorums: tuple[Quorum, ...] = ()
    rule: str = "X6"
    """The rule a refusal names (X9 for the guardians of an account)."""

    @staticmethod
    def of(*accounts: AccountId) -> Consent:
        return Consent(all_of=frozenset(accounts))

    def check(self, signers: frozenset[AccountId], rule: str | None = None) -> None:
        """Raise AuthorityError naming what is missing, or return if consent is complete."""
        rule = rule or self.rule
        missing = sorted(self.all_of - signers)
        if missing:
            raise AuthorityError(
                f"missing signature of {', '.join(missing)}; the command must be signed with "
                + ("that account's key too" if len(missing) == 1 else "those accounts' keys too"),
                rule=rule,
            )
        for quorum in self.quorums:
            if not quorum.satisfied_by(signers):
                got = len(quorum.members & signers)
                raise AuthorityError(f"a quorum of {quorum.threshold} {quorum.who} must sign; {got} did", rule=rule)


# Commands -------------------------------------------------------------------------------------


@command("identity.open_account")
@dataclass(frozen=True, slots=True)
class OpenAccount(Command):
    """Open an account for a public key; signed by that key, so nobody opens one for another."""

    PERSONAL_FIELDS: ClassVar[tuple[str, ...]] = ("name",)  # IN11, from rule version 3: for a person
    kind: AccountKind
    public_key: str
    name: str = ""

    def personal_fields(self) -> tuple[str, ...]:
        """A person's name is personal data (IN11); an organisation's or council's name is public."""
        return ("name",) if self.kind == AccountKind.PERSON else ()

    def personal_subject(self) -> str:
        return account_id_for(bytes.fromhex(self.public_key)) if len(self.public_key) == 64 else ""


@command("identity.attest_person")
@dataclass(frozen=True, slots=True)
class AttestPerson(Command):
    """A registrar attests that a person account belongs to one real human (X1).

    ``human`` is a digest of the registrar's evidence (never the evidence itself): the same human
    cannot be attested twice, so one human holds at most one verified account.
    """

    PERSONAL_FIELDS: ClassVar[tuple[str, ...]] = ("human",)  # IN11, from rule version 3
    PERSONAL_SUBJECT: ClassVar[str] = "person"
    PERSONAL_UNIQUE: ClassVar[tuple[str, ...]] = ("human",)
    """With salted references the journal cannot see the same human twice; the off-journal store
    can, when the command is admitted (X1)."""
    PERSONAL_UNIQUE_RULE: ClassVar[str] = "X1"
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


@command("identity.rotate_key")
@dataclass(frozen=True, slots=True)
class RotateKey(Command):
    """Replace an account's key at once (X9); signed by the key in force and by the new key.

    The new key signs as the account id derived from it (``account_id_for``), which is no account:
    that signature proves its holder has the private key, so nobody binds a key they cannot use."""

    account: AccountId
    public_key: str


@command("identity.name_guardians")
@dataclass(frozen=True, slots=True)
class NameGuardians(Command):
    """Name the accounts, k of which may start a recovery or report the key stolen (X9).

    ``threshold`` 0 takes the policy's ``identity.guardian_threshold``. Signed by the owner. The
    first guardians are in force at once; a change replaces them only after the waiting period."""

    account: AccountId
    guardians: tuple[AccountId, ...]
    threshold: int = 0


@command("identity.start_recovery")
@dataclass(frozen=True, slots=True)
class StartRecovery(Command):
    """Open a recovery to a new key (X9): k guardians sign, and the new key (proof of possession).
    It completes after the policy's waiting period unless the key in force cancels it."""

    account: AccountId
    public_key: str


@command("identity.rebind_key")
@dataclass(frozen=True, slots=True)
class RebindKey(Command):
    """A registrar opens a recovery of a verified person to a new key on fresh evidence (X9).

    ``evidence`` is a digest of what the registrar checked (never the evidence itself), one that was
    never used before by an attestation or a re-binding. The new key signs too."""

    PERSONAL_FIELDS: ClassVar[tuple[str, ...]] = ("evidence",)  # IN11: sealed by the clients
    PERSONAL_SUBJECT: ClassVar[str] = "account"
    PERSONAL_UNIQUE: ClassVar[tuple[str, ...]] = ("evidence",)
    PERSONAL_UNIQUE_RULE: ClassVar[str] = "X9"
    account: AccountId
    registrar: AccountId
    public_key: str
    evidence: str


@command("identity.erase_personal_data")
@dataclass(frozen=True, slots=True)
class ErasePersonalData(Command):
    """Erase a person's off-journal personal data (IN11, rule version 3): signed by ``registrar``
    (a registrar) and the person, or by a quorum of ``council`` (a council decision)."""

    person: AccountId
    registrar: AccountId | None = None
    council: AccountId | None = None


@command("identity.cancel_recovery")
@dataclass(frozen=True, slots=True)
class CancelRecovery(Command):
    """Cancel a pending recovery (X9): the key in force signs (refused while it is reported stolen),
    or a registrar, for a verified person (against guardians who collude)."""

    account: AccountId
    registrar: AccountId | None = None


@command("identity.complete_recovery")
@dataclass(frozen=True, slots=True)
class CompleteRecovery(Command):
    """Install a recovery's key after its waiting period; anyone may send it (IN7: nothing stalls)."""

    account: AccountId


@command("identity.report_stolen")
@dataclass(frozen=True, slots=True)
class ReportStolen(Command):
    """Freeze an account whose key is stolen (X9), until a recovery completes. Signed by the key
    itself, or by k of its guardians, or by ``registrar`` for a verified person."""

    account: AccountId
    registrar: AccountId | None = None


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


@event("identity.personal_data_erased")
@dataclass(frozen=True, slots=True)
class PersonalDataErased(Event):
    """The person's off-journal data is deleted; the journal keeps only references to it (IN11)."""

    person: AccountId


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


@event("identity.key_changed")
@dataclass(frozen=True, slots=True)
class KeyChanged(Event):
    """The account's key in force is now ``public_key`` (a rotation or a completed recovery)."""

    account: AccountId
    public_key: str
    previous_key: str


@event("identity.guardians_named")
@dataclass(frozen=True, slots=True)
class GuardiansNamed(Event):
    """The account's guardians from ``effective_at`` on: at once when it had none, else after the
    waiting period, during which the guardians named before stay in force (a thief holding the
    key cannot shut them out)."""

    account: AccountId
    guardians: tuple[AccountId, ...]
    threshold: int
    effective_at: int


@event("identity.recovery_started")
@dataclass(frozen=True, slots=True)
class RecoveryStarted(Event):
    account: AccountId
    public_key: str
    by: str  # "guardians" or "registrar"
    registrar: AccountId | None
    evidence: str  # a digest; "" for guardians
    completes_at: int


@event("identity.recovery_cancelled")
@dataclass(frozen=True, slots=True)
class RecoveryCancelled(Event):
    account: AccountId
    by: str  # "owner", "registrar", or "lapsed" (its registrar lost the role before it completed)


@event("identity.recovery_completed")
@dataclass(frozen=True, slots=True)
class RecoveryCompleted(Event):
    account: AccountId
    public_key: str


@event("identity.account_frozen")
@dataclass(frozen=True, slots=True)
class AccountFrozen(Event):
    account: AccountId
    by: str  # "owner", "guardians" or "registrar"


@event("identity.account_unfrozen")
@dataclass(frozen=True, slots=True)
class AccountUnfrozen(Event):
    account: AccountId


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
        raise AuthorityError(
            "only a registrar may attest a verified person" + GRANT_HINT.format(role="registrar"), rule="X1"
        )
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


@dataclass(frozen=True, slots=True)
class Guardians:
    """Whom an account named (X9) and how many of them must sign."""

    members: tuple[AccountId, ...]
    threshold: int

    def quorum(self) -> Quorum:
        return Quorum(frozenset(self.members), self.threshold, "guardians")


@dataclass(frozen=True, slots=True)
class Recovery:
    """A pending recovery (X9): the key it installs and when it may complete."""

    public_key: str
    by: str
    registrar: AccountId | None
    started_at: int
    completes_at: int


def check_guardians(
    account: AccountId, guardians: tuple[AccountId, ...], threshold: int, max_guardians: int, exist: bool
) -> None:
    """Guardians are existing accounts other than the account, named once, k of n with 1 <= k <= n."""
    if not guardians:
        raise InvalidInputError("name at least one guardian", rule="X9")
    if len(guardians) > max_guardians:
        raise InvalidInputError(f"at most {max_guardians} guardians (policy identity.max_guardians)", rule="X9")
    if len(set(guardians)) != len(guardians):
        raise InvalidInputError("a guardian is named once", rule="X9")
    if account in guardians:
        raise RuleViolationError("an account cannot be its own guardian", rule="X9")
    if not exist:
        raise NotFoundError("every guardian must be an existing account", rule="X9")
    if not 1 <= threshold <= len(guardians):
        raise InvalidInputError(f"the threshold must be between 1 and {len(guardians)}", rule="X9")


def check_new_key(account: Account, public_key: str, new_key_taken: bool) -> AccountId:
    """The new key's own id (which signs as proof of possession); refused if the key is the one in
    force or was ever bound to an account (one key, one account)."""
    holder = account_id_for(parse_public_key(public_key))
    if public_key == account.public_key:
        raise RuleViolationError("the new key is the key in force", rule="X9")
    if new_key_taken:
        raise RuleViolationError("this key is or was bound to an account; use a fresh key", rule="X9")
    return holder


def check_evidence(evidence: str) -> None:
    if not 8 <= len(evidence) <= 128:
        raise InvalidInputError("the evidence is a digest of 8-128 characters", rule="X9")
