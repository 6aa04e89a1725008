"""Ed25519 signatures through the ``cryptography`` package (X1, X6)."""

from __future__ import annotations

from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from civicledger.kernel.identity import AccountId, account_id_for


class Ed25519Verifier:
    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        try:
            _public_key(public_key).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True


@lru_cache(maxsize=65_536)
def _public_key(raw: bytes) -> Ed25519PublicKey:
    # Parsing a key costs as much as a third of a verification; accounts sign many times.
    return Ed25519PublicKey.from_public_bytes(raw)


class KeyPair:
    """An Ed25519 private key with its public key and the account it signs for.

    The account is the one derived from the key unless the key replaced an account's earlier key
    (X9: rotation or recovery), in which case it is given (``for_account``)."""

    def __init__(self, private_key: Ed25519PrivateKey, name: str = "", account: AccountId | None = None) -> None:
        self._key = private_key
        self.name = name
        self._public = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self._account = account

    @staticmethod
    def generate(name: str = "", account: AccountId | None = None) -> KeyPair:
        return KeyPair(Ed25519PrivateKey.generate(), name, account)

    @staticmethod
    def from_seed(seed: bytes, name: str = "", account: AccountId | None = None) -> KeyPair:
        """A key from 32 secret bytes (used by demos and tests for reproducible keys)."""
        return KeyPair(Ed25519PrivateKey.from_private_bytes(seed), name, account)

    def for_account(self, account: AccountId) -> KeyPair:
        """The same key, signing for ``account`` (whose key in force it became, X9)."""
        return KeyPair(self._key, self.name, account)

    def proving(self) -> KeyPair:
        """The same key, signing as the id derived from it: its proof of possession when it is
        about to replace an account's key (X9)."""
        return KeyPair(self._key, self.name)

    def renamed(self, name: str) -> KeyPair:
        return KeyPair(self._key, name, self._account)

    @property
    def public_key(self) -> bytes:
        return self._public

    @property
    def public_hex(self) -> str:
        return self._public.hex()

    @property
    def account(self) -> AccountId:
        return self._account if self._account is not None else account_id_for(self._public)

    @property
    def own_account(self) -> AccountId:
        """The id derived from this key: the one it signs as to prove possession of it (X9)."""
        return account_id_for(self._public)

    def seed(self) -> bytes:
        from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

        return self._key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)
