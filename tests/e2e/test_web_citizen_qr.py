"""Reading a QR code in the citizen's app (/app), in a real browser.

The app reads QR codes only through the browser's ``BarcodeDetector`` interface (it carries no
decoder). Chromium on Linux has none: there the app says so and offers name search and pasting. To
test the reading path itself, a second context is given a ``BarcodeDetector`` whose ``detect``
hands the picture to zxing-cpp, a real decoder, in this process: ada reads ben's account QR code
(drawn by ben's app) from a picture file, finds ben, and stops trusting him (CI6: her signature alone).
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import httpx
import pytest

from civicledger.adapters.scripted import ScriptedEconomy

PASSPHRASE = "correct horse battery"

STAND_IN = """
window.BarcodeDetector = class {
  static async getSupportedFormats() { return ["qr_code"]; }
  constructor(options) { this.formats = options.formats; }
  async detect(source) {
    const canvas = document.createElement("canvas");
    canvas.width = source.videoWidth || source.width;
    canvas.height = source.videoHeight || source.height;
    canvas.getContext("2d").drawImage(source, 0, 0);
    const texts = await window.decodeWithZxing(canvas.toDataURL("image/png"));
    return texts.map((rawValue) => ({ rawValue, format: "qr_code" }));
  }
};
"""


def open_app(context: Any, name: str, seed: str) -> Any:
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto("/app")
    page.wait_for_selector("body[data-app-ready=true]")
    page.fill("#import-text", seed)
    page.fill("#import-name", name)
    page.fill("#import-pass", PASSPHRASE)
    page.click("#import-key")
    page.wait_for_selector("#trust-card:not([hidden])")
    return page


def test_without_barcode_detector_the_app_says_it_cannot_read_qr_codes(
    browser: Any, served: tuple[str, ScriptedEconomy], tmp_path: Path
) -> None:
    url, economy = served
    context = browser.new_context(base_url=url, viewport={"width": 390, "height": 900})
    page = open_app(context, "ada", economy.key("ada").seed().hex())
    has_detector = page.evaluate("() => 'BarcodeDetector' in window")
    assert page.is_visible("#qr-unsupported") is not has_detector
    assert page.is_visible("#qr-image") is has_detector
    if not has_detector:  # Chromium on Linux: the reason and what to do instead
        assert "BarcodeDetector" in str(page.text_content("#qr-unsupported"))
    context.close()


def test_ada_reads_bens_qr_code_from_a_picture_and_stops_trusting_him(
    browser: Any, served: tuple[str, ScriptedEconomy], tmp_path: Path
) -> None:
    zxingcpp = pytest.importorskip("zxingcpp")
    from PIL import Image

    url, economy = served
    ada, ben = economy.account("ada"), economy.account("ben")
    with httpx.Client(base_url=url) as api:
        assert ben in api.get(f"/api/circles/accounts/{ada}").json()["trusts"]

    # Ben shows his account id as a QR code; a picture of it is saved.
    theirs = browser.new_context(base_url=url, viewport={"width": 390, "height": 900})
    page = open_app(theirs, "ben", economy.key("ben").seed().hex())
    page.click("#account-qr-show")
    picture = tmp_path / "ben.png"
    picture.write_bytes(page.locator("#account-qr").screenshot())
    theirs.close()

    # Ada's browser reads it (the stand-in decodes with zxing-cpp) and finds ben.
    def decode(data_url: str) -> list[str]:
        image = Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1])))
        return [found.text for found in zxingcpp.read_barcodes(image)]

    mine = browser.new_context(base_url=url, viewport={"width": 1280, "height": 900})
    mine.expose_function("decodeWithZxing", decode)
    mine.add_init_script(STAND_IN)
    page = open_app(mine, "ada", economy.key("ada").seed().hex())
    assert page.is_visible("#qr-image") and not page.is_visible("#qr-unsupported")
    page.set_input_files("#qr-image", str(picture))
    page.wait_for_selector("#search-results li button")
    assert page.input_value("#search-text") == ben
    assert "ben" in str(page.text_content("#search-results li:first-child"))
    # The status line says what was read once the search is shown (``foundQr``): wait for it.
    page.wait_for_function("(id) => document.querySelector('#status').textContent.includes(id)", arg=ben)
    page.click("#search-results li:first-child button.secondary")  # Untrust
    page.wait_for_function("() => !document.querySelector('#trusts').textContent.includes('ben')")
    with httpx.Client(base_url=url) as api:
        assert ben not in api.get(f"/api/circles/accounts/{ada}").json()["trusts"]
    mine.close()
