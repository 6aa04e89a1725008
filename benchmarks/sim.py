"""Benchmark of the simulator: a million persons over ten years of weekly steps, next to radCAD.

    .venv/bin/python benchmarks/sim.py            # 1,000,000 persons x 520 steps, then radCAD
    .venv/bin/python benchmarks/sim.py --quick    # 100,000 persons x 104 steps, smaller radCAD sizes

Prints one JSON object per line. The simulator runs Circles issuance (every person claims every
week), trust formation on a heavy-tailed network, payments between persons who trust each other,
and Gears votes with coefficients and settlement; the target is at most 60 s and 4 GB on 2 cores.
Peak memory is ``resource.getrusage(...).ru_maxrss`` of this process.

The baseline is radCAD 0.14 running the same simple issuance-and-payment model (every agent
receives the weekly income, 30% of agents pay a tenth of their balance to a random agent) at
growing sizes until a size fails or exceeds its time budget: the largest size it manages is
reported. radCAD pins numpy 1.26 and pandas < 3.1, which conflict with this project's pins, so it
is installed into a throwaway virtual environment under the system temp directory and run there
as a subprocess that prints JSON. If that install fails, a JSON line says so and why; no baseline
is invented. Figures are noisy: the machine has 2 cores that other work shares.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from civicledger.sim import Model, parse_scenario

RADCAD = "radcad==0.14.0"
EXTRA = "typing_extensions"  # radCAD 0.14 imports it without declaring it as a dependency

RADCAD_MODEL = textwrap.dedent(
    """
    import json, random, sys, time
    from radcad import Experiment, Model, Simulation
    from radcad.engine import Backend, Engine

    N, T, SEED = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    INCOME = 100_000  # 1,000.00 a week, in minor units
    rng = random.Random(SEED)

    def pay(params, substep, history, state):
        balances = state["balances"]
        payments = []
        for i in range(N):
            if rng.random() < 0.3:
                payments.append((i, rng.randrange(N), (balances[i] + INCOME) // 10))
        return {"payments": payments}

    def update(params, substep, history, state, inputs):
        balances = [b + INCOME for b in state["balances"]]
        for i, j, units in inputs["payments"]:
            balances[i] -= units
            balances[j] += units
        return "balances", balances

    model = Model(
        initial_state={"balances": [0] * N},
        state_update_blocks=[{"policies": {"pay": pay}, "variables": {"balances": update}}],
        params={},
    )
    experiment = Experiment(Simulation(model=model, timesteps=T, runs=1))
    experiment.engine = Engine(backend=Backend.SINGLE_PROCESS)
    started = time.perf_counter()
    experiment.run()
    seconds = time.perf_counter() - started
    total = sum(experiment.results[-1]["balances"])
    assert total == N * T * INCOME, total
    # VmHWM, not ru_maxrss: after fork and exec ru_maxrss still counts the parent's pages.
    hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
    print(json.dumps({"seconds": round(seconds, 3), "peak_rss_mb": round(int(hwm) / 1024, 1)}))
    """
)


def emit(data: dict[str, object]) -> None:
    print(json.dumps(data), flush=True)


def scenario(persons: int, steps: int, votes: bool = True, everything: bool = False) -> object:
    off = "none"
    if everything:  # every mechanism with its default behaviours
        return parse_scenario(
            {
                "scenario": {"name": "benchmark-all", "steps": steps, "record_every": 13, "seeds": [1]},
                "population": {"persons": persons, "companies": 200, "groups": 10, "resources": 4},
                "network": {"generator": "heavy_tailed", "mean_degree": 8.0, "formation_weeks": 26.0},
                "parameters": {"publish_every": 4.0, "grade_every": 52.0},
            }
        )
    return parse_scenario(
        {
            "scenario": {"name": "benchmark", "steps": steps, "record_every": 13, "seeds": [1]},
            "population": {"persons": persons, "companies": 200 if votes else 0, "resources": 0},
            "network": {"generator": "heavy_tailed", "mean_degree": 8.0, "formation_weeks": 26.0},
            "behaviours": {
                "conversions": off,
                "participation": off,
                "infractions": off,
                "appeals": off,
                "spending": off,
                "pledges": off,
                "candidates": off,
                "whistleblowing": off,
                "demand": off,
                "votes": "noisy_opinions" if votes else off,
                "sales": "lognormal" if votes else off,
            },
            "parameters": {"publish_every": 4.0},
        }
    )


def high_water_mb() -> float | None:
    """This process's own peak RSS (Linux VmHWM). ru_maxrss of a process started by fork and exec
    still counts the parent's pages, so a child's figure is taken from here."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def ours(persons: int, steps: int, votes: bool = True, everything: bool = False) -> dict[str, object]:
    sc = scenario(persons, steps, votes, everything)
    cpu0, started = time.process_time(), time.perf_counter()
    model = Model(sc, seed=1)  # type: ignore[arg-type]
    built = time.perf_counter()
    rows = model.run()
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "benchmark": "sim",
        "engine": "civicledger.sim",
        "model": "all four mechanisms"
        if everything
        else "issuance, trust, payments" + (", votes, settlement" if votes else ""),
        "persons": persons,
        "steps": steps,
        "seconds": round(seconds, 2),
        "setup_seconds": round(built - started, 2),
        "cpu_seconds": round(time.process_time() - cpu0, 2),
        "agent_steps_per_s": round(persons * steps / seconds),
        "peak_rss_mb": round(peak, 1),
        "vm_hwm_mb": high_water_mb(),
        "trusts": rows[-1]["trusts"],
        "votes_cast": rows[-1]["votes_cast"],
        "load_avg": [round(x, 2) for x in os.getloadavg()],
    }


def radcad_python() -> tuple[Path | None, str]:
    """A throwaway venv with radCAD under the system temp directory (reused if present)."""
    venv = Path(tempfile.gettempdir()) / "civicledger-bench-radcad"
    python = venv / "bin" / "python"
    if python.exists():
        check = subprocess.run([str(python), "-c", "import radcad"], capture_output=True, text=True)
        if check.returncode == 0:
            return python, "reused"
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, capture_output=True, text=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", RADCAD, EXTRA],
            check=True,
            capture_output=True,
            text=True,
            timeout=900,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as e:
        detail = getattr(e, "stderr", None) or str(e)
        return None, f"{type(e).__name__}: {str(detail).strip()[-500:]}"
    return python, "installed"


def radcad(python: Path, sizes: list[int], steps: int, budget: int) -> int:
    """Run radCAD at growing sizes; print a line per size; return the largest size managed."""
    script = Path(tempfile.gettempdir()) / "civicledger-bench-radcad-model.py"
    script.write_text(RADCAD_MODEL, encoding="utf-8")
    largest = 0
    for n in sizes:
        line: dict[str, object] = {"benchmark": "sim", "engine": "radcad 0.14.0", "persons": n, "steps": steps}
        limit = "ulimit -v 4194304; "  # 4 GB of address space, the same budget as the target
        try:
            done = subprocess.run(
                ["bash", "-c", f"{limit}exec {python} {script} {n} {steps} 1"],
                capture_output=True,
                text=True,
                timeout=budget,
            )
        except subprocess.TimeoutExpired:
            emit(line | {"managed": False, "reason": f"over the {budget} s budget"})
            break
        if done.returncode != 0:
            emit(line | {"managed": False, "reason": done.stderr.strip().splitlines()[-1] if done.stderr else "failed"})
            break
        result = json.loads(done.stdout.strip().splitlines()[-1])
        seconds = float(result["seconds"])
        emit(line | result | {"managed": True, "agent_steps_per_s": round(n * steps / max(seconds, 1e-9))})
        largest = n
    return largest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100,000 persons x 104 steps; smaller radCAD sizes")
    parser.add_argument("--persons", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--all-mechanisms", action="store_true", help="also credits, groups, Creditism, challenges")
    parser.add_argument("--no-votes", action="store_true", help="issuance and payments only (radCAD's model)")
    parser.add_argument("--no-radcad", action="store_true", help="skip the radCAD baseline")
    parser.add_argument("--radcad-budget", type=int, default=300, help="seconds allowed per radCAD size")
    args = parser.parse_args()
    persons = args.persons or (100_000 if args.quick else 1_000_000)
    steps = args.steps or (104 if args.quick else 520)
    line = ours(persons, steps, votes=not args.no_votes, everything=args.all_mechanisms)
    emit(
        line
        | {
            "target": "<= 60 s and <= 4096 MB on 2 cores",
            "met": bool(float(line["seconds"]) <= 60 and float(line["peak_rss_mb"]) <= 4096),
        }
    )  # type: ignore[arg-type]
    if args.no_radcad:
        return
    python, how = radcad_python()
    if python is None:
        emit({"benchmark": "sim", "engine": "radcad 0.14.0", "error": f"could not install {RADCAD}: {how}"})
        return
    sizes = [1_000, 10_000, 100_000] if args.quick else [1_000, 10_000, 100_000, 1_000_000]
    largest = radcad(python, sizes, steps, args.radcad_budget)
    if largest:
        # In a fresh process, so that its peak memory is its own and not this run's million.
        child = [
            sys.executable,
            __file__,
            "--persons",
            str(largest),
            "--steps",
            str(steps),
            "--no-votes",
            "--no-radcad",
        ]
        done = subprocess.run(child, capture_output=True, text=True, check=True)
        same = json.loads(done.stdout.strip().splitlines()[-1])
        same.pop("target", None)
        same.pop("met", None)
        same["peak_rss_mb"] = same.pop("vm_hwm_mb") or same["peak_rss_mb"]
        emit(same | {"note": f"the same issuance-and-payment model at radCAD's largest size ({largest:,})"})


if __name__ == "__main__":
    main()
