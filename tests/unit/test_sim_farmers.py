"""IN2 in the simulator: participation farmers, with and without the participation caps."""

from __future__ import annotations

from typing import Any

import numpy as np

from civicledger.kernel.time import WEEK
from civicledger.mechanisms.credits.policy import CreditsPolicy
from civicledger.sim import Model, parse_scenario


def _farm(caps: float) -> tuple[int, int, int]:
    """A year of weekly steps; half the persons take part in council work every week, and nothing else."""
    data: dict[str, Any] = {
        "scenario": {"steps": 52, "step": WEEK, "seeds": [1]},
        "population": {"persons": 40, "companies": 3, "resources": 0},
        "behaviours": {"participation": "farmers"},
        "parameters": {"farmer_share": 0.5, "participation_caps": caps, "vote_rate": 0.0, "infraction_rate": 0.0},
    }
    model = Model(parse_scenario(data), seed=1)
    credits = model.sectors["credits"]
    top = 0
    for s in range(model.scenario.steps):
        model.step(s)
        table = credits.by_grade(model.t_now, np.arange(20, dtype=np.int64))  # the farmers
        top = max(top, int(np.flatnonzero(table.sum(axis=0))[-1]) + CreditsPolicy().grade_min)
    return top, credits.participation_uncounted, int(model.verified[:20].sum())


def test_in02_farmers_reach_the_top_grade_without_caps_and_never_with_them() -> None:
    top, uncounted, _ = _farm(0.0)
    assert top == 5 and uncounted == 0  # rule version 1: a council meeting a week is grade 5
    top, uncounted, farmers = _farm(1.0)
    assert farmers and top <= 4 and uncounted > 0  # rule version 2's caps: one kind never reaches 5
