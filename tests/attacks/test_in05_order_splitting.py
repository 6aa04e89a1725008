"""IN5: splitting does not pay. A pre-order of n units costs exactly what n orders of one unit
placed in a row cost: under rules 2 each unit is priced at the demand/supply ratio of its own
position in the coop's queue (CR14), summed by ``rules.pre_order_total`` in closed form. Under
rules 1 an order was priced at the ratio after its last unit, so sixty orders of one cost about
half of one order of sixty."""

from __future__ import annotations

import random
import time
from fractions import Fraction
from pathlib import Path

from civicledger.kernel.ports import Store
from civicledger.mechanisms.creditism import commands as cc
from civicledger.mechanisms.creditism import rules
from civicledger.mechanisms.creditism.state import PREORDERS
from tests.attacks.creditism_world import WEALTH, XI, balance, sound, world
from tests.e2e.conftest import Civic, db_url  # noqa: F401 (db_url: a fixture the CLI's needs)
from tests.e2e.conftest import civic as cli  # noqa: F401 (the end-to-end `civic` fixture, as `cli`)


def test_in05_under_rules_1_sixty_orders_of_one_cost_less_than_one_of_sixty() -> None:
    from civicledger.adapters.memory import MemoryStore

    split, whole = world(MemoryStore(), "ada", rules=1), world(MemoryStore(), "ada", rules=1)
    singles = sum(
        split.run(cc.PreOrder(split.account("ada"), "green-bike", 1), "ada").result["unit_price"] for _ in range(60)
    )
    one = whole.run(cc.PreOrder(whole.account("ada"), "green-bike", 60), "ada").result
    assert (singles, one["unit_price"] * 60) == (20_362, 40_080)  # the attack paid under the old rules


def test_in05_sixty_orders_of_one_cost_exactly_one_order_of_sixty(store: Store) -> None:
    from civicledger.adapters.memory import MemoryStore

    split, whole = world(store, "ada"), world(MemoryStore(), "ada")
    singles = [split.run(cc.PreOrder(split.account("ada"), "green-bike", 1, XI), "ada").result for _ in range(60)]
    one = whole.run(cc.PreOrder(whole.account("ada"), "green-bike", 60, XI), "ada").result
    assert sum(r["total"] for r in singles) == one["total"]
    assert balance(split, "ada") == balance(whole, "ada") == WEALTH - one["total"]
    assert balance(split, "green-wheels") == balance(whole, "green-wheels") == one["total"]
    # The first single is the order's first unit, the last single its last unit.
    assert (singles[0]["total"], singles[-1]["total"]) == (one["first_unit_price"], one["unit_price"])
    assert one["first_unit_price"] < one["unit_price"]
    sound(split)
    sound(whole)


def test_in05_interleaving_with_another_buyer_gains_nothing(store: Store) -> None:
    """Whatever the orders and their order, each buyer pays exactly the prices of the positions it
    got, and all buyers together pay the price of positions 1 .. N."""
    e = world(store, "ada", "bo")
    draw = random.Random(5)
    positions: dict[str, list[int]] = {"ada": [], "bo": []}
    placed = 0
    for _ in range(16):
        buyer, quantity = draw.choice(("ada", "bo")), draw.randint(1, 30)
        e.run(cc.PreOrder(e.account(buyer), "green-bike", quantity, XI), buyer)
        positions[buyer] += range(placed + 1, placed + quantity + 1)
        placed += quantity
    with e.store.read() as uow:
        price = Fraction(next(o for _, o in PREORDERS.scan(uow, "green-bike/")).price or "0")
    allotted = Fraction(600)
    for buyer, got in positions.items():
        owed = sum(rules.unit_price_at(price, allotted, k) for k in got)
        assert WEALTH - balance(e, buyer) == owed, buyer
    assert balance(e, "green-wheels") == rules.pre_order_total(price, allotted, 0, placed)
    sound(e)


def test_in05_the_closed_form_is_the_sum_over_positions_and_fast_for_a_million_units() -> None:
    draw = random.Random(2027)
    for _ in range(500):
        price = Fraction(draw.randint(0, 10**7), draw.randint(1, 997))
        allotted = Fraction(draw.randint(1, 10**4), draw.randint(1, 13))
        before, n = draw.randint(0, 400), draw.randint(0, 200)
        loop = sum(rules.unit_price_at(price, allotted, k) for k in range(before + 1, before + n + 1))
        assert rules.pre_order_total(price, allotted, before, n) == loop
        # any split of the n units costs the same
        cut = draw.randint(0, n)
        parts = rules.pre_order_total(price, allotted, before, cut) + rules.pre_order_total(
            price, allotted, before + cut, n - cut
        )
        assert parts == loop
    price, allotted = Fraction(1_234_567, 7), Fraction(3_000_000)
    start = time.perf_counter()
    total = rules.pre_order_total(price, allotted, 0, 10**6)
    assert time.perf_counter() - start < 0.05  # about 20 microseconds; the loop takes seconds
    assert total == sum(rules.unit_price_at(price, allotted, k) for k in range(1, 10**6 + 1))


def test_in05_through_the_cli_three_orders_of_one_cost_one_order_of_three(cli: Civic, tmp_path: Path) -> None:  # noqa: F811
    civic = cli
    (tmp_path / "economy.toml").write_text('[economy]\nname = "Bike Town"\n')
    civic("init", "economy.toml")
    k = ("-k", "governor-1")
    civic("creditism", "define", "bicycle", "--kind", "good", "--unit", "piece", "--labour", "5000", *k)
    civic("creditism", "allot", "bicycle", "--amount", "100", *k)
    civic("keys", "new", "green")
    civic("account", "open", "--key", "green", "--kind", "organization")
    civic(
        "creditism", "apply", "green-bike", "--good", "bicycle", "--labour", "4000", "--markup", "1/20", "-k", "green"
    )
    civic("creditism", "approve", "green-bike", "--allotted", "100", *k)
    civic("keys", "new", "fund")
    civic("account", "open", "--key", "fund", "--kind", "fund")
    civic("ledger", "create-currency", "xi", "--key", "fund", "--name", "bike bonds")
    for buyer in ("ada", "bo"):
        account = civic.json("keys", "new", buyer)["account"]
        civic("account", "open", "--key", buyer)
        civic("ledger", "issue", "xi", account, "1000000", "--key", "fund")
    singles = [
        civic.json("creditism", "pre-order", "green-bike", "1", "-k", "ada", "--currency", "xi")["result"]
        for _ in range(3)
    ]
    three = civic.json("creditism", "pre-order", "green-bike", "3", "-k", "bo", "--currency", "xi")["result"]
    # BasePrice 4,000 x (1 + 1/20) = 4,200; unit k costs 4,200 x k / 100 = 42 k.
    assert [r["total"] for r in singles] == [42, 84, 126]
    assert three["total"] == 168 + 210 + 252  # positions 4 to 6: the same rule, no discount for size
    assert (three["first_unit_price"], three["unit_price"]) == (168, 252)


def test_in05_in01_the_simulators_order_splitter_and_revenue_inflator_gain_nothing(tmp_path: Path) -> None:
    """``civic sim``: an order splitter and a revenue inflator played over a year and a half, two
    seeds; the report plots what they gained. Splitting never gains (interleaved with honest
    orders it loses), inflating earns nothing; under rules 1 both would have paid."""
    import polars as pl

    from civicledger.sim import parse_scenario
    from civicledger.sim.report import write_report
    from civicledger.sim.sweep import sweep

    scenario = parse_scenario(
        {
            "scenario": {"steps": 80, "seeds": [1, 2], "record_every": 10},
            "population": {"persons": 2_000, "companies": 0, "resources": 3},
            "behaviours": {"pre_orders": "order_splitter", "coop_reports": "revenue_inflator"},
            "parameters": {"demand_per_capita": 40.0},
        }
    )
    sweep(scenario, tmp_path / "out", workers=1)
    rows = pl.read_parquet(str(tmp_path / "out" / "*.parquet"))
    assert rows["splitter_paid"].min() > 0 and rows["pre_ordered_units"].min() > 0
    assert rows["splitter_gain"].max() <= 0 < rows["splitter_gain_rules_1"].min()
    assert rows["inflator_gain"].max() == 0 < rows["inflator_gain_rules_1"].min()
    report = write_report(tmp_path / "out", tmp_path / "report.html").read_text()
    assert "What splitting pre-orders and inflating revenue gained" in report
