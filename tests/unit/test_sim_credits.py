"""The simulator's social credit lots and tier spending equal the domain's, element by element.

``credits.sim.lots`` is ``credits.rules.standing`` (SC4 whole-balance and quantity adjustments,
consumed raises, SC8 decay) over many persons at once; ``credits.sim.choose_credits`` is the
domain's SC10 choice (lowest qualifying grade first). Random histories, compared lot by lot.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

from civicledger.kernel.errors import CivicLedgerError
from civicledger.kernel.identity import AccountId
from civicledger.kernel.time import DAY, YEAR
from civicledger.mechanisms.credits import rules as credit_rules
from civicledger.mechanisms.credits import sim as credits_sim
from civicledger.mechanisms.credits.policy import CreditsPolicy
from civicledger.mechanisms.credits.values import Adjustment, History, Spend

POLICY = CreditsPolicy()
AT = 100 * YEAR


def random_histories(rng: np.random.Generator, rows: int, columns: int) -> dict[str, np.ndarray]:
    available = rng.integers(-5, 3_000, size=rows, dtype=np.int64)
    present = rng.random((rows, columns)) < 0.7
    steps = rng.integers(1, POLICY.max_adjustment_steps + 1, size=(rows, columns)) * rng.choice(
        [-1, 1], (rows, columns)
    )
    steps = np.where(present, steps, 0).astype(np.int64)
    whole = rng.random((rows, columns)) < 0.4
    quantity = np.where(whole, 0, rng.integers(1, 2_000, size=(rows, columns))).astype(np.int64)
    consumable = (steps > 0) & (quantity > 0)
    consumed = np.where(consumable, rng.integers(0, 2_500, size=(rows, columns)), 0).astype(np.int64)
    consumed = np.minimum(consumed, quantity)
    decay = rng.integers(0, 4, size=rows, dtype=np.int64) * (rng.random(rows) < 0.3)
    return {
        "available": available,
        "steps": steps,
        "quantity": quantity,
        "consumable": consumable,
        "consumed": consumed,
        "decay": decay,
    }


def domain_standing(h: dict[str, np.ndarray], r: int) -> object:
    """The same person as a domain History: born so that exactly ``available`` has accrued."""
    available = int(h["available"][r])
    # accrued = annual x (AT - born) // YEAR: choose born so accrued is max(available, 0) + 5 and spend 5 + ...
    accrued = max(available, 0) + 5
    spent = accrued - available
    born = AT - accrued * YEAR // POLICY.annual_allocation
    while credit_rules.accrued(born, AT, credit_rules.flat_schedule(POLICY)) < accrued:
        born -= 1
    adjustments = []
    consumed = []
    for j in range(h["steps"].shape[1]):
        if h["steps"][r, j] == 0:
            continue
        adj_id = f"{j:010d}.0"
        adjustments.append(
            Adjustment(
                adj_id,
                AT - YEAR + j,
                AT + YEAR,
                int(h["steps"][r, j]),
                int(h["quantity"][r, j]),
                bool(h["consumable"][r, j]),
                "k",
            )
        )
        if h["consumed"][r, j]:
            consumed.append((adj_id, int(h["consumed"][r, j])))
    decay = int(h["decay"][r])
    since = AT - POLICY.decay_window - decay * POLICY.decay_step
    hist = History(
        AccountId(f"p{r}"), born, since, tuple(adjustments), (Spend("s", AT - 1, spent, tuple(consumed)),), ()
    )
    return credit_rules.standing(hist, AT, POLICY)


def left_of(h: dict[str, np.ndarray]) -> np.ndarray:
    return np.where(h["consumable"], h["quantity"] - h["consumed"], h["quantity"])


@pytest.mark.parametrize("columns", [1, 3, 8])
def test_sc04_sc08_vectorised_lots_equal_the_domain_standing(columns: int) -> None:
    rng = np.random.default_rng(40 + columns)
    h = random_histories(rng, 400, columns)
    grade, units, _mask = credits_sim.lots(
        h["available"],
        h["steps"],
        h["quantity"],
        left_of(h),
        h["decay"],
        POLICY.grade_min,
        POLICY.grade_max,
        POLICY.base_grade,
    )
    for r in range(400):
        st = domain_standing(h, r)
        assert st.decay_steps == int(h["decay"][r])
        expected: dict[int, int] = {}
        for g, u in zip(grade[r].tolist(), units[r].tolist(), strict=True):
            if u > 0:
                expected[g] = expected.get(g, 0) + u
        assert st.by_grade() == expected, r


@pytest.mark.parametrize("columns", [2, 5])
def test_sc10_vectorised_choice_equals_the_domain_lowest_qualifying_grade_first(columns: int) -> None:
    rng = np.random.default_rng(70 + columns)
    rows = 400
    h = random_histories(rng, rows, columns)
    grade, units, mask = credits_sim.lots(
        h["available"],
        h["steps"],
        h["quantity"],
        left_of(h),
        h["decay"],
        POLICY.grade_min,
        POLICY.grade_max,
        POLICY.base_grade,
    )
    min_grade = rng.integers(POLICY.grade_min, POLICY.grade_max + 1, size=rows, dtype=np.int64)
    price = rng.integers(1, 2_000, size=rows, dtype=np.int64)
    ok, taken = credits_sim.choose_credits(grade, units, mask, h["available"], min_grade, price)
    used = credits_sim.used_by_adjustment(taken, mask, columns)
    allowed = 0
    for r in range(rows):
        st = domain_standing(h, r)
        try:
            by_grade, used_ids = credit_rules.choose_credits(st, int(min_grade[r]), int(price[r]))  # type: ignore[arg-type]
        except CivicLedgerError:
            assert not ok[r], r
            assert taken[r].sum() == 0
            continue
        allowed += 1
        assert ok[r], r
        got: dict[str, int] = {}
        for g, u in zip(grade[r].tolist(), taken[r].tolist(), strict=True):
            if u:
                got[str(g)] = got.get(str(g), 0) + u
        assert got == by_grade, r
        expected_used = {f"{j:010d}.0": int(used[r, j]) for j in range(columns) if used[r, j]}
        assert expected_used == used_ids, r
    assert 50 < allowed < rows  # both outcomes are exercised


def test_sc05_effect_quantity_equals_the_domain() -> None:
    available = np.arange(-3, 5_000, 7, dtype=np.int64)
    for portion in (1, 10, 50, 99, 100):
        effect = POLICY.participation["gears_vote"].__class__(portion_percent=portion, duration=DAY)
        got = credits_sim.effect_quantity(portion, available)
        for a, q in zip(available.tolist(), got.tolist(), strict=True):
            assert q == credit_rules.effect_quantity(effect, a)


def lottery_scenario() -> dict[str, object]:
    return {
        "scenario": {"steps": 40, "seeds": [9]},
        "population": {"persons": 300, "companies": 2, "resources": 0},
        "network": {"mean_degree": 0.0},
        "parameters": {
            "participation_rate": 0.05,
            "infraction_rate": 0.03,
            "pledge_rate": 0.02,
            "pledge_quantity": 50.0,
            "second_chance_rate": 0.2,
            "spend_rate": 0.1,
        },
    }


def test_sc09_the_lottery_draws_periodically_with_the_domain_ranking_and_a_seed_from_the_run_rng() -> None:
    from civicledger.sim import Model, parse_scenario

    sc = parse_scenario(lottery_scenario())
    plain = Model(sc, seed=9, trace=True)
    plain.run()
    draws = [a for a in plain.trace.actions if a[0] == "draw"]  # type: ignore[union-attr]
    assert plain.lottery_winners > 0
    # Draws are periodic (SC9: draw_period, 30 days; weekly steps).
    steps = [a[1] for a in draws]
    assert all(b - a >= 5 for a, b in itertools.pairwise(steps))
    # The same run with a hook doing exactly what the model does: the domain's draw_winners on 32
    # bytes of the run's one generator. Identical winners, so the model uses nothing else.
    again = Model(sc, seed=9, trace=True)
    seen: list[tuple[list[tuple[str, str]], list[str]]] = []

    def hook(s: int, t: int, valid: list[tuple[str, str]], candidates: list[str]) -> object:
        seen.append((valid, candidates))
        for pledge, donor in valid:
            assert int(pledge) >= 0 and int(donor) < again.n
        return credit_rules.draw_winners(again.rng.bytes(32), valid, candidates)

    again.draw_hook = hook
    again.run()
    assert [a for a in again.trace.actions if a[0] == "draw"] == draws  # type: ignore[union-attr]
    for _, _, winners in draws:
        for _, donor, candidate in winners:
            assert donor != candidate  # a donor never wins their own pledge
    # Winners hold a consumable quantity raise, donors the matching reduction (SC9, SC4).
    raised = (again.adj_qty > 0) & again.adj_consumable & (again.adj_steps > 0)
    assert raised.any()


def test_sc10_spending_takes_the_tier_price_and_refuses_what_the_grades_lack() -> None:
    from civicledger.sim import Model, parse_scenario

    sc = parse_scenario(lottery_scenario())
    model = Model(sc, seed=4)
    model.run()
    assert model.spends > 0
    assert model.credits_spent_total == model.spends * model.tiers[0][1]
    t = model.genesis + (sc.steps - 1) * sc.step
    assert (model.available(t) >= 0).all()
    rows = model.rows
    assert rows[-1]["spends"] == model.spends
    assert sum(rows[-1][f"credits_grade_{g}"] for g in range(6)) == rows[-1]["credits_available"]
    # A tier above every grade held is refused (SC10), nothing is taken.
    before = model.spent.copy()
    model.tiers = [("too-high", 10, 5)]
    model.behave["spending"] = lambda m, rng, p: (np.arange(10, dtype=np.int64), np.zeros(10, np.int64))
    refused = model.spends_refused
    model._spend(sc.steps, t)
    held = model.by_grade(t, np.arange(10, dtype=np.int64))[:, 5]
    assert model.spends_refused - refused == int((held < 10).sum())
    assert ((model.spent - before)[:10] == np.where(held >= 10, 10, 0)).all()


def test_sc04_the_quick_path_for_whole_balance_persons_equals_the_lots() -> None:
    from civicledger.sim import Model, parse_scenario

    sc = parse_scenario(lottery_scenario())
    model = Model(sc, seed=2)
    model.run()
    t = model.genesis + sc.steps * sc.step
    everyone = np.arange(model.n, dtype=np.int64)
    grade, units, _, _, _ = model.standing(everyone, t)
    expected = np.zeros((model.n, 6), np.int64)
    for r in range(model.n):
        for g, u in zip(grade[r].tolist(), units[r].tolist(), strict=True):
            expected[r, g] += u
    assert (model.by_grade(t) == expected).all()
    assert (model.by_grade(t, everyone[::3]) == expected[::3]).all()


def test_sc04_standing_walks_few_persons_at_once_and_many_in_groups_to_the_same_lots(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The one wide walk (few persons) and the walk in groups (many) give every person the same
    lots, adjustment columns and credits: only the number of columns beyond a person's lots differs."""
    from civicledger.sim import Model, parse_scenario

    sc = parse_scenario(lottery_scenario() | {"parameters": {"participation_rate": 0.3, "spend_rate": 0.1}})
    model = Model(sc, seed=5)
    model.run()
    t = model.genesis + sc.steps * sc.step
    everyone = np.arange(model.n, dtype=np.int64)
    monkeypatch.setattr(credits_sim, "GROUPED_FROM", 0)
    grouped = model.standing(everyone, t)
    monkeypatch.setattr(credits_sim, "GROUPED_FROM", 10**9)
    at_once = model.standing(everyone, t)
    counts = (model.adj_end > t).sum(axis=1)
    assert len(set(counts.tolist())) >= 3  # persons with different numbers of active adjustments
    for a, b in zip(grouped, at_once, strict=True):
        assert a.shape == b.shape
        assert (a == b).all()


def test_sc09_the_draw_over_the_first_pledges_equals_the_domain_draw_over_all() -> None:
    """Pledges in id order, candidates some of whom are donors: the same winners as the domain."""
    rng = np.random.default_rng(23)
    for _ in range(300):
        pledges = int(rng.integers(0, 30))
        people = int(rng.integers(1, 12))
        donors = rng.integers(0, people, size=pledges).tolist()
        valid = [(f"{i:09d}", f"{d:09d}") for i, d in enumerate(donors)]
        chosen = rng.choice(people, size=int(rng.integers(0, people + 1)), replace=False).tolist()
        candidates = [f"{c:09d}" for c in sorted(chosen)]
        seed = rng.bytes(32)
        expected = credit_rules.draw_winners(seed, valid, candidates)
        assert credits_sim.draw_winners(seed, valid, candidates) == expected


def test_sc09_vectorised_nominations_equal_the_domain_check_row_by_row() -> None:
    """``nominations_valid`` accepts exactly the rows ``rules.check_nomination`` accepts (and whose
    co-signers the engine finds verified), over random candidates, co-signers and waiting states."""
    rng = np.random.default_rng(4)
    policy = CreditsPolicy()
    need = policy.nomination_cosigners
    n, rows = 12, 4_000
    candidates = rng.integers(0, n, size=rows, dtype=np.int64)
    cosigners = rng.integers(0, n, size=(rows, need), dtype=np.int64)
    waiting = rng.random(rows) < 0.2
    can_sign = rng.random(n) < 0.8
    got = credits_sim.nominations_valid(candidates, cosigners, waiting, can_sign, need)
    for r in range(rows):
        names = frozenset(f"{c:09d}" for c in cosigners[r].tolist())
        try:
            credit_rules.check_nomination(f"{candidates[r]:09d}", names, False, bool(waiting[r]), policy)
            expected = bool(can_sign[cosigners[r]].all())
        except CivicLedgerError as e:
            assert e.rule == "SC9"
            expected = False
        assert bool(got[r]) == expected, r
    assert 0 < int(got.sum()) < rows  # both outcomes were exercised


def test_sc09_nominated_candidates_join_the_draw_and_the_default_nominates_nobody() -> None:
    from civicledger.sim import Model, parse_scenario

    data: dict[str, Any] = lottery_scenario()
    plain = Model(parse_scenario(data), seed=9, trace=True)
    rows = plain.run()
    assert "nominations" not in rows[-1]
    assert not any(a[0].startswith("nominate") for a in plain.trace.actions)  # type: ignore[union-attr]
    data.setdefault("parameters", {})["nomination_rate"] = 0.02
    nominated = Model(parse_scenario(data), seed=9, trace=True)
    rows = nominated.run()
    acts: list[Any] = nominated.trace.actions  # type: ignore[union-attr]
    ok = {a[2] for a in acts if a[0] == "nominate"}
    assert rows[-1]["nominations"] == sum(a[0] == "nominate" for a in acts) > 0
    assert rows[-1]["nominations_refused"] == sum(a[0] == "nominate_refused" for a in acts)
    drawn = {int(c) for a in acts if a[0] == "draw" for _, _, c in a[2]}
    assert drawn & ok  # a nominee won a draw


def test_sc09_vectorised_council_nominations_equal_the_domain_check() -> None:
    """``council_nominations_valid`` accepts exactly the council decisions ``rules.check_nomination``
    accepts (``by_council``, no co-signers), over random candidates and waiting states."""
    rng = np.random.default_rng(5)
    policy = CreditsPolicy()
    candidates = rng.integers(0, 50, size=2_000, dtype=np.int64)
    waiting = rng.random(candidates.size) < 0.3
    got = credits_sim.council_nominations_valid(candidates, waiting)
    for r in range(candidates.size):
        try:
            credit_rules.check_nomination(f"{candidates[r]:09d}", frozenset(), True, bool(waiting[r]), policy)
            expected = True
        except CivicLedgerError as e:
            assert e.rule == "SC9"
            expected = False
        assert bool(got[r]) == expected, r
    assert 0 < int(got.sum()) < candidates.size


def test_sc09_council_nominees_join_the_draw_and_the_default_nominates_nobody() -> None:
    """Off by default (no column, no action, the same rows); on, the council's nominees wait for a
    draw, one at a time (a second nomination while waiting is refused), and some win."""
    from civicledger.sim import Model, parse_scenario

    data: dict[str, Any] = lottery_scenario()
    plain = Model(parse_scenario(data), seed=9).run()
    assert "council_nominations" not in plain[-1]
    data.setdefault("parameters", {})["council_nomination_rate"] = 0.05
    model = Model(parse_scenario(data), seed=9, trace=True)
    rows = model.run()
    acts: list[Any] = model.trace.actions  # type: ignore[union-attr]
    assert rows[-1]["council_nominations"] == sum(a[0] == "council_nominate" for a in acts) > 0
    assert rows[-1]["council_nominations_refused"] == sum(a[0] == "council_nominate_refused" for a in acts) > 0
    waiting: set[int] = set()
    for a in acts:
        if a[0] == "council_nominate":
            assert a[2] not in waiting  # SC9: one draw at a time
            waiting.add(a[2])
        elif a[0] in ("second_chance", "nominate"):  # candidates by the other ways wait too
            waiting.add(a[2])
        elif a[0] == "council_nominate_refused":
            assert a[2] in waiting
        elif a[0] == "draw":
            waiting -= {int(c) for _, _, c in a[2]}
    nominees = {a[2] for a in acts if a[0] == "council_nominate"}
    assert nominees & {int(c) for a in acts if a[0] == "draw" for _, _, c in a[2]}
