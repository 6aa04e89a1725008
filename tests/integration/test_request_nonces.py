"""Request nonces (X6) are spent in the same transaction as the commands they came with.

A signed HTTP request has at most one effect: its nonces and its command commit together, a replay
is refused before anything runs (even when the first command was refused), and when the
transaction fails the nonces are spent on their own before the error is reported (docs/api.md).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from civicledger.adapters.crypto import Ed25519Verifier
from civicledger.adapters.memory import MemoryStore
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.kernel import audit
from civicledger.kernel import ledger as led
from civicledger.kernel.engine import Engine, Receipt
from civicledger.kernel.errors import AuthorityError, InsufficientFundsError, StorageUnavailableError
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.ports import Store

XI = CurrencyId("xi")


def pay(e: ScriptedEconomy, source: str, target: str, units: int, cid: str) -> Any:
    return e.sign(led.Transfer((led.Leg(XI, e.account(source), e.account(target), units),)), source, cid=cid)


def nonce(e: ScriptedEconomy, name: str, value: str) -> list[tuple[str, str, int]]:
    return [(e.account(name), value, e.clock.now())]


def size(e: ScriptedEconomy) -> int:
    with e.store.read() as uow:
        return uow.journal.head().size


def test_x6_a_replayed_request_is_refused_before_its_command_runs(funded: ScriptedEconomy) -> None:
    e = funded
    first = e.engine.execute_batch(
        [pay(e, "alice", "bob", 10, "n1"), pay(e, "carol", "bob", 10, "n2")],
        [nonce(e, "alice", "nonce-alice-0001"), nonce(e, "carol", "nonce-carol-0001")],
    )
    assert isinstance(first[0], Receipt) and isinstance(first[1], InsufficientFundsError)
    # The same nonces again, with commands that would otherwise succeed: both refused, nothing runs,
    # including the replay of the request whose command was refused the first time.
    e.run(led.Issue(XI, e.account("carol"), 50), "fund")
    before = size(e)
    again = e.engine.execute_batch(
        [pay(e, "alice", "bob", 10, "n3"), pay(e, "carol", "bob", 10, "n4")],
        [nonce(e, "alice", "nonce-alice-0001"), nonce(e, "carol", "nonce-carol-0001")],
    )
    assert all(isinstance(o, AuthorityError) and "a replayed request" in o.message for o in again)
    assert size(e) == before
    # Within one batch, the second use of a nonce is the replay.
    twice = e.engine.execute_batch(
        [pay(e, "alice", "bob", 1, "n5"), pay(e, "alice", "bob", 1, "n6")],
        [nonce(e, "alice", "nonce-alice-0002"), nonce(e, "alice", "nonce-alice-0002")],
    )
    assert isinstance(twice[0], Receipt) and isinstance(twice[1], AuthorityError)
    assert size(e) == before + 1
    assert audit.verify_store(e.store, Ed25519Verifier(), MemoryStore).ok


class _CommitFails:
    """The store, except that every write transaction fails when it commits (a lost database)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.backend = store.backend

    def write(self) -> Any:
        uow = self.store.write()

        class Failing:
            def __enter__(self) -> Any:
                inner = uow.__enter__()

                def commit() -> None:
                    raise StorageUnavailableError("the database went away at commit")

                inner.commit = commit
                return inner

            def __exit__(self, *exc: object) -> None:
                uow.__exit__(*exc)

        return Failing()

    def read(self) -> Any:
        return self.store.read()

    def consume_nonces(self, items: Any, forget_before: int | None) -> list[bool]:
        return self.store.consume_nonces(items, forget_before)

    def close(self) -> None:
        pass


def test_x6_when_the_transaction_fails_its_nonces_are_spent_on_their_own(funded: ScriptedEconomy) -> None:
    e = funded
    before = size(e)
    failing = Engine(_CommitFails(e.store), e.clock, Ed25519Verifier(), e.key("journal"))  # type: ignore[arg-type]
    with pytest.raises(StorageUnavailableError):
        failing.execute_batch([pay(e, "alice", "bob", 10, "lost")], [nonce(e, "alice", "nonce-alice-lost")])
    assert size(e) == before  # nothing of the command landed
    with e.store.read() as uow:
        assert uow.ledger.balance(e.account("bob"), XI) == 0
    # ... but the request cannot be replayed: its nonce was spent after the failure.
    replay = e.engine.execute_batch([pay(e, "alice", "bob", 10, "lost")], [nonce(e, "alice", "nonce-alice-lost")])
    assert isinstance(replay[0], AuthorityError) and "a replayed request" in replay[0].message
    assert size(e) == before
    # A retry is a new request (new nonce), same command id: it runs once.
    retry = e.engine.execute_batch([pay(e, "alice", "bob", 10, "lost")], [nonce(e, "alice", "nonce-alice-new1")])
    assert isinstance(retry[0], Receipt) and not retry[0].replayed
    assert size(e) == before + 1


PAYERS = ["alice", "bob", "carol"]
_examples = iter(range(10**9))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    batches=st.lists(
        st.lists(st.tuples(st.sampled_from(PAYERS), st.integers(1, 400), st.integers(0, 5)), min_size=1, max_size=8),
        min_size=1,
        max_size=5,
    )
)
def test_x6_property_every_request_nonce_has_at_most_one_effect(
    funded: ScriptedEconomy, batches: list[list[tuple[str, int, int]]]
) -> None:
    """Random batches of payments whose nonces repeat (within and across batches): the first use
    of a nonce is answered by the rule, every later use is refused as a replay before anything runs;
    balances follow a model of the accepted payments and the journal only holds those (X3, X6)."""
    e = funded
    example = next(_examples)
    with e.store.read() as uow:
        model = {p: uow.ledger.balance(e.account(p), XI) for p in PAYERS}
        before = uow.journal.head().size
    seen: set[tuple[str, int]] = set()
    accepted = 0
    for b, batch in enumerate(batches):
        commands = [
            pay(e, payer, PAYERS[(PAYERS.index(payer) + 1) % 3], units, f"p{example}-{b}-{i}")
            for i, (payer, units, _) in enumerate(batch)
        ]
        nonces = [nonce(e, payer, f"nonce-{example}-{payer}-{n:04d}") for payer, _, n in batch]
        outcomes = e.engine.execute_batch(commands, nonces)
        for (payer, units, n), outcome in zip(batch, outcomes, strict=True):
            if (payer, n) in seen:
                assert isinstance(outcome, AuthorityError) and "a replayed request" in outcome.message
                continue
            seen.add((payer, n))
            if units <= model[payer]:
                assert isinstance(outcome, Receipt) and not outcome.replayed
                model[payer] -= units
                model[PAYERS[(PAYERS.index(payer) + 1) % 3]] += units
                accepted += 1
            else:
                assert isinstance(outcome, InsufficientFundsError)
    with e.store.read() as uow:
        assert {p: uow.ledger.balance(e.account(p), XI) for p in PAYERS} == model
        assert uow.journal.head().size == before + accepted
