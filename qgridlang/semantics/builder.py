"""Check a program and expand it into a :class:`FlatModel` (plus the IR summary).

Statements are processed in order; each failing statement's error is collected and the names it
would have defined are poisoned, so one mistake is reported once, not at every use.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from qgridlang import ast
from qgridlang.errors import (
    ErrorCollector,
    QglError,
    QglWarning,
    Span,
    TypeMismatch,
    UnknownName,
    UnsupportedConstruct,
    UsageError,
    did_you_mean,
)
from qgridlang.flat import (
    KIND_CODE,
    ExprInfo,
    FlatModel,
    QuantumSpec,
    RowInfo,
    SampledParam,
    VarBlock,
)
from qgridlang.semantics import report_units as R
from qgridlang.semantics import units as U
from qgridlang.semantics.components import instantiate
from qgridlang.semantics.evaluate import Env, Evaluator, Suppressed
from qgridlang.semantics.network import check_radial
from qgridlang.semantics.params import check_param_bounds, declare_param, declare_scenarios
from qgridlang.semantics.positive import Positive
from qgridlang.semantics.quantum import quantum_spec
from qgridlang.semantics.risk import Risk
from qgridlang.semantics.scope import (
    ExprData,
    Key,
    ParamData,
    Poisoned,
    Scope,
    VarData,
)
from qgridlang.semantics.unresolved import unresolved_names
from qgridlang.semantics.values import Affine, Scalar, SetValue
from qgridlang.semantics.vector import Vectoriser

INF = float("inf")


@dataclass
class Objective:
    sense: str
    name: str
    value: Affine
    span: Span


class Builder:
    """Owns the flat column/row space while a program is checked."""

    def __init__(self, base_dir: Path, overrides: dict[str, Scalar] | None = None,
                 subsets: dict[str, list[int | str]] | None = None) -> None:
        self.base_dir = base_dir
        self.subsets = dict(subsets or {})
        self.errors = ErrorCollector()
        self.ev = Evaluator(self)
        self.vec = Vectoriser(self)
        self.risk = Risk(self)
        self.positive = Positive(self)
        self.model = Scope()
        self.components: dict[str, ast.ComponentDecl] = {}
        self.variants: dict[tuple[str, str], ast.ComponentDecl] = {}  # (name, formulation)
        self.network: ast.NetworkDecl | None = None
        self.branches: list[tuple[Scope, Span]] = []  # two-terminal instances (lines)
        self.overrides = dict(overrides or {})
        self.used_overrides: set[str] = set()
        self.model_name = "model"
        # columns
        self.blocks: list[VarBlock] = []
        self.lb: list[float] = []
        self.ub: list[float] = []
        self.kind: list[int] = []
        # rows (COO)
        self.r_rows: list[int] = []
        self.r_cols: list[int] = []
        self.r_vals: list[float] = []
        self.row_lo: list[float] = []
        self.row_hi: list[float] = []
        self.rows: list[RowInfo] = []
        self.exprs: list[ExprData] = []
        self._vec_tried: set[int] = set()  # expressions expr_value tried with arrays already
        self.objective: Objective | None = None
        self.quantum: ast.QuantumBlock | None = None
        self.scenarios: dict[str, np.ndarray] = {}
        self.sampled: dict[str, SampledParam] = {}
        self.time_sets: list[SetValue] = []
        self.buses: list[Scope] = []
        self.qspec = QuantumSpec()
        self.warnings: list[QglWarning] = []
        # `surrogate` declarations (qgridlang.semantics.surrogates) and what their calls made
        self.surrogates: dict[str, Any] = {}  # name -> SurrogateSpec
        self.surrogate_values: dict[tuple[str, int], np.ndarray] = {}  # evaluated calls
        self.surrogate_columns: dict[tuple[str, int], int] = {}  # calls of variables
        self.surrogate_links: list[Any] = []  # SurrogateLink
        self.trained_surrogates: dict[str, Any] = {}
        self.defer_surrogates = False  # `qglc train`: calls of parameters are not evaluated
        self.policies: dict[str, Any] = {}  # `policy` declarations: name -> PolicySpec
        self.texts: dict[str, list[str]] = {}  # source lines by file (policy feature labels)
        # dynamics (qgridlang.semantics.systems, .controllers); names whose declaration failed
        self.systems: dict[str, Any] = {}
        self.controllers: dict[str, Any] = {}
        self.simulations: dict[str, Any] = {}
        self.failed_dynamics: set[str] = set()

    # ---- driver ---------------------------------------------------------------------------
    def run(self, statements: list[ast.Statement]) -> None:
        for st in statements:
            if isinstance(st, ast.ComponentDecl):
                self.guard(lambda st=st: self._component(st), [])
        for st in statements:  # before any instance: it chooses the components' variants
            if isinstance(st, ast.NetworkDecl):
                self.guard(lambda st=st: self._network(st), [])
        dynamics = (ast.SystemDecl, ast.ControllerDecl, ast.SimulateDecl)
        for st in statements:
            if not isinstance(st, (ast.ComponentDecl, ast.NetworkDecl, *dynamics)):
                self.guard(lambda st=st: self.statement(st, self.model), _defined(st), node=st)
        # systems after every model parameter (they read them wherever they are declared)
        for st in statements:
            if isinstance(st, dynamics):
                self.guard(lambda st=st: self._dynamics(st), [])
        # Named expressions are lazy; evaluate every element here, inside the guard, so their
        # errors are collected with the rest (and risk measures they use exist before the
        # usage check and the flat assembly).
        for data in list(self.exprs):
            self.guard(functools.partial(self._evaluate_expr, data), [], data.scope,
                       node=data.node, bound=data.names)
        self.guard(self._bus_balances, [])
        self.guard(lambda: check_radial(self), [])
        self.guard(self.risk.check_usage, [])
        self.guard(self.positive.check_usage, [])
        self.guard(self._quantum, [])
        for name in self.subsets:
            self.errors.add(UnknownName(f"no set '{name}' to restrict", None))
        for name in set(self.overrides) - self.used_overrides:
            if isinstance(self.model.items.get(name), Poisoned):
                continue  # its declaration failed and is reported already
            # a command-line mistake, not the model's: reported with the rest, exit 2
            self.errors.add(UsageError(f"--set {name}: no scalar parameter '{name}'", None,
                                       did_you_mean(name, [k for k, v in self.model.items.items()
                                                           if isinstance(v, ParamData)])))

    def guard(self, fn: Callable[[], Any], names: list[str], scope: Scope | None = None,
              node: ast.Node | None = None, bound: tuple[str, ...] = ()) -> None:
        """Run one statement; on an error record it and poison the names it would define.

        A statement that stopped at a poisoned name (``Suppressed``) reports nothing about that
        name, but ``node``'s names that are unknown regardless are still reported.
        """
        try:
            fn()
        except Suppressed:
            if node is not None:
                for err in unresolved_names(node, scope or self.model, bound):
                    self.errors.add(err)
            self._poison(names, scope)
        except UsageError:
            raise  # a bad command line (--set), not a mistake in the model: stop here
        except QglError as exc:
            self.errors.add(_index_hint(exc, node))
            self._poison(names, scope)
        except RecursionError:
            # expressions are bounded by the parser (limits.MAX_DEPTH); components and named
            # expressions that use one another can still nest past Python's stack
            self.errors.add(TypeMismatch(
                "the model nests too deeply here (expressions or components that use one "
                "another)", node.span if node is not None else None,
                "split the expression, or flatten the chain of components"))
            self._poison(names, scope)

    def _poison(self, names: list[str], scope: Scope | None) -> None:
        scope = scope or self.model
        for n in names:
            item = scope.items.get(n)
            if item is None or not isinstance(item, Poisoned):
                scope.items[n] = Poisoned(Span("", 0, 0))

    def _dynamics(self, st: ast.SystemDecl | ast.ControllerDecl | ast.SimulateDecl) -> None:
        from qgridlang.semantics.controllers import declare_controller, declare_simulation
        from qgridlang.semantics.systems import declare_system

        refs = {ast.SystemDecl: (), ast.ControllerDecl: ("system",),
                ast.SimulateDecl: ("system", "controller")}[type(st)]
        if any(getattr(st, r) in self.failed_dynamics for r in refs) or any(
                n in self.failed_dynamics for n, _ in getattr(st, "likes", ())):
            return  # it uses a declaration that failed and was reported
        name = getattr(st, "name", None) or ""
        try:
            if isinstance(st, ast.SystemDecl):
                declare_system(self, st)
            elif isinstance(st, ast.ControllerDecl):
                declare_controller(self, st)
            else:
                declare_simulation(self, st)
        except (QglError, Suppressed):
            self.failed_dynamics.add(name)
            raise

    def _quantum(self) -> None:
        self.qspec = quantum_spec(self)

    def _component(self, st: ast.ComponentDecl) -> None:
        if st.variant is not None:
            if (st.name, st.variant) in self.variants:
                raise TypeMismatch(f"component '{st.name}' for {st.variant} is already declared",
                                   st.span)
            self.variants[(st.name, st.variant)] = st
            return
        if st.name in self.components:
            raise TypeMismatch(f"component '{st.name}' is already declared", st.span)
        self.components[st.name] = st

    @property
    def network_flow(self) -> str:
        """The network's power-flow formulation (`network flow = …`; transport without one)."""
        return self.network.value if self.network is not None else "transport"

    def _network(self, st: ast.NetworkDecl) -> None:
        if st.option != "flow":
            raise UnknownName(f"unknown network option '{st.option}'", st.span,
                              "write `network flow = transport | dc | lindistflow`")
        if self.network is not None:
            raise TypeMismatch("a model has one `network` statement", st.span,
                               f"the first is at line {self.network.span.line}")
        known = {v for (_, v) in self.variants} | {"transport"}
        if st.value not in known:
            raise UnknownName(f"no component has a variant for `network flow = {st.value}`",
                              st.span, did_you_mean(st.value, known) or
                              f"known formulations: {', '.join(sorted(known))}")
        self.network = st

    def statement(self, st: ast.Statement, scope: Scope) -> None:
        env = Env(scope)
        if isinstance(st, ast.ModelDecl):
            self.model_name = st.name
        elif isinstance(st, ast.SetDecl):
            self._set(st, env)
        elif isinstance(st, ast.ParamDecl):
            declare_param(self, st, env)
            check_param_bounds(self, st, env)
        elif isinstance(st, ast.VarDecl):
            self.declare_var(st, env)
        elif isinstance(st, ast.ExprDecl):
            self.declare_expr(st, env, st.name, st.unit, st.value)
        elif isinstance(st, ast.ConstraintDecl):
            self.declare_constraint(st, env)
        elif isinstance(st, ast.Objective):
            self._objective(st, env)
        elif isinstance(st, ast.Instance):
            instantiate(self, st, env)
        elif isinstance(st, ast.ScenariosDecl):
            declare_scenarios(self, st, env)
        elif isinstance(st, ast.SurrogateDecl):
            from qgridlang.semantics.surrogates import declare

            declare(self, st, env)
        elif isinstance(st, ast.PolicyDecl):
            from qgridlang.semantics.policies import declare as declare_policy

            declare_policy(self, st, env)
        elif isinstance(st, ast.QuantumBlock):
            if self.quantum is not None:
                raise TypeMismatch("a model has one quantum block", st.span)
            self.quantum = st
        elif isinstance(st, ast.Import | ast.Use):
            raise TypeMismatch("imports are resolved before checking", st.span)

    # ---- sets -----------------------------------------------------------------------------
    def _set(self, st: ast.SetDecl, env: Env) -> None:
        if isinstance(st.value, ast.Call) and st.value.name == "csv":
            from qgridlang.semantics.params import set_from_csv

            dom = set_from_csv(self, st.value, env)
        else:
            dom = self.ev.domain(st.value, env)
        if len(set(dom.elements)) != len(dom.elements):
            raise TypeMismatch(f"set '{st.name}' repeats an element", st.value.span)
        if st.name in self.subsets and env.scope is self.model:
            keep = self.subsets.pop(st.name)
            outside = [e for e in keep if e not in dom.position]
            if outside:
                raise TypeMismatch(f"subset of '{st.name}' names {outside[0]!r}, which is not in "
                                   f"{dom.describe()}", st.span)
            wanted = set(keep)
            dom = SetValue(dom.name, [e for e in dom.elements if e in wanted], dom.span,
                           dropped=frozenset(e for e in dom.elements if e not in wanted))
        step = None
        if st.step is not None:
            step = Scalar(st.step.value, U.unit_at(st.step.unit, st.step.span))
            if step.unit is None or step.unit.pint.dimensionality != U.parse_unit("h").pint.\
                    dimensionality:
                raise TypeMismatch(f"the step of time set '{st.name}' must be a duration, got "
                                   f"{U.describe(step.unit)}", st.step.span)
            if not float(step.value) > 0.0:
                # dt would be 0: every energy term vanishes and the model means nothing
                raise TypeMismatch(f"the step of time set '{st.name}' must be positive, got "
                                   f"{float(step.value):g} {st.step.unit}", st.step.span)
        s = SetValue(st.name, list(dom.elements), st.span, step, dropped=dom.dropped)
        env.scope.define(st.name, s, st.span)
        if step is not None:
            self.time_sets.append(s)

    # ---- variables ------------------------------------------------------------------------
    def declare_var(self, st: ast.VarDecl, env: Env) -> None:
        scope = env.scope
        unit = U.unit_at(st.unit.text, st.unit.span) if st.unit else U.DIMENSIONLESS
        items = st.index.items if st.index else ()
        where = st.index.where if st.index else None
        qname = scope.prefix + st.name
        data = VarData(qname, self.ev.domains(items, env), unit, st.kind, st.span)
        keys: list[Key] = []
        start = len(self.lb)
        broken = False
        got = self.vec.var(st, env, unit)  # keys and bounds with arrays, else one by one
        if got is not None:
            keys, lo_a, hi_a, codes = got
            data.cols = dict(zip(keys, range(start, start + len(keys)), strict=True))
            self.vec.columns(data, codes, start)
            self.lb.extend(lo_a.tolist())
            self.ub.extend(hi_a.tolist())
            self.kind.extend([KIND_CODE[st.kind]] * len(keys))
        for e2, key, _ in () if got is not None else self.ev.iterate(
                items, where, env, (f"var {st.name}", "columns", st.span)):
            if broken:
                lo, hi = -INF, INF
            else:
                try:
                    lo, hi = self._bounds(st, e2, unit)
                except (QglError, Suppressed) as exc:
                    # A bad bound is reported once; the variable is still declared (with open
                    # bounds; the model is not built anyway) so the statements that use it are
                    # checked and their own mistakes reported.
                    if isinstance(exc, UsageError):
                        raise
                    errs = [_index_hint(exc, st)] if isinstance(exc, QglError) else \
                        unresolved_names(st, scope)
                    for err in errs:
                        self.errors.add(err)
                    broken = True
                    lo, hi = -INF, INF
            data.cols[key] = len(self.lb)
            keys.append(key)
            self.lb.append(lo)
            self.ub.append(hi)
            self.kind.append(KIND_CODE[st.kind])
        shown = R.variable_unit(scope.user_units, unit, (st.low, st.high))
        self.blocks.append(VarBlock(qname, st.kind, U.unit_text(unit), tuple(keys), start,
                                    st.span,  # type: ignore[arg-type]
                                    index=tuple(s.name if s else "?" for s in data.sets),
                                    report_unit=None if shown.text == unit.text
                                    else U.unit_text(shown),
                                    report_scale=R.scale(unit, shown)))
        scope.define(st.name, data, st.span)

    def _bounds(self, st: ast.VarDecl, env: Env, unit: U.Unit) -> tuple[float, float]:
        if st.kind == "binary":
            first = st.low if st.low is not None else st.high
            if first is not None:
                raise TypeMismatch(f"binary variable '{st.name}' takes no bounds", first.span,
                                   "binaries are 0 or 1; use `integer in a .. b` for a range")
            return 0.0, 1.0
        # An open side (no bound written) is infinite: a variable without bounds is free.
        bounds = [-INF, INF]
        for i, node in enumerate((st.low, st.high)):
            if node is None:
                continue
            s = self.ev.constant(node, env, f"a bound of '{st.name}'")
            if np.ndim(s.value) != 0:
                raise TypeMismatch(f"a bound of '{st.name}' must be one number", node.span)
            v = float(s.value)
            if np.isinf(v) and (v > 0) == (i == 0):
                side = "lower" if i == 0 else "upper"
                raise TypeMismatch(f"the {side} bound of '{st.name}' is {v:g}: no value fits",
                                   node.span, "an open side is written `-inf` (lower) or `inf` "
                                   "(upper), or left out")
            f = U.convert(s.unit, unit, node.span, f"bound of '{st.name}'")
            bounds[i] = v * f
        lo, hi = bounds
        if st.kind == "integer":
            lo, hi = float(np.ceil(lo - 1e-9)), float(np.floor(hi + 1e-9))
        if lo > hi + 1e-9:
            raise TypeMismatch(f"'{st.name}' has an empty domain: {lo:g} > {hi:g}", st.span)
        return lo, hi

    # ---- named expressions ----------------------------------------------------------------
    def declare_expr(self, st: ast.Node, env: Env, name: str, unit_node: ast.UnitExpr | None,
                     value: ast.Expr, index: ast.IndexSpec | None = None,
                     is_port: bool = False) -> ExprData:
        index = index if index is not None else getattr(st, "index", None)
        items = index.items if index else ()
        where = index.where if index else None
        unit = U.unit_at(unit_node.text, unit_node.span) if unit_node else None
        data = ExprData(env.scope.prefix + name, self.ev.domains(items, env), unit, st.span,
                        value, env.scope, names=tuple(it.var or "" for it in items),
                        is_port=is_port)
        for _e2, key, elems in self.ev.iterate(items, where, env, (f"expr {name}", "elements",
                                                                   st.span)):
            data.keys[key] = elems
        data.env = env
        env.scope.define(name, data, st.span)
        self.exprs.append(data)
        return data

    def expr_value(self, data: ExprData, key: Key, span: Span) -> Scalar | Affine:
        hit = data.cache.get(key)
        if hit is not None:
            return hit
        if not data.cache and len(data.keys) > 1 and id(data) not in self._vec_tried:
            # first use of an indexed expression (e.g. inside expected(…) in the objective,
            # before the pass over declarations): every element at once with arrays if it can
            self._vec_tried.add(id(data))
            if self.vec.expr(data):
                hit = data.cache.get(key)
                if hit is not None:
                    return hit
        elems = data.keys.get(key)
        if elems is None:
            raise TypeMismatch(f"{data.name}{_show(key)} is not defined (outside its index "
                               "filter)", span)
        env: Env = data.env
        for nm, el in zip(data.names, elems, strict=True):
            env = env.with_(nm, el) if nm else env
        if data.busy:
            raise TypeMismatch(f"expression '{data.name}' refers to itself", data.span)
        data.busy = True
        try:
            v = self.ev.numeric(data.node, env, f"expression '{data.name}'")
        finally:
            data.busy = False
        if data.unit is not None:
            f = U.convert(v.unit, data.unit, data.node.span, f"expression '{data.name}'")
            v = Scalar(v.value * f, data.unit) if isinstance(v, Scalar) else v.scaled(f, data.unit)
        data.cache[key] = v
        return v

    def _evaluate_expr(self, data: ExprData) -> None:
        if self.vec.expr(data):  # every element at once with arrays (else one by one below)
            return
        for key in data.keys:
            self.expr_value(data, key, data.span)

    # ---- constraints ----------------------------------------------------------------------
    def declare_constraint(self, st: ast.ConstraintDecl, env: Env) -> None:
        if not isinstance(st.body, ast.Compare) or any(op in ("<", ">", "!=") for op in
                                                        st.body.ops):
            raise TypeMismatch(f"constraint '{st.name}' must be a comparison with ==, <= or >=",
                               st.body.span, "strict < and > are not allowed in constraints")
        items = st.index.items if st.index else ()
        where = st.index.where if st.index else None
        qname = env.scope.prefix + st.name
        first = len(self.rows)
        if not self.vec.constraint(st, env, qname):  # all rows at once with arrays, or:
            for e2, key, _ in self.ev.iterate(items, where, env, (f"constraint {st.name}",
                                                                 "rows", st.span)):
                self.add_rows(st.body, e2, qname, key, st.span)
        index = tuple(s.name if s else "?" for s in self.ev.domains(items, env))
        self._report_rows(first, env.scope.user_units, index)

    def batched_constraint(self, st: ast.ConstraintDecl, scope: Scope, rows: Any, k: int) -> None:
        """:meth:`declare_constraint` for instance ``k`` of a component whose instances had
        ``st`` expanded together (``rows``: :meth:`Vectoriser.batch`)."""
        first = len(self.rows)
        self.vec.emit(rows, k, scope.prefix + st.name, st.span)
        self._report_rows(first, scope.user_units, rows.index)

    def _report_rows(self, first: int, user_units: dict[str, U.Unit],
                     index: tuple[str, ...]) -> None:
        """Give rows ``first ..`` their index sets' names and the unit their values are
        reported in (report_units rules)."""
        shown: dict[str, tuple[str | None, float]] = {}
        for k in range(first, len(self.rows)):
            r = self.rows[k]
            if r.unit not in shown:
                unit = U.parse_unit(r.unit)
                to = R.value_unit(user_units, unit)
                shown[r.unit] = (None if to is None or to.text == r.unit else U.unit_text(to),
                                 R.scale(unit, to))
            rep, f = shown[r.unit]
            # built directly: dataclasses.replace costs ~10 µs a row (introspection)
            self.rows[k] = RowInfo(r.name, r.key, r.unit, r.span, rep, f, r.dual_unit,
                                   r.dual_scale, index)

    def add_rows(self, body: ast.Compare, env: Env, name: str, key: Key, span: Span) -> None:
        vals = [self.ev.numeric(o, env, f"constraint '{name}'") for o in body.operands]
        for (a, b), node in zip(zip(vals, vals[1:]), body.operands[1:], strict=True):
            U.check_comparison(a.unit, _constant(a), b.unit, _constant(b), node.span)
        if len(vals) == 3 and all(isinstance(v, Scalar) or not (v.lin or v.quad)
                                  for v in (vals[0], vals[2])) and body.ops[0] == body.ops[1] \
                and body.ops[0] != "==":
            lo, mid, hi = vals if body.ops[0] == "<=" else vals[::-1]
            self._row(mid, lo, hi, name, key, span, body.operands[1].span)
            return
        for (a, b), op, node in zip(zip(vals, vals[1:]), body.ops, body.operands[1:], strict=True):
            diff = _sub(a, b, node.span)
            if op == "==":
                self._row(diff, Scalar(0.0), Scalar(0.0), name, key, span, node.span)
            elif op == "<=":
                self._row(diff, None, Scalar(0.0), name, key, span, node.span)
            else:
                self._row(diff, Scalar(0.0), None, name, key, span, node.span)

    def _row(self, expr: Scalar | Affine, lo: Scalar | Affine | None,
             hi: Scalar | Affine | None, name: str, key: Key, span: Span, at: Span) -> None:
        a = expr if isinstance(expr, Affine) else Affine({}, {}, float(expr.value), expr.unit)
        if a.quad:
            raise UnsupportedConstruct(f"constraint {name}{_show(key)} is quadratic; qgl "
                                       "constraints must be linear", at,
                                       "keep quadratic terms in the objective")
        unit = a.unit
        bounds = []
        for b in (lo, hi):
            if b is None:
                bounds.append(None)
                continue
            f = U.into(b.unit, unit, at, "cannot compare")  # a bare 1 is 100 against a %
            bounds.append((b.const if isinstance(b, Affine) else float(b.value)) * f - a.const)
        lo_v = -INF if bounds[0] is None else bounds[0]
        hi_v = INF if bounds[1] is None else bounds[1]
        coefs = {k: v for k, v in a.lin.items() if v != 0.0}
        if not coefs:
            # the tolerance scales with the finite bounds only: an open side is ±inf
            tol = 1e-9 * max([1.0, *(abs(v) for v in (lo_v, hi_v) if np.isfinite(v))])
            if lo_v > tol or hi_v < -tol:
                raise TypeMismatch(f"constraint {name}{_show(key)} can never hold "
                                   f"({_bounds_text(lo_v, hi_v)} for a constant 0)", at)
            return
        r = len(self.rows)
        self.r_rows.extend([r] * len(coefs))
        self.r_cols.extend(coefs.keys())
        self.r_vals.extend(coefs.values())
        self.row_lo.append(lo_v)
        self.row_hi.append(hi_v)
        self.rows.append(RowInfo(name, key, U.unit_text(unit), span))

    # ---- objective ------------------------------------------------------------------------
    def _objective(self, st: ast.Objective, env: Env) -> None:
        if self.objective is not None:
            raise TypeMismatch("a model has one objective (a weighted sum may combine terms)",
                               st.span, f"the first is at line {self.objective.span.line}")
        v = self.vec.objective(st, env)  # with arrays, else element by element
        if v is None:
            v = self.ev.numeric(st.value, env, "the objective")
        self.objective = Objective(st.sense, st.name or "objective",
                                   v if isinstance(v, Affine) else Affine({}, {}, float(v.value),
                                                                          v.unit), st.span)

    # ---- buses ----------------------------------------------------------------------------
    def _bus_balances(self) -> None:
        for bus, node in ((bus, node) for bus in self.buses for node in bus.nodes):
            assert bus.over is not None
            name, span = node.name, node.span
            attached = bus.attached.get(name, [])
            first = len(self.rows)
            for t in bus.over.elements:
                total: Affine | None = None
                for port in attached:
                    v = self.expr_value(port, (t,), port.span)
                    v = v if isinstance(v, Affine) else Affine({}, {}, float(v.value), v.unit)
                    if total is None:
                        total = Affine.zero(v.unit)
                    f = U.convert(v.unit, total.unit, port.span, f"bus {bus.prefix[:-1]}")
                    total.iadd(v, f)
                if total is not None:
                    self._row(total, Scalar(0.0), Scalar(0.0), bus.prefix + name, (t,), span,
                              span)
            if attached:  # the balance is in the first port's unit: report it like that port
                self._report_rows(first, attached[0].scope.user_units, (bus.over.name,))

    # ---- assembly -------------------------------------------------------------------------
    def flat(self) -> FlatModel:
        n = len(self.lb)
        A = sp.csr_matrix((np.asarray(self.r_vals, float), (np.asarray(self.r_rows, np.int64),
                                                             np.asarray(self.r_cols, np.int64))),
                          shape=(len(self.rows), n))
        A.sum_duplicates()
        blocks = list(self.blocks) + self.risk.blocks
        c = np.zeros(n)
        qi = qj = np.zeros(0, np.int64)
        qv = np.zeros(0)
        const = 0.0
        obj = self.objective
        obj_unit, f_obj = self._objective_unit()
        if obj is not None:
            lin, quad = obj.value.lin, obj.value.quad
            np.add.at(c, np.fromiter(lin.keys(), np.int64, len(lin)),
                      np.fromiter(lin.values(), float, len(lin)) * f_obj)
            pairs = np.fromiter((k for ij in quad for k in ij), np.int64, 2 * len(quad))
            qv_all = np.fromiter(quad.values(), float, len(quad))
            nz = qv_all != 0.0
            qi, qj, qv = pairs[0::2][nz], pairs[1::2][nz], qv_all[nz] * f_obj
            const = obj.value.const * f_obj
        infos, e_rows, e_cols, e_vals, e_const = [], [], [], [], []
        eq: list[list[float]] = [[], [], [], []]
        for data in self.exprs:
            index = tuple(s.name if s else "?" for s in data.sets)
            shown: dict[U.Unit | None, ExprInfo] = {}  # the reporting unit, once per unit
            for key in data.keys:
                v = self.expr_value(data, key, data.span)
                r = len(infos)
                if v.unit not in shown:
                    shown[v.unit] = self._expr_info(data, (), v.unit, index)
                e = shown[v.unit]
                infos.append(ExprInfo(e.name, key, e.unit, e.report_unit, e.report_scale,
                                      e.index))
                if isinstance(v, Scalar):
                    e_const.append(float(np.mean(v.value)))
                    continue
                e_const.append(v.const)
                for k, val in v.lin.items():
                    e_rows.append(r)
                    e_cols.append(k)
                    e_vals.append(val)
                for (i, j), val in v.quad.items():
                    for lst, x in zip(eq, (r, i, j, val), strict=True):
                        lst.append(x)
        E = sp.csr_matrix((np.asarray(e_vals, float), (np.asarray(e_rows, np.int64),
                                                        np.asarray(e_cols, np.int64))),
                          shape=(len(infos), n))
        return FlatModel(
            name=self.model_name, blocks=blocks, lb=np.asarray(self.lb, float),
            ub=np.asarray(self.ub, float), kind=np.asarray(self.kind, np.int8), A=A,
            row_lo=np.asarray(self.row_lo, float), row_hi=np.asarray(self.row_hi, float),
            rows=self._dual_units(obj_unit), c=c,
            Q=(np.asarray(qi, np.int64), np.asarray(qj, np.int64), np.asarray(qv, float)),
            obj_const=const, sense="max" if obj and obj.sense == "max" else "min",
            obj_name=obj.name if obj else "", obj_unit=U.unit_text(obj_unit),
            obj_span=obj.span if obj else None, exprs=infos, E=E, e_const=np.asarray(e_const),
            e_quad=(np.asarray(eq[0], np.int64), np.asarray(eq[1], np.int64),
                    np.asarray(eq[2], np.int64), np.asarray(eq[3], float)),
            quantum=self.qspec, warnings=list(self.warnings),
            scenarios={k: np.asarray(v, float) for k, v in self.scenarios.items()},
            sampled=dict(self.sampled),
            surrogates=dict(self.surrogates), surrogate_links=list(self.surrogate_links),
            surrogate_models=dict(self.trained_surrogates), policies=dict(self.policies),
            systems=dict(self.systems), controllers=dict(self.controllers),
            simulations=dict(self.simulations),
        )

    def _objective_unit(self) -> tuple[U.Unit | None, float]:
        """The objective's unit written compactly (``$/MWh*MW`` is ``$/h``) and the factor into
        it; warns (once) when the objective has a dimension but is not an amount of money."""
        obj = self.objective
        if obj is None or obj.value.unit is None:
            return None, 1.0
        unit, f = R.compact(obj.value.unit)
        if not unit.dimensionless and not R.is_currency(unit) and not any(
                w.span == obj.span for w in self.warnings):
            money_rate = R.is_currency(U.Unit(unit.pint * U.parse_unit("h").pint, ""))
            hint = ("it is a rate (money per time): multiply the per-period costs by the period "
                    "length (`* dt`) to get an amount" if money_rate else
                    "a cost objective multiplies quantities by prices, e.g. "
                    "`sum(t in T) price[t] * p[t] * dt` in $")
            self.warnings.append(QglWarning(
                f"the objective '{obj.name}' is in {unit.text}, not a currency amount", obj.span,
                hint))
        return unit, f

    def _expr_info(self, data: ExprData, key: Key, unit: U.Unit | None,
                   index: tuple[str, ...]) -> ExprInfo:
        """An expression's element with the unit it is reported in (report_units rules): a
        top-level expression keeps its declared unit."""
        user = data.scope.user_units
        shown = unit if data.unit is not None and not user else R.value_unit(user, unit)
        text, shown_text = U.unit_text(unit), U.unit_text(shown)
        return ExprInfo(data.name, key, text, None if shown_text == text else shown_text,
                        R.scale(unit, shown), index)

    def _dual_units(self, obj_unit: U.Unit | None) -> list[RowInfo]:
        """Rows with the unit of their duals: objective unit per row (report) unit."""
        cache: dict[str, tuple[str, float]] = {}
        out = []
        for r in self.rows:
            shown = r.shown_unit
            if shown not in cache:
                row = U.parse_unit(shown)
                top = obj_unit if obj_unit is not None else U.DIMENSIONLESS
                ratio = top.pint / row.pint
                if row.dimensionless:
                    cache[shown] = (U.unit_text(top), 1.0)
                elif U._REGISTRY.Quantity(1.0, ratio).dimensionless:  # $ per $: a plain number
                    cache[shown] = ("", float(U._REGISTRY.Quantity(1.0, ratio).to("").magnitude))
                else:
                    text = (top.text if U.unit_text(top) else "1") + "/" + (
                        f"({row.text})" if "/" in row.text or "*" in row.text else row.text)
                    unit, f = R.compact(U.Unit(ratio, text))
                    cache[shown] = (U.unit_text(unit), f)
            text, f = cache[shown]
            out.append(RowInfo(r.name, r.key, r.unit, r.span, r.report_unit, r.report_scale,
                               text, f / r.report_scale, r.index))
        return out

    @property
    def surrogate_names(self) -> list[str]:
        return list(self.surrogates)

    def surrogate_call(self, node: ast.CallIndex, env: Env) -> Scalar | Affine:
        from qgridlang.semantics.surrogates import call_value

        return call_value(self, node, env)

    def new_columns(self, name: str, kind: str, unit: U.Unit | None, keys: list[Key],
                    lo: float, hi: float, span: Span, index: tuple[str, ...] = ()) -> int:
        """Columns the checker introduces itself (auxiliary, e.g. the CVaR epigraph)."""
        start = len(self.lb)
        for _ in keys:
            self.lb.append(lo)
            self.ub.append(hi)
            self.kind.append(KIND_CODE[kind])
        self.risk.blocks.append(VarBlock(name, kind, U.unit_text(unit), tuple(keys), start, span,
                                         auxiliary=True, index=index))  # type: ignore[arg-type]
        return start


def _sub(a: Scalar | Affine, b: Scalar | Affine, span: Span) -> Scalar | Affine:
    from qgridlang.semantics.values import add

    return add(a, b, -1.0, span)


def _constant(v: Scalar | Affine) -> float:
    """The value of a constant operand (NaN for one with variables: never ambiguous)."""
    if isinstance(v, Scalar):
        return float(v.value)
    return float(v.const) if not (v.lin or v.quad) else float("nan")


def _show(key: Key) -> str:
    return "[" + ", ".join(str(k) for k in key) + "]" if key else ""


def _bounds_text(lo: float, hi: float) -> str:
    if lo == hi:
        return f"== {lo:g}"
    parts = []
    if lo > -INF:
        parts.append(f">= {lo:g}")
    if hi < INF:
        parts.append(f"<= {hi:g}")
    return " and ".join(parts)


def _index_hint(err: QglError, node: ast.Node | None) -> QglError:
    """``var p[G, T]: MW in 0 .. cap[g]``: a name used but left anonymous in the index."""
    index = getattr(node, "index", None)
    used = re.match(r"'([^']+)' is neither a name nor an element", err.message)
    if used is None or not isinstance(index, ast.IndexSpec):
        return err
    parts, guessed = [], set()
    for it in index.items:
        dom = it.domain.parts[0].name if isinstance(it.domain, ast.Ref) and \
            len(it.domain.parts) == 1 else "…"
        var = it.var or (dom.lower() if dom != "…" else "i")
        if it.var is None:
            guessed.add(var)
        parts.append(f"{var} in {dom}")
    if used[1] in guessed:  # `g` with an anonymous `G`: the index was meant (not a label)
        err.hint = f"name the index to use it: {getattr(node, 'name', '')}[{', '.join(parts)}]"
    return err


def _defined(st: ast.Statement) -> list[str]:
    if isinstance(st, ast.ParamDecl):
        return [h.name for h in st.heads]
    if isinstance(st, ast.ScenariosDecl):
        return [s.name for s in st.samples]
    name = getattr(st, "name", None)
    return [name] if isinstance(name, str) and not isinstance(st, ast.ModelDecl) else []


def iter_statements(statements: list[ast.Statement]) -> Iterator[ast.Statement]:
    yield from statements
