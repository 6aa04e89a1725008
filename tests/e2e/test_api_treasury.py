"""A treasurer's reads over HTTP on the demo economy: the fund in major units with exact units
beside them (GR6, X3), and the searchable lists of companies, goods and coops with their pages."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.serving import demo_economy, live_server


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    with (
        demo_economy(tmp_path_factory.mktemp("treasury")) as economy,
        live_server(economy.store, economy.key("journal")) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        yield client


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def test_gr06_the_fund_shows_exact_units_and_major_units_with_the_symbol(http: httpx.Client) -> None:
    fund = ok(http.get("/api/gears/fund"))
    xi = next(c for c in fund["currencies"] if c["currency"] == "xi")
    whole, cents = divmod(xi["balance"], 100)
    assert xi["balance_text"] == f"xi {whole:,}.{cents:02d}"
    assert xi["waiting_payouts"] == len([p for p in fund["payouts"] if p["currency"] == "xi"])
    page = http.get("/treasury").text
    assert xi["balance_text"] in page and 'href="/api/gears/fund"' in page


def test_lists_search_by_name_in_any_case_and_link_their_json(http: httpx.Client) -> None:
    companies = ok(http.get("/api/gears/companies", params={"q": "WIDGET"}))
    assert [c["name"] for c in companies["items"]] == ["widget-co"] and companies["total"] == 1
    assert ok(http.get("/api/gears/companies", params={"q": "no such company"}))["items"] == []
    page = http.get("/companies", params={"q": "widget"}).text
    assert "widget-co" in page and "other-co" not in page
    assert 'href="/api/gears/companies?q=widget&amp;page=1"' in page
    goods = ok(http.get("/api/creditism/assets", params={"q": "renewable"}))
    assert goods["items"] and all(g["kind"] == "renewable" for g in goods["items"])
    coops = ok(http.get("/api/creditism/coops", params={"q": "green"}))
    assert [c["coop_name"] for c in coops["items"]] == ["green-wheels"]
    assert "green-wheels" in http.get("/coops", params={"q": "green"}).text
    assert ok(http.get("/api/creditism/assets", params={"page": 9}))["page"] == 1  # clamped to the last
