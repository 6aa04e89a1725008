"""Handlers and projectors of the social credits (SC1-SC11).

State lives in ``uow.records`` only, never in the ledger: credits are not a currency and cannot
be transferred (SC3). Its records, their namespaces and the reads of them are in ``state``; every
decision a command needs is a pure function of ``rules``. A handler loads state, asks the rules
and turns their answer into events; a projector writes what an event says into the records.

X8: ``gears_participation`` is registered in the kernel's ``hooks.PARTICIPATION``, so every Gears
vote, judgement and challenge adds events to its own entry. Rule version 1: a ``ParticipationNoted``
whose effect the policy gives at evaluation. Rule version 2 (IN2): Gears reports facts, and credits
counts the participation or not (``ParticipationReported``), fixing a counted one's effect then
(``GradeAdjusted``, source "gears"), within the per-kind caps that apply to every participation.
"""

from __future__ import annotations

from dataclasses import replace

from civicledger.kernel import draws, hooks, personal, state
from civicledger.kernel.errors import AuthorityError, NotFoundError, RuleViolationError
from civicledger.kernel.identity import GRANT_HINT, Account, AccountId, AccountKind, Consent, Role
from civicledger.kernel.messages import Event
from civicledger.kernel.ports import UnitOfWork
from civicledger.kernel.registry import Context, Decision, ProjectionContext, handles, projects
from civicledger.mechanisms.credits import rules
from civicledger.mechanisms.credits.commands import (
    AdjustGrade,
    ApplySecondChance,
    CastPanelVote,
    CloseAppeal,
    DrawLottery,
    DrawPanel,
    EnrollPerson,
    FileAppeal,
    NominateCandidate,
    OpenBallot,
    PledgeUplift,
    RecordParticipation,
    RegisterService,
    RunDraw,
    SpendCredits,
    TakePart,
)
from civicledger.mechanisms.credits.events import (
    AppealDecided,
    AppealFiled,
    AppealLapsed,
    AppealRequested,
    BallotAnswered,
    BallotOpened,
    CandidateNominated,
    CreditsSpent,
    DrawSeeded,
    GradeAdjusted,
    LotteryDrawn,
    LotteryScheduled,
    PanelDrawn,
    PanelVoteCast,
    ParticipationNoted,
    ParticipationReported,
    PersonEnrolled,
    ServiceRegistered,
    UpliftPledged,
    Winner,
)
from civicledger.mechanisms.credits.policy import CreditsPolicy
from civicledger.mechanisms.credits.state import (
    ADJUSTMENTS,
    ANSWERS,
    APPEALS,
    BALLOTS,
    CANDIDATES,
    DAILY_ANSWERS,
    DRAWS,
    LOTTERY,
    LOTTERY_KEY,
    PERSONS,
    PLEDGES,
    PROVIDERS,
    REDEMPTIONS,
    SCHEDULED_DRAWS,
    SECOND_CHANCES,
    SERVICES,
    VOTE_TERMS,
    AdjustmentRecord,
    AnswerRecord,
    AppealRecord,
    BallotRecord,
    CandidateRecord,
    DrawRecord,
    LotteryRecord,
    PersonRecord,
    PledgeRecord,
    ProviderTotals,
    RedemptionRecord,
    ScheduledDraw,
    SecondChanceRecord,
    ServiceRecord,
    allocation_schedule,
    answer_key,
    daily_key,
    effects_at,
    enrolled,
    enrolled_by,
    is_waiting,
    journal_seed,
    open_appeal,
    open_pledges,
    redemption_key,
    require,
    require_history,
    technocrats,
    vote_term_key,
    waiting_candidates,
)
from civicledger.mechanisms.credits.state import evaluate_all as evaluate_all
from civicledger.mechanisms.credits.state import standing_of as standing_of
from civicledger.mechanisms.credits.values import AppealStatus, History, Standing

NS_PERSON, NS_APPEAL, NS_DRAW = PERSONS.name, APPEALS.name, DRAWS.name
"""With ``evaluate_all`` and ``standing_of``, read through this module by the evaluation benchmark and
the simulator's agreement tests; the records and their reads are in ``state``."""


def _verified_person(uow: UnitOfWork, account: AccountId, rule: str) -> Account:
    found = state.require_account(uow, account, rule)
    if found.kind is not AccountKind.PERSON or not found.verified:
        raise RuleViolationError(f"{account} is not a verified person", rule=rule)
    return found


def _standing(ctx: Context, hist: History) -> Standing:
    """``hist`` at the entry's time; from rule version 2, noted participation with the effect of its
    own time (X7, IN8)."""
    effects = effects_at(ctx.uow) if ctx.rules >= 2 else None
    return rules.standing(hist, ctx.time, ctx.policy.section(CreditsPolicy), allocation_schedule(ctx.uow), effects)


def _holder(uow: UnitOfWork, person: AccountId) -> History:
    _verified_person(uow, person, "SC1")
    return require_history(uow, person)


def _deciders(
    ctx: Context, technocrat: AccountId | None, council: AccountId | None
) -> tuple[Consent, tuple[AccountId, ...]]:
    """SC6: a technocrat (who signs) or a council (whose quorum signs); returns consent and deciders."""
    rules.check_one_decider(technocrat, council)
    if technocrat is not None:
        account = state.require_account(ctx.uow, technocrat, "SC6")
        if Role.TECHNOCRAT not in account.roles:
            raise AuthorityError(
                f"{technocrat} does not hold the technocrat role" + GRANT_HINT.format(role="technocrat"), rule="SC6"
            )
        return Consent.of(technocrat), (technocrat,)
    assert council is not None
    quorum = state.council_quorum(ctx.uow, council)
    return Consent(quorums=(quorum,)), tuple(sorted(ctx.signers & quorum.members))


def _adjusted(
    ctx: Context,
    index: int,
    person: AccountId,
    terms: rules.Terms,
    source: str,
    deciders: tuple[AccountId, ...],
    council: AccountId | None,
    evidence: str,
    reason: str,
) -> GradeAdjusted:
    """The event of an adjustment the rules decided, starting now; its id names the entry and ``index``."""
    return GradeAdjusted(
        f"{ctx.seq:010d}.{index}",
        person,
        terms.kind,
        source,
        terms.steps,
        terms.quantity,
        ctx.time,
        ctx.time + terms.duration,
        consumable=terms.consumable,
        fresh=terms.fresh,
        deciders=deciders,
        council=council,
        evidence=evidence,
        reason=reason,
    )


# Enrolment (SC1, SC2) --------------------------------------------------------------------------


@handles(EnrollPerson)
def enroll(cmd: EnrollPerson, ctx: Context) -> Decision:
    registrar = state.require_account(ctx.uow, cmd.registrar, "SC1")
    if Role.REGISTRAR not in registrar.roles:
        raise AuthorityError(f"{cmd.registrar} is not a registrar" + GRANT_HINT.format(role="registrar"), rule="SC1")
    _verified_person(ctx.uow, cmd.person, "SC1")
    if PERSONS.get(ctx.uow, cmd.person) is not None:
        raise RuleViolationError(f"{cmd.person} is already enrolled", rule="SC1")
    rules.check_enrolment(cmd.born_at, ctx.time)
    return Decision([PersonEnrolled(cmd.person, cmd.born_at, cmd.registrar)], Consent.of(cmd.registrar))


@projects(PersonEnrolled)
def _enrolled(e: PersonEnrolled, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    PERSONS.put(uow, e.person, PersonRecord(e.born_at, ctx.time))


# Adjustments (SC4-SC6) --------------------------------------------------------------------------


def _participation(
    ctx: Context,
    hist: History,
    kind: str,
    source: str,
    deciders: tuple[AccountId, ...],
    council: AccountId | None,
    evidence: str,
) -> GradeAdjusted:
    """SC5: participation of ``kind``, with the policy's effect on the credits available now."""
    policy = ctx.policy.section(CreditsPolicy)
    terms = rules.participation_terms(kind, _standing(ctx, hist).available, policy)
    return _adjusted(ctx, 0, hist.person, terms, source, deciders, council, evidence, reason=kind)


def _capped(ctx: Context, hist: History, kind: str) -> str | None:
    """IN2 (rule version 2): why participation of ``kind`` cannot count now, or None when it can."""
    policy = ctx.policy.section(CreditsPolicy)
    effect = policy.participation.get(kind)
    if effect is None:
        return f"the policy gives {kind} participation no effect"
    steps = -effect.steps if effect.penalty else effect.steps
    noted = rules.noted_adjustments(hist, policy, allocation_schedule(ctx.uow), effects_at(ctx.uow))
    return rules.cap_refusal(kind, steps, (*hist.adjustments, *noted), ctx.time, policy)


@handles(RecordParticipation)
def record_participation(cmd: RecordParticipation, ctx: Context) -> Decision:
    if ctx.rules >= personal.PERSONAL_RULES:  # IN11: personal text stays off the journal
        personal.require_ref(cmd.evidence, "the evidence of participation or an infraction")

    hist = _holder(ctx.uow, cmd.person)
    rules.check_recorded_kind(cmd.kind)
    rules.check_text(cmd.evidence, "evidence", "SC6")
    consent, deciders = _deciders(ctx, cmd.technocrat, cmd.council)
    rules.check_not_own(cmd.person, deciders)
    if ctx.rules >= 2:
        rules.participation_effect(cmd.kind, ctx.policy.section(CreditsPolicy))  # an unknown kind: SC5
        refusal = _capped(ctx, hist, cmd.kind)
        if refusal is not None:
            raise RuleViolationError(refusal, rule="IN2")
    event = _participation(ctx, hist, cmd.kind, "participation", deciders, cmd.council, cmd.evidence)
    return Decision([event], consent, {"adjustment": event.adjustment})


@handles(AdjustGrade)
def adjust_grade(cmd: AdjustGrade, ctx: Context) -> Decision:
    if ctx.rules >= personal.PERSONAL_RULES:  # IN11: personal text stays off the journal
        personal.require_ref(cmd.reason, "an adjustment's reason")
        personal.require_ref(cmd.evidence, "an adjustment's evidence")

    _holder(ctx.uow, cmd.person)
    terms = rules.decided_terms(cmd.steps, cmd.quantity, cmd.duration, ctx.policy.section(CreditsPolicy))
    rules.check_text(cmd.reason, "a reason", "SC6")
    rules.check_text(cmd.evidence, "evidence", "SC6")
    consent, deciders = _deciders(ctx, cmd.technocrat, cmd.council)
    rules.check_not_own(cmd.person, deciders)
    event = _adjusted(ctx, 0, cmd.person, terms, "decision", deciders, cmd.council, cmd.evidence, cmd.reason)
    return Decision([event], consent, {"adjustment": event.adjustment})


@projects(GradeAdjusted)
def _grade_adjusted(e: GradeAdjusted, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    person = require(PERSONS, uow, e.person, "SC1")
    row = (e.adjustment, e.start, e.end, e.steps, e.quantity, int(e.consumable), e.kind)
    PERSONS.put(uow, e.person, person.with_adjustment(row, e.fresh))
    ADJUSTMENTS.put(
        uow,
        e.adjustment,
        AdjustmentRecord(
            person=e.person,
            kind=e.kind,
            source=e.source,
            steps=e.steps,
            quantity=e.quantity,
            start=e.start,
            end=e.end,
            scheduled_end=e.end,
            consumable=e.consumable,
            fresh=e.fresh,
            deciders=e.deciders,
            council=e.council,
            evidence=e.evidence,
            reason=e.reason,
            entry=ctx.seq,
            appeals=(),
            overturned_by=None,
        ),
    )


# Direct democracy (SC5) ------------------------------------------------------------------------


@handles(OpenBallot)
def open_ballot(cmd: OpenBallot, ctx: Context) -> Decision:
    rules.parse_slug(cmd.ballot, "a ballot id", "SC5")
    rules.check_text(cmd.question, "a question", "SC5")
    rules.check_answer_key(cmd.answer_key)
    operator = state.require_account(ctx.uow, cmd.operator, "SC6")
    if Role.TECHNOCRAT not in operator.roles:
        raise AuthorityError(
            f"{cmd.operator} does not hold the technocrat role" + GRANT_HINT.format(role="technocrat"), rule="SC6"
        )
    if BALLOTS.get(ctx.uow, cmd.ballot) is not None:
        raise RuleViolationError(f"ballot {cmd.ballot} already exists", rule="SC5")
    return Decision([BallotOpened(cmd.ballot, cmd.question, cmd.answer_key, cmd.operator)], Consent.of(cmd.operator))


@projects(BallotOpened)
def _ballot_opened(e: BallotOpened, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    BALLOTS.put(uow, e.ballot, BallotRecord(e.question, e.answer_key, e.operator, opened_at=ctx.time))


@handles(TakePart)
def take_part(cmd: TakePart, ctx: Context) -> Decision:
    uow = ctx.uow
    hist = _holder(uow, cmd.person)
    ballot = BALLOTS.get(uow, cmd.ballot)
    if ballot is None:
        raise NotFoundError(f"no ballot {cmd.ballot}", rule="SC5")
    if ANSWERS.get(uow, answer_key(cmd.ballot, cmd.person)) is not None:
        raise RuleViolationError(f"{cmd.person} already took part in ballot {cmd.ballot}", rule="SC5")
    day = rules.day_of(ctx.time)
    today = DAILY_ANSWERS.get(uow, daily_key(cmd.person, day)) or 0
    rules.check_ballot_answer(
        cmd.seconds_spent, cmd.answers_digest, ballot.answer_key, today, ctx.policy.section(CreditsPolicy)
    )
    evidence = f"ballot {cmd.ballot}; answers {cmd.answers_digest}; {cmd.seconds_spent} s"
    events: list[Event] = [BallotAnswered(cmd.ballot, cmd.person, cmd.seconds_spent, cmd.answers_digest, day)]
    if ctx.rules < 2:
        events.append(
            _participation(ctx, hist, "direct_democracy", "direct-democracy", (ballot.operator,), None, evidence)
        )
        return Decision(events, Consent.of(cmd.person, ballot.operator))
    # IN2: the answer always counts for the ballot; for the grades only within the caps
    refusal = _capped(ctx, hist, "direct_democracy")
    if refusal is None:
        events.append(
            _participation(ctx, hist, "direct_democracy", "direct-democracy", (ballot.operator,), None, evidence)
        )
    result = {"counted": refusal is None, "note": refusal or ""}
    return Decision(events, Consent.of(cmd.person, ballot.operator), result)


@projects(BallotAnswered)
def _ballot_answered(e: BallotAnswered, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    ANSWERS.put(uow, answer_key(e.ballot, e.person), AnswerRecord(at=ctx.time, seconds=e.seconds_spent))
    key = daily_key(e.person, e.day)
    DAILY_ANSWERS.put(uow, key, (DAILY_ANSWERS.get(uow, key) or 0) + 1)


# X8: participation recorded by another mechanism ----------------------------------------------

GEARS_KINDS = {"gears.vote": "gears_vote", "gears.judgement": "gears_judgement", "gears.challenge": "whistleblowing"}
"""Gears participation (the kernel's ``hooks.PARTICIPATION`` kinds) -> credits policy kinds."""


def gears_participation(ctx: Context, act: hooks.Participation) -> list[Event]:
    """The hook Gears calls for every vote, judgement and challenge it records (X8).

    Rule version 1: one ``ParticipationNoted`` for everyone; its projector records it only for
    persons enrolled in credits, and the policy gives it its effect at evaluation. Rule version 2
    (IN2): nothing for a person not enrolled; otherwise a ``ParticipationReported`` saying whether
    it counts and, when it does, the ``GradeAdjusted`` with the effect the policy gives it now.
    """
    mapped = GEARS_KINDS.get(act.kind)
    if mapped is None:
        return []
    if ctx.rules < 2:
        return [ParticipationNoted(act.person, mapped, act.reference[: rules.MAX_TEXT])]
    record = PERSONS.get(ctx.uow, act.person)
    if record is None:
        return []
    policy = ctx.policy.section(CreditsPolicy)
    hist = record.history(act.person)
    reference = act.reference[: rules.MAX_TEXT]
    kind, note = mapped, ""
    company = str(act.facts.get("company") or "")
    term = act.facts.get("term_start") if mapped == "gears_vote" else None
    if mapped == "gears_vote":
        why = rules.null_vote_reason(act.facts, policy)
        counted_before = VOTE_TERMS.get(ctx.uow, vote_term_key(act.person, company))
        if why is None and isinstance(term, int) and counted_before == term:
            why = "a vote counts once per company and vote term"
        if why is not None:
            kind, note = policy.null_vote_kind, why
    refusal = _capped(ctx, hist, kind)
    if refusal is not None:
        note = f"{note}; {refusal}" if note else refusal
        return [ParticipationReported(act.person, kind, reference, False, note[: rules.MAX_TEXT], company, None)]
    counted_term = term if isinstance(term, int) and kind == mapped else None
    reported = ParticipationReported(act.person, kind, reference, True, note, company, counted_term)
    facts = "; ".join(f"{k} {v}" for k, v in sorted(act.facts.items()))
    evidence = f"{act.kind} {reference}; {facts}"[: rules.MAX_TEXT]
    adjusted = _participation(ctx, hist, kind, "gears", (), None, evidence)
    return [reported, adjusted]


hooks.PARTICIPATION.add(gears_participation)


@projects(ParticipationReported)
def _participation_reported(e: ParticipationReported, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    if e.counted and e.term is not None:
        VOTE_TERMS.put(uow, vote_term_key(e.person, e.company), e.term)


@projects(ParticipationNoted)
def _participation_noted(e: ParticipationNoted, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    person = PERSONS.get(uow, e.person)
    if person is None:
        return  # not enrolled in credits: nothing to update
    person, adj_id = person.with_noted(ctx.seq, ctx.time, e.kind)
    PERSONS.put(uow, e.person, person)
    ADJUSTMENTS.put(
        uow,
        adj_id,
        AdjustmentRecord(
            person=e.person,
            kind=e.kind,
            source="gears",
            steps=None,
            quantity=None,
            start=ctx.time,
            end=None,
            scheduled_end=None,
            consumable=None,
            fresh=True,
            deciders=(e.person,),
            council=None,
            evidence=e.reference,
            reason=f"{e.kind} (noted by Gears; effect from the credits policy)",
            entry=ctx.seq,
            appeals=(),
            overturned_by=None,
        ),
    )


# Appeals (SC7) ---------------------------------------------------------------------------------


@handles(FileAppeal)
def file_appeal(cmd: FileAppeal, ctx: Context) -> Decision:
    if ctx.rules >= personal.PERSONAL_RULES:  # IN11: personal text stays off the journal
        personal.require_ref(cmd.grounds, "an appeal's grounds")

    if ctx.rules >= 2:
        return _request_appeal(cmd, ctx)
    uow = ctx.uow
    policy = ctx.policy.section(CreditsPolicy)
    _verified_person(uow, cmd.appellant, "SC7")
    rules.check_text(cmd.grounds, "the grounds", "SC7")
    adj = require(ADJUSTMENTS, uow, cmd.adjustment, "SC7")
    rules.check_appealable(
        cmd.adjustment, adj.source, adj.overturned_by, adj.start, open_appeal(uow, adj), ctx.time, policy
    )
    seed = journal_seed(uow)
    involved = {*adj.deciders, adj.person, cmd.appellant}
    panel_technocrats, jurors = rules.appeal_panel(seed, involved, technocrats(uow), enrolled(uow), policy)
    appeal = f"{ctx.seq:010d}"
    event = AppealFiled(
        appeal, cmd.adjustment, adj.person, cmd.appellant, cmd.grounds, seed.hex(), panel_technocrats, jurors
    )
    return Decision([event], Consent.of(cmd.appellant), {"appeal": appeal, "panel": [*panel_technocrats, *jurors]})


def _request_appeal(cmd: FileAppeal, ctx: Context) -> Decision:
    """SC7 under rules 2: the appeal is filed now, its panel drawn later by ``credits.draw_panel``
    from the first signed tree head ``journal.draw_delay`` after this entry (IN6), and it lapses
    undecided at ``panel_deadline`` (IN7). An open appeal past its deadline lapses in this entry."""
    uow = ctx.uow
    policy = ctx.policy.section(CreditsPolicy)
    _verified_person(uow, cmd.appellant, "SC7")
    rules.check_text(cmd.grounds, "the grounds", "SC7")
    adj = require(ADJUSTMENTS, uow, cmd.adjustment, "SC7")
    events: list[Event] = []
    earlier = [require(APPEALS, uow, a) for a in adj.appeals]
    pending = open_appeal(uow, adj)
    latest = earlier[-1] if earlier else None  # the appeals of an adjustment follow one another
    if pending is not None:
        record = require(APPEALS, uow, pending)
        if ctx.time >= _deadline(record, policy):
            events.append(_lapsed(pending, record, ctx.time))
            latest = replace(record, status="lapsed", decided_at=ctx.time)
            pending = None
    lapses = [a.decided_at for a in (*earlier[:-1], latest) if a and a.status == "lapsed" and a.decided_at]
    # IN6: the latest appeal lapsed with its panel undrawn, though anyone could have drawn it
    undrawn = latest is not None and latest.status == "lapsed" and not latest.seed
    unheard = undrawn and latest is not None and _could_draw(ctx, latest)
    by_appellant = sum(1 for a in earlier if a.appellant == cmd.appellant)
    rules.check_appealable_again(
        cmd.adjustment,
        adj.source,
        adj.overturned_by,
        adj.start,
        pending,
        max(lapses, default=None),
        not unheard,
        by_appellant,
        ctx.time,
        policy,
    )
    appeal = f"{ctx.seq:010d}"
    draw_at = ctx.time + ctx.policy.journal.draw_delay
    deadline = ctx.time + policy.panel_deadline
    events.append(AppealRequested(appeal, cmd.adjustment, adj.person, cmd.appellant, cmd.grounds, draw_at, deadline))
    result = {"appeal": appeal, "draw_at": draw_at, "deadline": deadline}
    return Decision(events, Consent.of(cmd.appellant), result)


def _could_draw(ctx: Context, record: AppealRecord) -> bool:
    """IN6: whether anyone could have drawn the panel of an appeal that lapsed undrawn: enough
    members were eligible under the policy of its filing (anyone can make the signed head a draw
    needs: a draw command sent after the draw time makes one)."""
    policy = state.policy_at(ctx.uow, record.filed_at).section(CreditsPolicy)
    adj = require(ADJUSTMENTS, ctx.uow, record.adjustment)
    involved = {*adj.deciders, adj.person, record.appellant}
    try:  # any seed: whether a panel can be drawn depends only on who is eligible
        rules.appeal_panel(bytes(32), involved, technocrats(ctx.uow), enrolled_by(ctx.uow, record.filed_at), policy)
    except RuleViolationError:
        return False
    return True


def _deadline(record: AppealRecord, policy: CreditsPolicy) -> int:
    """IN7: when an appeal lapses undecided; one filed under rule version 1 (no deadline of its own)
    in an economy that moved to version 2 gets ``panel_deadline`` from its filing."""
    return record.deadline if record.deadline is not None else record.filed_at + policy.panel_deadline


def _lapsed(appeal: str, record: AppealRecord, now: int) -> AppealLapsed:
    overturn = sum(1 for v in record.votes.values() if v)
    return AppealLapsed(appeal, record.adjustment, overturn, len(record.votes) - overturn, now)


@handles(DrawPanel)
def draw_panel(cmd: DrawPanel, ctx: Context) -> Decision:
    """IN6: draw an appeal's panel from the seed of the first signed tree head at or after its
    ``draw_at``; anyone may send it, and whoever sends it, whenever, draws the same panel. Jurors
    are the persons enrolled when the appeal was filed, technocrats those holding the role now."""
    uow = ctx.uow
    state.require_account(uow, cmd.sender, "IN6")
    if ctx.rules < 2:
        raise RuleViolationError("under rule version 1 a panel is drawn when the appeal is filed", rule="IN6")
    appeal = require(APPEALS, uow, cmd.appeal, "SC7")
    if appeal.status != "drawing" or appeal.draw_at is None:
        raise RuleViolationError(
            f"appeal {cmd.appeal} is {appeal.status}; only an appeal waiting for its panel is drawn", rule="IN6"
        )
    rules.check_panel_deadline(cmd.appeal, appeal.deadline, ctx.time)
    drawn = draws.draw(
        uow.journal,
        purpose="credits.panel",
        request=cmd.appeal,
        request_seq=appeal.entry,
        not_before=appeal.draw_at,
        now=ctx.time,
        seq=ctx.seq,
    )
    if drawn is None:
        return Decision([], Consent.of(cmd.sender), _awaiting(appeal.draw_at))
    adj = require(ADJUSTMENTS, uow, appeal.adjustment)
    involved = {*adj.deciders, adj.person, appeal.appellant}
    policy = ctx.policy.section(CreditsPolicy)
    techs, jurors = rules.appeal_panel(
        drawn.seed, involved, technocrats(uow), enrolled_by(uow, appeal.filed_at), policy
    )
    head = drawn.head
    event = PanelDrawn(cmd.appeal, drawn.seed.hex(), head.size, head.root, head.signature, techs, jurors)
    result = {"appeal": cmd.appeal, "drawn": True, "panel": [*techs, *jurors], "seed": drawn.seed.hex()}
    return Decision([event], Consent.of(cmd.sender), result)


def _awaiting(draw_at: int) -> dict[str, object]:
    """The answer to a draw command sent before any signed head at or after ``draw_at`` exists: its
    own entry's head (signed when its transaction ends) or a later one seeds the draw."""
    return {
        "drawn": False,
        "draw_at": draw_at,
        "note": "no tree head was signed since the draw time; this entry makes one: send the draw command again",
    }


@handles(CloseAppeal)
def close_appeal(cmd: CloseAppeal, ctx: Context) -> Decision:
    """IN7: an appeal not decided by its deadline lapses: the adjustment stands, recorded as not
    decided, and a new appeal of it may be filed (``check_appealable_again``). Anyone may send it."""
    state.require_account(ctx.uow, cmd.sender, "IN7")
    if ctx.rules < 2:
        raise RuleViolationError("under rule version 1 appeals have no deadline", rule="IN7")
    appeal = require(APPEALS, ctx.uow, cmd.appeal, "SC7")
    rules.check_lapse(cmd.appeal, appeal.status, _deadline(appeal, ctx.policy.section(CreditsPolicy)), ctx.time)
    return Decision([_lapsed(cmd.appeal, appeal, ctx.time)], Consent.of(cmd.sender), {"appeal": cmd.appeal})


@projects(AppealRequested)
def _appeal_requested(e: AppealRequested, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    APPEALS.put(
        uow,
        e.appeal,
        AppealRecord(
            adjustment=e.adjustment,
            person=e.person,
            appellant=e.appellant,
            grounds=e.grounds,
            seed="",
            technocrats=(),
            jurors=(),
            votes={},
            status="drawing",
            filed_at=ctx.time,
            entry=ctx.seq,
            decided_at=None,
            draw_at=e.draw_at,
            deadline=e.deadline,
        ),
    )
    adj = require(ADJUSTMENTS, uow, e.adjustment)
    ADJUSTMENTS.put(uow, e.adjustment, replace(adj, appeals=(*adj.appeals, e.appeal)))


@projects(PanelDrawn)
def _panel_drawn(e: PanelDrawn, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    appeal = require(APPEALS, uow, e.appeal)
    APPEALS.put(uow, e.appeal, replace(appeal, seed=e.seed, technocrats=e.technocrats, jurors=e.jurors, status="open"))


@projects(AppealLapsed)
def _appeal_lapsed(e: AppealLapsed, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    appeal = require(APPEALS, uow, e.appeal)
    APPEALS.put(uow, e.appeal, replace(appeal, status="lapsed", decided_at=e.lapsed_at))


@projects(AppealFiled)
def _appeal_filed(e: AppealFiled, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    APPEALS.put(
        uow,
        e.appeal,
        AppealRecord(
            adjustment=e.adjustment,
            person=e.person,
            appellant=e.appellant,
            grounds=e.grounds,
            seed=e.seed,
            technocrats=e.technocrats,
            jurors=e.jurors,
            votes={},
            status="open",
            filed_at=ctx.time,
            entry=ctx.seq,
            decided_at=None,
        ),
    )
    adj = require(ADJUSTMENTS, uow, e.adjustment)
    ADJUSTMENTS.put(uow, e.adjustment, replace(adj, appeals=(*adj.appeals, e.appeal)))


@handles(CastPanelVote)
def cast_panel_vote(cmd: CastPanelVote, ctx: Context) -> Decision:
    appeal = require(APPEALS, ctx.uow, cmd.appeal, "SC7")
    if ctx.rules >= 2:
        if appeal.status == "drawing":
            raise RuleViolationError(f"the panel of appeal {cmd.appeal} is not drawn yet", rule="IN6")
        if appeal.status == "open":
            rules.check_panel_deadline(cmd.appeal, _deadline(appeal, ctx.policy.section(CreditsPolicy)), ctx.time)
    tally = rules.tally_vote(cmd.appeal, appeal.status == "open", appeal.panel, appeal.votes, cmd.member, cmd.overturn)
    events: list[Event] = [PanelVoteCast(cmd.appeal, cmd.member, cmd.overturn)]
    if tally.outcome is not None:
        events.append(
            AppealDecided(
                cmd.appeal, appeal.adjustment, appeal.person, tally.outcome, tally.overturn, tally.uphold, ctx.time
            )
        )
    return Decision(events, Consent.of(cmd.member))


@projects(PanelVoteCast)
def _panel_vote(e: PanelVoteCast, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    appeal = require(APPEALS, uow, e.appeal)
    APPEALS.put(uow, e.appeal, replace(appeal, votes={**appeal.votes, e.member: e.overturn}))


@projects(AppealDecided)
def _appeal_decided(e: AppealDecided, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    appeal = require(APPEALS, uow, e.appeal)
    status: AppealStatus = "overturned" if e.overturned else "upheld"
    APPEALS.put(uow, e.appeal, replace(appeal, status=status, decided_at=e.decided_at))
    if not e.overturned:
        return
    adj = require(ADJUSTMENTS, uow, e.adjustment)
    ADJUSTMENTS.put(uow, e.adjustment, adj.overturned(e.appeal, e.decided_at))
    person = require(PERSONS, uow, e.person)
    PERSONS.put(uow, e.person, person.cut_short(e.adjustment, e.decided_at))


# Civic lottery (SC9) ---------------------------------------------------------------------------


@handles(PledgeUplift)
def pledge_uplift(cmd: PledgeUplift, ctx: Context) -> Decision:
    policy = ctx.policy.section(CreditsPolicy)
    hist = _holder(ctx.uow, cmd.donor)
    st = _standing(ctx, hist)
    pledged = sum(p.quantity for _, p in open_pledges(ctx.uow) if p.donor == cmd.donor)
    rules.check_pledge(
        cmd.steps, cmd.quantity, cmd.duration, st.units_at_least(policy.pledge_min_grade) - pledged, policy
    )
    pledge = f"{ctx.seq:010d}"
    event = UpliftPledged(pledge, cmd.donor, cmd.steps, cmd.quantity, cmd.duration)
    return Decision([event], Consent.of(cmd.donor), {"pledge": pledge})


@projects(UpliftPledged)
def _pledged(e: UpliftPledged, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    PLEDGES.put(
        uow,
        e.pledge,
        PledgeRecord(
            donor=e.donor,
            steps=e.steps,
            quantity=e.quantity,
            duration=e.duration,
            status="open",
            pledged_at=ctx.time,
            draw=None,
            winner=None,
        ),
    )


@handles(NominateCandidate)
def nominate(cmd: NominateCandidate, ctx: Context) -> Decision:
    if ctx.rules >= personal.PERSONAL_RULES:  # IN11: personal text stays off the journal
        personal.require_ref(cmd.reason, "a nomination's reason")

    uow = ctx.uow
    _holder(uow, cmd.candidate)
    rules.check_text(cmd.reason, "a reason", "SC9")
    by_council = cmd.council is not None
    waiting = is_waiting(uow, cmd.candidate)
    rules.check_nomination(cmd.candidate, cmd.cosigners, by_council, waiting, ctx.policy.section(CreditsPolicy))
    if cmd.council is not None:
        consent, nominators = _deciders(ctx, None, cmd.council)
    else:
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
    best = _standing(ctx, hist).best_grade(policy.base_grade)
    applied = SECOND_CHANCES.get(uow, cmd.person) is not None
    rules.check_second_chance(cmd.person, applied, is_waiting(uow, cmd.person), best, policy)
    event = CandidateNominated(cmd.person, "second-chance", "second chance", (cmd.person,), None)
    return Decision([event], Consent.of(cmd.person))


@projects(CandidateNominated)
def _nominated(e: CandidateNominated, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    CANDIDATES.put(
        uow,
        e.candidate,
        CandidateRecord(
            route=e.route,
            reason=e.reason,
            nominators=e.nominators,
            council=e.council,
            since=ctx.time,
            entry=ctx.seq,
            status="waiting",
            draw=None,
        ),
    )
    if e.route == "second-chance":
        SECOND_CHANCES.put(uow, e.candidate, SecondChanceRecord(at=ctx.time, entry=ctx.seq))


@handles(DrawLottery)
def draw_lottery(cmd: DrawLottery, ctx: Context) -> Decision:
    uow = ctx.uow
    policy = ctx.policy.section(CreditsPolicy)
    consent, deciders = _deciders(ctx, cmd.technocrat, cmd.council)
    last = LOTTERY.get(uow, LOTTERY_KEY)
    if ctx.rules >= 2 and last is not None and last.pending is not None:
        raise RuleViolationError(
            f"draw {last.pending} is scheduled and not drawn yet: send credits.run_draw for it", rule="IN6"
        )
    rules.check_draw_due(None if last is None else last.last_draw_at, ctx.time, policy)
    pledges = open_pledges(uow)
    valid, lapsed = _valid_pledges(ctx, pledges)
    candidates = waiting_candidates(uow)
    draw = f"{ctx.seq:010d}"
    if ctx.rules >= 2:
        scheduled = LotteryScheduled(
            draw,
            ctx.time + ctx.policy.journal.draw_delay,
            tuple(p for p, _ in valid),
            tuple(AccountId(d) for _, d in valid),
            tuple(candidates),
            tuple(lapsed),
            deciders,
            cmd.council,
        )
        return Decision([scheduled], consent, {"draw": draw, "draw_at": scheduled.draw_at})
    seed = journal_seed(uow)
    winners = tuple(Winner(p, AccountId(d), AccountId(c)) for p, d, c in rules.draw_winners(seed, valid, candidates))
    events: list[Event] = [
        LotteryDrawn(
            draw,
            seed.hex(),
            tuple(p for p, _ in valid),
            tuple(AccountId(d) for _, d in valid),
            tuple(candidates),
            winners,
            tuple(lapsed),
        )
    ]
    pledged = dict(pledges)
    evidence = f"draw {draw}; seed {seed.hex()}"
    for i, w in enumerate(winners):
        p = pledged[w.pledge]
        uplift, loan = rules.lottery_terms(p.steps, p.quantity, p.duration)
        reason = f"uplift pledged by {w.donor} (pledge {w.pledge})"
        events.append(
            _adjusted(ctx, 2 * i, w.candidate, uplift, "lottery-uplift", deciders, cmd.council, evidence, reason)
        )
        reason = f"pledged portion lent to {w.candidate} (pledge {w.pledge}); returns at the end"
        events.append(
            _adjusted(ctx, 2 * i + 1, w.donor, loan, "lottery-pledge", deciders, cmd.council, evidence, reason)
        )
    return Decision(events, consent, {"draw": draw, "winners": [w.candidate for w in winners]})


def _valid_pledges(
    ctx: Context, pledges: list[tuple[str, PledgeRecord]]
) -> tuple[list[tuple[str, AccountId]], list[str]]:
    """SC9: which of ``pledges`` their donors still hold at the entry's time (``rules.split_pledges``)."""
    policy = ctx.policy.section(CreditsPolicy)
    holding = {
        donor: _standing(ctx, require_history(ctx.uow, donor)).units_at_least(policy.pledge_min_grade)
        for donor in dict.fromkeys(p.donor for _, p in pledges)
    }
    return rules.split_pledges([(k, p.donor, p.quantity) for k, p in pledges], holding)


@handles(RunDraw)
def run_draw(cmd: RunDraw, ctx: Context) -> Decision:
    """IN6: draw a scheduled draw from the seed of the first signed tree head at or after its
    ``draw_at``; anyone may send it. Pledges and candidates are those fixed when it was scheduled;
    a donor who no longer holds a pledge's credits withholds that gift only: the pairing of every
    other pledge and candidate stays as drawn."""
    uow = ctx.uow
    state.require_account(uow, cmd.sender, "IN6")
    if ctx.rules < 2:
        raise RuleViolationError("under rule version 1 a draw is drawn when it is run", rule="IN6")
    scheduled = SCHEDULED_DRAWS.get(uow, cmd.draw)
    if scheduled is None:
        raise NotFoundError(f"no scheduled draw {cmd.draw}", rule="SC9")
    last = LOTTERY.get(uow, LOTTERY_KEY)
    if last is None or last.pending != cmd.draw:
        raise RuleViolationError(f"draw {cmd.draw} was already drawn", rule="IN6")
    drawn = draws.draw(
        uow.journal,
        purpose="credits.lottery",
        request=cmd.draw,
        request_seq=scheduled.entry,
        not_before=scheduled.draw_at,
        now=ctx.time,
        seq=ctx.seq,
    )
    if drawn is None:
        return Decision([], Consent.of(cmd.sender), _awaiting(scheduled.draw_at))
    frozen = list(zip(scheduled.pledges, scheduled.donors, strict=True))
    pledged = {k: require(PLEDGES, uow, k) for k in scheduled.pledges}
    still, withdrawn = _valid_pledges(ctx, [(k, pledged[k]) for k in scheduled.pledges])
    keep = {p for p, _ in still}
    seed = drawn.seed
    winners = tuple(
        Winner(p, AccountId(d), AccountId(c))
        for p, d, c in rules.draw_winners(seed, frozen, scheduled.candidates)
        if p in keep
    )
    head = drawn.head
    events: list[Event] = [
        DrawSeeded(cmd.draw, seed.hex(), head.size, head.root, head.signature),
        LotteryDrawn(
            cmd.draw,
            seed.hex(),
            scheduled.pledges,
            scheduled.donors,
            scheduled.candidates,
            winners,
            (*scheduled.lapsed, *withdrawn),
        ),
    ]
    evidence = f"draw {cmd.draw}; seed {seed.hex()}"
    for i, w in enumerate(winners):
        p = pledged[w.pledge]
        uplift, loan = rules.lottery_terms(p.steps, p.quantity, p.duration)
        reason = f"uplift pledged by {w.donor} (pledge {w.pledge})"
        events.append(
            _adjusted(
                ctx,
                2 * i,
                w.candidate,
                uplift,
                "lottery-uplift",
                scheduled.deciders,
                scheduled.council,
                evidence,
                reason,
            )
        )
        reason = f"pledged portion lent to {w.candidate} (pledge {w.pledge}); returns at the end"
        events.append(
            _adjusted(
                ctx, 2 * i + 1, w.donor, loan, "lottery-pledge", scheduled.deciders, scheduled.council, evidence, reason
            )
        )
    result = {"draw": cmd.draw, "drawn": True, "winners": [w.candidate for w in winners], "seed": seed.hex()}
    return Decision(events, Consent.of(cmd.sender), result)


@projects(LotteryScheduled)
def _scheduled(e: LotteryScheduled, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    SCHEDULED_DRAWS.put(
        uow,
        e.draw,
        ScheduledDraw(e.draw_at, e.pledges, e.donors, e.candidates, e.lapsed, ctx.seq, e.deciders, e.council),
    )
    old = LOTTERY.get(uow, LOTTERY_KEY)
    LOTTERY.put(uow, LOTTERY_KEY, LotteryRecord(ctx.time, "" if old is None else old.last_draw, pending=e.draw))


@projects(DrawSeeded)
def _seeded(e: DrawSeeded, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    """Nothing to keep beyond the event: the draw's record holds its seed."""


@projects(LotteryDrawn)
def _drawn(e: LotteryDrawn, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    winners = tuple((w.pledge, w.donor, w.candidate) for w in e.winners)
    DRAWS.put(uow, e.draw, DrawRecord(e.seed, e.pledges, e.donors, e.candidates, winners, e.lapsed, ctx.time, ctx.seq))
    old = LOTTERY.get(uow, LOTTERY_KEY)
    at = old.last_draw_at if old is not None and old.pending == e.draw else ctx.time  # periodic from its scheduling
    LOTTERY.put(uow, LOTTERY_KEY, LotteryRecord(last_draw_at=at, last_draw=e.draw))
    for w in e.winners:
        pledge = require(PLEDGES, uow, w.pledge)
        PLEDGES.put(uow, w.pledge, replace(pledge, status="drawn", draw=e.draw, winner=w.candidate))
        candidate = require(CANDIDATES, uow, w.candidate)
        CANDIDATES.put(uow, w.candidate, replace(candidate, status="won", draw=e.draw))
    for lapsed in e.lapsed:
        pledge = require(PLEDGES, uow, lapsed)
        PLEDGES.put(uow, lapsed, replace(pledge, status="lapsed", draw=e.draw))


# Services and spending (SC3, SC10) ----------------------------------------------------------------


@handles(RegisterService)
def register_service(cmd: RegisterService, ctx: Context) -> Decision:
    rules.parse_slug(cmd.service, "a service id", "SC10")
    rules.check_text(cmd.name, "a service name", "SC10")
    provider = state.require_account(ctx.uow, cmd.provider, "SC10")
    if provider.kind is not AccountKind.ORGANIZATION:
        raise RuleViolationError(f"a provider is an organization, not a {provider.kind.value}", rule="SC10")
    existing = SERVICES.get(ctx.uow, cmd.service)
    if existing is not None and existing.provider != cmd.provider:
        raise RuleViolationError(f"service {cmd.service} belongs to another provider", rule="SC10")
    essential = rules.check_tiers(cmd.category, cmd.tiers, ctx.policy.section(CreditsPolicy))
    event = ServiceRegistered(cmd.service, cmd.provider, cmd.category, essential, cmd.name, cmd.tiers)
    return Decision([event], Consent.of(cmd.provider))


@projects(ServiceRegistered)
def _service_registered(e: ServiceRegistered, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    old = SERVICES.get(uow, e.service)
    version = 1 if old is None else old.version + 1
    SERVICES.put(
        uow, e.service, ServiceRecord(e.provider, e.category, e.essential, e.name, e.tiers, version, entry=ctx.seq)
    )


@handles(SpendCredits)
def spend(cmd: SpendCredits, ctx: Context) -> Decision:
    uow = ctx.uow
    hist = _holder(uow, cmd.person)
    service = SERVICES.get(uow, cmd.service)
    if service is None:
        raise NotFoundError(f"no service {cmd.service}", rule="SC10")
    tier = next((t for t in service.tiers if t.name == cmd.tier), None)
    if tier is None:
        raise NotFoundError(f"service {cmd.service} has no tier {cmd.tier}", rule="SC10")
    schedule = allocation_schedule(uow)
    st = _standing(ctx, hist)
    by_grade, used = rules.choose_credits(st, tier.min_grade, tier.price)
    effects = effects_at(uow) if ctx.rules >= 2 else None
    noted = rules.noted_adjustments(hist, ctx.policy.section(CreditsPolicy), schedule, effects)
    consumable = {a.id for a in (*hist.adjustments, *noted) if a.consumable}
    event = CreditsSpent(
        f"{ctx.seq:010d}",
        cmd.person,
        cmd.service,
        service.provider,
        cmd.tier,
        tier.price,
        by_grade,
        rules.consumable_only(used, consumable),
    )
    return Decision([event], Consent.of(cmd.person), {"spend": event.spend, "by_grade": by_grade})


@projects(CreditsSpent)
def _spent(e: CreditsSpent, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    person = require(PERSONS, uow, e.person)
    PERSONS.put(uow, e.person, person.with_spend((e.spend, ctx.time, e.units, tuple(sorted(e.consumed.items())))))
    REDEMPTIONS.put(
        uow,
        redemption_key(e.provider, e.spend),
        RedemptionRecord(e.person, e.service, e.tier, e.units, e.by_grade, at=ctx.time, entry=ctx.seq),
    )
    totals = PROVIDERS.get(uow, e.provider) or ProviderTotals(units=0, spends=0)
    PROVIDERS.put(uow, e.provider, ProviderTotals(units=totals.units + e.units, spends=totals.spends + 1))
