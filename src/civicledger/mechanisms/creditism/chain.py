"""CR12: the supply chain as one linear system, and prices that show every slice of it.

Each asset i (a resource or a good) has per-unit direct costs: labour L_i, external resources
X_i, the externality fee F_i (CR10), so d_i = L_i + X_i + F_i; inputs a_ji (units of j per unit of
i) bought at their market prices p_j; a council markup kappa_i, a coop markup gamma_i and a
scarcity factor s_i = demand / supply (CR11). With q_i = d_i + sum_j a_ji p_j:

    p_i = s_i (1 + gamma_i) (1 + kappa_i) q_i        i.e.   (I - diag(m) B) p = m * d

where B_ij = a_ji and m_i = s_i (1 + gamma_i)(1 + kappa_i). Prices are finite and positive exactly
when the spectral radius of diag(m) B is below 1 (the chain, markups included, does not feed on
itself without end); the physical chain must also be productive (spectral radius of B below 1:
no cycle uses more of a good than it makes). Both are checked with one exact certificate: for a
non-negative matrix M, (I - M) y = 1 has a solution y >= 1 if and only if rho(M) < 1. When a
check fails, the strongly connected components responsible are named.

The breakdown: the direct slices of each asset are L_i, X_i, F_i, kappa_i q_i (council),
gamma_i (1 + kappa_i) q_i (coop) and p_i - (1 + gamma_i)(1 + kappa_i) q_i (scarcity); they sum to
p_i - (B p)_i. Each component c then satisfies x_c = v_c + B x_c, one solve of (I - B) per
component, and the components of every price sum to the price. This module solves exactly with
fractions, component by component of the chain (an asset outside every cycle costs one
multiply-add; only a cycle's assets are solved together); ``civicledger.mechanisms.creditism.solver`` solves
the same system with a sparse factorisation for large chains, and both round with
``round_breakdown``.

A good made by several approved coops is priced at their plans averaged, weighted by each one's
allotment (``blend``); a coop is compared with the others at its own plan (``row_breakdown``,
``quote``), and what its recorded production earns is decided at its own BasePrice
(``decide_production``, CR13).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from civicledger.kernel.errors import RuleViolationError
from civicledger.mechanisms.creditism.rules import coop_surplus, efficiency_rating, round_half_up
from civicledger.mechanisms.creditism.values import COMPONENTS, Component, encode

ZERO = Fraction(0)
ONE = Fraction(1)


@dataclass(frozen=True, slots=True)
class Node:
    """One asset's place in the chain: its direct costs per unit, markups, scarcity and inputs."""

    name: str
    labour: Fraction = ZERO
    external: Fraction = ZERO
    fee: Fraction = ZERO
    council_markup: Fraction = ZERO
    coop_markup: Fraction = ZERO
    scarcity: Fraction = ONE
    inputs: Mapping[str, Fraction] = field(default_factory=dict)

    @property
    def direct(self) -> Fraction:
        return self.labour + self.external + self.fee

    @property
    def multiplier(self) -> Fraction:
        return self.scarcity * (ONE + self.coop_markup) * (ONE + self.council_markup)


@dataclass(frozen=True, slots=True)
class Breakdown:
    """One asset's price, exact, and its six components (summing to it exactly)."""

    name: str
    price: Fraction
    base: Fraction  # CR11 BasePrice
    cost: Fraction  # q: direct costs + inputs at market prices, before markups
    parts: dict[Component, Fraction]


def _solve(matrix: list[list[Fraction]], rhs: list[list[Fraction]]) -> list[list[Fraction]] | None:
    """Solve matrix X = rhs exactly (Gauss-Jordan); None when the matrix is singular."""
    n = len(matrix)
    k = len(rhs[0]) if rhs else 0
    a = [row[:] + rhs[i][:] for i, row in enumerate(matrix)]
    for col in range(n):
        pivot = next((r for r in range(col, n) if a[r][col] != 0), None)
        if pivot is None:
            return None
        a[col], a[pivot] = a[pivot], a[col]
        inv = ONE / a[col][col]
        row = [v * inv for v in a[col]]
        a[col] = row
        for r in range(n):
            if r != col and a[r][col] != 0:
                f = a[r][col]
                a[r] = [v - f * w for v, w in zip(a[r], row, strict=True)]
    return [a[i][n : n + k] for i in range(n)]


def _system(nodes: Sequence[Node], index: Mapping[str, int], scaled: bool) -> list[list[Fraction]]:
    """I - diag(m) B (scaled) or I - B, as a dense exact matrix."""
    n = len(nodes)
    matrix = [[ONE if i == j else ZERO for j in range(n)] for i in range(n)]
    for i, node in enumerate(nodes):
        m = node.multiplier if scaled else ONE
        for name, qty in node.inputs.items():
            matrix[i][index[name]] -= m * qty
    return matrix


def _certified(nodes: Sequence[Node], index: Mapping[str, int], scaled: bool) -> bool:
    """rho < 1 exactly: (I - M) y = 1 has a solution with every y_i >= 1."""
    solution = _solve(_system(nodes, index, scaled), [[ONE] for _ in nodes])
    return solution is not None and all(row[0] >= 1 for row in solution)


def strongly_connected(names: Sequence[str], edges: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components (iterative), each sorted, in a stable order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in names:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = counter
                counter += 1
                stack.append(v)
                on_stack.add(v)
            succ = edges.get(v, ())
            if i < len(succ):
                work.append((v, i + 1))
                w = succ[i]
                if w not in index:
                    work.append((w, 0))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                out.append(sorted(comp))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
    return out


def cyclic_components(nodes: Sequence[Node]) -> list[list[str]]:
    """The components that contain a cycle (more than one asset, or an asset that uses itself)."""
    edges = {n.name: sorted(k for k, q in n.inputs.items() if q > 0) for n in nodes}
    comps = strongly_connected([n.name for n in nodes], edges)
    return [c for c in comps if len(c) > 1 or c[0] in edges[c[0]]]


def culprits(nodes: Sequence[Node], scaled: bool) -> list[list[str]]:
    """The cyclic components whose own spectral radius is 1 or more."""
    by_name = {n.name: n for n in nodes}
    bad = []
    for comp in cyclic_components(nodes):
        members = set(comp)
        sub = [
            Node(
                name,
                inputs={k: q for k, q in by_name[name].inputs.items() if k in members},
                scarcity=by_name[name].scarcity,
                coop_markup=by_name[name].coop_markup,
                council_markup=by_name[name].council_markup,
            )
            for name in comp
        ]
        if not _certified(sub, {n.name: i for i, n in enumerate(sub)}, scaled):
            bad.append(comp)
    return bad


def no_finite_prices(nodes: Sequence[Node], scaled: bool) -> RuleViolationError:
    """The CR12 refusal, naming the goods whose cycle has no finite price."""
    comps = culprits(nodes, scaled) or [sorted(n.name for n in nodes)]
    named = "; ".join("{" + ", ".join(c) + "}" for c in comps)
    why = (
        "its markups and scarcity compound around the cycle without end"
        if scaled
        else "the cycle uses at least as much as it makes"
    )
    return RuleViolationError(f"the supply chain has no finite prices: {named} ({why})", rule="CR12")


def check_inputs(nodes: Sequence[Node]) -> None:
    names = {n.name for n in nodes}
    for node in nodes:
        for name, qty in node.inputs.items():
            if name not in names:
                raise RuleViolationError(f"{node.name}'s bill of materials names unknown asset {name}", rule="CR12")
            if qty < 0:
                raise RuleViolationError(f"{node.name} needs a negative quantity of {name}", rule="CR12")


def direct_slices(node: Node, cost: Fraction, price: Fraction) -> dict[Component, Fraction]:
    """The slices an asset adds itself (before its inputs' own slices), summing to price - inputs."""
    council = node.council_markup * cost
    coop = node.coop_markup * (ONE + node.council_markup) * cost
    before_scarcity = (ONE + node.coop_markup) * (ONE + node.council_markup) * cost
    return {
        Component.LABOUR: node.labour,
        Component.RESOURCES: node.external,
        Component.EXTERNALITY: node.fee,
        Component.COUNCIL: council,
        Component.COOP: coop,
        Component.SCARCITY: price - before_scarcity,
    }


def _solve_blocks(
    nodes: Sequence[Node], blocks: Sequence[Sequence[str]], gain: Sequence[Fraction], rhs: Sequence[Sequence[Fraction]]
) -> list[list[Fraction]] | None:
    """Solve x_i = rhs_i + gain_i sum_j a_ji x_j block by block (inputs first); None if not certified.

    ``blocks`` are the strongly connected components in topological order, so an asset outside a
    cycle is one multiply-add, and only the assets of a cycle are solved together (Gauss-Jordan on
    that block, with the certificate column of ones: the block's spectral radius must be below 1).
    """
    index = {n.name: i for i, n in enumerate(nodes)}
    k = len(rhs[0]) if rhs else 0
    x: list[list[Fraction] | None] = [None] * len(nodes)
    for block in blocks:
        members = [index[name] for name in block]
        inside = set(block)
        known = []
        for i in members:
            row = list(rhs[i])
            for name, qty in nodes[i].inputs.items():
                if name not in inside:
                    xj = x[index[name]]
                    assert xj is not None  # inputs come first
                    row = [r + gain[i] * qty * v for r, v in zip(row, xj, strict=True)]
            known.append(row)
        cyclic = len(block) > 1 or block[0] in nodes[members[0]].inputs
        if not cyclic:
            x[members[0]] = known[0]
            continue
        pos = {name: r for r, name in enumerate(block)}
        matrix = [[ONE if r == c else ZERO for c in range(len(block))] for r in range(len(block))]
        for r, i in enumerate(members):
            for name, qty in nodes[i].inputs.items():
                if name in inside:
                    matrix[r][pos[name]] -= gain[i] * qty
        solution = _solve(matrix, [[*row, ONE] for row in known])
        if solution is None or any(row[k] < 1 for row in solution):
            return None
        for r, i in enumerate(members):
            x[i] = solution[r][:k]
    return [row if row is not None else [] for row in x]


def solve_chain(nodes: Sequence[Node]) -> dict[str, Breakdown]:
    """CR12, exact: every asset's market price and its six components through the whole chain."""
    check_inputs(nodes)
    if not nodes:
        return {}
    edges = {n.name: sorted(k for k, q in n.inputs.items() if q > 0) for n in nodes}
    blocks = strongly_connected([n.name for n in nodes], edges)  # inputs before their users
    index = {n.name: i for i, n in enumerate(nodes)}
    if _solve_blocks(nodes, blocks, [ONE] * len(nodes), [[] for _ in nodes]) is None:
        raise no_finite_prices(nodes, scaled=False)
    solved = _solve_blocks(nodes, blocks, [n.multiplier for n in nodes], [[n.multiplier * n.direct] for n in nodes])
    if solved is None:
        raise no_finite_prices(nodes, scaled=True)
    prices = [row[0] for row in solved]
    costs = [n.direct + sum((q * prices[index[k]] for k, q in n.inputs.items()), ZERO) for n in nodes]
    slices = [direct_slices(n, costs[i], prices[i]) for i, n in enumerate(nodes)]
    parts = _solve_blocks(nodes, blocks, [ONE] * len(nodes), [[s[c] for c in COMPONENTS] for s in slices])
    assert parts is not None  # certified above
    return {
        n.name: Breakdown(
            n.name,
            prices[i],
            costs[i] * (ONE + n.council_markup),
            costs[i],
            {c: parts[i][j] for j, c in enumerate(COMPONENTS)},
        )
        for i, n in enumerate(nodes)
    }


def row_breakdown(node: Node, chain: Mapping[str, Breakdown]) -> Breakdown:
    """One producer's price given its inputs' breakdowns (a coop compared with others, CR13)."""
    inputs = sum((q * chain[k].price for k, q in node.inputs.items()), ZERO)
    cost = node.direct + inputs
    price = node.multiplier * cost
    parts = direct_slices(node, cost, price)
    for k, q in node.inputs.items():
        for c in COMPONENTS:
            parts[c] += q * chain[k].parts[c]
    return Breakdown(node.name, price, cost * (ONE + node.council_markup), cost, parts)


def round_breakdown(parts: Mapping[Component, Fraction]) -> tuple[int, dict[Component, int]]:
    """The price in minor units (half up) and its components, summing to it exactly.

    Each component is rounded down, then the units still missing go to the components with the
    largest remainders (ties to the earlier component), so the slices always add up to the price.
    """
    exact = [parts.get(c, ZERO) for c in COMPONENTS]
    total = round_half_up(sum(exact, ZERO))
    floors = [v.numerator // v.denominator for v in exact]
    missing = total - sum(floors)
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in order[:missing]:
        floors[i] += 1
    return total, dict(zip(COMPONENTS, floors, strict=True))


# CR13: coops ------------------------------------------------------------------------------------


def blend(name: str, makers: Sequence[tuple[Fraction, Node]]) -> Node:
    """A good's row when approved coops make it: their plans (labour, external resources, coop
    markup, inputs) averaged, weighted by each coop's allotment. The fee, council markup and
    scarcity are the good's, the same in every maker's row."""
    weights = [w for w, _ in makers]
    total = sum(weights, ZERO)

    def mean(values: list[Fraction]) -> Fraction:
        return sum((w * v for w, v in zip(weights, values, strict=True)), ZERO) / total

    rows = [node for _, node in makers]
    names = sorted({k for node in rows for k in node.inputs})
    return Node(
        name,
        mean([node.labour for node in rows]),
        mean([node.external for node in rows]),
        rows[0].fee,
        rows[0].council_markup,
        mean([node.coop_markup for node in rows]),
        rows[0].scarcity,
        {k: mean([node.inputs.get(k, ZERO) for node in rows]) for k in names},
    )


@dataclass(frozen=True, slots=True)
class Quote:
    """A price as people see it, in minor units: BasePrice, the price and its components (summing
    to it exactly), and the efficiency rating (CR9, CR13)."""

    base_price: int
    price: int
    components: dict[Component, int]
    efficiency: Fraction | None  # CR9: price / labour; None without labour


def quote(row: Breakdown, labour: Fraction) -> Quote:
    """One producer's row rounded for people (CR12) with its efficiency rating (CR9)."""
    total, parts = round_breakdown(row.parts)
    return Quote(round_half_up(row.base), total, parts, efficiency_rating(row.price, labour))


@dataclass(frozen=True, slots=True)
class Output:
    """What a coop produced and sold, and the revenue of those sales (minor units)."""

    produced: int = 0
    sold: int = 0
    revenue: int = 0


@dataclass(frozen=True, slots=True)
class ProductionCredits:
    """CR13: a coop's BasePrice per unit and its surplus above it, split between coop and workers."""

    base_price: int
    coop_credits: int
    worker_credits: int


def decide_production(
    application: str,
    allotted: Fraction,
    so_far: Output,
    declared: Output,
    coop: Node,
    nodes: Sequence[Node],
    workers_share: Fraction,
) -> ProductionCredits:
    """CR8, CR13: declared production stays within the coop's allotted production a year, and no
    more is sold than made; revenue above the coop's own BasePrice (its row of the chain ``nodes``)
    times the units sold becomes credits, ``workers_share`` of them its workers'."""
    if so_far.produced + declared.produced > allotted:
        raise RuleViolationError(
            f"over-allotment: {application} is allotted {encode(allotted)} a year and has produced {so_far.produced}",
            rule="CR8",
        )
    if so_far.sold + declared.sold > so_far.produced + declared.produced:
        raise RuleViolationError("a coop cannot sell more units than it has produced", rule="CR13")
    base = round_half_up(row_breakdown(coop, solve_chain(nodes)).base)
    coop_credits, worker_credits = coop_surplus(declared.revenue, base, declared.sold, workers_share)
    return ProductionCredits(base, coop_credits, worker_credits)
