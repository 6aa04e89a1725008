"""Creditism reads: the assets, a price with its components (CR10-CR12), the council's report, and
why a price is what it is (``explain_price``).

Read models for the HTTP API, the pages and the CLI, one read unit of work each.
"""

from __future__ import annotations

from typing import Any

from civicledger.kernel import state
from civicledger.kernel.canonical import JSONObject
from civicledger.kernel.explain import N_, Amount, Explanation, Figure, Money
from civicledger.kernel.ports import Store, UnitOfWork
from civicledger.mechanisms.creditism import handlers as scm
from civicledger.mechanisms.creditism import rules
from civicledger.mechanisms.creditism.policy import CreditismPolicy
from civicledger.mechanisms.creditism.state import APPLICATIONS, ASSETS, load, nodes_of, require_asset
from civicledger.mechanisms.creditism.values import COMPONENTS, decode


def assets(store: Store) -> list[JSONObject]:

    with store.read() as uow:
        # An asset record has no description (its longer name is ``name``): the field stays empty.
        return [{"asset": k, "kind": v.kind.value, "unit": v.unit, "description": ""} for k, v in ASSETS.scan(uow)]


def coops(store: Store) -> list[JSONObject]:
    """Every coop application (CR13, CR14): the coop, its good, its status and what it made and sold."""
    with store.read() as uow:
        rows: list[JSONObject] = []
        for key, a in APPLICATIONS.scan(uow):
            coop = uow.accounts.get(a.coop)
            rows.append(
                {
                    "application": key,
                    "coop": a.coop,
                    "coop_name": coop.name if coop else "",
                    "good": a.good,
                    "status": str(a.status),
                    "produced": a.produced,
                    "sold": a.sold,
                    "applied_at": a.applied_at,
                }
            )
        return rows


def asset_text(row: JSONObject) -> str:
    """What a search of goods looks in: the id, kind and unit."""
    return f"{row['asset']} {row['kind']} {row['unit']}"


def coop_text(row: JSONObject) -> str:
    """What a search of coops looks in: the coop's name and id, the good, the status."""
    return f"{row['coop_name']} {row['coop']} {row['good']} {row['status']} {row['application']}"


def price_money(uow: UnitOfWork) -> Money:
    """How a price reads (X3): in the currency pre-orders are paid in (policy creditism.currency),
    else in major units of the economy's decimals (policy economy.currency_decimals), no symbol."""
    return state.money_in(uow, state.current_policy(uow).section(CreditismPolicy).currency)


def price(store: Store, asset: str) -> dict[str, Any]:  # read field by field by the goods page
    """The price view, with each component's share of what the price pays for (``rules.component_shares``)."""
    with store.read() as uow:
        view = scm.price_view(uow, state.current_policy(uow), asset)
        view["shares"] = {k: str(v) for k, v in rules.component_shares(view["components"]).items()}
        return view


def report(store: Store) -> JSONObject:

    with store.read() as uow:
        return scm.report_view(uow, state.current_policy(uow))


MEANINGS = {
    "labour": N_("labour through the whole supply chain"),
    "resources": N_("external resources (transport, indirect inputs) through the chain"),
    "externality": N_("externality fees (E x fee base) through the chain"),
    "council": N_("the council's markups through the chain"),
    "coop": N_("the coops' markups through the chain"),
    "scarcity": N_("what demand / supply adds (or takes off) through the chain"),
}


def explain_price(uow: UnitOfWork, asset: str) -> Explanation:
    """Why an asset's market price is what it is (CR10-CR12): its direct costs, its inputs at their
    market prices, the markups and demand/supply, and the price broken into its components with
    each one's share (``rules.component_shares``)."""
    policy = state.current_policy(uow)
    view = scm.price_view(uow, policy, asset)
    assets_, coops = load(uow)
    record = require_asset(assets_, asset, "CR12")
    exact = scm.exact_chain(assets_, coops, policy)[asset]
    node = {n.name: n for n in nodes_of(assets_, coops, view["fee_base"])}[asset]
    money = price_money(uow)
    r = rules.round_half_up
    inputs: list[Figure] = [
        Figure(N_("labour"), r(node.labour), N_("direct labour per unit"), money=money, rule="CR11"),
        Figure(N_("external"), r(node.external), N_("direct external resources per unit"), money=money, rule="CR10"),
        Figure("E", decode(record.score), N_("externality score"), rule="CR4"),
        Figure(N_("fee base"), view["fee_base"], N_("one month of basic income (policy)"), money=money, rule="CR10"),
        Figure(N_("fee"), r(node.fee), N_("externality fee"), N_("E x fee base"), money=money, rule="CR10"),
    ]
    for name, qty in sorted(node.inputs.items()):
        inputs.append(
            Figure(
                N_("%(asset)s x %(qty)s", asset=name, qty=str(qty)),
                r(qty * view["prices_of_inputs"][name]),
                N_(
                    "%(qty)s %(unit)s of %(asset)s at its market price",
                    qty=str(qty),
                    unit=assets_[name].unit,
                    asset=name,
                ),
                money=money,
                rule="CR12",
            )
        )
    inputs += [
        Figure(N_("council markup"), node.council_markup, N_("the council's markup (kappa)"), rule="CR11"),
        Figure(N_("coop markup"), node.coop_markup, N_("the coop's markup (gamma)"), rule="CR11"),
        Figure("demand / supply", node.scarcity, N_("scarcity factor"), rule="CR11"),
    ]
    shares = rules.component_shares(view["components"])
    before = sum(v for v in view["components"].values() if v > 0)
    steps: list[Figure] = [
        Figure(
            "q", r(exact.cost), N_("cost per unit before markups"), N_("labour + external + fee + inputs"), money=money
        ),
        Figure(
            "BasePrice",
            view["base_price"],
            N_("cost with the council's markup"),
            "q x (1 + kappa)",
            money=money,
            rule="CR11",
        ),
        Figure(
            "MarketPrice",
            view["price"],
            N_("what a buyer pays"),
            N_("(BasePrice + CoopMarkup) x demand / supply = q x (1 + kappa) x (1 + gamma) x demand / supply"),
            money=money,
            rule="CR11",
        ),
    ]
    for c in COMPONENTS:
        units = view["components"][c.value]
        steps.append(
            Figure(
                c.value,
                units,
                MEANINGS[c.value],
                N_(
                    "%(share)s of %(before)s before any scarcity discount",
                    share=rules.percent(shares[c.value]),
                    before=Amount(before, money),
                ),
                money=money,
                rule="CR12",
            )
        )
    return Explanation(
        rule="CR11",
        question=N_("Why is this price what it is?"),
        subject=asset,
        at=uow.journal.head().time,
        inputs=tuple(inputs),
        steps=tuple(steps),
        result=Figure(N_("price"), view["price"], N_("per %(unit)s", unit=str(view["unit"])), money=money, rule="CR11"),
        notes=(
            N_(
                "The components sum to the price exactly; inputs are paid at their own market prices, so "
                "the breakdown runs through the whole supply chain, cycles included (CR12)."
            ),
            N_(
                "A share is a component's part of what the price pays for before a scarcity discount: the "
                "discount scales every component alike (CR11)."
            ),
        ),
    )


def price_explanation(store: Store, asset: str) -> Explanation:
    """``explain_price`` on the journal as it stands (a price has no time argument: the newest entry)."""
    with store.read() as uow:
        return explain_price(uow, asset)


def shares_shown(components: dict[str, int]) -> dict[str, str]:
    """Each component's share as people read it ("73.2%"), from ``rules.component_shares``."""
    return {k: rules.percent(v) for k, v in rules.component_shares(components).items()}
