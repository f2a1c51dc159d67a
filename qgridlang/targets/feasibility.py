"""Feasibility of many candidate points at once, with :meth:`FlatModel.violations`' tolerances.

Shared by the targets whose backends return sample sets (``qubo``, ``dwave``, ``qaoa``, ``cqm``):
each summarises the samples in model terms, which needs one vectorised check per sample set.
"""

from __future__ import annotations

import numpy as np

from qgridlang.flat import FlatModel

TOL = 1e-6  # FlatModel.violations' row and bound tolerance
INT_TOL = 1e-5  # and its integrality tolerance


def feasible_rows(flat: FlatModel, x: np.ndarray) -> np.ndarray:
    """Which rows of ``x`` (``n_points x n``) satisfy every row, bound and integrality of the
    model, with :meth:`FlatModel.violations`' tolerances (vectorised over points)."""
    act = np.asarray(flat.A @ x.T).T
    slack = TOL * np.maximum(1.0, np.abs(act))
    rows = ((act >= flat.row_lo - slack) & (act <= flat.row_hi + slack)).all(axis=1)
    low = x >= flat.lb - TOL * np.maximum(1.0, np.abs(flat.lb))
    high = x <= flat.ub + TOL * np.maximum(1.0, np.abs(flat.ub))
    whole = (flat.kind == 0) | (np.abs(x - np.round(x)) <= INT_TOL)
    return np.asarray(rows & (low & high & whole).all(axis=1))
