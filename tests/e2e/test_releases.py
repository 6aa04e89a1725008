"""Journals outlive releases: what an earlier release wrote must still verify, and the demo must
write the same journal as it always has (X2).

``tests/fixtures/journals/demo-0.1.0.jsonl`` is the demo journal exported by release 0.1.0 (the
layout before one package per mechanism). ``demo-0.2.0.jsonl`` is the demo journal of release
0.2.0, under rule version 2. ``attacks-rules1.jsonl`` holds the IN attacks as rule version 1 accepted them
(``attacks_rules1.py`` wrote it). Their tree roots and state digests are pinned here: a change
to any rule, encoding or chapter that alters them must come as a new rule version instead.
"""

from __future__ import annotations

from pathlib import Path

from civicledger.adapters.crypto import Ed25519Verifier
from civicledger.adapters.memory import MemoryStore
from civicledger.kernel import audit
from tests.e2e.conftest import Civic
from tests.fixtures.journals import attacks_rules1

FIXTURES = Path(__file__).parent.parent / "fixtures" / "journals"
DEMO_0_1_0_ROOT = "a27542fa2e4729b73f93cba1e3ad07f6d4bb5b4ccfe4896bc04c5475e7d85f66"
DEMO_0_1_0_DIGEST = "1121bb9a42c0bb1ca2a656d26657503900f3000b8e093e6ee6ddcd70866d4200"
DEMO_0_2_0_ROOT = "e9e5dff272b655cece438606a7c9642245ea5b12334125ab6f4e40bc353bb7b3"
DEMO_0_2_0_DIGEST = "641ca592a7b57fabbd18b7ffd4c4dc0bf0afb2a114ded8c2d100cad73fa0b35b"
ATTACKS_RULES_1_ROOT = "eec004f72d2f251def615b114ed7efd8868f6056750e120522896c92cfcf3da5"


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


def test_in08_attacks_that_rule_version_1_accepted_still_verify(civic: Civic) -> None:
    """The IN attacks as version 1 let them through (inflated revenue, split orders, farmed
    participation, a policy raised afterwards, group money sent to its own group) stay in the
    journals that hold them: version 2 refuses them only from its start."""
    report = civic.json("verify", "--export", str(FIXTURES / "attacks-rules1.jsonl"))
    assert report["ok"], report
    assert report["entries"] == 190
    assert report["root"] == ATTACKS_RULES_1_ROOT


def test_in08_the_attacks_under_rule_version_1_write_the_same_journal_today() -> None:
    store = MemoryStore()
    attacks_rules1.build(store)
    report = audit.verify_store(store, Ed25519Verifier(), MemoryStore)
    assert report.ok
    assert report.root == ATTACKS_RULES_1_ROOT


def test_in08_demo_export_of_release_0_2_0_verifies_without_a_database(civic: Civic) -> None:
    report = civic.json("verify", "--export", str(FIXTURES / "demo-0.2.0.jsonl"))
    assert report["ok"], report
    assert report["entries"] == 187
    assert report["root"] == DEMO_0_2_0_ROOT


def test_in08_demo_under_rule_version_2_writes_the_same_journal_as_release_0_2_0(civic: Civic) -> None:
    """A change to what version 2 decides must come as version 3 instead."""
    report = civic.json("demo", "--rules", "2")["verify"]
    assert report["ok"]
    assert report["root"] == DEMO_0_2_0_ROOT
    assert report["replay_digest"] == DEMO_0_2_0_DIGEST
