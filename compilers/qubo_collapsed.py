"""The QUBO's energy over register values, with every slack register at its optimum.

A lowered QUBO has bits ``b = (column registers, slack registers)``. Every column register
``k_j`` in ``0 .. kmax_j`` encodes ``x_j = o_j + s_j k_j``; every slack register belongs to one
penalised row and appears in nothing else. So, for fixed column registers, the energy is
minimised over the slacks row by row, in closed form (a convex quadratic in one integer):

    E*(k) = min_slack E(b) = F(x) + sum_r w_r pen_r(a_r @ x)

with ``pen_r(a) = (a - t_r - s*)^2``, ``s* = sigma_r * clip(round((a - t_r) / sigma_r), 0,
kmax_r)`` for slack rows, ``(a - t_r)^2`` for equalities (and rows no point satisfies), and
``l2 h^2 +- l1 h`` for unbalanced rows. One-hot, domain-wall and unary registers have a
zero-penalty bit string for every ``k`` (:func:`qubo.encode_point` writes it), so ``E*(k)`` is
the energy of the QUBO state ``encode_point(x)``, exactly (``tests/test_qubo_tempering.py``
checks it against ``bqm.energies``). It is the landscape a sampler sees when it moves a whole
register by one step and lets the slacks follow: what single bit flips cannot do.

``Collapsed`` also splits the energy into the objective ``F`` and the penalty ``P`` so that a
sampler may scale the penalties (``F + lam P``) in some replicas; at ``lam = 1`` it is the
lowered QUBO with its own weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from qgridlang.compilers import qubo_penalties as pen
from qgridlang.compilers.qubo import QuboInverse, encode_point
from qgridlang.errors import UsageError
from qgridlang.flat import FlatModel

__all__ = ["Collapsed", "collapse"]


@dataclass(frozen=True)
class Collapsed:
    """A QUBO as a function of its column registers (see the module docstring).

    Attributes:
        offset, step, kmax: Per column: ``x = offset + step * k``, ``k`` in ``0 .. kmax``.
        c: Linear objective (minimisation form) over columns.
        upper: Quadratic objective ``x' U x`` (upper triangle, CSR).
        sym: ``U + U'`` (CSR): the gradient of ``x' U x`` is ``sym @ x``.
        const: Objective constant.
        rows: Penalised model rows over columns (CSR), one per row of the lowering's plan.
        rows_t: ``rows`` as CSC (column slices for moves).
        weight, target, sigma, slack_kmax: Per penalised row, as in the lowering.
        kind: Per penalised row, ``qubo_penalties`` kind codes.
        unbalanced: ``(l1, l2)`` of unbalanced rows.
    """

    offset: np.ndarray
    step: np.ndarray
    kmax: np.ndarray
    c: np.ndarray
    upper: sp.csr_matrix
    sym: sp.csr_matrix
    const: float
    rows: sp.csr_matrix
    rows_t: sp.csc_matrix
    weight: np.ndarray
    target: np.ndarray
    sigma: np.ndarray
    slack_kmax: np.ndarray
    kind: np.ndarray
    unbalanced: tuple[float, float]

    @property
    def n(self) -> int:
        return int(self.offset.shape[0])

    @property
    def m(self) -> int:
        return int(self.weight.shape[0])

    def values(self, k: np.ndarray) -> np.ndarray:
        """Column values of register values (any leading shape)."""
        return np.asarray(self.offset + self.step * k)

    def objective(self, x: np.ndarray) -> np.ndarray:
        """``F`` (minimisation form) of points ``n_points x n``."""
        x2 = np.atleast_2d(x)
        quad = np.einsum("ij,ij->i", np.asarray((self.upper @ x2.T).T), x2)
        return np.asarray(x2 @ self.c + quad + self.const)

    def activity(self, x: np.ndarray) -> np.ndarray:
        """Row activities ``n_points x m``."""
        return np.asarray((self.rows @ np.atleast_2d(x).T).T)

    def penalty_tables(self) -> tuple[np.ndarray, ...]:
        """Per penalised row: target, step, slack size (0 without a slack), and the square and
        linear coefficients, so that a row's weighted penalty is ``(q r + l) r`` with
        ``r = h - sigma clip(round(h / sigma), 0, kmax)`` and ``h = activity - target``."""
        l1, l2 = self.unbalanced
        sign = np.select([self.kind == pen.UNBALANCED_LE, self.kind == pen.UNBALANCED_GE],
                         [1.0, -1.0], 0.0)
        kslack = np.where(self.kind == pen.SLACK, self.slack_kmax, 0.0)
        square = self.weight * np.where(sign != 0, l2, 1.0)
        return self.target, self.sigma, kslack, square, self.weight * l1 * sign

    def penalty_terms(self, act: np.ndarray, rows: np.ndarray | slice = slice(None)
                      ) -> np.ndarray:
        """Weighted penalty of each given row at activities ``act`` (``... x len(rows)``)."""
        target, sigma, kslack, square, linear = (t[rows] for t in self.penalty_tables())
        h = act - target
        r = h - sigma * np.clip(np.rint(h / sigma), 0, kslack)
        return np.asarray((square * r + linear) * r)

    def penalty(self, act: np.ndarray) -> np.ndarray:
        """``P`` of points from their activities (``n_points``)."""
        return np.asarray(self.penalty_terms(np.atleast_2d(act)).sum(axis=1))

    def energy(self, x: np.ndarray) -> np.ndarray:
        """``F + P``: the QUBO energy of ``encode_point(x)`` for grid points ``x``."""
        return np.asarray(self.objective(x) + self.penalty(self.activity(x)))

    def to_bits(self, x: np.ndarray, inverse: QuboInverse) -> np.ndarray:
        """The QUBO states of grid points (slacks at their optimum), as int8 rows."""
        return np.asarray(encode_point(np.atleast_2d(x), inverse), dtype=np.int8)


def collapse(flat: FlatModel, inverse: QuboInverse) -> Collapsed:
    """The register-space form of the QUBO ``inverse`` describes (lowered from ``flat``).

    Raises:
        UsageError: The inverse carries no row plan (built by an older lowering).
    """
    plan = inverse.plan
    if plan is None:
        raise UsageError("this QUBO carries no row plan: lower it again with this version")
    regs = inverse.columns
    n = flat.n
    sign = 1.0 if flat.sense == "min" else -1.0
    qi, qj, qv = (np.asarray(a) for a in flat.Q)
    upper = sp.csr_matrix((sign * qv, (qi.astype(np.int64), qj.astype(np.int64))), shape=(n, n))
    rows = flat.A.tocsr()[plan.index]
    m = len(plan.index)
    return Collapsed(
        offset=np.asarray(regs.offset, dtype=float), step=np.asarray(regs.step, dtype=float),
        kmax=np.asarray(regs.kmax, dtype=np.int64), c=sign * np.asarray(flat.c, dtype=float),
        upper=upper, sym=(upper + upper.T).tocsr(), const=sign * float(flat.obj_const),
        rows=rows, rows_t=rows.tocsc(), weight=np.asarray(inverse.weights[:m], dtype=float),
        target=np.asarray(plan.target, dtype=float), sigma=np.where(plan.sigma > 0, plan.sigma,
                                                                    1.0),
        slack_kmax=np.asarray(plan.slack_kmax, dtype=float), kind=np.asarray(plan.kind),
        unbalanced=inverse.unbalanced)
