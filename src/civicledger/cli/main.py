"""Entry point of `civic`: the root app with every installed mechanism's command group attached.

Exit codes: 0 success; 1 verification failed; 2 invalid input (or usage); 3 not found;
4 refused by a rule; 5 signatures missing or invalid; 6 command id reused for another payload;
7 lost a race, retry; 8 storage unreachable. See civicledger/error_codes.py.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer

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


def normalise(args: Sequence[str]) -> list[str]:
    """Accept --json anywhere on the line, as every command offers it (it is a root option)."""
    args = list(args)
    if "--json" in args:
        args.remove("--json")
        args.insert(0, "--json")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    app(normalise(sys.argv[1:] if argv is None else argv), prog_name="civic")


if __name__ == "__main__":
    main()
