"""CI15, IN4 through the engine: circles-v2 demurrage as a property of every holding (rule version 3),
back-claims discounted by age, invitations, v1's issuance timeout.

Reference values are computed here independently of the implementation: decimal arithmetic at 80
digits of 0.93^(days/365.25), rounded down, never the 64.64 fixed point the code uses.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from civicledger.adapters.memory import MemoryStore
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.api import reads
from civicledger.kernel import ledger as led
from civicledger.kernel.canonical import JSONObject
from civicledger.kernel.errors import RuleViolationError
from civicledger.kernel.identity import AccountId
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.ports import Store
from civicledger.kernel.time import DAY, HOUR, MINUTE
from civicledger.mechanisms.circles import handlers as sc
from civicledger.mechanisms.circles import messages as cm
from civicledger.mechanisms.circles import rules
from civicledger.mechanisms.circles.policy import V2_DAY_ZERO, preset_mapping
from tests.conftest import T0
from tests.integration.test_circles_accounts import supply_matches, verified

UNITS_1000 = 100_000  # 1,000 units of 2 decimals


def keep(days: int | Decimal) -> Decimal:
    """0.93^(days/365.25) at 80 digits: what a coin keeps after ``days`` (the reference, CI15)."""
    with localcontext() as ctx:
        ctx.prec = 80
        return Decimal("0.93") ** (Decimal(days) / Decimal("365.25"))


def floor(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_FLOOR))


def reference(units: int, days: int) -> int:
    with localcontext() as ctx:
        ctx.prec = 80
        return floor(units * keep(days))


def v2_economy(store: Store, **changes: object) -> ScriptedEconomy:
    section = preset_mapping("circles-v2")
    section.update(changes)  # type: ignore[arg-type]
    policy: JSONObject = {"circles": section}
    return ScriptedEconomy(store, start=T0, label="civicledger test key", policy=policy)


def join(e: ScriptedEconomy, *names: str) -> list[AccountId]:
    out = []
    for name in names:
        account = e.open(name)
        e.run(cm.CreateCirclesAccount(account), name, cid=f"circles-{name}")
        out.append(account)
    return out


def stored(e: ScriptedEconomy, holder: AccountId, currency: AccountId) -> int:
    with e.store.read() as uow:
        return uow.ledger.balance(holder, CurrencyId(currency))


def seen(e: ScriptedEconomy, holder: AccountId, currency: AccountId) -> int:
    """What a read shows: the API's balances at the economy's clock (IN4)."""
    found = reads.balances(e.store, holder, e.clock.now())["balances"]
    assert isinstance(found, dict)
    return int(found.get(currency, 0))  # type: ignore[arg-type]


def rich_pair(store: Store) -> tuple[ScriptedEconomy, AccountId, AccountId]:
    """alice (1,000 units an hour, so one claim covers any test) and bob, who trusts alice."""
    e = v2_economy(store, income_units=100_000)
    alice, bob = join(e, "alice", "bob")
    e.run(cm.Trust(bob, alice), "bob")
    e.advance(2 * DAY)
    e.run(cm.ClaimIncome(alice), "alice")
    return e, alice, bob


def send(e: ScriptedEconomy, source: str, target: str, currency: AccountId, units: int) -> None:
    leg = led.Leg(CurrencyId(currency), e.account(source), e.account(target), units)
    e.run(led.Transfer((leg,)), source)


def burned_events(e: ScriptedEconomy) -> list[cm.HoldingDated]:
    from civicledger.kernel.messages import decode_event

    out = []
    with e.store.read() as uow:
        for entry in uow.journal.scan(0, uow.journal.head().size):
            for data in entry.entry.events:
                if data.get("type") == cm.HoldingDated.TYPE:
                    found = decode_event(data)
                    assert isinstance(found, cm.HoldingDated)
                    out.append(found)
    return out


def test_ci15_the_v2_day_zero_is_a_midnight_and_the_presets_say_so() -> None:
    assert V2_DAY_ZERO % DAY == 0
    assert preset_mapping("circles-v2")["day_zero"] == V2_DAY_ZERO
    assert preset_mapping("circles-v2")["welcome_bonus"] == 4_800
    assert preset_mapping("circles-v2")["invitation_cost"] == 9_600
    assert preset_mapping("circles-v1")["claim_timeout"] == 90 * DAY
    assert preset_mapping("seed")["claim_timeout"] == 0


@pytest.mark.parametrize("days", [1, 30, 365, 730])
def test_ci15_1000_units_held_for_days_keep_exactly_what_v2_leaves(store: Store, days: int) -> None:
    e, alice, bob = rich_pair(store)
    send(e, "alice", "bob", alice, UNITS_1000)
    e.advance(days * DAY)
    expected = reference(UNITS_1000, days)
    assert expected == {1: 99_980, 30: 99_405, 365: 93_004, 730: 86_498}[days]
    assert seen(e, bob, alice) == expected  # a read shows it ...
    assert stored(e, bob, alice) == UNITS_1000  # ... and writes nothing
    send(e, "bob", "alice", alice, 1)  # the next movement burns it first
    assert stored(e, bob, alice) == expected - 1
    dated = [d for d in burned_events(e) if d.account == bob]
    assert dated[-1].burned == UNITS_1000 - expected
    supply_matches(e)
    verified(e)


def test_ci15_a_holding_received_mid_period_pays_only_from_its_arrival(store: Store) -> None:
    e, alice, bob = rich_pair(store)
    first = stored(e, alice, alice)
    e.advance(100 * DAY)
    send(e, "alice", "bob", alice, 50_000)
    e.advance(100 * DAY)
    with localcontext() as ctx:
        ctx.prec = 80
        alice_left = floor((floor(first * keep(100)) - 50_000) * keep(100))
    assert seen(e, bob, alice) == reference(50_000, 100)  # bob pays from day 100, not day 0
    assert seen(e, alice, alice) == alice_left
    supply_matches(e)


def test_ci15_a_14_day_back_claim_is_minted_discounted_by_its_age(store: Store) -> None:
    e = v2_economy(store)
    (alice,) = join(e, "alice")
    e.advance(20 * DAY + 10 * HOUR + 30 * MINUTE)  # 10:30 on day 20: the window opens at 10:30 on day 6
    claimed = e.run(cm.ClaimIncome(alice), "alice").result["claimed"]
    with localcontext() as ctx:
        ctx.prec = 80
        # v2 counts whole hours: day 6 from its 10th hour (14 hours, 14 days old), days 7-19 whole
        # (24 hours each, 13 to 1 days old), today before the current hour (10 hours, no discount).
        hours = 14 * keep(14) + sum((24 * keep(age) for age in range(1, 14)), Decimal(0)) + 10
        expected = floor(100 * hours)
    assert claimed == expected
    assert claimed < 14 * 24 * 100  # undiscounted it would be 33,600
    assert stored(e, alice, alice) == claimed
    verified(e)


def test_ci15_the_issuance_table_is_v2s() -> None:
    # T(0) and T(14) as the v2 contracts ship them (src/circles/Demurrage.sol, table T)
    assert rules.issuance_table_64x64(Fraction(7, 100), 0) == 24 << 64
    assert rules.issuance_table_64x64(Fraction(7, 100), 14) == 6631600572832662544739
    assert rules.gamma_64x64(Fraction(7, 100)) == 18443079296116538654


def test_ci15_nothing_is_claimable_within_an_hour_of_the_last_claim(store: Store) -> None:
    e = v2_economy(store)
    (alice,) = join(e, "alice")
    e.advance(3 * HOUR)
    assert e.run(cm.ClaimIncome(alice), "alice").result["claimed"] > 0
    e.advance(59 * MINUTE)
    assert e.refused(cm.ClaimIncome(alice), "alice").rule == "CI2"


def test_ci15_apply_demurrage_burns_only_what_the_next_movement_would(store: Store) -> None:
    e, alice, bob = rich_pair(store)
    send(e, "alice", "bob", alice, UNITS_1000)
    e.advance(365 * DAY)
    receipt = e.run(cm.ApplyDemurrage(bob), "bob")
    assert receipt.result == {"burned": UNITS_1000 - reference(UNITS_1000, 365)}
    assert stored(e, bob, alice) == seen(e, bob, alice) == reference(UNITS_1000, 365)
    assert e.refused(cm.ApplyDemurrage(bob), "bob").rule == "CI15"  # nothing twice on the same day
    send(e, "bob", "alice", alice, 1)
    assert stored(e, bob, alice) == reference(UNITS_1000, 365) - 1  # and the movement burns nothing more
    supply_matches(e)
    verified(e)


def test_ci15_routing_sees_demurraged_balances(store: Store) -> None:
    e, alice, bob = rich_pair(store)
    (carol,) = join(e, "carol")
    e.run(cm.Trust(carol, alice), "carol")
    send(e, "alice", "bob", alice, UNITS_1000)
    e.advance(365 * DAY)
    router = sc.router_for(e.store)
    # carol accepts only alice's currency: all bob can pay her is his demurraged 1,000 units of it
    assert router.route(bob, carol, None, e.clock.now()).max_flow == reference(UNITS_1000, 365)
    with pytest.raises(RuleViolationError):
        router.pay_command(bob, carol, reference(UNITS_1000, 365) + 1, now=e.clock.now())
    e.run(router.pay_command(bob, carol, reference(UNITS_1000, 365), now=e.clock.now()), "bob")
    assert stored(e, bob, alice) == 0
    assert router.route(bob, carol, None, e.clock.now()).max_flow == 0
    supply_matches(e)
    verified(e)


def test_ci15_the_summary_shows_demurraged_holdings(store: Store) -> None:
    e, alice, bob = rich_pair(store)
    send(e, "alice", "bob", alice, UNITS_1000)
    e.advance(30 * DAY)
    with e.store.read() as uow:
        found = sc.summary(uow, bob, e.clock.now())
    assert found.holdings[alice] == reference(UNITS_1000, 30)


def test_ci15_an_invitation_gives_the_bonus_and_burns_the_cost(store: Store) -> None:
    e, alice, _ = rich_pair(store)
    dave = e.open("dave")
    before = seen(e, alice, alice)
    receipt = e.run(cm.Invite(alice, dave), "alice", "dave")
    assert receipt.result["bonus"] == 4_800 and receipt.result["cost"] == 9_600
    assert stored(e, dave, dave) == 4_800
    assert stored(e, alice, alice) == before - 9_600
    assert e.refused(cm.Invite(alice, dave), "alice", "dave").rule == "CI1"  # already a member
    supply_matches(e)
    verified(e)


def test_ci15_the_seed_preset_has_no_invitations(economy: ScriptedEconomy) -> None:
    (alice,) = join(economy, "alice")
    dave = economy.open("dave")
    assert economy.refused(cm.Invite(alice, dave), "alice", "dave").rule == "CI15"


def test_ci15_v1_currency_stops_issuing_after_90_days_without_a_claim(store: Store) -> None:
    e = ScriptedEconomy(store, start=T0, label="civicledger test key", policy={"circles": preset_mapping("circles-v1")})
    alice, bob = join(e, "alice", "bob")
    e.advance(89 * DAY)
    assert e.run(cm.ClaimIncome(alice), "alice").result == {"claimed": 89 * 800}
    e.advance(91 * DAY)
    error = e.refused(cm.ClaimIncome(bob), "bob")  # bob never claimed: stopped for good
    assert error.rule == "CI15"
    e.advance(DAY)
    assert e.refused(cm.ClaimIncome(bob), "bob").rule == "CI15"
    assert e.refused(cm.ClaimIncome(alice), "alice").rule == "CI15"  # 92 days since her claim
    with e.store.read() as uow:
        from civicledger.mechanisms.circles import state as cs

        assert cs.claimable_now(uow, bob, e.clock.now()) == 0


@pytest.mark.parametrize(("timeout", "rules_version"), [(0, 3), (90 * DAY, 2)])
def test_ci15_v1_timeout_is_off_by_policy_or_before_rules_3(store: Store, timeout: int, rules_version: int) -> None:
    section = preset_mapping("circles-v1")
    section["claim_timeout"] = timeout
    e = ScriptedEconomy(store, start=T0, label="civicledger test key", policy={"circles": section}, rules=rules_version)
    (alice,) = join(e, "alice")
    e.advance(100 * DAY)
    assert e.run(cm.ClaimIncome(alice), "alice").result["claimed"] > 100 * 800 - 1


def test_ci15_rules_2_keeps_the_old_v2_behaviour(store: Store) -> None:
    section = preset_mapping("circles-v2")
    e = ScriptedEconomy(store, start=T0, label="civicledger test key", policy={"circles": section}, rules=2)
    (alice,) = join(e, "alice")
    e.advance(30 * DAY)
    assert e.run(cm.ClaimIncome(alice), "alice").result == {"claimed": 33_600}
    e.advance(30 * DAY)
    assert seen(e, alice, alice) == 33_600  # no demurrage on reads before rule version 3


steps = st.lists(
    st.tuples(st.integers(0, 400), st.sampled_from(["alice", "bob", "carol"]), st.integers(1, 40_000)),
    min_size=1,
    max_size=6,
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=steps)
def test_ci15_conservation_and_reads_match_movements(steps: list[tuple[int, str, int]]) -> None:
    """Per currency, issued - burned equals the stored balances after demurrage burns (IN4), and what a
    read shows is what the following movement starts from."""
    e, alice, _ = rich_pair(MemoryStore())
    (carol,) = join(e, "carol")
    e.run(cm.Trust(carol, alice), "carol")
    names = ["alice", "bob", "carol"]
    for days, source, units in steps:
        e.advance(days * DAY)
        target = names[(names.index(source) + 1) % 3]
        shown = {n: seen(e, e.account(n), alice) for n in names}
        amount = min(units, shown[source])
        if amount <= 0:
            continue
        send(e, source, target, alice, amount)
        assert stored(e, e.account(source), alice) == shown[source] - amount
        assert stored(e, e.account(target), alice) == shown[target] + amount
        supply_matches(e)
    verified(e)


def test_ci15_no_holding_pays_for_days_the_policy_charged_no_demurrage(store: Store) -> None:
    from civicledger.kernel.economy import ChangePolicy

    e = v2_economy(store, income_units=100_000, demurrage="0")
    alice, bob = join(e, "alice", "bob")
    e.run(cm.Trust(bob, alice), "bob")
    e.advance(2 * DAY)
    e.run(cm.ClaimIncome(alice), "alice")
    send(e, "alice", "bob", alice, UNITS_1000)
    e.advance(100 * DAY)
    assert seen(e, bob, alice) == UNITS_1000
    e.council_decision(ChangePolicy("circles.demurrage", "7%"))
    e.advance(365 * DAY)
    assert seen(e, bob, alice) == reference(UNITS_1000, 365)  # from the change on, not from arrival
    send(e, "bob", "alice", alice, 1)
    assert stored(e, bob, alice) == reference(UNITS_1000, 365) - 1
    supply_matches(e)
    verified(e)
