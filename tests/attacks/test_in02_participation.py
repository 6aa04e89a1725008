"""IN2: participation cannot be farmed (SC5, X8), played through the engine and the CLI.

Each attack runs twice where it makes the point: under rule version 1, where it worked (the
reproduction), and under rule version 2, where it gains nothing beyond the per-kind cap. Under
version 2 one kind of participation never lifts a credit to the top grade.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from civicledger.adapters.crypto import Ed25519Verifier
from civicledger.adapters.memory import MemoryStore
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.cli.main import app, normalise
from civicledger.kernel import audit
from civicledger.kernel.identity import AccountId
from civicledger.kernel.policy import policy_to_mapping
from civicledger.kernel.time import DAY, MONTH, YEAR
from civicledger.mechanisms.credits import commands as cc
from civicledger.mechanisms.credits import rules as credit_rules
from civicledger.mechanisms.credits.policy import CreditsPolicy
from civicledger.mechanisms.credits.values import Adjustment
from civicledger.mechanisms.gears import commands as g
from civicledger.mechanisms.gears.values import Claim
from tests.conftest import T0
from tests.e2e.conftest import Civic
from tests.integration.test_credits_lifecycle import Town, make_town
from tests.integration.test_gears_flow import company, pass_test, setup_gears

AFTER_TEST = CreditsPolicy().vote_min_seconds_after_test + 1


def _town(rules: int) -> Town:
    e = ScriptedEconomy(MemoryStore(), start=T0, label="civicledger test key", rules=rules)
    town = make_town(e, born_years_ago=30)  # 30,000 credits, as in the reported attack
    setup_gears(e, test_pass_mark=1, test_questions=1)
    return town


def _firms(town: Town, n: int, prefix: str = "co") -> list[AccountId]:
    return [company(town.e, f"{prefix}{i}", questions=1) for i in range(n)]


def _vote(town: Town, voter: str, firm: AccountId, value: int, wait: int = AFTER_TEST) -> Any:
    pass_test(town.e, voter, firm)
    town.e.advance(wait)
    return town.e.run(g.CastVote(town.e.account(voter), firm, value), voter)


def _reported(receipt: Any) -> dict[str, Any]:
    (event,) = [ev for ev in receipt.events if ev["type"] == "credits.participation_reported"]
    return event  # type: ignore[no-any-return]


def _top(town: Town, name: str, at: int | None = None) -> int:
    return max(town.grades(name, at))


def _verified(town: Town) -> None:
    report = audit.verify_store(town.e.store, Ed25519Verifier(), MemoryStore)
    assert report.ok, report.reason


def test_in02_thirty_neutral_votes_in_a_day_lift_grades_under_v1_and_nothing_under_v2() -> None:
    results = {}
    for rules in (1, 2):
        town = _town(rules)
        before = town.grades("alice")
        for firm in _firms(town, 30):
            _vote(town, "alice", firm, 0, wait=0)  # neutral, at once after the test, never judged before
        results[rules] = (before, town.grades("alice"))
        _verified(town)
    before, after = results[1]
    assert before == {2: 30_000}
    assert after.get(5, 0) >= 29_000  # the reported attack: nearly everything at the top grade
    before, after = results[2]
    assert before == {2: 30_000}
    assert set(after) == {2}  # votes that change nothing earn nothing (only accrual during the draws' hours)


def test_in02_real_judgements_for_a_year_never_reach_the_top_grade_under_v2() -> None:
    """A farmer casts thirty real (non-neutral) votes on the first day, then three on new companies
    every month for the rest of the year."""
    tops: dict[int, list[int]] = {}
    counted: dict[int, int] = {}
    for rules in (1, 2):
        town = _town(rules)
        firms = iter(_firms(town, 63))
        tops[rules] = []
        counted[rules] = 0
        for month in range(12):
            for _ in range(30 if month == 0 else 3):
                receipt = _vote(town, "alice", next(firms), 1)
                if rules == 2:
                    counted[rules] += int(_reported(receipt)["counted"])
            tops[rules].append(_top(town, "alice"))
            town.e.advance(MONTH)
        _verified(town)
    assert tops[1][0] == 5  # rule version 1: the top grade on the first day
    assert max(tops[2]) <= 4 and counted[2] == CreditsPolicy().participation_cap  # the yearly cap


def test_in02_a_vote_counts_once_per_company_and_term_recasts_count_nothing() -> None:
    town = _town(2)
    e = town.e
    (firm,) = _firms(town, 1)
    first = _vote(town, "alice", firm, 1)
    assert _reported(first)["counted"] and _reported(first)["term"] == first.result["expires_at"] - YEAR
    after_first = town.grades("alice")
    for value in (-1, 1, 0, 1):  # changes within the term
        receipt = e.run(g.CastVote(town.alice, firm, value), "alice")
        assert receipt.result["change"] and not _reported(receipt)["counted"]
        assert "re-cast" in _reported(receipt)["note"]
    assert town.grades("alice") == after_first
    e.advance(YEAR)  # the term is over: a new term counts again
    again = _vote(town, "alice", firm, -1)
    assert _reported(again)["counted"] and not again.result["change"]
    _verified(town)


def test_in02_a_vote_within_seconds_of_the_test_counts_nothing() -> None:
    town = _town(2)
    quick, slow = _firms(town, 2)
    fast = _vote(town, "alice", quick, 1, wait=5)
    assert not _reported(fast)["counted"] and "after the test" in _reported(fast)["note"]
    assert town.grades("alice") == {2: 30_000}
    assert _reported(_vote(town, "alice", slow, 1))["counted"]


def test_in02_policy_may_give_null_votes_an_effect() -> None:
    """IN2: a vote that changes nothing earns what policy says: the kind ``null_vote_kind``."""
    table = policy_to_mapping(CreditsPolicy())["participation"]
    table["gears_null_vote"] = {"steps": 1, "portion_percent": 1, "duration": 30 * DAY}
    policy = {"economy": {"name": "Null votes"}, "credits": {"participation": table}}
    e = ScriptedEconomy(MemoryStore(), start=T0, label="civicledger test key", policy=policy)
    town = make_town(e, born_years_ago=30)
    setup_gears(e, test_pass_mark=1, test_questions=1)
    (firm,) = _firms(town, 1)
    receipt = _vote(town, "alice", firm, 0)
    assert _reported(receipt)["counted"] and _reported(receipt)["kind"] == "gears_null_vote"
    assert town.grades("alice") == {2: 29_700, 3: 300}


def test_in02_direct_democracy_ballots_are_capped_per_year() -> None:
    """Three ballots a day (SC5's daily cap) for ten days: version 1 reaches the top grade."""
    key = hashlib.sha256(b"b,c,a").hexdigest()
    tops, counted = {}, {}
    for rules in (1, 2):
        town = _town(rules)
        e = town.e
        counted[rules] = 0
        for day in range(10):
            for i in range(3):
                ballot = f"b{day}-{i}"
                e.run(cc.OpenBallot(ballot, "Question?", key, town.tess), "tess")
                receipt = e.run(cc.TakePart(ballot, town.alice, 300, key), "alice", "tess")
                counted[rules] += int(receipt.result.get("counted", True))
            e.advance(DAY)
        tops[rules] = _top(town, "alice")
        _verified(town)
    assert tops[1] == 5 and counted[1] == 30
    assert tops[2] <= 4 and counted[2] == 2  # two raises active at once, the rest count nothing


def test_in02_recorded_participation_beyond_the_cap_is_refused() -> None:
    tops = {}
    for rules in (1, 2):
        town = _town(rules)
        e = town.e
        for i in range(3):
            record = cc.RecordParticipation(town.alice, "citizens_council", f"minutes {i}", technocrat=town.tess)
            if rules == 2 and i == 2:
                err = town.refused(record, "tess")
                assert err.rule == "IN2" and "top grade" in err.message
            else:
                e.run(record, "tess")
        tops[rules] = town.grades("alice")
        _verified(town)
    assert tops[1] == {5: 30_000}
    assert tops[2] == {4: 30_000}


def test_in02_whistleblowing_challenges_are_capped() -> None:
    """Opening challenges on many statements: each was +1 on half the balance for a year."""
    tops, counted = {}, {}
    for rules in (1, 2):
        town = _town(rules)
        e = town.e
        (firm,) = _firms(town, 1, prefix="acme")
        counted[rules] = 0
        for i in range(1, 7):
            e.run(g.PublishStatement(firm, i, f"Statement {i} about our widgets."), "acme0")
            challenge = g.ChallengeStatement(town.alice, firm, i, Claim.FALSE, "doubtful")
            if rules >= 2 and i > 2:  # GR8/IN7: undecided challenges hold the whistleblower's two slots
                assert e.refused(challenge, "alice").rule == "GR8"
                continue
            receipt = e.run(challenge, "alice")
            counted[rules] += sum(1 for ev in receipt.events if ev["type"] == "credits.grade_adjusted")
        tops[rules] = _top(town, "alice")
        _verified(town)
    assert tops[1] == 5
    assert tops[2] <= 4 and counted[2] == 2


def test_in02_vote_farming_through_the_cli_counts_only_within_the_cap(civic: Civic, tmp_path: Path) -> None:
    (tmp_path / "economy.toml").write_text(
        '[economy]\nname = "Farmville"\n\n[gears]\ntest_questions = 1\ntest_pass_mark = 1\n\n'
        "[credits]\nvote_min_seconds_after_test = 0\n\n[journal]\ndraw_delay = 0\n"
    )
    civic("init", "economy.toml")
    runner = CliRunner()

    def run(*args: str, check: int = 0) -> Any:
        result = runner.invoke(app, normalise(["--json", *args]), env=civic.env, catch_exceptions=False)
        assert result.exit_code == check, result.output
        return json.loads(result.stdout)

    firms = [f"firm{i}" for i in range(5)]
    ids = {n: run("keys", "new", n)["account"] for n in ("fund", "ann", *firms)}
    run("account", "open", "--key", "fund", "--kind", "fund")
    run("account", "open", "--key", "ann")
    run("account", "attest", ids["ann"], "--human", "evidence-of-ann")
    run("credits", "enroll", "ann", "--born", "1990-01-01")
    run("ledger", "create-currency", "xi", "--key", "fund", "--name", "ethicap")
    run("gears", "setup", "--fund", "fund", "-k", "governor-1")
    counted = []
    for i, firm in enumerate(firms):
        run("account", "open", "--key", firm, "--kind", "organization", "--name", firm)
        run("gears", "register", "-k", firm)
        asked = run(
            "gears",
            "question",
            "What do we make?",
            "--choice",
            "bread",
            "--choice",
            "widgets",
            "--answer",
            "1",
            "-k",
            firm,
        )
        run("gears", "approve", firm, str(asked["result"]["question"]), "-k", "governor-1")  # IN3
        run("gears", "test", "start", firm, "-k", "ann")
        if not run("gears", "test", "draw", firm, "--voter", "ann", "-k", "ann")["result"]["drawn"]:  # IN6
            run("gears", "test", "draw", firm, "--voter", "ann", "-k", "ann")
        run("gears", "test", "answer", firm, "1", "-k", "ann")
        vote = run("gears", "vote", firm, "neutral" if i == 0 else "beneficial", "-k", "ann")
        (reported,) = [ev for ev in vote["events"] if ev["type"] == "credits.participation_reported"]
        counted.append(reported["counted"])
    assert counted == [False, True, True, False, False]  # neutral on a new company; then two raises at once
    explained = civic.json("credits", "explain", ids["ann"])
    assert max(int(g) for g in explained["by_grade"]) == 3
    assert civic.json("verify")["ok"]


# The pure rules behind the caps ------------------------------------------------------------------


def _adj(i: int, start: int, days: int, steps: int = 1, kind: str = "gears_vote") -> Adjustment:
    return Adjustment(f"{i:010d}.0", start, start + days * DAY, steps, 100, True, kind)


def test_in02_cap_refusal_bounds_the_year_and_the_steps_active_at_once() -> None:
    p = CreditsPolicy()
    now = 2_000_000_000
    assert credit_rules.cap_refusal("gears_vote", 1, [], now, p) is None
    two_active = [_adj(1, now - DAY, 90), _adj(2, now - 2 * DAY, 90)]
    assert "top grade" in (credit_rules.cap_refusal("gears_vote", 1, two_active, now, p) or "")
    assert credit_rules.cap_refusal("gears_judgement", 1, two_active, now, p) is None  # another kind
    ended = [_adj(i, now - (100 + i) * DAY, 90) for i in range(4)]  # four this year, none active
    assert "rolling year" in (credit_rules.cap_refusal("gears_vote", 1, ended, now, p) or "")
    assert credit_rules.cap_refusal("gears_vote", 1, ended[:3], now, p) is None
    old = [_adj(i, now - YEAR - i * DAY, 90) for i in range(4)]  # a year ago: no longer counted
    assert credit_rules.cap_refusal("gears_vote", 1, old, now, p) is None
    assert credit_rules.cap_refusal("risky_work", 2, [_adj(1, now - DAY, 365, 2, "risky_work")], now, p) is not None
    assert credit_rules.cap_refusal("infraction", -1, two_active, now, p) is None  # penalties are never capped
    per_kind = CreditsPolicy(participation_caps={"gears_vote": 1})
    assert credit_rules.cap_refusal("gears_vote", 1, [_adj(1, now - 100 * DAY, 90)], now, per_kind) is not None


def test_in02_null_vote_reason_names_votes_that_change_nothing() -> None:
    p = CreditsPolicy()
    real = {"value": 1, "recast": False, "previous": None, "seconds_since_test": 600}
    assert credit_rules.null_vote_reason(real, p) is None
    assert credit_rules.null_vote_reason({**real, "recast": True}, p) is not None
    assert credit_rules.null_vote_reason({**real, "value": 0}, p) is not None
    assert credit_rules.null_vote_reason({**real, "value": 0, "previous": 0}, p) is not None
    assert credit_rules.null_vote_reason({**real, "value": 0, "previous": -1}, p) is None  # a changed judgement
    assert credit_rules.null_vote_reason({**real, "seconds_since_test": 59}, p) is not None
