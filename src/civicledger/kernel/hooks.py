"""Where mechanisms meet, declared by the kernel so that no mechanism imports another (X8).

A mechanism that offers something calls a hook's listeners; a mechanism that takes part adds itself
(``PARTICIPATION.add(...)``) from its own handlers module. With no listener, the caller goes on
alone: an economy may run any subset of the mechanisms.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from civicledger.kernel.identity import AccountId
from civicledger.kernel.messages import Event
from civicledger.kernel.registry import Context, Hook

Fact = int | str | bool | None


@dataclass(frozen=True, slots=True)
class Participation:
    """One act of civic participation as the mechanism that records it reports it (X8, IN2).

    The reporter states facts only; the listener decides what they are worth. ``facts`` holds plain
    values, for a Gears vote: ``company``, ``value``, ``recast`` (a change within the current vote
    term), ``previous`` (the voter's earlier vote on the company, or None), ``seconds_since_test``
    (since the GR3 test was passed), ``term_start`` and ``term_end`` (the vote term).
    """

    kind: str
    person: AccountId
    reference: str
    facts: Mapping[str, Fact] = field(default_factory=dict)


ParticipationListener = Callable[[Context, Participation], list[Event]]
PARTICIPATION: Hook[ParticipationListener] = Hook(
    "participation",
    """X8, SC5, IN2: ``listener(ctx, participation) -> events``, called by a mechanism for each act
    of civic participation it records (a Gears vote, judgement or challenge), inside the handler
    that records it (``ctx`` is that handler's context: state read only, time, policy, rule
    version); the events are appended to the same journal entry.""",
)

MonthlyIncome = Callable[[object], int]
MONTHLY_INCOME: Hook[MonthlyIncome] = Hook(
    "monthly_income",
    """X8, CR10: ``listener(policy) -> minor units``: a month of the basic income a mechanism pays, the
    base of the externality fee where policy sets none. The first listener answers.""",
)
