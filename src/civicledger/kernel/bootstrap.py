"""Creating an economy: the genesis command, built from keys and a policy mapping (X1, X7)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from civicledger.kernel.economy import Genesis, economy_id_for
from civicledger.kernel.errors import PolicyFileError
from civicledger.kernel.journal import SignedCommand
from civicledger.kernel.messages import to_wire
from civicledger.kernel.policy import policy_from_mapping, policy_to_mapping
from civicledger.kernel.ports import Signer
from civicledger.kernel.rules import LATEST_RULES
from civicledger.kernel.signing import sign_command


def genesis_command(
    *,
    name: str,
    policy: dict[str, Any],
    journal: Signer,
    council: Signer,
    governors: Sequence[Signer],
    registrars: Sequence[Signer],
    quorum: int,
    at: int,
    rules: int = LATEST_RULES,
) -> SignedCommand:
    checked, problems = policy_from_mapping(policy)
    if problems:
        raise PolicyFileError([(None, f"{'.'.join(path)}: {text}") for path, text in problems])
    genesis = Genesis(
        name=name,
        journal_key=journal.public_key.hex(),
        council_key=council.public_key.hex(),
        governor_keys=tuple(g.public_key.hex() for g in governors),
        quorum=quorum,
        registrar_keys=tuple(r.public_key.hex() for r in registrars),
        # every default pinned now, not by later code; under an earlier rule version, without the
        # values a later version added (IN8), as the earlier release wrote it
        policy=policy_to_mapping(checked, pinned=rules >= 2),
        started_at=at,
        rules=rules,
    )
    economy_id = economy_id_for(to_wire(genesis))
    return sign_command(economy_id, genesis, [journal], signed_at=at, command_id="genesis")
