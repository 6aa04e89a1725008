"""IN8: the rules of the code are versioned and move forward only.

An economy records the rule version it runs; the council moves it to a newer one by an entry that
names the version and when it starts. Nobody can move it backwards, into the past, or to a version
the release does not know, and whatever the schedule, the journal re-executes entry by entry under
the version in force at each entry's time, so it still verifies.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from civicledger.adapters.crypto import Ed25519Verifier
from civicledger.adapters.memory import MemoryStore
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.kernel import audit
from civicledger.kernel.economy import AdoptRules
from civicledger.kernel.errors import AuthorityError, InvalidInputError, RuleViolationError
from civicledger.kernel.ports import Store
from civicledger.kernel.rules import FIRST_RULES, LATEST_RULES
from civicledger.kernel.time import format_instant
from tests.conftest import T0
from tests.e2e.conftest import Civic

DAY = 86_400


def _rules(economy: ScriptedEconomy) -> tuple[tuple[int, int], ...]:
    info = economy.engine.economy()
    assert info is not None
    return info.rules


def test_in08_a_new_economy_runs_the_newest_rules_and_an_old_genesis_the_first(store: Store) -> None:
    assert _rules(ScriptedEconomy(store, start=T0)) == ((LATEST_RULES, T0),)
    old = ScriptedEconomy(MemoryStore(), start=T0, rules=FIRST_RULES)
    assert _rules(old) == ((FIRST_RULES, T0),)
    with old.store.read() as uow:
        genesis = next(uow.journal.scan()).entry.command
    assert "rules" not in genesis.payload  # a genesis of the first rules keeps the bytes it always had


def test_in08_the_council_moves_an_economy_forward_from_a_time_it_names(store: Store) -> None:
    economy = ScriptedEconomy(store, start=T0, rules=FIRST_RULES)
    starts = T0 + 30 * DAY
    economy.council_decision(AdoptRules(LATEST_RULES, starts), cid="adopt-2")
    info = economy.engine.economy()
    assert info is not None
    assert info.rules == ((FIRST_RULES, T0), (LATEST_RULES, starts))
    assert info.rules_at(starts - 1) == FIRST_RULES
    assert info.rules_at(starts) == LATEST_RULES
    economy.advance(31 * DAY)
    economy.person("alice")  # an entry under the new version
    assert audit.verify_store(economy.store, Ed25519Verifier(), MemoryStore).ok


def test_in08_nobody_moves_the_rules_backwards_into_the_past_or_alone(store: Store) -> None:
    economy = ScriptedEconomy(store, start=T0, rules=FIRST_RULES)
    economy.advance(DAY)
    past = economy.refused(AdoptRules(LATEST_RULES, T0), *economy.governors)
    assert isinstance(past, RuleViolationError) and past.rule == "IN8"
    unknown = economy.refused(AdoptRules(LATEST_RULES + 1, T0 + 2 * DAY), *economy.governors)
    assert isinstance(unknown, InvalidInputError) and unknown.rule == "IN8"
    alone = economy.refused(AdoptRules(LATEST_RULES, T0 + 2 * DAY), economy.governors[0])
    assert isinstance(alone, AuthorityError)
    economy.council_decision(AdoptRules(LATEST_RULES, T0 + 2 * DAY))
    again = economy.refused(AdoptRules(LATEST_RULES, T0 + 3 * DAY), *economy.governors)
    assert isinstance(again, RuleViolationError) and again.rule == "IN8"
    back = economy.refused(AdoptRules(FIRST_RULES, T0 + 3 * DAY), *economy.governors)
    assert isinstance(back, RuleViolationError) and back.rule == "IN8"
    assert _rules(economy) == ((FIRST_RULES, T0), (LATEST_RULES, T0 + 2 * DAY))


def test_in08_a_genesis_naming_an_unknown_rule_version_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="rule version 99"):
        ScriptedEconomy(MemoryStore(), start=T0, rules=99)


def test_in08_policy_show_names_the_rule_version_and_adopt_rules_moves_it(civic: Civic, tmp_path: Path) -> None:
    (tmp_path / "economy.toml").write_text('[economy]\nname = "Testville"\n')
    civic("init", "economy.toml", "--rules", "1")
    shown = civic.json("policy", "show")
    assert shown["rules"]["version"] == FIRST_RULES
    assert shown["rules"]["latest_known"] == LATEST_RULES
    assert shown["version"] == 1 and shown["policy"]["economy"]["name"] == "Testville"
    human = civic("policy", "show").stdout
    assert "Rule version 1 in force since" in human and "docs/upgrades.md" in human

    starts = format_instant(shown["effective_at"] + 365 * DAY)
    civic("policy", "adopt-rules", str(LATEST_RULES), "--starts", starts, "-k", "governor-1")
    shown = civic.json("policy", "show")
    assert shown["rules"]["version"] == FIRST_RULES  # not yet: it starts next year
    assert shown["rules"]["adopted"][-1]["version"] == LATEST_RULES
    refused = civic.json("policy", "adopt-rules", str(LATEST_RULES), "--starts", starts, "-k", "governor-1", check=None)
    assert refused["rule"] == "IN8"
    assert civic.json("verify")["ok"]
