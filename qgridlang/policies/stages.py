"""A policy's model cut into per-period stages, and the exact stage problem of each step.

Every column belongs to one period: the element of the policy's time set in its index. A row
belongs to the latest period among its columns (``ramp[g, t]`` reads ``p[g, prev(t)]`` and
``p[g, t]``: it is checked at t, when the earlier column is already realised), and so does each
objective term. At period k of an episode the stage problem is then

    minimise   the objective terms of k   (earlier columns fixed at their realised values)
    subject to the rows of k, the decided columns fixed to the action,

solved exactly by HiGHS (LP, MILP, or QP without integers). Each row of the stage gets two
slack columns priced at the policy's ``penalty`` (objective units per unit of the row's own
unit), so every action has a stage solution: the slacks are the violation the report states.

:func:`analyse` refuses, at the declaration, models that cannot be read this way: a variable
with no period, a constraint tying two episodes together, an observation that reads the period
being decided (or a later one), a decided column of another period, and stage problems HiGHS
cannot solve (integer variables and a quadratic cost together).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qgridlang.errors import BackendError, TypeMismatch
from qgridlang.flat import FlatModel
from qgridlang.lazy import lazy
from qgridlang.policies.spec import PolicySpec

sp = lazy("scipy.sparse")


@dataclass
class StagePlan:
    """Which period each column and row belongs to, for one policy."""

    col_time: np.ndarray  # (n,) period position, -1 none
    col_episode: np.ndarray  # (n, len(episode_sets)) label position, -1 shared
    row_time: np.ndarray  # (m,)
    row_episode: np.ndarray  # (m, len(episode_sets)) label position, -1 shared
    penalty: float
    penalty_default: bool
    episode_pos: np.ndarray  # (E, len(episode_sets)) each episode's label positions


def analyse(flat: FlatModel, spec: PolicySpec) -> StagePlan:
    """The stage structure of ``flat`` for ``spec`` (cached on the spec), or a located refusal."""
    cached = getattr(spec, "_plan", None)
    if cached is not None and cached[0] is flat:
        return cached[1]  # type: ignore[no-any-return]
    n, m = flat.n, flat.m
    n_sets = len(spec.episode_sets)
    col_time = np.full(n, -1, np.int64)
    col_ep = np.full((n, n_sets), -1, np.int64)
    time_pos = {lab: i for i, lab in enumerate(spec.periods)}
    ep_pos = [{lab: i for i, lab in enumerate(dict.fromkeys(k[q] for k in spec.episode_keys))}
              for q in range(n_sets)]
    auxiliary: list[Any] = []
    for blk in flat.blocks:
        if spec.time_set not in blk.index and blk.auxiliary and blk.stop > blk.start:
            auxiliary.append(blk)  # pos()/max() epigraph columns: placed by their rows below
            continue
        if spec.time_set not in blk.index:
            if blk.stop > blk.start:
                raise TypeMismatch(
                    f"variable '{blk.name}' is not indexed over {spec.time_set}, so policy "
                    f"'{spec.name}' cannot place it in a period", spec.span,
                    f"index it over {spec.time_set} (declared at line {blk.span.line}); every "
                    "variable of a decision process belongs to one period")
            continue
        p = blk.index.index(spec.time_set)
        col_time[blk.start:blk.stop] = [time_pos[k[p]] for k in blk.keys]
        for q, name in enumerate(spec.episode_sets):
            if name in blk.index:
                pq = blk.index.index(name)
                col_ep[blk.start:blk.stop, q] = [ep_pos[q].get(k[pq], -2) for k in blk.keys]
    A = flat.A.tocsr()
    if auxiliary:
        _place_auxiliary(A, auxiliary, col_time, col_ep, spec)
    row_time = _row_reduce(A, col_time, np.maximum, -1)
    row_ep = np.full((m, n_sets), -1, np.int64)
    for q in range(n_sets):
        hi = _row_reduce(A, col_ep[:, q], np.maximum, -1)
        lo = _row_reduce(A, np.where(col_ep[:, q] < 0, np.iinfo(np.int64).max, col_ep[:, q]),
                         np.minimum, np.iinfo(np.int64).max)
        split = (hi >= 0) & (lo != hi)
        if split.any():
            r = int(np.flatnonzero(split)[0])
            info = flat.rows[r]
            raise TypeMismatch(
                f"constraint {info.label} ties two episodes of {spec.episode_sets[q]} together, "
                f"so policy '{spec.name}' cannot draw them one at a time", info.span,
                f"the policy is declared at line {spec.span.line if spec.span else '?'}")
        row_ep[:, q] = hi
    _check_observations(flat, spec, col_time)
    _check_decisions(flat, spec, col_time)
    qi, qj, _ = flat.Q
    decided = np.zeros(n, bool)
    decided[spec.decide_cols.ravel()] = True
    if len(qi) and np.any((flat.kind > 0) & ~decided):
        col = int(np.flatnonzero((flat.kind > 0) & ~decided)[0])
        raise TypeMismatch(
            f"the stage problems of policy '{spec.name}' would have integer variables "
            f"({flat.column_names()[col]}) and a quadratic cost, which HiGHS does not solve",
            spec.span, "decide the integer variables, or make the stage cost linear")
    penalty, default = spec.penalty, spec.penalty is None
    if penalty is None:
        penalty = 10.0 * float(np.max(np.abs(flat.c))) if flat.n and np.any(flat.c) else 1.0e4
    E = len(spec.episode_keys)
    episode_pos = np.array([[ep_pos[q][k[q]] for q in range(n_sets)] for k in spec.episode_keys],
                           np.int64).reshape(E, n_sets)
    plan = StagePlan(col_time, col_ep, row_time, row_ep, float(penalty), default, episode_pos)
    object.__setattr__(spec, "_plan", (flat, plan))
    return plan


def _place_auxiliary(A: Any, blocks: list[Any], col_time: np.ndarray, col_ep: np.ndarray,
                     spec: PolicySpec) -> None:
    """A column the checker introduced without an index (the epigraph of ``pos()``/``max()``)
    belongs to the latest period, and to the episode, of the columns it shares rows with."""
    cols = np.concatenate([np.arange(b.start, b.stop) for b in blocks])
    At = A.tocsc()
    for _ in range(len(cols)):  # chains of such columns settle in as many passes at most
        moved = False
        for c in cols[col_time[cols] < 0]:
            rows = At.indices[At.indptr[c]:At.indptr[c + 1]]
            if not len(rows):
                continue
            sub = A[rows]
            others = np.unique(sub.indices)
            t = int(col_time[others].max(initial=-1))
            if t >= 0:
                col_time[c] = t
                col_ep[c] = col_ep[others].max(axis=0)
                moved = True
        if not moved:
            break
    left = cols[col_time[cols] < 0]
    if len(left):
        blk = next(b for b in blocks if b.start <= left[0] < b.stop)
        raise TypeMismatch(
            f"the checker's column '{blk.name}' shares no constraint with a variable of "
            f"{spec.time_set}, so policy '{spec.name}' cannot place it in a period", spec.span,
            f"it comes from line {blk.span.line}")


def _row_reduce(A: Any, values: np.ndarray, op: Any, empty: int) -> np.ndarray:
    """``op`` over each row's columns of ``values`` (``empty`` for a row without any)."""
    out = np.full(A.shape[0], empty, np.int64)
    nz = np.diff(A.indptr) > 0
    if A.nnz:
        red = op.reduceat(values[A.indices], A.indptr[:-1][nz])
        out[nz] = red
    return out


def _check_observations(flat: FlatModel, spec: PolicySpec, col_time: np.ndarray) -> None:
    for e in range(len(spec.episode_keys)):
        for k in range(spec.horizon):
            M = spec.obs_lin[e][k].tocoo()
            if not M.nnz:
                continue
            late = col_time[M.col] >= k
            if late.any():
                i = int(np.flatnonzero(late)[0])
                col, feat = int(M.col[i]), int(M.row[i])
                name = flat.column_names()[col]
                span = spec.item_spans[int(spec.feature_item[feat])]
                raise TypeMismatch(
                    f"observe(…) reads {name} at {spec.time_set} = {spec.periods[k]}: a policy "
                    "observes only what is realised before it decides", span,
                    "observe earlier periods, e.g. x[prev(t)] (guarded: `if t == first(T) "
                    "then x0 else x[prev(t)]`)")


def _check_decisions(flat: FlatModel, spec: PolicySpec, col_time: np.ndarray) -> None:
    K = spec.horizon
    periods = np.broadcast_to(np.arange(K)[None, :, None], spec.decide_cols.shape)
    wrong = col_time[spec.decide_cols] != periods
    if wrong.any():
        e, k, a = (int(x[0]) for x in np.nonzero(wrong))
        name = flat.column_names()[int(spec.decide_cols[e, k, a])]
        raise TypeMismatch(
            f"decide(…) names {name} at {spec.time_set} = {spec.periods[k]}, a variable of "
            "another period", spec.action_spans[a], "decide the variables of period t, e.g. "
            "u[G, t]")


# ---- the stage problem of one step -----------------------------------------------------------
@dataclass
class StageResult:
    """One solved stage: its cost (objective units), violation and what HiGHS took."""

    cost: float
    violation: float
    violations: list[tuple[str, float, str]]  # (row, amount in the row's report unit, unit)
    seconds: float


@dataclass
class _Stage:
    cols: np.ndarray
    rows: np.ndarray
    decided: np.ndarray  # positions of the decided columns within ``cols``
    model: Any  # highspy.HighsModel (bounds updated per step)
    A_rows: Any  # csr: the stage rows over all columns (for the realised shift)
    c: np.ndarray  # linear stage cost over ``cols``
    cross: tuple[np.ndarray, np.ndarray, np.ndarray]  # (stage pos, earlier col, v)
    quad: tuple[np.ndarray, np.ndarray, np.ndarray]  # (pos i, pos j, v) within the stage
    const: float


@dataclass
class StageSolver:
    """Builds (once per episode and period) and solves the stage problems of one policy."""

    flat: FlatModel
    spec: PolicySpec
    plan: StagePlan
    cache: dict[tuple[int, int], _Stage] = field(default_factory=dict)
    max_cached: int = 4096

    def __post_init__(self) -> None:
        self.h = self._highs()
        self._members: tuple[int, np.ndarray, np.ndarray] | None = None
        sign = -1.0 if self.flat.sense == "max" else 1.0
        self.sign = sign  # HiGHS minimises sign * objective
        qi, qj, qv = self.flat.Q
        self.q_stage = np.maximum(self.plan.col_time[qi], self.plan.col_time[qj]) if len(qi) \
            else np.zeros(0, np.int64)

    @staticmethod
    def _highs() -> Any:
        from qgridlang.backends.highs import _new_highs

        h = _new_highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("threads", 1)
        return h

    def _run(self, model: Any) -> str:
        """Pass and solve ``model``; HiGHS's model status, or the failed call's name."""
        import highspy

        if self.h.passModel(model) == highspy.HighsStatus.kError:
            return "passModel failed"
        if self.h.run() == highspy.HighsStatus.kError:
            return f"run failed ({self.h.getModelStatus().name})"
        return str(self.h.getModelStatus().name)

    def members(self, e: int) -> tuple[np.ndarray, np.ndarray]:
        """Columns and rows of episode ``e`` (shared ones included); the last episode's are
        kept, since its periods' stages are built one after another."""
        if self._members is not None and self._members[0] == e:
            return self._members[1], self._members[2]
        pos = self.plan.episode_pos[e]
        cm = np.all((self.plan.col_episode < 0) | (self.plan.col_episode == pos), axis=1)
        rm = np.all((self.plan.row_episode < 0) | (self.plan.row_episode == pos), axis=1)
        self._members = (e, cm, rm)
        return cm, rm

    def stage(self, e: int, k: int) -> _Stage:
        got = self.cache.get((e, k))
        if got is not None:
            return got
        import highspy

        flat, plan = self.flat, self.plan
        cm, rm = self.members(e)
        cols = np.flatnonzero(cm & (plan.col_time == k))
        rows = np.flatnonzero(rm & (plan.row_time == k))
        where = np.full(flat.n, -1, np.int64)
        where[cols] = np.arange(len(cols))
        decided = where[self.spec.decide_cols[e, k]]
        A_rows = flat.A[rows].tocsr()
        A_s = A_rows[:, cols].tocsc()
        nr, nc = len(rows), len(cols)
        rho = plan.penalty
        # [A_s, I, -I]: slacks s+ and s- per row, each priced rho
        eye = sp.identity(nr, format="csc")
        A_ext = sp.hstack([A_s, eye, -eye], format="csc")
        A_ext.sort_indices()
        c = self.sign * flat.c[cols]
        qi, qj, qv = flat.Q
        in_k = self.q_stage == k
        both = in_k & (where[qi] >= 0) & (where[qj] >= 0)
        quad = (where[qi[both]], where[qj[both]], qv[both])
        one = in_k & ~both
        pi, pj, pv = qi[one], qj[one], qv[one]
        stage_pos = np.where(where[pi] >= 0, where[pi], where[pj])
        earlier = np.where(where[pi] >= 0, pj, pi)
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = nc + 2 * nr, nr
        lp.col_cost_ = np.concatenate([c, np.full(2 * nr, rho)])
        lp.col_lower_ = np.concatenate([flat.lb[cols], np.zeros(2 * nr)])
        lp.col_upper_ = np.concatenate([flat.ub[cols], np.full(2 * nr, np.inf)])
        lp.row_lower_ = flat.row_lo[rows].astype(float)
        lp.row_upper_ = flat.row_hi[rows].astype(float)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = A_ext.indptr.astype(np.int32)
        lp.a_matrix_.index_ = A_ext.indices.astype(np.int32)
        lp.a_matrix_.value_ = A_ext.data.astype(float)
        integer = flat.kind[cols] > 0
        integer[decided] = False  # fixed by the action
        if integer.any():
            kinds = [highspy.HighsVarType.kInteger if f else highspy.HighsVarType.kContinuous
                     for f in np.concatenate([integer, np.zeros(2 * nr, bool)])]
            lp.integrality_ = kinds
        model = highspy.HighsModel()
        model.lp_ = lp
        if len(quad[0]):
            i, j, v = quad
            H = sp.coo_matrix((np.concatenate([v, v]) * self.sign,
                               (np.concatenate([i, j]), np.concatenate([j, i]))),
                              shape=(nc + 2 * nr, nc + 2 * nr))
            H = sp.tril(H, format="csc")
            H.sort_indices()
            model.hessian_.dim_ = nc + 2 * nr
            model.hessian_.format_ = highspy.HessianFormat.kTriangular
            model.hessian_.start_ = H.indptr.astype(np.int32)
            model.hessian_.index_ = H.indices.astype(np.int32)
            model.hessian_.value_ = H.data.astype(float)
        const = float(flat.obj_const) if k == 0 else 0.0
        st = _Stage(cols, rows, decided, model, A_rows, flat.c[cols].copy(),
                    (stage_pos, earlier, pv), quad, const)
        if len(self.cache) >= self.max_cached:
            self.cache.pop(next(iter(self.cache)))
        self.cache[(e, k)] = st
        return st

    def solve(self, e: int, k: int, action: np.ndarray, x: np.ndarray) -> StageResult:
        """Solve period ``k`` of episode ``e`` with the decided columns at ``action`` and the
        earlier periods at their values in ``x``; writes the stage's columns into ``x``."""
        st = self.stage(e, k)
        t0 = time.perf_counter()
        lp = st.model.lp_
        nc, nr = len(st.cols), len(st.rows)
        lo = np.concatenate([self.flat.lb[st.cols], np.zeros(2 * nr)])
        hi = np.concatenate([self.flat.ub[st.cols], np.full(2 * nr, np.inf)])
        lo[st.decided] = action
        hi[st.decided] = action
        shift = np.asarray(st.A_rows @ x).ravel()  # stage columns are still 0 in x
        lp.col_lower_, lp.col_upper_ = lo, hi
        lp.row_lower_ = self.flat.row_lo[st.rows] - shift
        lp.row_upper_ = self.flat.row_hi[st.rows] - shift
        cost = self.sign * st.c.copy()
        pos, earlier, v = st.cross
        np.add.at(cost, pos, self.sign * v * x[earlier])
        lp.col_cost_ = np.concatenate([cost, np.full(2 * nr, self.plan.penalty)])
        status = self._run(st.model)
        if status == "run failed (kNotset)":
            # HiGHS 1.16 keeps one scheduler per calling thread and fails a solve that asks for
            # another thread count than the thread's first solve did (an earlier threads=2
            # solve in this thread): reset this thread's scheduler and solve once more
            import highspy

            highspy.Highs.resetThreadScheduler(True)
            self.h = self._highs()
            status = self._run(st.model)
        if status not in ("kOptimal", "kModelEmpty"):
            raise BackendError(
                f"policy '{self.spec.name}': the stage problem of {self.spec.time_set} = "
                f"{self.spec.periods[k]} ended {status}", self.spec.span,
                "a stage must be bounded: give its variables bounds or costs")
        sol = np.asarray(self.h.getSolution().col_value, float) if nc + 2 * nr else np.zeros(0)
        xs = sol[:nc]
        xs[st.decided] = action
        x[st.cols] = xs
        slack = sol[nc:nc + nr] + sol[nc + nr:]
        stage_cost = float(st.c @ xs + np.sum(v * xs[pos] * x[earlier]) + st.const)
        qi, qj, qv = st.quad
        stage_cost += float(np.sum(qv * xs[qi] * xs[qj]))
        bad = np.flatnonzero(slack > 1e-7)
        violations = [(self.flat.rows[int(st.rows[r])].label,
                       float(slack[r]) * self.flat.rows[int(st.rows[r])].report_scale,
                       self.flat.rows[int(st.rows[r])].shown_unit) for r in bad]
        return StageResult(stage_cost, float(slack.sum()), violations,
                           time.perf_counter() - t0)

