"""Page routes: server-rendered HTML from the same read models as the API (``civicledger.api.reads``).

Charts are SVG drawn in Python (``civicledger.web.charts``). JavaScript is used in two places only,
where it earns its place: the journal explorer checks an entry's inclusion proof in the browser
(so the reader need not trust the server), and the wallet signs commands in the browser with
WebCrypto Ed25519 (so the server never sees a private key). See docs/web.md.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from civicledger.api import reads
from civicledger.kernel.errors import CivicLedgerError
from civicledger.kernel.time import format_instant
from civicledger.web import charts

if TYPE_CHECKING:
    from civicledger.api.app import ServiceState

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.filters["instant"] = lambda t: format_instant(int(t)) if t is not None else ""
templates.env.filters["pretty"] = lambda v: json.dumps(v, indent=2, sort_keys=True, ensure_ascii=False)


def _ratio(text: Any) -> float:
    try:
        return float(Fraction(str(text)))
    except (ValueError, ZeroDivisionError):
        return 0.0


def _try(fn: Any, *args: Any) -> tuple[Any, str | None]:
    """Run one section's read; a mechanism without data shows its reason instead of failing the page."""
    try:
        return fn(*args), None
    except CivicLedgerError as e:
        return None, str(e)


def install(app: FastAPI, service: ServiceState) -> None:
    store = service.store
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    def render(request: Request, name: str, **context: Any) -> HTMLResponse:
        service.refresh()
        economy, _ = _try(reads.economy, store, service.now())
        status = 404 if context.get("error") else 200  # the page's subject does not exist
        return templates.TemplateResponse(request, name, {"economy": economy, **context}, status_code=status)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def overview(request: Request) -> HTMLResponse:
        now = service.now()
        cur = reads.currencies(store, None, reads.MAX_LIMIT)["items"]
        top = sorted(cur, key=lambda c: -c["supply"])[:12]
        supply_chart = charts.bar_chart([(f"{c['name'] or c['id']}", c["supply"]) for c in top], "supply per currency")
        gears, gears_error = _try(reads.gears_coefficients, store, now)
        fund_chart = None
        if gears and gears.get("fund"):
            fund_chart = charts.bar_chart(
                [(f"{c} balance", v["balance"]) for c, v in sorted(gears["fund"]["currencies"].items())]
                + [(f"{c} waiting", -v["waiting_units"]) for c, v in sorted(gears["fund"]["currencies"].items())],
                "Common Good Fund position",
            )
        grades, grades_error = _try(reads.grade_distribution, store, now)
        grade_chart = None
        if grades:
            grade_chart = charts.bar_chart(
                [(f"grade {g}", u) for g, u in grades["units_by_grade"].items()], "credits per grade"
            )
        recent = reads.journal_entries(store, 0, 1)
        size = recent["size"]
        latest = reads.journal_entries(store, max(0, size - 10), 10)["items"][::-1]
        assets, _ = _try(reads.creditism_assets, store)
        return render(
            request,
            "overview.html",
            currencies=cur,
            supply_chart=Markup(supply_chart),
            fund_chart=Markup(fund_chart) if fund_chart else None,
            gears=gears,
            gears_error=gears_error,
            grade_chart=Markup(grade_chart) if grade_chart else None,
            grades=grades,
            grades_error=grades_error,
            latest=latest,
            assets=assets or [],
        )

    @app.get("/journal", response_class=HTMLResponse, include_in_schema=False)
    def journal(request: Request, start: int = 0) -> HTMLResponse:
        data = reads.journal_entries(store, max(0, start), 50)
        return render(request, "journal.html", data=data, start=max(0, start))

    @app.get("/journal/{seq}", response_class=HTMLResponse, include_in_schema=False)
    def journal_entry(request: Request, seq: int) -> HTMLResponse:
        data, error = _try(reads.inclusion, store, seq, None)
        return render(request, "entry.html", seq=seq, data=data, error=error)

    @app.get("/companies/{company}", response_class=HTMLResponse, include_in_schema=False)
    def company(request: Request, company: str) -> HTMLResponse:
        data, error = _try(reads.gears_company, store, company)
        chart = None
        if data:
            points = [(h["at"], _ratio(h["delta"])) for h in data["delta_history"]]
            chart = Markup(charts.step_chart(points, "delta over time", -62, 62, guides=(-60, -30, 0, 30, 60)))
        return render(request, "company.html", company=company, data=data, error=error, chart=chart)

    @app.get("/persons/{person}", response_class=HTMLResponse, include_in_schema=False)
    def person(request: Request, person: str) -> HTMLResponse:
        now = service.now()
        account, error = _try(reads.account, store, person)
        circles, circles_error = _try(reads.circles_account, store, person, now)
        credits, credits_error = _try(reads.credits_person, store, person, now)
        grade_chart = None
        if credits:
            grade_chart = Markup(
                charts.bar_chart(
                    [(f"grade {g}", u) for g, u in credits["by_grade"].items()], "this person's credits per grade"
                )
            )
        currency_names = {c["id"]: c["name"] for c in reads.currencies(store, None, reads.MAX_LIMIT)["items"]}
        names = {}
        if circles:
            for other in {*circles["trusts"], *circles["trusted_by"]}:
                found, _ = _try(reads.account, store, other)
                names[other] = found["name"] if found else ""
        return render(
            request,
            "person.html",
            person=person,
            account=account,
            error=error,
            circles=circles,
            circles_error=circles_error,
            credits=credits,
            credits_error=credits_error,
            grade_chart=grade_chart,
            names=names,
            currency_names=currency_names,
        )

    @app.get("/goods/{asset}", response_class=HTMLResponse, include_in_schema=False)
    def good(request: Request, asset: str) -> HTMLResponse:
        data, error = _try(reads.creditism_price, store, asset)
        chart = None
        if data:
            rows = [(name.replace("_", " "), float(units)) for name, units in data["components"].items()]
            chart = Markup(charts.pie_chart(rows, f"price of {asset} by component"))
        return render(request, "good.html", asset=asset, data=data, error=error, chart=chart)

    @app.get("/wallet", response_class=HTMLResponse, include_in_schema=False)
    def wallet(request: Request) -> HTMLResponse:
        return render(request, "wallet.html")
