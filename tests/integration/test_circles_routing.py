"""CI9, CI13, CI14 through the engine: routed payments, query mode, the router kept up to date,
a max-flow checked against networkx on random graphs, and Sybil rings that cannot pay out."""

from __future__ import annotations

import random

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from civicledger.adapters.memory import MemoryStore
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.kernel import ledger as led
from civicledger.kernel.errors import InsufficientFundsError, NotFoundError, RuleViolationError
from civicledger.kernel.identity import AccountId, AccountKind
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.ports import Store, UnitOfWork
from civicledger.kernel.time import DAY
from civicledger.mechanisms.circles import handlers as sc
from civicledger.mechanisms.circles import messages as cm
from civicledger.mechanisms.circles import state as cs
from civicledger.mechanisms.circles.flow import INF
from civicledger.mechanisms.circles.rules import CIRCLES_KINDS
from tests.conftest import T0
from tests.integration.test_circles_accounts import (
    head,
    held,
    join,
    refused_and_nothing_written,
    supply_matches,
    verified,
)


def totals(uow: UnitOfWork, accounts: list[AccountId]) -> dict[AccountId, int]:
    """Each account's total over every Circles currency it holds."""
    out = {}
    for account in accounts:
        holdings = uow.ledger.holdings(account)
        out[account] = sum(
            units for c, units in holdings.items() if (cur := uow.ledger.currency(c)) and cur.kind in CIRCLES_KINDS
        )
    return out


def abc(e: ScriptedEconomy) -> tuple[AccountId, AccountId, AccountId]:
    a, b, c = join(e, "a", "b", "c")
    e.run(cm.Trust(a, b), "a", "b", cid="trust-ab")
    e.run(cm.Trust(b, c), "b", "c", cid="trust-bc")
    return a, b, c


def test_ci09_the_seeds_a_b_c_payment_routes_through_b_who_ends_with_the_same_total(economy: ScriptedEconomy) -> None:
    a, b, c = abc(economy)
    router = sc.router_for(economy.store)
    with economy.store.read() as uow:
        before = totals(uow, [a, b, c])
    # a holds b-coins (a's reward), which c accepts: the direct part; beyond that b must swap.
    payment = router.pay_command(a, c, 600_000)
    assert 2 <= len(payment.legs) <= 30
    receipt = economy.run(payment, "a")
    with economy.store.read() as uow:
        after = totals(uow, [a, b, c])
    assert after[b] == before[b]
    assert after[c] == before[c] + 600_000
    assert after[a] == before[a] - 600_000 + receipt.result["minted"]
    # Ordered: b passes on a-coins only after receiving them.
    seen_b_receive = False
    for leg in payment.legs:
        if leg.target == b:
            seen_b_receive = True
        if leg.source == b:
            assert seen_b_receive
    supply_matches(economy)
    verified(economy)


def test_ci09_query_mode_returns_the_maximum_and_plan_and_pays_nothing(economy: ScriptedEconomy) -> None:
    a, _b, c = abc(economy)
    router = sc.router_for(economy.store)
    size = head(economy)
    plan = router.route(a, c)
    assert plan.units == plan.max_flow > 0 and plan.legs
    assert head(economy) == size
    # The maximum here: a's own month (434,812, unclaimed) + a's b-coins (434,812) that c accepts.
    assert plan.max_flow == 434_812 + 434_812


def test_ci09_paying_more_than_can_flow_is_refused_and_nothing_written(economy: ScriptedEconomy) -> None:
    a, b, c = abc(economy)
    router = sc.router_for(economy.store)
    size = head(economy)
    with pytest.raises(RuleViolationError) as e:
        router.pay_command(a, c, 10**9)
    assert e.value.rule == "CI9" and head(economy) == size
    # A hand-made plan that skips the trust is refused by the handler, which trusts no router.
    bad = cm.Pay(a, c, 10, (led.Leg(CurrencyId(a), a, c, 10),))
    assert refused_and_nothing_written(economy, bad, "a").rule == "CI5"
    bent = cm.Pay(
        a, c, 10, (led.Leg(CurrencyId(a), a, b, 10), led.Leg(CurrencyId(c), b, c, 9), led.Leg(CurrencyId(b), a, c, 1))
    )
    assert refused_and_nothing_written(economy, bent, "a").rule == "CI9"


def test_ci09_a_plan_keeps_to_max_steps(store: Store) -> None:
    e = ScriptedEconomy(store, start=T0, label="civicledger test key", policy={"circles": {"max_steps": 1}})
    a, b, c = abc(e)
    router = sc.router_for(e.store)
    plan = router.route(a, c)
    assert len(plan.legs) == 1 and plan.units < plan.max_flow
    with pytest.raises(RuleViolationError) as refused:
        router.pay_command(a, c, plan.max_flow)
    assert refused.value.rule == "CI9"
    two_legs = cm.Pay(a, c, 10, (led.Leg(CurrencyId(a), a, b, 10), led.Leg(CurrencyId(c), b, c, 10)))
    assert refused_and_nothing_written(e, two_legs, "a").rule == "CI9"


def test_ci09_unknown_accounts_are_refused(economy: ScriptedEconomy) -> None:
    (a,) = join(economy, "a")
    router = sc.router_for(economy.store)
    with pytest.raises(NotFoundError) as e:
        router.route(a, economy.account("ghost"))
    assert e.value.rule == "CI9"
    ghost_pay = cm.Pay(a, economy.account("ghost"), 1, (led.Leg(CurrencyId(a), a, economy.account("ghost"), 1),))
    assert refused_and_nothing_written(economy, ghost_pay, "a").rule == "CI9"


def test_ci09_a_plan_is_refused_at_its_first_bad_leg_in_plan_order(economy: ScriptedEconomy) -> None:
    a, b = join(economy, "a", "b")
    ghost = economy.account("ghost")
    # Leg 1 is refused (b does not trust a) before leg 2's unknown account is looked at.
    legs = (
        led.Leg(CurrencyId(a), a, b, 5),
        led.Leg(CurrencyId(a), b, ghost, 5),
        led.Leg(CurrencyId(a), ghost, b, 5),
    )
    error = refused_and_nothing_written(economy, cm.Pay(a, b, 5, legs), "a")
    assert (error.rule, str(error.message)) == ("CI5", f"leg 1: {b} does not trust {a}")
    economy.run(cm.Trust(a, b), "a", "b")
    error = refused_and_nothing_written(economy, cm.Pay(a, b, 5, legs), "a")
    assert isinstance(error, NotFoundError) and error.rule == "CI9"


def test_ci02_paying_with_unclaimed_income_mints_it(economy: ScriptedEconomy) -> None:
    a, b = join(economy, "a", "b")
    economy.run(cm.Trust(a, b), "a", "b")
    economy.advance(DAY)
    payment = sc.router_for(economy.store).pay_command(a, b, 434_812 + 10_000)
    receipt = economy.run(payment, "a")
    assert receipt.result["minted"] > 0
    assert held(economy, a, a) == 0 or held(economy, a, a) < 434_812
    supply_matches(economy)
    verified(economy)


def test_ci09_the_router_follows_the_journal_and_reads_only_new_entries(economy: ScriptedEconomy) -> None:
    a, b, c = join(economy, "a", "b", "c")
    router = sc.router_for(economy.store)
    assert router.route(a, c).max_flow == 0
    loaded, index = router.seen, router.index
    router.route(c, a)
    assert router.seen == loaded and router.index is index  # no rebuild per query
    economy.run(cm.Trust(a, b), "a", "b")
    economy.run(cm.Trust(b, c), "b", "c")
    assert router.refresh() == 2 and router.seen == loaded + 2
    trusted = router.route(a, c).max_flow
    assert trusted > 0
    economy.run(cm.Untrust(c, b), "c")
    # c no longer accepts b-coins; only the c-coins b already holds (its reward) can still reach c.
    assert router.route(a, c).max_flow == held(economy, b, c) < trusted


def test_ci09_a_stale_plan_is_refused_and_nothing_written(economy: ScriptedEconomy) -> None:
    a, b, c = abc(economy)
    router = sc.router_for(economy.store)
    payment = router.pay_command(a, c, 434_812 + 1_000)
    economy.run(led.Transfer((led.Leg(CurrencyId(b), a, b, 434_812),)), "a")  # a spends its b-coins first
    error = refused_and_nothing_written(economy, payment, "a")
    assert isinstance(error, (InsufficientFundsError, RuleViolationError))


def test_ci13_group_money_routes_to_anyone_who_trusts_the_group(economy: ScriptedEconomy) -> None:
    alice, bob, dave = join(economy, "alice", "bob", "dave")
    berlin = economy.open("berlin", AccountKind.GROUP)
    economy.run(cm.CreateGroup(berlin, alice), "berlin", "alice")
    economy.run(cm.AddMember(berlin, bob), "alice")
    economy.run(cm.ClaimIncome(bob), "bob")
    economy.run(cm.Convert(bob, berlin, 50_000), "bob")
    economy.run(cm.Trust(dave, berlin), "dave")
    payment = sc.router_for(economy.store).pay_command(bob, dave, 20_000)
    assert {leg.currency for leg in payment.legs} == {CurrencyId(berlin)}
    economy.run(payment, "bob")
    assert held(economy, dave, berlin) == 20_000


def test_ci14_a_sybil_ring_trusting_only_itself_moves_nothing_to_honest_accounts(economy: ScriptedEconomy) -> None:
    honest = join(economy, "h1", "h2", "h3")
    economy.run(cm.Trust(honest[0], honest[1]), "h1", "h2")
    economy.run(cm.Trust(honest[1], honest[2]), "h2", "h3")
    sybils = join(economy, *[f"sybil-{i}" for i in range(6)])
    for i in range(6):
        j = (i + 1) % 6
        economy.run(cm.Trust(sybils[i], sybils[j]), f"sybil-{i}", f"sybil-{j}")
        economy.run(cm.ClaimIncome(sybils[i]), f"sybil-{i}")
    router = sc.router_for(economy.store)
    assert router.route(sybils[0], sybils[3]).max_flow > 0  # they can pay each other
    for s in sybils:
        for h in honest:
            assert router.route(s, h).max_flow == 0
    with pytest.raises(RuleViolationError):
        router.pay_command(sybils[0], honest[0], 1)
    for s_name, s in zip([f"sybil-{i}" for i in range(6)], sybils, strict=True):
        for h in honest:
            leg = led.Leg(CurrencyId(s), s, h, 1)
            assert refused_and_nothing_written(economy, led.Transfer((leg,)), s_name).rule == "CI5"


# A max-flow checked against networkx, on small random trust graphs ------------------------------


def networkx_max_flow(uow: UnitOfWork, sender: AccountId, receiver: AccountId, now: int) -> int:
    """The same network built independently from the stored state, solved by networkx."""
    graph = nx.DiGraph()
    groups = {group for group, _ in cs.GROUPS.scan(uow)}

    def add(u: tuple[str, str], v: tuple[str, str], capacity: int) -> None:
        if graph.has_edge(u, v):
            graph[u][v]["capacity"] += capacity
        else:
            graph.add_edge(u, v, capacity=capacity)

    for currency in uow.ledger.currencies():
        if currency.kind not in CIRCLES_KINDS:
            continue
        c = ("c", currency.id)
        add(c, ("a", currency.issuer), INF)
        for truster, trustee, _ in cs.trust_records(uow):
            if trustee == currency.issuer:
                add(c, ("a", truster), INF)
        for holder, units in uow.ledger.holders(currency.id).items():
            if units > 0 and holder not in groups:
                add(("a", holder), c, units)
    extra = cs.claimable_now(uow, sender, now)
    if extra:
        add(("a", sender), ("c", sender), extra)
    if ("a", sender) not in graph or ("a", receiver) not in graph:
        return 0
    return int(nx.maximum_flow_value(graph, ("a", sender), ("a", receiver)))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(min_value=0, max_value=2**32 - 1), size=st.integers(min_value=3, max_value=7))
def test_ci09_the_maximum_matches_networkx_and_every_plan_conserves_intermediaries(seed: int, size: int) -> None:
    rng = random.Random(seed)
    e = ScriptedEconomy(MemoryStore(), start=T0, label="civicledger test key")
    names = [f"p{i}" for i in range(size)]
    accounts = join(e, *names)
    pairs = [(i, j) for i in range(size) for j in range(i + 1, size)]
    for i, j in rng.sample(pairs, k=rng.randint(1, len(pairs))):
        e.run(cm.Trust(accounts[i], accounts[j]), names[i], names[j])
    for i in rng.sample(range(size), k=rng.randint(0, size)):
        e.advance(rng.randint(1, 3) * DAY)
        e.run(cm.ClaimIncome(accounts[i]), names[i])
    router = sc.router_for(e.store)
    for _ in range(3):
        s, t = rng.sample(range(size), 2)
        plan = router.route(accounts[s], accounts[t])
        with e.store.read() as uow:
            expected = networkx_max_flow(uow, accounts[s], accounts[t], e.clock.now())
            before = totals(uow, accounts)
        assert plan.max_flow == expected
        if plan.units == 0:
            continue
        amount = rng.randint(1, plan.units)
        receipt = e.run(router.pay_command(accounts[s], accounts[t], amount), names[s])
        with e.store.read() as uow:
            after = totals(uow, accounts)
        for k, account in enumerate(accounts):
            if k == s:
                assert after[account] == before[account] - amount + receipt.result["minted"]
            elif k == t:
                assert after[account] == before[account] + amount
            else:
                assert after[account] == before[account]
    supply_matches(e)
