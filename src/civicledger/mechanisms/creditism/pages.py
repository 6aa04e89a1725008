"""Creditism on the web site: a good's page with what its price is made of (CR10-CR12) and the goods
and resources card of the overview."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from civicledger.kernel.explain import Money
from civicledger.mechanisms.creditism import queries
from civicledger.web import charts
from civicledger.web.site import Site, Term, try_read

GLOSSARY = [
    Term(
        "market-price",
        "Market price",
        "What a buyer pays: (BasePrice + the coop's markup) x demand / supply. BasePrice is resources, "
        "labour and the council's markup; inputs are paid at their own market prices.",
        ("CR11", "CR12"),
    ),
    Term(
        "scarcity",
        "Scarcity (demand / supply)",
        "A factor on the whole price: above 1 a premium, below 1 a discount that scales every component alike.",
        ("CR11",),
    ),
    Term(
        "share",
        "Share of a price",
        "A component's part of what the price pays for, before any scarcity discount; the same on the goods "
        "page and in `civic creditism price`.",
        ("CR12",),
    ),
    Term("e", "E (externality score)", "The weighted mean of an asset's impact factors, 0 to 1.", ("CR4", "CR10")),
]
RULES = {
    "CR4": "Externality score E = sum(w_i EF_i) / sum(w_i), clamped to [0, 1].",
    "CR10": "Resource cost = extraction labour + external resources + externality fee (E x fee base).",
    "CR11": "BasePrice = ResourcesCost + LaborCosts + CouncilMarkUp; MarketPrice = (BasePrice + CoopMarkup) x D / S.",
    "CR12": "Inputs are paid at their market prices; every price breaks down into components through the chain.",
}


def install(app: FastAPI, site: Site) -> None:
    site.add_templates(Path(__file__).parent / "templates")
    site.glossary.extend(GLOSSARY)
    site.rules.update(RULES)

    def money() -> Money:
        with site.store.read() as uow:
            return queries.price_money(uow)

    @app.get("/explain/creditism/price/{asset}", response_class=HTMLResponse, include_in_schema=False)
    def explain_price(request: Request, asset: str) -> HTMLResponse:
        """Why an asset's price is what it is (CR10-CR12)."""
        found = try_read(queries.price_explanation, site.store, asset)
        return site.explanation(
            request,
            found,
            (f"/goods/{quote(asset, safe='')}", asset),
            f"/api/creditism/explain/price/{quote(asset, safe='')}",
        )

    def overview_card(now: int) -> Markup:
        assets, _ = try_read(queries.assets, site.store)
        return site.card("creditism/overview_card.html", assets=assets or [])

    site.overview_cards.append(overview_card)

    @app.get("/goods/{asset}", response_class=HTMLResponse, include_in_schema=False)
    def good(request: Request, asset: str) -> HTMLResponse:
        data, error = try_read(queries.price, site.store, asset)
        chart = None
        shown = money()
        shares: dict[str, str] = {}
        if data:
            shares = queries.shares_shown(data["components"])
            rows = [(name.replace("_", " "), float(units)) for name, units in data["components"].items()]
            chart = Markup(
                charts.pie_chart(
                    rows,
                    f"price of {asset} by component",
                    labels=[f"{shown.format(units)} ({shares[name]})" for name, units in data["components"].items()],
                )
            )
        return site.render(
            request,
            "creditism/good.html",
            asset=asset,
            data=data,
            error=error,
            chart=chart,
            shares=shares,
            fmt=shown.format,
            scarcity_text=f"{float(Fraction(data['scarcity'])):.4f}" if data else "",
            json_url=f"/api/creditism/prices/{quote(asset, safe='')}",
        )
