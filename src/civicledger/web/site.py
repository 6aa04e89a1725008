"""What a mechanism's pages share with the web site: rendering, templates, and the cards it adds to
the shared pages (``Mechanism.pages``: ``(app, site) -> None``).

A mechanism renders its own pages (``/companies/...``) with ``site.render`` from templates in its
own folder (``site.add_templates``), and contributes cards to the pages every economy has: the
overview (``site.overview_cards``) and a person's page (``site.person_cards``). A card function
returns the card's HTML, or ``None`` when the mechanism has nothing to show there.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, FileSystemLoader
from markupsafe import Markup

from civicledger.api.reads import EconomyView
from civicledger.kernel import state
from civicledger.kernel.errors import CivicLedgerError
from civicledger.kernel.explain import Explanation, Money
from civicledger.kernel.ports import Store
from civicledger.web import i18n

HERE = Path(__file__).parent
T = TypeVar("T")

OverviewCard = Callable[[int], Markup | None]
"""``(now) -> card``: a mechanism's card on the economy's overview."""
PersonCard = Callable[[str, int], Markup | None]
"""``(account id, now) -> card``: a mechanism's card on an account's page."""


_money_read: ContextVar[dict[str | None, Money] | None] = ContextVar("money_read", default=None)
"""While a page or card renders: how each currency's amounts read, looked up once for the page
rather than once per amount (a page of fifty amounts made fifty store reads)."""


@contextmanager
def _money_read_once() -> Iterator[None]:
    """Within: ``Site.money`` reads each currency's format once (a fresh one each page or card)."""
    token = _money_read.set({})
    try:
        yield
    finally:
        _money_read.reset(token)


@dataclass(frozen=True, slots=True)
class Cell:
    """One cell of a listing: its text, a link, and whether it is a number (right-aligned)."""

    text: str
    href: str | None = None
    num: bool = False


@dataclass(frozen=True, slots=True)
class Listing:
    """A searchable, paged list (a template extending ``listing.html``): ``rows`` are this page's,
    ``total`` matched."""

    rows: Sequence[tuple[Cell, ...]]
    q: str
    page: int
    pages: int
    total: int
    path: str
    json_url: str


def try_read(read: Callable[..., T], *args: object) -> tuple[T | None, str | None]:
    """Run one section's read; a mechanism without data shows its reason instead of failing the page."""
    try:
        return read(*args), None
    except CivicLedgerError as e:
        return None, str(e)


def _language_url(request: Request, code: str) -> str:
    """This page in another language: its path and query with ``lang`` set (the selector's links)."""
    url = request.url.include_query_params(lang=code)
    return f"{url.path}?{url.query}"


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.add_extension("jinja2.ext.i18n")
    # Every user-visible string in a template is ``{{ _("...") }}`` (or ``{% trans %}``), translated
    # into the request's language, which the callables look up on each call (``i18n.current``): one
    # shared environment, no per-request swapping of its globals, so no race between requests.
    templates.env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda s: i18n.translations(i18n.current()).gettext(s),
        ngettext=lambda s, p, n: i18n.translations(i18n.current()).ngettext(s, p, n),
        newstyle=True,
    )
    templates.env.loader = ChoiceLoader([FileSystemLoader(str(HERE / "templates"))])
    templates.env.globals["current_language"] = i18n.current
    templates.env.globals["languages"] = i18n.LANGUAGES
    templates.env.globals["messages_json"] = i18n.messages_json
    templates.env.globals["number_format_json"] = i18n.number_format_json
    templates.env.globals["language_url"] = _language_url
    templates.env.filters["instant"] = i18n.format_time
    templates.env.filters["number"] = i18n.format_number
    templates.env.filters["translate"] = i18n.translate  # texts marked N_ outside the web layer
    templates.env.filters["pretty"] = lambda v: json.dumps(v, indent=2, sort_keys=True, ensure_ascii=False)
    templates.env.filters["figure"] = i18n.format_figure
    templates.env.filters["duration"] = lambda s: i18n.format_duration(int(s)) if s is not None else ""
    return templates


@dataclass(frozen=True, slots=True)
class Term:
    """A word of the glossary (``/glossary#slug``): what a number on the pages means, by its rules."""

    slug: str
    name: str
    text: str
    rules: tuple[str, ...] = ()


@dataclass
class Site:
    """One web site over one store: its templates and the cards the mechanisms add to shared pages."""

    store: Store
    now: Callable[[], int]
    economy: Callable[[], EconomyView | None]
    templates: Jinja2Templates = field(default_factory=_templates)
    overview_cards: list[OverviewCard] = field(default_factory=list)
    person_cards: list[PersonCard] = field(default_factory=list)
    glossary: list[Term] = field(default_factory=list)
    """Terms the mechanisms explain on ``/glossary`` (Delta, G, V, S, grades, claimable income...)."""
    rules: dict[str, str] = field(default_factory=dict)
    """Rule id -> one line saying what it decides, for ``/glossary#<rule id>`` (docs hold the rest)."""

    def __post_init__(self) -> None:
        self.templates.env.filters["money"] = self.money

    def money(self, units: object, currency: str | None = None) -> str:
        """An amount for people (X3): major units after the currency's symbol ("xi 141.17"), from the
        currency's record; an amount whose currency is unknown reads in the economy's decimals."""
        if units is None or units == "":
            return ""
        money = self.money_of(currency)
        return i18n.format_money(int(str(units)), money.decimals, money.symbol)

    def money_of(self, currency: str | None) -> Money:
        """How ``currency``'s amounts read (``state.money_in``), read once per page or card."""
        seen = _money_read.get()
        money = seen.get(currency) if seen is not None else None
        if money is None:
            with self.store.read() as uow:
                money = state.money_in(uow, currency)
            if seen is not None:
                seen[currency] = money
        return money

    def explanation(
        self, request: Request, found: tuple[Explanation | None, str | None], back: tuple[str, str], json_url: str
    ) -> HTMLResponse:
        """An explanation page (``/explain/...``): why one number is what it is, its inputs and steps."""
        explained, error = found
        return self.render(request, "explain.html", explained=explained, error=error, back=back, json_url=json_url)

    def add_templates(self, folder: Path) -> None:
        """Let pages and cards use the templates of ``folder`` (a mechanism's ``templates/``)."""
        loader = self.templates.env.loader
        assert isinstance(loader, ChoiceLoader)
        loader.loaders = [*loader.loaders, FileSystemLoader(str(folder))]

    def render(self, request: Request, name: str, **context: object) -> HTMLResponse:
        """A whole page; a page whose subject does not exist (``error`` set) answers 404."""
        status = 404 if context.get("error") else 200
        with _money_read_once():
            return self.templates.TemplateResponse(
                request, name, {"economy": self.economy(), **context}, status_code=status
            )

    def card(self, name: str, **context: object) -> Markup:
        """A card's HTML from a template, for a shared page."""
        with _money_read_once():
            return Markup(self.templates.get_template(name).render(**context))
