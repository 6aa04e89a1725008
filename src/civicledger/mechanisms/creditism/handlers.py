"""Creditism handlers, projectors and views (CR1-CR14).

Handlers decide with the exact rules of ``rules`` and ``chain`` (deterministic, so ``civic verify``
re-executes them to the same events): each loads the records it needs (``state``), hands their
figures to a pure decider, and turns the decision into events. Every command that changes the
supply chain (a bill of materials, a survey, an allotment, an approval) first solves the changed
chain exactly and is refused if it has no finite prices (CR12), so the journal never holds an
unpriceable chain. Views of prices for people (``price``, ``compare``, ``report``) use the sparse
solver for a single price and the exact rules for the rest.

State lives in four record namespaces, typed in ``state``: ``creditism.asset`` (``AssetRecord``),
``creditism.coop`` (``ApplicationRecord``), ``creditism.preorder`` (``PreOrderRecord``) and
``creditism.credits`` (``CreditsRecord``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from fractions import Fraction
from typing import Any

from civicledger.kernel import hooks, payments
from civicledger.kernel import ledger as led
from civicledger.kernel import state as kernel_state
from civicledger.kernel.canonical import JSONObject
from civicledger.kernel.errors import InvalidInputError, NotFoundError, RuleViolationError
from civicledger.kernel.identity import AccountId, AccountKind, Consent
from civicledger.kernel.messages import Event
from civicledger.kernel.money import require_units
from civicledger.kernel.policy import Policy
from civicledger.kernel.ports import UnitOfWork
from civicledger.kernel.registry import Context, Decision, ProjectionContext, handles, projects
from civicledger.mechanisms.creditism import commands as cc
from civicledger.mechanisms.creditism import events as ce
from civicledger.mechanisms.creditism import rules
from civicledger.mechanisms.creditism.chain import (
    Breakdown,
    Output,
    decide_production,
    quote,
    round_breakdown,
    row_breakdown,
    solve_chain,
)
from civicledger.mechanisms.creditism.policy import CreditismPolicy
from civicledger.mechanisms.creditism.state import (
    APPLICATIONS,
    ASSETS,
    CREDITS,
    PREORDERS,
    ApplicationRecord,
    Applications,
    AssetRecord,
    Assets,
    CreditsRecord,
    PreOrderRecord,
    coop_node,
    deadline_of,
    figures_of,
    lapsed,
    load,
    nodes_of,
    open_orders,
    require_application,
    require_asset,
    taken_by_coops,
)
from civicledger.mechanisms.creditism.values import (
    COMPONENTS,
    UNITS,
    AssetKind,
    decode,
    encode,
    parse_asset_name,
    parse_quantity,
)

# Reading state --------------------------------------------------------------------------------


def fee_base(policy: Policy) -> int:
    """CR10, X8: the externality fee's base in minor units: policy, or a month of basic income
    (from the mechanism that pays one, through the kernel's ``MONTHLY_INCOME`` hook)."""
    if policy.section(CreditismPolicy).fee_base > 0:
        return policy.section(CreditismPolicy).fee_base
    for monthly_income in hooks.MONTHLY_INCOME.each():
        return monthly_income(policy)
    return 0


def council_consent(ctx: Context, council: AccountId, asset: AssetRecord | None = None) -> Consent:
    """A quorum of the council; for an existing asset, only the council that governs it."""
    if asset is not None and asset.council != council:
        raise RuleViolationError(f"{asset.asset} is governed by another council", rule="CR14")
    return Consent(quorums=(kernel_state.council_quorum(ctx.uow, council),))


def exact_chain(assets: Assets, coops: Applications, policy: Policy) -> dict[str, Breakdown]:
    """CR12 exactly (refuses a chain with no finite prices, naming its goods)."""
    return solve_chain(nodes_of(assets, coops, fee_base(policy)))


def coop_prices(
    assets: Assets, coops: Applications, policy: Policy, application: str, chain: Mapping[str, Breakdown] | None = None
) -> Breakdown:
    """The coop's own price breakdown (CR13) with its inputs at their chain market prices."""
    coop = coops[application]
    chain = chain if chain is not None else exact_chain(assets, coops, policy)
    return row_breakdown(coop_node(assets[coop.good], coop, fee_base(policy)), chain)


def figures(assets: Assets, coops: Applications, policy: Policy) -> dict[str, rules.AssetFigures]:
    """Every asset's figures for the allotment rules (CR5-CR9)."""
    return figures_of(assets, nodes_of(assets, coops, fee_base(policy)))


# Parsing --------------------------------------------------------------------------------------


def _inputs(raw: Mapping[str, str], assets: Assets, owner: str) -> dict[str, str]:
    out = {}
    for name, text in raw.items():
        parse_asset_name(name, "CR7")
        if name not in assets and name != owner:
            raise NotFoundError(f"the bill of materials of {owner} names unknown asset {name}", rule="CR7")
        qty = parse_quantity(text, f"input {name} per unit", "CR7")
        if qty == 0:
            continue
        out[name] = encode(qty)
    return out


def _money(value: int, what: str, rule: str) -> int:
    units = require_units(value, what)
    if units < 0:
        raise InvalidInputError(f"{what} must not be negative", rule=rule)
    return units


def _check_chain(assets: Assets, coops: Applications, policy: Policy) -> None:
    exact_chain(assets, coops, policy)


# Handlers -------------------------------------------------------------------------------------


@handles(cc.DefineAsset)
def define_asset(cmd: cc.DefineAsset, ctx: Context) -> Decision:
    name = parse_asset_name(cmd.asset)
    consent = council_consent(ctx, cmd.council)
    assets, coops = load(ctx.uow)
    if name in assets:
        raise RuleViolationError(f"asset {name} is already defined", rule="CR1")
    if cmd.unit not in UNITS:
        raise InvalidInputError(f"unit must be one of {', '.join(sorted(UNITS))}, not {cmd.unit!r}", rule="CR1")
    if len(cmd.name) > 200:
        raise InvalidInputError("an asset's name has at most 200 characters", rule="CR1")
    rates = {
        "rejuvenation": parse_quantity(cmd.rejuvenation, "rejuvenation rate", "CR5"),
        "mortality": parse_quantity(cmd.mortality, "mortality rate", "CR5"),
        "extraction": parse_quantity(cmd.extraction, "extraction rate", "CR1"),
        "total_supply": parse_quantity(cmd.total_supply, "total supply", "CR6"),
        "age": parse_quantity(cmd.age, "age", "CR6"),
    }
    if cmd.kind is AssetKind.FINITE and rates["age"] <= 0:
        raise InvalidInputError("a finite resource needs its age in years (since it formed)", rule="CR6")
    labour = _money(cmd.labour, "labour per unit", "CR10")
    external = _money(cmd.external, "external resources per unit", "CR10")
    markup = parse_quantity(cmd.council_markup, "council markup", "CR11")
    inputs = _inputs(cmd.inputs, assets, name)
    event = ce.AssetDefined(
        cmd.council,
        name,
        cmd.kind,
        cmd.unit,
        cmd.name,
        encode(rates["rejuvenation"]),
        encode(rates["mortality"]),
        encode(rates["extraction"]),
        encode(rates["total_supply"]),
        encode(rates["age"]),
        labour,
        external,
        encode(markup),
        inputs,
    )
    assets[name] = _new_asset(event, ctx.time)
    _check_chain(assets, coops, ctx.policy)
    return Decision([event], consent, {"asset": name})


@handles(cc.SetInputs)
def set_inputs(cmd: cc.SetInputs, ctx: Context) -> Decision:
    assets, coops = load(ctx.uow)
    asset = require_asset(assets, cmd.asset)
    consent = council_consent(ctx, cmd.council, asset)
    inputs = _inputs(cmd.inputs, assets, cmd.asset)
    assets[cmd.asset] = replace(asset, inputs=inputs)
    _check_chain(assets, coops, ctx.policy)
    return Decision([ce.InputsSet(cmd.asset, inputs)], consent)


@handles(cc.AssessExternality)
def assess(cmd: cc.AssessExternality, ctx: Context) -> Decision:
    assets, _ = load(ctx.uow)
    asset = require_asset(assets, cmd.asset)
    consent = council_consent(ctx, cmd.council, asset)
    if not cmd.factors or len(cmd.factors) > 64:
        raise InvalidInputError("an assessment scores between 1 and 64 factors", rule="CR4")
    scored: list[ce.FactorScore] = []
    weighted: list[tuple[Fraction, Fraction]] = []
    for f in cmd.factors:
        weight = parse_quantity(f.weight, f"weight of {f.name}", "CR4")
        if f.kind == "resource":
            raw = rules.resource_factor_raw(
                parse_quantity(f.optimal, "optimal state", "CR2"),
                parse_quantity(f.current, "current state", "CR2"),
                parse_quantity(f.per_unit, "contribution per unit", "CR2"),
                parse_quantity(f.quantity, "quantity", "CR2"),
            )
            score = max(Fraction(0), raw)
        elif f.kind == "good":
            raw = score = rules.good_factor(
                parse_quantity(f.impact, "impact per unit", "CR3"),
                parse_quantity(f.absorption, "absorption", "CR3"),
                parse_quantity(f.current, "current state", "CR3"),
            )
        else:
            raise InvalidInputError(f"a factor's kind is 'resource' or 'good', not {f.kind!r}", rule="CR2")
        weighted.append((weight, score))
        scored.append(ce.FactorScore(f.name[:100], encode(weight), encode(score), encode(raw)))
    total = rules.externality_score(
        weighted, weights_sum_to_one=ctx.policy.section(CreditismPolicy).weights_must_sum_to_one
    )
    rules.check_ceiling(total, ctx.policy.section(CreditismPolicy).ceiling, cmd.asset)
    event = ce.ExternalityAssessed(cmd.asset, tuple(scored), encode(total))
    return Decision([event], consent, {"score": encode(total)})


@handles(cc.SurveyAsset)
def survey(cmd: cc.SurveyAsset, ctx: Context) -> Decision:
    assets, coops = load(ctx.uow)
    asset = require_asset(assets, cmd.asset)
    consent = council_consent(ctx, cmd.council, asset)
    demand = parse_quantity(cmd.demand, "demand", "CR9")
    supply = decode(asset.total_supply)
    if cmd.total_supply is not None:
        supply = parse_quantity(cmd.total_supply, "total supply", "CR6")
    assets[cmd.asset] = replace(asset, demand=encode(demand), total_supply=encode(supply))
    _check_chain(assets, coops, ctx.policy)
    return Decision([ce.AssetSurveyed(cmd.asset, encode(demand), encode(supply))], consent)


@handles(cc.SetAllotment)
def set_allotment(cmd: cc.SetAllotment, ctx: Context) -> Decision:
    assets, coops = load(ctx.uow)
    asset = require_asset(assets, cmd.asset)
    consent = council_consent(ctx, cmd.council, asset)
    rule = rules.allotment_rule(asset.kind)
    section = ctx.policy.section(CreditismPolicy)
    rules.check_ceiling(decode(asset.score), section.ceiling, cmd.asset)
    sustainable = rules.sustainable(figures(assets, coops, ctx.policy), cmd.asset, section.allotment_sharing)
    amount = None if cmd.amount is None else parse_quantity(cmd.amount, "allotted rate", rule)
    allotted = rules.decide_allotment(cmd.asset, rule, sustainable.rate, amount, taken_by_coops(coops, cmd.asset))
    assets[cmd.asset] = replace(asset, allotted=encode(allotted))
    _check_chain(assets, coops, ctx.policy)
    event = ce.AllotmentSet(
        cmd.asset,
        encode(allotted),
        encode(sustainable.rate if sustainable.rate is not None else allotted),
        None if sustainable.capability is None else encode(sustainable.capability),
        sustainable.limiting,
        {k: encode(v) for k, v in sustainable.shares.items()},
    )
    return Decision([event], consent, {"allotted": encode(allotted)})


@handles(cc.ApplyCoop)
def apply(cmd: cc.ApplyCoop, ctx: Context) -> Decision:
    application = parse_asset_name(cmd.application, "CR14")
    coop = kernel_state.require_account(ctx.uow, cmd.coop, "CR14")
    if coop.kind is not AccountKind.ORGANIZATION:
        raise RuleViolationError("only an organization (a cooperative) may apply to produce", rule="CR14")
    if APPLICATIONS.get(ctx.uow, application) is not None:
        raise RuleViolationError(f"application {application} already exists", rule="CR14")
    assets, _ = load(ctx.uow)
    good = require_asset(assets, cmd.good, "CR14")
    if good.kind != AssetKind.GOOD:
        raise RuleViolationError(f"{cmd.good} is a resource; coops apply to produce goods", rule="CR14")
    inputs = _inputs(cmd.inputs, assets, cmd.good) if cmd.inputs else dict(good.inputs)
    markup = parse_quantity(cmd.markup, "coop markup", "CR11")
    if len(cmd.process) > 2_000:
        raise InvalidInputError("a process description has at most 2,000 characters", rule="CR14")
    labour = _money(cmd.labour, "labour per unit", "CR11")
    external = _money(cmd.external, "external resources per unit", "CR10")
    deadline = None
    if ctx.rules >= 2:
        waits = ctx.policy.section(CreditismPolicy).application_deadline
        for _, pending in APPLICATIONS.scan(ctx.uow):
            mine = pending.coop == cmd.coop and pending.good == cmd.good
            if mine and pending.status == "applied" and not lapsed(pending, ctx.time, waits):
                raise RuleViolationError(
                    f"application {pending.application} for {cmd.good} awaits the council's decision "
                    f"until {deadline_of(pending, waits)}",
                    rule="IN7",
                )
        deadline = ctx.time + waits
    event = ce.CoopApplied(
        application, cmd.coop, cmd.good, labour, external, encode(markup), inputs, cmd.process, deadline
    )
    result: JSONObject = {"application": application}
    if deadline is not None:
        result["deadline"] = deadline
    return Decision([event], Consent.of(cmd.coop), result)


@handles(cc.ApproveCoop)
def approve(cmd: cc.ApproveCoop, ctx: Context) -> Decision:
    coop = require_application(ctx.uow, cmd.application)
    assets, coops = load(ctx.uow)
    good = assets[coop.good]
    consent = council_consent(ctx, cmd.council, good)
    if coop.status != "applied":
        raise RuleViolationError(f"application {cmd.application} is already {coop.status}", rule="CR14")
    if ctx.rules >= 2 and lapsed(coop, ctx.time, ctx.policy.section(CreditismPolicy).application_deadline):
        raise RuleViolationError(
            f"application {cmd.application} lapsed unapproved at its deadline; the coop may apply again", rule="IN7"
        )
    allotted = parse_quantity(cmd.allotted, "allotted production", "CR8")
    rules.check_coop_allotment(coop.good, allotted, good.allotment, taken_by_coops(coops, coop.good))
    coops[cmd.application] = replace(coop, status="approved", allotted=encode(allotted))
    _check_chain(assets, coops, ctx.policy)
    return Decision([ce.CoopApproved(cmd.application, coop.good, encode(allotted))], consent)


@handles(cc.PreOrder)
def pre_order(cmd: cc.PreOrder, ctx: Context) -> Decision:
    kernel_state.require_account(ctx.uow, cmd.buyer, "CR14")
    coop = require_application(ctx.uow, cmd.application)
    if coop.status != "approved":
        raise RuleViolationError(f"application {cmd.application} is not approved yet", rule="CR14")
    quantity = require_units(cmd.quantity, "quantity")
    if quantity <= 0:
        raise InvalidInputError("a pre-order is for a positive quantity", rule="CR14")
    assets, coops = load(ctx.uow)
    row = coop_prices(assets, coops, ctx.policy, cmd.application)
    if ctx.rules >= 2:
        return _paid_pre_order(cmd, ctx, coop, row.base, quantity)
    price = rules.pre_order_price(row.base, decode(coop.markup), coop.preordered, quantity, coop.allotment)
    ratio = encode(price.ratio)
    event = ce.PreOrdered(cmd.application, coop.good, cmd.buyer, quantity, ratio, price.unit_price, price.total)
    return Decision([event], Consent.of(cmd.buyer), {"unit_price": price.unit_price, "ratio": ratio})


def _paid_pre_order(cmd: cc.PreOrder, ctx: Context, coop: ApplicationRecord, base: Fraction, quantity: int) -> Decision:
    """IN5, IN1 (rules 2): each unit at the ratio of its own position, paid to the coop when placed."""
    if cmd.currency is None:
        raise InvalidInputError("a pre-order is paid when placed: name the currency it is paid in", rule="IN1")
    wanted = ctx.policy.section(CreditismPolicy).currency
    if wanted and cmd.currency != wanted:
        raise RuleViolationError(f"pre-orders are paid in {wanted}, not {cmd.currency}", rule="IN1")
    if cmd.buyer == coop.coop:
        raise RuleViolationError("a coop cannot pre-order its own goods", rule="IN1")
    price = rules.positioned_pre_order(base, decode(coop.markup), coop.preordered, quantity, coop.allotment)
    order = f"{cmd.application}/{ctx.seq:012d}"
    event = ce.PreOrderPaid(
        cmd.application,
        coop.good,
        cmd.buyer,
        order,
        quantity,
        coop.preordered + 1,
        encode(base * (1 + decode(coop.markup))),
        encode(price.first_ratio),
        encode(price.ratio),
        price.first_unit_price,
        price.unit_price,
        price.total,
        cmd.currency,
    )
    events: list[Event] = [event]
    if price.total > 0:
        events += payments.transfer(ctx.uow, (led.Leg(cmd.currency, cmd.buyer, coop.coop, price.total),), ctx.time)
    result = {
        "order": order,
        "first_unit_price": price.first_unit_price,
        "unit_price": price.unit_price,
        "ratio": encode(price.ratio),
        "total": price.total,
    }
    return Decision(events, Consent.of(cmd.buyer), result)


@handles(cc.Crowdfund)
def crowdfund(cmd: cc.Crowdfund, ctx: Context) -> Decision:
    coop = require_application(ctx.uow, cmd.application)
    if coop.status not in ("applied", "approved"):
        raise RuleViolationError(f"application {cmd.application} is not open for funding", rule="CR14")
    if ctx.rules >= 2 and coop.status != "approved":
        # IN7: funds given to an application that may lapse would stay with the coop; CR14 orders
        # crowdfunding after the council's approval.
        raise RuleViolationError(f"application {cmd.application} is not approved yet", rule="CR14")
    legs = (led.Leg(cmd.currency, cmd.backer, coop.coop, cmd.units),)
    transfers = payments.transfer(ctx.uow, legs, ctx.time)
    events: list[Event] = [ce.Crowdfunded(cmd.application, cmd.backer, cmd.currency, cmd.units), *transfers]
    return Decision(events, Consent.of(cmd.backer))


@handles(cc.RecordProduction)
def record_production(cmd: cc.RecordProduction, ctx: Context) -> Decision:
    coop = require_application(ctx.uow, cmd.application)
    if coop.coop != cmd.coop:
        raise RuleViolationError(f"application {cmd.application} belongs to another coop", rule="CR14")
    if coop.status != "approved":
        raise RuleViolationError(f"application {cmd.application} is not approved", rule="CR14")
    declared = Output(
        _money(cmd.produced, "units produced", "CR8"),
        _money(cmd.sold, "units sold", "CR13"),
        _money(cmd.revenue, "revenue", "CR13"),
    )
    if ctx.rules >= 2:
        return _produce_and_deliver(cmd, ctx, coop, declared)
    assets, coops = load(ctx.uow)
    fees = fee_base(ctx.policy)
    credits = decide_production(
        cmd.application,
        coop.allotment,
        Output(coop.produced, coop.sold, coop.revenue),
        declared,
        coop_node(assets[coop.good], coop, fees),
        nodes_of(assets, coops, fees),
        ctx.policy.section(CreditismPolicy).workers,
    )
    event = ce.ProductionRecorded(
        cmd.application,
        cmd.coop,
        coop.good,
        declared.produced,
        declared.sold,
        declared.revenue,
        credits.base_price,
        credits.coop_credits,
        credits.worker_credits,
    )
    result = {
        "base_price": credits.base_price,
        "coop_credits": credits.coop_credits,
        "worker_credits": credits.worker_credits,
    }
    return Decision([event], Consent.of(cmd.coop), result)


def _produce_and_deliver(cmd: cc.RecordProduction, ctx: Context, coop: ApplicationRecord, declared: Output) -> Decision:
    """IN1, CR8, CR13 (rules 2): a coop declares only what it produced; its stock goes to its paid
    pre-orders in queue order (whole orders: the first that does not fit waits), and what their
    buyers paid in the ledger for each delivered unit above the coop's BasePrice becomes credits
    (unit by unit, so no split of the orders changes it)."""
    if declared.sold or declared.revenue:
        raise RuleViolationError(
            "sales are not declared: coop credits come from paid pre-orders the production delivers", rule="IN1"
        )
    assets, coops = load(ctx.uow)
    fees = fee_base(ctx.policy)
    made = decide_production(
        cmd.application,
        coop.allotment,
        Output(coop.produced, coop.sold, coop.revenue),
        declared,
        coop_node(assets[coop.good], coop, fees),
        nodes_of(assets, coops, fees),
        ctx.policy.section(CreditismPolicy).workers,
    )
    stock = coop.produced + declared.produced - coop.sold
    delivered: list[str] = []
    units = paid = surplus = 0
    for key, order in open_orders(ctx.uow, cmd.application):
        if units + order.quantity > stock:
            break
        delivered.append(key)
        units += order.quantity
        paid += order.total
        first = order.first if order.first is not None else 1
        price = decode(order.price) if order.price is not None else Fraction(0)
        surplus += rules.surplus_of_units(price, coop.allotment, first, order.quantity, made.base_price)
    coop_credits, worker_credits = rules.split_surplus(surplus, ctx.policy.section(CreditismPolicy).workers)
    event = ce.ProductionRecorded(
        cmd.application,
        cmd.coop,
        coop.good,
        declared.produced,
        units,
        paid,
        made.base_price,
        coop_credits,
        worker_credits,
        tuple(delivered),
    )
    result = {
        "base_price": made.base_price,
        "coop_credits": coop_credits,
        "worker_credits": worker_credits,
        "delivered": units,
        "paid": paid,
    }
    return Decision([event], Consent.of(cmd.coop), result)


# Projectors -----------------------------------------------------------------------------------


def _new_asset(e: ce.AssetDefined, at: int) -> AssetRecord:
    return AssetRecord(
        asset=e.asset,
        council=e.council,
        kind=e.kind,
        unit=e.unit,
        name=e.name,
        rejuvenation=e.rejuvenation,
        mortality=e.mortality,
        extraction=e.extraction,
        total_supply=e.total_supply,
        age=e.age,
        labour=e.labour,
        external=e.external,
        council_markup=e.council_markup,
        inputs=dict(e.inputs),
        score="0",
        factors=(),
        demand="0",
        allotted=None,
        sustainable=None,
        capability=None,
        limiting=None,
        shares={},
        preordered=0,
        defined_at=at,
    )


def _stored_asset(uow: UnitOfWork, asset: str) -> AssetRecord:
    record = ASSETS.get(uow, asset)
    if record is None:
        raise RuleViolationError(f"no asset {asset} to update", rule="X2")
    return record


def _stored_application(uow: UnitOfWork, application: str) -> ApplicationRecord:
    record = APPLICATIONS.get(uow, application)
    if record is None:
        raise RuleViolationError(f"no application {application} to update", rule="X2")
    return record


@projects(ce.AssetDefined)
def _asset_defined(e: ce.AssetDefined, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    ASSETS.put(uow, e.asset, _new_asset(e, ctx.time))


@projects(ce.InputsSet)
def _inputs_set(e: ce.InputsSet, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    ASSETS.put(uow, e.asset, replace(_stored_asset(uow, e.asset), inputs=dict(e.inputs)))


@projects(ce.ExternalityAssessed)
def _assessed(e: ce.ExternalityAssessed, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    ASSETS.put(uow, e.asset, replace(_stored_asset(uow, e.asset), score=e.score, factors=e.factors))


@projects(ce.AssetSurveyed)
def _surveyed(e: ce.AssetSurveyed, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    asset = _stored_asset(uow, e.asset)
    ASSETS.put(uow, e.asset, replace(asset, demand=e.demand, total_supply=e.total_supply, surveyed_at=ctx.time))


@projects(ce.AllotmentSet)
def _allotted(e: ce.AllotmentSet, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    asset = replace(
        _stored_asset(uow, e.asset),
        allotted=e.allotted,
        sustainable=e.sustainable,
        capability=e.capability,
        limiting=e.limiting,
        shares=dict(e.shares),
        allotted_at=ctx.time,
    )
    ASSETS.put(uow, e.asset, asset)


@projects(ce.CoopApplied)
def _applied(e: ce.CoopApplied, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    record = ApplicationRecord(
        application=e.application,
        coop=e.coop,
        good=e.good,
        labour=e.labour,
        external=e.external,
        markup=e.markup,
        inputs=dict(e.inputs),
        process=e.process,
        status="applied",
        allotted=None,
        preordered=0,
        preorder_value=0,
        crowdfunded={},
        produced=0,
        sold=0,
        revenue=0,
        coop_credits=0,
        worker_credits=0,
        applied_at=ctx.time,
        deadline=e.deadline,
    )
    APPLICATIONS.put(uow, e.application, record)


@projects(ce.CoopApproved)
def _approved(e: ce.CoopApproved, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    coop = _stored_application(uow, e.application)
    APPLICATIONS.put(uow, e.application, replace(coop, status="approved", allotted=e.allotted, approved_at=ctx.time))


@projects(ce.PreOrdered)
def _pre_ordered(e: ce.PreOrdered, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    order = PreOrderRecord(
        application=e.application,
        good=e.good,
        buyer=e.buyer,
        quantity=e.quantity,
        ratio=e.ratio,
        unit_price=e.unit_price,
        total=e.total,
        at=ctx.time,
        seq=ctx.seq,
    )
    _add_pre_order(uow, f"{e.application}/{ctx.seq:012d}", order)


@projects(ce.PreOrderPaid)
def _pre_order_paid(e: ce.PreOrderPaid, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    order = PreOrderRecord(
        application=e.application,
        good=e.good,
        buyer=e.buyer,
        quantity=e.quantity,
        ratio=e.ratio,
        unit_price=e.unit_price,
        total=e.total,
        at=ctx.time,
        seq=ctx.seq,
        currency=e.currency,
        first_unit_price=e.first_unit_price,
        first=e.first,
        price=e.price,
    )
    _add_pre_order(uow, e.order, order)


def _add_pre_order(uow: UnitOfWork, key: str, order: PreOrderRecord) -> None:
    """CR14: an order joins its coop's and its good's totals (unpaid under rule version 1, paid after)."""
    coop = _stored_application(uow, order.application)
    coop = replace(coop, preordered=coop.preordered + order.quantity, preorder_value=coop.preorder_value + order.total)
    APPLICATIONS.put(uow, order.application, coop)
    good = _stored_asset(uow, order.good)
    ASSETS.put(uow, order.good, replace(good, preordered=good.preordered + order.quantity))
    PREORDERS.put(uow, key, order)


@projects(ce.Crowdfunded)
def _crowdfunded(e: ce.Crowdfunded, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    coop = _stored_application(uow, e.application)
    funded = dict(coop.crowdfunded)
    funded[e.currency] = funded.get(e.currency, 0) + e.units
    APPLICATIONS.put(uow, e.application, replace(coop, crowdfunded=funded))


@projects(ce.ProductionRecorded)
def _produced(e: ce.ProductionRecorded, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    coop = _stored_application(uow, e.application)
    coop = replace(
        coop,
        produced=coop.produced + e.produced,
        sold=coop.sold + e.sold,
        revenue=coop.revenue + e.revenue,
        coop_credits=coop.coop_credits + e.coop_credits,
        worker_credits=coop.worker_credits + e.worker_credits,
        base_price=e.base_price,
    )
    APPLICATIONS.put(uow, e.application, coop)
    for key in e.delivered:
        order = PREORDERS.get(uow, key)
        if order is None:
            raise RuleViolationError(f"no pre-order {key} to deliver", rule="X2")
        PREORDERS.put(uow, key, replace(order, delivered_at=ctx.time))
    credits = CREDITS.get(uow, e.coop) or CreditsRecord(e.coop, 0, 0)
    credits = replace(
        credits,
        coop_credits=credits.coop_credits + e.coop_credits,
        worker_credits=credits.worker_credits + e.worker_credits,
    )
    CREDITS.put(uow, e.coop, credits)


# Views ----------------------------------------------------------------------------------------


def price_view(uow: UnitOfWork, policy: Policy, asset: str) -> dict[str, Any]:
    """CR10-CR12: one asset's market price and its components, via the sparse solver."""
    from civicledger.mechanisms.creditism.solver import SparseChain, solve_sparse

    assets, coops = load(uow)
    record = require_asset(assets, asset, "CR12")
    base = fee_base(policy)
    nodes = nodes_of(assets, coops, base)
    result = solve_sparse(SparseChain.from_nodes(nodes))
    names = list(result.names)
    i = names.index(asset)
    node = nodes[i]
    return {
        "asset": asset,
        "kind": record.kind.value,
        "unit": record.unit,
        "price": int(result.price_units[i]),
        "base_price": rules.round_half_up(Fraction(float(result.base[i]))),
        "components": {c.value: int(result.parts_units[i, j]) for j, c in enumerate(COMPONENTS)},
        "scarcity": encode(node.scarcity),
        "score": record.score,
        "fee_base": base,
        "inputs": {k: encode(v) for k, v in node.inputs.items()},
        "prices_of_inputs": {k: int(result.price_units[names.index(k)]) for k in node.inputs},
    }


def exact_price_view(uow: UnitOfWork, policy: Policy, asset: str) -> dict[str, Any]:
    """The same figures from the exact solver (the reference the sparse view is tested against)."""
    assets, coops = load(uow)
    require_asset(assets, asset, "CR12")
    chain = exact_chain(assets, coops, policy)
    total, parts = round_breakdown(chain[asset].parts)
    return {"asset": asset, "price": total, "components": {c.value: v for c, v in parts.items()}}


def compare_view(uow: UnitOfWork, policy: Policy, good: str) -> list[dict[str, Any]]:
    """CR13: the coops making one good, side by side."""
    assets, coops = load(uow)
    require_asset(assets, good, "CR13")
    chain = exact_chain(assets, coops, policy)
    rows = []
    for application in sorted(coops):
        coop = coops[application]
        if coop.good != good:
            continue
        priced = quote(coop_prices(assets, coops, policy, application, chain), Fraction(coop.labour))
        rows.append(
            {
                "application": application,
                "coop": coop.coop,
                "status": coop.status,
                "allotted": coop.allotted,
                "labour": coop.labour,
                "markup": coop.markup,
                "base_price": priced.base_price,
                "price": priced.price,
                "components": {c.value: v for c, v in priced.components.items()},
                "efficiency": None if priced.efficiency is None else encode(priced.efficiency),
                "produced": coop.produced,
                "sold": coop.sold,
                "revenue": coop.revenue,
                "preordered": coop.preordered,
                "coop_credits": coop.coop_credits,
                "worker_credits": coop.worker_credits,
            }
        )
    return rows


def report_view(uow: UnitOfWork, policy: Policy) -> dict[str, Any]:
    """CR7-CR9: every resource's allowance rating (and how goods share it), every good's capability."""
    assets, coops = load(uow)
    every = figures(assets, coops, policy)
    sharing = policy.section(CreditismPolicy).allotment_sharing
    resources, goods = [], []
    for name in sorted(assets):
        a = assets[name]
        s = rules.standing(every, name, sharing)
        row: dict[str, Any] = {
            "asset": name,
            "kind": a.kind.value,
            "unit": a.unit,
            "score": a.score,
            "demand": encode(s.demand),
            "allotted": a.allotted,
            "rating": None if s.rating is None else encode(s.rating),
            "actual": None if s.actual is None else encode(s.actual),
        }
        if s.split is not None:
            row["split"] = {g: encode(v) for g, v in s.split.items()}
        if a.kind == AssetKind.GOOD:
            if s.capability is None:
                row.update(capability=None, limiting=None, note=s.note)
            else:
                capability = s.capability
                row.update(
                    capability=None if capability.amount is None else encode(capability.amount),
                    limiting=capability.limiting,
                    shares={k: encode(v) for k, v in capability.shares.items()},
                )
            goods.append(row)
        else:
            resources.append(row)
    return {"resources": resources, "goods": goods}
