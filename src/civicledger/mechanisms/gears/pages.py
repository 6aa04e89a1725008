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
from civicledger.web.site import Cell, Listing, Site, Term, try_read


def _ratio(text: object) -> float:
    try:
        return float(Fraction(str(text)))
    except (ValueError, ZeroDivisionError):
        return 0.0


GLOSSARY = [
    Term(
        "delta",
        "Delta (δ)",
        "The percent a company's sellers receive above (or below) the price: a seller "
        "receives p (1 + delta/100), the Common Good Fund pays the difference. delta = k (V - S).",
        ("GR5", "GR6"),
    ),
    Term(
        "g",
        "G (sales)",
        "A company's sales in the trailing year; a younger company's sales since joining, annualised.",
        ("GR1",),
    ),
    Term(
        "v",
        "V (mean vote)",
        "The mean of a company's current votes, each +1, 0 or -1; a vote counts one year.",
        ("GR4", "GR5"),
    ),
    Term(
        "s",
        "S (average vote)",
        "The sales-weighted average of V over the companies with current votes: "
        "sum(G V) / sum(G). A company above S gets a positive delta.",
        ("GR5",),
    ),
    Term("k", "k", "How strongly votes move delta (policy, 30): delta reaches ±60 at the extremes.", ("GR5",)),
]
RULES = {
    "GR1": "G_i: a company's sales in the trailing year (younger companies: since joining, annualised).",
    "GR4": "A vote is +1, 0 or -1, one per voter and company, counting one year from its casting.",
    "GR5": "V_i = mean vote; S = sum(G_i V_i) / sum(G_i); delta_i = k (V_i - S), k = 30 (policy).",
    "GR6": "The buyer pays p; the seller receives p (1 + delta/100); the Common Good Fund pays the difference.",
}


def install(app: FastAPI, site: Site) -> None:
    site.add_templates(Path(__file__).parent / "templates")
    site.glossary.extend(GLOSSARY)
    site.rules.update(RULES)

    @app.get("/explain/gears/delta/{company}", response_class=HTMLResponse, include_in_schema=False)
    def explain_delta(request: Request, company: str) -> HTMLResponse:
        """Why a company's delta is what it is, at the journal's time (GR5)."""
        found = try_read(queries.delta_explanation, site.store, company, site.now())
        return site.explanation(
            request,
            found,
            (f"/companies/{quote(company, safe='')}", "the company"),
            f"/api/gears/explain/delta/{quote(company, safe='')}",
        )

    def overview_cards(now: int) -> Markup:
        gears, gears_error = try_read(queries.coefficients, site.store, now)
        fund_chart = None
        position = gears["fund"] if gears else None
        if position:
            fund = sorted(position["currencies"].items())
            rows = [(_("%(currency)s balance", currency=c), v["balance"], c) for c, v in fund]
            rows += [(_("%(currency)s waiting", currency=c), -v["waiting_units"], c) for c, v in fund]
            fund_chart = Markup(
                charts.bar_chart(
                    [(label, units) for label, units, _currency in rows],
                    _("Common Good Fund position"),
                    labels=[site.money(units, c) for _label, units, c in rows],
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
            chart = Markup(
                charts.step_chart(points, _("delta over time"), -62, 62, guides=(-60, -30, 0, 30, 60), dates=True)
            )
        now, _error = try_read(queries.coefficients, site.store, site.now())
        current = next((c for c in now["companies"] if c["company"] == company), None) if now else None
        return site.render(
            request,
            "gears/company.html",
            company=company,
            data=data,
            error=error,
            chart=chart,
            current=current,
            mean_text=f"{_ratio(current['mean']):.2f}" if current and current["mean"] is not None else "-",
            ethicap=now["fund"]["ethicap"] if now and now["fund"] else None,
            json_url=f"/api/gears/companies/{quote(company, safe='')}",
        )
