"""Bad input (issue point 10): each refusal names its rule, says why, and writes nothing."""

from __future__ import annotations

from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.kernel.errors import InvalidInputError, NotFoundError, RuleViolationError
from civicledger.kernel.identity import AccountKind
from civicledger.kernel.time import WEEK
from civicledger.mechanisms.gears import commands as g
from civicledger.mechanisms.gears.values import Claim, Verdict
from tests.integration.test_gears_flow import XI, company, fund_buyer, pass_test, refused_cleanly, setup_gears


def test_gr02_gr03_gr04_gr08_gr01_bad_input_is_refused_with_its_rule_and_nothing_written(
    economy: ScriptedEconomy,
) -> None:
    setup_gears(economy)
    firm = company(economy, "acme")
    for i in range(1, 21):
        economy.run(g.PublishStatement(firm, i, f"statement {i}"), "acme")
    for name in ("vic", "j1", "j2", "j3"):
        economy.person(name)
    vic = economy.account("vic")
    cases: list[tuple[object, tuple[str, ...], type, str, str]] = [
        (g.PublishStatement(firm, 21, "a 21st statement"), ("acme",), RuleViolationError, "GR2", "at most 20"),
        (g.PublishStatement(firm, 5, "x" * 201), ("acme",), InvalidInputError, "GR2", "at most 200 characters"),
        (g.CastVote(vic, firm, 1), ("vic",), RuleViolationError, "GR3", "passed"),
    ]
    for cmd, signers, kind, rule, words in cases:
        error = refused_cleanly(economy, cmd, *signers)
        assert isinstance(error, kind) and error.rule == rule and words in error.message, error

    pass_test(economy, "vic", firm)
    error = refused_cleanly(economy, g.CastVote(vic, firm, 2), "vic")
    assert isinstance(error, InvalidInputError) and error.rule == "GR4" and "+1, 0 or -1" in error.message

    for _ in range(2):  # two unsuccessful challenges
        ch = economy.run(g.ChallengeStatement(vic, firm, 1, Claim.FALSE), "vic").result["challenge"]
        for judge in ("j1", "j2", "j3"):
            economy.run(g.JudgeChallenge(economy.account(judge), ch, Verdict.ACCURATE), judge)
        economy.advance(2 * WEEK)
        economy.run(g.CloseChallenge(ch, vic), "vic")
    error = refused_cleanly(economy, g.ChallengeStatement(vic, firm, 2, Claim.MISLEADING), "vic")
    assert isinstance(error, RuleViolationError) and error.rule == "GR8" and "2 unsuccessful" in error.message

    fund_buyer(economy, "buyer", 1_000)
    stranger = economy.open("stranger", AccountKind.ORGANIZATION)
    error = refused_cleanly(economy, g.SettleSale(economy.account("buyer"), stranger, 100, XI), "buyer", "stranger")
    assert isinstance(error, NotFoundError) and error.rule == "GR1" and "not a company" in error.message
