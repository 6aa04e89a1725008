"""Pure rules of the social credits: every worked number of SPEC SC and the seed, and properties."""

from __future__ import annotations

import hashlib
import typing

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civicledger.kernel.errors import InsufficientFundsError, RuleViolationError
from civicledger.kernel.identity import AccountId
from civicledger.kernel.messages import COMMANDS
from civicledger.kernel.policy import Policy, policy_from_mapping, policy_to_mapping
from civicledger.kernel.records import encode_record
from civicledger.kernel.time import DAY, YEAR
from civicledger.mechanisms.credits import commands as cc
from civicledger.mechanisms.credits import events as ce
from civicledger.mechanisms.credits import rules
from civicledger.mechanisms.credits.commands import Tier
from civicledger.mechanisms.credits.policy import CreditsPolicy
from civicledger.mechanisms.credits.state import PERSONS, PersonRecord
from civicledger.mechanisms.credits.values import Adjustment, History, Spend

P = CreditsPolicy()
BORN = 1_000_000_000
ALICE = AccountId("ac" + "a" * 32)


def hist(
    *adjs: Adjustment, spends: tuple[Spend, ...] = (), fresh: tuple[int, ...] = (), enrolled: int = BORN
) -> History:
    return History(ALICE, BORN, enrolled, tuple(adjs), spends, fresh)


def adj(i: int, start: int, end: int, steps: int, quantity: int = 0, consumable: bool = False) -> Adjustment:
    return Adjustment(f"{i:010d}.0", start, end, steps, quantity, consumable, "test")


# SC2: quantity -----------------------------------------------------------------------------------


def test_sc02_default_allocation_is_1000_a_year_from_birth() -> None:
    schedule = rules.flat_schedule(P)
    assert P.annual_allocation == 1_000
    assert rules.accrued(BORN, BORN + YEAR, schedule) == 1_000
    assert rules.accrued(BORN, BORN + YEAR // 2, schedule) == 500
    assert rules.accrued(BORN, BORN + 30 * YEAR, schedule) == 30_000
    assert rules.accrued(BORN, BORN, schedule) == 0
    assert rules.accrued(BORN, BORN - 5, schedule) == 0


def test_sc02_accrual_is_floored_once_so_steps_lose_nothing() -> None:
    schedule = rules.flat_schedule(P)
    # one credit every 31,556.952 s: after 31,557 s exactly one, never two halves lost
    assert rules.accrued(BORN, BORN + 31_556, schedule) == 0
    assert rules.accrued(BORN, BORN + 31_557, schedule) == 1
    steps = [rules.accrued(BORN, BORN + t, schedule) for t in range(0, YEAR + 1, 7_777)]
    assert steps == sorted(steps)
    assert rules.accrued(BORN, BORN + YEAR, schedule) == 1_000


def test_sc02_a_policy_change_applies_from_its_time_never_backwards() -> None:
    schedule = ((0, 1_000), (BORN + YEAR, 2_000))
    assert rules.accrued(BORN, BORN + YEAR, schedule) == 1_000
    assert rules.accrued(BORN, BORN + 2 * YEAR, schedule) == 3_000


def test_sc02_available_is_accrued_minus_spent() -> None:
    s = rules.standing(hist(spends=(Spend("s", BORN + YEAR, 300),)), BORN + 2 * YEAR, P)
    assert (s.accrued, s.spent, s.available) == (2_000, 300, 1_700)
    earlier = rules.standing(hist(spends=(Spend("s", BORN + YEAR, 300),)), BORN + YEAR - 1, P)
    assert earlier.spent == 0


# SC4: grades -------------------------------------------------------------------------------------


def test_sc04_grades_default_0_to_5_base_2() -> None:
    assert (P.grade_min, P.grade_max, P.base_grade) == (0, 5, 2)
    s = rules.standing(hist(), BORN + YEAR, P)
    assert s.by_grade() == {2: 1_000}


def test_sc04_whole_balance_raise_for_a_stated_duration() -> None:
    a = adj(1, BORN + YEAR, BORN + 2 * YEAR, +2)
    assert rules.standing(hist(a), BORN + YEAR, P).by_grade() == {4: 1_000}
    h = hist(a, fresh=(BORN + YEAR,))  # the award restarts the decay clock (SC8)
    assert rules.standing(h, BORN + 2 * YEAR - 1, P).by_grade() == {4: 1_999}
    assert rules.standing(h, BORN + 2 * YEAR, P).by_grade() == {2: 2_000}


def test_sc04_quantity_raise_lifts_only_that_many_credits() -> None:
    a = adj(1, BORN + YEAR, BORN + 2 * YEAR, +1, quantity=300, consumable=True)
    assert rules.standing(hist(a), BORN + YEAR, P).by_grade() == {2: 700, 3: 300}


def test_sc04_penalty_reaches_credits_accruing_while_it_runs() -> None:
    a = adj(1, BORN + YEAR, BORN + 2 * YEAR, -1)
    assert rules.standing(hist(a), BORN + YEAR + YEAR // 2, P).by_grade() == {1: 1_500}


def test_sc04_penalty_cannot_be_escaped_by_spending_first() -> None:
    a = adj(1, BORN + YEAR, BORN + 2 * YEAR, -1, quantity=800)
    spent = (Spend("s", BORN + YEAR, 900),)
    # 100 left at once, all penalised; as credits accrue the penalty covers them up to 800
    assert rules.standing(hist(a, spends=spent), BORN + YEAR, P).by_grade() == {1: 100}
    assert rules.standing(hist(a, spends=spent), BORN + YEAR + YEAR // 2, P).by_grade() == {1: 600}
    assert rules.standing(hist(a, spends=spent), BORN + 2 * YEAR - 1, P).by_grade() == {1: 800, 2: 299}


def test_sc04_quantity_raise_is_used_up_as_its_credits_are_spent() -> None:
    a = adj(1, BORN + YEAR, BORN + 2 * YEAR, +1, quantity=300, consumable=True)
    spent = (Spend("s", BORN + YEAR, 100, ((a.id, 100),)),)
    assert rules.standing(hist(a, spends=spent), BORN + YEAR, P).by_grade() == {2: 700, 3: 200}


def test_sc04_grades_are_clamped_to_the_policy_range() -> None:
    a = adj(1, BORN, BORN + 3 * YEAR, +2)
    b = adj(2, BORN, BORN + 3 * YEAR, +2)
    c = adj(3, BORN + 10, BORN + 3 * YEAR, -2)
    assert rules.standing(hist(a, b, c), BORN + YEAR, P).by_grade() == {3: 1_000}  # 2+2+2 -> 5, then -2
    d = adj(4, BORN, BORN + 3 * YEAR, -2)
    e = adj(5, BORN + 1, BORN + 3 * YEAR, -2)
    assert rules.standing(hist(d, e), BORN + YEAR, P).by_grade() == {0: 1_000}


def test_sc04_adjustment_limits() -> None:
    rules.check_adjustment(2, 0, 2 * YEAR, P)
    with pytest.raises(RuleViolationError) as e:
        rules.check_adjustment(3, 0, YEAR, P)
    assert e.value.rule == "SC4"
    with pytest.raises(RuleViolationError):
        rules.check_adjustment(1, 0, 2 * YEAR + 1, P)
    with pytest.raises(RuleViolationError):
        rules.check_adjustment(0, 0, YEAR, P)


# SC8: decay --------------------------------------------------------------------------------------


def test_sc08_decay_window_365_days_then_one_step_every_90_days_until_base() -> None:
    assert (P.decay_window, P.decay_step) == (365 * DAY, 90 * DAY)
    a = adj(1, BORN, BORN + 10 * YEAR, +3)
    h = hist(a, fresh=(BORN,))
    at = BORN + 365 * DAY
    assert rules.standing(h, at, P).by_grade() == {5: rules.accrued(BORN, at, rules.flat_schedule(P))}
    assert rules.standing(h, at + 90 * DAY - 1, P).lots[0].grade == 5
    assert rules.standing(h, at + 90 * DAY, P).lots[0].grade == 4
    assert rules.standing(h, at + 180 * DAY, P).lots[0].grade == 3
    assert rules.standing(h, at + 270 * DAY, P).lots[0].grade == 2
    assert rules.standing(h, at + 3_000 * DAY, P).lots[0].grade == 2  # never below base


def test_sc08_participation_restarts_the_decay_clock_and_decay_spares_grades_below_base() -> None:
    a = adj(1, BORN, BORN + 10 * YEAR, +3)
    h = hist(a, fresh=(BORN, BORN + 400 * DAY))
    assert rules.standing(h, BORN + 500 * DAY, P).lots[0].grade == 5
    p = adj(2, BORN, BORN + 10 * YEAR, -1)
    assert rules.standing(hist(p), BORN + 5 * YEAR, P).lots[0].grade == 1


# SC10: spending ----------------------------------------------------------------------------------


def test_sc10_spending_takes_the_lowest_qualifying_grade_first() -> None:
    a = adj(1, BORN, BORN + 3 * YEAR, +2, quantity=300, consumable=True)
    b = adj(2, BORN, BORN + 3 * YEAR, +1, quantity=200, consumable=True)
    s = rules.standing(hist(a, b), BORN + YEAR, P)
    assert s.by_grade() == {2: 500, 3: 200, 4: 300}
    by_grade, used = rules.choose_credits(s, 3, 250)
    assert by_grade == {"3": 200, "4": 50}
    assert used == {b.id: 200, a.id: 50}
    with pytest.raises(RuleViolationError) as e:
        rules.choose_credits(s, 4, 301)
    assert e.value.rule == "SC10"
    with pytest.raises(InsufficientFundsError):
        rules.choose_credits(s, 0, 1_001)


def test_sc10_essential_base_tier_must_be_reachable_by_every_credit() -> None:
    assert rules.check_tiers("healthcare", (Tier("basic", 50, 0), Tier("premium", 80, 4)), P) is True
    assert rules.check_tiers("recreation", (Tier("space-trip", 900, 5),), P) is False
    with pytest.raises(RuleViolationError) as e:
        rules.check_tiers("healthcare", (Tier("basic", 50, 2),), P)
    assert e.value.rule == "SC10"


@settings(max_examples=60, deadline=None)
@given(
    category=st.sampled_from([*P.essential_categories, "recreation", "space"]),
    grades=st.lists(st.integers(0, 5), min_size=1, max_size=5),
)
def test_sc10_property_accepted_tiers_keep_the_base_grade_reaching_every_essential_base_tier(
    category: str, grades: list[int]
) -> None:
    tiers = tuple(Tier(f"t{i}", 10 + i, g) for i, g in enumerate(sorted(grades)))
    try:
        rules.check_tiers(category, tiers, P)
    except RuleViolationError:
        assert category in P.essential_categories
        return
    assert rules.base_grade_reaches_base_tiers([(category, tiers)], P)


# SC5: direct democracy ---------------------------------------------------------------------------


def test_sc05_anti_automation_controls() -> None:
    key = hashlib.sha256(b"b,c,a").hexdigest()
    rules.check_ballot_answer(120, key, key, 2, P)
    for seconds, digest, today in ((119, key, 0), (600, "0" * 64, 0), (600, key, 3)):
        with pytest.raises(RuleViolationError) as e:
            rules.check_ballot_answer(seconds, digest, key, today, P)
        assert e.value.rule == "SC5"


# SC7, SC9: verifiable draws ----------------------------------------------------------------------

ACCOUNTS = [f"ac{i:032x}" for i in range(20)]


def test_sc07_panel_is_ranked_by_sha256_of_seed_and_account() -> None:
    seed = bytes(32)
    techs, jurors = rules.draw_panel(seed, ACCOUNTS[:4], ACCOUNTS[4:], P)
    expected = sorted(ACCOUNTS[:4], key=lambda a: hashlib.sha256(seed + a.encode()).digest())[:1]
    assert list(techs) == expected and len(jurors) == 2
    assert rules.draw_panel(seed, ACCOUNTS[:4], ACCOUNTS[4:], P) == (techs, jurors)
    with pytest.raises(RuleViolationError) as e:
        rules.draw_panel(seed, [], ACCOUNTS, P)
    assert e.value.rule == "SC7"


def test_sc07_majority_of_the_panel_decides() -> None:
    assert rules.majority(3, 1, 1) is None
    assert rules.majority(3, 2, 0) is True
    assert rules.majority(3, 0, 2) is False


@settings(max_examples=60, deadline=None)
@given(
    seed=st.binary(min_size=32, max_size=32),
    n_pledges=st.integers(0, 6),
    n_candidates=st.integers(0, 8),
)
def test_sc09_property_every_draw_recomputes_identically(seed: bytes, n_pledges: int, n_candidates: int) -> None:
    pledges = [(f"{i:010d}", ACCOUNTS[i]) for i in range(n_pledges)]
    candidates = ACCOUNTS[3 : 3 + n_candidates]
    first = rules.draw_winners(seed, pledges, candidates)
    assert first == rules.draw_winners(seed, list(reversed(pledges)), list(reversed(candidates)))
    winners = [c for _, _, c in first]
    assert len(winners) == len(set(winners)) <= min(n_pledges, n_candidates)
    assert all(d != c for _, d, c in first)


# Properties of the evaluation -------------------------------------------------------------------

adjustments = st.lists(
    st.tuples(
        st.integers(0, 4 * YEAR),
        st.integers(1, 2 * YEAR),
        st.sampled_from([-2, -1, 1, 2]),
        st.integers(0, 3_000),
        st.booleans(),
    ),
    max_size=6,
)


@settings(max_examples=80, deadline=None)
@given(items=adjustments, spends=st.lists(st.tuples(st.integers(0, 4 * YEAR), st.integers(1, 900)), max_size=5))
def test_sc04_property_accrued_minus_spent_never_negative_and_grades_in_range(
    items: list[tuple[int, int, int, int, bool]], spends: list[tuple[int, int]]
) -> None:
    adjs = tuple(
        adj(i, BORN + s, BORN + s + d, steps, q, consumable=steps > 0 and q > 0)
        for i, (s, d, steps, q, _) in enumerate(items)
    )
    h = hist(*adjs)
    recorded: list[Spend] = []
    for i, (t, units) in enumerate(sorted(spends)):
        now = BORN + t
        s = rules.standing(History(ALICE, BORN, BORN, adjs, tuple(recorded)), now, P)
        try:
            _, used = rules.choose_credits(s, 0, units)
        except (RuleViolationError, InsufficientFundsError):
            continue
        consumable = {a.id for a in adjs if a.consumable}
        recorded.append(Spend(f"s{i}", now, units, tuple(rules.consumable_only(used, consumable).items())))
    h = History(ALICE, BORN, BORN, adjs, tuple(recorded))
    for t in range(0, 5 * YEAR, YEAR // 4):
        s = rules.standing(h, BORN + t, P)
        assert s.available >= 0
        assert sum(lot.units for lot in s.lots) == s.available
        assert all(P.grade_min <= lot.grade <= P.grade_max for lot in s.lots)


# SC3: no transfer exists -------------------------------------------------------------------------


def test_sc03_no_command_transfers_quantity_and_each_names_at_most_one_holder() -> None:
    credit_commands = [c for name, c in COMMANDS.items() if name.startswith("credits.")]
    assert len(credit_commands) == 16  # with IN6's draw_panel and run_draw, IN7's close_appeal
    for cls in credit_commands:
        assert not any(word in cls.TYPE for word in ("transfer", "send", "give", "trade", "exchange"))
        fields = typing.get_type_hints(cls)
        holder = getattr(cls, "HOLDER_FIELD", None)
        assert holder is None or fields[holder] is AccountId, cls.TYPE
        assert not {"to", "target", "recipient", "from_", "source"} & set(fields), cls.TYPE
    touching = {c.TYPE for c in credit_commands if getattr(c, "HOLDER_FIELD", None)}
    assert {"credits.spend", "credits.adjust", "credits.record_participation", "credits.pledge"} <= touching
    # the only event that changes a quantity names exactly one person
    spent = typing.get_type_hints(ce.CreditsSpent)
    assert [k for k, v in spent.items() if v is AccountId] == ["person", "provider"]
    assert cc.SpendCredits.HOLDER_FIELD == "person"


def test_sc_policy_section_round_trips_and_checks_cross_fields() -> None:
    mapping = policy_to_mapping(Policy())
    policy, problems = policy_from_mapping(mapping)
    assert problems == [] and policy.section(CreditsPolicy) == P
    mapping["credits"]["panel_jurors"] = 3
    _, problems = policy_from_mapping(mapping)
    assert problems and "odd" in problems[0][1]


@settings(max_examples=60, deadline=None)
@given(items=adjustments, spends=st.lists(st.tuples(st.integers(0, 4 * YEAR), st.integers(1, 900)), max_size=5))
def test_sc11_property_the_fast_path_from_the_record_equals_the_full_evaluation(
    items: list[tuple[int, int, int, int, bool]], spends: list[tuple[int, int]]
) -> None:
    adjs = tuple(adj(i, BORN + s, BORN + s + d, st_, q, st_ > 0 and q > 0) for i, (s, d, st_, q, _) in enumerate(items))
    consumable = [a.id for a in adjs if a.consumable]
    recorded = tuple(
        Spend(f"s{i}", BORN + t, u, ((consumable[0], 1),) if consumable else ()) for i, (t, u) in enumerate(spends)
    )
    record = PersonRecord(
        BORN,
        BORN,
        tuple(a.to_row() for a in adjs),
        tuple(s.to_row() for s in recorded),
        tuple(sorted(a.start for a in adjs if a.steps > 0)),
    )
    assert PERSONS.decode(encode_record(record)) == record
    full = record.history(ALICE)
    for t in range(0, 5 * YEAR, YEAR // 3):
        fast = rules.standing(record.history_at(ALICE, BORN + t), BORN + t, P)
        slow = rules.standing(full, BORN + t, P)
        assert (fast.accrued, fast.spent, fast.lots) == (slow.accrued, slow.spent, slow.lots)
