"""Repair of decoded QUBO samples: the nearest feasible point of the model's grid.

A sampler's lowest-energy states often break a row or two (one hour short of balance, a state of
charge one step under its floor). ``nearest_feasible`` moves such a plan to the feasible point
of the QUBO's grid that is closest in register steps (``sum_j |k_j - k^_j|``, each column on its
own grid ``x_j = o_j + s_j k_j``), subject to every row and bound of the MODEL (not the
penalties): a small MILP that HiGHS solves through ``scipy.optimize.milp``. It does not look at
the objective, so a repaired plan is the sampler's plan made feasible, not a re-optimised one,
and results always say when a plan was repaired (``info.repair``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from qgridlang.compilers.qubo import QuboInverse
from qgridlang.flat import FlatModel

__all__ = ["Repair", "nearest_feasible"]


@dataclass(frozen=True)
class Repair:
    """One repair: the repaired point (``None`` when the MILP found none) and its distance."""

    x: np.ndarray | None
    steps: float  # register steps moved in all (L1)
    columns: int  # columns changed
    seconds: float
    status: str


def nearest_feasible(flat: FlatModel, inverse: QuboInverse, x_hat: np.ndarray,
                     time_limit: float = 5.0) -> Repair:
    """The model point on the QUBO's grid nearest to ``x_hat`` (L1 in register steps).

    Args:
        flat: The model the QUBO was lowered from.
        inverse: The lowering's inverse (its column registers define the grid).
        x_hat: A decoded plan (column values).
        time_limit: HiGHS time limit in seconds.
    """
    regs = inverse.columns
    n = flat.n
    off, step, kmax = regs.offset, regs.step, regs.kmax.astype(float)
    k_hat = np.clip(np.rint((np.asarray(x_hat, dtype=float) - off) / step), 0, kmax)
    # variables: k (n, integer in 0..kmax), then t (n, t >= |k - k_hat|)
    cost = np.concatenate([np.zeros(n), np.ones(n)])
    eye = sp.identity(n, format="csr")
    a_rows = sp.csr_matrix(flat.A) @ sp.diags(step)
    base = np.asarray(flat.A @ off).ravel()
    model_rows = sp.hstack([a_rows, sp.csr_matrix((flat.m, n))])
    above = sp.hstack([eye, -eye])  # k - t <= k_hat
    below = sp.hstack([eye, eye])  # k + t >= k_hat
    constraints = [LinearConstraint(above, -np.inf, k_hat),
                   LinearConstraint(below, k_hat, np.inf)]
    if flat.m:
        constraints.append(LinearConstraint(model_rows, flat.row_lo - base, flat.row_hi - base))
    bounds = Bounds(np.zeros(2 * n), np.concatenate([kmax, kmax + 1]))
    integrality = np.concatenate([np.ones(n), np.zeros(n)])
    start = time.perf_counter()
    res = milp(cost, constraints=constraints, bounds=bounds, integrality=integrality,
               options={"time_limit": time_limit, "disp": False})
    seconds = time.perf_counter() - start
    if res.x is None:
        return Repair(None, float("nan"), 0, seconds, str(res.message))
    k = np.rint(res.x[:n])
    x = off + step * k
    moved = np.abs(k - k_hat)
    return Repair(x, float(moved.sum()), int(np.count_nonzero(moved)), seconds,
                  "optimal" if res.status == 0 else str(res.message))
