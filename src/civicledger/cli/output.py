"""Printing results: Rich for people, one JSON document for programs (``--json``)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NoReturn, TypedDict

import typer
from rich.console import Console

from civicledger.error_codes import exit_code
from civicledger.kernel.errors import CivicLedgerError, PolicyFileError
from civicledger.kernel.explain import Explanation
from civicledger.kernel.ledger import Currency
from civicledger.kernel.ports import UnitOfWork

console = Console()
err_console = Console(stderr=True)


@dataclass(frozen=True, slots=True)
class Amounts:
    """Amounts for people: major units with the currency's symbol, from its record (X3).

    Only tables use it; ``--json`` keeps the exact minor units."""

    currencies: Mapping[str, Currency]

    def __call__(self, currency: str, units: int) -> str:
        found = self.currencies.get(currency)
        return found.format(units) if found is not None else f"{units:,} minor units of {currency}"


def amounts(uow: UnitOfWork) -> Amounts:
    """The formatter of every currency of the store (read inside the caller's unit of work)."""
    return Amounts({c.id: c for c in uow.ledger.currencies()})


def journal_time(uow: UnitOfWork, now: int) -> int:
    """When a read is evaluated by default: the clock, never before the journal's newest entry
    (X4), as the server's pages do, so a query agrees with the page that shows the same journal,
    even a journal dated after the wall clock. Commands with ``--at`` use it when none is given."""
    return max(now, uow.journal.head().time)


def emit(ctx: typer.Context, data: object, human: Callable[[Console], None] | None = None) -> None:
    """Print data as JSON when --json was given, else call human() (or pretty-print data)."""
    if json_mode(ctx):
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    elif human is not None:
        human(console)
    else:
        console.print(data)


def json_mode(ctx: typer.Context) -> bool:
    root = ctx.find_root()
    return bool(root.obj and root.obj.get("json"))


class _Refusal(TypedDict, total=False):
    error: str
    rule: str
    message: str
    problems: list[_Problem]


class _Problem(TypedDict):
    line: int | None
    problem: str


def fail(ctx: typer.Context, error: CivicLedgerError) -> NoReturn:
    """Report a refusal (which rule, why) and exit with the documented code."""
    body: _Refusal = {"error": type(error).__name__, "rule": error.rule, "message": error.message}
    if isinstance(error, PolicyFileError):
        body["problems"] = [{"line": line, "problem": text} for line, text in error.problems]
    if json_mode(ctx):
        sys.stdout.write(json.dumps(body, indent=2, sort_keys=True) + "\n")
    else:
        err_console.print(f"[bold red]refused[/] by rule [bold]{error.rule}[/]: {error.message}")
        for problem in body.get("problems", []):
            where = f"line {problem['line']}" if problem["line"] else "file"
            err_console.print(f"  {where}: {problem['problem']}")
    raise typer.Exit(exit_code(error))


def explanation_printer(found: Explanation) -> Callable[[Console], None]:
    """How ``civic <mechanism> explain ...`` prints an explanation for people: the question, the
    inputs, the steps and the result, amounts in major units (``--json`` keeps minor units)."""

    def human(_: Console) -> None:
        from rich.table import Table

        from civicledger.kernel.time import format_instant

        console.print(f"[bold]{found.question}[/] {found.subject} at {format_instant(found.at)} ({found.rule})")
        for title, figures in (("inputs", found.inputs), ("steps", found.steps)):
            table = Table(title=title, title_justify="left")
            for col in ("name", "value", "how" if title == "steps" else "meaning", "rule"):
                table.add_column(col, justify="right" if col == "value" else "left")
            for f in figures:
                how = f"{f.formula}: {f.meaning}" if f.formula and title == "steps" else f.meaning
                table.add_row(f.name, f.shown(), how, f.rule)
            console.print(table)
        console.print(f"[bold]{found.result.name} = {found.result.shown()}[/] ({found.result.meaning})")
        for note in found.notes:
            console.print(f"- {note}")

    return human
