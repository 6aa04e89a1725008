"""`civic circles`: personal currencies, income, trust, routed payments and groups (CI1-CI15).

Accounts may be given as account ids or as key names (the key's account is meant).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from civicledger.cli.app import IdOption, KeyOption, Session, Submission, session, submit
from civicledger.cli.output import amounts, emit, explanation_printer, fail, journal_time
from civicledger.kernel.errors import CivicLedgerError, InvalidInputError
from civicledger.kernel.time import parse_instant
from civicledger.mechanisms.circles import handlers as sc
from civicledger.mechanisms.circles import messages as cm
from civicledger.mechanisms.circles import queries

circles_app = typer.Typer(
    help="Circles basic income: personal currencies joined by trust (CI1-CI15).", no_args_is_help=True
)
group_app = typer.Typer(help="Circles groups and group money (CI10-CI12).", no_args_is_help=True)
circles_app.add_typer(group_app, name="group")

KeyArg = Annotated[str, typer.Option("--key", "-k", help="The signing key (its account acts).")]


@circles_app.command("account")
@circles_app.command("join", hidden=True)
def join(ctx: typer.Context, key: KeyArg, command_id: IdOption = None) -> None:
    """Make an account a Circles account with its own personal currency (CI1, CI4)."""
    submit(ctx, lambda s: (cm.CreateCirclesAccount(s.key(key).account), [key]), command_id)


@circles_app.command("claim")
def claim(ctx: typer.Context, key: KeyArg, command_id: IdOption = None) -> None:
    """Mint the income accrued since the last claim (CI2)."""
    submit(ctx, lambda s: (cm.ClaimIncome(s.key(key).account), [key]), command_id)


@circles_app.command("trust")
def trust(
    ctx: typer.Context,
    trustee: Annotated[str, typer.Argument(help="Whose currency to accept (account id or key name).")],
    keys: KeyOption,
    truster: Annotated[str | None, typer.Option(help="The trusting account if not the first key's (a group).")] = None,
    limit: Annotated[int, typer.Option(help="Percent limit (policy trust_limits).")] = 100,
    expires: Annotated[str | None, typer.Option(help="Expiry time, ISO 8601 (policy trust_expiry).")] = None,
    command_id: IdOption = None,
) -> None:
    """Trust an account or group (CI5); mutual trust is signed by both (give both keys)."""

    def build(s: Session) -> Submission:
        who = s.account(truster) if truster else s.key(keys[0]).account
        return cm.Trust(who, s.account(trustee), limit, parse_instant(expires) if expires else None), keys

    submit(ctx, build, command_id)


@circles_app.command("untrust")
def untrust(
    ctx: typer.Context,
    other: Annotated[str, typer.Argument(help="The other party (account id or key name).")],
    key: KeyArg,
    by: Annotated[str | None, typer.Option(help="The revoking account if not the key's (a group).")] = None,
    command_id: IdOption = None,
) -> None:
    """Revoke a trust, at once, from either side (CI6)."""

    def build(s: Session) -> Submission:
        who = s.account(by) if by else s.key(key).account
        return cm.Untrust(who, s.account(other)), [key]

    submit(ctx, build, command_id)


@circles_app.command("exchange")
def exchange(
    ctx: typer.Context,
    units: Annotated[int, typer.Argument(help="Minor units each side gives.")],
    keys: KeyOption,
    command_id: IdOption = None,
) -> None:
    """Two accounts that trust each other swap their own currencies 1:1 (CI8); give both keys."""

    def build(s: Session) -> Submission:
        if len(keys) != 2:
            raise InvalidInputError("an exchange needs the keys of both accounts: give -k twice", rule="CI8")
        return cm.Exchange(s.key(keys[0]).account, s.key(keys[1]).account, units), keys

    submit(ctx, build, command_id)


@circles_app.command("route")
def route(
    ctx: typer.Context,
    to: Annotated[str, typer.Argument(help="The receiver (account id or key name).")],
    sender: Annotated[str, typer.Option("--from", help="The sender (account id or key name).")],
    units: Annotated[int | None, typer.Argument(help="Amount to plan for; omit for the maximum.")] = None,
) -> None:
    """Query mode (CI9): the most that can flow and the plan of transfers; pays nothing."""
    with session(ctx, need_journal_key=False) as s:
        try:
            frm, dest = s.account(sender), s.account(to)
            plan = sc.router_for(s.store).route(frm, dest, units, s.clock.now())
            with s.store.read() as uow:
                money = amounts(uow)
        except CivicLedgerError as e:
            fail(ctx, e)

    def human(console: object) -> None:
        from civicledger.cli.output import console as out

        total = money(str(dest), plan.units)  # Circles currencies swap 1:1 (CI8): one amount
        out.print(
            f"can pay [bold]{total}[/] (maximum flow {money(str(dest), plan.max_flow)}) in {len(plan.legs)} transfer(s)"
        )
        for i, leg in enumerate(plan.legs, 1):
            out.print(f"  {i}. {leg.source} → {leg.target}: {money(leg.currency, leg.units)} of {leg.currency}")

    emit(ctx, {"sender": frm, "receiver": dest, **plan.to_wire()}, human)


@circles_app.command("explain")
def explain(
    ctx: typer.Context,
    to: Annotated[str, typer.Argument(help="The receiver (account id or key name).")],
    sender: Annotated[str, typer.Option("--from", help="The sender (account id or key name).")],
    units: Annotated[int | None, typer.Argument(help="Amount asked for, minor units; omit for the maximum.")] = None,
) -> None:
    """Why a payment can carry at most what it can (CI9): the maximum flow and the trusts and
    holdings of a minimum cut that limit it, at the journal's time."""
    with session(ctx, need_journal_key=False) as s:
        try:
            found = queries.explain_payment(s.store, s.account(sender), s.account(to), units, s.clock.now())
        except CivicLedgerError as e:
            fail(ctx, e)
    emit(ctx, found.to_wire(), explanation_printer(found))


@circles_app.command("pay")
def pay(
    ctx: typer.Context,
    to: Annotated[str, typer.Argument(help="The receiver (account id or key name).")],
    units: Annotated[int, typer.Argument(help="Minor units to pay.")],
    key: KeyArg,
    memo: Annotated[str, typer.Option()] = "",
    command_id: IdOption = None,
) -> None:
    """Pay through the trust graph (CI9): routed, checked and executed atomically."""

    def build(s: Session) -> Submission:
        return sc.router_for(s.store).pay_command(s.key(key).account, s.account(to), units, memo, s.clock.now()), [key]

    submit(ctx, build, command_id)


@circles_app.command("show")
def show(ctx: typer.Context, account: Annotated[str, typer.Argument(help="Account id or key name.")]) -> None:
    """An account's claimable income, reserve, trusts and holdings."""
    with session(ctx, need_journal_key=False) as s:
        try:
            who = s.account(account)
            with s.store.read() as uow:
                found = sc.summary(uow, who, journal_time(uow, s.clock.now()))
                money = amounts(uow)
        except CivicLedgerError as e:
            fail(ctx, e)

    def human(console: object) -> None:
        from civicledger.cli.output import console as out

        own = str(found.account)  # a Circles account's own currency has its account's id (CI1)
        table = Table(title=f"Circles account {found.account}", show_header=False)
        table.add_column("field")
        table.add_column("value")
        table.add_row("income to claim", money(own, found.claimable))
        table.add_row("reserve", money(own, found.reserve))
        table.add_row("trusts", "\n".join(found.trusts) or "-")
        table.add_row("trusted by", "\n".join(found.trusted_by) or "-")
        out.print(table)
        holdings = Table("currency", title="holdings")
        holdings.add_column("worth now", justify="right")
        for currency, units in sorted(found.holdings.items()):
            holdings.add_row(currency + (" (own)" if currency == own else ""), money(currency, units))
        out.print(holdings if found.holdings else "no holdings")

    emit(ctx, found.to_wire(), human)


@circles_app.command("demurrage")
def demurrage(ctx: typer.Context, key: KeyArg, command_id: IdOption = None) -> None:
    """Burn the demurrage due on the account's Circles holdings (circles-v2; from rule version 3 only
    what every movement would burn anyway, IN4)."""
    submit(ctx, lambda s: (cm.ApplyDemurrage(s.key(key).account), [key]), command_id)


@circles_app.command("invite")
def invite(
    ctx: typer.Context,
    inviter: Annotated[str, typer.Option("--inviter", help="The inviter's key (a Circles account).")],
    invitee: Annotated[str, typer.Option("--invitee", help="The invitee's key (an opened account).")],
    command_id: IdOption = None,
) -> None:
    """Open the invitee's Circles account: it receives the welcome bonus, the inviter burns the
    invitation cost of its own currency (CI15, circles-v2, rule version 3); both keys sign."""
    submit(
        ctx,
        lambda s: (cm.Invite(s.key(inviter).account, s.key(invitee).account), [inviter, invitee]),
        command_id,
    )


@group_app.command("create")
def group_create(
    ctx: typer.Context,
    group: Annotated[str, typer.Option("--group", help="The group account's key (an opened group account).")],
    owner: Annotated[str, typer.Option("--owner", help="The owner's key.")],
    command_id: IdOption = None,
) -> None:
    """Make an opened group account a Circles group with its own money (CI10)."""
    submit(ctx, lambda s: (cm.CreateGroup(s.key(group).account, s.key(owner).account), [group, owner]), command_id)


@group_app.command("add")
def group_add(
    ctx: typer.Context,
    group: Annotated[str, typer.Argument(help="The group (account id or key name).")],
    member: Annotated[str, typer.Argument(help="The member (account id or key name).")],
    key: KeyArg,
    command_id: IdOption = None,
) -> None:
    """The owner verifies a member (CI10)."""
    submit(ctx, lambda s: (cm.AddMember(s.account(group), s.account(member)), [key]), command_id)


@group_app.command("remove")
def group_remove(
    ctx: typer.Context,
    group: Annotated[str, typer.Argument(help="The group (account id or key name).")],
    member: Annotated[str, typer.Argument(help="The member (account id or key name).")],
    key: KeyArg,
    command_id: IdOption = None,
) -> None:
    """The owner excludes a member (CI10)."""
    submit(ctx, lambda s: (cm.RemoveMember(s.account(group), s.account(member)), [key]), command_id)


@group_app.command("convert")
def group_convert(
    ctx: typer.Context,
    group: Annotated[str, typer.Argument(help="The group (account id or key name).")],
    units: Annotated[int, typer.Argument(help="Minor units of one's own currency.")],
    key: KeyArg,
    command_id: IdOption = None,
) -> None:
    """Convert one's own currency into group money 1:1, irreversibly (CI11)."""
    submit(ctx, lambda s: (cm.Convert(s.key(key).account, s.account(group), units), [key]), command_id)


@group_app.command("exchange")
def group_exchange(
    ctx: typer.Context,
    from_group: Annotated[str, typer.Argument(help="The group whose money is given.")],
    to_group: Annotated[str, typer.Argument(help="The group whose money is received.")],
    units: Annotated[int, typer.Argument(help="Minor units.")],
    key: KeyArg,
    command_id: IdOption = None,
) -> None:
    """Swap one group's money for another's 1:1, where the second trusts the first (CI12)."""
    submit(
        ctx,
        lambda s: (cm.GroupExchange(s.key(key).account, s.account(from_group), s.account(to_group), units), [key]),
        command_id,
    )
