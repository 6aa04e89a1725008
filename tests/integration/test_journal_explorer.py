"""The journal explorer's reads (X2): pages oldest first or newest first, filtered by account,
command type and time, with cursors that never skip or repeat an entry, on the suite's backend."""

from __future__ import annotations

from typing import Any

import pytest

from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.api import reads
from civicledger.kernel import ledger as led
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.time import DAY, parse_instant
from civicledger.web.explorer import ExplorerQuery


@pytest.fixture
def journal(funded: ScriptedEconomy) -> ScriptedEconomy:
    """``funded`` and then, one day apart, ten issues of 1 xi alternately to bob and carol."""
    for i in range(10):
        funded.advance(DAY)
        funded.run(led.Issue(CurrencyId("xi"), funded.account("bob" if i % 2 == 0 else "carol"), 1), "fund")
    return funded


def _all(economy: ScriptedEconomy) -> list[Any]:
    return reads.journal_entries(economy.store, 0, 500)["items"]


def _walk(economy: ScriptedEconomy, limit: int, where: reads.JournalFilter | None, newest_first: bool) -> list[int]:
    """Every seq a reader sees by following ``next`` from the first page."""
    seen: list[int] = []
    cursor: int | None = reads.NEWEST if newest_first else 0
    while cursor is not None:
        if newest_first:
            page = reads.journal_entries(economy.store, 0, limit, before=cursor, where=where)
        else:
            page = reads.journal_entries(economy.store, cursor, limit, where=where)
        assert len(page["items"]) <= limit
        seen += [int(str(e["seq"])) for e in page["items"]]
        cursor = page["next"]
    return seen


def test_x02_newest_first_pages_cover_the_journal_once(journal: ScriptedEconomy) -> None:
    size = len(_all(journal))
    assert _walk(journal, 3, None, newest_first=True) == list(range(size - 1, -1, -1))
    assert _walk(journal, 4, None, newest_first=False) == list(range(size))
    first = reads.journal_entries(journal.store, 0, 5, before=reads.NEWEST)
    assert [e["seq"] for e in first["items"]] == list(range(size - 1, size - 6, -1)) and first["next"] == size - 5
    assert reads.journal_entries(journal.store, 0, 5, before=0) == {"items": [], "size": size, "next": None}


def test_x02_filters_by_type_family_account_and_time(journal: ScriptedEconomy) -> None:
    everything = _all(journal)
    bob = journal.account("bob")
    issues = reads.JournalFilter(command_type="ledger.issue")
    assert _walk(journal, 2, issues, True) == [
        e["seq"] for e in reversed(everything) if e["command"]["type"] == "ledger.issue"
    ]
    family = reads.JournalFilter(command_type="ledger.")
    assert set(_walk(journal, 50, family, False)) == {
        e["seq"] for e in everything if e["command"]["type"].startswith("ledger.")
    }
    assert _walk(journal, 50, reads.JournalFilter(command_type="ledger"), False) == []  # a family ends in "."

    to_bob = _walk(journal, 2, reads.JournalFilter(accounts=frozenset({bob})), True)
    expected = [e["seq"] for e in reversed(everything) if bob in str(e["command"]) or bob in str(e["events"])]
    assert to_bob == expected and len(to_bob) >= 6  # bob's account opened, and five issues to him
    assert _walk(journal, 5, reads.JournalFilter(accounts=frozenset()), True) == []  # a name nobody has

    t = everything[-4]["time"]
    window = reads.JournalFilter(since=t, until=t + DAY - 1, command_type="ledger.issue")
    assert _walk(journal, 5, window, True) == [e["seq"] for e in everything if t <= e["time"] < t + DAY][::-1]


def test_a_filtered_page_examines_a_bounded_number_of_entries(
    journal: ScriptedEconomy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No request reads the whole journal for a rare filter: the page stops after MAX_SCAN entries
    and its cursor says where to go on, so following it still finds every match."""
    monkeypatch.setattr(reads, "MAX_SCAN", 4)
    everything = _all(journal)
    first_open = reads.JournalFilter(command_type="identity.open_account")
    page = reads.journal_entries(journal.store, 0, 50, before=reads.NEWEST, where=first_open)
    assert page["items"] == [] and page["next"] == len(everything) - 4
    assert _walk(journal, 50, first_open, True) == [
        e["seq"] for e in reversed(everything) if e["command"]["type"] == "identity.open_account"
    ]


def test_the_explorer_finds_an_account_by_name_and_reads_days(journal: ScriptedEconomy) -> None:
    bob = journal.account("bob")
    assert reads.accounts_named(journal.store, "Bob") == {bob}  # IN11: the name read off the journal
    assert reads.accounts_named(journal.store, bob) == {bob}
    assert reads.accounts_named(journal.store, "nobody") == frozenset()

    query = ExplorerQuery.of("bob", "ledger.", "2027-01-02", "2027-01-03")
    since = parse_instant("2027-01-02")
    assert (query.since, query.until) == (since, since + 2 * DAY - 1)  # X4: both days whole, in UTC
    assert query.where(journal.store).accounts == {bob}
    assert query.api_url("desc", before=9) == (
        f"/api/journal?order=desc&limit=50&before=9&account=bob&type=ledger.&since={query.since}&until={query.until}"
    )
    assert query.links() == "&account=bob&type=ledger.&since=2027-01-02&until=2027-01-03"
    bad = ExplorerQuery.of("", "", "yesterday", "2027-13-40")
    assert bad.since is None and bad.until is None and "yesterday" in bad.error and "2027-13-40" in bad.error
