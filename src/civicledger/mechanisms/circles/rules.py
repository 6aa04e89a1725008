"""The Circles rules as pure functions: income (CI2-CI4), trust (CI5-CI7), payments (CI8-CI9),
group money (CI11, CI12), demurrage (CI15).

Income is exact. The rate in force is a fraction of a minor unit per second, base × (1+g)^n
with n the whole years since genesis (CI3); what has accrued over an interval is the sum of
rate × seconds over its year segments (and over the policy versions in force, X7). A claim mints
the whole minor units and carries the exact remainder to the next claim, so claiming in many
small steps mints exactly what one big claim would: rounding never loses or creates a unit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction
from functools import lru_cache

from civicledger.kernel.errors import InsufficientFundsError, InvalidInputError, RuleViolationError
from civicledger.kernel.identity import AccountId
from civicledger.kernel.ledger import CurrencyKind, Leg
from civicledger.kernel.money import CurrencyId, require_positive_units
from civicledger.kernel.time import DAY, HOUR, YEAR, whole_years_between
from civicledger.mechanisms.circles.policy import V2_DAY_ZERO, CirclesPolicy, TrustMode

Schedule = Sequence[tuple[int, CirclesPolicy]]
"""Policy versions in force: (effective from, section), in time order."""

CIRCLES_KINDS = (CurrencyKind.PERSONAL, CurrencyKind.GROUP)
"""The currency kinds that are Circles money: personal currencies (CI1) and group money (CI10)."""


def encode_fraction(value: Fraction) -> str:
    return f"{value.numerator}/{value.denominator}"


def decode_fraction(text: str) -> Fraction:
    return Fraction(text)


# Income (CI2-CI4) -------------------------------------------------------------------------------


def rate(policy: CirclesPolicy, genesis: int, at: int) -> Fraction:
    """Minor units of income per second in force at ``at`` (CI3: base × (1+g)^n)."""
    years = whole_years_between(genesis, at)
    return Fraction(policy.income_units, policy.income_period) * (1 + Fraction(policy.growth)) ** years


def accrued(start: int, end: int, genesis: int, schedule: Schedule) -> Fraction:
    """Exact income accrued from ``start`` to ``end`` (CI2), across year and policy boundaries."""
    if end <= start:
        return Fraction(0)
    if not schedule:
        raise InvalidInputError("no policy in force", rule="X7")
    total = Fraction(0)
    t = start
    while t < end:
        policy, policy_end = _policy_at(schedule, t)
        years = whole_years_between(genesis, t)
        year_end = genesis + (years + 1) * YEAR
        segment_end = min(end, year_end, policy_end)
        total += rate(policy, genesis, t) * (segment_end - t)
        t = segment_end
    return total


def _policy_at(schedule: Schedule, t: int) -> tuple[CirclesPolicy, int]:
    """The section in force at t and when the next version takes over (or a far future)."""
    current = schedule[0][1]
    until = 2**62
    for i, (effective, section) in enumerate(schedule):
        if effective <= t:
            current = section
            until = schedule[i + 1][0] if i + 1 < len(schedule) else 2**62
    return current, until


@dataclass(frozen=True, slots=True)
class IncomeState:
    """An account's income clock: claimed up to ``claimed_to``, with an exact unminted remainder."""

    claimed_to: int
    carry: Fraction
    reserve: int


def open_income(policy: CirclesPolicy, genesis: int, now: int) -> IncomeState:
    """A new account (CI4): the owner's start income is claimable at once, the reserve set aside."""
    per_second = rate(policy, genesis, now)
    reserve = per_second * policy.reserve_start
    return IncomeState(now, per_second * policy.owner_start, reserve.numerator // reserve.denominator)


def claimable(
    state: IncomeState, now: int, genesis: int, schedule: Schedule, version: int = 1
) -> tuple[int, IncomeState]:
    """Whole minor units claimable at ``now`` and the income state after claiming them (CI2).

    A claim window (circles-v2) lets a claim reach back only so far: older unclaimed income lapses.
    From rule version 3 (CI15): a currency whose owner has not claimed for ``claim_timeout`` has
    stopped issuing for good (v1's timeout); with demurrage and a claim window, income is v2's:
    whole hours, each discounted by its age in days (``v2_issuance``), the carry holding only whole
    units a payment left unminted.
    """
    policy, _ = _policy_at(schedule, now)
    if version >= ISSUANCE_AS_V1_V2:
        if stopped(policy, state.claimed_to, now):
            return 0, state
        if policy.demurrage and policy.claim_window:
            per_second = rate(policy, genesis, now)
            units = int(state.carry) + v2_issuance(state.claimed_to, now, policy, per_second * HOUR)
            return units, IncomeState(max(now, state.claimed_to), Fraction(0), state.reserve)
    start = state.claimed_to
    if policy.claim_window:
        start = max(start, now - policy.claim_window)
    total = state.carry + accrued(start, now, genesis, schedule)
    units = total.numerator // total.denominator
    return units, IncomeState(max(now, state.claimed_to), total - units, state.reserve)


ISSUANCE_AS_V1_V2 = 3
"""The rule version from which income follows v1's timeout and v2's discounted back-claims (CI15)."""


def stopped(policy: CirclesPolicy, claimed_to: int, now: int) -> bool:
    """Whether a personal currency has stopped issuing (CI15, v1's timeout, rule version 3 on): its
    owner let more than ``claim_timeout`` pass since the last claim; it never issues again, and what
    had accrued is lost, as v1's ``look`` answers 0 once ``stopped``."""
    return policy.claim_timeout > 0 and now - claimed_to > policy.claim_timeout


@lru_cache(maxsize=64)
def issuance_table_64x64(yearly: Fraction, days: int) -> int:
    """T(n) of the v2 contracts: 24 hours × (1 + gamma + ... + gamma^n), in 64.64 fixed point rounded
    to the nearest from the exact gamma (v2 ships the table computed this way, n = 0..14)."""
    with localcontext() as ctx:
        ctx.prec = 80
        keep = Decimal(yearly.denominator - yearly.numerator) / Decimal(yearly.denominator)
        gamma = keep ** (Decimal(V2_YEAR_DAYS.denominator) / Decimal(V2_YEAR_DAYS.numerator))
        total = sum((gamma**i for i in range(days + 1)), Decimal(0)) * 24 * _ONE_64x64
        return int(total.to_integral_value(rounding=ROUND_HALF_UP))


def v2_issuance(last: int, now: int, policy: CirclesPolicy, per_hour: Fraction) -> int:
    """Minor units a v2 claim at ``now`` mints when the owner last claimed at ``last`` (CI15).

    As the v2 Hub's ``calculateIssuance``: the claim reaches back at most ``claim_window``; it counts
    the whole hours of the days from the start's day A to today's day B, each hour of day i worth
    gamma^(B - i) (T(n), n = B - A), less the hours of day A before the start (worth gamma^n each)
    and the hours of today from the current one on; the figure in 64.64 is multiplied by the hourly
    income and rounded down (``mulu``). Nothing within an hour of the last claim.
    """
    if last + HOUR > now:
        return 0
    yearly = Fraction(policy.demurrage)
    start = max(now - policy.claim_window, last)
    first, today = demurrage_day(start, policy.day_zero), demurrage_day(now, policy.day_zero)
    n = today - first
    before = (start - (first * DAY + policy.day_zero)) // HOUR
    after = ((today + 1) * DAY + policy.day_zero - now) // HOUR + 1
    hours = issuance_table_64x64(yearly, n) - demurrage_factor_64x64(yearly, n) * before - (after << 64)
    if hours <= 0:
        return 0
    return (hours * per_hour.numerator) // (per_hour.denominator << 64)


# Trust (CI5-CI7) ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrustEdge:
    """``truster`` accepts ``trustee``'s currency, possibly up to a limit and until a time."""

    truster: AccountId
    trustee: AccountId
    limit_percent: int = 100
    expires_at: int | None = None

    def active(self, now: int) -> bool:
        return self.expires_at is None or now < self.expires_at


def trusts(edge: TrustEdge | None, now: int) -> bool:
    """Whether a trust exists and is in force at ``now`` (CI5; expiring trust, v2)."""
    return edge is not None and edge.active(now)


def check_trust(
    policy: CirclesPolicy, truster: AccountId, trustee: AccountId, limit_percent: int, expires_at: int | None, now: int
) -> None:
    """Refuse a trust the policy does not allow (CI5)."""
    if truster == trustee:
        raise RuleViolationError("an account cannot trust itself; it always accepts its own currency", rule="CI5")
    if not 0 <= limit_percent <= 100:
        raise InvalidInputError(f"a trust limit is 0-100 percent, not {limit_percent}", rule="CI5")
    if limit_percent != 100 and not policy.trust_limits:
        raise RuleViolationError("this economy's policy has no trust limits (trust_limits = false)", rule="CI5")
    if expires_at is not None:
        if not policy.trust_expiry:
            raise RuleViolationError("this economy's policy has no expiring trust (trust_expiry = false)", rule="CI5")
        if expires_at <= now:
            raise InvalidInputError("a trust must expire in the future", rule="CI5")


def acceptance_room(edge: TrustEdge | None, policy: CirclesPolicy, now: int, own_balance: int, held: int) -> int | None:
    """How much more of the trustee's currency the truster accepts: None = any amount, 0 = none.

    With trust limits (circles-v1) the truster accepts up to ``limit_percent`` of its own
    currency's holding, less what it already holds of the trustee's currency.
    """
    if edge is None or not edge.active(now):
        return 0
    if not policy.trust_limits:
        return None
    return max(0, own_balance * edge.limit_percent // 100 - held)


def trustee_reward(reserve: int) -> tuple[int, int]:
    """(credited, left) when a trust is made (CI7): floor half is paid, the reserve keeps the rest."""
    credited = reserve // 2
    return credited, reserve - credited


def mutual(policy: CirclesPolicy) -> bool:
    return policy.trust_mode is TrustMode.MUTUAL


# Payments (CI8, CI9) -----------------------------------------------------------------------------


def check_routed_payment(
    sender: AccountId, receiver: AccountId, units: int, legs: Sequence[Leg], max_steps: int
) -> dict[AccountId, int]:
    """The shape of a routed payment (CI9); returns each account's net change.

    The sender pays ``units``, the receiver gets them, every intermediary ends with the same
    total it started with, in at most ``max_steps`` transfers.
    """
    require_positive_units(units, "a payment")
    if sender == receiver:
        raise InvalidInputError("a payment needs two different accounts", rule="CI9")
    if not legs:
        raise InvalidInputError("a payment needs at least one transfer", rule="CI9")
    if len(legs) > max_steps:
        raise RuleViolationError(
            f"a payment has at most {max_steps} transfers (max_steps), not {len(legs)}", rule="CI9"
        )
    net: dict[AccountId, int] = {}
    for leg in legs:
        net[leg.source] = net.get(leg.source, 0) - leg.units
        net[leg.target] = net.get(leg.target, 0) + leg.units
    if net.get(sender, 0) != -units or net.get(receiver, 0) != units:
        raise RuleViolationError(
            f"the transfers do not move exactly {units} from the sender to the receiver", rule="CI9"
        )
    for account, change in net.items():
        if account not in (sender, receiver) and change != 0:
            raise RuleViolationError(
                f"intermediary {account} would not end with the same total ({change:+d})", rule="CI9"
            )
    return net


# Group money (CI11, CI12) -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GroupIssue:
    """A rule by which a group issues its money 1:1 against collateral it keeps (CI11, CI12).

    ``refusal`` says why the group does not take the collateral; it names ``{holder}``, ``{group}``
    and ``{collateral}`` (the collateral currency's id, its issuer's account id).
    """

    rule: str
    what: str
    verb: str
    refusal: str

    def check_units(self, units: int) -> int:
        return check_units(units, self.what, self.rule)


CONVERSION = GroupIssue(
    "CI11", "a conversion", "convert", "{holder} is not a member of group {group} and cannot convert into it"
)
"""A member turns its own currency into the group's money; membership is the group's acceptance."""

GROUP_EXCHANGE = GroupIssue("CI12", "a group exchange", "exchange", "group {group} does not trust group {collateral}")
"""A holder turns one group's money into another's; the receiving group's trust is its acceptance."""


@dataclass(frozen=True, slots=True)
class GroupMint:
    """A decided issue of group money: ``collateral`` moves from the holder to the group, which keeps
    it for good (its coins never move, CI11), and the group issues the holder as many of its own units."""

    collateral: Leg

    @property
    def holder(self) -> AccountId:
        return self.collateral.source

    @property
    def group(self) -> AccountId:
        return self.collateral.target

    @property
    def currency(self) -> CurrencyId:
        """The money issued: the group's own currency."""
        return CurrencyId(self.collateral.target)

    @property
    def units(self) -> int:
        return self.collateral.units


def issue_group_money(
    kind: GroupIssue,
    holder: AccountId,
    group: AccountId,
    collateral: CurrencyId,
    units: int,
    *,
    accepted: bool,
    held: int,
) -> GroupMint:
    """Group money for collateral, 1:1 (CI11 conversion, CI12 group exchange).

    ``accepted`` is whether the group takes this collateral (the holder is its member, CI11; it trusts
    the collateral's group, CI12); ``held`` is what the holder holds of the collateral currency.
    """
    kind.check_units(units)
    if not accepted:
        raise RuleViolationError(kind.refusal.format(holder=holder, group=group, collateral=collateral), rule=kind.rule)
    if held < units:
        holding = "its own currency" if collateral == CurrencyId(holder) else f"{collateral}'s money"
        raise InsufficientFundsError(f"{holder} holds {held} of {holding}, cannot {kind.verb} {units}", rule=kind.rule)
    return GroupMint(Leg(collateral, holder, group, units))


# Demurrage (CI15, circles-v2) --------------------------------------------------------------------

V2_YEAR_DAYS = Fraction(36525, 100)
"""Circles v2 spreads a year's demurrage over 365.25 days: gamma = 0.93^(1/365.25)."""

_ONE_64x64 = 1 << 64


def demurrage_day(time: int, day_zero: int = V2_DAY_ZERO) -> int:
    """The demurrage day a time falls in: whole days of 86,400 s since ``day_zero`` (CI15)."""
    return (time - day_zero) // DAY


@lru_cache(maxsize=16)
def gamma_64x64(yearly: Fraction) -> int:
    """The daily factor gamma = (1 - yearly)^(1/365.25) in signed 64.64 fixed point, rounded to the
    nearest, as Circles v2 stores it (7% a year gives 18,443,079,296,116,538,654)."""
    with localcontext() as ctx:
        ctx.prec = 80
        keep = Decimal(yearly.denominator - yearly.numerator) / Decimal(yearly.denominator)
        exponent = Decimal(V2_YEAR_DAYS.denominator) / Decimal(V2_YEAR_DAYS.numerator)
        scaled = keep**exponent * _ONE_64x64
        return int(scaled.to_integral_value(rounding=ROUND_HALF_UP))


@lru_cache(maxsize=4096)
def demurrage_factor_64x64(yearly: Fraction, days: int) -> int:
    """gamma^days in 64.64 fixed point, squared and multiplied bit by bit with 127 fractional bits
    (128 for the product) and truncated at each step, then cut to 64 bits: the integer steps of
    ABDK's ``pow`` that the v2 contracts call, so every factor equals theirs bit for bit."""
    if days < 0:
        raise InvalidInputError("demurrage runs forward: days must not be negative", rule="CI15")
    base = gamma_64x64(yearly) << 63
    result = 1 << 128
    while days:
        if days & 1:
            result = (result * base) >> 127
        base = (base * base) >> 127
        days >>= 1
    return result >> 64


def discounted(units: int, days: int, yearly: Fraction) -> int:
    """What ``units`` held for ``days`` whole days keep under demurrage, rounded down (CI15, IN4):
    ``mulu(gamma^days, units)`` as in the v2 contracts; no days or no demurrage keeps everything."""
    if days <= 0 or units <= 0 or yearly == 0:
        return units
    return (demurrage_factor_64x64(yearly, days) * units) >> 64


def daily_demurrage_factor(yearly: Fraction) -> Decimal:
    """What a coin keeps each day so that a year of 365.2425 days keeps exactly 1 - yearly.

    Rule versions 1 and 2 only (``circles.apply_demurrage``); from rule version 3 demurrage is
    ``discounted``. (1-d)^(DAY/YEAR) is irrational, so it is computed in decimal to 40 digits: the
    same digits on every machine, so re-execution agrees (X2).
    """
    with localcontext() as ctx:
        ctx.prec = 40
        keep = Decimal(yearly.denominator - yearly.numerator) / Decimal(yearly.denominator)
        return keep ** (Decimal(DAY) / Decimal(YEAR))


def demurrage_due(balance: int, days: int, yearly: Fraction) -> int:
    """Minor units a balance loses to demurrage over whole days (circles-v2, rule versions 1 and 2),
    rounded down.

    Rounding down leaves the holder the fraction, so demurrage never takes more than it should.
    """
    if days <= 0 or balance <= 0 or yearly == 0:
        return 0
    with localcontext() as ctx:
        ctx.prec = 60
        kept = Decimal(balance) * daily_demurrage_factor(yearly) ** days
        due = balance - int(kept.to_integral_value(rounding=ROUND_CEILING))
    return max(0, due)


# Shared checks -----------------------------------------------------------------------------------


def check_units(units: int, what: str, rule: str) -> int:
    if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
        raise InvalidInputError(f"{what} must be a positive whole number of minor units, not {units!r}", rule=rule)
    return units
