"""The ``milp`` target: a flat model as sparse MILP/MIQP matrices, built vectorised.

Passes, in order (each pure, each with an inverse that drops the columns it added):
1. ``to_min`` — a maximisation becomes a minimisation (objective negated; inverse restores).
2. ``linearize_products`` — exact linearisation of objective products with a binary factor:
   binary*binary by the McCormick/Fortet inequalities, binary*bounded by the big-M envelope with
   the factor's own bounds. ``x_i^2`` of a binary is ``x_i``.
3. ``check_convex`` — what remains quadratic must be convex (PSD Hessian); it stays as a
   Hessian for the backend (QP in HiGHS, or tangent cuts when integers are present).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qgridlang.errors import UnsupportedConstruct
from qgridlang.flat import FlatModel
from qgridlang.lazy import lazy

sp = lazy("scipy.sparse")  # loaded when a model is lowered, not on import (qglc start-up)

INF = float("inf")


@dataclass
class Milp:
    """``min c@x + 1/2 x'Hx + const`` s.t. ``row_lo <= A@x <= row_hi``, ``lb <= x <= ub``."""

    c: np.ndarray
    A: sp.csr_matrix
    row_lo: np.ndarray
    row_hi: np.ndarray
    lb: np.ndarray
    ub: np.ndarray
    integer: np.ndarray  # bool per column
    H: sp.csc_matrix  # symmetric Hessian (objective's quadratic part is 1/2 x'Hx)
    const: float
    col_names: list[str]
    row_names: list[str]
    n_model: int  # the first n_model columns are the flat model's
    m_model: int  # the first m_model rows are the flat model's
    negated: bool = False  # the model maximises; this is its negation
    notes: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return int(self.c.shape[0])


@dataclass(frozen=True)
class MilpInverse:
    n_model: int
    m_model: int
    negated: bool


def apply(flat: FlatModel) -> tuple[Milp, MilpInverse]:
    """Lower a flat model to a :class:`Milp` (the passes of the module docstring)."""
    negated = flat.sense == "max"
    sign = -1.0 if negated else 1.0
    c = sign * flat.c.astype(float)
    qi, qj, qv = flat.Q
    qv = sign * qv
    names = flat.column_names()
    row_names = [r.label for r in flat.rows]
    lin = _linearize_products(flat, c, qi, qj, qv, names)
    c, extra_cols, extra_rows, (qi, qj, qv), notes = lin
    n = flat.n + len(extra_cols.lb)
    H = _hessian(qi, qj, qv, n)
    _check_convex(H, flat, negated)
    A = sp.vstack([sp.hstack([flat.A, sp.csr_matrix((flat.m, len(extra_cols.lb)))]),
                   extra_rows.A.tocsr() if extra_rows.A is not None else
                   sp.csr_matrix((0, n))]).tocsr()
    milp = Milp(
        c=c, A=A,
        row_lo=np.concatenate([flat.row_lo, extra_rows.lo]),
        row_hi=np.concatenate([flat.row_hi, extra_rows.hi]),
        lb=np.concatenate([flat.lb, extra_cols.lb]), ub=np.concatenate([flat.ub, extra_cols.ub]),
        integer=np.concatenate([flat.kind > 0, np.zeros(len(extra_cols.lb), bool)]),
        H=H, const=sign * flat.obj_const, col_names=names + extra_cols.names,
        row_names=row_names + extra_rows.names, n_model=flat.n, m_model=flat.m,
        negated=negated, notes=notes,
    )
    return milp, MilpInverse(flat.n, flat.m, negated)


def invert(x: np.ndarray, inverse: MilpInverse) -> np.ndarray:
    """Model column values from a MILP solution (auxiliary columns dropped)."""
    return np.asarray(x[: inverse.n_model], float)


def invert_duals(duals: np.ndarray, inverse: MilpInverse) -> np.ndarray:
    """Row duals of the model's own rows, with the model's objective sense."""
    d = np.asarray(duals[: inverse.m_model], float)
    return -d if inverse.negated else d


@dataclass
class _Cols:
    lb: list[float] = field(default_factory=list)
    ub: list[float] = field(default_factory=list)
    names: list[str] = field(default_factory=list)


@dataclass
class _Rows:
    A: sp.coo_matrix | None
    lo: np.ndarray
    hi: np.ndarray
    names: list[str]


def _linearize_products(flat: FlatModel, c: np.ndarray, qi: np.ndarray, qj: np.ndarray,
                        qv: np.ndarray, names: list[str]
                        ) -> tuple[np.ndarray, _Cols, _Rows, tuple[np.ndarray, ...], list[str]]:
    """Replace products with a binary factor by exact linear envelopes (vectorised)."""
    c = c.copy()
    binary = flat.kind == 2
    diag = (qi == qj) & binary[qi]
    np.add.at(c, qi[diag], qv[diag])  # b^2 == b
    keep = ~diag
    qi, qj, qv = qi[keep], qj[keep], qv[keep]
    # a product is linearised when one factor is binary and the other is bounded
    bi, bj = binary[qi], binary[qj]
    bounded = np.isfinite(flat.lb) & np.isfinite(flat.ub)
    lin = (qi != qj) & ((bi & bounded[qj]) | (bj & bounded[qi]))
    notes: list[str] = []
    k = int(lin.sum())
    cols = _Cols()
    if k == 0:
        return c, cols, _Rows(None, np.zeros(0), np.zeros(0), []), (qi, qj, qv), notes
    # orient so that `b` is the binary factor and `y` the other one
    b = np.where(bi[lin], qi[lin], qj[lin])
    y = np.where(bi[lin], qj[lin], qi[lin])
    val = qv[lin]
    n0 = flat.n
    z = n0 + np.arange(k)
    L, Ux = flat.lb[y], flat.ub[y]
    zlo, zhi = np.minimum(0.0, L), np.maximum(0.0, Ux)
    cols.lb, cols.ub = list(zlo), list(zhi)
    cols.names = [f"({names[i]}*{names[j]})" for i, j in zip(b, y, strict=True)]
    c = np.concatenate([c, val])
    # z = b*y with y in [L, U], b binary:
    #   rows over (z, b, y); b = 0 forces z = 0, b = 1 forces z = y:
    #   (1) z - L b >= 0      (2) z - U b <= 0
    #   (3) z - y - L b <= -L  (4) z - y - U b >= -U
    r = np.arange(4 * k)
    rows = np.concatenate([r[:k], r[:k], r[k:2 * k], r[k:2 * k], r[2 * k:3 * k], r[2 * k:3 * k],
                           r[2 * k:3 * k], r[3 * k:], r[3 * k:], r[3 * k:]])
    cidx = np.concatenate([z, b, z, b, z, y, b, z, y, b])
    vals = np.concatenate([np.ones(k), -L, np.ones(k), -Ux, np.ones(k), -np.ones(k), -L,
                           np.ones(k), -np.ones(k), -Ux])
    A = sp.coo_matrix((vals, (rows, cidx)), shape=(4 * k, n0 + k))
    lo = np.concatenate([np.zeros(k), np.full(k, -INF), np.full(k, -INF), -Ux])
    hi = np.concatenate([np.full(k, INF), np.zeros(k), -L, np.full(k, INF)])
    rnames = [f"product{i}.{s}" for s in ("lo", "hi", "lo2", "hi2") for i in range(k)]
    notes.append(f"{k} product(s) with a binary factor linearised exactly")
    rest = ~lin
    return c, cols, _Rows(A, lo, hi, rnames), (qi[rest], qj[rest], qv[rest]), notes


def _hessian(qi: np.ndarray, qj: np.ndarray, qv: np.ndarray, n: int) -> sp.csc_matrix:
    """Symmetric H with 1/2 x'Hx == sum v x_i x_j."""
    diag = qi == qj
    rows = np.concatenate([qi[diag], qi[~diag], qj[~diag]])
    cols = np.concatenate([qj[diag], qj[~diag], qi[~diag]])
    vals = np.concatenate([2.0 * qv[diag], qv[~diag], qv[~diag]])
    return sp.csc_matrix((vals, (rows, cols)), shape=(n, n))


def _check_convex(H: sp.csc_matrix, flat: FlatModel, negated: bool) -> None:
    if H.nnz == 0:
        return
    idx = np.unique(H.nonzero()[0])
    sub = H[idx][:, idx].toarray()
    eig = float(np.linalg.eigvalsh(sub).min()) if len(idx) <= 2000 else 0.0
    if eig < -1e-9 * max(1.0, float(np.abs(sub).max())):
        what = "maximised objective is not concave" if negated else \
            "minimised objective is not convex"
        raise UnsupportedConstruct(
            f"the {what} in its non-binary quadratic terms (smallest Hessian eigenvalue "
            f"{eig:.3g}); the milp target needs a convex quadratic objective", flat.obj_span,
            "products with a binary factor are linearised exactly; give the other factor "
            "finite bounds")


def is_quadratic(milp: Milp) -> bool:
    return milp.H.nnz > 0
