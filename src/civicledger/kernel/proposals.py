"""Proposals: a council decision collecting its co-signatures off the journal (X6, X7).

A council decision (a policy change, a rule version, a role granted or revoked) needs a quorum of
the governing council's members to sign one command. Members rarely sit at one keyboard, so a
member (or a treasurer who is not one) drafts the command and the server holds the draft beside
the journal, never on it, while members sign it in their own browsers. Every member signs the same
bytes (``SignedCommand.signing_bytes``: economy, command id, type, payload, time), so

- a signature counts only if it verifies against the signer's key in force over *those* bytes: a
  draft changed after others signed is a new draft (``replace``), and their signatures do not carry
  over, because they do not verify over the new bytes;
- one account counts once: a second signature of the same account replaces nothing and adds nothing;
- only members of the governing council may sign; anyone else is refused (X6);
- a draft lives as long as its signatures are fresh: the engine refuses signatures older than
  ``journal.signature_max_age`` (X6), so a draft expires at ``signed_at`` plus that age.

When the quorum is met the server submits the command with every signature, as one journal entry;
the engine checks everything again, so a proposal can never let through what a direct command could
not. This module is pure: the store keeps proposals (``UnitOfWork.proposals``), the HTTP edge
(``civicledger.api.proposals``) verifies signatures and submits.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from typing import NewType

from civicledger.kernel.canonical import JSONObject
from civicledger.kernel.errors import AuthorityError, InvalidInputError, RuleViolationError
from civicledger.kernel.identity import AccountId, Quorum
from civicledger.kernel.journal import SignatureRecord, SignedCommand

ProposalId = NewType("ProposalId", str)

COUNCIL_DECISIONS = frozenset(
    {"economy.change_policy", "economy.adopt_rules", "identity.grant_role", "identity.revoke_role"}
)
"""Command types decided by a quorum of the governing council (``kernel.handlers.governing_consent``)."""


class ProposalStatus(StrEnum):
    PENDING = "pending"
    SUBMITTED = "submitted"  # on the journal at ``seq``
    REFUSED = "refused"  # the engine refused it when the quorum was met; ``reason`` names the rule
    REPLACED = "replaced"  # its proposer drafted a changed command: ``replaced_by``
    EXPIRED = "expired"  # its signatures went stale before the quorum was met (X6)


@dataclass(frozen=True, slots=True)
class Proposal:
    """A drafted council decision and the member signatures collected so far."""

    command: SignedCommand
    proposer: AccountId
    created_at: int
    expires_at: int
    status: ProposalStatus = ProposalStatus.PENDING
    replaced_by: ProposalId | None = None
    seq: int | None = None
    reason: str = ""

    @property
    def id(self) -> ProposalId:
        """A proposal is named by its command's id: the id the journal entry will carry."""
        return ProposalId(self.command.id)

    def status_at(self, now: int) -> ProposalStatus:
        """Its status at ``now``: a pending draft whose signatures are stale is expired."""
        if self.status is ProposalStatus.PENDING and now > self.expires_at:
            return ProposalStatus.EXPIRED
        return self.status

    def to_wire(self) -> JSONObject:
        return {
            "id": self.id,
            "command": self.command.to_wire(),
            "proposer": self.proposer,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "status": self.status.value,
            "replaced_by": self.replaced_by,
            "seq": self.seq,
            "reason": self.reason,
        }

    @staticmethod
    def from_wire(data: JSONObject) -> Proposal:
        replaced_by = data.get("replaced_by")
        seq = data.get("seq")
        return Proposal(
            command=SignedCommand.from_wire(data["command"]),
            proposer=AccountId(str(data["proposer"])),
            created_at=int(str(data["created_at"])),
            expires_at=int(str(data["expires_at"])),
            status=ProposalStatus(str(data["status"])),
            replaced_by=ProposalId(replaced_by) if isinstance(replaced_by, str) else None,
            seq=seq if isinstance(seq, int) else None,
            reason=str(data.get("reason") or ""),
        )


def draft(command: SignedCommand, proposer: AccountId, now: int, signature_max_age: int) -> Proposal:
    """A new pending proposal for ``command`` (its signatures checked by the caller)."""
    if command.type not in COUNCIL_DECISIONS:
        raise InvalidInputError(
            f"{command.type} is not a council decision; only {', '.join(sorted(COUNCIL_DECISIONS))} "
            "collect co-signatures here",
            rule="X6",
        )
    expires_at = command.signed_at + signature_max_age
    if expires_at < now:
        raise AuthorityError(f"a draft signed at {command.signed_at} is already stale at {now}", rule="X6")
    return Proposal(command, proposer, now, expires_at)


def require_member(quorum: Quorum, account: AccountId) -> None:
    """Only the governing council's members sign a council decision (X6)."""
    if account not in quorum.members:
        raise AuthorityError(f"{account} is not a member of the governing council and cannot co-sign", rule="X6")


def require_pending(proposal: Proposal, now: int) -> None:
    status = proposal.status_at(now)
    if status is ProposalStatus.EXPIRED:
        raise AuthorityError(
            f"proposal {proposal.id} expired at {proposal.expires_at}: its signatures are stale; draft it again",
            rule="X6",
        )
    if status is not ProposalStatus.PENDING:
        where = f" by {proposal.replaced_by}" if proposal.replaced_by else ""
        raise RuleViolationError(f"proposal {proposal.id} is {status.value}{where}; it takes no signatures", rule="X6")


def with_signature(proposal: Proposal, signature: SignatureRecord) -> Proposal:
    """The proposal with ``signature`` added (verified by the caller); an account that already
    signed counts once, so its second signature changes nothing."""
    if signature.account in proposal.command.signers():
        return proposal
    signatures = tuple(sorted((*proposal.command.signatures, signature), key=lambda s: s.account))
    return dataclasses.replace(proposal, command=dataclasses.replace(proposal.command, signatures=signatures))


def counted(proposal: Proposal, quorum: Quorum) -> int:
    """How many distinct members signed."""
    return len(quorum.members & proposal.command.signers())


__all__ = [
    "COUNCIL_DECISIONS",
    "Proposal",
    "ProposalId",
    "ProposalStatus",
    "counted",
    "draft",
    "require_member",
    "require_pending",
    "with_signature",
]
