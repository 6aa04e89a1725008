"""Runs the fifth mechanism through every edge, in a process of its own (so its registration never
reaches the rest of the suite), and prints what it saw as one JSON document.

``python -m tests.fifth_mechanism.scenario DIR``: an economy in ``DIR`` (SQLite), the engine, a
refusal by the mechanism's own rule, a policy change through the kernel, ``verify`` and ``rebuild``,
the CLI (``civic tallies ...`` and ``civic verify``), the HTTP API on a real server (a signed command,
the mechanism's read endpoint, OpenAPI) and a person's page with the mechanism's card.
"""

from __future__ import annotations

import io
import json
import sys
import time
import uuid
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import httpx

from civicledger.adapters.crypto import Ed25519Verifier
from civicledger.adapters.keystore import save_key
from civicledger.adapters.memory import MemoryStore
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.adapters.sql.store import SqlStore
from civicledger.kernel import audit
from civicledger.kernel.economy import ChangePolicy
from civicledger.kernel.registry import installed, register
from tests.fifth_mechanism import MECHANISM
from tests.fifth_mechanism.messages import Count


def run_cli(*args: str) -> tuple[int, Any]:
    from civicledger.cli.main import main

    out = io.StringIO()
    code = 0
    with redirect_stdout(out):
        try:
            main(["--json", *args])
        except SystemExit as exit_:
            code = int(exit_.code or 0)
    text = out.getvalue()
    return code, json.loads(text) if text.strip() else None


def main(directory: Path) -> dict[str, Any]:
    register(MECHANISM)
    seen: dict[str, Any] = {"installed": [m.name for m in installed()]}
    db = directory / "economy.db"
    store = SqlStore.open(f"sqlite:///{db}")
    economy = ScriptedEconomy(store, start=int(time.time()) - 5, name="Tallytown")
    ana = economy.person("ana")

    # The engine: the mechanism's command, its own rule's refusal, a policy change through the kernel
    first = economy.run(Count(ana, "trees", 3), "ana", cid="ana-trees-1")
    seen["engine_total"] = first.result["total"]
    refused = economy.refused(Count(ana, "trees", 6), "ana", cid="ana-trees-too-many")
    seen["refused_rule"] = refused.rule
    economy.council_decision(ChangePolicy("tallies.max_per_count", 10), cid="tallies-cap-10")
    seen["after_policy"] = economy.run(Count(ana, "trees", 6), "ana", cid="ana-trees-2").result["total"]

    # verify and rebuild: replay through the registered handler and projector
    report = audit.verify_store(store, Ed25519Verifier(), MemoryStore)
    before, after = audit.rebuild(store)
    seen["verify_ok"], seen["rebuild_same"] = report.ok, before == after == report.stored_digest

    # The CLI, with the economy's keys on disk
    keys = directory / "keys"
    for name in ("journal", "ana"):
        save_key(keys, economy.key(name))
    base = ["--db", f"sqlite:///{db}", "--keys", str(keys)]
    code, counted = run_cli(*base, "tallies", "count", "hours", "2", "--key", str(keys / "ana.key"))
    seen["cli_count"] = (code, counted and counted["result"])
    code, shown = run_cli(*base, "tallies", "show", ana)
    seen["cli_show"] = (code, shown and shown["tallies"])
    code, verified = run_cli(*base, "verify")
    seen["cli_verify"] = (code, verified and verified["ok"])

    # The HTTP API and the pages on a real server
    from civicledger.adapters.clock import WallClock
    from civicledger.api.app import create_app
    from tests.e2e.serving import SigningClient, serve_app

    with (
        serve_app(create_app(store, WallClock(), economy.key("journal"))) as url,
        httpx.Client(base_url=url, timeout=30) as http,
    ):
        client = SigningClient(http, economy)
        posted = client.run(Count(ana, "trees", 1), "ana", cid=uuid.uuid4().hex)
        seen["http_post"] = (posted.status_code, posted.json().get("result"))
        too_many = client.run(Count(ana, "trees", 11), "ana", cid=uuid.uuid4().hex)
        seen["http_refused"] = (too_many.status_code, too_many.json().get("rule"))
        read = http.get(f"/api/tallies/{ana}")
        seen["http_read"] = (read.status_code, read.json().get("tallies"))
        seen["openapi_has_route"] = "/api/tallies/{account}" in http.get("/openapi.json").json()["paths"]
        page = http.get(f"/persons/{ana}")
        seen["page_card"] = page.status_code == 200 and 'id="tallies"' in page.text and "hours: 2" in page.text
    report = audit.verify_store(store, Ed25519Verifier(), MemoryStore)
    seen["final_verify"] = (report.ok, report.entries)
    store.close()
    return seen


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
