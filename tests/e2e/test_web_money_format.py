"""``static/money.js`` in a real browser against ``civicledger.web.i18n.format_money`` (X3): the same
text for every locale, decimals and value, huge values included, and the citizen's app showing a
person's holdings in Spanish from the exact minor units."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from babel.numbers import get_decimal_symbol, get_group_symbol

from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.web import i18n

LOCALES = ["en", "es", "fr", "sv", "pt_PT", "hi", "de"]
VALUES = [0, 5, -5, 99, 100, 1_234, -150, 123_456_789, -987_654_321_012, 2**53 + 1, 2**63 - 1, -(2**63 - 1), 10**26 + 7]
DECIMALS = [0, 2, 3, 8, 18]


def python_money(code: str, units: int, decimals: int, symbol: str) -> str:
    token = i18n._current.set(code)
    try:
        return i18n.format_money(units, decimals, symbol)
    finally:
        i18n._current.reset(token)


def test_money_js_formats_as_the_server_in_every_locale(browser: Any, served: tuple[str, ScriptedEconomy]) -> None:
    cases = [
        (code, str(units), decimals, symbol)
        for code in LOCALES
        for units in VALUES
        for decimals in DECIMALS
        for symbol in ("xi", "")
    ]
    formats = {code: {"group": get_group_symbol(code), "decimal": get_decimal_symbol(code)} for code in LOCALES}
    context = browser.new_context(base_url=served[0])
    page = context.new_page()
    page.goto("/app")
    shown = page.evaluate(
        """async ([cases, formats]) => {
             const { formatMoney } = await import("/static/money.js");
             return cases.map(([code, units, decimals, symbol]) =>
               formatMoney(BigInt(units), decimals, symbol, formats[code]));
           }""",
        [cases, formats],
    )
    refused = page.evaluate(
        """async () => { const { formatMoney } = await import("/static/money.js");
             return [2 ** 60, 1.5, "1e3"].map((v) => { try { return formatMoney(v, 2, "xi"); }
               catch (e) { return e.name; } }); }"""
    )
    context.close()
    expected = [python_money(code, int(units), decimals, symbol) for code, units, decimals, symbol in cases]
    assert shown == expected
    assert "xi 92.233.720.368.547.758,07" in shown  # es, 2**63 - 1 at two decimals
    assert refused == ["RangeError"] * 3  # an unsafe float is never formatted as if exact


def test_the_app_shows_holdings_in_the_pages_language(browser: Any, served: tuple[str, ScriptedEconomy]) -> None:
    url, economy = served
    ada = economy.account("ada")
    with httpx.Client(base_url=url) as api:
        held = api.get(f"/api/accounts/{ada}/holdings").json()["items"]
    assert held and all(isinstance(h["decimals"], int) and h["symbol"] for h in held)
    context = browser.new_context(base_url=url, locale="es-ES", viewport={"width": 390, "height": 900})
    page = context.new_page()
    page.goto("/app")
    page.wait_for_selector("body[data-app-ready=true]")
    page.fill("#import-text", economy.key("ada").seed().hex())
    page.fill("#import-name", "ada")
    page.fill("#import-pass", "correct horse battery")
    page.click("#import-key")
    page.wait_for_selector("#holdings tbody td.num")
    cells = page.eval_on_selector_all("#holdings tbody td.num", "(tds) => tds.map((td) => td.textContent)")
    context.close()
    assert cells == [python_money("es", h["units"], h["decimals"], h["symbol"]) for h in held]
    assert any("," in c for c in cells) and cells != [h["text"] for h in held]


@pytest.mark.parametrize("code", ["en", "es"])
def test_the_page_names_its_separators(served: tuple[str, ScriptedEconomy], code: str) -> None:
    with httpx.Client(base_url=served[0]) as client:
        html = client.get("/app", params={"lang": code}).text
    expected = '{"decimal": ".", "group": ","}' if code == "en" else '{"decimal": ",", "group": "."}'
    assert f'<script type="application/json" id="number-format">{expected}</script>' in html
