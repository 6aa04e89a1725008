"""Every page in a real browser at a phone's width and a desktop's (Playwright on Debian's Chromium).

At 390x844 no page type scrolls sideways (``scrollWidth <= 390``), in English and in Spanish, and
axe-core finds no serious or critical violation at either width in either language; the header's
language links switch the language and a cookie keeps it; every form field has an
accessible name; keyboard focus is visible; the journal explorer lists newest first, filters by
account, command type and date, links each page to the API URL holding the same data, and its
first/last navigation never leads past the journal's end. Screenshots of every page at 1280 and 390
go to ``$CIVIC_SCREENSHOTS`` if set, else to the module's pytest tmp folder. See docs/web.md.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from axe_playwright_python.base import AXE_SCRIPT  # type: ignore[import-untyped]

from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.kernel.time import format_instant
from civicledger.web.i18n import LANGUAGES

SCROLL_WIDTH = "() => document.documentElement.scrollWidth"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots go: ``CIVIC_SCREENSHOTS`` or a tmp folder (its path is printed)."""
    folder = Path(os.environ.get("CIVIC_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"screenshots in {folder}")
    return folder


def _page(browser: Any, url: str, viewport: dict[str, int]) -> Iterator[Any]:
    context = browser.new_context(base_url=url, viewport=viewport)
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    context.close()
    assert not errors, errors


@pytest.fixture
def phone(browser: Any, served: tuple[str, ScriptedEconomy]) -> Iterator[Any]:
    yield from _page(browser, served[0], PHONE)


@pytest.fixture
def desktop(browser: Any, served: tuple[str, ScriptedEconomy]) -> Iterator[Any]:
    yield from _page(browser, served[0], DESKTOP)


@pytest.fixture
def api(served: tuple[str, ScriptedEconomy]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served[0], timeout=30) as client:
        yield client


def page_types(economy: ScriptedEconomy, size: int) -> dict[str, str]:
    """One URL of every page type the site and the demo's mechanisms serve."""
    return {
        "overview": "/",
        "journal": "/journal",
        "journal-filtered": "/journal?type=gears.cast_vote",
        "entry": "/journal/5",
        "entry-last": f"/journal/{size - 1}",
        "entry-missing": f"/journal/{size + 3}",
        "person": f"/persons/{economy.account('maya')}",  # Circles and social credits cards
        "company": f"/companies/{economy.account('widget-co')}",  # Gears
        "good": "/goods/bicycle",  # Creditism
        "wallet": "/wallet",
        "treasury": "/treasury",  # the fund and its payout queue (GR6)
        "companies": "/companies?q=co",  # searchable lists
        "goods": "/goods",
        "coops": "/coops",
        "policy": "/policy",  # the policy in force and its history (X7)
        "council": "/council",  # council decisions collecting co-signatures (X6)
        "app": "/app",  # the citizen's app, before a key is made
    }


def _settle(page: Any, path: str) -> None:
    page.goto(path)
    if path.startswith("/wallet"):
        page.wait_for_selector("body[data-wallet-ready=true]")
    if path.startswith("/app"):
        page.wait_for_selector("body[data-app-ready=true]")


AXE_BLOCKING = {"serious", "critical"}


def _axe(page: Any) -> list[str]:
    """axe-core's serious and critical violations on the page as loaded (the axe-playwright-python
    package ships axe.min.js; nothing of it is copied into the project)."""
    page.evaluate(AXE_SCRIPT)
    result = page.evaluate("() => axe.run(document, { resultTypes: ['violations'] })")
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in AXE_BLOCKING
    ]


@contextmanager
def _browsing(browser: Any, url: str, viewport: dict[str, int], locale: str) -> Iterator[Any]:
    """A page whose browser asks for ``locale`` (its Accept-Language), failing on any script error."""
    context = browser.new_context(base_url=url, viewport=viewport, locale=locale)
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    context.close()
    assert not errors, errors


BROWSER_LOCALES = {"en": "en-US", "es": "es-ES"}
"""Each language of the site (civicledger.web.i18n.LANGUAGES) and the browser locale that asks for it."""


@pytest.mark.parametrize("language", sorted(BROWSER_LOCALES))
def test_every_page_fits_a_phone_and_a_desktop_and_axe_finds_nothing_serious(
    language: str, browser: Any, api: httpx.Client, served: tuple[str, ScriptedEconomy], shots: Path
) -> None:
    """One load of every page type at each width, in each language chosen by the browser's
    Accept-Language: ``<html lang>`` names it, no sideways scroll at 390 px, and axe-core reports
    no serious or critical violation (WCAG 2 A/AA rules and best practices)."""
    assert {lang.code for lang in LANGUAGES} == set(BROWSER_LOCALES)
    size = api.get("/api/economy").json()["entries"]
    too_wide: dict[str, int] = {}
    violations: dict[str, list[str]] = {}
    suffix = "" if language == "en" else f"-{language}"
    for viewport in (DESKTOP, PHONE):
        with _browsing(browser, served[0], viewport, BROWSER_LOCALES[language]) as page:
            for name, path in page_types(served[1], size).items():
                _settle(page, path)
                assert page.get_attribute("html", "lang") == language, (name, language)
                page.screenshot(path=str(shots / f"{name}-{viewport['width']}{suffix}.png"), full_page=True)
                if viewport is PHONE and (width := int(page.evaluate(SCROLL_WIDTH))) > PHONE["width"]:
                    too_wide[name] = width
                if found := _axe(page):
                    violations[f"{name} at {viewport['width']}"] = found
            if viewport is PHONE and language == "en":
                page.goto("/docs")  # the API docs (Swagger UI's own layout) fit too
                page.wait_for_selector(".swagger-ui .opblock")
                page.screenshot(path=str(shots / "docs-390.png"))
                if (width := int(page.evaluate(SCROLL_WIDTH))) > PHONE["width"]:
                    too_wide["docs"] = width
    assert not too_wide, f"pages wider than {PHONE['width']} px: {too_wide}"
    assert not violations, violations


def test_the_language_selector_switches_and_is_remembered(
    desktop: Any, api: httpx.Client, served: tuple[str, ScriptedEconomy]
) -> None:
    """The header's language links keep the page and its search, set ``<html lang>`` and a cookie
    that later pages follow; the strings the scripts show come translated with the page."""
    desktop.goto("/journal?type=gears.cast_vote")
    assert desktop.get_attribute("html", "lang") == "en" and desktop.text_content("h1") == "Journal"
    desktop.click("header nav a[lang=es]")
    assert desktop.get_attribute("html", "lang") == "es" and desktop.text_content("h1") == "Diario"
    assert parse_qs(urlparse(desktop.url).query)["type"] == ["gears.cast_vote"]  # the search is kept
    assert desktop.get_attribute("header nav a[aria-current]", "lang") == "es"
    desktop.goto("/journal/5")  # no ?lang=: the cookie chose Spanish
    assert desktop.get_attribute("html", "lang") == "es"
    desktop.click("#check-proof")
    desktop.wait_for_selector("#proof-result[data-ok=true]")
    assert desktop.text_content("#proof-result") == "verificado en su navegador"
    assert "hash de hoja" in desktop.text_content("#proof-steps")
    assert _axe(desktop) == []  # the steps the script added, too
    desktop.click("header nav a[lang=en]")
    assert desktop.get_attribute("html", "lang") == "en" and "Journal entry 5" in desktop.text_content("h1")

    # Balances read as money in each language, from the exact units the page also carries (X3).
    company = served[1].account("widget-co")
    for language, (group, point) in {"en": (",", "."), "es": (".", ",")}.items():
        desktop.goto(f"/persons/{company}?lang={language}")
        cell = desktop.locator("#balances td[data-units]").first
        units = int(str(cell.get_attribute("data-units")))
        whole = f"{units // 100:,}".replace(",", group)
        assert cell.text_content() == f"xi {whole}{point}{units % 100:02d}", language


UNLABELLED = """() => Array.from(document.querySelectorAll("input, select, textarea"))
  .filter((el) => el.type !== "hidden")
  .filter((el) => {
    const byLabel = el.labels && Array.from(el.labels).some((l) => l.textContent.trim());
    const byAria = (el.getAttribute("aria-label") || "").trim() || el.getAttribute("aria-labelledby");
    return !byLabel && !byAria;
  })
  .map((el) => el.id || el.name || el.outerHTML.slice(0, 60))"""


def test_every_form_field_has_a_label(phone: Any, api: httpx.Client, served: tuple[str, ScriptedEconomy]) -> None:
    size = api.get("/api/economy").json()["entries"]
    phone.goto("/wallet")
    phone.wait_for_selector("body[data-wallet-ready=true]")
    phone.fill("#key-name", "lee")
    phone.click("#generate-key")  # a key adds a signer checkbox: it must be labelled too
    phone.wait_for_selector("#signers input")
    missing = {"wallet": phone.evaluate(UNLABELLED)}
    assert _axe(phone) == []  # with the key's row and check box the script added
    for name, path in page_types(served[1], size).items():
        _settle(phone, path)
        missing[name] = phone.evaluate(UNLABELLED)
    assert not {k: v for k, v in missing.items() if v}, missing
    assert phone.locator("select, input, textarea").count() > 0


def test_keyboard_focus_is_visible(desktop: Any) -> None:
    """Tabbing to a link and a button draws an outline (WCAG 2.4.7)."""
    desktop.goto("/wallet")
    desktop.wait_for_selector("body[data-wallet-ready=true]")
    outlines = []
    for _ in range(8):
        desktop.keyboard.press("Tab")
        outlines.append(
            desktop.evaluate(
                """() => { const el = document.activeElement; const s = getComputedStyle(el);
                return [el.tagName, s.outlineStyle !== "none" && parseFloat(s.outlineWidth) >= 2]; }"""
            )
        )
    assert outlines[0][0] == "A" and outlines[0][1], outlines  # the skip link comes first
    assert all(visible for _, visible in outlines), outlines


CONTRAST = """() => {
  const rgb = (c) => (c.match(/[0-9.]+/g) || []).slice(0, 3).map(Number);
  const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const lum = ([r, g, b]) => {
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const background = (el) => { for (; el; el = el.parentElement) { const c = getComputedStyle(el).backgroundColor;
    if (!/rgba\\(.*, 0\\)$/.test(c) && c !== "transparent") return rgb(c); } return [255, 255, 255]; };
  const low = [];
  for (const el of document.querySelectorAll("body *")) {
    if (!Array.from(el.childNodes).some((n) => n.nodeType === 3 && n.textContent.trim())) continue;
    if (el.closest("svg, pre")) continue;
    const s = getComputedStyle(el);
    if (s.visibility === "hidden" || s.display === "none" || el.getClientRects().length === 0) continue;
    const a = lum(rgb(s.color)), b = lum(background(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) low.push(el.tagName + " " + ratio.toFixed(2) + " " + el.textContent.trim().slice(0, 30));
  }
  return low;
}"""


def test_text_has_enough_contrast(desktop: Any, api: httpx.Client, served: tuple[str, ScriptedEconomy]) -> None:
    """Every text on every page type has a contrast of at least 4.5:1 with its background (WCAG 1.4.3)."""
    size = api.get("/api/economy").json()["entries"]
    low = {}
    for name, path in page_types(served[1], size).items():
        _settle(desktop, path)
        low[name] = desktop.evaluate(CONTRAST)
    assert not {k: v for k, v in low.items() if v}, low


def _seqs(page: Any) -> list[int]:
    return [int(t) for t in page.locator("#entries td.seq a").all_text_contents()]


def _json_link(page: Any, api: httpx.Client) -> Any:
    href = page.get_attribute("a#json-link", "href")
    assert href and href.startswith("/api/"), href
    answer = api.get(href)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_the_journal_explorer_lists_newest_first_and_pages_both_ways(
    desktop: Any, api: httpx.Client, shots: Path
) -> None:
    size = api.get("/api/economy").json()["entries"]
    desktop.goto("/journal")
    newest = _seqs(desktop)
    assert newest[0] == size - 1 and newest == sorted(newest, reverse=True) and len(newest) == 50
    assert [e["seq"] for e in _json_link(desktop, api)["items"]] == newest  # the JSON link holds the same page
    desktop.click("a#older")
    older = _seqs(desktop)
    assert older[0] == newest[-1] - 1 and older == sorted(older, reverse=True)
    assert [e["seq"] for e in _json_link(desktop, api)["items"]] == older
    desktop.click("a#newer")
    assert _seqs(desktop) == newest
    desktop.click("a#oldest")
    oldest = _seqs(desktop)
    assert oldest[-1] == 0 and oldest == sorted(oldest, reverse=True)
    assert desktop.locator("a#older").count() == 0
    assert [e["seq"] for e in _json_link(desktop, api)["items"]][::-1] == oldest  # the API: oldest first from start
    desktop.click("a#newest")
    assert _seqs(desktop) == newest and desktop.locator("a#newer").count() == 0


def test_the_journal_explorer_filters_by_type_account_and_date(
    desktop: Any, phone: Any, api: httpx.Client, served: tuple[str, ScriptedEconomy], shots: Path
) -> None:
    everything = api.get("/api/journal", params={"limit": 500}).json()["items"]
    maya = served[1].account("maya")

    desktop.goto("/journal")
    desktop.select_option("#filter-type", "gears.cast_vote")
    desktop.click("#filter-apply")
    votes = _seqs(desktop)
    expected = [e["seq"] for e in everything if e["command"]["type"] == "gears.cast_vote"][::-1]
    assert votes == expected[:50] and votes
    assert {t.strip() for t in desktop.locator("#entries td.type").all_text_contents()} == {"gears.cast_vote"}
    query = parse_qs(urlparse(str(desktop.get_attribute("a#json-link", "href"))).query)
    assert query["type"] == ["gears.cast_vote"] and query["order"] == ["desc"]
    assert [e["seq"] for e in _json_link(desktop, api)["items"]] == votes

    # A family of types: "credits." selects every social credits command.
    desktop.goto("/journal")
    desktop.select_option("#filter-type", "credits.")
    desktop.click("#filter-apply")
    credits = _seqs(desktop)
    assert credits == [e["seq"] for e in everything if e["command"]["type"].startswith("credits.")][::-1][:50]

    # An account, by id or by its name: entries it signed or that name it.
    desktop.goto("/journal")
    desktop.fill("#filter-account", "maya")
    desktop.click("#filter-apply")
    by_name = _seqs(desktop)
    mentions = [e["seq"] for e in everything if maya in str(e["command"]) or maya in str(e["events"])][::-1]
    assert by_name == mentions[:50] and by_name
    desktop.goto(f"/journal?account={maya}")
    assert _seqs(desktop) == by_name

    # A date range: the entries of the day of entry 40.
    day = format_instant(everything[40]["time"])[:10]
    desktop.goto("/journal")
    desktop.fill("#filter-since", day)
    desktop.fill("#filter-until", day)
    desktop.click("#filter-apply")
    dated = _seqs(desktop)
    assert dated == [e["seq"] for e in everything if format_instant(e["time"])[:10] == day][::-1][:50] and dated
    desktop.screenshot(path=str(shots / "journal-dated-1280.png"), full_page=True)

    phone.goto("/journal?type=circles.")
    phone.screenshot(path=str(shots / "journal-circles-390.png"), full_page=True)
    assert int(phone.evaluate("() => document.documentElement.scrollWidth")) <= PHONE["width"]

    desktop.goto("/journal?type=no.such_type")
    assert _seqs(desktop) == [] and "no entry" in desktop.text_content("#entries-empty")


def test_entry_navigation_stays_inside_the_journal(desktop: Any, api: httpx.Client) -> None:
    size = api.get("/api/economy").json()["entries"]
    desktop.goto(f"/journal/{size - 1}")
    assert desktop.locator("a#next-entry").count() == 0  # the last entry offers no entry after it
    assert desktop.get_attribute("a#first-entry", "href") == "/journal/0"
    assert desktop.get_attribute("a#json-link", "href") == f"/api/journal/{size - 1}"
    desktop.click("a#previous-entry")
    assert desktop.url.endswith(f"/journal/{size - 2}")
    assert desktop.get_attribute("a#next-entry", "href") == f"/journal/{size - 1}"
    desktop.goto("/journal/0")
    assert desktop.locator("a#previous-entry").count() == 0
    desktop.click("a#last-entry")
    assert desktop.url.endswith(f"/journal/{size - 1}")
    answer = desktop.goto(f"/journal/{size + 3}")
    assert answer.status == 404
    assert desktop.locator("a#next-entry").count() == 0
    assert desktop.get_attribute("a#last-entry", "href") == f"/journal/{size - 1}"
    assert re.search(rf"{size} entries", desktop.text_content("main"))


def test_the_menu_opens_the_interactive_api_docs(desktop: Any, api: httpx.Client, shots: Path) -> None:
    """/docs is FastAPI's Swagger UI, served from this server (no CDN: the site works offline)."""
    desktop.goto("/")
    desktop.click("nav a:text-is('API')")
    desktop.wait_for_selector(".swagger-ui .opblock")
    assert desktop.url.endswith("/docs")
    assert desktop.locator(".opblock-summary-path[data-path='/api/journal']").count() == 1
    desktop.screenshot(path=str(shots / "docs-1280.png"))
    html = api.get("/docs").text
    assert "cdn" not in html.lower() and "/static/swagger/" in html
    for page_path, expected in [
        ("/", "/api/economy"),
        ("/wallet", "/api/command-types"),
        ("/goods/bicycle", "/api/creditism/prices/bicycle"),
    ]:
        desktop.goto(page_path)
        assert desktop.get_attribute("a#json-link", "href") == expected
        assert api.get(expected).status_code == 200
