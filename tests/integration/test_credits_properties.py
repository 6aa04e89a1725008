"""Properties of social credits through the real engine (SC2-SC4, SC10), and policy changes (X7)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from civicledger.adapters.memory import MemoryStore
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.kernel.economy import ChangePolicy
from civicledger.kernel.errors import CivicLedgerError
from civicledger.kernel.identity import AccountKind
from civicledger.kernel.time import DAY, YEAR
from civicledger.mechanisms.credits import commands as cc
from civicledger.mechanisms.credits.commands import Tier
from tests.conftest import T0
from tests.integration.test_credits_lifecycle import make_town

actions = st.lists(
    st.one_of(
        st.tuples(st.just("adjust"), st.sampled_from([-2, -1, 1, 2]), st.integers(0, 5_000), st.integers(1, 400)),
        st.tuples(st.just("spend"), st.sampled_from(["base", "mid", "top"]), st.just(0), st.just(0)),
        st.tuples(st.just("wait"), st.integers(1, 200), st.just(0), st.just(0)),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=actions)
def test_sc04_property_through_the_engine_available_never_negative_grades_in_range(
    steps: list[tuple[str, int, int, int]],
) -> None:
    e = ScriptedEconomy(MemoryStore(), start=T0, label="credits property")
    town = make_town(e, born_years_ago=1)
    shop = e.open("shop", AccountKind.ORGANIZATION)
    tiers = (Tier("base", 300, 0), Tier("mid", 200, 3), Tier("top", 100, 5))
    e.run(cc.RegisterService("shop", shop, "education", "Shop", tiers), "shop")
    spent = 0
    for kind, a, b, c in steps:
        try:
            if kind == "adjust":
                e.run(cc.AdjustGrade(town.alice, a, b, c * DAY, "r", "e", technocrat=town.tess), "tess")
            elif kind == "spend":
                receipt = e.run(cc.SpendCredits(town.alice, "shop", str(a)), "alice")
                spent += sum(receipt.result["by_grade"].values())
            else:
                e.advance(a * DAY)
        except CivicLedgerError:
            pass
        s = town.standing("alice")
        assert s.available >= 0 and s.spent == spent  # type: ignore[attr-defined]
        assert sum(s.by_grade().values()) == s.available  # type: ignore[attr-defined]
        assert all(0 <= g <= 5 for g in s.by_grade())  # type: ignore[attr-defined]


def test_x07_a_new_allocation_applies_from_its_time_onward(memory_economy: ScriptedEconomy) -> None:
    town = make_town(memory_economy, born_years_ago=1)
    e = town.e
    assert town.standing("alice").accrued == 1_000  # type: ignore[attr-defined]
    e.council_decision(ChangePolicy("credits.annual_allocation", 2_000))
    e.advance(YEAR)
    assert town.standing("alice").accrued == 3_000  # type: ignore[attr-defined]
    assert town.standing("alice", at=e.clock.now() - YEAR).accrued == 1_000  # type: ignore[attr-defined]
