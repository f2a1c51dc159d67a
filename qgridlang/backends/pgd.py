"""The ``pgd`` backend: projected gradient descent (Adam) on a differentiable program
(:mod:`qgridlang.targets.program`), as the DN-EC paper prices communities (eq. 4).

Each iteration, at the outer values ``z``:

1. every surrogate is evaluated at its argument (JAX, with its vector-Jacobian product);
2. the inner problem (outer and response columns fixed) is solved by HiGHS; ``C(z)`` is its
   optimum in the model's objective (a risk measure in the objective is minimised exactly
   there: CVaR's ``v`` is an inner column, not a descent variable);
3. ``∇C = g_z + J_φᵀ g_φ`` with ``g = ∂f/∂x − Aᵀy`` at the inner optimum (the envelope
   theorem; ``y`` the row duals, from the LP with integers fixed when there are integers);
4. Adam steps, along the gradient with its part across the outer equality rows removed, in
   coordinates scaled by each outer column's bound range, then the exact
   projection onto the outer feasible set: the bounds and the rows that involve outer columns
   only (one equality row: bisection on the shift, exact to 1e-12; otherwise a QP by cvxpy).

It stops when the best ``C`` improved by less than ``tolerance·|C|`` over the last ten
iterations, after ``maxiter`` iterations
or at ``time_limit``, and returns the best iterate. The program is nonconvex through the
surrogates: the result is a local one, reported as ``feasible``, never ``optimal``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any, ClassVar

import numpy as np

from qgridlang.registry import Backend, Options, register_backend
from qgridlang.results import RawResult, Status

PATIENCE = 10  # iterations over which progress is judged


@register_backend
class PgdBackend(Backend):
    name = "pgd"
    target = "program"
    description = ("projected gradient descent (Adam) through the surrogates; the inner "
                   "LP/MILP exactly by HiGHS")
    REQUIRED_MODULES = ("highspy", "jax", "optax")
    OPTIONS: ClassVar[dict[str, str]] = {
        "maxiter": "iterations (default 200)",
        "learning_rate": "Adam's step as a fraction of each outer variable's bound range "
                         "(default 0.01)",
        "tolerance": "stop when the best objective improved by less than tolerance·|C| over the "
                     "last 10 iterations (default 1e-4)",
    }
    COMMON = frozenset({"time_limit", "seed", "threads", "mip_gap"})

    def run(self, artifact: Any, options: Options) -> RawResult:
        return Descent(artifact, options).run()


class Descent:
    def __init__(self, program: Any, options: Options) -> None:
        self.p = program
        self.opts = options
        flat = program.flat
        self.sign = -1.0 if flat.sense == "max" else 1.0
        self.fixed = np.zeros(flat.n, bool)
        self.fixed[program.outer] = True
        self.fixed[program.responses] = True
        lo, hi = flat.lb[program.outer], flat.ub[program.outer]
        self.lo, self.hi = lo, hi
        span = np.where(np.isfinite(lo) & np.isfinite(hi), hi - lo, 1.0)
        self.scale = np.where(span > 0, span, 1.0)
        rows = program.outer_rows
        A = flat.A.tocsr()[rows][:, program.outer]
        self.rows_A = np.asarray(A.todense(), float)
        self.rows_lo, self.rows_hi = flat.row_lo[rows], flat.row_hi[rows]
        self.At = flat.A.tocsc().T.tocsr()
        import scipy.sparse as sp

        # each link's argument as M x + m over the model's columns
        self.maps = [(sp.csr_matrix((np.asarray(k.input_vals, float),
                                     (np.asarray(k.input_rows, np.int64),
                                      np.asarray(k.input_cols, np.int64))),
                                    shape=(k.length, flat.n)), np.asarray(k.input_offset, float))
                     for k in program.links]
        self.functions = {name: s.function() for name, s in program.surrogates.items()}
        self.inner_seconds = 0.0
        self.surrogate_seconds = 0.0

    # ---- the feasible set of the outer columns ---------------------------------------------
    def project(self, y: np.ndarray) -> np.ndarray:
        lo, hi = self.lo, self.hi
        if len(self.rows_lo) == 0:
            return np.clip(y, lo, hi)
        if len(self.rows_lo) == 1 and self.rows_lo[0] == self.rows_hi[0]:
            a, b = self.rows_A[0], float(self.rows_lo[0])
            return _shift_projection(y, a, b, lo, hi)
        return self._qp_projection(y)

    def tangent(self, gu: np.ndarray) -> np.ndarray:
        """The scaled gradient without its part across equality rows (Adam normalises each
        coordinate: a gradient nearly parallel to `sum(t) price[t] == …` would otherwise become a
        step that the projection cancels)."""
        eq = self.rows_lo == self.rows_hi
        if not eq.any():
            return gu
        N = self.rows_A[eq] * self.scale  # the rows in scaled coordinates
        coef, *_ = np.linalg.lstsq(N.T, gu, rcond=None)
        return np.asarray(gu - N.T @ coef, float)

    def _qp_projection(self, y: np.ndarray) -> np.ndarray:
        import cvxpy as cp

        z = cp.Variable(len(y))
        cons = []
        fin_lo, fin_hi = np.isfinite(self.lo), np.isfinite(self.hi)
        if fin_lo.any():
            cons.append(z[fin_lo] >= self.lo[fin_lo])
        if fin_hi.any():
            cons.append(z[fin_hi] <= self.hi[fin_hi])
        Az = self.rows_A @ z
        for k in range(len(self.rows_lo)):
            if np.isfinite(self.rows_lo[k]):
                cons.append(Az[k] >= self.rows_lo[k])
            if np.isfinite(self.rows_hi[k]):
                cons.append(Az[k] <= self.rows_hi[k])
        prob = cp.Problem(cp.Minimize(cp.sum_squares((z - y) / self.scale)), cons)
        prob.solve()
        if z.value is None:
            raise RuntimeError(f"the projection onto the outer rows failed ({prob.status})")
        return np.clip(np.asarray(z.value, float), self.lo, self.hi)

    # ---- C(z) and its gradient --------------------------------------------------------------
    def evaluate(self, z: np.ndarray) -> tuple[float, np.ndarray | None, np.ndarray | None,
                                                str]:
        import jax
        import jax.numpy as jnp

        from qgridlang.backends.highs import HighsBackend
        from qgridlang.compilers import milp as milp_pass

        p, flat = self.p, self.p.flat
        t0 = time.perf_counter()
        x_fix = np.zeros(flat.n)
        x_fix[p.outer] = z
        vjps = []
        for link, (M, m) in zip(p.links, self.maps, strict=True):
            f = self.functions[link.surrogate]
            out, vjp = jax.vjp(f, jnp.asarray(M @ x_fix + m, jnp.float32))
            x_fix[link.output_start + np.arange(link.length)] = np.asarray(out, float)
            vjps.append(vjp)
        self.surrogate_seconds += time.perf_counter() - t0
        # the inner problem: fixed columns by their bounds, products with them made linear
        s = self.sign
        qi, qj, qv = flat.Q
        fi, fj = self.fixed[qi], self.fixed[qj]
        both, only_i, only_j, free = fi & fj, fi & ~fj, ~fi & fj, ~fi & ~fj
        c = s * flat.c.astype(float)
        np.add.at(c, qj[only_i], s * qv[only_i] * x_fix[qi[only_i]])
        np.add.at(c, qi[only_j], s * qv[only_j] * x_fix[qj[only_j]])
        const = s * flat.obj_const + s * float(np.sum(qv[both] * x_fix[qi[both]] *
                                                      x_fix[qj[both]]))
        lb, ub = flat.lb.copy(), flat.ub.copy()
        lb[self.fixed] = ub[self.fixed] = x_fix[self.fixed]
        inner = dataclasses.replace(flat, c=c, Q=(qi[free], qj[free], s * qv[free]),
                                    obj_const=const, sense="min", lb=lb, ub=ub,
                                    surrogate_links=[], surrogate_models={})
        t1 = time.perf_counter()
        milp, _ = milp_pass.apply(inner)
        inner_opts = Options(threads=self.opts.threads, mip_gap=self.opts.mip_gap,
                             extra={"iis": False})
        raw = HighsBackend().run(milp, inner_opts)
        self.inner_seconds += time.perf_counter() - t1
        if raw.x is None or raw.status not in (Status.OPTIMAL, Status.FEASIBLE):
            return math.nan, None, None, f"the inner problem is {raw.status.value}: " \
                f"{raw.message}"
        x = np.asarray(raw.x[: flat.n], float)
        x[self.fixed] = x_fix[self.fixed]
        value = s * flat.objective_value(x)  # in the min sense
        if raw.duals is None:
            return value, None, x, "the inner problem gave no duals"
        y = np.asarray(raw.duals[: flat.m], float)
        grad = s * flat.c.astype(float)
        np.add.at(grad, qi, s * qv * x[qj])
        np.add.at(grad, qj, s * qv * x[qi])
        grad -= self.At @ y
        chained = np.zeros(flat.n)
        for link, (M, _), vjp in zip(p.links, self.maps, vjps, strict=True):
            g_out = grad[link.output_start + np.arange(link.length)]
            (g_in,) = vjp(jnp.asarray(g_out, jnp.float32))
            chained += M.T @ np.asarray(g_in, float)
        return value, (grad + chained)[p.outer], x, ""

    # ---- the loop -------------------------------------------------------------------------------
    def run(self) -> RawResult:
        import optax

        extra = self.opts.extra
        maxiter = int(extra.get("maxiter", 200))
        lr = float(extra.get("learning_rate", 0.01))
        tol = float(extra.get("tolerance", 1e-4))
        deadline = time.perf_counter() + (self.opts.time_limit or math.inf)
        start = time.perf_counter()
        mid = np.where(np.isfinite(self.lo) & np.isfinite(self.hi), (self.lo + self.hi) / 2,
                       np.where(np.isfinite(self.lo), self.lo, np.where(np.isfinite(self.hi),
                                                                        self.hi, 0.0)))
        z = self.project(mid)
        opt = optax.adam(lr)
        state = opt.init(np.asarray(z / self.scale, np.float64))
        history: list[float] = []
        best: tuple[float, np.ndarray, np.ndarray] | None = None
        stop, message = "maxiter", ""
        for it in range(maxiter):
            value, gz, x, why = self.evaluate(z)
            if gz is None or x is None:
                stop, message = "inner", why
                break
            history.append(value)
            if best is None or value < best[0]:
                best = (value, z.copy(), x)
            # Adam's early steps are the same size whatever the gradient: judge progress over
            # a window, not one step
            if it >= PATIENCE and min(history[:-PATIENCE]) - best[0] < tol * abs(best[0]):
                stop = "converged"
                break
            if time.perf_counter() > deadline:
                stop = "time_limit"
                break
            upd, state = opt.update(self.tangent(gz * self.scale), state)
            z = self.project(z + np.asarray(upd, float) * self.scale)
        info: dict[str, object] = {
            "iterations": len(history), "stop": stop,
            "objective_history": [self.sign * h for h in history],
            "first_objective": self.sign * history[0] if history else None,
            "inner_seconds": round(self.inner_seconds, 3),
            "surrogate_seconds": round(self.surrogate_seconds, 3),
            "seconds": round(time.perf_counter() - start, 3),
            "outer_columns": int(len(self.p.outer)),
            "projection": "bounds" if len(self.rows_lo) == 0 else
            ("shift bisection" if len(self.rows_lo) == 1 and self.rows_lo[0] == self.rows_hi[0]
             else "QP (cvxpy)"),
        }
        if best is None:
            return RawResult(Status.ERROR, info=info, message=message or "no iterate")
        return RawResult(Status.FEASIBLE, x=best[2], info=info, message=(
            f"a local optimum of the descent ({stop} after {len(history)} iterations), not a "
            "proven optimum: the program is nonconvex through the surrogates"
            + (f"; {message}" if message else "")))


def _shift_projection(y: np.ndarray, a: np.ndarray, b: float, lo: np.ndarray,
                      hi: np.ndarray) -> np.ndarray:
    """argmin ||z - y|| s.t. a·z = b, lo <= z <= hi: z = clip(y - λa), λ by bisection
    (a·z is non-increasing in λ)."""
    def total(lam: float) -> float:
        return float(a @ np.clip(y - lam * a, lo, hi))

    lo_l, hi_l = -1.0, 1.0
    while total(lo_l) < b and lo_l > -1e300:
        lo_l *= 2.0
    while total(hi_l) > b and hi_l < 1e300:
        hi_l *= 2.0
    if not total(lo_l) >= b >= total(hi_l):
        raise RuntimeError("the outer equality row cannot be met within the bounds")
    for _ in range(200):
        mid = 0.5 * (lo_l + hi_l)
        if total(mid) > b:
            lo_l = mid
        else:
            hi_l = mid
        if hi_l - lo_l <= 1e-15 * max(1.0, abs(mid)):
            break
    return np.clip(y - 0.5 * (lo_l + hi_l) * a, lo, hi)
