"""Where an epigraph column is used: the check ``cvar`` and ``pos`` share.

A convex measure lowered to a column ``z`` with rows ``z >= …`` equals the measure only where
``z`` is pushed down: a positive weight in a minimised objective (negative in a maximised one),
or a positive coefficient on the ``<=`` side of a constraint (negative on the ``>=`` side).
"""

from __future__ import annotations

import numpy as np

from qgridlang.semantics.context import Context

INF = float("inf")


def usage(b: Context, columns: np.ndarray | list[int], own: list[str]
          ) -> tuple[np.ndarray, np.ndarray]:
    """For each epigraph column (with the name of its own rows, ``own``): whether it is used
    anywhere but its own rows, and whether every such use minimises it. One pass over the
    matrix for all columns (a model may have hundreds of thousands of soft limits)."""
    columns = np.asarray(columns, np.int64)
    k = columns.shape[0]
    used = np.zeros(k, bool)
    ok = np.ones(k, bool)
    obj = b.objective
    if obj is not None:
        coef = np.array([obj.value.lin.get(int(c), 0.0) for c in columns.tolist()])
        used |= coef != 0.0
        ok &= (coef == 0.0) | ((coef > 0) if obj.sense == "min" else (coef < 0))
    if k == 0 or not b.r_cols:
        return used, ok
    slot = np.full(len(b.lb), -1, np.int64)  # column -> its position in ``columns``
    slot[columns] = np.arange(k)
    cols = np.asarray(b.r_cols, np.int64)
    hit = np.flatnonzero(slot[cols] >= 0)
    if hit.size == 0:
        return used, ok
    rows = np.asarray(b.r_rows, np.int64)[hit]
    vals = np.asarray(b.r_vals, float)[hit]
    where = slot[cols[hit]]
    names = [b.rows[r].name for r in rows.tolist()]
    other = np.fromiter((n != own[w] for n, w in zip(names, where.tolist(), strict=True)),
                        bool, hit.size)
    rows, vals, where = rows[other], vals[other], where[other]
    lo = np.asarray(b.row_lo, float)[rows]
    hi = np.asarray(b.row_hi, float)[rows]
    good = ((vals > 0) & (lo == -INF)) | ((vals < 0) & (hi == INF))
    used[where] = True
    np.logical_and.at(ok, where, good)
    return used, ok
