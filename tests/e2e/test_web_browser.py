"""The pages in a real browser (Playwright driving Debian's Chromium, headless) over a running server.

The story: keys made in the browser, accounts opened, Circles trust, a payment across a chain, a
Gears vote, the price chart of a good, the journal explorer checking a proof, each signed in the
browser (WebCrypto Ed25519) and sent with signed requests. Screenshots go to the test's tmp_path.

Chromium is /usr/bin/chromium (Debian package ``chromium``). Without it the tests skip, unless
``CIVIC_REQUIRE_BROWSER=1`` (CI), which turns the skip into a failure.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.kernel.canonical import canonical_bytes
from civicledger.kernel.economy import ChangePolicy
from civicledger.kernel.identity import AccountKind, OpenAccount
from civicledger.kernel.merkle import consistency_proof, inclusion_proof, leaf_hash, root_of
from civicledger.kernel.money import format_units
from tests.e2e.serving import SigningClient


@pytest.fixture
def page(browser: Any, served: tuple[str, ScriptedEconomy]) -> Iterator[Any]:
    context = browser.new_context(base_url=served[0], viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    context.close()
    assert not errors, errors


class WalletPage:
    def __init__(self, page: Any, opened: bool = False) -> None:
        self.page = page
        if not opened:
            page.goto("/wallet")
        page.wait_for_selector("body[data-wallet-ready=true]")

    def generate(self, name: str) -> str:
        self.page.fill("#key-name", name)
        self.page.click("#generate-key")
        self.page.wait_for_selector(f"#keys tr.key[data-name='{name}']")
        return str(self.page.evaluate("(n) => Wallet.keys.get(n).account", name))

    def import_seed(self, name: str, seed_hex: str) -> str:
        self.page.fill("#key-name", name)
        self.page.fill("#import-seed", seed_hex)
        self.page.click("#import-key")
        self.page.wait_for_selector(f"#keys tr.key[data-name='{name}']")
        return str(self.page.evaluate("(n) => Wallet.keys.get(n).account", name))

    def send(self) -> dict[str, Any]:
        self.page.evaluate("() => { document.getElementById('status').dataset.state = 'busy'; }")
        self.page.click("#send")
        self.page.wait_for_selector("#status[data-state=ok], #status[data-state=refused]")
        state = self.page.get_attribute("#status", "data-state")
        text = self.page.text_content("#status")
        assert state == "ok", f"{text}\n{self.page.text_content('#output')}"
        return json.loads(self.page.text_content("#output") or "{}")  # type: ignore[no-any-return]

    def command(self, type_: str, payload: dict[str, Any], *signers: str) -> dict[str, Any]:
        self.page.fill("#cmd-type", type_)
        self.page.fill("#cmd-payload", json.dumps(payload))
        self.page.fill("#cmd-id", "")
        for box in self.page.query_selector_all("#signers input"):
            if (box.get_attribute("value") in signers) != box.is_checked():
                box.click()
        return self.send()

    def shortcut(self, button: str, name: str) -> dict[str, Any]:
        self.page.select_option("#short-key", name)
        self.page.click(button)
        return self.send()


@pytest.fixture
def api(served: tuple[str, ScriptedEconomy]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served[0], timeout=30) as client:
        yield client


def test_wallet_opens_accounts_trusts_pays_across_a_chain_and_votes(
    page: Any, api: httpx.Client, served: tuple[str, ScriptedEconomy], tmp_path: Path
) -> None:
    _, economy = served
    wallet = WalletPage(page)
    ann, bo, cy = (wallet.generate(n) for n in ("ann", "bo", "cy"))
    for name in ("ann", "bo", "cy"):
        opened = wallet.shortcut("#fill-open", name)
        assert opened["events"][0]["type"] == "identity.account_opened"
        assert opened["events"][0]["name"].startswith("pd:")  # IN11: the wallet sent the name beside it
        wallet.shortcut("#fill-circles", name)
    assert api.get(f"/api/accounts/{ann}").json()["name"] == "ann"
    wallet.command("circles.trust", {"truster": ann, "trustee": bo}, "ann", "bo")
    wallet.command("circles.trust", {"truster": bo, "trustee": cy}, "bo", "cy")
    page.screenshot(path=str(tmp_path / "wallet.png"), full_page=True)

    # Pay more than ann holds of bo's coins (her CI7 reward): the rest must swap 1:1 through bo.
    units = api.get(f"/api/accounts/{ann}/balances").json()["balances"][bo] + 250
    cy_before = sum(api.get(f"/api/accounts/{cy}/balances").json()["balances"].values())
    page.select_option("#pay-from", "ann")
    page.fill("#pay-to", cy)
    page.fill("#pay-units", str(units))
    page.click("#fill-pay")
    page.wait_for_function("() => document.getElementById('route-note').textContent.startsWith('can pay')")
    receipt = wallet.send()
    again = wallet.send()  # the same command id, a new request: a retry returns the first receipt (X5)
    assert again["replayed"] is True and again["seq"] == receipt["seq"]
    legs = [e for e in receipt["events"] if e["type"] == "ledger.units_transferred"]
    assert len(legs) >= 2 and any(e["source"] == bo for e in legs)
    assert sum(api.get(f"/api/accounts/{cy}/balances").json()["balances"].values()) - cy_before == units

    # A Gears vote: the registrar's key (imported from its seed) verifies ann; ann passes the test and votes.
    registrar = wallet.import_seed("registrar", economy.key("registrar").seed().hex())
    wallet.command(
        "identity.attest_person", {"person": ann, "registrar": registrar, "human": "human-of-web-ann"}, "registrar"
    )
    widget = economy.account("widget-co")
    # IN6: the questions are drawn by a later command from a tree head signed draw_delay after the
    # request; the council sets the delay to 0 here so the test need not wait an hour.
    economy.council_decision(ChangePolicy("journal.draw_delay", 0))
    asked = wallet.command("gears.start_test", {"voter": ann, "company": widget}, "ann")["result"]
    assert "questions" not in asked
    draw = {"voter": ann, "company": widget, "sender": ann}
    drawn = wallet.command("gears.draw_test", draw, "ann")["result"].get("questions")
    drawn = drawn or wallet.command("gears.draw_test", draw, "ann")["result"]["questions"]
    wallet.command("gears.answer_test", {"voter": ann, "company": widget, "answers": [1] * len(drawn)}, "ann")
    vote = wallet.command("gears.cast_vote", {"voter": ann, "company": widget, "value": 1}, "ann")
    assert vote["events"]

    page.goto(f"/companies/{widget}")
    assert ann[:12] in page.text_content("body")
    page.screenshot(path=str(tmp_path / "company.png"), full_page=True)

    page.goto(f"/persons/{bo}")
    assert "bo" in page.text_content("h1") and page.locator("a[href='/persons/" + ann + "']").count() >= 1
    page.screenshot(path=str(tmp_path / "person.png"), full_page=True)

    maya = economy.account("maya")  # enrolled in social credits by the demo, with adjustments
    page.goto(f"/persons/{maya}")
    assert page.locator("a.appeal").count() >= 1
    page.screenshot(path=str(tmp_path / "person-credits.png"), full_page=True)
    page.click("a.appeal")  # the appeal link opens the wallet with the command filled in
    page.wait_for_selector("body[data-wallet-ready=true]")
    assert page.input_value("#cmd-type") == "credits.appeal"
    prefilled = json.loads(page.input_value("#cmd-payload"))
    assert prefilled["appellant"] == maya and prefilled["adjustment"]
    wallet = WalletPage(page, opened=True)
    wallet.import_seed("maya", economy.key("maya").seed().hex())
    appeal = wallet.command("credits.appeal", prefilled | {"grounds": "filed from the browser"}, "maya")
    assert appeal["events"][0]["type"].startswith("credits.")

    page.goto("/goods/bicycle")
    assert page.locator("#price-chart svg path.slice").count() >= 3
    price = api.get("/api/creditism/prices/bicycle").json()["price"]
    assert page.get_attribute("#price", "data-units") == str(price)  # exact, as the API says
    assert page.text_content("#price") == format_units(price, 2)  # major units (X3)
    page.screenshot(path=str(tmp_path / "good.png"), full_page=True)

    page.goto("/")
    assert page.locator("svg.chart").count() >= 3
    page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)


def test_the_journal_explorer_verifies_inclusion_and_consistency_in_the_browser(
    page: Any, api: httpx.Client, served: tuple[str, ScriptedEconomy], tmp_path: Path
) -> None:
    def check(seq: int) -> int:
        page.goto(f"/journal/{seq}")
        page.click("#check-proof")
        page.wait_for_selector("#proof-result[data-ok=true], #proof-result[data-ok=false]")
        assert page.get_attribute("#proof-result", "data-ok") == "true", page.text_content("#proof-steps")
        return int(page.locator("#proof-steps li.ok").count())

    assert check(0) == 3  # leaf, path to the root, the head's signature; the head is remembered
    client = SigningClient(api, served[1])
    key = served[1].key("journal-watcher")
    assert client.run(OpenAccount(AccountKind.PERSON, key.public_hex, "w"), "journal-watcher").status_code == 200
    assert check(5) == 4  # ... and the new head extends the one this browser saw (a consistency proof)
    assert "extends the head" in page.text_content("#proof-steps")
    page.screenshot(path=str(tmp_path / "journal-entry.png"), full_page=True)
    page.goto("/journal")
    assert page.locator("#entries tr").count() > 10


def test_the_browser_merkle_proofs_agree_with_python(page: Any) -> None:
    leaves = [leaf_hash(str(i).encode()) for i in range(13)]
    page.goto("/wallet")
    page.wait_for_selector("body[data-wallet-ready=true]")
    cases = []
    for n in range(1, 14):
        for i in range(n):
            cases.append(
                [
                    "inclusion",
                    i,
                    n,
                    [p.hex() for p in inclusion_proof(i, leaves[:n])],
                    root_of(leaves[:n]).hex(),
                    leaves[i].hex(),
                ]
            )
        for m in range(1, n + 1):
            proof = [p.hex() for p in consistency_proof(m, leaves[:n])]
            cases.append(["consistency", m, n, proof, root_of(leaves[:n]).hex(), root_of(leaves[:m]).hex()])
    results = page.evaluate(
        """async (cases) => {
             const out = [];
             for (const [kind, a, n, proof, root, other] of cases) {
               const p = proof.map(Civic.unhex);
               out.push(kind === "inclusion"
                 ? await Civic.verifyInclusion(Civic.unhex(other), a, n, p, Civic.unhex(root))
                 : await Civic.verifyConsistency(a, n, Civic.unhex(other), Civic.unhex(root), p));
             }
             // and a tampered proof must fail
             const [kind, a, n, proof, root, other] = cases[cases.length - 2];
             const bad = proof.map(Civic.unhex);
             if (bad.length) bad[0][0] ^= 1;
             out.push(await Civic.verifyConsistency(a, n, Civic.unhex(other), Civic.unhex(root), bad));
             return out;
           }""",
        cases,
    )
    assert results[:-1] == [True] * len(cases)
    assert results[-1] is False


TRICKY: list[Any] = [
    {"b": 1, "a": 2, "B": 3, "_": 4, "aa": 5, "": 6},
    {
        "\uff61": "halfwidth",
        "\U0001f600": "astral",
        "\ue000": "private use",
        "z": "ascii",
    },  # code point vs UTF-16 order
    {"text": 'quote " backslash \\ slash / controls \x00\x01\x08\x0c\n\r\t\x1f del \x7f'},
    {"unicode": "é e\u0301 ß 中文 \u2028\u2029 😀 </script>", "nested": [[], {}, [None, True, False]]},
    {"ints": [0, -1, 1, 2**53 - 1, -(2**53 - 1), 1000]},
    [{"y": {"b": [1, {"d": 1, "c": 2}], "a": None}}],
    "just a string",
    -42,
]


def test_the_browser_canonicaliser_gives_pythons_bytes(page: Any) -> None:
    page.goto("/wallet")
    page.wait_for_selector("body[data-wallet-ready=true]")
    for value in TRICKY:
        expected = canonical_bytes(value).hex()
        got = page.evaluate("(v) => Civic.hex(Civic.canonicalBytes(v))", value)
        assert got == expected, (value, bytes.fromhex(got), canonical_bytes(value))
    refusals = page.evaluate(
        """() => [1.5, "\\ud800", {k: "x\\udc00"}, 2 ** 60].map((v) => {
             try { Civic.canonical(v); return "accepted"; } catch (e) { return "refused"; } })"""
    )
    assert refusals == ["refused"] * 4


def test_a_browser_signature_verifies_in_python(page: Any) -> None:
    from civicledger.adapters.crypto import Ed25519Verifier

    page.goto("/wallet")
    page.wait_for_selector("body[data-wallet-ready=true]")
    out = page.evaluate(
        """async () => {
             const k = await Civic.generateKey("sig-check");
             const bytes = Civic.canonicalBytes({"é": "😀", a: [1, 2]});
             return {pub: k.publicHex, account: k.account, sig: await Civic.sign(k, bytes)};
           }"""
    )
    message = canonical_bytes({"é": "😀", "a": [1, 2]})
    assert Ed25519Verifier().verify(bytes.fromhex(out["pub"]), message, bytes.fromhex(out["sig"]))
    from civicledger.kernel.identity import account_id_for

    assert out["account"] == account_id_for(bytes.fromhex(out["pub"]))


def test_in12_the_browser_requires_k_of_n_witness_cosignatures(page: Any) -> None:
    """Civic.verifyCheckpoint (civic.js) against notes signed and cosigned by the Python codec."""
    from civicledger.adapters.crypto import KeyPair
    from civicledger.kernel.checkpoint import Checkpoint, cosign, note_key, sign_checkpoint, witness_key

    log_key, w1, w2 = KeyPair.generate(), KeyPair.generate(), KeyPair.generate()
    note = sign_checkpoint(Checkpoint("log.example/x", 42, bytes(range(32))), "log.example/x", log_key)
    cosigned = note.with_signatures([cosign(note.text, "w1.example", w1, 1_800_000_000)]).encode()
    log = note_key("log.example/x", log_key.public_key).text()
    keys = [witness_key("w1.example", w1.public_key).text(), witness_key("w2.example", w2.public_key).text()]
    page.goto("/wallet")
    page.wait_for_selector("body[data-wallet-ready=true]")
    results = page.evaluate(
        """async ([note, log, keys, other]) => {
             const run = async (text, k, logKey = log) => {
               try { const r = await Civic.verifyCheckpoint(text, logKey, keys, k); return r.size + ":" + r.witnesses; }
               catch (e) { return "refused: " + e.message; }
             };
             return [await run(note, 1), await run(note, 2), await run(note.replace("\\n42\\n", "\\n43\\n"), 0),
                     await run(note, 0, other)];
           }""",
        [cosigned, log, keys, note_key("log.example/x", w2.public_key).text()],
    )
    assert results[0] == "42:w1.example"
    assert results[1] == "refused: the checkpoint has 1 valid witness cosignatures of the 2 required"
    assert results[2] == "refused: the checkpoint carries no valid signature by the journal key"
    assert results[3] == "refused: the checkpoint carries no valid signature by the journal key"


def test_in12_the_journal_explorer_refuses_a_checkpoint_without_the_required_cosignatures(page: Any) -> None:
    """The demo server asks no witnesses: its checkpoint is signed by the journal key only, so a
    browser that requires one cosignature refuses it and one that requires none accepts it."""
    from civicledger.adapters.crypto import KeyPair
    from civicledger.kernel.checkpoint import witness_key

    def check(required: int) -> str:
        page.goto("/journal/0")
        page.click("#witnesses summary")
        page.fill("#witness-keys", witness_key("w.example", KeyPair.generate().public_key).text())
        page.fill("#witnesses-required", str(required))
        page.click("#save-witnesses")
        page.click("#check-proof")
        page.wait_for_selector("#proof-result[data-ok=true], #proof-result[data-ok=false]")
        return str(page.get_attribute("#proof-result", "data-ok")) + " " + str(page.text_content("#proof-steps"))

    accepted = check(0)
    assert accepted.startswith("true") and "cosigned by 0 of 1 witnesses (0 required)" in accepted
    refused = check(1)
    assert refused.startswith("false")
    assert "checkpoint refused: the checkpoint has 0 valid witness cosignatures of the 1 required" in refused


def test_in12_the_wallet_signs_nothing_for_a_checkpoint_without_the_required_cosignatures(page: Any) -> None:
    from civicledger.adapters.crypto import KeyPair
    from civicledger.kernel.checkpoint import witness_key

    wallet = WalletPage(page)
    wallet.generate("split-view-victim")
    vkey = witness_key("w.example", KeyPair.generate().public_key).text()
    require = "(k) => localStorage.setItem('civicledger.witnesses', JSON.stringify({keys: [k], required: 1}))"
    page.evaluate(require, vkey)
    page.select_option("#short-key", "split-view-victim")
    page.click("#fill-open")
    page.click("#send")
    page.wait_for_selector("#status[data-state=ok], #status[data-state=refused]")
    assert page.get_attribute("#status", "data-state") == "refused"
    assert "not sent: this server's checkpoint is refused" in str(page.text_content("#status"))
    page.evaluate("() => localStorage.setItem('civicledger.witnesses', JSON.stringify({keys: [], required: 0}))")
    assert wallet.send()["seq"] > 0  # the same command, once no cosignature is required
