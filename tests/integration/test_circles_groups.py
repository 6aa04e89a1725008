"""CI10-CI13 through the engine: groups, members, irreversible conversion, group-to-group exchange."""

from __future__ import annotations

from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.kernel import ledger as led
from civicledger.kernel.errors import AuthorityError, IdempotencyConflictError, InsufficientFundsError
from civicledger.kernel.identity import AccountId, AccountKind
from civicledger.kernel.money import CurrencyId
from civicledger.mechanisms.circles import messages as cm
from civicledger.mechanisms.circles import state as cs
from tests.integration.test_circles_accounts import (
    head,
    held,
    join,
    refused_and_nothing_written,
    supply_matches,
    verified,
)


def group(e: ScriptedEconomy, name: str, owner: str) -> AccountId:
    account = e.open(name, AccountKind.GROUP)
    e.run(cm.CreateGroup(account, e.account(owner)), name, owner, cid=f"group-{name}")
    return account


def test_ci10_anyone_creates_a_group_whose_owner_verifies_and_excludes_members(economy: ScriptedEconomy) -> None:
    alice, bob = join(economy, "alice", "bob")
    berlin = group(economy, "berlin", "alice")
    with economy.store.read() as uow:
        currency = uow.ledger.currency(CurrencyId(berlin))
    assert currency is not None and (currency.kind, currency.rule) == (
        led.CurrencyKind.GROUP,
        led.IssuerRule.CIRCLES_GROUP,
    )
    assert isinstance(refused_and_nothing_written(economy, cm.AddMember(berlin, bob), "bob"), AuthorityError)
    economy.run(cm.AddMember(berlin, bob), "alice")
    with economy.store.read() as uow:
        assert cs.is_member(uow, berlin, bob)
    assert refused_and_nothing_written(economy, cm.AddMember(berlin, bob), "alice").rule == "CI10"
    economy.run(cm.RemoveMember(berlin, bob), "alice")
    with economy.store.read() as uow:
        assert not cs.is_member(uow, berlin, bob)
    assert refused_and_nothing_written(economy, cm.RemoveMember(berlin, alice), "alice").rule == "CI10"


def test_ci11_a_member_converts_1_to_1_and_the_collateral_stays_with_the_group(economy: ScriptedEconomy) -> None:
    _alice, bob = join(economy, "alice", "bob")
    berlin = group(economy, "berlin", "alice")
    economy.run(cm.AddMember(berlin, bob), "alice")
    economy.run(cm.ClaimIncome(bob), "bob")
    economy.run(cm.Convert(bob, berlin, 100_000), "bob", cid="convert-bob-1")
    assert held(economy, bob, berlin) == 100_000
    assert held(economy, berlin, bob) == 100_000  # the collateral
    assert held(economy, bob, bob) == 434_812 - 100_000
    # The collateral never moves, not even by the group's own key (CI11).
    error = refused_and_nothing_written(economy, led.Transfer((led.Leg(CurrencyId(bob), berlin, bob, 1),)), "berlin")
    assert error.rule == "CI11"
    supply_matches(economy)


def test_ci11_a_retried_conversion_converts_once(economy: ScriptedEconomy) -> None:
    _alice, bob = join(economy, "alice", "bob")
    berlin = group(economy, "berlin", "alice")
    economy.run(cm.AddMember(berlin, bob), "alice")
    economy.run(cm.ClaimIncome(bob), "bob")
    first = economy.run(cm.Convert(bob, berlin, 1_000), "bob", cid="convert-once")
    size = head(economy)
    again = economy.run(cm.Convert(bob, berlin, 1_000), "bob", cid="convert-once")
    assert again.replayed and again.seq == first.seq and head(economy) == size
    assert held(economy, bob, berlin) == 1_000
    error = economy.refused(cm.Convert(bob, berlin, 2_000), "bob", cid="convert-once")
    assert isinstance(error, IdempotencyConflictError) and head(economy) == size


def test_ci11_converting_into_a_group_one_is_not_a_member_of_is_refused(economy: ScriptedEconomy) -> None:
    _alice, bob = join(economy, "alice", "bob")
    berlin = group(economy, "berlin", "alice")
    economy.run(cm.ClaimIncome(bob), "bob")
    error = refused_and_nothing_written(economy, cm.Convert(bob, berlin, 1), "bob")
    assert error.rule == "CI11" and "not a member" in error.message
    economy.run(cm.AddMember(berlin, bob), "alice")
    error = refused_and_nothing_written(economy, cm.Convert(bob, berlin, 10**9), "bob")
    assert isinstance(error, InsufficientFundsError)
    economy.run(cm.RemoveMember(berlin, bob), "alice")
    assert refused_and_nothing_written(economy, cm.Convert(bob, berlin, 1), "bob").rule == "CI11"


def test_ci12_groups_that_trust_each_other_exchange_both_ways_and_never_back_to_persons(
    economy: ScriptedEconomy,
) -> None:
    _alice, bob, _carol = join(economy, "alice", "bob", "carol")
    berlin = group(economy, "berlin", "alice")
    sf = group(economy, "sf", "carol")
    economy.run(cm.AddMember(berlin, bob), "alice")
    economy.run(cm.ClaimIncome(bob), "bob")
    economy.run(cm.Convert(bob, berlin, 5_000), "bob")
    assert refused_and_nothing_written(economy, cm.GroupExchange(bob, berlin, sf, 1_000), "bob").rule == "CI12"
    economy.run(cm.Trust(sf, berlin), "carol", "alice")  # mutual between groups: both owners sign
    economy.run(cm.GroupExchange(bob, berlin, sf, 1_000), "bob")
    assert held(economy, bob, sf) == 1_000 and held(economy, bob, berlin) == 4_000
    economy.run(cm.GroupExchange(bob, sf, berlin, 400), "bob")
    assert held(economy, bob, sf) == 600 and held(economy, bob, berlin) == 4_400
    # A group accepts no individual's currency, so group money has no way back (CI12).
    assert refused_and_nothing_written(economy, cm.Trust(berlin, bob), "alice", "bob").rule == "CI12"
    supply_matches(economy)
    verified(economy)


def test_ci13_anyone_who_trusts_the_group_accepts_its_money(economy: ScriptedEconomy) -> None:
    _alice, bob, dave = join(economy, "alice", "bob", "dave")
    berlin = group(economy, "berlin", "alice")
    economy.run(cm.AddMember(berlin, bob), "alice")
    economy.run(cm.ClaimIncome(bob), "bob")
    economy.run(cm.Convert(bob, berlin, 5_000), "bob")
    leg = led.Leg(CurrencyId(berlin), bob, dave, 1_000)
    assert refused_and_nothing_written(economy, led.Transfer((leg,)), "bob").rule == "CI5"
    economy.run(cm.Trust(dave, berlin), "dave")  # trusting a group is one-sided: dave alone signs
    economy.run(led.Transfer((leg,)), "bob")
    assert held(economy, dave, berlin) == 1_000
