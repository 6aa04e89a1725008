"""Journals outlive releases: what an earlier release wrote must still verify, and the demo must
write the same journal as it always has (X2).

``tests/fixtures/journals/demo-0.1.0.jsonl`` is the demo journal exported by release 0.1.0 (the
layout before one package per mechanism). Its tree root and state digest are pinned here: a change
to any rule, encoding or chapter that alters them must come as a new rule version instead.
"""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import Civic

FIXTURES = Path(__file__).parent.parent / "fixtures" / "journals"
DEMO_0_1_0_ROOT = "a27542fa2e4729b73f93cba1e3ad07f6d4bb5b4ccfe4896bc04c5475e7d85f66"
DEMO_0_1_0_DIGEST = "1121bb9a42c0bb1ca2a656d26657503900f3000b8e093e6ee6ddcd70866d4200"


def test_x02_demo_export_of_release_0_1_0_verifies_without_a_database(civic: Civic) -> None:
    report = civic.json("verify", "--export", str(FIXTURES / "demo-0.1.0.jsonl"))
    assert report["ok"], report
    assert report["entries"] == 164
    assert report["root"] == DEMO_0_1_0_ROOT


def test_in08_demo_under_rule_version_1_writes_the_same_journal_as_release_0_1_0(civic: Civic) -> None:
    report = civic.json("demo", "--rules", "1")["verify"]
    assert report["ok"]
    assert report["root"] == DEMO_0_1_0_ROOT
    assert report["replay_digest"] == DEMO_0_1_0_DIGEST
