"""CR12 benchmark: every good's full price breakdown for a synthetic supply chain.

A reproducible chain (seeded): resources at the bottom, goods that buy about ten inputs each
(from resources and earlier goods), and local cycles (a good also buys from one of the next few
goods, as steel buys machines that are made of steel). We time the sparse solver (two sparse
factorisations, six components, rounding to minor units) and, in the same run, a baseline that
inverts the dense matrix with NumPy on the largest size it can hold. At 20,000 assets one dense
matrix is 3.2 GB and inverting two of them peaks above 12 GB, too much on a shared 24 GB machine, so
the default baseline size is 10,000 (0.8 GB a matrix): the sparse solver is then timed again on
the same 10,000-asset sub-chain for a like-for-like figure. --dense-size 20000 runs the full size.

    .venv/bin/python benchmarks/creditism.py            # 20,000 assets, ~200,000 links
    .venv/bin/python benchmarks/creditism.py --quick    # 2,000 assets

Prints one JSON object per line. The machine is shared: figures are noisy.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from civicledger.mechanisms.creditism.solver import SparseChain, block_order, solve_sparse


def synthetic_chain(
    n: int, links: int, seed: int, resources_share: float = 0.1, cycle_share: float = 0.02, window: int = 20
) -> SparseChain:
    """A chain of n assets with about ``links`` input links; every cycle stays within ``window`` goods."""
    rng = np.random.default_rng(seed)
    resources = max(1, int(n * resources_share))
    goods = n - resources
    per = max(1, links // goods)
    consumers = np.repeat(np.arange(resources, n), per)
    # inputs from anything earlier (resources and goods made before this one)
    sources = (rng.random(len(consumers)) * consumers).astype(np.int64)
    # local cycles: a small share of links go to one of the next `window` goods
    back = rng.random(len(consumers)) < cycle_share
    ahead = consumers[back] + rng.integers(1, window + 1, size=int(back.sum()))
    ahead = np.minimum(ahead, n - 1)
    sources[back] = ahead
    # ... which in turn buy from it (steel buys machines, machines buy steel): a cycle
    consumers = np.concatenate([consumers, ahead])
    sources = np.concatenate([sources, consumers[: len(consumers) - len(ahead)][back]])
    keep = sources != consumers
    consumers, sources = consumers[keep], sources[keep]
    # coefficients in physical units, scaled so that each good's inputs are worth at most 80% of it
    scale = np.exp(rng.normal(0.0, 2.0, size=n))  # per-unit values spread over orders of magnitude
    weight = rng.random(len(consumers))
    matrix = sp.csr_matrix((weight, (consumers, sources)), shape=(n, n))
    matrix.sum_duplicates()
    row_sums = np.asarray(matrix.sum(axis=1)).ravel()
    row_sums[row_sums == 0] = 1
    share = 0.8 * rng.random(n)  # value share of inputs in each good's cost
    matrix = sp.diags(share / row_sums) @ matrix  # value shares
    matrix = (sp.diags(scale) @ matrix @ sp.diags(1 / scale)).tocsr()  # back to physical units
    labour = scale * (0.2 + rng.random(n))
    external = scale * 0.1 * rng.random(n)
    fee = scale * 0.05 * rng.random(n)
    council = np.full(n, 0.05)
    coop = np.where(np.arange(n) >= resources, 0.05, 0.0)
    scarcity = 0.9 + 0.2 * rng.random(n)  # demand / supply between 0.9 and 1.1
    names = [f"r{i}" if i < resources else f"g{i}" for i in range(n)]
    return SparseChain(names, labour, external, fee, council, coop, scarcity, matrix)


def sub_chain(chain: SparseChain, size: int) -> SparseChain:
    """The first ``size`` assets of a chain, with links to later assets dropped."""
    return SparseChain(
        chain.names[:size],
        chain.labour[:size],
        chain.external[:size],
        chain.fee[:size],
        chain.council_markup[:size],
        chain.coop_markup[:size],
        chain.scarcity[:size],
        chain.inputs[:size, :size].tocsr(),
    )


def dense_baseline(chain: SparseChain, size: int) -> tuple[float, np.ndarray]:
    """Invert (I - diag(m) B) and (I - B) densely and multiply: the textbook Leontief way."""
    b = chain.inputs.toarray()
    m = chain.multiplier
    direct = chain.labour + chain.external + chain.fee
    start = time.perf_counter()
    eye = np.eye(size)
    price = np.linalg.inv(eye - m[:, None] * b) @ (m * direct)
    inv = np.linalg.inv(eye - b)
    cost = direct + b @ price
    kappa, gamma = chain.council_markup, chain.coop_markup
    slices = np.column_stack(
        [
            chain.labour,
            chain.external,
            chain.fee,
            kappa * cost,
            gamma * (1 + kappa) * cost,
            price - (1 + gamma) * (1 + kappa) * cost,
        ]
    )
    parts = inv @ slices
    return time.perf_counter() - start, parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 assets, 20,000 links")
    parser.add_argument("--size", type=int, default=20_000)
    parser.add_argument("--links", type=int, default=200_000)
    parser.add_argument("--dense-size", type=int, default=None, help="size of the dense baseline (default: --size)")
    parser.add_argument("--seed", type=int, default=2027)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    size, links = (2_000, 20_000) if args.quick else (args.size, args.links)
    dense_size = min(args.dense_size or (size if args.quick else 10_000), size)

    chain = synthetic_chain(size, links, args.seed)
    _, labels, count = block_order(chain.inputs)
    biggest = int(np.bincount(labels).max())
    cyclic = int((np.bincount(labels) > 1).sum())
    print(
        json.dumps(
            {
                "chain": "synthetic",
                "seed": args.seed,
                "assets": size,
                "links": int(chain.inputs.nnz),
                "components": int(count),
                "cyclic_components": cyclic,
                "largest_cycle": biggest,
            }
        )
    )
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        result = solve_sparse(chain)
        times.append(time.perf_counter() - start)
    exact_sums = bool(np.all(result.parts_units.sum(axis=1) == result.price_units))
    print(
        json.dumps(
            {
                "method": "sparse (block-triangular order, SuperLU, 6 components, rounding)",
                "assets": size,
                "seconds_best": round(min(times), 4),
                "seconds_all": [round(t, 4) for t in times],
                "target_seconds": 1.0,
                "components_sum_to_price": exact_sums,
            }
        )
    )
    same = chain if dense_size == size else sub_chain(chain, dense_size)
    if dense_size != size:
        sub_times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            result = solve_sparse(same)
            sub_times.append(time.perf_counter() - start)
        print(
            json.dumps(
                {
                    "method": "sparse on the baseline's size",
                    "assets": dense_size,
                    "seconds_best": round(min(sub_times), 4),
                }
            )
        )
        times = sub_times
    dense_time, dense_parts = dense_baseline(same, dense_size)
    note = "same chain" if dense_size == size else f"the first {dense_size} assets (links to later ones dropped)"
    rel = np.max(np.abs(dense_parts - result.parts) / np.maximum(1.0, np.abs(result.parts)))
    print(
        json.dumps(
            {
                "method": "dense numpy inverse (baseline)",
                "assets": dense_size,
                "seconds": round(dense_time, 4),
                "dense_matrix_gb": round(dense_size * dense_size * 8 / 1e9, 2),
                "note": note,
                "max_relative_difference_vs_sparse": float(f"{rel:.3g}"),
                "speedup_of_sparse": round(dense_time / min(times), 1),
            }
        )
    )


if __name__ == "__main__":
    main()
