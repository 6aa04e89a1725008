"""The NumPy bulk recompute agrees with the exact domain computation (GR5)."""

from __future__ import annotations

import numpy as np
import pytest

from civicledger.mechanisms.gears.bulk import bulk_deltas
from civicledger.mechanisms.gears.coefficient import Tally, coefficients


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("clamp", [0, 30])
def test_gr05_the_vectorised_recompute_equals_the_exact_one(seed: int, clamp: int) -> None:
    rng = np.random.default_rng(seed)
    n_companies = int(rng.integers(1, 400))
    n_votes = int(rng.integers(0, 5_000))
    company_of_vote = rng.integers(0, n_companies, n_votes)
    bias = rng.uniform(-1, 1, n_companies)  # some companies lean one way, so deltas spread widely
    values = np.clip(np.rint(bias[company_of_vote] + rng.normal(0, 0.7, n_votes)), -1, 1).astype(np.int64)
    sales = rng.integers(0, 10**9, n_companies) * (rng.uniform(size=n_companies) < 0.9)
    counts, totals, deltas, average = bulk_deltas(n_companies, company_of_vote, values, sales, 30, clamp)
    exact_tallies: dict[str, Tally] = {}
    for c, v in zip(company_of_vote.tolist(), values.tolist(), strict=True):
        exact_tallies[str(c)] = exact_tallies.get(str(c), Tally()).add(v)
    exact = coefficients(exact_tallies, {str(c): int(g) for c, g in enumerate(sales)}, k=30, clamp=clamp)
    for c in range(n_companies):
        row = exact.companies[str(c)]
        assert (counts[c], totals[c]) == (row.votes, row.total)  # exact integers
        assert abs(deltas[c] - float(row.delta)) < 1e-9
    assert abs(average - float(exact.average)) < 1e-12
