"""Signatures checked ahead of a replay, on every core (X2, X6; ``civic verify --workers``).

Re-executing a journal (``audit.verify_entries``) is one thread by nature: each entry runs on the
state the entries before it left. Checking an Ed25519 signature needs no state at all once one
knows which key and which bytes to check it against, and signatures are most of a replay's cost.

``prechecked`` reads the entries a few chunks ahead of the replay and, for each one, works out
what the replay will ask the verifier: the command's signing bytes with, for each signer, the key
it will be checked against (the key in force, followed through the entries' own
``identity.account_opened`` and ``identity.key_changed`` events, X9; or, for a signer that is no
account yet, the key the entry introduces for it), and the journal key's signature on the entry's
tree head. A process pool checks these triples with the same verifier. The replay itself is not
changed: it runs single-threaded and asks ``PrecheckedVerifier``, which answers true at once for a
triple a worker found good and hands every other question to the plain verifier. Working out a
wrong key or wrong bytes therefore only costs time; a signature is accepted only when the plain
verifier accepts it for exactly that key and message, so parallel verification gives the same
report as serial in every case (tests/unit/test_parallel_verify.py).

Memory stays bounded: at most ``2 * workers`` chunks of ``chunk`` entries are in flight, and the
good triples of a chunk are forgotten once the replay has passed it.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from civicledger.kernel.canonical import JSONObject
from civicledger.kernel.identity import account_id_for
from civicledger.kernel.journal import tree_head_bytes
from civicledger.kernel.ports import SignatureVerifier, StoredEntry

Check = tuple[bytes, bytes, bytes]
"""What a verifier is asked: (public key, message, signature)."""

CHUNK = 1000
"""Entries per task sent to a worker: about 2,000 signatures, a tenth of a second of work."""

_KEY_EVENTS = frozenset({"identity.account_opened", "identity.key_changed"})
"""The events after which an account's key in force is the event's ``public_key`` (X9)."""


def default_workers() -> int:
    """Every core this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class PrecheckedVerifier:
    """A ``SignatureVerifier`` that knows some answers already: true for a (key, message,
    signature) a worker checked good with the same verifier; anything else is checked by the
    plain verifier, so it never accepts what the plain verifier would refuse."""

    def __init__(self, plain: SignatureVerifier) -> None:
        self.plain = plain
        self._good: set[Check] = set()
        self.answered = 0
        """Questions answered from the workers' results (the rest went to the plain verifier)."""
        self.checked = 0

    def admit(self, good: Iterable[Check]) -> None:
        self._good.update(good)

    def forget(self, good: Iterable[Check]) -> None:
        self._good.difference_update(good)

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        if (public_key, message, signature) in self._good:
            self.answered += 1
            return True
        self.checked += 1
        return self.plain.verify(public_key, message, signature)


@dataclass
class KeyFollower:
    """What the replay will ask the verifier, worked out from the entries alone: the economy id
    and journal key (from the genesis entry's ``economy.started`` event) and each account's key
    in force. A guess: a wrong one only sends that question to the plain verifier."""

    economy_id: str | None = None
    journal_key: bytes | None = None
    keys: dict[str, bytes] = field(default_factory=dict)

    def checks(self, stored: StoredEntry) -> list[Check]:
        entry = stored.entry
        events = entry.events
        if self.economy_id is None:
            self._economy(events)
        found: list[Check] = []
        command = entry.command
        if self.economy_id is not None and command.signatures:
            message = command.signing_bytes(self.economy_id)
            for signature in command.signatures:
                key = self.keys.get(signature.account) or _introduced(signature.account, events)
                try:
                    raw = bytes.fromhex(signature.signature)
                except ValueError:  # not hex: the replay refuses it without asking the verifier
                    continue
                if key is not None:
                    found.append((key, message, raw))
        for event in events:  # the keys in force for the next entries (X9)
            if event.get("type") in _KEY_EVENTS:
                self.keys[str(event["account"])] = bytes.fromhex(str(event["public_key"]))
        head = stored.head
        if head.signature and self.economy_id is not None and self.journal_key is not None:
            signed = tree_head_bytes(self.economy_id, head.size, head.root, head.time)
            found.append((self.journal_key, signed, bytes.fromhex(head.signature)))
        return found

    def _economy(self, events: tuple[JSONObject, ...]) -> None:
        for event in events:
            if event.get("type") == "economy.started":
                self.economy_id = str(event["economy"])
                self.journal_key = bytes.fromhex(str(event["journal_key"]))
                return


def _introduced(account: str, events: tuple[JSONObject, ...]) -> bytes | None:
    """The key an entry brings in for a signer that is no account yet: a new account's key, the
    journal key signing the genesis, or a new key proving possession as the id derived from it."""
    for event in events:
        for name in ("public_key", "journal_key"):
            value = event.get(name)
            if isinstance(value, str) and len(value) == 64:
                try:
                    key = bytes.fromhex(value)
                except ValueError:
                    continue
                if account_id_for(key) == account:
                    return key
    return None


# The workers ------------------------------------------------------------------------------------

_worker_verifier: SignatureVerifier | None = None


def _start_worker(verifier: SignatureVerifier) -> None:
    global _worker_verifier
    _worker_verifier = verifier


def _check_all(checks: list[Check]) -> bytes:
    """One byte per check: 1 when the signature is good."""
    verifier = _worker_verifier
    assert verifier is not None
    return bytes(verifier.verify(key, message, signature) for key, message, signature in checks)


@dataclass
class _Chunk:
    entries: list[StoredEntry]
    checks: list[Check]
    future: Future[bytes] | None


def _good(chunk: _Chunk) -> list[Check]:
    if chunk.future is None:
        return []
    try:
        flags = chunk.future.result()
        return [check for check, ok in zip(chunk.checks, flags, strict=True) if ok]
    except Exception:  # a worker died: the plain verifier checks this chunk's signatures itself
        return []


class _Workers:
    """The process pool, started at the first chunk it is given (a journal that fits in one chunk
    is checked by the plain verifier alone: starting processes would cost more)."""

    def __init__(self, count: int, verifier: SignatureVerifier) -> None:
        self.count = count
        self.verifier = verifier
        self._pool: ProcessPoolExecutor | None = None

    def submit(self, checks: list[Check]) -> Future[bytes] | None:
        if not checks:
            return None
        try:
            if self._pool is None:
                # forkserver: a worker is not a fork of this process, whose open database
                # connections it would share. (A script that verifies must guard its main module
                # with ``if __name__ == "__main__"``, as for any pool that is not forked.)
                context = multiprocessing.get_context("forkserver")
                self._pool = ProcessPoolExecutor(
                    self.count, mp_context=context, initializer=_start_worker, initargs=(self.verifier,)
                )
            return self._pool.submit(_check_all, checks)
        except Exception:  # no pool: the plain verifier checks these signatures itself
            return None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


def _ahead(
    entries: Iterable[StoredEntry], verifier: PrecheckedVerifier, workers: _Workers, size: int
) -> Generator[StoredEntry, None, None]:
    """The entries, in order, each yielded once its chunk's signatures are checked; an error reading
    them is raised where the plain iteration would raise it, after the entries before it."""
    source = iter(entries)
    follower = KeyFollower()
    in_flight: deque[_Chunk] = deque()
    failure: Exception | None = None
    exhausted = first = False
    while True:
        while not exhausted and len(in_flight) < 2 * workers.count:
            batch: list[StoredEntry] = []
            try:
                for stored in source:
                    batch.append(stored)
                    if len(batch) >= size:
                        break
                else:
                    exhausted = True
            except Exception as e:
                failure, exhausted = e, True
            if exhausted and not first:
                in_flight.append(_Chunk(batch, [], None))  # all of it in one chunk
            else:
                checks = _checks(follower, batch)
                in_flight.append(_Chunk(batch, checks, workers.submit(checks)))
            first = True
        if not in_flight:
            break
        chunk = in_flight.popleft()
        good = _good(chunk)
        verifier.admit(good)
        yield from chunk.entries
        verifier.forget(good)
        # The replayed state only grows until the end: left to the collector, every full collection
        # would walk all of it again (a quarter to a third of the replay's time, measured). Frozen,
        # it is skipped; what the replay drops later is still collected. ``prechecked`` unfreezes.
        gc.freeze()
    if failure is not None:
        raise failure


def _checks(follower: KeyFollower, batch: list[StoredEntry]) -> list[Check]:
    checks: list[Check] = []
    for stored in batch:
        try:
            checks += follower.checks(stored)
        except Exception:  # a malformed entry: the replay will name it; nothing to check ahead
            continue
    return checks


@contextlib.contextmanager
def prechecked(
    entries: Iterable[StoredEntry], verifier: SignatureVerifier, workers: int | None = None, chunk: int = CHUNK
) -> Iterator[tuple[Iterator[StoredEntry], SignatureVerifier]]:
    """The entries and the verifier to replay them with: with more than one worker, signatures
    are checked ahead by a pool of ``workers`` processes (default: every core); with one, the
    entries and the verifier as given."""
    count = default_workers() if workers is None else workers
    if count <= 1:
        yield iter(entries), verifier
        return
    checked = PrecheckedVerifier(verifier)
    workers_ = _Workers(count, verifier)
    ahead = _ahead(entries, checked, workers_, chunk)
    try:
        yield ahead, checked
    finally:
        ahead.close()
        workers_.close()
        gc.unfreeze()


def with_workers(
    workers: int | None = None,
) -> Callable[
    [Iterable[StoredEntry], SignatureVerifier], AbstractContextManager[tuple[Iterator[StoredEntry], SignatureVerifier]]
]:
    """``prechecked`` with ``workers`` processes, in the shape ``audit.verify_store`` and
    ``audit.verify_export`` take (their ``precheck``)."""

    def precheck(
        entries: Iterable[StoredEntry], verifier: SignatureVerifier
    ) -> AbstractContextManager[tuple[Iterator[StoredEntry], SignatureVerifier]]:
        return prechecked(entries, verifier, workers)

    return precheck
