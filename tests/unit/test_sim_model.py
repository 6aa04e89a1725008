"""The simulator: scenarios checked whole, one generator per run, conservation, CI14."""

from __future__ import annotations

import tomllib
from typing import Any

import numpy as np
import pytest

from civicledger.adapters.policy_file import locate
from civicledger.mechanisms.circles.policy import CirclesPolicy
from civicledger.sim import Model, ScenarioError, grid, parse_scenario, run
from civicledger.sim.behaviours import REGISTRY, behaviour

SMALL: dict[str, Any] = {
    "scenario": {"steps": 30, "seeds": [1, 2]},
    "population": {
        "persons": 400,
        "companies": 8,
        "groups": 2,
        "sybils": 60,
        "sybil_join_step": 3,
        "sybil_attack_edges": 6,
    },
    "network": {"formation_weeks": 4.0},
}

BAD = """\
[scenario]
steps = 0
seedz = [1]

[population]
persons = 1
companies = -3

[network]
generator = "small_world_please"

[behaviours]
payments = "teleport"
dancing = "waltz"

[parameters]
pay_share = 1.5

[policy.circles]
growth = "lots"

[sweep.policy.gears]
k = [30, -1]
"""


def test_x07_a_bad_scenario_lists_every_problem_with_its_line() -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(tomllib.loads(BAD), lambda path: locate(BAD, path))
    found = {(line, text.split(":")[0]) for line, text in info.value.problems}
    for expected in [
        (2, "scenario.steps"),
        (3, "scenario.seedz"),
        (6, "population.persons"),
        (7, "population.companies"),
        (10, "network.generator"),
        (13, "behaviours.payments"),
        (14, "behaviours.dancing"),
        (17, "parameters.pay_share"),
        (20, "policy.circles.growth"),
    ]:
        assert expected in found, (expected, info.value.problems)
    assert "teleport" in info.value.message and "random_pairs" in info.value.message


def test_x07_a_bad_sweep_value_is_listed_with_its_line() -> None:
    text = "[scenario]\nsteps = 3\n\n[sweep.policy.gears]\nk = [30, -1]\n"
    with pytest.raises(ScenarioError) as info:
        parse_scenario(tomllib.loads(text), lambda path: locate(text, path))
    assert info.value.problems[0][0] == 5 and "-1" in info.value.problems[0][1]


def test_options_the_simulator_does_not_model_are_refused_not_ignored() -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario({"policy": {"circles": {"trust_limits": True, "demurrage": "7%"}}})
    assert "trust limits without demurrage only" in info.value.message
    parse_scenario({"policy": {"circles": {"trust_limits": True, "trust_expiry": True}}})  # modelled (CI5)
    parse_scenario({"policy": {"circles": {"trust_mode": "directed"}}})  # modelled (CI5)
    parse_scenario({"policy": {"gears": {"mode": "deferred"}}})  # modelled (GR6)


def test_same_seed_same_rows_other_seed_other_rows() -> None:
    scenario = parse_scenario(SMALL)
    first = run(scenario, seed=1)
    assert run(scenario, seed=1) == first
    assert run(scenario, seed=2) != first


def test_a_run_takes_a_seed_or_an_rng_never_both() -> None:
    scenario = parse_scenario(SMALL)
    with pytest.raises(ValueError, match="never both"):
        Model(scenario, seed=1, rng=np.random.default_rng(1))
    assert run(scenario, rng=np.random.default_rng(7)) == run(scenario, seed=7)


def test_x03_every_unit_of_every_currency_is_held_by_someone() -> None:
    model = Model(parse_scenario(SMALL), seed=5)
    for s in range(model.scenario.steps):
        model.step(s)
        held = model.own.sum() + model.held_honest.sum() + model.held_sybil.sum() + model.group_supply.sum()
        assert held == model.supply_honest + model.supply_sybil
        assert model.group_held.sum() == model.group_supply.sum()
        assert (model.own >= 0).all() and model.fund >= 0


def test_ci14_fake_money_reaches_only_honest_persons_who_trusted_a_fake_account() -> None:
    rows = run(parse_scenario(SMALL), seed=3)
    last = rows[-1]
    assert last["supply_sybil"] > 0
    assert last["sybil_reach_beyond_trusters"] == 0
    assert 0 < last["sybil_honest_holders"] <= last["sybil_honest_trusters"] <= 6
    cut_off = {**SMALL, "population": {**SMALL["population"], "sybil_attack_edges": 0}}
    assert run(parse_scenario(cut_off), seed=3)[-1]["sybil_units_at_honest"] == 0


def test_gr05_gr06_coefficients_balance_and_the_fund_never_goes_below_zero() -> None:
    rows = run(parse_scenario({**SMALL, "parameters": {"fund_reserve": 1_000.0}}), seed=4)
    assert all(r["coefficient_imbalance"] == 0 for r in rows)
    assert all(r["fund_balance"] >= 0 for r in rows)
    assert any(r["fund_pending"] > 0 for r in rows)  # what the fund cannot pay waits


def test_x01_fake_accounts_neither_vote_nor_hold_social_credits() -> None:
    model = Model(parse_scenario(SMALL), seed=6)
    model.run()
    fakes = ~model.verified
    assert (model.vote_company[fakes] < 0).all()
    assert (model.available(model.genesis)[fakes] == 0).all()


def test_a_researcher_replaces_a_behaviour_by_name() -> None:
    @behaviour("payments", "pay_nobody_test")
    def pay_nobody(m: Any, rng: np.random.Generator, p: dict[str, float]) -> None:
        return None

    try:
        scenario = parse_scenario({**SMALL, "behaviours": {"payments": "pay_nobody_test", "conversions": "none"}})
        model = Model(scenario, seed=1)
        model.run()
        assert model.held_honest.sum() + model.held_sybil.sum() == model.supply_honest + model.supply_sybil - (
            model.own.sum()
        )
        # nobody paid: what others hold came from trustee rewards alone
        assert model.rows[-1]["supply_circles"] == model.own.sum() + model.held_honest.sum() + model.held_sybil.sum()
    finally:
        del REGISTRY["payments"]["pay_nobody_test"]


def test_a_sweep_grid_is_every_combination() -> None:
    scenario = parse_scenario(
        {**SMALL, "sweep": {"policy": {"circles": {"growth": ["2%", "5%"]}}, "population": {"groups": [0, 3]}}}
    )
    points = grid(scenario)
    assert [p.label for p in points] == [
        "policy.circles.growth=2%, population.groups=0",
        "policy.circles.growth=2%, population.groups=3",
        "policy.circles.growth=5%, population.groups=0",
        "policy.circles.growth=5%, population.groups=3",
    ]
    assert points[1].scenario.population.groups == 3
    assert str(points[2].scenario.policy.section(CirclesPolicy).growth) == "1/20"


def test_every_example_scenario_is_valid() -> None:
    from pathlib import Path

    policy_files = {"economy.toml"}  # a policy for `civic init` (X7): tests/e2e/test_cli_money.py
    examples = sorted(p for p in (Path(__file__).parents[2] / "examples").glob("*.toml") if p.name not in policy_files)
    assert {p.name for p in examples} >= {"town.toml", "sybil-attack.toml", "low-trust-town.toml"}
    for path in examples:
        text = path.read_text()
        scenario = parse_scenario(tomllib.loads(text), lambda key, text=text: locate(text, key))
        assert len(grid(scenario)) >= 2, path.name


def test_x07_sweep_values_that_clash_together_are_listed_before_anything_runs() -> None:
    data = {
        "population": {"persons": 100, "sybils": 10},
        "sweep": {"population": {"sybils": [0, 10], "sybil_attack_edges": [0, 5]}},
    }
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data)
    assert "population.sybils=0, population.sybil_attack_edges=5" in info.value.message


def test_sc04_the_grade_table_every_grade_every_steps_changes_nothing_else() -> None:
    """``grade_every`` leaves the grade table out of the rows between (null in Parquet), always
    records it at the last step, and the run is the same: every row equals the run recording it
    in every row, column for column where both hold one."""
    from civicledger.sim.sweep import table_of

    base = dict(SMALL, scenario={"steps": 30, "seeds": [1], "record_every": 2})
    every = Model(parse_scenario(base), seed=1).run()
    sparse_scenario = parse_scenario(dict(base, parameters={"grade_every": 8.0}))
    sparse = Model(sparse_scenario, seed=1).run()
    assert [r["step"] for r in sparse] == [r["step"] for r in every]
    carried = [r["step"] for r in sparse if "grade_2" in r]
    assert carried == [0, 8, 16, 24, 29]
    assert "credits_grade_2" in sparse[-1] and "credits_available" in sparse[3]
    for full, part in zip(every, sparse, strict=True):
        assert {k: v for k, v in full.items() if k in part} == part
    assert sum(int(every[-1][f"grade_{g}"]) for g in range(6)) > 0  # the table counts someone
    table = table_of(grid(sparse_scenario)[0], 1, sparse)
    column = table.column("grade_2").to_pylist()
    assert column[0] is not None and column[1] is None and column[-1] is not None
