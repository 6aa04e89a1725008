"""Council decisions collecting co-signatures over HTTP (kernel/proposals.py, docs/web.md).

- ``POST /api/proposals`` drafts a council decision: the body is a command in its wire form with
  any signatures its drafter already made, request-signed by the drafter (who need not be a
  member); ``?replaces=ID`` withdraws the drafter's earlier draft, whose signatures do not carry over.
- ``POST /api/proposals/{id}/signatures`` adds one member's signature, ``{"account", "signature"}``
  over the command's signing bytes, request-signed by that member in their own browser. When the
  signatures reach the governing council's quorum, the command is submitted with all of them as
  one journal entry through the same writer as ``POST /api/commands``.
- ``GET /api/proposals`` and ``GET /api/proposals/{id}`` read them.

Every signature is checked against the signer's key in force over the command's signing bytes and
the signer must be a member (X6); a policy value is checked when drafted (X7). The server never
holds a private key: it only keeps what members signed.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated

from fastapi import FastAPI, Path, Query, Request

from civicledger.adapters.crypto import Ed25519Verifier
from civicledger.api.kit import READ_ERRORS
from civicledger.api.problems import responses
from civicledger.api.request_signing import SIGNATURE_HEADERS, check_freshness, parse_headers, request_bytes
from civicledger.kernel import state
from civicledger.kernel.canonical import parse_json
from civicledger.kernel.errors import AuthorityError, CivicLedgerError, InvalidInputError, NotFoundError
from civicledger.kernel.identity import AccountId, Quorum, parse_account_id, parse_signature
from civicledger.kernel.journal import SignatureRecord, SignedCommand
from civicledger.kernel.messages import COMMANDS, decode_command
from civicledger.kernel.policy import policy_to_mapping, with_change
from civicledger.kernel.proposals import (
    Proposal,
    ProposalStatus,
    counted,
    draft,
    require_member,
    require_pending,
    with_signature,
)

if TYPE_CHECKING:
    from civicledger.api.app import ServiceState  # the app module imports this one

MAX_PROPOSAL_BYTES = 64 * 1024
WRITE_ERRORS = responses(403, 404, 409, 413, 422, 503)
ProposalPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9._:~-]{1,128}$")]


class ProposalDesk:
    """What the proposal routes share: the service, a verifier, and one lock so that two
    signatures arriving at once are added one after the other (a lost update would drop one)."""

    def __init__(self, service: ServiceState) -> None:
        self.service = service
        self.verifier = Ed25519Verifier()
        self.lock = asyncio.Lock()

    def now(self) -> int:
        """The server's time, with the journal's newest entry read afresh: another worker's entry
        may have moved it on, and an expiry must not wait for this worker's cache (X4, X6)."""
        with self.service.store.read() as uow:
            return max(self.service.now(), uow.journal.head().time)

    def quorum(self) -> Quorum:
        economy = self.service.view.economy
        if economy is None:
            raise NotFoundError("this store holds no economy yet; create one with `civic init`", rule="X1")
        with self.service.store.read() as uow:
            return state.council_quorum(uow, economy.council)

    def economy_id(self) -> str:
        economy_id = self.service.economy_id
        if economy_id is None:
            raise NotFoundError("this store holds no economy yet; create one with `civic init`", rule="X1")
        return economy_id

    def request_signer(self, request: Request, body: bytes) -> tuple[AccountId, str]:
        """The one account that signed this request (X6), and the request's nonce."""
        signed = parse_headers(request.headers)
        journal = self.service.policy.journal
        check_freshness(signed.timestamp, self.now(), journal.signature_max_age, journal.max_clock_skew)
        if len(signed.signatures) != 1:
            raise AuthorityError("a proposal request is signed by exactly one account", rule="X6")
        ((account, signature),) = signed.signatures.items()
        message = request_bytes(
            self.economy_id(), request.method, request.url.path, body, signed.timestamp, signed.nonce
        )
        self.check(account, message, signature)
        return account, signed.nonce

    def check(self, account: AccountId, message: bytes, signature: bytes) -> None:
        """Refuse (X6) a signature that is not ``account``'s key in force over ``message``."""
        key = self.service.engine.key_of(account)
        if key is not None and not self.verifier.verify(key, message, signature):
            key = self.service.engine.key_of(account, fresh=True)  # rotated elsewhere (X9)
        if key is None:
            raise AuthorityError(f"{account} is not an account and cannot sign", rule="X6")
        if not self.verifier.verify(key, message, signature):
            raise AuthorityError(f"the signature of {account} does not match this proposal's command", rule="X6")

    def check_member_signature(self, command: SignedCommand, record: SignatureRecord, quorum: Quorum) -> None:
        require_member(quorum, record.account)
        self.check(record.account, command.signing_bytes(self.economy_id()), parse_signature(record.signature))

    def check_value(self, command: SignedCommand) -> None:
        """Refuse now what the engine would refuse when the quorum is met: an unknown type or a bad
        payload (X5), a policy value the policy does not accept (X7)."""
        if command.type not in COMMANDS:
            raise InvalidInputError(f"unknown command type {command.type!r}", rule="X5")
        decoded = decode_command(command.type, command.payload)
        if command.type == "economy.change_policy":
            path, value = getattr(decoded, "path"), getattr(decoded, "value")  # noqa: B009
            with self.service.store.read() as uow:
                record = state.policy_record(uow)
                base = record["policy"] if record else policy_to_mapping(self.service.policy)
            _, problems = with_change(base, tuple(str(path).split(".")), value)
            if problems:
                raise InvalidInputError(f"policy {path}: {problems[0][1]}", rule="X7")

    def view(self, proposal: Proposal, quorum: Quorum, now: int) -> Mapping[str, object]:
        """A proposal as the API shows it: its status now, and how many members signed of how many needed."""
        return {
            **proposal.to_wire(),
            "status": proposal.status_at(now).value,
            "signed": counted(proposal, quorum),
            "needed": quorum.threshold,
            "members": [str(m) for m in sorted(quorum.members)],
            "signing_bytes": proposal.command.signing_bytes(self.economy_id()).decode(),
        }

    def read(self, proposal_id: str) -> Proposal:
        with self.service.store.read() as uow:
            found = uow.proposals.get(proposal_id)
        if found is None:
            raise NotFoundError(f"no proposal {proposal_id}", rule="X6")
        return found

    def put(self, *proposals: Proposal) -> None:
        with self.service.store.write() as uow:
            for proposal in proposals:
                uow.proposals.put(proposal)
            uow.commit()


async def _body(request: Request) -> bytes:
    body = await request.body()
    if len(body) > MAX_PROPOSAL_BYTES:
        raise InvalidInputError(f"a proposal body has at most {MAX_PROPOSAL_BYTES} bytes", rule="X5")
    return body


def install(app: FastAPI, service: ServiceState) -> None:
    """Add the proposal routes to ``app`` (``service`` is the app's ``ServiceState``)."""
    desk = ProposalDesk(service)

    @app.get("/api/proposals", tags=["proposals"], responses=READ_ERRORS)
    def proposals(limit: Annotated[int, Query(ge=1, le=200)] = 50) -> Mapping[str, object]:
        quorum, now = desk.quorum(), desk.now()
        with desk.service.store.read() as uow:
            found = uow.proposals.newest(limit)
        return {"now": now, "proposals": [desk.view(p, quorum, now) for p in found]}

    @app.get("/api/proposals/{proposal}", tags=["proposals"], responses=READ_ERRORS)
    def proposal(proposal: ProposalPath) -> Mapping[str, object]:
        return desk.view(desk.read(proposal), desk.quorum(), desk.now())

    @app.post(
        "/api/proposals",
        tags=["proposals"],
        summary="Draft a council decision to collect co-signatures",
        responses=WRITE_ERRORS,
        openapi_extra={"parameters": SIGNATURE_HEADERS},
    )
    async def propose(
        request: Request, replaces: Annotated[str | None, Query(max_length=128)] = None
    ) -> Mapping[str, object]:
        desk.service.refresh()
        body = await _body(request)
        proposer, nonce = desk.request_signer(request, body)
        command = SignedCommand.from_wire(parse_json(body))
        desk.check_value(command)
        quorum, now = desk.quorum(), desk.now()
        if len(command.signers()) != len(command.signatures):
            raise AuthorityError("an account signed the command twice; it counts once", rule="X6")
        for record in command.signatures:
            desk.check_member_signature(command, record, quorum)
        fresh = draft(command, proposer, now, desk.service.policy.journal.signature_max_age)
        async with desk.lock:
            with desk.service.store.read() as uow:
                if uow.proposals.get(command.id) is not None or uow.journal.find_command(command.id) is not None:
                    raise InvalidInputError(f"command id {command.id} is already used; draft with a new id", rule="X5")
                old = uow.proposals.get(replaces) if replaces else None
            if replaces and old is None:
                raise NotFoundError(f"no proposal {replaces} to replace", rule="X6")
            withdrawn: list[Proposal] = []
            if old is not None:
                if old.proposer != proposer:
                    raise AuthorityError(f"only {old.proposer}, who drafted {old.id}, may replace it", rule="X6")
                require_pending(old, now)
                withdrawn.append(dataclasses.replace(old, status=ProposalStatus.REPLACED, replaced_by=fresh.id))
            desk.put(*withdrawn, fresh)
            return await _submit_if_complete(desk, fresh, quorum, (proposer, nonce))

    @app.post(
        "/api/proposals/{proposal}/signatures",
        tags=["proposals"],
        summary="Co-sign a council decision",
        responses=WRITE_ERRORS,
        openapi_extra={"parameters": SIGNATURE_HEADERS},
    )
    async def cosign(request: Request, proposal: ProposalPath) -> Mapping[str, object]:
        desk.service.refresh()
        body = await _body(request)
        signer, nonce = desk.request_signer(request, body)
        data = parse_json(body)
        if not isinstance(data, dict) or set(data) != {"account", "signature"}:
            raise InvalidInputError('a co-signature is {"account": ..., "signature": ...}', rule="X5")
        record = SignatureRecord(parse_account_id(str(data["account"])), str(data["signature"]))
        if record.account != signer:
            raise AuthorityError(f"{signer} signed the request but the signature is {record.account}'s", rule="X6")
        async with desk.lock:
            found, quorum, now = desk.read(proposal), desk.quorum(), desk.now()
            require_pending(found, now)
            desk.check_member_signature(found.command, record, quorum)
            signed = with_signature(found, record)
            if signed is not found:
                desk.put(signed)
            return await _submit_if_complete(desk, signed, quorum, (signer, nonce))


async def _submit_if_complete(
    desk: ProposalDesk, proposal: Proposal, quorum: Quorum, request: tuple[AccountId, str]
) -> Mapping[str, object]:
    """Submit the command once its member signatures reach the quorum; record the outcome."""
    now = desk.now()
    if counted(proposal, quorum) < quorum.threshold:
        return desk.view(proposal, quorum, now)
    service = desk.service
    journal = service.policy.journal
    # The last request spends its nonce with the command, as POST /api/commands does (X6).
    account, nonce = request
    try:
        future = service.batcher.submit(
            proposal.command,
            nonce,
            [account],
            now,
            now - journal.signature_max_age - journal.max_clock_skew,
        )
        receipt = await asyncio.wrap_future(future)
    except CivicLedgerError as error:
        desk.put(dataclasses.replace(proposal, status=ProposalStatus.REFUSED, reason=str(error)))
        raise
    done = dataclasses.replace(proposal, status=ProposalStatus.SUBMITTED, seq=receipt.seq)
    desk.put(done)
    return desk.view(done, quorum, now)


__all__ = ["ProposalDesk", "install"]
