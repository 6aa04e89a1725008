"""Creditism handlers, projectors and views (CR1-CR14).

Handlers decide with the exact rules of ``domain/creditism`` (deterministic, so ``civic verify``
re-executes them to the same events). Every command that changes the supply chain (a bill of
materials, a survey, an allotment, an approval) first solves the changed chain exactly and is
refused if it has no finite prices (CR12), so the journal never holds an unpriceable chain.
Views of prices for people (``price``, ``compare``, ``report``) use the sparse solver.

State lives in four record namespaces:

- ``creditism.asset``    one record per asset: definition, factors and score, survey, allotment;
- ``creditism.coop``     one record per application: the coop's plan, status, allotment, totals;
- ``creditism.preorder`` one record per pre-order, keyed ``application/seq``;
- ``creditism.credits``  one record per coop: coop credits and its workers' credits (CR13).
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from civicledger.kernel import hooks, payments, state
from civicledger.kernel import ledger as led
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
from civicledger.mechanisms.creditism.chain import Breakdown, Node, round_breakdown, row_breakdown, solve_chain
from civicledger.mechanisms.creditism.policy import CreditismPolicy
from civicledger.mechanisms.creditism.values import (
    COMPONENTS,
    UNITS,
    AssetKind,
    decode,
    encode,
    parse_asset_name,
    parse_quantity,
    show,
)

NS_ASSET = "creditism.asset"
NS_COOP = "creditism.coop"
NS_ORDER = "creditism.preorder"
NS_CREDITS = "creditism.credits"

Assets = dict[str, dict[str, Any]]
Coops = dict[str, dict[str, Any]]


# Reading state --------------------------------------------------------------------------------


def fee_base(policy: Policy) -> int:
    """CR10, X8: the externality fee's base in minor units: policy, or a month of basic income
    (from the mechanism that pays one, through the kernel's ``MONTHLY_INCOME`` hook)."""
    if policy.section(CreditismPolicy).fee_base > 0:
        return policy.section(CreditismPolicy).fee_base
    for monthly_income in hooks.MONTHLY_INCOME.each():
        return monthly_income(policy)
    return 0


def load(uow: UnitOfWork) -> tuple[Assets, Coops]:
    return dict(uow.records.scan(NS_ASSET)), dict(uow.records.scan(NS_COOP))


def require_asset(assets: Mapping[str, dict[str, Any]], name: str, rule: str = "CR1") -> dict[str, Any]:
    found = assets.get(name)
    if found is None:
        raise NotFoundError(f"no asset {name}", rule=rule)
    return found


def require_application(uow: UnitOfWork, application: str) -> dict[str, Any]:
    found = uow.records.get(NS_COOP, application)
    if found is None:
        raise NotFoundError(f"no coop application {application}", rule="CR14")
    return found  # type: ignore[no-any-return]


def council_consent(ctx: Context, council: AccountId, asset: dict[str, Any] | None = None) -> Consent:
    """A quorum of the council; for an existing asset, only the council that governs it."""
    if asset is not None and asset["council"] != council:
        raise RuleViolationError(f"{asset['asset']} is governed by another council", rule="CR14")
    return Consent(quorums=(state.council_quorum(ctx.uow, council),))


def demand_of(asset: Mapping[str, Any]) -> Fraction:
    """Surveyed demand; for a good, pre-orders count when they exceed the survey (CR14)."""
    return max(decode(asset["demand"]), Fraction(asset.get("preordered", 0)))


def allotted_of(asset: Mapping[str, Any]) -> Fraction | None:
    return None if asset.get("allotted") is None else decode(asset["allotted"])


def approved_coops(coops: Mapping[str, dict[str, Any]], good: str) -> list[dict[str, Any]]:
    return [c for _, c in sorted(coops.items()) if c["good"] == good and c["status"] == "approved"]


def coop_node(asset: Mapping[str, Any], coop: Mapping[str, Any], policy: Policy, scarcity: Fraction) -> Node:
    return Node(
        coop["application"],
        labour=Fraction(coop["labour"]),
        external=Fraction(coop["external"]),
        fee=rules.externality_fee(decode(asset["score"]), fee_base(policy)),
        council_markup=decode(asset["council_markup"]),
        coop_markup=decode(coop["markup"]),
        scarcity=scarcity,
        inputs={k: decode(v) for k, v in coop["inputs"].items()},
    )


def asset_node(asset: Mapping[str, Any], coops: Mapping[str, dict[str, Any]], policy: Policy) -> Node:
    """An asset's row of the chain: a good made by approved coops uses their plans, weighted by allotment."""
    allotted = allotted_of(asset)
    scarcity = rules.scarcity(demand_of(asset), allotted or Fraction(0))
    fee = rules.externality_fee(decode(asset["score"]), fee_base(policy))
    kappa = decode(asset["council_markup"])
    makers = approved_coops(coops, asset["asset"]) if asset["kind"] == AssetKind.GOOD else []
    if not makers:
        inputs = {k: decode(v) for k, v in asset["inputs"].items()}
        return Node(
            asset["asset"],
            Fraction(asset["labour"]),
            Fraction(asset["external"]),
            fee,
            kappa,
            Fraction(0),
            scarcity,
            inputs,
        )
    weights = [decode(c["allotted"]) for c in makers]
    total = sum(weights, Fraction(0))

    def mean(values: list[Fraction]) -> Fraction:
        return sum((w * v for w, v in zip(weights, values, strict=True)), Fraction(0)) / total

    names = sorted({k for c in makers for k in c["inputs"]})
    inputs = {k: mean([decode(c["inputs"].get(k, "0")) for c in makers]) for k in names}
    return Node(
        asset["asset"],
        mean([Fraction(c["labour"]) for c in makers]),
        mean([Fraction(c["external"]) for c in makers]),
        fee,
        kappa,
        mean([decode(c["markup"]) for c in makers]),
        scarcity,
        inputs,
    )


def nodes_of(assets: Assets, coops: Coops, policy: Policy) -> list[Node]:
    return [asset_node(assets[name], coops, policy) for name in sorted(assets)]


def exact_chain(assets: Assets, coops: Coops, policy: Policy) -> dict[str, Breakdown]:
    """CR12 exactly (refuses a chain with no finite prices, naming its goods)."""
    return solve_chain(nodes_of(assets, coops, policy))


def users_of(assets: Assets, coops: Coops, policy: Policy, name: str) -> dict[str, Fraction]:
    """CR7: the goods drawing on ``name`` and their claims on it (demand x input per unit)."""
    claims = {}
    for node in nodes_of(assets, coops, policy):
        qty = node.inputs.get(name)
        if qty and assets[node.name]["kind"] == AssetKind.GOOD:
            claims[node.name] = demand_of(assets[node.name]) * qty
    return claims


Capability = tuple[Fraction | None, str | None, dict[str, Fraction]]


def capability_of(assets: Assets, coops: Coops, policy: Policy, good: str) -> Capability:
    """CR7: a good's capability from its share of each input's allotment (None: no inputs)."""
    node = asset_node(assets[good], coops, policy)
    shares: dict[str, Fraction] = {}
    for name in sorted(node.inputs):
        allotted = allotted_of(assets[name])
        if allotted is None:
            raise RuleViolationError(f"{good} needs {name}, which has no allotment yet", rule="CR7")
        claims = users_of(assets, coops, policy, name)
        split = rules.share_allotment(allotted, claims, policy.section(CreditismPolicy).allotment_sharing)
        shares[name] = split.get(good, Fraction(0))
    capability, limiting = rules.production_capability(shares, node.inputs)
    return (None if limiting is None else capability), limiting, shares


def sustainable_rate(
    assets: Assets, coops: Coops, policy: Policy, name: str
) -> tuple[Fraction | None, Fraction | None, str | None, dict[str, Fraction]]:
    """CR5, CR6, CR8: the rule's allotted rate (None for a good with no inputs), and for goods the
    capability, the limiting input and the shares."""
    asset = assets[name]
    score = decode(asset["score"])
    kind = AssetKind(asset["kind"])
    if kind is AssetKind.RENEWABLE:
        rate = rules.allotted_renewable(decode(asset["rejuvenation"]), decode(asset["mortality"]), score)
        return rate, None, None, {}
    if kind is AssetKind.FINITE:
        return rules.allotted_finite(decode(asset["total_supply"]), decode(asset["age"]), score), None, None, {}
    capability, limiting, shares = capability_of(assets, coops, policy, name)
    if capability is None:
        return None, None, None, shares
    return rules.allotted_production(capability, score), capability, limiting, shares


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


def _check_chain(assets: Assets, coops: Coops, policy: Policy) -> None:
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
    assets[name] = _asset_record(event)
    _check_chain(assets, coops, ctx.policy)
    return Decision([event], consent, {"asset": name})


@handles(cc.SetInputs)
def set_inputs(cmd: cc.SetInputs, ctx: Context) -> Decision:
    assets, coops = load(ctx.uow)
    asset = require_asset(assets, cmd.asset)
    consent = council_consent(ctx, cmd.council, asset)
    inputs = _inputs(cmd.inputs, assets, cmd.asset)
    assets[cmd.asset] = {**asset, "inputs": inputs}
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
    supply = decode(asset["total_supply"])
    if cmd.total_supply is not None:
        supply = parse_quantity(cmd.total_supply, "total supply", "CR6")
    assets[cmd.asset] = {**asset, "demand": encode(demand), "total_supply": encode(supply)}
    _check_chain(assets, coops, ctx.policy)
    return Decision([ce.AssetSurveyed(cmd.asset, encode(demand), encode(supply))], consent)


@handles(cc.SetAllotment)
def set_allotment(cmd: cc.SetAllotment, ctx: Context) -> Decision:
    assets, coops = load(ctx.uow)
    asset = require_asset(assets, cmd.asset)
    consent = council_consent(ctx, cmd.council, asset)
    kind = AssetKind(asset["kind"])
    rule = {AssetKind.RENEWABLE: "CR5", AssetKind.FINITE: "CR6", AssetKind.GOOD: "CR8"}[kind]
    rules.check_ceiling(decode(asset["score"]), ctx.policy.section(CreditismPolicy).ceiling, cmd.asset)
    sustainable, capability, limiting, shares = sustainable_rate(assets, coops, ctx.policy, cmd.asset)
    if cmd.amount is None:
        if sustainable is None:
            raise InvalidInputError(
                f"{cmd.asset} has no inputs to limit it: the council must give the amount", rule=rule
            )
        allotted = sustainable
    else:
        allotted = parse_quantity(cmd.amount, "allotted rate", rule)
        if sustainable is not None and allotted > sustainable:
            raise RuleViolationError(
                f"over-allotment: {cmd.asset} may be allotted at most {show(sustainable)} a year, not {show(allotted)}",
                rule=rule,
            )
    taken = sum((decode(c["allotted"]) for c in approved_coops(coops, cmd.asset)), Fraction(0))
    if taken > allotted:
        raise RuleViolationError(f"over-allotment: coops already hold {show(taken)} a year of {cmd.asset}", rule="CR8")
    assets[cmd.asset] = {**asset, "allotted": encode(allotted)}
    _check_chain(assets, coops, ctx.policy)
    event = ce.AllotmentSet(
        cmd.asset,
        encode(allotted),
        encode(sustainable if sustainable is not None else allotted),
        None if capability is None else encode(capability),
        limiting,
        {k: encode(v) for k, v in shares.items()},
    )
    return Decision([event], consent, {"allotted": encode(allotted)})


@handles(cc.ApplyCoop)
def apply(cmd: cc.ApplyCoop, ctx: Context) -> Decision:
    application = parse_asset_name(cmd.application, "CR14")
    coop = state.require_account(ctx.uow, cmd.coop, "CR14")
    if coop.kind is not AccountKind.ORGANIZATION:
        raise RuleViolationError("only an organization (a cooperative) may apply to produce", rule="CR14")
    if ctx.uow.records.get(NS_COOP, application) is not None:
        raise RuleViolationError(f"application {application} already exists", rule="CR14")
    assets, _ = load(ctx.uow)
    good = require_asset(assets, cmd.good, "CR14")
    if good["kind"] != AssetKind.GOOD:
        raise RuleViolationError(f"{cmd.good} is a resource; coops apply to produce goods", rule="CR14")
    inputs = _inputs(cmd.inputs, assets, cmd.good) if cmd.inputs else dict(good["inputs"])
    markup = parse_quantity(cmd.markup, "coop markup", "CR11")
    if len(cmd.process) > 2_000:
        raise InvalidInputError("a process description has at most 2,000 characters", rule="CR14")
    labour = _money(cmd.labour, "labour per unit", "CR11")
    external = _money(cmd.external, "external resources per unit", "CR10")
    event = ce.CoopApplied(application, cmd.coop, cmd.good, labour, external, encode(markup), inputs, cmd.process)
    return Decision([event], Consent.of(cmd.coop), {"application": application})


@handles(cc.ApproveCoop)
def approve(cmd: cc.ApproveCoop, ctx: Context) -> Decision:
    coop = require_application(ctx.uow, cmd.application)
    assets, coops = load(ctx.uow)
    good = assets[coop["good"]]
    consent = council_consent(ctx, cmd.council, good)
    if coop["status"] != "applied":
        raise RuleViolationError(f"application {cmd.application} is already {coop['status']}", rule="CR14")
    allotted = parse_quantity(cmd.allotted, "allotted production", "CR8")
    if allotted <= 0:
        raise InvalidInputError("an approval allots a positive production a year", rule="CR8")
    limit = allotted_of(good)
    if limit is None:
        raise RuleViolationError(f"the council has not set {coop['good']}'s allotted production yet", rule="CR14")
    taken = sum((decode(c["allotted"]) for c in approved_coops(coops, coop["good"])), Fraction(0))
    if taken + allotted > limit:
        raise RuleViolationError(
            f"over-allotment: {coop['good']} is allotted {show(limit)} a year and coops already hold {show(taken)}",
            rule="CR8",
        )
    coops[cmd.application] = {**coop, "status": "approved", "allotted": encode(allotted)}
    _check_chain(assets, coops, ctx.policy)
    return Decision([ce.CoopApproved(cmd.application, coop["good"], encode(allotted))], consent)


def coop_prices(
    assets: Assets, coops: Coops, policy: Policy, application: str, chain: Mapping[str, Breakdown] | None = None
) -> Breakdown:
    """The coop's own price breakdown (CR13) with its inputs at their chain market prices."""
    coop = coops[application]
    good = assets[coop["good"]]
    chain = chain if chain is not None else exact_chain(assets, coops, policy)
    scarcity = rules.scarcity(demand_of(good), allotted_of(good) or Fraction(0))
    return row_breakdown(coop_node(good, coop, policy, scarcity), chain)


@handles(cc.PreOrder)
def pre_order(cmd: cc.PreOrder, ctx: Context) -> Decision:
    state.require_account(ctx.uow, cmd.buyer, "CR14")
    coop = require_application(ctx.uow, cmd.application)
    if coop["status"] != "approved":
        raise RuleViolationError(f"application {cmd.application} is not approved yet", rule="CR14")
    quantity = require_units(cmd.quantity, "quantity")
    if quantity <= 0:
        raise InvalidInputError("a pre-order is for a positive quantity", rule="CR14")
    assets, coops = load(ctx.uow)
    row = coop_prices(assets, coops, ctx.policy, cmd.application)
    ratio = Fraction(coop["preordered"] + quantity) / decode(coop["allotted"])
    unit = rules.round_half_up(row.base * (1 + decode(coop["markup"])) * ratio)
    event = ce.PreOrdered(cmd.application, coop["good"], cmd.buyer, quantity, encode(ratio), unit, unit * quantity)
    return Decision([event], Consent.of(cmd.buyer), {"unit_price": unit, "ratio": encode(ratio)})


@handles(cc.Crowdfund)
def crowdfund(cmd: cc.Crowdfund, ctx: Context) -> Decision:
    coop = require_application(ctx.uow, cmd.application)
    if coop["status"] not in ("applied", "approved"):
        raise RuleViolationError(f"application {cmd.application} is not open for funding", rule="CR14")
    legs = (led.Leg(cmd.currency, cmd.backer, AccountId(coop["coop"]), cmd.units),)
    transfers = payments.transfer(ctx.uow, legs, ctx.time)
    events: list[Event] = [ce.Crowdfunded(cmd.application, cmd.backer, cmd.currency, cmd.units), *transfers]
    return Decision(events, Consent.of(cmd.backer))


@handles(cc.RecordProduction)
def record_production(cmd: cc.RecordProduction, ctx: Context) -> Decision:
    coop = require_application(ctx.uow, cmd.application)
    if coop["coop"] != cmd.coop:
        raise RuleViolationError(f"application {cmd.application} belongs to another coop", rule="CR14")
    if coop["status"] != "approved":
        raise RuleViolationError(f"application {cmd.application} is not approved", rule="CR14")
    produced = _money(cmd.produced, "units produced", "CR8")
    sold = _money(cmd.sold, "units sold", "CR13")
    revenue = _money(cmd.revenue, "revenue", "CR13")
    if coop["produced"] + produced > decode(coop["allotted"]):
        raise RuleViolationError(
            f"over-allotment: {cmd.application} is allotted {coop['allotted']} a year "
            f"and has produced {coop['produced']}",
            rule="CR8",
        )
    if coop["sold"] + sold > coop["produced"] + produced:
        raise RuleViolationError("a coop cannot sell more units than it has produced", rule="CR13")
    assets, coops = load(ctx.uow)
    row = coop_prices(assets, coops, ctx.policy, cmd.application)
    base = rules.round_half_up(row.base)
    coop_credits, worker_credits = rules.coop_surplus(revenue, base, sold, ctx.policy.section(CreditismPolicy).workers)
    event = ce.ProductionRecorded(
        cmd.application, cmd.coop, coop["good"], produced, sold, revenue, base, coop_credits, worker_credits
    )
    return Decision(
        [event],
        Consent.of(cmd.coop),
        {"base_price": base, "coop_credits": coop_credits, "worker_credits": worker_credits},
    )


# Projectors -----------------------------------------------------------------------------------


def _asset_record(e: ce.AssetDefined) -> dict[str, Any]:
    return {
        "asset": e.asset,
        "council": e.council,
        "kind": e.kind.value,
        "unit": e.unit,
        "name": e.name,
        "rejuvenation": e.rejuvenation,
        "mortality": e.mortality,
        "extraction": e.extraction,
        "total_supply": e.total_supply,
        "age": e.age,
        "labour": e.labour,
        "external": e.external,
        "council_markup": e.council_markup,
        "inputs": dict(e.inputs),
        "score": "0",
        "factors": [],
        "demand": "0",
        "allotted": None,
        "sustainable": None,
        "capability": None,
        "limiting": None,
        "shares": {},
        "preordered": 0,
    }


def _update(uow: UnitOfWork, asset: str, **changes: Any) -> None:
    record = uow.records.get(NS_ASSET, asset)
    if record is None:
        raise RuleViolationError(f"no asset {asset} to update", rule="X2")
    uow.records.put(NS_ASSET, asset, {**record, **changes})


def _update_coop(uow: UnitOfWork, application: str, **changes: Any) -> dict[str, Any]:
    record = uow.records.get(NS_COOP, application)
    if record is None:
        raise RuleViolationError(f"no application {application} to update", rule="X2")
    record = {**record, **changes}
    uow.records.put(NS_COOP, application, record)
    return record  # type: ignore[no-any-return]


@projects(ce.AssetDefined)
def _asset_defined(e: ce.AssetDefined, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    uow.records.put(NS_ASSET, e.asset, {**_asset_record(e), "defined_at": ctx.time})


@projects(ce.InputsSet)
def _inputs_set(e: ce.InputsSet, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    _update(uow, e.asset, inputs=dict(e.inputs))


@projects(ce.ExternalityAssessed)
def _assessed(e: ce.ExternalityAssessed, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    factors = [{"name": f.name, "weight": f.weight, "score": f.score, "raw": f.raw} for f in e.factors]
    _update(uow, e.asset, score=e.score, factors=factors)


@projects(ce.AssetSurveyed)
def _surveyed(e: ce.AssetSurveyed, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    _update(uow, e.asset, demand=e.demand, total_supply=e.total_supply, surveyed_at=ctx.time)


@projects(ce.AllotmentSet)
def _allotted(e: ce.AllotmentSet, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    _update(
        uow,
        e.asset,
        allotted=e.allotted,
        sustainable=e.sustainable,
        capability=e.capability,
        limiting=e.limiting,
        shares=dict(e.shares),
        allotted_at=ctx.time,
    )


@projects(ce.CoopApplied)
def _applied(e: ce.CoopApplied, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    uow.records.put(
        NS_COOP,
        e.application,
        {
            "application": e.application,
            "coop": e.coop,
            "good": e.good,
            "labour": e.labour,
            "external": e.external,
            "markup": e.markup,
            "inputs": dict(e.inputs),
            "process": e.process,
            "status": "applied",
            "allotted": None,
            "preordered": 0,
            "preorder_value": 0,
            "crowdfunded": {},
            "produced": 0,
            "sold": 0,
            "revenue": 0,
            "coop_credits": 0,
            "worker_credits": 0,
            "applied_at": ctx.time,
        },
    )


@projects(ce.CoopApproved)
def _approved(e: ce.CoopApproved, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    _update_coop(uow, e.application, status="approved", allotted=e.allotted, approved_at=ctx.time)


@projects(ce.PreOrdered)
def _pre_ordered(e: ce.PreOrdered, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    coop = uow.records.get(NS_COOP, e.application) or {}
    _update_coop(
        uow,
        e.application,
        preordered=coop.get("preordered", 0) + e.quantity,
        preorder_value=coop.get("preorder_value", 0) + e.total,
    )
    good = uow.records.get(NS_ASSET, e.good) or {}
    _update(uow, e.good, preordered=good.get("preordered", 0) + e.quantity)
    uow.records.put(
        NS_ORDER,
        f"{e.application}/{ctx.seq:012d}",
        {
            "application": e.application,
            "good": e.good,
            "buyer": e.buyer,
            "quantity": e.quantity,
            "ratio": e.ratio,
            "unit_price": e.unit_price,
            "total": e.total,
            "at": ctx.time,
            "seq": ctx.seq,
        },
    )


@projects(ce.Crowdfunded)
def _crowdfunded(e: ce.Crowdfunded, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    coop = uow.records.get(NS_COOP, e.application) or {}
    funded = dict(coop.get("crowdfunded", {}))
    funded[e.currency] = funded.get(e.currency, 0) + e.units
    _update_coop(uow, e.application, crowdfunded=funded)


@projects(ce.ProductionRecorded)
def _produced(e: ce.ProductionRecorded, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    coop = uow.records.get(NS_COOP, e.application) or {}
    _update_coop(
        uow,
        e.application,
        produced=coop.get("produced", 0) + e.produced,
        sold=coop.get("sold", 0) + e.sold,
        revenue=coop.get("revenue", 0) + e.revenue,
        coop_credits=coop.get("coop_credits", 0) + e.coop_credits,
        worker_credits=coop.get("worker_credits", 0) + e.worker_credits,
        base_price=e.base_price,
    )
    credits = uow.records.get(NS_CREDITS, e.coop) or {"coop": e.coop, "coop_credits": 0, "worker_credits": 0}
    uow.records.put(
        NS_CREDITS,
        e.coop,
        {
            **credits,
            "coop_credits": credits["coop_credits"] + e.coop_credits,
            "worker_credits": credits["worker_credits"] + e.worker_credits,
        },
    )


# Views ----------------------------------------------------------------------------------------


def price_view(uow: UnitOfWork, policy: Policy, asset: str) -> dict[str, Any]:
    """CR10-CR12: one asset's market price and its components, via the sparse solver."""
    from civicledger.mechanisms.creditism.solver import SparseChain, solve_sparse

    assets, coops = load(uow)
    record = require_asset(assets, asset, "CR12")
    nodes = nodes_of(assets, coops, policy)
    result = solve_sparse(SparseChain.from_nodes(nodes))
    i = list(result.names).index(asset)
    node = nodes[i]
    return {
        "asset": asset,
        "kind": record["kind"],
        "unit": record["unit"],
        "price": int(result.price_units[i]),
        "base_price": rules.round_half_up(Fraction(float(result.base[i]))),
        "components": {c.value: int(result.parts_units[i, j]) for j, c in enumerate(COMPONENTS)},
        "scarcity": encode(node.scarcity),
        "score": record["score"],
        "fee_base": fee_base(policy),
        "inputs": {k: encode(v) for k, v in node.inputs.items()},
        "prices_of_inputs": {k: int(result.price_units[list(result.names).index(k)]) for k in node.inputs},
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
    for application, coop in sorted(coops.items()):
        if coop["good"] != good:
            continue
        row = coop_prices(assets, coops, policy, application, chain)
        total, parts = round_breakdown(row.parts)
        efficiency = rules.efficiency_rating(row.price, Fraction(coop["labour"]))
        rows.append(
            {
                "application": application,
                "coop": coop["coop"],
                "status": coop["status"],
                "allotted": coop["allotted"],
                "labour": coop["labour"],
                "markup": coop["markup"],
                "base_price": rules.round_half_up(row.base),
                "price": total,
                "components": {c.value: v for c, v in parts.items()},
                "efficiency": None if efficiency is None else encode(efficiency),
                "produced": coop["produced"],
                "sold": coop["sold"],
                "revenue": coop["revenue"],
                "preordered": coop["preordered"],
                "coop_credits": coop["coop_credits"],
                "worker_credits": coop["worker_credits"],
            }
        )
    return rows


def report_view(uow: UnitOfWork, policy: Policy) -> dict[str, Any]:
    """CR7-CR9: every resource's allowance rating (and how goods share it), every good's capability."""
    assets, coops = load(uow)
    resources, goods = [], []
    for name in sorted(assets):
        a = assets[name]
        demand, allotted = demand_of(a), allotted_of(a)
        rating = None if allotted is None else rules.allowance_rating(demand, allotted)
        row: dict[str, Any] = {
            "asset": name,
            "kind": a["kind"],
            "unit": a["unit"],
            "score": a["score"],
            "demand": encode(demand),
            "allotted": a["allotted"],
            "rating": None if rating is None else encode(rating),
            "actual": None if allotted is None else encode(rules.actual_rate(demand, allotted)),
        }
        claims = users_of(assets, coops, policy, name)
        if allotted is not None and claims:
            split = rules.share_allotment(allotted, claims, policy.section(CreditismPolicy).allotment_sharing)
            row["split"] = {g: encode(v) for g, v in split.items()}
        if a["kind"] == AssetKind.GOOD:
            try:
                capability, limiting, shares = capability_of(assets, coops, policy, name)
            except RuleViolationError as e:
                row.update(capability=None, limiting=None, note=e.message)
            else:
                row.update(
                    capability=None if capability is None else encode(capability),
                    limiting=limiting,
                    shares={k: encode(v) for k, v in shares.items()},
                )
            goods.append(row)
        else:
            resources.append(row)
    return {"resources": resources, "goods": goods}
