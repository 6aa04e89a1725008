"""`civic verify` checking signatures ahead on other processes (X2, X6, X9; adapters/parallel_verify.py).

The pre-checked verifier answers true only for a (key, message, signature) a worker found good
with the same verifier, and asks the plain verifier everything else; parallel verification must
give exactly the serial report on good and tampered journals, on every store.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from civicledger.adapters import parallel_verify as pv
from civicledger.adapters.crypto import Ed25519Verifier, KeyPair
from civicledger.adapters.memory import MemoryStore
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.kernel import audit
from civicledger.kernel import identity as ident
from civicledger.kernel import ledger as led
from civicledger.kernel.identity import AccountKind
from civicledger.kernel.journal import Entry
from civicledger.kernel.merkle import leaf_hash
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.ports import SignatureVerifier, Store, StoredEntry
from civicledger.kernel.time import DAY
from tests.conftest import T0

XI = CurrencyId("xi")
GUARDIANS = ("g1", "g2", "g3")
Precheck = AbstractContextManager[tuple[Iterator[StoredEntry], SignatureVerifier]]


def build(store: Store, transfers: int = 60) -> ScriptedEconomy:
    """Accounts opened and attested, a council decision, alice's key rotated and bob's recovered
    by his guardians (X9: the key in force changes twice), then transfers by everyone."""
    e = ScriptedEconomy(store, start=T0, label="parallel verify test")
    e.open("fund", AccountKind.FUND)
    e.run(led.CreateCurrency("xi", e.account("fund"), "xi"), "fund")
    for name in ("alice", "bob", "carol", *GUARDIANS):
        e.person(name)
        e.run(led.Issue(XI, e.account(name), 10_000), "fund")
    e.rotate("alice")
    e.run(ident.NameGuardians(e.account("bob"), tuple(e.account(g) for g in GUARDIANS), 2), "bob")
    new_bob = e.new_key("bob", 2)
    e.run(ident.StartRecovery(e.account("bob"), new_bob.public_hex), *GUARDIANS[:2], new_bob)
    e.advance(8 * DAY)
    e.run(ident.CompleteRecovery(e.account("bob")), "carol")
    e.bind("bob", new_bob)
    names = ("alice", "bob", "carol")
    for n in range(transfers):
        source, target = names[n % 3], names[(n + 1) % 3]
        e.run(led.Transfer((led.Leg(XI, e.account(source), e.account(target), 1 + n),)), source)
    return e


def parallel(chunk: int = 7, workers: int = 2) -> audit.Precheck:
    """Small chunks, so that even a short journal goes through the workers in many pieces."""

    def precheck(entries: Iterable[StoredEntry], verifier: SignatureVerifier) -> Precheck:
        return pv.prechecked(entries, verifier, workers, chunk)

    return precheck


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, object]]:
    e = build(MemoryStore())
    path = tmp_path_factory.mktemp("export") / "journal.jsonl"
    with path.open("w") as f:
        audit.export_journal(e.store, f)
    return [json.loads(line) for line in path.read_text().splitlines()]


def write(path: Path, lines: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def relinked(line: dict[str, object]) -> dict[str, object]:
    """The line with its leaf hash made to match its (tampered) entry, so that verification gets
    as far as the signatures."""
    entry = Entry.from_wire(line["entry"])  # type: ignore[arg-type]
    return {**line, "leaf_hash": leaf_hash(entry.leaf_bytes()).hex()}


def both(path: Path) -> tuple[audit.VerifyReport, audit.VerifyReport]:
    serial = audit.verify_export(path, Ed25519Verifier(), MemoryStore)
    fast = audit.verify_export(path, Ed25519Verifier(), MemoryStore, parallel())
    return serial, fast


# The verifier never accepts what the plain one refuses ------------------------------------------


def test_x6_the_prechecked_verifier_accepts_only_the_exact_triples_found_good() -> None:
    key, other = KeyPair.generate(), KeyPair.generate()
    message = b"the signed bytes"
    good = key.sign(message)
    checked = pv.PrecheckedVerifier(Ed25519Verifier())
    checked.admit([(key.public_key, message, good)])
    assert checked.verify(key.public_key, message, good)
    assert checked.answered == 1 and checked.checked == 0
    tampered = bytes([good[0] ^ 1]) + good[1:]
    assert not checked.verify(key.public_key, message, tampered)
    assert not checked.verify(other.public_key, message, good)  # the wrong key
    assert not checked.verify(key.public_key, b"another message", good)  # valid, for another message
    assert not checked.verify(key.public_key, message, other.sign(message))  # another key's signature
    assert checked.checked == 4
    checked.forget([(key.public_key, message, good)])
    assert checked.verify(key.public_key, message, good)  # forgotten: checked for real, still good
    assert checked.checked == 5


def test_x6_a_worker_never_admits_a_bad_signature() -> None:
    """What the workers report is the plain verifier's answer, triple by triple."""
    key = KeyPair.generate()
    good = (key.public_key, b"m", key.sign(b"m"))
    bad = (key.public_key, b"n", key.sign(b"m"))
    entries = iter(())
    with pv.prechecked(entries, Ed25519Verifier(), 2) as (_, verifier):
        assert isinstance(verifier, pv.PrecheckedVerifier)
    pv._start_worker(Ed25519Verifier())
    assert pv._check_all([good, bad, good]) == b"\x01\x00\x01"


def test_x9_after_a_rotation_the_old_keys_signature_is_refused_in_parallel_too(
    export: list[dict[str, object]], tmp_path: Path
) -> None:
    """alice's transfer after her rotation, re-signed with her first key: both ways refuse it at
    that entry, for the signature (the pre-check followed her key in force and found it bad)."""
    e = ScriptedEconomy(MemoryStore(), start=T0, label="parallel verify test")
    old = e.first_key("alice")
    at = next(
        i
        for i, line in enumerate(export)
        if line["entry"]["command"]["type"] == "ledger.transfer"  # type: ignore[index]
        and line["entry"]["command"]["signatures"][0]["account"] == old.account  # type: ignore[index]
    )
    lines = [dict(line) for line in export]
    entry = Entry.from_wire(lines[at]["entry"])  # type: ignore[arg-type]
    forged = old.sign(entry.command.signing_bytes(e.economy_id))
    wire = json.loads(json.dumps(lines[at]["entry"]))
    wire["command"]["signatures"][0]["signature"] = forged.hex()
    lines[at] = relinked({**lines[at], "entry": wire})
    serial, fast = both(write(tmp_path / "old-key.jsonl", lines))
    assert not serial.ok and serial.bad_seq == at and "signature" in serial.reason
    assert fast.to_wire() == serial.to_wire()


# Same report as serial ----------------------------------------------------------------------------


def test_x2_parallel_verification_answers_every_signature_from_the_workers(tmp_path: Path) -> None:
    """On a good journal the pre-check finds every key in force (rotation and recovery included),
    so the plain verifier is asked nothing: the work is all on the other processes."""
    e = build(MemoryStore())
    with e.store.read() as uow:
        stored = list(uow.journal.scan())
    with pv.prechecked(stored, Ed25519Verifier(), 2, chunk=5) as (entries, verifier):
        report, _ = audit.verify_entries(entries, verifier, MemoryStore)
        assert gc.get_freeze_count() > 0
    assert report.ok and report.entries == len(stored)
    assert isinstance(verifier, pv.PrecheckedVerifier)
    signatures = sum(len(s.entry.command.signatures) + 1 for s in stored)
    assert verifier.answered == signatures and verifier.checked == 0
    assert gc.get_freeze_count() == 0  # the replayed state, frozen chunk by chunk, is unfrozen at the end


def test_x2_parallel_and_serial_verification_agree_on_the_store(store: Store) -> None:
    """verify_store on the suite's backend (SQLite; PostgreSQL with CIVIC_TEST_STORE=postgresql)."""
    e = build(store)
    serial = audit.verify_store(e.store, Ed25519Verifier(), MemoryStore)
    fast = audit.verify_store(e.store, Ed25519Verifier(), MemoryStore, parallel())
    assert serial.ok and fast.to_wire() == serial.to_wire()


def test_x2_parallel_and_serial_verification_agree_on_tampered_journals(
    export: list[dict[str, object]], tmp_path: Path
) -> None:
    good = write(tmp_path / "good.jsonl", export)
    serial, fast = both(good)
    assert serial.ok and fast.to_wire() == serial.to_wire()

    def tampered(name: str, at: int, change: object) -> tuple[audit.VerifyReport, audit.VerifyReport]:
        lines = json.loads(json.dumps(export))
        assert callable(change)
        change(lines[at])
        return both(write(tmp_path / f"{name}.jsonl", lines))

    def flip_signature(line: dict[str, dict[str, dict[str, list[dict[str, str]]]]]) -> None:
        signature = line["entry"]["command"]["signatures"][0]["signature"]
        line["entry"]["command"]["signatures"][0]["signature"] = ("0" if signature[0] != "0" else "1") + signature[1:]
        line["leaf_hash"] = relinked(line)["leaf_hash"]  # type: ignore[assignment]

    def flip_head(line: dict[str, dict[str, str]]) -> None:
        signature = line["head"]["signature"]
        line["head"]["signature"] = signature[:-1] + ("0" if signature[-1] != "0" else "1")

    def change_units(line: dict[str, dict[str, list[dict[str, int]]]]) -> None:
        line["entry"]["events"][0]["units"] = 1

    middle = len(export) // 2
    cases = {
        "command signature": tampered("signature", middle, flip_signature),
        "head signature": tampered("head", middle + 3, flip_head),
        "events": tampered("events", middle - 5, change_units),
        "genesis signature": tampered("genesis", 0, flip_signature),
    }
    for name, (serial, fast) in cases.items():
        assert not serial.ok, name
        assert fast.to_wire() == serial.to_wire(), name

    lines = [json.dumps(line) for line in export]
    lines[middle] = lines[middle][:40]  # a malformed line: both stop there, after the ones before
    cut = tmp_path / "malformed.jsonl"
    cut.write_text("\n".join(lines) + "\n")
    serial, fast = both(cut)
    assert not serial.ok and f"line {middle + 1}" in serial.reason
    assert fast.to_wire() == serial.to_wire()

    truncated = write(tmp_path / "truncated.jsonl", [*export[:middle], *export[middle + 1 :]])
    serial, fast = both(truncated)
    assert not serial.ok and serial.bad_seq == middle + 1 and serial.entries == middle
    assert fast.to_wire() == serial.to_wire()


class _Unpicklable(Ed25519Verifier):
    """A verifier the workers cannot be given: the plain verifier must do all the work."""

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("not for other processes")


def test_x2_without_working_workers_the_plain_verifier_checks_everything(export: list[dict[str, object]]) -> None:
    e = build(MemoryStore(), transfers=20)
    with e.store.read() as uow:
        stored = list(uow.journal.scan())
    with pv.prechecked(stored, _Unpicklable(), 2, chunk=5) as (entries, verifier):
        report, _ = audit.verify_entries(entries, verifier, MemoryStore)
    assert report.ok and report.entries == len(stored)
    assert isinstance(verifier, pv.PrecheckedVerifier) and verifier.answered == 0 and verifier.checked > 0


def test_one_worker_or_one_chunk_starts_no_processes() -> None:
    e = build(MemoryStore(), transfers=0)
    with e.store.read() as uow:
        stored = list(uow.journal.scan())
    with pv.prechecked(stored, Ed25519Verifier(), 1) as (_, verifier):
        assert isinstance(verifier, Ed25519Verifier)
    with pv.prechecked(stored, Ed25519Verifier(), 2, chunk=len(stored) + 1) as (entries, checked):
        report, _ = audit.verify_entries(entries, checked, MemoryStore)
    assert report.ok and isinstance(checked, pv.PrecheckedVerifier) and checked.answered == 0
