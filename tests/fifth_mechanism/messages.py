"""Tallies' command and event."""

from __future__ import annotations

from dataclasses import dataclass

from civicledger.kernel.identity import AccountId
from civicledger.kernel.messages import Command, Event, command, event


@command("tallies.count")
@dataclass(frozen=True, slots=True)
class Count(Command):
    """Add ``by`` to the tally ``name`` of ``account``; signed by the account."""

    account: AccountId
    name: str
    by: int


@event("tallies.counted")
@dataclass(frozen=True, slots=True)
class Counted(Event):
    account: AccountId
    name: str
    by: int
    total: int
