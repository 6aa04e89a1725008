"""CR12 at scale: the supply-chain price system solved with one sparse factorisation per matrix.

The exact solver in ``mechanisms/creditism/chain.py`` is the reference (and what journal entries
use); this module solves the same system with SciPy for chains of tens of thousands of goods:

1. the matrix B (B[i, j] = units of j per unit of i) is permuted into block-triangular form:
   strongly connected components (the cycles) in topological order, so that the LU factors
   fill in only inside the cycles (a supply chain is mostly a hierarchy);
2. ``I - diag(m) B`` is factorised once (SuperLU, natural order, diagonal pivots: the matrix is a
   non-singular M-matrix when the chain is sound, for which elimination without pivoting is stable)
   and solved for the prices together with the certificate vector of ones (rho < 1 iff y >= 1);
3. ``I - B`` is factorised once and solved for the six components at once (six right-hand sides);
4. every price is rounded to minor units and its components allocated by largest remainder, so
   they sum to it exactly (vectorised form of ``chain.round_breakdown``).

A chain with no finite prices is refused naming the strongly connected components responsible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
import scipy.sparse.linalg as spl
from scipy.sparse.csgraph import connected_components

from civicledger.kernel.errors import RuleViolationError
from civicledger.mechanisms.creditism.chain import Node

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
CERTIFICATE_SLACK = 1e-9


@dataclass(frozen=True)
class SparseChain:
    """A chain as arrays: per-asset direct costs and markups, and B in CSR form."""

    names: Sequence[str]
    labour: FloatArray
    external: FloatArray
    fee: FloatArray
    council_markup: FloatArray
    coop_markup: FloatArray
    scarcity: FloatArray
    inputs: sp.csr_matrix  # B[i, j] = units of j per unit of i

    @property
    def size(self) -> int:
        return len(self.names)

    @property
    def multiplier(self) -> FloatArray:
        return self.scarcity * (1 + self.coop_markup) * (1 + self.council_markup)  # type: ignore[no-any-return]

    @staticmethod
    def from_nodes(nodes: Sequence[Node]) -> SparseChain:
        index = {n.name: i for i, n in enumerate(nodes)}
        rows, cols, vals = [], [], []
        for i, node in enumerate(nodes):
            for name, qty in node.inputs.items():
                if name not in index:
                    raise RuleViolationError(f"{node.name}'s bill of materials names unknown asset {name}", rule="CR12")
                rows.append(i)
                cols.append(index[name])
                vals.append(float(qty))
        n = len(nodes)

        def arr(attr: str) -> FloatArray:
            return np.array([float(getattr(node, attr)) for node in nodes], dtype=np.float64)

        matrix = sp.csr_matrix((np.array(vals, dtype=np.float64), (rows, cols)), shape=(n, n))
        return SparseChain(
            [n.name for n in nodes],
            arr("labour"),
            arr("external"),
            arr("fee"),
            arr("council_markup"),
            arr("coop_markup"),
            arr("scarcity"),
            matrix,
        )


@dataclass(frozen=True)
class SparseBreakdown:
    """Prices (float and minor units) and components (float and minor units, rows sum exactly)."""

    names: Sequence[str]
    price: FloatArray
    parts: FloatArray  # n x 6, columns in COMPONENTS order
    price_units: IntArray
    parts_units: IntArray
    base: FloatArray


def block_order(matrix: sp.csr_matrix) -> tuple[IntArray, IntArray, int]:
    """A permutation putting strongly connected components in topological order (inputs first)."""
    count, labels = connected_components(matrix, directed=True, connection="strong")
    # condensation edges: component of i depends on component of j
    coo = matrix.tocoo()
    ci, cj = labels[coo.row], labels[coo.col]
    keep = ci != cj
    cond = sp.csr_matrix((np.ones(int(keep.sum())), (ci[keep], cj[keep])), shape=(count, count))
    order = _topological(cond, count)
    rank = np.empty(count, dtype=np.int64)
    rank[order] = np.arange(count)
    perm = np.argsort(rank[labels], kind="stable").astype(np.int64)
    return perm, labels.astype(np.int64), count


def _topological(cond: sp.csr_matrix, count: int) -> IntArray:
    """Kahn's algorithm on the condensation (a DAG): a component after all of its inputs."""
    indeg = np.diff(cond.indptr).astype(np.int64)  # number of input components
    users = cond.tocsc()
    order = np.empty(count, dtype=np.int64)
    ready = list(np.flatnonzero(indeg == 0)[::-1])
    k = 0
    while ready:
        c = ready.pop()
        order[k] = c
        k += 1
        for u in users.indices[users.indptr[c] : users.indptr[c + 1]]:
            indeg[u] -= 1
            if indeg[u] == 0:
                ready.append(u)
    return order


def _factor(system: sp.spmatrix) -> spl.SuperLU | None:
    try:
        return spl.splu(system.tocsc(), permc_spec="NATURAL", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
    except RuntimeError:  # exactly singular
        return None


def solve_sparse(chain: SparseChain) -> SparseBreakdown:
    """Every asset's market price and six components, through the whole chain, cycles included."""
    n = chain.size
    perm, labels, _ = block_order(chain.inputs)
    b = chain.inputs[perm][:, perm].tocsr()
    m = chain.multiplier[perm]
    direct = (chain.labour + chain.external + chain.fee)[perm]
    eye = sp.identity(n, format="csr")

    scaled = _factor(eye - sp.diags(m) @ b)
    rhs = np.column_stack([m * direct, np.ones(n)])
    out = scaled.solve(rhs) if scaled is not None else None
    if out is None or not _certified(out[:, 1]):
        raise _refusal(chain, labels, scaled=True)
    price = out[:, 0]

    plain = _factor(eye - b)
    cost = direct + b @ price
    kappa, gamma = chain.council_markup[perm], chain.coop_markup[perm]
    before = (1 + gamma) * (1 + kappa) * cost
    slices = np.column_stack(
        [
            chain.labour[perm],
            chain.external[perm],
            chain.fee[perm],
            kappa * cost,
            gamma * (1 + kappa) * cost,
            price - before,
            np.ones(n),
        ]
    )
    solved = plain.solve(slices) if plain is not None else None
    if solved is None or not _certified(solved[:, 6]):
        raise _refusal(chain, labels, scaled=False)
    inverse = np.empty(n, dtype=np.int64)
    inverse[perm] = np.arange(n)
    parts = solved[:, :6][inverse]
    price = price[inverse]
    price_units, parts_units = round_rows(parts)
    base = ((1 + kappa) * cost)[inverse]
    return SparseBreakdown(chain.names, price, parts, price_units, parts_units, base)


def _certified(y: FloatArray) -> bool:
    return bool(np.all(np.isfinite(y)) and np.all(y >= 1 - CERTIFICATE_SLACK))


def round_rows(parts: FloatArray) -> tuple[IntArray, IntArray]:
    """Round each row's total half up and allocate it by largest remainder: rows sum exactly."""
    total = np.floor(parts.sum(axis=1) + 0.5).astype(np.int64)
    floors = np.floor(parts)
    remainder = parts - floors
    units = floors.astype(np.int64)
    missing = total - units.sum(axis=1)
    order = np.argsort(-remainder, axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(parts.shape[1])[None, :].repeat(len(parts), axis=0), axis=1)
    units += (rank < missing[:, None]).astype(np.int64)
    return total, units


def _refusal(chain: SparseChain, labels: IntArray, scaled: bool) -> RuleViolationError:
    """Name the cyclic components whose own spectral radius is 1 or more."""
    bad: list[list[str]] = []
    matrix = chain.inputs
    if scaled:
        matrix = (sp.diags(chain.multiplier) @ matrix).tocsr()
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    diagonal = matrix.diagonal()
    for members in np.split(order, bounds):
        if len(members) == 1:
            if diagonal[members[0]] >= 1:
                bad.append([chain.names[members[0]]])
            continue
        sub = matrix[members][:, members]
        lu = _factor(sp.identity(len(members)) - sub)
        y = lu.solve(np.ones(len(members))) if lu is not None else None
        if y is None or not _certified(y):
            bad.append(sorted(chain.names[i] for i in members))
    if not bad:
        bad = [sorted(chain.names)]
    shown = "; ".join("{" + ", ".join(c[:20]) + (", ..." if len(c) > 20 else "") + "}" for c in sorted(bad)[:10])
    why = (
        "its markups and scarcity compound around the cycle without end"
        if scaled
        else "the cycle uses at least as much as it makes"
    )
    return RuleViolationError(f"the supply chain has no finite prices: {shown} ({why})", rule="CR12")
