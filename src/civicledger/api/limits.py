"""Time and size limits on what a client sends before the app sees a request (issue 15, part 6).

uvicorn reads a request's headers before it calls the app, so nothing in the app can stop a client
that sends them a byte every half second (a "slow loris": each such client holds a connection and
a slot of ``limit_concurrency`` for as long as it likes), nor one that sends a megabyte of headers.
``guarded_protocol`` is uvicorn's own HTTP protocol (httptools) with three checks added:

- a deadline: a request's headers and body must have arrived within ``deadline`` seconds of its
  first byte, or the connection is closed (with ``408 Request Timeout`` if the app has not started
  on it);
- at most ``max_headers`` header lines and ``max_header_bytes`` bytes of request line and headers,
  or ``431 Request Header Fields Too Large`` and the connection is closed.

Bodies are bounded in the app (``_LimitSize`` and ``_read_capped`` in ``civicledger.api.app``: 413).
A slow app is not the client's fault: once the body is in, the deadline no longer applies.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


@dataclass(frozen=True)
class RequestLimits:
    """What ``civic serve`` enforces per request; settable from the environment (``CIVIC_REQUEST_*``)."""

    deadline: float = 10.0
    """Seconds from a request's first byte to its last (headers and body)."""
    max_headers: int = 100
    max_header_bytes: int = 16 * 1024
    """Bytes of the request line and headers together."""
    keep_alive: float = 5.0
    """Seconds an idle kept-alive connection stays open (uvicorn's ``timeout_keep_alive``)."""

    @classmethod
    def from_environment(cls) -> RequestLimits:
        """``CIVIC_REQUEST_DEADLINE``, ``CIVIC_REQUEST_MAX_HEADERS``, ``CIVIC_REQUEST_MAX_HEADER_BYTES``."""
        from civicledger.settings import Settings

        settings = Settings()
        return cls(settings.request_deadline, settings.request_max_headers, settings.request_max_header_bytes)


_REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


def _plain(status: int, message: str) -> bytes:
    body = message.encode("ascii")
    return b"".join(
        [
            b"HTTP/1.1 %d %s\r\n" % (status, _REASONS[status]),
            b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
            body,
        ]
    )


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a request deadline and bounded headers (``RequestLimits``)."""

    limits = RequestLimits.from_environment()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._in_headers = False
        self._header_bytes = 0
        self._header_count = 0
        self._raw_bytes = 0
        self._too_large = False

    # The request's life: first byte, headers, last byte -------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_headers = True
        self._header_bytes = self._header_count = self._raw_bytes = 0
        self._cancel_deadline()
        self._deadline = self.loop.call_later(self.limits.deadline, self._too_slow)

    def on_url(self, url: bytes) -> None:
        self._count(len(url), 0)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4, 1)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_headers = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._cancel_deadline()
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._too_large or self.transport.is_closing():
            return
        super().data_received(data)
        if self._in_headers and not self.transport.is_closing():
            # httptools hands over a header only once it is whole: count the raw bytes of an
            # unfinished head too, so a single endless header line is stopped as it grows.
            self._raw_bytes += len(data)
            if self._raw_bytes > self.limits.max_header_bytes:
                self._refuse_headers()

    # Limits -----------------------------------------------------------------------------------------

    def _count(self, size: int, lines: int) -> None:
        self._header_count += lines
        self._header_bytes += size
        if self._header_count > self.limits.max_headers or self._header_bytes > self.limits.max_header_bytes:
            self._too_large = True
            raise ValueError("request headers too large")  # stops the parser; answered in send_400_response

    def send_400_response(self, msg: str) -> None:
        if self._too_large:
            self._too_large = False
            self._refuse_headers()
            return
        super().send_400_response(msg)

    def _refuse_headers(self) -> None:
        self._too_large = True
        self._cancel_deadline()
        limits = self.limits
        message = f"request headers are limited to {limits.max_headers} lines and {limits.max_header_bytes} bytes"
        self.transport.write(_plain(431, message))
        self.transport.close()

    def _too_slow(self) -> None:
        """The deadline passed before the request was whole: the client is cut off."""
        self._deadline = None
        if self.transport.is_closing():
            return
        if self._in_headers or self.cycle is None:  # the app has not seen it: answer for it
            self.transport.write(_plain(408, f"a request must arrive within {self.limits.deadline:g} seconds"))
        self.transport.close()  # a body cut short: the app reads a disconnect

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None


def guarded_protocol(limits: RequestLimits) -> type[GuardedHttpToolsProtocol]:
    """The protocol class to give uvicorn as ``http=``, with these limits."""
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,), {"limits": limits})


def server_options(limits: RequestLimits | None = None) -> dict[str, Any]:
    """uvicorn options for serving civicledger: the guarded protocol and an idle timeout.

    Without ``limits``, the protocol is named by import path and each worker process reads the
    limits from the environment (a class made here could not be sent to worker processes)."""
    http: str | type[GuardedHttpToolsProtocol] = f"{__name__}:GuardedHttpToolsProtocol"
    if limits is None:
        limits = GuardedHttpToolsProtocol.limits
    else:
        http = guarded_protocol(limits)
    return {
        "http": http,
        "timeout_keep_alive": limits.keep_alive,
        "h11_max_incomplete_event_size": limits.max_header_bytes,
    }
