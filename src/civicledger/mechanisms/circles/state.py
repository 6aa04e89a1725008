"""Circles state: the record each namespace keeps, and the reads handlers, projectors, the router and
the queries share (CI1-CI15).

Six namespaces, one record type each; the ``Namespace`` is the only place a record is encoded or
decoded:

=====================  =======================  ====================  ==========================================
namespace              key                      record                what it says
=====================  =======================  ====================  ==========================================
``circles.accounts``   account                  ``AccountRecord``     income clock (CI2), trustee reserve (CI4)
``circles.trust``      truster/trustee          ``TrustRecord``       truster accepts trustee's currency (CI5)
``circles.rewarded``   first/second (sorted)    ``RewardRecord``      the pair's first trust paid rewards (CI7)
``circles.groups``     group                    ``GroupRecord``       a Circles group and its owner (CI10)
``circles.members``    group/member             ``MemberRecord``      a verified member (CI10)
``circles.demurrage``  account                  ``DemurrageRecord``   demurraged up to a day (CI15, v2, rules 1-2)
``circles.holdings``   account/currency         ``HoldingRecord``     the day a holding is kept at (IN4, rules 3)
=====================  =======================  ====================  ==========================================

Every record encodes exactly as it always was stored (existing databases and the state digest
depend on it): every field is always written, a trust that never expires with ``expires_at: null``.

Money is the ledger's, not a record: a personal currency's id is its owner's account id, a group
currency's the group's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, TypeVar

from civicledger.kernel import ledger as led
from civicledger.kernel import state
from civicledger.kernel.canonical import digest
from civicledger.kernel.errors import IntegrityError, NotFoundError, RuleViolationError
from civicledger.kernel.identity import AccountId
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.policy import policy_from_mapping
from civicledger.kernel.ports import UnitOfWork
from civicledger.kernel.records import Namespace
from civicledger.kernel.rules import FIRST_RULES
from civicledger.mechanisms.circles import rules
from civicledger.mechanisms.circles.policy import CirclesPolicy
from civicledger.mechanisms.circles.routing import LegFacts

R = TypeVar("R")

# Records -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountRecord:
    """A Circles account: income claimed up to ``claimed_to`` with an exact unminted remainder
    (``carry``, ``"n/d"`` of a minor unit, CI2), the trustee reserve (CI4) and when it joined."""

    claimed_to: int
    carry: str
    reserve: int
    created_at: int

    def income(self) -> rules.IncomeState:
        return rules.IncomeState(self.claimed_to, rules.decode_fraction(self.carry), self.reserve)


@dataclass(frozen=True, slots=True)
class TrustRecord:
    """The truster accepts the trustee's currency (CI5), up to a percent limit (v1), until a time (v2)."""

    limit_percent: int
    expires_at: int | None
    since: int

    def edge(self, truster: AccountId, trustee: AccountId) -> rules.TrustEdge:
        return rules.TrustEdge(truster, trustee, self.limit_percent, self.expires_at)


@dataclass(frozen=True, slots=True)
class RewardRecord:
    """When a pair's first trust paid the trustee rewards; later trusts between them pay none (CI7)."""

    at: int


@dataclass(frozen=True, slots=True)
class GroupRecord:
    """A Circles group (CI10): its owner signs for it."""

    owner: AccountId
    created_at: int


@dataclass(frozen=True, slots=True)
class MemberRecord:
    """A member the group's owner verified (CI10), who may convert into the group's money (CI11)."""

    since: int


@dataclass(frozen=True, slots=True)
class DemurrageRecord:
    """Whole days since genesis an account's holdings are demurraged to (CI15, circles-v2)."""

    day: int


@dataclass(frozen=True, slots=True)
class HoldingRecord:
    """The day a Circles holding's stored balance is an amount at (IN4, CI15, rule version 3): whole
    days since the policy's day zero. Reads and movements discount it by gamma^(today - day)."""

    day: int


ACCOUNTS = Namespace("circles.accounts", AccountRecord)
TRUST = Namespace("circles.trust", TrustRecord)
REWARDED = Namespace("circles.rewarded", RewardRecord)
GROUPS = Namespace("circles.groups", GroupRecord)
MEMBERS = Namespace("circles.members", MemberRecord)
DEMURRAGE = Namespace("circles.demurrage", DemurrageRecord)
HOLDINGS = Namespace("circles.holdings", HoldingRecord)


def trust_key(truster: AccountId, trustee: AccountId) -> str:
    return f"{truster}/{trustee}"


def member_key(group: AccountId, member: AccountId) -> str:
    return f"{group}/{member}"


def pair_key(a: AccountId, b: AccountId) -> str:
    """A pair's key in ``circles.rewarded``: the two accounts in sorted order."""
    first, second = sorted((a, b))
    return f"{first}/{second}"


def split_key(key: str) -> tuple[AccountId, AccountId]:
    """The two accounts of a ``first/second`` key."""
    first, second = key.split("/", 1)
    return AccountId(first), AccountId(second)


def keys(ns: Namespace[R], uow: UnitOfWork, prefix: str = "") -> Iterator[str]:
    """The keys of a namespace, in key order, without decoding the records (a scan that needs only
    the keys costs a fraction of a decoding one)."""
    for key, _ in uow.records.scan(ns.name, prefix):
        yield key


# Policy and time -----------------------------------------------------------------------------------

_section_cache: dict[str, CirclesPolicy] = {}


def schedule(uow: UnitOfWork) -> list[tuple[int, CirclesPolicy]]:
    """Every policy version's Circles section with the time it took effect (X7), oldest first."""
    out: list[tuple[int, CirclesPolicy]] = []
    for record in state.policy_versions(uow):  # the kernel's policy versions: {policy, effective_at, ...}
        mapping = record["policy"]
        key = digest(mapping)
        section = _section_cache.get(key)
        if section is None:
            policy, problems = policy_from_mapping(mapping)
            if problems:
                raise RuleViolationError(f"stored policy is invalid: {problems[0][1]}", rule="X7")
            section = _section_cache[key] = policy.section(CirclesPolicy)
        out.append((int(record["effective_at"]), section))
    if not out:
        out.append((0, CirclesPolicy()))
    return out


def genesis_time(uow: UnitOfWork) -> int:
    return state.require_economy(uow).started_at


# Accounts and income (CI1-CI4) ---------------------------------------------------------------------


def account_record(uow: UnitOfWork, account: AccountId) -> AccountRecord:
    """An account's record, which an event about it presumes (a projector's read)."""
    found = ACCOUNTS.get(uow, account)
    if found is None:
        raise IntegrityError(f"{account} has no Circles account record", rule="CI1")
    return found


def income_state(uow: UnitOfWork, account: AccountId) -> rules.IncomeState | None:
    found = ACCOUNTS.get(uow, account)
    return None if found is None else found.income()


def require_member_account(uow: UnitOfWork, account: AccountId, rule: str = "CI1") -> rules.IncomeState:
    state.require_account(uow, account, rule)
    found = income_state(uow, account)
    if found is None:
        raise NotFoundError(f"{account} has no Circles account; create one first", rule=rule)
    return found


def rules_at(uow: UnitOfWork, time: int) -> int:
    """The rule version in force at ``time`` (IN8), for reads that have no handler's context."""
    info = state.economy_info(uow)
    return info.rules_at(time) if info is not None else FIRST_RULES


def claimable_now(uow: UnitOfWork, account: AccountId, now: int) -> int:
    found = income_state(uow, account)
    if found is None:
        return 0
    units, _ = rules.claimable(found, now, genesis_time(uow), schedule(uow), rules_at(uow, now))
    return units


# Groups (CI10) -----------------------------------------------------------------------------------


def group_owner(uow: UnitOfWork, group: AccountId) -> AccountId | None:
    found = GROUPS.get(uow, group)
    return None if found is None else found.owner


def require_group(uow: UnitOfWork, group: AccountId) -> AccountId:
    """The owner of a Circles group; refuses an account that is not one (CI10)."""
    state.require_account(uow, group, "CI10")
    owner = group_owner(uow, group)
    if owner is None:
        raise NotFoundError(f"{group} is not a Circles group", rule="CI10")
    return owner


def is_member(uow: UnitOfWork, group: AccountId, member: AccountId) -> bool:
    return MEMBERS.get(uow, member_key(group, member)) is not None


def actor(uow: UnitOfWork, account: AccountId) -> AccountId:
    """Who signs for an account in Circles: a group's owner, else the account itself."""
    return group_owner(uow, account) or account


def party(uow: UnitOfWork, account: AccountId) -> Literal["person", "group"]:
    """'person' for a Circles account, 'group' for a Circles group; refuses anything else (CI5)."""
    state.require_account(uow, account, "CI5")
    if group_owner(uow, account) is not None:
        return "group"
    if income_state(uow, account) is not None:
        return "person"
    raise NotFoundError(f"{account} has neither a Circles account nor a group", rule="CI5")


# Trust (CI5-CI7) ---------------------------------------------------------------------------------


def trust_edge(uow: UnitOfWork, truster: AccountId, trustee: AccountId) -> rules.TrustEdge | None:
    found = TRUST.get(uow, trust_key(truster, trustee))
    return None if found is None else found.edge(truster, trustee)


def trusts_of(uow: UnitOfWork, truster: AccountId) -> list[rules.TrustEdge]:
    """Whom ``truster`` trusts (whose currencies it accepts)."""
    return [record.edge(truster, split_key(key)[1]) for key, record in TRUST.scan(uow, f"{truster}/")]


def trust_records(uow: UnitOfWork) -> Iterator[tuple[AccountId, AccountId, TrustRecord]]:
    """Every trust as (truster, trustee, record), in key order."""
    for key, record in TRUST.scan(uow):
        truster, trustee = split_key(key)
        yield truster, trustee, record


def trusters_of(uow: UnitOfWork, trustee: AccountId) -> list[AccountId]:
    """Who trusts ``trustee`` (accepts its currency), expired trusts included, in key order."""
    return [truster for truster, to in map(split_key, keys(TRUST, uow)) if to == trustee]


def pair_rewarded(uow: UnitOfWork, a: AccountId, b: AccountId) -> bool:
    """Whether a trust between ``a`` and ``b`` has already paid the trustee rewards (CI7)."""
    return REWARDED.get(uow, pair_key(a, b)) is not None


def acceptance_room(uow: UnitOfWork, receiver: AccountId, currency: led.Currency, now: int) -> int | None:
    """How much of ``currency`` the receiver accepts now: None = any amount (CI5, CI13)."""
    if currency.issuer == receiver:
        return None
    policy = state.current_policy(uow).section(CirclesPolicy)
    edge = trust_edge(uow, receiver, currency.issuer)
    own = uow.ledger.balance(receiver, CurrencyId(receiver))
    return rules.acceptance_room(edge, policy, now, own, uow.ledger.balance(receiver, currency.id))


def leg_facts(uow: UnitOfWork, leg: led.Leg) -> LegFacts:
    """What a routed payment's check needs to know of one leg (CI9): its accounts and currency
    exist (else NotFoundError under CI9), which side is a group, and the target's trust and balances."""
    state.require_account(uow, leg.source, "CI9")
    state.require_account(uow, leg.target, "CI9")
    currency = state.require_currency(uow, leg.currency, "CI9")
    own_issue = currency.issuer == leg.target
    return LegFacts(
        currency,
        source_is_group=group_owner(uow, leg.source) is not None,
        target_is_group=group_owner(uow, leg.target) is not None,
        trust=None if own_issue else trust_edge(uow, leg.target, currency.issuer),
        own=0 if own_issue else uow.ledger.balance(leg.target, CurrencyId(leg.target)),
        held=0 if own_issue else uow.ledger.balance(leg.target, currency.id),
    )


# Demurrage (CI15, circles-v2) ----------------------------------------------------------------------


def demurraged_to(uow: UnitOfWork, account: AccountId, today: int) -> int:
    """The day an account's holdings are demurraged to: when last applied, else the day it joined
    Circles (today if it never did)."""
    applied = DEMURRAGE.get(uow, account)
    if applied is not None:
        return applied.day
    joined = ACCOUNTS.get(uow, account)
    if joined is None:
        return today
    return (joined.created_at - genesis_time(uow)) // 86_400


def holding_key(account: AccountId, currency: CurrencyId) -> str:
    return f"{account}/{currency}"


def holding_day(uow: UnitOfWork, account: AccountId, currency: CurrencyId) -> int | None:
    """The day a holding is kept at (IN4), or None for one not moved since rule version 3 began."""
    found = HOLDINGS.get(uow, holding_key(account, currency))
    return None if found is None else found.day


def rules_started(uow: UnitOfWork, version: int) -> int | None:
    """When rule version ``version`` (or a later one) took effect in this economy, if it has."""
    info = state.economy_info(uow)
    if info is None:
        return None
    return next((t for v, t in info.rules if v >= version), None)
