"""Circles pathfinding at production scale (issue 3, point 8).

Builds a reproducible synthetic Circles economy directly as arrays (not through the journal):
160,000 accounts, 1,000 groups, about 2,000,000 trust edges with a heavy-tailed degree
distribution, holdings spread over many currencies. The flow network is the router's own
(``mechanisms.circles.flow.FlowIndex``): a node per account and per currency, an edge account → currency
carrying the holding, an edge currency → account for each acceptance (trust, or being the issuer).

For random sender/receiver pairs it times (a) a payment plan for a given amount and (b) the
maximum sendable amount with its plan (max-flow + ordered plan of at most 30 transfers), and, as
the baseline in the same run, ``scipy.sparse.csgraph.maximum_flow`` on the same graph already
built as a CSR matrix, for the same pairs. It prints one JSON object per line.

    .venv/bin/python benchmarks/pathfinding.py                    # production scale
    .venv/bin/python benchmarks/pathfinding.py --quick            # a small graph, seconds
    .venv/bin/python benchmarks/pathfinding.py --scale national   # 1.6M accounts, 20M trust edges

At national scale (issue 17) the graph is a country's: accounts in regions of Pareto sizes, most
trust inside a region, groups as hubs (``build_national``); the baseline runs on 10 pairs and the
Sybil graft is off unless ``--sybils`` asks for it. At every scale the benchmark also times the
index's upkeep per trust change (added, withdrawn, holding changed) and the amortized merge, and
prints the load average and the process peak RSS (``resource.getrusage``).

Figures are wall-clock on a shared 2-core machine where other work runs: they are noisy.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import sys
import time
import tracemalloc
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import maximum_flow

from civicledger.kernel.identity import AccountId
from civicledger.mechanisms.circles.flow import INF, FlowIndex
from civicledger.mechanisms.circles.routing import plan_from_flow


@dataclass
class Economy:
    accounts: int
    groups: int
    src: np.ndarray
    dst: np.ndarray
    cap: np.ndarray
    trust_edges: int
    holdings: int


def build(accounts: int, groups: int, trust_edges: int, seed: int) -> Economy:
    """The synthetic economy: node i < accounts is an account; accounts + j is currency j
    (personal currency of account j for j < accounts, group currency j - accounts after)."""
    rng = np.random.default_rng(seed)
    # Heavy tails: how many each account trusts (log-normal), how popular each account is (Pareto).
    out_deg = rng.lognormal(mean=1.6, sigma=1.0, size=accounts)
    popularity = rng.pareto(1.3, size=accounts) + 1.0
    group_share = 0.05  # of the trust edges go to groups (accepting group money, CI13)
    personal_edges = int(trust_edges * (1 - group_share))
    truster = rng.choice(accounts, size=int(personal_edges * 1.08), p=out_deg / out_deg.sum())
    trustee = rng.choice(accounts, size=len(truster), p=popularity / popularity.sum())
    keep = truster != trustee
    code = np.unique(truster[keep].astype(np.int64) * accounts + trustee[keep])[:personal_edges]
    truster, trustee = code // accounts, code % accounts
    g_truster = rng.choice(accounts, size=int(trust_edges * group_share), p=out_deg / out_deg.sum())
    g_size = rng.pareto(1.2, size=groups) + 1.0
    g_trustee = rng.choice(groups, size=len(g_truster), p=g_size / g_size.sum())
    gcode = np.unique(g_truster.astype(np.int64) * groups + g_trustee)
    g_truster, g_trustee = gcode // groups, gcode % groups
    return network(rng, accounts, groups, truster, trustee, g_truster, g_trustee)


def network(
    rng: np.random.Generator,
    accounts: int,
    groups: int,
    truster: np.ndarray,
    trustee: np.ndarray,
    g_truster: np.ndarray,
    g_trustee: np.ndarray,
) -> Economy:
    """The flow network of a trust graph: acceptance edges, and holdings of about half of what each
    account accepts."""
    # Acceptance edges: currency node → truster; issuers accept their own currency.
    acc_src = np.concatenate([accounts + trustee, accounts + accounts + g_trustee, accounts + np.arange(accounts)])
    acc_dst = np.concatenate([truster, g_truster, np.arange(accounts)])
    # Holdings: everyone holds some of its own currency, and coins of about half the accounts
    # and groups it accepts (that is how coins arrive), log-normally sized.
    hold_pick = rng.random(len(truster)) < 0.5
    ghold_pick = rng.random(len(g_truster)) < 0.5
    h_acc = np.concatenate([np.arange(accounts), truster[hold_pick], g_truster[ghold_pick]])
    h_cur = np.concatenate(
        [accounts + np.arange(accounts), accounts + trustee[hold_pick], 2 * accounts + g_trustee[ghold_pick]]
    )
    h_units = np.minimum(rng.lognormal(mean=10.0, sigma=1.5, size=len(h_acc)).astype(np.int64) + 1, 50_000_000)
    src = np.concatenate([h_acc, acc_src]).astype(np.int64)
    dst = np.concatenate([h_cur, acc_dst]).astype(np.int64)
    cap = np.concatenate([h_units, np.full(len(acc_src), INF, dtype=np.int64)])
    return Economy(accounts, groups, src, dst, cap, len(truster) + len(g_truster), len(h_acc))


def sorted_unique(codes: np.ndarray) -> np.ndarray:
    """np.unique by an in-place sort: several times faster than its hashing path on tens of millions."""
    codes.sort()
    return codes[np.concatenate([[True], codes[1:] != codes[:-1]])]


def build_national(accounts: int, groups: int, trust_edges: int, seed: int, regions: int = 400) -> Economy:
    """A country's trust graph, drawn with NumPy in a few seconds.

    Accounts live in regions of Pareto-distributed sizes (numbered so each region is a range);
    out-degrees are log-normal, popularity Pareto; 85% of personal trust stays in the truster's
    region. A tenth of trust goes to groups, which are hubs: Pareto-sized, each with a home region
    where 80% of its members live."""
    rng = np.random.default_rng(seed)
    size = rng.pareto(1.2, size=regions) + 1.0
    counts = np.maximum(1, np.floor(size / size.sum() * accounts)).astype(np.int64)
    counts[np.argmax(counts)] += accounts - counts.sum()
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    region_of = np.repeat(np.arange(regions), counts)
    out_deg = rng.lognormal(mean=1.6, sigma=1.0, size=accounts)
    popularity = rng.pareto(1.3, size=accounts) + 1.0
    cum = np.cumsum(popularity)
    group_share = 0.10
    personal_edges = int(trust_edges * (1 - group_share))
    truster = rng.choice(accounts, size=int(personal_edges * 1.10), p=out_deg / out_deg.sum())
    trustee = np.empty_like(truster)
    local = rng.random(len(truster)) < 0.85
    home = region_of[truster[local]]
    lo = np.where(start[home] > 0, cum[start[home] - 1], 0.0)
    hi = cum[start[home] + counts[home] - 1]
    trustee[local] = np.searchsorted(cum, lo + rng.random(len(home)) * (hi - lo), side="right")
    trustee[~local] = np.searchsorted(cum, rng.random(int((~local).sum())) * cum[-1], side="right")
    np.minimum(trustee, accounts - 1, out=trustee)
    del home, lo, hi, local
    keep = truster != trustee
    code = sorted_unique(truster[keep].astype(np.int64) * accounts + trustee[keep])
    del truster, trustee, keep
    code = rng.permutation(code)[:personal_edges]
    code.sort()
    truster, trustee = code // accounts, code % accounts
    del code
    g_size = rng.pareto(1.1, size=groups) + 1.0
    g_home = rng.choice(regions, size=groups, p=counts / counts.sum())
    g_trustee = rng.choice(groups, size=int(trust_edges * group_share * 1.05), p=g_size / g_size.sum())
    at_home = rng.random(len(g_trustee)) < 0.8
    member_home = start[g_home[g_trustee]] + (rng.random(len(g_trustee)) * counts[g_home[g_trustee]]).astype(np.int64)
    g_truster = np.where(at_home, member_home, rng.integers(0, accounts, size=len(g_trustee)))
    gcode = rng.permutation(sorted_unique(g_truster.astype(np.int64) * groups + g_trustee))
    gcode = np.sort(gcode[: int(trust_edges * group_share)])
    g_truster, g_trustee = gcode // groups, gcode % groups
    del gcode, member_home, at_home
    return network(rng, accounts, groups, truster, trustee, g_truster, g_trustee)


def load() -> list[float]:
    """The 1, 5 and 15 minute load averages: the machine is shared, so every figure says how busy it was."""
    return [round(x, 2) for x in os.getloadavg()]


def update_cost(index: FlowIndex, accounts: int, n_nodes: int, seed: int, changes: int, scale: str) -> None:
    """Keeping the index up to date as trust changes: time per trust added, per trust removed, per
    holding changed, and the periodic merge of new edges into the CSR arrays (amortized)."""
    rng = np.random.default_rng(seed + 3)
    truster = rng.integers(0, accounts, size=changes)
    trustee = accounts + rng.integers(0, accounts, size=changes)  # a personal currency node
    held = rng.integers(0, index.m, size=changes)
    pairs = list(zip(trustee.tolist(), truster.tolist(), strict=True))
    holdings = [(int(index._src[e]), int(index._dst[e]), int(index.cap[e])) for e in held.tolist()]
    timings: dict[str, list[float]] = {"add": [], "remove": [], "capacity": []}
    for u, v in pairs:
        start = time.perf_counter()
        index.set_capacity(u, v, INF)
        timings["add"].append(time.perf_counter() - start)
    for u, v in pairs:
        start = time.perf_counter()
        index.set_capacity(u, v, 0)
        timings["remove"].append(time.perf_counter() - start)
    for u, v, c in holdings:
        start = time.perf_counter()
        index.set_capacity(u, v, c + 1)
        timings["capacity"].append(time.perf_counter() - start)
    start = time.perf_counter()
    index._build()
    merge_s = time.perf_counter() - start
    merge_every = max(index.merge_floor, index._indexed // 16)
    row = {
        "what": "index update per trust change",
        "scale": scale,
        "load_avg": load(),
        "changes": changes,
        "network_edges": index.m,
    }
    for kind, values in timings.items():
        us = np.array(values) * 1e6
        row[f"{kind}_p50_us"] = round(float(np.percentile(us, 50)), 2)
        row[f"{kind}_p99_us"] = round(float(np.percentile(us, 99)), 2)
        row[f"{kind}_mean_us"] = round(float(us.mean()), 2)
        row[f"{kind}_max_ms"] = round(float(us.max()) / 1000, 2)  # an add may grow the arrays by 1/8
    row["merge_s"] = round(merge_s, 2)
    row["merge_every_new_edges"] = merge_every
    row["merge_amortized_us_per_new_edge"] = round(merge_s / merge_every * 1e6, 2)
    print(json.dumps(row), flush=True)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q)) if values else float("nan")


def timed_plan(index: FlowIndex, s: int, t: int, amount: int | None, max_steps: int) -> tuple[float, int, int, int]:
    start = time.perf_counter()
    flow = index.max_flow(s, t, amount)
    named = {
        ("a" if u < ECON.accounts else "c", str(u)): {
            ("a" if v < ECON.accounts else "c", str(v)): x for v, x in targets.items()
        }
        for u, targets in index.node_flow(flow).items()
    }
    plan = plan_from_flow(named, AccountId(str(s)), AccountId(str(t)), max_steps, amount)
    return (time.perf_counter() - start) * 1000, plan.units, plan.max_flow, len(plan.legs)


ECON: Economy


def sybil_check(seed: int, accounts: int, groups: int, n_nodes: int, size: int) -> None:
    """CI14 at scale: a ring of fake accounts that trust only each other, each holding its own and
    its neighbours' coins, grafted onto the economy. Honest accounts trust none of them."""
    rng = np.random.default_rng(seed + 2)
    ring = np.arange(size)
    fake = n_nodes + ring  # account nodes of the fakes
    money = n_nodes + size + ring  # their currencies
    nxt = (ring + 1) % size
    src = np.concatenate([ECON.src, fake, fake, money, money[nxt], money])
    dst = np.concatenate([ECON.dst, money, money[nxt], fake, fake, fake[nxt]])
    units = np.full(size, 10**6, dtype=np.int64)
    cap = np.concatenate([ECON.cap, units, units, np.full(3 * size, INF, dtype=np.int64)])
    grafted = FlowIndex.from_arrays(n_nodes + 2 * size, src, dst, cap)
    honest = rng.choice(accounts, size=50)
    fakes = rng.choice(size, size=50)
    reached = 0
    for f, h in zip(fakes, honest, strict=True):
        source = int(n_nodes + f)
        flow = grafted.node_flow(grafted.max_flow(source, int(h)))
        reached += sum(flow.get(source, {}).values())
    among = sum(1 for f in fakes[:10] if grafted.max_flow(int(n_nodes + f), int(n_nodes + (f + size // 2) % size), 1))
    print(
        json.dumps(
            {
                "what": "CI14: a Sybil ring trusting only itself",
                "ring": size,
                "fake_to_honest_pairs": 50,
                "units_reaching_honest_accounts": int(reached),
                "fake_to_fake_pairs_that_can_pay": f"{among}/10",
            }
        ),
        flush=True,
    )


def main() -> None:
    global ECON
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small graph (5,000 accounts) for a smoke run")
    parser.add_argument(
        "--scale",
        choices=("quick", "production", "national"),
        default=None,
        help="production: 160,000 accounts, 2M trust edges; national: 1.6M accounts, 10,000 groups, 20M trust edges",
    )
    parser.add_argument("--changes", type=int, default=5_000, help="trust changes timed for the index update cost")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--pairs", type=int, default=200, help="random pairs for the router")
    parser.add_argument(
        "--baseline-pairs",
        type=int,
        default=None,
        help="of those, how many also run SciPy's maximum_flow (30; 10 national)",
    )
    parser.add_argument("--amount", type=int, default=10_000, help="minor units for the payment-plan query (a)")
    parser.add_argument("--max-steps", type=int, default=30)
    parser.add_argument(
        "--sybils", type=int, default=None, help="size of the Sybil ring grafted on (CI14; 1,000; 0 = none, national)"
    )
    args = parser.parse_args()
    scale = args.scale or ("quick" if args.quick else "production")
    national = scale == "national"
    accounts, groups, edges = {
        "quick": (5_000, 50, 60_000),
        "production": (160_000, 1_000, 2_000_000),
        "national": (1_600_000, 10_000, 20_000_000),
    }[scale]
    baseline_pairs = args.baseline_pairs if args.baseline_pairs is not None else (10 if national else 30)
    sybils = args.sybils if args.sybils is not None else (0 if national else 1_000)

    tracemalloc.start()
    t0 = time.perf_counter()
    ECON = (build_national if national else build)(accounts, groups, edges, args.seed)
    n_nodes = 2 * accounts + groups
    t1 = time.perf_counter()
    index = FlowIndex.from_arrays(n_nodes, ECON.src, ECON.dst, ECON.cap)
    t2 = time.perf_counter()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    graph_bytes = sum(
        a.nbytes
        for a in (
            index._src,
            index._dst,
            index.cap,
            index._flow,
            index._out_ptr,
            index._out_eid,
            index._out_dst,
            index._in_ptr,
            index._in_eid,
            index._in_src,
            index._fwd_seen,
            index._bwd_seen,
        )
    )
    print(
        json.dumps(
            {
                "what": "graph",
                "scale": scale,
                "seed": args.seed,
                "accounts": accounts,
                "groups": groups,
                "trust_edges": ECON.trust_edges,
                "holdings": ECON.holdings,
                "nodes": n_nodes,
                "network_edges": index.m,
                "generate_s": round(t1 - t0, 2),
                "index_s": round(t2 - t1, 2),
                "graph_mb": round(graph_bytes / 2**20, 1),
                "build_peak_traced_mb": round(peak / 2**20, 1),
            }
        ),
        flush=True,
    )

    rng = np.random.default_rng(args.seed + 1)
    pairs = [(int(s), int(t)) for s, t in rng.choice(accounts, size=(args.pairs, 2)) if s != t]
    for s, t in pairs[:3]:  # warm up
        index.max_flow(s, t, args.amount)

    plan_ms, plan_ok = [], 0
    for s, t in pairs:
        ms, units, _, steps = timed_plan(index, s, t, args.amount, args.max_steps)
        plan_ms.append(ms)
        plan_ok += units == args.amount
    print(
        json.dumps(
            {
                "what": "(a) payment plan for a given amount",
                "scale": scale,
                "load_avg": load(),
                "amount": args.amount,
                "pairs": len(pairs),
                "p50_ms": round(percentile(plan_ms, 50), 2),
                "p99_ms": round(percentile(plan_ms, 99), 2),
                "max_ms": round(max(plan_ms), 2),
                "pairs_fully_payable": plan_ok,
                "target_p50_ms": 20,
            }
        ),
        flush=True,
    )

    max_ms, flows, capped, steps_used, delivered = [], [], 0, [], []
    for s, t in pairs:
        ms, units, flow_value, steps = timed_plan(index, s, t, None, args.max_steps)
        max_ms.append(ms)
        flows.append(flow_value)
        delivered.append(units / flow_value if flow_value else 1.0)
        capped += units < flow_value
        steps_used.append(steps)
    print(
        json.dumps(
            {
                "what": "(b) maximum sendable with its plan",
                "scale": scale,
                "load_avg": load(),
                "pairs": len(pairs),
                "p50_ms": round(percentile(max_ms, 50), 2),
                "p99_ms": round(percentile(max_ms, 99), 2),
                "max_ms": round(max(max_ms), 2),
                "median_max_flow": int(np.median(flows)),
                "pairs_where_max_steps_limits_the_plan": capped,
                "median_steps": int(np.median(steps_used)),
                "plan_share_of_max_flow_p50": round(percentile(delivered, 50), 3),
                "plan_share_of_max_flow_p10": round(percentile(delivered, 10), 3),
                "target_p50_ms": 50,
                "target_p99_ms": 300,
            }
        ),
        flush=True,
    )

    # Baseline: SciPy's maximum_flow on the same network, already built as a CSR matrix.
    t3 = time.perf_counter()
    int32_cap = np.minimum(ECON.cap, np.iinfo(np.int32).max).astype(np.int32)
    matrix = sp.csr_matrix((int32_cap, (ECON.src, ECON.dst)), shape=(n_nodes, n_nodes))
    matrix.sum_duplicates()
    t4 = time.perf_counter()
    base_ms, agree = [], 0
    ours_ms: list[float] = []
    for i, (s, t) in enumerate(pairs[:baseline_pairs]):
        gc.collect()
        start = time.perf_counter()
        value = maximum_flow(matrix, s, t, method="dinic").flow_value
        base_ms.append((time.perf_counter() - start) * 1000)
        agree += int(value) == flows[i]
        ours_ms.append(max_ms[i])
    print(
        json.dumps(
            {
                "what": "baseline: scipy.sparse.csgraph.maximum_flow (dinic) on the prebuilt CSR matrix",
                "scale": scale,
                "load_avg": load(),
                "pairs": len(base_ms),
                "csr_build_s": round(t4 - t3, 2),
                "p50_ms": round(percentile(base_ms, 50), 2),
                "p99_ms": round(percentile(base_ms, 99), 2),
                "ours_b_on_same_pairs_p50_ms": round(percentile(ours_ms, 50), 2),
                "ours_b_on_same_pairs_p99_ms": round(percentile(ours_ms, 99), 2),
                "max_flow_values_agree": f"{agree}/{len(base_ms)}",
            }
        ),
        flush=True,
    )
    del matrix, int32_cap
    gc.collect()
    update_cost(index, accounts, n_nodes, args.seed, args.changes, scale)
    if sybils:
        sybil_check(args.seed, accounts, groups, n_nodes, sybils)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "what": "memory",
                "scale": scale,
                "load_avg": load(),
                "graph_mb": round(graph_bytes / 2**20, 1),
                "process_peak_rss_mb": round(rss, 1),
                "target_mb": 6144 if national else 2048,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
