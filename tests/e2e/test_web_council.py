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

from tests.e2e.proposals_kit import governed
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
    page.select_option("#draft-path", "journal.signature_max_age")
    assert page.text_content("#draft-current") == "300"
    page.fill("#draft-value", "900")
    page.click("#draft-submit")  # the treasurer is not a member: an unsigned draft
    page.wait_for_selector("li.proposal[data-status=pending]")
    proposal = page.get_attribute("li.proposal", "data-id")
    assert proposal and client.journal_size() == size  # held off the journal
    assert "0 of 2 signatures" in page.text_content(f"#proposal-{proposal}")
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
        assert policy.text_content("#policy-journal-signature_max_age td:nth-child(2)").strip() == "900"
        newest = policy.locator("li.policy-version").first
        assert "300" in newest.locator("del").text_content() and "900" in newest.locator("ins").text_content()
        assert policy.get_attribute("a#json-link", "href") == "/api/policy"
        policy.screenshot(path=str(shots / f"policy-{name}.png"), full_page=True)
        width = int(policy.evaluate("() => document.documentElement.scrollWidth"))
        context.close()
        assert width <= PHONE["width"] or viewport is DESKTOP
