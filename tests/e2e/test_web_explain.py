"""Explanations where the numbers are: every rule-made number on a page links to why it is what it
is, with its inputs (SC4, GR5, CR11, CI9); a glossary of the terms; money in major units on every
page of the served demo (X3). HTTP-level, against the real server."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import pytest

from civicledger.adapters.scripted import ScriptedEconomy


@pytest.fixture(scope="module")
def http(served: tuple[str, ScriptedEconomy]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served[0], timeout=60) as client:
        yield client


def _text(html: str) -> str:
    """A page's visible words, without its JSON (``<pre>``), scripts and tags."""
    html = re.sub(r"<(pre|script|style)\b.*?</\1>", " ", html, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def _link(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}" href="([^"]+)"', html)
    assert found, f"no #{element_id} link"
    return found.group(1)


def test_gr05_a_companys_delta_links_to_why_with_k_g_v_and_s(
    http: httpx.Client, served: tuple[str, ScriptedEconomy]
) -> None:
    widget = served[1].account("widget-co")
    page = http.get(f"/companies/{widget}").text
    href = _link(page, "explain-delta")
    assert href == f"/explain/gears/delta/{widget}"
    assert f'href="/explain/gears/delta/{widget}"' in http.get("/").text  # and from the overview's table
    shown = _text(http.get(href).text)
    assert "delta = 10.54" in shown
    for words in ("k 30", "G xi 7,147.81", "ΣG xi 24,042.64", "V 0.5000 (1/2)", "S 0.1486 (714781/4808528)"):
        assert words in shown, words
    assert 'class="date"' in page and ">2027-01-" in page  # the delta chart's axis has dates


def test_sc04_a_persons_grade_links_to_why_step_by_step(
    http: httpx.Client, served: tuple[str, ScriptedEconomy]
) -> None:
    maya = served[1].account("maya")
    page = http.get(f"/persons/{maya}").text
    href = _link(page, "explain-grade")
    shown = _text(http.get(href).text)
    assert "grade = 4" in shown
    assert "base grade 2" in shown
    assert "2 +2 (award" in shown and "kept within 0-5" in shown
    assert "Available 29,759 credits" in _text(page)


def test_cr11_a_price_links_to_why_and_the_page_shares_match_the_cli(http: httpx.Client) -> None:
    page = http.get("/goods/bicycle").text
    assert _link(page, "explain-price") == "/explain/creditism/price/bicycle"
    text = _text(page)
    assert "Market price (?) 141.17 per piece" in text
    assert "labour 129.56 73.2%" in text and "91.8%" not in text  # rules.component_shares (CR11)
    shown = _text(http.get("/explain/creditism/price/bicycle").text)
    for words in ("price = 141.17", "BasePrice 164.76", "demand / supply 0.8008 (800/999)", "73.2% of 177.11"):
        assert words in shown, words


def test_ci09_a_payments_maximum_links_to_the_trusts_and_holdings_that_limit_it(
    http: httpx.Client, served: tuple[str, ScriptedEconomy]
) -> None:
    economy = served[1]
    ada, ben, cleo = (economy.account(n) for n in ("ada", "ben", "cleo"))
    page = http.get(f"/persons/{ada}").text
    assert f'href="/explain/circles/payment/{ada}/{ben}"' in page
    assert "Claimable income" in _text(page) and re.search(r"Claimable income CRC [\d,]+\.\d\d", _text(page))
    shown = _text(http.get(f"/explain/circles/payment/{ada}/{cleo}").text)
    assert "maximum = CRC 7,787.22" in shown
    assert "ben holds ben's coins CRC 3,490.98" in shown
    data = http.get(f"/api/circles/explain/payment?sender={ada}&receiver={cleo}").json()
    assert data["result"]["units"] == 778_722
    assert sum(step["units"] for step in data["steps"]) == 778_722  # max-flow = min-cut


def test_every_explanation_has_its_json_in_exact_minor_units(
    http: httpx.Client, served: tuple[str, ScriptedEconomy]
) -> None:
    economy = served[1]
    for url in (
        f"/api/gears/explain/delta/{economy.account('widget-co')}",
        f"/api/credits/explain/grade/{economy.account('maya')}",
        "/api/creditism/explain/price/bicycle",
    ):
        data = http.get(url).json()
        assert {"rule", "inputs", "steps", "result", "at"} <= set(data), url
        assert all(isinstance(f["units"], int) for f in data["inputs"] + data["steps"] if "units" in f)
    assert http.get("/api/creditism/explain/price/bicycle").json()["result"]["units"] == 14_117
    assert http.get("/explain/gears/delta/ac" + "0" * 32).status_code == 404


def test_the_glossary_defines_every_term_and_rule_the_pages_link_to(
    http: httpx.Client, served: tuple[str, ScriptedEconomy]
) -> None:
    glossary = http.get("/glossary").text
    anchors = set(re.findall(r'id="([^"]+)"', glossary))
    assert {"delta", "g", "v", "s", "grade", "claimable-income", "durations", "market-price"} <= anchors
    economy = served[1]
    pages = [
        "/",
        f"/companies/{economy.account('widget-co')}",
        f"/persons/{economy.account('maya')}",
        f"/persons/{economy.account('ada')}",
        "/goods/bicycle",
        "/explain/creditism/price/bicycle",
        f"/explain/gears/delta/{economy.account('widget-co')}",
    ]
    for path in pages:
        for target in re.findall(r'href="/glossary#([^"]+)"', http.get(path).text):
            assert target in anchors, f"{path} links to a missing glossary entry {target}"
    assert "365.2425 days" in _text(glossary)  # durations read in days and hours (X4)


def test_the_glossary_and_explanations_speak_spanish_and_the_api_stays_english(
    http: httpx.Client, served: tuple[str, ScriptedEconomy]
) -> None:
    """Terms, rules and explanations are marked ``N_`` where they are written and translated by the
    pages (docs/web.md, Translating); the API answers the same records in English, as data."""
    glossary = _text(http.get("/glossary?lang=es").text)
    for words in (
        "Renta reclamable",
        "Grado",
        "Duraciones",
        "el Fondo del Bien Común paga la diferencia",
        "El ritmo crece g al año (5% por defecto).",
        "docs/<mechanism>.md",
    ):
        assert words in glossary, words
    assert "Claimable income" not in glossary and "Durations" not in glossary
    widget = served[1].account("widget-co")
    shown = _text(http.get(f"/explain/gears/delta/{widget}?lang=es").text)
    assert "¿Por qué la delta de esta empresa es la que es?" in shown
    assert "votos 1 suma de los votos vigentes" in shown and "votos / n : la media de los votos vigentes" in shown
    assert "delta = 10,54" in shown and "G xi 7.147,81" in shown  # numbers in the page's language
    assert "Why is" not in shown
    price = _text(http.get("/explain/creditism/price/bicycle?lang=es").text)
    assert "trabajo + externos + tasa + insumos" in price and "¿Por qué este precio es el que es?" in price
    wire = http.get(f"/api/gears/explain/delta/{widget}?lang=es").json()
    assert wire["question"] == "Why is this company's delta what it is?"
    # Texts made with data (names, amounts) read in Spanish too, their amounts in its format.
    economy = served[1]
    ada, cleo = economy.account("ada"), economy.account("cleo")
    payment = _text(http.get(f"/explain/circles/payment/{ada}/{cleo}?lang=es").text)
    assert (
        "ben tiene monedas de ben CRC 3.490,98" in payment and "lo máximo que ada puede pagar ahora a cleo" in payment
    )
    assert " holds " not in payment and "can pay" not in payment
    assert "por " in price and "antes de cualquier descuento por escasez" in price and "before any" not in price
    english = http.get(f"/api/circles/explain/payment?sender={ada}&receiver={cleo}").json()
    assert english["result"]["meaning"] == "the most ada can pay cleo now"  # the API keeps English


def test_x03_no_page_of_the_demo_shows_minor_units(http: httpx.Client) -> None:
    """Every page reachable from the overview, every journal entry and account included, reads
    money in major units; only JSON (API responses, payloads in ``<pre>``) keeps minor units. The
    wallet's form is left out: its amount field takes exact minor units until the citizen's app
    replaces it."""
    seen: set[str] = set()
    todo = ["/", "/glossary"]
    while todo and len(seen) < 800:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        response = http.get(path)
        if not response.headers["content-type"].startswith("text/html"):
            continue
        html = response.text
        assert "minor units" not in _text(html), path
        for link in re.findall(r'href="(/[^"#?]*)', html):
            if not link.startswith(("/api", "/static", "/docs", "/wallet", "/openapi")) and link not in seen:
                todo.append(link)
    assert len([p for p in seen if p.startswith("/journal/")]) > 150  # every entry of the demo
    assert any(p.startswith("/journal/") for p in seen) and any(p.startswith("/explain/") for p in seen)
    assert any(p.startswith("/companies/") for p in seen) and any(p.startswith("/goods/") for p in seen)


def test_explanation_pages_and_the_glossary_fit_a_phone(
    browser: Any, served: tuple[str, ScriptedEconomy], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """At 390 px no explanation page scrolls sideways; screenshots are saved to look at."""
    shots = Path(os.environ.get("CIVIC_SCREENSHOTS") or tmp_path_factory.mktemp("explain-shots"))
    shots.mkdir(parents=True, exist_ok=True)
    economy = served[1]
    pages = {
        "explain-grade": f"/explain/credits/grade/{economy.account('maya')}",
        "explain-delta": f"/explain/gears/delta/{economy.account('widget-co')}",
        "explain-price": "/explain/creditism/price/bicycle",
        "explain-payment": f"/explain/circles/payment/{economy.account('ada')}/{economy.account('cleo')}",
        "explain-payment-es": f"/explain/circles/payment/{economy.account('ada')}/{economy.account('cleo')}?lang=es",
        "explain-grade-es": f"/explain/credits/grade/{economy.account('maya')}?lang=es",
        "glossary": "/glossary?lang=en",
        "company-dated-chart": f"/companies/{economy.account('widget-co')}",
    }
    context = browser.new_context(base_url=served[0], viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        too_wide = {}
        for name, path in pages.items():
            page.goto(path)
            page.screenshot(path=str(shots / f"{name}-390.png"), full_page=True)
            if (width := int(page.evaluate("() => document.documentElement.scrollWidth"))) > 390:
                too_wide[name] = width
        assert not too_wide, too_wide
    finally:
        context.close()
    print(f"screenshots in {shots}")
