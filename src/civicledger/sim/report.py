"""An HTML report of a results folder: one plot per question, every parameter set in each.

Reads every ``*.parquet`` file of a sweep (pyarrow), averages each metric over the seeds of a
parameter set at each step (the band shows the seeds' min-max) and draws it with matplotlib.
The PNGs are embedded in the page (base64), so the report is one self-contained file.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
from numpy.typing import NDArray

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

PLOTS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Circles money in circulation", "minor units", ("supply_circles", "supply_group")),
    ("Inequality of Circles holdings (Gini)", "Gini", ("gini_holdings",)),
    ("Common Good Fund position", "minor units", ("fund_balance", "solvency_drift")),
    ("Spread of the Common Good Coefficient", "delta", ("delta_p10", "delta_median", "delta_p90")),
    ("Allowance rating of the most strained resource", "demand / allotted", ("allowance_max",)),
    ("What fake accounts reached", "minor units held by honest persons", ("sybil_units_at_honest",)),
)

Band = tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]
"""(years, mean, low, high) of one metric over the seeds of a parameter set."""

OPTIONAL_PLOTS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "What splitting pre-orders and inflating revenue gained (IN5, IN1; under rules 1 for comparison)",
        "minor units (cumulative)",
        ("splitter_gain", "inflator_gain", "splitter_gain_rules_1", "inflator_gain_rules_1"),
    ),
)
"""Plots drawn only when the results hold one of their columns (a behaviour that writes them ran)."""

NONZERO_PLOTS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Demurrage burned (CI15)", "minor units (cumulative)", ("demurrage_burned",)),
    (
        "Income lost to lost keys, with and without guardians (X9)",
        "minor units (cumulative)",
        ("income_lost_guarded", "income_lost_unguarded"),
    ),
)
"""Plots drawn only when one of their columns is not always 0 (demurrage, key loss in the scenario)."""


def load(results: Path) -> pa.Table:
    """Every run's rows of a results folder (or one Parquet file) as one table."""
    files = [results] if results.is_file() else sorted(results.glob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"no .parquet files in {results}")
    return pa.concat_tables([pq.read_table(f) for f in files], promote_options="default")


def _series(table: pa.Table, metric: str) -> dict[str, Band]:
    """label -> (years, mean, low, high) of one metric over the seeds of each parameter set."""
    cols = table.to_pydict()
    out: dict[str, Band] = {}
    if metric not in cols:
        return out
    labels = cols["param_label"]
    by: dict[str, dict[float, list[float]]] = {}
    for label, year, value in zip(labels, cols["year"], cols[metric], strict=True):
        if value is None:
            continue
        by.setdefault(label, {}).setdefault(year, []).append(float(value))
    for label, points in sorted(by.items()):
        years = np.array(sorted(points))
        vals = [np.array(points[y]) for y in years]
        out[label] = (
            years,
            np.array([v.mean() for v in vals]),
            np.array([v.min() for v in vals]),
            np.array([v.max() for v in vals]),
        )
    return out


def _nonzero(table: pa.Table, metric: str) -> bool:
    if metric not in table.column_names:
        return False
    return any(value for value in table.column(metric).to_pylist())


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _grades_plot(table: pa.Table, plt: ModuleType) -> str | None:
    cols = table.to_pydict()
    grades = sorted((c for c in cols if c.startswith("grade_")), key=lambda c: int(c.split("_")[1]))
    if not grades:
        return None
    last: dict[str, dict[str, float]] = {}
    final_step = max(cols["step"])
    for i, step in enumerate(cols["step"]):
        if step != final_step:
            continue
        label = cols["param_label"][i]
        acc = last.setdefault(label, {g: 0.0 for g in grades})
        for g in grades:
            acc[g] += float(cols[g][i] or 0)
    fig, ax = plt.subplots(figsize=(8, 3.5))
    labels = sorted(last)
    bottom = np.zeros(len(labels))
    for g in grades:
        values = np.array([last[label][g] for label in labels])
        totals = np.array([max(sum(last[label].values()), 1.0) for label in labels])
        ax.barh(labels, values / totals, left=bottom, label=g.replace("_", " "))
        bottom += values / totals
    ax.set_xlabel("share of persons at the final step")
    ax.set_title("Social credit grade distribution")
    ax.legend(loc="lower right", fontsize=7, ncol=3)
    png = _png(fig)
    plt.close(fig)
    return png


@dataclass(frozen=True, slots=True)
class AttackOutcome:
    """What one kind of attacker gained in one parameter set, at the final step (mean over seeds)."""

    attack: str
    rule: str
    param_label: str
    gained: str
    gains_nothing: bool


def _final_means(table: pa.Table) -> dict[str, dict[str, float]]:
    """param_label -> column -> the mean over runs of the column at each run's final step."""
    cols = table.to_pydict()
    last: dict[str, int] = {}
    for i, (run, step) in enumerate(zip(cols["run"], cols["step"], strict=True)):
        if run not in last or step > cols["step"][last[run]]:
            last[run] = i
    sums: dict[str, dict[str, list[float]]] = {}
    for i in last.values():
        into = sums.setdefault(str(cols["param_label"][i]), {})
        for name, values in cols.items():
            value = values[i]
            if isinstance(value, int | float) and not isinstance(value, bool):
                into.setdefault(name, []).append(float(value))
    return {label: {k: sum(v) / len(v) for k, v in row.items()} for label, row in sums.items()}


def attack_outcomes(table: pa.Table) -> list[AttackOutcome]:
    """Each attacker a scenario played (IN1, IN2, IN5, IN6) and whether it gained anything.

    Order splitters and revenue inflators gain what their columns say (never positive: nothing);
    participation farmers gain if more of their credits reach the top grade than everyone else's
    (beyond one point of share); draw grinders gain
    if more penalties were overturned than honest appeals overturn, beyond three standard
    deviations of chance.
    """
    out: list[AttackOutcome] = []
    for label, row in sorted(_final_means(table).items()):
        if "splitter_gain" in row:
            gain = row["splitter_gain"]
            text = f"{gain:,.0f} minor units (rule version 1: {row.get('splitter_gain_rules_1', 0):,.0f})"
            out.append(AttackOutcome("order splitter", "IN5", label, text, gain <= 0))
        if "inflator_gain" in row:
            gain = row["inflator_gain"]
            text = f"{gain:,.0f} coop credits (rule version 1: {row.get('inflator_gain_rules_1', 0):,.0f})"
            out.append(AttackOutcome("revenue inflator", "IN1", label, text, gain <= 0))
        if "farmer_top_share" in row:
            farmed, others = row["farmer_top_share"], row.get("others_top_share", 0.0)
            text = f"{farmed:.1%} of their credits at the top grade (everyone else: {others:.1%})"
            out.append(AttackOutcome("participation farmer", "IN2", label, text, farmed <= others + 0.01))
        expected = row.get("appeals_overturned_expected", 0.0)
        if expected > 0 and "appeals_overturned" in row:
            overturned = row["appeals_overturned"]
            chance = 3 * expected**0.5
            text = f"{overturned:,.0f} penalties overturned; honest appeals overturn {expected:,.0f}"
            out.append(AttackOutcome("draw grinder", "IN6", label, text, overturned - expected <= chance))
    return out


@dataclass(frozen=True, slots=True)
class KeyLossOutcome:
    """What persons who lost their key lost in one parameter set, with or without guardians (X9),
    at the final step (mean over seeds)."""

    param_label: str
    guardians: bool
    keys_lost: float  # persons who lost their key
    recovered: float  # of them, accounts recovered by the end (with guardians; the others still wait)
    income_lost: float  # income never claimed: by recovered accounts, or by accounts lost for good until the end
    per_person: float  # income_lost per recovered account (with guardians), per lost account (without)
    holdings_frozen: float  # what the accounts lost for good still hold (without guardians)


def key_loss_outcomes(table: pa.Table) -> list[KeyLossOutcome]:
    """Income lost to lost keys (X9) in each parameter set where keys were lost, the persons with
    guardians and those without on separate lines."""
    out: list[KeyLossOutcome] = []
    for label, row in sorted(_final_means(table).items()):
        guarded, unguarded = row.get("keys_lost_guarded", 0.0), row.get("keys_lost_unguarded", 0.0)
        if guarded + unguarded <= 0:
            continue
        recovered = row.get("accounts_recovered", 0.0)
        for guardians, lost, settled, income, frozen in (
            (True, guarded, recovered, row.get("income_lost_guarded", 0.0), 0.0),
            (False, unguarded, 0.0, row.get("income_lost_unguarded", 0.0), row.get("holdings_frozen", 0.0)),
        ):
            if lost > 0:
                per = settled if guardians else lost
                each = income / per if per else 0.0
                out.append(KeyLossOutcome(label, guardians, lost, settled, income, each, frozen))
    return out


def write_report(results: Path, out: Path, title: str = "Simulation report") -> Path:
    """Write the HTML report of a results folder to ``out`` and return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = load(results)
    cols = table.column_names
    runs = len(set(table.column("run").to_pylist()))
    sets = sorted(set(table.column("param_label").to_pylist()))
    images: list[tuple[str, str]] = []
    optional = tuple(plot for plot in OPTIONAL_PLOTS if any(metric in cols for metric in plot[2]))
    optional += tuple(plot for plot in NONZERO_PLOTS if any(_nonzero(table, metric) for metric in plot[2]))
    for heading, unit, metrics in (*PLOTS, *optional):
        fig, ax = plt.subplots(figsize=(8, 3.5))
        drawn = False
        for m, metric in enumerate(metrics):
            for label, (years, mean, low, high) in _series(table, metric).items():
                name = label if len(metrics) == 1 else f"{metric} ({label})"
                line = ax.plot(years, mean, label=name, linestyle=("-", "--", ":")[m % 3])[0]
                ax.fill_between(years, low, high, alpha=0.2, color=line.get_color())
                drawn = True
        ax.set_title(heading)
        ax.set_xlabel("years")
        ax.set_ylabel(unit)
        if drawn:
            ax.legend(fontsize=7)
        images.append((heading, _png(fig)))
        plt.close(fig)
    grades = _grades_plot(table, plt)
    if grades:
        images.append(("Social credit grades", grades))
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}img{max-width:100%}"
        "table{border-collapse:collapse}th,td{border-bottom:1px solid #ccc;padding:.2em .6em;text-align:left}</style>",
        f"</head><body><h1>{html.escape(title)}</h1>",
        f"<p>{runs} run(s), {len(sets)} parameter set(s): {html.escape('; '.join(sets))}. "
        f"Lines are the mean over seeds, bands the seeds' min-max. Columns: {len(cols)}.</p>",
    ]
    attacks = attack_outcomes(table)
    if attacks:
        parts.append(
            "<h2>What attackers gained</h2><table><tr><th>attacker</th><th>rule</th>"
            "<th>parameter set</th><th>gained</th><th>verdict</th></tr>"
        )
        for a in attacks:
            verdict = "gains nothing" if a.gains_nothing else "GAINS"
            parts.append(
                f"<tr><td>{html.escape(a.attack)}</td><td>{a.rule}</td><td>{html.escape(a.param_label)}</td>"
                f"<td>{html.escape(a.gained)}</td><td>{verdict}</td></tr>"
            )
        parts.append("</table>")
    keys = key_loss_outcomes(table)
    if keys:
        parts.append(
            "<h2>What lost keys cost (X9)</h2><p>Persons who lost their key and the income they never "
            "claimed, by the final step (mean over seeds). With guardians an account is recovered after "
            "the waiting period and claims what it missed, back to the claim window and discounted by "
            "demurrage (counted at recovery; per recovered account). Without, the account is lost for "
            "good: it claims nothing more and its holdings are frozen (per lost account, up to the end "
            "of the run).</p>"
            "<table><tr><th>parameter set</th><th>guardians</th><th>keys lost</th><th>recovered</th>"
            "<th>income lost</th><th>per person</th><th>holdings frozen</th></tr>"
        )
        for k in keys:
            parts.append(
                f"<tr><td>{html.escape(k.param_label)}</td><td>{'with' if k.guardians else 'without'}</td>"
                f"<td>{k.keys_lost:,.1f}</td><td>{f'{k.recovered:,.1f}' if k.guardians else '-'}</td>"
                f"<td>{k.income_lost:,.0f}</td><td>{k.per_person:,.0f}</td>"
                f"<td>{'-' if k.guardians else f'{k.holdings_frozen:,.0f}'}</td></tr>"
            )
        parts.append("</table><p>Amounts in minor units.</p>")
    for heading, png in images:
        parts.append(
            f"<h2>{html.escape(heading)}</h2><img alt='{html.escape(heading)}' src='data:image/png;base64,{png}'>"
        )
    parts.append("</body></html>")
    out.write_text("\n".join(parts), encoding="utf-8")
    return out


def summary(
    results: Path, metrics: Sequence[str] = ("supply_circles", "gini_holdings", "fund_balance")
) -> list[dict[str, object]]:
    """The final step of every run with a few metrics (for ``civic sim report --json``)."""
    cols = load(results).to_pydict()
    final: dict[str, int] = {}
    for i, (run, step) in enumerate(zip(cols["run"], cols["step"], strict=True)):
        if run not in final or step > cols["step"][final[run]]:
            final[run] = i
    return [
        {"run": run, "param_label": cols["param_label"][i], "seed": cols["seed"][i], "step": cols["step"][i]}
        | {m: cols[m][i] for m in metrics if m in cols}
        for run, i in sorted(final.items())
    ]
