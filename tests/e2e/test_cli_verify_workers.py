"""`civic verify --workers`: signatures checked ahead in other processes give the serial report (X2)."""

from __future__ import annotations

import json
from pathlib import Path

from civicledger.adapters import parallel_verify as pv
from civicledger.adapters.crypto import Ed25519Verifier
from civicledger.adapters.memory import MemoryStore
from civicledger.kernel import audit
from civicledger.kernel.journal import Entry
from civicledger.kernel.merkle import leaf_hash
from tests.e2e.conftest import Civic
from tests.unit.test_parallel_verify import build


def test_x2_verify_with_workers_gives_the_serial_report(civic: Civic, tmp_path: Path) -> None:
    e = build(MemoryStore(), transfers=pv.CHUNK + 100)  # more than one chunk: the workers start
    with (tmp_path / "journal.jsonl").open("w") as f:
        count = audit.export_journal(e.store, f)
    serial = civic.json("verify", "--export", "journal.jsonl", "--workers", "1")
    fast = civic.json("verify", "--export", "journal.jsonl", "--workers", "2")
    assert serial["ok"] and serial["entries"] == count and fast == serial

    lines = [json.loads(line) for line in (tmp_path / "journal.jsonl").read_text().splitlines()]
    at = count - 50
    signature = lines[at]["entry"]["command"]["signatures"][0]["signature"]
    lines[at]["entry"]["command"]["signatures"][0]["signature"] = signature[::-1]
    lines[at]["leaf_hash"] = leaf_hash(Entry.from_wire(lines[at]["entry"]).leaf_bytes()).hex()
    (tmp_path / "bad.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    fast = civic.json("verify", "--export", "bad.jsonl", check=1)  # every core by default
    serial_report = audit.verify_export(tmp_path / "bad.jsonl", Ed25519Verifier(), MemoryStore)
    assert fast == json.loads(json.dumps(serial_report.to_wire()))
    assert fast["bad_seq"] == at and "signature" in fast["reason"]

    refused = civic("verify", "--export", "journal.jsonl", "--workers", "0", check=2)
    assert "--workers" in refused.stderr
