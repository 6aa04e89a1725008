"""Random histories through a faulty store (issue 18): the client retries as a real one would, the
process restarts after every crash, and after every step the economy is checked.

A *history* is a list of signed commands, each with its personal data and the time the clock shows
when it runs; it is made from a seed (``history(kind, seed)``) without a store, so the same seed is
the same history on every backend:

- ``ledger``: a small economy (two funds, two currencies, four people), then random issues,
  transfers of one to three legs, burns, overdraws, transfers signed by the wrong person (refused)
  and resends of an earlier command (a client retrying, X5);
- ``demo``: the `civic demo` economy's own journal, every mechanism's commands, cut at a random
  length.

``run_history`` first runs it without faults on a memory store (the *baseline*: each step's answer,
the journal's size after it, every entry's leaf hash), then through ``FaultyStore`` with a
``FaultPlan`` of the same seed, and checks:

- after every step: the answer is the baseline's (accepted with the same entry, or refused by the
  same rule); the journal holds exactly the baseline's number of entries (no acknowledged command
  lost, none written twice, nothing half-written); per currency, balances sum to issued - burned
  (X3); no balance is negative;
- after every restart and at the end: every acknowledged command is in the journal at the position
  it was acknowledged with and with the baseline's bytes, and ``verify`` passes (every entry
  re-executed, the stored state equal to the replayed one, X2).

Reproduce a failure with the line it prints, e.g.
``python -m tests.faults.harness --kind ledger --seed 1234 --backend sqlite``.
"""

from __future__ import annotations

import argparse
import functools
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from civicledger.adapters.clock import SimulatedClock
from civicledger.adapters.crypto import Ed25519Verifier, KeyPair
from civicledger.adapters.memory import MemoryStore
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.kernel import audit
from civicledger.kernel import ledger as led
from civicledger.kernel import personal as pd
from civicledger.kernel.canonical import canonical_bytes
from civicledger.kernel.engine import Engine, Receipt
from civicledger.kernel.errors import CivicLedgerError, ConcurrencyError, StorageUnavailableError
from civicledger.kernel.identity import AccountKind
from civicledger.kernel.journal import SignedCommand
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.personal import PersonalItem
from civicledger.kernel.ports import Store, UnitOfWork
from civicledger.kernel.signing import sign_command
from civicledger.kernel.snapshot import state_digest
from tests.faults.injection import Crash, FaultPlan, FaultyStore

T0 = 1_893_456_000  # 2030-01-01T00:00:00Z, as tests.conftest.T0
PEOPLE = ("ann", "ben", "cat", "dan")
ISSUERS = {CurrencyId("xi"): "fund-x", CurrencyId("yo"): "fund-y"}
MAX_ATTEMPTS = 100
"""A client gives up after this many tries of one command; the plan's ``max_faults`` is far lower."""


@dataclass(frozen=True, slots=True)
class Step:
    signed: SignedCommand
    personal: tuple[PersonalItem, ...]
    at: int


@dataclass(frozen=True, slots=True)
class History:
    kind: str
    seed: int
    steps: tuple[Step, ...]
    journal_key: KeyPair


@dataclass(frozen=True, slots=True)
class Answer:
    """What a client heard: an entry (its seq, events and result), or a refusal (its error and rule)."""

    seq: int | None
    body: object

    @staticmethod
    def of(outcome: Receipt | CivicLedgerError) -> Answer:
        if isinstance(outcome, Receipt):
            return Answer(outcome.seq, canonical_bytes([list(outcome.events), outcome.result]))
        return Answer(None, (type(outcome).__name__, outcome.rule))


@dataclass
class Outcome:
    history: History
    backend: str
    plan: FaultPlan
    restarts: int = 0
    retries: int = 0
    seconds: float = 0.0


class HistoryFailed(AssertionError):
    pass


# Histories ---------------------------------------------------------------------------------------


def history(kind: str, seed: int) -> History:
    if kind == "ledger":
        return _ledger_history(seed)
    if kind == "demo":
        key, steps = _demo()
        cut = random.Random(seed).randint(1, len(steps))
        return History("demo", seed, steps[:cut], key)
    raise ValueError(f"unknown kind of history {kind!r}")


def _recorded(store: Store) -> list[Step]:
    """The steps that wrote ``store``'s journal: each command, its personal data, its time."""
    steps = []
    with store.read() as uow:
        for stored in uow.journal.scan():
            refs = pd.refs_in(stored.entry.command.payload)
            items = tuple(i for i in (uow.personal.get(r) for r in refs) if i is not None)
            steps.append(Step(stored.entry.command, items, stored.entry.time))
    return steps


@functools.cache
def _demo() -> tuple[KeyPair, tuple[Step, ...]]:
    from civicledger.demo import run_demo

    store = MemoryStore()
    economy, _ = run_demo(store)
    return economy.key("journal"), tuple(_recorded(store))


@functools.cache
def _ledger_setup() -> tuple[ScriptedEconomy, tuple[Step, ...]]:
    e = ScriptedEconomy(MemoryStore(), start=T0, label="civicledger faults")
    for fund in ISSUERS.values():
        e.open(fund, AccountKind.FUND)
    for person in PEOPLE:
        e.open(person)
    for currency, fund in ISSUERS.items():
        e.run(led.CreateCurrency(currency, e.account(fund), currency), fund)
    return e, tuple(_recorded(e.store))


@functools.cache
def _ledger_keys() -> dict[str, KeyPair]:
    e, _ = _ledger_setup()
    return {name: e.key(name) for name in (*PEOPLE, *ISSUERS.values())}


def _ledger_history(seed: int) -> History:
    e, setup = _ledger_setup()
    keys = _ledger_keys()
    accounts = {name: key.account for name, key in keys.items()}
    rng = random.Random(seed)
    steps = list(setup)
    at = setup[-1].at
    currencies = list(ISSUERS)
    for i in range(rng.randint(4, 24)):
        at += rng.choice((0, 1, 60))
        cid = f"h{seed}-{i}"
        roll = rng.random()
        who, other = rng.sample(PEOPLE, 2)
        currency = rng.choice(currencies)
        signers: tuple[str, ...]
        command: led.Command
        if roll < 0.1 and len(steps) > len(setup):
            steps.append(rng.choice(steps[len(setup) :]))  # a client sends a command again (X5)
            continue
        if roll < 0.35:
            command, signers = led.Issue(currency, accounts[who], rng.randint(1, 5_000)), (ISSUERS[currency],)
        elif roll < 0.8:
            legs = []
            for _ in range(rng.randint(1, 3)):
                source, target = rng.sample(PEOPLE, 2)
                legs.append(led.Leg(rng.choice(currencies), accounts[source], accounts[target], rng.randint(1, 3_000)))
            command = led.Transfer(tuple(legs))
            signers = tuple(sorted({p for p in PEOPLE if any(leg.source == accounts[p] for leg in legs)}))
        elif roll < 0.92:
            command, signers = led.Burn(currency, accounts[who], rng.randint(1, 2_000)), (who,)
        else:  # the wrong signer: refused (X6), and writes nothing
            command, signers = led.Transfer((led.Leg(currency, accounts[who], accounts[other], 1),)), (other,)
        signed = sign_command(e.economy_id, command, [keys[n] for n in signers], signed_at=at, command_id=cid)
        steps.append(Step(signed, (), at))
    return History("ledger", seed, tuple(steps), e.key("journal"))


# Stores that restart -------------------------------------------------------------------------------


@dataclass
class Database:
    """Where a history's economy lives across restarts; ``open`` starts a new process's store on it."""

    backend: str
    open: Callable[[], Store]
    memory: MemoryStore | None = None
    cleanup: list[Callable[[], None]] = field(default_factory=list)


@contextmanager
def database(backend: str, workdir: Path, postgres_url: str | None = None) -> Iterator[Database]:
    if backend == "memory":
        memory = MemoryStore()
        yield Database("memory", lambda: memory, memory)
        return
    from civicledger.adapters.sql.store import SqlStore

    if backend == "sqlite":
        path = workdir / f"{uuid.uuid4().hex}.db"
        shutil.copyfile(_sqlite_template(workdir.parent), path)
        try:
            yield Database("sqlite", lambda: SqlStore.open(f"sqlite:///{path}", create=False))
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    if backend == "postgresql":
        if postgres_url is None:
            raise ValueError("a PostgreSQL URL is needed")
        schema = f"faults_{uuid.uuid4().hex[:16]}"
        SqlStore.open(postgres_url, schema=schema, pool_size=2).close()
        try:
            yield Database("postgresql", lambda: SqlStore.open(postgres_url, schema=schema, create=False, pool_size=2))
        finally:
            SqlStore.open(postgres_url, schema=schema, create=False, drop_schema_on_close=True, pool_size=1).close()
        return
    raise ValueError(f"unknown backend {backend!r}")


_templates: dict[Path, Path] = {}


def _sqlite_template(where: Path) -> Path:
    """An empty, migrated SQLite database, copied for each history (migrating costs more than a history)."""
    if where not in _templates:
        from civicledger.adapters.sql.store import SqlStore

        path = where / f"template-{uuid.uuid4().hex}.db"
        SqlStore.open(f"sqlite:///{path}").close()
        _templates[where] = path
    return _templates[where]


# Running ------------------------------------------------------------------------------------------


class Baseline:
    """The history without faults, on a memory store, run a step ahead of the faulty run."""

    def __init__(self, h: History) -> None:
        self.store = MemoryStore()
        self.clock = SimulatedClock(T0)
        self.engine = Engine(self.store, self.clock, Ed25519Verifier(), h.journal_key)
        self.size = 0

    def step(self, step: Step) -> Answer:
        self.clock.set(step.at)
        try:
            outcome: Receipt | CivicLedgerError = self.engine.execute(step.signed, step.personal)
        except CivicLedgerError as e:
            outcome = e
        with self.store.read() as uow:
            self.size = uow.journal.head().size
        return Answer.of(outcome)

    def leaf(self, seq: int) -> bytes | None:
        with self.store.read() as uow:
            found = uow.journal.get(seq)
        return None if found is None else found.leaf_hash

    def digest(self) -> str:
        with self.store.read() as uow:
            return _digest(uow)


def _digest(uow: UnitOfWork) -> str:
    return state_digest(uow, audit.record_namespaces(uow))


def run_history(
    h: History, db: Database, plan: FaultPlan, check: bool = True, verify_every_step: bool = False
) -> Outcome:
    """Run ``h`` through a faulty store on ``db``; raise ``HistoryFailed`` at the first broken promise.
    Without ``check``, only the answers are compared; with ``verify_every_step``, ``verify`` runs
    after every step, not only at the end (slow: each replays the whole journal)."""
    base = Baseline(h)
    out = Outcome(h, db.backend, plan)
    started = time.perf_counter()
    clock = SimulatedClock(T0)
    verifier = Ed25519Verifier()
    inner = db.open()
    store = FaultyStore(inner, plan)
    engine = Engine(store, clock, verifier, h.journal_key)
    acked: dict[str, int] = {}
    try:
        for i, step in enumerate(h.steps):
            expected = base.step(step)
            faults_before = plan.faults
            for _attempt in range(MAX_ATTEMPTS):
                clock.set(step.at)
                try:
                    outcome: Receipt | CivicLedgerError = engine.execute(step.signed, step.personal)
                except Crash:
                    with plan.paused():
                        inner.close()
                    plan.restarted()
                    out.restarts += 1
                    inner = db.open()
                    store = FaultyStore(inner, plan)
                    engine = Engine(store, clock, verifier, h.journal_key)
                    if check:
                        with plan.paused():
                            _check_acknowledged(store, acked, base, out, i)
                    continue
                except (StorageUnavailableError, ConcurrencyError):
                    out.retries += 1
                    continue  # the client sends the same command again (same id, X5)
                except CivicLedgerError as e:
                    outcome = e
                except Exception as e:
                    raise HistoryFailed(_where(out, i) + f"a storage fault reached the client as {e!r}") from e
                break
            else:
                raise HistoryFailed(_where(out, i) + f"no answer after {MAX_ATTEMPTS} attempts")
            answer = Answer.of(outcome)
            if answer != expected:
                raise HistoryFailed(_where(out, i) + f"answered {answer}, without faults {expected}")
            if isinstance(outcome, Receipt):
                acked[step.signed.id] = outcome.seq
            if check:
                with plan.paused():
                    _check_step(store, step, outcome, base, out, i, state=plan.faults != faults_before)
                    if verify_every_step:
                        _check_acknowledged(store, acked, base, out, i, verify=True)
        with plan.paused():
            _check_acknowledged(store, acked, base, out, len(h.steps), verify=check)
            with store.read() as uow:
                size = uow.journal.head().size
            if size != base.size:
                raise HistoryFailed(_where(out, len(h.steps)) + f"{size} entries, without faults {base.size}")
    finally:
        with plan.paused():
            inner.close()
    out.seconds = time.perf_counter() - started
    return out


def _where(out: Outcome, i: int) -> str:
    h = out.history
    return f"{h.kind} history seed {h.seed} on {out.backend}, step {i} of {len(h.steps)}, faults {out.plan.log}: "


def _check_step(
    store: FaultyStore,
    step: Step,
    outcome: Receipt | CivicLedgerError,
    base: Baseline,
    out: Outcome,
    i: int,
    state: bool,
) -> None:
    """The journal's size, the command's entry, money (X3); with ``state`` (a fault struck during the
    step), every projection too, against the state without faults after the same step."""
    with store.inner.read() as uow:
        size = uow.journal.head().size
        if size != base.size:
            raise HistoryFailed(_where(out, i) + f"the journal holds {size} entries, without faults {base.size}")
        if isinstance(outcome, Receipt):
            found = uow.journal.find_command(step.signed.id)
            if found is None or found.entry.seq != outcome.seq or found.leaf_hash != base.leaf(outcome.seq):
                raise HistoryFailed(_where(out, i) + f"acknowledged command {step.signed.id} is not in the journal")
        _check_money(uow, out, i)
        if state and _digest(uow) != base.digest():
            raise HistoryFailed(_where(out, i) + "the stored state differs from the state without faults")


def _check_money(uow: object, out: Outcome, i: int) -> None:
    """X3: per currency, balances sum to issued - burned; no balance is negative."""
    ledger = uow.ledger  # type: ignore[attr-defined]
    sums = ledger.sums_by_currency()
    for currency in ledger.currencies():
        if sums.get(currency.id, 0) != currency.issued - currency.burned:
            raise HistoryFailed(
                _where(out, i) + f"{currency.id}: balances sum to {sums.get(currency.id, 0)}, "
                f"issued - burned is {currency.issued - currency.burned}"
            )
    negative = [b for b in ledger.scan_balances() if b[2] < 0]
    if negative:
        raise HistoryFailed(_where(out, i) + f"negative balances {negative[:3]}")


def _check_acknowledged(
    store: FaultyStore, acked: dict[str, int], base: Baseline, out: Outcome, i: int, verify: bool = False
) -> None:
    """Every acknowledged command where it was acknowledged, byte for byte; with ``verify``, ``verify``
    passes too (X2: every entry re-executed, the stored state equal to the replayed one)."""
    with store.inner.read() as uow:
        for cid, seq in acked.items():
            found = uow.journal.find_command(cid)
            if found is None or found.entry.seq != seq or found.leaf_hash != base.leaf(seq):
                raise HistoryFailed(_where(out, i) + f"acknowledged command {cid} (entry {seq}) is lost or changed")
        _check_money(uow, out, i)
    if not verify:
        return
    report = audit.verify_store(store.inner, Ed25519Verifier(), MemoryStore)
    if not report.ok:
        raise HistoryFailed(_where(out, i) + f"verify fails at entry {report.bad_seq}: {report.reason}")


def reproduce_line(kind: str, seed: int, backend: str, rate: float) -> str:
    return f"python -m tests.faults.harness --kind {kind} --seed {seed} --backend {backend} --rate {rate}"


def run_seeds(
    kind: str,
    seeds: range | list[int],
    backend: str,
    workdir: Path,
    rate: float,
    postgres_url: str | None = None,
    verify_every_step: bool = False,
) -> list[Outcome]:
    """Each seed's history through faults; the first failure names its seed and how to reproduce it."""
    outcomes = []
    for seed in seeds:
        h = history(kind, seed)
        try:
            with database(backend, workdir, postgres_url) as db:
                outcomes.append(run_history(h, db, FaultPlan(seed, rate), verify_every_step=verify_every_step))
        except HistoryFailed as e:
            raise HistoryFailed(f"{e}\nreproduce: {reproduce_line(kind, seed, backend, rate)}") from e
    return outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run one history through injected faults, by seed.")
    parser.add_argument("--kind", choices=["ledger", "demo"], default="ledger")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--backend", choices=["memory", "sqlite", "postgresql"], default="memory")
    parser.add_argument("--rate", type=float, default=0.01)
    parser.add_argument("--verify-every-step", action="store_true", help="run verify after every step")
    parser.add_argument("--postgres-url", default=os.environ.get("CIVIC_TEST_POSTGRES_URL"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "work"
        work.mkdir()
        try:
            [out] = run_seeds(
                args.kind, [args.seed], args.backend, work, args.rate, args.postgres_url, args.verify_every_step
            )
        except HistoryFailed as e:
            print(e, file=sys.stderr)
            return 1
    print(
        f"{args.kind} history seed {args.seed} on {args.backend}: {len(out.history.steps)} steps, "
        f"faults {out.plan.log}, {out.restarts} restarts, {out.retries} retries: every check passed"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
