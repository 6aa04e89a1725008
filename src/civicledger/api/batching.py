"""Group commit: commands arriving at once are executed in one write transaction.

Each worker process has one writer thread. A request, once its body and signatures are checked
(work that needs no lock, done in parallel), hands its command to the writer and waits. The writer
takes whatever has queued up (at most ``MAX_BATCH``) and executes it with ``Engine.execute_batch``:
one transaction, one fsync, which first spends every request's nonces (a replayed request is
refused before anything runs) and then runs each command, accepted or refused on its own, in
arrival order (X2, X5, X6). Under no load a batch is one command and nothing waits; under load the
fixed cost of a transaction is shared.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from civicledger.kernel.engine import Engine, Receipt
from civicledger.kernel.journal import SignedCommand
from civicledger.kernel.personal import PersonalItem

if TYPE_CHECKING:
    from civicledger.adapters.headmark import RollbackGuard

_log = logging.getLogger("civicledger.api")

BatchObserver = Callable[[int, float, bool], None]
"""Told after each batch: its size, the seconds it took, and whether it failed whole (metrics)."""

MAX_BATCH = 64
FORGET_EVERY = 60
"""Seconds between sweeps of stale nonces (each is a statement in the writer's transaction)."""


@dataclass
class _Job:
    command: SignedCommand
    nonce: str
    accounts: list[str]
    at: int
    forget_before: int
    personal: tuple[PersonalItem, ...] = ()  # sent beside the command, stored off the journal (IN11)
    request_id: str = ""  # the request's id, for the writer's log lines
    future: Future[Receipt] = field(default_factory=Future)


class CommandBatcher:
    """A writer thread that executes queued commands in batches; ``submit`` returns a future receipt."""

    def __init__(
        self, engine: Engine, guard: RollbackGuard | None = None, observe: BatchObserver | None = None
    ) -> None:
        self.engine = engine
        self.guard = guard
        self.observe = observe
        self._queue: queue.Queue[_Job] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._forgot_before = -(10**18)

    def submit(
        self,
        command: SignedCommand,
        nonce: str,
        accounts: list[str],
        at: int,
        forget_before: int,
        personal: tuple[PersonalItem, ...] = (),
        request_id: str = "",
    ) -> Future[Receipt]:
        self._ensure_started()
        job = _Job(command, nonce, accounts, at, forget_before, personal, request_id)
        self._queue.put(job)
        return job.future

    def _ensure_started(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="civic-command-writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            jobs = [self._queue.get()]
            while len(jobs) < MAX_BATCH:
                try:
                    jobs.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            t0 = time.perf_counter()
            failed = False
            try:
                self._execute(jobs)
            except BaseException as e:  # never lose a waiting request, whatever failed
                failed = True
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(e)
            if self.observe is not None:
                try:
                    self.observe(len(jobs), time.perf_counter() - t0, failed)
                except Exception:  # a metric must never stop the writer
                    _log.exception("could not record a write batch's metrics")

    def _execute(self, jobs: list[_Job]) -> None:
        forget_before = min(job.forget_before for job in jobs)
        if forget_before - self._forgot_before < FORGET_EVERY:
            forget = None
        else:
            forget = self._forgot_before = forget_before
        if self.guard is not None:
            self.guard.check()  # IN12: never write on a database behind a signed head
        outcomes = self.engine.execute_batch(
            [job.command for job in jobs],
            [[(a, job.nonce, job.at) for a in job.accounts] for job in jobs],
            forget,
            [job.personal for job in jobs],
        )
        if self.guard is not None:
            try:
                self.guard.record()
            except Exception:  # the entries are committed; the receipts stand
                _log.exception(
                    "could not record the newest signed tree head (IN12)",
                    extra={"request_id": ",".join(job.request_id for job in jobs)},
                )
        for job, outcome in zip(jobs, outcomes, strict=True):
            if isinstance(outcome, Receipt):
                job.future.set_result(outcome)
            else:
                job.future.set_exception(outcome)
