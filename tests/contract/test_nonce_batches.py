"""Spending many request nonces at once (the HTTP writer's batches): larger than one SQL statement."""

from __future__ import annotations

from civicledger.kernel.identity import AccountId
from civicledger.kernel.ports import Store

A = AccountId("ac" + "a" * 32)
B = AccountId("ac" + "b" * 32)


def test_x6_a_batch_of_nonces_larger_than_one_statement_is_spent_exactly_once(any_store: Store) -> None:
    items = [(A if i % 2 else B, f"nonce-{i:05d}-abcdefgh", 1000 + i) for i in range(701)]
    assert any_store.consume_nonces(items, forget_before=0) == [True] * 701
    # Every one of them is a replay now, in any order, mixed with fresh ones.
    again = [*reversed(items), (A, "fresh-nonce-0000001", 2000), (B, "nonce-00001-abcdefgh", 2000)]
    assert any_store.consume_nonces(again, forget_before=0) == [False] * 701 + [True, True]


def test_x6_expired_nonces_are_forgotten_in_the_same_call(any_store: Store) -> None:
    assert any_store.consume_nonces([(A, "old-nonce-00000001", 100), (B, "new-nonce-00000001", 900)], 0) == [True, True]
    # The old one is forgotten before the insert, so it is fresh again; the new one is still a replay.
    assert any_store.consume_nonces([(A, "old-nonce-00000001", 1000), (B, "new-nonce-00000001", 1000)], 500) == [
        True,
        False,
    ]


def test_x6_nonces_spent_in_a_unit_of_work_roll_back_with_it(any_store: Store) -> None:
    with any_store.write() as uow:
        assert uow.spend_nonces([(A, "rolled-back-nonce-1", 100), (A, "rolled-back-nonce-1", 100)], None) == [
            True,
            False,
        ]
    # Not committed: the request had no effect, so its nonce is not spent either.
    assert any_store.consume_nonces([(A, "rolled-back-nonce-1", 100)], None) == [True]
    with any_store.write() as uow:
        assert uow.spend_nonces([(A, "rolled-back-nonce-1", 100), (B, "committed-nonce-01", 100)], None) == [
            False,
            True,
        ]
        uow.commit()
    assert any_store.consume_nonces([(B, "committed-nonce-01", 100)], None) == [False]
