"""Entry point of `civic`: the root app with every installed mechanism's command group attached.

Exit codes: 0 success; 1 verification failed; 2 invalid input (or usage); 3 not found;
4 refused by a rule; 5 signatures missing or invalid; 6 command id reused for another payload;
7 lost a race, retry; 8 storage unreachable. See civicledger/error_codes.py.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer
import typer.main

from civicledger.cli import backup, core, demo, journal, keys, monitor, serve, sim, witness  # noqa: F401  (register commands)
from civicledger.cli.app import app
from civicledger.kernel.registry import installed, load


def add_mechanism_groups() -> None:
    """Each installed mechanism's command group, under the mechanism's name."""
    for mechanism in installed():
        if mechanism.cli is None:
            continue
        group = load(mechanism.cli)
        if not isinstance(group, typer.Typer):
            raise TypeError(f"{mechanism.cli} is not a Typer app")
        if not any(g.name == mechanism.name for g in app.registered_groups):
            app.add_typer(group, name=mechanism.name)


add_mechanism_groups()


GLOBAL_OPTIONS = {"--db": True, "--data-dir": True, "--keys": True, "--json": False}
"""The root's options (whether each takes a value), accepted anywhere on the line."""


def normalise(args: Sequence[str]) -> list[str]:
    """Move the root's options to the front, so ``civic verify --db x`` means ``civic --db x verify``.

    An option the command itself declares (``civic witness serve --db``: the witness's own
    database) stays the command's; nothing after ``--`` is moved."""
    args = list(args)
    front: list[str] = []
    rest: list[str] = []
    root = typer.main.get_command(app)
    command: object = root
    i = 0
    while i < len(args):
        token = args[i]
        if token == "--":
            rest.extend(args[i:])
            break
        name, has_value = token.partition("=")[0], "=" in token
        if name in GLOBAL_OPTIONS and (command is root or not _declares(command, name)):
            takes_value = GLOBAL_OPTIONS[name]
            front.append(token)
            if takes_value and not has_value and i + 1 < len(args):
                front.append(args[i + 1])
                i += 1
        else:
            subcommands = getattr(command, "commands", {})  # a group's (typer's own click)
            if token in subcommands:
                command = subcommands[token]
            rest.append(token)
        i += 1
    return front + rest


def _declares(command: object, option: str) -> bool:
    """Whether the command has an option of that name (typer builds on its own copy of click)."""
    return any(option in getattr(param, "opts", ()) for param in getattr(command, "params", ()))


def main(argv: Sequence[str] | None = None) -> None:
    app(normalise(sys.argv[1:] if argv is None else argv), prog_name="civic")


if __name__ == "__main__":
    main()
