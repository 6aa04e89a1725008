"""Key files keep the account a key signs for (X9): after a change of key, the id is no longer the
one derived from the key."""

from __future__ import annotations

from pathlib import Path

from civicledger.adapters.crypto import KeyPair
from civicledger.adapters.keystore import key_path, load_key, retire_key, save_key
from civicledger.kernel.identity import account_id_for


def test_x09_a_key_file_keeps_the_account_stored_with_the_key(tmp_path: Path) -> None:
    first = KeyPair.generate("alice")
    save_key(tmp_path, first)
    assert load_key(tmp_path, "alice").account == account_id_for(first.public_key)
    retired = retire_key(tmp_path, "alice")
    assert retired.name == "alice.retired-1.key" and not key_path(tmp_path, "alice").exists()
    new = KeyPair.generate("alice", first.account)
    save_key(tmp_path, new)
    loaded = load_key(tmp_path, "alice")
    assert loaded.public_key == new.public_key and loaded.account == first.account
    assert loaded.proving().account == account_id_for(new.public_key) != first.account
    assert load_key(tmp_path, "alice.retired-1").public_key == first.public_key
    assert retire_key(tmp_path, "alice").name == "alice.retired-2.key"
