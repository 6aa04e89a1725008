"""Tallies' demo chapter."""

from __future__ import annotations

from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.demo import chapter
from tests.fifth_mechanism.messages import Count


@chapter("Tallies: a person counts the trees they planted")
def tallies(demo: ScriptedEconomy) -> list[str]:
    receipt = demo.run(Count(demo.account("alice"), "trees", 3), "alice", cid="tallies-alice-trees")
    return [f"alice planted 3 trees: total {receipt.result['total']}"]
