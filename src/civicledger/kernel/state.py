"""Reading the economy's own records (its id, keys, governing council, policy) from a unit of work."""

from __future__ import annotations

from collections.abc import Iterator
from typing import NotRequired, TypedDict, cast

from civicledger.kernel.canonical import JSONObject, digest
from civicledger.kernel.errors import NotFoundError, RuleViolationError
from civicledger.kernel.explain import Money
from civicledger.kernel.identity import Account, AccountId, Guardians, Quorum, Recovery
from civicledger.kernel.ledger import Currency
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.policy import Policy, policy_from_mapping
from civicledger.kernel.ports import UnitOfWork
from civicledger.kernel.registry import EconomyInfo
from civicledger.kernel.rules import FIRST_RULES

_policy_cache: dict[str, Policy] = {}


class InfoRecord(TypedDict):
    """The economy's own record (``economy``/``info``)."""

    id: str
    name: str
    journal_key: str
    council: str
    started_at: int
    rules: NotRequired[list[list[int]]]


class PolicyRecord(TypedDict):
    """A policy version (``policy``/``<version>``; the one in force also under ``economy``/``policy``)."""

    version: int
    policy: JSONObject
    effective_at: int
    digest: NotRequired[str]


def policy_versions(uow: UnitOfWork) -> Iterator[PolicyRecord]:
    """Every policy version, oldest first (X7)."""
    for _, record in uow.records.scan("policy"):
        yield cast(PolicyRecord, record)


def economy_info(uow: UnitOfWork) -> EconomyInfo | None:
    return _info_of(uow.records.get("economy", "info"))


def _info_of(data: InfoRecord | None) -> EconomyInfo | None:
    if data is None:
        return None
    rules = tuple((int(v), int(t)) for v, t in data.get("rules", ((FIRST_RULES, data["started_at"]),)))
    return EconomyInfo(
        data["id"], data["name"], data["journal_key"], AccountId(data["council"]), data["started_at"], rules
    )


def _policy_of(record: PolicyRecord | None) -> Policy:
    return Policy() if record is None else _decode_policy(record["policy"], record.get("digest"))


def policy_at(uow: UnitOfWork, time: int) -> Policy:
    """The policy that was in force at ``time`` (X7, IN8: a change applies from its entry onward, so
    grades, decay and prices for earlier times are computed with the policy of their own time)."""
    chosen: PolicyRecord | None = None
    for record in policy_versions(uow):
        if record["effective_at"] <= time:
            chosen = record
        else:
            break
    return _policy_of(chosen if chosen is not None else uow.records.get("economy", "policy"))


def require_economy(uow: UnitOfWork) -> EconomyInfo:
    info = economy_info(uow)
    if info is None:
        raise RuleViolationError("this store holds no economy yet; create one with `civic init`", rule="X1")
    return info


def economy_and_policy(uow: UnitOfWork) -> tuple[EconomyInfo | None, Policy]:
    """The economy's info and the policy in force, in one read."""
    rows = dict(uow.records.scan("economy"))
    info, policy = cast(InfoRecord | None, rows.get("info")), cast(PolicyRecord | None, rows.get("policy"))
    return _info_of(info), _policy_of(policy)


def current_policy(uow: UnitOfWork) -> Policy:
    return _policy_of(uow.records.get("economy", "policy"))


def money_in(uow: UnitOfWork, currency: str | None) -> Money:
    """How an amount of ``currency`` reads (X3): the currency's own decimals and symbol; an amount of
    no currency or of one the ledger does not know reads in the economy's decimals (the default
    policy's before there is an economy). The pages, the CLI and the explanations read money so."""
    found = uow.ledger.currency(CurrencyId(currency)) if currency else None
    if found is not None:
        return Money(found.decimals, found.symbol, found.id)
    return Money(current_policy(uow).economy.currency_decimals)


def policy_record(uow: UnitOfWork) -> PolicyRecord | None:
    record: PolicyRecord | None = uow.records.get("economy", "policy")
    return record


def _decode_policy(mapping: JSONObject, known_digest: str | None = None) -> Policy:
    key = known_digest or digest(mapping)
    cached = _policy_cache.get(key)
    if cached is None:
        cached, problems = policy_from_mapping(mapping)
        if problems:
            raise RuleViolationError(f"stored policy is invalid: {problems[0][1]}", rule="X7")
        _policy_cache[key] = cached
    return cached


def council_quorum(uow: UnitOfWork, council: AccountId) -> Quorum:
    data = uow.records.get("councils", council)
    if data is None:
        raise NotFoundError(f"{council} is not a council", rule="X6")
    return Quorum(frozenset(AccountId(m) for m in data["members"]), int(data["quorum"]))


def require_account(uow: UnitOfWork, account: AccountId, rule: str = "X1") -> Account:
    found = uow.accounts.get(account)
    if found is None:
        raise NotFoundError(f"no account {account}", rule=rule)
    return found


def require_currency(uow: UnitOfWork, currency: CurrencyId, rule: str = "X3") -> Currency:
    found = uow.ledger.currency(currency)
    if found is None:
        raise NotFoundError(f"no currency {currency}", rule=rule)
    return found


# Keys (X9) -------------------------------------------------------------------------------------

FROZEN = "key_frozen"
"""Records of accounts whose key is reported stolen (X9), by account; ``keys``/``frozen`` counts them."""


def guardians_of(uow: UnitOfWork, account: AccountId, at: int) -> Guardians | None:
    """The account's guardians in force at ``at``: a change named later is in force from its
    ``effective_at`` (X9)."""
    data = uow.records.get("key_guardians", account)
    if data is None:
        return None
    pending = data.get("pending")
    if pending is not None and int(pending["effective_at"]) <= at:
        data = pending
    return Guardians(tuple(AccountId(m) for m in data["members"]), int(data["threshold"]))


def pending_guardians(uow: UnitOfWork, account: AccountId, at: int) -> tuple[Guardians, int] | None:
    """A change of guardians not yet in force at ``at``, with the time it will be."""
    data = uow.records.get("key_guardians", account)
    pending = data.get("pending") if data is not None else None
    if pending is None or int(pending["effective_at"]) <= at:
        return None
    members = tuple(AccountId(m) for m in pending["members"])
    return Guardians(members, int(pending["threshold"])), int(pending["effective_at"])


def recovery_of(uow: UnitOfWork, account: AccountId) -> Recovery | None:
    data = uow.records.get("key_recoveries", account)
    if data is None:
        return None
    registrar = data.get("registrar")
    return Recovery(
        str(data["public_key"]),
        str(data["by"]),
        AccountId(registrar) if registrar else None,
        int(data["started_at"]),
        int(data["completes_at"]),
    )


def is_frozen(uow: UnitOfWork, account: AccountId) -> bool:
    return uow.records.get(FROZEN, account) is not None


def frozen_among(uow: UnitOfWork, accounts: frozenset[AccountId]) -> list[AccountId]:
    """Which of ``accounts`` are frozen (X9); one read when none is (the usual case)."""
    count = uow.records.get("keys", "frozen")
    if not count or not int(count["count"]):
        return []
    return sorted(a for a in accounts if is_frozen(uow, a))


def key_taken(uow: UnitOfWork, public_key: str, holder: AccountId) -> bool:
    """Is this key, or was it ever, bound to an account (one key, one account, X9)?"""
    return uow.records.get("key_bindings", public_key) is not None or uow.accounts.get(holder) is not None
