"""Gears on the web site: a company's page (GR2, GR4, GR5, GR7) and the fund and companies cards of
the overview (GR5, GR6)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from urllib.parse import quote, urlencode

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from civicledger.api.kit import search_json
from civicledger.mechanisms.gears import queries
from civicledger.web import charts
from civicledger.web.i18n import _
from civicledger.web.site import Cell, Listing, Site, try_read


def _ratio(text: object) -> float:
    try:
        return float(Fraction(str(text)))
    except (ValueError, ZeroDivisionError):
        return 0.0


def install(app: FastAPI, site: Site) -> None:
    site.add_templates(Path(__file__).parent / "templates")

    def overview_cards(now: int) -> Markup:
        gears, gears_error = try_read(queries.coefficients, site.store, now)
        fund_chart = None
        position = gears["fund"] if gears else None
        if position:
            fund = sorted(position["currencies"].items())
            fund_chart = Markup(
                charts.bar_chart(
                    [(_("%(currency)s balance", currency=c), v["balance"]) for c, v in fund]
                    + [(_("%(currency)s waiting", currency=c), -v["waiting_units"]) for c, v in fund],
                    _("Common Good Fund position"),
                )
            )
        return site.card("gears/overview_cards.html", gears=gears, gears_error=gears_error, fund_chart=fund_chart)

    site.overview_cards.append(overview_cards)

    @app.get("/treasury", response_class=HTMLResponse, include_in_schema=False)
    def treasury(request: Request) -> HTMLResponse:
        data, error = try_read(queries.treasury, site.store)
        return site.render(request, "gears/treasury.html", data=data, error=error, json_url="/api/gears/fund")

    @app.get("/companies", response_class=HTMLResponse, include_in_schema=False)
    def companies(request: Request, q: str = "", page: int = 1) -> HTMLResponse:
        data, error = try_read(queries.coefficients, site.store, site.now())
        found = search_json(data["companies"] if data else [], q[:200], queries.company_text, page)
        rows = [
            (
                Cell(r["name"] or r["company"], f"/companies/{quote(r['company'], safe='')}"),
                Cell(r.get("sales_text") or str(r["sales"]), num=True),
                Cell(str(r["votes"]), num=True),
                Cell(r["delta_decimal"], num=True),
            )
            for r in found["items"]  # type: ignore[attr-defined]
        ]
        listing = Listing(
            rows=rows,
            q=q,
            page=int(str(found["page"])),
            pages=int(str(found["pages"])),
            total=int(str(found["total"])),
            path="/companies",
            json_url=f"/api/gears/companies?{urlencode({'q': q, 'page': found['page']})}",
        )
        return site.render(request, "gears/companies.html", listing=listing, error=error, json_url=listing.json_url)

    @app.get("/companies/{company}", response_class=HTMLResponse, include_in_schema=False)
    def company(request: Request, company: str) -> HTMLResponse:
        data, error = try_read(queries.company, site.store, company)
        chart = None
        if data:
            points = [(h["at"], _ratio(h["delta"])) for h in data["delta_history"]]
            chart = Markup(charts.step_chart(points, _("delta over time"), -62, 62, guides=(-60, -30, 0, 30, 60)))
        return site.render(
            request,
            "gears/company.html",
            company=company,
            data=data,
            error=error,
            chart=chart,
            json_url=f"/api/gears/companies/{quote(company, safe='')}",
        )
