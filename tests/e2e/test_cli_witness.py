"""`civic witness` and `civic journal vkey` (IN12): a witness's key and state, and a journal's
C2SP verifier key, through the real `civic` process."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

from civicledger.adapters.crypto import Ed25519Verifier
from civicledger.adapters.keystore import load_key
from civicledger.kernel.checkpoint import (
    COSIGNATURE_V1,
    ED25519,
    AddCheckpoint,
    Checkpoint,
    VerifierKey,
    cosignature_time,
    parse_signature_line,
    sign_checkpoint,
)
from tests.e2e.conftest import Civic
from tests.e2e.serving import free_port
from tests.e2e.test_cli_foundation import POLICY


def test_in12_journal_vkey_names_the_economy_and_the_journal_key(civic: Civic, tmp_path: Path) -> None:
    (tmp_path / "economy.toml").write_text(POLICY)
    created = civic.json("init", "economy.toml")
    shown = civic.json("journal", "vkey")
    key = VerifierKey.parse(shown["vkey"])
    assert key.key_type == ED25519 and key.name == created["economy"] == shown["origin"]
    journal_key = (tmp_path / "civic-data" / "keys" / "journal.key").read_text()
    assert key.public_key.hex() in journal_key
    human = civic("journal", "vkey")
    assert human.stdout.strip() == shown["vkey"]


def test_in12_witness_init_makes_a_key_and_state_and_watches_logs(civic: Civic, tmp_path: Path) -> None:
    made = civic.json("witness", "init", "--name", "witness.example/w1", "--dir", "w")
    key = VerifierKey.parse(made["vkey"])
    assert key.key_type == COSIGNATURE_V1 and key.name == "witness.example/w1"
    assert (tmp_path / "w" / "witness.key").exists() and (tmp_path / "w" / "witness.db").exists()
    assert civic.json("witness", "vkey", "--dir", "w")["vkey"] == made["vkey"]
    again = civic.json("witness", "init", "--name", "other", "--dir", "w", check=2)
    assert "already exists" in again["message"]

    log = "log.example+5d6a1b50+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6"
    bad = civic.json("witness", "add-log", log, "--dir", "w", check=2)
    assert "does not match" in bad["message"]
    (tmp_path / "economy.toml").write_text(POLICY)
    civic("init", "economy.toml")
    journal = civic.json("journal", "vkey")["vkey"]
    civic("witness", "add-log", journal, "--dir", "w")
    status = civic.json("witness", "status", "--dir", "w")
    assert status["logs"] == [{"origin": VerifierKey.parse(journal).name, "size": 0, "root": ""}]
    with sqlite3.connect(tmp_path / "w" / "witness.db") as db:
        assert db.execute("select count(*) from witness_logs").fetchone() == (1,)
    refused = civic.json("witness", "add-log", made["vkey"], "--dir", "w", check=2)  # a witness key is no log key
    assert "Ed25519 note key" in refused["message"]


def test_in12_civic_witness_serve_cosigns_over_http(civic: Civic, tmp_path: Path) -> None:
    (tmp_path / "economy.toml").write_text(POLICY)
    civic("init", "economy.toml")
    journal = VerifierKey.parse(civic.json("journal", "vkey")["vkey"])
    made = VerifierKey.parse(civic.json("witness", "init", "--name", "w1.example", "--dir", "w")["vkey"])
    head = civic.json("journal", "head")
    note = sign_checkpoint(
        Checkpoint(journal.name, head["size"], bytes.fromhex(head["root"])),
        journal.name,
        load_key(tmp_path / "civic-data" / "keys", "journal"),
    )
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "civicledger",
            "witness",
            "serve",
            "--dir",
            "w",
            "--port",
            str(port),
            "--log",
            journal.text(),
        ],
        cwd=tmp_path,
        env=civic.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/add-checkpoint"
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = httpx.post(url, content=AddCheckpoint(0, (), note.encode().encode()).encode())
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline, "the witness did not start"
                time.sleep(0.1)
        assert answer.status_code == 200
        cosigned = note.with_signatures([parse_signature_line(answer.text.rstrip("\n"))])
        assert cosignature_time(cosigned, made, Ed25519Verifier()) is not None
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert civic.json("witness", "status", "--dir", "w")["logs"][0]["size"] == head["size"]


def test_in12_civic_serve_refuses_a_malformed_witness(civic: Civic, tmp_path: Path) -> None:
    (tmp_path / "economy.toml").write_text(POLICY)
    civic("init", "economy.toml")
    refused = civic.json("serve", "--witness", "not-a-witness", check=2)
    assert refused["rule"] == "IN12" and "<http(s) URL>=<verifier key>" in refused["message"]
