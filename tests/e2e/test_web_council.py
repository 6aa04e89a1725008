"""A treasurer's journey in a real browser (issue 16): the treasurer drafts a policy change on
``/council`` and two council members co-sign it, each in their own browser context (one on a
phone, one on a desktop), with keys that never leave their browsers (WebCrypto Ed25519); the
change lands on the journal and ``/policy`` shows it with its diff. Screenshots go to
``$CIVIC_SCREENSHOTS`` or the test's tmp folder. See docs/web.md and kernel/proposals.py (X6).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from civicledger.kernel.journal import SignedCommand
from tests.e2e.proposals_kit import cosign, governed, signature_of
from tests.e2e.serving import SigningClient

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SigningClient]:
    with governed(tmp_path_factory.mktemp("council-web")) as c:
        yield c


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("CIVIC_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    print(f"screenshots in {folder}")
    return folder


class Member:
    """One person's own browser context on ``/council``, signing with their key's seed."""

    def __init__(self, browser: Any, url: str, viewport: dict[str, int], seed: str) -> None:
        self.context = browser.new_context(base_url=url, viewport=viewport)
        self.page = self.context.new_page()
        self.page.set_default_timeout(20_000)
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto("/council")
        self.page.fill("#council-seed", seed)
        self.page.click("#council-use-key")
        self.page.wait_for_selector("#council-account:has-text('ac')")

    def width(self) -> int:
        return int(self.page.evaluate("() => document.documentElement.scrollWidth"))

    def close(self) -> None:
        self.context.close()
        assert not self.errors, self.errors


def test_a_treasurer_collects_two_co_signatures_for_a_policy_change(
    browser: Any, client: SigningClient, shots: Path
) -> None:
    economy, url = client.economy, str(client.http.base_url).rstrip("/")
    size = client.journal_size()
    treasurer = Member(browser, url, DESKTOP, economy.key("treasurer").seed().hex())
    page = treasurer.page
    assert economy.account("treasurer") in page.text_content("#council-account")
    # Amounts in major units (exact digits, never a float), ratios as reduced fractions, yes/no.
    page.select_option("#draft-path", "circles.income_units")
    assert page.text_content("#draft-current") == "CRC 1,000.00 (100000)"
    assert page.input_value("#draft-value") == "1000.00" and page.text_content("#draft-exact") == "100000"
    for typed, exact in (("12,50", "1250"), ("1,000.07", "100007"), ("0.1", "10"), ("1.2345", None)):
        page.fill("#draft-value", typed)
        assert page.text_content("#draft-exact") == exact if exact else "decimals" in page.text_content("#draft-exact")
    page.select_option("#draft-path", "circles.growth")
    page.fill("#draft-value", "7.5%")
    assert page.text_content("#draft-exact") == '"3/40"'
    page.select_option("#draft-path", "gears.early_stage_waiver")
    page.fill("#draft-value", "yes")
    assert page.text_content("#draft-exact") == "true"
    page.select_option("#draft-path", "journal.signature_max_age")
    # Shown for people, typed for people; what is signed is the exact value (seconds).
    assert page.text_content("#draft-current") == "5 minutes (300)"
    assert page.input_value("#draft-value") == "5 minutes"
    page.fill("#draft-value", "15 minutes")
    assert page.text_content("#draft-exact") == "900"
    page.fill("#draft-value", "15 parsecs")
    assert "duration" in page.text_content("#draft-exact")
    page.fill("#draft-value", "0 hours 15 min")
    assert page.text_content("#draft-exact") == "900"
    page.click("#draft-submit")  # the treasurer is not a member: an unsigned draft
    page.wait_for_selector("li.proposal[data-status=pending]")
    proposal = page.get_attribute("li.proposal", "data-id")
    assert proposal and client.journal_size() == size  # held off the journal
    card = page.text_content(f"#proposal-{proposal}")
    assert "0 of 2 signatures" in card and "15 minutes" in card
    assert "drafted by treasurer" in " ".join(card.split())  # the name GET /api/accounts shows, not an id
    page.screenshot(path=str(shots / "council-drafted-1280.png"), full_page=True)
    treasurer.close()

    first = Member(browser, url, PHONE, economy.key("governor-1").seed().hex())
    first.page.click(f"#proposal-{proposal} button.cosign")
    first.page.wait_for_selector(f"#proposal-{proposal}:has-text('1 of 2 signatures')")
    assert client.journal_size() == size
    first.page.screenshot(path=str(shots / "council-one-signature-390.png"), full_page=True)
    assert first.width() <= PHONE["width"]
    first.close()

    second = Member(browser, url, DESKTOP, economy.key("governor-2").seed().hex())
    second.page.click(f"#proposal-{proposal} button.cosign")
    second.page.wait_for_selector(f"li.proposal[data-status=submitted]#proposal-{proposal}")
    assert client.journal_size() == size + 1
    second.page.screenshot(path=str(shots / "council-submitted-1280.png"), full_page=True)
    second.page.click(f"#proposal-{proposal} a.entry-link")
    assert "economy.change_policy" in second.page.text_content("main")
    second.close()

    entry = httpx.get(f"{url}/api/journal/{size}").json()["entry"]
    assert entry["command"]["id"] == proposal
    assert {s["account"] for s in entry["command"]["signatures"]} == {
        economy.account("governor-1"),
        economy.account("governor-2"),
    }

    # The policy page shows the value in force and the change with its diff, at both widths.
    for viewport, name in ((PHONE, "390"), (DESKTOP, "1280")):
        context = browser.new_context(base_url=url, viewport=viewport)
        policy = context.new_page()
        policy.goto("/policy")
        cell = policy.locator("#policy-journal-signature_max_age td:nth-child(2) .policy-value")
        assert cell.text_content() == "15 minutes" and cell.get_attribute("data-value") == "900"
        income = policy.locator("#policy-circles-income_units .policy-value")
        assert income.text_content() == "CRC 1,000.00" and income.get_attribute("data-value") == "100000"
        assert policy.text_content("#policy-circles-growth .policy-value") == "5%"
        assert policy.text_content("#policy-gears-early_stage_waiver .policy-value") == "no"
        newest = policy.locator("li.policy-version").first
        assert "5 minutes" in newest.locator("del").text_content()
        assert "15 minutes" in newest.locator("ins").text_content()
        assert policy.get_attribute("a#json-link", "href") == "/api/policy"
        policy.click("#section-circles summary")  # the screenshot shows a section's values
        policy.screenshot(path=str(shots / f"policy-{name}.png"), full_page=True)
        width = int(policy.evaluate("() => document.documentElement.scrollWidth"))
        context.close()
        assert width <= PHONE["width"] or viewport is DESKTOP


def test_a_governor_drafts_a_role_grant_for_an_account_found_by_name(
    browser: Any, client: SigningClient, shots: Path
) -> None:
    """The other kinds of council decision on the same page (X6): a role grant picks an account
    found by name; the second member's co-signature (sent over HTTP here) puts it on the journal."""
    economy, url = client.economy, str(client.http.base_url).rstrip("/")
    size = client.journal_size()
    governor = Member(browser, url, PHONE, economy.key("governor-1").seed().hex())
    page = governor.page
    page.select_option("#draft-kind", "identity.grant_role")
    assert page.is_hidden("#kind-policy") and page.is_visible("#kind-role")
    page.fill("#role-query", "treasu")
    page.click("#role-search")
    page.wait_for_selector("#role-account option", state="attached")
    assert page.input_value("#role-account") == economy.account("treasurer")
    page.select_option("#role-role", "technocrat")
    page.check("#draft-sign-too")
    page.click("#draft-submit")
    page.wait_for_selector("li.proposal[data-status=pending] .decision-summary")
    proposal = page.get_attribute("li.proposal[data-status=pending]", "data-id")
    card = " ".join(page.text_content(f"#proposal-{proposal}").split())
    assert "Grant the role technocrat to treasurer" in card and "1 of 2 signatures" in card
    assert governor.width() <= PHONE["width"]
    page.screenshot(path=str(shots / "council-role-390.png"), full_page=True)
    governor.close()

    found = client.http.get(f"/api/proposals/{proposal}").json()
    assert found["command"]["payload"] == {"account": economy.account("treasurer"), "role": "technocrat"}
    signed = SignedCommand.from_wire(found["command"])
    done = cosign(client, str(proposal), "governor-2", signature_of(client, signed, "governor-2"))
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "submitted" and client.journal_size() == size + 1
    account = client.http.get(f"/api/accounts/{economy.account('treasurer')}").json()
    assert "technocrat" in account["roles"]


def test_x04_the_council_form_prefills_the_value_in_force_in_the_pages_language(
    browser: Any, client: SigningClient, shots: Path
) -> None:
    """In Spanish the form's prefilled value reads in Spanish (a duration in every part, the
    amount with a decimal comma, yes/no in words), and what it reads back is the exact value."""
    url = str(client.http.base_url).rstrip("/")
    context = browser.new_context(base_url=url, viewport=PHONE)
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto("/council?lang=es")
    page.select_option("#draft-path", "circles.income_units")
    assert page.input_value("#draft-value") == "1000,00" and page.text_content("#draft-exact") == "100000"
    for path, words in (
        ("journal.signature_max_age", ("5 minutos", "15 minutos")),
        ("gears.early_stage_waiver", ("sí", "no")),
    ):
        page.select_option("#draft-path", path)
        exact = page.get_attribute(f'#draft-path option[value="{path}"]', "data-value")
        assert page.input_value("#draft-value") in words  # the first test may have made it 15 minutes
        assert page.text_content("#draft-exact") == exact  # read back to the value in force
    page.select_option("#draft-path", "journal.signature_max_age")
    page.fill("#draft-value", "1 día 6 horas")  # typed in Spanish, signed in seconds
    assert page.text_content("#draft-exact") == str(30 * 3600)
    page.screenshot(path=str(shots / "council-es-390.png"), full_page=True)
    context.close()
    assert not errors, errors
