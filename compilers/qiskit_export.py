"""Models for the qiskit-optimization ecosystem: ``QuadraticProgram`` and its LP text.

``to_quadratic_program(flat)`` exports the model itself (binary, integer and continuous columns
with their bounds, every linear row, the linear + quadratic objective and its sense), so users of
qiskit-optimization can apply their own converters and solvers to it. ``bqm_to_quadratic_program``
exports a QUBO (the ``qubo`` target's artifact) as an unconstrained binary program: the form
qiskit-optimization's ``MinimumEigenOptimizer(QAOA(...))`` turns into the same Ising Hamiltonian
as :mod:`.qaoa`, which the cross-check benchmark relies on.

qiskit-optimization builds one Python object per variable and per constraint, so these are
loops by necessity; the coefficient data is handed over as arrays and sparse matrices.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import dimod
import numpy as np
import scipy.sparse as sp

from qgridlang.errors import BackendError
from qgridlang.flat import FlatModel

if TYPE_CHECKING:
    from qiskit_optimization import QuadraticProgram

__all__ = ["bqm_to_quadratic_program", "lp_text", "qp_names", "to_quadratic_program"]

INFINITY = 1e20  # qiskit-optimization's unbounded value


def _qp() -> type[QuadraticProgram]:
    try:
        from qiskit_optimization import QuadraticProgram
    except ImportError as exc:
        raise BackendError("exporting to qiskit-optimization needs qiskit-optimization", None,
                           'install it: pip install -e ".[quantum]"') from exc
    return QuadraticProgram


def qp_names(labels: list[str]) -> list[str]:
    """LP-safe, unique names (``p[u1,3]`` -> ``p_u1_3``; a clash gets ``_2``, ``_3`` …)."""
    out: list[str] = []
    seen: set[str] = set()
    for label in labels:
        base = re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9_]", "_", label)).strip("_") or "x"
        if base[0].isdigit():
            base = "x" + base
        name, k = base, 1
        while name in seen:
            k += 1
            name = f"{base}_{k}"
        seen.add(name)
        out.append(name)
    return out


def to_quadratic_program(flat: FlatModel) -> QuadraticProgram:
    """The model as a qiskit-optimization ``QuadraticProgram`` (names from the model: columns
    ``p_u1_3``, rows ``balance_14``; a ranged row becomes ``…_lo`` and ``…_hi``)."""
    qp = _qp()(flat.name)
    names = qp_names(flat.column_names())
    lb = np.clip(flat.lb, -INFINITY, INFINITY)
    ub = np.clip(flat.ub, -INFINITY, INFINITY)
    binary = (flat.kind == 2) | ((flat.kind == 1) & (lb == 0) & (ub == 1))
    for k, name in enumerate(names):
        if binary[k]:
            qp.binary_var(name)
        elif flat.kind[k] == 1:
            qp.integer_var(float(lb[k]), float(ub[k]), name)
        else:
            qp.continuous_var(float(lb[k]), float(ub[k]), name)
    a = flat.A.tocsr()
    row_names = qp_names([r.label for r in flat.rows])
    for k, name in enumerate(row_names):
        lo, hi = float(flat.row_lo[k]), float(flat.row_hi[k])
        start, stop = a.indptr[k], a.indptr[k + 1]
        coeffs = dict(zip(a.indices[start:stop].tolist(), a.data[start:stop].tolist(),
                          strict=True))
        if lo == hi:
            qp.linear_constraint(coeffs, "==", lo, name)
        elif np.isfinite(lo) and np.isfinite(hi):
            qp.linear_constraint(coeffs, ">=", lo, f"{name}_lo")
            qp.linear_constraint(coeffs, "<=", hi, f"{name}_hi")
        elif np.isfinite(lo):
            qp.linear_constraint(coeffs, ">=", lo, name)
        elif np.isfinite(hi):
            qp.linear_constraint(coeffs, "<=", hi, name)
    i, j, v = (np.asarray(t) for t in flat.Q)
    quad = sp.coo_matrix((v, (i, j)), shape=(flat.n, flat.n)).tocsr()
    objective = {"constant": float(flat.obj_const), "linear": np.asarray(flat.c, dtype=float),
                 "quadratic": quad}
    if flat.sense == "min":
        qp.minimize(**objective)
    else:
        qp.maximize(**objective)
    return qp


def lp_text(flat: FlatModel) -> str:
    """The model in LP format, as qiskit-optimization writes it (through its docplex
    translator: ``QuadraticProgram.export_as_lp_string`` is deprecated in 0.7)."""
    from qiskit_optimization.translators import to_docplex_mp

    return str(to_docplex_mp(to_quadratic_program(flat)).export_as_lp_string())


def bqm_to_quadratic_program(bqm: dimod.BinaryQuadraticModel,
                             name: str = "qubo") -> QuadraticProgram:
    """A QUBO as an unconstrained binary minimisation over ``b0 … b(n-1)`` (variable ``k`` is
    ``bqm.variables[k]``), offset included."""
    qp = _qp()(name)
    order = list(bqm.variables)
    n = len(order)
    for k in range(n):
        qp.binary_var(f"b{k}")
    vec = bqm.to_numpy_vectors(variable_order=order)
    quad = sp.coo_matrix((vec.quadratic.biases, (vec.quadratic.row_indices,
                                                 vec.quadratic.col_indices)), shape=(n, n))
    qp.minimize(constant=float(vec.offset), linear=np.asarray(vec.linear_biases, dtype=float),
                quadratic=quad.tocsr())
    return qp
