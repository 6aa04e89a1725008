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
"""

from __future__ import annotations

import bisect
import hashlib
import re
from collections.abc import Iterable, Sequence
from typing import Any

from civicledger.kernel.errors import InsufficientFundsError, InvalidInputError, RuleViolationError
from civicledger.kernel.identity import AccountId
from civicledger.kernel.merkle import root_of
from civicledger.kernel.time import DAY, YEAR
from civicledger.mechanisms.credits.commands import Tier
from civicledger.mechanisms.credits.policy import CreditsPolicy, ParticipationEffect
from civicledger.mechanisms.credits.values import Adjustment, History, Lot, Spend, Standing

Schedule = tuple[tuple[int, int], ...]
"""Annual allocations in force: (from instant, credits a year), sorted by instant (X7)."""

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


def standing(history: History, at: int, policy: CreditsPolicy, schedule: Schedule | None = None) -> Standing:
    """What ``history`` means at ``at``: quantities and graded lots (a pure function, SC4/SC11)."""
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
        adjustments = adjustments + noted_adjustments(history, policy, schedule)
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


def noted_adjustments(history: History, policy: CreditsPolicy, schedule: Schedule) -> tuple[Adjustment, ...]:
    """X8: participation noted by another mechanism (a Gears vote, whistleblowing) as adjustments.

    The effect of its kind comes from the policy, the portion from the credits available when it
    was noted; a kind the policy does not list has no effect.
    """
    out = []
    for adj_id, time, kind in history.noted:
        effect = policy.participation.get(kind)
        if effect is None:
            continue
        spent = sum(s.units for s in history.spends if s.time <= time)
        quantity = effect_quantity(effect, accrued(history.born_at, time, schedule) - spent)
        steps = -effect.steps if effect.penalty else effect.steps
        out.append(Adjustment(adj_id, time, time + effect.duration, steps, quantity, steps > 0 and quantity > 0, kind))
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


def participation_effect(kind: str, policy: CreditsPolicy) -> ParticipationEffect:
    effect = policy.participation.get(kind)
    if effect is None:
        kinds = ", ".join(sorted(policy.participation))
        raise InvalidInputError(f"{kind!r} is not a participation kind of the policy ({kinds})", rule="SC5")
    return effect


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


# The compact per-person record -----------------------------------------------------------------


def history_from_record(person: str, data: dict[str, Any]) -> History:
    return History(
        AccountId(person),
        int(data["born"]),
        int(data["enrolled"]),
        tuple(Adjustment.from_row(r) for r in data["adj"]),
        tuple(Spend.from_row(r) for r in data["spends"]),
        tuple(data["fresh"]),
        tuple((str(i), int(t), str(k)) for i, t, k in data.get("noted", ())),
    )


def standing_from_record(
    person: str, data: dict[str, Any], at: int, policy: CreditsPolicy, schedule: Schedule | None = None
) -> Standing:
    """``standing`` straight from the compact record, building only what can matter at ``at``.

    Adjustments not active at ``at`` and spends after it cannot change the result, so they are
    skipped before any object is built: this is the fast path of every balance-and-grades query.
    """
    noted = tuple((str(i), int(t), str(k)) for i, t, k in data.get("noted", ()) if t <= at)
    rows = [r for r in data["spends"] if r[1] <= at]
    if noted:  # noted participation needs each spend's time (its portion is of the credits then)
        spends = tuple(Spend.from_row(r) for r in rows)
    else:  # only the totals matter: one aggregate spend
        total = 0
        consumed: dict[str, int] = {}
        for r in rows:
            total += int(r[2])
            for adj_id, n in r[3]:
                consumed[adj_id] = consumed.get(adj_id, 0) + int(n)
        spends = (Spend("", at, total, tuple(consumed.items())),) if total else ()
    history = History(
        AccountId(person),
        int(data["born"]),
        int(data["enrolled"]),
        tuple(Adjustment.from_row(r) for r in data["adj"] if r[1] <= at < r[2]),
        spends,
        tuple(data["fresh"]),
        noted,
    )
    return standing(history, at, policy, schedule)


def new_record(born_at: int, enrolled_at: int) -> dict[str, Any]:
    return {"born": born_at, "enrolled": enrolled_at, "adj": [], "spends": [], "fresh": []}


def recompute_draws(export_lines: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Recompute every lottery draw from an export's lines (``civic export``), in journal order (SC9).

    For each ``credits.lottery_drawn`` event: the seed must be the Merkle root of the leaves of
    every earlier entry, and ``draw_winners`` on that seed, the draw's pledges and its candidates
    must give exactly the recorded winners. Returns one row per draw with both checks.
    """
    leaves: list[bytes] = []
    rows = []
    for line in export_lines:
        entry = line["entry"]
        for data in entry["events"]:
            if data.get("type") != "credits.lottery_drawn":
                continue
            seed = root_of(leaves)
            pledges = list(zip(data["pledges"], data["donors"], strict=True))
            again = [list(w) for w in draw_winners(seed, pledges, data["candidates"])]
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
    return rows
