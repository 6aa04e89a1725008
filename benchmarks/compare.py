"""Run benchmarks of two source trees side by side, in the same minutes, and compare their figures.

Each benchmark script prints one JSON object per line. This runs every named benchmark alternately
from a base tree (an earlier commit checked out with ``git worktree add``, with its own virtual
environment) and from this tree, ``--rounds`` times each, so that both see the same load; then, for
every figure that is a time (``seconds``, ``*_ms``, ``*_us...``) or a rate (``per_s``, ``*_per_s``),
it prints the median of each tree and how much faster (> 1) or slower (< 1) this tree is.

    git worktree add ../base <commit> && (cd ../base && python3 -m venv .venv && .venv/bin/pip install -e '.[test]')
    .venv/bin/python benchmarks/compare.py --base ../base --rounds 3 -- ledger api sim --quick

Lines that are not figures (sizes, seeds, notes) identify a record: two records are the same
measurement when their text fields and sizes agree.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent.parent
LOWER_IS_BETTER = ("seconds", "_s", "_ms", "_us", "_us_per_transfer", "_mb")
HIGHER_IS_BETTER = ("per_s", "per_second", "_per_s")


def direction(name: str) -> int:
    """+1 when a larger figure is better, -1 when a smaller one is, 0 when it is not a figure of speed."""
    if name.startswith(("target", "baseline", "load")) or "baseline" in name or name.endswith("_per_s_target"):
        return 0
    if name.endswith(HIGHER_IS_BETTER):
        return 1
    if name.endswith(LOWER_IS_BETTER) or name.startswith("seconds") or name in {"seconds", "cpu_seconds"}:
        return -1
    return 0


def identity(record: dict[str, Any]) -> str:
    keep = {k: v for k, v in record.items() if isinstance(v, str | bool) or k in IDENTIFYING}
    return json.dumps(keep, sort_keys=True)


IDENTIFYING = {"batch", "persons", "steps", "transfers", "assets", "companies", "pairs", "workers", "clients", "items"}


def run(tree: Path, python: str, benchmark: str, args: list[str]) -> list[dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = f"{tree / 'src'}{os.pathsep}{tree}"
    done = subprocess.run(
        [python, str(tree / "benchmarks" / f"{benchmark}.py"), *args],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{benchmark} in {tree} failed:\n{done.stderr[-2000:]}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", type=Path, required=True, help="the base tree (a git worktree)")
    parser.add_argument("--base-python", default=None, help="its interpreter (default: BASE/.venv/bin/python)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("benchmarks", nargs="+", help="benchmark names, then -- and their arguments")
    args, extra = parser.parse_known_args()
    names = [b for b in args.benchmarks if not b.startswith("-")]
    passed = [b for b in args.benchmarks if b.startswith("-")] + [a for a in extra if a != "--"]
    base = args.base.resolve()
    base_python = args.base_python or str(base / ".venv" / "bin" / "python")
    for benchmark in names:
        seen: dict[str, dict[str, dict[str, list[float]]]] = {}
        for _ in range(args.rounds):
            for label, tree, python in (("base", base, base_python), ("this", HERE, sys.executable)):
                for record in run(tree, python, benchmark, passed):
                    print(json.dumps({"tree": label, "benchmark": benchmark, **record}, sort_keys=True), flush=True)
                    figures = seen.setdefault(identity(record), {})
                    for key, value in record.items():
                        if isinstance(value, int | float) and not isinstance(value, bool) and direction(key):
                            figures.setdefault(key, {}).setdefault(label, []).append(float(value))
        for ident, figures in seen.items():
            for key, by_tree in figures.items():
                if len(by_tree) < 2 or not by_tree["base"] or not by_tree["this"]:
                    continue
                before, after = statistics.median(by_tree["base"]), statistics.median(by_tree["this"])
                if before == 0 or after == 0:
                    continue
                speed = after / before if direction(key) > 0 else before / after
                print(
                    json.dumps(
                        {
                            "compare": benchmark,
                            "record": json.loads(ident),
                            "figure": key,
                            "base_median": before,
                            "this_median": after,
                            "this_vs_base_speed": round(speed, 3),
                            "rounds": args.rounds,
                        },
                        sort_keys=True,
                    ),
                    flush=True,
                )


if __name__ == "__main__":
    main()
