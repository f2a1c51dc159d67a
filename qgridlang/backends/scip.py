"""The ``scip`` backend (SCIP via pyscipopt) for the ``milp`` target.

LPs, MILPs and convex MIQPs are solved by SCIP itself. SCIP's objective is linear, so a
quadratic objective ``1/2 x'Hx`` becomes an epigraph column ``z`` (objective coefficient 1) with
one quadratic constraint ``z >= 1/2 x'Hx``, which SCIP's nonlinear handler solves to global
optimality (it is convex: the milp target checked H is PSD).

SCIP prints nothing (``hideOutput``): stdout carries the result alone. The solve runs in a
worker thread without the GIL; Ctrl-C (:mod:`qgridlang.interrupt`) is polled by the caller, which
asks SCIP to stop (``interruptSolve``) and keeps its incumbent (``interrupted``). SCIP's own
Ctrl-C catching is off (it would replace Python's handler process-wide).
"""

from __future__ import annotations

import threading
import time
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from qgridlang import interrupt, progress
from qgridlang.compilers.milp import is_quadratic
from qgridlang.registry import Backend, Options, register_backend
from qgridlang.results import RawResult, Status, settled_status, status_message

INF = float("inf")
_SEED_SHIFT_MAX = 2**31 - 1  # randomization/randomseedshift is a C int

_STATUS = {
    # gaplimit: the requested --mip-gap is reached, which is "optimal (within the MIP gap)" as
    # HiGHS reports it; SCIP's own default gap is 0
    "optimal": Status.OPTIMAL, "gaplimit": Status.OPTIMAL,
    "infeasible": Status.INFEASIBLE, "unbounded": Status.UNBOUNDED,
    "inforunbd": Status.INFEASIBLE_OR_UNBOUNDED,
    "timelimit": Status.TIME_LIMIT, "nodelimit": Status.TIME_LIMIT,
    "totalnodelimit": Status.TIME_LIMIT, "stallnodelimit": Status.TIME_LIMIT,
    "memlimit": Status.TIME_LIMIT, "sollimit": Status.FEASIBLE,
    "bestsollimit": Status.FEASIBLE, "restartlimit": Status.TIME_LIMIT,
    "primallimit": Status.FEASIBLE, "duallimit": Status.TIME_LIMIT,
    "userinterrupt": Status.INTERRUPTED, "terminate": Status.INTERRUPTED,
}


@register_backend
class ScipBackend(Backend):
    name = "scip"
    target = "milp"
    description = "SCIP LP/MILP and convex MIQP (quadratic objective as an epigraph constraint)"
    REQUIRED_MODULES = ("pyscipopt",)
    OPTIONS: ClassVar[dict[str, str]] = {
        "duals": "row duals of pure LPs (presolve off for that solve; default true)",
    }
    COMMON = frozenset({"time_limit", "mip_gap", "seed"})

    def run(self, artifact: Any, options: Options) -> RawResult:
        with interrupt.watch():
            start = time.perf_counter()
            raw = _solve(artifact, options, objective=True)
            if raw.status == Status.INFEASIBLE_OR_UNBOUNDED and not interrupt.requested():
                raw = _settle(artifact, options, raw)
            raw.info["solve_seconds"] = time.perf_counter() - start
            if progress.verbose(options):
                progress.emit("scip", f"status {raw.info.get('scip_status')}, "
                              f"{raw.info.get('solve_seconds', 0.0):.2f} s")
            return raw


def _solve(milp: Any, options: Options, objective: bool) -> RawResult:
    """One SCIP solve of the MILP (with a zero objective when ``objective`` is false)."""
    want_duals = objective and not milp.integer.any() and not is_quadratic(milp) and \
        bool(options.extra.get("duals", True))
    model, cons = _build(milp, options, objective, want_duals)
    _optimize(model)
    scip_status = str(model.getStatus())
    status = _STATUS.get(scip_status, Status.ERROR)
    has_x = model.getNSols() > 0 and status in (Status.OPTIMAL, Status.FEASIBLE,
                                                 Status.TIME_LIMIT, Status.INTERRUPTED)
    if status == Status.TIME_LIMIT and has_x:
        status = Status.FEASIBLE  # SCIP's solutions are checked feasible: a plan
    x = None
    if has_x:
        best = model.getBestSol()
        cols = model.data
        x = np.array([model.getSolVal(best, v) for v in cols], float)
        # integer columns within SCIP's integrality tolerance: a plan's integers are whole
        x[milp.integer] = np.round(x[milp.integer])
    info: dict[str, Any] = {"scip_status": scip_status}
    bound = None
    if objective and status in (Status.OPTIMAL, Status.FEASIBLE, Status.TIME_LIMIT,
                                Status.INTERRUPTED):
        dual_bound = float(model.getDualbound())
        if np.isfinite(dual_bound):
            bound = dual_bound
            # RawResult.bound is the minimisation form; info says it in the model's own sense
            info["dual_bound"] = -dual_bound if milp.negated else dual_bound
        info["mip_gap"] = float(model.getGap()) if has_x else None
        info["nodes"] = int(model.getNNodes())
    duals = None
    if want_duals and status == Status.OPTIMAL:
        duals = np.array([model.getDualsolLinear(c) for c in cons], float)
    return RawResult(status, x=x, duals=duals, bound=bound, info=info,
                     message=_message(status, scip_status, x is not None))


def _build(milp: Any, options: Options, objective: bool, want_duals: bool
           ) -> tuple[Any, list[Any]]:
    """A pyscipopt Model of the arrays: one variable per column, one linear constraint per
    row (built from the CSR rows), the epigraph column and quadratic constraint if any."""
    import pyscipopt
    from pyscipopt.scip import Expr, Term

    model = pyscipopt.Model("qgridlang")
    model.hideOutput()
    model.setParam("misc/catchctrlc", False)
    if options.time_limit is not None:
        model.setParam("limits/time", float(options.time_limit))
    if options.mip_gap is not None:
        model.setParam("limits/gap", float(options.mip_gap))
    if options.seed is not None:
        model.setParam("randomization/randomseedshift", int(options.seed) % _SEED_SHIFT_MAX)
    if want_duals:
        # SCIP's duals are those of the final LP: presolve, propagation and heuristics would
        # change that LP (pyscipopt's documented recipe for dual values)
        model.setPresolve(pyscipopt.SCIP_PARAMSETTING.OFF)
        model.setHeuristics(pyscipopt.SCIP_PARAMSETTING.OFF)
        model.disablePropagation()
    c = milp.c if objective else np.zeros(milp.n)
    cols = []
    for j in range(milp.n):
        lb, ub = float(milp.lb[j]), float(milp.ub[j])
        cols.append(model.addVar(
            name=f"x{j}", vtype="I" if milp.integer[j] else "C", obj=float(c[j]),
            lb=None if lb == -INF else lb, ub=None if ub == INF else ub))
    model.data = cols
    A = sp.csr_matrix(milp.A)
    cons = []
    for i in range(A.shape[0]):
        lo, hi = A.indptr[i], A.indptr[i + 1]
        expr = Expr({Term(cols[j]): float(v) for j, v in zip(A.indices[lo:hi], A.data[lo:hi],
                                                              strict=True)})
        rlo, rhi = float(milp.row_lo[i]), float(milp.row_hi[i])
        cons.append(model.addCons(pyscipopt.scip.ExprCons(
            expr, lhs=None if rlo == -INF else rlo, rhs=None if rhi == INF else rhi),
            name=f"r{i}"))
    if objective and is_quadratic(milp):
        H = sp.triu(milp.H, format="coo")  # 1/2 x'Hx: diagonal h/2, each pair i<j once
        terms = {}
        for i, j, v in zip(H.row, H.col, H.data, strict=True):
            term = Term(cols[i], cols[j])
            terms[term] = terms.get(term, 0.0) + (0.5 * float(v) if i == j else float(v))
        z = model.addVar(name="quadratic_objective", lb=None, obj=1.0)
        model.addCons(Expr(terms) - z <= 0, name="epigraph")
    if objective and milp.const:
        model.addObjoffset(float(milp.const))
    return model, cons


def _optimize(model: Any) -> None:
    """``optimizeNogil`` in a worker thread; the caller polls for Ctrl-C and asks SCIP to stop
    (a solve in the main thread would hold off Python's signal handling until it returned)."""
    out: dict[str, BaseException] = {}

    def target() -> None:
        try:
            model.optimizeNogil()
        except BaseException as exc:  # re-raised in the caller
            out["error"] = exc

    worker = threading.Thread(target=target, name="scip", daemon=True)
    worker.start()
    stopping = False
    try:
        while worker.is_alive():
            worker.join(0.1)
            if interrupt.requested() and not stopping:
                stopping = True
                model.interruptSolve()
    except KeyboardInterrupt:  # a second Ctrl-C: stop SCIP as well, then give up
        model.interruptSolve()
        worker.join(5.0)
        raise
    if "error" in out:
        raise out["error"]


def _settle(milp: Any, options: Options, raw: RawResult) -> RawResult:
    """SCIP's "infeasible or unbounded", told apart by a solve with a zero objective: no
    plan means infeasible, a plan means the objective was unbounded."""
    feasibility = _solve(milp, options, objective=False)
    info = {**raw.info, "feasibility_check": feasibility.info.get("scip_status")}
    status = settled_status(feasibility.status, feasibility.x is not None)
    if status == Status.INFEASIBLE_OR_UNBOUNDED:
        raw.info.update(info)
        return raw
    return RawResult(status, info=info, message=_message(status, "", False))


def _message(status: Status, scip_status: str, has_x: bool) -> str:
    if status == Status.ERROR:
        return f"SCIP stopped with status '{scip_status}'"
    common = status_message(status, has_x, "SCIP")
    if common is not None:
        return common
    if status == Status.TIME_LIMIT:
        return f"SCIP stopped ({scip_status}) before a plan was found"
    if status == Status.FEASIBLE:
        return f"SCIP stopped ({scip_status}): the best plan found, not proven optimal"
    return ""
