"""Every Gears record reads the JSON Gears has always stored and writes it back unchanged (X2).

The shapes below are those the projectors wrote since Gears began; the state digest of every
existing database, and of the demo journal of release 0.1.0, depends on them byte for byte.
"""

from __future__ import annotations

from typing import Any

import pytest

from civicledger.adapters.memory import MemoryStore
from civicledger.kernel.canonical import canonical_bytes
from civicledger.kernel.errors import InvalidInputError
from civicledger.kernel.records import Namespace, stored_json
from civicledger.mechanisms.gears import state as gs
from civicledger.mechanisms.gears.values import Claim

A, B = "acct-a", "acct-b"

STORED: list[tuple[Namespace[Any], dict[str, Any]]] = [
    (gs.CONFIG, {"fund": A, "ethicap": "xi", "since": 10}),
    (gs.LATEST, {"version": 2, "at": 30}),
    (gs.COMPANIES, {"joined_at": 10, "statements": 3, "questions": 0}),
    (gs.STATEMENTS, {"version": 1, "text": "We sell.", "question": "What?", "at": 11, "challenge": None}),
    (gs.STATEMENTS, {"version": 2, "text": "We sell.", "question": "", "at": 12, "challenge": "ch0000000007"}),
    (gs.STATEMENT_LOG, {"text": "We sell.", "at": 11}),
    (gs.QUESTIONS, {"text": "Q?", "choices": ["a", "b"], "digest": "0" * 64, "salt": "s"}),
    (gs.TESTS, {"passed_at": None, "failed_at": None, "open": [3, 1], "started_at": 5}),
    (gs.TESTS, {"passed_at": 6, "failed_at": 2, "open": None, "started_at": 5}),
    (gs.VOTES, {"value": -1, "cast_at": 5, "expires_at": 105, "segment": 7}),
    (gs.VOTE_LOG, {"value": 1, "from": 5, "until": 105}),
    (gs.SALES, {"units": 600, "currency": "xi"}),
    (
        gs.SNAPSHOTS,
        {
            "version": 1,
            "at": 20,
            "average": "1/3",
            "scale": "1/1",
            "companies": {A: {"sales": 12_000, "votes": 2, "total": 2, "delta": "20/1"}},
        },
    ),
    (gs.SNAPSHOTS, {"version": 1, "at": 20, "average": "0/1", "scale": "1/1", "companies": {}}),
    (gs.DELTAS, {"delta": "-10/1", "version": 1}),
    (gs.PAYOUTS, {"to": B, "units": 20, "reason": "sale 000000000012", "at": 21}),
    (gs.DEBTS, {"to": B, "units": 11_300, "reason": "penalty ch0000000007", "at": 22}),
    (gs.ACCRUALS, {"accrued": "-35/3"}),
    (gs.PERIODS, {"payouts": {A: 5}, "charges": {B: 5}, "at": 40}),
    (gs.PERIODS, {"payouts": {}, "charges": {}, "at": 40}),
    (
        gs.CHALLENGES,
        {
            "whistleblower": A,
            "company": B,
            "index": 2,
            "version": 1,
            "claim": "false",
            "reason": "",
            "opened_at": 30,
            "closes_at": 50,
            "tally": {"accurate": 0, "misleading": 1, "false": 2},
            "status": "open",
            "outcome": None,
        },
    ),
    (
        gs.CHALLENGES,
        {
            "whistleblower": A,
            "company": B,
            "index": 2,
            "version": 1,
            "claim": "misleading",
            "reason": "the workshop is a garage",
            "opened_at": 30,
            "closes_at": 50,
            "tally": {"accurate": 3, "misleading": 0, "false": 0},
            "status": "closed",
            "outcome": "accurate",
            "upheld": False,
            "penalty": 0,
            "closed_at": 51,
        },
    ),
    (gs.JUDGEMENTS, {"verdict": "false", "at": 31}),
    (gs.FAILURES, {"failed_at": 51, "returns_at": 151}),
]


@pytest.mark.parametrize(("namespace", "stored"), STORED, ids=[f"{ns.name}-{i}" for i, (ns, _) in enumerate(STORED)])
def test_x02_a_gears_record_reads_what_was_stored_and_writes_back_the_same_bytes(
    namespace: Namespace[Any], stored: dict[str, Any]
) -> None:
    store = MemoryStore()
    with store.write() as uow:
        uow.records.put(namespace.name, "old", stored)
        record = namespace.get(uow, "old")
        assert record is not None
        namespace.put(uow, "new", record)
        assert canonical_bytes(uow.records.get(namespace.name, "new")) == canonical_bytes(stored)
        assert [key for key, _ in namespace.scan(uow)] == ["new", "old"]


def test_x02_an_open_challenge_stores_no_verdict_fields_and_the_vote_log_keeps_from() -> None:
    challenge = gs.Challenge(A, B, 1, 1, Claim.FALSE, "", 1, 2, {"accurate": 0}, "open", None)
    assert "upheld" not in stored_json(challenge) and stored_json(challenge)["outcome"] is None
    store = MemoryStore()
    with store.write() as uow:
        gs.VOTE_LOG.put(uow, "k", gs.VoteSegment(value=1, start=5, until=9))
        assert uow.records.get(gs.VOTE_LOG.name, "k") == {"value": 1, "from": 5, "until": 9}
        assert gs.VOTE_LOG.get(uow, "k") == gs.VoteSegment(1, 5, 9)


def test_x02_a_gears_record_of_the_wrong_shape_is_named_not_guessed() -> None:
    store = MemoryStore()
    with store.write() as uow:
        uow.records.put(gs.DEBTS.name, "a/1", {"to": A, "units": "many", "reason": "", "at": 1})
        with pytest.raises(InvalidInputError, match=r"gears\.debts/a/1"):
            gs.debts_of(uow, "a")
