"""The ``cvxpy`` backend for the ``milp`` target: the arrays as a cvxpy Problem, solved by any
solver cvxpy has installed (``--option solver=NAME``; default: cvxpy's own choice).

cvxpy marks integrality per variable, not per element, so the columns are one continuous vector
``x`` and, when some columns are integer, an integer vector tied to them by equalities. The
quadratic objective is ``1/2 quad_form(x, H)`` with H wrapped as PSD (the milp target checked
it). Row duals come back for continuous problems in HiGHS's sign convention (the row's
objective sensitivity).
"""

from __future__ import annotations

import time
import warnings
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from qgridlang.compilers.milp import is_quadratic
from qgridlang.errors import UsageError, did_you_mean
from qgridlang.registry import Backend, Options, register_backend
from qgridlang.results import RawResult, Status, status_message

# how each solver takes the common options (cvxpy passes solver keywords through unchanged)
_TIME_LIMIT: dict[str, Any] = {
    "HIGHS": lambda v: {"time_limit": v}, "CLARABEL": lambda v: {"time_limit": v},
    "SCIP": lambda v: {"scip_params": {"limits/time": v}},
}
_MIP_GAP: dict[str, Any] = {
    "HIGHS": lambda v: {"mip_rel_gap": v}, "SCIP": lambda v: {"scip_params": {"limits/gap": v}},
}


@register_backend
class CvxpyBackend(Backend):
    name = "cvxpy"
    target = "milp"
    description = "cvxpy Problem from the MILP/MIQP arrays, solved by any installed cvxpy solver"
    REQUIRED_MODULES = ("cvxpy",)
    OPTIONS: ClassVar[dict[str, str]] = {
        "solver": "a cvxpy solver name (cvxpy.installed_solvers(); default: cvxpy's choice)",
    }
    COMMON = frozenset({"time_limit", "mip_gap"})

    def run(self, artifact: Any, options: Options) -> RawResult:
        import cvxpy as cp

        solver = _solver(options.extra.get("solver"))
        kwargs = _limits(solver, options)
        problem, x, rows = _problem(artifact)
        start = time.perf_counter()
        try:
            _run(problem, solver, kwargs)
        except cp.error.SolverError as exc:
            return RawResult(Status.ERROR, info={"solver": solver},
                             message=f"cvxpy's solver failed: {exc}")
        used = problem.solver_stats.solver_name if problem.solver_stats else solver
        info: dict[str, Any] = {"solver": used, "cvxpy_status": problem.status,
                                "solve_seconds": time.perf_counter() - start}
        status = _STATUS.get(problem.status, Status.ERROR)
        if status == Status.INFEASIBLE_OR_UNBOUNDED:
            status = _settle(problem, solver, kwargs, info)
        value = x.value
        if status in (Status.OPTIMAL, Status.FEASIBLE) and value is None:
            status = Status.ERROR
        if value is not None and status not in (Status.OPTIMAL, Status.FEASIBLE):
            value = None
        if status == Status.TIME_LIMIT and x.value is not None:
            status, value = Status.FEASIBLE, np.asarray(x.value, float)
        if value is not None:
            # integer columns within the solver's integrality tolerance: a plan's integers
            # are whole
            value = np.asarray(value, float).copy()
            value[artifact.integer] = np.round(value[artifact.integer])
        duals = None
        if status == Status.OPTIMAL and not artifact.integer.any():
            duals = _row_duals(artifact, rows)
        return RawResult(status, x=None if value is None else np.asarray(value, float),
                         duals=duals, info=info, message=_message(status, problem.status))


def _run(problem: Any, solver: str | None, kwargs: dict[str, Any]) -> None:
    # cvxpy has no interrupt hook: Ctrl-C raises KeyboardInterrupt once the solver returns.
    # Its "infeasible or unbounded" warning is settled by _settle, not printed.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"(?s).*infeasible or unbounded")
        problem.solve(solver=solver, verbose=False, **kwargs)


def _settle(problem: Any, solver: str | None, kwargs: dict[str, Any],
            info: dict[str, Any]) -> Status:
    """"Infeasible or unbounded" told apart by the same rows with a zero objective: a plan
    means the objective was unbounded, none means infeasible."""
    import cvxpy as cp

    check = cp.Problem(cp.Minimize(0), problem.constraints)
    try:
        _run(check, solver, kwargs)
    except cp.error.SolverError:
        return Status.INFEASIBLE_OR_UNBOUNDED
    info["feasibility_check"] = check.status
    if check.status == cp.OPTIMAL:
        return Status.UNBOUNDED
    if check.status == cp.INFEASIBLE:
        return Status.INFEASIBLE
    return Status.INFEASIBLE_OR_UNBOUNDED


def _solver(name: Any) -> str | None:
    """The ``solver`` option, checked against the solvers cvxpy has installed."""
    import cvxpy as cp

    if name is None:
        return None
    installed = cp.installed_solvers()
    upper = str(name).upper()
    if upper not in installed:
        raise UsageError(f"cvxpy solver '{name}' is not installed", None,
                         did_you_mean(upper, installed) or
                         f"installed: {', '.join(sorted(installed))}")
    return upper


def _limits(solver: str | None, options: Options) -> dict[str, Any]:
    """Solver keywords for time_limit and mip_gap (refused where the solver has no mapping)."""
    kwargs: dict[str, Any] = {}
    for value, table, flag in ((options.time_limit, _TIME_LIMIT, "--time-limit"),
                               (options.mip_gap, _MIP_GAP, "--mip-gap")):
        if value is None:
            continue
        if solver not in table:
            raise UsageError(f"{flag} with the cvxpy backend needs --option solver= one of "
                             f"{', '.join(sorted(table))}")
        for key, val in table[solver](float(value)).items():
            if isinstance(val, dict):
                kwargs.setdefault(key, {}).update(val)
            else:
                kwargs[key] = val
    return kwargs


def _problem(milp: Any) -> tuple[Any, Any, dict[str, Any]]:
    import cvxpy as cp

    n = milp.n
    x = cp.Variable(n, name="x")
    cons: list[Any] = []
    integer = np.flatnonzero(milp.integer)
    if len(integer):
        xi = cp.Variable(len(integer), integer=True, name="x_int")
        cons.append(x[integer] == xi)
    for bound, sense in ((milp.lb, ">="), (milp.ub, "<=")):
        idx = np.flatnonzero(np.isfinite(bound))
        if len(idx):
            cons.append(x[idx] >= bound[idx] if sense == ">=" else x[idx] <= bound[idx])
    A = sp.csr_matrix(milp.A)
    eq = np.flatnonzero(milp.row_lo == milp.row_hi)
    lo = np.flatnonzero(np.isfinite(milp.row_lo) & (milp.row_lo != milp.row_hi))
    hi = np.flatnonzero(np.isfinite(milp.row_hi) & (milp.row_lo != milp.row_hi))
    rows: dict[str, Any] = {}
    for key, idx, build in (
            ("eq", eq, lambda M, b: M @ x == b), ("lo", lo, lambda M, b: M @ x >= b),
            ("hi", hi, lambda M, b: M @ x <= b)):
        if len(idx):
            bound = milp.row_lo if key != "hi" else milp.row_hi
            con = build(A[idx], bound[idx])
            rows[key] = (idx, con)
            cons.append(con)
    objective = milp.c @ x + float(milp.const)
    if is_quadratic(milp):
        objective = objective + 0.5 * cp.quad_form(x, cp.psd_wrap(sp.csc_matrix(milp.H)))
    return cp.Problem(cp.Minimize(objective), cons), x, rows


def _row_duals(milp: Any, rows: dict[str, Any]) -> np.ndarray | None:
    """Duals per row: d(objective)/d(bound) like HiGHS (cvxpy's are >= 0 for inequalities)."""
    duals = np.zeros(milp.A.shape[0])
    for key, (idx, con) in rows.items():
        if con.dual_value is None:
            return None
        value = np.asarray(con.dual_value, float).ravel()
        duals[idx] += -value if key == "hi" else value
    return duals


_STATUS = {
    "optimal": Status.OPTIMAL, "optimal_inaccurate": Status.FEASIBLE,
    "infeasible": Status.INFEASIBLE, "infeasible_inaccurate": Status.INFEASIBLE,
    "unbounded": Status.UNBOUNDED, "unbounded_inaccurate": Status.UNBOUNDED,
    "infeasible_or_unbounded": Status.INFEASIBLE_OR_UNBOUNDED,
    "user_limit": Status.TIME_LIMIT,
}


def _message(status: Status, cvxpy_status: str) -> str:
    if status == Status.OPTIMAL:
        return ""
    if status == Status.FEASIBLE:
        return f"cvxpy status '{cvxpy_status}': a plan, not proven optimal"
    if status == Status.INFEASIBLE:
        return "no plan satisfies every constraint and bound" + (
            " (the solver's proof is inaccurate)" if "inaccurate" in cvxpy_status else "")
    if status == Status.UNBOUNDED:
        return status_message(status, False, "cvxpy") or ""
    if status == Status.INFEASIBLE_OR_UNBOUNDED:
        return "the solver proved the model infeasible or unbounded without telling which"
    if status == Status.TIME_LIMIT:
        return "a limit stopped the solver before it had a plan"
    return f"cvxpy status '{cvxpy_status}'"

