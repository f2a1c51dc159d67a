"""The ``highs`` backend (HiGHS via highspy) for the ``milp`` target.

LPs and MILPs go to HiGHS directly; a convex quadratic objective on continuous columns is passed
as a Hessian (HiGHS's QP solver). HiGHS has no MIQP solver, so a convex quadratic objective with
integer columns is solved by outer approximation: the quadratic part is moved into epigraph
columns bounded below by tangent cuts, refined at each incumbent until the gap between the cut
model's bound and the exactly evaluated objective is within tolerance (Kelley's method; finite
for MILPs because each round cuts off the previous incumbent's under-estimate).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from qgridlang.compilers.milp import is_quadratic
from qgridlang.registry import Backend, Options, register_backend
from qgridlang.results import RawResult, Status

INF = float("inf")
_TOL = 1e-6
_HIGHS_MIP_GAP = 1e-4  # HiGHS's default mip_rel_gap
_INITIAL_TANGENTS = 8  # per separable term: max under-estimate h/2 (range/14)^2 per column


@dataclass
class _Epigraph:
    """Quadratic part split into separable terms ``h_j/2 x_j^2`` and one coupled remainder."""

    diag_cols: np.ndarray  # columns with a separable term
    diag_h: np.ndarray  # their Hessian diagonal
    R: sp.csr_matrix | None  # coupled remainder (1/2 x'Rx), None if all separable


@register_backend
class HighsBackend(Backend):
    name = "highs"
    target = "milp"
    description = "HiGHS LP/MILP/QP (convex MIQP by tangent-cut outer approximation)"
    REQUIRED_MODULES = ("highspy",)

    def run(self, artifact: Any, options: Options) -> RawResult:
        milp = artifact
        start = time.perf_counter()
        if is_quadratic(milp) and milp.integer.any():
            raw = _outer_approximation(milp, options)
        else:
            raw = _solve_once(milp, options, hessian=is_quadratic(milp))
        raw.info["solve_seconds"] = time.perf_counter() - start
        if raw.x is not None and raw.status in (Status.OPTIMAL, Status.FEASIBLE) and \
                milp.integer.any() and raw.duals is None and options.extra.get("duals", True):
            raw.duals = _fixed_duals(milp, raw.x, options)
            if raw.duals is not None:
                raw.info["duals"] = "row duals of the LP with integer columns fixed"
        return raw


def _highs(options: Options) -> Any:
    import highspy

    h = highspy.Highs()
    h.silent()
    if options.time_limit is not None:
        h.setOptionValue("time_limit", float(options.time_limit))
    if options.mip_gap is not None:
        h.setOptionValue("mip_rel_gap", float(options.mip_gap))
    if options.threads is not None:
        h.setOptionValue("threads", int(options.threads))
    if options.seed is not None:
        h.setOptionValue("random_seed", int(options.seed))
    return h


def build_model(milp: Any, hessian: bool, c: np.ndarray | None = None,
                A: sp.csr_matrix | None = None, lb: np.ndarray | None = None,
                ub: np.ndarray | None = None, row_lo: np.ndarray | None = None,
                row_hi: np.ndarray | None = None, integer: np.ndarray | None = None) -> Any:
    """A ``HighsModel`` from the MILP's arrays (any of them overridable)."""
    import highspy

    c = milp.c if c is None else c
    A = milp.A if A is None else A
    lb = milp.lb if lb is None else lb
    ub = milp.ub if ub is None else ub
    row_lo = milp.row_lo if row_lo is None else row_lo
    row_hi = milp.row_hi if row_hi is None else row_hi
    integer = milp.integer if integer is None else integer
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = int(len(c)), int(A.shape[0])
    lp.col_cost_ = np.asarray(c, float)
    lp.col_lower_ = np.asarray(lb, float)
    lp.col_upper_ = np.asarray(ub, float)
    lp.row_lower_ = np.asarray(row_lo, float)
    lp.row_upper_ = np.asarray(row_hi, float)
    lp.offset_ = float(milp.const)
    csc = sp.csc_matrix(A)
    csc.sort_indices()
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = csc.indptr.astype(np.int32)
    lp.a_matrix_.index_ = csc.indices.astype(np.int32)
    lp.a_matrix_.value_ = csc.data.astype(float)
    if integer.any():
        kinds = np.where(integer, int(highspy.HighsVarType.kInteger),
                         int(highspy.HighsVarType.kContinuous))
        lp.integrality_ = [highspy.HighsVarType(int(k)) for k in kinds]
    model = highspy.HighsModel()
    model.lp_ = lp
    if hessian:
        H = sp.tril(milp.H, format="csc")
        H.sort_indices()
        model.hessian_.dim_ = int(len(c))
        model.hessian_.format_ = highspy.HessianFormat.kTriangular
        model.hessian_.start_ = H.indptr.astype(np.int32)
        model.hessian_.index_ = H.indices.astype(np.int32)
        model.hessian_.value_ = H.data.astype(float)
    return model


_STATUS = {
    "kOptimal": Status.OPTIMAL, "kInfeasible": Status.INFEASIBLE,
    "kUnbounded": Status.UNBOUNDED, "kUnboundedOrInfeasible": Status.INFEASIBLE,
    "kTimeLimit": Status.TIME_LIMIT, "kIterationLimit": Status.TIME_LIMIT,
    "kSolutionLimit": Status.FEASIBLE, "kInterrupt": Status.TIME_LIMIT,
    "kModelEmpty": Status.OPTIMAL,
}


def _run(h: Any, model: Any, start: np.ndarray | None = None
         ) -> tuple[Status, np.ndarray | None, np.ndarray | None, dict[str, Any]]:
    h.passModel(model)
    if start is not None:
        import highspy

        sol = highspy.HighsSolution()
        sol.col_value = list(map(float, start))
        sol.value_valid = True
        h.setSolution(sol)
    h.run()
    ms = h.getModelStatus()
    status = _STATUS.get(ms.name, Status.ERROR)
    info = h.getInfo()
    sol = h.getSolution()
    has_x = bool(sol.value_valid) and model.lp_.num_col_ > 0 and status in (
        Status.OPTIMAL, Status.FEASIBLE, Status.TIME_LIMIT)
    if status == Status.TIME_LIMIT and has_x:
        status = Status.FEASIBLE if model.lp_.integrality_ else Status.TIME_LIMIT
    x = np.asarray(sol.col_value, float) if has_x else None
    if model.lp_.num_col_ == 0 and status == Status.OPTIMAL:
        x = np.zeros(0)
    duals = np.asarray(sol.row_dual, float) if sol.dual_valid else None
    details: dict[str, Any] = {"highs_status": ms.name}
    if model.lp_.integrality_:
        details["mip_gap"] = float(info.mip_gap)
        details["mip_dual_bound"] = float(info.mip_dual_bound)
        details["mip_nodes"] = int(info.mip_node_count)
    return status, x, duals, details


def _solve_once(milp: Any, options: Options, hessian: bool) -> RawResult:
    h = _highs(options)
    status, x, duals, details = _run(h, build_model(milp, hessian))
    if milp.integer.any():
        duals = None
    bound = details.get("mip_dual_bound")
    return RawResult(status, x=x, duals=duals, bound=bound, info=details)


def _split(milp: Any) -> _Epigraph:
    H = sp.csr_matrix(milp.H)
    off = H - sp.diags(H.diagonal())
    off.eliminate_zeros()
    coupled = np.unique(np.concatenate([off.nonzero()[0], off.nonzero()[1]]))
    diag = H.diagonal()
    sep = np.setdiff1d(np.flatnonzero(diag), coupled)
    R = None
    if len(coupled):
        mask = np.zeros(H.shape[0], bool)
        mask[coupled] = True
        D = sp.diags(mask.astype(float))
        R = sp.csr_matrix(D @ H @ D)
    return _Epigraph(sep, diag[sep], R)


def _outer_approximation(milp: Any, options: Options) -> RawResult:
    """Solve min c'x + 1/2 x'Hx (H PSD) with integers by tangent cuts on epigraph columns.

    Each round solves the cut MILP (its dual bound is a valid lower bound, tangents
    under-estimate a convex function), then solves the exact QP with the round's integer
    assignment fixed (an upper bound); new tangents go where the cut model under-estimated.
    """
    ep = _split(milp)
    n = milp.n
    k = len(ep.diag_cols) + (1 if ep.R is not None else 0)
    c = np.concatenate([milp.c, np.ones(k)])
    lb = np.concatenate([milp.lb, np.full(k, -INF)])
    ub = np.concatenate([milp.ub, np.full(k, INF)])
    integer = np.concatenate([milp.integer, np.zeros(k, bool)])
    cut_rows: list[tuple[np.ndarray, np.ndarray, float]] = []  # (cols, vals, lower bound)
    # initial tangents at points spread over each separable column's box
    for e, (j, hj) in enumerate(zip(ep.diag_cols, ep.diag_h, strict=True)):
        lo, hi = milp.lb[j], milp.ub[j]
        lo, hi = (lo if np.isfinite(lo) else -1.0), (hi if np.isfinite(hi) else 1.0)
        for x0 in np.linspace(lo, hi, _INITIAL_TANGENTS):
            cut_rows.append(_tangent_1d(j, hj, x0, n + e))
    if ep.R is not None:
        x0 = np.clip(np.zeros(n), milp.lb, milp.ub)
        cut_rows.append(_tangent_nd(ep.R, x0, n + k - 1))
    deadline = time.perf_counter() + options.time_limit if options.time_limit else None
    best: tuple[float, np.ndarray] | None = None
    lower = -INF
    rounds = 0
    info: dict[str, Any] = {}
    status = Status.ERROR
    # the proven gap is the MIP's own gap plus the tangents' under-estimate: allow each one the
    # MIP gap, so the outer tolerance is twice it (2e-4 relative by default)
    rel_gap = 2.0 * (options.mip_gap if options.mip_gap is not None else _HIGHS_MIP_GAP)
    start: np.ndarray | None = None
    for rounds in range(1, 201):
        A, lo_r, hi_r = _with_cuts(milp, cut_rows, n + k)
        opts = Options(time_limit=(max(1.0, deadline - time.perf_counter()) if deadline
                                   else None), seed=options.seed, mip_gap=options.mip_gap,
                       threads=options.threads)
        h = _highs(opts)
        status, x, _, info = _run(h, build_model(milp, False, c, A, lb, ub, lo_r, hi_r, integer),
                                  start)
        if x is None:
            break
        xm = _polish(milp, x[:n], options)
        true = float(milp.c @ xm + 0.5 * xm @ (milp.H @ xm) + milp.const)
        lower = max(lower, float(info.get("mip_dual_bound", c @ x + milp.const)))
        if best is None or true < best[0]:
            best = (true, xm)
        gap = best[0] - lower
        if gap <= max(_TOL, rel_gap * abs(best[0])):
            break
        added = 0
        xr = x[:n]  # Kelley: cut off the cut model's own point, and tighten at the polished one
        for e, (j, hj) in enumerate(zip(ep.diag_cols, ep.diag_h, strict=True)):
            if x[n + e] < 0.5 * hj * xr[j] ** 2 - _TOL * max(1.0, abs(x[n + e])):
                cut_rows.append(_tangent_1d(j, hj, xr[j], n + e))
                cut_rows.append(_tangent_1d(j, hj, xm[j], n + e))
                added += 1
        if ep.R is not None:
            val = 0.5 * xr @ (ep.R @ xr)
            if x[n + k - 1] < val - _TOL * max(1.0, abs(val)):
                cut_rows.append(_tangent_nd(ep.R, xr, n + k - 1))
                cut_rows.append(_tangent_nd(ep.R, xm, n + k - 1))
                added += 1
        if added == 0 or (deadline and time.perf_counter() > deadline):
            break
        start = _epigraph_start(milp, ep, best[1], n + k)
    if best is None:
        return RawResult(status, info=info, message="outer approximation found no solution")
    gap = best[0] - lower
    info.update({"outer_approximation_rounds": rounds, "tangent_cuts": len(cut_rows),
                 "objective_lower_bound": lower, "objective_gap": gap})
    converged = gap <= max(_TOL, rel_gap * abs(best[0]))
    return RawResult(Status.OPTIMAL if converged and status == Status.OPTIMAL else
                     Status.FEASIBLE, x=best[1], bound=lower, info=info,
                     message="" if converged else f"stopped with objective gap {gap:.3g}")


def _polish(milp: Any, x: np.ndarray, options: Options) -> np.ndarray:
    """The exact QP optimum over the incumbent's integer assignment (an upper bound)."""
    xi = np.round(x)
    lb = np.where(milp.integer, xi, milp.lb)
    ub = np.where(milp.integer, xi, milp.ub)
    h = _highs(Options(time_limit=options.time_limit, threads=options.threads))
    status, xq, _, _ = _run(h, build_model(milp, True, lb=lb, ub=ub,
                                           integer=np.zeros(milp.n, bool)))
    return xq if status == Status.OPTIMAL and xq is not None else x


def _epigraph_start(milp: Any, ep: _Epigraph, xm: np.ndarray, width: int) -> np.ndarray:
    """A warm start: the incumbent with its epigraph columns at their exact values."""
    x = np.zeros(width)
    x[: milp.n] = xm
    x[milp.n: milp.n + len(ep.diag_cols)] = 0.5 * ep.diag_h * xm[ep.diag_cols] ** 2
    if ep.R is not None:
        x[-1] = 0.5 * float(xm @ (ep.R @ xm))
    return x


def _tangent_1d(j: int, hj: float, x0: float, z: int) -> tuple[np.ndarray, np.ndarray, float]:
    """z >= hj/2 x0^2 + hj x0 (x - x0)  <=>  z - hj x0 x >= -hj/2 x0^2."""
    return np.array([z, j]), np.array([1.0, -hj * x0]), -0.5 * hj * x0 * x0


def _tangent_nd(R: sp.csr_matrix, x0: np.ndarray, z: int
                ) -> tuple[np.ndarray, np.ndarray, float]:
    """z >= 1/2 x0'Rx0 + (R x0)'(x - x0)  <=>  z - (R x0)'x >= -1/2 x0'R x0."""
    g = np.asarray(R @ x0).ravel()
    nz = np.flatnonzero(g)
    return (np.concatenate([[z], nz]), np.concatenate([[1.0], -g[nz]]),
            -0.5 * float(x0 @ (R @ x0)))


def _with_cuts(milp: Any, cuts: list[tuple[np.ndarray, np.ndarray, float]], n: int
               ) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    rows = np.concatenate([np.full(len(cols), i) for i, (cols, _, _) in enumerate(cuts)])
    cols = np.concatenate([cols for cols, _, _ in cuts])
    vals = np.concatenate([vals for _, vals, _ in cuts])
    C = sp.csr_matrix((vals, (rows, cols)), shape=(len(cuts), n))
    base = sp.hstack([milp.A, sp.csr_matrix((milp.A.shape[0], n - milp.n))])
    A = sp.vstack([base, C]).tocsr()
    lo = np.concatenate([milp.row_lo, [b for _, _, b in cuts]])
    hi = np.concatenate([milp.row_hi, np.full(len(cuts), INF)])
    return A, lo, hi


def _fixed_duals(milp: Any, x: np.ndarray, options: Options) -> np.ndarray | None:
    """Row duals of the continuous problem left when integer columns are fixed at ``x``."""
    xi = np.round(x[: milp.n])
    lb = np.where(milp.integer, xi, milp.lb)
    ub = np.where(milp.integer, xi, milp.ub)
    h = _highs(Options(time_limit=options.time_limit, threads=options.threads))
    status, _, duals, _ = _run(h, build_model(milp, is_quadratic(milp), lb=lb,
                                              ub=ub, integer=np.zeros(milp.n, bool)))
    return duals if status == Status.OPTIMAL else None


def export_model(milp: Any, path: Any) -> None:
    """Write the MILP as an LP or MPS file with model names (HiGHS's writer)."""
    from qgridlang.errors import UsageError

    suffix = str(path).rsplit(".", 1)[-1].lower()
    if suffix not in ("lp", "mps"):
        raise UsageError(f"the milp target writes .lp or .mps files, not .{suffix}")
    h = _highs(Options())
    model = build_model(milp, is_quadratic(milp))
    if milp.negated:  # write the model's own sense
        model.lp_.col_cost_ = -np.asarray(model.lp_.col_cost_)
        model.lp_.offset_ = -model.lp_.offset_
        import highspy

        model.lp_.sense_ = highspy.ObjSense.kMaximize
        if is_quadratic(milp):
            model.hessian_.value_ = -np.asarray(model.hessian_.value_)
    model.lp_.col_names_ = [_safe(n) for n in milp.col_names]
    model.lp_.row_names_ = _unique([_safe(n) for n in milp.row_names])
    h.passModel(model)
    h.writeModel(str(path))


def _unique(names: list[str]) -> list[str]:
    """Chained bounds give two rows one name; LP/MPS need distinct ones (suffix ~2, ~3 …)."""
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}~{seen[n]}")
    return out


def _safe(name: str) -> str:
    """LP/MPS names: no spaces or operators ('p[u1,3]' -> 'p(u1_3)')."""
    out = name.replace("[", "(").replace("]", ")").replace(",", "_").replace(" ", "")
    for ch in "+-*/<>=:^ ":
        out = out.replace(ch, "~")
    return out
