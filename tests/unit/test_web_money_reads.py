"""X3 on the pages: a page reads how each currency's amounts read once, not once per amount."""

from __future__ import annotations

from typing import Any

import pytest
from jinja2 import ChoiceLoader, DictLoader

from civicledger.adapters.memory import MemoryStore
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.kernel import ledger as led
from civicledger.kernel.identity import AccountKind
from civicledger.web.site import Site


def test_x03_a_card_of_many_amounts_reads_each_currency_once(monkeypatch: pytest.MonkeyPatch) -> None:
    store = MemoryStore()
    e = ScriptedEconomy(store, start=1_900_000_000, label="money reads")
    e.open("fund", AccountKind.FUND)
    e.run(led.CreateCurrency("xi", e.account("fund"), "xi"), "fund")
    site = Site(store, lambda: 1_900_000_000, lambda: None)  # type: ignore[arg-type,return-value]
    loader = site.templates.env.loader
    assert isinstance(loader, ChoiceLoader)
    amounts = "{% for u in units %}{{ u | money('xi') }} {{ u | money }};{% endfor %}"
    loader.loaders = [DictLoader({"amounts.html": amounts}), *loader.loaders]
    reads: list[int] = []
    real = store.read

    def counted() -> Any:
        reads.append(1)
        return real()

    monkeypatch.setattr(store, "read", counted)
    html = site.card("amounts.html", units=list(range(0, 5000, 100)))
    assert html.count(";") == 50
    assert html.startswith("xi 0.00 0.00;xi 1.00 1.00;")  # major units, the symbol where known
    assert len(reads) == 2  # xi, and the economy's decimals for amounts of no currency
    site.card("amounts.html", units=[1])
    assert len(reads) == 4  # a new card reads again: a currency made since shows as it is
