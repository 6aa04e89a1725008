"""`civic journal`: entries, signed tree heads, inclusion and consistency proofs (X2)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from civicledger.cli.app import NO_ECONOMY, app, session
from civicledger.cli.output import emit, fail
from civicledger.kernel import audit
from civicledger.kernel.errors import CivicLedgerError, NotFoundError

journal_app = typer.Typer(help="The public journal: entries, tree heads and proofs (X2).", no_args_is_help=True)
app.add_typer(journal_app, name="journal")


@journal_app.command("head")
def head(ctx: typer.Context) -> None:
    """The newest signed tree head."""
    with session(ctx, need_journal_key=False) as s, s.store.read() as uow:
        signed = uow.journal.latest_signed_head()
    if signed is None:
        fail(ctx, NotFoundError("the journal is empty; `civic init` writes its first entry", rule="X2"))
    emit(ctx, signed.to_wire())


@journal_app.command("show")
def show(ctx: typer.Context, seq: Annotated[int, typer.Argument(help="Entry number, from 0.")]) -> None:
    """One entry with its inclusion proof against the newest signed tree head."""
    with session(ctx, need_journal_key=False) as s:
        try:
            data = audit.inclusion(s.store, seq)
        except CivicLedgerError as e:
            fail(ctx, e)
    emit(ctx, data, lambda c: c.print_json(json.dumps(data)))


@journal_app.command("consistency")
def consistency(
    ctx: typer.Context,
    first: Annotated[int, typer.Argument(help="Size of the earlier signed tree.")],
    second: Annotated[int | None, typer.Argument(help="Size of the later one (default: newest).")] = None,
) -> None:
    """Proof that an earlier signed tree is a prefix of a later one."""
    with session(ctx, need_journal_key=False) as s:
        try:
            data = audit.consistency(s.store, first, second)
        except CivicLedgerError as e:
            fail(ctx, e)
    emit(ctx, data, lambda c: c.print_json(json.dumps(data)))


@journal_app.command("vkey")
def vkey(ctx: typer.Context) -> None:
    """The journal key as a C2SP verifier key (its name is the checkpoints' origin)."""
    from civicledger.cli.app import settings_of
    from civicledger.kernel import state
    from civicledger.kernel.checkpoint import note_key

    with session(ctx, need_journal_key=False) as s, s.store.read() as uow:
        info = state.economy_info(uow)
    if info is None:
        fail(ctx, NotFoundError(NO_ECONOMY, rule="X1"))
    origin = settings_of(ctx).origin or info.id
    try:
        text = note_key(origin, bytes.fromhex(info.journal_key)).text()
    except CivicLedgerError as e:
        fail(ctx, e)
    emit(ctx, {"origin": origin, "vkey": text}, lambda c: c.print(text, soft_wrap=True, highlight=False))
