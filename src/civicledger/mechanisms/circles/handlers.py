"""Circles services (CI1-CI15): handlers, projectors, the acceptance check, and the router.

State lives in the records of ``circles.state`` (one typed record per namespace, read through its
helpers). Handlers load what they need, let the pure rules decide (``rules``, ``routing``) and turn
the decision into events; money moves through the kernel's ``Payments`` book.

``CirclesRouter`` keeps the trust graph as arrays in memory, loaded once and advanced by the
journal entries that land after it; it finds a maximum flow and proposes the legs of a payment.
The ``circles.pay`` handler never trusts the router: it re-checks every leg on the real state.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from typing import NotRequired, TypedDict

from civicledger.kernel import hooks, payments, state
from civicledger.kernel import ledger as led
from civicledger.kernel.canonical import JSONObject
from civicledger.kernel.errors import InsufficientFundsError, InvalidInputError, RuleViolationError
from civicledger.kernel.identity import AccountId, AccountKind, Consent
from civicledger.kernel.messages import Event, decode_event
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.policy import Policy
from civicledger.kernel.ports import Store, UnitOfWork
from civicledger.kernel.registry import Context, Decision, ProjectionContext, handles, projects
from civicledger.kernel.time import MONTH
from civicledger.mechanisms.circles import messages as cm
from civicledger.mechanisms.circles import routing, rules
from civicledger.mechanisms.circles import state as cs
from civicledger.mechanisms.circles.flow import INF, FlowIndex
from civicledger.mechanisms.circles.policy import CirclesPolicy
from civicledger.mechanisms.circles.routing import Plan, plan_from_flow
from civicledger.mechanisms.circles.rules import CIRCLES_KINDS

# The acceptance check --------------------------------------------------------------------------


def check_circles_transfer(uow: UnitOfWork, leg: led.Leg, currency: led.Currency, now: int) -> None:
    """Every ledger transfer of Circles money: the receiver must accept it (CI5, CI13, CI14).

    Registered for personal and group currencies, so a plain ``ledger.transfer`` cannot move
    Circles money to anyone who does not trust its issuer; and a group's collateral never moves (CI11).
    """
    if cs.group_owner(uow, leg.source) is not None:
        raise RuleViolationError(
            f"{leg.source} is a group: the coins it holds are collateral and never move", rule="CI11"
        )
    room = cs.acceptance_room(uow, leg.target, currency, now)
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


def circles_sink(uow: UnitOfWork, leg: led.Leg, currency: led.Currency) -> str | None:
    """Why ``leg.target`` could never spend Circles money it receives, else None (IN9).

    A Circles group's coins never move (CI11): what a plain transfer puts there is frozen for good.
    Only conversion and group exchange move money into a group, and they issue its money in return.
    """
    if cs.group_owner(uow, leg.target) is None:
        return None
    if currency.id == CurrencyId(leg.target):
        return (
            f"{leg.target} is a group and this is its own money: sent to the group's account it could never "
            "be spent again (a group's coins never move, CI11)"
        )
    return (
        f"{leg.target} is a group: its coins never move (CI11), so {currency.id} sent there could never be "
        "spent; convert or exchange into the group instead (CI11, CI12)"
    )


# Demurrage as a property of holdings (IN4, CI15, rule version 3) ----------------------------------

DEMURRAGE_ON_HOLDINGS = 3
"""The rule version from which circles-v2 demurrage belongs to every holding (IN4)."""


@dataclass(frozen=True, slots=True)
class HoldingDemurrage:
    """The discount of Circles holdings on one day (IN4, CI15): each holding is an amount at the day
    of its record (``circles.holdings``). ``undated`` is the day demurrage on holdings began: when
    rule version 3 started (before it, ``apply_demurrage`` charged), or when the policy last turned
    demurrage on (X7: no holding pays for days the policy charged nothing); no holding counts from
    earlier."""

    yearly: Fraction
    today: int
    undated: int

    def day_of(self, uow: UnitOfWork, account: AccountId, currency: CurrencyId) -> int:
        day = cs.holding_day(uow, account, currency)
        return self.undated if day is None else max(day, self.undated)

    def worth(self, uow: UnitOfWork, account: AccountId, currency: CurrencyId, stored: int) -> int:
        if stored <= 0:
            return stored
        return rules.discounted(stored, self.today - self.day_of(uow, account, currency), self.yearly)

    def settle(self, uow: UnitOfWork, account: AccountId, currency: CurrencyId, stored: int) -> list[Event]:
        """Burn what the holding lost since its day and keep it at today (a holding that receives
        units mid-period starts its clock then: the sender paid up to the day it sent)."""
        day = self.day_of(uow, account, currency)
        if day >= self.today:
            return []
        lost = stored - rules.discounted(stored, self.today - day, self.yearly) if stored > 0 else 0
        events: list[Event] = []
        if lost > 0:
            events.append(led.UnitsBurned(currency, account, lost))
        events.append(cm.HoldingDated(account, currency, self.today, lost))
        return events


def holding_demurrage(uow: UnitOfWork, time: int, version: int) -> HoldingDemurrage | None:
    """The demurrage on Circles holdings at ``time`` under rule version ``version``; None where none
    applies (rule versions 1 and 2, or a policy without demurrage, e.g. the seed preset)."""
    if version < DEMURRAGE_ON_HOLDINGS:
        return None
    policy = state.current_policy(uow).section(CirclesPolicy)
    if policy.demurrage == 0:
        return None
    started = cs.rules_started(uow, DEMURRAGE_ON_HOLDINGS)
    since = max(started if started is not None else time, _demurrage_since(cs.schedule(uow), time))
    undated = rules.demurrage_day(since, policy.day_zero)
    return HoldingDemurrage(Fraction(policy.demurrage), rules.demurrage_day(time, policy.day_zero), undated)


for _kind in CIRCLES_KINDS:
    payments.ACCEPTANCE[_kind] = check_circles_transfer
    payments.SINKS[_kind] = circles_sink
    payments.DISCOUNTS[_kind] = holding_demurrage


def _demurrage_since(schedule: rules.Schedule, time: int) -> int:
    """When the policy in force at ``time`` began charging demurrage without a pause (X7)."""
    since = time
    for effective, section in reversed(schedule):
        if effective > time:
            continue
        if section.demurrage == 0:
            break
        since = effective
    return since


def _date_new_holding(ctx: Context, account: AccountId, currency: CurrencyId) -> list[Event]:
    """A holding of a currency created in the same entry starts its clock today (IN4)."""
    found = holding_demurrage(ctx.uow, ctx.time, ctx.rules)
    return [] if found is None else [cm.HoldingDated(account, currency, found.today, 0)]


@projects(cm.HoldingDated)
def _holding_dated(e: cm.HoldingDated, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    cs.HOLDINGS.put(uow, cs.holding_key(e.account, e.currency), cs.HoldingRecord(day=e.day))


# Accounts and income (CI1-CI4) -----------------------------------------------------------------


@handles(cm.CreateCirclesAccount)
def create_account(cmd: cm.CreateCirclesAccount, ctx: Context) -> Decision:
    uow = ctx.uow
    account = state.require_account(uow, cmd.account, "CI1")
    if cs.income_state(uow, cmd.account) is not None:
        raise RuleViolationError(f"{cmd.account} already has a Circles account", rule="CI1")
    if cs.group_owner(uow, cmd.account) is not None or account.kind is AccountKind.GROUP:
        raise RuleViolationError(f"{cmd.account} is a group account; groups issue group money (CI10)", rule="CI1")
    if uow.ledger.currency(CurrencyId(cmd.account)) is not None:
        raise RuleViolationError(f"a currency {cmd.account} already exists", rule="CI1")
    policy = ctx.policy.section(CirclesPolicy)
    income = rules.open_income(policy, cs.genesis_time(uow), ctx.time)
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
        events += _date_new_holding(ctx, cmd.account, currency)
        events.append(led.UnitsIssued(currency, cmd.account, policy.signup_units, led.IssuerRule.CIRCLES_INCOME))
    result = {"account": cmd.account, "currency": currency, "reserve": income.reserve, "signup": policy.signup_units}
    return Decision(events, Consent.of(cmd.account), result)


@handles(cm.Invite)
def invite(cmd: cm.Invite, ctx: Context) -> Decision:
    """An inviter opens the invitee's Circles account (CI15, v2): the invitee receives the welcome
    bonus in its new currency, the inviter burns the invitation cost of its own currency, so inviting
    one's own sybils costs twice what it brings. Both sign: the invitee joins as ``create_account``."""
    uow, policy = ctx.uow, ctx.policy.section(CirclesPolicy)
    if ctx.rules < rules.ISSUANCE_AS_V1_V2 or not (policy.welcome_bonus or policy.invitation_cost):
        raise RuleViolationError("this economy's policy has no invitations", rule="CI15")
    if cmd.inviter == cmd.invitee:
        raise InvalidInputError("an account cannot invite itself", rule="CI15")
    cs.require_member_account(uow, cmd.inviter, "CI15")
    opened = create_account(cm.CreateCirclesAccount(cmd.invitee), ctx)
    own = CurrencyId(cmd.inviter)
    book = payments.Payments(uow, ctx.time, ctx.rules)
    events: list[Event] = list(opened.events)
    if policy.invitation_cost:
        held = book.balance(cmd.inviter, own)
        events += book.settle(cmd.inviter, own)
        currency = state.require_currency(uow, own)
        try:
            events.append(led.burn(currency, cmd.inviter, policy.invitation_cost, held))
        except InsufficientFundsError as e:
            raise InsufficientFundsError(f"{e.message} (the invitation cost)", rule="CI15") from None
    if policy.welcome_bonus:
        bonus = CurrencyId(cmd.invitee)
        if not any(isinstance(e, cm.HoldingDated) for e in opened.events):  # a signup dated it already
            events += _date_new_holding(ctx, cmd.invitee, bonus)
        events.append(led.UnitsIssued(bonus, cmd.invitee, policy.welcome_bonus, led.IssuerRule.CIRCLES_INCOME))
    events.append(cm.Invited(cmd.inviter, cmd.invitee, policy.welcome_bonus, policy.invitation_cost))
    result = {**opened.result, "inviter": cmd.inviter, "bonus": policy.welcome_bonus, "cost": policy.invitation_cost}
    return Decision(events, Consent.of(cmd.inviter, cmd.invitee), result)


@projects(cm.Invited)
def _invited(e: cm.Invited, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    """The account, the bonus and the burn are recorded by the events beside this one."""


def _mint_income(
    ctx: Context, account: AccountId, want: int | None, book: payments.Payments
) -> tuple[list[Event], int]:
    """Events minting ``want`` units of unclaimed income (all of it if None), and the units (CI2);
    the owner's holding is settled first (IN4: the new units join it at today)."""
    uow = ctx.uow
    found = cs.require_member_account(uow, account, "CI2")
    units, after = rules.claimable(found, ctx.time, cs.genesis_time(uow), cs.schedule(uow), ctx.rules)
    take = units if want is None else want
    if take > units:
        raise InsufficientFundsError(f"{account} has {units} of unclaimed income, not {take}", rule="CI2")
    if take <= 0:
        return [], 0
    carry = after.carry + (units - take)
    currency = state.require_currency(uow, CurrencyId(account))
    issued = led.issue(currency, account, take, led.IssuerRule.CIRCLES_INCOME, uow.ledger.balance(account, currency.id))
    settled = book.settle(account, currency.id)
    return [*settled, cm.IncomeClaimed(account, take, after.claimed_to, rules.encode_fraction(carry)), issued], take


@handles(cm.ClaimIncome)
def claim(cmd: cm.ClaimIncome, ctx: Context) -> Decision:
    events, units = _mint_income(ctx, cmd.account, None, payments.Payments(ctx.uow, ctx.time, ctx.rules))
    if units == 0 and ctx.rules >= rules.ISSUANCE_AS_V1_V2:
        found = cs.require_member_account(ctx.uow, cmd.account, "CI2")
        if rules.stopped(ctx.policy.section(CirclesPolicy), found.claimed_to, ctx.time):
            raise RuleViolationError(
                f"{cmd.account}'s currency has stopped issuing: no claim for longer than the policy's"
                " claim_timeout (v1's timeout)",
                rule="CI15",
            )
    if units == 0:
        raise RuleViolationError(f"{cmd.account} has no whole unit of income to claim yet", rule="CI2")
    return Decision(events, Consent.of(cmd.account), {"claimed": units})


@projects(cm.CirclesAccountCreated)
def _account_created(e: cm.CirclesAccountCreated, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    cs.ACCOUNTS.put(uow, e.account, cs.AccountRecord(e.claimed_to, e.carry, e.reserve, created_at=ctx.time))


@projects(cm.IncomeClaimed)
def _income_claimed(e: cm.IncomeClaimed, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    record = cs.account_record(uow, e.account)
    cs.ACCOUNTS.put(uow, e.account, dataclasses.replace(record, claimed_to=e.claimed_to, carry=e.carry))


# Trust (CI5-CI8) ---------------------------------------------------------------------------------


@handles(cm.Trust)
def trust(cmd: cm.Trust, ctx: Context) -> Decision:
    uow, policy = ctx.uow, ctx.policy.section(CirclesPolicy)
    rules.check_trust(policy, cmd.truster, cmd.trustee, cmd.limit_percent, cmd.expires_at, ctx.time)
    a, b = cs.party(uow, cmd.truster), cs.party(uow, cmd.trustee)
    if a == "group" and b == "person":
        raise RuleViolationError(
            "a group accepts no individual's currency: group money never turns back (CI12)", rule="CI12"
        )
    both_ways = rules.mutual(policy) and a == b
    if rules.trusts(cs.trust_edge(uow, cmd.truster, cmd.trustee), ctx.time):
        raise RuleViolationError(f"{cmd.truster} already trusts {cmd.trustee}", rule="CI5")
    events: list[Event] = [cm.Trusted(cmd.truster, cmd.trustee, cmd.limit_percent, cmd.expires_at)]
    if both_ways:
        events.append(cm.Trusted(cmd.trustee, cmd.truster, cmd.limit_percent, cmd.expires_at))
    rewards: JSONObject = {}
    book = payments.Payments(uow, ctx.time, ctx.rules)
    if a == b == "person" and not cs.pair_rewarded(uow, cmd.truster, cmd.trustee):
        # CI7: each side that now accepts the other's currency gets half the other's reserve.
        receivers = [cmd.truster, cmd.trustee] if both_ways else [cmd.truster]
        paid = False
        for to in receivers:
            owner = cmd.trustee if to == cmd.truster else cmd.truster
            reserve = cs.require_member_account(uow, owner, "CI7").reserve
            credited, left = rules.trustee_reward(reserve)
            if credited <= 0:
                continue
            currency = state.require_currency(uow, CurrencyId(owner))
            events.append(cm.TrusteeRewarded(owner, to, credited, left))
            events += book.settle(to, currency.id)
            events.append(
                led.issue(currency, to, credited, led.IssuerRule.CIRCLES_INCOME, uow.ledger.balance(to, currency.id))
            )
            rewards[to] = credited
            paid = True
        if paid:
            first, second = sorted((cmd.truster, cmd.trustee))
            events.append(cm.PairRewarded(AccountId(first), AccountId(second)))
    signers = {cs.actor(uow, cmd.truster)} | ({cs.actor(uow, cmd.trustee)} if both_ways else set())
    return Decision(events, Consent(all_of=frozenset(signers)), {"mutual": both_ways, "rewards": rewards})


@handles(cm.Untrust)
def untrust(cmd: cm.Untrust, ctx: Context) -> Decision:
    uow = ctx.uow
    if cmd.by == cmd.other:
        raise RuleViolationError("an account cannot revoke trust in itself", rule="CI6")
    state.require_account(uow, cmd.by, "CI6")
    state.require_account(uow, cmd.other, "CI6")
    events: list[Event] = []
    for truster, trustee in ((cmd.by, cmd.other), (cmd.other, cmd.by)):
        if cs.trust_edge(uow, truster, trustee) is not None:
            events.append(cm.Untrusted(truster, trustee))
    if not events:
        raise RuleViolationError(f"there is no trust between {cmd.by} and {cmd.other} to revoke", rule="CI6")
    return Decision(events, Consent.of(cs.actor(uow, cmd.by)), {"revoked": len(events)})


@projects(cm.Trusted)
def _trusted(e: cm.Trusted, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    cs.TRUST.put(uow, cs.trust_key(e.truster, e.trustee), cs.TrustRecord(e.limit_percent, e.expires_at, since=ctx.time))


@projects(cm.Untrusted)
def _untrusted(e: cm.Untrusted, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    cs.TRUST.delete(uow, cs.trust_key(e.truster, e.trustee))


@projects(cm.TrusteeRewarded)
def _rewarded(e: cm.TrusteeRewarded, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    record = cs.account_record(uow, e.reserve_owner)
    cs.ACCOUNTS.put(uow, e.reserve_owner, dataclasses.replace(record, reserve=e.reserve_left))


@projects(cm.PairRewarded)
def _pair_rewarded(e: cm.PairRewarded, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    cs.REWARDED.put(uow, cs.pair_key(e.first, e.second), cs.RewardRecord(at=ctx.time))


@handles(cm.Exchange)
def exchange(cmd: cm.Exchange, ctx: Context) -> Decision:
    uow = ctx.uow
    rules.check_units(cmd.units, "an exchange", "CI8")
    if cmd.first == cmd.second:
        raise InvalidInputError("an exchange needs two different accounts", rule="CI8")
    cs.require_member_account(uow, cmd.first, "CI8")
    cs.require_member_account(uow, cmd.second, "CI8")
    legs = (
        led.Leg(CurrencyId(cmd.first), cmd.first, cmd.second, cmd.units),
        led.Leg(CurrencyId(cmd.second), cmd.second, cmd.first, cmd.units),
    )
    for leg in legs:
        currency = state.require_currency(uow, leg.currency)
        room = cs.acceptance_room(uow, leg.target, currency, ctx.time)
        if room is not None and room < cmd.units:
            raise RuleViolationError(f"{leg.target} and {leg.source} must trust each other to exchange", rule="CI8")
    book = payments.Payments(uow, ctx.time, ctx.rules)
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
    cs.require_member_account(uow, cmd.sender, "CI9")
    state.require_account(uow, cmd.receiver, "CI9")
    rules.check_routed_payment(cmd.sender, cmd.receiver, cmd.units, cmd.legs, policy.max_steps)
    accepting = state.current_policy(uow).section(CirclesPolicy)
    # Each leg's facts load as the check reaches it: a missing account is reported in plan order too.
    routing.check_plan(((leg, cs.leg_facts(uow, leg)) for leg in cmd.legs), accepting, ctx.time)
    book = payments.Payments(uow, ctx.time, ctx.rules)
    own = CurrencyId(cmd.sender)
    need = routing.own_currency_shortfall(cmd.legs, cmd.sender, book.balance(cmd.sender, own))
    events: list[Event] = []
    minted = 0
    if need > 0:
        try:
            events, minted = _mint_income(ctx, cmd.sender, need, book)
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
    if cs.group_owner(uow, cmd.group) is not None or uow.ledger.currency(CurrencyId(cmd.group)) is not None:
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
    owner = cs.require_group(ctx.uow, cmd.group)
    cs.require_member_account(ctx.uow, cmd.member, "CI10")
    if cs.is_member(ctx.uow, cmd.group, cmd.member):
        raise RuleViolationError(f"{cmd.member} is already a member of {cmd.group}", rule="CI10")
    return Decision([cm.MemberAdded(cmd.group, cmd.member)], Consent.of(owner))


@handles(cm.RemoveMember)
def remove_member(cmd: cm.RemoveMember, ctx: Context) -> Decision:
    owner = cs.require_group(ctx.uow, cmd.group)
    if not cs.is_member(ctx.uow, cmd.group, cmd.member):
        raise RuleViolationError(f"{cmd.member} is not a member of {cmd.group}", rule="CI10")
    return Decision([cm.MemberRemoved(cmd.group, cmd.member)], Consent.of(owner))


@handles(cm.Convert)
def convert(cmd: cm.Convert, ctx: Context) -> Decision:
    """A member's own currency in as collateral, the group's money out, 1:1 (CI11)."""
    uow = ctx.uow
    rules.CONVERSION.check_units(cmd.units)  # a malformed amount is refused before anything is read
    cs.require_group(uow, cmd.group)
    cs.require_member_account(uow, cmd.member, "CI11")
    personal = CurrencyId(cmd.member)
    book = payments.Payments(uow, ctx.time, ctx.rules)
    mint = rules.issue_group_money(
        rules.CONVERSION,
        cmd.member,
        cmd.group,
        personal,
        cmd.units,
        accepted=cs.is_member(uow, cmd.group, cmd.member),
        held=book.balance(cmd.member, personal),
    )
    events = _issue_group_money(ctx, book, mint, cm.Converted(cmd.member, cmd.group, cmd.units))
    return Decision(events, Consent.of(cmd.member), {"converted": cmd.units})


@handles(cm.GroupExchange)
def group_exchange(cmd: cm.GroupExchange, ctx: Context) -> Decision:
    """One group's money in as collateral, another's out, 1:1, where the second trusts the first (CI12)."""
    uow = ctx.uow
    rules.GROUP_EXCHANGE.check_units(cmd.units)  # a malformed amount is refused before anything is read
    cs.require_group(uow, cmd.from_group)
    cs.require_group(uow, cmd.to_group)
    if cmd.from_group == cmd.to_group:
        raise InvalidInputError("a group exchange needs two different groups", rule="CI12")
    source = CurrencyId(cmd.from_group)
    book = payments.Payments(uow, ctx.time, ctx.rules)
    mint = rules.issue_group_money(
        rules.GROUP_EXCHANGE,
        cmd.holder,
        cmd.to_group,
        source,
        cmd.units,
        accepted=rules.trusts(cs.trust_edge(uow, cmd.to_group, cmd.from_group), ctx.time),
        held=book.balance(cmd.holder, source),
    )
    events = _issue_group_money(ctx, book, mint, cm.GroupExchanged(cmd.holder, cmd.from_group, cmd.to_group, cmd.units))
    return Decision(events, Consent.of(cmd.holder), {"exchanged": cmd.units})


def _issue_group_money(ctx: Context, book: payments.Payments, mint: rules.GroupMint, done: Event) -> list[Event]:
    """The events of a decided issue of group money (CI11, CI12): the collateral transfer, the
    issue (to a holding settled first, IN4), then ``done``, the Circles event that records it."""
    uow = ctx.uow
    currency = state.require_currency(uow, mint.currency)
    # collateral: the group's acceptance was decided (CI11, CI12); it keeps the units for good (IN9)
    book.add(mint.collateral, accept=False, collateral=True)
    events: list[Event] = [*book.transfers(), *book.settle(mint.holder, currency.id)]
    balance = uow.ledger.balance(mint.holder, currency.id)
    events.append(led.issue(currency, mint.holder, mint.units, led.IssuerRule.CIRCLES_GROUP, balance))
    events.append(done)
    return events


@projects(cm.GroupCreated)
def _group_created(e: cm.GroupCreated, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    cs.GROUPS.put(uow, e.group, cs.GroupRecord(e.owner, created_at=ctx.time))


@projects(cm.MemberAdded)
def _member_added(e: cm.MemberAdded, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    cs.MEMBERS.put(uow, cs.member_key(e.group, e.member), cs.MemberRecord(since=ctx.time))


@projects(cm.MemberRemoved)
def _member_removed(e: cm.MemberRemoved, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    cs.MEMBERS.delete(uow, cs.member_key(e.group, e.member))


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
    if ctx.rules >= DEMURRAGE_ON_HOLDINGS:
        return _settle_holdings(cmd.account, ctx)
    today = (ctx.time - cs.genesis_time(uow)) // 86_400
    days = today - cs.demurraged_to(uow, cmd.account, today)
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


def _settle_holdings(account: AccountId, ctx: Context) -> Decision:
    """``apply_demurrage`` from rule version 3 (IN4): burn what the account's Circles holdings owe
    now, exactly what their next movement would burn; never more, and nothing twice."""
    book = payments.Payments(ctx.uow, ctx.time, ctx.rules)
    events: list[Event] = []
    for currency_id in sorted(ctx.uow.ledger.holdings(account)):
        found = ctx.uow.ledger.currency(currency_id)
        if found is not None and found.kind in CIRCLES_KINDS:
            events += book.settle(account, currency_id)
    burned = sum(e.units for e in events if isinstance(e, led.UnitsBurned))
    if burned == 0:
        raise RuleViolationError(
            f"{account} owes no demurrage now: its holdings pay it on every movement (IN4)", rule="CI15"
        )
    return Decision(events, Consent.of(account), {"burned": burned})


@projects(cm.DemurrageApplied)
def _demurrage_applied(e: cm.DemurrageApplied, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    cs.DEMURRAGE.put(uow, e.account, cs.DemurrageRecord(day=e.day))


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
        self.dates: dict[tuple[str, str], int] = {}  # the day each holding is kept at (IN4)
        self.demurrage: HoldingDemurrage | None = None  # the discount the capacities reflect

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
        self.groups = set(cs.keys(cs.GROUPS, uow))
        for currency in uow.ledger.currencies():
            if currency.kind in CIRCLES_KINDS:
                self._add_currency(currency.id, currency.issuer)
        for key, dated in cs.HOLDINGS.scan(uow):
            self.dates[cs.split_key(key)] = dated.day
        for holder, currency_id, units in uow.ledger.scan_balances():  # one pass, not a query per currency
            if currency_id in self.currencies:
                self._set_holding(holder, currency_id, units)
        for truster, trustee, record in cs.trust_records(uow):
            self.trust[(truster, trustee)] = record.edge(truster, trustee)
            self._set_acceptance(truster, trustee)

    def _add_currency(self, currency: str, issuer: str) -> None:
        self.currencies[currency] = issuer
        self.index.set_capacity(self.node("c", currency), self.node("a", issuer), INF)

    def _set_holding(self, account: str, currency: str, units: int) -> None:
        self.holdings[(account, currency)] = units
        if account not in self.groups:
            self.index.set_capacity(self.node("a", account), self.node("c", currency), self._worth(account, currency))

    def _worth(self, account: str, currency: str) -> int:
        """A holding at its worth on the day the capacities reflect (IN4): max flow over demurraged
        balances, as the payment's own check will see them."""
        units = self.holdings.get((account, currency), 0)
        found = self.demurrage
        if found is None or units <= 0:
            return units
        day = self.dates.get((account, currency), found.undated)
        return rules.discounted(units, found.today - day, found.yearly)

    def _rediscount(self, uow: UnitOfWork, at: int) -> None:
        """Bring every holding's capacity to its worth at ``at``, once per day (IN4)."""
        found = holding_demurrage(uow, at, cs.rules_at(uow, at))
        if found == self.demurrage:
            return
        self.demurrage = found
        for account, currency in list(self.holdings):
            self._set_holding(account, currency, self.holdings[(account, currency)])

    def _set_acceptance(self, truster: str, trustee: str) -> None:
        """Capacity of trustee's currency → truster: unlimited, or the room its trust limit leaves."""
        edge = self.trust.get((truster, trustee))
        if edge is None or trustee not in self.currencies:
            capacity = 0
        elif self.trust_limits:
            own = self.holdings.get((truster, truster), 0)  # as the payment's check reads them (CI5)
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
        elif isinstance(event, cm.HoldingDated):
            self.dates[(event.account, event.currency)] = event.day
            self._change(event.account, event.currency, 0)

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
        with self._prepared(sender, receiver, now) as found:
            if found is None:
                return Plan(0, (), 0)
            s, t, max_steps = found
            plan = self._plan(s, t, sender, receiver, units, max_steps)
            if units is not None and plan.units < units and plan.max_flow >= units:
                # The capped flow needed too many steps; the full flow may decompose better.
                wider = plan_from_flow(self._named(self.index.max_flow(s, t)), sender, receiver, max_steps, units)
                plan = max(plan, wider, key=lambda p: p.units)
            return plan

    def cut(self, sender: AccountId, receiver: AccountId, now: int | None = None) -> tuple[int, list[CutEdge]]:
        """The maximum flow from sender to receiver and a minimum cut that limits it (CI9).

        After a maximum flow, the accounts and currencies still reachable from the sender in the
        residual network are on one side; the edges leaving that side are full, and their
        capacities sum to the maximum flow (max-flow = min-cut): they are what limits a payment.
        """
        with self._prepared(sender, receiver, now) as found:
            if found is None:
                return 0, []
            s, t, _ = found
            flow = self.index.max_flow(s, t)
            edges = list(self.index.edges())
            total = sum(flow.get(e, 0) for e, u, _, _ in edges if u == s)
            total -= sum(flow.get(e, 0) for e, _, v, _ in edges if v == s)
            room: dict[int, list[int]] = {}
            for e, u, v, cap in edges:
                x = flow.get(e, 0)
                if cap - x > 0:
                    room.setdefault(u, []).append(v)
                if x > 0:
                    room.setdefault(v, []).append(u)
            seen, todo = {s}, [s]
            while todo:
                for v in room.get(todo.pop(), []):
                    if v not in seen:
                        seen.add(v)
                        todo.append(v)
            cut = [
                CutEdge(self._name[u], self._name[v], cap)
                for _, u, v, cap in edges
                if u in seen and v not in seen and cap > 0
            ]
            return total, sorted(cut, key=lambda c: (c.source, c.target))

    @contextmanager
    def _prepared(
        self, sender: AccountId, receiver: AccountId, now: int | None
    ) -> Iterator[tuple[int, int, int] | None]:
        """The network as a payment at ``now`` sees it (expired trusts closed, the sender's unclaimed
        income open), restored afterwards; yields (sender node, receiver node, max_steps), or None
        when either account has no node yet."""
        with self._lock:
            self.refresh()
            with self.store.read() as uow:
                state.require_account(uow, sender, "CI9")
                state.require_account(uow, receiver, "CI9")
                if sender == receiver:
                    raise InvalidInputError("a payment needs two different accounts", rule="CI9")
                at = now if now is not None else uow.journal.head().time
                self._rediscount(uow, at)
                extra = cs.claimable_now(uow, sender, at)
                max_steps = state.current_policy(uow).section(CirclesPolicy).max_steps
                expired = [k for k, e in self.trust.items() if not e.active(at)]
            if ("a", sender) not in self._node or ("a", receiver) not in self._node:
                yield None
                return
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
                self.index.set_capacity(u, v, self._worth(sender, sender) + extra)
            try:
                yield s, t, max_steps
            finally:
                for u, v, capacity in reversed(saved):
                    self.index.set_capacity(u, v, capacity)

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


@dataclass(frozen=True, slots=True)
class CutEdge:
    """One full edge of a minimum cut (CI9): ``("a", holder) -> ("c", currency)`` is a holding
    (the holder has only ``capacity`` of that currency to pass on), ``("c", currency) -> ("a",
    truster)`` an acceptance (the truster takes that currency, up to its trust limit's room)."""

    source: tuple[str, str]
    target: tuple[str, str]
    capacity: int


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


class SummaryView(TypedDict):
    """``CirclesSummary.to_wire()``: what the CLI prints and the API returns."""

    account: str
    claimable: int
    reserve: int
    trusts: list[str]
    trusted_by: list[str]
    holdings: dict[str, int]
    claimable_text: NotRequired[str]  # in major units (X3), added by the read model
    reserve_text: NotRequired[str]
    decimals: NotRequired[int]  # the account's own currency, so a page formats in its own language
    symbol: NotRequired[str]


@dataclass(frozen=True, slots=True)
class CirclesSummary:
    account: AccountId
    claimable: int
    reserve: int
    trusts: tuple[str, ...]
    trusted_by: tuple[str, ...]
    holdings: dict[str, int]

    def to_wire(self) -> SummaryView:
        """The summary as the CLI prints it and the API returns it."""
        return {
            "account": self.account,
            "claimable": self.claimable,
            "reserve": self.reserve,
            "trusts": list(self.trusts),
            "trusted_by": list(self.trusted_by),
            "holdings": dict(self.holdings),
        }


def summary(uow: UnitOfWork, account: AccountId, now: int) -> CirclesSummary:
    income = cs.require_member_account(uow, account, "CI1")
    trusts = tuple(sorted(e.trustee for e in cs.trusts_of(uow, account) if e.active(now)))
    trusted_by = tuple(sorted(cs.trusters_of(uow, account)))
    return CirclesSummary(
        account,
        cs.claimable_now(uow, account, now),
        income.reserve,
        trusts,
        trusted_by,
        {str(k): v for k, v in payments.worth(uow, account, uow.ledger.holdings(account), now).items()},
    )


def monthly_income(policy: Policy) -> int:
    """CR10, X8: a month of a person's basic income in minor units (the externality fee's base)."""
    circles = policy.section(CirclesPolicy)
    return circles.income_units * MONTH // circles.income_period


hooks.MONTHLY_INCOME.add(monthly_income)  # type: ignore[arg-type]
