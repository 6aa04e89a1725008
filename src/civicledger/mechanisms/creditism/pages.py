"""Creditism on the web site: a good's page with what its price is made of (CR10-CR12), the goods
and resources card of the overview, and the searchable lists of goods and of coops (CR13, CR14)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import cast
from urllib.parse import quote, urlencode

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from civicledger.api.kit import search_json
from civicledger.kernel.canonical import JSONObject
from civicledger.kernel.explain import Money
from civicledger.mechanisms.creditism import queries
from civicledger.mechanisms.creditism.values import AssetKind
from civicledger.web import charts
from civicledger.web.i18n import _
from civicledger.web.site import Cell, Listing, Site, Term, try_read


def _component_names() -> dict[str, str]:
    """The parts of a price (CR10-CR12) in the page's language."""
    return {
        "labour": _("labour"),
        "resources": _("resources"),
        "externality": _("externality"),
        "council": _("council markup"),
        "coop": _("cooperative markup"),
        "scarcity": _("scarcity"),
    }


def _asset_kinds() -> dict[str, str]:
    """What an asset is (CR1) in the page's language."""
    return {
        AssetKind.RENEWABLE.value: _("renewable resource"),
        AssetKind.FINITE.value: _("finite resource"),
        AssetKind.GOOD.value: _("good"),
    }


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
        assets, _error = try_read(queries.assets, site.store)
        return site.card("creditism/overview_card.html", assets=assets or [], kinds=_asset_kinds())

    site.overview_cards.append(overview_card)

    def listing(
        rows: list[JSONObject], text: Callable[[JSONObject], str], q: str, page: int, path: str, api: str
    ) -> tuple[Listing, list[JSONObject]]:
        found = search_json(rows, q[:200], text, page)
        shown = cast(list[JSONObject], found["items"])
        query = urlencode({"q": q, "page": found["page"]})
        listing = Listing(
            rows=[],
            q=q,
            page=int(str(found["page"])),
            pages=int(str(found["pages"])),
            total=int(str(found["total"])),
            path=path,
            json_url=f"{api}?{query}",
        )
        return listing, shown

    @app.get("/goods", response_class=HTMLResponse, include_in_schema=False)
    def goods(request: Request, q: str = "", page: int = 1) -> HTMLResponse:
        rows, error = try_read(queries.assets, site.store)
        found, shown = listing(rows or [], queries.asset_text, q, page, "/goods", "/api/creditism/assets")
        cells = [
            (
                Cell(str(r["asset"]), f"/goods/{quote(str(r['asset']), safe='')}"),
                Cell(str(r["kind"])),
                Cell(str(r["unit"])),
            )
            for r in shown
        ]
        found = dataclasses.replace(found, rows=cells)
        return site.render(request, "creditism/goods.html", listing=found, error=error, json_url=found.json_url)

    @app.get("/coops", response_class=HTMLResponse, include_in_schema=False)
    def coops(request: Request, q: str = "", page: int = 1) -> HTMLResponse:
        rows, error = try_read(queries.coops, site.store)
        found, shown = listing(rows or [], queries.coop_text, q, page, "/coops", "/api/creditism/coops")
        cells = [
            (
                Cell(str(r["coop_name"] or r["coop"]), f"/persons/{quote(str(r['coop']), safe='')}"),
                Cell(str(r["good"]), f"/goods/{quote(str(r['good']), safe='')}"),
                Cell(str(r["status"])),
                Cell(str(r["produced"]), num=True),
                Cell(str(r["sold"]), num=True),
            )
            for r in shown
        ]
        found = dataclasses.replace(found, rows=cells)
        return site.render(request, "creditism/coops.html", listing=found, error=error, json_url=found.json_url)

    @app.get("/goods/{asset}", response_class=HTMLResponse, include_in_schema=False)
    def good(request: Request, asset: str) -> HTMLResponse:
        data, error = try_read(queries.price, site.store, asset)
        chart = None
        shown = money()
        shares: dict[str, str] = {}
        if data:
            names = _component_names()
            shares = queries.shares_shown(data["components"])
            parts = data["components"].items()
            rows = [(names.get(name, name.replace("_", " ")), float(units)) for name, units in parts]
            chart = Markup(
                charts.pie_chart(
                    rows,
                    _("price of %(asset)s by component", asset=asset),
                    labels=[f"{shown.format(units)} ({shares[name]})" for name, units in parts],
                )
            )
        return site.render(
            request,
            "creditism/good.html",
            asset=asset,
            data=data,
            error=error,
            chart=chart,
            kinds=_asset_kinds(),
            names=_component_names(),
            shares=shares,
            fmt=shown.format,
            scarcity_text=f"{float(Fraction(data['scarcity'])):.4f}" if data else "",
            json_url=f"/api/creditism/prices/{quote(asset, safe='')}",
        )
