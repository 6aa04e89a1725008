"""Handlers, projectors and queries of the social credits (SC1-SC11).

State lives in ``uow.records`` only, never in the ledger: credits are not a currency and cannot
be transferred (SC3). Namespaces:

- ``credits.person``      person -> compact history (birth, enrolment, adjustment rows, spends,
                           fresh times), enough to evaluate balance and grades at any instant;
- ``credits.adjustment``  adjustment id -> deciders, evidence, reason, entry, appeals (SC6, SC11);
- ``credits.ballot`` / ``credits.answer`` / ``credits.daily``  direct democracy (SC5);
- ``credits.appeal``      appeal id -> panel, seed, votes, status (SC7);
- ``credits.pledge`` / ``credits.candidate`` / ``credits.second_chance`` / ``credits.draw`` /
  ``credits.lottery``     the civic lottery (SC9);
- ``credits.service`` / ``credits.redemption`` / ``credits.provider``  services and spends (SC10).

X8: ``gears_participation`` is registered in the kernel's ``hooks.PARTICIPATION``, so every Gears
vote, judgement and challenge adds a ``ParticipationNoted`` event to its own entry; enrolled
persons get the policy's effect for that kind and their decay clock restarts.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterator
from typing import Any

from civicledger.kernel import hooks, state
from civicledger.kernel.errors import (
    AuthorityError,
    InvalidInputError,
    NotFoundError,
    RuleViolationError,
)
from civicledger.kernel.identity import Account, AccountId, AccountKind, Consent, Role
from civicledger.kernel.messages import Event
from civicledger.kernel.ports import UnitOfWork
from civicledger.kernel.registry import Context, Decision, ProjectionContext, handles, projects
from civicledger.mechanisms.credits import rules
from civicledger.mechanisms.credits.commands import (
    AdjustGrade,
    ApplySecondChance,
    CastPanelVote,
    DrawLottery,
    EnrollPerson,
    FileAppeal,
    NominateCandidate,
    OpenBallot,
    PledgeUplift,
    RecordParticipation,
    RegisterService,
    SpendCredits,
    TakePart,
    Tier,
)
from civicledger.mechanisms.credits.events import (
    AppealDecided,
    AppealFiled,
    BallotAnswered,
    BallotOpened,
    CandidateNominated,
    CreditsSpent,
    GradeAdjusted,
    LotteryDrawn,
    PanelVoteCast,
    ParticipationNoted,
    PersonEnrolled,
    ServiceRegistered,
    UpliftPledged,
    Winner,
)
from civicledger.mechanisms.credits.policy import CreditsPolicy
from civicledger.mechanisms.credits.values import History, Standing

NS_PERSON = "credits.person"
NS_ADJ = "credits.adjustment"
NS_BALLOT = "credits.ballot"
NS_ANSWER = "credits.answer"
NS_DAILY = "credits.daily"
NS_APPEAL = "credits.appeal"
NS_PLEDGE = "credits.pledge"
NS_CANDIDATE = "credits.candidate"
NS_SECOND = "credits.second_chance"
NS_DRAW = "credits.draw"
NS_LOTTERY = "credits.lottery"
NS_SERVICE = "credits.service"
NS_REDEMPTION = "credits.redemption"
NS_PROVIDER = "credits.provider"

DEFAULT_ALLOCATION = CreditsPolicy().annual_allocation

RESERVED_KINDS = frozenset({"direct_democracy", "gears_vote", "gears_judgement", "whistleblowing"})
"""Kinds recorded only through their own controls: ``TakePart`` (SC5) or the Gears hook (X8)."""


# Reading state ---------------------------------------------------------------------------------


def credits_policy(uow: UnitOfWork) -> CreditsPolicy:
    return _settings(uow)[0]


def allocation_schedule(uow: UnitOfWork) -> rules.Schedule:
    """The annual allocation of every policy version, from the time it took effect (X7)."""
    return _settings(uow)[1]


_SETTINGS: dict[tuple[str, int, int, str], tuple[CreditsPolicy, rules.Schedule]] = {}


def _settings(uow: UnitOfWork) -> tuple[CreditsPolicy, rules.Schedule]:
    """The credits policy in force and the allocation schedule, cached per economy and policy version.

    A policy version never changes once written, so (economy id, version, effective time, credits
    section) names what matters here; the cache spares every query decoding and hashing the whole
    policy and its history again.
    """
    info = uow.records.get("economy", "info")
    record = uow.records.get("economy", "policy")
    if info is None or record is None:
        return state.current_policy(uow).section(CreditsPolicy), ((0, DEFAULT_ALLOCATION),)
    # Identical genesis commands give identical economy ids (tests, demos), so the credits section
    # itself is part of the key, not only the version that set it.
    credits_section = json.dumps(record["policy"].get("credits"), sort_keys=True)
    key = (str(info["id"]), int(record["version"]), int(record["effective_at"]), credits_section)
    found = _SETTINGS.get(key)
    if found is None:
        schedule: list[tuple[int, int]] = []
        for _, version in uow.records.scan("policy"):
            annual = int(version["policy"].get("credits", {}).get("annual_allocation", DEFAULT_ALLOCATION))
            if not schedule or schedule[-1][1] != annual:
                schedule.append((int(version["effective_at"]), annual))
        found = (state.current_policy(uow).section(CreditsPolicy), tuple(schedule) or ((0, DEFAULT_ALLOCATION),))
        if len(_SETTINGS) > 256:
            _SETTINGS.clear()
        _SETTINGS[key] = found
    return found


def history(uow: UnitOfWork, person: AccountId) -> History | None:
    data = uow.records.get(NS_PERSON, person)
    return None if data is None else rules.history_from_record(person, data)


def require_history(uow: UnitOfWork, person: AccountId) -> History:
    found = history(uow, person)
    if found is None:
        raise NotFoundError(
            f"{person} is not enrolled in social credits (a registrar records the birth date)", rule="SC1"
        )
    return found


def standing_of(uow: UnitOfWork, person: AccountId, at: int, policy: CreditsPolicy | None = None) -> Standing:
    """Balance and grades of one person at any instant; no batch job needed (SC4, SC8)."""
    data = uow.records.get(NS_PERSON, person)
    if data is None:
        raise NotFoundError(f"{person} is not enrolled in social credits", rule="SC1")
    pol, schedule = _settings(uow)
    return rules.standing_from_record(person, data, at, policy or pol, schedule)


def evaluate_all(uow: UnitOfWork, at: int) -> Iterator[Standing]:
    """Every enrolled person's standing at ``at``, in one pass over the compact records."""
    policy, schedule = _settings(uow)
    for person, data in uow.records.scan(NS_PERSON):
        yield rules.standing_from_record(person, data, at, policy, schedule)


def _rec(uow: UnitOfWork, ns: str, key: str, rule: str = "SC11") -> dict[str, Any]:
    """A record that must exist (an id named by a command, or one an earlier event wrote)."""
    found = uow.records.get(ns, key)
    if not isinstance(found, dict):
        raise NotFoundError(f"no {ns.removeprefix('credits.')} {key}", rule=rule)
    return found


def _verified_person(uow: UnitOfWork, account: AccountId, rule: str) -> Account:
    found = state.require_account(uow, account, rule)
    if found.kind is not AccountKind.PERSON or not found.verified:
        raise RuleViolationError(f"{account} is not a verified person", rule=rule)
    return found


def _holder(uow: UnitOfWork, person: AccountId) -> History:
    _verified_person(uow, person, "SC1")
    return require_history(uow, person)


def _deciders(
    ctx: Context, technocrat: AccountId | None, council: AccountId | None
) -> tuple[Consent, tuple[AccountId, ...]]:
    """SC6: a technocrat (who signs) or a council (whose quorum signs); returns consent and deciders."""
    if (technocrat is None) == (council is None):
        raise InvalidInputError("name exactly one decider: a technocrat or a council", rule="SC6")
    if technocrat is not None:
        account = state.require_account(ctx.uow, technocrat, "SC6")
        if Role.TECHNOCRAT not in account.roles:
            raise AuthorityError(f"{technocrat} does not hold the technocrat role", rule="SC6")
        return Consent.of(technocrat), (technocrat,)
    assert council is not None
    quorum = state.council_quorum(ctx.uow, council)
    return Consent(quorums=(quorum,)), tuple(sorted(ctx.signers & quorum.members))


def _adj_id(ctx: Context, index: int) -> str:
    return f"{ctx.seq:010d}.{index}"


# Enrolment (SC1, SC2) --------------------------------------------------------------------------


@handles(EnrollPerson)
def enroll(cmd: EnrollPerson, ctx: Context) -> Decision:
    registrar = state.require_account(ctx.uow, cmd.registrar, "SC1")
    if Role.REGISTRAR not in registrar.roles:
        raise AuthorityError(f"{cmd.registrar} is not a registrar", rule="SC1")
    _verified_person(ctx.uow, cmd.person, "SC1")
    if ctx.uow.records.get(NS_PERSON, cmd.person) is not None:
        raise RuleViolationError(f"{cmd.person} is already enrolled", rule="SC1")
    rules.check_enrolment(cmd.born_at, ctx.time)
    return Decision([PersonEnrolled(cmd.person, cmd.born_at, cmd.registrar)], Consent.of(cmd.registrar))


@projects(PersonEnrolled)
def _enrolled(e: PersonEnrolled, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    uow.records.put(NS_PERSON, e.person, rules.new_record(e.born_at, ctx.time))


# Adjustments (SC4-SC6) --------------------------------------------------------------------------


def _participation_event(
    ctx: Context,
    hist: History,
    kind: str,
    source: str,
    index: int,
    deciders: tuple[AccountId, ...],
    council: AccountId | None,
    evidence: str,
) -> GradeAdjusted:
    policy = ctx.policy.section(CreditsPolicy)
    effect = rules.participation_effect(kind, policy)
    available = rules.standing(hist, ctx.time, policy, allocation_schedule(ctx.uow)).available
    quantity = rules.effect_quantity(effect, available)
    steps = -effect.steps if effect.penalty else effect.steps
    return GradeAdjusted(
        _adj_id(ctx, index),
        hist.person,
        kind,
        source,
        steps,
        quantity,
        ctx.time,
        ctx.time + effect.duration,
        consumable=steps > 0 and quantity > 0,
        fresh=effect.qualifying,
        deciders=deciders,
        council=council,
        evidence=evidence,
        reason=kind,
    )


@handles(RecordParticipation)
def record_participation(cmd: RecordParticipation, ctx: Context) -> Decision:
    hist = _holder(ctx.uow, cmd.person)
    if cmd.kind in RESERVED_KINDS:
        raise RuleViolationError(f"{cmd.kind} participation is recorded only through its own controls", rule="SC5")
    rules.check_text(cmd.evidence, "evidence", "SC6")
    consent, deciders = _deciders(ctx, cmd.technocrat, cmd.council)
    if cmd.person in deciders:
        raise RuleViolationError("nobody decides their own adjustment", rule="SC6")
    event = _participation_event(ctx, hist, cmd.kind, "participation", 0, deciders, cmd.council, cmd.evidence)
    return Decision([event], consent, {"adjustment": event.adjustment})


@handles(AdjustGrade)
def adjust_grade(cmd: AdjustGrade, ctx: Context) -> Decision:
    _holder(ctx.uow, cmd.person)
    rules.check_adjustment(cmd.steps, cmd.quantity, cmd.duration, ctx.policy.section(CreditsPolicy))
    rules.check_text(cmd.reason, "a reason", "SC6")
    rules.check_text(cmd.evidence, "evidence", "SC6")
    consent, deciders = _deciders(ctx, cmd.technocrat, cmd.council)
    if cmd.person in deciders:
        raise RuleViolationError("nobody decides their own adjustment", rule="SC6")
    event = GradeAdjusted(
        _adj_id(ctx, 0),
        cmd.person,
        "award" if cmd.steps > 0 else "reduction",
        "decision",
        cmd.steps,
        cmd.quantity,
        ctx.time,
        ctx.time + cmd.duration,
        consumable=cmd.steps > 0 and cmd.quantity > 0,
        fresh=cmd.steps > 0,
        deciders=deciders,
        council=cmd.council,
        evidence=cmd.evidence,
        reason=cmd.reason,
    )
    return Decision([event], consent, {"adjustment": event.adjustment})


@projects(GradeAdjusted)
def _grade_adjusted(e: GradeAdjusted, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    record = _rec(uow, NS_PERSON, e.person, "SC1")
    record["adj"].append([e.adjustment, e.start, e.end, e.steps, e.quantity, int(e.consumable), e.kind])
    if e.fresh:
        bisect.insort(record["fresh"], e.start)
    uow.records.put(NS_PERSON, e.person, record)
    detail = {
        "person": e.person,
        "kind": e.kind,
        "source": e.source,
        "steps": e.steps,
        "quantity": e.quantity,
        "start": e.start,
        "end": e.end,
        "scheduled_end": e.end,
        "consumable": e.consumable,
        "fresh": e.fresh,
        "deciders": list(e.deciders),
        "council": e.council,
        "evidence": e.evidence,
        "reason": e.reason,
        "entry": ctx.seq,
        "appeals": [],
        "overturned_by": None,
    }
    uow.records.put(NS_ADJ, e.adjustment, detail)


# Direct democracy (SC5) ------------------------------------------------------------------------


@handles(OpenBallot)
def open_ballot(cmd: OpenBallot, ctx: Context) -> Decision:
    rules.parse_slug(cmd.ballot, "a ballot id", "SC5")
    rules.check_text(cmd.question, "a question", "SC5")
    rules.check_answer_key(cmd.answer_key)
    operator = state.require_account(ctx.uow, cmd.operator, "SC6")
    if Role.TECHNOCRAT not in operator.roles:
        raise AuthorityError(f"{cmd.operator} does not hold the technocrat role", rule="SC6")
    if ctx.uow.records.get(NS_BALLOT, cmd.ballot) is not None:
        raise RuleViolationError(f"ballot {cmd.ballot} already exists", rule="SC5")
    return Decision([BallotOpened(cmd.ballot, cmd.question, cmd.answer_key, cmd.operator)], Consent.of(cmd.operator))


@projects(BallotOpened)
def _ballot_opened(e: BallotOpened, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    uow.records.put(
        NS_BALLOT,
        e.ballot,
        {"question": e.question, "answer_key": e.answer_key, "operator": e.operator, "opened_at": ctx.time},
    )


@handles(TakePart)
def take_part(cmd: TakePart, ctx: Context) -> Decision:
    hist = _holder(ctx.uow, cmd.person)
    ballot = ctx.uow.records.get(NS_BALLOT, cmd.ballot)
    if ballot is None:
        raise NotFoundError(f"no ballot {cmd.ballot}", rule="SC5")
    if ctx.uow.records.get(NS_ANSWER, f"{cmd.ballot}:{cmd.person}") is not None:
        raise RuleViolationError(f"{cmd.person} already took part in ballot {cmd.ballot}", rule="SC5")
    day = rules.day_of(ctx.time)
    today = ctx.uow.records.get(NS_DAILY, f"{cmd.person}:{day:08d}") or 0
    rules.check_ballot_answer(
        cmd.seconds_spent, cmd.answers_digest, ballot["answer_key"], int(today), ctx.policy.section(CreditsPolicy)
    )
    operator = AccountId(ballot["operator"])
    evidence = f"ballot {cmd.ballot}; answers {cmd.answers_digest}; {cmd.seconds_spent} s"
    events: list[Event] = [BallotAnswered(cmd.ballot, cmd.person, cmd.seconds_spent, cmd.answers_digest, day)]
    events.append(
        _participation_event(ctx, hist, "direct_democracy", "direct-democracy", 0, (operator,), None, evidence)
    )
    return Decision(events, Consent.of(cmd.person, operator))


@projects(BallotAnswered)
def _ballot_answered(e: BallotAnswered, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    uow.records.put(NS_ANSWER, f"{e.ballot}:{e.person}", {"at": ctx.time, "seconds": e.seconds_spent})
    key = f"{e.person}:{e.day:08d}"
    uow.records.put(NS_DAILY, key, int(uow.records.get(NS_DAILY, key) or 0) + 1)


# X8: participation recorded by another mechanism ----------------------------------------------

GEARS_KINDS = {"gears.vote": "gears_vote", "gears.judgement": "gears_judgement", "gears.challenge": "whistleblowing"}
"""Gears participation (the kernel's ``hooks.PARTICIPATION`` kinds) -> credits policy kinds."""


def gears_participation(kind: str, person: AccountId, time: int, reference: str) -> list[Event]:
    """The hook Gears calls for every vote, judgement and challenge: one ``ParticipationNoted``.

    It cannot read state, so the event is emitted for everyone; its projector records it only
    for persons enrolled in credits, and the policy gives it its effect at evaluation.
    """
    mapped = GEARS_KINDS.get(kind)
    return [] if mapped is None else [ParticipationNoted(person, mapped, reference[: rules.MAX_TEXT])]


hooks.PARTICIPATION.add(gears_participation)


@projects(ParticipationNoted)
def _participation_noted(e: ParticipationNoted, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    record = uow.records.get(NS_PERSON, e.person)
    if record is None:
        return  # not enrolled in credits: nothing to update
    noted = record.setdefault("noted", [])
    prefix = f"{ctx.seq:010d}."
    adj_id = f"{prefix}n{sum(1 for row in noted if row[0].startswith(prefix))}"
    noted.append([adj_id, ctx.time, e.kind])
    bisect.insort(record["fresh"], ctx.time)
    uow.records.put(NS_PERSON, e.person, record)
    detail = {
        "person": e.person,
        "kind": e.kind,
        "source": "gears",
        "steps": None,
        "quantity": None,
        "start": ctx.time,
        "end": None,
        "scheduled_end": None,
        "consumable": None,
        "fresh": True,
        "deciders": [e.person],
        "council": None,
        "evidence": e.reference,
        "reason": f"{e.kind} (noted by Gears; effect from the credits policy)",
        "entry": ctx.seq,
        "appeals": [],
        "overturned_by": None,
    }
    uow.records.put(NS_ADJ, adj_id, detail)


# Appeals (SC7) ---------------------------------------------------------------------------------


def journal_seed(uow: UnitOfWork) -> bytes:
    """The tree root of the journal before the current entry: the seed of every draw."""
    return uow.journal.head().frontier.root()


def _technocrats(uow: UnitOfWork) -> list[str]:
    return [a.id for a in uow.accounts.scan() if Role.TECHNOCRAT in a.roles]


@handles(FileAppeal)
def file_appeal(cmd: FileAppeal, ctx: Context) -> Decision:
    uow = ctx.uow
    _verified_person(uow, cmd.appellant, "SC7")
    rules.check_text(cmd.grounds, "the grounds", "SC7")
    adj = _rec(uow, NS_ADJ, cmd.adjustment, "SC7")
    if adj["source"].startswith("lottery"):
        raise RuleViolationError("a lottery uplift is drawn, not decided; the draw can be recomputed", rule="SC7")
    if adj["source"] == "gears":
        raise RuleViolationError(
            "a Gears participation is noted automatically; its effect is set by policy", rule="SC7"
        )
    if adj["overturned_by"] is not None:
        raise RuleViolationError(f"adjustment {cmd.adjustment} was already overturned", rule="SC7")
    window = ctx.policy.section(CreditsPolicy).appeal_window
    if ctx.time - int(adj["start"]) > window:
        raise RuleViolationError(
            f"the appeal window of {window // 86400} days after adjustment {cmd.adjustment} has closed", rule="SC7"
        )
    for appeal_id in adj["appeals"]:
        if _rec(uow, NS_APPEAL, appeal_id)["status"] == "open":
            raise RuleViolationError(f"appeal {appeal_id} on this adjustment is still open", rule="SC7")
    involved = {*adj["deciders"], adj["person"], cmd.appellant}
    seed = journal_seed(uow)
    technocrats, jurors = rules.draw_panel(
        seed,
        [t for t in _technocrats(uow) if t not in involved],
        [p for p, _ in uow.records.scan(NS_PERSON) if p not in involved],
        ctx.policy.section(CreditsPolicy),
    )
    appeal = f"{ctx.seq:010d}"
    event = AppealFiled(
        appeal, cmd.adjustment, AccountId(adj["person"]), cmd.appellant, cmd.grounds, seed.hex(), technocrats, jurors
    )
    return Decision([event], Consent.of(cmd.appellant), {"appeal": appeal, "panel": [*technocrats, *jurors]})


@projects(AppealFiled)
def _appeal_filed(e: AppealFiled, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    uow.records.put(
        NS_APPEAL,
        e.appeal,
        {
            "adjustment": e.adjustment,
            "person": e.person,
            "appellant": e.appellant,
            "grounds": e.grounds,
            "seed": e.seed,
            "technocrats": list(e.technocrats),
            "jurors": list(e.jurors),
            "votes": {},
            "status": "open",
            "filed_at": ctx.time,
            "entry": ctx.seq,
            "decided_at": None,
        },
    )
    adj = _rec(uow, NS_ADJ, e.adjustment)
    adj["appeals"].append(e.appeal)
    uow.records.put(NS_ADJ, e.adjustment, adj)


@handles(CastPanelVote)
def cast_panel_vote(cmd: CastPanelVote, ctx: Context) -> Decision:
    appeal = _rec(ctx.uow, NS_APPEAL, cmd.appeal, "SC7")
    if appeal["status"] != "open":
        raise RuleViolationError(f"appeal {cmd.appeal} is already decided", rule="SC7")
    panel = [*appeal["technocrats"], *appeal["jurors"]]
    if cmd.member not in panel:
        raise AuthorityError(f"{cmd.member} was not drawn for the panel of appeal {cmd.appeal}", rule="SC7")
    if cmd.member in appeal["votes"]:
        raise RuleViolationError(f"{cmd.member} has already voted on appeal {cmd.appeal}", rule="SC7")
    votes = {**appeal["votes"], cmd.member: cmd.overturn}
    overturn = sum(1 for v in votes.values() if v)
    uphold = len(votes) - overturn
    events: list[Event] = [PanelVoteCast(cmd.appeal, cmd.member, cmd.overturn)]
    outcome = rules.majority(len(panel), overturn, uphold)
    if outcome is not None:
        events.append(
            AppealDecided(
                cmd.appeal, appeal["adjustment"], AccountId(appeal["person"]), outcome, overturn, uphold, ctx.time
            )
        )
    return Decision(events, Consent.of(cmd.member))


@projects(PanelVoteCast)
def _panel_vote(e: PanelVoteCast, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    appeal = _rec(uow, NS_APPEAL, e.appeal)
    appeal["votes"][e.member] = e.overturn
    uow.records.put(NS_APPEAL, e.appeal, appeal)


@projects(AppealDecided)
def _appeal_decided(e: AppealDecided, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    appeal = _rec(uow, NS_APPEAL, e.appeal)
    appeal["status"] = "overturned" if e.overturned else "upheld"
    appeal["decided_at"] = e.decided_at
    uow.records.put(NS_APPEAL, e.appeal, appeal)
    if not e.overturned:
        return
    adj = _rec(uow, NS_ADJ, e.adjustment)
    adj["end"] = min(int(adj["end"]), e.decided_at)
    adj["overturned_by"] = e.appeal
    uow.records.put(NS_ADJ, e.adjustment, adj)
    record = _rec(uow, NS_PERSON, e.person)
    for row in record["adj"]:
        if row[0] == e.adjustment:
            row[2] = min(int(row[2]), e.decided_at)
    uow.records.put(NS_PERSON, e.person, record)


# Civic lottery (SC9) ---------------------------------------------------------------------------


def _open_pledges(uow: UnitOfWork) -> list[tuple[str, dict[str, Any]]]:
    return [(k, v) for k, v in uow.records.scan(NS_PLEDGE) if v["status"] == "open"]


@handles(PledgeUplift)
def pledge_uplift(cmd: PledgeUplift, ctx: Context) -> Decision:
    policy = ctx.policy.section(CreditsPolicy)
    hist = _holder(ctx.uow, cmd.donor)
    st = rules.standing(hist, ctx.time, policy, allocation_schedule(ctx.uow))
    pledged = sum(int(v["quantity"]) for _, v in _open_pledges(ctx.uow) if v["donor"] == cmd.donor)
    rules.check_pledge(
        cmd.steps, cmd.quantity, cmd.duration, st.units_at_least(policy.pledge_min_grade) - pledged, policy
    )
    pledge = f"{ctx.seq:010d}"
    event = UpliftPledged(pledge, cmd.donor, cmd.steps, cmd.quantity, cmd.duration)
    return Decision([event], Consent.of(cmd.donor), {"pledge": pledge})


@projects(UpliftPledged)
def _pledged(e: UpliftPledged, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    uow.records.put(
        NS_PLEDGE,
        e.pledge,
        {
            "donor": e.donor,
            "steps": e.steps,
            "quantity": e.quantity,
            "duration": e.duration,
            "status": "open",
            "pledged_at": ctx.time,
            "draw": None,
            "winner": None,
        },
    )


def _waiting(uow: UnitOfWork, person: AccountId) -> bool:
    found = uow.records.get(NS_CANDIDATE, person)
    return found is not None and found["status"] == "waiting"


@handles(NominateCandidate)
def nominate(cmd: NominateCandidate, ctx: Context) -> Decision:
    uow = ctx.uow
    _holder(uow, cmd.candidate)
    rules.check_text(cmd.reason, "a reason", "SC9")
    if _waiting(uow, cmd.candidate):
        raise RuleViolationError(f"{cmd.candidate} is already a lottery candidate", rule="SC9")
    if cmd.council is not None:
        if cmd.cosigners:
            raise InvalidInputError("a nomination is by co-signers or by a council, not both", rule="SC9")
        consent, nominators = _deciders(ctx, None, cmd.council)
    else:
        need = ctx.policy.section(CreditsPolicy).nomination_cosigners
        if cmd.candidate in cmd.cosigners:
            raise RuleViolationError("nobody nominates themselves", rule="SC9")
        if len(cmd.cosigners) < need:
            raise RuleViolationError(f"a nomination needs {need} co-signers, not {len(cmd.cosigners)}", rule="SC9")
        for cosigner in cmd.cosigners:
            _verified_person(uow, cosigner, "SC9")
        consent, nominators = Consent(all_of=cmd.cosigners), tuple(sorted(cmd.cosigners))
    event = CandidateNominated(cmd.candidate, "nominated", cmd.reason, nominators, cmd.council)
    return Decision([event], consent)


@handles(ApplySecondChance)
def second_chance(cmd: ApplySecondChance, ctx: Context) -> Decision:
    uow = ctx.uow
    policy = ctx.policy.section(CreditsPolicy)
    hist = _holder(uow, cmd.person)
    if uow.records.get(NS_SECOND, cmd.person) is not None:
        raise RuleViolationError("the second chance is one-time: this person has already applied", rule="SC9")
    if _waiting(uow, cmd.person):
        raise RuleViolationError(f"{cmd.person} is already a lottery candidate", rule="SC9")
    best = rules.standing(hist, ctx.time, policy, allocation_schedule(uow)).best_grade(policy.base_grade)
    if best >= policy.second_chance_below_grade:
        raise RuleViolationError(
            f"a second chance is for persons whose best grade is below {policy.second_chance_below_grade}; "
            f"this person's is {best}",
            rule="SC9",
        )
    event = CandidateNominated(cmd.person, "second-chance", "second chance", (cmd.person,), None)
    return Decision([event], Consent.of(cmd.person))


@projects(CandidateNominated)
def _nominated(e: CandidateNominated, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    uow.records.put(
        NS_CANDIDATE,
        e.candidate,
        {
            "route": e.route,
            "reason": e.reason,
            "nominators": list(e.nominators),
            "council": e.council,
            "since": ctx.time,
            "entry": ctx.seq,
            "status": "waiting",
            "draw": None,
        },
    )
    if e.route == "second-chance":
        uow.records.put(NS_SECOND, e.candidate, {"at": ctx.time, "entry": ctx.seq})


@handles(DrawLottery)
def draw_lottery(cmd: DrawLottery, ctx: Context) -> Decision:
    uow = ctx.uow
    policy = ctx.policy.section(CreditsPolicy)
    consent, deciders = _deciders(ctx, cmd.technocrat, cmd.council)
    last = uow.records.get(NS_LOTTERY, "state")
    if last is not None and ctx.time - int(last["last_draw_at"]) < policy.draw_period:
        raise RuleViolationError(
            f"draws are periodic: the next is due {policy.draw_period} s after the last", rule="SC9"
        )
    schedule = allocation_schedule(uow)
    valid: list[tuple[str, str]] = []
    lapsed: list[str] = []
    pledges = _open_pledges(uow)
    holding: dict[str, int] = {}
    for pledge, data in pledges:
        donor = data["donor"]
        if donor not in holding:
            st = rules.standing(require_history(uow, AccountId(donor)), ctx.time, policy, schedule)
            holding[donor] = st.units_at_least(policy.pledge_min_grade)
        if holding[donor] >= int(data["quantity"]):
            holding[donor] -= int(data["quantity"])
            valid.append((pledge, donor))
        else:
            lapsed.append(pledge)
    candidates = sorted(k for k, v in uow.records.scan(NS_CANDIDATE) if v["status"] == "waiting")
    seed = journal_seed(uow)
    drawn = rules.draw_winners(seed, valid, candidates)
    draw = f"{ctx.seq:010d}"
    winners = tuple(Winner(p, AccountId(d), AccountId(c)) for p, d, c in drawn)
    events: list[Event] = [
        LotteryDrawn(
            draw,
            seed.hex(),
            tuple(p for p, _ in valid),
            tuple(AccountId(d) for _, d in valid),
            tuple(AccountId(c) for c in candidates),
            winners,
            tuple(lapsed),
        )
    ]
    data_of = dict(pledges)
    evidence = f"draw {draw}; seed {seed.hex()}"
    for i, w in enumerate(winners):
        p = data_of[w.pledge]
        steps, quantity, end = int(p["steps"]), int(p["quantity"]), ctx.time + int(p["duration"])
        events.append(
            GradeAdjusted(
                _adj_id(ctx, 2 * i),
                w.candidate,
                "lottery",
                "lottery-uplift",
                steps,
                quantity,
                ctx.time,
                end,
                consumable=True,
                fresh=True,
                deciders=deciders,
                council=cmd.council,
                evidence=evidence,
                reason=f"uplift pledged by {w.donor} (pledge {w.pledge})",
            )
        )
        events.append(
            GradeAdjusted(
                _adj_id(ctx, 2 * i + 1),
                w.donor,
                "lottery",
                "lottery-pledge",
                -steps,
                quantity,
                ctx.time,
                end,
                consumable=False,
                fresh=False,
                deciders=deciders,
                council=cmd.council,
                evidence=evidence,
                reason=f"pledged portion lent to {w.candidate} (pledge {w.pledge}); returns at the end",
            )
        )
    return Decision(events, consent, {"draw": draw, "winners": [w.candidate for w in winners]})


@projects(LotteryDrawn)
def _drawn(e: LotteryDrawn, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    uow.records.put(
        NS_DRAW,
        e.draw,
        {
            "seed": e.seed,
            "pledges": list(e.pledges),
            "donors": list(e.donors),
            "candidates": list(e.candidates),
            "winners": [[w.pledge, w.donor, w.candidate] for w in e.winners],
            "lapsed": list(e.lapsed),
            "at": ctx.time,
            "entry": ctx.seq,
        },
    )
    uow.records.put(NS_LOTTERY, "state", {"last_draw_at": ctx.time, "last_draw": e.draw})
    for w in e.winners:
        pledge = _rec(uow, NS_PLEDGE, w.pledge)
        pledge.update(status="drawn", draw=e.draw, winner=w.candidate)
        uow.records.put(NS_PLEDGE, w.pledge, pledge)
        candidate = _rec(uow, NS_CANDIDATE, w.candidate)
        candidate.update(status="won", draw=e.draw)
        uow.records.put(NS_CANDIDATE, w.candidate, candidate)
    for lapsed in e.lapsed:
        pledge = _rec(uow, NS_PLEDGE, lapsed)
        pledge.update(status="lapsed", draw=e.draw)
        uow.records.put(NS_PLEDGE, lapsed, pledge)


# Services and spending (SC3, SC10) ----------------------------------------------------------------


@handles(RegisterService)
def register_service(cmd: RegisterService, ctx: Context) -> Decision:
    rules.parse_slug(cmd.service, "a service id", "SC10")
    rules.check_text(cmd.name, "a service name", "SC10")
    provider = state.require_account(ctx.uow, cmd.provider, "SC10")
    if provider.kind is not AccountKind.ORGANIZATION:
        raise RuleViolationError(f"a provider is an organization, not a {provider.kind.value}", rule="SC10")
    existing = ctx.uow.records.get(NS_SERVICE, cmd.service)
    if existing is not None and existing["provider"] != cmd.provider:
        raise RuleViolationError(f"service {cmd.service} belongs to another provider", rule="SC10")
    essential = rules.check_tiers(cmd.category, cmd.tiers, ctx.policy.section(CreditsPolicy))
    event = ServiceRegistered(cmd.service, cmd.provider, cmd.category, essential, cmd.name, cmd.tiers)
    return Decision([event], Consent.of(cmd.provider))


@projects(ServiceRegistered)
def _service_registered(e: ServiceRegistered, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    old = uow.records.get(NS_SERVICE, e.service)
    uow.records.put(
        NS_SERVICE,
        e.service,
        {
            "provider": e.provider,
            "category": e.category,
            "essential": e.essential,
            "name": e.name,
            "tiers": [{"name": t.name, "price": t.price, "min_grade": t.min_grade} for t in e.tiers],
            "version": (old["version"] + 1) if old else 1,
            "entry": ctx.seq,
        },
    )


def service_tiers(data: dict[str, Any]) -> tuple[Tier, ...]:
    return tuple(Tier(t["name"], int(t["price"]), int(t["min_grade"])) for t in data["tiers"])


@handles(SpendCredits)
def spend(cmd: SpendCredits, ctx: Context) -> Decision:
    uow = ctx.uow
    hist = _holder(uow, cmd.person)
    service = uow.records.get(NS_SERVICE, cmd.service)
    if service is None:
        raise NotFoundError(f"no service {cmd.service}", rule="SC10")
    tier = next((t for t in service_tiers(service) if t.name == cmd.tier), None)
    if tier is None:
        raise NotFoundError(f"service {cmd.service} has no tier {cmd.tier}", rule="SC10")
    schedule = allocation_schedule(uow)
    st = rules.standing(hist, ctx.time, ctx.policy.section(CreditsPolicy), schedule)
    by_grade, used = rules.choose_credits(st, tier.min_grade, tier.price)
    noted = rules.noted_adjustments(hist, ctx.policy.section(CreditsPolicy), schedule)
    consumable = {a.id for a in (*hist.adjustments, *noted) if a.consumable}
    event = CreditsSpent(
        f"{ctx.seq:010d}",
        cmd.person,
        cmd.service,
        AccountId(service["provider"]),
        cmd.tier,
        tier.price,
        by_grade,
        rules.consumable_only(used, consumable),
    )
    return Decision([event], Consent.of(cmd.person), {"spend": event.spend, "by_grade": by_grade})


@projects(CreditsSpent)
def _spent(e: CreditsSpent, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    record = _rec(uow, NS_PERSON, e.person)
    record["spends"].append([e.spend, ctx.time, e.units, [[a, n] for a, n in sorted(e.consumed.items())]])
    uow.records.put(NS_PERSON, e.person, record)
    uow.records.put(
        NS_REDEMPTION,
        f"{e.provider}:{e.spend}",
        {
            "person": e.person,
            "service": e.service,
            "tier": e.tier,
            "units": e.units,
            "by_grade": e.by_grade,
            "at": ctx.time,
            "entry": ctx.seq,
        },
    )
    totals = uow.records.get(NS_PROVIDER, e.provider) or {"units": 0, "spends": 0}
    uow.records.put(NS_PROVIDER, e.provider, {"units": totals["units"] + e.units, "spends": totals["spends"] + 1})


# Transparency (SC11) ---------------------------------------------------------------------------


def explain(uow: UnitOfWork, person: AccountId, at: int) -> dict[str, Any]:
    """Every lot with its grade and the entries that made it so, appeals in progress included."""
    policy = credits_policy(uow)
    hist = require_history(uow, person)
    schedule = allocation_schedule(uow)
    st = rules.standing(hist, at, policy, schedule)
    computed = {a.id: a for a in rules.noted_adjustments(hist, policy, schedule)}
    details: dict[str, Any] = {}
    for adj_id in st.active:
        detail = dict(_rec(uow, NS_ADJ, adj_id))
        detail["id"] = adj_id
        if adj_id in computed:  # X8: the policy gives noted participation its effect
            a = computed[adj_id]
            detail.update(steps=a.steps, quantity=a.quantity, end=a.end, scheduled_end=a.end, consumable=a.consumable)
        detail["consumed"] = st.consumed.get(adj_id, 0)
        detail["appeals"] = [_appeal_view(uow, a) for a in detail["appeals"]]
        details[adj_id] = detail
    in_progress = []
    for row in hist.adjustments:
        for appeal_id in _rec(uow, NS_ADJ, row.id)["appeals"]:
            appeal = _rec(uow, NS_APPEAL, appeal_id)
            if appeal["filed_at"] <= at and (appeal["decided_at"] is None or appeal["decided_at"] > at):
                in_progress.append(_appeal_view(uow, appeal_id))
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


def _appeal_view(uow: UnitOfWork, appeal_id: str) -> dict[str, Any]:
    appeal = _rec(uow, NS_APPEAL, appeal_id)
    return {"appeal": appeal_id, **appeal}
