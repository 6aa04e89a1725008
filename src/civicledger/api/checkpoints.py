"""The journal's newest tree head as a C2SP checkpoint, and the witnesses asked to cosign it (IN12).

The checkpoint is signed when served, from the stored tree head: the journal key signs the
checkpoint text (origin, size, base64 root) as an Ed25519 note. Ed25519 is deterministic, so the
same head always gives the same signature, and nothing new is stored: old journals, with their
old-format signed heads, stay as they were and still verify.

After writes (never inside the write's transaction) a background thread asks each configured
witness to cosign the new checkpoint, with a consistency proof from the size that witness last
cosigned, each request bounded by a timeout. A witness that is down or refuses costs the writes
nothing: the checkpoint is then served with the cosignatures that were given for it.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from civicledger.adapters.crypto import Ed25519Verifier
from civicledger.adapters.headmark import FORKED, SignedHeadMark, newest_of
from civicledger.kernel import audit, state
from civicledger.kernel.checkpoint import (
    AddCheckpoint,
    Checkpoint,
    Note,
    NoteSignature,
    VerifierKey,
    cosignature_time,
    parse_signature_line,
    sign_checkpoint,
)
from civicledger.kernel.errors import CivicLedgerError, InvalidInputError
from civicledger.kernel.ports import Signer, Store

_log = logging.getLogger(__name__)

Post = Callable[[str, bytes, float], tuple[int, bytes]]
"""Sends an add-checkpoint body to a witness URL within a timeout: (status, body)."""


@dataclass(frozen=True, slots=True)
class WitnessConfig:
    url: str  # the witness's base URL; requests go to <url>/add-checkpoint
    key: VerifierKey

    @staticmethod
    def parse(text: str) -> WitnessConfig:
        """``<url>=<vkey>`` (the form of ``--witness`` and ``CIVIC_WITNESSES``, comma-separated)."""
        url, sep, vkey = text.strip().partition("=")
        if not sep or not url.startswith(("http://", "https://")):
            raise InvalidInputError("a witness is given as <http(s) URL>=<verifier key>", rule="IN12")
        return WitnessConfig(url.rstrip("/"), VerifierKey.parse(vkey))


class WitnessedHeads:
    """The heads the configured witnesses cosigned, as an IN12 ``HeadSource``: a restored copy
    behind what any witness holds is refused writes even when the mark file went with the old
    key directory. Asked only when the guard checks (at start and after a refusal), never per write.

    A witness is trusted here to stop writes, not to make them: a witness that claims too much
    halts writing until an operator looks (docs/operations.md), the safe way to fail."""

    def __init__(self, publisher: CheckpointPublisher) -> None:
        self.publisher = publisher

    def newest(self) -> SignedHeadMark | None:
        return newest_of(self.publisher.ask_held(w) for w in self.publisher.witnesses)


def parse_witnesses(text: str) -> list[WitnessConfig]:
    return [WitnessConfig.parse(part) for part in text.split(",") if part.strip()]


def http_post(url: str, body: bytes, timeout: float) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "text/plain"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read(1 << 16)
    except urllib.error.HTTPError as e:
        return e.code, e.read(1 << 16)


class CheckpointPublisher:
    """Signs the newest head as a checkpoint and gathers witnesses' cosignatures for it."""

    def __init__(
        self,
        store: Store,
        signer: Signer,
        origin: str | None,
        witnesses: Sequence[WitnessConfig] = (),
        *,
        post: Post = http_post,
        timeout: float = 3.0,
    ) -> None:
        self.store = store
        self.signer = signer
        self._origin = origin
        self.witnesses = tuple(witnesses)
        self.post = post
        self.timeout = timeout
        self.verifier = Ed25519Verifier()
        self.cosigned: dict[str, int] = {}  # witness name -> last size it cosigned (or said it holds)
        self._cosignatures: dict[str, tuple[str, NoteSignature]] = {}  # witness name -> (text, cosignature)
        self._cosigned_at: dict[str, float] = {}  # witness name -> when it last gave a cosignature (Unix time)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def origin(self) -> str | None:
        """The configured origin, else the economy's id (None while the store holds no economy)."""
        if self._origin is None:
            with self.store.read() as uow:
                info = state.economy_info(uow)
            self._origin = info.id if info is not None else None
        return self._origin

    def note(self) -> Note | None:
        """The newest head as a checkpoint signed by the journal key (no cosignatures)."""
        origin = self.origin()
        with self.store.read() as uow:
            head = uow.journal.latest_signed_head()
        if head is None or origin is None:
            return None
        return sign_checkpoint(Checkpoint(origin, head.size, bytes.fromhex(head.root)), origin, self.signer)

    def current(self) -> str | None:
        """The checkpoint as served: the log's signature and every cosignature given for this text."""
        note = self.note()
        if note is None:
            return None
        with self._lock:
            extra = [sig for text, sig in self._cosignatures.values() if text == note.text]
        return note.with_signatures(extra).encode()

    def witness_progress(self) -> tuple[dict[str, int], dict[str, float]]:
        """What each witness cosigned (or said it holds) and when it last cosigned, by witness
        name: what the metrics show of the witnesses (docs/operations.md)."""
        with self._lock:
            return dict(self.cosigned), dict(self._cosigned_at)

    def publish_once(self) -> None:
        """Ask every witness to cosign the newest checkpoint (each within the timeout)."""
        note = self.note()
        if note is None:
            return
        checkpoint = Checkpoint.parse(note.text)
        for witness in self.witnesses:
            try:
                self._ask(witness, note, checkpoint)
            except (OSError, CivicLedgerError, ValueError) as e:
                _log.warning("witness %s did not cosign size %d: %s", witness.url, checkpoint.size, e)

    def _ask(self, witness: WitnessConfig, note: Note, checkpoint: Checkpoint) -> None:
        name = witness.key.name
        with self._lock:
            old = self.cosigned.get(name, 0)
            done = name in self._cosignatures and self._cosignatures[name][0] == note.text
        if done:
            return
        for _ in range(2):  # a 409 tells the size the witness holds: one retry from there
            if old > checkpoint.size:
                raise InvalidInputError(
                    f"the witness holds size {old}, beyond this journal's {checkpoint.size}", rule="IN12"
                )
            proof: tuple[bytes, ...] = ()
            if 0 < old < checkpoint.size:
                data = audit.consistency(self.store, old, checkpoint.size)
                proof = tuple(bytes.fromhex(str(p)) for p in data["proof"])  # type: ignore[union-attr]
            body = AddCheckpoint(old, proof, note.encode().encode()).encode()
            status, answer = self.post(f"{witness.url}/add-checkpoint", body, self.timeout)
            if status == 409:
                old = int(answer.decode("ascii").strip())
                with self._lock:
                    self.cosigned[name] = old  # what the witness holds (cosigned for this log, maybe by another worker)
                continue
            if status != 200:
                raise InvalidInputError(
                    f"answered {status}: {answer[:200].decode('utf-8', 'replace').strip()}", rule="IN12"
                )
            for line in answer.decode("utf-8").splitlines():
                sig = parse_signature_line(line)
                if cosignature_time(Note(note.text, (sig,)), witness.key, self.verifier) is not None:
                    with self._lock:
                        self.cosigned[name] = checkpoint.size
                        self._cosignatures[name] = (note.text, sig)
                        self._cosigned_at[name] = time.time()
                    return
            raise InvalidInputError("answered 200 without a valid cosignature by its key", rule="IN12")
        raise InvalidInputError("kept answering 409", rule="IN12")

    def ask_held(self, witness: WitnessConfig) -> SignedHeadMark | None:
        """What ``witness`` holds of this log, asked with the newest checkpoint and ``old`` set to
        its own size (IN12): 200 means it holds exactly this head, 409 names the size it holds, 422
        means it holds another root at this size. None if it cannot say (down, unknown log)."""
        note = self.note()
        if note is None:
            return None
        checkpoint = Checkpoint.parse(note.text)
        source = f"witness {witness.key.name} at {witness.url}"
        body = AddCheckpoint(checkpoint.size, (), note.encode().encode()).encode()
        try:
            status, answer = self.post(f"{witness.url}/add-checkpoint", body, self.timeout)
        except OSError as e:
            _log.warning("witness %s could not be asked what it holds: %s", witness.url, e)
            return None
        if status == 200:
            return SignedHeadMark(checkpoint.size, checkpoint.root.hex(), source)
        if status == 409:
            try:
                held = int(answer.decode("ascii").strip())
            except (UnicodeDecodeError, ValueError):
                return None
            with self._lock:
                self.cosigned[witness.key.name] = held
            return SignedHeadMark(held, "", source) if held >= 0 else None
        if status == 422:
            return SignedHeadMark(checkpoint.size, FORKED, source)
        _log.warning("witness %s answered %d when asked what it holds", witness.url, status)
        return None

    # The background thread ----------------------------------------------------------------------

    def notify(self) -> None:
        """A write happened: publish soon (cheap; called on the write path)."""
        self._wake.set()

    def start(self, interval: float = 30.0) -> None:
        if not self.witnesses or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, args=(interval,), name="witnesses", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout * 2)

    def _run(self, interval: float) -> None:
        while not self._stop.is_set():
            self._wake.wait(interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.publish_once()
            except Exception:  # the thread must outlive a bad round (a lost database, say)
                _log.exception("publishing the checkpoint to witnesses failed")
            time.sleep(0.05)  # coalesce a burst of writes into one round
