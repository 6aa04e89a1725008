"""GR5/GR6 benchmark: recompute every Common Good Coefficient, and settle sales through the engine.

1. Recompute: 100,000 companies and 10,000,000 current votes (seeded). Timed in one run:
   - ``numpy``: the vectorised path ``mechanisms/gears/bulk.py: bulk_deltas`` (target <= 2 s);
   - ``pandas``: a straightforward pandas group-by baseline computing the same formula;
   - ``exact``: the exact domain computation (``fractions.Fraction``) on the per-company tallies,
     and the largest difference between it and the NumPy deltas.
2. Settlements: ``gears.settle_sale`` commands through the real engine (signatures, consent,
   projection, Merkle journal) on a SQLite file, next to plain one-leg ``ledger.transfer``
   commands on the same store as the baseline; and the same on the in-memory store.

    .venv/bin/python benchmarks/gears.py            # 100,000 companies, 10,000,000 votes, 300 sales
    .venv/bin/python benchmarks/gears.py --quick    # 10,000 companies, 500,000 votes, 60 sales

Prints one JSON object per line. The machine has 2 cores shared with other work: figures are noisy.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from civicledger.adapters.memory import MemoryStore
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.adapters.stores import open_store
from civicledger.kernel import ledger as led
from civicledger.kernel.identity import AccountKind
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.ports import Store
from civicledger.kernel.time import parse_instant
from civicledger.mechanisms.gears import commands as g
from civicledger.mechanisms.gears.bulk import bulk_deltas
from civicledger.mechanisms.gears.coefficient import Tally, coefficients
from civicledger.mechanisms.gears.rules import answer_digest

K = 30
XI = CurrencyId("xi")


def emit(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def synthetic_votes(companies: int, votes: int, seed: int) -> tuple[Any, Any, Any]:
    rng = np.random.default_rng(seed)
    company_of_vote = rng.integers(0, companies, votes, dtype=np.int64)
    lean = rng.uniform(-1, 1, companies)
    values = np.clip(np.rint(lean[company_of_vote] + rng.normal(0, 0.7, votes)), -1, 1).astype(np.int8)
    sales = rng.integers(0, 10**9, companies, dtype=np.int64)
    return company_of_vote, values, sales


def pandas_baseline(company_of_vote: Any, values: Any, sales: Any) -> Any:
    frame = pd.DataFrame({"company": company_of_vote, "value": values})
    per = frame.groupby("company")["value"].agg(["sum", "count"])
    per["mean"] = per["sum"] / per["count"]
    per["sales"] = pd.Series(sales).reindex(per.index).astype("float64")
    average = (per["sales"] * per["mean"]).sum() / per["sales"].sum()
    deltas = pd.Series(0.0, index=range(len(sales)))
    deltas.loc[per.index] = K * (per["mean"] - average)
    return deltas.to_numpy()


def recompute(companies: int, votes: int, seed: int) -> None:
    company_of_vote, values, sales = synthetic_votes(companies, votes, seed)
    started = time.perf_counter()
    counts, totals, deltas, _ = bulk_deltas(companies, company_of_vote, values, sales, K)
    numpy_s = time.perf_counter() - started
    started = time.perf_counter()
    baseline = pandas_baseline(company_of_vote, values, sales)
    pandas_s = time.perf_counter() - started
    started = time.perf_counter()
    pairs = enumerate(zip(totals.tolist(), counts.tolist(), strict=True))
    tallies = {str(c): Tally(int(t), int(n)) for c, (t, n) in pairs}
    exact = coefficients(tallies, {str(c): int(s) for c, s in enumerate(sales.tolist())}, K)
    exact_s = time.perf_counter() - started
    exact_deltas = np.array([float(exact.companies[str(c)].delta) for c in range(companies)])
    emit(
        benchmark="gears.recompute",
        companies=companies,
        current_votes=votes,
        numpy_seconds=round(numpy_s, 3),
        pandas_groupby_seconds=round(pandas_s, 3),
        speedup_vs_pandas=round(pandas_s / numpy_s, 1),
        target_seconds=2.0,
        within_target=numpy_s <= 2.0,
        exact_fraction_seconds=round(exact_s, 3),
        max_abs_diff_numpy_vs_exact=float(np.abs(deltas - exact_deltas).max()),
        max_abs_diff_pandas_vs_exact=float(np.abs(baseline - exact_deltas).max()),
        exact_sum_sales_times_delta=str(exact.imbalance()),
    )


def settlement_economy(store: Store) -> ScriptedEconomy:
    e = ScriptedEconomy(store, start=parse_instant("2030-01-01T00:00:00Z"), name="Gears benchmark")
    fund = e.open("fund", AccountKind.FUND)
    e.run(led.CreateCurrency("xi", fund, "ethicap"), "fund")
    e.run(led.Issue(XI, fund, 10**12), "fund")
    e.run(g.SetupGears(fund, XI), *e.governors, "fund")
    buyer = e.person("buyer")
    e.run(led.Issue(XI, buyer, 10**12), "fund")
    e.person("voter")
    for name, value in (("widget", 1), ("other", 0)):
        firm = e.open(name, AccountKind.ORGANIZATION)
        e.run(g.RegisterCompany(firm), name)
        for i in range(3):
            e.run(g.AddQuestion(firm, f"q{i}?", ("a", "b"), answer_digest(f"s{i}", 1), f"s{i}"), name)
        e.run(g.SettleSale(buyer, firm, 1_000 * (1 + value), XI), "buyer", name)
        drawn = e.run(g.StartTest(e.account("voter"), firm), "voter").result["questions"]
        e.run(g.AnswerTest(e.account("voter"), firm, tuple(1 for _ in drawn)), "voter")
        e.run(g.CastVote(e.account("voter"), firm, 1 - value), "voter")
    e.run(g.PublishCoefficients(fund), "fund")
    return e


def settlements(backend: str, store: Store, count: int) -> None:
    e = settlement_economy(store)
    buyer, widget, other = e.account("buyer"), e.account("widget"), e.account("other")
    started = time.perf_counter()
    for i in range(count):
        firm, name = (widget, "widget") if i % 2 == 0 else (other, "other")
        e.run(g.SettleSale(buyer, firm, 10_000 + i, XI), "buyer", name)
    settle_s = time.perf_counter() - started
    started = time.perf_counter()
    for i in range(count):
        e.run(led.Transfer((led.Leg(XI, buyer, widget, 10_000 + i),)), "buyer")
    transfer_s = time.perf_counter() - started
    emit(
        benchmark="gears.settlements",
        backend=backend,
        settlements=count,
        settlements_per_second=round(count / settle_s, 1),
        baseline_plain_transfers_per_second=round(count / transfer_s, 1),
        settlement_cost_vs_transfer=round(settle_s / transfer_s, 2),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--seed", type=int, default=20300101)
    args = parser.parse_args()
    companies, votes, sales = (10_000, 500_000, 60) if args.quick else (100_000, 10_000_000, 300)
    recompute(companies, votes, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{Path(tmp) / 'gears-bench.db'}")
        try:
            settlements("sqlite", store, sales)
        finally:
            store.close()
    settlements("memory", MemoryStore(), sales)


if __name__ == "__main__":
    main()
