"""``civic tallies``: add to a tally, show an account's tallies."""

from __future__ import annotations

from typing import Annotated

import typer

from civicledger.cli.app import KeyOption, session, submit
from civicledger.cli.output import emit
from tests.fifth_mechanism import queries
from tests.fifth_mechanism.messages import Count

tallies_app = typer.Typer(help="Tallies (a test mechanism, TA1).", no_args_is_help=True)


@tallies_app.command("count")
def count(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument()],
    by: Annotated[int, typer.Argument()],
    key: KeyOption,
) -> None:
    submit(ctx, lambda s: (Count(s.account(key[0]), name, by), key), None)


@tallies_app.command("show")
def show(ctx: typer.Context, account: Annotated[str, typer.Argument()]) -> None:
    with session(ctx, need_journal_key=False) as s:
        emit(ctx, queries.tallies_of(s.store, str(s.account(account))))
