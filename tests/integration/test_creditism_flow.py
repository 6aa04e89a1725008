"""CR1-CR14 through the engine: the seed's bicycle story as journal entries, and bad input refused."""

from __future__ import annotations

from fractions import Fraction as F

import pytest

from civicledger.adapters.memory import MemoryStore
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.kernel import ledger as led
from civicledger.kernel.identity import AccountId, AccountKind
from civicledger.kernel.messages import Command
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.state import current_policy
from civicledger.mechanisms.creditism import commands as cc
from civicledger.mechanisms.creditism import handlers as svc
from civicledger.mechanisms.creditism.state import APPLICATIONS, ASSETS, CREDITS, PREORDERS, CreditsRecord
from civicledger.mechanisms.creditism.values import AssetKind


def council_of(e: ScriptedEconomy) -> AccountId:
    info = e.engine.economy()
    assert info is not None
    return info.council


def head(e: ScriptedEconomy) -> int:
    with e.store.read() as uow:
        return uow.journal.head().size


def refused_and_nothing_written(e: ScriptedEconomy, command: Command, *signers: str) -> tuple[str, str]:
    before = head(e)
    error = e.refused(command, *(signers or e.governors))
    assert head(e) == before
    return error.rule, error.message


def define_resources(e: ScriptedEconomy, allot: tuple[int, int, int] = (5_000, 2_000, 1_000)) -> AccountId:
    c = council_of(e)
    e.council_decision(
        cc.DefineAsset(
            c, "steel", AssetKind.FINITE, "kg", total_supply="100000000", age="1000", labour=200, external=50
        )
    )
    e.council_decision(
        cc.DefineAsset(c, "rubber", AssetKind.RENEWABLE, "kg", rejuvenation="100000", mortality="20000", labour=300)
    )
    e.council_decision(
        cc.DefineAsset(c, "plastic", AssetKind.FINITE, "kg", total_supply="2000000", age="50", labour=100, external=20)
    )
    for name, demand, amount in zip(("steel", "rubber", "plastic"), (4_000, 2_000, 1_500), allot, strict=True):
        e.council_decision(cc.SurveyAsset(c, name, str(demand)))
        e.council_decision(cc.SetAllotment(c, name, str(amount)))
    return c


def test_cr05_cr06_cr09_the_story_allowance_ratings(economy: ScriptedEconomy) -> None:
    define_resources(economy)
    with economy.store.read() as uow:
        report = svc.report_view(uow, current_policy(uow))
    ratings = {r["asset"]: r["rating"] for r in report["resources"]}
    assert ratings == {"plastic": "3/2", "rubber": "1", "steel": "4/5"}


def test_cr05_allotment_without_amount_is_the_rule_figure_780(economy: ScriptedEconomy) -> None:
    c = council_of(economy)
    economy.council_decision(
        cc.DefineAsset(c, "oak", AssetKind.RENEWABLE, "piece", rejuvenation="5000", mortality="3000")
    )
    economy.council_decision(
        cc.AssessExternality(c, "oak", (cc.Factor("oxygen", "1", optimal="10000", current="4000", per_unit="100"),))
    )
    receipt = economy.council_decision(cc.SetAllotment(c, "oak"))
    assert receipt.result == {"allotted": "780"}
    assessed = [ev for ev in head_events(economy) if ev["type"] == "creditism.externality_assessed"]
    assert assessed[0]["score"] == "61/100"


def head_events(e: ScriptedEconomy) -> list[dict[str, object]]:
    with e.store.read() as uow:
        return [ev for s in uow.journal.scan() for ev in s.entry.events]


def test_cr07_ten_thousand_bicycles_and_the_shared_split(economy: ScriptedEconomy) -> None:
    c = define_resources(economy, (50_000, 60_000, 30_000))
    economy.council_decision(
        cc.DefineAsset(
            c, "bicycle", AssetKind.GOOD, "piece", labour=5_000, inputs={"steel": "5", "rubber": "2", "plastic": "1"}
        )
    )
    economy.council_decision(
        cc.AssessExternality(
            c, "bicycle", (cc.Factor("co2", "1", kind="good", impact="1000", absorption="60000", current="50000"),)
        )
    )
    receipt = economy.council_decision(cc.SetAllotment(c, "bicycle"))
    assert receipt.result == {"allotted": "9000"}  # 10,000 x (1 - 0.1), CR8
    event = next(ev for ev in receipt.events if ev["type"] == "creditism.allotment_set")
    assert event["capability"] == "10000" and event["limiting"] == "steel"
    # a second good drawing on steel: the allotment is shared by demand and the split shown
    economy.council_decision(
        cc.DefineAsset(c, "scooter", AssetKind.GOOD, "piece", labour=4_000, inputs={"steel": "10"})
    )
    economy.council_decision(cc.SurveyAsset(c, "bicycle", "4000"))
    economy.council_decision(cc.SurveyAsset(c, "scooter", "3000"))
    with economy.store.read() as uow:
        report = svc.report_view(uow, current_policy(uow))
    steel = next(r for r in report["resources"] if r["asset"] == "steel")
    assert steel["split"] == {"bicycle": "20000", "scooter": "30000"}
    bicycle = next(g for g in report["goods"] if g["asset"] == "bicycle")
    assert bicycle["capability"] == "4000" and bicycle["limiting"] == "steel"


def bike_world(e: ScriptedEconomy) -> AccountId:
    c = define_resources(e)
    e.council_decision(
        cc.DefineAsset(
            c,
            "bicycle",
            AssetKind.GOOD,
            "piece",
            labour=5_000,
            council_markup="1/10",
            inputs={"steel": "5", "rubber": "2", "plastic": "1"},
        )
    )
    e.council_decision(cc.SurveyAsset(c, "bicycle", "800"))
    e.council_decision(cc.SetAllotment(c, "bicycle"))
    e.open("green-wheels", AccountKind.ORGANIZATION)
    e.open("city-cycles", AccountKind.ORGANIZATION)
    e.run(
        cc.ApplyCoop(
            e.account("green-wheels"), "green-bike", "bicycle", labour=4_000, markup="1/20", process="hand-built frames"
        ),
        "green-wheels",
    )
    e.run(
        cc.ApplyCoop(
            e.account("city-cycles"),
            "city-bike",
            "bicycle",
            labour=6_000,
            external=500,
            markup="1/10",
            process="assembly line",
        ),
        "city-cycles",
    )
    e.council_decision(cc.ApproveCoop(c, "green-bike", "600"))
    e.council_decision(cc.ApproveCoop(c, "city-bike", "400"))
    return c


def test_cr11_cr12_bicycle_price_and_its_components(economy: ScriptedEconomy) -> None:
    bike_world(economy)
    with economy.store.read() as uow:
        policy = current_policy(uow)
        sparse = svc.price_view(uow, policy, "bicycle")
        exact = svc.exact_price_view(uow, policy, "bicycle")
        steel = svc.price_view(uow, policy, "steel")
    assert sum(sparse["components"].values()) == sparse["price"]
    assert sparse["price"] == exact["price"]
    assert all(abs(sparse["components"][k] - v) <= 1 for k, v in exact["components"].items())
    # steel: (200 + 50) x 4,000 / 5,000 = 200, the discount shows as negative scarcity
    assert steel["price"] == 200 and steel["components"]["scarcity"] == -50


def rules_1(store: object) -> ScriptedEconomy:
    """An economy under release 0.1's rules (IN8), where sales were declared (CR13)."""
    from tests.conftest import T0

    return ScriptedEconomy(store, start=T0, label="civicledger test key", rules=1)  # type: ignore[arg-type]


def bonds(e: ScriptedEconomy, *holders: str, units: int = 10_000_000) -> CurrencyId:
    """A currency buyers pay pre-orders in (rules 2, IN1), with ``units`` for each holder."""
    xi = CurrencyId("xi")
    e.open("fund", AccountKind.FUND)
    e.run(led.CreateCurrency(xi, e.account("fund"), "xi"), "fund")
    for name in holders:
        e.run(led.Issue(xi, e.account(name), units), "fund")
    return xi


def test_cr13_two_bike_coops_compared_and_surplus_credited(store: object) -> None:
    economy = rules_1(store)
    bike_world(economy)
    with economy.store.read() as uow:
        rows = svc.compare_view(uow, current_policy(uow), "bicycle")
    green, city = sorted(rows, key=lambda r: r["application"], reverse=True)
    assert green["application"] == "green-bike" and city["application"] == "city-bike"
    assert green["base_price"] < city["base_price"]
    for row in rows:
        assert sum(row["components"].values()) == row["price"]
    base = green["base_price"]
    receipt = economy.run(
        cc.RecordProduction(
            economy.account("green-wheels"), "green-bike", produced=100, sold=100, revenue=(base + 100) * 100
        ),
        "green-wheels",
    )
    assert receipt.result == {"base_price": base, "coop_credits": 5_000, "worker_credits": 5_000}
    with economy.store.read() as uow:
        credits = CREDITS.get(uow, economy.account("green-wheels"))
    assert credits == CreditsRecord(economy.account("green-wheels"), coop_credits=5_000, worker_credits=5_000)


def test_cr13_in01_paid_pre_orders_delivered_earn_the_surplus_of_units_above_base_price(
    economy: ScriptedEconomy,
) -> None:
    from civicledger.mechanisms.creditism import rules

    bike_world(economy)
    economy.person("ada")
    xi = bonds(economy, "ada")
    with economy.store.read() as uow:
        rows = svc.compare_view(uow, current_policy(uow), "bicycle")
    base = next(r for r in rows if r["application"] == "green-bike")
    receipt = economy.run(cc.PreOrder(economy.account("ada"), "green-bike", 600, xi), "ada")
    total = receipt.result["total"]
    produced = economy.run(
        cc.RecordProduction(economy.account("green-wheels"), "green-bike", 600, 0, 0), "green-wheels"
    )
    assert produced.result["delivered"] == 600 and produced.result["paid"] == total
    assert produced.result["base_price"] == base["base_price"]
    with economy.store.read() as uow:
        order = next(o for _, o in PREORDERS.scan(uow, "green-bike/"))
        assert order.delivered_at is not None and order.price is not None
        surplus = sum(
            max(0, rules.unit_price_at(F(order.price), F(600), k) - base["base_price"]) for k in range(1, 601)
        )
        assert surplus > 0
        assert produced.result["coop_credits"] + produced.result["worker_credits"] == surplus
        assert uow.ledger.balance(economy.account("green-wheels"), xi) == total


def test_cr14_pre_orders_priced_at_demand_over_supply_early_pay_less(store: object) -> None:
    economy = rules_1(store)
    bike_world(economy)
    economy.person("ada")
    economy.person("bo")
    first = economy.run(cc.PreOrder(economy.account("ada"), "green-bike", 60), "ada")
    second = economy.run(cc.PreOrder(economy.account("bo"), "green-bike", 240), "bo")
    assert first.result["ratio"] == "1/10" and second.result["ratio"] == "1/2"
    assert first.result["unit_price"] * 5 == pytest.approx(second.result["unit_price"], abs=5)
    assert first.result["unit_price"] < second.result["unit_price"]
    with economy.store.read() as uow:
        orders = list(PREORDERS.scan(uow, "green-bike/"))
    assert [o.quantity for _, o in orders] == [60, 240]


def test_cr14_in05_pre_orders_each_unit_at_its_position_early_pay_less(economy: ScriptedEconomy) -> None:
    bike_world(economy)
    economy.person("ada")
    economy.person("bo")
    xi = bonds(economy, "ada", "bo")
    first = economy.run(cc.PreOrder(economy.account("ada"), "green-bike", 60, xi), "ada")
    second = economy.run(cc.PreOrder(economy.account("bo"), "green-bike", 240, xi), "bo")
    assert first.result["ratio"] == "1/10" and second.result["ratio"] == "1/2"
    assert first.result["first_unit_price"] < first.result["unit_price"] < second.result["unit_price"]
    assert first.result["total"] * 240 < second.result["total"] * 60  # early units cost less on average
    with economy.store.read() as uow:
        orders = list(PREORDERS.scan(uow, "green-bike/"))
        assert uow.ledger.balance(economy.account("ada"), xi) == 10_000_000 - first.result["total"]
    assert [(o.quantity, o.first) for _, o in orders] == [(60, 1), (240, 61)]


def test_cr14_crowdfunding_moves_units_to_the_coop(economy: ScriptedEconomy) -> None:
    bike_world(economy)
    economy.open("fund", AccountKind.FUND)
    economy.person("ada")
    xi = CurrencyId("xi")
    economy.run(led.CreateCurrency("xi", economy.account("fund"), "xi"), "fund")
    economy.run(led.Issue(xi, economy.account("ada"), 10_000), "fund")
    economy.run(cc.Crowdfund(economy.account("ada"), "green-bike", xi, 2_500), "ada")
    with economy.store.read() as uow:
        assert uow.ledger.balance(economy.account("green-wheels"), xi) == 2_500
        coop = APPLICATIONS.get(uow, "green-bike")
        assert coop is not None and coop.crowdfunded == {"xi": 2_500}


def test_cr12_steel_needs_machines_that_need_steel(economy: ScriptedEconomy) -> None:
    c = bike_world(economy)
    economy.council_decision(
        cc.DefineAsset(c, "machine", AssetKind.GOOD, "piece", labour=100_000, inputs={"steel": "200"})
    )
    economy.council_decision(cc.SetInputs(c, "steel", {"machine": "1/1000"}))
    with economy.store.read() as uow:
        view = svc.price_view(uow, current_policy(uow), "bicycle")
        exact = svc.exact_price_view(uow, current_policy(uow), "bicycle")
    assert view["price"] == exact["price"] and sum(view["components"].values()) == view["price"]


# Bad input (issue point 9): each a clear error naming the rule, nothing written ------------------


def test_bad_input_weights_not_summing_to_one(economy: ScriptedEconomy) -> None:
    c = define_resources(economy)
    rule, message = refused_and_nothing_written(
        economy,
        cc.AssessExternality(
            c,
            "steel",
            (
                cc.Factor("oxygen", "0.5", optimal="10000", current="4000", per_unit="100"),
                cc.Factor("soil", "0.3", optimal="100", current="90", per_unit="1"),
            ),
        ),
    )
    assert rule == "CR4" and "sum to 1" in message


def test_bad_input_negative_rate(economy: ScriptedEconomy) -> None:
    c = council_of(economy)
    rule, message = refused_and_nothing_written(
        economy, cc.DefineAsset(c, "oak", AssetKind.RENEWABLE, "piece", rejuvenation="-5", mortality="3")
    )
    assert rule == "CR5" and "negative" in message


def test_bad_input_bill_of_materials_names_unknown_resource(economy: ScriptedEconomy) -> None:
    c = define_resources(economy)
    rule, message = refused_and_nothing_written(
        economy, cc.DefineAsset(c, "bicycle", AssetKind.GOOD, "piece", inputs={"steel": "5", "unobtainium": "1"})
    )
    assert rule == "CR7" and "unobtainium" in message


def test_bad_input_chain_with_no_finite_prices_names_the_goods(economy: ScriptedEconomy) -> None:
    c = bike_world(economy)
    economy.council_decision(
        cc.DefineAsset(c, "machine", AssetKind.GOOD, "piece", labour=100_000, inputs={"steel": "200"})
    )
    rule, message = refused_and_nothing_written(economy, cc.SetInputs(c, "steel", {"machine": "1/100"}))
    assert rule == "CR12" and "{machine, steel}" in message and "bicycle" not in message


def test_bad_input_over_allotment(economy: ScriptedEconomy) -> None:
    c = bike_world(economy)
    rule, message = refused_and_nothing_written(economy, cc.SetAllotment(c, "steel", "200000"))
    assert rule == "CR6" and "over-allotment" in message
    economy.open("third-coop", AccountKind.ORGANIZATION)
    economy.run(cc.ApplyCoop(economy.account("third-coop"), "third-bike", "bicycle", labour=1), "third-coop")
    rule, message = refused_and_nothing_written(economy, cc.ApproveCoop(c, "third-bike", "1"))
    assert rule == "CR8" and "over-allotment" in message
    rule, _ = refused_and_nothing_written(
        economy, cc.RecordProduction(economy.account("green-wheels"), "green-bike", 601, 0, 0), "green-wheels"
    )
    assert rule == "CR8"


def test_bad_input_legal_ceiling(store: object) -> None:
    from civicledger.adapters.scripted import ScriptedEconomy as SE
    from tests.conftest import T0

    e = SE(
        store,
        start=T0,
        label="civicledger test key",  # type: ignore[arg-type]
        policy={"economy": {"name": "ceiling"}, "creditism": {"legal_ceiling": "1/2"}},
    )
    c = council_of(e)
    e.council_decision(cc.DefineAsset(c, "oak", AssetKind.RENEWABLE, "piece", rejuvenation="5000", mortality="3000"))
    rule, message = refused_and_nothing_written(
        e, cc.AssessExternality(c, "oak", (cc.Factor("oxygen", "1", optimal="10000", current="4000", per_unit="100"),))
    )
    assert rule == "CR4" and "ceiling" in message


def test_council_commands_need_a_quorum(economy: ScriptedEconomy) -> None:
    c = council_of(economy)
    rule, _ = refused_and_nothing_written(economy, cc.DefineAsset(c, "oak", AssetKind.RENEWABLE, "piece"), "governor-1")
    assert rule == "X6"


def test_fee_base_follows_circles_income(economy: ScriptedEconomy) -> None:
    with economy.store.read() as uow:
        assert svc.fee_base(current_policy(uow)) == 434_812
    assert F(434_812) == F(100_000 * 2_629_746, 604_800).__floor__()


def test_x2_replay_of_the_bicycle_story_rebuilds_the_same_state(economy: ScriptedEconomy) -> None:
    from civicledger.adapters.crypto import Ed25519Verifier
    from civicledger.kernel.audit import verify_store

    bike_world(economy)
    economy.person("ada")
    xi = bonds(economy, "ada")
    economy.run(cc.PreOrder(economy.account("ada"), "green-bike", 40, xi), "ada")
    economy.run(cc.PreOrder(economy.account("ada"), "green-bike", 20, xi), "ada")
    economy.run(cc.RecordProduction(economy.account("green-wheels"), "green-bike", 50, 0, 0), "green-wheels")
    report = verify_store(economy.store, Ed25519Verifier(), MemoryStore)
    assert report.ok, report


def test_x2_every_creditism_record_of_the_demo_reads_back_to_the_json_it_was_stored_as() -> None:
    from civicledger.demo import run_demo
    from civicledger.kernel.canonical import canonical_bytes
    from civicledger.kernel.records import encode_record

    store = MemoryStore()
    run_demo(store)
    with store.read() as uow:
        for namespace in (ASSETS, APPLICATIONS, PREORDERS, CREDITS):
            stored = list(uow.records.scan(namespace.name))
            assert stored, namespace
            for key, raw in stored:
                assert canonical_bytes(encode_record(namespace.decode(raw, key))) == canonical_bytes(raw)


def test_x5_retry_of_a_creditism_command_writes_nothing(economy: ScriptedEconomy) -> None:
    c = council_of(economy)
    command = cc.DefineAsset(c, "oak", AssetKind.RENEWABLE, "piece", rejuvenation="5000", mortality="3000")
    first = economy.council_decision(command, cid="define-oak")
    size = head(economy)
    again = economy.council_decision(command, cid="define-oak")
    assert again.replayed and again.seq == first.seq and head(economy) == size


def test_cr14_a_resource_council_of_its_own_governs_its_assets(economy: ScriptedEconomy) -> None:
    from civicledger.kernel.identity import FormCouncil

    economy.open("forest-council", AccountKind.COUNCIL)
    members = [economy.person(n) for n in ("fern", "moss", "oak")]
    economy.run(
        FormCouncil(economy.account("forest-council"), frozenset(members), 2), "forest-council", "fern", "moss", "oak"
    )
    forest = economy.account("forest-council")
    economy.run(
        cc.DefineAsset(forest, "timber", AssetKind.RENEWABLE, "kg", rejuvenation="500", mortality="300"), "fern", "moss"
    )
    economy.run(
        cc.AssessExternality(
            forest, "timber", (cc.Factor("oxygen", "1", optimal="1000000", current="1000000", per_unit="100000"),)
        ),
        "moss",
        "oak",
    )
    assert economy.run(cc.SetAllotment(forest, "timber"), "fern", "oak").result == {"allotted": "180"}
    # one member is not a quorum; the governing council does not govern the forest's assets
    rule, _ = refused_and_nothing_written(economy, cc.SurveyAsset(forest, "timber", "10"), "fern")
    assert rule == "X6"
    rule, message = refused_and_nothing_written(economy, cc.SurveyAsset(council_of(economy), "timber", "10"))
    assert rule == "CR14" and "another council" in message


def test_x8_fee_base_follows_a_change_of_the_circles_income() -> None:
    from civicledger.kernel.policy import policy_from_mapping

    policy, problems = policy_from_mapping({"circles": {"income_units": 200_000}})
    assert not problems and svc.fee_base(policy) == 869_625  # 200,000 x 2,629,746 / 604,800, rounded down
    policy, problems = policy_from_mapping({"creditism": {"fee_base": 1_000}})
    assert not problems and svc.fee_base(policy) == 1_000


def test_cr01_a_resource_and_a_good_keep_their_unit_rates_supply_and_age(economy: ScriptedEconomy) -> None:
    c = council_of(economy)
    economy.council_decision(
        cc.DefineAsset(
            c,
            "oak",
            AssetKind.RENEWABLE,
            "piece",
            name="Oak trees",
            rejuvenation="120",
            mortality="20",
            extraction="30",
        )
    )
    economy.council_decision(cc.DefineAsset(c, "ore", AssetKind.FINITE, "kg", total_supply="5000000", age="900"))
    economy.council_decision(cc.DefineAsset(c, "chair", AssetKind.GOOD, "piece", inputs={"oak": "1/4"}))
    with economy.store.read() as uow:
        oak, ore, chair = ASSETS.get(uow, "oak"), ASSETS.get(uow, "ore"), ASSETS.get(uow, "chair")
    assert oak is not None and ore is not None and chair is not None
    assert (oak.kind, oak.unit, oak.name, oak.rejuvenation, oak.mortality, oak.extraction) == (
        AssetKind.RENEWABLE,
        "piece",
        "Oak trees",
        "120",
        "20",
        "30",
    )
    assert (ore.kind, ore.unit, ore.total_supply, ore.age) == (AssetKind.FINITE, "kg", "5000000", "900")
    assert (chair.kind, chair.inputs) == (AssetKind.GOOD, {"oak": "1/4"})


def test_cr01_an_asset_is_defined_once_with_a_known_unit(economy: ScriptedEconomy) -> None:
    c = council_of(economy)
    economy.council_decision(cc.DefineAsset(c, "oak", AssetKind.RENEWABLE, "piece", rejuvenation="1"))
    rule, message = refused_and_nothing_written(economy, cc.DefineAsset(c, "oak", AssetKind.RENEWABLE, "kg"))
    assert rule == "CR1" and "already defined" in message
    rule, message = refused_and_nothing_written(economy, cc.DefineAsset(c, "elm", AssetKind.RENEWABLE, "cubit"))
    assert rule == "CR1" and "cubit" in message
