"""Circles commands (imperative) and events (past tense), registered under ``circles.*``.

Money moves only through the ledger's own events (``UnitsIssued``, ``UnitsTransferred``), which a
Circles entry emits beside the events below; these record what the Circles rules decided.
"""

from __future__ import annotations

from dataclasses import dataclass

from civicledger.kernel.identity import AccountId
from civicledger.kernel.ledger import Leg
from civicledger.kernel.messages import Command, Event, command, event
from civicledger.kernel.money import CurrencyId

# Commands -------------------------------------------------------------------------------------


@command("circles.create_account")
@dataclass(frozen=True, slots=True)
class CreateCirclesAccount(Command):
    """Join Circles: the account issues its own personal currency (CI1); signed by the account."""

    account: AccountId


@command("circles.claim")
@dataclass(frozen=True, slots=True)
class ClaimIncome(Command):
    """Mint the income accrued since the last claim (CI2); signed by the owner."""

    account: AccountId


@command("circles.trust")
@dataclass(frozen=True, slots=True)
class Trust(Command):
    """Accept the trustee's currency 1:1 (CI5). Mutual trust is signed by both, directed by the truster.

    ``limit_percent`` (policy ``trust_limits``) and ``expires_at`` (policy ``trust_expiry``) are the
    Circles v1 and v2 options.
    """

    truster: AccountId
    trustee: AccountId
    limit_percent: int = 100
    expires_at: int | None = None


@command("circles.untrust")
@dataclass(frozen=True, slots=True)
class Untrust(Command):
    """Revoke a trust (CI6); ``by`` is either party and signs."""

    by: AccountId
    other: AccountId


@command("circles.exchange")
@dataclass(frozen=True, slots=True)
class Exchange(Command):
    """Two accounts that trust each other swap their own currencies 1:1 (CI8); both sign."""

    first: AccountId
    second: AccountId
    units: int


@command("circles.pay")
@dataclass(frozen=True, slots=True)
class Pay(Command):
    """A transitive payment (CI9): the legs the router proposed, checked and executed atomically.

    Signed by the sender alone: an intermediary's trust is its standing consent to swap 1:1.
    """

    sender: AccountId
    receiver: AccountId
    units: int
    legs: tuple[Leg, ...]
    memo: str = ""


@command("circles.create_group")
@dataclass(frozen=True, slots=True)
class CreateGroup(Command):
    """Make an opened group account a Circles group with its own currency (CI10).

    Signed by the group's key and its owner.
    """

    group: AccountId
    owner: AccountId


@command("circles.add_member")
@dataclass(frozen=True, slots=True)
class AddMember(Command):
    """The group's owner verifies an account as a member (CI10)."""

    group: AccountId
    member: AccountId


@command("circles.remove_member")
@dataclass(frozen=True, slots=True)
class RemoveMember(Command):
    """The group's owner excludes a member (CI10); converted group money stays with the holder."""

    group: AccountId
    member: AccountId


@command("circles.convert")
@dataclass(frozen=True, slots=True)
class Convert(Command):
    """A member turns personal coins into group money 1:1, irreversibly (CI11); signed by the member."""

    member: AccountId
    group: AccountId
    units: int


@command("circles.group_exchange")
@dataclass(frozen=True, slots=True)
class GroupExchange(Command):
    """Swap one group's money for another's 1:1 where the receiving group trusts the first (CI12)."""

    holder: AccountId
    from_group: AccountId
    to_group: AccountId
    units: int


@command("circles.apply_demurrage")
@dataclass(frozen=True, slots=True)
class ApplyDemurrage(Command):
    """Burn the demurrage due on an account's Circles holdings since last applied (circles-v2).

    From rule version 3 it materialises the burn every holding owes at once (IN4): never more."""

    account: AccountId


@command("circles.invite")
@dataclass(frozen=True, slots=True)
class Invite(Command):
    """Open the invitee's Circles account on the inviter's word (CI15, v2): the invitee receives the
    welcome bonus in its new currency, the inviter burns the invitation cost of its own; both sign."""

    inviter: AccountId
    invitee: AccountId


# Events ---------------------------------------------------------------------------------------


@event("circles.account_created")
@dataclass(frozen=True, slots=True)
class CirclesAccountCreated(Event):
    account: AccountId
    claimed_to: int
    carry: str  # income accrued but not yet minted, an exact fraction of a minor unit "n/d"
    reserve: int  # the trustee reserve, minor units (CI4)


@event("circles.income_claimed")
@dataclass(frozen=True, slots=True)
class IncomeClaimed(Event):
    account: AccountId
    units: int
    claimed_to: int
    carry: str


@event("circles.trusted")
@dataclass(frozen=True, slots=True)
class Trusted(Event):
    """``truster`` now accepts ``trustee``'s currency."""

    truster: AccountId
    trustee: AccountId
    limit_percent: int
    expires_at: int | None


@event("circles.untrusted")
@dataclass(frozen=True, slots=True)
class Untrusted(Event):
    truster: AccountId
    trustee: AccountId


@event("circles.trustee_rewarded")
@dataclass(frozen=True, slots=True)
class TrusteeRewarded(Event):
    """Half of ``reserve_owner``'s reserve paid to ``to`` in ``reserve_owner``'s currency (CI7)."""

    reserve_owner: AccountId
    to: AccountId
    units: int
    reserve_left: int


@event("circles.pair_rewarded")
@dataclass(frozen=True, slots=True)
class PairRewarded(Event):
    """Marks a pair whose first trust paid the trustee rewards; later trusts pay none."""

    first: AccountId
    second: AccountId


@event("circles.exchanged")
@dataclass(frozen=True, slots=True)
class Exchanged(Event):
    first: AccountId
    second: AccountId
    units: int


@event("circles.payment_routed")
@dataclass(frozen=True, slots=True)
class PaymentRouted(Event):
    sender: AccountId
    receiver: AccountId
    units: int
    steps: int
    minted: int  # unclaimed income of the sender minted for this payment (CI2)


@event("circles.group_created")
@dataclass(frozen=True, slots=True)
class GroupCreated(Event):
    group: AccountId
    owner: AccountId


@event("circles.member_added")
@dataclass(frozen=True, slots=True)
class MemberAdded(Event):
    group: AccountId
    member: AccountId


@event("circles.member_removed")
@dataclass(frozen=True, slots=True)
class MemberRemoved(Event):
    group: AccountId
    member: AccountId


@event("circles.converted")
@dataclass(frozen=True, slots=True)
class Converted(Event):
    member: AccountId
    group: AccountId
    units: int


@event("circles.group_exchanged")
@dataclass(frozen=True, slots=True)
class GroupExchanged(Event):
    holder: AccountId
    from_group: AccountId
    to_group: AccountId
    units: int


@event("circles.demurrage_applied")
@dataclass(frozen=True, slots=True)
class DemurrageApplied(Event):
    account: AccountId
    day: int  # whole days since genesis the account's holdings are now demurraged to


@event("circles.holding_dated")
@dataclass(frozen=True, slots=True)
class HoldingDated(Event):
    """A Circles holding is kept at ``day`` from now on (IN4, CI15, rule version 3); getting there it
    lost ``burned`` minor units to demurrage, burned by the ledger event beside this one."""

    account: AccountId
    currency: CurrencyId
    day: int  # whole days since the policy's day zero
    burned: int


@event("circles.invited")
@dataclass(frozen=True, slots=True)
class Invited(Event):
    """The inviter vouched for the invitee (CI15): bonus issued, cost burned by the ledger events beside."""

    inviter: AccountId
    invitee: AccountId
    bonus: int
    cost: int
