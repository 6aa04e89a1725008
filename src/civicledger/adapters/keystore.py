"""Key files: one Ed25519 private key per file, readable only by its owner.

A key file is JSON ``{"name", "public_key", "account", "secret"}`` (hex). The CLI signs commands
with the keys it is given by name (looked up in the key directory) or by path.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from civicledger.adapters.crypto import KeyPair
from civicledger.kernel.errors import InvalidInputError, NotFoundError

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
        raise NotFoundError(f"no key {name_or_path!r} (looked for {path})", rule="X1")
    try:
        data = json.loads(path.read_text())
        return KeyPair.from_seed(bytes.fromhex(data["secret"]), data.get("name", path.stem))
    except (ValueError, KeyError, TypeError) as e:
        raise InvalidInputError(f"{path} is not a civicledger key file", rule="X1") from e


def load_or_create(directory: Path, name: str) -> KeyPair:
    path = key_path(directory, name)
    if path.exists():
        return load_key(directory, name)
    key = KeyPair.generate(name)
    save_key(directory, key)
    return key
