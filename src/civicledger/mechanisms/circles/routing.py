"""Turning a flow through the trust graph into a payment plan, and checking a plan (CI9), in pure Python.

The router (``handlers.CirclesRouter``) finds a maximum flow in a network with a node
per account and a node per currency: an edge *account → currency* carries what the account holds
of it, an edge *currency → account* what the account accepts of it (trust, CI5; an issuer always
accepts its own). A unit of flow along s → c1 → v → c2 → t means: s gives v a c1-coin, v gives t
a c2-coin, so v swaps 1:1 and ends with the same total.

This module takes that flow and makes the plan: it cancels flow cycles (they move nothing), splits
the rest into paths, keeps the largest paths whose transfers fit in ``max_steps``, and orders the
transfers so every account receives before it passes anything on.

The ``circles.pay`` handler never trusts the router: ``check_plan`` checks every leg of a plan
against the trust and balances loaded for it, and ``own_currency_shortfall`` says how much of the
sender's unclaimed income the plan mints.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from civicledger.kernel.canonical import JSONObject
from civicledger.kernel.errors import RuleViolationError
from civicledger.kernel.identity import AccountId
from civicledger.kernel.ledger import Currency, Leg
from civicledger.kernel.money import CurrencyId
from civicledger.mechanisms.circles.policy import CirclesPolicy
from civicledger.mechanisms.circles.rules import CIRCLES_KINDS, TrustEdge, acceptance_room

Node = tuple[str, str]  # ("a", account) or ("c", currency)


def account_node(account: str) -> Node:
    return ("a", account)


def currency_node(currency: str) -> Node:
    return ("c", currency)


@dataclass(frozen=True, slots=True)
class Plan:
    """What can be paid (``units``) and the ordered transfers that pay it."""

    units: int
    legs: tuple[Leg, ...]
    max_flow: int  # the maximum flow found, before the max_steps limit

    def to_wire(self) -> JSONObject:
        return {
            "units": self.units,
            "max_flow": self.max_flow,
            "steps": len(self.legs),
            "legs": [
                {"currency": leg.currency, "source": leg.source, "target": leg.target, "units": leg.units}
                for leg in self.legs
            ],
        }


FlowGraph = dict[Node, dict[Node, int]]


def _copy(flow: Mapping[Node, Mapping[Node, int]]) -> FlowGraph:
    return {u: {v: x for v, x in out.items() if x > 0} for u, out in flow.items()}


def cancel_cycles(flow: FlowGraph) -> FlowGraph:
    """Remove every flow cycle (a circulation moves nothing); the result is acyclic."""
    graph = _copy(flow)
    while True:
        cycle = _find_cycle(graph)
        if cycle is None:
            return graph
        least = min(graph[u][v] for u, v in itertools.pairwise(cycle))
        for u, v in itertools.pairwise(cycle):
            graph[u][v] -= least
            if graph[u][v] == 0:
                del graph[u][v]


def _find_cycle(graph: FlowGraph) -> list[Node] | None:
    """A cycle as a node list whose first and last node are equal, or None (iterative DFS)."""
    state: dict[Node, int] = {}  # 1 on the stack, 2 done
    for root in sorted(graph):
        if state.get(root):
            continue
        stack: list[tuple[Node, list[Node]]] = [(root, sorted(graph.get(root, {})))]
        path = [root]
        state[root] = 1
        while stack:
            node, pending = stack[-1]
            if not pending:
                state[node] = 2
                stack.pop()
                path.pop()
                continue
            nxt = pending.pop()
            mark = state.get(nxt, 0)
            if mark == 1:
                return [*path[path.index(nxt) :], nxt]
            if mark == 0:
                state[nxt] = 1
                path.append(nxt)
                stack.append((nxt, sorted(graph.get(nxt, {}))))
    return None


def decompose(flow: FlowGraph, source: Node, sink: Node) -> list[tuple[list[Node], int]]:
    """Split an acyclic flow into source→sink paths, widest edge first (deterministic)."""
    graph = _copy(flow)
    paths: list[tuple[list[Node], int]] = []
    while graph.get(source):
        walk = [source]
        while walk[-1] != sink:
            out = graph.get(walk[-1])
            if not out:
                raise ValueError(f"flow is not conserved at {walk[-1]}")
            walk.append(max(out, key=lambda v: (out[v], v)))
        amount = min(graph[u][v] for u, v in itertools.pairwise(walk))
        for u, v in itertools.pairwise(walk):
            graph[u][v] -= amount
            if graph[u][v] == 0:
                del graph[u][v]
        paths.append((walk, amount))
    return paths


def legs_of(path: list[Node]) -> list[tuple[CurrencyId, AccountId, AccountId]]:
    """The transfers of one path s → c1 → v → c2 → t: (c1, s, v), (c2, v, t)."""
    out = []
    for i in range(0, len(path) - 2, 2):
        (ka, a), (kc, c), (kb, b) = path[i], path[i + 1], path[i + 2]
        assert ka == "a" and kc == "c" and kb == "a", "a flow path alternates accounts and currencies"
        out.append((CurrencyId(c), AccountId(a), AccountId(b)))
    return out


def plan_from_flow(
    flow: Mapping[Node, Mapping[Node, int]],
    sender: AccountId,
    receiver: AccountId,
    max_steps: int,
    want: int | None = None,
) -> Plan:
    """The ordered plan paying as much as possible (at most ``want``) in at most ``max_steps`` transfers."""
    source, sink = account_node(sender), account_node(receiver)
    acyclic = cancel_cycles({u: dict(out) for u, out in flow.items()})
    paths = decompose(acyclic, source, sink)
    max_flow = sum(amount for _, amount in paths)
    paths.sort(key=lambda p: (-p[1], len(p[0]), p[0]))
    chosen: dict[tuple[CurrencyId, AccountId, AccountId], int] = {}
    total = 0
    for path, amount in paths:
        if want is not None and total >= want:
            break
        steps = legs_of(path)
        if len(set(chosen) | set(steps)) > max_steps:
            continue
        take = amount if want is None else min(amount, want - total)
        for step in steps:
            chosen[step] = chosen.get(step, 0) + take
        total += take
    return Plan(total, order_legs(chosen, sender), max_flow)


def order_legs(chosen: Mapping[tuple[CurrencyId, AccountId, AccountId], int], sender: AccountId) -> tuple[Leg, ...]:
    """Order transfers so nobody passes on what it has not yet received (topological order)."""
    incoming: dict[AccountId, int] = {}
    outgoing: dict[AccountId, list[tuple[CurrencyId, AccountId, AccountId]]] = {}
    for step in chosen:
        _, u, v = step
        incoming[v] = incoming.get(v, 0) + 1
        incoming.setdefault(u, incoming.get(u, 0))
        outgoing.setdefault(u, []).append(step)
    ready = sorted(a for a, n in incoming.items() if n == 0)
    legs: list[Leg] = []
    while ready:
        u = ready.pop(0)
        for step in sorted(outgoing.get(u, [])):
            c, _, v = step
            legs.append(Leg(c, u, v, chosen[step]))
            incoming[v] -= 1
            if incoming[v] == 0:
                ready.append(v)
                ready.sort()
    if len(legs) != len(chosen):
        raise ValueError("the chosen transfers form a cycle")
    return tuple(legs)


# Checking a plan (CI9) ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LegFacts:
    """What the state says about one leg of a plan, loaded before the leg is checked.

    ``trust``, ``own`` and ``held`` are the target's trust in the currency's issuer and its balances
    of its own currency and of the leg's currency; unused (None, 0, 0) where the target issues the
    currency, as an issuer accepts its own without limit.
    """

    currency: Currency
    source_is_group: bool
    target_is_group: bool
    trust: TrustEdge | None
    own: int
    held: int


def leg_room(leg: Leg, facts: LegFacts, policy: CirclesPolicy, now: int) -> int | None:
    """How much of the leg's currency its target accepts: None = any amount (CI5, CI13)."""
    if facts.currency.issuer == leg.target:
        return None
    return acceptance_room(facts.trust, policy, now, facts.own, facts.held)


def check_plan(legs: Iterable[tuple[Leg, LegFacts]], policy: CirclesPolicy, now: int) -> None:
    """Refuse a plan with a leg the state does not allow (CI9, CI11, CI5).

    Every leg moves Circles money, between accounts that are not groups (a group's coins are
    collateral and never move, CI11), to a target that accepts it: cumulatively, so legs paying one
    account in one currency stay within its trust limit together (CI5). Legs are checked one at a
    time in plan order, so facts loaded lazily report the first problem in that order.
    """
    accepted: dict[tuple[AccountId, CurrencyId], int] = {}
    for i, (leg, facts) in enumerate(legs, 1):
        if facts.currency.kind not in CIRCLES_KINDS:
            raise RuleViolationError(f"leg {i}: {leg.currency} is not Circles money and does not route", rule="CI9")
        for account, is_group in ((leg.source, facts.source_is_group), (leg.target, facts.target_is_group)):
            if is_group:
                raise RuleViolationError(
                    f"leg {i}: group {account} holds only collateral and takes no part in payments", rule="CI11"
                )
        room = leg_room(leg, facts, policy, now)
        key = (leg.target, leg.currency)
        accepted[key] = accepted.get(key, 0) + leg.units
        if room is not None and accepted[key] > room:
            why = "does not trust" if room == 0 else f"accepts at most {room} of the currency of"
            raise RuleViolationError(f"leg {i}: {leg.target} {why} {facts.currency.issuer}", rule="CI5")


def own_currency_shortfall(legs: Iterable[Leg], sender: AccountId, held: int) -> int:
    """How much of its own currency the sender must mint from unclaimed income for its legs (CI2, CI9):
    how far below zero its running balance, starting from ``held``, falls along the legs in order."""
    own = CurrencyId(sender)
    running = lowest = held
    for leg in legs:
        if leg.currency != own:
            continue
        if leg.source == sender:
            running -= leg.units
        elif leg.target == sender:
            running += leg.units
        lowest = min(lowest, running)
    return max(0, -lowest)
