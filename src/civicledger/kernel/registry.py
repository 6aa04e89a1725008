"""The one interface between the kernel and the mechanisms.

A mechanism (``civicledger.mechanisms.circles`` ...) describes itself in one ``Mechanism`` object:
its name, its policy section and cross-field checks, the modules that register its commands,
handlers, projectors and prefetches (``@handles``, ``@projects``, ``@prefetches`` below), and where
its CLI group, HTTP read endpoints, pages, demo chapters and simulation sector live. The kernel and
the edges (``cli``, ``api``, ``web``, ``demo``, ``sim``) iterate over ``installed()`` and name no
mechanism; the installed ones are found through the ``civicledger.mechanisms`` entry-point group of
the package metadata (``pyproject.toml``), and a test or an embedding application may ``register``
one more.

Handlers decide (read state, return events); projectors apply events to state. Projectors must read
nothing but the event and the state they update: replaying the journal through them rebuilds every
projection exactly (X2). Where two mechanisms meet (X8) they meet through a ``Hook`` the kernel
declares, never by importing each other.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from civicledger.kernel.identity import AccountId, Consent
from civicledger.kernel.messages import Command, Event
from civicledger.kernel.policy import Policy
from civicledger.kernel.ports import Preload, UnitOfWork
from civicledger.kernel.rules import FIRST_RULES

C = TypeVar("C", bound=Command)
E = TypeVar("E", bound=Event)


@dataclass(frozen=True, slots=True)
class EconomyInfo:
    id: str
    name: str
    journal_key: str
    council: AccountId
    started_at: int
    rules: tuple[tuple[int, int], ...] = ((FIRST_RULES, 0),)
    """The rule versions this economy adopted, as (version, starts_at), oldest first (IN8)."""

    def rules_at(self, time: int) -> int:
        """The rule version in force at ``time``: the last adopted one that had started by then."""
        version = self.rules[0][0]
        for adopted, starts_at in self.rules:
            if starts_at <= time:
                version = adopted
        return version


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
    rules: int = FIRST_RULES
    """The rule version in force at ``time`` (IN8): a handler that changed keeps its old decision
    for entries written under an earlier version, so every journal any release wrote re-executes."""


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


Handler = Callable[[Command, Context], Decision]
"""Registered under a command type (``handles``), a handler is only called with commands of that type."""
Projector = Callable[[Event, UnitOfWork, ProjectionContext], None]
"""Registered under an event type (``projects``), a projector is only called with events of that type."""

HANDLERS: dict[type[Command], Handler] = {}
PROJECTORS: dict[type[Event], Projector] = {}
PREFETCHERS: dict[type[Command], Callable[[list[Command]], Preload]] = {}
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


# Mechanisms --------------------------------------------------------------------------------------

ENTRY_POINT_GROUP = "civicledger.mechanisms"

PolicyCheck = Callable[[Any], list[tuple[tuple[str, ...], str]]]
"""A cross-field check of a mechanism's policy section: ``section -> [(key path, problem)]`` (X7)."""


@dataclass(frozen=True, slots=True)
class Mechanism:
    """Everything a mechanism offers the application, in one place.

    The edge entries are ``"module:attribute"`` references, loaded only by the edge that needs them
    (``load``), so the kernel and a served process never import a CLI library or a page template
    they do not use:

    - ``cli``: a ``typer.Typer`` group, added to ``civic`` under ``name``;
    - ``api``: ``(api.kit.Reads) -> fastapi.APIRouter`` of read endpoints under ``/api/{name}/``;
    - ``pages``: ``(app, web.site.Site) -> None``, adding its pages and its cards on shared pages;
    - ``demo``: a ``demo.Chapter``, told in ``position`` order after the foundation's;
    - ``sim``: the mechanism's simulation sector.
    """

    name: str
    title: str
    rule_prefix: str
    position: int
    policy: type | None = None
    policy_checks: tuple[PolicyCheck, ...] = ()
    modules: tuple[str, ...] = ()
    cli: str | None = None
    api: str | None = None
    pages: str | None = None
    demo: str | None = None
    sim: str | None = None


_INSTALLED: dict[str, Mechanism] = {}
_ORDERED: tuple[Mechanism, ...] | None = None  # installed(), kept until one more is registered
_LOADED = threading.Event()
_LOCK = threading.RLock()


def register(mechanism: Mechanism) -> Mechanism:
    """Add a mechanism: import its modules (which register its messages, handlers and projectors)."""
    with _LOCK:
        existing = _INSTALLED.get(mechanism.name)
        if existing is not None and existing != mechanism:
            raise RuntimeError(f"a mechanism named {mechanism.name} is already installed")
        _INSTALLED[mechanism.name] = mechanism
        global _ORDERED
        _ORDERED = None
        for module in mechanism.modules:
            importlib.import_module(module)
    return mechanism


def installed() -> Sequence[Mechanism]:
    """The installed mechanisms in ``position`` order, loading the entry points on first use."""
    if not _LOADED.is_set():
        with _LOCK:
            if not _LOADED.is_set():
                for point in entry_points(group=ENTRY_POINT_GROUP):
                    found = point.load()
                    if not isinstance(found, Mechanism):
                        raise RuntimeError(f"entry point {point.value} is not a Mechanism")
                    register(found)
                _LOADED.set()
    global _ORDERED
    ordered = _ORDERED
    if ordered is None:
        ordered = _ORDERED = tuple(sorted(_INSTALLED.values(), key=lambda m: (m.position, m.name)))
    return ordered


def load(reference: str) -> object:
    """The object a ``"module:attribute"`` reference names."""
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)


# Hooks: where mechanisms meet -------------------------------------------------------------------

H = TypeVar("H", bound=Callable[..., object])


class Hook(Generic[H]):
    """A point the kernel declares where one mechanism lets others take part (X8), so that neither
    imports the other: the caller calls ``hook.each()``; a listener adds itself with ``hook.add``."""

    def __init__(self, name: str, doc: str) -> None:
        self.name = name
        self.__doc__ = doc
        self._listeners: list[H] = []

    def add(self, listener: H) -> H:
        if listener not in self._listeners:
            self._listeners.append(listener)
        return listener

    def each(self) -> tuple[H, ...]:
        return tuple(self._listeners)
