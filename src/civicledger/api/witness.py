"""A C2SP ``tlog-witness``: ``POST /add-checkpoint`` cosigns a log's checkpoint only when a
consistency proof shows it extends the last checkpoint this witness cosigned for that log (IN12).

A log that showed one history to some and another to others would need the witness to cosign both;
no consistency proof joins two different roots, so the second is refused (422, or 409 when the log
claims a size the witness is not at) and clients that require the cosignature refuse it too.

Answers, as the specification has them: 200 with the cosignature line; 400 malformed; 403 no valid
signature by the log's key; 404 unknown log; 409 ``old`` is not the size the witness holds (the
body, ``text/x.tlog.size``, says which); 422 the proof does not hold.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response

from civicledger.adapters.crypto import Ed25519Verifier
from civicledger.adapters.witness_state import WitnessState
from civicledger.kernel import merkle
from civicledger.kernel.checkpoint import (
    MAX_NOTE_BYTES,
    AddCheckpoint,
    Checkpoint,
    VerifierKey,
    cosign,
    parse_note,
    verified_by,
)
from civicledger.kernel.errors import InvalidInputError, NotFoundError
from civicledger.kernel.ports import Signer

MAX_BODY = MAX_NOTE_BYTES + 64 * 64
SIZE_TYPE = "text/x.tlog.size"


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"


class Witness:
    """The decision and its state: one instance per witness key."""

    def __init__(self, state: WitnessState, name: str, signer: Signer, clock: Callable[[], int]) -> None:
        self.state = state
        self.name = name
        self.signer = signer
        self.clock = clock
        self.verifier = Ed25519Verifier()

    def add_checkpoint(self, body: bytes) -> Answer:
        try:
            request = AddCheckpoint.parse(body)
            note = parse_note(request.note)
            checkpoint = Checkpoint.parse(note.text)
        except InvalidInputError as e:
            return Answer(400, f"{e}\n")
        log = self.state.log(checkpoint.origin)
        if log is None:
            return Answer(404, f"this witness does not watch {checkpoint.origin!r}\n")
        key = VerifierKey.parse(log.vkey)
        if not verified_by(note, key, self.verifier):
            return Answer(403, "the checkpoint carries no valid signature by the log's key\n")
        if request.old_size > checkpoint.size:
            return Answer(400, f"old size {request.old_size} is larger than the checkpoint's {checkpoint.size}\n")
        if request.old_size != log.size:
            return Answer(409, f"{log.size}\n", SIZE_TYPE)
        if not self._consistent(log.size, log.root, checkpoint, request.proof):
            return Answer(422, "the consistency proof does not show the checkpoint extends the last one cosigned\n")
        if (checkpoint.size, checkpoint.root) != (log.size, log.root) and not self.state.advance(
            checkpoint.origin, log, checkpoint.size, checkpoint.root
        ):
            latest = self.state.log(checkpoint.origin)
            return Answer(409, f"{latest.size if latest else 0}\n", SIZE_TYPE)
        return Answer(200, cosign(note.text, self.name, self.signer, self.clock()).line())

    @staticmethod
    def _consistent(size: int, root: bytes, checkpoint: Checkpoint, proof: tuple[bytes, ...]) -> bool:
        if size == 0:
            return not proof  # nothing to be consistent with: the first checkpoint is trusted on first use
        if checkpoint.size == size:
            return not proof and checkpoint.root == root  # one size, one root: never two
        return merkle.verify_consistency(size, checkpoint.size, root, checkpoint.root, list(proof))


def create_witness_app(witness: Witness) -> FastAPI:
    app = FastAPI(title="civicledger witness", version="1", docs_url=None, redoc_url=None)

    @app.post("/add-checkpoint")
    async def add_checkpoint(request: Request) -> Response:
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
            return PlainTextResponse("the request is too large\n", status_code=413)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return PlainTextResponse("the request is too large\n", status_code=413)
        answer = witness.add_checkpoint(body)
        # The content type as given: Starlette would add a charset to the bare text/x.tlog.size.
        return Response(answer.body.encode(), status_code=answer.status, headers={"Content-Type": answer.content_type})

    @app.get("/")
    def about() -> Response:
        lines = [
            f"civicledger witness {witness.name}",
            *(f"log {log.origin} {log.size}" for log in witness.state.logs()),
        ]
        return PlainTextResponse("\n".join(lines) + "\n")

    return app


def open_witness(url: str, signer: Signer, clock: Callable[[], int]) -> Witness:
    """A witness over its state; its name was fixed by ``civic witness init``."""
    state = WitnessState(url)
    name = state.get_meta("name")
    if name is None:
        raise NotFoundError("this witness has no name yet; run `civic witness init --name ...`", rule="IN12")
    return Witness(state, name, signer, clock)
