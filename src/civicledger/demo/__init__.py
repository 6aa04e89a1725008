"""`civic demo`: a small economy that exercises every mechanism, told as chapters.

It runs on a ``ScriptedEconomy`` (public, reproducible keys: demo only). Every command has a
fixed id and the clock is simulated from a fixed start, so running the demo twice on the same
store writes nothing new: the second run's commands are retries that return their first
results (X5).
"""

from __future__ import annotations

import importlib
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


STORY = ("foundation", "gears", "circles", "credits", "creditism")
"""The chapters' modules in the order the story is told (each registers its chapters on import)."""


def run_demo(store: Store) -> tuple[ScriptedEconomy, list[tuple[str, list[str]]]]:
    for module in STORY:
        importlib.import_module(f"civicledger.demo.{module}")
    demo = ScriptedEconomy(store, start=DEMO_START, name="Demo Town")
    told = [(c.title, c.tell(demo)) for c in CHAPTERS]
    return demo, told
