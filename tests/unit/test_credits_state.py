"""The typed records of the social credits store exactly the JSON their namespaces always held.

Every literal below is a record as the projectors wrote it before the records were typed; the
state digest of every existing database depends on reading and writing them unchanged.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from civicledger.adapters.memory import MemoryStore
from civicledger.kernel.errors import InvalidInputError
from civicledger.kernel.identity import AccountId
from civicledger.kernel.records import Namespace, encode_record
from civicledger.mechanisms.credits import state
from civicledger.mechanisms.credits.state import PersonRecord

ALICE = AccountId("ac7ef0e5932f090dca7e00601ca4ecd221")
TESS = AccountId("ac1b1427db7221350a90f63e09e3c48c73")

STORED: list[tuple[Namespace[Any], dict[str, Any] | int]] = [
    (state.PERSONS, {"adj": [], "born": 1262316960, "enrolled": 1893456000, "fresh": [], "spends": []}),
    (
        state.PERSONS,
        {
            "adj": [
                ["0000000028.0", 1893456000, 1909008000, -1, 0, 0, "infraction"],
                ["0000000051.0", 1896307200, 1927864152, 2, 500, 1, "award"],
            ],
            "born": 1262316960,
            "enrolled": 1893456000,
            "fresh": [1896307200, 1928016000],
            "noted": [["0000000060.n0", 1928016000, "gears_vote"]],
            "spends": [["0000000052", 1896307200, 250, [["0000000051.0", 250]]], ["0000000054", 1896307300, 9, []]],
        },
    ),
    (
        state.ADJUSTMENTS,
        {
            "appeals": ["0000000029", "0000000032"],
            "consumable": False,
            "council": None,
            "deciders": [TESS],
            "end": 1909008000,
            "entry": 28,
            "evidence": "hearsay",
            "fresh": False,
            "kind": "infraction",
            "overturned_by": None,
            "person": ALICE,
            "quantity": 0,
            "reason": "infraction",
            "scheduled_end": 1909008000,
            "source": "participation",
            "start": 1893456000,
            "steps": -1,
        },
    ),
    (
        state.ADJUSTMENTS,
        {
            "appeals": [],
            "consumable": None,
            "council": None,
            "deciders": [ALICE],
            "end": None,
            "entry": 40,
            "evidence": "accf88f871072115fd3bd6a9f55846c06a",
            "fresh": True,
            "kind": "gears_vote",
            "overturned_by": None,
            "person": ALICE,
            "quantity": None,
            "reason": "gears_vote (noted by Gears; effect from the credits policy)",
            "scheduled_end": None,
            "source": "gears",
            "start": 1928016000,
            "steps": None,
        },
    ),
    (state.BALLOTS, {"answer_key": "2d71" * 16, "opened_at": 1896307200, "operator": TESS, "question": "Q?"}),
    (state.ANSWERS, {"at": 1896307200, "seconds": 200}),
    (state.DAILY_ANSWERS, 2),
    (
        state.APPEALS,
        {
            "adjustment": "0000000028.0",
            "appellant": TESS,
            "decided_at": None,
            "entry": 29,
            "filed_at": 1893628800,
            "grounds": "no evidence",
            "jurors": [ALICE],
            "person": ALICE,
            "seed": "510c" * 16,
            "status": "open",
            "technocrats": [TESS],
            "votes": {TESS: False},
        },
    ),
    (
        state.PLEDGES,
        {
            "donor": ALICE,
            "draw": "0000000042",
            "duration": 7776000,
            "pledged_at": 1893628800,
            "quantity": 400,
            "status": "lapsed",
            "steps": 1,
            "winner": None,
        },
    ),
    (
        state.CANDIDATES,
        {
            "council": None,
            "draw": None,
            "entry": 39,
            "nominators": [TESS],
            "reason": "helps",
            "route": "nominated",
            "since": 1893628800,
            "status": "waiting",
        },
    ),
    (state.SECOND_CHANCES, {"at": 1893628800, "entry": 41}),
    (
        state.DRAWS,
        {
            "at": 1893628800,
            "candidates": [ALICE],
            "donors": [TESS],
            "entry": 42,
            "lapsed": ["0000000035"],
            "pledges": ["0000000036"],
            "seed": "82b6" * 16,
            "winners": [["0000000036", TESS, ALICE]],
        },
    ),
    (state.LOTTERY, {"last_draw": "0000000043", "last_draw_at": 1896307200}),
    (
        state.SERVICES,
        {
            "category": "healthcare",
            "entry": 50,
            "essential": True,
            "name": "Clinic 2",
            "provider": TESS,
            "tiers": [{"min_grade": 0, "name": "basic", "price": 100}, {"min_grade": 3, "name": "plus", "price": 250}],
            "version": 2,
        },
    ),
    (
        state.REDEMPTIONS,
        {
            "at": 1896307200,
            "by_grade": {"3": 250},
            "entry": 52,
            "person": ALICE,
            "service": "clinic",
            "tier": "plus",
            "units": 250,
        },
    ),
    (state.PROVIDERS, {"spends": 3, "units": 600}),
]


@pytest.mark.parametrize(("namespace", "stored"), STORED, ids=[f"{ns.name}-{i}" for i, (ns, _) in enumerate(STORED)])
def test_sc11_every_record_reads_and_writes_back_the_json_it_was_stored_as(
    namespace: Namespace[Any], stored: dict[str, Any] | int
) -> None:
    store = MemoryStore()
    with store.write() as uow:
        uow.records.put(namespace.name, "k", stored)
        before = json.dumps(uow.records.get(namespace.name, "k"), sort_keys=True)
        record = namespace.get(uow, "k")
        assert record is not None
        namespace.put(uow, "k", record)
        assert json.dumps(uow.records.get(namespace.name, "k"), sort_keys=True) == before
        assert namespace.get(uow, "k") == record


def test_sc11_a_person_record_without_noted_participation_stores_no_noted_key() -> None:
    record = PersonRecord(10, 20)
    assert encode_record(record) == {"born": 10, "enrolled": 20, "adj": [], "spends": [], "fresh": []}
    noted, adj_id = record.with_noted(7, 30, "gears_vote")
    assert adj_id == "0000000007.n0"
    assert encode_record(noted)["noted"] == [["0000000007.n0", 30, "gears_vote"]]


@pytest.mark.parametrize(
    "bad",
    [
        {"born": 1, "enrolled": 2, "adj": [["x", 1, 2, 3]], "spends": [], "fresh": []},
        {"born": 1, "enrolled": 2, "adj": [], "spends": [["s", 1, 2]], "fresh": []},
        {"born": "1", "enrolled": 2, "adj": [], "spends": [], "fresh": []},
        {"born": 1, "enrolled": 2, "adj": [], "spends": [], "fresh": [], "extra": 1},
        {"born": 1, "adj": [], "spends": [], "fresh": []},
        [1, 2],
    ],
)
def test_sc11_a_person_record_of_the_wrong_shape_is_named_not_guessed(bad: Any) -> None:
    store = MemoryStore()
    with store.write() as uow:
        uow.records.put(state.PERSONS.name, "bad", bad)
        with pytest.raises(InvalidInputError, match=r"credits\.person/bad"):
            state.PERSONS.get(uow, "bad")


def test_sc08_a_fresh_adjustment_restarts_decay_in_time_order_and_a_penalty_does_not() -> None:
    record = PersonRecord(0, 0, fresh=(10, 30))
    raised = record.with_adjustment(("0000000002.0", 20, 90, 1, 0, 0, "award"), fresh=True)
    assert raised.fresh == (10, 20, 30) and raised.adj[-1][0] == "0000000002.0"
    lowered = raised.with_adjustment(("0000000003.0", 25, 90, -1, 0, 0, "reduction"), fresh=False)
    assert lowered.fresh == (10, 20, 30) and len(lowered.adj) == 2


def test_sc07_an_overturn_ends_the_adjustment_at_the_decision_never_later() -> None:
    record = PersonRecord(0, 0, adj=(("a", 10, 100, -1, 0, 0, "x"), ("b", 10, 100, 1, 0, 0, "y")))
    assert record.cut_short("a", 50).adj == (("a", 10, 50, -1, 0, 0, "x"), ("b", 10, 100, 1, 0, 0, "y"))
    assert record.cut_short("a", 150).adj == record.adj
