"""The `civic` command line: Typer commands, Rich output, ``--json`` on every command."""
