"""The compiled kernels of Circles' payments (``circles.kernels``) give the NumPy passes' rows.

``pay_acquaintances`` (``random_pairs`` and the payment pass, CI5, CI8) and ``route_two_hops``
(``two_hops`` and the pass through the friend, CI9) run where no option reads or changes the
payments; the same seeded runs with the kernels turned off take the NumPy path. Their full rows
must be equal, column for column, over the weeks while trusts form and after.
"""

from __future__ import annotations

from typing import Any

import pytest

from civicledger.mechanisms.circles.sim import CirclesSector
from civicledger.sim import Model, parse_scenario


def scenario(persons: int, steps: int, seed: int) -> Any:
    return parse_scenario(
        {
            "scenario": {"steps": steps, "seeds": [seed], "record_every": 1},
            "population": {"persons": persons, "companies": 10, "groups": 3, "resources": 2},
            "network": {"generator": "heavy_tailed", "mean_degree": 6.0, "formation_weeks": 8.0},
            "parameters": {"route_share": 0.2, "pay_share": 0.5, "publish_every": 4.0, "grade_every": 13.0},
        }
    )


def rows(persons: int, steps: int, seed: int, monkeypatch: pytest.MonkeyPatch, compiled: bool) -> list[Any]:
    used: list[bool] = []
    allowed = CirclesSector._compiled

    def spy(self: CirclesSector) -> bool:
        ok = compiled and allowed(self)
        used.append(ok)
        return ok

    with monkeypatch.context() as patch:
        patch.setattr(CirclesSector, "_compiled", spy)
        out = Model(scenario(persons, steps, seed), seed=seed).run()
    assert used and all(used) == compiled  # the path asked for is the path taken, every step
    return out


@pytest.mark.parametrize(("persons", "seed"), [(3000, 1), (5000, 2), (20000, 3)])
def test_ci8_ci9_compiled_payments_give_the_numpy_rows(persons: int, seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = rows(persons, 40, seed, monkeypatch, compiled=True)
    slow = rows(persons, 40, seed, monkeypatch, compiled=False)
    assert fast[-1]["routed_two_hop"] > 0 and fast[-1]["trusts"] > 0  # payments and routes happened
    assert fast == slow
