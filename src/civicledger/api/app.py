"""The HTTP edge: one FastAPI app serving the signed command endpoint, the reads and the pages.

``create_app(store, clock, journal_signer)`` builds it; ``civic serve`` runs it on uvicorn. Every
command of every mechanism goes through one endpoint, ``POST /api/commands``, whose body is a
``SignedCommand`` in its wire form and whose headers carry the request signatures
(``civicledger.api.request_signing``). Reads are ``GET /api/...``; pages are served by
``civicledger.web``. Errors are problem+json (``civicledger.api.problems``); a bad request never
gets a 500. See docs/api.md.
"""

from __future__ import annotations

import asyncio
import logging
import time as _time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Annotated, Literal

from fastapi import FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from civicledger.adapters.crypto import Ed25519Verifier
from civicledger.adapters.headmark import RollbackGuard
from civicledger.api import governance, proposals, reads
from civicledger.api.batching import BatchObserver, CommandBatcher
from civicledger.api.checkpoints import CheckpointPublisher
from civicledger.api.kit import READ_ERRORS, AccountPath, After, Limit, Reads
from civicledger.api.observe import REQUEST_ID, REQUEST_ID_HEADER, Metrics, ObserveRequests, readiness
from civicledger.api.problems import PROBLEM_MEDIA_TYPE, from_error, problem, responses
from civicledger.api.request_signing import (
    SIGNATURE_HEADERS,
    check_freshness,
    keys_in_payload,
    parse_headers,
    request_bytes,
)
from civicledger.kernel.canonical import ONE_MEANING, JSONObject, parse_json, refuse_nul
from civicledger.kernel.engine import HARD_MAX_COMMAND_BYTES, Engine, EngineView, Receipt
from civicledger.kernel.errors import (
    AuthorityError,
    CivicLedgerError,
    InvalidInputError,
    NotFoundError,
    RuleViolationError,
)
from civicledger.kernel.journal import SignedCommand
from civicledger.kernel.messages import COMMANDS
from civicledger.kernel.personal import MAX_TEXT, PersonalItem
from civicledger.kernel.policy import Policy
from civicledger.kernel.ports import Clock, Signer, Store
from civicledger.kernel.registry import installed, load
from civicledger.kernel.tiles import parse_tile_path

COMMANDS_PATH = "/api/commands"
ENVELOPE_BYTES = 32 * 1024
MAX_PERSONAL_ITEMS = 8
PERSONAL_BYTES = MAX_PERSONAL_ITEMS * (6 * MAX_TEXT + 256)
"""Room for the personal data beside a command (IN11): text escaped as JSON takes up to 6 bytes a character."""
"""Room for the envelope around a payload (id, type, up to 64 signatures) in a command body."""
_log = logging.getLogger("civicledger.api")
POLICY_TTL = 2.0
"""Seconds a worker keeps the policy before reading it again (a policy change is a journal entry)."""

COMMAND_BODY_SCHEMA: JSONObject = {
    "type": "object",
    "required": ["id", "type", "payload", "signed_at", "signatures"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string", "pattern": "^[A-Za-z0-9._:~-]{1,128}$"},
        "type": {"type": "string", "description": "a registered command type, see GET /api/command-types"},
        "payload": {"type": "object"},
        "signed_at": {"type": "integer"},
        "signatures": {
            "type": "array",
            "maxItems": 64,
            "items": {
                "type": "object",
                "required": ["account", "signature"],
                "properties": {
                    "account": {"type": "string", "pattern": "^ac[0-9a-f]{32}$"},
                    "signature": {"type": "string", "pattern": "^[0-9a-f]{128}$"},
                },
            },
        },
        "personal": {
            "type": "array",
            "maxItems": MAX_PERSONAL_ITEMS,
            "description": "IN11: personal data the payload names by pd: reference, stored off the journal "
            "(never part of the command or its signatures; covered by the request signatures)",
            "items": {
                "type": "object",
                "required": ["ref", "salt", "subject", "text"],
                "additionalProperties": False,
                "properties": {
                    "ref": {"type": "string", "pattern": "^pd:[0-9a-f]{64}$"},
                    "salt": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
                    "subject": {"type": "string", "pattern": "^ac[0-9a-f]{32}$"},
                    "text": {"type": "string", "maxLength": MAX_TEXT},
                },
            },
        },
    },
}
RECEIPT_SCHEMA: JSONObject = {
    "type": "object",
    "required": ["command_id", "seq", "time", "events", "result", "replayed"],
    "properties": {
        "command_id": {"type": "string"},
        "seq": {"type": "integer"},
        "time": {"type": "integer"},
        "events": {"type": "array", "items": {"type": "object"}},
        "result": {"type": "object"},
        "replayed": {"type": "boolean"},
    },
}


class BodyTooLargeError(InvalidInputError):
    """A request body over the limit (HTTP 413)."""


@dataclass
class ServiceState:
    """What one app instance keeps between requests: the engine (which owns the key and policy
    caches), when it last looked at the store, and the writer thread."""

    store: Store
    clock: Clock
    engine: Engine
    viewed_at: float = -1.0
    guard: RollbackGuard | None = None
    observe: BatchObserver | None = None
    batcher: CommandBatcher = field(init=False)

    def __post_init__(self) -> None:
        self.batcher = CommandBatcher(self.engine, self.guard, self.observe)

    def refresh(self, force: bool = False) -> None:
        """Have the engine read the economy and policy again at most every ``POLICY_TTL`` seconds
        (other workers may have committed); between reads its own commits keep them current."""
        if force or _time.monotonic() - self.viewed_at >= POLICY_TTL:
            self.engine.view(refresh=True)
            self.viewed_at = _time.monotonic()

    @property
    def view(self) -> EngineView:
        return self.engine.view()

    @property
    def policy(self) -> Policy:
        return self.view.policy

    @property
    def economy_id(self) -> str | None:
        economy = self.view.economy
        return economy.id if economy is not None else None

    def now(self) -> int:
        """The server's time: the clock, never before the journal's last entry (X4)."""
        return max(self.clock.now(), self.view.head_time)


def create_app(
    store: Store,
    clock: Clock,
    journal_signer: Signer | None,
    *,
    pages: bool = True,
    rollback_guard: RollbackGuard | None = None,
    checkpoints: CheckpointPublisher | None = None,
    read_only: bool = False,
) -> FastAPI:
    """The API (and, unless ``pages=False``, the web pages) over one store; ``checkpoints`` signs
    the C2SP checkpoint and asks witnesses to cosign it (by default: the journal key, no witnesses);
    with ``rollback_guard``, writes are refused while the store is behind a signed tree head known
    elsewhere (IN12); ``read_only`` answers only GET, HEAD and OPTIONS (``civic serve --read-only``,
    behind a proxy that sends the other methods to the writer: docs/operations.md)."""
    app = FastAPI(
        title="civicledger",
        version="1",
        description="One signed public journal for Circles, social credits, Gears and Creditism. See docs/api.md.",
        docs_url=None,  # FastAPI's Swagger UI loads from a CDN: the web pages serve it at /docs from this server
        redoc_url=None,
    )
    engine = Engine(store, clock, Ed25519Verifier(), journal_signer)
    publisher = checkpoints
    if publisher is None and journal_signer is not None:
        publisher = CheckpointPublisher(store, journal_signer, None)
    metrics = Metrics(store, publisher, rollback_guard)
    app.state.metrics = metrics
    service = ServiceState(store, clock, engine, guard=rollback_guard, observe=metrics.batch)
    app.state.service = service
    verifier = Ed25519Verifier()

    # Errors -------------------------------------------------------------------------------------

    @app.exception_handler(CivicLedgerError)
    async def _civic_error(request: Request, error: CivicLedgerError) -> JSONResponse:
        return from_error(error, 413 if isinstance(error, BodyTooLargeError) else None)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return problem(422, "Invalid input", f"{where}: {first.get('msg', 'invalid')}", "X5", "/problems/invalid-input")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        detail = str(error.detail)
        if error.status_code == 404:
            detail = f"no route {request.url.path}"
        elif error.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}"
        try:
            title = HTTPStatus(error.status_code).phrase
        except ValueError:
            title = "HTTP error"
        return problem(error.status_code, title, detail, "X5", f"/problems/http-{error.status_code}")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        answer = problem(500, "Internal error", f"{type(error).__name__}", "X", "/problems/internal")
        if REQUEST_ID.get():  # answered outside the request middleware: echo the id here
            answer.headers[REQUEST_ID_HEADER] = REQUEST_ID.get()
        return answer

    # Commands -----------------------------------------------------------------------------------

    @app.post(
        COMMANDS_PATH,
        tags=["commands"],
        summary="Execute one signed command of any mechanism",
        response_model=None,
        responses={
            200: {
                "description": "the receipt (replayed: true for a retry of a known command id)",
                "content": {"application/json": {"schema": RECEIPT_SCHEMA}},
            },
            **responses(403, 404, 409, 413, 422, 503),
        },
        openapi_extra={
            "requestBody": {"required": True, "content": {"application/json": {"schema": COMMAND_BODY_SCHEMA}}},
            "parameters": SIGNATURE_HEADERS,
        },
    )
    async def post_command(request: Request) -> JSONResponse:
        service.refresh()
        limit = min(service.policy.journal.max_command_bytes + ENVELOPE_BYTES + PERSONAL_BYTES, HARD_MAX_COMMAND_BYTES)
        body = await _read_capped(request, limit)
        # The checks are a few hundred microseconds of CPU: cheaper here than a hop to a thread.
        pending = _check_command(service, verifier, request, body)
        receipt = await asyncio.wrap_future(pending)
        if publisher is not None:
            publisher.notify()  # witnesses are asked after the write, by another thread (IN12)
        return JSONResponse(receipt.to_wire())

    async def post_command_direct(request: Request) -> Response:
        """``post_command`` without the router and its middleware (the write path's hot loop); the
        same handler, so the same answers, and the same problem+json for every refusal."""
        try:
            return await post_command(request)
        except CivicLedgerError as error:
            return await _civic_error(request, error)
        except Exception as error:
            _log.exception("unexpected error on %s %s", request.method, request.url.path)
            return await _unexpected(request, error)

    app.add_middleware(_LimitSize, commands=post_command_direct)
    if read_only:
        app.add_middleware(_ReadOnly)
    # Around the router and the command fast path: every request gets its id and is counted.
    app.add_middleware(ObserveRequests, metrics=metrics, fast_routes=frozenset({COMMANDS_PATH}))

    # Watching (docs/operations.md): not in the API's schema, not under /api --------------------

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> Response:
        """The process answers; nothing else is touched (a liveness probe)."""
        return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})

    @app.get("/readyz", include_in_schema=False)
    def readyz() -> Response:
        """The server can do its work, or a 503 naming why (a readiness probe)."""
        reason = readiness(store, publisher, rollback_guard)
        if reason is not None:
            return problem(503, "Not ready", reason[1], reason[0], "/problems/not-ready")
        return JSONResponse({"status": "ready"}, headers={"Cache-Control": "no-store"})

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics() -> Response:
        """Prometheus text format 0.0.4 (every Prometheus reads it); the journal gauges are read now."""
        text = metrics.exposition()
        return Response(text, media_type=CONTENT_TYPE_PLAIN_0_0_4, headers={"Cache-Control": "no-store"})

    proposals.install(app, service)  # council decisions collecting co-signatures (X6)

    # Reads --------------------------------------------------------------------------------------

    @app.get("/api/economy", tags=["reads"], responses=READ_ERRORS)
    def economy() -> Mapping[str, object]:
        """The economy's id, name, journal key, entry count, newest signed tree head and the server's time."""
        service.refresh()
        return reads.economy(store, service.now())

    @app.get("/api/policy", tags=["reads"], responses=READ_ERRORS)
    def policy() -> Mapping[str, object]:
        """The policy in force, one row per value, and every change of it with what it changed (X7)."""
        return governance.policy(store)

    @app.get("/api/command-types", tags=["reads"])
    def command_types() -> Mapping[str, object]:
        """Every registered command type with its payload fields (the generic endpoint accepts them all)."""
        import dataclasses

        return {
            "items": [
                {
                    "type": name,
                    "fields": [f.name for f in dataclasses.fields(cls)],  # type: ignore[arg-type]
                    # IN11: fields whose text travels beside the command, and whom it is about
                    "personal": list(getattr(cls, "PERSONAL_FIELDS", ())),
                    "personal_subject": getattr(cls, "PERSONAL_SUBJECT", ""),
                    "doc": (cls.__doc__ or "").strip(),
                }
                for name, cls in sorted(COMMANDS.items())
            ]
        }

    @app.get("/api/accounts", tags=["reads"], responses=READ_ERRORS)
    def accounts(after: After = None, limit: Limit = 50) -> Mapping[str, object]:
        return reads.accounts(store, after, limit)

    @app.get("/api/accounts/search", tags=["reads"], responses=READ_ERRORS)
    def search_accounts(
        q: Annotated[str, Query(max_length=100, description="part of a name, or the start of an account id")],
        limit: Annotated[int, Query(ge=1, le=50)] = 20,
    ) -> Mapping[str, object]:
        """Accounts by name or id, as ``/api/accounts`` shows them (IN11: names from the off-journal store)."""
        return {"query": q, "items": reads.search_accounts(store, q, limit)}

    @app.get("/api/accounts/{account}", tags=["reads"], responses=READ_ERRORS)
    def account(account: AccountPath) -> Mapping[str, object]:
        return reads.account(store, account, service.now())

    @app.get("/api/accounts/{account}/balances", tags=["reads"], responses=READ_ERRORS)
    def balances(account: AccountPath) -> Mapping[str, object]:
        return reads.balances(store, account, service.now())

    @app.get("/api/accounts/{account}/holdings", tags=["reads"], responses=READ_ERRORS)
    def holdings(account: AccountPath) -> Mapping[str, object]:
        """What the account holds, each amount exact (``units``) and formatted in major units (``text``, X3)."""
        return {"account": account, "items": reads.holdings(store, account, service.now())}

    @app.get("/api/accounts/{account}/history", tags=["reads"], responses=READ_ERRORS)
    def history(
        account: AccountPath,
        before: Annotated[int | None, Query(ge=0, description="the `next` of the previous page")] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> Mapping[str, object]:
        """The account's entries, newest first, each with what it moved into or out of the account."""
        return reads.account_history(store, account, before, limit)

    @app.get("/api/currencies", tags=["reads"], responses=READ_ERRORS)
    def currencies(after: After = None, limit: Limit = 50) -> Mapping[str, object]:
        return reads.currencies(store, after, limit)

    @app.get("/api/currencies/{currency}/holders", tags=["reads"], responses=READ_ERRORS)
    def holders(
        currency: Annotated[str, Path(max_length=64)], after: After = None, limit: Limit = 50
    ) -> Mapping[str, object]:
        return reads.holders(store, currency, after, limit)

    reads_context = Reads(store, service.now)
    for mechanism in installed():
        if mechanism.api is not None:
            build = load(mechanism.api)
            if not callable(build):
                raise TypeError(f"{mechanism.api} is not a router factory")
            app.include_router(build(reads_context))

    @app.get("/api/journal", tags=["journal"], responses=READ_ERRORS)
    def journal(
        start: Annotated[int, Query(ge=0, le=2**53)] = 0,
        limit: Limit = 50,
        order: Annotated[Literal["asc", "desc"], Query()] = "asc",
        before: Annotated[int | None, Query(ge=0, le=2**53)] = None,
        account: Annotated[str | None, Query(max_length=200)] = None,
        command_type: Annotated[str | None, Query(alias="type", max_length=100)] = None,
        since: Annotated[int | None, Query(ge=0, le=2**53)] = None,
        until: Annotated[int | None, Query(ge=0, le=2**53)] = None,
    ) -> Mapping[str, object]:
        """Entries, each with its leaf hash and the tree head after it: oldest first from ``start``,
        or with ``order=desc`` newest first from the entry before ``before`` (default: the newest);
        ``next`` is the next page's ``start`` (or ``before``). Filters: ``account`` (an id or a name:
        entries it signed or that name it), ``type`` (a command type, or a family such as
        ``credits.``), ``since``/``until`` (entry times in seconds, inclusive). A filtered page
        examines a bounded number of entries, so it may be short while ``next`` is set."""
        where = reads.JournalFilter(
            accounts=reads.accounts_named(store, account) if account else None,
            command_type=command_type or "",
            since=since,
            until=until,
        )
        if order == "desc":
            return reads.journal_entries(
                store, 0, limit, before=reads.NEWEST if before is None else before, where=where
            )
        return reads.journal_entries(store, start, limit, where=where)

    @app.get("/api/journal/{seq}", tags=["journal"], responses=READ_ERRORS)
    async def journal_entry(
        seq: Annotated[int, Path(ge=0, le=2**53)], size: Annotated[int | None, Query(ge=1, le=2**53)] = None
    ) -> Mapping[str, object]:
        """An entry with its inclusion proof against the newest signed tree head (or one of ``size``)."""
        return await reads.served_inclusion(store, seq, size)

    @app.get("/api/tree-heads/latest", tags=["journal"], responses=READ_ERRORS)
    def tree_head() -> Mapping[str, object]:
        return reads.latest_head(store)

    @app.get("/api/tree-heads", tags=["journal"], responses=READ_ERRORS)
    def tree_heads(
        start: Annotated[int, Query(ge=0, le=2**53)] = 0,
        limit: Annotated[int, Query(ge=1, le=reads.MAX_HEADS)] = 256,
    ) -> Mapping[str, object]:
        """The tree heads the journal key signed after entries [start, start + limit): a monitor that
        re-executes the journal from its tiles checks them and needs them for the draws (IN6)."""
        return reads.signed_heads(store, start, limit)

    @app.get("/api/tree-heads/consistency", tags=["journal"], responses=READ_ERRORS)
    def consistency(
        first: Annotated[int, Query(ge=1, le=2**53)], second: Annotated[int | None, Query(ge=1, le=2**53)] = None
    ) -> Mapping[str, object]:
        """A proof that the signed tree of ``first`` entries is a prefix of a later signed tree."""
        return reads.consistency(store, first, second)

    # Checkpoints and witnesses (C2SP tlog-checkpoint, tlog-witness; IN12) ---------------------

    app.state.checkpoints = publisher
    if publisher is not None:
        app.router.on_startup.append(publisher.start)
        app.router.on_shutdown.append(publisher.stop)

    @app.get("/checkpoint", tags=["journal"], response_class=PlainTextResponse, responses=READ_ERRORS)
    def checkpoint() -> Response:
        """The newest tree head as a C2SP checkpoint signed by the journal key, with the cosignatures
        of the witnesses that gave one for it."""
        text = publisher.current() if publisher is not None else None
        if text is None:
            raise NotFoundError("the journal has no signed checkpoint yet", rule="X2")
        return PlainTextResponse(text, headers={"Cache-Control": "public, max-age=5"})

    # -------------------------------------------------------------------------------------------

    @app.get("/tile/{level}/{rest:path}", tags=["journal"], include_in_schema=False)
    def tile(level: str, rest: str) -> Response:
        """A C2SP tlog-tiles hash tile (``tile/<L>/<N>[.p/<W>]``) or entry bundle
        (``tile/entries/<N>[.p/<W>]``) of the signed journal; see docs/journal.md."""
        ref = parse_tile_path(level, rest)
        if ref is None:
            raise NotFoundError(f"tile/{level}/{rest} is not a tile's path", rule="X2")
        cache = "public, max-age=31536000, immutable" if ref.full else "public, max-age=5"
        return Response(reads.tile(store, ref), media_type="application/octet-stream", headers={"Cache-Control": cache})

    if pages:
        from civicledger.web.pages import install

        install(app, service)
    return app


class _LimitSize:
    """Refuse a declared body over the hard limit before reading it (a plain ASGI middleware: the
    ``@app.middleware`` kind costs a task and a stream copy per request); send ``POST /api/commands``
    straight to its handler (the router and FastAPI's middleware cost about 40 µs a request)."""

    def __init__(self, app: ASGIApp, commands: Callable[[Request], Awaitable[Response]] | None = None) -> None:
        self.app = app
        self.commands = commands

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"content-length" and (not value.isdigit() or int(value) > HARD_MAX_COMMAND_BYTES):
                    response = problem(
                        413,
                        "Body too large",
                        f"a request body has at most {HARD_MAX_COMMAND_BYTES} bytes",
                        "X5",
                        "/problems/body-too-large",
                    )
                    await response(scope, receive, send)
                    return
            if (
                self.commands is not None
                and scope["path"] == COMMANDS_PATH
                and scope["method"] == "POST"
                and not scope.get("root_path")
            ):
                answer = await self.commands(Request(scope, receive))
                await answer(scope, receive, send)
                return
        await self.app(scope, receive, send)


class _ReadOnly:
    """A read-only server's refusal of every method that may write (405, before any handler)."""

    SAFE = frozenset({"GET", "HEAD", "OPTIONS"})

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in self.SAFE:
            response = problem(
                405,
                "Method Not Allowed",
                f"this server only reads (civic serve --read-only): send {scope['method']} to the writer",
                "X5",
                "/problems/http-405",
            )
            response.headers["Allow"] = "GET, HEAD, OPTIONS"
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def _read_capped(request: Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BodyTooLargeError(f"a command body has at most {limit} bytes", rule="X5")
            chunks.append(chunk)
    except ClientDisconnect as e:  # cut off at the request deadline (api/limits.py) or gone: nobody to answer
        raise InvalidInputError("the client closed the connection before its body arrived", rule="X5") from e
    return b"".join(chunks)


def _parse_body(body: bytes) -> tuple[SignedCommand, tuple[PersonalItem, ...]]:
    """The command a body carries, with one reading only (IN10: no byte order mark, duplicate key,
    NaN, or nesting beyond the canonical form's depth); U+0000 is refused in ``_check_command``,
    under the rule version in force. Beside it, the personal data its payload names (IN11)."""
    data = parse_json(body, nul=False)
    personal: tuple[PersonalItem, ...] = ()
    if isinstance(data, dict) and "personal" in data:
        data = dict(data)
        raw = data.pop("personal")
        if not isinstance(raw, list) or len(raw) > MAX_PERSONAL_ITEMS:
            raise InvalidInputError(f"personal is a list of at most {MAX_PERSONAL_ITEMS} items", rule="IN11")
        personal = tuple(PersonalItem.from_wire(item) for item in raw)
    try:
        command = SignedCommand.from_wire(data)  # walks the payload: no floats, canonical form exists
    except UnicodeEncodeError as e:  # a lone surrogate: no canonical UTF-8 form exists
        raise InvalidInputError("strings must be valid Unicode (no lone surrogates)", rule="X5") from e
    if command.type not in COMMANDS:
        raise InvalidInputError(f"unknown command type {command.type!r}", rule="X5")
    return command, personal


def _check_command(service: ServiceState, verifier: Ed25519Verifier, request: Request, body: bytes) -> Future[Receipt]:
    """Check the body and the request signatures, then queue the command for the writer, which
    spends the nonces and executes it (``civicledger.api.batching``): refusals write nothing."""
    command, personal = _parse_body(body)
    policy = service.policy
    if len(command.payload_bytes()) > policy.journal.max_command_bytes:
        raise BodyTooLargeError(f"a command payload has at most {policy.journal.max_command_bytes} bytes", rule="X5")
    if service.economy_id is None:
        service.refresh(force=True)
        if service.economy_id is None:
            raise RuleViolationError("this store holds no economy yet; create one with `civic init`", rule="X1")
    economy = service.view.economy
    if economy is not None and economy.rules_at(service.now()) >= ONE_MEANING:
        refuse_nul(command.payload)  # IN10, from rule version 2 on (the engine refuses it again)
    signed = parse_headers(request.headers)
    journal = policy.journal
    try:
        check_freshness(signed.timestamp, service.now(), journal.signature_max_age, journal.max_clock_skew)
    except AuthorityError:
        service.refresh(force=True)  # another worker may have moved the journal's time on
        check_freshness(signed.timestamp, service.now(), journal.signature_max_age, journal.max_clock_skew)
    message = request_bytes(service.economy_id, request.method, request.url.path, body, signed.timestamp, signed.nonce)
    introduced = keys_in_payload(command.payload)
    for account, signature in sorted(signed.signatures.items()):
        key = service.engine.key_of(account, introduced)
        if key is not None and not verifier.verify(key, message, signature):
            key = service.engine.key_of(account, introduced, fresh=True)  # another worker may have rotated it (X9)
        if key is None:
            raise AuthorityError(f"{account} is not an account and cannot sign a request", rule="X6")
        if not verifier.verify(key, message, signature):
            raise AuthorityError(f"the request signature of {account} does not match this request", rule="X6")
    missing = sorted(command.signers() - set(signed.signatures))
    if missing:
        raise AuthorityError(
            f"every account that signed the command must sign the request; missing {', '.join(missing)}", rule="X6"
        )
    now = service.now()
    forget_before = now - journal.signature_max_age - journal.max_clock_skew
    return service.batcher.submit(
        command, signed.nonce, sorted(signed.signatures), now, forget_before, personal, REQUEST_ID.get()
    )


__all__ = ["PROBLEM_MEDIA_TYPE", "ServiceState", "create_app"]
