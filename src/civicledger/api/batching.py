"""Group commit: commands arriving at once are executed in one write transaction.

Each worker process has one writer thread. A request, once its body and signatures are checked
(work that needs no lock, done in parallel), hands its command to the writer and waits. The writer
takes whatever has queued up (at most ``MAX_BATCH``), spends all their nonces in one committed
transaction of their own (``store.consume_nonces``: a replayed request is refused before anything
runs), then executes the remaining commands with ``Engine.execute_batch``: one transaction, one
fsync, each command still accepted or refused on its own, in arrival order (X2, X5). Under no load
a batch is one command and nothing waits; under load the fixed cost of a transaction is shared.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field

from civicledger.domain.errors import AuthorityError, CivicLedgerError
from civicledger.domain.journal import SignedCommand
from civicledger.ports import Store
from civicledger.services.engine import Engine, Receipt

MAX_BATCH = 64


@dataclass
class _Job:
    command: SignedCommand
    nonce: str
    accounts: list[str]
    at: int
    forget_before: int
    future: Future[Receipt] = field(default_factory=Future)


class CommandBatcher:
    """A writer thread that executes queued commands in batches; ``submit`` returns a future receipt."""

    def __init__(self, store: Store, engine: Engine) -> None:
        self.store = store
        self.engine = engine
        self._queue: queue.Queue[_Job] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def submit(
        self, command: SignedCommand, nonce: str, accounts: list[str], at: int, forget_before: int
    ) -> Future[Receipt]:
        self._ensure_started()
        job = _Job(command, nonce, accounts, at, forget_before)
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
            try:
                self._execute(jobs)
            except BaseException as e:  # never lose a waiting request, whatever failed
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(e)

    def _execute(self, jobs: list[_Job]) -> None:
        ready: list[_Job] = []
        items = [(a, job.nonce, job.at) for job in jobs for a in job.accounts]
        try:
            fresh = iter(self.store.consume_nonces(items, min(job.forget_before for job in jobs)))
        except CivicLedgerError as e:
            for job in jobs:
                job.future.set_exception(e)
            return
        for job in jobs:
            reused = [a for a in job.accounts if not next(fresh)]
            if reused:
                job.future.set_exception(
                    AuthorityError(f"nonce {job.nonce} was already used by {', '.join(reused)}: a replayed request")
                )
            else:
                ready.append(job)
        if not ready:
            return
        try:
            outcomes = self.engine.execute_batch([j.command for j in ready])
        except CivicLedgerError as e:  # the whole transaction failed (storage, lost races)
            for job in ready:
                job.future.set_exception(e)
            return
        except Exception:  # something unforeseen in one command: run each alone so others still land
            for job in ready:
                try:
                    job.future.set_result(self.engine.execute(job.command))
                except Exception as e:
                    job.future.set_exception(e)
            return
        for job, outcome in zip(ready, outcomes, strict=True):
            if isinstance(outcome, Receipt):
                job.future.set_result(outcome)
            else:
                job.future.set_exception(outcome)
