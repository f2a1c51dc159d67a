"""Where an epigraph column is used: the check ``cvar`` and ``pos`` share.

A convex measure lowered to a column ``z`` with rows ``z >= …`` equals the measure only where
``z`` is pushed down: a positive weight in a minimised objective (negative in a maximised one),
or a positive coefficient on the ``<=`` side of a constraint (negative on the ``>=`` side).
"""

from __future__ import annotations

import numpy as np

from qgridlang.semantics.context import Context

INF = float("inf")


def usage(b: Context, columns: list[tuple[int, str]]) -> list[tuple[bool, bool]]:
    """For each ``(column, name of its own epigraph rows)``: whether it is used anywhere but its
    own rows, and whether every such use minimises it."""
    rows = np.asarray(b.r_rows, np.int64)
    cols = np.asarray(b.r_cols, np.int64)
    vals = np.asarray(b.r_vals, float)
    obj = b.objective
    out = []
    for column, own in columns:
        used, ok = False, True
        coef = obj.value.lin.get(column, 0.0) if obj is not None else 0.0
        if coef != 0.0:
            assert obj is not None
            used = True
            ok &= coef > 0 if obj.sense == "min" else coef < 0
        hit = cols == column
        for r, v in zip(rows[hit], vals[hit], strict=True):
            if b.rows[int(r)].name == own:
                continue
            used = True
            lo, hi = b.row_lo[int(r)], b.row_hi[int(r)]
            ok &= (v > 0 and lo == -INF) or (v < 0 and hi == INF)
        out.append((used, ok))
    return out
