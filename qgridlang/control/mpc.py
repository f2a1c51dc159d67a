"""Linear MPC as a parametrised convex QP (cvxpy + OSQP), built once and re-solved each sample.

Prediction over ``N = spec.horizon`` steps of ``spec.step`` s on the controller's model,
discretised exactly (ZOH): ``x[k+1] = Ad x[k] + Bd u[k] + Ed ŵ[k] + cd`` with ``ŵ`` the
forecast of the predictor's disturbance channel (other channels 0). The inputs are free for
``control_horizon`` steps and held after. The cost is ``Σ zᵀHz + hᵀz`` (``z = [x; u]``) plus
``x[N]ᵀ P x[N]`` with P from the DARE (:func:`qgridlang.control.linear.terminal_cost`).

Constraints: input bounds and rate bounds (the first move against the input applied last) are
hard; state and output bounds are soft when ``spec.soft_states`` (a slack per bound and step,
priced linearly and quadratically at SLACK_PRICE = 1e4 in the normalised QP, whose largest
curvature is 1: far above the bounds' multipliers, so the slack is zero whenever the hard
problem is feasible; any slack used is reported in the signal's unit), else hard. Each sample
the observer gives ``(x̂, d̂)``, the predictor forecasts ``ŵ`` from the history of ``d̂``, and
the parameters ``x̂``, ``ŵ`` and the previous input are set before a warm-started OSQP solve:
cvxpy compiles the problem once (DPP). Where OSQP stops short, CLARABEL solves the sample.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import cvxpy as cp
import numpy as np

from qgridlang.control.linear import discretise, require_linear, terminal_cost
from qgridlang.control.observer import DisturbanceObserver
from qgridlang.control.predictors import Predictor, make_predictor
from qgridlang.control.spec import MPCSpec, SystemSpec
from qgridlang.errors import DimensionMismatch, UnsupportedConstruct

# per unit of slack in the normalised QP, whose largest curvature is 1 (see _build)
SLACK_PRICE = 1e4
SLACK_TOL = 1e-6  # slack above this counts as a (soft) constraint violation in the notes
# tolerances on the normalised QP (moves of order 1, largest curvature 1): 1e-6 is a move
# accurate to 2e-8 pu on the LFC's 0.02 pu battery. Polishing is off: OSQP 1.x prints
# "Polishing not needed" on stdout, and only the CLI may print. When OSQP stops short
# (max_iter, seen on a few samples where many SOC rows are nearly active at once), the sample
# is solved again by CLARABEL (interior point) and counted in the notes.
OSQP_SETTINGS: dict[str, float | int | bool] = {
    "eps_abs": 1e-6, "eps_rel": 1e-6, "max_iter": 2000, "polishing": False}


def _psd_factor(H: np.ndarray, what: str, span: object) -> np.ndarray:
    """L with ``LᵀL = H`` (rows for the positive eigenvalues); H must be PSD up to rounding."""
    H = 0.5 * (H + H.T)
    lam, V = np.linalg.eigh(H)
    scale = max(float(np.abs(lam).max()) if lam.size else 0.0, 1e-300)
    if lam.size and lam.min() < -1e-9 * scale:
        raise UnsupportedConstruct(
            f"the {what} is not convex (its quadratic form has a negative eigenvalue "
            f"{lam.min():.3g})", span,  # type: ignore[arg-type]
            hint="MPC needs a cost that is a sum of squares with non-negative weights")
    keep = lam > 1e-12 * scale
    return np.sqrt(lam[keep])[:, None] * V[:, keep].T


@dataclass
class MPCStats:
    """Per-sample timings (ms) and what the QP reported."""

    qp_ms: list[float] = field(default_factory=list)
    solver_ms: list[float] = field(default_factory=list)
    predictor_ms: list[float] = field(default_factory=list)
    total_ms: list[float] = field(default_factory=list)
    slack_steps: int = 0
    slack_max: float = 0.0
    inaccurate: int = 0
    failed: int = 0
    fallback: int = 0  # samples OSQP did not solve, re-solved by CLARABEL
    bad_forecasts: int = 0  # forecasts of the wrong length or not finite (persistence used)


class MPCController:
    """``act(x) -> u``: observe, forecast, solve the QP, apply the first move."""

    # cvxpy problems constructed by all instances: two per controller (the QP for OSQP and its
    # copy for the CLARABEL fallback), both when it is built, none per sample
    problems_built = 0

    def __init__(self, spec: MPCSpec, model: SystemSpec,
                 predictor: Predictor | None = None) -> None:
        self.spec = spec
        lin = require_linear(model, "MPC", spec.span)
        n, m = lin.A.shape[0], lin.B.shape[1]
        self.n, self.m = n, m
        N, Nc = spec.horizon, spec.control_horizon
        if N < 1 or not 1 <= Nc <= N:
            raise UnsupportedConstruct(
                f"MPC needs 1 <= control horizon <= horizon, got {Nc} and {N}", spec.span)
        if spec.stage_H.shape != (n + m, n + m) or spec.stage_h.shape != (n + m,):
            raise DimensionMismatch(
                f"the stage cost of '{spec.name}' is over {spec.stage_H.shape[0]} signals but "
                f"'{model.name}' has {n} states and {m} inputs", spec.span)
        self.disc = discretise(lin, spec.step)
        self.signal = spec.predictor.signal
        if model.disturbances and not 0 <= self.signal < len(model.disturbances):
            raise DimensionMismatch(
                f"the predictor forecasts disturbance {self.signal}, but '{model.name}' has "
                f"{len(model.disturbances)}", spec.predictor.span or spec.span)
        self.observer = (DisturbanceObserver(self.disc, self.signal, model.x0)
                         if spec.observer == "kalman" else None)
        self.predictor = predictor if predictor is not None else make_predictor(
            spec.predictor, spec.step)
        self.lin = lin
        self.model = model
        self.slacks: list[tuple[cp.Variable, np.ndarray]] = []
        self.regularised = False
        self.stats = MPCStats()
        tb = time.perf_counter()
        self._build()
        self.build_ms = 1e3 * (time.perf_counter() - tb)
        self.reset()

    # -- the QP ------------------------------------------------------------------------------
    def _bounds(self, kind: str, size: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = np.full(size, -np.inf), np.full(size, np.inf)
        for b in self.spec.bounds:
            if b.kind != kind:
                continue
            if not 0 <= b.index < size:
                raise DimensionMismatch(f"a {kind} bound on index {b.index} of {size}",
                                        b.span or self.spec.span)
            if b.lower is not None:
                lo[b.index] = max(lo[b.index], b.lower)
            if b.upper is not None:
                hi[b.index] = min(hi[b.index], b.upper)
        if kind == "input":  # the inputs' declared ranges always hold
            for i, s in enumerate(self.model.inputs):
                if s.lower is not None:
                    lo[i] = max(lo[i], s.lower)
                if s.upper is not None:
                    hi[i] = min(hi[i], s.upper)
        for i in range(size):
            if lo[i] > hi[i]:
                raise UnsupportedConstruct(
                    f"the {kind} bounds on index {i} are empty ({lo[i]} .. {hi[i]})",
                    self.spec.span)
        return lo, hi

    def _prediction(self, s_u: np.ndarray) -> tuple[list[np.ndarray], ...]:
        """Every predicted state as an affine map of (x0, forecast, scaled moves):
        ``x[k] = PX[k] x0 + PW[k] ŵ + PU[k] Ũ + p0[k]`` and ``u[k] = SEL[k] Ũ``, k = 0 .. N."""
        d, n, m = self.disc, self.n, self.m
        N, Nc = self.spec.horizon, self.spec.control_horizon
        ed = d.Ed[:, self.signal] if d.Ed.shape[1] else np.zeros(n)
        PX, PW, PU, p0, SEL = [np.eye(n)], [np.zeros((n, N))], [np.zeros((n, m * Nc))], \
            [np.zeros(n)], []
        for k in range(N + 1):
            sel = np.zeros((m, m * Nc))
            j = min(k, Nc - 1)
            sel[np.arange(m), j * m + np.arange(m)] = s_u
            SEL.append(sel)
            if k == N:
                break
            ek = np.zeros(N)
            ek[k] = 1.0
            PX.append(d.Ad @ PX[k])
            PW.append(d.Ad @ PW[k] + np.outer(ed, ek))
            PU.append(d.Ad @ PU[k] + d.Bd @ sel)
            p0.append(d.Ad @ p0[k] + d.cd)
        return PX, PW, PU, p0, SEL

    def _build(self) -> None:
        """The condensed QP: the states are eliminated through the prediction matrices, so the
        decision variables are the moves only, scaled to the input ranges (Ũ in about -1 .. 1)
        and the cost divided by its largest curvature. This keeps OSQP's absolute tolerances
        meaningful for per-unit signals of 1e-3 (the sparse form with the dynamics as equality
        constraints did not converge to 1e-9 on the LFC model within 20,000 iterations)."""
        s, lin = self.spec, self.lin
        n, m, N, Nc = self.n, self.m, s.horizon, s.control_horizon
        ulo, uhi = self._bounds("input", m)
        rlo, rhi = self._bounds("rate", m)
        self.ulo, self.uhi, self.rlo, self.rhi = ulo, uhi, rlo, rhi
        span_u = np.maximum(np.where(np.isfinite(ulo), np.abs(ulo), 0.0),
                            np.where(np.isfinite(uhi), np.abs(uhi), 0.0))
        s_u = np.where(span_u > 0, span_u, 1.0)
        self.s_u = s_u
        PX, PW, PU, p0, SEL = self._prediction(s_u)
        H = 0.5 * (s.stage_H + s.stage_H.T)
        _psd_factor(H, "stage cost", s.span)  # convexity check with a located error
        nu = m * Nc
        G = np.zeros((nu, nu))
        Kx, Kw, k0 = np.zeros((nu, n)), np.zeros((nu, N)), np.zeros(nu)
        for k in range(N):
            Au = np.vstack([PU[k], SEL[k]])
            Ax = np.vstack([PX[k], np.zeros((m, n))])
            Aw = np.vstack([PW[k], np.zeros((m, N))])
            a = np.concatenate([p0[k], np.zeros(m)])
            G += Au.T @ H @ Au
            Kx += 2 * Au.T @ H @ Ax
            Kw += 2 * Au.T @ H @ Aw
            k0 += 2 * Au.T @ H @ a + Au.T @ s.stage_h
        if s.terminal == "dare":
            P, self.regularised = terminal_cost(self.disc, H, s.span)
            G += PU[N].T @ P @ PU[N]
            Kx += 2 * PU[N].T @ P @ PX[N]
            Kw += 2 * PU[N].T @ P @ PW[N]
            k0 += 2 * PU[N].T @ P @ p0[N]
        G = 0.5 * (G + G.T)
        scale = float(np.abs(np.diag(G)).max(initial=0.0)) or 1.0
        self.cost_scale = scale

        self.x0 = cp.Parameter(n, name="x0")
        self.wf = cp.Parameter(N, name="forecast")
        self.u_prev = cp.Parameter(m, name="u_prev")
        V = cp.Variable(nu, name="moves")  # scaled: u = s_u * V
        lin_coef = (Kx / scale) @ self.x0 + (Kw / scale) @ self.wf + k0 / scale
        cost = cp.quad_form(V, cp.psd_wrap(G / scale)) + lin_coef @ V
        cons: list[cp.Constraint] = []
        Vm = cp.reshape(V, (m, Nc), order="F")  # column j: the j-th move of every input
        for i in range(m):
            if np.isfinite(ulo[i]):
                cons.append(Vm[i, :] >= ulo[i] / s_u[i])
            if np.isfinite(uhi[i]):
                cons.append(Vm[i, :] <= uhi[i] / s_u[i])
            first = s_u[i] * Vm[i, 0] - self.u_prev[i]
            later = s_u[i] * (Vm[i, 1:] - Vm[i, :-1]) if Nc > 1 else None
            for expr in (first, later):
                if expr is None:
                    continue
                if np.isfinite(rlo[i]):
                    cons.append(expr >= rlo[i])
                if np.isfinite(rhi[i]):
                    cons.append(expr <= rhi[i])
        # state and output bounds on the predicted steps 1..N (x[0] is measured, nothing can
        # move it); at step N an output sees the last input and forecast held, as the inputs
        # are held after the control horizon
        rows: list[tuple[np.ndarray, np.ndarray, np.ndarray, float, float, float, int]] = []
        slo, shi = self._bounds("state", n)
        for i in range(n):
            if np.isfinite(slo[i]) or np.isfinite(shi[i]):
                for k in range(1, N + 1):
                    rows.append((PX[k][i], PW[k][i], PU[k][i], p0[k][i], slo[i], shi[i], i))
        q = lin.C.shape[0]
        olo, ohi = self._bounds("output", q)
        fj = lin.F[:, self.signal] if lin.F.shape[1] else np.zeros(q)
        for i in range(q):
            if np.isfinite(olo[i]) or np.isfinite(ohi[i]):
                for k in range(1, N + 1):
                    ek = np.zeros(N)
                    ek[min(k, N - 1)] = fj[i]  # at step N the last forecast, held
                    rows.append((lin.C[i] @ PX[k], lin.C[i] @ PW[k] + ek,
                                 lin.C[i] @ PU[k] + lin.D[i] @ SEL[k],
                                 float(lin.C[i] @ p0[k] + lin.g[i]), olo[i], ohi[i], n + i))
        if rows:
            Rx = np.array([r[0] for r in rows])
            Rw = np.array([r[1] for r in rows])
            Ru = np.array([r[2] for r in rows])
            r0 = np.array([r[3] for r in rows])
            lo = np.array([r[4] for r in rows])
            hi = np.array([r[5] for r in rows])
            group = np.array([r[6] for r in rows])
            # each signal's rows divided by how far the moves can shift it at most over the
            # horizon, so that the bound's multipliers are of the order of the (normalised)
            # cost and a slack price of SLACK_PRICE is exact without wrecking OSQP's
            # conditioning (per row would blow up the rows the moves barely reach, e.g. SOC one
            # step ahead, into offsets of 1e5); rows the moves cannot shift at all are left out
            norm = np.linalg.norm(Ru, axis=1)
            scale_g = {g: float(norm[group == g].max()) for g in set(group.tolist())}
            ok = np.array([norm[j] > 1e-9 * scale_g[group[j]] and scale_g[group[j]] > 0
                           for j in range(norm.size)], dtype=bool)
            norm = np.array([scale_g[g] for g in group.tolist()])
            Rx, Rw, Ru, r0, lo, hi, norm = (a[ok] for a in (Rx, Rw, Ru, r0, lo, hi, norm))
            expr = ((Rx / norm[:, None]) @ self.x0 + (Rw / norm[:, None]) @ self.wf
                    + (Ru / norm[:, None]) @ V + r0 / norm)
            for bound, sign in ((lo, 1.0), (hi, -1.0)):
                keep = np.isfinite(bound)
                if not keep.any():
                    continue
                idx = np.nonzero(keep)[0]
                row = sign * (expr[idx] - bound[idx] / norm[idx])  # >= 0 inside the bound
                if s.soft_states:
                    sl = cp.Variable(idx.size, nonneg=True)
                    cons.append(row + sl >= 0)
                    cost = cost + SLACK_PRICE * (cp.sum(sl) + cp.sum_squares(sl))
                    self.slacks.append((sl, norm[idx]))
                else:
                    cons.append(row >= 0)
        self.V = V
        self.problem = cp.Problem(cp.Minimize(cost), cons)
        # the same QP for the CLARABEL fallback: cvxpy keeps one compiled program per problem,
        # so solving one problem with two solvers would recompile at every switch (tens of ms)
        self.fallback_problem = cp.Problem(cp.Minimize(cost), cons)
        MPCController.problems_built += 2
        if not self.problem.is_dcp(dpp=True):  # a construction error of ours, not the user's
            raise AssertionError("the MPC problem is not DPP")
        # compile now (cvxpy caches the parametrised program) and set OSQP up (its first solve
        # factors the KKT matrix), so that the first sample costs what every later one does;
        # the build time is reported on its own
        # (at the model's initial state with no disturbance: the first sample's neighbour, so
        # that OSQP's warm start and adapted step size are good ones)
        for par, val in ((self.x0, self.model.x0), (self.wf, np.zeros(N)),
                         (self.u_prev, np.clip(np.zeros(m), ulo, uhi))):
            par.value = val
        self._solve(self.fallback_problem, cp.CLARABEL)
        self._solve(self.problem, cp.OSQP, warm_start=True, **OSQP_SETTINGS)

    # -- each sample -------------------------------------------------------------------------
    def reset(self) -> None:
        self.applied = np.clip(np.zeros(self.m), self.ulo, self.uhi)
        self.history: list[float] = []
        self.stats = MPCStats()
        if self.observer is not None:
            self.observer.reset()
        self.predictor.reset()

    def act(self, x: np.ndarray) -> np.ndarray:
        """The input to apply now, given the measured state ``x`` of the plant."""
        t0 = time.perf_counter()
        if self.observer is not None:
            xh, dh = self.observer.update(np.asarray(x, dtype=float), self.applied)
        else:
            xh, dh = np.asarray(x, dtype=float), 0.0
        self.history.append(dh)
        tp = time.perf_counter()
        forecast = np.asarray(self.predictor.predict(np.asarray(self.history),
                                                     self.spec.horizon), dtype=float).reshape(-1)
        if forecast.size != self.spec.horizon or not np.all(np.isfinite(forecast)):
            # a forecast the QP cannot take: hold the estimate instead, and say so
            self.stats.bad_forecasts += 1
            forecast = np.full(self.spec.horizon, dh)
        self.stats.predictor_ms.append(1e3 * (time.perf_counter() - tp))
        self.x0.value = xh
        self.wf.value = forecast.reshape(self.spec.horizon)
        self.u_prev.value = self.applied
        tq = time.perf_counter()
        status = self._solve(self.problem, cp.OSQP, warm_start=True, **OSQP_SETTINGS)
        if status != cp.OPTIMAL:
            self.stats.fallback += 1
            status = self._solve(self.fallback_problem, cp.CLARABEL)
        self.stats.qp_ms.append(1e3 * (time.perf_counter() - tq))
        if status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) and self.V.value is not None:
            if status == cp.OPTIMAL_INACCURATE:
                self.stats.inaccurate += 1
            u = self.s_u * np.asarray(self.V.value[:self.m], dtype=float)
            used = max((float((sl.value * nm).max()) for sl, nm in self.slacks
                        if sl.value is not None), default=0.0)  # in the signal's unit
            if used > SLACK_TOL:
                self.stats.slack_steps += 1
                self.stats.slack_max = max(self.stats.slack_max, used)
        else:  # infeasible or failed: keep the last input (the plant must get something)
            self.stats.failed += 1
            u = self.applied.copy()
        # the solver's tolerance may leave the move a hair outside its box; the plant must not be
        u = np.clip(u, self.applied + self.rlo, self.applied + self.rhi)
        u = np.clip(u, self.ulo, self.uhi)
        self.applied = u
        self.stats.total_ms.append(1e3 * (time.perf_counter() - t0))
        return u.copy()

    def _solve(self, problem: cp.Problem, solver: str, **options: object) -> str:
        """Solve ``problem`` (which sets the shared variables' values); its cvxpy status."""
        with warnings.catch_warnings():  # "solution may be inaccurate": counted, not printed
            warnings.simplefilter("ignore", UserWarning)
            try:
                problem.solve(solver=solver, **options)  # type: ignore[arg-type]
            except cp.error.SolverError:
                return "solver_error"
        stats = problem.solver_stats
        if stats is not None and stats.solve_time is not None:
            self.stats.solver_ms.append(1e3 * stats.solve_time)
        return str(problem.status)

    def notes(self) -> list[str]:
        st, out = self.stats, []
        if self.regularised:
            out.append(f"{self.spec.name}: the terminal DARE needed a tiny weight (1e-9 of the "
                       "largest stage weight) on modes the stage cost does not see")
        if st.slack_steps:
            out.append(f"{self.spec.name}: soft state/output bounds violated at {st.slack_steps}"
                       f" sample(s), largest slack {st.slack_max:.3g}")
        if st.bad_forecasts:
            out.append(f"{self.spec.name}: the predictor gave no usable forecast at "
                       f"{st.bad_forecasts} sample(s); the last estimate was held")
        if st.fallback:
            out.append(f"{self.spec.name}: OSQP did not converge at {st.fallback} sample(s); "
                       "CLARABEL solved them")
        if st.inaccurate:
            out.append(f"{self.spec.name}: the QP solution was inaccurate at "
                       f"{st.inaccurate} sample(s)")
        if st.failed:
            out.append(f"{self.spec.name}: the QP had no solution at {st.failed} sample(s); "
                       "the previous input was held")
        return out
