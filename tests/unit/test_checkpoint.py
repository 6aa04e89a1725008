"""C2SP signed notes, checkpoints and cosignatures (X2, IN12), against published vectors.

Vectors:
- The PeterNeumann key and note of the Go package golang.org/x/mod/sumdb/note (note.go's package
  example and note_test.go): a signer reproducing the published note byte for byte is what lets
  any Go verifier read our checkpoints.
- A real checkpoint of the Certificate Transparency staging log arche2025h1.staging.ct.transparency.dev
  with tlog-cosignature/v1 cosignatures by public witnesses (remora.n621.de, witness.stagemole.eu,
  transparency.dev/DEV:witness-little-garden, witness1.smartit.nu/witness1), as collected in
  public test suites of checkpoint libraries; their verifier keys are the ones those witnesses publish.
"""

from __future__ import annotations

import base64

import pytest

from civicledger.adapters.crypto import Ed25519Verifier, KeyPair
from civicledger.kernel.checkpoint import (
    COSIGNATURE_V1,
    MAX_NOTE_BYTES,
    MAX_SIGNATURES,
    AddCheckpoint,
    Checkpoint,
    VerifierKey,
    cosign,
    cosignature_time,
    note_key,
    open_checkpoint,
    parse_note,
    sign_checkpoint,
    sign_note,
    verified_by,
    verify_witnessed,
    witness_key,
)
from civicledger.kernel.errors import IntegrityError, InvalidInputError

VERIFIER = Ed25519Verifier()

GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SKEY_KEY = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"  # of PRIVATE+KEY+PeterNeumann+c74f20a3+...
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_NOTE = (
    GO_TEXT
    + "\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)

CT_CHECKPOINT = """arche2025h1.staging.ct.transparency.dev
1432088532
U7WM79jrzyhGZ5/GUBTpM7NzwdyfFx61t3RovgcC4Ro=

— arche2025h1.staging.ct.transparency.dev zTM8sQAAAZ5W0WdjBAMARjBEAiBjW5IQf9pvsYLfQFX6hoGREPMHbdQ3urbllzalApkptQIgIpwtEroeW2BXaHAI4kJXFbon5Ch9MNL5zRNZ55lvGt0=
— arche2025h1.staging.ct.transparency.dev ui8GwCF1+kWqZrxGdhj4aX3gcw7XUlXQQabg/27lefwhUkzbC3NygNI75MdhL1bfTW9g8Ei59RA23oHP7Ry1k3ZFWwQ=
— transparency.dev/DEV:witness-little-garden 2AQqhwAAAABqEiEgzgFIqqhbUoDwjMWE6UP8nd8/KYTzwZ2rhIgcqoXHAwVkjZr4AscylP3v7sEodkRAErumC2q44vdgJY096st5BQ==
— witness1.smartit.nu/witness1 pIyCDwAAAABqEiEghIp82KWebrw7/oHQwlTAm3g2RKS4+eebl8eO0WH+/iEcxZ75W3u5hNI7TOQtmJbqmNWVuE0tgh0XwzdZsDsUAQ==
— remora.n621.de 2net5wAAAABqEiEgPlfF3V06o0Y+fHM+J5J9s27wgxxcOVSpZ/2g/KSiXCg9DEZI+aVCIobWX9sXTynk5XeU/zZ0WBxtqB0DrAWfBw==
— witness.stagemole.eu Z/euoAAAAABqEiEgw0i+7g2ENfDAWHmtRzCfKTHSDwYDJA2NmKeGi9Y8FtEyOUvVr+AJmIY/2TUFucgKi7lI7cUiOvKFYe/TmN9DAg==
"""  # noqa: E501
CT_WITNESSES = [
    "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2",
    "witness.stagemole.eu+67f7aea0+BEqSG3yu9YrmcM3BHvQYTxwFj3uSWakQepafafpUqklv",
    "transparency.dev/DEV:witness-little-garden+d8042a87+BCtusOxINQNUTN5Oj8HObRkh2yHf/MwYaGX4CPdiVEPM",
    "witness1.smartit.nu/witness1+a48c820f+BPSFWg9G6KPiO7QPryYO5Xq4oYJJ+kAvLKLSimDhoxMO",
]


def go_key() -> KeyPair:
    return KeyPair.from_seed(base64.b64decode(GO_SKEY_KEY)[1:])


def test_x02_signed_note_reproduces_the_go_note_packages_published_signature() -> None:
    key = VerifierKey.parse(GO_VKEY)
    assert key.public_key == go_key().public_key
    assert key.text() == GO_VKEY
    assert note_key("PeterNeumann", go_key().public_key).id.hex() == "c74f20a3"
    assert sign_note(GO_TEXT, "PeterNeumann", go_key()).encode() == GO_NOTE
    note = parse_note(GO_NOTE)
    assert note.text == GO_TEXT and verified_by(note, key, VERIFIER)
    assert not verified_by(parse_note(GO_NOTE.replace("cryptography", "cryptographY")), key, VERIFIER)


def test_x02_cosignatures_of_public_witnesses_on_a_real_checkpoint_verify() -> None:
    note = parse_note(CT_CHECKPOINT)
    checkpoint = Checkpoint.parse(note.text)
    assert (checkpoint.origin, checkpoint.size) == ("arche2025h1.staging.ct.transparency.dev", 1432088532)
    for text in CT_WITNESSES:
        key = VerifierKey.parse(text)  # the stagemole and smartit keys hold '+' in their base64
        assert key.key_type == COSIGNATURE_V1 and key.text() == text
        assert cosignature_time(note, key, VERIFIER) == 1779573024
    tampered = parse_note(CT_CHECKPOINT.replace("1432088532", "1432088533"))
    assert all(cosignature_time(tampered, VerifierKey.parse(t), VERIFIER) is None for t in CT_WITNESSES)


def test_x02_checkpoint_round_trips_with_extension_lines() -> None:
    checkpoint = Checkpoint("example.org/log", 7, bytes(range(32)), ("ext one", "ext two"))
    note = sign_checkpoint(checkpoint, "example.org/log", go_key())
    log = note_key("example.org/log", go_key().public_key)
    opened, _ = open_checkpoint(note.encode(), log, VERIFIER)
    assert opened == checkpoint
    witness = KeyPair.generate()
    cosigned = note.with_signatures([cosign(note.text, "w.example", witness, 1_700_000_000)])
    assert parse_note(cosigned.encode()) == cosigned
    assert cosignature_time(cosigned, witness_key("w.example", witness.public_key), VERIFIER) == 1_700_000_000


def test_in12_k_of_n_cosignatures_are_required() -> None:
    log_signer, w1, w2, w3 = (KeyPair.generate() for _ in range(4))
    log = note_key("log.example", log_signer.public_key)
    note = sign_checkpoint(Checkpoint("log.example", 3, b"\x01" * 32), "log.example", log_signer)
    keys = [witness_key(f"w{i}", k.public_key) for i, k in enumerate((w1, w2, w3))]
    two = note.with_signatures([cosign(note.text, "w0", w1, 5), cosign(note.text, "w1", w2, 5)]).encode()
    assert verify_witnessed(two, log, keys, 2, VERIFIER).witnesses == ("w0", "w1")
    with pytest.raises(IntegrityError, match="2 valid witness cosignatures of the 3 required"):
        verify_witnessed(two, log, keys, 3, VERIFIER)
    forged = note.with_signatures([cosign(note.text, "w2", w1, 5)]).encode()  # w3's name, w1's key
    with pytest.raises(IntegrityError):
        verify_witnessed(forged, log, keys, 1, VERIFIER)
    other_log = note_key("log.example", KeyPair.generate().public_key)
    with pytest.raises(IntegrityError, match="no valid signature"):
        verify_witnessed(two, other_log, keys, 0, VERIFIER)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("no blank line\n— a AAAAAAAA\n", "blank line"),
        ("text\n\n— a AAAAAAAA", "end with a newline"),
        ("text\n\n", "at least one signature"),
        ("text\n\n- a AAAAAAAA\n", "em dash"),
        ("text\n\n— a b c\n", "signature line is"),
        ("text\n\n— a !!!!\n", "base64"),
        ("text\n\n— a AAAA\n", "4-byte key id"),
        ("te\x01xt\n\n— a AAAAAAAA\n", "control characters"),
        ("text\n\n— a+b AAAAAAAA\n", "key name"),
        ("x" * (MAX_NOTE_BYTES + 1), "at most"),
        ("text\n\n" + "— a AAAAAAAA\n" * (MAX_SIGNATURES + 1), "at most"),
    ],
)
def test_x02_malformed_notes_are_refused_with_a_reason(data: str, reason: str) -> None:
    with pytest.raises(InvalidInputError, match=reason):
        parse_note(data)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("origin\n7\n", "origin, a size and a root"),
        ("\n7\nAAAA\n", "origin must not be empty"),
        ("o\n07\n" + base64.b64encode(bytes(32)).decode() + "\n", "leading zeros"),
        ("o\n-1\n" + base64.b64encode(bytes(32)).decode() + "\n", "decimal"),
        ("o\n1\n" + base64.b64encode(bytes(31)).decode() + "\n", "32 bytes"),
        ("o\n1\n" + base64.b64encode(bytes(32)).decode() + "\n\n", "extension lines"),
    ],
)
def test_x02_malformed_checkpoints_are_refused(text: str, reason: str) -> None:
    with pytest.raises(InvalidInputError, match=reason):
        Checkpoint.parse(text)


@pytest.mark.parametrize(
    "vkey",
    [
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong id
        "PeterNeumann+c74f20a3+AhpC2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # unknown type
        "PeterNeumann+c74f20a3",
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10",  # short key
    ],
)
def test_x02_malformed_verifier_keys_are_refused(vkey: str) -> None:
    with pytest.raises(InvalidInputError):
        VerifierKey.parse(vkey)


def test_in12_add_checkpoint_request_round_trips_and_is_bounded() -> None:
    request = AddCheckpoint(5, (b"\x02" * 32, b"\x03" * 32), GO_NOTE.encode())
    assert AddCheckpoint.parse(request.encode()) == request
    with pytest.raises(InvalidInputError, match="old <size>"):
        AddCheckpoint.parse(b"old x\n\n" + GO_NOTE.encode())
    with pytest.raises(InvalidInputError, match="at most 63"):
        AddCheckpoint.parse(b"old 1\n" + (base64.b64encode(bytes(32)) + b"\n") * 64 + b"\n" + GO_NOTE.encode())
    with pytest.raises(InvalidInputError, match="32 bytes"):
        AddCheckpoint.parse(b"old 1\nAAAA\n\n" + GO_NOTE.encode())
