"""CQM lowering of a :class:`~qgridlang.flat.FlatModel` (no penalties: rows stay constraints).

``apply(flat) -> (cqm, inverse)`` builds a dimod ``ConstrainedQuadraticModel`` over the
variables ``0 .. n-1`` (the model's columns): binaries, bounded integers and reals, one
constraint per row (``label (lower)`` / ``label (upper)`` for ranged rows) and the objective in
minimisation form (``-objective`` for ``max`` models), constant included. ``invert(x, inverse)``
is the identity on columns, since the CQM keeps them. ``lp_ready(cqm)`` relabels a copy so
that dimod's LP writer accepts it.

Built from the flat arrays: one ``add_variables`` call per run of columns of one kind and bound,
linear and quadratic objective terms from their triplets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import dimod
import numpy as np

from qgridlang.errors import QglError, QglErrors, UnsupportedConstruct
from qgridlang.flat import FlatModel

_REAL_LIMIT = 1e30  # dimod's bound for REAL variables
_INT_LIMIT = 2.0**53 - 1  # and for INTEGER ones
_LP_BAD = re.compile(r"[^A-Za-z0-9!\"#$%&'(),.;?@_{}~]")


@dataclass(frozen=True)
class CqmInverse:
    """CQM variables are the model's columns ``0 .. n-1``; the objective is minimised (negated
    for ``max`` models)."""

    n: int
    sense: str


def apply(flat: FlatModel) -> tuple[dimod.ConstrainedQuadraticModel, CqmInverse]:
    """The model as a CQM, and what :func:`invert` needs.

    Raises:
        QglErrors: Columns a CQM solver cannot take (unbounded integers, reals in products),
            each with its span and the fix.
    """
    return cqm(flat), CqmInverse(flat.n, flat.sense)


def invert(x: np.ndarray, inverse: CqmInverse) -> np.ndarray:
    """Model columns from CQM samples (the same numbers: the CQM keeps the columns)."""
    return np.asarray(x, dtype=float).ravel()


def cqm(flat: FlatModel) -> dimod.ConstrainedQuadraticModel:
    """The model as a dimod CQM over variables ``0 .. n-1`` (see the module docstring).

    Raises:
        QglErrors: Columns a CQM solver cannot take (unbounded integers, reals in products),
            each with its span and the fix.
    """
    _check_cqm(flat)
    model = dimod.ConstrainedQuadraticModel()  # type: ignore[no-untyped-call,unused-ignore]
    for start, stop in _runs(flat):
        vartype = {2: "BINARY", 1: "INTEGER", 0: "REAL"}[int(flat.kind[start])]
        bounds = {} if vartype == "BINARY" else _bounds(flat, start, vartype)
        model.add_variables(vartype, range(start, stop), **bounds)
    model.set_objective(_objective(flat, model))
    _add_rows(flat, model)
    return model


def lp_ready(model: dimod.ConstrainedQuadraticModel) -> dimod.ConstrainedQuadraticModel:
    """A copy with LP-safe labels: variables ``x0 …``, constraints with ``[ ]`` as ``( )``."""
    out = dimod.ConstrainedQuadraticModel.from_file(model.to_file().read())  # a deep copy
    out.relabel_variables({v: f"x{v}" for v in out.variables})
    seen: set[str] = set()
    mapping = {}
    for label in out.constraints:
        text = _LP_BAD.sub("_", str(label).replace("[", "(").replace("]", ")"))
        mapping[label] = _unique(text if text[:1].isalpha() else f"c_{text}", seen)
    out.relabel_constraints(mapping)
    return out


def _runs(flat: FlatModel) -> list[tuple[int, int]]:
    """Column runs with the same kind and bounds (one dimod call each, in column order)."""
    if not flat.n:
        return []
    same = ((flat.kind[1:] == flat.kind[:-1]) & (flat.lb[1:] == flat.lb[:-1])
            & (flat.ub[1:] == flat.ub[:-1]))
    starts = np.concatenate([[0], np.flatnonzero(~same) + 1])
    stops = np.concatenate([starts[1:], [flat.n]])
    return list(zip(starts.tolist(), stops.tolist(), strict=True))


def _bounds(flat: FlatModel, col: int, vartype: str) -> dict[str, float]:
    limit = _REAL_LIMIT if vartype == "REAL" else _INT_LIMIT
    return {"lower_bound": float(np.clip(flat.lb[col], -limit, limit)),
            "upper_bound": float(np.clip(flat.ub[col], -limit, limit))}


def _check_cqm(flat: FlatModel) -> None:
    i, j, _ = flat.Q
    in_products = np.zeros(flat.n, dtype=bool)
    in_products[np.asarray(i, dtype=np.int64)] = True
    in_products[np.asarray(j, dtype=np.int64)] = True
    errors: list[QglError] = []
    for block in flat.blocks:
        cols = slice(block.start, block.stop)
        if block.kind == "real" and in_products[cols].any():
            errors.append(UnsupportedConstruct(
                f"'{block.name}' is real and appears in a product in the objective; Leap's CQM "
                "solver takes real variables only linearly", block.span,
                "make it integer (encode it on a step), or use --backend hybrid (the QUBO)"))
        if block.kind == "integer" and not (np.isfinite(flat.lb[cols]).all()
                                            and np.isfinite(flat.ub[cols]).all()):
            errors.append(UnsupportedConstruct(
                f"'{block.name}' is an integer without finite bounds; CQM integers need both",
                block.span, f"declare it as: var {block.name} integer in LOW .. HIGH"))
    if errors:
        raise QglErrors(errors)


def _objective(flat: FlatModel, model: dimod.ConstrainedQuadraticModel) -> dimod.QuadraticModel:
    sign = 1.0 if flat.sense == "min" else -1.0
    objective = dimod.QuadraticModel()
    objective.add_variables_from_model(model)
    c = sign * np.asarray(flat.c, dtype=float)
    i, j, v = (np.asarray(a) for a in flat.Q)
    i, j, v = i.astype(np.int64), j.astype(np.int64), sign * v.astype(float)
    square_of_binary = (i == j) & (flat.kind[i] == 2)  # b * b = b: a linear term
    c = c + np.bincount(i[square_of_binary], weights=v[square_of_binary], minlength=flat.n)
    nz = np.flatnonzero(c)
    objective.add_linear_from(zip(nz.tolist(), c[nz].tolist(), strict=True))
    keep = ~square_of_binary & (v != 0)
    objective.add_quadratic_from(zip(i[keep].tolist(), j[keep].tolist(), v[keep].tolist(),
                                     strict=True))
    objective.offset = sign * float(flat.obj_const)
    return objective


def _add_rows(flat: FlatModel, model: dimod.ConstrainedQuadraticModel) -> None:
    a = flat.A.tocsr()
    seen: set[str] = set()
    for k, row in enumerate(flat.rows):
        terms = slice(a.indptr[k], a.indptr[k + 1])
        if terms.start == terms.stop:
            continue  # a constant row: the checker has judged it already
        lhs = list(zip(a.indices[terms].tolist(), a.data[terms].tolist(), strict=True))
        lo, hi = float(flat.row_lo[k]), float(flat.row_hi[k])
        label = _unique(row.label, seen)
        if lo == hi:
            model.add_constraint_from_iterable(lhs, "==", hi, label=label)
            continue
        both = np.isfinite(lo) and np.isfinite(hi)
        if np.isfinite(lo):
            model.add_constraint_from_iterable(lhs, ">=", lo,
                                               label=f"{label} (lower)" if both else label)
        if np.isfinite(hi):
            model.add_constraint_from_iterable(lhs, "<=", hi,
                                               label=f"{label} (upper)" if both else label)


def _unique(label: str, seen: set[str]) -> str:
    out, k = label, 1
    while out in seen:
        k += 1
        out = f"{label}#{k}"
    seen.add(out)
    return out
