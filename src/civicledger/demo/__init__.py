"""`civic demo`: a small economy that exercises every mechanism, told as chapters.

It runs on a ``ScriptedEconomy`` (public, reproducible keys: demo only). Every command has a
fixed id and the clock is simulated from a fixed start, so running the demo twice on the same
store writes nothing new: the second run's commands are retries that return their first
results (X5).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.kernel.ports import Store
from civicledger.kernel.registry import installed, load
from civicledger.kernel.rules import LATEST_RULES
from civicledger.kernel.time import parse_instant

DEMO_START = parse_instant("2027-01-01T00:00:00Z")


@dataclass(frozen=True)
class Chapter:
    title: str
    tell: Callable[[ScriptedEconomy], list[str]]


Tell = Callable[[ScriptedEconomy], list[str]]


def chapter(title: str) -> Callable[[Tell], Chapter]:
    """Make a function that tells a story on a demo economy into a chapter with that title."""

    def wrap(fn: Tell) -> Chapter:
        return Chapter(title, fn)

    return wrap


def chapters() -> list[Chapter]:
    """The foundation's chapter, then each installed mechanism's, in the mechanisms' order."""
    from civicledger.demo.foundation import foundation

    told = [foundation]
    for mechanism in installed():
        if mechanism.demo is not None:
            found = load(mechanism.demo)
            if not isinstance(found, Chapter):
                raise TypeError(f"{mechanism.demo} is not a demo Chapter")
            told.append(found)
    return told


def run_demo(store: Store, rules: int = LATEST_RULES) -> tuple[ScriptedEconomy, list[tuple[str, list[str]]]]:
    """The demo economy under rule version ``rules`` (IN8: under version 1 it writes, byte for byte,
    the journal release 0.1.0 wrote)."""
    demo = ScriptedEconomy(store, start=DEMO_START, name="Demo Town", rules=rules)
    told = [(c.title, c.tell(demo)) for c in chapters()]
    return demo, told
