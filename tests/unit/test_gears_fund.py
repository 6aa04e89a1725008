"""The Common Good Fund's queue and a company's debts, decided by pure functions (GR6, GR7).

The handlers apply these decisions through the Payments book; here they are checked directly.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from civicledger.mechanisms.gears import coefficient as coef
from civicledger.mechanisms.gears.coefficient import Charge, Withholding

# GR6 the fund pays now or queues ----------------------------------------------------------------


def test_gr06_the_fund_pays_now_only_when_nothing_waits_and_its_balance_covers_it() -> None:
    assert coef.fund_pays_now(balance=100, waiting=0, units=100)
    assert not coef.fund_pays_now(balance=99, waiting=0, units=100)  # queued: the fund never goes below zero
    assert not coef.fund_pays_now(balance=1_000, waiting=1, units=5)  # queued behind the one waiting


operations = st.lists(
    st.one_of(
        st.tuples(st.just("deposit"), st.integers(0, 500)),
        st.tuples(st.just("payout"), st.integers(1, 300)),
    ),
    max_size=40,
)


@given(st.integers(0, 500), operations)
def test_gr06_paying_or_queueing_then_releasing_pays_every_payout_in_order_and_never_overdraws(
    start: int, ops: list[tuple[str, int]]
) -> None:
    balance, queue, paid = start, [], []
    for n, (kind, units) in enumerate(ops):
        if kind == "deposit":
            balance += units
        elif coef.fund_pays_now(balance, len(queue), units):
            balance -= units
            paid.append(f"{n:04d}")
        else:
            queue.append((f"{n:04d}", units))
        released, balance = coef.release_in_order(balance, queue)
        paid += released
        queue = queue[len(released) :]
        assert balance >= 0
    assert paid == sorted(paid)  # first asked, first paid: nobody jumps the queue
    assert not queue or queue[0][1] > balance  # the head of the queue does not fit


# GR6 charges, GR7 penalties: paid as far as the company holds, the rest owed -------------------


def test_gr06_a_period_charge_takes_what_the_company_holds_and_the_rest_is_owed() -> None:
    assert coef.charge(100, held=30) == Charge(paid=30, owed=70)
    assert coef.charge(100, held=500) == Charge(paid=100, owed=0)


def test_gr07_a_penalty_of_nothing_costs_nothing_and_records_no_debt() -> None:
    assert coef.charge(0, held=10) == Charge(paid=0, owed=0)
    assert coef.charge(12_000, held=0) == Charge(paid=0, owed=12_000)


# GR7 withholding --------------------------------------------------------------------------------


def test_gr07_debts_are_withheld_oldest_first_from_what_the_company_receives() -> None:
    debts = [("a/1", 300), ("a/2", 500), ("a/3", 100)]
    assert coef.withhold(debts, 700) == [Withholding("a/1", 300, 0), Withholding("a/2", 400, 100)]
    assert coef.withhold(debts, 2_000) == [
        Withholding("a/1", 300, 0),
        Withholding("a/2", 500, 0),
        Withholding("a/3", 100, 0),
    ]
    assert coef.withhold(debts, 0) == [] and coef.withhold(debts, -5) == []
    assert coef.withhold([], 700) == []


@given(st.lists(st.integers(1, 1_000), max_size=10), st.integers(-100, 5_000))
def test_gr07_withholding_takes_the_smaller_of_the_debts_and_the_receipts_whatever_the_split(
    owed: list[int], available: int
) -> None:
    debts = [(f"{i:04d}", units) for i, units in enumerate(owed)]
    withheld = coef.withhold(debts, available)
    assert sum(w.units for w in withheld) == min(sum(owed), max(available, 0))
    assert [w.key for w in withheld] == [k for k, _ in debts[: len(withheld)]]  # oldest first
    assert all(w.units + w.remaining == dict(debts)[w.key] and w.units > 0 for w in withheld)
    assert all(w.remaining == 0 for w in withheld[:-1])  # only the last one may stay partly owed
