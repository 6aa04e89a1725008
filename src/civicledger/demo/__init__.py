"""`civic demo`: a small economy that exercises every mechanism, told as chapters.

It runs on a ``ScriptedEconomy`` (public, reproducible keys: demo only). Every command has a
fixed id and the clock is simulated from a fixed start, so running the demo twice on the same
store writes nothing new: the second run's commands are retries that return their first
results (X5).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from civicledger.domain.time import parse_instant
from civicledger.ports import Store
from civicledger.services.scripted import ScriptedEconomy

DEMO_START = parse_instant("2027-01-01T00:00:00Z")


@dataclass(frozen=True)
class Chapter:
    title: str
    tell: Callable[[ScriptedEconomy], list[str]]


CHAPTERS: list[Chapter] = []


def chapter(title: str) -> Callable[[Callable[[ScriptedEconomy], list[str]]], Callable[[ScriptedEconomy], list[str]]]:
    """Register a chapter; chapters run in the order their modules are imported in run_demo."""

    def wrap(fn: Callable[[ScriptedEconomy], list[str]]) -> Callable[[ScriptedEconomy], list[str]]:
        CHAPTERS.append(Chapter(title, fn))
        return fn

    return wrap


def run_demo(store: Store) -> tuple[ScriptedEconomy, list[tuple[str, list[str]]]]:
    from civicledger.demo import foundation, gears  # noqa: F401  (chapters register in import order)
    from civicledger.demo import circles  # noqa: F401  (Circles after the foundation chapter)
    # isort: split
    from civicledger.demo import credits  # noqa: F401  (social credits after the foundation chapter)
    from civicledger.demo import creditism  # noqa: F401  (Creditism: the bicycle story)

    demo = ScriptedEconomy(store, start=DEMO_START, name="Demo Town")
    told = [(c.title, c.tell(demo)) for c in CHAPTERS]
    return demo, told
