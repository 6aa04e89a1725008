"""The ``[tallies]`` policy section."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TalliesPolicy:
    max_per_count: int = 5  # TA1: the most one addition may add
    max_name_length: int = 32


def check_tallies_policy(section: TalliesPolicy) -> list[tuple[tuple[str, ...], str]]:
    if section.max_per_count < 1:
        return [(("tallies", "max_per_count"), "an addition may add at least 1")]
    return []
