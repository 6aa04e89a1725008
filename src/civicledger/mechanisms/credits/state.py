"""The state of the social credits: one typed record per namespace, and the reads of it (SC1-SC11).

Credits are never a ledger currency (SC3): everything lives in ``uow.records``, under these
namespaces, each bound to its record type by a ``Namespace`` that is its only codec:

=========================  ======================  ==============================================
namespace                  key                     record
=========================  ======================  ==============================================
``credits.person``         person                  ``PersonRecord``: the compact history (SC2-SC8)
``credits.adjustment``     adjustment id           ``AdjustmentRecord``: deciders, evidence (SC6)
``credits.ballot``         ballot id               ``BallotRecord`` (SC5)
``credits.answer``         ballot:person           ``AnswerRecord`` (SC5)
``credits.daily``          person:day              ballots answered that day, an ``int`` (SC5)
``credits.appeal``         appeal id               ``AppealRecord``: panel, votes, status (SC7)
``credits.pledge``         pledge id               ``PledgeRecord`` (SC9)
``credits.candidate``      person                  ``CandidateRecord`` (SC9)
``credits.second_chance``  person                  ``SecondChanceRecord`` (SC9)
``credits.draw``           draw id                 ``DrawRecord`` (SC9)
``credits.lottery``        ``state``               ``LotteryRecord``: the last draw (SC9)
``credits.service``        service id              ``ServiceRecord`` (SC10)
``credits.redemption``     provider:spend          ``RedemptionRecord`` (SC10)
``credits.provider``       provider                ``ProviderTotals`` (SC10)
``credits.vote_term``      person:company          the Gears vote term last counted, an ``int`` (IN2)
=========================  ======================  ==============================================

Every record encodes to exactly the JSON it was always stored as: the state digest and every
existing database depend on it.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from civicledger.kernel import state
from civicledger.kernel.canonical import JSONObject
from civicledger.kernel.errors import InvalidInputError, NotFoundError
from civicledger.kernel.identity import AccountId, Role
from civicledger.kernel.ports import UnitOfWork
from civicledger.kernel.records import Namespace, omitted_when_default
from civicledger.mechanisms.credits import rules
from civicledger.mechanisms.credits.commands import Tier
from civicledger.mechanisms.credits.policy import CreditsPolicy
from civicledger.mechanisms.credits.values import (
    Adjustment,
    AdjustmentId,
    AdjustmentRow,
    AppealStatus,
    CandidateStatus,
    History,
    NotedRow,
    PledgeStatus,
    Spend,
    SpendRow,
    Standing,
)

R = TypeVar("R")

# The records ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PersonRecord:
    """``credits.person``: everything that decides one person's balance and grades at any instant.

    Rows, not objects (``AdjustmentRow``, ``SpendRow``, ``NotedRow``), since every balance query
    reads them; ``history`` and ``history_at`` turn them into the ``History`` the rules evaluate.
    """

    born: int
    enrolled: int
    adj: tuple[AdjustmentRow, ...] = ()
    spends: tuple[SpendRow, ...] = ()
    fresh: tuple[int, ...] = ()  # sorted times that restart the decay clock (SC8)
    noted: tuple[NotedRow, ...] = omitted_when_default(())  # X8; absent until the first one

    def history(self, person: AccountId) -> History:
        """The whole history."""
        return History(
            person,
            self.born,
            self.enrolled,
            tuple(Adjustment.from_row(r) for r in self.adj),
            tuple(Spend.from_row(r) for r in self.spends),
            self.fresh,
            self.noted,
        )

    def history_at(self, person: AccountId, at: int) -> History:
        """The history as far as it can change the standing at ``at``: the fast path of every query."""
        return _history_at(person, at, self.born, self.enrolled, self.adj, self.spends, self.fresh, self.noted)

    def with_adjustment(self, row: AdjustmentRow, fresh: bool) -> PersonRecord:
        """An adjustment added; a ``fresh`` one restarts the decay clock at its start (SC8)."""
        return replace(self, adj=(*self.adj, row), fresh=_insort(self.fresh, row[1]) if fresh else self.fresh)

    def with_noted(self, seq: int, time: int, kind: str) -> tuple[PersonRecord, AdjustmentId]:
        """Participation noted in entry ``seq`` (X8), and its id: ``<seq>.n<k>``, k counting from 0."""
        prefix = f"{seq:010d}."
        adj_id = f"{prefix}n{sum(1 for row in self.noted if row[0].startswith(prefix))}"
        return replace(self, noted=(*self.noted, (adj_id, time, kind)), fresh=_insort(self.fresh, time)), adj_id

    def with_spend(self, row: SpendRow) -> PersonRecord:
        return replace(self, spends=(*self.spends, row))

    def cut_short(self, adjustment: AdjustmentId, at: int) -> PersonRecord:
        """An overturned adjustment ends at the decision (SC7)."""
        return replace(self, adj=tuple(_ending_by(r, at) if r[0] == adjustment else r for r in self.adj))


def _ending_by(row: AdjustmentRow, at: int) -> AdjustmentRow:
    adj_id, start, end, steps, quantity, consumable, kind = row
    return adj_id, start, min(end, at), steps, quantity, consumable, kind


def _insort(times: tuple[int, ...], time: int) -> tuple[int, ...]:
    out = list(times)
    bisect.insort(out, time)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class AdjustmentRecord:
    """``credits.adjustment``: who decided an adjustment, on what evidence, and its appeals (SC6, SC7).

    A participation noted by Gears (``source`` "gears", X8) takes its effect from the policy when
    evaluated: its ``steps``, ``quantity``, ``end``, ``scheduled_end`` and ``consumable`` are null.
    """

    person: AccountId
    kind: str
    source: str  # participation | decision | direct-democracy | lottery-uplift | lottery-pledge | gears
    steps: int | None
    quantity: int | None
    start: int
    end: int | None  # an overturn (SC7) moves it to the decision
    scheduled_end: int | None
    consumable: bool | None
    fresh: bool
    deciders: tuple[AccountId, ...]
    council: AccountId | None
    evidence: str
    reason: str
    entry: int
    appeals: tuple[str, ...]
    overturned_by: str | None

    def overturned(self, appeal: str, at: int) -> AdjustmentRecord:
        """Cut short at the decision of ``appeal`` (SC7)."""
        assert self.end is not None, "only decided adjustments, which have an end, are appealed"
        return replace(self, end=min(self.end, at), overturned_by=appeal)


@dataclass(frozen=True, slots=True)
class BallotRecord:
    """``credits.ballot``: a direct-democracy ballot and the SHA-256 of its comprehension answers (SC5)."""

    question: str
    answer_key: str
    operator: AccountId
    opened_at: int


@dataclass(frozen=True, slots=True)
class AnswerRecord:
    """``credits.answer``: one person's participation in one ballot (SC5)."""

    at: int
    seconds: int


@dataclass(frozen=True, slots=True)
class AppealRecord:
    """``credits.appeal``: the panel drawn from the seed, its votes so far and the outcome (SC7)."""

    adjustment: AdjustmentId
    person: AccountId
    appellant: AccountId
    grounds: str
    seed: str
    technocrats: tuple[AccountId, ...]
    jurors: tuple[AccountId, ...]
    votes: dict[AccountId, bool]  # member -> overturn
    status: AppealStatus
    filed_at: int
    entry: int
    decided_at: int | None
    draw_at: int | None = omitted_when_default()  # rules 2: the panel's seed is a head from then on (IN6)
    deadline: int | None = omitted_when_default()  # rules 2: not decided by then, it lapses (IN7)

    @property
    def panel(self) -> tuple[AccountId, ...]:
        return (*self.technocrats, *self.jurors)


@dataclass(frozen=True, slots=True)
class PledgeRecord:
    """``credits.pledge``: an uplift a donor pledged to the civic lottery (SC9)."""

    donor: AccountId
    steps: int
    quantity: int
    duration: int
    status: PledgeStatus
    pledged_at: int
    draw: str | None
    winner: AccountId | None


@dataclass(frozen=True, slots=True)
class CandidateRecord:
    """``credits.candidate``: a lottery candidate, nominated or applying for the second chance (SC9)."""

    route: str  # nominated | second-chance
    reason: str
    nominators: tuple[AccountId, ...]
    council: AccountId | None
    since: int
    entry: int
    status: CandidateStatus
    draw: str | None


@dataclass(frozen=True, slots=True)
class SecondChanceRecord:
    """``credits.second_chance``: when a person used their one second chance (SC9)."""

    at: int
    entry: int


@dataclass(frozen=True, slots=True)
class DrawRecord:
    """``credits.draw``: what a draw drew from and whom, recomputable from its seed (SC9)."""

    seed: str
    pledges: tuple[str, ...]
    donors: tuple[AccountId, ...]
    candidates: tuple[AccountId, ...]
    winners: tuple[tuple[str, AccountId, AccountId], ...]  # [pledge, donor, candidate]
    lapsed: tuple[str, ...]
    at: int
    entry: int


@dataclass(frozen=True, slots=True)
class LotteryRecord:
    """``credits.lottery`` under ``state``: the last draw, from which the next is due (SC9)."""

    last_draw_at: int
    last_draw: str
    pending: str | None = omitted_when_default()  # rules 2: a scheduled draw not yet drawn (IN6)


@dataclass(frozen=True, slots=True)
class ScheduledDraw:
    """``credits.scheduled_draw``: a draw scheduled under rules 2, with what it draws from (IN6)."""

    draw_at: int
    pledges: tuple[str, ...]
    donors: tuple[AccountId, ...]
    candidates: tuple[AccountId, ...]
    lapsed: tuple[str, ...]
    entry: int
    deciders: tuple[AccountId, ...]
    council: AccountId | None


@dataclass(frozen=True, slots=True)
class ServiceRecord:
    """``credits.service``: a provider's service and its tiers; ``version`` counts registrations (SC10)."""

    provider: AccountId
    category: str
    essential: bool
    name: str
    tiers: tuple[Tier, ...]
    version: int
    entry: int


@dataclass(frozen=True, slots=True)
class RedemptionRecord:
    """``credits.redemption``: one spend as its provider redeems it (SC10)."""

    person: AccountId
    service: str
    tier: str
    units: int
    by_grade: dict[str, int]
    at: int
    entry: int


@dataclass(frozen=True, slots=True)
class ProviderTotals:
    """``credits.provider``: credits redeemed by one provider, and in how many spends (SC10)."""

    units: int
    spends: int


# The namespaces ------------------------------------------------------------------------------


class _PersonNamespace(Namespace[PersonRecord]):
    """``credits.person``, decoded by hand: its rows are JSON arrays of mixed types, which the generic
    codec does not decode, and every balance query decodes it. The record's fields and the length
    of every row are checked; a row's elements are taken as the projectors wrote them, since
    checking the type of each would cost as much as evaluating the standing.
    """

    def __init__(self) -> None:
        super().__init__("credits.person", PersonRecord)

    def decode(self, data: object, key: str = "") -> PersonRecord:
        try:
            if not isinstance(data, dict) or not data.keys() <= _PERSON_FIELDS:
                raise ValueError(f"unknown field(s) in {data!r}")
            born, enrolled = data["born"], data["enrolled"]
            if type(born) is not int or type(enrolled) is not int:
                raise ValueError("born and enrolled are whole numbers")
            return PersonRecord(
                born,
                enrolled,
                _rows(data["adj"], 7),
                tuple(map(_spend_row, data["spends"])),
                tuple(data["fresh"]),
                _rows(data["noted"], 3) if "noted" in data else (),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise InvalidInputError(f"{self.name}/{key}: {e}", rule="X5") from e

    def history_at(self, data: object, key: str, at: int) -> History:
        """``decode(data).history_at(key, at)`` without building the record (the rows are read as
        stored): the fast path of ``evaluate_all``, which reads every person."""
        if not isinstance(data, dict) or not data.keys() <= _PERSON_FIELDS:
            return self.decode(data, key).history_at(AccountId(key), at)  # names what is wrong
        born, enrolled = data.get("born"), data.get("enrolled")
        if type(born) is not int or type(enrolled) is not int:
            return self.decode(data, key).history_at(AccountId(key), at)
        return _history_at(
            AccountId(key), at, born, enrolled, data["adj"], data["spends"], data["fresh"], data.get("noted", ())
        )

    def encode(self, value: PersonRecord) -> JSONObject:
        """By hand too, as the mirror of ``decode``: rows of plain values become JSON arrays as they are."""
        data: JSONObject = {
            "born": value.born,
            "enrolled": value.enrolled,
            "adj": [list(row) for row in value.adj],
            "spends": [[spend, time, units, [list(u) for u in used]] for spend, time, units, used in value.spends],
            "fresh": list(value.fresh),
        }
        if value.noted:
            data["noted"] = [list(row) for row in value.noted]
        return data


_PERSON_FIELDS = frozenset({"born", "enrolled", "adj", "spends", "fresh", "noted"})


def _history_at(
    person: AccountId,
    at: int,
    born: int,
    enrolled: int,
    adj: Sequence[Sequence[Any]],
    spends: Sequence[Sequence[Any]],
    fresh: Sequence[int],
    noted: Sequence[Sequence[Any]],
) -> History:
    """The history as far as it can change the standing at ``at``, from a person record's rows
    (decoded, or as stored: ``evaluate_all`` reads them without building the record).

    Adjustments not active at ``at`` and spends after it cannot change the result, so they are
    skipped before any object is built, and spends fold into one (only their totals matter).
    """
    noted_now: tuple[NotedRow, ...] = tuple((n[0], n[1], n[2]) for n in noted if n[1] <= at)
    rows = [r for r in spends if r[1] <= at]
    spent: tuple[Spend, ...]
    if noted_now:  # noted participation needs each spend's time (its portion is of the credits then)
        spent = tuple(Spend.from_row(_spend_row(r)) for r in rows)
    else:
        total = 0
        consumed: dict[str, int] = {}
        for _, _, units, used in rows:
            total += units
            for adj_id, n in used:
                consumed[adj_id] = consumed.get(adj_id, 0) + n
        spent = (Spend("", at, total, tuple(consumed.items())),) if total else ()
    active = tuple(Adjustment.from_row(r) for r in adj if r[1] <= at < r[2])  # type: ignore[arg-type]
    return History(person, born, enrolled, active, spent, tuple(fresh), noted_now)


def _rows(rows: Any, length: int) -> Any:
    """JSON arrays of ``length`` elements each, as tuples."""
    out = tuple(map(tuple, rows))
    if out and set(map(len, out)) != {length}:
        raise ValueError(f"rows of {length} elements expected, not {rows!r}")
    return out


def _spend_row(row: Any) -> SpendRow:
    spend, time, units, used = row
    return spend, time, units, _rows(used, 2) if used else ()


PERSONS = _PersonNamespace()
ADJUSTMENTS = Namespace("credits.adjustment", AdjustmentRecord)
BALLOTS = Namespace("credits.ballot", BallotRecord)
ANSWERS = Namespace("credits.answer", AnswerRecord)
DAILY_ANSWERS = Namespace("credits.daily", int)
APPEALS = Namespace("credits.appeal", AppealRecord)
PLEDGES = Namespace("credits.pledge", PledgeRecord)
CANDIDATES = Namespace("credits.candidate", CandidateRecord)
SECOND_CHANCES = Namespace("credits.second_chance", SecondChanceRecord)
DRAWS = Namespace("credits.draw", DrawRecord)
LOTTERY = Namespace("credits.lottery", LotteryRecord)
SCHEDULED_DRAWS = Namespace("credits.scheduled_draw", ScheduledDraw)
SERVICES = Namespace("credits.service", ServiceRecord)
REDEMPTIONS = Namespace("credits.redemption", RedemptionRecord)
PROVIDERS = Namespace("credits.provider", ProviderTotals)
VOTE_TERMS = Namespace("credits.vote_term", int)

LOTTERY_KEY = "state"


def answer_key(ballot: str, person: AccountId) -> str:
    return f"{ballot}:{person}"


def daily_key(person: AccountId, day: int) -> str:
    return f"{person}:{day:08d}"


def vote_term_key(person: AccountId, company: str) -> str:
    return f"{person}:{company}"


def redemption_key(provider: AccountId, spend: str) -> str:
    return f"{provider}:{spend}"


def require(namespace: Namespace[R], uow: UnitOfWork, key: str, rule: str = "SC11") -> R:
    """A record that must exist (an id named by a command, or one an earlier event wrote)."""
    found = namespace.get(uow, key)
    if found is None:
        raise NotFoundError(f"no {namespace.name.removeprefix('credits.')} {key}", rule=rule)
    return found


# Policy and allocation -----------------------------------------------------------------------

DEFAULT_ALLOCATION = CreditsPolicy().annual_allocation


Versions = tuple[tuple[int, CreditsPolicy], ...]
"""The credits section of every policy version, from the time it took effect, oldest first (X7)."""


def credits_policy(uow: UnitOfWork) -> CreditsPolicy:
    return _settings(uow)[0]


def allocation_schedule(uow: UnitOfWork) -> rules.Schedule:
    """The annual allocation of every policy version, from the time it took effect (X7)."""
    return _settings(uow)[1]


def _in_force(versions: Versions, current: CreditsPolicy, at: int) -> CreditsPolicy:
    chosen = versions[0][1] if versions else current
    for effective_at, policy in versions:
        if effective_at <= at:
            chosen = policy
        else:
            break
    return chosen


def policy_in_force(uow: UnitOfWork, at: int) -> CreditsPolicy:
    """The credits policy in force at ``at`` (X7, IN8): a change applies from its entry onward."""
    policy, _, versions = _settings(uow)
    return _in_force(versions, policy, at)


def effects_at(uow: UnitOfWork) -> rules.EffectsAt:
    """The participation table in force at any instant (X7, IN8), for ``rules.standing``."""
    policy, _, versions = _settings(uow)
    return lambda at: _in_force(versions, policy, at).participation


def rules_version(uow: UnitOfWork, at: int) -> int:
    """The rule version in force at ``at`` (IN8); version 1 for a store with no economy yet."""
    info = state.economy_info(uow)
    return 1 if info is None else info.rules_at(at)


_SETTINGS: dict[tuple[str, int, int, str], tuple[CreditsPolicy, rules.Schedule, Versions]] = {}


def _settings(uow: UnitOfWork) -> tuple[CreditsPolicy, rules.Schedule, Versions]:
    """The credits policy in force and the allocation schedule, cached per economy and policy version.

    A policy version never changes once written, so (economy id, version, effective time, credits
    section) names what matters here; the cache spares every query decoding and hashing the whole
    policy and its history again.
    """
    info: state.InfoRecord | None = uow.records.get("economy", "info")
    record: state.PolicyRecord | None = uow.records.get("economy", "policy")
    if info is None or record is None:
        return state.current_policy(uow).section(CreditsPolicy), ((0, DEFAULT_ALLOCATION),), ()
    # Identical genesis commands give identical economy ids (tests, demos), so the credits section
    # itself is part of the key, not only the version that set it.
    credits_section = json.dumps(record["policy"].get("credits"), sort_keys=True)
    key = (str(info["id"]), int(record["version"]), int(record["effective_at"]), credits_section)
    found = _SETTINGS.get(key)
    if found is None:
        schedule: list[tuple[int, int]] = []
        versions: list[tuple[int, CreditsPolicy]] = []
        for version in state.policy_versions(uow):
            section = version["policy"].get("credits", {})
            allocation = section.get("annual_allocation", DEFAULT_ALLOCATION) if isinstance(section, dict) else None
            if not isinstance(allocation, int | str):  # a policy version is checked when it is set (X7)
                raise InvalidInputError(f"policy version {version['version']}: malformed credits section", rule="X7")
            annual = int(allocation)
            if not schedule or schedule[-1][1] != annual:
                schedule.append((int(version["effective_at"]), annual))
            at = int(version["effective_at"])
            versions.append((at, state.policy_at(uow, at).section(CreditsPolicy)))
        found = (
            state.current_policy(uow).section(CreditsPolicy),
            tuple(schedule) or ((0, DEFAULT_ALLOCATION),),
            tuple(versions),
        )
        if len(_SETTINGS) > 256:
            _SETTINGS.clear()
        _SETTINGS[key] = found
    return found


# Persons and their standing (SC1, SC2, SC4, SC8) ----------------------------------------------


def history(uow: UnitOfWork, person: AccountId) -> History | None:
    record = PERSONS.get(uow, person)
    return None if record is None else record.history(person)


def require_history(uow: UnitOfWork, person: AccountId) -> History:
    found = history(uow, person)
    if found is None:
        raise NotFoundError(
            f"{person} is not enrolled in social credits (a registrar records the birth date)", rule="SC1"
        )
    return found


def standing_of(uow: UnitOfWork, person: AccountId, at: int, policy: CreditsPolicy | None = None) -> Standing:
    """Balance and grades of one person at any instant; no batch job needed (SC4, SC8)."""
    data = uow.records.get(PERSONS.name, person)
    if data is None:
        raise NotFoundError(f"{person} is not enrolled in social credits", rule="SC1")
    pol, schedule, effects = evaluation(uow, at)
    return rules.standing(PERSONS.history_at(data, person, at), at, policy or pol, schedule, effects)


def evaluate_all(uow: UnitOfWork, at: int) -> Iterator[Standing]:
    """Every enrolled person's standing at ``at``, in one pass over the compact records."""
    policy, schedule, effects = evaluation(uow, at)
    for person, data in uow.records.scan(PERSONS.name):
        yield rules.standing(PERSONS.history_at(data, person, at), at, policy, schedule, effects)


def evaluation(uow: UnitOfWork, at: int) -> tuple[CreditsPolicy, rules.Schedule, rules.EffectsAt | None]:
    """What a standing at ``at`` is computed with. Rule version 1: the policy in force now. From
    rule version 2 (X7, IN8): the policy in force at ``at`` (grades, decay), and for participation
    noted earlier, the effect of its own time."""
    policy, schedule, versions = _settings(uow)
    if rules_version(uow, at) < 2:
        return policy, schedule, None
    return _in_force(versions, policy, at), schedule, lambda t: _in_force(versions, policy, t).participation


# Appeals and draws (SC7, SC9) ----------------------------------------------------------------


def enrolled(uow: UnitOfWork) -> list[AccountId]:
    """Every enrolled person, in id order (the records' keys only: none is decoded)."""
    return [AccountId(k) for k, _ in uow.records.scan(PERSONS.name)]


def enrolled_by(uow: UnitOfWork, at: int) -> list[AccountId]:
    """Every person enrolled at or before ``at``, in id order: the jurors a panel requested then is
    drawn from (IN6: nobody enrolled after the request can join its draw)."""
    found = []
    for key, data in uow.records.scan(PERSONS.name):
        enrolled_at = data.get("enrolled") if isinstance(data, dict) else None
        if isinstance(enrolled_at, int) and enrolled_at <= at:
            found.append(AccountId(key))
    return found


def journal_seed(uow: UnitOfWork) -> bytes:
    """The tree root of the journal before the current entry: the seed of every draw."""
    return uow.journal.head().frontier.root()


def technocrats(uow: UnitOfWork) -> list[AccountId]:
    return [a.id for a in uow.accounts.scan() if Role.TECHNOCRAT in a.roles]


def open_appeal(uow: UnitOfWork, adjustment: AdjustmentRecord) -> str | None:
    """The appeal on ``adjustment`` still waiting for its panel's majority, if any (SC7)."""
    return next((a for a in adjustment.appeals if require(APPEALS, uow, a).status in ("open", "drawing")), None)


def open_pledges(uow: UnitOfWork) -> list[tuple[str, PledgeRecord]]:
    """Pledges not yet drawn or lapsed, in id order (SC9)."""
    return [(k, v) for k, v in PLEDGES.scan(uow) if v.status == "open"]


def is_waiting(uow: UnitOfWork, person: AccountId) -> bool:
    """Whether ``person`` is a lottery candidate still waiting for a draw (SC9)."""
    found = CANDIDATES.get(uow, person)
    return found is not None and found.status == "waiting"


def waiting_candidates(uow: UnitOfWork) -> list[AccountId]:
    return sorted(AccountId(k) for k, v in CANDIDATES.scan(uow) if v.status == "waiting")
