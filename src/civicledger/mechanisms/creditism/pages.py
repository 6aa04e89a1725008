"""Creditism on the web site: a good's page with what its price is made of (CR10-CR12) and the goods
and resources card of the overview."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from civicledger.mechanisms.creditism import queries
from civicledger.mechanisms.creditism.values import AssetKind
from civicledger.web import charts
from civicledger.web.i18n import _
from civicledger.web.site import Site, try_read


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


def install(app: FastAPI, site: Site) -> None:
    site.add_templates(Path(__file__).parent / "templates")

    def overview_card(now: int) -> Markup:
        assets, _ = try_read(queries.assets, site.store)
        return site.card("creditism/overview_card.html", assets=assets or [], kinds=_asset_kinds())

    site.overview_cards.append(overview_card)

    @app.get("/goods/{asset}", response_class=HTMLResponse, include_in_schema=False)
    def good(request: Request, asset: str) -> HTMLResponse:
        data, error = try_read(queries.price, site.store, asset)
        chart = None
        if data:
            names = _component_names()
            parts = data["components"].items()
            rows = [(names.get(name, name.replace("_", " ")), float(units)) for name, units in parts]
            chart = Markup(charts.pie_chart(rows, _("price of %(asset)s by component", asset=asset)))
        return site.render(
            request,
            "creditism/good.html",
            asset=asset,
            data=data,
            error=error,
            chart=chart,
            kinds=_asset_kinds(),
            json_url=f"/api/creditism/prices/{quote(asset, safe='')}",
        )
