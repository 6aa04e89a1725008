"""Key files: one Ed25519 private key per file, readable only by its owner.

A key file is JSON ``{"name", "public_key", "account", "secret"}`` (hex). The CLI signs commands
with the keys it is given by name (looked up in the key directory) or by path. ``account`` is the
account the key signs for: the one derived from the key, unless the key replaced an account's
earlier key (X9), so loading a key keeps the account stored with it.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from civicledger.adapters.crypto import KeyPair
from civicledger.kernel.errors import InvalidInputError, NotFoundError
from civicledger.kernel.identity import parse_account_id

_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def key_path(directory: Path, name: str) -> Path:
    if not _NAME_RE.match(name):
        raise InvalidInputError("a key name is 1-64 characters of letters, digits, . _ -", rule="X1")
    return directory / f"{name}.key"


def save_key(directory: Path, key: KeyPair, *, overwrite: bool = False) -> Path:
    path = key_path(directory, key.name)
    if path.exists() and not overwrite:
        raise InvalidInputError(f"a key named {key.name!r} already exists at {path}", rule="X1")
    directory.mkdir(parents=True, exist_ok=True)
    data = {"name": key.name, "public_key": key.public_hex, "account": key.account, "secret": key.seed().hex()}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
    return path


def load_key(directory: Path, name_or_path: str) -> KeyPair:
    path = Path(name_or_path)
    if not (path.suffix == ".key" and path.exists()):
        path = key_path(directory, name_or_path)
    if not path.exists():
        raise NotFoundError(
            f"no key {name_or_path!r} (looked for {path}); create it with `civic keys new {name_or_path}`, "
            "or point --keys (env CIVIC_KEYS) at the directory that holds it",
            rule="X1",
        )
    try:
        data = json.loads(path.read_text())
        key = KeyPair.from_seed(bytes.fromhex(data["secret"]), data.get("name", path.stem))
        account = data.get("account")
        return key if account is None or account == key.account else key.for_account(parse_account_id(account))
    except (ValueError, KeyError, TypeError, InvalidInputError) as e:
        raise InvalidInputError(f"{path} is not a civicledger key file", rule="X1") from e


def load_or_create(directory: Path, name: str) -> KeyPair:
    path = key_path(directory, name)
    if path.exists():
        return load_key(directory, name)
    key = KeyPair.generate(name)
    save_key(directory, key)
    return key


def retire_key(directory: Path, name: str) -> Path:
    """Move the key file ``name`` aside as ``name.retired-N`` (the first free N) after its key was
    replaced (X9): kept, never deleted, so its past signatures can still be explained."""
    path = key_path(directory, name)
    for n in range(1, 10_000):
        target = key_path(directory, f"{name}.retired-{n}")
        if not target.exists():
            path.rename(target)
            return target
    raise InvalidInputError(f"too many retired keys named {name}", rule="X9")
