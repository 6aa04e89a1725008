"""Every Gears delta at once with NumPy (GR5), for population-scale runs and the benchmark.

Pure computation over arrays; the engine never settles from it (settlement uses the exact,
published snapshot of ``coefficient.coefficients``).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


def bulk_deltas(
    companies: int, company_of_vote: Ints, values: Ints, sales: Ints, k: int, clamp: int = 0
) -> tuple[Ints, Ints, Floats, float]:
    """Every delta at once with NumPy, for population-scale runs and the benchmark (GR5).

    ``company_of_vote`` and ``values`` are arrays over the current votes (company index, -1/0/+1);
    ``sales`` is G per company. Vote counts and sums are exact integers; S and delta are float64
    and agree with the exact ``coefficient.coefficients`` to about 1e-12 (a test checks 1e-9).
    Settlement never uses this path: it uses the exact, published snapshot. Returns
    (counts, totals, deltas, S).
    """
    counts = np.bincount(company_of_vote, minlength=companies).astype(np.int64)
    totals = np.bincount(company_of_vote, weights=values, minlength=companies).astype(np.int64)
    voted = counts > 0
    mean = np.zeros(companies, dtype=np.float64)
    mean[voted] = totals[voted] / counts[voted]
    weights = np.asarray(sales, dtype=np.float64)
    weight = weights[voted].sum()
    average = float((weights[voted] * mean[voted]).sum() / weight) if weight else 0.0
    deltas: Floats = np.where(voted, k * (mean - average), 0.0)
    if clamp:
        largest = float(np.abs(deltas).max(initial=0.0))
        if largest > clamp:
            deltas = deltas * (clamp / largest)
    return counts, totals, deltas, average
