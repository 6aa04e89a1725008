"""Page routes: server-rendered HTML from the same read models as the API.

The site's own pages are the overview, the journal explorer (newest first, with search), an entry
with its proof, an account, the wallet and the interactive API docs (``/docs``); each page links the
API URL that holds its data (``json_url``). Each installed mechanism adds its pages and its cards
on the overview and the account page (``Mechanism.pages``, ``civicledger.web.site``). Charts are
SVG drawn in Python (``civicledger.web.charts``). JavaScript is used in two places only, where it
earns its place: the journal explorer checks an entry's inclusion proof in the browser (so the
reader need not trust the server), and the wallet signs commands in the browser with WebCrypto
Ed25519 (so the server never sees a private key). See docs/web.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated
from urllib.parse import quote

from fastapi import FastAPI, Query, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from markupsafe import Markup
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

from civicledger.api import reads
from civicledger.api.reads import NEWEST
from civicledger.kernel.ledger import CIRCLES_SYMBOL, CurrencyKind
from civicledger.kernel.messages import COMMANDS
from civicledger.kernel.paging import MAX_LIMIT
from civicledger.kernel.registry import installed, load
from civicledger.web import charts, council, i18n
from civicledger.web.explorer import PAGE, ExplorerQuery
from civicledger.web.i18n import _
from civicledger.web.site import HERE, Site, Term, try_read

if TYPE_CHECKING:
    from civicledger.api.app import ServiceState


def _rule_order(rule: str) -> tuple[str, int]:
    letters = rule.rstrip("0123456789")
    return letters, int(rule[len(letters) :] or 0)


def install(app: FastAPI, service: ServiceState) -> None:
    store = service.store

    def economy() -> reads.EconomyView | None:
        service.refresh()
        found, _error = try_read(reads.economy, store, service.now())
        return found

    site = Site(store, service.now, economy)
    app.add_middleware(i18n.LanguageMiddleware)  # each page request's language (docs/web.md, Translating)
    # The interactive API docs: FastAPI's Swagger UI page, its assets served from the
    # swagger-ui-bundle package rather than a CDN, so the site works offline (/openapi.json is the contract).
    app.mount("/static/swagger", StaticFiles(directory=swagger_ui_path), name="swagger")
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="civicledger API",
            swagger_js_url="/static/swagger/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger/swagger-ui.css",
            swagger_favicon_url="/static/swagger/favicon-32x32.png",
        )

    for mechanism in installed():
        if mechanism.pages is not None:
            add_pages = load(mechanism.pages)
            if not callable(add_pages):
                raise TypeError(f"{mechanism.pages} is not a page installer")
            add_pages(app, site)
    council.install(app, site, service)
    render = site.render

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def overview(request: Request) -> HTMLResponse:
        now = service.now()
        cur = reads.currencies(store, None, MAX_LIMIT)["items"]
        top = sorted(cur, key=lambda c: -c["supply"])[:12]
        supply_chart = charts.bar_chart(
            [(f"{c['name'] or c['id']}", c["supply"]) for c in top],
            _("supply per currency"),
            labels=[site.money(c["supply"], c["id"]) for c in top],
        )
        cards = [card for add in site.overview_cards if (card := add(now)) is not None]
        recent = reads.journal_entries(store, 0, 1)
        size = recent["size"]
        latest = reads.journal_entries(store, max(0, size - 10), 10)["items"][::-1]
        return render(
            request,
            "overview.html",
            json_url="/api/economy",
            currencies=cur,
            supply_chart=Markup(supply_chart),
            cards=cards,
            latest=latest,
        )

    @app.get("/journal", response_class=HTMLResponse, include_in_schema=False)
    def journal(
        request: Request,
        before: int | None = None,
        start: int | None = None,
        account: str = "",
        command_type: Annotated[str, Query(alias="type")] = "",
        since: str = "",
        until: str = "",
    ) -> HTMLResponse:
        """The explorer, newest first: the newest page, or the page of entries before ``before``, or
        (``start``) the page of the oldest entries from ``start`` on, shown newest first too."""
        query = ExplorerQuery.of(account, command_type, since, until)
        where = query.where(store)
        if start is not None:
            data = reads.journal_entries(store, max(0, start), PAGE, where=where)
            items = data["items"][::-1]
            newer = data["next"]
            older = int(str(items[-1]["seq"])) if items and int(str(items[-1]["seq"])) > 0 else None
            api_url = query.api_url(order="asc", start=max(0, start))
            if not items and start > 0:
                older = min(start, data["size"])
        else:
            data = reads.journal_entries(store, 0, PAGE, before=NEWEST if before is None else before, where=where)
            items = data["items"]
            older = data["next"]
            top = min(data["size"], before) if before is not None else data["size"]
            newer = top if top < data["size"] else None
            api_url = query.api_url(order="desc", before=before)
        return render(
            request,
            "journal.html",
            items=items,
            size=data["size"],
            older=older,
            newer=newer,
            query=query,
            links=query.links(),
            command_types=sorted(COMMANDS),
            families=sorted({name.split(".")[0] + "." for name in COMMANDS}),
            json_url=api_url,
        )

    @app.get("/journal/{seq}", response_class=HTMLResponse, include_in_schema=False)
    def journal_entry(request: Request, seq: int) -> HTMLResponse:
        data, error = try_read(reads.inclusion, store, seq, None)
        with store.read() as uow:
            size = uow.journal.head().size
        return render(request, "entry.html", seq=seq, data=data, error=error, size=size, json_url=f"/api/journal/{seq}")

    @app.get("/persons/{person}", response_class=HTMLResponse, include_in_schema=False)
    def person(request: Request, person: str) -> HTMLResponse:
        now = service.now()
        account, error = try_read(reads.account, store, person)
        known = reads.currencies(store, None, MAX_LIMIT)["items"]
        currency_names = {c["id"]: c["name"] for c in known}
        # Balances read as money (major units after the symbol, X3; docs/decisions/0010).
        currency_format = {
            c["id"]: (c["decimals"], c["id"] if c["kind"] == CurrencyKind.ISSUED.value else CIRCLES_SYMBOL)
            for c in known
        }
        cards = [] if error else [card for add in site.person_cards if (card := add(person, now)) is not None]
        return render(
            request,
            "person.html",
            person=person,
            account=account,
            error=error,
            cards=cards,
            currency_names=currency_names,
            currency_format=currency_format,
            json_url=f"/api/accounts/{quote(person, safe='')}",
        )

    site.glossary += [
        Term(
            "amounts",
            "Amounts",
            "Money is shown in major units after its currency's symbol (xi 12,000.00); "
            "the journal and the API keep exact integers of the currency's minor unit.",
            ("X3",),
        ),
        Term(
            "durations",
            "Durations",
            "Shown in years, days and hours; a year is 365.2425 days, a month a "
            "twelfth of it. Rules read time from the journal's entries, so the pages explain numbers at the "
            "journal's time.",
            ("X4",),
        ),
    ]
    site.rules.update(
        {
            "X3": "Amounts are exact integers of a currency's minor unit, never floats.",
            "X4": "Rules read time from the entry; a year is 31,556,952 s (365.2425 days), a month a twelfth of it.",
        }
    )

    @app.get("/glossary", response_class=HTMLResponse, include_in_schema=False)
    def glossary(request: Request) -> HTMLResponse:
        """What the numbers on the pages mean, and the rules that make them (by rule id)."""
        return render(
            request,
            "glossary.html",
            terms=sorted(site.glossary, key=lambda t: t.name.casefold()),
            rules=sorted(site.rules.items(), key=lambda r: _rule_order(r[0])),
        )

    @app.get("/app", response_class=HTMLResponse, include_in_schema=False)
    def citizen_app(request: Request) -> HTMLResponse:
        """The citizen's app: the page is the same for everyone; the key and the account are in the browser."""
        return render(request, "app.html", json_url="/api/command-types")

    @app.get("/wallet", response_class=HTMLResponse, include_in_schema=False)
    def wallet(request: Request) -> HTMLResponse:
        return render(request, "wallet.html", json_url="/api/command-types")
