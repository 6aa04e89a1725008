"""What an operator watches: liveness, readiness, Prometheus metrics and JSON logs with a request id.

- ``/healthz`` says the process answers (it touches nothing else); ``/readyz`` says the server can
  do its work: the database answers, every journal entry is under a signed tree head, the
  checkpoint can be signed, and writes are not refused (IN12). Not ready is a 503 naming why.
- ``/metrics`` is the Prometheus text format from one registry per app (``Metrics``): requests by
  route template and status, write batch sizes and latencies, and, read at scrape time only, the
  journal's size and the witnesses' cosigned sizes. The request path pays a dictionary lookup and
  two increments; nothing on it touches the database for the metrics.
- Every request carries an id: the client's ``X-Request-ID`` if it is a plain token, else a new
  one; it is echoed in the response and in every log line written while the request runs
  (``JsonFormatter`` reads it from a context variable).

Choices and what to alert on: docs/operations.md, "Watching a server".
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import secrets
import threading
import time
import traceback
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from civicledger.kernel.errors import CivicLedgerError
from civicledger.kernel.ports import Store

if TYPE_CHECKING:
    from civicledger.adapters.headmark import RollbackGuard
    from civicledger.api.checkpoints import CheckpointPublisher

REQUEST_ID: ContextVar[str] = ContextVar("civic_request_id", default="")
"""The id of the request being served (empty outside one); the writer thread gets its jobs' ids."""
REQUEST_ID_HEADER = "X-Request-ID"
_ACCEPTED_ID = re.compile(rb"[A-Za-z0-9._:+/=-]{1,128}")
"""An incoming id is kept only if it is a plain token: it goes into logs and a response header."""
_access = logging.getLogger("civicledger.access")

BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64)
"""Buckets of the write batch size histogram (a batch holds at most ``batching.MAX_BATCH`` = 64)."""
SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""Methods counted by name; any other a client sends is counted as ``OTHER`` (bounded labels)."""
UNMATCHED = "<unmatched>"
"""The route label of a request no route took (404s): one label, whatever the path, so that a
scanner cannot grow the metrics without bound."""


_PROCESS = secrets.token_hex(8)
_NEXT = itertools.count(1)
"""A new id is this process's random prefix and a counter: unique across workers and restarts, and
without the system call ``uuid4`` makes (measured: the costliest step of the request middleware).
An id names a request; it is not a secret."""


def request_id_from(value: bytes | None) -> str:
    """The client's id if it is a plain token of at most 128 characters, else a new one (32 hex digits)."""
    if value is not None and _ACCEPTED_ID.fullmatch(value):
        return value.decode("ascii")
    return f"{_PROCESS}{next(_NEXT):016x}"


class Metrics:
    """One app's Prometheus registry (its own, so that several apps in one process never clash)."""

    def __init__(self, store: Store, publisher: CheckpointPublisher | None, guard: RollbackGuard | None) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        r = self.registry
        self.requests = Counter(
            "civic_http_requests",
            "HTTP requests answered, by route template and status",
            ["method", "route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "civic_http_request_duration_seconds",
            "Time to answer a request, by route template",
            ["route"],
            buckets=SECONDS,
            registry=r,
        )
        self.batch_size = Histogram(
            "civic_write_batch_size",
            "Commands executed in one write transaction (group commit)",
            buckets=BATCH_SIZES,
            registry=r,
        )
        self.batch_seconds = Histogram(
            "civic_write_batch_duration_seconds",
            "Time to execute and commit one write batch",
            buckets=SECONDS,
            registry=r,
        )
        self.batch_failures = Counter(
            "civic_write_batch_failures", "Write batches that failed whole (e.g. the database was lost)", registry=r
        )
        ProcessCollector(registry=r)  # process_resident_memory_bytes, process_cpu_seconds_total, ...
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        r.register(JournalCollector(store, publisher, guard))
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._lock = threading.Lock()

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request (cached label children: a lookup, not a label parse)."""
        key = (method, route, status)
        pair = self._children.get(key)
        if pair is None:
            with self._lock:
                pair = (self.requests.labels(method, route, str(status)), self.latency.labels(route))
                self._children[key] = pair
        pair[0].inc()
        pair[1].observe(seconds)

    def batch(self, size: int, seconds: float, failed: bool) -> None:
        self.batch_size.observe(size)
        self.batch_seconds.observe(seconds)
        if failed:
            self.batch_failures.inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class JournalCollector(Collector):
    """Gauges read from the store and the witness publisher when scraped, never per request."""

    def __init__(self, store: Store, publisher: CheckpointPublisher | None, guard: RollbackGuard | None) -> None:
        self.store = store
        self.publisher = publisher
        self.guard = guard

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("civic_database_up", "1 if the database answered this scrape's read")
        try:
            with self.store.read() as uow:
                head = uow.journal.head()
                signed = uow.journal.latest_signed_head()
        except Exception:  # a lost database is reported, not raised: the scrape still answers
            up.add_metric([], 0)
            yield up
            yield from self._witnesses(None)
            return
        up.add_metric([], 1)
        yield up
        yield GaugeMetricFamily("civic_journal_entries", "Entries in the journal", value=head.size)
        yield GaugeMetricFamily(
            "civic_journal_signed_entries", "Size of the newest signed tree head", value=signed.size if signed else 0
        )
        yield GaugeMetricFamily(
            "civic_journal_last_entry_timestamp_seconds", "Time of the newest entry (journal time)", value=head.time
        )
        if self.guard is not None:
            yield GaugeMetricFamily(
                "civic_writes_allowed",
                "0 while writes are refused because the database is behind a signed head (IN12)",
                value=1 if self.guard.writable else 0,
            )
        yield from self._witnesses(signed.size if signed else None)

    def _witnesses(self, size: int | None) -> Iterator[Metric]:
        if self.publisher is None or not self.publisher.witnesses:
            return
        cosigned = GaugeMetricFamily(
            "civic_witness_cosigned_entries",
            "Size of the newest checkpoint this witness cosigned (or holds)",
            labels=["witness"],
        )
        lag = GaugeMetricFamily(
            "civic_witness_lag_entries", "Signed entries not yet cosigned by this witness", labels=["witness"]
        )
        when = GaugeMetricFamily(
            "civic_witness_last_cosignature_timestamp_seconds",
            "When this witness last gave a cosignature to this server (0: never since start)",
            labels=["witness"],
        )
        sizes, times = self.publisher.witness_progress()
        for witness in self.publisher.witnesses:
            name = witness.key.name
            held = sizes.get(name, 0)
            cosigned.add_metric([name], held)
            when.add_metric([name], times.get(name, 0.0))
            if size is not None:
                lag.add_metric([name], max(0, size - held))
        yield cosigned
        yield lag
        yield when


def readiness(
    store: Store, publisher: CheckpointPublisher | None, guard: RollbackGuard | None
) -> tuple[str, str] | None:
    """Why the server is not ready, as (rule, reason), or None when it is: the database answers, the
    journal holds an economy, every entry is under a signed tree head that the publisher signs as a
    checkpoint (X2), and writes are not refused as behind a known signed head (IN12)."""
    try:
        with store.read() as uow:
            head = uow.journal.head()
            signed = uow.journal.latest_signed_head()
    except CivicLedgerError as e:
        return "X2", f"the database cannot be read: {e.message}"
    except Exception as e:  # anything the adapter did not translate is still "not ready"
        return "X2", f"the database cannot be read: {type(e).__name__}"
    if head.size == 0:
        return "X1", "this store holds no economy yet; create one with `civic init`"
    if signed is None or signed.size != head.size:
        covered = signed.size if signed else 0
        return "X2", f"the journal has {head.size} entries but its newest signed tree head covers {covered}"
    if publisher is None:
        return "X2", "this server has no journal key to sign its checkpoint with"
    try:
        if publisher.note() is None:
            return "X2", "the checkpoint cannot be signed"
    except Exception as e:
        return "X2", f"the checkpoint cannot be signed: {type(e).__name__}"
    if guard is not None:
        try:
            guard.check()  # reads the database only while it has not yet been found up to date
        except CivicLedgerError as e:
            return "IN12", f"writes are refused: {e.message}"
    return None


class ObserveRequests:
    """ASGI middleware around the router and the command fast path: gives each request its id
    (header, context variable), then counts it by route template and status and writes one access
    log line (at INFO) when it is answered."""

    def __init__(self, app: ASGIApp, metrics: Metrics, fast_routes: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.metrics = metrics
        self.fast_routes = fast_routes  # paths answered before the router (their route is their path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value
                break
        rid = request_id_from(incoming)
        REQUEST_ID.set(rid)  # this request's task owns this context: nothing to reset
        echoed = (b"x-request-id", rid.encode("ascii"))
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", ()))
                if not any(name.lower() == b"x-request-id" for name, _ in headers):  # a 500 may carry it already
                    headers.append(echoed)
                message["headers"] = headers
            await send(message)

        t0 = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        except BaseException:
            status = status or 500
            raise
        finally:
            elapsed = time.perf_counter() - t0
            route = _route_of(scope, self.fast_routes)
            method = scope["method"] if scope["method"] in METHODS else "OTHER"
            self.metrics.request(method, route, status, elapsed)
            if _access.isEnabledFor(logging.INFO):
                _access.info(
                    "%s %s %d",
                    scope["method"],
                    scope["path"],
                    status,
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                    },
                )


def _route_of(scope: Scope, fast: frozenset[str]) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    if scope["path"] in fast:
        return str(scope["path"])
    if "endpoint" in scope:  # a mounted app (the static files): its mount point, one label for all its paths
        return f"{scope.get('root_path', '')}/{{path}}"
    return UNMATCHED


_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC), level, logger, message, the request id when there is
    one, any ``extra`` fields, and the traceback of an exception."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None) or REQUEST_ID.get()
        if rid:
            line["request_id"] = rid
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and key not in line:
                line[key] = value if isinstance(value, (str, int, float, bool, list)) or value is None else str(value)
        if record.exc_info:
            line["exception"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return json.dumps(line, ensure_ascii=False)


def log_config(level: str = "info") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` (uvicorn's ``log_config``): uvicorn's and civicledger's
    loggers write JSON lines to stderr; uvicorn's own access log is replaced by ``civicledger.access``,
    which carries the request id."""
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            "civicledger": {"handlers": ["stderr"], "level": level, "propagate": False},
        },
    }


__all__ = [
    "REQUEST_ID",
    "REQUEST_ID_HEADER",
    "JsonFormatter",
    "Metrics",
    "ObserveRequests",
    "log_config",
    "readiness",
    "request_id_from",
]
