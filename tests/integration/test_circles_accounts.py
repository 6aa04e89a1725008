"""CI1-CI4 through the engine: joining Circles, the start income, the reserve, claims and growth."""

from __future__ import annotations

from typing import Any

import pytest

from civicledger.adapters.memory import MemoryStore
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.kernel import audit
from civicledger.kernel import ledger as led
from civicledger.kernel.errors import CivicLedgerError, NotFoundError, RuleViolationError
from civicledger.kernel.identity import AccountId, AccountKind
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.ports import Store
from civicledger.kernel.rules import LATEST_RULES
from civicledger.kernel.time import DAY, WEEK, YEAR
from civicledger.mechanisms.circles import messages as cm
from civicledger.mechanisms.circles import state as cs
from civicledger.mechanisms.circles.policy import preset_mapping
from tests.conftest import T0


def economy_with(store: Store, preset: str, rules: int = LATEST_RULES) -> ScriptedEconomy:
    policy = {"circles": preset_mapping(preset)}
    return ScriptedEconomy(store, start=T0, label="civicledger test key", policy=policy, rules=rules)


def join(e: ScriptedEconomy, *names: str, kind: AccountKind = AccountKind.PERSON) -> list[AccountId]:
    """Open accounts (no attestation: CI14) and make each a Circles account."""
    out = []
    for name in names:
        account = e.open(name, kind)
        e.run(cm.CreateCirclesAccount(account), name, cid=f"circles-{name}")
        out.append(account)
    return out


def held(e: ScriptedEconomy, holder: AccountId, currency: AccountId) -> int:
    with e.store.read() as uow:
        return uow.ledger.balance(holder, CurrencyId(currency))


def head(e: ScriptedEconomy) -> int:
    with e.store.read() as uow:
        return uow.journal.head().size


def refused_and_nothing_written(e: ScriptedEconomy, command: Any, *signers: str) -> CivicLedgerError:
    before = head(e)
    error = e.refused(command, *signers)
    assert head(e) == before
    return error


def supply_matches(e: ScriptedEconomy) -> None:
    with e.store.read() as uow:
        sums = uow.ledger.sums_by_currency()
        for currency in uow.ledger.currencies():
            assert sums.get(currency.id, 0) == currency.supply, currency.id


def verified(e: ScriptedEconomy) -> None:
    from civicledger.adapters.crypto import Ed25519Verifier

    report = audit.verify_store(e.store, Ed25519Verifier(), MemoryStore)
    assert report.ok, report.reason


def test_ci01_anyone_joins_and_issues_a_personal_currency_without_attestation(economy: ScriptedEconomy) -> None:
    (alice,) = join(economy, "alice")
    (shop,) = join(economy, "shop", kind=AccountKind.ORGANIZATION)
    with economy.store.read() as uow:
        assert uow.accounts.get(alice) is not None and not uow.accounts.get(alice).verified  # type: ignore[union-attr]
        currency = uow.ledger.currency(CurrencyId(alice))
    assert currency is not None
    assert (currency.kind, currency.issuer, currency.rule) == (
        led.CurrencyKind.PERSONAL,
        alice,
        led.IssuerRule.CIRCLES_INCOME,
    )
    assert held(economy, shop, shop) == 0


def test_ci04_the_owner_month_is_claimable_at_once_and_the_reserve_is_two_months(economy: ScriptedEconomy) -> None:
    (alice,) = join(economy, "alice")
    receipt = economy.run(cm.ClaimIncome(alice), "alice")
    assert receipt.result == {"claimed": 434_812}  # 4,348.12 units: a month at 1,000 a week
    with economy.store.read() as uow:
        income = cs.income_state(uow, alice)
    assert income is not None and income.reserve == 869_625 and str(income.carry) == "1/2"


def test_ci02_income_accrues_continuously_and_claims_lose_no_fraction(economy: ScriptedEconomy) -> None:
    (alice,) = join(economy, "alice")
    economy.run(cm.ClaimIncome(alice), "alice")
    economy.advance(WEEK)
    assert economy.run(cm.ClaimIncome(alice), "alice").result == {"claimed": 100_000}
    economy.advance(DAY)
    assert economy.run(cm.ClaimIncome(alice), "alice").result == {"claimed": 14_286}  # 100,000/7 + 1/2 carried
    assert held(economy, alice, alice) == 434_812 + 100_000 + 14_286
    supply_matches(economy)


def test_ci03_after_a_whole_year_the_rate_is_5_percent_higher(economy: ScriptedEconomy) -> None:
    economy.advance(YEAR)
    (bob,) = join(economy, "bob")
    economy.run(cm.ClaimIncome(bob), "bob")
    economy.advance(WEEK)
    assert economy.run(cm.ClaimIncome(bob), "bob").result == {"claimed": 105_000}
    with economy.store.read() as uow:
        assert cs.income_state(uow, bob).reserve == 913_106  # type: ignore[union-attr]


def test_ci02_small_claims_sum_to_one_big_claim_through_the_engine(store: Store) -> None:
    e = ScriptedEconomy(store, start=T0, label="civicledger test key")
    a, b = join(e, "a", "b")
    for _ in range(9):
        e.advance(DAY + 17)
        e.run(cm.ClaimIncome(a), "a")
    e.run(cm.ClaimIncome(b), "b")
    assert abs(held(e, a, a) - held(e, b, b)) <= 0  # claimed at the same instant: identical totals
    verified(e)


def test_ci02_nothing_to_claim_is_refused_and_nothing_written(economy: ScriptedEconomy) -> None:
    (alice,) = join(economy, "alice")
    economy.run(cm.ClaimIncome(alice), "alice")
    error = refused_and_nothing_written(economy, cm.ClaimIncome(alice), "alice")
    assert isinstance(error, RuleViolationError) and error.rule == "CI2"


def test_ci01_joining_twice_or_as_an_unknown_account_is_refused(economy: ScriptedEconomy) -> None:
    (alice,) = join(economy, "alice")
    assert refused_and_nothing_written(economy, cm.CreateCirclesAccount(alice), "alice").rule == "CI1"
    ghost = economy.account("ghost")
    error = refused_and_nothing_written(economy, cm.CreateCirclesAccount(ghost), "ghost")
    assert error.rule in {"CI1", "X6"}
    assert isinstance(error, (NotFoundError, CivicLedgerError))


def test_ci15_circles_v1_gives_a_50_unit_signup_and_8_units_a_day(store: Store) -> None:
    e = economy_with(store, "circles-v1")
    (alice,) = join(e, "alice")
    assert held(e, alice, alice) == 5_000
    e.advance(DAY)
    assert e.run(cm.ClaimIncome(alice), "alice").result == {"claimed": 800}
    with e.store.read() as uow:
        assert cs.income_state(uow, alice).reserve == 0  # type: ignore[union-attr]


def test_ci15_circles_v2_claims_reach_back_14_days_and_demurrage_burns_under_rules_2(store: Store) -> None:
    e = economy_with(store, "circles-v2", rules=2)
    (alice,) = join(e, "alice")
    e.advance(30 * DAY)
    assert e.run(cm.ClaimIncome(alice), "alice").result == {"claimed": 33_600}  # 14 days × 24 units
    e.advance(365 * DAY)
    receipt = e.run(cm.ApplyDemurrage(alice), "alice")
    assert receipt.result["days"] == 395
    burned = receipt.result["burned"]
    assert burned == 33_600 - held(e, alice, alice) and 0.07 < burned / 33_600 < 0.08
    supply_matches(e)
    verified(e)


def test_ci15_the_seed_preset_has_no_demurrage(economy: ScriptedEconomy) -> None:
    (alice,) = join(economy, "alice")
    assert refused_and_nothing_written(economy, cm.ApplyDemurrage(alice), "alice").rule == "CI15"


@pytest.mark.parametrize("preset", ["seed", "circles-v1", "circles-v2"])
def test_ci15_every_preset_runs_and_verifies(store: Store, preset: str) -> None:
    e = economy_with(store, preset)
    join(e, "a")
    e.advance(DAY)
    e.run(cm.ClaimIncome(e.account("a")), "a")
    supply_matches(e)
    verified(e)


def test_ci02_a_policy_change_of_the_rate_applies_from_its_time_onward(economy: ScriptedEconomy) -> None:
    from civicledger.kernel.economy import ChangePolicy

    (alice,) = join(economy, "alice")
    economy.run(cm.ClaimIncome(alice), "alice")
    economy.advance(WEEK)
    economy.council_decision(ChangePolicy("circles.income_units", 200_000))
    economy.advance(WEEK)
    # The first week at 1,000 units, the second at 2,000, plus the carried half unit.
    assert economy.run(cm.ClaimIncome(alice), "alice").result == {"claimed": 300_000}
    verified(economy)


def test_ci03_the_seed_pseudocodes_2_percent_is_a_policy_value(store: Store) -> None:
    e = ScriptedEconomy(store, start=T0, label="civicledger test key", policy={"circles": {"growth": "2%"}})
    e.advance(YEAR)
    (alice,) = join(e, "alice")
    e.run(cm.ClaimIncome(alice), "alice")
    e.advance(WEEK)
    assert e.run(cm.ClaimIncome(alice), "alice").result == {"claimed": 102_000}
