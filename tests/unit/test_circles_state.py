"""CI1-CI15 state: each Circles record type keeps the exact JSON its namespace has always stored."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest

from civicledger.adapters.memory import MemoryStore
from civicledger.kernel.errors import InvalidInputError
from civicledger.kernel.identity import AccountId
from civicledger.kernel.records import Namespace, encode_record
from civicledger.mechanisms.circles import rules
from civicledger.mechanisms.circles import state as cs

A, B = AccountId("a"), AccountId("b")

STORED: list[tuple[Namespace[Any], str, object, dict[str, Any]]] = [
    (
        cs.ACCOUNTS,
        "a",
        cs.AccountRecord(1_900_000_000, "869625/2", 869_625, 1_900_000_000),
        {"claimed_to": 1_900_000_000, "carry": "869625/2", "reserve": 869_625, "created_at": 1_900_000_000},
    ),
    (
        cs.TRUST,
        "a/b",
        cs.TrustRecord(100, None, 1_900_000_100),
        {"limit_percent": 100, "expires_at": None, "since": 1_900_000_100},
    ),
    (
        cs.TRUST,
        "b/a",
        cs.TrustRecord(50, 1_934_560_000, 1_900_000_100),
        {"limit_percent": 50, "expires_at": 1_934_560_000, "since": 1_900_000_100},
    ),
    (cs.REWARDED, "a/b", cs.RewardRecord(1_900_000_100), {"at": 1_900_000_100}),
    (cs.GROUPS, "g", cs.GroupRecord(A, 1_900_000_200), {"owner": "a", "created_at": 1_900_000_200}),
    (cs.MEMBERS, "g/b", cs.MemberRecord(1_900_000_300), {"since": 1_900_000_300}),
    (cs.DEMURRAGE, "a", cs.DemurrageRecord(29), {"day": 29}),
]


@pytest.mark.parametrize(("ns", "key", "record", "stored"), STORED, ids=[f"{s[0].name}:{s[1]}" for s in STORED])
def test_ci01_every_circles_record_stores_the_json_it_always_did(
    ns: Namespace[Any], key: str, record: object, stored: dict[str, Any]
) -> None:
    assert encode_record(record) == stored
    assert list(encode_record(record)) == list(stored)  # the same keys, in the same order, none left out
    store = MemoryStore()
    with store.write() as uow:
        uow.records.put(ns.name, key, stored)  # as older code wrote it
        assert ns.get(uow, key) == record
        ns.put(uow, key, record)
        assert uow.records.get(ns.name, key) == stored


def test_ci01_a_record_reads_back_as_the_values_the_rules_use() -> None:
    account = cs.AccountRecord(10, "1/2", 7, 3)
    assert account.income() == rules.IncomeState(10, Fraction(1, 2), 7)
    trust = cs.TrustRecord(50, 99, 1)
    assert trust.edge(A, B) == rules.TrustEdge(A, B, 50, 99)
    assert cs.pair_key(B, A) == cs.pair_key(A, B) == "a/b"
    assert cs.split_key(cs.trust_key(B, A)) == (B, A)


def test_ci01_a_stored_record_of_the_wrong_shape_is_named() -> None:
    store = MemoryStore()
    with store.write() as uow:
        uow.records.put(cs.TRUST.name, "a/b", {"limit_percent": "all", "expires_at": None, "since": 1})
        with pytest.raises(InvalidInputError, match=r"circles\.trust/a/b"):
            cs.trust_edge(uow, A, B)


def test_ci05_who_trusts_an_account_is_read_from_the_keys() -> None:
    store = MemoryStore()
    with store.write() as uow:
        for truster, trustee in ((A, B), (B, A), (AccountId("c"), B)):
            cs.TRUST.put(uow, cs.trust_key(truster, trustee), cs.TrustRecord(100, None, 1))
        assert cs.trusters_of(uow, B) == [A, AccountId("c")]
        assert [e.trustee for e in cs.trusts_of(uow, B)] == [A]
        assert list(cs.keys(cs.TRUST, uow, "b/")) == ["b/a"]
