"""The ``highs`` backend (HiGHS via highspy) for the ``milp`` target.

LPs and MILPs go to HiGHS directly; a convex quadratic objective on continuous columns is passed
as a Hessian (HiGHS's QP solver). HiGHS has no MIQP solver, so a convex quadratic objective with
integer columns is solved by outer approximation: the quadratic part is moved into epigraph
columns bounded below by tangent cuts, refined at each incumbent until the gap between the cut
model's bound and the exactly evaluated objective is within tolerance (Kelley's method; finite
for MILPs because each round cuts off the previous incumbent's under-estimate).

Statuses are reported truthfully: HiGHS's "unbounded or infeasible" is settled by a feasibility
solve (the model with a zero objective) where the limits allow, an infeasible model carries an
irreducible infeasible subset in model names (``info["iis"]``), Ctrl-C stops the solve and keeps
its incumbent (``interrupted``), and an error always carries HiGHS's own message. HiGHS prints
nothing: its log goes to a callback (shown on stderr with ``--verbose``).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np

from qgridlang import interrupt, progress
from qgridlang.compilers.milp import is_quadratic
from qgridlang.lazy import lazy
from qgridlang.registry import Backend, Options, register_backend
from qgridlang.results import RawResult, Status, settled_status, status_message

sp = lazy("scipy.sparse")  # loaded when the backend runs, not when it is listed (start-up)

INF = float("inf")
_TOL = 1e-6
_HIGHS_MIP_GAP = 1e-4  # HiGHS's default mip_rel_gap
# tangent lines per separable term in the piecewise-linear start: the largest under-estimate is
# h/2 (range / (2 (K - 1)))^2 per column. 8 certifies the RTS-24 UC in one MILP (16 s, 15
# nodes); 12 and 16 also need one but took 29 s and 34 s (more rows, 237 and 404 nodes)
_PWL_SEGMENTS = 8


@dataclass
class _Epigraph:
    """Quadratic part split into separable terms ``h_j/2 x_j^2`` and one coupled remainder.

    A separable column may be switched by a binary ``b`` (rows ``x <= U b`` and ``x >= 0``, as
    a unit's output and its commitment): it is 0 when ``b`` is 0 and in ``on_lo .. on_hi``
    when ``b`` is 1. Its tangents are then perspective cuts ``z >= h x0 x - h/2 x0^2 b``:
    the same line when ``b`` is 1, ``z >= 0`` when ``b`` is 0 (the exact value), and much
    tighter than a plain tangent where the LP relaxation has ``b`` fractional.
    """

    diag_cols: np.ndarray  # columns with a separable term
    diag_h: np.ndarray  # their Hessian diagonal
    R: sp.csr_matrix | None  # coupled remainder (1/2 x'Rx), None if all separable
    switch: np.ndarray  # per separable term: the binary column that switches it, or -1
    on_lo: np.ndarray  # its range when switched on (the bounds when not switched)
    on_hi: np.ndarray


@register_backend
class HighsBackend(Backend):
    name = "highs"
    target = "milp"
    description = "HiGHS LP/MILP/QP (convex MIQP by tangent-cut outer approximation)"
    REQUIRED_MODULES = ("highspy",)
    OPTIONS: ClassVar[dict[str, str]] = {
        "duals": "row duals of MILPs from the LP with integers fixed (default true)",
        "iis": "infeasible models: compute an irreducible infeasible subset (default true)",
        "pwl_segments": "convex MIQP: tangent lines per separable quadratic term in the "
                        "piecewise-linear start (default 8; 1 leaves the work to cut rounds)",
    }
    COMMON = frozenset({"time_limit", "mip_gap", "threads", "seed"})

    def run(self, artifact: Any, options: Options) -> RawResult:
        # one watch over every HiGHS call of this run: a Ctrl-C during any of them (an outer-
        # approximation round, a polish, the IIS) stops the rest too
        with interrupt.watch():
            return self._run(artifact, options)

    def _run(self, milp: Any, options: Options) -> RawResult:
        start = time.perf_counter()
        if is_quadratic(milp) and milp.integer.any():
            raw = _outer_approximation(milp, options)
        else:
            raw = _solve_once(milp, options, hessian=is_quadratic(milp))
        raw.info["solve_seconds"] = time.perf_counter() - start
        if raw.x is not None and raw.status in (Status.OPTIMAL, Status.FEASIBLE) and \
                milp.integer.any() and raw.duals is None and options.extra.get("duals", True) \
                and not interrupt.requested():
            raw.duals = _fixed_duals(milp, raw.x, options)
            if raw.duals is not None:
                raw.info["duals"] = "row duals of the LP with integer columns fixed"
        return raw


@dataclass
class _Solver:
    """One ``highspy.Highs`` with what a solve needs beside it."""

    h: Any
    options: Options
    log: _Log


class _Log:
    """HiGHS's log lines: the errors are kept (they become the message of an error status), and
    with ``--verbose`` every line goes to stderr."""

    def __init__(self, show: bool) -> None:
        self.show = show
        self.errors: deque[str] = deque(maxlen=6)

    def __call__(self, event: Any) -> None:
        import highspy

        text = str(event.message).rstrip()  # leading blanks align HiGHS's tables
        if not text.strip():
            return
        if event.data_out.log_type == highspy.HighsLogType.kError:
            self.errors.append(text.strip().removeprefix("ERROR:").strip())
        if self.show:
            progress.emit("highs", text)


def _highs(options: Options) -> _Solver:
    """A HiGHS instance that prints nothing and stops when Ctrl-C is pressed."""
    import highspy

    h = _new_highs()
    # the log reaches the callback only: stdout carries the result alone (--json must parse);
    # output_flag stays on, else HiGHS logs nothing, not even the reason for an error status
    h.setOptionValue("log_to_console", False)
    h.setOptionValue("output_flag", True)
    log = _Log(progress.verbose(options))
    h.cbLogging += log
    for kind in ("kCallbackSimplexInterrupt", "kCallbackIpmInterrupt", "kCallbackMipInterrupt",
                 "kHighsCallbackQpInterrupt"):
        callback_type = getattr(highspy.cb.HighsCallbackType, kind, None)
        if callback_type is not None:
            h.callbacks[int(callback_type)].subscribe(_stop_on_request)
    if options.time_limit is not None:
        h.setOptionValue("time_limit", float(options.time_limit))
    if options.mip_gap is not None:
        h.setOptionValue("mip_rel_gap", float(options.mip_gap))
    if options.threads is not None:
        h.setOptionValue("threads", int(options.threads))
    if options.seed is not None:
        h.setOptionValue("random_seed", int(options.seed))
    return _Solver(h, options, log)


def _stop_on_request(event: Any) -> None:
    if interrupt.requested():
        event.interrupt()


_banner_lock = threading.Lock()
_banner_done = False


def _new_highs() -> Any:
    """``highspy.Highs()`` without HiGHS's banner on stdout.

    highspy 1.16 writes "Running HiGHS ..." to the C-level stdout while it constructs the first
    instance of a process (output is on before any option can be set), which would corrupt a
    ``--json`` document; that one construction runs with file descriptor 1 on /dev/null.
    """
    global _banner_done
    import highspy

    with _banner_lock:
        if _banner_done:
            return highspy.Highs()
        _banner_done = True
        with _stdout_to_devnull():
            return highspy.Highs()


@contextmanager
def _stdout_to_devnull() -> Iterator[None]:
    try:
        if sys.stdout is not None:
            sys.stdout.flush()  # Python's buffered text belongs on the real stdout
        saved = os.dup(1)
    except (OSError, ValueError):  # no usable fd 1: nothing to protect
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def _call(s: _Solver, work: Callable[[], Any]) -> Any:
    """``work()`` (a HiGHS call) in a new worker thread, the caller waiting in short steps.

    A HiGHS call runs in C; run in the main thread it would hold off Python's SIGINT handling
    until it returned. Waiting here keeps Ctrl-C immediate: :mod:`qgridlang.interrupt` records
    it and the solver's interrupt callbacks stop the solve. A new thread also gives every
    solve its own HiGHS scheduler: HiGHS 1.16 keeps one per calling thread and fails (error
    status, kNotset) a later solve in that thread that asks for another thread count.
    """
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            out["value"] = work()
        except BaseException as exc:  # re-raised in the caller
            out["error"] = exc

    with interrupt.watch():
        worker = threading.Thread(target=target, name="highs", daemon=True)
        worker.start()
        try:
            while worker.is_alive():
                worker.join(0.1)
        except KeyboardInterrupt:  # a second Ctrl-C: stop HiGHS as well, then give up
            interrupt.request()
            worker.join(5.0)
            raise
    if "error" in out:
        raise out["error"]
    return out.get("value")


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
    "kOptimal": Status.OPTIMAL, "kModelEmpty": Status.OPTIMAL,
    "kInfeasible": Status.INFEASIBLE, "kUnbounded": Status.UNBOUNDED,
    "kUnboundedOrInfeasible": Status.INFEASIBLE_OR_UNBOUNDED,
    "kTimeLimit": Status.TIME_LIMIT, "kIterationLimit": Status.TIME_LIMIT,
    "kSolutionLimit": Status.FEASIBLE, "kObjectiveBound": Status.FEASIBLE,
    "kObjectiveTarget": Status.FEASIBLE,
    "kInterrupt": Status.INTERRUPTED, "kHighsInterrupt": Status.INTERRUPTED,
}
_WITH_PLAN = (Status.OPTIMAL, Status.FEASIBLE, Status.TIME_LIMIT, Status.INTERRUPTED)


def _run(s: _Solver, model: Any, start: np.ndarray | None = None) -> RawResult:
    """Solve ``model``: the status, the point (when HiGHS has one) and a message for every
    status but optimal."""
    h = s.h
    h.passModel(model)
    if start is not None:
        import highspy

        sol = highspy.HighsSolution()
        sol.col_value = list(map(float, start))
        sol.value_valid = True
        h.setSolution(sol)
    run_status = _call(s, h.run)
    ms = h.getModelStatus()
    status = _STATUS.get(ms.name, Status.ERROR)
    integral = bool(model.lp_.integrality_)
    info = h.getInfo()
    sol = h.getSolution()
    has_x = bool(sol.value_valid) and model.lp_.num_col_ > 0 and status in _WITH_PLAN
    if status in (Status.FEASIBLE, Status.TIME_LIMIT) and not has_x:
        status = Status.TIME_LIMIT
    elif status == Status.TIME_LIMIT and integral:
        status = Status.FEASIBLE  # a MIP incumbent is a plan (an LP's last iterate is not)
    x = np.asarray(sol.col_value, float) if has_x else None
    if model.lp_.num_col_ == 0 and status == Status.OPTIMAL:
        x = np.zeros(0)
    duals = np.asarray(sol.row_dual, float) if sol.dual_valid else None
    details: dict[str, Any] = {"highs_status": ms.name}
    if integral:
        details["mip_gap"] = float(info.mip_gap)
        details["mip_dual_bound"] = float(info.mip_dual_bound)
        details["mip_nodes"] = int(info.mip_node_count)
    message = _message(status, ms.name, run_status, s.log, x is not None)
    return RawResult(status, x=x, duals=duals, bound=details.get("mip_dual_bound"),
                     info=details, message=message)


def _message(status: Status, highs_status: str, run_status: Any, log: _Log,
             has_x: bool) -> str:
    if status == Status.ERROR:
        reason = "; ".join(log.errors) or (f"model status {highs_status}, run status "
                                           f"{getattr(run_status, 'name', run_status)}")
        return f"HiGHS failed: {reason}"
    common = status_message(status, has_x, "HiGHS")
    if common is not None:
        return common
    limit = "iteration limit" if highs_status == "kIterationLimit" else "time limit"
    if status == Status.TIME_LIMIT:
        return f"{limit} reached " + ("(the plan is the solver's last point, not proven "
                                      "feasible)" if has_x else "before a plan was found")
    if status == Status.FEASIBLE and highs_status != "kOptimal":
        return f"{limit} reached: the best plan found, not proven optimal"
    return ""


def _qp_budget(milp: Any) -> int:
    """Active-set iterations a continuous QP gets before it counts as stalled."""
    return 10_000 + 50 * (int(milp.n) + len(milp.row_lo))


def _solve_once(milp: Any, options: Options, hessian: bool) -> RawResult:
    s = _highs(options)
    qp = hessian and not milp.integer.any()
    if qp:
        s.h.setOptionValue("qp_iteration_limit", _qp_budget(milp))
    raw = _run(s, build_model(milp, hessian))
    if qp and raw.info.get("highs_status") == "kIterationLimit" and not interrupt.requested():
        # HiGHS 1.16's active-set QP solver can cycle at a degenerate optimum under its default
        # Hessian regularisation (1e-7; ERGO-Code/HiGHS#1583, #2383): pandapower's RTS-24 DC
        # OPF made 884,020 iterations in 60 s at its optimum (61001.24 $/h) without stopping,
        # and ends in 42 without the regularisation. One retry without it, and without the
        # iteration budget (a QP that needs more iterations than that finishes there).
        again = _highs(options)
        again.h.setOptionValue("qp_regularization_value", 0.0)
        retry = _run(again, build_model(milp, hessian))
        if retry.status != Status.ERROR:
            retry.info["qp_regularization"] = 0.0
            s, raw = again, retry
    if milp.integer.any():
        raw.duals = None
    if raw.status == Status.INFEASIBLE_OR_UNBOUNDED and not interrupt.requested():
        raw = _settle(raw, milp, options)
    if raw.status == Status.INFEASIBLE and options.extra.get("iis", True) and \
            not interrupt.requested():
        _add_iis(raw, s, milp)
    return raw


def _settle(raw: RawResult, milp: Any, options: Options) -> RawResult:
    """Decide HiGHS's "unbounded or infeasible" with one feasibility solve.

    HiGHS answers so when presolve proves the dual infeasible (for a MIP: the LP relaxation
    unbounded) without knowing whether any plan exists. The same rows, bounds and integrality
    with a zero objective answer that: no plan means infeasible, a plan means unbounded (a MIP
    with an unbounded relaxation and a feasible point is unbounded, its data being rational).
    """
    check = _run(_highs(options), build_model(milp, False, c=np.zeros(milp.n)))
    info = {**raw.info, "feasibility_check": check.info.get("highs_status")}
    status = settled_status(check.status, check.x is not None)
    if status == Status.INFEASIBLE_OR_UNBOUNDED:
        return RawResult(raw.status, info=info, message=raw.message)
    return RawResult(status, info=info, message=status_message(status, False, "HiGHS") or "")


_IIS_BOUND = {2: "lower", 3: "upper", 4: "both"}  # highspy.IisBoundStatus values


def _add_iis(raw: RawResult, s: _Solver, milp: Any) -> None:
    """``raw.info["iis"]``: an irreducible infeasible subset in model names.

    Rows are the model's constraints (with the side that conflicts), columns the variables
    whose bounds take part; dropping any one of them makes the rest feasible.
    """
    import highspy

    if s.h.getModelStatus().name != "kInfeasible":  # e.g. after a feasibility check
        s = _highs(s.options)
        s.h.passModel(build_model(milp, False))
    s.h.setOptionValue("iis_strategy", int(highspy.IisStrategy.kIisStrategyIrreducible))
    _, iis = _call(s, s.h.getIis)
    if not iis.valid_:
        raw.message += (" (HiGHS found no irreducible infeasible subset of the linear "
                        "relaxation: integrality is part of the conflict)"
                        if milp.integer.any() else "")
        return
    rows = [{"constraint": milp.row_names[i], "side": _side(b, milp.row_lo[i], milp.row_hi[i])}
            for i, b in zip(iis.row_index_, iis.row_bound_, strict=True)
            if i < len(milp.row_names) and b in _IIS_BOUND]
    cols = [{"variable": milp.col_names[j], "side": _side(b, milp.lb[j], milp.ub[j])}
            for j, b in zip(iis.col_index_, iis.col_bound_, strict=True)
            if j < len(milp.col_names) and b in _IIS_BOUND]
    raw.info["iis"] = {"constraints": rows, "bounds": cols}
    named = [r["constraint"] for r in rows] + [f"bound of {c['variable']}" for c in cols]
    raw.message += f"; conflicting: {', '.join(named[:8])}" + \
        (f" (+{len(named) - 8} more)" if len(named) > 8 else "")


def _side(bound: int, lo: float, hi: float) -> str:
    side = _IIS_BOUND[bound]
    return "equality" if side == "both" and lo == hi else side


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
    switch, on_lo, on_hi = _switches(milp, sep)
    return _Epigraph(sep, diag[sep], R, switch, on_lo, on_hi)


def _switches(milp: Any, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each column in ``cols``: the binary ``b`` that switches it off, and its range on.

    ``x`` is switched by ``b`` when ``x >= 0`` and a two-term row says ``x <= U b`` (so
    ``b = 0`` forces ``x = 0``); rows ``x >= L b`` with the same ``b`` raise the range's low end
    (a unit's minimum output). Found on the rows as written, in either orientation and scale.
    """
    switch = np.full(len(cols), -1)
    on_lo = np.asarray(milp.lb[cols], float).copy()
    on_hi = np.asarray(milp.ub[cols], float).copy()
    A = sp.csr_matrix(milp.A)
    rows = np.flatnonzero(np.diff(A.indptr) == 2)
    if not len(cols) or not len(rows):
        return switch, on_lo, on_hi
    first = A.indptr[rows]
    # each two-term row read both ways: alpha x + beta b in [lo, hi]
    x = np.concatenate([A.indices[first], A.indices[first + 1]])
    b = np.concatenate([A.indices[first + 1], A.indices[first]])
    alpha = np.concatenate([A.data[first], A.data[first + 1]])
    beta = np.concatenate([A.data[first + 1], A.data[first]])
    r = np.concatenate([rows, rows])
    binary = milp.integer[b] & (milp.lb[b] >= 0) & (milp.ub[b] <= 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = -beta / alpha  # x - gain b in [lo', hi'] after dividing by alpha
        lo = np.where(alpha > 0, milp.row_lo[r], milp.row_hi[r]) / alpha
        hi = np.where(alpha > 0, milp.row_hi[r], milp.row_lo[r]) / alpha
    usable = binary & (alpha != 0) & (gain > 0) & np.isfinite(gain)
    upper = usable & (hi == 0)  # x <= gain b
    lower = usable & (lo == 0)  # x >= gain b
    where = {int(j): e for e, j in enumerate(cols)}
    for k in np.flatnonzero(upper):
        e = where.get(int(x[k]))
        if e is not None and switch[e] < 0 and milp.lb[x[k]] >= 0:
            switch[e] = b[k]
            on_hi[e] = min(on_hi[e], gain[k])
    for k in np.flatnonzero(lower):
        e = where.get(int(x[k]))
        if e is not None and switch[e] == b[k]:
            on_lo[e] = max(on_lo[e], gain[k])
    return switch, on_lo, on_hi


def _outer_approximation(milp: Any, options: Options) -> RawResult:
    """Solve min c'x + 1/2 x'Hx (H PSD) with integers by tangent cuts on epigraph columns.

    Round 1 is the piecewise-linear start: ``pwl_segments`` tangents per separable term (with
    perspective cuts where a binary switches the column), solved to the MIP gap, then
    re-dispatched exactly (the QP with its integer assignment fixed). When that certifies the
    gap it is the answer. Otherwise each further round adds tangents where the cut model
    under-estimated and solves again from the best plan. Every round's MILP dual bound is a
    valid lower bound (tangents under-estimate a convex function), every re-dispatch an upper
    bound.
    """
    ep = _split(milp)
    n = milp.n
    k = len(ep.diag_cols) + (1 if ep.R is not None else 0)
    c = np.concatenate([milp.c, np.ones(k)])
    lb = np.concatenate([milp.lb, np.full(k, -INF)])
    ub = np.concatenate([milp.ub, np.full(k, INF)])
    integer = np.concatenate([milp.integer, np.zeros(k, bool)])
    segments = int(options.extra.get("pwl_segments", _PWL_SEGMENTS))
    # (cols, vals, lower bound) per cut row; the piecewise-linear start first
    cut_rows = _pwl_tangents(milp, ep, segments, n)
    if ep.R is not None:
        x0 = np.clip(np.zeros(n), milp.lb, milp.ub)
        cut_rows.append(_tangent_nd(ep.R, x0, n + k - 1))
    started = time.perf_counter()
    deadline = started + options.time_limit if options.time_limit else None
    best: tuple[float, np.ndarray] | None = None
    lower = -INF
    rounds = 0
    info: dict[str, Any] = {}
    pwl: dict[str, Any] = {"pwl_segments": segments,
                           "pwl_switched_terms": int((ep.switch >= 0).sum())}
    status = Status.ERROR
    # the proven gap is the MIP's own gap plus the tangents' under-estimate: allow each one the
    # MIP gap, so the outer tolerance is twice it (2e-4 relative by default)
    rel_gap = 2.0 * (options.mip_gap if options.mip_gap is not None else _HIGHS_MIP_GAP)
    start: np.ndarray | None = None
    for rounds in range(1, 201):
        A, lo_r, hi_r = _with_cuts(milp, cut_rows, n + k)
        opts = replace(options, time_limit=(max(1.0, deadline - time.perf_counter())
                                            if deadline else None))
        cut = _run(_highs(opts), build_model(milp, False, c, A, lb, ub, lo_r, hi_r, integer),
                   start)
        status, x, info = cut.status, cut.x, cut.info
        if x is None:
            break
        xm = _polish(milp, x[:n], options)
        true = float(milp.c @ xm + 0.5 * xm @ (milp.H @ xm) + milp.const)
        lower = max(lower, float(cut.bound if cut.bound is not None else c @ x + milp.const))
        if best is None or true < best[0]:
            best = (true, xm)
        gap = best[0] - lower
        if rounds == 1:  # in the model's own sense (a maximisation is solved negated)
            sign = -1.0 if milp.negated else 1.0
            pwl.update({"pwl_bound": sign * lower,
                        "pwl_objective": sign * float(c @ x + milp.const),
                        "redispatch_objective": sign * true,
                        "pwl_seconds": time.perf_counter() - started})
        stage = f" (piecewise-linear start, {segments} tangents per term)" if rounds == 1 else ""
        progress.line(options, "highs", f"outer approximation round {rounds}{stage}: best "
                      f"{best[0]:.8g}, bound {lower:.8g}, gap {gap:.3g} ({len(cut_rows)} cuts)")
        if gap <= max(_TOL, rel_gap * abs(best[0])) or status == Status.INTERRUPTED:
            break
        added = 0
        xr = x[:n]  # Kelley: cut off the cut model's own point, and tighten at the polished one
        for e, (j, hj) in enumerate(zip(ep.diag_cols, ep.diag_h, strict=True)):
            if x[n + e] < 0.5 * hj * xr[j] ** 2 - _TOL * max(1.0, abs(x[n + e])):
                cut_rows.append(_tangent_1d(j, hj, xr[j], n + e, int(ep.switch[e])))
                cut_rows.append(_tangent_1d(j, hj, xm[j], n + e, int(ep.switch[e])))
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
        return _no_plan(milp, options, status, info, rounds)
    gap = best[0] - lower
    converged = gap <= max(_TOL, rel_gap * abs(best[0]))
    info.update({**pwl, "outer_approximation_rounds": rounds, "cut_rounds": rounds - 1,
                 "tangent_cuts": len(cut_rows), "objective_lower_bound": lower,
                 "objective_gap": gap, "gap_tolerance": rel_gap,
                 "certified_gap": gap / abs(best[0]) if best[0] else None})
    if status == Status.INTERRUPTED:
        return RawResult(Status.INTERRUPTED, x=best[1], bound=lower, info=info,
                         message=f"interrupted (Ctrl-C) in outer-approximation round {rounds}: "
                                 f"the best plan found so far (objective gap {gap:.3g})")
    return RawResult(Status.OPTIMAL if converged and status == Status.OPTIMAL else
                     Status.FEASIBLE, x=best[1], bound=lower, info=info,
                     message="" if converged else f"stopped with objective gap {gap:.3g}")


def _no_plan(milp: Any, options: Options, status: Status, info: dict[str, Any],
             rounds: int) -> RawResult:
    """The first cut model had no plan. Tangent cuts only bound free epigraph columns, so it
    has the model's feasible set: infeasibility is the model's (settled and explained on the
    linear model, which has the same rows). An unbounded cut model is the model's own
    unboundedness only when every column with a quadratic term is boxed (the quadratic part
    is then bounded); otherwise the tangents may just be too few, which is said so."""
    if status in (Status.INFEASIBLE, Status.UNBOUNDED, Status.INFEASIBLE_OR_UNBOUNDED) and \
            not interrupt.requested():
        linear = _solve_once(milp, options, hessian=False)  # settles, and explains with an IIS
        linear.x = linear.duals = linear.bound = None  # the linear model's plan is not a plan
        quad = np.unique(sp.coo_matrix(milp.H).row)
        boxed = np.isfinite(milp.lb[quad]) & np.isfinite(milp.ub[quad])
        if linear.status == Status.INFEASIBLE or (boxed.all() and linear.status in (
                Status.UNBOUNDED, Status.INFEASIBLE_OR_UNBOUNDED)):
            return linear
        if not boxed.all():
            free = [milp.col_names[j] for j in quad[~boxed]]
            return RawResult(Status.ERROR, info=info, message=(
                "outer approximation cannot bound the objective: give the variables with a "
                f"quadratic term finite bounds ({', '.join(free[:5])}"
                f"{' …' if len(free) > 5 else ''})"))
    info["outer_approximation_rounds"] = rounds
    message = {Status.INTERRUPTED: "interrupted (Ctrl-C) before a plan was found",
               Status.TIME_LIMIT: "time limit reached before a plan was found"}.get(
        status, "outer approximation found no plan")
    return RawResult(status if status in (Status.INTERRUPTED, Status.TIME_LIMIT)
                     else Status.ERROR, info=info, message=message)


def _polish(milp: Any, x: np.ndarray, options: Options) -> np.ndarray:
    """The exact QP optimum over the incumbent's integer assignment (an upper bound)."""
    xi = np.round(x)
    lb = np.where(milp.integer, xi, milp.lb)
    ub = np.where(milp.integer, xi, milp.ub)
    qp = _run(_highs(replace(options, mip_gap=None, seed=None)),
              build_model(milp, True, lb=lb, ub=ub, integer=np.zeros(milp.n, bool)))
    status, xq = qp.status, qp.x
    return xq if status == Status.OPTIMAL and xq is not None else x


def _epigraph_start(milp: Any, ep: _Epigraph, xm: np.ndarray, width: int) -> np.ndarray:
    """A warm start: the incumbent with its epigraph columns at their exact values."""
    x = np.zeros(width)
    x[: milp.n] = xm
    x[milp.n: milp.n + len(ep.diag_cols)] = 0.5 * ep.diag_h * xm[ep.diag_cols] ** 2
    if ep.R is not None:
        x[-1] = 0.5 * float(xm @ (ep.R @ xm))
    return x


def _tangent_1d(j: int, hj: float, x0: float, z: int, switch: int = -1
                ) -> tuple[np.ndarray, np.ndarray, float]:
    """z >= hj/2 x0^2 + hj x0 (x - x0)  <=>  z - hj x0 x >= -hj/2 x0^2; with a ``switch``
    column b the perspective cut z - hj x0 x + hj/2 x0^2 b >= 0 (see :class:`_Epigraph`)."""
    if switch >= 0:
        return np.array([z, j, switch]), np.array([1.0, -hj * x0, 0.5 * hj * x0 * x0]), 0.0
    return np.array([z, j]), np.array([1.0, -hj * x0]), -0.5 * hj * x0 * x0


def _pwl_tangents(milp: Any, ep: _Epigraph, segments: int, n: int
                  ) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """The piecewise-linear start: ``segments`` tangent lines per separable term, spread over
    the column's range (its range when switched on). Their maximum is a convex piecewise-linear
    under-estimate, so the cut MILP's bound is a valid lower bound of the model. One segment:
    a single tangent at the middle (the cut rounds do the rest)."""
    cuts = []
    for e, (j, hj) in enumerate(zip(ep.diag_cols, ep.diag_h, strict=True)):
        lo, hi = ep.on_lo[e], ep.on_hi[e]
        lo, hi = (lo if np.isfinite(lo) else min(-1.0, hi - 2.0)), \
            (hi if np.isfinite(hi) else max(1.0, lo + 2.0))
        points = np.linspace(lo, hi, segments) if segments > 1 else [0.5 * (lo + hi)]
        for x0 in points:
            cuts.append(_tangent_1d(int(j), float(hj), float(x0), n + e, int(ep.switch[e])))
    return cuts


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
    lp = _run(_highs(replace(options, mip_gap=None, seed=None)),
              build_model(milp, is_quadratic(milp), lb=lb, ub=ub,
                          integer=np.zeros(milp.n, bool)))
    return lp.duals if lp.status == Status.OPTIMAL else None


def export_model(milp: Any, path: Any) -> None:
    """Write the MILP as an LP or MPS file with model names (HiGHS's writer)."""
    from qgridlang.errors import UsageError

    suffix = str(path).rsplit(".", 1)[-1].lower()
    if suffix not in ("lp", "mps"):
        raise UsageError(f"the milp target writes .lp or .mps files, not .{suffix}")
    h = _highs(Options()).h
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
