"""The formulas of Creditism, one function per rule of SPEC CR2-CR13, all exact.

Worked numbers of the seed (tested in tests/unit/test_cr_rules.py):

- CR2  optimal 10,000, current 4,000, per unit 100 -> 0.61; current 15,000 -> -0.49 -> 0
- CR3  1,000 / (60,000 - 50,000) -> 0.1
- CR5  (500 - 300) x (1 - 0.1) -> 180 a year; (5,000 - 3,000) x (1 - 0.61) -> 780 a year
- CR7  min(50,000 / 5, 60,000 / 2, 30,000 / 1) -> 10,000 bicycles
- CR9  4,000 / 5,000 -> 0.8; 2,000 / 2,000 -> 1; 1,500 / 1,000 -> 1.5

The council's and the coops' decisions are here too, on plain figures (``AssetFigures``): how goods
share an input and what they can make (CR7), the rule's sustainable rate and the allotment a
council may set (CR5, CR6, CR8), an approval within the good's allotment (CR8), the price of a
pre-order (CR14) and what the council's report shows of each asset (CR7-CR9). Handlers read the
records, call these, and record what they decide.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from civicledger.kernel.errors import InvalidInputError, RuleViolationError
from civicledger.mechanisms.creditism.values import AssetKind, show

ZERO = Fraction(0)
ONE = Fraction(1)


def round_half_up(value: Fraction) -> int:
    """The nearest whole number, halves away from zero (prices and fees in minor units)."""
    if value >= 0:
        return int((value + Fraction(1, 2)) // 1)
    return -int((-value + Fraction(1, 2)) // 1)


def component_shares(components: Mapping[str, int]) -> dict[str, Fraction]:
    """Each component's share of what a price pays for (CR11, CR12), exactly.

    CR11 makes scarcity a factor: MarketPrice = (BasePrice + CoopMarkup) x Demand / Supply, so a
    scarcity discount scales every other slice alike and each slice's share is its part of the
    positive slices, before the discount; a discount's own share is negative, of the same whole.
    A scarcity premium is a positive slice like the others. With no discount the shares are simply
    each slice over the price. The goods page and ``civic creditism price`` both show these.
    """
    whole = sum(v for v in components.values() if v > 0)
    if whole <= 0:
        return {k: Fraction(0) for k in components}
    return {k: Fraction(v, whole) for k, v in components.items()}


def percent(share: Fraction) -> str:
    """A share as people read it, one decimal, halves away from zero: ``Fraction(12956, 17711)`` -> "73.2%"."""
    return f"{round_half_up(share * 1000) / 10:.1f}%"


# CR2-CR4: externality ---------------------------------------------------------------------------


def resource_factor_raw(optimal: Fraction, current: Fraction, per_unit: Fraction, quantity: Fraction = ONE) -> Fraction:
    """CR2 before clamping: (optimal - current + per_unit x q) / optimal (may be negative)."""
    if optimal <= 0:
        raise InvalidInputError("a factor's optimal state must be positive", rule="CR2")
    return (optimal - current + per_unit * quantity) / optimal


def resource_factor(optimal: Fraction, current: Fraction, per_unit: Fraction, quantity: Fraction = ONE) -> Fraction:
    """CR2: a resource factor's score, never below zero (a factor above its optimum does no harm)."""
    return max(ZERO, resource_factor_raw(optimal, current, per_unit, quantity))


def good_factor(impact: Fraction, absorption: Fraction, current: Fraction) -> Fraction:
    """CR3: impact per unit / (rejuvenation - current) of what absorbs it; 1 with no headroom left.

    An impact larger than the whole headroom uses all of it, so the score is capped at 1.
    """
    headroom = absorption - current
    if headroom <= 0:
        return ONE
    return min(ONE, impact / headroom)


def externality_score(weighted: Sequence[tuple[Fraction, Fraction]], *, weights_sum_to_one: bool) -> Fraction:
    """CR4: E = sum(w_i EF_i) / sum(w_i), clamped to [0, 1]. ``weighted`` holds (w_i, EF_i)."""
    if not weighted:
        return ZERO
    if any(w < 0 for w, _ in weighted):
        raise InvalidInputError("a factor's weight must not be negative", rule="CR4")
    total = sum((w for w, _ in weighted), ZERO)
    if total <= 0:
        raise InvalidInputError("the factors' weights must have a positive sum", rule="CR4")
    if weights_sum_to_one and total != 1:
        raise InvalidInputError(f"the factors' weights must sum to 1, not {total}", rule="CR4")
    score = sum((w * ef for w, ef in weighted), ZERO) / total
    return min(ONE, max(ZERO, score))


def check_ceiling(score: Fraction, ceiling: Fraction, asset: str) -> None:
    """CR4: processing an asset whose score is above the legal ceiling is refused."""
    if score > ceiling:
        raise RuleViolationError(
            f"{asset} has externality score {show(score)}, above the legal ceiling {show(ceiling)}", rule="CR4"
        )


# CR5-CR9: rates --------------------------------------------------------------------------------


def allotted_renewable(rejuvenation: Fraction, mortality: Fraction, score: Fraction) -> Fraction:
    """CR5: max(0, rejuvenation - mortality) x (1 - E), a year."""
    if rejuvenation < 0 or mortality < 0:
        raise InvalidInputError("rejuvenation and mortality rates must not be negative", rule="CR5")
    return max(ZERO, rejuvenation - mortality) * (ONE - score)


def allotted_finite(total_supply: Fraction, age: Fraction, score: Fraction) -> Fraction:
    """CR6: total supply / age (years since it formed) x (1 - E), a year."""
    if total_supply < 0:
        raise InvalidInputError("a total supply must not be negative", rule="CR6")
    if age <= 0:
        raise InvalidInputError("a finite resource needs a positive age in years", rule="CR6")
    return total_supply / age * (ONE - score)


def production_capability(
    available: Mapping[str, Fraction], per_unit: Mapping[str, Fraction]
) -> tuple[Fraction, str | None]:
    """CR7: min over inputs of (allotted input / input per unit), and the input that limits it.

    ``available`` is each input's allotment (or this good's share of it, see ``share_allotment``).
    A good with no inputs is limited by nothing in the chain: its capability is its allotment alone
    (returned as -1 with no limiting input; the caller uses the council's figure).
    """
    best: tuple[Fraction, str] | None = None
    for name in sorted(per_unit):
        need = per_unit[name]
        if need < 0:
            raise InvalidInputError(f"an input per unit must not be negative ({name})", rule="CR7")
        if need == 0:
            continue
        if name not in available:
            raise RuleViolationError(f"the bill of materials names {name}, which has no allotment", rule="CR7")
        can = available[name] / need
        if best is None or can < best[0]:
            best = (can, name)
    if best is None:
        return Fraction(-1), None
    return best


def share_allotment(allotment: Fraction, claims: Mapping[str, Fraction], rule: str = "demand") -> dict[str, Fraction]:
    """CR7: split one input's allotment among the goods that draw on it.

    By demand (the default): in proportion to each good's claim (its demand x input per unit); if
    no good has a claim yet, or under ``rule="equal"``, in equal parts. The parts sum to the whole.
    """
    if not claims:
        return {}
    if any(c < 0 for c in claims.values()):
        raise InvalidInputError("a demand must not be negative", rule="CR7")
    total = sum(claims.values(), ZERO)
    if rule == "equal" or total == 0:
        return {g: allotment / len(claims) for g in claims}
    return {g: allotment * c / total for g, c in claims.items()}


def allotted_production(capability: Fraction, score: Fraction) -> Fraction:
    """CR8: capability x (1 - E of the good), a year."""
    return capability * (ONE - score)


def actual_rate(demand: Fraction, allotted: Fraction) -> Fraction:
    """CR8: actual extraction or production = min(demand, allotted)."""
    return min(demand, allotted)


def allowance_rating(demand: Fraction, allotted: Fraction) -> Fraction | None:
    """CR9: demand / allotted, lower is better; None when nothing is allotted (no finite rating)."""
    if allotted <= 0:
        return None
    return demand / allotted


def efficiency_rating(price: Fraction, labour: Fraction) -> Fraction | None:
    """CR9: price / labour cost; None for a price with no labour in it."""
    if labour <= 0:
        return None
    return price / labour


# CR10-CR11: prices (per unit, exact; rounded only when shown or recorded) -----------------------


def externality_fee(score: Fraction, fee_base: int) -> Fraction:
    """CR10, X8: E x fee base (policy: one month of the basic income, in minor units)."""
    return score * fee_base


def resource_cost(extraction_labour: Fraction, external: Fraction, fee: Fraction) -> Fraction:
    """CR10: extraction labour + external resources + externality fee."""
    return extraction_labour + external + fee


def base_price(resources_cost: Fraction, labour: Fraction, council_markup: Fraction) -> Fraction:
    """CR11: ResourcesCost + LaborCosts + CouncilMarkUp (the markup is a ratio of the first two)."""
    return (resources_cost + labour) * (ONE + council_markup)


def market_price(base: Fraction, coop_markup: Fraction, demand: Fraction, supply: Fraction) -> Fraction:
    """CR11: (BasePrice + CoopMarkup) x Demand / Supply (the coop markup is a ratio of BasePrice)."""
    return base * (ONE + coop_markup) * scarcity(demand, supply)


def scarcity(demand: Fraction, supply: Fraction) -> Fraction:
    """CR11: the Demand / Supply factor; 1 while either is unknown (no market signal yet)."""
    if demand <= 0 or supply <= 0:
        return ONE
    return demand / supply


# CR13: cooperatives -----------------------------------------------------------------------------


def coop_surplus(revenue: int, base_units: int, sold: int, workers_share: Fraction) -> tuple[int, int]:
    """CR13: revenue above BasePrice x sold, as (coop credits, workers' credits); none if at or below."""
    if revenue < 0 or sold < 0:
        raise InvalidInputError("revenue and quantity sold must not be negative", rule="CR13")
    surplus = revenue - base_units * sold
    if surplus <= 0:
        return 0, 0
    workers = int(surplus * workers_share)  # rounded down: the odd unit stays with the coop
    return surplus - workers, workers


# CR5-CR9, CR14: allotments, decided on an asset's figures -----------------------------------------


@dataclass(frozen=True, slots=True)
class AssetFigures:
    """One asset's figures, exact, as the allotment rules use them (CR5-CR9)."""

    kind: AssetKind
    score: Fraction = ZERO  # E (CR4)
    demand: Fraction = ZERO  # a year: the survey, or the pre-orders when more (``effective_demand``)
    allotted: Fraction | None = None  # a year; None until the council allots
    inputs: Mapping[str, Fraction] = field(default_factory=dict)  # per unit, as the chain prices it
    rejuvenation: Fraction = ZERO  # renewable (CR5)
    mortality: Fraction = ZERO
    total_supply: Fraction = ZERO  # finite (CR6)
    age: Fraction = ZERO


@dataclass(frozen=True, slots=True)
class Capability:
    """CR7: what a good's shares of its inputs let it make a year, and the input that limits it."""

    amount: Fraction | None  # None: no input limits it (a good with no inputs)
    limiting: str | None
    shares: dict[str, Fraction]  # this good's share of each input's allotment


@dataclass(frozen=True, slots=True)
class Sustainable:
    """CR5, CR6, CR8: the rule's allotted rate a year and, for a good, its capability (CR7)."""

    rate: Fraction | None  # None: a good with no inputs to limit it; the council gives the figure
    capability: Fraction | None = None
    limiting: str | None = None
    shares: dict[str, Fraction] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Standing:
    """CR7-CR9: what the council's report shows of one asset."""

    demand: Fraction
    allotted: Fraction | None
    rating: Fraction | None  # CR9: demand / allotted
    actual: Fraction | None  # CR8: min(demand, allotted)
    split: dict[str, Fraction] | None  # CR7: how the goods drawing on it share its allotment
    capability: Capability | None  # goods, when their inputs are all allotted
    note: str | None  # goods: why there is no capability yet


def effective_demand(surveyed: Fraction, preordered: int) -> Fraction:
    """CR14: the surveyed demand, or the units pre-ordered when they exceed it."""
    return max(surveyed, Fraction(preordered))


def allotment_rule(kind: AssetKind) -> str:
    """The rule that allots an asset of this kind: CR5 renewable, CR6 finite, CR8 good."""
    return {AssetKind.RENEWABLE: "CR5", AssetKind.FINITE: "CR6", AssetKind.GOOD: "CR8"}[kind]


def claims_on(assets: Mapping[str, AssetFigures], name: str) -> dict[str, Fraction]:
    """CR7: the goods drawing on ``name`` and their claims on it (demand x input per unit), by name."""
    claims = {}
    for good in sorted(assets):
        figures = assets[good]
        qty = figures.inputs.get(name)
        if qty and figures.kind == AssetKind.GOOD:
            claims[good] = figures.demand * qty
    return claims


def capability(assets: Mapping[str, AssetFigures], good: str, sharing: str) -> Capability:
    """CR7: a good's capability from its share of each input's allotment; refused while an input
    has no allotment."""
    inputs = assets[good].inputs
    shares: dict[str, Fraction] = {}
    for name in sorted(inputs):
        allotted = assets[name].allotted
        if allotted is None:
            raise RuleViolationError(f"{good} needs {name}, which has no allotment yet", rule="CR7")
        split = share_allotment(allotted, claims_on(assets, name), sharing)
        shares[name] = split.get(good, ZERO)
    amount, limiting = production_capability(shares, inputs)
    return Capability(None if limiting is None else amount, limiting, shares)


def sustainable(assets: Mapping[str, AssetFigures], name: str, sharing: str) -> Sustainable:
    """CR5, CR6, CR8: the rule's allotted rate of one asset (a good's from its capability, CR7)."""
    figures = assets[name]
    if figures.kind is AssetKind.RENEWABLE:
        return Sustainable(allotted_renewable(figures.rejuvenation, figures.mortality, figures.score))
    if figures.kind is AssetKind.FINITE:
        return Sustainable(allotted_finite(figures.total_supply, figures.age, figures.score))
    can = capability(assets, name, sharing)
    if can.amount is None:
        return Sustainable(None, shares=can.shares)
    return Sustainable(allotted_production(can.amount, figures.score), can.amount, can.limiting, can.shares)


def decide_allotment(
    asset: str, rule: str, rate: Fraction | None, amount: Fraction | None, taken: Fraction
) -> Fraction:
    """CR5, CR6, CR8: the allotment a council sets: the rule's sustainable ``rate``, or less
    (``amount``), and never below what approved coops already hold (``taken``)."""
    if amount is None:
        if rate is None:
            raise InvalidInputError(f"{asset} has no inputs to limit it: the council must give the amount", rule=rule)
        allotted = rate
    else:
        allotted = amount
        if rate is not None and allotted > rate:
            raise RuleViolationError(
                f"over-allotment: {asset} may be allotted at most {show(rate)} a year, not {show(allotted)}",
                rule=rule,
            )
    if taken > allotted:
        raise RuleViolationError(f"over-allotment: coops already hold {show(taken)} a year of {asset}", rule="CR8")
    return allotted


def check_coop_allotment(good: str, allotted: Fraction, limit: Fraction | None, taken: Fraction) -> None:
    """CR8, CR14: an approval allots a coop a positive production a year, within what the good's
    allotment (``limit``) leaves after the coops already approved (``taken``)."""
    if allotted <= 0:
        raise InvalidInputError("an approval allots a positive production a year", rule="CR8")
    if limit is None:
        raise RuleViolationError(f"the council has not set {good}'s allotted production yet", rule="CR14")
    if taken + allotted > limit:
        raise RuleViolationError(
            f"over-allotment: {good} is allotted {show(limit)} a year and coops already hold {show(taken)}",
            rule="CR8",
        )


def standing(assets: Mapping[str, AssetFigures], name: str, sharing: str) -> Standing:
    """CR7-CR9: one asset's allowance rating, actual rate, how goods share it and, for a good, its
    capability (or why it has none yet)."""
    figures = assets[name]
    demand, allotted = figures.demand, figures.allotted
    rating = None if allotted is None else allowance_rating(demand, allotted)
    actual = None if allotted is None else actual_rate(demand, allotted)
    claims = claims_on(assets, name)
    split = share_allotment(allotted, claims, sharing) if allotted is not None and claims else None
    can, note = None, None
    if figures.kind == AssetKind.GOOD:
        try:
            can = capability(assets, name, sharing)
        except RuleViolationError as e:
            note = e.message
    return Standing(demand, allotted, rating, actual, split, can, note)


@dataclass(frozen=True, slots=True)
class PreOrderPrice:
    """CR14: a pre-order's demand/supply ratio when placed (the order included) and its price."""

    ratio: Fraction
    unit_price: int  # minor units
    total: int


def pre_order_price(
    base: Fraction, coop_markup: Fraction, preordered: int, quantity: int, allotted: Fraction
) -> PreOrderPrice:
    """CR14: units pre-ordered so far (this order included) over the coop's allotted production,
    times its price before scarcity: early orders pay less."""
    ratio = Fraction(preordered + quantity) / allotted
    unit = round_half_up(base * (ONE + coop_markup) * ratio)
    return PreOrderPrice(ratio, unit, unit * quantity)


# IN5: a pre-order priced unit by unit, at each unit's own position in the queue -----------------


def floor_sum(n: int, m: int, a: int, b: int) -> int:
    """sum over i = 0 .. n - 1 of floor((a i + b) / m), for n >= 0, m > 0, a >= 0, b >= 0, exactly,
    in O(log(max(a, m))) steps (the Euclid-like reduction of floor sums)."""
    if n < 0 or m <= 0 or a < 0 or b < 0:
        raise ValueError("floor_sum needs n >= 0, m > 0, a >= 0, b >= 0")
    total = 0
    while True:
        if a >= m:
            total += (n - 1) * n // 2 * (a // m)
            a %= m
        if b >= m:
            total += n * (b // m)
            b %= m
        y_max = a * n + b
        if y_max < m:
            return total
        n, b, m, a = y_max // m, y_max % m, a, m


def unit_price_at(price: Fraction, allotted: Fraction, position: int) -> int:
    """IN5, CR14: the price of the unit at ``position`` (1 = the first unit ever pre-ordered from the
    coop): its price before scarcity ``price`` x position / allotted production, to the minor unit."""
    if allotted <= 0:
        raise RuleViolationError("the coop has no allotted production to pre-order from", rule="CR14")
    return round_half_up(price * position / allotted)


def pre_order_total(price: Fraction, allotted: Fraction, preordered: int, quantity: int) -> int:
    """IN5, CR14: what ``quantity`` units cost after ``preordered`` units: the sum over positions
    k = preordered + 1 .. preordered + quantity of ``unit_price_at(price, allotted, k)``, so an order
    of n units costs exactly what n orders of one unit placed in a row cost.

    Closed form: with price / allotted = p / q (p >= 0, q > 0), each unit costs
    round_half_up(p k / q) = floor((2 p k + q) / (2 q)), and the sum of that arithmetic sequence of
    floors is ``floor_sum`` (exact integers, O(log) steps whatever the quantity)."""
    if preordered < 0 or quantity < 0:
        raise InvalidInputError("pre-ordered units and the quantity must not be negative", rule="IN5")
    if allotted <= 0:
        raise RuleViolationError("the coop has no allotted production to pre-order from", rule="CR14")
    if price < 0:
        raise InvalidInputError("a price must not be negative", rule="CR11")
    ratio = price / allotted
    p, q = ratio.numerator, ratio.denominator
    return floor_sum(quantity, 2 * q, 2 * p, 2 * p * (preordered + 1) + q)


@dataclass(frozen=True, slots=True)
class PositionedPreOrder:
    """IN5, CR14: a pre-order priced unit by unit: the ratio and price of its first and last units,
    and the total, the sum over every unit's own position."""

    first_ratio: Fraction
    ratio: Fraction  # demand / supply at its last unit (this order included)
    first_unit_price: int
    unit_price: int  # the last unit's price
    total: int


def positioned_pre_order(
    base: Fraction, coop_markup: Fraction, preordered: int, quantity: int, allotted: Fraction
) -> PositionedPreOrder:
    """IN5, CR14 (rules 2): a pre-order of ``quantity`` after ``preordered`` units, each unit at the
    demand/supply ratio of its own position; refused beyond the coop's allotted production (CR8:
    a coop cannot sell more than it may make, so the ratio never exceeds 1)."""
    if quantity <= 0:
        raise InvalidInputError("a pre-order is for a positive quantity", rule="CR14")
    if allotted <= 0:
        raise RuleViolationError("the coop has no allotted production to pre-order from", rule="CR14")
    if preordered + quantity > allotted:
        raise RuleViolationError(
            f"the coop's allotted production is {show(allotted)} a year and {preordered} units are already pre-ordered",
            rule="CR8",
        )
    price = base * (ONE + coop_markup)
    first, last = preordered + 1, preordered + quantity
    return PositionedPreOrder(
        Fraction(first) / allotted,
        Fraction(last) / allotted,
        unit_price_at(price, allotted, first),
        unit_price_at(price, allotted, last),
        pre_order_total(price, allotted, preordered, quantity),
    )


def surplus_of_units(price: Fraction, allotted: Fraction, first: int, quantity: int, base_units: int) -> int:
    """IN1, CR13 (rules 2): what the units at positions first .. first + quantity - 1 were paid
    above BasePrice (``base_units``), unit by unit: sum of max(0, unit price - BasePrice). Unit
    prices rise with the position, so only the units from the first one priced above BasePrice
    count: k >= (BasePrice + 1/2) x allotted / price. The same for any split of the positions."""
    if quantity <= 0 or price <= 0:
        return 0
    last = first + quantity - 1
    threshold = (Fraction(base_units) + Fraction(1, 2)) * allotted / price
    start = max(first, -((-threshold.numerator) // threshold.denominator))  # ceil
    if start > last:
        return 0
    count = last - start + 1
    return pre_order_total(price, allotted, start - 1, count) - base_units * count


def split_surplus(surplus: int, workers_share: Fraction) -> tuple[int, int]:
    """CR13: a surplus as (coop credits, workers' credits), the workers' rounded down."""
    if surplus <= 0:
        return 0, 0
    workers = int(surplus * workers_share)
    return surplus - workers, workers
