"""The citizen app's reads, on the suite's backend: holdings in major units (X3), one account's
history with what each entry moved (X2 paging), and the account search (IN11: names come from the
off-journal store; an erased name is not found). Also over HTTP, where ``/api/accounts/search`` must
not be taken for an account id."""

from __future__ import annotations

import httpx
import pytest

from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.api import reads
from civicledger.kernel import identity as ident
from civicledger.kernel import ledger as led
from civicledger.kernel.errors import InvalidInputError, NotFoundError
from civicledger.kernel.money import CurrencyId
from tests.e2e.serving import live_server


@pytest.fixture
def paid(funded: ScriptedEconomy) -> ScriptedEconomy:
    """``funded``, then alice pays bob 2.00 xi four times and the fund issues carol 1 xi."""
    alice, bob = funded.account("alice"), funded.account("bob")
    for _ in range(4):
        funded.run(led.Transfer((led.Leg(CurrencyId("xi"), alice, bob, 200),), memo="lunch"), "alice")
    funded.run(led.Issue(CurrencyId("xi"), funded.account("carol"), 100), "fund")
    return funded


TWO_XI = {"currency": "xi", "label": "ethicap", "units": 200, "text": "xi 2.00", "decimals": 2, "symbol": "xi"}


def test_x03_holdings_are_formatted_from_the_exact_units(paid: ScriptedEconomy) -> None:
    alice = reads.holdings(paid.store, paid.account("alice"))
    assert alice == [TWO_XI]
    assert reads.holdings(paid.store, paid.account("bob"))[0]["text"] == "xi 8.00"
    assert reads.holdings(paid.store, paid.account("fund")) == []  # an issuer holds none of its own
    with pytest.raises(NotFoundError):
        reads.holdings(paid.store, "ac" + "0" * 32)


def test_x02_an_accounts_history_pages_newest_first_with_what_each_entry_moved(paid: ScriptedEconomy) -> None:
    bob = paid.account("bob")
    first = reads.account_history(paid.store, bob, None, 3)
    assert [r["type"] for r in first["items"]] == ["ledger.transfer"] * 3
    assert first["items"][0]["moves"] == [TWO_XI]
    seen = [r["seq"] for r in first["items"]]
    cursor = first["next"]
    while cursor is not None:
        page = reads.account_history(paid.store, bob, cursor, 3)
        seen += [r["seq"] for r in page["items"]]
        cursor = page["next"]
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen))
    everything = reads.journal_entries(paid.store, 0, 500)["items"]
    naming_bob = [e["seq"] for e in everything if bob in str(e["command"]) or bob in str(e["events"])]
    assert seen == naming_bob[::-1]  # never carol's issue, nor alice's first money
    alice = reads.account_history(paid.store, paid.account("alice"), None, 1)["items"][0]
    assert alice["moves"][0]["units"] == -200 and alice["moves"][0]["text"] == "-xi 2.00"
    assert alice["signers"] == [paid.account("alice")]


def test_in11_the_search_finds_names_from_the_off_journal_store_and_not_erased_ones(paid: ScriptedEconomy) -> None:
    bob = paid.account("bob")
    assert [h["id"] for h in reads.search_accounts(paid.store, "BOB", 10)] == [bob]
    assert [h["name"] for h in reads.search_accounts(paid.store, "ca", 10)] == ["carol"]
    assert [h["roles"] for h in reads.search_accounts(paid.store, "registrar", 10)] == [["registrar"]]  # SC1
    assert bob in [h["id"] for h in reads.search_accounts(paid.store, bob[:12], 10)]
    with pytest.raises(InvalidInputError) as refused:
        reads.search_accounts(paid.store, "b", 10)
    assert refused.value.rule == "IN11"
    registrar = paid.account("registrar")
    paid.run(ident.ErasePersonalData(bob, registrar=registrar), "registrar", "bob")
    assert reads.search_accounts(paid.store, "bob", 10) == []
    assert reads.search_accounts(paid.store, "erased", 10) == []


def test_the_http_routes_for_search_holdings_and_history(paid: ScriptedEconomy) -> None:
    bob = paid.account("bob")
    with live_server(paid.store, paid.key("journal")) as url, httpx.Client(base_url=url, timeout=30) as http:
        found = http.get("/api/accounts/search", params={"q": "bob"})
        assert found.status_code == 200 and [h["id"] for h in found.json()["items"]] == [bob]
        short = http.get("/api/accounts/search", params={"q": "b"})
        assert short.status_code == 422 and short.json()["rule"] == "IN11"
        held = http.get(f"/api/accounts/{bob}/holdings").json()
        assert held["items"][0]["text"] == "xi 8.00"
        page = http.get(f"/api/accounts/{bob}/history", params={"limit": 2}).json()
        assert len(page["items"]) == 2 and page["next"] is not None
        older = http.get(f"/api/accounts/{bob}/history", params={"limit": 2, "before": page["next"]}).json()
        assert older["items"][0]["seq"] < page["items"][-1]["seq"]
