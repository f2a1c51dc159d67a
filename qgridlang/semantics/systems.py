"""``system`` declarations: signals, their units, and ``der`` equations checked and lowered.

A system lowers to :class:`qgridlang.control.spec.SystemSpec`: every value in its signal's
declared unit and time in seconds. Each ``der x`` must have x's unit per time (converted to per
second: ``der soc = -pb * Sbase / EB`` is in 1/h and becomes 1/3600 per second); when every
right-hand side and output is affine in the signals the system also gets its matrices (A, B, E,
c; C, D, F, g), which the linear tools (discretisation, DARE, MPC) need.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from qgridlang import ast
from qgridlang.control.spec import LinearDynamics, Signal, SystemSpec
from qgridlang.errors import Span, TypeMismatch, UnitMismatch, UnknownName, did_you_mean
from qgridlang.semantics import units as U
from qgridlang.semantics.evaluate import Env
from qgridlang.semantics.scope import Scope
from qgridlang.semantics.symbolic import Sym, SymbolicEvaluator, rate_factor


@dataclass
class SystemData:
    """What the checker keeps of a system: its spec, its scope (its parameters) and symbols."""

    spec: SystemSpec
    scope: Scope
    units: dict[str, U.Unit | None]  # every signal's unit
    outputs: dict[str, Sym]  # output definitions over [x; u; w]
    span: Span


def declare_system(b: Any, st: ast.SystemDecl) -> None:
    from qgridlang.semantics.params import check_param_bounds, declare_param

    if st.name in b.systems:
        raise TypeMismatch(f"system '{st.name}' is already declared at line "
                           f"{b.systems[st.name].span.line}", st.span)
    # the system's own parameters are visible in it (and in its controllers), not outside
    scope = Scope(prefix=f"{st.name}.", items=dict(b.model.items))
    env = Env(scope)
    for item in st.body:
        if isinstance(item, ast.ParamDecl):
            declare_param(b, item, env)
            check_param_bounds(b, item, env)
    signals: dict[str, list[tuple[ast.SignalItem, U.Unit | None]]] = {
        "state": [], "input": [], "disturbance": [], "output": []}
    seen: dict[str, Span] = {}
    for item in st.body:
        if not isinstance(item, ast.SignalDecl):
            continue
        for s in item.items:
            if s.name in seen:
                raise TypeMismatch(f"signal '{s.name}' is already declared at line "
                                   f"{seen[s.name].line}", s.span)
            if scope.lookup(s.name) is not None:
                raise TypeMismatch(f"'{s.name}' is a parameter; a signal needs its own name",
                                   s.span)
            seen[s.name] = s.span
            unit = U.unit_at(s.unit.text, s.unit.span) if s.unit else None
            if item.kind == "output" and s.value is None:
                raise TypeMismatch(f"output '{s.name}' needs its definition", s.span,
                                   f"e.g. output {s.name}: Hz = f0 * df")
            if item.kind in ("input", "disturbance") and s.value is not None:
                raise TypeMismatch(f"{item.kind} '{s.name}' takes no value here", s.value.span,
                                   "inputs come from a controller, disturbances from "
                                   "`simulate … { name = step(…) }`")
            signals[item.kind].append((s, unit))
    states, inputs, dists = signals["state"], signals["input"], signals["disturbance"]
    if not states:
        raise TypeMismatch(f"system '{st.name}' has no state", st.span,
                           "declare one: state x: pu, and its equation: der x = …")
    order = states + inputs + dists
    symbols = {s.name: (i, unit) for i, (s, unit) in enumerate(order)}
    units = {s.name: unit for s, unit in order}

    def constant(node: ast.Expr) -> Any:
        return b.ev.constant(node, env, "this value")

    ev = SymbolicEvaluator(symbols, len(order), constant)
    ders: dict[str, tuple[ast.DerDecl, Sym, float]] = {}
    for item in st.body:
        if not isinstance(item, ast.DerDecl):
            continue
        if item.name not in units or item.name not in {s.name for s, _ in states}:
            kind = next((k for k, group in signals.items()
                         if any(s.name == item.name for s, _ in group)), None)
            if kind is not None:
                raise TypeMismatch(f"'{item.name}' is {_article(kind)} {kind}; only a state "
                                   "has a derivative", item.name_span,
                                   f"declare it: state {item.name}")
            raise UnknownName(f"no state '{item.name}' in system '{st.name}'", item.name_span,
                              did_you_mean(item.name, [s.name for s, _ in states]))
        if item.name in ders:
            raise TypeMismatch(f"der {item.name} is given twice (first at line "
                               f"{ders[item.name][0].span.line})", item.span)
        sym = ev.eval(item.value)
        ders[item.name] = (item, sym, rate_factor(sym.unit, units[item.name],
                                                  item.value.span, item.name))
    for s, _ in states:
        if s.name not in ders:
            raise TypeMismatch(f"state '{s.name}' has no equation", s.span,
                               f"write der {s.name} = …")

    outs: dict[str, Sym] = {}
    out_signals: list[Signal] = []
    out_factor: list[float] = []
    for s, unit in signals["output"]:
        assert s.value is not None
        sym = ev.eval(s.value)
        if unit is None:
            unit = sym.unit
            k = 1.0
        else:
            k = U.into(sym.unit, unit, s.value.span, f"output '{s.name}'")
        outs[s.name] = sym
        out_factor.append(k)
        out_signals.append(Signal(s.name, "output", U.unit_text(unit), span=s.span))
        units[s.name] = unit

    def signal(s: ast.SignalItem, unit: U.Unit | None, kind: Any) -> Signal:
        lo = _in_unit(b, s.low, unit, env) if s.low is not None else None
        hi = _in_unit(b, s.high, unit, env) if s.high is not None else None
        if lo is not None and hi is not None and lo > hi:
            raise TypeMismatch(f"'{s.name}' in {lo:g} .. {hi:g}: the range is empty", s.span)
        init = 0.0
        if kind == "state" and s.value is not None:
            init = _in_unit(b, s.value, unit, env)
            if (lo is not None and init < lo) or (hi is not None and init > hi):
                raise TypeMismatch(f"state '{s.name}' starts at {init:g}, outside its range",
                                   s.value.span)
        return Signal(s.name, kind, U.unit_text(unit), lo, hi, init, s.span)

    st_sig = tuple(signal(s, u, "state") for s, u in states)
    in_sig = tuple(signal(s, u, "input") for s, u in inputs)
    di_sig = tuple(signal(s, u, "disturbance") for s, u in dists)
    n, m = len(states), len(inputs)
    der_syms = [ders[s.name] for s, _ in states]
    linear = _linear(der_syms, list(outs.values()), out_factor, n, m, len(dists))
    rhs_fns = [(sym.fn, k) for _, sym, k in der_syms]
    out_fns = [(sym.fn, k) for sym, k in zip(outs.values(), out_factor, strict=True)]

    def rhs(t: float, x: np.ndarray, u: np.ndarray, w: np.ndarray) -> np.ndarray:
        z = np.concatenate([x, u, w])
        return np.array([k * f(z) for f, k in rhs_fns])

    def output_map(x: np.ndarray, u: np.ndarray, w: np.ndarray) -> np.ndarray:
        z = np.concatenate([x, u, w])
        return np.array([k * f(z) for f, k in out_fns])

    spec = SystemSpec(st.name, st_sig, in_sig, di_sig, tuple(out_signals), rhs, output_map,
                      linear, st.span)
    b.systems[st.name] = SystemData(spec, scope, units, outs, st.span)


def _article(kind: str) -> str:
    return "an" if kind[0] in "aeiou" else "a"


def _in_unit(b: Any, node: ast.Expr, unit: U.Unit | None, env: Env) -> float:
    v = b.ev.constant(node, env, "a signal's value")
    value = np.asarray(v.value, float)
    if value.ndim:
        raise TypeMismatch("this is not one number", node.span)
    try:
        return float(value) * U.into(v.unit, unit, node.span, "the value")
    except UnitMismatch as exc:
        raise UnitMismatch(f"{exc.message} (the signal is in {U.describe(unit)})",
                           node.span) from None


def _linear(ders: list[tuple[ast.DerDecl, Sym, float]], outs: list[Sym], out_factor: list[float],
            n: int, m: int, p: int) -> LinearDynamics | None:
    """The matrices when every equation and output is affine in the signals."""
    syms = [s for _, s, _ in ders] + outs
    if any(s.poly is None or s.poly.degree > 1 for s in syms):
        return None
    G = np.array([s.poly.g * k for (_, s, k) in ders]).reshape(n, n + m + p)  # type: ignore[union-attr]
    c = np.array([s.poly.c * k for (_, s, k) in ders])  # type: ignore[union-attr]
    q = len(outs)
    H = (np.array([s.poly.g * k for s, k in zip(outs, out_factor, strict=True)])  # type: ignore[union-attr]
         .reshape(q, n + m + p))
    g = np.array([s.poly.c * k for s, k in zip(outs, out_factor, strict=True)])  # type: ignore[union-attr]
    return LinearDynamics(A=G[:, :n], B=G[:, n:n + m], E=G[:, n + m:], c=c,
                          C=H[:, :n], D=H[:, n:n + m], F=H[:, n + m:], g=g)
