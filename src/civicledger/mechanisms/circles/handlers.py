"""Circles services (CI1-CI15): handlers, projectors, the acceptance check, and the router.

State lives in records: ``circles.accounts`` (income clock and trustee reserve per account),
``circles.trust`` (``truster/trustee``: who accepts whose currency), ``circles.rewarded`` (pairs
whose first trust paid the trustee rewards), ``circles.groups`` and ``circles.members``. Money is
the ledger's: a personal currency's id is its owner's account id, a group currency's the group's.

``CirclesRouter`` keeps the trust graph as arrays in memory, loaded once and advanced by the
journal entries that land after it; it finds a maximum flow and proposes the legs of a payment.
The ``circles.pay`` handler never trusts the router: it re-checks every leg on the real state.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from civicledger.kernel import hooks, payments, state
from civicledger.kernel import ledger as led
from civicledger.kernel.canonical import digest
from civicledger.kernel.errors import (
    InsufficientFundsError,
    IntegrityError,
    InvalidInputError,
    NotFoundError,
    RuleViolationError,
)
from civicledger.kernel.identity import AccountId, AccountKind, Consent
from civicledger.kernel.messages import Event, decode_event
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.policy import Policy, policy_from_mapping
from civicledger.kernel.ports import Store, UnitOfWork
from civicledger.kernel.registry import Context, Decision, ProjectionContext, handles, projects
from civicledger.kernel.time import MONTH
from civicledger.mechanisms.circles import messages as cm
from civicledger.mechanisms.circles import rules
from civicledger.mechanisms.circles.flow import INF, FlowIndex
from civicledger.mechanisms.circles.policy import CirclesPolicy
from civicledger.mechanisms.circles.routing import Plan, plan_from_flow

ACCOUNTS = "circles.accounts"
TRUST = "circles.trust"
REWARDED = "circles.rewarded"
GROUPS = "circles.groups"
MEMBERS = "circles.members"
DEMURRAGE = "circles.demurrage"

CIRCLES_KINDS = (led.CurrencyKind.PERSONAL, led.CurrencyKind.GROUP)

# Reading state -----------------------------------------------------------------------------------

_section_cache: dict[str, CirclesPolicy] = {}


def schedule(uow: UnitOfWork) -> list[tuple[int, CirclesPolicy]]:
    """Every policy version's Circles section with the time it took effect (X7), oldest first."""
    out: list[tuple[int, CirclesPolicy]] = []
    for _, record in uow.records.scan("policy"):
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


def income_state(uow: UnitOfWork, account: AccountId) -> rules.IncomeState | None:
    data = uow.records.get(ACCOUNTS, account)
    if data is None:
        return None
    return rules.IncomeState(int(data["claimed_to"]), rules.decode_fraction(data["carry"]), int(data["reserve"]))


def require_member_account(uow: UnitOfWork, account: AccountId, rule: str = "CI1") -> rules.IncomeState:
    state.require_account(uow, account, rule)
    found = income_state(uow, account)
    if found is None:
        raise NotFoundError(f"{account} has no Circles account; create one first", rule=rule)
    return found


def group_owner(uow: UnitOfWork, group: AccountId) -> AccountId | None:
    data = uow.records.get(GROUPS, group)
    return None if data is None else AccountId(data["owner"])


def require_group(uow: UnitOfWork, group: AccountId) -> AccountId:
    state.require_account(uow, group, "CI10")
    owner = group_owner(uow, group)
    if owner is None:
        raise NotFoundError(f"{group} is not a Circles group", rule="CI10")
    return owner


def is_member(uow: UnitOfWork, group: AccountId, member: AccountId) -> bool:
    return uow.records.get(MEMBERS, f"{group}/{member}") is not None


def trust_edge(uow: UnitOfWork, truster: AccountId, trustee: AccountId) -> rules.TrustEdge | None:
    data = uow.records.get(TRUST, f"{truster}/{trustee}")
    if data is None:
        return None
    return rules.TrustEdge(truster, trustee, int(data["limit_percent"]), data["expires_at"])


def trusts_of(uow: UnitOfWork, truster: AccountId) -> list[rules.TrustEdge]:
    """Whom ``truster`` trusts (whose currencies it accepts)."""
    out = []
    for key, data in uow.records.scan(TRUST, f"{truster}/"):
        out.append(
            rules.TrustEdge(truster, AccountId(key.split("/", 1)[1]), int(data["limit_percent"]), data["expires_at"])
        )
    return out


def claimable_now(uow: UnitOfWork, account: AccountId, now: int) -> int:
    found = income_state(uow, account)
    if found is None:
        return 0
    units, _ = rules.claimable(found, now, genesis_time(uow), schedule(uow))
    return units


def acceptance_room(uow: UnitOfWork, receiver: AccountId, currency: led.Currency, now: int) -> int | None:
    """How much of ``currency`` the receiver accepts now: None = any amount (CI5, CI13)."""
    if currency.issuer == receiver:
        return None
    policy = state.current_policy(uow).section(CirclesPolicy)
    edge = trust_edge(uow, receiver, currency.issuer)
    own = uow.ledger.balance(receiver, CurrencyId(receiver))
    return rules.acceptance_room(edge, policy, now, own, uow.ledger.balance(receiver, currency.id))


def _actor(uow: UnitOfWork, account: AccountId) -> AccountId:
    """Who signs for an account in Circles: a group's owner, else the account itself."""
    return group_owner(uow, account) or account


def check_circles_transfer(uow: UnitOfWork, leg: led.Leg, currency: led.Currency, now: int) -> None:
    """Every ledger transfer of Circles money: the receiver must accept it (CI5, CI13, CI14).

    Registered for personal and group currencies, so a plain ``ledger.transfer`` cannot move
    Circles money to anyone who does not trust its issuer; and a group's collateral never moves (CI11).
    """
    if group_owner(uow, leg.source) is not None:
        raise RuleViolationError(
            f"{leg.source} is a group: the coins it holds are collateral and never move", rule="CI11"
        )
    room = acceptance_room(uow, leg.target, currency, now)
    if room is None:
        return
    if room == 0:
        raise RuleViolationError(
            f"{leg.target} does not trust {currency.issuer}, so does not accept its currency", rule="CI5"
        )
    if leg.units > room:
        raise RuleViolationError(
            f"{leg.target} accepts at most {room} more {currency.id} (its trust limit)", rule="CI5"
        )


for _kind in CIRCLES_KINDS:
    payments.ACCEPTANCE[_kind] = check_circles_transfer


# Accounts and income (CI1-CI4) -----------------------------------------------------------------


@handles(cm.CreateCirclesAccount)
def create_account(cmd: cm.CreateCirclesAccount, ctx: Context) -> Decision:
    uow = ctx.uow
    account = state.require_account(uow, cmd.account, "CI1")
    if income_state(uow, cmd.account) is not None:
        raise RuleViolationError(f"{cmd.account} already has a Circles account", rule="CI1")
    if group_owner(uow, cmd.account) is not None or account.kind is AccountKind.GROUP:
        raise RuleViolationError(f"{cmd.account} is a group account; groups issue group money (CI10)", rule="CI1")
    if uow.ledger.currency(CurrencyId(cmd.account)) is not None:
        raise RuleViolationError(f"a currency {cmd.account} already exists", rule="CI1")
    policy = ctx.policy.section(CirclesPolicy)
    income = rules.open_income(policy, genesis_time(uow), ctx.time)
    currency = CurrencyId(cmd.account)
    events: list[Event] = [
        led.CurrencyCreated(
            currency,
            led.CurrencyKind.PERSONAL,
            cmd.account,
            led.IssuerRule.CIRCLES_INCOME,
            policy.decimals,
            f"circles of {account.name or cmd.account}",
        ),
        cm.CirclesAccountCreated(cmd.account, income.claimed_to, rules.encode_fraction(income.carry), income.reserve),
    ]
    if policy.signup_units:
        events.append(led.UnitsIssued(currency, cmd.account, policy.signup_units, led.IssuerRule.CIRCLES_INCOME))
    result = {"account": cmd.account, "currency": currency, "reserve": income.reserve, "signup": policy.signup_units}
    return Decision(events, Consent.of(cmd.account), result)


def _mint_income(ctx: Context, account: AccountId, want: int | None) -> tuple[list[Event], int]:
    """Events minting ``want`` units of unclaimed income (all of it if None), and the units (CI2)."""
    uow = ctx.uow
    found = require_member_account(uow, account, "CI2")
    units, after = rules.claimable(found, ctx.time, genesis_time(uow), schedule(uow))
    take = units if want is None else want
    if take > units:
        raise InsufficientFundsError(f"{account} has {units} of unclaimed income, not {take}", rule="CI2")
    if take <= 0:
        return [], 0
    carry = after.carry + (units - take)
    currency = state.require_currency(uow, CurrencyId(account))
    issued = led.issue(currency, account, take, led.IssuerRule.CIRCLES_INCOME, uow.ledger.balance(account, currency.id))
    return [cm.IncomeClaimed(account, take, after.claimed_to, rules.encode_fraction(carry)), issued], take


@handles(cm.ClaimIncome)
def claim(cmd: cm.ClaimIncome, ctx: Context) -> Decision:
    events, units = _mint_income(ctx, cmd.account, None)
    if units == 0:
        raise RuleViolationError(f"{cmd.account} has no whole unit of income to claim yet", rule="CI2")
    return Decision(events, Consent.of(cmd.account), {"claimed": units})


@projects(cm.CirclesAccountCreated)
def _account_created(e: cm.CirclesAccountCreated, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    uow.records.put(
        ACCOUNTS,
        e.account,
        {"claimed_to": e.claimed_to, "carry": e.carry, "reserve": e.reserve, "created_at": ctx.time},
    )


def _account_record(uow: UnitOfWork, account: AccountId) -> dict[str, Any]:
    data = uow.records.get(ACCOUNTS, account)
    if data is None:
        raise IntegrityError(f"{account} has no Circles account record", rule="CI1")
    return dict(data)


@projects(cm.IncomeClaimed)
def _income_claimed(e: cm.IncomeClaimed, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    data = _account_record(uow, e.account)
    data["claimed_to"], data["carry"] = e.claimed_to, e.carry
    uow.records.put(ACCOUNTS, e.account, data)


# Trust (CI5-CI8) ---------------------------------------------------------------------------------


def _party(uow: UnitOfWork, account: AccountId) -> str:
    """'person' for a Circles account, 'group' for a Circles group; refuses anything else."""
    state.require_account(uow, account, "CI5")
    if group_owner(uow, account) is not None:
        return "group"
    if income_state(uow, account) is not None:
        return "person"
    raise NotFoundError(f"{account} has neither a Circles account nor a group", rule="CI5")


@handles(cm.Trust)
def trust(cmd: cm.Trust, ctx: Context) -> Decision:
    uow, policy = ctx.uow, ctx.policy.section(CirclesPolicy)
    rules.check_trust(policy, cmd.truster, cmd.trustee, cmd.limit_percent, cmd.expires_at, ctx.time)
    a, b = _party(uow, cmd.truster), _party(uow, cmd.trustee)
    if a == "group" and b == "person":
        raise RuleViolationError(
            "a group accepts no individual's currency: group money never turns back (CI12)", rule="CI12"
        )
    both_ways = rules.mutual(policy) and a == b
    existing = trust_edge(uow, cmd.truster, cmd.trustee)
    if existing is not None and existing.active(ctx.time):
        raise RuleViolationError(f"{cmd.truster} already trusts {cmd.trustee}", rule="CI5")
    events: list[Event] = [cm.Trusted(cmd.truster, cmd.trustee, cmd.limit_percent, cmd.expires_at)]
    if both_ways:
        events.append(cm.Trusted(cmd.trustee, cmd.truster, cmd.limit_percent, cmd.expires_at))
    result: dict[str, Any] = {"mutual": both_ways, "rewards": {}}
    pair = "/".join(sorted((cmd.truster, cmd.trustee)))
    if a == b == "person" and uow.records.get(REWARDED, pair) is None:
        # CI7: each side that now accepts the other's currency gets half the other's reserve.
        receivers = [cmd.truster, cmd.trustee] if both_ways else [cmd.truster]
        paid = False
        for to in receivers:
            owner = cmd.trustee if to == cmd.truster else cmd.truster
            reserve = require_member_account(uow, owner, "CI7").reserve
            credited, left = rules.trustee_reward(reserve)
            if credited <= 0:
                continue
            currency = state.require_currency(uow, CurrencyId(owner))
            events.append(cm.TrusteeRewarded(owner, to, credited, left))
            events.append(
                led.issue(currency, to, credited, led.IssuerRule.CIRCLES_INCOME, uow.ledger.balance(to, currency.id))
            )
            result["rewards"][to] = credited
            paid = True
        if paid:
            first, second = sorted((cmd.truster, cmd.trustee))
            events.append(cm.PairRewarded(AccountId(first), AccountId(second)))
    signers = {_actor(uow, cmd.truster)} | ({_actor(uow, cmd.trustee)} if both_ways else set())
    return Decision(events, Consent(all_of=frozenset(signers)), result)


@handles(cm.Untrust)
def untrust(cmd: cm.Untrust, ctx: Context) -> Decision:
    uow = ctx.uow
    if cmd.by == cmd.other:
        raise RuleViolationError("an account cannot revoke trust in itself", rule="CI6")
    state.require_account(uow, cmd.by, "CI6")
    state.require_account(uow, cmd.other, "CI6")
    events: list[Event] = []
    for truster, trustee in ((cmd.by, cmd.other), (cmd.other, cmd.by)):
        if trust_edge(uow, truster, trustee) is not None:
            events.append(cm.Untrusted(truster, trustee))
    if not events:
        raise RuleViolationError(f"there is no trust between {cmd.by} and {cmd.other} to revoke", rule="CI6")
    return Decision(events, Consent.of(_actor(uow, cmd.by)), {"revoked": len(events)})


@projects(cm.Trusted)
def _trusted(e: cm.Trusted, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    uow.records.put(
        TRUST,
        f"{e.truster}/{e.trustee}",
        {"limit_percent": e.limit_percent, "expires_at": e.expires_at, "since": ctx.time},
    )


@projects(cm.Untrusted)
def _untrusted(e: cm.Untrusted, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    uow.records.delete(TRUST, f"{e.truster}/{e.trustee}")


@projects(cm.TrusteeRewarded)
def _rewarded(e: cm.TrusteeRewarded, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    data = _account_record(uow, e.reserve_owner)
    data["reserve"] = e.reserve_left
    uow.records.put(ACCOUNTS, e.reserve_owner, data)


@projects(cm.PairRewarded)
def _pair_rewarded(e: cm.PairRewarded, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    uow.records.put(REWARDED, f"{e.first}/{e.second}", {"at": ctx.time})


@handles(cm.Exchange)
def exchange(cmd: cm.Exchange, ctx: Context) -> Decision:
    uow = ctx.uow
    rules.check_units(cmd.units, "an exchange", "CI8")
    if cmd.first == cmd.second:
        raise InvalidInputError("an exchange needs two different accounts", rule="CI8")
    require_member_account(uow, cmd.first, "CI8")
    require_member_account(uow, cmd.second, "CI8")
    legs = (
        led.Leg(CurrencyId(cmd.first), cmd.first, cmd.second, cmd.units),
        led.Leg(CurrencyId(cmd.second), cmd.second, cmd.first, cmd.units),
    )
    for leg in legs:
        currency = state.require_currency(uow, leg.currency)
        room = acceptance_room(uow, leg.target, currency, ctx.time)
        if room is not None and room < cmd.units:
            raise RuleViolationError(f"{leg.target} and {leg.source} must trust each other to exchange", rule="CI8")
    book = payments.Payments(uow, ctx.time)
    for leg in legs:
        book.add(leg, accept=False)  # mutual trust checked above under CI8
    events: list[Event] = [*book.transfers(), cm.Exchanged(cmd.first, cmd.second, cmd.units)]
    return Decision(events, Consent.of(cmd.first, cmd.second), {"exchanged": cmd.units})


@projects(cm.Exchanged)
def _exchanged(e: cm.Exchanged, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    """The ledger events moved the money; nothing more to record."""


# Routed payments (CI9, CI13) --------------------------------------------------------------------


@handles(cm.Pay)
def pay(cmd: cm.Pay, ctx: Context) -> Decision:
    """Check the router's legs against the real state and execute them atomically (CI9).

    The handler decides from the command and the state alone, so re-execution during
    verification gives the same events whatever the router would propose then.
    """
    uow, policy = ctx.uow, ctx.policy.section(CirclesPolicy)
    led.check_memo(cmd.memo, rule="CI9")
    require_member_account(uow, cmd.sender, "CI9")
    state.require_account(uow, cmd.receiver, "CI9")
    rules.check_routed_payment(cmd.sender, cmd.receiver, cmd.units, cmd.legs, policy.max_steps)
    accepted: dict[tuple[AccountId, CurrencyId], int] = {}
    for i, leg in enumerate(cmd.legs):
        state.require_account(uow, leg.source, "CI9")
        state.require_account(uow, leg.target, "CI9")
        currency = state.require_currency(uow, leg.currency, "CI9")
        if currency.kind not in CIRCLES_KINDS:
            raise RuleViolationError(f"leg {i + 1}: {leg.currency} is not Circles money and does not route", rule="CI9")
        for account in (leg.source, leg.target):
            if group_owner(uow, account) is not None:
                raise RuleViolationError(
                    f"leg {i + 1}: group {account} holds only collateral and takes no part in payments", rule="CI11"
                )
        room = acceptance_room(uow, leg.target, currency, ctx.time)
        key = (leg.target, leg.currency)
        accepted[key] = accepted.get(key, 0) + leg.units
        if room is not None and accepted[key] > room:
            why = "does not trust" if room == 0 else f"accepts at most {room} of the currency of"
            raise RuleViolationError(f"leg {i + 1}: {leg.target} {why} {currency.issuer}", rule="CI5")
    book = payments.Payments(uow, ctx.time)
    own = CurrencyId(cmd.sender)
    balances = {key: book.balance(*key) for key in led.balance_keys(cmd.legs)}
    need = _own_currency_shortfall(cmd.legs, balances, cmd.sender)
    events: list[Event] = []
    minted = 0
    if need > 0:
        try:
            events, minted = _mint_income(ctx, cmd.sender, need)
        except InsufficientFundsError:
            raise InsufficientFundsError(
                f"{cmd.sender} holds {book.balance(cmd.sender, own)} of its own currency"
                " plus too little unclaimed income",
                rule="CI9",
            ) from None
        book.credit(cmd.sender, own, minted)
    for leg in cmd.legs:
        book.add(leg, accept=False)  # accounts and cumulative trust limits checked above (CI5, CI9, CI11)
    try:
        events.extend(book.transfers())
    except InsufficientFundsError as e:
        raise InsufficientFundsError(
            f"{e.message}: the plan no longer fits the balances; route again", rule="CI9"
        ) from None
    events.append(cm.PaymentRouted(cmd.sender, cmd.receiver, cmd.units, len(cmd.legs), minted))
    return Decision(events, Consent.of(cmd.sender), {"paid": cmd.units, "steps": len(cmd.legs), "minted": minted})


def _own_currency_shortfall(legs: Iterable[led.Leg], balances: dict[led.BalanceKey, int], sender: AccountId) -> int:
    """How much of the sender's own currency its legs need beyond what it holds (lowest running balance)."""
    own = CurrencyId(sender)
    running = balances.get((sender, own), 0)
    lowest = running
    for leg in legs:
        if leg.currency != own:
            continue
        if leg.source == sender:
            running -= leg.units
        elif leg.target == sender:
            running += leg.units
        lowest = min(lowest, running)
    return max(0, -lowest)


@projects(cm.PaymentRouted)
def _payment_routed(e: cm.PaymentRouted, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    """The ledger events moved the money; the payment itself is in the journal."""


# Groups (CI10-CI12) -------------------------------------------------------------------------------


@handles(cm.CreateGroup)
def create_group(cmd: cm.CreateGroup, ctx: Context) -> Decision:
    uow = ctx.uow
    group = state.require_account(uow, cmd.group, "CI10")
    state.require_account(uow, cmd.owner, "CI10")
    if group.kind is not AccountKind.GROUP:
        raise RuleViolationError(f"{cmd.group} is a {group.kind.value} account, not a group account", rule="CI10")
    if group_owner(uow, cmd.group) is not None or uow.ledger.currency(CurrencyId(cmd.group)) is not None:
        raise RuleViolationError(f"{cmd.group} is already a Circles group", rule="CI10")
    if cmd.group == cmd.owner:
        raise InvalidInputError("a group's owner is another account", rule="CI10")
    events: list[Event] = [
        led.CurrencyCreated(
            CurrencyId(cmd.group),
            led.CurrencyKind.GROUP,
            cmd.group,
            led.IssuerRule.CIRCLES_GROUP,
            ctx.policy.section(CirclesPolicy).decimals,
            f"group money of {group.name or cmd.group}",
        ),
        cm.GroupCreated(cmd.group, cmd.owner),
    ]
    return Decision(events, Consent.of(cmd.group, cmd.owner), {"group": cmd.group, "currency": cmd.group})


@handles(cm.AddMember)
def add_member(cmd: cm.AddMember, ctx: Context) -> Decision:
    owner = require_group(ctx.uow, cmd.group)
    require_member_account(ctx.uow, cmd.member, "CI10")
    if is_member(ctx.uow, cmd.group, cmd.member):
        raise RuleViolationError(f"{cmd.member} is already a member of {cmd.group}", rule="CI10")
    return Decision([cm.MemberAdded(cmd.group, cmd.member)], Consent.of(owner))


@handles(cm.RemoveMember)
def remove_member(cmd: cm.RemoveMember, ctx: Context) -> Decision:
    owner = require_group(ctx.uow, cmd.group)
    if not is_member(ctx.uow, cmd.group, cmd.member):
        raise RuleViolationError(f"{cmd.member} is not a member of {cmd.group}", rule="CI10")
    return Decision([cm.MemberRemoved(cmd.group, cmd.member)], Consent.of(owner))


@handles(cm.Convert)
def convert(cmd: cm.Convert, ctx: Context) -> Decision:
    uow = ctx.uow
    rules.check_units(cmd.units, "a conversion", "CI11")
    require_group(uow, cmd.group)
    require_member_account(uow, cmd.member, "CI11")
    if not is_member(uow, cmd.group, cmd.member):
        raise RuleViolationError(
            f"{cmd.member} is not a member of group {cmd.group} and cannot convert into it", rule="CI11"
        )
    personal = CurrencyId(cmd.member)
    held = uow.ledger.balance(cmd.member, personal)
    if held < cmd.units:
        raise InsufficientFundsError(
            f"{cmd.member} holds {held} of its own currency, cannot convert {cmd.units}", rule="CI11"
        )
    group_currency = state.require_currency(uow, CurrencyId(cmd.group))
    book = payments.Payments(uow, ctx.time)
    book.add(
        led.Leg(personal, cmd.member, cmd.group, cmd.units), accept=False
    )  # collateral: membership is the acceptance (CI11)
    events: list[Event] = [
        *book.transfers(),
        led.issue(
            group_currency,
            cmd.member,
            cmd.units,
            led.IssuerRule.CIRCLES_GROUP,
            uow.ledger.balance(cmd.member, group_currency.id),
        ),
        cm.Converted(cmd.member, cmd.group, cmd.units),
    ]
    return Decision(events, Consent.of(cmd.member), {"converted": cmd.units})


@handles(cm.GroupExchange)
def group_exchange(cmd: cm.GroupExchange, ctx: Context) -> Decision:
    uow = ctx.uow
    rules.check_units(cmd.units, "a group exchange", "CI12")
    require_group(uow, cmd.from_group)
    require_group(uow, cmd.to_group)
    if cmd.from_group == cmd.to_group:
        raise InvalidInputError("a group exchange needs two different groups", rule="CI12")
    edge = trust_edge(uow, cmd.to_group, cmd.from_group)
    if edge is None or not edge.active(ctx.time):
        raise RuleViolationError(f"group {cmd.to_group} does not trust group {cmd.from_group}", rule="CI12")
    source = CurrencyId(cmd.from_group)
    held = uow.ledger.balance(cmd.holder, source)
    if held < cmd.units:
        raise InsufficientFundsError(
            f"{cmd.holder} holds {held} of {cmd.from_group}'s money, cannot exchange {cmd.units}", rule="CI12"
        )
    target = state.require_currency(uow, CurrencyId(cmd.to_group))
    book = payments.Payments(uow, ctx.time)
    book.add(
        led.Leg(source, cmd.holder, cmd.to_group, cmd.units), accept=False
    )  # collateral: the group's trust is the acceptance (CI12)
    events: list[Event] = [
        *book.transfers(),
        led.issue(
            target, cmd.holder, cmd.units, led.IssuerRule.CIRCLES_GROUP, uow.ledger.balance(cmd.holder, target.id)
        ),
        cm.GroupExchanged(cmd.holder, cmd.from_group, cmd.to_group, cmd.units),
    ]
    return Decision(events, Consent.of(cmd.holder), {"exchanged": cmd.units})


@projects(cm.GroupCreated)
def _group_created(e: cm.GroupCreated, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    uow.records.put(GROUPS, e.group, {"owner": e.owner, "created_at": ctx.time})


@projects(cm.MemberAdded)
def _member_added(e: cm.MemberAdded, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    uow.records.put(MEMBERS, f"{e.group}/{e.member}", {"since": ctx.time})


@projects(cm.MemberRemoved)
def _member_removed(e: cm.MemberRemoved, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    uow.records.delete(MEMBERS, f"{e.group}/{e.member}")


@projects(cm.Converted)
def _converted(e: cm.Converted, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    """The collateral transfer and the group issuance are ledger events."""


@projects(cm.GroupExchanged)
def _group_exchanged(e: cm.GroupExchanged, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    """The collateral transfer and the group issuance are ledger events."""


# Demurrage (circles-v2) ---------------------------------------------------------------------------


@handles(cm.ApplyDemurrage)
def apply_demurrage(cmd: cm.ApplyDemurrage, ctx: Context) -> Decision:
    """Burn what an account's Circles holdings lost to demurrage since last applied (CI15, v2)."""
    uow, policy = ctx.uow, ctx.policy.section(CirclesPolicy)
    state.require_account(uow, cmd.account, "CI15")
    if policy.demurrage == 0:
        raise RuleViolationError("this economy's policy has no demurrage", rule="CI15")
    genesis = genesis_time(uow)
    today = (ctx.time - genesis) // 86_400
    record = uow.records.get(DEMURRAGE, cmd.account)
    since = int(record["day"]) if record else today_of_first_holding(uow, cmd.account, today)
    days = today - since
    events: list[Event] = []
    for currency_id, units in sorted(uow.ledger.holdings(cmd.account).items()):
        currency = uow.ledger.currency(currency_id)
        if currency is None or currency.kind not in CIRCLES_KINDS:
            continue
        due = rules.demurrage_due(units, days, Fraction(policy.demurrage))
        if due > 0:
            events.append(led.burn(currency, cmd.account, due, units))
    events.append(cm.DemurrageApplied(cmd.account, today))
    burned = sum(e.units for e in events if isinstance(e, led.UnitsBurned))
    return Decision(events, Consent.of(cmd.account), {"days": days, "burned": burned})


def today_of_first_holding(uow: UnitOfWork, account: AccountId, today: int) -> int:
    """Demurrage starts counting the day the account joined Circles (or today if it never did)."""
    data = uow.records.get(ACCOUNTS, account)
    if data is None:
        return today
    return (int(data["created_at"]) - genesis_time(uow)) // 86_400


@projects(cm.DemurrageApplied)
def _demurrage_applied(e: cm.DemurrageApplied, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    uow.records.put(DEMURRAGE, e.account, {"day": e.day})


# The router (CI9, CI13) ---------------------------------------------------------------------------


class CirclesRouter:
    """The trust graph of one store, in memory, for routing payments (CI9, CI13).

    Nodes are accounts and Circles currencies. An account holding a currency has an edge to the
    currency's node carrying its balance; the currency's node has an edge to every account that
    accepts it: its issuer without limit, each truster up to its trust limit. Group accounts hold
    only collateral, so their holdings are left out (CI11).

    The graph loads once from the store, then advances by reading only the journal entries that
    landed since it last looked (``refresh``), never rebuilding per query.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.index = FlowIndex()
        self.seen = 0
        self.loaded = False
        self._lock = threading.RLock()
        self._node: dict[tuple[str, str], int] = {}
        self._name: list[tuple[str, str]] = []
        self.currencies: dict[str, str] = {}  # Circles currency → issuer
        self.groups: set[str] = set()
        self.holdings: dict[tuple[str, str], int] = {}
        self.trust: dict[tuple[str, str], rules.TrustEdge] = {}
        self.trust_limits = False

    # Keeping up -----------------------------------------------------------------------------

    def node(self, kind: str, name: str) -> int:
        key = (kind, name)
        found = self._node.get(key)
        if found is None:
            found = self._node[key] = self.index.add_node()
            self._name.append(key)
        return found

    def refresh(self) -> int:
        """Apply the entries that landed since the last look; returns how many were read."""
        with self._lock, self.store.read() as uow:
            head = uow.journal.head().size
            policy = state.current_policy(uow).section(CirclesPolicy)
            limits_changed = policy.trust_limits != self.trust_limits
            self.trust_limits = policy.trust_limits
            if not self.loaded:
                self._load(uow)
                self.seen, self.loaded = head, True
                return head
            read = 0
            for stored in uow.journal.scan(self.seen, head):
                for data in stored.entry.events:
                    if str(data.get("type", "")).startswith(("ledger.", "circles.")):
                        self._apply(decode_event(data))
                read += 1
            self.seen = head
            if limits_changed:
                for truster, trustee in list(self.trust):
                    self._set_acceptance(truster, trustee)
            return read

    def _load(self, uow: UnitOfWork) -> None:
        self.groups = {key for key, _ in uow.records.scan(GROUPS)}
        for currency in uow.ledger.currencies():
            if currency.kind in CIRCLES_KINDS:
                self._add_currency(currency.id, currency.issuer)
        for holder, currency_id, units in uow.ledger.scan_balances():  # one pass, not a query per currency
            if currency_id in self.currencies:
                self._set_holding(holder, currency_id, units)
        for key, data in uow.records.scan(TRUST):
            truster, trustee = key.split("/", 1)
            self.trust[(truster, trustee)] = rules.TrustEdge(
                AccountId(truster), AccountId(trustee), int(data["limit_percent"]), data["expires_at"]
            )
            self._set_acceptance(truster, trustee)

    def _add_currency(self, currency: str, issuer: str) -> None:
        self.currencies[currency] = issuer
        self.index.set_capacity(self.node("c", currency), self.node("a", issuer), INF)

    def _set_holding(self, account: str, currency: str, units: int) -> None:
        self.holdings[(account, currency)] = units
        if account not in self.groups:
            self.index.set_capacity(self.node("a", account), self.node("c", currency), units)

    def _set_acceptance(self, truster: str, trustee: str) -> None:
        """Capacity of trustee's currency → truster: unlimited, or the room its trust limit leaves."""
        edge = self.trust.get((truster, trustee))
        if edge is None or trustee not in self.currencies:
            capacity = 0
        elif self.trust_limits:
            own = self.holdings.get((truster, truster), 0)
            held = self.holdings.get((truster, trustee), 0)
            capacity = max(0, own * edge.limit_percent // 100 - held)
        else:
            capacity = INF
        if capacity or (("c", trustee) in self._node and ("a", truster) in self._node):
            self.index.set_capacity(self.node("c", trustee), self.node("a", truster), capacity)

    def _apply(self, event: Event) -> None:
        if isinstance(event, led.CurrencyCreated) and event.kind in CIRCLES_KINDS:
            self._add_currency(event.currency, event.issuer)
            for truster, trustee in [k for k in self.trust if k[1] == event.currency]:
                self._set_acceptance(truster, trustee)
        elif isinstance(event, (led.UnitsIssued, led.UnitsBurned)) and event.currency in self.currencies:
            delta = event.units if isinstance(event, led.UnitsIssued) else -event.units
            self._change(event.account, event.currency, delta)
        elif isinstance(event, led.UnitsTransferred) and event.currency in self.currencies:
            self._change(event.source, event.currency, -event.units)
            self._change(event.target, event.currency, event.units)
        elif isinstance(event, cm.Trusted):
            self.trust[(event.truster, event.trustee)] = rules.TrustEdge(
                event.truster, event.trustee, event.limit_percent, event.expires_at
            )
            self._set_acceptance(event.truster, event.trustee)
        elif isinstance(event, cm.Untrusted):
            self.trust.pop((event.truster, event.trustee), None)
            self._set_acceptance(event.truster, event.trustee)
        elif isinstance(event, cm.GroupCreated):
            self.groups.add(event.group)

    def _change(self, account: str, currency: str, delta: int) -> None:
        self._set_holding(account, currency, self.holdings.get((account, currency), 0) + delta)
        if self.trust_limits:  # the truster's room depends on its own holding and what it holds
            for truster, trustee in [k for k in self.trust if k[0] == account]:
                self._set_acceptance(truster, trustee)

    # Routing ---------------------------------------------------------------------------------

    def route(self, sender: AccountId, receiver: AccountId, units: int | None = None, now: int | None = None) -> Plan:
        """The most that can flow from sender to receiver (at most ``units``) and its ordered plan.

        ``units=None`` asks for the maximum (query mode). The sender's unclaimed income counts:
        the payment mints it (CI2).
        """
        if units is not None:
            rules.check_units(units, "a payment", "CI9")
        with self._lock:
            self.refresh()
            with self.store.read() as uow:
                state.require_account(uow, sender, "CI9")
                state.require_account(uow, receiver, "CI9")
                if sender == receiver:
                    raise InvalidInputError("a payment needs two different accounts", rule="CI9")
                at = now if now is not None else uow.journal.head().time
                extra = claimable_now(uow, sender, at)
                max_steps = state.current_policy(uow).section(CirclesPolicy).max_steps
                expired = [k for k, e in self.trust.items() if not e.active(at)]
            if ("a", sender) not in self._node or ("a", receiver) not in self._node:
                return Plan(0, (), 0)
            s, t = self.node("a", sender), self.node("a", receiver)
            saved: list[tuple[int, int, int]] = []
            for truster, trustee in expired:
                if ("c", trustee) in self._node:
                    u, v = self.node("c", trustee), self.node("a", truster)
                    saved.append((u, v, self.index.capacity(u, v)))
                    self.index.set_capacity(u, v, 0)
            if extra and sender in self.currencies:
                u, v = s, self.node("c", sender)
                saved.append((u, v, self.index.capacity(u, v)))
                self.index.set_capacity(u, v, self.holdings.get((sender, sender), 0) + extra)
            try:
                plan = self._plan(s, t, sender, receiver, units, max_steps)
                if units is not None and plan.units < units and plan.max_flow >= units:
                    # The capped flow needed too many steps; the full flow may decompose better.
                    wider = plan_from_flow(self._named(self.index.max_flow(s, t)), sender, receiver, max_steps, units)
                    plan = max(plan, wider, key=lambda p: p.units)
            finally:
                for u, v, capacity in reversed(saved):
                    self.index.set_capacity(u, v, capacity)
            return plan

    def _plan(self, s: int, t: int, sender: AccountId, receiver: AccountId, units: int | None, max_steps: int) -> Plan:
        flow = self.index.max_flow(s, t, units)
        return plan_from_flow(self._named(flow), sender, receiver, max_steps, units)

    def _named(self, flow: dict[int, int]) -> dict[tuple[str, str], dict[tuple[str, str], int]]:
        out: dict[tuple[str, str], dict[tuple[str, str], int]] = {}
        for u, targets in self.index.node_flow(flow).items():
            out[self._name[u]] = {self._name[v]: x for v, x in targets.items()}
        return out

    def pay_command(
        self, sender: AccountId, receiver: AccountId, units: int, memo: str = "", now: int | None = None
    ) -> cm.Pay:
        """A ``circles.pay`` command carrying the router's plan; refuses if ``units`` cannot flow (CI9)."""
        plan = self.route(sender, receiver, units, now)
        if plan.units < units:
            raise RuleViolationError(
                f"only {plan.units} of {units} can flow from {sender} to {receiver} "
                f"(maximum flow {plan.max_flow}, at most {len(plan.legs) or 'the allowed'} steps)",
                rule="CI9",
            )
        return cm.Pay(sender, receiver, units, plan.legs, memo)


_routers: list[CirclesRouter] = []
ROUTERS_KEPT = 8


def router_for(store: Store) -> CirclesRouter:
    """The process's router for a store (created and loaded on first use; the last few are kept)."""
    for router in _routers:
        if router.store is store:
            return router
    router = CirclesRouter(store)
    _routers.insert(0, router)
    del _routers[ROUTERS_KEPT:]
    return router


def circles_accounts(uow: UnitOfWork) -> Iterator[tuple[AccountId, dict[str, Any]]]:
    for key, data in uow.records.scan(ACCOUNTS):
        yield AccountId(key), data


@dataclass(frozen=True, slots=True)
class CirclesSummary:
    account: AccountId
    claimable: int
    reserve: int
    trusts: tuple[str, ...]
    trusted_by: tuple[str, ...]
    holdings: dict[str, int]

    def to_wire(self) -> dict[str, Any]:
        """The summary as the CLI prints it and the API returns it."""
        return {
            "account": self.account,
            "claimable": self.claimable,
            "reserve": self.reserve,
            "trusts": list(self.trusts),
            "trusted_by": list(self.trusted_by),
            "holdings": self.holdings,
        }


def summary(uow: UnitOfWork, account: AccountId, now: int) -> CirclesSummary:
    income = require_member_account(uow, account, "CI1")
    trusts = tuple(sorted(e.trustee for e in trusts_of(uow, account) if e.active(now)))
    trusted_by = tuple(
        sorted(key.split("/", 1)[0] for key, _ in uow.records.scan(TRUST) if key.split("/", 1)[1] == account)
    )
    return CirclesSummary(
        account,
        claimable_now(uow, account, now),
        income.reserve,
        trusts,
        trusted_by,
        {str(k): v for k, v in uow.ledger.holdings(account).items()},
    )


def monthly_income(policy: Policy) -> int:
    """CR10, X8: a month of a person's basic income in minor units (the externality fee's base)."""
    circles = policy.section(CirclesPolicy)
    return circles.income_units * MONTH // circles.income_period


hooks.MONTHLY_INCOME.add(monthly_income)  # type: ignore[arg-type]
