"""The searchable lists' paging (api/kit.search_page): any-case search, pages of PER_PAGE, a page
number past the end shows the last page, never an empty one."""

from __future__ import annotations

from civicledger.api.kit import PER_PAGE, search_json, search_page

ITEMS = [f"Company {n:03d}" for n in range(PER_PAGE * 2 + 3)]


def test_pages_hold_per_page_rows_and_the_last_holds_the_rest() -> None:
    rows, page, pages, total = search_page(ITEMS, "", str, 1)
    assert (len(rows), page, pages, total) == (PER_PAGE, 1, 3, len(ITEMS))
    rows, page, _, _ = search_page(ITEMS, "", str, 3)
    assert rows == ITEMS[2 * PER_PAGE :] and page == 3


def test_a_page_past_the_end_or_before_the_first_is_clamped() -> None:
    assert search_page(ITEMS, "", str, 99)[1] == 3
    assert search_page(ITEMS, "", str, 0)[1] == 1
    assert search_page([], "x", str, 5) == ([], 1, 1, 0)


def test_search_is_any_case_and_counts_only_matches() -> None:
    rows, _, pages, total = search_page(ITEMS, "  company 00", str, 1)
    assert total == 10 and pages == 1 and rows[0] == "Company 000"
    assert search_json(ITEMS, "COMPANY 052", str, 1)["items"] == ["Company 052"]
