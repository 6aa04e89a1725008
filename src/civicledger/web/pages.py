"""Page routes: server-rendered HTML from the same read models as the API.

The site's own pages are the overview, the journal explorer, an entry with its proof, an account and
the wallet; each installed mechanism adds its pages and its cards on the overview and the account
page (``Mechanism.pages``, ``civicledger.web.site``). Charts are SVG drawn in Python
(``civicledger.web.charts``). JavaScript is used in two places only, where it earns its place: the
journal explorer checks an entry's inclusion proof in the browser (so the reader need not trust the
server), and the wallet signs commands in the browser with WebCrypto Ed25519 (so the server never
sees a private key). See docs/web.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from markupsafe import Markup

from civicledger.api import reads
from civicledger.kernel.paging import MAX_LIMIT
from civicledger.kernel.registry import installed, load
from civicledger.web import charts
from civicledger.web.site import HERE, Site, try_read

if TYPE_CHECKING:
    from civicledger.api.app import ServiceState


def install(app: FastAPI, service: ServiceState) -> None:
    store = service.store

    def economy() -> reads.EconomyView | None:
        service.refresh()
        found, _ = try_read(reads.economy, store, service.now())
        return found

    site = Site(store, service.now, economy)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    for mechanism in installed():
        if mechanism.pages is not None:
            add_pages = load(mechanism.pages)
            if not callable(add_pages):
                raise TypeError(f"{mechanism.pages} is not a page installer")
            add_pages(app, site)
    render = site.render

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def overview(request: Request) -> HTMLResponse:
        now = service.now()
        cur = reads.currencies(store, None, MAX_LIMIT)["items"]
        top = sorted(cur, key=lambda c: -c["supply"])[:12]
        supply_chart = charts.bar_chart([(f"{c['name'] or c['id']}", c["supply"]) for c in top], "supply per currency")
        cards = [card for add in site.overview_cards if (card := add(now)) is not None]
        recent = reads.journal_entries(store, 0, 1)
        size = recent["size"]
        latest = reads.journal_entries(store, max(0, size - 10), 10)["items"][::-1]
        return render(
            request,
            "overview.html",
            currencies=cur,
            supply_chart=Markup(supply_chart),
            cards=cards,
            latest=latest,
        )

    @app.get("/journal", response_class=HTMLResponse, include_in_schema=False)
    def journal(request: Request, start: int = 0) -> HTMLResponse:
        data = reads.journal_entries(store, max(0, start), 50)
        return render(request, "journal.html", data=data, start=max(0, start))

    @app.get("/journal/{seq}", response_class=HTMLResponse, include_in_schema=False)
    def journal_entry(request: Request, seq: int) -> HTMLResponse:
        data, error = try_read(reads.inclusion, store, seq, None)
        return render(request, "entry.html", seq=seq, data=data, error=error)

    @app.get("/persons/{person}", response_class=HTMLResponse, include_in_schema=False)
    def person(request: Request, person: str) -> HTMLResponse:
        now = service.now()
        account, error = try_read(reads.account, store, person)
        currency_names = {c["id"]: c["name"] for c in reads.currencies(store, None, MAX_LIMIT)["items"]}
        cards = [] if error else [card for add in site.person_cards if (card := add(person, now)) is not None]
        return render(
            request,
            "person.html",
            person=person,
            account=account,
            error=error,
            cards=cards,
            currency_names=currency_names,
        )

    @app.get("/wallet", response_class=HTMLResponse, include_in_schema=False)
    def wallet(request: Request) -> HTMLResponse:
        return render(request, "wallet.html")
