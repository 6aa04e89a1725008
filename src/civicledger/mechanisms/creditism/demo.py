"""Demo chapter: the seed's Creditism story (CR1-CR14).

The council surveys steel, rubber and plastic, scores their externalities and allots their
extraction (allowance ratings 0.8, 1 and 1.5); a bicycle needs 5 kg of steel, 2 of rubber and
1 of plastic; two bike cooperatives apply, are approved and compared side by side; early
pre-orders pay less; a backer crowdfunds; production is recorded and the surplus over BasePrice
becomes coop credits; steel needs machines that need steel, and the price still has a finite,
exact breakdown. Every command has a fixed id, so running the demo twice writes nothing new.
"""

from __future__ import annotations

from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.demo import chapter
from civicledger.kernel import ledger as led
from civicledger.kernel.errors import CivicLedgerError
from civicledger.kernel.identity import AccountKind
from civicledger.kernel.messages import Command
from civicledger.kernel.money import CurrencyId, format_units
from civicledger.kernel.state import current_policy
from civicledger.kernel.time import DAY
from civicledger.mechanisms.creditism import commands as cc
from civicledger.mechanisms.creditism import handlers as svc
from civicledger.mechanisms.creditism.values import AssetKind, decode, show

CR = CurrencyId("bike-bond")


def _money(units: int) -> str:
    """A price: minor units of whichever currency pays (policy creditism.currency is "" here)."""
    return format_units(units, 2)


@chapter("Creditism: steel, rubber and plastic, the bicycle, two bike coops compared")
def creditism(demo: ScriptedEconomy) -> list[str]:
    info = demo.engine.economy()
    assert info is not None
    council = info.council

    def decide(command: Command, cid: str) -> None:
        demo.council_decision(command, cid=f"cr-{cid}")

    # 1. Resources: what they are, how harmful, how much demand, how much may be extracted.
    decide(
        cc.DefineAsset(
            council,
            "steel",
            AssetKind.FINITE,
            "kg",
            "steel from iron ore",
            total_supply="100000000",
            age="1000",
            labour=150,
            external=40,
        ),
        "define-steel",
    )
    decide(
        cc.DefineAsset(
            council,
            "rubber",
            AssetKind.RENEWABLE,
            "kg",
            "natural rubber",
            rejuvenation="100000",
            mortality="20000",
            labour=250,
            external=30,
        ),
        "define-rubber",
    )
    decide(
        cc.DefineAsset(
            council,
            "plastic",
            AssetKind.FINITE,
            "kg",
            "plastic from oil",
            total_supply="2000000",
            age="50",
            labour=80,
            external=20,
        ),
        "define-plastic",
    )
    factors = {
        "steel": (
            cc.Factor("soil", "7/10", optimal="1000000", current="999500", per_unit="1/2"),
            cc.Factor("water", "3/10", optimal="500000", current="500000", per_unit="1"),
        ),
        "rubber": (cc.Factor("forest", "1", optimal="2000000", current="2000000", per_unit="1"),),
        "plastic": (
            cc.Factor("oil", "1/2", optimal="1000000", current="998000", per_unit="2"),
            cc.Factor("oceans", "1/2", optimal="100000", current="100000", per_unit="1/2"),
        ),
    }
    for name, fs in factors.items():
        decide(cc.AssessExternality(council, name, fs), f"assess-{name}")
    for name, demand, allotted in (("steel", 4_000, 5_000), ("rubber", 2_000, 2_000), ("plastic", 1_500, 1_000)):
        decide(cc.SurveyAsset(council, name, str(demand)), f"survey-{name}")
        decide(cc.SetAllotment(council, name, str(allotted)), f"allot-{name}")
    demo.advance(DAY)

    # 2. The bicycle: its bill of materials, its own externality, its allotted production (CR7, CR8).
    decide(
        cc.DefineAsset(
            council,
            "bicycle",
            AssetKind.GOOD,
            "piece",
            "city bicycle",
            labour=12_000,
            council_markup="1/20",
            inputs={"steel": "5", "rubber": "2", "plastic": "1"},
        ),
        "define-bicycle",
    )
    decide(
        cc.AssessExternality(
            council, "bicycle", (cc.Factor("co2", "1", kind="good", impact="10", absorption="60000", current="50000"),)
        ),
        "assess-bicycle",
    )
    decide(cc.SurveyAsset(council, "bicycle", "800"), "survey-bicycle")
    decide(cc.SetAllotment(council, "bicycle"), "allot-bicycle")

    # 3. Two coops apply with their plans; the council approves them within the allotment (CR14).
    for coop in ("green-wheels", "city-cycles"):
        demo.open(coop, AccountKind.ORGANIZATION, cid=f"cr-open-{coop}")
    demo.run(
        cc.ApplyCoop(
            demo.account("green-wheels"),
            "green-bike",
            "bicycle",
            labour=10_000,
            external=500,
            markup="1/20",
            process="hand-built steel frames, local rubber",
        ),
        "green-wheels",
        cid="cr-apply-green",
    )
    demo.run(
        cc.ApplyCoop(
            demo.account("city-cycles"),
            "city-bike",
            "bicycle",
            labour=14_000,
            external=1_500,
            markup="1/10",
            process="assembly line, imported parts",
        ),
        "city-cycles",
        cid="cr-apply-city",
    )
    decide(cc.ApproveCoop(council, "green-bike", "600"), "approve-green")
    decide(cc.ApproveCoop(council, "city-bike", "399"), "approve-city")
    demo.advance(DAY)

    # 4. Crowdfunding and pre-orders: early orders pay less (demand/supply when placed).
    demo.open("bike-fund", AccountKind.FUND, cid="cr-open-fund")
    for rider in ("rider-ada", "rider-bo"):
        demo.person(rider)
    demo.run(led.CreateCurrency(CR, demo.account("bike-fund"), "bike bonds"), "bike-fund", cid="cr-create-bond")
    demo.run(led.Issue(CR, demo.account("rider-ada"), 100_000), "bike-fund", cid="cr-issue-ada")
    demo.run(cc.Crowdfund(demo.account("rider-ada"), "green-bike", CR, 40_000), "rider-ada", cid="cr-fund-ada")
    # Rules 2 (IN1, IN5): pre-orders are paid when placed, each unit at its own position's ratio, and
    # production delivers them; sales are no longer declared. Rules 1 keeps release 0.1's story.
    paid = info.rules_at(demo.clock.now()) >= 2
    if paid:
        demo.open("bike-shop", AccountKind.ORGANIZATION, cid="cr-open-shop")
        for name, units in (("rider-ada", 2_000_000), ("rider-bo", 8_000_000), ("bike-shop", 10_000_000)):
            demo.run(led.Issue(CR, demo.account(name), units), "bike-fund", cid=f"cr-issue-more-{name}")
    early = demo.run(
        cc.PreOrder(demo.account("rider-ada"), "green-bike", 60, CR if paid else None), "rider-ada", cid="cr-order-ada"
    )
    demo.advance(DAY)
    late = demo.run(
        cc.PreOrder(demo.account("rider-bo"), "green-bike", 240, CR if paid else None), "rider-bo", cid="cr-order-bo"
    )

    # 5. Production and sales: the surplus over BasePrice becomes coop credits (CR13).
    if paid:
        demo.run(cc.PreOrder(demo.account("bike-shop"), "green-bike", 300, CR), "bike-shop", cid="cr-order-shop")
        sold = demo.run(
            cc.RecordProduction(demo.account("green-wheels"), "green-bike", produced=600, sold=0, revenue=0),
            "green-wheels",
            cid="cr-produce-green",
        )
    else:  # rules 1: sales at 160.00 each, as declared
        sold = demo.run(
            cc.RecordProduction(
                demo.account("green-wheels"), "green-bike", produced=300, sold=300, revenue=300 * 16_000
            ),
            "green-wheels",
            cid="cr-produce-green",
        )

    # 6. A cycle: steel needs machines that need steel; the price stays finite and exact (CR12).
    decide(
        cc.DefineAsset(
            council, "machine", AssetKind.GOOD, "piece", "steel press", labour=500_000, inputs={"steel": "400"}
        ),
        "define-machine",
    )
    decide(cc.SetInputs(council, "steel", {"machine": "1/100000"}), "steel-needs-machines")
    refusals = []
    for command, cid in (
        (cc.SetInputs(council, "steel", {"machine": "1/100"}), "cr-unproductive-cycle"),
        (cc.SetAllotment(council, "plastic", "50000"), "cr-over-allot-plastic"),
    ):
        try:
            demo.council_decision(command, cid=cid)
        except CivicLedgerError as e:
            refusals.append(f"refused, rule {e.rule}: {e.message}")

    with demo.store.read() as uow:
        policy = current_policy(uow)
        report = svc.report_view(uow, policy)
        price = svc.price_view(uow, policy, "bicycle")
        rows = {r["application"]: r for r in svc.compare_view(uow, policy, "bicycle")}
    ratings = ", ".join(f"{r['asset']} {show(decode(r['rating']), 2)}" for r in report["resources"] if r["rating"])
    bicycle = next(g for g in report["goods"] if g["asset"] == "bicycle")
    parts = ", ".join(f"{k} {_money(v)}" for k, v in price["components"].items())
    lines = [
        f"allowance ratings (demand / allotted, CR9): {ratings}",
        f"bicycle capability {show(decode(bicycle['capability']), 0)} a year, limited by {bicycle['limiting']} "
        f"(CR7); allotted {show(decode(bicycle['allotted']), 2)} after E = {show(decode(bicycle['score']))} (CR8)",
        f"fee base: one month of basic income = {_money(svc.fee_base(policy))} (CR10, X8)",
        f"bicycle market price {_money(price['price'])} = {parts} (CR12: sums exactly)",
    ]
    for app_name in ("green-bike", "city-bike"):
        r = rows[app_name]
        lines.append(
            f"{app_name}: BasePrice {_money(r['base_price'])}, price {_money(r['price'])}, "
            f"efficiency {show(decode(r['efficiency']), 2)} (price / labour), "
            f"coop credits {_money(r['coop_credits'])}, workers {_money(r['worker_credits'])} (CR13)"
        )
    if paid:
        lines += [
            f"pre-orders, each unit at its position's demand/supply (CR14, IN5): 60 early for "
            f"{_money(early.result['total'])} ({_money(early.result['first_unit_price'])} to "
            f"{_money(early.result['unit_price'])} a unit), 240 later for {_money(late.result['total'])} "
            f"(up to {_money(late.result['unit_price'])}, ratio {late.result['ratio']}), paid when placed (IN1)",
            f"green-wheels made 600 and delivered every paid pre-order ({_money(sold.result['paid'])} paid); "
            f"the units sold above BasePrice earn {_money(sold.result['coop_credits'])} coop credits, "
            f"{_money(sold.result['worker_credits'])} to its workers (CR13, IN1)",
        ]
    else:
        lines += [
            f"pre-orders: 60 early at {_money(early.result['unit_price'])} each (demand/supply "
            f"{early.result['ratio']}), 240 later at {_money(late.result['unit_price'])} (ratio "
            f"{late.result['ratio']}) (CR14)",
            f"green-wheels sold 300 above BasePrice: {_money(sold.result['coop_credits'])} coop credits, "
            f"{_money(sold.result['worker_credits'])} to its workers",
        ]
    lines += [
        "steel needs machines that need steel: prices solved as one linear system, cycle included",
        *refusals,
    ]
    return lines
