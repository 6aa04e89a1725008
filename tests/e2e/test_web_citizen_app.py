"""The citizen's app (/app) in a real browser, at 1280 and at 390 px wide: one journey per width.

A newcomer creates a key under a passphrase, exports it as a QR code (decoded here with zxing-cpp),
opens an account and joins Circles, is trusted by a demo person (ada, in another browser context
holding her key: the request travels between the two as text), claims income through a lost answer
(the retry is replayed, not run twice: X5), is told how much can reach ben (a friend of a friend)
when asking too much, pays him through two trust hops, is verified by the registrar, takes
widget-co's test and votes. A demo person with social credits (maya, noah) imports her key from its
seed, appeals an adjustment and spends credits on a service tier. Screenshots go to
``$CIVIC_SCREENSHOTS`` if set, else the test's tmp_path.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from civicledger.adapters.crypto import KeyPair
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.kernel.checkpoint import witness_key
from civicledger.kernel.economy import ChangePolicy
from civicledger.kernel.identity import AccountId, AttestPerson
from civicledger.mechanisms.credits.commands import RecordParticipation
from tests.e2e.serving import SigningClient

PASSPHRASE = "correct horse battery"
WIDTHS = [1280, 390]


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("CIVIC_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def api(served: tuple[str, ScriptedEconomy]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served[0], timeout=30) as client:
        yield client


class App:
    """One browser context on /app: one person's key."""

    def __init__(self, browser: Any, url: str, width: int) -> None:
        self.context = browser.new_context(base_url=url, viewport={"width": width, "height": 900})
        self.page = self.context.new_page()
        self.page.set_default_timeout(30_000)
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto("/app")
        self.page.wait_for_selector("body[data-app-ready=true]")

    def status(self) -> str:
        self.page.wait_for_selector("#status:not([data-state=busy])")
        return str(self.page.text_content("#status"))

    def click_and_wait(self, selector: str, state: str = "ok") -> str:
        self.page.evaluate("() => { document.getElementById('status').dataset.state = 'busy'; }")
        self.page.click(selector)
        self.page.wait_for_selector("#status[data-state=ok], #status[data-state=refused], #status[data-state=unsure]")
        text = str(self.page.text_content("#status"))
        assert self.page.get_attribute("#status", "data-state") == state, text
        return text

    def create(self, name: str) -> str:
        self.page.fill("#create-name", name)
        self.page.fill("#create-pass", PASSPHRASE)
        self.page.fill("#create-pass2", PASSPHRASE)
        self.click_and_wait("#create-key")
        return str(self.page.text_content("#key-open .key-account"))

    def import_seed(self, name: str, seed: str) -> str:
        self.page.fill("#import-text", seed)
        self.page.fill("#import-name", name)
        self.page.fill("#import-pass", PASSPHRASE)
        self.click_and_wait("#import-key")
        return str(self.page.text_content("#key-open .key-account"))

    def sign_request(self, text: str, state: str = "ok") -> str:
        self.page.fill("#cosign-in", text)
        self.page.click("#cosign-review")
        self.page.wait_for_selector("#cosign-review-box:not([hidden])")
        self.click_and_wait("#cosign-sign", state)
        return str(self.page.input_value("#cosign-out"))

    def close(self) -> None:
        self.context.close()
        assert not self.errors, self.errors


def no_sideways_scroll(page: Any) -> None:
    assert page.evaluate("() => document.documentElement.scrollWidth") <= page.viewport_size["width"]


def unlabelled_fields(page: Any) -> list[str]:
    return list(
        page.evaluate(
            """() => Array.from(document.querySelectorAll('input, select, textarea'))
                 .filter((e) => e.offsetParent !== null && e.type !== 'radio' && e.type !== 'hidden')
                 .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
                 .map((e) => e.id || e.outerHTML)"""
        )
    )


def covered_by_the_status(page: Any) -> list[str]:
    """Each visible heading and control, scrolled into view, that the status bar still covers (the
    point at its centre is not its own); then the page's end, which must stop above the bar."""
    return list(
        page.evaluate(
            """() => {
                 const bar = document.getElementById('status');
                 const covered = [];
                 const all = 'main h1, main h2, main input, main button, main select, main textarea';
                 for (const e of document.querySelectorAll(all)) {
                   if (e.offsetParent === null || bar.contains(e)) continue;
                   e.scrollIntoView({ block: 'nearest' });
                   const r = e.getBoundingClientRect();
                   const at = document.elementFromPoint(r.left + r.width / 2, r.top + Math.min(r.height / 2, 8));
                   if (at && bar.contains(at)) covered.push(e.id || e.textContent.slice(0, 30));
                 }
                 window.scrollTo(0, document.documentElement.scrollHeight);
                 const end = document.querySelector('main').getBoundingClientRect().bottom;
                 if (end > bar.getBoundingClientRect().top + 1) covered.push('the end of the page');
                 window.scrollTo(0, 0);
                 return covered;
               }"""
        )
    )


def status_is_announced(page: Any) -> None:
    """The status is a polite live region (screen readers read each new text) fixed at the bottom."""
    assert page.get_attribute("#status", "role") == "status"
    assert page.get_attribute("#status", "aria-live") == "polite"
    bottom = page.evaluate("() => document.getElementById('status').getBoundingClientRect().bottom")
    assert abs(bottom - page.viewport_size["height"]) <= 1


@pytest.mark.parametrize("width", WIDTHS)
def test_a_newcomer_joins_is_trusted_claims_pays_a_friend_of_a_friend_and_votes(
    browser: Any, served: tuple[str, ScriptedEconomy], api: httpx.Client, shots: Path, width: int
) -> None:
    url, economy = served
    ada, ben = economy.account("ada"), economy.account("ben")
    me = App(browser, url, width)
    page = me.page
    page.screenshot(path=str(shots / f"app-{width}-1-start.png"), full_page=True)

    # A key under a passphrase: stored encrypted, never the bare seed.
    newcomer = me.create(f"newcomer-{width}")
    stored = page.evaluate("() => localStorage.getItem('civicledger.app.key')")
    record = json.loads(stored)
    assert record["account"] == newcomer and record["cipher"]["name"] == "AES-256-GCM"
    seed = page.evaluate("() => null")  # the page exposes no seed; the record holds none in the clear
    assert seed is None and "seed" not in record
    assert page.evaluate("() => localStorage.getItem('civicledger.wallet.seeds')") is None

    # Its QR code decodes to the encrypted record (drawn in the browser).
    page.click("#export-qr")
    page.wait_for_selector("#qr-figure:not([hidden])")
    decoded = decode_qr(page.locator("#qr").screenshot(), shots / f"app-{width}-qr.png")
    assert decoded == stored

    # The export file is the same encrypted record; another browser imports it with the passphrase.
    with page.expect_download() as download:
        page.click("#export-file")
    exported = Path(download.value.path()).read_text()
    assert json.loads(exported) == record
    other = App(browser, url, width)
    other.page.fill("#import-text", exported)
    other.page.fill("#import-pass", PASSPHRASE)
    other.click_and_wait("#import-key")
    assert other.page.text_content("#key-open .key-account") == newcomer
    other.close()

    # A reload locks it; the wrong passphrase does not open it, the right one does.
    page.reload()
    page.wait_for_selector("body[data-app-ready=true]")
    page.fill("#unlock-pass", "not the passphrase")
    assert "does not open" in me.click_and_wait("#unlock", "refused")
    page.fill("#unlock-pass", PASSPHRASE)
    me.click_and_wait("#unlock")

    me.click_and_wait("#open-account")
    me.click_and_wait("#join-circles")
    assert api.get(f"/api/accounts/{newcomer}").json()["name"] == f"newcomer-{width}"  # IN11: sent beside
    no_sideways_scroll(page)
    assert unlabelled_fields(page) == []

    # Trusted by ada: the request goes to her browser as text and comes back to be sent.
    friend = App(browser, url, width)
    friend.import_seed("ada", economy.key("ada").seed().hex())
    page.fill("#search-text", "ada")
    page.click("#search")
    page.wait_for_selector("#search-results li button.trust")
    assert "ada" in str(page.text_content("#search-results li:first-child"))
    me.click_and_wait("#search-results li:first-child button.trust")
    request = page.input_value("#cosign-out")
    assert json.loads(request)["command"]["type"] == "circles.trust"
    back = friend.sign_request(request)
    assert json.loads(back)["http"]["signatures"]
    me.sign_request(back)
    page.wait_for_function("() => document.querySelector('#trusts').textContent.includes('ada')")
    assert ada in api.get(f"/api/circles/accounts/{newcomer}").json()["trusts"]
    friend.close()

    # Claim income; the first answer is lost on the way back, and the automatic retry is replayed.
    lost: list[str] = []

    def lose_answer(route: Any) -> None:
        if not lost:
            route.fetch()  # the server runs the command ...
            lost.append(route.request.post_data)
            route.abort()  # ... and the browser never hears back
        else:
            route.continue_()

    page.route("**/api/commands", lose_answer)
    claimed = me.click_and_wait("#claim")
    page.unroute("**/api/commands")
    assert "safe retry" in claimed
    assert covered_by_the_status(page) == []
    status_is_announced(page)
    page.screenshot(path=str(shots / f"app-{width}-status.png"))
    claim_id = json.loads(lost[0])["id"]
    listed = api.get("/api/journal", params={"account": newcomer, "type": "circles.claim"}).json()["items"]
    assert [e["command"]["id"] for e in listed] == [claim_id]  # run once

    # Too much for the trust paths: the limit in words, with the amount in major units.
    page.fill("#pay-to", ben)
    page.fill("#pay-amount", "100000")
    page.click("#plan-pay")
    page.wait_for_selector("#route-note.error")
    note = str(page.text_content("#route-note"))
    assert "at most CRC " in note and "can reach ben through your trust paths" in note

    # Then a payment through two hops: more of ada's money than the newcomer holds.
    held = {h["currency"]: h["units"] for h in api.get(f"/api/accounts/{newcomer}/holdings").json()["items"]}
    units = held[ada] + 100
    ben_before = sum(api.get(f"/api/accounts/{ben}/balances").json()["balances"].values())
    page.fill("#pay-amount", f"{units // 100}.{units % 100:02d}")
    page.click("#plan-pay")
    page.wait_for_selector("#pay-confirm:not([hidden])")
    assert "to ben through ada" in str(page.text_content("#pay-summary"))
    page.screenshot(path=str(shots / f"app-{width}-2-pay.png"), full_page=True)
    me.click_and_wait("#pay-send")
    assert sum(api.get(f"/api/accounts/{ben}/balances").json()["balances"].values()) - ben_before == units
    paid = api.get("/api/journal", params={"account": newcomer, "type": "circles.pay"}).json()["items"][0]
    legs = [e for e in paid["events"] if e["type"] == "ledger.units_transferred"]
    assert any(e["source"] == ada and e["target"] == ben for e in legs) and len(legs) >= 2

    # The history lists it, in major units.
    page.wait_for_function("() => document.querySelector('#history tbody tr').textContent.includes('payment')")
    assert "CRC -" in str(page.text_content("#history tbody"))

    # Untrust: one signature suffices (CI6).
    me.click_and_wait("#trusts li button")
    assert ada not in api.get(f"/api/circles/accounts/{newcomer}").json()["trusts"]

    # Not yet verified, the newcomer may not take a company's test: the refusal names its rule.
    page.select_option("#vote-company", economy.account("widget-co"))
    refused = me.click_and_wait("#start-test", "refused")
    assert refused.startswith("Refused by rule ") and "verified" in refused, refused

    # Verified by the registrar (over the API), the newcomer asks to be enrolled in social credits:
    # the app prepares the request, which the registrar alone signs (SC1), in the registrar's app.
    client = SigningClient(api, economy)
    attest = AttestPerson(AccountId(newcomer), economy.account("registrar"), f"human-of-app-{width}")
    assert client.run(attest, "registrar").status_code == 200
    page.fill("#enrol-born", "1996-05-17")
    page.fill("#enrol-registrar", "registrar")
    me.click_and_wait("#enrol")
    request = page.input_value("#cosign-out")
    assert json.loads(request)["needs"] == [economy.account("registrar")]
    registrar = App(browser, url, width)
    registrar.import_seed("registrar", economy.key("registrar").seed().hex())
    registrar.sign_request(request)
    registrar.close()
    enrolled = api.get(f"/api/credits/persons/{newcomer}").json()
    assert enrolled["spent"] == 0 and enrolled["available"] >= 100

    # A technocrat records an infraction (over the API); the newcomer appeals it in the app (SC7).
    infraction = RecordParticipation(
        AccountId(newcomer), "infraction", "camera 9, blurred", technocrat=economy.account("tech-ben")
    )
    recorded = client.run(infraction, "tech-ben")
    assert recorded.status_code == 200, recorded.text
    economy.council_decision(ChangePolicy("journal.draw_delay", 0))  # IN6: no hour's wait in a test
    page.reload()
    page.wait_for_selector("body[data-app-ready=true]")
    page.fill("#unlock-pass", PASSPHRASE)
    me.click_and_wait("#unlock")
    page.wait_for_selector("#credits-card:not([hidden]) button.appeal")
    page.fill("#adjustments li:first-child input.grounds", "the footage shows someone else")
    me.click_and_wait("#adjustments li:first-child button.appeal")
    after = api.get(f"/api/credits/persons/{newcomer}").json()
    appealed = {a["id"] for lot in after["lots"] for a in lot["adjustments"] if a["appeals"]}
    assert appealed == {recorded.json()["result"]["adjustment"]}
    page.wait_for_selector("#adjustments li .note")

    # The newcomer spends credits on a service tier (SC10).
    page.select_option("#spend-tier", label="Riverside clinic, basic: 100 credits (grade 0 or above)")
    me.click_and_wait("#spend")
    assert api.get(f"/api/credits/persons/{newcomer}").json()["spent"] == 100
    assert covered_by_the_status(page) == []
    page.screenshot(path=str(shots / f"app-{width}-5-credits.png"), full_page=True)
    page.select_option("#vote-company", economy.account("widget-co"))
    me.click_and_wait("#start-test")
    page.wait_for_selector("#test-form:not([hidden])")
    for box in page.query_selector_all("#questions fieldset"):
        box.query_selector_all("input")[1].check()
    page.screenshot(path=str(shots / f"app-{width}-3-test.png"), full_page=True)
    me.click_and_wait("#answer-test")
    page.wait_for_selector("#cast-form:not([hidden])")
    me.click_and_wait("#cast-vote")
    votes = api.get(f"/api/gears/companies/{economy.account('widget-co')}").json()["votes"]
    assert any(v["voter"] == newcomer and v["value"] == 1 for v in votes)
    no_sideways_scroll(page)
    page.screenshot(path=str(shots / f"app-{width}-4-account.png"), full_page=True)
    me.close()


@pytest.mark.parametrize(("width", "person"), [(1280, "maya"), (390, "noah")])
def test_a_person_imports_her_key_challenges_names_guardians_and_rotates_her_key(
    browser: Any, served: tuple[str, ScriptedEconomy], api: httpx.Client, shots: Path, width: int, person: str
) -> None:
    url, economy = served
    app = App(browser, url, width)
    page = app.page
    who = app.import_seed(person, economy.key(person).seed().hex())
    assert who == economy.account(person)
    page.wait_for_selector("#credits-card:not([hidden]) #spend-tier option", state="attached")
    before = api.get(f"/api/credits/persons/{who}").json()
    no_sideways_scroll(page)
    assert unlabelled_fields(page) == []

    # Whistleblowing: a statement of widget-co challenged as misleading (GR7), one per journey.
    widget = economy.account("widget-co")
    page.select_option("#vote-company", widget)
    page.select_option("#challenge-statement", "2" if width == 1280 else "3")
    page.fill("#challenge-reason", f"seen from the street by {person}")
    app.click_and_wait("#challenge")
    challenges = api.get(f"/api/gears/companies/{widget}").json()["challenges"]
    assert any(c["whistleblower"] == who and c["status"] == "open" for c in challenges)

    # Guardians (X9), then a new key for the same account, kept under the same passphrase.
    page.fill("#guardians", "\n".join([economy.account("ada"), economy.account("ben")]))
    app.click_and_wait("#name-guardians")
    old_key = api.get(f"/api/accounts/{who}").json()["public_key"]
    app.click_and_wait("#rotate-key")
    page.wait_for_function("() => document.getElementById('status').textContent.includes('a new key')")
    new_key = api.get(f"/api/accounts/{who}").json()["public_key"]
    assert new_key != old_key
    assert json.loads(page.evaluate("() => localStorage.getItem('civicledger.app.key')"))["public_key"] == new_key
    page.reload()
    page.wait_for_selector("body[data-app-ready=true]")
    page.fill("#unlock-pass", PASSPHRASE)
    app.click_and_wait("#unlock")
    page.wait_for_selector("#spend-tier option", state="attached")
    page.select_option("#spend-tier", label="Tram pass, standard: 50 credits (grade 0 or above)")
    app.click_and_wait("#spend")  # signed by the new key
    assert api.get(f"/api/credits/persons/{who}").json()["spent"] == before["spent"] + 50

    # IN12: with a witness required that never cosigned this server's checkpoint, nothing is sent.
    vkey = witness_key("w.example", KeyPair.generate().public_key).text()
    page.evaluate(
        "(k) => localStorage.setItem('civicledger.witnesses', JSON.stringify({keys: [k], required: 1}))", vkey
    )
    assert "IN12" in app.click_and_wait("#spend", "refused")
    assert api.get(f"/api/credits/persons/{who}").json()["spent"] == before["spent"] + 50

    app.close()


def decode_qr(png: bytes, path: Path) -> str:
    zxingcpp = pytest.importorskip("zxingcpp")
    from PIL import Image

    path.write_bytes(png)
    found = zxingcpp.read_barcodes(Image.open(path))
    assert found, "no QR code found in the screenshot"
    return str(found[0].text)


def test_the_qr_encoder_decodes_at_every_version(browser: Any, served: tuple[str, ScriptedEconomy]) -> None:
    """``static/qr.js`` against zxing-cpp: the longest text of each version 1-25 (level L, bytes)
    and a text with multi-byte UTF-8, each drawn in the browser and decoded from its PNG."""
    zxingcpp = pytest.importorskip("zxingcpp")
    import base64
    import io

    from PIL import Image

    # byte-mode capacity at level L of versions 1-25 (ISO/IEC 18004 table 7)
    capacity = [17, 32, 53, 78, 106, 134, 154, 192, 230, 271, 321, 367, 425, 458, 520, 586, 644, 718, 792, 858]
    capacity += [929, 1003, 1091, 1171, 1273]
    texts = ["x" * n if i % 2 else ("ab-" * n)[:n] for i, n in enumerate(capacity)] + ["ξ 12,000.00 · 😀"]
    context = browser.new_context(base_url=served[0])
    page = context.new_page()
    page.goto("/app")
    drawn = page.evaluate(
        """async (texts) => {
             const { drawQr } = await import("/static/qr.js");
             return texts.map((text) => {
               const canvas = document.createElement("canvas");
               const m = drawQr(canvas, text, 3);
               return [(m.length - 17) / 4, canvas.toDataURL("image/png")];
             });
           }""",
        texts,
    )
    too_long = page.evaluate(
        """async (n) => { const { encode } = await import("/static/qr.js");
             try { encode("x".repeat(n)); return "encoded"; } catch (e) { return e.message; } }""",
        capacity[-1] + 1,
    )
    context.close()
    assert [v for v, _ in drawn[:-1]] == list(range(1, 26))
    for text, (_, url) in zip(texts, drawn, strict=True):
        image = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
        found = zxingcpp.read_barcodes(image)
        assert found and found[0].text == text, (len(text), found)
    assert too_long.startswith("too long")
