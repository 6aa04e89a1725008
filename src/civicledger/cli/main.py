"""Entry point of `civic`: the root app with every mechanism's commands attached.

Exit codes: 0 success; 1 verification failed; 2 invalid input (or usage); 3 not found;
4 refused by a rule; 5 signatures missing or invalid; 6 command id reused for another payload;
7 lost a race, retry; 8 storage unreachable. See civicledger/error_codes.py.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from civicledger.cli import circles, core, creditism, credits, demo, gears, journal, serve, sim  # noqa: F401  (register commands)
from civicledger.cli.app import app


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
