"""Clocks (X4): the wall clock for the service, a settable one for scenarios and tests."""

from __future__ import annotations

import threading
import time


class WallClock:
    def now(self) -> int:
        return int(time.time())


class SimulatedClock:
    """A clock that only moves when told to."""

    def __init__(self, start: int) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> int:
        return self._now

    def set(self, instant: int) -> None:
        with self._lock:
            self._now = instant

    def advance(self, seconds: int) -> int:
        with self._lock:
            self._now += seconds
            return self._now
