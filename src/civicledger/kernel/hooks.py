"""Where mechanisms meet, declared by the kernel so that no mechanism imports another (X8).

A mechanism that offers something calls a hook's listeners; a mechanism that takes part adds itself
(``PARTICIPATION.add(...)``) from its own handlers module. With no listener, the caller goes on
alone: an economy may run any subset of the mechanisms.
"""

from __future__ import annotations

from collections.abc import Callable

from civicledger.kernel.identity import AccountId
from civicledger.kernel.messages import Event
from civicledger.kernel.registry import Hook

ParticipationListener = Callable[[str, AccountId, int, str], list[Event]]
PARTICIPATION: Hook[ParticipationListener] = Hook(
    "participation",
    """X8, SC5: ``listener(kind, person, time, reference) -> events``, called by a mechanism for each
    act of civic participation it records (a Gears vote, judgement or challenge); the events are
    appended to the same journal entry.""",
)

MonthlyIncome = Callable[[object], int]
MONTHLY_INCOME: Hook[MonthlyIncome] = Hook(
    "monthly_income",
    """X8, CR10: ``listener(policy) -> minor units``: a month of the basic income a mechanism pays, the
    base of the externality fee where policy sets none. The first listener answers.""",
)
