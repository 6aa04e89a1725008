"""Where each command type finds its handler and each event type its projector.

A mechanism registers both from its own services module (``services/circles.py`` ...), so adding a
mechanism never edits the engine. Handlers decide (read state, return events); projectors apply
events to state. Projectors must read nothing but the event and the state they update: replaying
the journal through them rebuilds every projection exactly (X2).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from civicledger.domain.identity import AccountId, Consent
from civicledger.domain.messages import Command, Event
from civicledger.domain.policy import Policy
from civicledger.ports import Preload, UnitOfWork

C = TypeVar("C", bound=Command)
E = TypeVar("E", bound=Event)


@dataclass(frozen=True, slots=True)
class EconomyInfo:
    id: str
    name: str
    journal_key: str
    council: AccountId
    started_at: int


@dataclass(slots=True)
class Context:
    """What a handler may know while deciding: the state (read only), time, policy, signers."""

    uow: UnitOfWork
    time: int
    seq: int
    economy: EconomyInfo | None
    policy: Policy
    signers: frozenset[AccountId]
    command_id: str


@dataclass(slots=True)
class Decision:
    """A handler's answer: the events, whose consent they need, and a result for the caller.

    ``new_keys`` names public keys the command itself introduces (an account being opened), so its
    signature can be checked before the account exists.
    """

    events: list[Event]
    consent: Consent
    result: dict[str, Any] = field(default_factory=dict)
    new_keys: dict[AccountId, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ProjectionContext:
    time: int
    seq: int


Handler = Callable[[Any, Context], Decision]
Projector = Callable[[Any, UnitOfWork, ProjectionContext], None]

HANDLERS: dict[type[Command], Handler] = {}
PROJECTORS: dict[type[Event], Projector] = {}
PREFETCHERS: dict[type[Command], Callable[[list[Any]], Preload]] = {}
"""Optional: what a batch of one command type will read, loaded before it runs in one go with the
rest of the batch's reads (``UnitOfWork.preload``: a cache warm-up only; handlers stay correct
without it)."""


def handles(command_type: type[C]) -> Callable[[Callable[[C, Context], Decision]], Callable[[C, Context], Decision]]:
    def wrap(fn: Callable[[C, Context], Decision]) -> Callable[[C, Context], Decision]:
        _register_once(HANDLERS, command_type, fn)
        return fn

    return wrap


Prefetcher = Callable[[list[C]], Preload]


def prefetches(command_type: type[C]) -> Callable[[Prefetcher[C]], Prefetcher[C]]:
    def wrap(fn: Prefetcher[C]) -> Prefetcher[C]:
        _register_once(PREFETCHERS, command_type, fn)
        return fn

    return wrap


def projects(
    event_type: type[E],
) -> Callable[[Callable[[E, UnitOfWork, ProjectionContext], None]], Callable[[E, UnitOfWork, ProjectionContext], None]]:
    def wrap(
        fn: Callable[[E, UnitOfWork, ProjectionContext], None],
    ) -> Callable[[E, UnitOfWork, ProjectionContext], None]:
        _register_once(PROJECTORS, event_type, fn)
        return fn

    return wrap


def _register_once(table: dict[Any, Any], key: type, fn: Any) -> None:
    """A second handler or projector for one type would silently replace the first: refuse it."""
    existing = table.get(key)
    if existing is not None and existing.__qualname__ != fn.__qualname__:
        raise RuntimeError(f"{key.__name__} already has {existing.__module__}.{existing.__qualname__}")
    table[key] = fn


def project(event: Event, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    projector = PROJECTORS.get(type(event))
    if projector is None:
        raise RuntimeError(f"no projector for event {event.TYPE}")
    projector(event, uow, ctx)
