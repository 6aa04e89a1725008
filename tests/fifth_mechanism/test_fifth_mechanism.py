"""A mechanism from outside the package plugs in through one ``Mechanism`` object (docs/architecture.md):
the engine runs its command and its rule, ``verify`` and ``rebuild`` replay it, the CLI gains its
group, the API its endpoint and the pages its card, with no line of the kernel or of the four
mechanisms changed. It runs in a process of its own so that the rest of the suite never sees it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent.parent


def test_a_fifth_mechanism_runs_through_engine_verify_cli_and_http(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIVIC_")}
    done = subprocess.run(
        [sys.executable, "-m", "tests.fifth_mechanism.scenario", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["installed"] == ["gears", "circles", "credits", "creditism", "tallies"]
    assert seen["engine_total"] == 3
    assert seen["refused_rule"] == "TA1"  # the mechanism's own rule, refused through the engine
    assert seen["after_policy"] == 9  # its policy section, changed by the council through the kernel
    assert seen["verify_ok"] and seen["rebuild_same"]
    assert seen["cli_count"] == [0, {"total": 2}]
    assert seen["cli_show"] == [0, {"hours": 2, "trees": 9}]
    assert seen["cli_verify"] == [0, True]
    assert seen["http_post"] == [200, {"total": 10}]
    assert seen["http_refused"] == [409, "TA1"]
    assert seen["http_read"] == [200, {"hours": 2, "trees": 10}]
    assert seen["openapi_has_route"] and seen["page_card"]
    assert seen["final_verify"][0] and seen["final_verify"][1] >= 8
