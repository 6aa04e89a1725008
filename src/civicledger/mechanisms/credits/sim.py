"""Social credits in the simulator (SC2-SC5, SC7-SC10, X8): the sector and its vectorised rules.

Credits accrue from birth (SC2); participation and infractions are adjustments of the policy's
kinds (``citizens_council``, ``infraction``, SC4, SC5) kept in a small ring per person
(``credit_slots``); an overturned appeal ends a penalty at the decision (SC7); decay follows SC8;
spending takes a service tier's price, lowest qualifying grade first (SC10); the civic lottery
matches pledges to second-chance candidates with the domain's ``draw_winners`` (SC9). A person's
credits form the domain's lots (``lots``), built for the persons a step reads.

Each vectorised function here is the form of one rule of ``civicledger.mechanisms.credits.rules``
over whole arrays and says which; ``tests/unit/test_sim_rules.py`` and
``tests/unit/test_sim_credits.py`` prove each equal to the scalar rule, element by element. The
hottest walks (a person's lots, the grade table, an adjustment's writes, spending) run compiled,
one loop per person (``credits.kernels``); their NumPy forms stay here as twins
(``standing_numpy``, ``by_grade_numpy``, ``_adjust_numpy``, ``spend_numpy``), proven equal to the
kernels in ``tests/unit/test_sim_kernels.py``.

X8: an act of participation another sector reports (``Sector.participation``: a Gears vote is
``"gears_vote"``) restarts the decay clock (SC8) and has the effect the credits policy gives its
kind.

IN2: with the parameter ``participation_caps`` = 1 the sector counts participation as rule version
2 does, for the bounds it can see: per kind, at most ``participation_cap`` (or the kind's
``participation_caps``) counted in a rolling year, and never more steps of one kind active at once
than ``grade_max - base_grade - 1`` (``rules.cap_refusal``); participation beyond them has no effect
and does not restart decay. It does not model Gears' null votes (re-casts, neutral votes on
companies never judged, votes right after the test): a simulated voter holds one vote at a time
and its votes carry no test time. With 0 (the default) it grades as rule version 1.

SC9 nominations: with the parameter ``nomination_rate`` above 0 (the default 0 draws nothing and
writes no column) a ``nomination_rate`` share of verified persons are nominated each step by the
policy's ``nomination_cosigners`` co-signers drawn at random, and join the draw's candidates where
``nominations_valid`` (``rules.check_nomination`` over whole arrays) accepts them: not already
waiting, no co-signer nominating themselves, as many distinct co-signers as policy asks, each a
verified person able to sign (X9). A nominee has no grade bound and may be nominated again after a
draw; the columns ``nominations`` and ``nominations_refused`` count them. With
``council_nomination_rate`` above 0, that share of verified persons are nominated each step by a
council's decision (``council_nominations_valid``: refused only while already waiting), counted in
``council_nominations`` and ``council_nominations_refused``.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, overload

import numpy as np
from numpy.typing import NDArray

from civicledger.kernel.policy import Policy
from civicledger.kernel.time import YEAR
from civicledger.mechanisms.credits import kernels
from civicledger.mechanisms.credits import rules as credit_rules
from civicledger.mechanisms.credits.kernels import ring_sums
from civicledger.mechanisms.credits.policy import CreditsPolicy, ParticipationEffect
from civicledger.sim.draws import SETUP
from civicledger.sim.rules import distinct, repeats
from civicledger.sim.sector import Problem, Row, Sector

I64 = NDArray[np.int64]

GROUPED_FROM = 20_000
"""``standing`` walks this many persons or more in groups by their number of active adjustments
(less work per person); fewer in one walk (fewer NumPy calls, which is what few persons cost)."""

TABLE_BLOCK = 262_144
"""Persons per block of the grade table a recorded row reduces (``CreditsSector.record``)."""

RING = 8  # default credit adjustments remembered per person (parameter credit_slots); a ninth *active*
# one replaces the one ending first, counted in ``credit_slot_overflows``


def ring_record(slots: int) -> np.dtype[np.void]:
    """One person's ring of ``slots`` adjustments as one record (SC4, SC5, IN2): when each ends,
    its order applied, its quantity (0: the whole balance) and what spending consumed of it, its
    steps, whether it is consumable, its kind. The widest fields first, so each stays aligned."""
    return np.dtype(
        [
            ("end", np.int64, (slots,)),
            ("seq", np.int32, (slots,)),
            ("quantity", np.int32, (slots,)),
            ("consumed", np.int32, (slots,)),
            ("steps", np.int8, (slots,)),
            ("consumable", np.bool_, (slots,)),
            ("kind", np.int8, (slots,)),
        ]
    )


def fits(value: int, dtype: type[np.signedinteger[Any]], what: str) -> None:
    """Refuse a value beyond the narrow type an array keeps it in, rather than let it wrap."""
    if value > np.iinfo(dtype).max:
        raise OverflowError(f"{what} ({value:,}) beyond {np.dtype(dtype).name}: widen the simulator's arrays")


# Vectorised rules ------------------------------------------------------------------------------


def credits_accrued(born_at: I64, at: int, annual: int) -> I64:
    """SC2 for a flat allocation: floor(annual x (at - born) / YEAR), 0 before birth."""
    elapsed = np.maximum(at - born_at, 0)
    return (elapsed * annual) // YEAR


def decay_steps(elapsed: I64, window: int, step: int) -> I64:
    """SC8: no step within ``window`` of the last fresh time, then one per full ``step``."""
    over = elapsed - window
    return np.where(over > 0, over // step, 0)


def grade_after_decay(grade: I64, steps: I64, base: int) -> I64:
    """SC8: grades above base fall one step per decay step, never below base."""
    lost = np.where(grade > base, np.minimum(steps, grade - base), 0)
    return grade - lost


# Social credit lots (SC4, SC8, SC10) ------------------------------------------------------------


def effect_quantity(portion_percent: int, available: I64) -> I64:
    """SC5's ``effect_quantity`` over an array: 0 (whole balance) or the portion, at least 1."""
    if portion_percent >= 100:
        return np.zeros(available.shape, np.int64)
    return np.maximum(1, available * portion_percent // 100)


def _lot_id_keys(columns: int) -> I64:
    """For every bitmask of adjustment positions, its rank among the positions' tuples as Python orders them.

    The domain orders lots of one grade by the tuple of their adjustment ids (in the order applied,
    which is the ids' order); tuples compare element by element and a prefix comes first.
    """
    masks = range(1 << columns)
    tuples = [tuple(p for p in range(columns) if mask >> p & 1) for mask in masks]
    ranks = np.empty(1 << columns, np.int64)
    for rank, mask in enumerate(sorted(masks, key=lambda k: tuples[k])):
        ranks[mask] = rank
    return ranks


_ID_KEYS: dict[int, I64] = {}


def lots(
    available: I64,
    steps: I64,
    quantity: NDArray[np.signedinteger[Any]],
    left: NDArray[np.signedinteger[Any]],
    decay: I64,
    grade_min: int,
    grade_max: int,
    base: int,
) -> tuple[I64, I64, I64]:
    """``credits.rules.standing``'s lots for many persons at once (SC4, SC8).

    Row r is one person: ``available`` (accrued - spent) credits at the base grade, then the
    person's *active* adjustments in the order applied (columns; a column with ``steps`` 0 is
    none): a whole-balance one (``quantity`` 0) moves every lot; a quantity one moves ``left`` of
    its credits (its quantity less what spending consumed, for a consumable raise), lowest grades
    first for a raise and highest first for a reduction, ties by the lot's place in the list,
    splitting at most one lot (the new lot goes last); grades are clamped after each. Then ``decay``
    steps lower every lot above base, never below it. Returns (grade, units, mask) of shape
    (rows, columns + 1): a lot's bit j is set when adjustment j shaped it; lots with 0 units are
    not lots.
    """
    m, j_count = steps.shape
    width = j_count + 1
    grade = np.full((m, width), base, np.int64)
    units = np.zeros((m, width), np.int64)
    mask = np.zeros((m, width), np.int64)
    units[:, 0] = np.maximum(available, 0)
    count = (available > 0).astype(np.int64)
    place = np.arange(width, dtype=np.int64)
    for j in range(j_count):
        valid = place[None, :] < count[:, None]
        st = steps[:, j]
        active = (st != 0) & (count > 0)
        whole = active & (quantity[:, j] == 0)
        if whole.any():
            sel = whole[:, None] & valid
            grade = np.where(sel, np.clip(grade + st[:, None], grade_min, grade_max), grade)
            mask = np.where(sel, mask | (1 << j), mask)
        part = active & (quantity[:, j] > 0) & (left[:, j] > 0)
        if not part.any():
            continue
        rows = np.flatnonzero(part)
        g, u, v = grade[rows], units[rows], valid[rows]
        sign = np.where(st[rows] > 0, 1, -1)
        key = np.where(v, sign[:, None] * g * width + place[None, :], np.iinfo(np.int64).max)
        order = np.argsort(key, axis=1, kind="stable")
        us = np.take_along_axis(u * v, order, axis=1)
        before = np.cumsum(us, axis=1) - us
        taken_sorted = np.clip(left[rows, j][:, None] - before, 0, us)
        take = np.empty_like(taken_sorted)
        np.put_along_axis(take, order, taken_sorted, axis=1)
        moved = np.clip(g + st[rows][:, None], grade_min, grade_max)
        full = (take > 0) & (take == u)
        split = (take > 0) & (take < u)
        bit = np.int64(1) << j
        grade[rows] = np.where(full, moved, g)
        mask[rows] = np.where(full, mask[rows] | bit, mask[rows])
        units[rows] = u - np.where(split, take, 0)
        has = split.any(axis=1)
        if has.any():
            r2 = rows[has]
            col = np.argmax(split[has], axis=1)
            new = count[r2]
            grade[r2, new] = moved[has, col]
            units[r2, new] = take[has, col]
            mask[r2, new] = mask[r2, col] | bit
            count[r2] += 1
    lost = np.where(grade > base, np.minimum(decay[:, None], grade - base), 0)
    return grade - lost, units, mask


def choose_credits(
    grade: I64, units: I64, mask: I64, available: I64, min_grade: I64, price: I64
) -> tuple[NDArray[np.bool_], I64]:
    """``credits.rules.choose_credits`` for many persons at once (SC2, SC10).

    ``price`` credits of grade >= ``min_grade``, lowest qualifying grade first, lots of one grade in
    the order of their adjustments' ids (as the domain sorts them). Returns (allowed, taken per lot);
    a refused row (SC2: fewer available than the price; SC10: fewer qualifying) takes nothing.
    """
    columns = max(1, int(mask.max()).bit_length()) if mask.size else 1
    if columns not in _ID_KEYS:
        _ID_KEYS[columns] = _lot_id_keys(columns)
    ids = _ID_KEYS[columns]
    qualifying = (units > 0) & (grade >= min_grade[:, None])
    have = (units * qualifying).sum(axis=1)
    ok = (available >= price) & (have >= price) & (price > 0)
    span = int(ids.max()) + 1
    key = np.where(qualifying, grade * span + ids[mask], np.iinfo(np.int64).max)
    order = np.argsort(key, axis=1, kind="stable")
    us = np.take_along_axis(units * qualifying, order, axis=1)
    before = np.cumsum(us, axis=1) - us
    taken_sorted = np.clip(np.where(ok, price, 0)[:, None] - before, 0, us)
    taken = np.empty_like(taken_sorted)
    np.put_along_axis(taken, order, taken_sorted, axis=1)
    return ok, taken


def used_by_adjustment(taken: I64, mask: I64, columns: int) -> I64:
    """Per adjustment column, the credits taken from lots it shaped (``choose_credits``'s ``used``).

    Only the lots something was taken from are read (a spend takes from one lot or two of a row's
    several), each spread over its mask's bits."""
    out: I64 = np.zeros((taken.shape[0], columns), np.int64)
    row, lot = np.nonzero(taken)
    if row.size:
        bits = (mask[row, lot][:, None] >> np.arange(columns, dtype=np.int64)[None, :]) & 1
        k, column = np.nonzero(bits)
        np.add.at(out, (row[k], column), taken[row, lot][k])
    return out


def spend_numpy(
    persons: I64,
    lots: tuple[I64, I64, I64, I64, I64],
    min_grade: I64,
    price: I64,
    consumable: NDArray[np.bool_],
    consumed: NDArray[np.int32],
) -> NDArray[np.bool_]:
    """``kernels.spend`` over whole arrays (``choose_credits``, ``used_by_adjustment``), its twin,
    kept for its checks: distinct ``persons`` buy ``price`` from their lots (SC10), and the
    consumable raises they take from grow ``consumed``. Returns which were allowed."""
    grade, units, mask, slots, available = lots
    ok, taken = choose_credits(grade, units, mask, available, min_grade, price)
    used = used_by_adjustment(taken, mask, slots.shape[1])
    rows, cols = np.nonzero(used)
    ring = slots[rows, cols]
    eats = consumable[persons[rows], ring]
    np.add.at(consumed, (persons[rows][eats], ring[eats]), used[rows, cols][eats])
    return ok


def draw_winners(
    seed: bytes, valid: Sequence[tuple[str, str]], candidates: list[str]
) -> tuple[tuple[str, str, str], ...]:
    """``credits.rules.draw_winners`` (SC9) for pledges listed in the order of their ids.

    The domain matches pledges in id order; when the first ``len(candidates)`` of them match every
    candidate, the later ones match nobody, so the draw over them alone is the same and does not
    sort and walk every open pledge. Otherwise it is drawn over them all."""
    winners = credit_rules.draw_winners(seed, valid[: len(candidates)], candidates)
    if len(winners) < len(candidates) and len(valid) > len(candidates):
        winners = credit_rules.draw_winners(seed, valid, candidates)
    return winners


def valid_pledges(donor: I64, quantity: I64, holding: I64) -> NDArray[np.bool_]:
    """``credits.rules.split_pledges`` over arrays (SC9): which pledges, in order, are valid.

    ``donor`` and ``quantity`` are the open pledges in id order, ``holding`` what each pledge's
    donor holds at the pledge's minimum grade. A donor whose pledges are all of one quantity q
    (the simulator's always are) has its first ``holding // q`` valid, the rest lapsed, which is
    what the rule's walk in order gives; other donors are walked by the rule itself."""
    size = donor.size
    ok = np.zeros(size, bool)
    if size == 0:
        return ok
    order = np.argsort(donor, kind="stable")  # each donor's pledges together, in id order
    d, q, h = donor[order], quantity[order], holding[order]
    start = np.empty(size, bool)
    start[0] = True
    np.not_equal(d[1:], d[:-1], out=start[1:])
    first = np.flatnonzero(start)
    group = np.cumsum(start) - 1
    rank = np.arange(size) - first[group]
    uniform = q == q[first][group]
    ok[order] = (rank < h // np.maximum(q, 1)) & (q >= 1)
    mixed = ~np.logical_and.reduceat(uniform, first)[group]  # donors of several quantities
    if mixed.any():
        rows = np.sort(order[mixed])  # their pledges, in id order
        pledges = [(str(i), f"{donor[i]:09d}", int(quantity[i])) for i in rows.tolist()]
        left = {f"{donor[i]:09d}": int(holding[i]) for i in rows.tolist()}
        valid, _ = credit_rules.split_pledges(pledges, left)
        ok[rows] = False
        ok[np.array([int(i) for i, _ in valid], np.int64)] = True
    return ok


class PledgeNames(Sequence[tuple[str, str]]):
    """The (pledge id, donor) pairs of valid pledges as the domain names them (nine digits), made
    only for the pairs read: a draw reads the first as many as there are candidates (``draw_winners``)."""

    def __init__(self, index: I64, donor: I64) -> None:
        self.ids, self.donors = index, donor

    def __len__(self) -> int:
        return int(self.ids.size)

    @overload
    def __getitem__(self, k: int) -> tuple[str, str]: ...

    @overload
    def __getitem__(self, k: slice) -> list[tuple[str, str]]: ...

    def __getitem__(self, k: int | slice) -> tuple[str, str] | list[tuple[str, str]]:
        if isinstance(k, slice):
            pairs = zip(self.ids[k].tolist(), self.donors[k].tolist(), strict=True)
            return [(f"{i:09d}", f"{d:09d}") for i, d in pairs]
        return f"{int(self.ids[k]):09d}", f"{int(self.donors[k]):09d}"

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self[:])


@dataclass
class Pledges:
    """Open pledges (SC9) in pledge order, one array per field: the donor, the grade steps, the
    credits and the duration of each."""

    donor: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    steps: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    quantity: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    duration: I64 = field(default_factory=lambda: np.zeros(0, np.int64))

    def __len__(self) -> int:
        return int(self.donor.size)

    def open(self, donors: I64, steps: int, quantity: int, duration: int) -> None:
        k = donors.size
        self.donor = np.concatenate([self.donor, donors.astype(np.int64)])
        self.steps = np.concatenate([self.steps, np.full(k, steps, np.int64)])
        self.quantity = np.concatenate([self.quantity, np.full(k, quantity, np.int64)])
        self.duration = np.concatenate([self.duration, np.full(k, duration, np.int64)])

    def keep(self, index: I64) -> None:
        self.donor, self.steps = self.donor[index], self.steps[index]
        self.quantity, self.duration = self.quantity[index], self.duration[index]


# The sector -------------------------------------------------------------------------------------

DrawHook = Callable[[int, int, list[tuple[str, str]], list[str]], Sequence[tuple[str, str, str]]]
"""(step, time, valid pledges, candidates) -> winners: the draw, taken from elsewhere (the engine)."""


class CreditsSector(Sector):
    """Social credits over arrays indexed by person, with a ring of adjustments per person."""

    order = 200

    @classmethod
    def unmodelled(cls, policy: Policy) -> list[Problem]:
        out: list[Problem] = []
        for kind in ("citizens_council", "infraction"):
            effect = policy.section(CreditsPolicy).participation.get(kind)
            if effect is None:
                out.append((("policy", "credits", "participation"), f"the simulator needs the kind {kind!r}"))
        return out

    def setup(self) -> None:
        """Birth dates in whole days (SC2), enrolment at the start, the service's tiers (SC10)."""
        m = self.model
        n, pop = m.n, m.scenario.population
        low, span = pop.age_min * 365, (pop.age_max - pop.age_min) * 365 + 1
        u = m.draws.uniform(SETUP, "born", m.first, n)[:, 0]  # keyed (``sim.draws``): the same in any process
        ages = low + np.minimum((u * span).astype(np.int64), span - 1)
        self.born = m.genesis - ages * 86_400
        self.enrolled = np.full(n, m.genesis, dtype=np.int64)
        self.spent = np.zeros(n, np.int64)
        self.last_fresh = np.full(n, np.iinfo(np.int64).min // 2, dtype=np.int64)
        self.ring = ring = max(1, int(m.p.get("credit_slots", RING)))
        self.slot_overflows = 0
        # The ring in the narrowest types its values fit, each bound checked where it is written
        # (``_adjust``, ``fits``): steps are a grade's few steps (int8), the order applied, a
        # quantity and what was consumed of it below 2^31 (int32; credits accrue at most
        # ``annual_allocation`` a year of life), the kind an index into a handful of kinds (int8).
        # One record per person holds their whole ring (``ring_record``), each field read as a
        # (persons x ring) array: a step's adjustments and walks touch tens of thousands of
        # persons at random, and a person's ring then costs three or four cache lines, not seven.
        rings = np.zeros(n, ring_record(ring))
        self.adj_end: I64 = rings["end"]
        self.adj_steps: NDArray[np.int8] = rings["steps"]
        self.adj_seq: NDArray[np.int32] = rings["seq"]
        self.adj_seq[...] = -1
        self.adj_qty: NDArray[np.int32] = rings["quantity"]  # SC4: 0 = the whole balance
        self.adj_consumable: NDArray[np.bool_] = rings["consumable"]
        self.adj_consumed: NDArray[np.int32] = rings["consumed"]
        # IN2: the kind of each slot's adjustment (index into ``kinds``), and per kind the times of
        # the last participations counted (as many as its yearly cap)
        self.capped = float(m.p.get("participation_caps", 0.0)) >= 1.0
        self.adj_kind: NDArray[np.int8] = rings["kind"]
        self.adj_kind[...] = -1
        self.kinds: dict[str, int] = {}
        self.counted_at: dict[str, I64] = {}
        self.participation_uncounted = 0
        self.appeals_penalties = 0  # penalties that could be appealed (SC7)
        self.appeals_overturned = 0
        self.adj_counter = 0
        self.credits_spent_total = 0
        self.spends = self.spends_refused = 0
        cp = m.policy.section(CreditsPolicy)
        tier_grades = sorted({cp.essential_base_tier_grade, cp.base_grade, min(cp.base_grade + 1, cp.grade_max)})
        price = max(1, int(m.p["tier_price"]))
        self.tiers: list[tuple[str, int, int]] = [(f"grade-{g}", price, g) for g in tier_grades]
        # SC9: open pledges (donor, steps, quantity, duration) in pledge order, waiting candidates.
        self.pledges = Pledges()
        self.pledged = np.zeros(n, np.int64)
        self.candidate = np.zeros(n, bool)
        self.second_chance_used = np.zeros(n, bool)
        self.last_draw: int | None = None
        self.draws = self.lottery_winners = 0
        self.nominations = self.nominations_refused = 0  # SC9: nominated by co-signers
        self.council_nominations = self.council_nominations_refused = 0  # SC9: nominated by a council decision
        self._standing_cache: tuple[int, I64, tuple[I64, I64, I64, I64, I64]] | None = None
        self.draw_hook: DrawHook | None = None  # replaces the draw (tests take the engine's); None: the domain's

    def begin(self, s: int, t: int) -> None:
        """The civic lottery draws first, before any sector's step (SC9)."""
        self._lottery(s, t)

    def participation(self, kind: str, persons: I64, t: int) -> None:
        """X8: participation reported by another sector restarts the decay clock (SC8) and has the
        effect the credits policy gives its kind, if it gives one (within the IN2 caps when on)."""
        effect = self.model.policy.section(CreditsPolicy).participation.get(kind)
        if not self.capped:
            self.last_fresh[persons] = t
        if effect is not None:
            counted, _ = self._effect(persons, t, effect, kind)
            if self.capped and effect.qualifying:
                self.last_fresh[counted] = t

    # A run split over processes (``civicledger.sim.partition``): every person's credits stay in
    # their partition; the row's columns are sums over persons, added up at the coordinator.

    PARTITIONED: ClassVar[dict[str, tuple[str, ...]]] = {
        "participation": ("bernoulli", "farmers", "farmers_among_others", "none"),
        "infractions": ("bernoulli", "none"),
        "appeals": ("bernoulli", "draw_grinder", "none"),
        "spending": ("best_tier", "none"),
        "pledges": ("bernoulli", "none"),
        "candidates": ("second_chance", "none"),
    }
    """The behaviours a partitioned run can run: their draws are keyed and their effects stay with
    the person; the civic lottery's draw is made at the coordinator in a round (``split_round``)."""

    @classmethod
    def split_refusals(cls, scenario: Any) -> list[str]:
        return cls.behaviour_refusals(scenario)

    def split_setup(self, where: list[int]) -> list[Any]:
        """At the coordinator: the lottery's clock (SC9) and what waits for it."""
        self.where = np.array(where, np.int64)
        self.last_draw = None
        self.draws = 0
        self.waiting = 0  # open pledges and candidates after the last step, in every partition
        self.seed: bytes | None = None
        self.nominations = self.nominations_refused = 0
        self.council_nominations = self.council_nominations_refused = 0
        self.nominees = self.cosigners = self.council = np.zeros(0, np.int64)
        return [None] * (len(where) - 1)

    def part_setup(self, handoff: Any) -> None:
        self.setup()
        self.pledge_made: list[int] = []  # the step each open pledge was made (its place in pledge order)
        self.drawing = False
        p = self.model.p
        self.nominating = p["nomination_rate"] > 0 or p["council_nomination_rate"] > 0
        p["nomination_rate"] = p["council_nomination_rate"] = 0.0  # drawn at the coordinator (rounds)

    def split_begin(self, s: int, t: int) -> Any:
        """At the coordinator, where ``begin`` draws (SC9): whether the lottery draws this step,
        its seed taken from the run's generator in the single process's order."""
        pol = self.model.policy.section(CreditsPolicy)
        self.seed = None
        if (self.last_draw is not None and t - self.last_draw < pol.draw_period) or not self.waiting:
            return False
        self.last_draw = t
        self.draws += 1
        self.seed = self.model.rng.bytes(32)
        return True

    def part_begin(self, s: int, t: int, heard: Any) -> None:
        """The lottery waits for ``part_steps`` (nothing reads credits before it in a step)."""
        self.drawing = bool(heard)

    def part_steps(self, s: int, t: int) -> Generator[Any, Any, tuple[list[tuple[I64, I64]] | None, Any]]:
        """The lottery's draw first when due (SC9, a round: ``_lottery_ask``, ``split_round``,
        ``_lottery_apply``), then ``step``; the coordinator hears what waits for the next draw."""
        if self.drawing:
            self._lottery_apply(t, (yield self._lottery_ask(t)))
        made = len(self.pledges)
        self.step(s, t)
        self.pledge_made += [s] * (len(self.pledges) - made)
        if self.nominating:  # SC9, as ``_nominate`` and ``_council_nominate`` at the end of ``step``
            first = self.model.first
            nominees, council = yield ("nominate",)
            accepted = yield ("waiting", self.candidate[nominees - first], self.candidate[council - first])
            self.candidate[accepted - first] = True
        return None, len(self.pledges) + int(self.candidate.sum())

    def _lottery_ask(self, t: int) -> tuple[Any, ...]:
        """Our open pledges (the step made, global donor, steps, quantity, duration), what each of
        their donors holds at the minimum grade, and our waiting candidates (SC9, as ``_lottery``)."""
        first = self.model.first
        pol = self.model.policy.section(CreditsPolicy)
        p = self.pledges
        table = np.column_stack([p.donor, p.steps, p.quantity, p.duration]).astype(np.int64).reshape(-1, 4)
        donors = np.unique(table[:, 0])
        holds = np.zeros(0, np.int64)
        if donors.size:
            grade, units, _, _, _ = self.standing(donors, t)
            holds = (units * (grade >= pol.pledge_min_grade)).sum(axis=1)
        made = np.array(self.pledge_made, np.int64)
        table[:, 0] += first
        return "lottery", made, table, donors + first, holds, first + np.flatnonzero(self.candidate)

    def split_round(self, s: int, t: int, asks: list[Any]) -> list[Any]:
        """At the coordinator, the lottery's draw (SC9) over every partition's pledges, in pledge
        order (made, then donor), and candidates (by number), as ``_lottery`` makes it; each
        partition hears its winners' and donors' adjustments in the winners' order, and which of
        its pledges stay open. Nominations (``_nominate_split``) are the other rounds."""
        if asks[0][0] != "lottery":
            return self._nominate_split(asks)
        made = np.concatenate([a[1] for a in asks])
        table = np.concatenate([a[2] for a in asks])
        holding = dict(
            zip(
                np.concatenate([a[3] for a in asks]).tolist(),
                np.concatenate([a[4] for a in asks]).tolist(),
                strict=True,
            )
        )
        order = np.lexsort((table[:, 0], made))  # pledge order: the step made, then the donor
        data = {f"{i:09d}": tuple(table[j].tolist()) for i, j in enumerate(order.tolist())}
        valid, _lapsed = credit_rules.split_pledges(
            [(key, f"{donor:09d}", quantity) for key, (donor, _, quantity, _) in data.items()],
            {f"{donor:09d}": units for donor, units in holding.items()},
        )
        candidates = [f"{c:09d}" for c in np.concatenate([a[5] for a in asks]).tolist()]
        assert self.seed is not None
        winners = draw_winners(self.seed, valid, candidates)
        cut = self.where
        events: list[list[tuple[bool, int, int, int, int]]] = [[] for _ in asks]
        for pledge_key, _donor, cand_key in winners:
            donor, steps, quantity, duration = data[pledge_key]
            cand = int(cand_key)
            events[int(np.searchsorted(cut, cand, side="right")) - 1].append(
                (True, cand, t + duration, steps, quantity)
            )
            events[int(np.searchsorted(cut, donor, side="right")) - 1].append(
                (False, donor, t + duration, -steps, quantity)
            )
        won = {pledge_key for pledge_key, _, _ in winners}
        stays = np.zeros(made.size, bool)
        for key, _ in valid:
            if key not in won:
                stays[order[int(key)]] = True
        offsets = np.cumsum([0] + [a[1].size for a in asks])
        return [(events[k], stays[offsets[k] : offsets[k + 1]]) for k in range(len(asks))]

    def _nominate_split(self, asks: list[Any]) -> list[Any]:
        """At the coordinator, ``_nominate`` and ``_council_nominate`` (SC9) in two rounds: the
        nominees, their co-signers and the council's nominees drawn from the run's generator as
        ``step`` draws them (each partition hears its nominees); then, with whether each is waiting
        already, the nominations checked and counted, the council's after the co-signers' (each
        partition hears its accepted nominees)."""
        m, cut = self.model, self.where
        p, honest = m.p, m.honest_count
        n = m.scenario.population.persons + m.scenario.population.sybils
        if asks[0][0] == "nominate":
            self.nominees = self.cosigners = self.council = np.zeros(0, np.int64)
            if p["nomination_rate"] > 0:
                need = m.policy.section(CreditsPolicy).nomination_cosigners
                picked = np.unique(m.rng.integers(0, n, size=m.rng.binomial(n, p["nomination_rate"]), dtype=np.int64))
                self.nominees = picked[picked < honest]  # the verified (no fake accounts here)
                self.cosigners = m.rng.integers(0, n, size=(self.nominees.size, need), dtype=np.int64)
            rate = p["council_nomination_rate"]
            if rate > 0:
                picked = np.unique(m.rng.integers(0, n, size=m.rng.binomial(n, rate), dtype=np.int64))
                self.council = picked[picked < honest]
            at, by = (np.searchsorted(cut, x, side="right") - 1 for x in (self.nominees, self.council))
            return [(self.nominees[at == k], self.council[by == k]) for k in range(cut.size - 1)]
        waiting = np.concatenate([a[1] for a in asks])  # in the nominees' order (by number)
        can_sign = np.arange(n) < honest  # verified, and no key is lost (refused)
        need = m.policy.section(CreditsPolicy).nomination_cosigners
        ok = nominations_valid(self.nominees, self.cosigners, waiting, can_sign, need)
        self.nominations += int(ok.sum())
        self.nominations_refused += int((~ok).sum())
        accepted = self.nominees[ok]
        if self.council.size:  # waiting: before, or nominated by co-signers just now
            council_ok = council_nominations_valid(
                self.council, np.concatenate([a[2] for a in asks]) | np.isin(self.council, accepted)
            )
            self.council_nominations += int(council_ok.sum())
            self.council_nominations_refused += int((~council_ok).sum())
            accepted = np.union1d(accepted, self.council[council_ok])
        at = np.searchsorted(cut, accepted, side="right") - 1
        return [accepted[at == k] for k in range(cut.size - 1)]

    def _lottery_apply(self, t: int, answer: tuple[list[tuple[bool, int, int, int, int]], NDArray[np.bool_]]) -> None:
        """``_lottery``'s effects on our persons, in the winners' order: a winner's uplift (and a
        fresh decay clock), a donor's loan; the pledges drawn or lapsed close."""
        events, stays = answer
        first = self.model.first
        for winner, person, end, steps, quantity in events:
            who = np.array([person - first], np.int64)
            self._adjust(who, end, steps, np.array([quantity], np.int64), consumable=winner)
            if winner:
                self.last_fresh[who] = t
                self.candidate[who] = False
                self.lottery_winners += 1
        self.pledges.keep(np.flatnonzero(stays))
        self.pledge_made = [p for p, keep in zip(self.pledge_made, stays.tolist(), strict=True) if keep]
        self.pledged[:] = 0
        np.add.at(self.pledged, self.pledges.donor, self.pledges.quantity)

    def split_step(self, s: int, t: int, heard: list[Any]) -> None:
        self.waiting = sum(heard)

    def part_record(self, s: int, t: int) -> Any:
        """Our persons' columns and, with regions and the grade table due, the sums of their grades
        by region (``Places.totals``)."""
        row = self.record(s, t)
        m = self.model
        places = m.places
        row.pop("farmer_top_share", None)  # IN2: from the sums below, at the coordinator
        row.pop("others_top_share", None)
        if not self.grade_table_due(s) or not (places.active or m.p.get("farmer_share", 0.0) > 0):
            return row, None
        pol = m.policy.section(CreditsPolicy)
        table = self.by_grade(t)
        grades = np.argmax(table, axis=1) + pol.grade_min
        totals = places.totals(grades, self.available(t) > 0, s) if places.active else None
        pop = m.scenario.population
        farmers = max(0, min(m.n, int((pop.persons + pop.sybils) * m.p.get("farmer_share", 0.0)) - m.first))
        tops = table[:, pol.grade_max - pol.grade_min]
        farmed = (
            int(tops[:farmers].sum()),
            int(table[:farmers].sum()),
            int(tops[farmers:].sum()),
            int(table[farmers:].sum()),
        )
        return row, (totals, farmed)

    def split_record(self, s: int, t: int, parts: list[Any]) -> Row:
        """The partitions' columns added up (whole numbers, exact in any order); the expected
        overturns from the whole count and the regions' mean grades from the whole sums, as
        ``record`` computes them."""
        rows = [row for row, _ in parts]
        row: Row = {}
        for key in rows[0]:
            row[key] = sum(r[key] for r in rows)
            if key == "candidates_waiting":  # nominations are counted at the coordinator, as ``record`` places them
                row.update(self._nomination_columns())
        row["lottery_draws"] = self.draws  # made at the coordinator
        p = self.model.p
        row["appeals_overturned_expected"] = int(row["appeals_penalties"]) * p["appeal_rate"] * p["appeal_success"]
        pop = self.model.scenario.population
        farmers = int((pop.persons + pop.sybils) * self.model.p.get("farmer_share", 0.0))
        farmed = [x[1] for _, x in parts if x is not None]
        if farmers and farmed:  # IN2, as ``record``: the farmers' and the others' shares at the top grade
            top_f, all_f, top_o, all_o = (sum(f[i] for f in farmed) for i in range(4))
            shares = {"farmer_top_share": top_f / max(1, all_f), "others_top_share": top_o / max(1, all_o)}
            at = list(row).index("appeals_overturned_expected") + 1
            items = list(row.items())
            row = dict(items[:at] + list(shares.items()) + items[at:])
        sums = [x[0] for _, x in parts if x is not None and x[0] is not None]
        if sums:
            total = np.sum([x for x, _ in sums], axis=0)
            count = np.sum([c for _, c in sums], axis=0)
            row.update(self.model.places.means_of("mean_grade", total, count))
        return row

    def grade_table_due(self, s: int) -> bool:
        """Whether the row of step ``s`` carries the grade table (``grade_*``, ``credits_grade_*``,
        the IN2 shares): every recorded row when the parameter ``grade_every`` is 0 (the default),
        else every ``grade_every`` steps and always the last step, which the report reads.

        The table walks every person's credits (SC4, SC8) and is the dearest column of a row; a
        national run records it yearly and leaves it out of the rows between (null in Parquet)."""
        every = int(self.model.p.get("grade_every", 0.0))
        return every <= 0 or s % every == 0 or s == self.model.scenario.steps - 1

    def record(self, s: int, t: int) -> Row:
        pol = self.model.policy.section(CreditsPolicy)
        available = self.available(t)
        row: Row = {
            "credits_available": int(available.sum()),
            "credits_spent": self.credits_spent_total,
            "credit_slot_overflows": self.slot_overflows,
            "spends": self.spends,
            "spends_refused": self.spends_refused,
            "lottery_draws": self.draws,
            "lottery_winners": self.lottery_winners,
            "pledges_open": len(self.pledges),
            "candidates_waiting": int(self.candidate.sum()),
            **self._nomination_columns(),
            "participation_uncounted": self.participation_uncounted,
            "appeals_penalties": self.appeals_penalties,
            "appeals_overturned": self.appeals_overturned,
            # what honest appeals overturn, appeal_rate x appeal_success each: from the whole count,
            # so that a run split over processes (``sim.partition``) adds up to the same number
            "appeals_overturned_expected": self.appeals_penalties
            * self.model.p["appeal_rate"]
            * self.model.p["appeal_success"],
        }
        if not self.grade_table_due(s):
            return row
        # The table (persons x grades) a block of persons at a time, each block reduced at once:
        # a national population's whole table would be half a gigabyte written once and read once.
        n, span = self.model.n, pol.grade_max - pol.grade_min + 1
        grades = np.empty(n, np.int64)  # the grade holding most of one's credits (the lower on a tie)
        units_by_grade = np.zeros(span, np.int64)
        farmers = int(self.model.n * self.model.p.get("farmer_share", 0.0))
        top_farmers = all_farmers = top_others = all_others = 0
        for lo in range(0, n, TABLE_BLOCK):
            hi = min(n, lo + TABLE_BLOCK)
            table = self.by_grade(t, np.arange(lo, hi, dtype=np.int64))
            grades[lo:hi] = np.argmax(table, axis=1) + pol.grade_min
            units_by_grade += table.sum(axis=0)
            if farmers:
                k = min(max(farmers - lo, 0), hi - lo)  # the block's farmers come first
                tops = table[:, span - 1]
                top_farmers += int(tops[:k].sum())
                all_farmers += int(table[:k].sum())
                top_others += int(tops[k:].sum())
                all_others += int(table[k:].sum())
        has = available > 0
        if farmers:  # IN2: the share of farmers' credits at the top grade, and of everyone else's
            row["farmer_top_share"] = top_farmers / max(1, all_farmers)
            row["others_top_share"] = top_others / max(1, all_others)
        if self.model.places.active:  # [regions]: the mean grade of persons holding credits, per region
            row.update(self.model.places.means("mean_grade", grades, has, s))
        counts = np.bincount(grades[has] - pol.grade_min, minlength=pol.grade_max - pol.grade_min + 1)
        for g in range(pol.grade_min, pol.grade_max + 1):
            row[f"grade_{g}"] = int(counts[g - pol.grade_min])
        for g in range(pol.grade_min, pol.grade_max + 1):
            row[f"credits_grade_{g}"] = int(units_by_grade[g - pol.grade_min])
        return row

    def _effect(self, persons: I64, t: int, effect: ParticipationEffect, kind: str) -> tuple[I64, I64]:
        """SC5: one participation of a kind: its steps on the whole balance or on its portion.

        Returns the persons it counted for (IN2: all of them unless the caps are on) and their slots.
        """
        steps = -effect.steps if effect.penalty else effect.steps
        if self.capped and steps > 0:
            persons = self._within_caps(persons, t, kind, steps)
        if effect.portion_percent >= 100:  # the whole balance (quantity 0): no balance to read
            quantity = np.zeros(persons.size, np.int64)
        else:
            quantity = effect_quantity(effect.portion_percent, self.available_of(persons, t))
        slots = self._adjust(persons, t + effect.duration, steps, quantity, consumable=steps > 0, kind=kind)
        return persons, slots

    def _within_caps(self, persons: I64, t: int, kind: str, steps: int) -> I64:
        """IN2, ``rules.cap_refusal`` over arrays: the persons for whom one more ``kind`` counts now,
        whose counted times are then recorded. Repeated persons count once."""
        pol = self.model.policy.section(CreditsPolicy)
        persons = distinct(persons)
        cap = credit_rules.participation_cap(kind, pol)
        times = self.counted_at.get(kind)
        if times is None:
            times = self.counted_at[kind] = np.full((self.model.n, max(1, cap)), np.iinfo(np.int64).min // 2)
        in_year = (times[persons] > t - YEAR).sum(axis=1)
        k = self.kinds.setdefault(kind, len(self.kinds))
        mine = (self.adj_kind[persons] == k) & (self.adj_end[persons] > t) & (self.adj_steps[persons] > 0)
        active = np.where(mine, self.adj_steps[persons], 0).sum(axis=1)
        ok = (in_year < cap) & (active + steps <= pol.grade_max - pol.base_grade - 1)
        self.participation_uncounted += int((~ok).sum())
        counted: I64 = persons[ok]
        if counted.size and cap > 0:
            oldest = np.argmin(times[counted], axis=1)
            times[counted, oldest] = t
        return counted

    def step(self, s: int, t: int) -> None:
        """Participation, infractions and appeals (SC4, SC5, SC7), spending (SC10), pledges and
        second-chance candidates (SC9)."""
        m = self.model
        pol = m.policy.section(CreditsPolicy)
        award = pol.participation["citizens_council"]
        infraction = pol.participation["infraction"]
        who = m.behave["participation"](m, m.rng, m.p)
        if who is not None and who.size:
            who = who[m.verified[who]]
            counted, _ = self._effect(who, t, award, "citizens_council")
            if award.qualifying:
                self.last_fresh[counted] = t
            if m.trace is None:
                pass  # nothing to log: no loop over every participant
            elif self.capped:  # IN2: the engine refuses a recorded participation beyond the caps
                counted_set = set(counted.tolist())
                for a in dict.fromkeys(who.tolist()):
                    m.log("participate" if a in counted_set else "participate_uncounted", s, a)
            else:
                for a in who.tolist():
                    m.log("participate", s, a)
        bad = m.behave["infractions"](m, m.rng, m.p)
        if bad is not None and bad.size:
            bad = bad[m.verified[bad]]
            _, slots = self._effect(bad, t, infraction, "infraction")
            if m.trace is not None:
                for a in bad.tolist():
                    m.log("infraction", s, a)
            overturned = m.behave["appeals"](m, m.rng, m.p, bad)
            self.appeals_penalties += int(bad.size)
            if overturned is not None:
                self.appeals_overturned += int(overturned.sum())
            if overturned is not None and overturned.any():
                # SC7: an overturned adjustment ends at the decision (the next step).
                self.adj_end[bad[overturned], slots[overturned]] = t + m.scenario.step
                if m.trace is not None:
                    for a in bad[overturned].tolist():
                        m.log("overturn", s, a)
        self._spend(s, t)
        self._pledge_and_apply(s, t)

    def _spend(self, s: int, t: int) -> None:
        """SC3, SC10: spends on a service's tiers, lowest qualifying grade first; refusals dropped."""
        m = self.model
        out = m.behave["spending"](m, m.rng, m.p)
        if out is None:
            return
        persons, tier = out
        keep = m.verified[persons]
        persons, tier = persons[keep], tier[keep]
        if repeats(persons):
            raise ValueError("the spending behaviour returned a person twice in one step")
        if not persons.size:
            return
        price = np.array([p for _, p, _ in self.tiers], np.int64)[tier]
        min_grade = np.array([g for _, _, g in self.tiers], np.int64)[tier]
        cached, self._standing_cache = self._standing_cache, None
        if cached is not None and cached[0] == t and np.array_equal(cached[1], persons):
            grade, units, mask, slots, available = cached[2]  # what the behaviour just read: nothing changed
        else:
            grade, units, mask, slots, available = self.standing(persons, t)
        # ``choose_credits`` and ``used_by_adjustment`` person by person (compiled: ``kernels.spend``)
        columns = max(1, int(mask.max()).bit_length()) if mask.size else 1
        if columns not in _ID_KEYS:
            _ID_KEYS[columns] = _lot_id_keys(columns)
        lots_ = (grade, units, mask, slots, available)
        ok = kernels.spend(persons, lots_, min_grade, price, _ID_KEYS[columns], self.adj_consumable, self.adj_consumed)
        self.spent[persons[ok]] += price[ok]
        self.credits_spent_total += int(price[ok].sum())
        self.spends += int(ok.sum())
        self.spends_refused += int((~ok).sum())
        if m.trace is not None:
            for a, k in zip(persons[ok].tolist(), tier[ok].tolist(), strict=True):
                m.log("spend", s, a, k)

    # The civic lottery (SC9) ------------------------------------------------------------------

    def _pledge_and_apply(self, s: int, t: int) -> None:
        m = self.model
        pol = m.policy.section(CreditsPolicy)
        out = m.behave["pledges"](m, m.rng, m.p)
        if out is not None and out.size:
            donors = out[m.verified[out]]
            quantity = int(m.p["pledge_quantity"])
            if donors.size and 1 <= quantity <= pol.pledge_max_quantity:
                grade, units, _, _, _ = self.standing(donors, t)
                holds = (units * (grade >= pol.pledge_min_grade)).sum(axis=1)
                donors = donors[holds - self.pledged[donors] >= quantity]  # check_pledge (SC9)
                self.pledged[donors] += quantity
                self.pledges.open(donors, 1, quantity, pol.pledge_max_duration)
                if m.trace is not None:
                    for d in donors.tolist():
                        m.log("pledge", s, d, 1, quantity, pol.pledge_max_duration)
        out = m.behave["candidates"](m, m.rng, m.p)
        if out is not None and out.size:
            who = out[m.verified[out] & ~self.candidate[out] & ~self.second_chance_used[out]]
            if who.size:
                best = self.best_grade(who, t)
                who = who[best < pol.second_chance_below_grade]
                self.candidate[who] = True
                self.second_chance_used[who] = True
                if m.trace is not None:
                    for a in who.tolist():
                        m.log("second_chance", s, a)
        self._nominate(s)
        self._council_nominate(s)

    def _council_nominate(self, s: int) -> None:
        """SC9: a council decides to nominate a ``council_nomination_rate`` share of verified persons
        each step (after the co-signers' nominations): accepted where ``council_nominations_valid``
        (``rules.check_nomination`` of a council's decision) accepts them, i.e. not already waiting.
        The council's quorum signs, so no person's key is needed (X9)."""
        m = self.model
        rate = m.p["council_nomination_rate"]
        if rate <= 0:
            return
        nominees = self._council_nominees(rate)
        ok = council_nominations_valid(nominees, self.candidate[nominees])
        self.candidate[nominees[ok]] = True
        self.council_nominations += int(ok.sum())
        self.council_nominations_refused += int((~ok).sum())
        if m.trace is not None:
            for a, good in zip(nominees.tolist(), ok.tolist(), strict=True):
                m.log("council_nominate" if good else "council_nominate_refused", s, a)

    def _council_nominees(self, rate: float) -> I64:
        """The draw of council nominations (SC9): verified persons, each with probability ``rate``."""
        m = self.model
        picked = distinct(m.rng.integers(0, m.n, size=m.rng.binomial(m.n, rate), dtype=np.int64))
        out: I64 = picked[m.verified[picked]]
        return out

    def _nominate(self, s: int) -> None:
        """SC9: a ``nomination_rate`` share of verified persons, each nominated by co-signers."""
        m = self.model
        rate = m.p["nomination_rate"]
        if rate <= 0:
            return
        need = m.policy.section(CreditsPolicy).nomination_cosigners
        picked = distinct(m.rng.integers(0, m.n, size=m.rng.binomial(m.n, rate), dtype=np.int64))
        nominees = picked[m.verified[picked]]
        cosigners = m.rng.integers(0, m.n, size=(nominees.size, need), dtype=np.int64)
        can_sign = m.verified & ~m.keys.locked if m.keys.locked.size else m.verified
        ok = nominations_valid(nominees, cosigners, self.candidate[nominees], can_sign, need)
        self.candidate[nominees[ok]] = True
        self.nominations += int(ok.sum())
        self.nominations_refused += int((~ok).sum())
        if m.trace is not None:
            for a, row, good in zip(nominees.tolist(), cosigners.tolist(), ok.tolist(), strict=True):
                m.log("nominate" if good else "nominate_refused", s, a, tuple(row))

    def _nomination_columns(self) -> Row:
        out: Row = {}
        if self.model.p["nomination_rate"] > 0:
            out.update(nominations=self.nominations, nominations_refused=self.nominations_refused)
        if self.model.p["council_nomination_rate"] > 0:  # SC9 by a council's decision
            out.update(
                council_nominations=self.council_nominations,
                council_nominations_refused=self.council_nominations_refused,
            )
        return out

    def _lottery(self, s: int, t: int) -> None:
        """SC9: periodic draws matching valid pledges (in order) to candidates ranked by the seed."""
        m = self.model
        pol = m.policy.section(CreditsPolicy)
        if self.last_draw is not None and t - self.last_draw < pol.draw_period:
            return
        if not self.pledges and not self.candidate.any():
            return
        pledges = self.pledges
        ok = np.zeros(0, bool)
        if len(pledges):
            arr = distinct(pledges.donor)
            grade, units, _, _, _ = self.standing(arr, t)
            holds = (units * (grade >= pol.pledge_min_grade)).sum(axis=1)
            holding = holds[np.searchsorted(arr, pledges.donor)]
            ok = valid_pledges(pledges.donor, pledges.quantity, holding)  # the engine's split (SC9)
        index = np.flatnonzero(ok)
        valid = PledgeNames(index, pledges.donor[index])
        candidates = [f"{c:09d}" for c in np.flatnonzero(self.candidate).tolist()]
        if self.draw_hook is not None:
            winners = self.draw_hook(s, t, list(valid), candidates)
        else:
            winners = draw_winners(m.rng.bytes(32), valid, candidates)
        m.log("draw", s, tuple(winners))
        self.last_draw = t
        self.draws += 1
        for pledge_key, _donor, cand_key in winners:
            k = int(pledge_key)
            donor, steps = int(pledges.donor[k]), int(pledges.steps[k])
            quantity, duration = int(pledges.quantity[k]), int(pledges.duration[k])
            cand = np.array([int(cand_key)], np.int64)
            self._adjust(cand, t + duration, steps, np.array([quantity], np.int64), consumable=True)
            self.last_fresh[cand] = t
            self._adjust(np.array([donor], np.int64), t + duration, -steps, np.array([quantity], np.int64))
            self.candidate[cand] = False
            self.lottery_winners += 1
        # Drawn and lapsed pledges close; valid ones no candidate was left for stay open.
        won = np.zeros(ok.size, bool)
        won[[int(pledge_key) for pledge_key, _, _ in winners]] = True
        pledges.keep(np.flatnonzero(ok & ~won))
        self.pledged[:] = 0
        np.add.at(self.pledged, pledges.donor, pledges.quantity)

    def _adjust(
        self,
        persons: I64,
        end: int,
        steps: int,
        quantity: I64 | None = None,
        *,
        consumable: bool = False,
        kind: str = "",
    ) -> I64:
        """Record an adjustment in the slot that ends first (an expired one while any is); its
        place in the order applied is ``adj_seq``. Returns the slots."""
        m = self.model
        self._standing_cache = None
        code = self.kinds.setdefault(kind, len(self.kinds)) if kind else -1
        fits(code, np.int8, "kinds of participation")
        fits(self.adj_counter + persons.size, np.int32, "adjustments applied in one run")
        if persons.size == 1:  # one person (a lottery's winner and donor): the same, by scalar indexing
            p, q1 = int(persons[0]), 0 if quantity is None else int(quantity[0])
            fits(q1, np.int32, "an adjustment's quantity of credits")
            slot = int(self.adj_end[p].argmin())
            self.slot_overflows += int(self.adj_end[p, slot] > m.t_now)
            self.adj_end[p, slot] = end
            self.adj_steps[p, slot] = steps
            self.adj_seq[p, slot] = self.adj_counter
            self.adj_qty[p, slot] = q1
            self.adj_consumable[p, slot] = consumable and q1 > 0
            self.adj_consumed[p, slot] = 0
            self.adj_kind[p, slot] = code
            self.adj_counter += 1
            return np.array([slot], np.int64)
        q = np.zeros(persons.size, np.int64) if quantity is None else quantity
        if q.size:
            fits(int(q.max()), np.int32, "an adjustment's quantity of credits")
        # One compiled pass over the persons' rings (``kernels.adjust``), ``_adjust_numpy``'s writes.
        slots, overflows = kernels.adjust(
            persons, m.t_now, end, steps, q, consumable, code, self.adj_counter, self._ring(), self.adj_kind
        )
        self.slot_overflows += overflows
        self.adj_counter += int(persons.size)
        return slots

    def _adjust_numpy(self, persons: I64, end: int, steps: int, q: I64, consumable: bool, code: int) -> I64:
        """``_adjust`` for many persons over whole arrays: the compiled pass's twin, kept for its checks."""
        ends = self.adj_end[persons]
        slots = np.argmin(ends, axis=1)
        least = ends[np.arange(persons.size), slots]  # the slot's end is the row's least
        self.slot_overflows += int((least > self.model.t_now).sum())
        self.adj_end[persons, slots] = end
        self.adj_steps[persons, slots] = steps
        self.adj_seq[persons, slots] = self.adj_counter + np.arange(persons.size)
        self.adj_qty[persons, slots] = q
        self.adj_consumable[persons, slots] = consumable & (q > 0)
        self.adj_consumed[persons, slots] = 0
        self.adj_kind[persons, slots] = code
        self.adj_counter += int(persons.size)
        out: I64 = slots.astype(np.int64)
        return out

    def available(self, t: int) -> I64:
        """SC2: accrued - spent, for every person (0 for the unverified)."""
        m = self.model
        acc = credits_accrued(self.born, t, m.policy.section(CreditsPolicy).annual_allocation)
        return (acc - self.spent) * m.verified

    def available_of(self, persons: I64, t: int) -> I64:
        """SC2 for some persons: accrued - spent (0 for the unverified)."""
        m = self.model
        acc = credits_accrued(self.born[persons], t, m.policy.section(CreditsPolicy).annual_allocation)
        out: I64 = (acc - self.spent[persons]) * m.verified[persons]
        return out

    def _lot_rules(self) -> I64:
        """The numbers a compiled walk of the lots reads (``kernels.standing``): the annual
        allocation (SC2), YEAR, the decay window and step (SC8), grade min, max and base (SC4)."""
        pol = self.model.policy.section(CreditsPolicy)
        return np.array(
            [
                pol.annual_allocation,
                YEAR,
                pol.decay_window,
                pol.decay_step,
                pol.grade_min,
                pol.grade_max,
                pol.base_grade,
            ],
            np.int64,
        )

    def _people(self) -> kernels.People:
        """The per-person arrays a compiled walk reads (SC2, SC8)."""
        return self.born, self.spent, self.model.verified, self.enrolled, self.last_fresh

    def _ring(self) -> kernels.Ring:
        """The ring's fields a compiled walk reads and ``kernels.adjust`` writes (SC4), kind aside."""
        return self.adj_end, self.adj_steps, self.adj_seq, self.adj_qty, self.adj_consumable, self.adj_consumed

    def standing(self, persons: I64, t: int) -> tuple[I64, I64, I64, I64, I64]:
        """The domain's ``standing`` for ``persons`` at t: lots (grade, units, mask), the ring slot of
        each adjustment column, and the credits available (SC2, SC4, SC8).

        Compiled (``kernels.standing``): one pass over each person's row, the arithmetic of
        ``standing_numpy`` in its order, cut to the width ``standing_numpy`` gives (as many
        adjustment columns as the power of two at or above the most active adjustments of a
        person walked), so that both return the same arrays.
        """
        grade, units, mask, slots, available, count, simple = kernels.standing(
            persons, t, self._lot_rules(), self._people(), self._ring()
        )
        walked = count[~simple]
        width = int(walked.max()) if walked.size else 0
        width = 1 << (width - 1).bit_length() if width else 0
        return grade[:, : width + 1], units[:, : width + 1], mask[:, : width + 1], slots[:, :width], available

    def standing_numpy(self, persons: I64, t: int) -> tuple[I64, I64, I64, I64, I64]:
        """``standing`` over whole arrays (``lots``), the compiled walk's twin, kept for its checks.

        Persons whose active adjustments are all whole-balance ones that cannot reach a bound in any
        order hold one lot (base + their steps, then decay). The others are walked, from
        ``GROUPED_FROM`` persons, in groups by their number of active adjustments (1, 2, up to 4,
        up to 8 ...), so the work follows what each person has; below it, in one walk as wide as
        the widest. Either way unused columns hold no credits and the lots are the same.
        """
        pol = self.model.policy.section(CreditsPolicy)
        m = persons.size
        stp = self.adj_steps[persons]
        moves = np.where(self.adj_end[persons] > t, stp, np.int8(0))
        active = moves != 0
        count = active.sum(axis=1)
        up = moves.clip(min=0).sum(axis=1, dtype=np.int64)
        down = moves.clip(max=0).sum(axis=1, dtype=np.int64)
        quantities = self.adj_qty[persons]  # gathered once: the walk below reads its rows again
        simple = ~(active & (quantities > 0)).any(axis=1)
        simple &= (pol.base_grade + up <= pol.grade_max) & (pol.base_grade + down >= pol.grade_min)
        width = int(count[~simple].max()) if (~simple).any() else 0
        width = 1 << (width - 1).bit_length() if width else 0
        available = self.available_of(persons, t)
        since = np.maximum(self.enrolled[persons], self.last_fresh[persons])
        decay = decay_steps(t - since, pol.decay_window, pol.decay_step)
        grade = np.full((m, width + 1), pol.base_grade, np.int64)
        units = np.zeros((m, width + 1), np.int64)
        mask = np.zeros((m, width + 1), np.int64)
        slots = np.zeros((m, width), np.int64)
        grade[simple, 0] = grade_after_decay(pol.base_grade + up[simple] + down[simple], decay[simple], pol.base_grade)
        units[simple, 0] = np.maximum(available[simple], 0)
        if m >= GROUPED_FROM:  # many persons: walk each group only as wide as its persons need
            bucket = np.where(count > 0, 1 << np.ceil(np.log2(np.maximum(count, 1))).astype(np.int64), 0)
        else:  # few: one walk as wide as the widest (columns beyond a person's own change nothing)
            bucket = np.where(count > 0, width, 0)
        for w in distinct(bucket[~simple]).tolist():
            rows = np.flatnonzero(~simple & (bucket == w))
            who = persons[rows]
            key = np.where(active[rows], self.adj_seq[who], np.iinfo(np.int32).max)  # int32: never wraps
            order = np.argsort(key, axis=1, kind="stable")[:, :w]  # the active ones, in the order applied
            on = np.take_along_axis(active[rows], order, axis=1)
            steps = np.where(on, np.take_along_axis(stp[rows], order, axis=1), 0).astype(np.int64)
            qty = np.take_along_axis(quantities[rows], order, axis=1)
            consumable = np.take_along_axis(self.adj_consumable[who], order, axis=1)
            consumed = np.take_along_axis(self.adj_consumed[who], order, axis=1)
            left = np.where(consumable, qty - consumed, qty)
            g, u, mk = lots(
                available[rows], steps, qty, left, decay[rows], pol.grade_min, pol.grade_max, pol.base_grade
            )
            w = order.shape[1]  # a ring narrower than the power of two above it (credit_slots 3, 5 ...)
            grade[rows, : w + 1] = g
            units[rows, : w + 1] = u
            mask[rows, : w + 1] = mk
            slots[rows, :w] = np.where(on, order, 0)  # a column without an adjustment: slot 0
        return grade, units, mask, slots, available

    def remember_standing(self, persons: I64, t: int) -> tuple[I64, I64, I64, I64, I64]:
        """``standing``, kept for ``_spend`` when the spending behaviour just read the same persons."""
        self._standing_cache = None
        result = self.standing(persons, t)
        self._standing_cache = (t, persons.copy(), result)
        return result

    def by_grade(self, t: int, persons: I64 | None = None) -> I64:
        """Credits per grade (columns grade_min..grade_max) for every person (or ``persons``): each
        person's lots summed by grade in one compiled pass (``kernels.grade_table``)."""
        who = np.arange(self.model.n, dtype=np.int64) if persons is None else persons
        return kernels.grade_table(who, t, self._lot_rules(), self._people(), self._ring())

    def by_grade_numpy(self, t: int, persons: I64 | None = None) -> I64:
        """``by_grade`` over whole arrays (``ring_sums``, then ``standing_numpy`` for the persons
        whose lots need a walk): the compiled table's twin, kept for its checks."""
        m = self.model
        pol = m.policy.section(CreditsPolicy)
        span = pol.grade_max - pol.grade_min + 1
        if persons is None:  # whole arrays: no copies of every person's ring
            who = np.arange(m.n, dtype=np.int64)
            available = np.maximum(self.available(t), 0)
            ends, stp, qty = self.adj_end, self.adj_steps, self.adj_qty
        else:
            who = persons
            available = np.maximum(self.available_of(who, t), 0)
            ends, stp, qty = self.adj_end[who], self.adj_steps[who], self.adj_qty[who]
        # One pass over each person's ring row (compiled: ``kernels.ring_sums``): what each
        # person's active adjustments add up and take off (a ring's int8 steps add up well within
        # int32), and whether any of them is a quantity one.
        up, down, busy, quantified = ring_sums(ends, stp, qty, t)
        out = np.zeros((who.size, span), np.int64)
        out[~busy, pol.base_grade - pol.grade_min] = available[~busy]  # no active adjustment: all at base
        # Whole-balance adjustments only, never reaching a bound in any order: one lot at base + the
        # sum of their steps, then decay (the order of application cannot matter without a clamp).
        b = np.flatnonzero(busy)
        up, down = up[b].astype(np.int64), down[b].astype(np.int64)
        simple = ~quantified[b]
        simple &= (pol.base_grade + up <= pol.grade_max) & (pol.base_grade + down >= pol.grade_min)
        if simple.any():
            rows_s = b[simple]
            since = np.maximum(self.enrolled[who[rows_s]], self.last_fresh[who[rows_s]])
            decay = decay_steps(t - since, pol.decay_window, pol.decay_step)
            g = grade_after_decay(pol.base_grade + up[simple] + down[simple], decay, pol.base_grade)
            out[rows_s, g - pol.grade_min] = available[rows_s]
        rows = b[~simple]
        for lo in range(0, rows.size, 200_000):  # bounded memory on large runs
            part = rows[lo : lo + 200_000]
            grade, units, _, _, _ = self.standing_numpy(who[part], t)
            idx = np.repeat(part, grade.shape[1]) * span + (grade.ravel() - pol.grade_min)
            np.add.at(out.reshape(-1), idx, units.ravel())  # exact int64, touching only these persons' cells
        return out

    def grades(self, t: int) -> I64:
        """Every person's grade at t: the grade holding most of their credits (the lower on a tie);
        the whole-balance walk's grade (SC4, SC8) for those holding none."""
        m = self.model
        pol = m.policy.section(CreditsPolicy)
        table = self.by_grade(t)
        main = np.argmax(table, axis=1) + pol.grade_min
        empty = table.sum(axis=1) == 0
        if empty.any():
            main[empty] = self._walk_grades(t, np.flatnonzero(empty))
        out: I64 = main.astype(np.int64)
        return out

    def best_grade(self, persons: I64, t: int) -> I64:
        """The highest grade holding credits (the base grade for those holding none), as SC9 reads it."""
        m = self.model
        pol = m.policy.section(CreditsPolicy)
        grade, units, _, _, _ = self.remember_standing(persons, t)
        best = np.where(units > 0, grade, np.iinfo(np.int64).min).max(axis=1, initial=np.iinfo(np.int64).min)
        return np.where(best == np.iinfo(np.int64).min, pol.base_grade, best)

    def _walk_grades(self, t: int, persons: I64) -> I64:
        """Whole-balance adjustments in order of start, clamped after each, then decay."""
        m = self.model
        pol = m.policy.section(CreditsPolicy)
        g = np.full(persons.size, pol.base_grade, np.int64)
        ends, steps_, seqs = self.adj_end[persons], self.adj_steps[persons], self.adj_seq[persons]
        order = np.argsort(seqs, axis=1, kind="stable")
        ends = np.take_along_axis(ends, order, axis=1)
        steps_ = np.take_along_axis(steps_, order, axis=1).astype(np.int64)
        for j in range(self.ring):
            g = np.clip(g + steps_[:, j] * (ends[:, j] > t), pol.grade_min, pol.grade_max)
        since = np.maximum(self.enrolled[persons], self.last_fresh[persons])
        steps = decay_steps(t - since, pol.decay_window, pol.decay_step)
        return grade_after_decay(g, steps, pol.base_grade)


def council_nominations_valid(candidates: I64, waiting: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """``rules.check_nomination`` (SC9) of a council's decision, one per candidate: a council
    nominates without co-signers, and a candidate already waiting for a draw is refused."""
    assert waiting.size == candidates.size
    out: NDArray[np.bool_] = ~waiting
    return out


def nominations_valid(
    candidates: I64, cosigners: I64, waiting: NDArray[np.bool_], can_sign: NDArray[np.bool_], need: int
) -> NDArray[np.bool_]:
    """``rules.check_nomination`` (SC9) by co-signers, one row per nomination, with the engine's
    check that each co-signer is a verified person (here: also able to sign, X9): the candidate
    is not waiting, is none of its co-signers, and has at least ``need`` distinct co-signers."""
    if candidates.size == 0:
        return np.zeros(0, bool)
    ordered = np.sort(cosigners, axis=1)
    distinct = 1 + (np.diff(ordered, axis=1) != 0).sum(axis=1) if need else np.zeros(candidates.size, np.int64)
    ok = ~waiting & (distinct >= need)
    ok &= ~(cosigners == candidates[:, None]).any(axis=1)
    ok &= can_sign[cosigners].all(axis=1)
    out: NDArray[np.bool_] = ok
    return out
