"""Benchmark of routes by max flow in the simulator (CI9): the cost of one payment routed by the
engine's max-flow kernel, at a given population.

    .venv/bin/python benchmarks/sim_routing.py                      # 10,000 and 100,000 persons
    .venv/bin/python benchmarks/sim_routing.py --persons 100000 --steps 10 --sample 100

Each size runs Circles alone (mean degree 8, every trust formed at once, weekly steps) with
``routed_sample`` payments a step by max flow and the rest by two hops, and times the sector's
``_by_max_flow`` (the per-step capacities and every sampled payment) and, apart, the first build
of the flow network. Prints one JSON object per line with the machine's load average: the machine
has 2 cores that other work shares, so figures are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

from civicledger.mechanisms.circles.sim import CirclesSector
from civicledger.sim import Model, parse_scenario


def measure(persons: int, steps: int, sample: int) -> dict[str, Any]:
    scenario = parse_scenario(
        {
            "scenario": {"steps": steps, "step": 7 * 86_400, "seeds": [1]},
            "population": {"persons": persons, "companies": 0, "groups": 0, "resources": 0},
            "parameters": {"routed_sample": float(sample)},
        }
    )
    spent = {"build": 0.0, "routing": 0.0}
    network, by_max_flow = CirclesSector._flow_network, CirclesSector._by_max_flow

    def timed_network(self: CirclesSector, s: int) -> Any:
        first = self.flow_index is None
        start = time.perf_counter()
        out = network(self, s)
        if first:
            spent["build"] += time.perf_counter() - start
        return out

    def timed_routes(self: CirclesSector, *args: Any) -> None:
        start = time.perf_counter()
        by_max_flow(self, *args)
        spent["routing"] += time.perf_counter() - start

    CirclesSector._flow_network = timed_network  # type: ignore[method-assign]
    CirclesSector._by_max_flow = timed_routes  # type: ignore[method-assign,assignment]
    try:
        start = time.perf_counter()
        rows = Model(scenario, seed=1).run()
        seconds = time.perf_counter() - start
    finally:
        CirclesSector._flow_network = network  # type: ignore[method-assign]
        CirclesSector._by_max_flow = by_max_flow  # type: ignore[method-assign]
    last = rows[-1]
    tried = int(last["routed_max_flow"]) + int(last["routed_max_flow_refused"])
    return {
        "benchmark": "sim_routing",
        "persons": persons,
        "steps": steps,
        "routed_sample": sample,
        "seconds": round(seconds, 2),
        "network_build_s": round(spent["build"], 3),
        "routed_max_flow": int(last["routed_max_flow"]),
        "refused": int(last["routed_max_flow_refused"]),
        "routed_two_hop": int(last["routed_two_hop"]),
        "ms_per_max_flow_payment": round(1000 * (spent["routing"] - spent["build"]) / max(tried, 1), 2),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, action="append", help="population (repeatable)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--sample", type=int, default=100, help="payments routed by max flow a step")
    args = parser.parse_args()
    for persons in args.persons or [10_000, 100_000]:
        print(json.dumps(measure(persons, args.steps, args.sample)), flush=True)


if __name__ == "__main__":
    main()
