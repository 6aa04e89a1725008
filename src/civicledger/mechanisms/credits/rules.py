"""The rules of the social credits as pure functions (SC1-SC10).

Evaluation (``standing``) needs no batch job: the grades at any instant follow from the history
alone. The steps, in order:

1. accrued = floor(sum of allocation x time since birth / YEAR) (SC2); spent = spends up to then;
   available = accrued - spent, all at the base grade to start with;
2. every adjustment active at the instant, in order of start (then id), moves grades (SC4): a
   whole-balance adjustment moves every credit; a quantity adjustment moves that many credits
   (lowest grades first for a raise, highest first for a reduction). A reduction covers credits
   accrued while it runs, so spending first cannot escape it; a quantity raise is used up as its
   credits are spent (``consumable``), so the same raised credits cannot be spent twice;
3. decay (SC8): from the later of enrolment and the last *fresh* time (qualifying participation or
   a lottery win), after ``decay_window`` every full ``decay_step`` lowers grades above base by one
   step, never below base;
4. grades stay within [grade_min, grade_max].

Random draws (SC7 panels, SC9 lottery) rank candidates by SHA-256(seed || account id), where the
seed is the journal's tree root before the entry: anyone holding an export can recompute them.

Handlers load state and call these functions for every decision a command needs: the checks
(``check_...``) refuse, naming the rule; the deciders compute what the command does (the
``Terms`` of an adjustment, an appeal's panel and ``Tally``, which pledges a draw may give).
"""

from __future__ import annotations

import bisect
import hashlib
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from civicledger.kernel.canonical import JSONObject
from civicledger.kernel.draws import seed_of
from civicledger.kernel.errors import AuthorityError, InsufficientFundsError, InvalidInputError, RuleViolationError
from civicledger.kernel.identity import AccountId
from civicledger.kernel.journal import TreeHead
from civicledger.kernel.merkle import root_of
from civicledger.kernel.time import DAY, YEAR, format_instant
from civicledger.mechanisms.credits.commands import Tier
from civicledger.mechanisms.credits.policy import CreditsPolicy, ParticipationEffect
from civicledger.mechanisms.credits.values import Adjustment, History, Lot, Standing

Schedule = tuple[tuple[int, int], ...]
"""Annual allocations in force: (from instant, credits a year), sorted by instant (X7)."""

Donor = TypeVar("Donor", bound=str)

EffectsAt = Callable[[int], Mapping[str, ParticipationEffect]]
"""The participation table of the policy in force at an instant (X7, IN8: rule version 2 gives a
participation noted under rule version 1 the effect of its own time, not of a later policy)."""

MAX_AGE = 150 * YEAR
MAX_TEXT = 500
_SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_HEX64_RE = re.compile(r"^[0-9a-f]{64}$")


# Quantity (SC2) --------------------------------------------------------------------------------


def accrued(born_at: int, at: int, schedule: Schedule) -> int:
    """Credits accrued from birth to ``at``: exact, linear, floored once (so steps never lose a unit).

    The first allocation also covers the time before it was set: accrual runs from birth,
    identically for everyone. Later changes take effect from their time onward, never backwards.
    """
    if at <= born_at or not schedule:
        return 0
    numerator = 0
    for i, (start, annual) in enumerate(schedule):
        seg_start = born_at if i == 0 else max(born_at, start)
        seg_end = min(at, schedule[i + 1][0]) if i + 1 < len(schedule) else at
        if seg_end > seg_start:
            numerator += annual * (seg_end - seg_start)
    return numerator // YEAR


def flat_schedule(policy: CreditsPolicy) -> Schedule:
    return ((0, policy.annual_allocation),)


# Quality (SC4, SC8) ----------------------------------------------------------------------------


def _clamp(grade: int, policy: CreditsPolicy) -> int:
    return min(policy.grade_max, max(policy.grade_min, grade))


def standing(
    history: History,
    at: int,
    policy: CreditsPolicy,
    schedule: Schedule | None = None,
    effects_at: EffectsAt | None = None,
) -> Standing:
    """What ``history`` means at ``at``: quantities and graded lots (a pure function, SC4/SC11).

    ``effects_at`` (rule version 2, X7): noted participation takes the effect of the policy in
    force when it was noted; without it, the effect of ``policy`` (rule version 1).
    """
    schedule = schedule or flat_schedule(policy)
    acc = accrued(history.born_at, at, schedule)
    spent = 0
    consumed: dict[str, int] = {}
    for s in history.spends:
        if s.time <= at:
            spent += s.units
            for adj_id, n in s.consumed:
                consumed[adj_id] = consumed.get(adj_id, 0) + n
    available = acc - spent
    lots: list[list[Any]] = [[policy.base_grade, available, ()]] if available > 0 else []
    adjustments = history.adjustments
    if history.noted:
        adjustments = adjustments + noted_adjustments(history, policy, schedule, effects_at)
    active = sorted((a for a in adjustments if a.start <= at < a.end), key=lambda a: (a.start, a.id))
    for adj in active:
        if not lots:
            break
        if adj.quantity == 0:
            for lot in lots:
                lot[0] = _clamp(lot[0] + adj.steps, policy)
                lot[2] = (*lot[2], adj.id)
            continue
        left = adj.quantity - consumed.get(adj.id, 0) if adj.consumable else adj.quantity
        if left <= 0:
            continue
        sign = 1 if adj.steps > 0 else -1
        order = sorted(range(len(lots)), key=lambda i: (sign * lots[i][0], i))
        added: list[list[Any]] = []
        for i in order:
            if left == 0:
                break
            lot = lots[i]
            take = min(left, lot[1])
            left -= take
            if take == lot[1]:
                lot[0] = _clamp(lot[0] + adj.steps, policy)
                lot[2] = (*lot[2], adj.id)
            else:
                lot[1] -= take
                added.append([_clamp(lot[0] + adj.steps, policy), take, (*lot[2], adj.id)])
        lots.extend(added)
    since = history.enrolled_at
    k = bisect.bisect_right(history.fresh, at)
    if k:
        since = max(since, history.fresh[k - 1])
    steps = decay_steps(at - since, policy)
    merged: dict[tuple[int, tuple[str, ...], int], int] = {}
    for grade, units, ids in lots:
        lost = 0
        if steps and grade > policy.base_grade:
            lost = min(steps, grade - policy.base_grade)
        key = (grade - lost, ids, lost)
        merged[key] = merged.get(key, 0) + units
    out = tuple(Lot(g, u, ids, lost) for (g, ids, lost), u in sorted(merged.items()) if u > 0)
    return Standing(history.person, at, acc, spent, out, steps, since, tuple(a.id for a in active), consumed)


def noted_adjustments(
    history: History, policy: CreditsPolicy, schedule: Schedule, effects_at: EffectsAt | None = None
) -> tuple[Adjustment, ...]:
    """X8: participation noted by another mechanism (a Gears vote, whistleblowing) as adjustments.

    The effect of its kind comes from the policy (with ``effects_at``, the policy in force when it
    was noted: X7), the portion from the credits available when it was noted; a kind the policy
    does not list has no effect. Rule version 2 notes no more participation this way: its effect
    is fixed when it is counted (``GradeAdjusted``, IN2).
    """
    out = []
    for adj_id, time, kind in history.noted:
        effect = (policy.participation if effects_at is None else effects_at(time)).get(kind)
        if effect is None:
            continue
        spent = sum(s.units for s in history.spends if s.time <= time)
        terms = effect_terms(kind, effect, accrued(history.born_at, time, schedule) - spent)
        out.append(Adjustment(adj_id, time, time + terms.duration, terms.steps, terms.quantity, terms.consumable, kind))
    return tuple(out)


def decay_steps(elapsed: int, policy: CreditsPolicy) -> int:
    """SC8: no step within ``decay_window`` of the last fresh time, then one per full ``decay_step``."""
    if elapsed <= policy.decay_window:
        return 0
    return (elapsed - policy.decay_window) // policy.decay_step


# Spending (SC3, SC10) --------------------------------------------------------------------------


def choose_credits(st: Standing, min_grade: int, price: int) -> tuple[dict[str, int], dict[str, int]]:
    """Take ``price`` credits of grade >= ``min_grade``, lowest qualifying grade first.

    Returns (units by grade, units used up of each consumable adjustment). Refuses, naming SC10,
    when the qualifying credits do not suffice.
    """
    if price <= 0:
        raise InvalidInputError("a price is a positive number of credits", rule="SC10")
    if st.available < price:
        raise InsufficientFundsError(
            f"{price} credits are needed and only {st.available} are available (accrued - spent)", rule="SC2"
        )
    qualifying = sorted(
        (lot for lot in st.lots if lot.grade >= min_grade), key=lambda lot: (lot.grade, lot.adjustments)
    )
    have = sum(lot.units for lot in qualifying)
    if have < price:
        raise RuleViolationError(
            f"this tier needs {price} credits of grade {min_grade} or higher; only {have} are", rule="SC10"
        )
    by_grade: dict[str, int] = {}
    used: dict[str, int] = {}
    left = price
    for lot in qualifying:
        take = min(left, lot.units)
        if take == 0:
            break
        left -= take
        by_grade[str(lot.grade)] = by_grade.get(str(lot.grade), 0) + take
        for adj_id in lot.adjustments:
            used[adj_id] = used.get(adj_id, 0) + take
    return by_grade, used


def consumable_only(used: dict[str, int], consumable: set[str]) -> dict[str, int]:
    return {a: n for a, n in sorted(used.items()) if a in consumable}


def check_tiers(category: str, tiers: Sequence[Tier], policy: CreditsPolicy) -> bool:
    """SC10: tiers well formed; an essential category's base tier is reachable by the base grade.

    Returns whether the category is essential. The base tier is the first (lowest) tier; in an
    essential category it may ask at most ``essential_base_tier_grade`` (default the lowest
    grade), so a penalty can lower the quality someone gets, never their access.
    """
    parse_slug(category, "a category", "SC10")
    if not 1 <= len(tiers) <= 10:
        raise InvalidInputError("a service has 1 to 10 tiers", rule="SC10")
    names = [t.name for t in tiers]
    if len(set(names)) != len(names) or any(not 1 <= len(n) <= 40 for n in names):
        raise InvalidInputError("tier names are unique and 1-40 characters long", rule="SC10")
    previous = policy.grade_min
    for t in tiers:
        if t.price <= 0:
            raise InvalidInputError(f"tier {t.name}: a price is a positive number of credits", rule="SC10")
        if not policy.grade_min <= t.min_grade <= policy.grade_max:
            raise InvalidInputError(
                f"tier {t.name}: grade {t.min_grade} is outside {policy.grade_min}-{policy.grade_max}", rule="SC10"
            )
        if t.min_grade < previous:
            raise InvalidInputError("tiers are listed from the base tier up, by minimum grade", rule="SC10")
        previous = t.min_grade
    essential = category in policy.essential_categories
    if essential and tiers[0].min_grade > policy.essential_base_tier_grade:
        raise RuleViolationError(
            f"the base tier of essential category {category} asks grade {tiers[0].min_grade}; it may ask at most "
            f"{policy.essential_base_tier_grade}, so every credit reaches it (grades decide quality, never access)",
            rule="SC10",
        )
    return essential


def base_grade_reaches_base_tiers(services: Iterable[tuple[str, Sequence[Tier]]], policy: CreditsPolicy) -> bool:
    """The SC10 promise over a set of registered services (for checks and property tests)."""
    return all(
        tiers[0].min_grade <= policy.base_grade
        for category, tiers in services
        if category in policy.essential_categories
    )


# Adjustments (SC4-SC6) --------------------------------------------------------------------------


def check_adjustment(steps: int, quantity: int, duration: int, policy: CreditsPolicy) -> None:
    if steps == 0 or abs(steps) > policy.max_adjustment_steps:
        raise RuleViolationError(
            f"an adjustment moves 1 to {policy.max_adjustment_steps} grade steps, not {steps}", rule="SC4"
        )
    if quantity < 0:
        raise InvalidInputError("a quantity is 0 (the whole balance) or a positive number of credits", rule="SC4")
    if not 0 < duration <= policy.max_adjustment_duration:
        raise RuleViolationError(
            f"an adjustment lasts more than 0 s and at most {policy.max_adjustment_duration} s, not {duration}",
            rule="SC4",
        )


@dataclass(frozen=True, slots=True)
class Terms:
    """What an adjustment does (SC4): ``steps`` (signed) on ``quantity`` credits (0 = the whole
    balance) for ``duration`` seconds; ``consumable``: used up as its credits are spent; ``fresh``:
    restarts the decay clock (SC8)."""

    kind: str
    steps: int
    quantity: int
    duration: int
    consumable: bool
    fresh: bool


def decided_terms(steps: int, quantity: int, duration: int, policy: CreditsPolicy) -> Terms:
    """SC4: an award (steps > 0) or a reduction within the policy's limits; an award restarts decay."""
    check_adjustment(steps, quantity, duration, policy)
    kind = "award" if steps > 0 else "reduction"
    return Terms(kind, steps, quantity, duration, consumable=steps > 0 and quantity > 0, fresh=steps > 0)


def check_one_decider(technocrat: str | None, council: str | None) -> None:
    """SC6: a grade is decided by a technocrat or by a council, never both, never neither."""
    if (technocrat is None) == (council is None):
        raise InvalidInputError("name exactly one decider: a technocrat or a council", rule="SC6")


def check_not_own(person: str, deciders: Collection[str]) -> None:
    """SC6: nobody decides their own adjustment."""
    if person in deciders:
        raise RuleViolationError("nobody decides their own adjustment", rule="SC6")


RESERVED_KINDS = frozenset({"direct_democracy", "gears_vote", "gears_judgement", "whistleblowing"})
"""Kinds recorded only through their own controls: ``TakePart`` (SC5) or the Gears hook (X8)."""


def check_recorded_kind(kind: str) -> None:
    """SC5: a reserved kind is recorded only through its own controls, never by a decider."""
    if kind in RESERVED_KINDS:
        raise RuleViolationError(f"{kind} participation is recorded only through its own controls", rule="SC5")


def null_vote_reason(facts: Mapping[str, object], policy: CreditsPolicy) -> str | None:
    """IN2: why a reported Gears vote changes nothing, or None when it is a real judgement.

    A re-cast or change within the vote term, a neutral vote on a company the voter never judged
    (no earlier vote, or only neutral ones), and a vote cast within ``vote_min_seconds_after_test``
    of passing the GR3 test change nothing.
    """
    if facts.get("recast"):
        return "a re-cast within the vote term counts once, when first cast"
    previous = facts.get("previous")
    if facts.get("value") == 0 and previous in (None, 0):
        return "a neutral vote on a company never judged before changes nothing"
    seconds = facts.get("seconds_since_test")
    if isinstance(seconds, int) and seconds < policy.vote_min_seconds_after_test:
        return f"cast {seconds} s after the test; a vote counts from {policy.vote_min_seconds_after_test} s"
    return None


def participation_cap(kind: str, policy: CreditsPolicy) -> int:
    """IN2: how many participations of ``kind`` count in any rolling year."""
    return policy.participation_caps.get(kind, policy.participation_cap)


def cap_refusal(
    kind: str, steps: int, adjustments: Iterable[Adjustment], now: int, policy: CreditsPolicy
) -> str | None:
    """IN2: why one more participation of ``kind`` (raising ``steps``) cannot count now, or None.

    ``adjustments`` are the person's adjustments (decided and noted). Two bounds, both per kind:

    * at most ``participation_cap(kind)`` counted in the rolling year ending now;
    * the steps of its raises active now plus ``steps`` stay below ``grade_max - base_grade``. Each
      raise moves a credit at most once, so a credit's grade from one kind is at most base plus the
      steps of that kind's raises active at once; every raise was counted only when the others
      active at that time left room, so no instant ever sees one kind lift a credit to the top.

    Penalties (infractions) are not participation one farms: never capped.
    """
    if steps <= 0:
        return None
    same = [a for a in adjustments if a.kind == kind and a.steps > 0]
    cap = participation_cap(kind, policy)
    in_year = sum(1 for a in same if now - YEAR < a.start <= now)
    if in_year >= cap:
        return f"the cap of {cap} counted {kind} participations in a rolling year is reached"
    active = sum(a.steps for a in same if a.start <= now < a.end)
    room = policy.grade_max - policy.base_grade - 1
    if active + steps > room:
        return (
            f"{kind} raises grades by {active} step(s) now; one kind alone lifts credits at most "
            f"{room} step(s) above the base grade, never to the top grade"
        )
    return None


def participation_effect(kind: str, policy: CreditsPolicy) -> ParticipationEffect:
    effect = policy.participation.get(kind)
    if effect is None:
        kinds = ", ".join(sorted(policy.participation))
        raise InvalidInputError(f"{kind!r} is not a participation kind of the policy ({kinds})", rule="SC5")
    return effect


def participation_terms(kind: str, available: int, policy: CreditsPolicy) -> Terms:
    """SC5: the policy's effect of one participation of ``kind``, its portion of ``available`` credits."""
    return effect_terms(kind, participation_effect(kind, policy), available)


def effect_terms(kind: str, effect: ParticipationEffect, available: int) -> Terms:
    """A participation effect as terms: a penalty lowers, and only a raise of a portion is used up."""
    quantity = effect_quantity(effect, available)
    steps = -effect.steps if effect.penalty else effect.steps
    return Terms(kind, steps, quantity, effect.duration, steps > 0 and quantity > 0, effect.qualifying)


def effect_quantity(effect: ParticipationEffect, available: int) -> int:
    """The stated quantity of a participation's effect: 0 (whole balance) or its portion, at least 1."""
    if effect.portion_percent >= 100:
        return 0
    return max(1, available * effect.portion_percent // 100)


def check_text(value: str, what: str, rule: str, *, required: bool = True) -> None:
    if len(value) > MAX_TEXT or (required and not value.strip()):
        raise InvalidInputError(f"{what} is {'1' if required else '0'}-{MAX_TEXT} characters", rule=rule)


def parse_slug(value: str, what: str, rule: str) -> str:
    if not _SLUG_RE.match(value):
        raise InvalidInputError(f"{what} is 1-64 lower-case letters, digits, '.', '_' or '-'", rule=rule)
    return value


def check_enrolment(born_at: int, now: int) -> None:
    if born_at > now:
        raise InvalidInputError("a date of birth cannot lie in the future", rule="SC2")
    if now - born_at > MAX_AGE:
        raise InvalidInputError("a date of birth more than 150 years ago is not plausible", rule="SC2")


# Direct democracy (SC5) ------------------------------------------------------------------------


def check_ballot_answer(
    seconds_spent: int, answers_digest: str, answer_key: str, answered_today: int, policy: CreditsPolicy
) -> None:
    """The anti-automation controls: minimum time, comprehension check, daily cap."""
    if seconds_spent < policy.dd_min_seconds:
        raise RuleViolationError(
            f"{seconds_spent} s spent; direct-democracy participation counts after {policy.dd_min_seconds} s",
            rule="SC5",
        )
    if not _HEX64_RE.match(answers_digest) or answers_digest != answer_key:
        raise RuleViolationError("the comprehension answers do not match the ballot's answer key", rule="SC5")
    if answered_today >= policy.dd_daily_cap:
        raise RuleViolationError(
            f"the daily cap of {policy.dd_daily_cap} direct-democracy participations is reached", rule="SC5"
        )


def check_answer_key(key: str) -> None:
    if not _HEX64_RE.match(key):
        raise InvalidInputError("an answer key is the SHA-256 of the answers, 64 lower-case hex digits", rule="SC5")


def day_of(at: int) -> int:
    return at // DAY


# Verifiable draws (SC7, SC9) -------------------------------------------------------------------


def rank(seed: bytes, accounts: Iterable[str]) -> list[str]:
    """Order accounts by SHA-256(seed || account id as ASCII); ties (impossible in practice) by id."""
    return sorted(set(accounts), key=lambda a: (hashlib.sha256(seed + a.encode()).digest(), a))


# Appeals (SC7) ---------------------------------------------------------------------------------


def draw_panel(
    seed: bytes, technocrats: Iterable[str], jurors: Iterable[str], policy: CreditsPolicy
) -> tuple[tuple[AccountId, ...], tuple[AccountId, ...]]:
    """SC7: the first ``panel_technocrats`` technocrats and ``panel_jurors`` jurors by rank."""
    techs = rank(seed, technocrats)[: policy.panel_technocrats]
    chosen = set(techs)
    jury = [j for j in rank(seed, jurors) if j not in chosen][: policy.panel_jurors]
    if len(techs) < policy.panel_technocrats or len(jury) < policy.panel_jurors:
        raise RuleViolationError(
            f"an appeal panel needs {policy.panel_technocrats} technocrat(s) and {policy.panel_jurors} juror(s) "
            f"not involved in the decision; only {len(techs)} and {len(jury)} are eligible",
            rule="SC7",
        )
    return tuple(AccountId(a) for a in techs), tuple(AccountId(a) for a in jury)


def majority(panel_size: int, overturn: int, uphold: int) -> bool | None:
    """True to overturn, False to uphold, None while no side holds a majority of the panel."""
    need = panel_size // 2 + 1
    if overturn >= need:
        return True
    if uphold >= need:
        return False
    return None


def check_appealable(
    adjustment: str,
    source: str,
    overturned_by: str | None,
    start: int,
    open_appeal: str | None,
    now: int,
    policy: CreditsPolicy,
) -> None:
    """SC7: a decided adjustment, not yet overturned, within the appeal window, one appeal at a time.

    Lottery uplifts are drawn, not decided (the draw can be recomputed), and Gears participation
    takes its effect from the policy: neither is appealed.
    """
    if source.startswith("lottery"):
        raise RuleViolationError("a lottery uplift is drawn, not decided; the draw can be recomputed", rule="SC7")
    if source == "gears":
        raise RuleViolationError(
            "a Gears participation is noted automatically; its effect is set by policy", rule="SC7"
        )
    if overturned_by is not None:
        raise RuleViolationError(f"adjustment {adjustment} was already overturned", rule="SC7")
    if now - start > policy.appeal_window:
        raise RuleViolationError(
            f"the appeal window of {policy.appeal_window // 86400} days after adjustment {adjustment} has closed",
            rule="SC7",
        )
    if open_appeal is not None:
        raise RuleViolationError(f"appeal {open_appeal} on this adjustment is still open", rule="SC7")


def check_appealable_again(
    adjustment: str,
    source: str,
    overturned_by: str | None,
    start: int,
    open_appeal: str | None,
    last_lapse: int | None,
    last_lapse_drawn: bool,
    filed_by_appellant: int,
    now: int,
    policy: CreditsPolicy,
) -> None:
    """SC7 and IN7 under rules 2: as ``check_appealable``, but an appeal that lapsed undecided at its
    deadline does not end the matter: a new appeal may be filed within the appeal window or within
    ``refile_grace`` after the lapse, whichever ends later. One appellant files at most
    ``appeals_per_appellant`` appeals on one adjustment, so nobody re-appeals without end (each
    verified person is one human, SC1). An appeal whose panel nobody drew before it lapsed, though
    anyone could have (``last_lapse_drawn`` False), allows no new appeal (IN6): its seed was public
    from the draw time on, so letting it lapse must not buy another panel."""
    if last_lapse is not None and not last_lapse_drawn and open_appeal is None:
        raise RuleViolationError(
            f"the last appeal of adjustment {adjustment} lapsed before anyone drew its panel; "
            "letting a panel go undrawn does not buy another",
            rule="IN6",
        )
    grace_open = last_lapse is not None and now - last_lapse <= policy.refile_grace
    check_appealable(adjustment, source, overturned_by, now if grace_open else start, open_appeal, now, policy)
    if filed_by_appellant >= policy.appeals_per_appellant:
        raise RuleViolationError(
            f"an appellant files at most {policy.appeals_per_appellant} appeal(s) on one adjustment", rule="IN7"
        )


def check_panel_deadline(appeal: str, deadline: int | None, now: int) -> None:
    """IN7: a panel's votes count until its deadline; from then on the appeal can only lapse."""
    if deadline is not None and now >= deadline:
        raise RuleViolationError(
            f"the deadline of appeal {appeal} has passed: it lapses undecided (credits.close_appeal)", rule="IN7"
        )


def check_lapse(appeal: str, status: str, deadline: int, now: int) -> None:
    """IN7: only an undecided appeal lapses, and only from its deadline on."""
    if status not in ("open", "drawing"):
        raise RuleViolationError(f"appeal {appeal} is {status}; only an undecided appeal lapses", rule="IN7")
    if now < deadline:
        raise RuleViolationError(
            f"appeal {appeal} lapses only at its deadline, {format_instant(deadline)}; send it then", rule="IN7"
        )


def appeal_panel(
    seed: bytes, involved: Collection[str], technocrats: Iterable[str], persons: Iterable[str], policy: CreditsPolicy
) -> tuple[tuple[AccountId, ...], tuple[AccountId, ...]]:
    """SC7: the panel drawn from the technocrats and persons not ``involved`` in the decision (its
    deciders, the holder and the appellant)."""
    return draw_panel(
        seed, [t for t in technocrats if t not in involved], [p for p in persons if p not in involved], policy
    )


@dataclass(frozen=True, slots=True)
class Tally:
    """An appeal's votes after one more; ``outcome``: True to overturn, False to uphold, None yet."""

    overturn: int
    uphold: int
    outcome: bool | None


def tally_vote(
    appeal: str,
    still_open: bool,
    panel: Sequence[AccountId],
    votes: Mapping[AccountId, bool],
    member: AccountId,
    overturn: bool,
) -> Tally:
    """SC7: one vote per member of the drawn panel while the appeal is open; a majority decides."""
    if not still_open:
        raise RuleViolationError(f"appeal {appeal} is already decided", rule="SC7")
    if member not in panel:
        raise AuthorityError(f"{member} was not drawn for the panel of appeal {appeal}", rule="SC7")
    if member in votes:
        raise RuleViolationError(f"{member} has already voted on appeal {appeal}", rule="SC7")
    cast = [*votes.values(), overturn]
    overturning = sum(1 for v in cast if v)
    upholding = len(cast) - overturning
    return Tally(overturning, upholding, majority(len(panel), overturning, upholding))


# The civic lottery (SC9) ------------------------------------------------------------------------


def draw_winners(
    seed: bytes, pledges: Sequence[tuple[str, str]], candidates: Iterable[str]
) -> tuple[tuple[str, str, str], ...]:
    """SC9: match pledges (in id order) to candidates (in rank order); a donor never wins their own.

    ``pledges`` are (pledge id, donor) pairs. Returns (pledge, donor, candidate) triples. Pure, so a
    reader of an export recomputes the winners from the draw's seed, pledges and candidates.
    """
    ranked = rank(seed, candidates)
    winners = []
    for pledge, donor in sorted(pledges):
        for i, candidate in enumerate(ranked):
            if candidate != donor:
                winners.append((pledge, donor, candidate))
                del ranked[i]
                break
    return tuple(winners)


def check_pledge(steps: int, quantity: int, duration: int, pledgeable: int, policy: CreditsPolicy) -> None:
    if not 1 <= steps <= policy.pledge_max_steps:
        raise RuleViolationError(f"a pledge lifts 1 to {policy.pledge_max_steps} grade steps", rule="SC9")
    if not 1 <= quantity <= policy.pledge_max_quantity:
        raise RuleViolationError(f"a pledge covers 1 to {policy.pledge_max_quantity} credits", rule="SC9")
    if not 0 < duration <= policy.pledge_max_duration:
        raise RuleViolationError(f"a pledge lasts at most {policy.pledge_max_duration} s", rule="SC9")
    if pledgeable < quantity:
        raise RuleViolationError(
            f"only credits of grade {policy.pledge_min_grade} or higher can be pledged; the donor holds {pledgeable}",
            rule="SC9",
        )


def check_nomination(
    candidate: str, cosigners: Collection[str], by_council: bool, waiting: bool, policy: CreditsPolicy
) -> None:
    """SC9: a candidate waits for one draw at a time, nominated by a council or by enough co-signers,
    never by themselves."""
    if waiting:
        raise RuleViolationError(f"{candidate} is already a lottery candidate", rule="SC9")
    if by_council:
        if cosigners:
            raise InvalidInputError("a nomination is by co-signers or by a council, not both", rule="SC9")
        return
    need = policy.nomination_cosigners
    if candidate in cosigners:
        raise RuleViolationError("nobody nominates themselves", rule="SC9")
    if len(cosigners) < need:
        raise RuleViolationError(f"a nomination needs {need} co-signers, not {len(cosigners)}", rule="SC9")


def check_second_chance(person: str, applied_before: bool, waiting: bool, best: int, policy: CreditsPolicy) -> None:
    """SC9: once in a life, a person whose best grade is below the policy's bound may apply."""
    if applied_before:
        raise RuleViolationError("the second chance is one-time: this person has already applied", rule="SC9")
    if waiting:
        raise RuleViolationError(f"{person} is already a lottery candidate", rule="SC9")
    if best >= policy.second_chance_below_grade:
        raise RuleViolationError(
            f"a second chance is for persons whose best grade is below {policy.second_chance_below_grade}; "
            f"this person's is {best}",
            rule="SC9",
        )


def check_draw_due(last_draw_at: int | None, now: int, policy: CreditsPolicy) -> None:
    """SC9: draws are periodic, at most one per ``draw_period``."""
    if last_draw_at is not None and now - last_draw_at < policy.draw_period:
        raise RuleViolationError(
            f"draws are periodic: the next is due {policy.draw_period} s after the last", rule="SC9"
        )


def split_pledges(
    pledges: Iterable[tuple[str, Donor, int]], holding: Mapping[Donor, int]
) -> tuple[list[tuple[str, Donor]], list[str]]:
    """SC9: which open pledges a draw may give, and which lapse.

    ``pledges`` are (pledge id, donor, quantity) in id order and ``holding`` the credits each donor
    holds at the pledge's minimum grade. In order, a pledge is valid while its donor still holds
    its quantity beyond the earlier valid ones; it lapses otherwise. Returns the valid (pledge,
    donor) pairs, for ``draw_winners``, and the lapsed pledge ids.
    """
    left = dict(holding)
    valid: list[tuple[str, Donor]] = []
    lapsed: list[str] = []
    for pledge, donor, quantity in pledges:
        if left[donor] >= quantity:
            left[donor] -= quantity
            valid.append((pledge, donor))
        else:
            lapsed.append(pledge)
    return valid, lapsed


def lottery_terms(steps: int, quantity: int, duration: int) -> tuple[Terms, Terms]:
    """SC9: a won pledge as (the winner's uplift, the donor's loan): the uplift is used up as its
    credits are spent and restarts the winner's decay clock; the loan returns at the end."""
    uplift = Terms("lottery", steps, quantity, duration, consumable=True, fresh=True)
    loan = Terms("lottery", -steps, quantity, duration, consumable=False, fresh=False)
    return uplift, loan


# Records and exports ----------------------------------------------------------------------------


def new_record(born_at: int, enrolled_at: int) -> JSONObject:
    """The JSON of a new person's compact record (``state.PersonRecord``), for tools that write records
    directly, such as the evaluation benchmark."""
    return {"born": born_at, "enrolled": enrolled_at, "adj": [], "spends": [], "fresh": []}


def recompute_draws(export_lines: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Recompute every lottery draw from an export's lines (``civic export``), in journal order (SC9).

    For each ``credits.lottery_drawn`` event: the seed must be the one its rules give, and
    ``draw_winners`` on that seed, the draw's pledges and its candidates must give exactly the
    recorded winners (less the pledges that lapsed at the draw). Under rule version 1 the seed is
    the Merkle root of the leaves of every earlier entry; under version 2 (a ``credits.draw_seeded``
    event in the same entry) it is ``kernel.draws.seed_of`` the first signed tree head at or after
    the draw time of its ``credits.lottery_scheduled`` entry (IN6). Returns one row per draw.
    """
    leaves: list[bytes] = []
    heads: list[TreeHead] = []
    scheduled: dict[str, tuple[int, int]] = {}  # draw -> (scheduling entry, draw time)
    rows = []
    for line in export_lines:
        entry = line["entry"]
        seeded: dict[str, Any] | None = None
        for data in entry["events"]:
            kind = data.get("type")
            if kind == "credits.lottery_scheduled":
                scheduled[data["draw"]] = (entry["seq"], data["draw_at"])
            elif kind == "credits.draw_seeded":
                seeded = data
            if kind != "credits.lottery_drawn":
                continue
            if seeded is None:
                seed = root_of(leaves)
            else:
                seed = _scheduled_seed(data["draw"], scheduled.get(data["draw"]), heads)
            pledges = list(zip(data["pledges"], data["donors"], strict=True))
            lapsed = set(data["lapsed"])
            again = [list(w) for w in draw_winners(seed, pledges, data["candidates"]) if w[0] not in lapsed]
            recorded = [[w["pledge"], w["donor"], w["candidate"]] for w in data["winners"]]
            rows.append(
                {
                    "draw": data["draw"],
                    "entry": entry["seq"],
                    "seed_ok": seed.hex() == data["seed"],
                    "winners_ok": again == recorded,
                    "winners": [w[2] for w in again],
                }
            )
        leaves.append(bytes.fromhex(line["leaf_hash"]))
        h = line.get("head")  # lines written without heads recompute rule version 1 draws only
        if h is not None:
            heads.append(TreeHead(int(h["size"]), str(h["root"]), int(h["time"]), str(h["signature"])))
    return rows


def _scheduled_seed(draw: str, when: tuple[int, int] | None, heads: Sequence[TreeHead]) -> bytes:
    """IN6: the seed of a scheduled draw from the heads before its entry (no seed if unscheduled)."""
    if when is None:
        return b""
    entry, draw_at = when
    head = next((h for h in heads[entry + 1 :] if h.signature and h.time >= draw_at), None)
    return b"" if head is None else seed_of(head, "credits.lottery", draw)
