"""Social credits reads: a person's credits and why (SC11), the grade distribution (SC4), services (SC10).

Read models for the HTTP API, the pages and the CLI: plain JSON-ready values built from the typed
records of ``state``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TypedDict

from civicledger.kernel.canonical import JSONObject
from civicledger.kernel.explain import N_, Figure
from civicledger.kernel.explain import Explanation as RuleExplanation
from civicledger.kernel.identity import AccountId, parse_account_id
from civicledger.kernel.messages import DataclassInstance
from civicledger.kernel.personal import reveal
from civicledger.kernel.ports import Store, UnitOfWork
from civicledger.kernel.records import encode_record
from civicledger.kernel.time import format_instant
from civicledger.mechanisms.credits import rules, state
from civicledger.mechanisms.credits.state import ADJUSTMENTS, APPEALS, SERVICES, AppealRecord, ServiceRecord, require


class GradeDistribution(TypedDict):
    at: int
    persons: int
    units_by_grade: dict[str, int]


class LotView(TypedDict):
    grade: int
    units: int
    decayed: int
    adjustments: list[JSONObject]  # each adjustment as stored, with its id, use and appeals


class DecayView(TypedDict):
    since: int
    steps: int


class SpendView(TypedDict):
    spend: str
    time: int
    units: int


class Explanation(TypedDict):
    """Why a person's grades are what they are at ``at`` (SC11): every lot and what made it so."""

    person: str
    at: int
    born_at: int
    enrolled_at: int
    accrued: int
    spent: int
    available: int
    by_grade: dict[str, int]
    lots: list[LotView]
    decay: DecayView
    spends: list[SpendView]
    appeals_in_progress: list[JSONObject]


def person(store: Store, person: str, now: int) -> Explanation:
    who = parse_account_id(person)
    with store.read() as uow:
        return explain(uow, who, max(now, uow.journal.head().time))


def explain(uow: UnitOfWork, person: AccountId, at: int) -> Explanation:
    """Every lot with its grade and the entries that made it so, appeals in progress included."""
    policy, schedule, effects = state.evaluation(uow, at)
    hist = state.require_history(uow, person)
    st = rules.standing(hist, at, policy, schedule, effects)
    computed = {a.id: a for a in rules.noted_adjustments(hist, policy, schedule, effects)}
    details: dict[str, JSONObject] = {}
    for adj_id in st.active:
        record = require(ADJUSTMENTS, uow, adj_id)
        if adj_id in computed:  # X8: the policy gives noted participation its effect
            a = computed[adj_id]
            record = replace(
                record, steps=a.steps, quantity=a.quantity, end=a.end, scheduled_end=a.end, consumable=a.consumable
            )
        detail = _shown(uow, _as_stored(record))
        detail["id"] = adj_id
        detail["consumed"] = st.consumed.get(adj_id, 0)
        detail["appeals"] = [_appeal_view(uow, a, require(APPEALS, uow, a)) for a in record.appeals]
        details[adj_id] = detail
    in_progress: list[JSONObject] = []
    for row in hist.adjustments:
        for appeal_id in require(ADJUSTMENTS, uow, row.id).appeals:
            appeal = require(APPEALS, uow, appeal_id)
            if appeal.filed_at <= at and (appeal.decided_at is None or appeal.decided_at > at):
                in_progress.append(_appeal_view(uow, appeal_id, appeal))
    return {
        "person": person,
        "at": at,
        "born_at": hist.born_at,
        "enrolled_at": hist.enrolled_at,
        "accrued": st.accrued,
        "spent": st.spent,
        "available": st.available,
        "by_grade": {str(g): u for g, u in st.by_grade().items()},
        "lots": [
            {
                "grade": lot.grade,
                "units": lot.units,
                "decayed": lot.decayed,
                "adjustments": [details[a] for a in lot.adjustments],
            }
            for lot in st.lots
        ],
        "decay": {"since": st.decay_since, "steps": st.decay_steps},
        "spends": [{"spend": s.id, "time": s.time, "units": s.units} for s in hist.spends if s.time <= at],
        "appeals_in_progress": in_progress,
    }


def _appeal_view(uow: UnitOfWork, appeal_id: str, appeal: AppealRecord) -> JSONObject:
    return {"appeal": appeal_id, **_shown(uow, _as_stored(appeal))}


PERSONAL_KEYS = ("evidence", "reason", "grounds")


def _shown(uow: UnitOfWork, view: JSONObject) -> JSONObject:
    """A record's personal text as the off-journal store holds it, or "erased" (IN11)."""
    for key in PERSONAL_KEYS:
        value = view.get(key)
        if isinstance(value, str):
            view[key] = reveal(uow.personal, value)
    return view


def _as_stored(record: DataclassInstance) -> JSONObject:
    """A record's JSON with its keys in the order the store gives them back (sorted)."""
    return dict(sorted(encode_record(record).items()))


def grade_distribution(store: Store, now: int) -> GradeDistribution:
    """Units per grade over every enrolled person (the overview chart), and the number of persons."""

    totals: dict[int, int] = {}
    persons = 0
    with store.read() as uow:
        at = max(now, uow.journal.head().time)
        for standing in state.evaluate_all(uow, at):
            persons += 1
            for grade, units in standing.by_grade().items():
                totals[grade] = totals.get(grade, 0) + units
    return {"at": at, "persons": persons, "units_by_grade": {str(g): u for g, u in sorted(totals.items())}}


def services(store: Store) -> list[tuple[str, ServiceRecord]]:
    """Every registered service with its provider, category and tiers (SC10), by its key."""
    with store.read() as uow:
        return list(SERVICES.scan(uow))


def service_rows(services: list[tuple[str, ServiceRecord]]) -> list[JSONObject]:
    """``services`` as the CLI prints them with ``--json``: each record as stored, with its key."""
    return [{"service": key, **_as_stored(service)} for key, service in services]


def explain_grade(uow: UnitOfWork, person: AccountId, at: int) -> RuleExplanation:
    """Why a person's grade is what it is at ``at`` (SC4, SC8, SC11): the base grade, each active
    adjustment's steps in the order they apply, clamping to the policy's range, and decay.

    "Their grade" is the grade most of their available credits hold; every lot is a step."""
    policy, _, _ = state.evaluation(uow, at)
    data = explain(uow, person, at)
    inputs: list[Figure] = [
        Figure(
            N_("base grade"),
            policy.base_grade,
            N_("every credit starts at this grade (policy credits.base_grade)"),
            rule="SC4",
        ),
        Figure(
            N_("lowest grade"), policy.grade_min, N_("grades never go below it (policy credits.grade_min)"), rule="SC4"
        ),
        Figure(
            N_("highest grade"), policy.grade_max, N_("grades never go above it (policy credits.grade_max)"), rule="SC4"
        ),
        Figure(N_("accrued"), data["accrued"], N_("credits accrued since birth at the annual allocation"), rule="SC2"),
        Figure(N_("spent"), data["spent"], N_("credits spent on services"), rule="SC10"),
        Figure(N_("available"), data["available"], N_("accrued - spent"), N_("accrued - spent"), rule="SC2"),
        Figure(
            N_("decay window"),
            policy.decay_window,
            N_("grades above base start to fall after this long without participation"),
            seconds=True,
            rule="SC8",
        ),
        Figure(N_("decay step"), policy.decay_step, N_("then one step every"), seconds=True, rule="SC8"),
        Figure(
            N_("decay steps"),
            data["decay"]["steps"],
            N_("steps lost above base for lack of recent participation"),
            rule="SC8",
        ),
    ]
    seen: set[str] = set()
    steps: list[Figure] = []
    for lot in data["lots"]:
        grade = policy.base_grade
        parts = [str(policy.base_grade)]
        for a in lot["adjustments"]:
            adj_id, adj_steps = str(a["id"]), int(str(a.get("steps", 0)))
            kind = str(a.get("kind") or a.get("reason") or "adjustment")
            grade = min(policy.grade_max, max(policy.grade_min, grade + adj_steps))
            parts.append(f"{adj_steps:+d} ({kind} {adj_id})")
            if adj_id not in seen:
                seen.add(adj_id)
                inputs.append(
                    Figure(
                        N_("adjustment %(id)s", id=adj_id),
                        adj_steps,
                        N_("%(kind)s, in force until %(end)s", kind=kind, end=format_instant(int(str(a["end"])))),
                        rule="SC4",
                    )
                )
        if lot["decayed"]:
            parts.append(f"-{lot['decayed']} (decay)")
        formula = N_(
            "%(terms)s, kept within %(low)s-%(high)s",
            terms=" ".join(parts),
            low=policy.grade_min,
            high=policy.grade_max,
        )
        steps.append(
            Figure(
                N_("%(units)s credits", units=int(lot["units"])),
                lot["grade"],
                N_("the grade of this lot"),
                formula,
                rule="SC4",
            )
        )
    by_units: dict[int, int] = {}
    for lot in data["lots"]:
        by_units[lot["grade"]] = by_units.get(lot["grade"], 0) + lot["units"]
    main = max(by_units.items(), key=lambda gu: (gu[1], gu[0]))[0] if by_units else policy.base_grade
    share = by_units.get(main, 0)
    return RuleExplanation(
        rule="SC4",
        question=N_("Why is this person's grade what it is?"),
        subject=person,
        at=at,
        inputs=tuple(inputs),
        steps=tuple(steps),
        result=Figure(
            N_("grade"),
            main,
            N_("the grade of most credits (%(share)s of %(available)s)", share=share, available=int(data["available"])),
            rule="SC4",
        ),
        notes=(
            N_(
                "Grades decide the quality of a service, never access: the base grade reaches the base tier "
                "of every essential service (SC10)."
            ),
            N_("Any verified person may appeal an adjustment within the appeal window (SC7)."),
        ),
    )


def grade_explanation(store: Store, person: str, now: int) -> RuleExplanation:
    """``explain_grade`` at the journal's time (never before its newest entry), as the pages show it."""
    who = parse_account_id(person)
    with store.read() as uow:
        return explain_grade(uow, who, max(now, uow.journal.head().time))
