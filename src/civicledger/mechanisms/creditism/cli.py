"""`civic creditism ...`: assets, externality, surveys, allotments, coops, pre-orders, prices, report.

Council commands are signed by a quorum of the council's members (``-k governor-1 -k governor-2``);
the council is the economy's governing council unless ``--council`` names another. Quantities are
written as decimals or fractions ("0.61", "3/4"); money in whole minor units.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from civicledger.cli.app import IdOption, Session, Submission, session, submit
from civicledger.cli.output import emit, explanation_printer, fail
from civicledger.kernel.errors import CivicLedgerError, InvalidInputError
from civicledger.kernel.identity import AccountId
from civicledger.kernel.messages import Command
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.ports import UnitOfWork
from civicledger.kernel.records import stored_json
from civicledger.kernel.state import current_policy, require_economy
from civicledger.mechanisms.creditism import commands as cc
from civicledger.mechanisms.creditism import handlers as svc
from civicledger.mechanisms.creditism import queries
from civicledger.mechanisms.creditism.state import ASSETS, require_asset
from civicledger.mechanisms.creditism.values import COMPONENTS, AssetKind, decode, show

creditism_app = typer.Typer(
    help="Creditism: resources, externality, sustainable rates, prices (CR1-CR14).", no_args_is_help=True
)

CouncilKeys = Annotated[list[str], typer.Option("--key", "-k", help="Council member keys that sign (repeat).")]
CouncilOption = Annotated[
    str | None, typer.Option("--council", help="The council (account id or key name); default: the governing council.")
]
InputOption = Annotated[
    list[str], typer.Option("--input", "-i", help="Bill of materials: ASSET=QTY per unit (repeat).")
]
FactorOption = Annotated[
    list[str], typer.Option("--factor", help="Resource factor NAME:WEIGHT:OPTIMAL:CURRENT:PER_UNIT[:QTY] (CR2).")
]
GoodFactorOption = Annotated[
    list[str], typer.Option("--good-factor", help="Good factor NAME:WEIGHT:IMPACT:ABSORPTION:CURRENT (CR3).")
]
SignerOption = Annotated[str, typer.Option("--key", "-k", help="The signing key (name or file).")]


def _council(s: Session, council: str | None) -> AccountId:
    if council is not None:
        return s.account(council)
    with s.store.read() as uow:
        return require_economy(uow).council


def _inputs(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, sep, qty = pair.partition("=")
        if not sep:
            raise InvalidInputError(f"an input is written ASSET=QTY, not {pair!r}", rule="CR7")
        out[name.strip()] = qty.strip()
    return out


def _council_run(
    ctx: typer.Context,
    build: Callable[[AccountId], Command],
    keys: list[str],
    council: str | None,
    command_id: str | None,
) -> None:
    submit(ctx, lambda s: (build(_council(s, council)), keys or ["governor-1"]), command_id)


@creditism_app.command("define")
def define(
    ctx: typer.Context,
    asset: Annotated[str, typer.Argument(help="Asset name, e.g. steel.")],
    kind: Annotated[AssetKind, typer.Option(help="renewable, finite (resources) or good.")],
    unit: Annotated[str, typer.Option(help="kg, t, litre, km, piece, hour, gb ...")],
    keys: CouncilKeys,
    name: Annotated[str, typer.Option(help="A longer name.")] = "",
    rejuvenation: Annotated[str, typer.Option(help="Units a year (renewable).")] = "0",
    mortality: Annotated[str, typer.Option(help="Units a year (renewable).")] = "0",
    extraction: Annotated[str, typer.Option(help="Observed extraction, units a year.")] = "0",
    total_supply: Annotated[str, typer.Option(help="Units in total.")] = "0",
    age: Annotated[str, typer.Option(help="Years since it formed (finite).")] = "0",
    labour: Annotated[int, typer.Option(help="Labour per unit, minor units.")] = 0,
    external: Annotated[int, typer.Option(help="External resources per unit (transport ...), minor units.")] = 0,
    council_markup: Annotated[str, typer.Option(help="Ratio of resources + labour, e.g. 1/10.")] = "0",
    inputs: InputOption = [],  # noqa: B006  (typer reads the default)
    council: CouncilOption = None,
    command_id: IdOption = None,
) -> None:
    """Define a resource or a good (CR1)."""
    _council_run(
        ctx,
        lambda c: cc.DefineAsset(
            c,
            asset,
            kind,
            unit,
            name,
            rejuvenation,
            mortality,
            extraction,
            total_supply,
            age,
            labour,
            external,
            council_markup,
            _inputs(inputs),
        ),
        keys,
        council,
        command_id,
    )


@creditism_app.command("inputs")
def set_inputs(
    ctx: typer.Context,
    asset: str,
    keys: CouncilKeys,
    inputs: InputOption = [],  # noqa: B006
    council: CouncilOption = None,
    command_id: IdOption = None,
) -> None:
    """Change an asset's bill of materials (cycles: steel needs machines that need steel) (CR12)."""
    _council_run(ctx, lambda c: cc.SetInputs(c, asset, _inputs(inputs)), keys, council, command_id)


def _factor(spec: str, kind: str) -> cc.Factor:
    parts = spec.split(":")
    if kind == "resource" and len(parts) in (5, 6):
        name, weight, optimal, current, per_unit, *rest = parts
        return cc.Factor(name, weight, "resource", optimal, current, per_unit, rest[0] if rest else "1")
    if kind == "good" and len(parts) == 5:
        name, weight, impact, absorption, current = parts
        return cc.Factor(name, weight, "good", current=current, impact=impact, absorption=absorption)
    shape = (
        "NAME:WEIGHT:OPTIMAL:CURRENT:PER_UNIT[:QTY]" if kind == "resource" else "NAME:WEIGHT:IMPACT:ABSORPTION:CURRENT"
    )
    rule = "CR2" if kind == "resource" else "CR3"
    raise InvalidInputError(f"a {kind} factor is written {shape}, not {spec!r}", rule=rule)


@creditism_app.command("assess")
def assess(
    ctx: typer.Context,
    asset: str,
    keys: CouncilKeys,
    factor: FactorOption = [],  # noqa: B006
    good_factor: GoodFactorOption = [],  # noqa: B006
    council: CouncilOption = None,
    command_id: IdOption = None,
) -> None:
    """Score an asset's externality factors with council weights (CR2-CR4)."""
    _council_run(
        ctx,
        lambda c: cc.AssessExternality(
            c, asset, tuple([_factor(f, "resource") for f in factor] + [_factor(f, "good") for f in good_factor])
        ),
        keys,
        council,
        command_id,
    )


@creditism_app.command("survey")
def survey(
    ctx: typer.Context,
    asset: str,
    keys: CouncilKeys,
    demand: Annotated[str, typer.Option(help="Demand, units a year.")],
    total_supply: Annotated[str | None, typer.Option(help="Surveyed total supply (resources).")] = None,
    council: CouncilOption = None,
    command_id: IdOption = None,
) -> None:
    """Record the council's survey of an asset's demand and supply (CR14)."""
    _council_run(ctx, lambda c: cc.SurveyAsset(c, asset, demand, total_supply), keys, council, command_id)


@creditism_app.command("allot")
def allot(
    ctx: typer.Context,
    asset: str,
    keys: CouncilKeys,
    amount: Annotated[str | None, typer.Option(help="Allot less than the rule's figure (units a year).")] = None,
    council: CouncilOption = None,
    command_id: IdOption = None,
) -> None:
    """Set an asset's allotted extraction or production (CR5-CR8)."""
    _council_run(ctx, lambda c: cc.SetAllotment(c, asset, amount), keys, council, command_id)


@creditism_app.command("apply")
def apply(
    ctx: typer.Context,
    application: Annotated[str, typer.Argument(help="A name for the application, e.g. green-bike.")],
    good: Annotated[str, typer.Option(help="The good to produce.")],
    coop: SignerOption,
    labour: Annotated[int, typer.Option(help="Labour per unit, minor units.")],
    external: Annotated[int, typer.Option(help="External resources per unit, minor units.")] = 0,
    markup: Annotated[str, typer.Option(help="The coop's markup, a ratio of BasePrice.")] = "0",
    inputs: InputOption = [],  # noqa: B006
    process: Annotated[str, typer.Option(help="How it is made.")] = "",
    command_id: IdOption = None,
) -> None:
    """A cooperative applies with its plan to produce a good (CR14); the coop signs."""

    def build(s: Session) -> Submission:
        cmd = cc.ApplyCoop(s.key(coop).account, application, good, labour, external, markup, _inputs(inputs), process)
        return cmd, [coop]

    submit(ctx, build, command_id)


@creditism_app.command("approve")
def approve(
    ctx: typer.Context,
    application: str,
    keys: CouncilKeys,
    allotted: Annotated[str, typer.Option(help="The coop's allotted production, units a year.")],
    council: CouncilOption = None,
    command_id: IdOption = None,
) -> None:
    """The council approves a coop's application with its allotted production (CR14)."""
    _council_run(ctx, lambda c: cc.ApproveCoop(c, application, allotted), keys, council, command_id)


@creditism_app.command("pre-order")
def pre_order(
    ctx: typer.Context,
    application: str,
    quantity: int,
    buyer: SignerOption,
    currency: Annotated[
        str | None, typer.Option(help="The currency the order is paid in when placed (rules 2, IN1).")
    ] = None,
    command_id: IdOption = None,
) -> None:
    """Pre-order units, each priced at the demand/supply ratio of its position in the queue (CR14, IN5)."""
    paid_in = None if currency is None else CurrencyId(currency)
    submit(ctx, lambda s: (cc.PreOrder(s.key(buyer).account, application, quantity, paid_in), [buyer]), command_id)


@creditism_app.command("crowdfund")
def crowdfund(
    ctx: typer.Context, application: str, currency: str, units: int, backer: SignerOption, command_id: IdOption = None
) -> None:
    """Fund an application: the units move to the coop in the same entry (CR14)."""
    submit(
        ctx,
        lambda s: (cc.Crowdfund(s.key(backer).account, application, CurrencyId(currency), units), [backer]),
        command_id,
    )


@creditism_app.command("produce")
def produce(
    ctx: typer.Context,
    application: str,
    coop: SignerOption,
    produced: Annotated[int, typer.Option(help="Units produced.")],
    sold: Annotated[int, typer.Option(help="Units sold.")] = 0,
    revenue: Annotated[int, typer.Option(help="Revenue of those sales, minor units.")] = 0,
    command_id: IdOption = None,
) -> None:
    """Record actual production (CR8); under rules 2 it delivers paid pre-orders, whose payments above
    BasePrice become coop credits (CR13, IN1); --sold and --revenue are for rules 1 only."""
    submit(
        ctx,
        lambda s: (cc.RecordProduction(s.key(coop).account, application, produced, sold, revenue), [coop]),
        command_id,
    )


def price_money(uow: UnitOfWork) -> Callable[[int], str]:
    """How a price reads (X3): ``queries.price_money``, the pages' formatter too."""
    return queries.price_money(uow).format


def _pie(view: dict[str, Any], out: Path, money: Callable[[int], str]) -> None:
    """The price's breakdown as a pie chart (negative slices, a scarcity discount, in the legend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {
        "labour": "#4e79a7",
        "resources": "#59a14f",
        "externality": "#e15759",
        "council": "#f28e2b",
        "coop": "#b07aa1",
        "scarcity": "#9c755f",
    }
    price = view["price"]
    slices = [(k, v) for k, v in view["components"].items() if v > 0]
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    ax.pie(
        [v for _, v in slices],
        colors=[colours[k] for k, _ in slices],
        startangle=90,
        counterclock=False,
        autopct=lambda pct: f"{pct:.1f}%" if pct >= 3 else "",
        pctdistance=0.75,
        wedgeprops={"linewidth": 1, "edgecolor": "white"},
        textprops={"fontsize": 10, "color": "white"},
    )
    labels = [f"{k}: {money(v)}" + (" (a discount: not drawn)" if v < 0 else "") for k, v in view["components"].items()]
    from matplotlib.patches import Patch

    handles = [Patch(color=colours[k]) for k in view["components"]]
    ax.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, fontsize=10)
    drawn = sum(v for _, v in slices)
    note = f"\nslices are shares of {money(drawn)} before the discount" if drawn != price else ""
    fig.suptitle(
        f"{view['asset']}: {money(price)} per {view['unit']}\n"
        f"what the price pays for, through the whole supply chain{note}",
        fontsize=11,
    )
    ax.axis("equal")
    fig.savefig(out, bbox_inches="tight")
    plt.close(fig)


@creditism_app.command("price")
def price(
    ctx: typer.Context,
    asset: str,
    chart: Annotated[Path | None, typer.Option("--chart", help="Write the breakdown as a pie chart (PNG).")] = None,
) -> None:
    """An asset's market price and its components through the whole chain (CR10-CR12)."""
    with session(ctx, need_journal_key=False) as s:
        try:
            with s.store.read() as uow:
                view = svc.price_view(uow, current_policy(uow), asset)
                money = price_money(uow)
        except CivicLedgerError as e:
            fail(ctx, e)
    if chart is not None:
        _pie(view, chart, money)
        view["chart"] = str(chart)

    def human(console: Console) -> None:
        table = Table(
            title=f"{asset}: {money(view['price'])} per {view['unit']} "
            f"(BasePrice {money(view['base_price'])}, demand/supply {show(decode(view['scarcity']))})"
        )
        table.add_column("component")
        table.add_column("amount", justify="right")
        table.add_column("share", justify="right")
        shares = queries.shares_shown(view["components"])  # the goods page's shares too (CR11)
        for c in COMPONENTS:
            table.add_row(c.value, money(view["components"][c.value]), shares[c.value])
        table.add_row("[bold]total[/]", f"[bold]{money(view['price'])}[/]", "")
        whole = sum(v for v in view["components"].values() if v > 0)
        if whole != view["price"]:
            table.caption = f"shares of {money(whole)}, what the price pays for before the scarcity discount (CR11)"
        console.print(table)
        if chart is not None:
            console.print(f"pie chart written to {chart}")

    emit(ctx, view, human)


@creditism_app.command("explain")
def explain(ctx: typer.Context, asset: str) -> None:
    """Why an asset's price is what it is (CR10-CR12): direct costs, inputs, markups, demand/supply, shares."""
    with session(ctx, need_journal_key=False) as s:
        try:
            with s.store.read() as uow:
                found = queries.explain_price(uow, asset)
        except CivicLedgerError as e:
            fail(ctx, e)
    emit(ctx, found.to_wire(), explanation_printer(found))


@creditism_app.command("show")
def show_asset(ctx: typer.Context, asset: str) -> None:
    """An asset's record: definition, factors with their scores (raw and clamped), survey, allotment."""
    with session(ctx, need_journal_key=False) as s:
        try:
            with s.store.read() as uow:
                record = require_asset(dict(ASSETS.scan(uow)), asset)
        except CivicLedgerError as e:
            fail(ctx, e)
    stored = stored_json(record)

    def human(console: Console) -> None:
        table = Table(title=f"{asset} ({record.kind.value}, per {record.unit})", show_header=False)
        table.add_column("field")
        table.add_column("value")
        for key, value in stored.items():
            if key == "factors":
                for f in record.factors:
                    raw = f" (before clamping {show(decode(f.raw))})" if f.raw != f.score else ""
                    table.add_row(f"factor {f.name}", f"EF {show(decode(f.score))}{raw}, weight {f.weight}")
            elif key not in ("asset",):
                table.add_row(key, str(value))
        console.print(table)

    emit(ctx, stored, human)


@creditism_app.command("compare")
def compare(ctx: typer.Context, good: str) -> None:
    """The coops making one good, side by side: costs, prices, efficiency, credits (CR13)."""
    with session(ctx, need_journal_key=False) as s:
        try:
            with s.store.read() as uow:
                rows = svc.compare_view(uow, current_policy(uow), good)
                money = price_money(uow)
        except CivicLedgerError as e:
            fail(ctx, e)

    def human(console: Console) -> None:
        table = Table(title=f"coops making {good} (amounts per unit)")
        for col in ("coop", "allotted", "labour", "BasePrice", "price", "efficiency", "coop credits", "workers"):
            table.add_column(col, justify="left" if col == "coop" else "right")
        for r in rows:
            table.add_row(
                r["application"] + ("" if r["status"] == "approved" else f" ({r['status']})"),
                r["allotted"] or "-",
                money(r["labour"]),
                money(r["base_price"]),
                money(r["price"]),
                show(decode(r["efficiency"]), 2) if r["efficiency"] else "-",
                money(r["coop_credits"]),
                money(r["worker_credits"]),
            )
        console.print(table)
        parts = Table(title="their prices broken down through the whole supply chain")
        parts.add_column("component")
        for r in rows:
            parts.add_column(r["application"], justify="right")
        for c in COMPONENTS:
            parts.add_row(c.value, *[money(r["components"][c.value]) for r in rows])
        parts.add_row("[bold]price[/]", *[f"[bold]{money(r['price'])}[/]" for r in rows])
        console.print(parts)

    emit(ctx, {"good": good, "coops": rows}, human)


@creditism_app.command("report")
def report(ctx: typer.Context) -> None:
    """Every resource's allowance rating and every good's production capability (CR7-CR9)."""
    with session(ctx, need_journal_key=False) as s:
        try:
            with s.store.read() as uow:
                data = svc.report_view(uow, current_policy(uow))
        except CivicLedgerError as e:
            fail(ctx, e)

    def q(text: str | None, places: int = 2) -> str:
        return "-" if text is None else show(decode(text), places)

    def human(console: Console) -> None:
        table = Table(title="resources: allowance rating = demand / allotted (lower is better)")
        for col in ("resource", "unit", "E", "demand", "allotted", "rating", "actual", "split among goods"):
            table.add_column(col, justify="left" if col in ("resource", "unit", "split among goods") else "right")
        for r in data["resources"]:
            split = ", ".join(f"{g} {q(v, 0)}" for g, v in r.get("split", {}).items()) or "-"
            table.add_row(
                r["asset"],
                r["unit"],
                q(r["score"], 4),
                q(r["demand"], 0),
                q(r["allotted"], 0),
                q(r["rating"]),
                q(r["actual"], 0),
                split,
            )
        console.print(table)
        goods = Table(title="goods: production capability = min(share of input / input per unit)")
        for col in ("good", "unit", "E", "capability", "limited by", "allotted", "demand", "actual", "rating"):
            goods.add_column(col, justify="left" if col in ("good", "unit", "limited by") else "right")
        for r in data["goods"]:
            goods.add_row(
                r["asset"],
                r["unit"],
                q(r["score"], 4),
                q(r.get("capability"), 0),
                r.get("limiting") or "-",
                q(r["allotted"], 0),
                q(r["demand"], 0),
                q(r["actual"], 0),
                q(r["rating"]),
            )
        console.print(goods)

    emit(ctx, data, human)
