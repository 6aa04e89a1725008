"""Slow and greedy clients over a real socket (issue 15, part 6): a client dribbling its request is
cut off at the deadline while others are served; oversized headers get 431; none of it is a 500."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from civicledger.adapters.clock import WallClock
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.api.app import create_app
from civicledger.api.limits import RequestLimits, server_options
from tests.e2e.serving import serve_app

LIMITS = RequestLimits(deadline=2.0, max_headers=20, max_header_bytes=4096, keep_alive=5.0)


@contextmanager
def guarded_server(economy: ScriptedEconomy) -> Iterator[tuple[str, int]]:
    app = create_app(economy.store, WallClock(), economy.key("journal"), pages=False)
    with serve_app(app, **server_options(LIMITS)) as url:
        yield url, int(url.rsplit(":", 1)[1])


def _dribble(port: int, data: bytes, every: float, outcome: dict[str, float | bytes]) -> None:
    """Send ``data`` a byte at a time; record when the server cut the connection and what it said."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.settimeout(every)
        answer = b""
        try:
            for byte in data:
                s.sendall(bytes([byte]))
                try:
                    chunk = s.recv(4096)
                except TimeoutError:
                    continue
                if not chunk:
                    break
                answer += chunk
            s.settimeout(10)
            while chunk := s.recv(4096):
                answer += chunk
        except (ConnectionResetError, BrokenPipeError, TimeoutError):
            pass
        outcome["cut_after"] = time.monotonic() - start
        outcome["answer"] = answer


def _raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        answer = b""
        try:
            while chunk := s.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
        return answer


@pytest.mark.parametrize("phase", ["headers", "body"])
def test_x05_a_slow_loris_is_cut_off_at_the_deadline_while_others_are_served(
    economy: ScriptedEconomy, phase: str
) -> None:
    head = b"GET /api/economy HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200 + b"\r\n\r\n"
    body = b"{" + b" " * 200 + b"}"
    if phase == "body":
        head = b"POST /api/commands HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
    with guarded_server(economy) as (url, port):
        outcomes = [dict[str, float | bytes]() for _ in range(4)]
        if phase == "headers":  # a byte every half second from the first
            lorises = [threading.Thread(target=_dribble, args=(port, head, 0.5, o)) for o in outcomes]
        else:  # the head at once, then the body a byte every half second
            lorises = [threading.Thread(target=_slow_body, args=(port, head, body, o)) for o in outcomes]
        for t in lorises:
            t.start()
        served = 0
        with httpx.Client(base_url=url, timeout=5) as client:
            until = time.monotonic() + 1.5
            while time.monotonic() < until:
                assert client.get("/api/economy").status_code == 200
                served += 1
        for t in lorises:
            t.join(timeout=15)
        assert served > 5
        for o in outcomes:
            assert float(o["cut_after"]) < LIMITS.deadline + 1.5, o  # not the ~100 s the dribble would take
            answer = bytes(o["answer"])
            assert b" 500 " not in answer
            if phase == "headers":
                assert answer.startswith(b"HTTP/1.1 408 "), answer


def _slow_body(port: int, head: bytes, body: bytes, outcome: dict[str, float | bytes]) -> None:
    start = time.monotonic()
    answer = b""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(head)
        s.settimeout(0.5)
        try:
            for byte in body:
                s.sendall(bytes([byte]))
                try:
                    chunk = s.recv(4096)
                except TimeoutError:
                    continue
                if not chunk:
                    break
                answer += chunk
        except (ConnectionResetError, BrokenPipeError):
            pass
    outcome["cut_after"] = time.monotonic() - start
    outcome["answer"] = answer


def test_x05_too_many_headers_get_431(economy: ScriptedEconomy) -> None:
    with guarded_server(economy) as (url, port):
        many = b"".join(b"X-H%d: v\r\n" % i for i in range(LIMITS.max_headers + 5))
        answer = _raw(port, b"GET /api/economy HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
        assert answer.startswith(b"HTTP/1.1 431 "), answer
        with httpx.Client(base_url=url, timeout=5) as client:
            assert client.get("/api/economy").status_code == 200


@pytest.mark.parametrize("size", [5000, 200_000])
def test_x05_headers_over_the_byte_limit_get_431(economy: ScriptedEconomy, size: int) -> None:
    with guarded_server(economy) as (url, port):
        request = b"GET /api/economy HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * size + b"\r\n\r\n"
        answer = _raw(port, request)
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
        with httpx.Client(base_url=url, timeout=5) as client:
            response = client.get("/api/economy", headers={"X-Fine": "a" * 1000})
            assert response.status_code == 200


def test_x05_a_declared_body_over_the_limit_gets_413(economy: ScriptedEconomy) -> None:
    with guarded_server(economy) as (_, port):
        answer = _raw(port, b"POST /api/commands HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n{}")
        assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
