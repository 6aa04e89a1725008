"""`civic <mechanism> explain ...`: why a grade, a delta, a price and a payment's maximum are what
they are, at the journal's time; tables in major units, ``--json`` in exact minor units (SC4, GR5,
CR11, CI9)."""

from __future__ import annotations

import re

from civicledger.adapters.stores import open_store
from civicledger.kernel.personal import reveal
from tests.e2e.conftest import Civic


def _ids(civic: Civic) -> dict[str, str]:
    """The demo's accounts by name (names live off the journal, IN11)."""
    store = open_store(civic.env["CIVIC_DB"])
    try:
        with store.read() as uow:
            return {reveal(uow.personal, a.name): a.id for a in uow.accounts.scan()}
    finally:
        store.close()


def test_explain_commands_show_inputs_and_steps_in_major_units_at_the_journals_time(civic: Civic) -> None:
    civic("demo")
    ids = _ids(civic)

    delta = civic.json("gears", "explain", ids["widget-co"])
    assert delta["rule"] == "GR5"
    assert delta["result"]["value"] == "25342245/2404264"
    g = next(f for f in delta["inputs"] if f["name"] == "G")
    assert g["units"] == 714_781 and g["currency"] == "xi"
    table = civic("gears", "explain", ids["widget-co"]).stdout
    assert "xi 7,147.81" in table and "delta = 10.54" in table

    grade = civic.json("credits", "explain", ids["maya"], "--grade")
    assert (grade["rule"], grade["result"]["value"]) == ("SC4", "4")
    assert grade["at"] == civic.json("credits", "explain", ids["maya"])["at"]  # the journal's time, not the clock
    assert "grade = 4" in civic("credits", "explain", ids["maya"], "--grade").stdout

    price = civic.json("creditism", "explain", "bicycle")
    assert price["result"]["units"] == 14_117
    table = civic("creditism", "explain", "bicycle").stdout
    assert "141.17" in table and "73.2% of 177.11" in " ".join(table.split())
    shares = civic("creditism", "price", "bicycle").stdout
    assert re.search(r"labour\s+│\s+129\.56\s+│\s+73\.2%", shares)  # the goods page's share, not 91.8%
    assert "91.8%" not in shares

    payment = civic.json("circles", "explain", ids["cleo"], "--from", ids["ada"])
    assert payment["result"]["units"] == 778_722
    assert sum(s["units"] for s in payment["steps"]) == 778_722  # the minimum cut sums to the maximum
    assert "CRC 7,787.22" in civic("circles", "explain", ids["cleo"], "--from", ids["ada"]).stdout

    missing = civic("gears", "explain", ids["maya"], check=3)  # not a company: not found (exit 3)
    assert "GR1" in missing.stdout + missing.stderr
