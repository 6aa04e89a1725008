"""An HTML report of a results folder that a researcher can publish.

Reads every ``*.parquet`` file of a sweep (pyarrow) and the scenario file copied next to them
(``scenario.toml``), and writes one self-contained page (matplotlib PNGs embedded as base64):

- a header saying what made the results: the scenario (name, file, digest), the parameter sets
  and their values, the seeds, the horizon, the civicledger release and rule version (IN8) that
  ran, and the dates of the runs and of the report; the scenario file itself, quoted;
- a table of final values per parameter set: the mean over seeds with its spread (standard
  deviation, minimum and maximum), or the single value where a set ran one seed;
- one plot per question, each parameter set in its own colour (Okabe and Ito's colour-blind-safe
  palette, the same set in the same colour everywhere), a shaded band of the seeds' minimum to
  maximum only where a set ran several seeds, and legends outside the plotting area;
- the differences of every other parameter set from the first (the baseline), paired by seed;
- the tables of what attackers gained and what lost keys cost, where the runs played them;
- with ``[regions]``, each region's persons and mean grade per parameter set, and each set's
  difference from the baseline, region by region and for the whole country (table, plot, a sentence).

Amounts are shown in major units of their currency, formatted from the exact integers with
``kernel.money.format_units`` (X3); the Parquet files keep exact minor units.
"""

from __future__ import annotations

import base64
import html
import io
import math
import statistics
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Literal, cast

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
from numpy.typing import NDArray

from civicledger.kernel.money import format_units
from civicledger.kernel.rules import describe
from civicledger.kernel.time import YEAR, format_instant
from civicledger.sim.sweep import METADATA_KEY, SCENARIO_COPY, RunInfo, release

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PALETTE: tuple[str, ...] = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#000000", "#F0E442")
"""Okabe and Ito's colour-blind-safe colours, yellow last (faint on white): parameter set i is
drawn in ``PALETTE[i % 8]`` in every plot."""

LINESTYLES: tuple[Literal["-", "--", ":", "-."], ...] = ("-", "--", ":", "-.")
"""Several metrics in one plot differ by line style; colour stays the parameter set's."""


@dataclass(frozen=True, slots=True)
class Currency:
    """How the report writes a currency's amounts: symbol, decimals and what it is."""

    symbol: str
    decimals: int
    name: str

    def text(self, units: int) -> str:
        return format_units(units, self.decimals, self.symbol)


MONEY: dict[str, str] = {
    **dict.fromkeys(
        (
            "supply_circles",
            "supply_honest",
            "supply_sybil",
            "supply_group",
            "reserve_left",
            "mean_holdings",
            "demurrage_burned",
            "demurrage_burned_step",
            "demurrage_unsettled",
            "income_lost_guarded",
            "income_lost_unguarded",
            "holdings_frozen",
            "sybil_units_at_honest",
            "routed_two_hop_units",
            "routed_max_flow_units",
            "trust_limited_units",
            "group_exchanged_units",
            "group_paid_units",
        ),
        "circles",
    ),
    **dict.fromkeys(
        (
            "fund_balance",
            "fund_pending",
            "fund_paid",
            "fund_received",
            "vote_rewards_paid",
            "solvency_drift",
            "penalties_charged",
            "penalties_unpaid",
        ),
        "economy",
    ),
    **dict.fromkeys(("pre_orders_paid", "splitter_paid", "splitter_gain", "splitter_gain_rules_1"), "prices"),
}
"""Columns holding minor units, and of which currency: ``circles`` (personal currencies, summed),
``economy`` (the economy's own currency, which the Common Good Fund holds) or ``prices``
(pre-order prices, in whichever currency pays them: the simulator does not model which)."""

NAMES: dict[str, str] = {
    "supply_circles": "all Circles money",
    "supply_group": "group money",
    "fund_balance": "fund balance",
    "solvency_drift": "solvency drift",
    "delta_p10": "10th percentile delta",
    "delta_median": "median delta",
    "delta_p90": "90th percentile delta",
    "splitter_gain": "order splitter (rules 2)",
    "inflator_gain": "revenue inflator (rules 2)",
    "splitter_gain_rules_1": "order splitter (rules 1)",
    "inflator_gain_rules_1": "revenue inflator (rules 1)",
    "income_lost_guarded": "income lost with guardians",
    "income_lost_unguarded": "income lost without guardians",
    "gini_holdings": "Gini of holdings",
    "allowance_max": "allowance rating",
    "sybil_units_at_honest": "fake accounts' money held by honest persons",
    "demurrage_burned": "demurrage burned",
    "trusts": "trusts",
    "accounts_open": "accounts open",
    "votes_cast": "votes cast",
    "credits_available": "social credits available",
    "farmer_top_share": "participation farmers' share at the top grade",
    "appeals_overturned": "penalties overturned on appeal",
    "mean_grade": "mean grade of persons holding credits",
    "migrations": "persons who moved region",
    "trusts_in_force": "trusts in force",
    "trusts_expired": "trusts expired for good",
    "trust_renewals": "trusts renewed",
    "trusts_revoked": "trusts revoked",
    "trust_limited_payments": "payments cut by trust limits",
    "trust_limited_units": "units cut by trust limits",
    "group_exchanged_units": "group money exchanged between groups",
    "group_paid_units": "group money paid to members (CI13)",
}
"""Words for columns in legends and tables (the column name where none is given)."""


@dataclass(frozen=True, slots=True)
class Plot:
    """One question: a heading, what the y axis measures (money columns say their currency) and
    the columns drawn; ``when`` is "always", "present" (a column exists) or "nonzero"."""

    heading: str
    unit: str
    metrics: tuple[str, ...]
    when: str = "always"


PLOTS: tuple[Plot, ...] = (
    Plot("Circles money in circulation", "", ("supply_circles", "supply_group")),
    Plot("Inequality of Circles holdings", "Gini coefficient (0 = equal, 1 = one holds all)", ("gini_holdings",)),
    Plot("Common Good Fund position", "", ("fund_balance", "solvency_drift")),
    Plot("Spread of the Common Good Coefficient over companies", "delta", ("delta_p10", "delta_median", "delta_p90")),
    Plot("Allowance rating of the most strained resource", "demand / allotted", ("allowance_max",)),
    Plot("What fake accounts reached (CI14)", "", ("sybil_units_at_honest",)),
    Plot(
        "What splitting pre-orders and inflating revenue gained (IN5, IN1; rules 1 for comparison)",
        "",
        ("splitter_gain", "splitter_gain_rules_1"),
        "present",
    ),
    Plot(
        "Coop credits gained by inflating revenue (IN1; rules 1 for comparison)",
        "coop credits (cumulative)",
        ("inflator_gain", "inflator_gain_rules_1"),
        "present",
    ),
    Plot("Demurrage burned (CI15)", "", ("demurrage_burned",), "nonzero"),
    Plot(
        "Trusts in force, expired and revoked (CI5 expiring trust, CI6)",
        "trusts",
        ("trusts_in_force", "trusts_expired", "trusts_revoked"),
        "present",
    ),
    Plot("What trust limits cut from payments (CI5)", "", ("trust_limited_units",), "present"),
    Plot(
        "Income lost to lost keys, with and without guardians (X9)",
        "",
        ("income_lost_guarded", "income_lost_unguarded"),
        "nonzero",
    ),
)

DIFFERENCES: tuple[str, ...] = (
    "supply_circles",
    "gini_holdings",
    "fund_balance",
    "delta_median",
    "allowance_max",
    "sybil_units_at_honest",
    "demurrage_burned",
    "income_lost_guarded",
    "income_lost_unguarded",
    "splitter_gain",
    "farmer_top_share",
    "appeals_overturned",
    "mean_grade",
)
"""The metrics whose difference from the baseline parameter set is plotted, in this order, those
that differ in some run (the report names the others: no difference in any run)."""

FINAL: tuple[str, ...] = (
    "supply_circles",
    "supply_group",
    "gini_holdings",
    "fund_balance",
    "solvency_drift",
    "delta_median",
    "allowance_max",
    "sybil_units_at_honest",
    "trusts",
    "accounts_open",
    "votes_cast",
    "credits_available",
    "demurrage_burned",
    "income_lost_guarded",
    "income_lost_unguarded",
    "mean_grade",
    "migrations",
    "trusts_in_force",
    "trusts_expired",
    "trust_renewals",
    "trusts_revoked",
    "trust_limited_payments",
    "trust_limited_units",
    "group_exchanged_units",
    "group_paid_units",
)
"""The metrics of the table of final values (those the results hold; the last three only if not 0)."""

_ONLY_NONZERO = {"demurrage_burned", "income_lost_guarded", "income_lost_unguarded"}


# Reading the results ----------------------------------------------------------------------------


def _files(results: Path) -> list[Path]:
    files = [results] if results.is_file() else sorted(results.glob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"no .parquet files in {results}")
    return files


def load(results: Path) -> pa.Table:
    """Every run's rows of a results folder (or one Parquet file) as one table."""
    return pa.concat_tables([pq.read_table(f) for f in _files(results)], promote_options="default")


def run_infos(results: Path) -> list[RunInfo]:
    """What made each file (its metadata; files an older release wrote have none and are skipped)."""
    infos = []
    for f in _files(results):
        raw = (pq.read_schema(f).metadata or {}).get(METADATA_KEY)
        info = RunInfo.decode(raw) if raw else None
        if info is not None:
            infos.append(info)
    return infos


@dataclass(frozen=True, slots=True)
class ParameterSetRuns:
    """One parameter set of the results: its index (0 is the baseline), label, values and seeds."""

    index: int
    label: str
    values: tuple[tuple[str, object], ...]
    seeds: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Series:
    """One metric of one run, step by step."""

    years: NDArray[np.float64]
    values: list[int | float]


class Results:
    """The rows of a results folder, by parameter set, seed and metric."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        self.cols: dict[str, list[object]] = table.to_pydict()
        self.names = table.column_names
        rows: dict[tuple[int, int], list[int]] = {}
        sets: dict[int, tuple[str, tuple[tuple[str, object], ...]]] = {}
        params = [c for c in self.names if c.startswith("param.")]
        for i, (index, seed) in enumerate(zip(self.cols["param_set"], self.cols["seed"], strict=True)):
            key = (int(str(index)), int(str(seed)))
            rows.setdefault(key, []).append(i)
            if key[0] not in sets:
                values = tuple((c[len("param.") :], self.cols[c][i]) for c in params if self.cols[c][i] is not None)
                sets[key[0]] = (str(self.cols["param_label"][i]), values)
        steps = self.cols["step"]
        self.rows = {key: sorted(found, key=lambda i: int(str(steps[i]))) for key, found in rows.items()}
        self.sets = [
            ParameterSetRuns(index, label, values, tuple(sorted(seed for s, seed in self.rows if s == index)))
            for index, (label, values) in sorted(sets.items())
        ]

    def has(self, metric: str) -> bool:
        return metric in self.cols

    def nonzero(self, metric: str) -> bool:
        return self.has(metric) and any(v for v in self.cols[metric])

    def series(self, index: int, seed: int, metric: str) -> Series:
        rows = [i for i in self.rows[(index, seed)] if self.cols[metric][i] is not None]
        years = np.array([float(str(self.cols["year"][i])) for i in rows])
        return Series(years, [self.cols[metric][i] for i in rows])  # type: ignore[misc]

    def final(self, index: int, seed: int, metric: str) -> int | float | None:
        value = self.cols[metric][self.rows[(index, seed)][-1]]
        return value if isinstance(value, int | float) and not isinstance(value, bool) else None


# Numbers for people -----------------------------------------------------------------------------


def currencies(infos: Sequence[RunInfo]) -> dict[str, Currency]:
    """The report's two currencies, with the decimals the runs used (2 for files without metadata)."""
    circles = infos[0].circles_decimals if infos else 2
    economy = infos[0].economy_decimals if infos else 2
    return {
        "circles": Currency("CRC ", circles, "Circles (personal currencies, summed)"),
        "economy": Currency("ξ", economy, "the economy's currency (held by the Common Good Fund)"),
        "prices": Currency("¤", economy, "pre-order prices, in the currency that pays them"),
    }


def exact_mean(values: Sequence[int | float]) -> Fraction | float:
    """The mean of whole numbers as an exact fraction; of other numbers as a float."""
    if all(isinstance(v, int) for v in values):
        return Fraction(sum(int(v) for v in values), len(values))
    return statistics.fmean(float(v) for v in values)


def number_text(value: int | float | Fraction, metric: str, money: dict[str, Currency]) -> str:
    """A value of a column for a table: money in major units from its minor units (rounded to
    the nearest minor unit, X3), whole numbers with thousands separators, ratios to 3 places."""
    if metric in MONEY:
        units = round(value) if isinstance(value, Fraction | int) else round(float(value))
        return money[MONEY[metric]].text(int(units))
    if isinstance(value, int) or (isinstance(value, Fraction) and value.denominator == 1):
        return f"{int(value):,}"
    number = float(value)
    if abs(number) >= 1000:
        return f"{number:,.0f}"
    return f"{number:,.3f}"


def compact(value: float, decimals: int) -> str:
    """An axis tick in major units with a k, M or bn suffix (tick values are chosen by matplotlib,
    so they are labels, not amounts; amounts in tables go through ``format_units``)."""
    major = value / 10**decimals
    size = abs(major)
    for limit, suffix in ((1e9, "bn"), (1e6, "M"), (1e3, "k")):
        if size >= limit:
            return f"{major / limit:,.3g}{suffix}"
    return f"{major:,.6g}" if size else "0"


# Final values -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FinalValue:
    """A metric at the final step of the runs of one parameter set: the mean over its seeds and
    their spread (sample standard deviation, minimum, maximum; ``seeds`` = 1: the one value)."""

    metric: str
    param_set: int
    param_label: str
    seeds: int
    mean: Fraction | float
    sd: float
    low: int | float
    high: int | float

    def cell(self, money: dict[str, Currency]) -> str:
        """The table's cell: the row names the currency, so amounts go without its symbol."""
        bare = {kind: Currency("", c.decimals, c.name) for kind, c in money.items()}
        mean = number_text(self.mean, self.metric, bare)
        if self.seeds == 1:
            return html.escape(mean)
        whole = isinstance(self.low, int) and self.metric not in MONEY
        sd = f"{self.sd:,.1f}" if whole else number_text(self.sd, self.metric, bare)
        spread = (
            f"sd {sd}; range {number_text(self.low, self.metric, bare)} to {number_text(self.high, self.metric, bare)}"
        )
        return f"{html.escape(mean)}<br><small>{html.escape(spread)}</small>"


def final_values(results: Results) -> list[FinalValue]:
    """Each metric of ``FINAL`` the results hold at each parameter set's final step."""
    out: list[FinalValue] = []
    for metric in FINAL:
        if not results.has(metric) or (metric in _ONLY_NONZERO and not results.nonzero(metric)):
            continue
        for s in results.sets:
            found = [results.final(s.index, seed, metric) for seed in s.seeds]
            values = [v for v in found if v is not None]
            if not values:
                continue
            sd = statistics.stdev(float(v) for v in values) if len(values) > 1 else 0.0
            out.append(
                FinalValue(metric, s.index, s.label, len(values), exact_mean(values), sd, min(values), max(values))
            )
    return out


# Plots ------------------------------------------------------------------------------------------


def colour(index: int) -> str:
    """The colour of parameter set ``index`` (its position in the results) in every plot."""
    return PALETTE[index % len(PALETTE)]


def width(position: int) -> float:
    """Line width of the parameter set drawn ``position``-th: earlier sets wider, so a set whose
    line lies exactly on an earlier one's shows as an outline of both colours instead of hiding it."""
    return max(1.0, 3.4 - 1.2 * position)


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _y_axis(ax: Axes, metrics: Sequence[str], unit: str, money: dict[str, Currency]) -> None:
    """Money axes in major units of their currency with k/M/bn ticks; other axes with separators."""
    from matplotlib.ticker import FuncFormatter

    kinds = {MONEY.get(m) for m in metrics}
    if kinds and None not in kinds and len(kinds) == 1:
        currency = money[next(iter(kinds))]  # type: ignore[index]
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: compact(v, currency.decimals)))
        ax.set_ylabel(f"{currency.symbol.strip()} (major units)")
    else:
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.6g}"))
        ax.set_ylabel(unit)


def _legend(ax: Axes, results: Results, metrics: Sequence[str], banded: bool, drawn: set[int]) -> None:
    """Parameter sets by colour, metrics by line style, outside the plotting area on the right."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list[Line2D | Patch] = [
        Line2D([], [], color=colour(s.index), linewidth=2, label=s.label) for s in results.sets if s.index in drawn
    ]
    if len(metrics) > 1:
        handles += [
            Line2D([], [], color="#555555", linestyle=LINESTYLES[m % len(LINESTYLES)], label=NAMES.get(metric, metric))
            for m, metric in enumerate(metrics)
        ]
    if banded:
        handles.append(Patch(color="#999999", alpha=0.3, label="seeds' min to max"))
    if handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)


def _x_axis(ax: Axes, start: str) -> None:
    ax.set_xlabel(f"years since {start}" if start else "years")
    ax.grid(True, color="#dddddd", linewidth=0.6)


def figure(plt: ModuleType, results: Results, plot: Plot, money: dict[str, Currency], start: str = "") -> Figure:
    """One question's figure: a line per parameter set (and metric), a band only for several seeds."""
    fig, ax = plt.subplots(figsize=(8, 3.6))
    banded, drawn = False, set()
    for m, metric in enumerate(plot.metrics):
        if not results.has(metric):
            continue
        for position, s in enumerate(results.sets):
            runs = [results.series(s.index, seed, metric) for seed in s.seeds]
            runs = [r for r in runs if r.values]
            if not runs:
                continue
            years = runs[0].years
            values = np.array([[float(v) for v in r.values] for r in runs if len(r.values) == len(years)])
            style = LINESTYLES[m % len(LINESTYLES)]
            ax.plot(years, values.mean(axis=0), color=colour(s.index), linestyle=style, linewidth=width(position))
            drawn.add(s.index)
            if len(values) > 1:  # a band only where there are several seeds
                ax.fill_between(years, values.min(axis=0), values.max(axis=0), color=colour(s.index), alpha=0.18)
                banded = True
    ax.set_title(plot.heading, fontsize=11)
    _x_axis(ax, start)
    _y_axis(ax, plot.metrics, plot.unit, money)
    _legend(ax, results, plot.metrics, banded, drawn)
    return cast("Figure", fig)


def _plot(plt: ModuleType, results: Results, plot: Plot, money: dict[str, Currency], start: str) -> str:
    fig = figure(plt, results, plot, money, start)
    png = _png(fig)
    plt.close(fig)
    return png


@dataclass(frozen=True, slots=True)
class Difference:
    """A parameter set's difference from the baseline in one metric, paired by seed."""

    metric: str
    param_set: int
    years: NDArray[np.float64]
    mean: NDArray[np.float64]
    low: NDArray[np.float64]
    high: NDArray[np.float64]
    seeds: int


def differences(results: Results, metric: str) -> list[Difference]:
    """Each parameter set after the first minus the first (the baseline), run by run on the seeds
    both ran (common random numbers: the same seed draws the same population), step by step."""
    if len(results.sets) < 2 or not results.has(metric):
        return []
    base = results.sets[0]
    out = []
    for s in results.sets[1:]:
        seeds = [seed for seed in s.seeds if seed in base.seeds]
        rows = []
        years = np.array([])
        for seed in seeds:
            a, b = results.series(s.index, seed, metric), results.series(base.index, seed, metric)
            if len(a.values) != len(b.values) or not a.values:
                continue
            years = a.years
            rows.append([float(x) - float(y) for x, y in zip(a.values, b.values, strict=True)])
        if rows:
            d = np.array(rows)
            out.append(Difference(metric, s.index, years, d.mean(axis=0), d.min(axis=0), d.max(axis=0), len(rows)))
    return out


def _differs(found: Sequence[Difference]) -> bool:
    return any(d.low.any() or d.high.any() for d in found)


def unchanged(results: Results) -> list[str]:
    """The metrics of ``DIFFERENCES`` that no parameter set changes in any run (none: one set)."""
    if len(results.sets) < 2:
        return []
    return [m for m in DIFFERENCES if results.has(m) and not _differs(differences(results, m))]


def _differences_plot(plt: ModuleType, results: Results, money: dict[str, Currency], start: str) -> str | None:
    found = {m: differences(results, m) for m in DIFFERENCES if results.has(m)}
    metrics = [m for m, d in found.items() if _differs(d)]
    if not metrics:
        return None
    cols = 2
    rows = math.ceil(len(metrics) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(10, 2.8 * rows), squeeze=False)
    banded = False
    for ax, metric in zip(axes.flat, metrics, strict=False):
        for position, d in enumerate(found[metric]):
            ax.plot(d.years, d.mean, color=colour(d.param_set), linewidth=width(position) * 0.8)
            if d.seeds > 1:
                ax.fill_between(d.years, d.low, d.high, color=colour(d.param_set), alpha=0.18)
                banded = True
        ax.axhline(0, color="#333333", linewidth=0.8)
        ax.set_title(NAMES.get(metric, metric), fontsize=10)
        _x_axis(ax, "")
        _y_axis(ax, (metric,), "difference", money)
        if metric in MONEY:
            ax.set_ylabel(f"difference, {money[MONEY[metric]].symbol.strip()}")
        else:
            ax.set_ylabel("difference")
    for ax in list(axes.flat)[len(metrics) :]:
        ax.set_visible(False)
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list[Line2D | Patch] = [
        Line2D([], [], color=colour(s.index), linewidth=2, label=s.label) for s in results.sets[1:]
    ]
    if banded:
        handles.append(Patch(color="#999999", alpha=0.3, label="seeds' min to max"))
    fig.suptitle(f"Each parameter set minus the baseline ({results.sets[0].label}), paired by seed", fontsize=11)
    columns = 1 if max(len(s.label) for s in results.sets) > 45 else 2
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=columns, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    png = _png(fig)
    plt.close(fig)
    return png


def _grades_plot(plt: ModuleType, results: Results) -> str | None:
    grades = sorted((c for c in results.names if c.startswith("grade_")), key=lambda c: int(c.split("_")[1]))
    if not grades:
        return None
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(results.sets) + 1.6))
    labels = [s.label for s in results.sets]
    shares = np.zeros((len(results.sets), len(grades)))
    for r, s in enumerate(results.sets):
        for g, grade in enumerate(grades):
            shares[r, g] = sum(float(results.final(s.index, seed, grade) or 0) for seed in s.seeds)
        shares[r] /= max(shares[r].sum(), 1.0)
    cmap = plt.get_cmap("cividis")
    left = np.zeros(len(labels))
    for g, grade in enumerate(grades):
        ax.barh(labels, shares[:, g], left=left, color=cmap(g / max(1, len(grades) - 1)), label=grade.replace("_", " "))
        left += shares[:, g]
    ax.invert_yaxis()  # the baseline on top
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of persons holding credits, by the grade holding most of them (final step)")
    ax.set_title("Social credit grades", fontsize=11)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)
    png = _png(fig)
    plt.close(fig)
    return png


# Regions ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegionValue:
    """One region (or the whole country, ``region`` ""), one parameter set, at the final step: the
    persons living there and their mean grade (means over seeds), and the mean grade's difference
    from the baseline paired by seed (mean, minimum, maximum; None for the baseline)."""

    region: str
    param_set: int
    persons: float
    mean_grade: float
    difference: tuple[float, float, float] | None


def regions_of(results: Results) -> list[str]:
    """The regions the results hold (``region_<name>_persons`` columns), in column order."""
    return [
        c[len("region_") : -len("_persons")]
        for c in results.names
        if c.startswith("region_") and c.endswith("_persons")
    ]


def region_values(results: Results) -> list[RegionValue]:
    """Per region and for the whole country, per parameter set (none without regions)."""
    out: list[RegionValue] = []
    regions = regions_of(results)
    if not regions or not results.has("mean_grade"):
        return out
    base = results.sets[0]
    for region in [*regions, ""]:
        grade = f"region_{region}_mean_grade" if region else "mean_grade"
        for s in results.sets:
            if region:
                people = [float(results.final(s.index, seed, f"region_{region}_persons") or 0) for seed in s.seeds]
            else:
                people = [
                    sum(float(results.final(s.index, seed, f"region_{r}_persons") or 0) for r in regions)
                    for seed in s.seeds
                ]
            grades = [float(results.final(s.index, seed, grade) or 0) for seed in s.seeds]
            difference = None
            if s.index != base.index:
                paired = [
                    float(results.final(s.index, seed, grade) or 0) - float(results.final(base.index, seed, grade) or 0)
                    for seed in s.seeds
                    if seed in base.seeds
                ]
                if paired:
                    difference = (statistics.fmean(paired), min(paired), max(paired))
            out.append(RegionValue(region, s.index, statistics.fmean(people), statistics.fmean(grades), difference))
    return out


def _region_name(region: str) -> str:
    return region.replace("_", " ").title() if region else "whole country"


def regions_answer(results: Results) -> str:
    """One sentence per parameter set after the baseline: how much it moves the mean grade,
    overall and region by region."""
    values = region_values(results)
    if len(results.sets) < 2 or not values:
        return ""
    sentences = []
    for s in results.sets[1:]:
        mine = [v for v in values if v.param_set == s.index and v.difference is not None]
        whole = next((v for v in mine if not v.region), None)
        if whole is None or whole.difference is None:
            continue
        parts = ", ".join(f"{_region_name(v.region)} {v.difference[0]:+.3f}" for v in mine if v.region and v.difference)
        sentences.append(
            f"With {s.label}, the mean grade of persons holding credits moves by {whole.difference[0]:+.3f} "
            f"grades in the whole country against the baseline ({results.sets[0].label}), from "
            f"{whole.mean_grade - whole.difference[0]:.3f} to {whole.mean_grade:.3f} (paired by seed); "
            f"by region: {parts}."
        )
    return " ".join(sentences)


def _regions_table(results: Results) -> list[str]:
    values = region_values(results)
    if not values:
        return []
    esc = html.escape
    several = len(results.sets) > 1
    parts = [
        "<h2>Regions</h2><p>At the last recorded step: the persons living in each region (after "
        "migration) and the mean grade of those holding social credits (the grade holding most of "
        "each one's credits), means over seeds"
        + ("; each set's difference from the baseline is paired by seed (range over seeds below)." if several else ".")
        + "</p>"
    ]
    answer = regions_answer(results)
    if answer:
        parts.append(f"<p><strong>{esc(answer)}</strong></p>")
    parts.append("<div class='scroll'><table class='final'><tr><th>region</th>")
    for s in results.sets:
        swatch = f"<span class='swatch' style='background:{colour(s.index)}'></span>"
        parts.append(f"<th>{swatch}{esc(s.label)}: persons</th><th>mean grade</th>")
        if s.index != results.sets[0].index:
            parts.append("<th>difference</th>")
    parts.append("</tr>")
    by = {(v.region, v.param_set): v for v in values}
    for region in dict.fromkeys(v.region for v in values):
        parts.append(f"<tr><th>{esc(_region_name(region))}</th>")
        for s in results.sets:
            v = by[(region, s.index)]
            parts.append(f"<td>{v.persons:,.1f}</td><td>{v.mean_grade:.3f}</td>")
            if s.index != results.sets[0].index:
                if v.difference is None:
                    parts.append("<td>-</td>")
                else:
                    mean, low, high = v.difference
                    parts.append(f"<td>{mean:+.3f}<br><small>{low:+.3f} to {high:+.3f}</small></td>")
        parts.append("</tr>")
    parts.append("</table></div>")
    return parts


def _regions_plot(plt: ModuleType, results: Results) -> str | None:
    values = region_values(results)
    if not values:
        return None
    regions = list(dict.fromkeys(v.region for v in values))
    by = {(v.region, v.param_set): v for v in values}
    fig, ax = plt.subplots(figsize=(8, 3.6))
    step = 0.8 / len(results.sets)
    x = np.arange(len(regions), dtype=np.float64)
    for position, s in enumerate(results.sets):
        heights = [by[(r, s.index)].mean_grade for r in regions]
        lows, highs = [], []
        for r in regions:
            grades = [
                float(results.final(s.index, seed, f"region_{r}_mean_grade" if r else "mean_grade") or 0)
                for seed in s.seeds
            ]
            lows.append(by[(r, s.index)].mean_grade - min(grades))
            highs.append(max(grades) - by[(r, s.index)].mean_grade)
        ax.bar(
            x + (position - (len(results.sets) - 1) / 2) * step,
            heights,
            step * 0.95,
            color=colour(s.index),
            label=s.label,
            yerr=[lows, highs] if len(s.seeds) > 1 else None,
            capsize=3,
        )
    ax.set_xticks(x, [_region_name(r) for r in regions])
    top = max(v.mean_grade for v in values)
    low = min(v.mean_grade for v in values)
    margin = max((top - low) * 0.5, 0.05)
    ax.set_ylim(max(0.0, low - margin), top + margin)  # differences of a tenth of a grade stay visible
    ax.set_ylabel("mean grade (final step; axis not from 0)")
    ax.set_title("Mean social credit grade by region (bars: seeds' min to max)", fontsize=11)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)
    fig.tight_layout()
    png = _png(fig)
    plt.close(fig)
    return png


# The page ---------------------------------------------------------------------------------------


def _scenario_file(results: Path) -> Path | None:
    folder = results if results.is_dir() else results.parent
    copy = folder / SCENARIO_COPY
    return copy if copy.is_file() else None


def _flatten(node: object, path: tuple[str, ...] = ()) -> list[tuple[str, object]]:
    if isinstance(node, dict):
        return [item for key, value in node.items() for item in _flatten(value, (*path, key))]
    return [(".".join(path), node)]


def _header(results: Path, data: Results, infos: list[RunInfo], money: dict[str, Currency]) -> list[str]:
    """What made the results: scenario, file, parameters, seeds, versions and dates."""
    esc = html.escape
    copy = _scenario_file(results)
    text = copy.read_text(encoding="utf-8") if copy else ""
    try:
        parsed = tomllib.loads(text) if text else {}
    except tomllib.TOMLDecodeError:
        parsed = {}
    first = infos[0] if infos else None
    scenario = first.scenario if first else str(parsed.get("scenario", {}).get("name", "unknown"))
    seeds = sorted({seed for s in data.sets for seed in s.seeds})
    per_set = sorted({len(s.seeds) for s in data.sets})
    versions = sorted({i.civicledger_version for i in infos})
    rules = sorted({i.rules for i in infos})
    made = sorted(i.created for i in infos)
    rows: list[tuple[str, str]] = [("scenario", esc(scenario))]
    description = parsed.get("scenario", {}).get("description") if isinstance(parsed.get("scenario"), dict) else None
    if description:
        rows.append(("description", esc(str(description))))
    if first and first.scenario_file:
        digest = first.scenario_sha256
        rows.append(
            (
                "scenario file",
                f"{esc(first.scenario_file)} (copied as {SCENARIO_COPY}; SHA-256 <code>{esc(digest)}</code>)",
            )
        )
    elif copy:
        rows.append(("scenario file", esc(str(copy))))
    if first:
        years = first.steps * first.step_seconds / YEAR
        rows.append(
            (
                "horizon",
                f"{first.steps:,} steps of {first.step_seconds / 86400:g} days from "
                f"{esc(format_instant(first.start)[:10])} ({years:.2f} years)",
            )
        )
    if len(data.sets) > 1:
        rows.append(("parameter sets", f"{len(data.sets)} (the first, {esc(data.sets[0].label)}, is the baseline)"))
    else:
        rows.append(("parameter sets", f"1 ({esc(data.sets[0].label)})"))
    runs = sum(len(s.seeds) for s in data.sets)
    rows.append(
        (
            "seeds",
            f"{esc(', '.join(map(str, seeds)))} ({' or '.join(map(str, per_set))} per parameter set; "
            f"{runs} run{'s' if runs != 1 else ''})",
        )
    )
    routed = _routed_line(data)
    if routed:
        rows.append(("routed payments", esc(routed)))
    rows.append(("civicledger", esc(", ".join(versions) or "unknown (files without metadata)")))
    rows.append(
        (
            "rule version",
            "; ".join(f"{r} <small>({esc(describe(r))})</small>" for r in rules) or "unknown",
        )
    )
    if made:
        rows.append(("runs made", esc(made[0] if made[0] == made[-1] else f"{made[0]} to {made[-1]}")))
    now = datetime.now(UTC).replace(microsecond=0).isoformat()
    rows.append(("report written", f"{esc(now)} by civicledger {esc(release())}"))
    used = {MONEY[c] for c in data.names if c in MONEY}
    amounts = "; ".join(
        f"{esc(c.symbol.strip())} = {esc(c.name)}, {c.decimals} decimals" for kind, c in money.items() if kind in used
    )
    rows.append(("amounts", f"major units ({amounts}); the Parquet files hold exact minor units"))
    several = [s for s in data.sets if len(s.seeds) > 1]
    if not several:
        lines = "each line is one run (one seed per parameter set); no bands"
    elif len(several) == len(data.sets):
        lines = "lines are the mean over a parameter set's seeds, shaded bands the seeds' minimum to maximum"
    else:
        lines = (
            "lines are the mean over a parameter set's seeds; bands (the seeds' minimum to maximum) "
            "only where a set ran several seeds"
        )
    rows.append(("plots", esc(lines)))
    parts = ["<table class='header'>"]
    parts += [f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in rows]
    parts.append("</table>")
    parts.append(
        "<h2>Parameter sets</h2><div class='scroll'><table><tr><th></th><th>#</th><th>parameter set</th>"
        "<th>values</th><th>seeds</th></tr>"
    )
    for s in data.sets:
        values = ", ".join(f"{k} = {v!r}" for k, v in s.values) or "the scenario's own"
        parts.append(
            f"<tr><td><span class='swatch' style='background:{colour(s.index)}'></span></td><td>{s.index}</td>"
            f"<td>{esc(s.label)}</td><td>{esc(values)}</td><td>{esc(', '.join(map(str, s.seeds)))}</td></tr>"
        )
    parts.append("</table></div>")
    base = [(k, v) for k, v in _flatten({k: v for k, v in parsed.items() if k not in ("scenario", "sweep")})]
    if base:
        parts.append(
            "<h2>Base parameters</h2><p>As the scenario file sets them; every other value at its default.</p><table>"
        )
        parts += [f"<tr><th>{esc(k)}</th><td>{esc(repr(v))}</td></tr>" for k, v in base]
        parts.append("</table>")
    if text:
        parts.append(f"<details><summary>The scenario file</summary><pre>{esc(text)}</pre></details>")
    return parts


def _routed_line(data: Results) -> str:
    """How routed payments were found (CI9): by the engine's max-flow kernel or by the two-hop rule,
    summed over every run at its last recorded step ("" for results without these columns)."""
    if not data.has("routed_max_flow") or not data.has("routed_two_hop"):
        return ""

    def total(metric: str) -> int:
        return sum(int(data.final(s.index, seed, metric) or 0) for s in data.sets for seed in s.seeds)

    flow, two_hop, refused = total("routed_max_flow"), total("routed_two_hop"), total("routed_max_flow_refused")
    runs = sum(len(s.seeds) for s in data.sets)
    line = (
        f"{flow:,} payments routed by max flow (engine kernel), {two_hop:,} by the two-hop rule "
        f"(over {runs} run{'s' if runs != 1 else ''})"
    )
    if refused:
        line += f"; {refused:,} sampled for max flow could not flow in full and were refused"
    return line


def _final_table(data: Results, money: dict[str, Currency]) -> list[str]:
    finals = final_values(data)
    if not finals:
        return []
    by = {(f.metric, f.param_set): f for f in finals}
    several = any(f.seeds > 1 for f in finals)
    spread = " Below each mean: the sample standard deviation (sd) and the range over seeds." if several else ""
    parts = [
        f"<h2>Final values</h2><p>At the last recorded step, per parameter set; amounts in major units of "
        f"the currency the row names.{spread}</p>",
        "<div class='scroll'><table class='final'><tr><th>metric</th>",
    ]
    parts += [
        f"<th><span class='swatch' style='background:{colour(s.index)}'></span>{html.escape(s.label)}</th>"
        for s in data.sets
    ]
    parts.append("</tr>")
    for metric in dict.fromkeys(f.metric for f in finals):
        unit = f" ({money[MONEY[metric]].symbol.strip()})" if metric in MONEY else ""
        parts.append(f"<tr><th>{html.escape(NAMES.get(metric, metric) + unit)}</th>")
        for s in data.sets:
            f = by.get((metric, s.index))
            parts.append(f"<td>{f.cell(money) if f else '-'}</td>")
        parts.append("</tr>")
    parts.append("</table></div>")
    return parts


def default_title(results: Path) -> str:
    infos = run_infos(results)
    return f"Simulation report: {infos[0].scenario}" if infos else "Simulation report"


Number = Fraction | float
"""A mean over seeds: exact for whole-number columns (money among them), a float otherwise."""


@dataclass(frozen=True, slots=True)
class AttackOutcome:
    """What one kind of attacker gained in one parameter set, at the final step (mean over seeds)."""

    attack: str
    rule: str
    param_label: str
    gained: str
    gains_nothing: bool


def _final_means(table: pa.Table) -> dict[str, dict[str, Number]]:
    """param_label -> column -> the mean over runs of the column at each run's final step."""
    data = Results(table)
    out: dict[str, dict[str, Number]] = {}
    for s in data.sets:
        into: dict[str, Number] = {}
        for name in data.names:
            found = [data.final(s.index, seed, name) for seed in s.seeds]
            values = [v for v in found if v is not None]
            if values and name not in ("seed", "param_set"):
                into[name] = exact_mean(values)
        out[s.label] = into
    return out


def attack_outcomes(table: pa.Table, money: dict[str, Currency] | None = None) -> list[AttackOutcome]:
    """Each attacker a scenario played (IN1, IN2, IN5, IN6) and whether it gained anything.

    Order splitters and revenue inflators gain what their columns say (never positive: nothing);
    participation farmers gain if more of their credits reach the top grade than everyone else's
    (beyond one point of share); draw grinders gain
    if more penalties were overturned than honest appeals overturn, beyond three standard
    deviations of chance.
    """
    cash = money or currencies([])
    out: list[AttackOutcome] = []
    for label, row in _final_means(table).items():
        if "splitter_gain" in row:
            gain = row["splitter_gain"]
            before = row.get("splitter_gain_rules_1", 0)
            text = (
                f"{number_text(gain, 'splitter_gain', cash)} "
                f"(rule version 1: {number_text(before, 'splitter_gain', cash)})"
            )
            out.append(AttackOutcome("order splitter", "IN5", label, text, gain <= 0))
        if "inflator_gain" in row:
            gain = row["inflator_gain"]
            text = (
                f"{float(gain):,.0f} coop credits (rule version 1: {float(row.get('inflator_gain_rules_1', 0)):,.0f})"
            )
            out.append(AttackOutcome("revenue inflator", "IN1", label, text, gain <= 0))
        if "farmer_top_share" in row:
            farmed, others = float(row["farmer_top_share"]), float(row.get("others_top_share", 0.0))
            text = f"{farmed:.1%} of their credits at the top grade (everyone else: {others:.1%})"
            out.append(AttackOutcome("participation farmer", "IN2", label, text, farmed <= others + 0.01))
        expected = float(row.get("appeals_overturned_expected", 0.0))
        if expected > 0 and "appeals_overturned" in row:
            overturned = float(row["appeals_overturned"])
            chance = 3 * expected**0.5
            text = f"{overturned:,.0f} penalties overturned; honest appeals overturn {expected:,.0f}"
            out.append(AttackOutcome("draw grinder", "IN6", label, text, overturned - expected <= chance))
    return out


@dataclass(frozen=True, slots=True)
class KeyLossOutcome:
    """What persons who lost their key lost in one parameter set, with or without guardians (X9),
    at the final step (mean over seeds; amounts exact minor units, as fractions of a mean)."""

    param_label: str
    guardians: bool
    keys_lost: Number  # persons who lost their key
    recovered: Number  # of them, accounts recovered by the end (with guardians; the others still wait)
    income_lost: Number  # income never claimed: by recovered accounts, or by accounts lost for good until the end
    per_person: Number  # income_lost per recovered account (with guardians), per lost account (without)
    holdings_frozen: Number  # what the accounts lost for good still hold (without guardians)


def key_loss_outcomes(table: pa.Table) -> list[KeyLossOutcome]:
    """Income lost to lost keys (X9) in each parameter set where keys were lost, the persons with
    guardians and those without on separate lines."""
    out: list[KeyLossOutcome] = []
    zero = Fraction(0)
    for label, row in _final_means(table).items():
        guarded, unguarded = row.get("keys_lost_guarded", zero), row.get("keys_lost_unguarded", zero)
        if guarded + unguarded <= 0:
            continue
        recovered = row.get("accounts_recovered", zero)
        for guardians, lost, settled, income, frozen in (
            (True, guarded, recovered, row.get("income_lost_guarded", zero), zero),
            (False, unguarded, zero, row.get("income_lost_unguarded", zero), row.get("holdings_frozen", zero)),
        ):
            if lost > 0:
                per = settled if guardians else lost
                each: Number = income / per if per else zero
                out.append(KeyLossOutcome(label, guardians, lost, settled, income, each, frozen))
    return out


def write_report(results: Path, out: Path, title: str | None = None) -> Path:
    """Write the HTML report of a results folder to ``out`` and return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = load(results)
    data = Results(table)
    infos = run_infos(results)
    money = currencies(infos)
    start = format_instant(infos[0].start)[:10] if infos else ""
    heading = title or default_title(results)
    images: list[tuple[str, str, str]] = []
    for plot in PLOTS:
        present = [m for m in plot.metrics if data.has(m)]
        if plot.when == "nonzero" and not any(data.nonzero(m) for m in plot.metrics):
            continue
        if plot.when == "present" and not present:
            continue
        images.append((plot.heading, _plot(plt, data, plot, money, start), ""))
    diff = _differences_plot(plt, data, money, start)
    same = "; ".join(NAMES.get(m, m) for m in unchanged(data))
    note = f"No difference from the baseline in any run: {same}." if same else ""
    if diff or same:  # several parameter sets: the plot of what differs, the names of what does not
        images.append(("Differences from the baseline", diff or "", note))
    grades = _grades_plot(plt, data)
    if grades:
        images.append(("Social credit grades", grades, ""))
    regional = _regions_plot(plt, data)
    if regional:
        images.append(("Mean grade by region", regional, ""))
    esc = html.escape
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{esc(heading)}</title>",
        "<style>body{font-family:sans-serif;max-width:62em;margin:2em auto;padding:0 1em;line-height:1.4}"
        "img{max-width:100%}table{border-collapse:collapse;margin:.5em 0}"
        "th,td{border-bottom:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}"
        "table.final td{text-align:right;font-variant-numeric:tabular-nums}small{color:#555}"
        "table.header th{white-space:nowrap}.scroll{overflow-x:auto}td{overflow-wrap:anywhere}"
        "@media (max-width:40em){table.header th{white-space:normal}}"
        ".swatch{display:inline-block;width:.9em;height:.9em;margin-right:.4em;vertical-align:middle}"
        "pre{background:#f6f6f6;padding:.8em;overflow-x:auto}</style>",
        f"</head><body><h1>{esc(heading)}</h1>",
        *_header(results, data, infos, money),
        *_final_table(data, money),
        *_regions_table(data),
    ]
    attacks = attack_outcomes(table, money)
    if attacks:
        parts.append(
            "<h2>What attackers gained</h2><table><tr><th>attacker</th><th>rule</th>"
            "<th>parameter set</th><th>gained</th><th>verdict</th></tr>"
        )
        for a in attacks:
            verdict = "gains nothing" if a.gains_nothing else "GAINS"
            parts.append(
                f"<tr><td>{esc(a.attack)}</td><td>{a.rule}</td><td>{esc(a.param_label)}</td>"
                f"<td>{esc(a.gained)}</td><td>{verdict}</td></tr>"
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
            "<table class='final'><tr><th>parameter set</th><th>guardians</th><th>keys lost</th><th>recovered</th>"
            "<th>income lost</th><th>per person</th><th>holdings frozen</th></tr>"
        )
        for k in keys:
            circles = "income_lost_guarded"
            parts.append(
                f"<tr><th>{esc(k.param_label)}</th><td>{'with' if k.guardians else 'without'}</td>"
                f"<td>{float(k.keys_lost):,.1f}</td><td>{f'{float(k.recovered):,.1f}' if k.guardians else '-'}</td>"
                f"<td>{esc(number_text(k.income_lost, circles, money))}</td>"
                f"<td>{esc(number_text(k.per_person, circles, money))}</td>"
                f"<td>{'-' if k.guardians else esc(number_text(k.holdings_frozen, circles, money))}</td></tr>"
            )
        parts.append("</table>")
    for name, png, note in images:
        parts.append(f"<h2>{esc(name)}</h2>")
        if png:
            parts.append(f"<img alt='{esc(name)}' src='data:image/png;base64,{png}'>")
        if note:
            parts.append(f"<p>{esc(note)}</p>")
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
