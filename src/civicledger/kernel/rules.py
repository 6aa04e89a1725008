"""The versions of the rules of the code (IN8).

A journal is forever, and the code that re-executes it changes. Every change to what a handler
decides is made under a new rule version: an economy records the version it runs (its genesis, then
``economy.adopt_rules`` entries of its council naming a version and when it starts), and each entry
re-executes under the version in force at its time. Code never edits what an earlier version
decides; it adds a branch for the new one.
"""

from __future__ import annotations

FIRST_RULES = 1
"""The rules every release up to 0.1 ran; a genesis that names no version runs these."""

LATEST_RULES = 3
"""What a new economy starts with."""

RULE_VERSIONS: dict[int, str] = {
    1: "the seed rules as first released (0.1)",
    2: "integrity: IN1-IN3 and IN5-IN10 (settled-sales coop credits, participation caps, curated "
    "question banks, per-position pre-order prices, delayed draws, deadlines, no black holes, "
    "one meaning per message); policy changes apply forward only (X7)",
    3: "Circles as v1 and v2 run it (CI15, IN4): v2 demurrage is a property of every holding, "
    "discounted by 0.93^(1/365.25) a day as the v2 contracts do, back-claimed income discounted by "
    "its age, invitations; v1's 90-day issuance timeout; personal data stays off the public journal (IN11): "
    "identity evidence, persons' names, infraction evidence and appeal grounds travel as salted "
    "references, and a person's off-journal data can be erased",
}


def describe(version: int) -> str:
    return RULE_VERSIONS.get(version, "unknown to this release")
