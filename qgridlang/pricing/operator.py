"""The operator's scenario costs f_s(π, P^EX) (DN-EC eq. 1b) as a JAX function, read from the
checked operator model.

For a fixed community price and fixed community responses the operator model decides nothing
but the network state, so its LP optimum is an explicit function of (π, P^EX):
``E_s[f_s] + λ · CVaR_α(f_s)``. This module rebuilds that function so that it can be
differentiated (eq. 4) without solving an LP per step.

What it reads, all from the checked model (never from the model's CSV files):

- the network record (:mod:`qgridlang.semantics.network`): buses (nominal voltage, slack and
  its set-point), branches (r and x in ohm, their flat ``p``/``q`` variables) and, per bus,
  the flat names of the ports that inject into it;
- the injections' values: a port is an affine expression of the flat model; away from the
  slack bus every column it uses must be fixed (``lb == ub``: loads are constants, uncurtailable
  wind and PV are columns fixed at their available power), so its value is known; the scenario
  draws (``load_dev``, ``wind_dev``, ``pv_dev``) are already in those values;
- the cost expression's row (``cost[s]``): its coefficients on the substation's exchange and on
  the epigraph columns of ``pos(…)``; each epigraph column's own row gives its argument as an
  affine function of ``v2`` and the line flows, so the penalties are exactly the model's
  (``v_over``/``v_under`` of the stdlib bus, ``pos(l.p - pbar)`` …);
- λ and α from the objective's coefficients on the CVaR epigraph (``eta``, ``excess[s]``),
  verified against the whole objective vector.

How π and the responses enter is identified by checking the model a few times (1 + R + 1
checks for R responses): the base check reads the model's own price and responses (a probe
expression, as :func:`qgridlang.datasets.response.check_reading` does); one check per response
raises it by one unit in every period, which gives each injection's change per unit and the
cost constant's change (the revenue −Σ_t π_t P_t Δt, bilinear); a final check at a random price
and random responses must match the prediction, else the model is refused.

The network state is LinDistFlow's on a radial feeder (stdlib ``line for lindistflow``:
``v2_b = v2_a − 2 (r p + x q) / vn_a²``, ``tap = 1``): a branch's flow is the net load below
it, and ``v2`` falls from the slack's ``v_set²`` along the path. The evaluator is specific to
this contract (a price parameter, response parameters, the stdlib LinDistFlow feeder, an
objective ``expected(cost) + λ cvar(cost, α)``); :func:`build` refuses what does not fit, and
``validate=True`` also solves the LP once and compares objectives.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qgridlang.errors import QglError, UsageError

PROBE = "__qgl_pricing_probe"
IDENTIFY_RTOL = 1e-9  # the identified affine / bilinear maps against a full check
VALIDATE_RTOL = 1e-6  # the JAX objective against the LP's at the base point


@dataclass
class OperatorCost:
    """The scenario costs of the operator model as arrays; :meth:`costs` is the JAX function.

    Shapes: ``nb`` buses, ``nl`` branches, ``T`` periods, ``R`` responses, ``S`` scenarios.
    """

    file: str
    price_param: str
    responses: list[str]  # response parameter names, in the order of the R axis
    price_keys: list[tuple[int | str, ...]]
    price_unit: str
    response_units: dict[str, str]
    objective_unit: str
    step_hours: float | None
    own_price: np.ndarray  # (T,) the model's own price
    own_responses: np.ndarray  # (R, T) the model's own responses (the identification's base)
    probs: np.ndarray  # (S,) scenario probabilities
    lam: float
    alpha: float
    cost_expr: str
    # the network state
    base_p: np.ndarray  # (nb, T) net load in MW at the base responses (slack ports excluded)
    base_q: np.ndarray  # (nb, T) Mvar
    dp: np.ndarray  # (R, nb, T) net load change per unit of each response (MW per unit)
    dq: np.ndarray  # (R, nb, T)
    sub: np.ndarray  # (nl, nb): branch flow = sub @ net load (signed by orientation)
    path: np.ndarray  # (nb, nl): v2 = v2_root - path @ drop
    v2_root: np.ndarray  # (nb,) the slack set-point squared of each bus's root
    tree: np.ndarray  # (nroot, nb): the slack's injection = tree @ net load
    drop_r: np.ndarray  # (nl,) 2 r / vn_a^2 (pu per MW)
    drop_x: np.ndarray  # (nl,)
    # the flat columns the cost uses, as indices into the state vector
    state_index: np.ndarray  # (ncols,) index into concat(v2, P, Q, slack, fixed) or -1
    fixed_values: np.ndarray
    slack_scale: np.ndarray  # (nroot*T,) column value per MW of slack injection
    # pos(…) epigraph rows: u = max(0, (lo - sum a x) / cu)
    epi_lo: np.ndarray
    epi_cu: np.ndarray
    epi_row: np.ndarray  # nnz entries: row id, state index, coefficient
    epi_state: np.ndarray
    epi_coef: np.ndarray
    # the cost rows: entries on state columns and on epigraph rows
    cost_state_row: np.ndarray
    cost_state_idx: np.ndarray
    cost_state_coef: np.ndarray
    cost_epi_row: np.ndarray
    cost_epi_idx: np.ndarray
    cost_epi_coef: np.ndarray
    cost_const: np.ndarray  # (S,) at the base price and responses
    revenue_weight: np.ndarray  # (R,) d(cost const)/d(sum_t price_t response_t)
    checks: int = 0
    seconds: float = 0.0
    validation: dict[str, Any] = field(default_factory=dict)
    _fn: Any = None

    @property
    def periods(self) -> int:
        return len(self.price_keys)

    @property
    def scenarios(self) -> int:
        return len(self.probs)

    def costs(self, price: Any, responses: Any) -> Any:
        """f_s for every scenario: ``price`` (T,) in the price parameter's unit, ``responses``
        (R, T) in the response parameters' units -> (S,) in the objective's unit. A JAX
        function (call it with 64-bit JAX enabled for LP-level accuracy)."""
        if self._fn is None:
            self._fn = _make_costs(self)
        return self._fn(price, responses)

    def objective(self, price: Any, responses: Any, v: Any) -> Any:
        """C(π, v) = E_s f_s + λ (v + 1/(1-α) E_s [f_s - v]_+) (eq. 1a with v free)."""
        import jax.numpy as jnp

        f = self.costs(price, responses)
        p = jnp.asarray(self.probs)
        return jnp.dot(p, f) + self.lam * (v + jnp.dot(p, jnp.maximum(f - v, 0.0))
                                           / (1.0 - self.alpha))

    def exact(self, price: np.ndarray, responses: np.ndarray) -> dict[str, Any]:
        """The LP's optimum at (price, responses): the mean, VaR, CVaR (v at its optimum) and
        the objective, in 64-bit."""
        import jax

        with jax.enable_x64(True):
            f = np.asarray(self.costs(np.asarray(price, float), np.asarray(responses, float)))
        return risk(f, self.probs, self.alpha, self.lam)


def risk(f: np.ndarray, probs: np.ndarray, alpha: float, lam: float) -> dict[str, Any]:
    """Mean, VaR_α, CVaR_α (Rockafellar–Uryasev's minimum, attained at a scenario's value) and
    mean + λ CVaR of discrete costs."""
    mean = float(np.dot(probs, f))
    cands = np.unique(f)
    vals = cands + np.array([np.dot(probs, np.maximum(f - v, 0.0)) for v in cands]) / (1 - alpha)
    k = int(np.argmin(vals))
    return {"mean": mean, "var": float(cands[k]), "cvar": float(vals[k]),
            "objective": mean + lam * float(vals[k]), "costs": f.tolist()}


def _make_costs(op: OperatorCost) -> Any:
    import jax
    import jax.numpy as jnp

    n_epi = len(op.epi_lo)
    n_s = op.scenarios

    def costs(price: Any, responses: Any) -> Any:
        price = jnp.asarray(price)
        d = jnp.asarray(responses) - op.own_responses
        load_p = op.base_p + jnp.einsum("rbt,rt->bt", op.dp, d)
        load_q = op.base_q + jnp.einsum("rbt,rt->bt", op.dq, d)
        flow_p = op.sub @ load_p
        flow_q = op.sub @ load_q
        drop = op.drop_r[:, None] * flow_p + op.drop_x[:, None] * flow_q
        v2 = op.v2_root[:, None] - op.path @ drop
        slack = (op.tree @ load_p).ravel() * op.slack_scale
        state = jnp.concatenate([v2.ravel(), flow_p.ravel(), flow_q.ravel(), slack,
                                 jnp.asarray(op.fixed_values)])
        arg = jax.ops.segment_sum(op.epi_coef * state[op.epi_state], op.epi_row,
                                  num_segments=n_epi)
        u = jnp.maximum((op.epi_lo - arg) / op.epi_cu, 0.0)
        f = jax.ops.segment_sum(op.cost_state_coef * state[op.cost_state_idx],
                                op.cost_state_row, num_segments=n_s)
        f = f + jax.ops.segment_sum(op.cost_epi_coef * u[op.cost_epi_idx], op.cost_epi_row,
                                    num_segments=n_s)
        moved = jnp.sum(price[None, :] * jnp.asarray(responses), axis=1) - jnp.sum(
            op.own_price[None, :] * op.own_responses, axis=1)
        return f + op.cost_const + jnp.dot(op.revenue_weight, moved)

    return jax.jit(costs)


# ---- building it from the model ----------------------------------------------------------------


def _probe_text(text: str, file: str, names: list[str]) -> str:
    """``text`` with one probe expression per indexed parameter in ``names`` appended (after
    every declaration, so the rows of the model's own expressions are unchanged)."""
    from qgridlang import ast
    from qgridlang.datasets.substitute import _line_starts, _offset
    from qgridlang.parser import parse

    heads: dict[str, Any] = {}
    for st in parse(text, file).statements:
        if isinstance(st, ast.ParamDecl):
            for h in st.heads:
                if h.name in names:
                    heads[h.name] = h
    starts = _line_starts(text)
    out = text
    for j, name in enumerate(names):
        head = heads.get(name)
        if head is None:
            raise UsageError(f"the operator model {file} declares no parameter '{name}' at its "
                             "top level", hint="--price-param names its community price; "
                             "--surrogate PARAM=FILE its response parameters")
        if head.index is None or len(head.index.items) != 1:
            raise UsageError(f"the operator's '{name}' must have one index (the time set)")
        sp = head.index.items[0].domain.span
        domain = text[_offset(starts, sp.line, sp.column):_offset(starts, sp.end_line,
                                                                  sp.end_column)]
        out += f"\nexpr {PROBE}{j}[k in {domain}] = {name}[k]\n"
    return out


def _check(text: str, file: str, overrides: dict[str, str] | None, allow_read: tuple[str, ...],
           new: dict[str, Any] | None = None, probes: list[str] | None = None) -> Any:
    from qgridlang.checker import check_text
    from qgridlang.datasets.substitute import substitute
    from qgridlang.limits import make

    body = substitute(text, file, new) if new else text
    if probes:
        body = _probe_text(body, file, probes)
    return check_text(body, file, overrides, limits=make(None, list(allow_read) or None, None))


def _row_index(flat: Any) -> dict[tuple[str, tuple[Any, ...]], int]:
    return {(e.name, tuple(e.key)): k for k, e in enumerate(flat.exprs)}


def _to(unit: str, target: str, what: str) -> float:
    from qgridlang.semantics.units import convert, unit_at

    if not unit:
        raise UsageError(f"{what} has no unit: the pricing contract needs power in MW or kW")
    return convert(unit_at(unit, None), unit_at(target, None), None, what)


def build(file: str | Path, price_param: str, responses: list[str], *,
          overrides: dict[str, str] | None = None, allow_read: tuple[str, ...] = (),
          cost_expr: str = "cost", validate: bool = False, seed: int = 12345) -> OperatorCost:
    """Check the operator model (1 + R + 1 times) and build its scenario costs.

    Raises:
        UsageError: a model outside the contract, named by what does not fit.
    """
    from qgridlang.checker import read_source
    from qgridlang.datasets.substitute import Values

    t0 = time.perf_counter()
    path = str(file)
    text = read_source(path)
    if not responses:
        raise UsageError("name at least one response parameter: --surrogate PARAM=FILE")
    if len(set(responses)) != len(responses) or price_param in responses:
        raise UsageError("each response parameter once, and not the price parameter")
    names = [price_param, *responses]
    base = _check(text, path, overrides, allow_read, probes=names)
    flat = base.flat
    rows = _row_index(flat)
    probe_rows = {}
    for j, name in enumerate(names):
        probe_rows[name] = [k for k, e in enumerate(flat.exprs) if e.name == f"{PROBE}{j}"]
    keys = [tuple(flat.exprs[k].key) for k in probe_rows[price_param]]
    for name in responses:
        if [tuple(flat.exprs[k].key) for k in probe_rows[name]] != keys:
            raise UsageError(f"the response '{name}' is not indexed by the price's time set")
    assert flat.e_const is not None
    own_price = np.array([flat.e_const[k] for k in probe_rows[price_param]])
    own_resp = np.array([[flat.e_const[k] for k in probe_rows[r]] for r in responses])
    params = {p.name: p for p in base.ir.params}
    units = {r: params[r].unit for r in responses}
    price_unit = params[price_param].unit
    set_name = params[price_param].index[0]
    step = next((s.step for s in base.ir.sets if s.name == set_name), None)
    from qgridlang.datasets.search import _hours

    T = len(keys)
    net = base.network
    if net is None or net.formulation != "lindistflow":
        raise UsageError("the pricing evaluator needs a feeder under `network flow = "
                         "lindistflow` (the operator contract)")
    # ---- the buses, the trees and the injections -------------------------------------------
    bus_names = [b.name for b in net.buses]
    bidx = {n: i for i, n in enumerate(bus_names)}
    nb, nl = len(bus_names), len(net.branches)
    E = flat.E.tocsr()
    fixed = flat.lb == flat.ub

    def port_values(name: str, keyed: bool = True) -> tuple[np.ndarray, list[int], bool]:
        """A port's value per period in its unit (fixed columns at their value); whether it
        uses a column that is not fixed."""
        out = np.zeros(T)
        rws = []
        free = False
        for k in keys:
            r = rows.get((name, k))
            if r is None:
                raise UsageError(f"port '{name}' has no value for period {list(k)}")
            rws.append(r)
        for i, r in enumerate(rws):
            lo, hi = E.indptr[r], E.indptr[r + 1]
            cols, vals = E.indices[lo:hi], E.data[lo:hi]
            if np.all(fixed[cols]):
                out[i] = float(vals @ flat.lb[cols] + flat.e_const[r])
            else:
                free = True
        return out, rws, free

    base_p, base_q = np.zeros((nb, T)), np.zeros((nb, T))
    port_rows: dict[str, tuple[list[int], float, int, str]] = {}  # name -> rows, scale, bus, pq
    slack_ports: dict[int, tuple[str, list[int], float]] = {}
    for i, b in enumerate(net.buses):
        for kind, arr in (("p", base_p), ("q", base_q)):
            for name in b.injections.get(kind, ()):
                unit = flat.exprs[rows[(name, keys[0])]].unit
                scale = _to(unit, "MW" if kind == "p" else "Mvar", f"port '{name}'")
                values, rws, free = port_values(name)
                if free:
                    if not b.slack or (kind == "p" and i in slack_ports):
                        raise UsageError(f"'{name}' at bus {b.name} is decided by the operator "
                                         "model: only the slack bus's one supply may be (the "
                                         "pricing contract fixes everything else)")
                    if kind == "p":  # the slack's reactive supply does not enter the cost
                        slack_ports[i] = (name, rws, scale)
                    continue
                arr[i] -= values * scale  # net load = minus the injection
                port_rows[name] = (rws, scale, i, kind)
    roots = [i for i, b in enumerate(net.buses) if b.slack]
    if set(slack_ports) != set(roots):
        raise UsageError("every slack bus needs exactly one supply port (a substation)")
    adj: dict[int, list[tuple[int, int]]] = {i: [] for i in range(nb)}
    for k, br in enumerate(net.branches):
        a, b2 = bidx[br.from_bus], bidx[br.to_bus]
        adj[a].append((k, b2))
        adj[b2].append((k, a))
        if br.r_ohm is None or br.x_ohm is None or br.p is None or br.q is None:
            raise UsageError(f"branch {br.name} is not a stdlib lindistflow line")
    paths = np.zeros((nb, nl))
    tree = np.zeros((len(roots), nb))
    v2_root = np.full(nb, np.nan)
    sign = np.zeros(nl)
    for ri, root in enumerate(roots):
        b = net.buses[root]
        v2_root[root] = (b.v_set if b.v_set is not None else 1.0) ** 2
        tree[ri, root] = 1.0
        stack = [(root, -1)]
        order = []
        parent_branch = {root: -1}
        while stack:
            node, via = stack.pop()
            order.append(node)
            for k, other in adj[node]:
                if k == via:
                    continue
                if other in parent_branch:
                    raise UsageError("the feeder is not radial")
                parent_branch[other] = k
                sign[k] = 1.0 if bidx[net.branches[k].to_bus] == other else -1.0
                paths[other] = paths[node]
                paths[other, k] = sign[k]
                v2_root[other] = v2_root[root]
                tree[ri, other] = 1.0
                stack.append((other, k))
    # a bus lies below exactly the branches on its path from the root: a branch's flow is the
    # net load of the buses whose path holds it, signed by the branch's orientation
    sub = paths.T.copy()
    if np.isnan(v2_root).any():
        raise UsageError("a bus is connected to no slack bus")
    vn = np.array([net.buses[bidx[br.from_bus]].vn_kv or math.nan for br in net.branches])
    if not np.all(np.isfinite(vn)):
        raise UsageError("a branch's from bus has no nominal voltage `vn`")
    drop_r = np.array([2 * br.r_ohm / v**2 for br, v in zip(net.branches, vn, strict=True)])
    drop_x = np.array([2 * br.x_ohm / v**2 for br, v in zip(net.branches, vn, strict=True)])
    # ---- the state columns ------------------------------------------------------------------
    n_state = nb * T + 2 * nl * T + len(roots) * T
    col_state = np.full(flat.n, -1, dtype=np.int64)

    def block_cols(name: str) -> np.ndarray:
        blk = flat.block_of(name)
        out = np.empty(T, dtype=np.int64)
        pos = {tuple(k): blk.start + j for j, k in enumerate(blk.keys)}
        for i, k in enumerate(keys):
            out[i] = pos[k]
        return out

    for i, b in enumerate(net.buses):
        if b.v2 is None:
            raise UsageError(f"bus {b.name} has no v2 (not a stdlib lindistflow bus)")
        col_state[block_cols(b.v2)] = i * T + np.arange(T)
    for k, br in enumerate(net.branches):
        col_state[block_cols(br.p)] = nb * T + k * T + np.arange(T)
        col_state[block_cols(br.q)] = nb * T + nl * T + k * T + np.arange(T)
    slack_scale = np.zeros(len(roots) * T)
    for ri, root in enumerate(roots):
        name, rws, scale = slack_ports[root]
        for t, r in enumerate(rws):
            lo, hi = E.indptr[r], E.indptr[r + 1]
            if hi - lo != 1 or flat.e_const[r] != 0:
                raise UsageError(f"the supply port '{name}' must be one variable per period")
            col = E.indices[lo]
            # column value per MW of injection: port = coef * col in the port's unit
            slack_scale[ri * T + t] = 1.0 / (scale * E.data[lo])
            col_state[col] = nb * T + 2 * nl * T + ri * T + t
    fixed_cols = np.nonzero(fixed & (col_state < 0))[0]
    col_state[fixed_cols] = n_state + np.arange(len(fixed_cols))
    fixed_values = flat.lb[fixed_cols].astype(float)
    # ---- the cost rows, the epigraph rows, λ and α -------------------------------------------
    if cost_expr not in {e.name for e in flat.exprs}:
        raise UsageError(f"the operator model has no expression '{cost_expr}' (the scenario "
                         "cost)")
    scen = [k for k, e in enumerate(flat.exprs) if e.name == cost_expr]
    info = flat.exprs[scen[0]]
    if len(info.index) != 1 or info.index[0] not in flat.scenarios:
        raise UsageError(f"'{cost_expr}' must be indexed over one scenario set")
    probs = np.asarray(flat.scenarios[info.index[0]], float)
    if len(scen) != len(probs):
        raise UsageError(f"'{cost_expr}' must have a value in every scenario")
    epi_of: dict[int, int] = {}  # epigraph column -> its row
    epi_blocks = [b for b in flat.blocks if b.auxiliary and b.name.startswith("pos#")]
    A = flat.A.tocsr()
    Acsc = flat.A.tocsc()
    for blk in epi_blocks:
        for c in range(blk.start, blk.stop):
            for r in Acsc.indices[Acsc.indptr[c]:Acsc.indptr[c + 1]]:
                if flat.rows[r].name == blk.name + ".epigraph":
                    epi_of[c] = int(r)
    cs_row, cs_idx, cs_coef, ce_row, ce_col, ce_coef = [], [], [], [], [], []
    for s, r in enumerate(scen):
        lo, hi = E.indptr[r], E.indptr[r + 1]
        for c, v in zip(E.indices[lo:hi], E.data[lo:hi], strict=True):
            if col_state[c] >= 0:
                cs_row.append(s)
                cs_idx.append(col_state[c])
                cs_coef.append(v)
            elif c in epi_of:
                ce_row.append(s)
                ce_col.append(c)
                ce_coef.append(v)
            else:
                raise UsageError(f"'{cost_expr}' uses '{flat.column_names()[c]}', which is "
                                 "neither the network state nor a pos(…) of it: outside the "
                                 "pricing contract")
    epi_cols = sorted(set(ce_col))
    epi_id = {c: j for j, c in enumerate(epi_cols)}
    epi_lo, epi_cu, e_row, e_state, e_coef = [], [], [], [], []
    for j, c in enumerate(epi_cols):
        r = epi_of[c]
        if not (np.isfinite(flat.row_lo[r]) and np.isinf(flat.row_hi[r])) or flat.lb[c] != 0:
            raise UsageError("a pos(…) epigraph row is not of the form u >= arg, u >= 0")
        lo, hi = A.indptr[r], A.indptr[r + 1]
        cu = 0.0
        for c2, v in zip(A.indices[lo:hi], A.data[lo:hi], strict=True):
            if c2 == c:
                cu = float(v)
            elif col_state[c2] >= 0:
                e_row.append(j)
                e_state.append(col_state[c2])
                e_coef.append(v)
            else:
                raise UsageError("a pos(…) in the cost takes something besides the network "
                                 "state: outside the pricing contract")
        if cu <= 0:
            raise UsageError("a pos(…) epigraph row does not bound its column from below")
        epi_lo.append(flat.row_lo[r])
        epi_cu.append(cu)
    lam, alpha = _risk_weights(flat, cost_expr, scen, probs, E)
    op = OperatorCost(
        file=path, price_param=price_param, responses=list(responses), price_keys=keys,
        price_unit=price_unit, response_units=units, objective_unit=flat.obj_unit,
        step_hours=_hours(step), own_price=own_price, own_responses=own_resp, probs=probs,
        lam=lam, alpha=alpha, cost_expr=cost_expr, base_p=base_p, base_q=base_q,
        dp=np.zeros((len(responses), nb, T)), dq=np.zeros((len(responses), nb, T)), sub=sub,
        path=paths, v2_root=v2_root, tree=tree, drop_r=drop_r, drop_x=drop_x,
        state_index=col_state, fixed_values=fixed_values, slack_scale=slack_scale,
        epi_lo=np.array(epi_lo), epi_cu=np.array(epi_cu), epi_row=np.array(e_row, np.int64),
        epi_state=np.array(e_state, np.int64), epi_coef=np.array(e_coef),
        cost_state_row=np.array(cs_row, np.int64), cost_state_idx=np.array(cs_idx, np.int64),
        cost_state_coef=np.array(cs_coef, float), cost_epi_row=np.array(ce_row, np.int64),
        cost_epi_idx=np.array([epi_id[c] for c in ce_col], np.int64),
        cost_epi_coef=np.array(ce_coef, float),
        cost_const=np.array([flat.e_const[r] for r in scen]), revenue_weight=np.zeros(
            len(responses)))
    checks = 1
    # ---- how the responses and the price enter (identified, then verified) -----------------
    own_sum = float(np.sum(own_price))
    if own_sum == 0:
        raise UsageError("the model's own price sums to zero: the revenue cannot be identified")
    port_d: dict[str, np.ndarray] = {}
    for ri, name in enumerate(responses):
        new = {name: Values(keys, own_resp[ri] + 1.0)}
        other = _check(text, path, overrides, allow_read, new).flat
        checks += 1
        _same(flat, other, f"raising '{name}'")
        for pname, (rws, scale, i, kind) in port_rows.items():
            # net load per unit of the response: minus the injection's change
            diff = -(other.e_const[rws] - flat.e_const[rws]) * scale
            port_d.setdefault(pname, np.zeros((len(responses), T)))[ri] = diff
            (op.dp if kind == "p" else op.dq)[ri, i] += diff
        dc = np.array([other.e_const[r] - flat.e_const[r] for r in scen])
        op.revenue_weight[ri] = float(np.mean(dc)) / own_sum
    rng = np.random.default_rng(seed)
    test_price = own_price * (1 + 0.3 * rng.uniform(-1, 1, T))
    test_resp = own_resp + 0.2 * rng.standard_normal(own_resp.shape) * (
        np.abs(own_resp).max() + 1.0)
    new = {price_param: Values(keys, test_price)}
    new.update({r: Values(keys, test_resp[ri]) for ri, r in enumerate(responses)})
    other = _check(text, path, overrides, allow_read, new).flat
    checks += 1
    _same(flat, other, "a random price and random responses")
    d = test_resp - own_resp
    for pname, (rws, scale, _i, _kind) in port_rows.items():
        got = -(other.e_const[rws] - flat.e_const[rws]) * scale
        want = np.einsum("rt,rt->t", port_d[pname], d)
        if not np.allclose(got, want, rtol=IDENTIFY_RTOL, atol=IDENTIFY_RTOL * (
                1 + np.abs(want).max())):
            raise UsageError(f"port '{pname}' does not follow the responses period by period: "
                             "outside the pricing contract")
    got_c = np.array([other.e_const[r] for r in scen])
    moved = np.sum(test_price * test_resp, axis=1) - np.sum(own_price * own_resp, axis=1)
    want_c = op.cost_const + op.revenue_weight @ moved
    if not np.allclose(got_c, want_c, rtol=IDENTIFY_RTOL, atol=IDENTIFY_RTOL * (
            1 + np.abs(want_c).max())):
        raise UsageError(f"the constant of '{cost_expr}' is not the revenue Σ_t price_t "
                         "response_t Δt (bilinear) of the named responses plus a constant: "
                         "outside the pricing contract", hint="name every response parameter "
                         "the price multiplies (one --surrogate PARAM=FILE each)")
    op.checks = checks
    if validate:
        op.validation = validate_against_lp(op, text, overrides, allow_read, own_price,
                                            own_resp)
    op.seconds = time.perf_counter() - t0
    return op


def _same(a: Any, b: Any, what: str) -> None:
    """Only constants may move with the price and the responses."""
    n_e = len(b.exprs)  # ``a`` may carry the probe expressions after the model's own
    same = (a.n == b.n and a.m == b.m and np.array_equal(a.A.data, b.A.data)
            and np.array_equal(a.A.indices, b.A.indices) and np.array_equal(a.c, b.c)
            and np.array_equal(a.lb, b.lb) and np.array_equal(a.ub, b.ub)
            and len(a.exprs) >= n_e and (a.E[:n_e] != b.E).nnz == 0)
    if not same:
        raise UsageError(f"{what} changes more of the operator model than its constants: "
                         "outside the pricing contract")


def _risk_weights(flat: Any, cost_expr: str, scen: list[int], probs: np.ndarray, E: Any
                  ) -> tuple[float, float]:
    """λ and α of ``expected(cost) + λ cvar(cost, α)``, verified against the whole objective
    (coefficients and constant)."""
    eta = [b for b in flat.blocks if b.name.startswith(f"cvar({cost_expr},")
           and b.name.endswith(".eta")]
    if flat.sense != "min" or len(eta) > 1:
        raise UsageError("the operator's objective must minimise expected(cost) + "
                         "λ · cvar(cost, α) (one CVaR)")
    want = np.zeros(flat.n)
    for s, r in enumerate(scen):
        lo, hi = E.indptr[r], E.indptr[r + 1]
        want[E.indices[lo:hi]] += probs[s] * E.data[lo:hi]
    lam, alpha = 0.0, 0.95
    if eta:
        e = eta[0]
        excess = flat.block_of(e.name[: -len(".eta")] + ".excess")
        lam = float(flat.c[e.start])
        ratio = flat.c[excess.start] / (lam * probs[0]) if lam else math.nan
        alpha = 1.0 - 1.0 / ratio if lam else 0.95
        want[e.start] = lam
        want[excess.start:excess.stop] = lam * probs / (1 - alpha)
    const = float(np.dot(probs, [flat.e_const[r] for r in scen]))
    scale = max(1.0, float(np.abs(flat.c).max()))
    if (not np.allclose(want, flat.c, rtol=IDENTIFY_RTOL, atol=IDENTIFY_RTOL * scale)
            or not math.isclose(const, flat.obj_const, rel_tol=IDENTIFY_RTOL,
                                abs_tol=IDENTIFY_RTOL * max(1.0, abs(const)))):
        raise UsageError(f"the operator's objective is not expected({cost_expr}) + λ · "
                         f"cvar({cost_expr}, α): outside the pricing contract")
    return lam, alpha


def solve_lp(op: OperatorCost, text: str, price: np.ndarray, responses: np.ndarray,
             overrides: dict[str, str] | None, allow_read: tuple[str, ...],
             response_unit: str | None = None) -> dict[str, Any]:
    """The operator model checked with ``price`` and ``responses`` written in and solved with
    HiGHS: status, objective, and the values of its scalar expressions."""
    from qgridlang.datasets.substitute import Values
    from qgridlang.dispatcher import compile_model
    from qgridlang.registry import Options, get_backend, get_target

    new = {op.price_param: Values(op.price_keys, np.asarray(price, float))}
    new.update({r: Values(op.price_keys, np.asarray(responses[i], float), response_unit)
                for i, r in enumerate(op.responses)})
    checked = _check(text, op.file, overrides, allow_read, new)
    be = get_backend("highs")
    options = Options(threads=1)
    compiled = compile_model(checked, be.target, options)
    raw = be.run(compiled.artifact, options)
    if raw.x is None:
        return {"status": raw.status.value, "objective": math.nan, "expressions": {}}
    x = get_target(be.target).invert(raw.x, compiled.inverse)
    if checked.flat.violations(x):
        return {"status": "error", "objective": math.nan, "expressions": {}}
    values = checked.flat.expr_values(x)
    scalars = {e.name: float(values[k] * e.report_scale) for k, e in
               enumerate(checked.flat.exprs) if not e.key}
    return {"status": raw.status.value, "objective": float(checked.flat.objective_value(x)),
            "expressions": scalars}


def validate_against_lp(op: OperatorCost, text: str, overrides: dict[str, str] | None,
                        allow_read: tuple[str, ...], price: np.ndarray, responses: np.ndarray
                        ) -> dict[str, Any]:
    """Solve the LP at (price, responses) and compare its objective with the JAX one."""
    lp = solve_lp(op, text, price, responses, overrides, allow_read)
    mine = op.exact(price, responses)["objective"]
    rel = abs(mine - lp["objective"]) / max(1.0, abs(lp["objective"]))
    if not rel <= VALIDATE_RTOL:
        raise UsageError(f"the pricing evaluator's objective {mine:.9g} differs from the "
                         f"operator LP's {lp['objective']:.9g} (relative {rel:.2e}): the model "
                         "is outside the pricing contract")
    return {"lp_objective": lp["objective"], "jax_objective": mine, "relative_error": rel}


__all__ = ["OperatorCost", "QglError", "build", "risk", "solve_lp", "validate_against_lp"]
