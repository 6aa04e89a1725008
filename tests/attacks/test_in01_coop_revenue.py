"""IN1: coop credits (CR13) come from sales settled in the ledger, never from figures a coop
declares. Under rules 1 a coop declared its revenue and was credited the surplus; under rules 2 a
declared sale is refused, pre-orders are paid when placed (a ledger transfer to the coop), and
recorded production delivers paid orders in queue order: only what their buyers paid for each
delivered unit above the coop's BasePrice becomes credits."""

from __future__ import annotations

from fractions import Fraction

from civicledger.kernel.errors import RuleViolationError
from civicledger.kernel.ports import Store
from civicledger.mechanisms.creditism import commands as cc
from civicledger.mechanisms.creditism import rules
from civicledger.mechanisms.creditism.state import APPLICATIONS, PREORDERS
from tests.attacks.creditism_world import XI, balance, credits, head, sound, world

INFLATED = 10**12


def test_in01_under_rules_1_declared_revenue_was_credited(store: Store) -> None:
    e = world(store, rules=1)
    done = e.run(cc.RecordProduction(e.account("green-wheels"), "green-bike", 1, 1, INFLATED), "green-wheels")
    assert done.result["coop_credits"] == 499_999_996_821  # the attack worked under the old rules
    assert credits(e, "green-wheels").coop_credits == done.result["coop_credits"]
    sound(e)


def test_in01_inflated_declared_revenue_is_refused_and_writes_nothing(store: Store) -> None:
    e = world(store)
    before = head(e)
    for sold, revenue in ((1, INFLATED), (0, INFLATED), (1, 0)):
        error = e.refused(
            cc.RecordProduction(e.account("green-wheels"), "green-bike", 1, sold, revenue), "green-wheels"
        )
        assert isinstance(error, RuleViolationError) and error.rule == "IN1"
    assert head(e) == before
    assert credits(e, "green-wheels").coop_credits == 0
    done = e.run(cc.RecordProduction(e.account("green-wheels"), "green-bike", 600, 0, 0), "green-wheels")
    assert done.result == {
        "base_price": done.result["base_price"],
        "coop_credits": 0,
        "worker_credits": 0,
        "delivered": 0,
        "paid": 0,
    }  # nothing sold: nothing earned
    sound(e)


def test_in01_credits_come_only_from_paid_delivered_units_and_the_ledger_balances(store: Store) -> None:
    e = world(store, "ada", "bo")
    ada = e.run(cc.PreOrder(e.account("ada"), "green-bike", 500, XI), "ada")
    bo = e.run(cc.PreOrder(e.account("bo"), "green-bike", 100, XI), "bo")
    paid = ada.result["total"] + bo.result["total"]
    # Paid when placed: the money is in the coop's account, moved by the ledger.
    assert balance(e, "green-wheels") == paid
    assert balance(e, "ada") + balance(e, "bo") + paid == 2 * 10_000_000_000
    # 550 made: ada's 500 are delivered, bo's 100 wait (whole orders, in queue order).
    first = e.run(cc.RecordProduction(e.account("green-wheels"), "green-bike", 550, 0, 0), "green-wheels")
    assert (first.result["delivered"], first.result["paid"]) == (500, ada.result["total"])
    second = e.run(cc.RecordProduction(e.account("green-wheels"), "green-bike", 50, 0, 0), "green-wheels")
    assert (second.result["delivered"], second.result["paid"]) == (100, bo.result["total"])
    base = second.result["base_price"]
    with e.store.read() as uow:
        orders = [o for _, o in PREORDERS.scan(uow, "green-bike/")]
        coop = APPLICATIONS.get(uow, "green-bike")
    assert coop is not None and (coop.sold, coop.revenue) == (600, paid)
    assert all(o.delivered_at is not None for o in orders)
    # The surplus is each delivered unit's paid price above BasePrice, nothing else.
    price = Fraction(orders[0].price or "0")
    expected = sum(max(0, rules.unit_price_at(price, Fraction(600), k) - base) for k in range(1, 601))
    earned = credits(e, "green-wheels")
    assert expected > 0
    assert earned.coop_credits + earned.worker_credits == expected
    assert earned.coop_credits + earned.worker_credits < paid  # credits are a share of real payments
    sound(e)


def test_in01_no_sale_without_a_paying_buyer(store: Store) -> None:
    e = world(store, "ada")
    before = head(e)
    unpaid = e.refused(cc.PreOrder(e.account("ada"), "green-bike", 10), "ada")
    assert unpaid.rule == "IN1"  # an order that pays nothing cannot become a sale
    own = e.refused(cc.PreOrder(e.account("green-wheels"), "green-bike", 10, XI), "green-wheels")
    assert own.rule == "IN1"  # a coop does not buy from itself
    over = e.refused(cc.PreOrder(e.account("ada"), "green-bike", 601, XI), "ada")
    assert over.rule == "CR8"  # never more than the coop may make: the ratio stays at most 1
    poor = e.refused(cc.PreOrder(e.account("green-wheels"), "city-bike", 10, XI), "green-wheels")
    assert poor.rule == "X3"  # a buyer pays with units it holds
    assert head(e) == before
    sound(e)


def test_in01_a_colluding_buyer_earns_the_coop_at_most_the_approved_markup(store: Store) -> None:
    """What remains: a coop's accomplice can buy its whole allotment with money the coop gives it
    back. The credits are then exactly what honest buyers of the same units would have earned it,
    bounded by the coop markup the council approved on its allotted production."""
    honest = world(store, "ada")
    honest.run(cc.PreOrder(honest.account("ada"), "green-bike", 600, XI), "ada")
    honest.run(cc.RecordProduction(honest.account("green-wheels"), "green-bike", 600, 0, 0), "green-wheels")
    earned = credits(honest, "green-wheels")
    with honest.store.read() as uow:
        order = next(o for _, o in PREORDERS.scan(uow, "green-bike/"))
    price = Fraction(order.price or "0")  # BasePrice x (1 + markup)
    base = price / Fraction(21, 20)
    bound = 600 * (price - base)
    assert 0 < earned.coop_credits + earned.worker_credits <= bound
