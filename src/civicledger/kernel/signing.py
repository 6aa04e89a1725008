"""Building and signing commands on the client side (CLI, demo, simulator, tests).

Every consenting account signs the same bytes (``SignedCommand.signing_bytes``). A command id is
the client's: pass one to make retries idempotent, or let a random one be chosen.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence

from civicledger.kernel.identity import AccountId, account_id_for
from civicledger.kernel.journal import SignatureRecord, SignedCommand, parse_command_id
from civicledger.kernel.messages import Command, to_wire
from civicledger.kernel.ports import Signer


def sign_command(
    economy_id: str,
    command: Command,
    signers: Sequence[Signer],
    *,
    signed_at: int,
    command_id: str | None = None,
) -> SignedCommand:
    cid = parse_command_id(command_id or uuid.uuid4().hex)
    unsigned = SignedCommand(cid, command.TYPE, to_wire(command), signed_at)
    message = unsigned.signing_bytes(economy_id)  # encodes the payload once; the signed copy keeps it
    signatures = tuple(SignatureRecord(signer_account(s), s.sign(message).hex()) for s in signers)
    return dataclasses.replace(unsigned, signatures=signatures)


def signer_account(signer: Signer) -> AccountId:
    """The account a signer signs for: the one it says it holds (a key that replaced an account's
    first key, X9), else the id derived from its key."""
    account = getattr(signer, "account", None)
    return AccountId(account) if isinstance(account, str) else account_id_for(signer.public_key)
