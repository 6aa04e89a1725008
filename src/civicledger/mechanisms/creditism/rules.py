"""The formulas of Creditism, one function per rule of SPEC CR2-CR13, all exact.

Worked numbers of the seed (tested in tests/unit/test_cr_rules.py):

- CR2  optimal 10,000, current 4,000, per unit 100 -> 0.61; current 15,000 -> -0.49 -> 0
- CR3  1,000 / (60,000 - 50,000) -> 0.1
- CR5  (500 - 300) x (1 - 0.1) -> 180 a year; (5,000 - 3,000) x (1 - 0.61) -> 780 a year
- CR7  min(50,000 / 5, 60,000 / 2, 30,000 / 1) -> 10,000 bicycles
- CR9  4,000 / 5,000 -> 0.8; 2,000 / 2,000 -> 1; 1,500 / 1,000 -> 1.5
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction

from civicledger.kernel.errors import InvalidInputError, RuleViolationError
from civicledger.mechanisms.creditism.values import show

ZERO = Fraction(0)
ONE = Fraction(1)


def round_half_up(value: Fraction) -> int:
    """The nearest whole number, halves away from zero (prices and fees in minor units)."""
    if value >= 0:
        return int((value + Fraction(1, 2)) // 1)
    return -int((-value + Fraction(1, 2)) // 1)


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
