"""The economy itself: its genesis and its changes of policy (X1, X7).

The genesis entry is the journal's first. It names the economy, its journal key (which signs
every tree head), its governing council (whose quorum changes policy and grants roles) and its
first registrars, and sets the initial policy. The economy's id is the digest of that genesis,
so every signature in the economy is bound to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from civicledger.kernel.canonical import JSONObject, JSONValue, digest
from civicledger.kernel.identity import AccountId
from civicledger.kernel.messages import OMITTED_AT_DEFAULT, Command, Event, command, event
from civicledger.kernel.rules import FIRST_RULES


@command("economy.genesis")
@dataclass(frozen=True, slots=True)
class Genesis(Command):
    """Start an economy; signed by its journal key."""

    name: str
    journal_key: str
    council_key: str
    governor_keys: tuple[str, ...]
    quorum: int
    registrar_keys: tuple[str, ...]
    policy: JSONObject
    started_at: int
    rules: int = field(default=FIRST_RULES, metadata=OMITTED_AT_DEFAULT)
    """The rule version the economy starts with (IN8); absent from every genesis before versions."""


@command("economy.adopt_rules")
@dataclass(frozen=True, slots=True)
class AdoptRules(Command):
    """Move the economy to a newer rule version from ``starts_at`` on (IN8); the governing council's
    quorum signs. Entries before ``starts_at`` keep re-executing under the version they were written with."""

    version: int
    starts_at: int


@event("economy.rules_adopted")
@dataclass(frozen=True, slots=True)
class RulesAdopted(Event):
    version: int
    starts_at: int


@command("economy.change_policy")
@dataclass(frozen=True, slots=True)
class ChangePolicy(Command):
    """Change one policy value from now on (never backwards); needs the governing council's quorum."""

    path: str  # dotted, e.g. "circles.income_per_week"
    value: JSONValue


@event("economy.started")
@dataclass(frozen=True, slots=True)
class EconomyStarted(Event):
    economy: str
    name: str
    journal_key: str
    council: AccountId
    started_at: int


@event("economy.policy_set")
@dataclass(frozen=True, slots=True)
class PolicySet(Event):
    version: int
    policy: JSONObject
    effective_at: int


def economy_id_for(genesis_payload: JSONObject) -> str:
    """'ec' + the first 16 bytes of the genesis payload's digest."""
    return "ec" + digest(genesis_payload)[:32]
