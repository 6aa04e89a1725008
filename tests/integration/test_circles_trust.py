"""CI5-CI8, CI14 through the engine: mutual and directed trust, rewards, revocation, exchange."""

from __future__ import annotations

from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.kernel import ledger as led
from civicledger.kernel.errors import AuthorityError, NotFoundError, RuleViolationError
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.ports import Store
from civicledger.kernel.time import DAY
from civicledger.mechanisms.circles import messages as cm
from civicledger.mechanisms.circles import state as cs
from tests.integration.test_circles_accounts import (
    economy_with,
    held,
    join,
    refused_and_nothing_written,
    supply_matches,
    verified,
)


def test_ci05_mutual_trust_needs_both_signatures(economy: ScriptedEconomy) -> None:
    a, b = join(economy, "a", "b")
    error = refused_and_nothing_written(economy, cm.Trust(a, b), "a")
    assert isinstance(error, AuthorityError)
    economy.run(cm.Trust(a, b), "a", "b")
    with economy.store.read() as uow:
        assert cs.trust_edge(uow, a, b) is not None and cs.trust_edge(uow, b, a) is not None


def test_ci07_trust_credits_each_side_half_of_the_others_reserve(economy: ScriptedEconomy) -> None:
    a, b, c = join(economy, "a", "b", "c")
    receipt = economy.run(cm.Trust(a, b), "a", "b")
    assert receipt.result["rewards"] == {a: 434_812, b: 434_812}
    assert held(economy, a, b) == 434_812 and held(economy, b, a) == 434_812
    economy.run(cm.Trust(c, b), "c", "b")
    # b's reserve was halved once already (869,625 → 434,813): c gets 217,406 of it.
    assert held(economy, c, b) == 217_406 and held(economy, b, c) == 434_812
    with economy.store.read() as uow:
        assert cs.income_state(uow, a).reserve == 434_813  # type: ignore[union-attr]
        assert cs.income_state(uow, b).reserve == 217_407  # type: ignore[union-attr]
        assert cs.income_state(uow, c).reserve == 434_813  # type: ignore[union-attr]
    supply_matches(economy)


def test_ci06_either_party_revokes_at_once_and_coins_held_stay(economy: ScriptedEconomy) -> None:
    a, b = join(economy, "a", "b")
    economy.run(cm.Trust(a, b), "a", "b")
    economy.run(cm.Untrust(b, a), "b")
    with economy.store.read() as uow:
        assert cs.trust_edge(uow, a, b) is None and cs.trust_edge(uow, b, a) is None
    assert held(economy, a, b) == 434_812  # already held, stays held
    economy.run(cm.ClaimIncome(a), "a")
    error = refused_and_nothing_written(economy, led.Transfer((led.Leg(CurrencyId(a), a, b, 1),)), "a")
    assert error.rule == "CI5"
    assert refused_and_nothing_written(economy, cm.Untrust(a, b), "a").rule == "CI6"


def test_ci07_trusting_again_after_revoking_pays_no_second_reward(economy: ScriptedEconomy) -> None:
    a, b = join(economy, "a", "b")
    economy.run(cm.Trust(a, b), "a", "b")
    economy.run(cm.Untrust(a, b), "a")
    assert economy.run(cm.Trust(a, b), "a", "b").result["rewards"] == {}
    assert held(economy, a, b) == 434_812


def test_ci08_two_accounts_that_trust_each_other_exchange_1_to_1(economy: ScriptedEconomy) -> None:
    a, b, c = join(economy, "a", "b", "c")
    for name, account in (("a", a), ("b", b), ("c", c)):
        economy.run(cm.ClaimIncome(account), name)
    economy.run(cm.Trust(a, b), "a", "b")
    economy.run(cm.Exchange(a, b, 1_000), "a", "b")
    assert held(economy, a, b) == 434_812 + 1_000 and held(economy, b, a) == 434_812 + 1_000
    assert held(economy, a, a) == 434_812 - 1_000
    assert refused_and_nothing_written(economy, cm.Exchange(a, c, 1), "a", "c").rule == "CI8"


def test_ci05_trusting_oneself_or_an_unknown_account_is_refused(economy: ScriptedEconomy) -> None:
    (a,) = join(economy, "a")
    assert refused_and_nothing_written(economy, cm.Trust(a, a), "a").rule == "CI5"
    ghost = economy.account("ghost")
    error = refused_and_nothing_written(economy, cm.Trust(a, ghost), "a")
    assert isinstance(error, NotFoundError) and error.rule == "CI5"
    economy.open("stranger")
    error = refused_and_nothing_written(economy, cm.Trust(a, economy.account("stranger")), "a", "stranger")
    assert isinstance(error, NotFoundError)


def test_ci14_a_plain_transfer_reaches_only_accounts_that_trust_the_issuer(economy: ScriptedEconomy) -> None:
    a, b = join(economy, "a", "b")
    economy.run(cm.ClaimIncome(a), "a")
    leg = led.Leg(CurrencyId(a), a, b, 10)
    error = refused_and_nothing_written(economy, led.Transfer((leg,)), "a")
    assert isinstance(error, RuleViolationError) and error.rule == "CI5"
    economy.run(cm.Trust(a, b), "a", "b")
    economy.run(led.Transfer((leg,)), "a")
    # b pays a back in a's own currency: an issuer always accepts its own currency.
    economy.run(led.Transfer((led.Leg(CurrencyId(a), b, a, 10),)), "b")


def test_ci05_directed_trust_with_percent_limits_under_circles_v1(store: Store) -> None:
    e = economy_with(store, "circles-v1")
    a, b = join(e, "a", "b")
    e.run(cm.Trust(b, a, limit_percent=50), "b")  # b alone signs: b accepts a's currency
    with e.store.read() as uow:
        assert cs.trust_edge(uow, a, b) is None
    # b holds 5,000 of its own: it accepts up to 2,500 of a's.
    error = refused_and_nothing_written(e, led.Transfer((led.Leg(CurrencyId(a), a, b, 2_501),)), "a")
    assert error.rule == "CI5"
    e.run(led.Transfer((led.Leg(CurrencyId(a), a, b, 2_500),)), "a")
    assert refused_and_nothing_written(e, led.Transfer((led.Leg(CurrencyId(b), b, a, 1),)), "b").rule == "CI5"
    verified(e)


def test_ci05_binary_expiring_trust_under_circles_v2(store: Store) -> None:
    e = economy_with(store, "circles-v2")
    a, b = join(e, "a", "b")
    e.advance(DAY)
    e.run(cm.ClaimIncome(a), "a")
    e.run(cm.Trust(b, a, expires_at=e.clock.now() + DAY), "b")
    e.run(led.Transfer((led.Leg(CurrencyId(a), a, b, 100),)), "a")
    e.advance(DAY)
    assert refused_and_nothing_written(e, led.Transfer((led.Leg(CurrencyId(a), a, b, 100),)), "a").rule == "CI5"
    e.run(cm.Trust(b, a, expires_at=e.clock.now() + DAY), "b")  # renewed
    e.run(led.Transfer((led.Leg(CurrencyId(a), a, b, 100),)), "a")
    verified(e)
