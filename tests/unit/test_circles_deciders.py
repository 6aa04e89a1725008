"""CI9, CI11, CI12 deciders as pure functions: group money against collateral, and a routed plan's checks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from civicledger.kernel.errors import InsufficientFundsError, InvalidInputError, RuleViolationError
from civicledger.kernel.identity import AccountId
from civicledger.kernel.ledger import Currency, CurrencyKind, IssuerRule, Leg
from civicledger.kernel.money import CurrencyId
from civicledger.mechanisms.circles import rules
from civicledger.mechanisms.circles.policy import CirclesPolicy, preset
from civicledger.mechanisms.circles.routing import LegFacts, check_plan, leg_room, own_currency_shortfall

NOW = 1_900_000_000
A, B, C = AccountId("a"), AccountId("b"), AccountId("c")
G, H = AccountId("g"), AccountId("h")  # two groups
SEED = CirclesPolicy()
V1 = preset("circles-v1")


def coin(issuer: AccountId, kind: CurrencyKind = CurrencyKind.PERSONAL) -> Currency:
    rule = IssuerRule.CIRCLES_GROUP if kind is CurrencyKind.GROUP else IssuerRule.CIRCLES_INCOME
    return Currency(CurrencyId(issuer), kind, issuer, rule, 2, f"coins of {issuer}")


# Group money against collateral (CI11, CI12) -----------------------------------------------------


def test_ci11_a_member_converts_its_own_currency_into_group_money_1_to_1() -> None:
    mint = rules.issue_group_money(rules.CONVERSION, A, G, CurrencyId(A), 40, accepted=True, held=40)
    assert mint.collateral == Leg(CurrencyId(A), A, G, 40)  # the group keeps the member's coins
    assert (mint.holder, mint.group, mint.currency, mint.units) == (A, G, CurrencyId(G), 40)


def test_ci11_a_non_member_cannot_convert() -> None:
    with pytest.raises(RuleViolationError, match="a is not a member of group g and cannot convert into it") as e:
        rules.issue_group_money(rules.CONVERSION, A, G, CurrencyId(A), 40, accepted=False, held=100)
    assert e.value.rule == "CI11"


def test_ci11_a_conversion_needs_the_coins_held() -> None:
    with pytest.raises(InsufficientFundsError, match="a holds 39 of its own currency, cannot convert 40") as e:
        rules.issue_group_money(rules.CONVERSION, A, G, CurrencyId(A), 40, accepted=True, held=39)
    assert e.value.rule == "CI11"


@pytest.mark.parametrize("units", [0, -5, True])
def test_ci11_a_conversion_is_a_positive_whole_number_of_units(units: int) -> None:
    with pytest.raises(InvalidInputError, match="a conversion must be a positive whole number") as e:
        rules.issue_group_money(rules.CONVERSION, A, G, CurrencyId(A), units, accepted=True, held=100)
    assert e.value.rule == "CI11"


def test_ci12_a_group_exchange_gives_the_trusted_groups_money_as_collateral() -> None:
    mint = rules.issue_group_money(rules.GROUP_EXCHANGE, A, H, CurrencyId(G), 7, accepted=True, held=10)
    assert mint.collateral == Leg(CurrencyId(G), A, H, 7)  # h keeps g's money
    assert (mint.holder, mint.group, mint.currency, mint.units) == (A, H, CurrencyId(H), 7)


def test_ci12_a_group_takes_only_the_money_of_a_group_it_trusts() -> None:
    edge = rules.TrustEdge(H, G, expires_at=NOW + 10)
    assert rules.trusts(edge, NOW) and not rules.trusts(edge, NOW + 10) and not rules.trusts(None, NOW)
    with pytest.raises(RuleViolationError, match="group h does not trust group g") as e:
        rules.issue_group_money(
            rules.GROUP_EXCHANGE, A, H, CurrencyId(G), 7, accepted=rules.trusts(edge, NOW + 10), held=10
        )
    assert e.value.rule == "CI12"


def test_ci12_a_group_exchange_needs_the_money_held() -> None:
    with pytest.raises(InsufficientFundsError, match="a holds 3 of g's money, cannot exchange 7") as e:
        rules.issue_group_money(rules.GROUP_EXCHANGE, A, H, CurrencyId(G), 7, accepted=True, held=3)
    assert e.value.rule == "CI12"
    with pytest.raises(InvalidInputError, match="a group exchange must be a positive whole number"):
        rules.GROUP_EXCHANGE.check_units(0)


def test_ci12_refusals_come_in_order_units_then_acceptance_then_holding() -> None:
    with pytest.raises(InvalidInputError):
        rules.issue_group_money(rules.GROUP_EXCHANGE, A, H, CurrencyId(G), 0, accepted=False, held=0)
    with pytest.raises(RuleViolationError):
        rules.issue_group_money(rules.GROUP_EXCHANGE, A, H, CurrencyId(G), 7, accepted=False, held=0)


# A routed plan against the state (CI9) -------------------------------------------------------------


def facts(
    currency: Currency,
    trust: rules.TrustEdge | None = None,
    own: int = 0,
    held: int = 0,
    source_is_group: bool = False,
    target_is_group: bool = False,
) -> LegFacts:
    return LegFacts(currency, source_is_group, target_is_group, trust, own, held)


def test_ci09_a_plan_through_trust_passes_and_an_issuer_takes_back_its_own_without_limit() -> None:
    through_b = [
        (Leg(CurrencyId(A), A, B, 50), facts(coin(A), trust=rules.TrustEdge(B, A))),
        (Leg(CurrencyId(B), B, C, 50), facts(coin(B), trust=rules.TrustEdge(C, B))),
    ]
    check_plan(through_b, SEED, NOW)
    home = (Leg(CurrencyId(C), B, C, 10**9), facts(coin(C)))
    assert leg_room(*home, V1, NOW) is None
    check_plan([home], V1, NOW)


def test_ci09_a_leg_of_money_that_is_not_circles_does_not_route() -> None:
    fiat = Currency(CurrencyId("EUR"), CurrencyKind.ISSUED, C, IssuerRule.ISSUER_COMMAND, 2, "euro")
    with pytest.raises(RuleViolationError, match="leg 1: EUR is not Circles money and does not route") as e:
        check_plan([(Leg(CurrencyId("EUR"), A, B, 5), facts(fiat))], SEED, NOW)
    assert e.value.rule == "CI9"


def test_ci09_a_group_takes_no_part_in_a_payment() -> None:
    leg = Leg(CurrencyId(G), G, B, 5)
    with pytest.raises(RuleViolationError, match="leg 1: group g holds only collateral") as e:
        check_plan([(leg, facts(coin(G, CurrencyKind.GROUP), source_is_group=True))], SEED, NOW)
    assert e.value.rule == "CI11"
    leg = Leg(CurrencyId(A), A, G, 5)
    with pytest.raises(RuleViolationError, match="leg 1: group g holds only collateral"):
        check_plan([(leg, facts(coin(A), trust=rules.TrustEdge(G, A), target_is_group=True))], SEED, NOW)


def test_ci09_a_target_without_trust_or_with_expired_trust_refuses_the_leg() -> None:
    leg = Leg(CurrencyId(A), A, B, 5)
    with pytest.raises(RuleViolationError, match="leg 1: b does not trust a") as e:
        check_plan([(leg, facts(coin(A)))], SEED, NOW)
    assert e.value.rule == "CI5"
    expired = rules.TrustEdge(B, A, expires_at=NOW)
    with pytest.raises(RuleViolationError, match="leg 1: b does not trust a"):
        check_plan([(leg, facts(coin(A), trust=expired))], preset("circles-v2"), NOW)


def test_ci09_trust_limits_count_every_leg_to_one_account_in_one_currency() -> None:
    # b accepts a's coins up to 50% of its own holding (1,000) less the 100 it holds: 400.
    edge = rules.TrustEdge(B, A, limit_percent=50)
    fact = facts(coin(A), trust=edge, own=1_000, held=100)
    check_plan([(Leg(CurrencyId(A), A, B, 400), fact)], V1, NOW)
    twice = [(Leg(CurrencyId(A), A, B, 250), fact), (Leg(CurrencyId(A), C, B, 151), fact)]
    with pytest.raises(RuleViolationError, match="leg 2: b accepts at most 400 of the currency of a") as e:
        check_plan(twice, V1, NOW)
    assert e.value.rule == "CI5"


def test_ci09_legs_are_checked_one_at_a_time_in_plan_order() -> None:
    loaded: list[int] = []

    def lazily() -> Iterator[tuple[Leg, LegFacts]]:
        for i, leg in enumerate([Leg(CurrencyId(A), A, B, 5), Leg(CurrencyId(B), B, C, 5)]):
            loaded.append(i)
            yield leg, facts(coin(leg.source))  # no trust: the first leg is refused

    with pytest.raises(RuleViolationError, match="leg 1"):
        check_plan(lazily(), SEED, NOW)
    assert loaded == [0]  # the second leg's facts were never needed


def test_ci09_the_sender_mints_what_its_own_currency_legs_need_beyond_its_holding() -> None:
    pays = [Leg(CurrencyId(A), A, B, 8), Leg(CurrencyId(B), B, C, 8)]
    assert own_currency_shortfall(pays, A, held=5) == 3
    assert own_currency_shortfall(pays, A, held=8) == 0
    # Coins coming back later do not cover the dip before them.
    back = [Leg(CurrencyId(A), A, B, 8), Leg(CurrencyId(A), B, A, 8)]
    assert own_currency_shortfall(back, A, held=0) == 8
    assert own_currency_shortfall([Leg(CurrencyId(B), A, C, 9)], A, held=0) == 0
