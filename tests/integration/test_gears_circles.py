"""GR11 / X8: a Gears sale paid in a Circles group currency, with the group's acceptance rules."""

from __future__ import annotations

from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.kernel import ledger as led
from civicledger.kernel.economy import ChangePolicy
from civicledger.kernel.identity import AccountKind
from civicledger.kernel.money import CurrencyId
from civicledger.mechanisms.circles import messages as cm
from civicledger.mechanisms.gears import commands as g
from tests.integration.test_gears_flow import balance, publish, refused_cleanly, widget_world


def test_gr11_a_sale_in_a_circles_group_currency_settles_through_the_fund(economy: ScriptedEconomy) -> None:
    widget_world(economy)
    publish(economy)  # delta(Widget Co) = 20, delta(Other Co) = -10
    for name in ("buyer", "ann", "widget-co", "fund"):
        economy.run(cm.CreateCirclesAccount(economy.account(name)), name)
    market = economy.open("market", AccountKind.GROUP)
    economy.run(cm.CreateGroup(market, economy.account("ann")), "market", "ann")
    economy.run(cm.AddMember(market, economy.account("buyer")), "ann")
    economy.run(cm.ClaimIncome(economy.account("buyer")), "buyer")  # a month of basic income (CI4)
    economy.run(cm.Convert(economy.account("buyer"), market, 5_000), "buyer")
    for name in ("widget-co", "fund"):
        economy.run(cm.Trust(economy.account(name), market), name)
    currency = CurrencyId(market)
    economy.run(led.Transfer((led.Leg(currency, economy.account("buyer"), economy.account("fund"), 1_000),)), "buyer")
    economy.council_decision(ChangePolicy("gears.currencies", ["xi", market]), cid="allow-market")

    receipt = economy.run(
        g.SettleSale(economy.account("buyer"), economy.account("widget-co"), 100, currency), "buyer", "widget-co"
    )
    assert receipt.result["seller_receives"] == 120 and receipt.result["fund_pays"] == 20
    assert balance(economy, "widget-co", currency) == 120
    assert balance(economy, "fund", currency) == 980
    # Other Co does not trust the group, so does not accept its money: refused, nothing written (CI5).
    error = refused_cleanly(
        economy, g.SettleSale(economy.account("buyer"), economy.account("other-co"), 100, currency), "buyer", "other-co"
    )
    assert error.rule == "CI5"
