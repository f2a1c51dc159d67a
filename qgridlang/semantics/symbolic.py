"""Expressions over a system's signals: quadratic polynomials when they are, closures when not.

A ``der`` right-hand side, an output definition or a controller's stage cost is evaluated once
into a :class:`Sym`: its unit (checked the way the rest of the language checks units), a
polynomial ``c + gᵀz + zᵀQz`` in the signals ``z`` when the expression is one of degree at most
two (so that linear systems become matrices and stage costs become QPs), and always a closure
``z -> value`` built from the syntax tree (nonlinear systems are integrated with it). Nothing is
compiled from text.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from qgridlang import ast
from qgridlang.errors import Span, TypeMismatch, UnitMismatch, UnsupportedConstruct
from qgridlang.semantics import units as U

Fn = Callable[[np.ndarray], float]


@dataclass(frozen=True)
class Poly:
    """``c + g·z + zᵀ Q z`` (Q not necessarily symmetric)."""

    c: float
    g: np.ndarray
    Q: np.ndarray

    @property
    def degree(self) -> int:
        if np.any(self.Q):
            return 2
        return 1 if np.any(self.g) else 0

    def scaled(self, f: float) -> Poly:
        return Poly(self.c * f, self.g * f, self.Q * f)


@dataclass(frozen=True)
class Sym:
    unit: U.Unit | None
    fn: Fn
    poly: Poly | None  # None: not a polynomial of degree <= 2

    @property
    def constant(self) -> float | None:
        if self.poly is not None and self.poly.degree == 0:
            return self.poly.c
        return None


# functions of one plain number (their argument must be dimensionless)
_PLAIN: dict[str, Callable[[float], float]] = {
    "exp": math.exp, "log": math.log, "sqrt": math.sqrt, "sin": math.sin, "cos": math.cos,
    "tanh": math.tanh,
}


class SymbolicEvaluator:
    """Evaluate expressions whose names are signals (``symbols``) or parameters.

    ``constant(node)`` evaluates a node without signals (parameters, literals) to a
    :class:`~qgridlang.semantics.values.Scalar`; ``stage`` is the controller's stage index
    (``df[k]``), the only subscript a signal may carry.
    """

    def __init__(self, symbols: dict[str, tuple[int, U.Unit | None]], size: int,
                 constant: Callable[[ast.Expr], Any], stage: str | None = None,
                 substitute: dict[str, Sym] | None = None) -> None:
        self.symbols = symbols
        self.size = size
        self._constant = constant
        self.stage = stage
        self.substitute = substitute or {}
        self._mention: dict[int, bool] = {}  # node id -> names a signal (each subtree walked once)

    # ---- leaves -----------------------------------------------------------------------------
    def _const(self, value: float, unit: U.Unit | None) -> Sym:
        v = float(value)
        z = np.zeros(self.size)
        return Sym(unit, lambda _z, v=v: v, Poly(v, z, np.zeros((self.size, self.size))))

    def _symbol(self, i: int, unit: U.Unit | None) -> Sym:
        g = np.zeros(self.size)
        g[i] = 1.0
        return Sym(unit, lambda z, i=i: float(z[i]), Poly(0.0, g, np.zeros((self.size,
                                                                            self.size))))

    def _mentions(self, node: Any) -> bool:
        """Whether a subtree names a signal (else it is a constant of parameters); memoised,
        since :meth:`eval` asks it at every level of the tree."""
        key = id(node)
        hit = self._mention.get(key)
        if hit is not None:
            return hit
        if isinstance(node, ast.Ref):
            found = node.parts[0].name in self.symbols or node.parts[0].name in self.substitute
        elif isinstance(node, ast.Node):
            found = any([self._mentions(v) for v in _children(node)])
        else:
            found = False
        self._mention[key] = found
        return found

    # ---- the walk -------------------------------------------------------------------------
    def eval(self, node: ast.Expr) -> Sym:
        if not self._mentions(node):
            s = self._constant(node)
            value = np.asarray(s.value, float)
            if value.ndim:
                raise TypeMismatch("this is not one number (an indexed parameter needs its "
                                   "index)", node.span)
            return self._const(float(value), s.unit)
        if isinstance(node, ast.Ref):
            return self._ref(node)
        if isinstance(node, ast.BinOp):
            return self._binop(node)
        if isinstance(node, ast.Neg):
            a = self.eval(node.operand)
            fa = a.fn
            return Sym(a.unit, lambda z: -fa(z), a.poly.scaled(-1.0) if a.poly else None)
        if isinstance(node, ast.Call):
            return self._call(node)
        raise UnsupportedConstruct("this construct cannot use a system's signals", node.span,
                                   "signals combine with + - * / ^, min, max, abs, clip, exp, "
                                   "log, sqrt, sin, cos, tanh")

    def _ref(self, node: ast.Ref) -> Sym:
        part = node.parts[0]
        if len(node.parts) > 1:
            raise TypeMismatch(f"signal '{part.name}' has no members", node.span)
        if part.index is not None:
            ok = (self.stage is not None and len(part.index) == 1
                  and isinstance(part.index[0], ast.Ref)
                  and part.index[0].parts[0].name == self.stage
                  and part.index[0].parts[0].index is None)
            if not ok:
                where = (f"[{self.stage}] (the stage of the horizon)" if self.stage else
                         "none (a system's equations hold at every instant)")
                raise TypeMismatch(f"signal '{part.name}' takes no subscript here", part.span,
                                   f"its subscript: {where}")
        elif self.stage is not None:
            raise TypeMismatch(f"write {part.name}[{self.stage}]: the cost sums over the "
                               f"stages {self.stage} of the horizon", part.span)
        if part.name in self.substitute:
            return self.substitute[part.name]
        i, unit = self.symbols[part.name]
        return self._symbol(i, unit)

    def _binop(self, node: ast.BinOp) -> Sym:
        if node.op in ("and", "or"):
            raise UnsupportedConstruct(f"'{node.op}' is not a number", node.span)
        a = self.eval(node.left)
        if node.op == "^":
            return self._power(a, node)
        b = self.eval(node.right)
        fa, fb = a.fn, b.fn
        if node.op in ("+", "-"):
            unit, ka, kb = U.reconcile(a.unit, b.unit, node.span,
                                       "adding" if node.op == "+" else "subtracting")
            sb = 1.0 if node.op == "+" else -1.0
            kb *= sb
            poly = None
            if a.poly is not None and b.poly is not None:
                poly = Poly(ka * a.poly.c + kb * b.poly.c, ka * a.poly.g + kb * b.poly.g,
                            ka * a.poly.Q + kb * b.poly.Q)
            return Sym(unit, lambda z: ka * fa(z) + kb * fb(z), poly)
        if node.op == "*":
            unit, k = _product(a.unit, b.unit, U.multiply)
            poly = _times(a.poly, b.poly, k)
            return Sym(unit, lambda z: k * fa(z) * fb(z), poly)
        assert node.op == "/"
        unit, k = _product(a.unit, b.unit, U.divide)
        cb = b.constant
        if cb is not None:
            if cb == 0.0:
                raise TypeMismatch("division by zero", node.right.span)
            poly = a.poly.scaled(k / cb) if a.poly is not None else None
            return Sym(unit, lambda z: k * fa(z) / cb, poly)
        if b.unit is not None and a.unit is None:
            unit, k = U.divide(U.DIMENSIONLESS, b.unit)
        return Sym(unit, lambda z: k * fa(z) / fb(z), None)

    def _power(self, a: Sym, node: ast.BinOp) -> Sym:
        if self._mentions(node.right):
            raise UnsupportedConstruct("an exponent cannot use a signal", node.right.span)
        e = self._constant(node.right)
        if e.unit is not None and U.unit_text(e.unit):
            raise UnitMismatch(f"an exponent is a plain number, not {U.describe(e.unit)}",
                               node.right.span)
        n = float(e.value)
        fa = a.fn
        if n.is_integer() and a.unit is not None:
            unit, k = U.power(a.unit, int(n))
        elif a.unit is None or a.unit.dimensionless:
            unit, k = a.unit, 1.0
        else:
            raise UnitMismatch(f"{U.describe(a.unit)} to the power {n:g}: use a whole power",
                               node.right.span)
        poly = None
        if a.poly is not None:
            if n == 0:
                poly = Poly(k, np.zeros(self.size), np.zeros((self.size, self.size)))
            elif n == 1:
                poly = a.poly.scaled(k)
            elif n == 2:
                poly = _times(a.poly, a.poly, k)
        return Sym(unit, lambda z: k * fa(z) ** n, poly)

    def _call(self, node: ast.Call) -> Sym:
        if node.kwargs:
            raise TypeMismatch(f"{node.name}() takes no named arguments here", node.span)
        args = [self.eval(a) for a in node.args]
        fns = [a.fn for a in args]
        if node.name in _PLAIN:
            if len(args) != 1:
                raise TypeMismatch(f"{node.name}() takes one argument", node.span)
            if args[0].unit is not None and U.plain_factor(args[0].unit) is None:
                raise UnitMismatch(f"{node.name}() takes a plain number, not "
                                   f"{U.describe(args[0].unit)}", node.args[0].span)
            k = U.plain_factor(args[0].unit) if args[0].unit is not None else 1.0
            f, fn0 = _PLAIN[node.name], fns[0]
            return Sym(None, lambda z: f(k * fn0(z)), None)
        if node.name == "abs":
            if len(args) != 1:
                raise TypeMismatch("abs() takes one argument", node.span)
            fn0 = fns[0]
            return Sym(args[0].unit, lambda z: abs(fn0(z)), None)
        if node.name in ("min", "max", "clip"):
            if (node.name == "clip") != (len(args) == 3) or len(args) < 2:
                raise TypeMismatch(f"{node.name}() takes " +
                                   ("(x, low, high)" if node.name == "clip" else
                                    "two or more arguments"), node.span)
            unit, ks = U.common([a.unit for a in args], node.span, f"{node.name}()")
            if node.name == "clip":
                fx, lo, hi = fns
                kx, kl, kh = ks
                return Sym(unit, lambda z: min(max(kx * fx(z), kl * lo(z)), kh * hi(z)), None)
            pick = min if node.name == "min" else max
            return Sym(unit, lambda z: pick(k * f(z) for k, f in zip(ks, fns, strict=True)),
                       None)
        raise UnsupportedConstruct(f"unknown function '{node.name}' on signals", node.span,
                                   "signals combine with + - * / ^, min, max, abs, clip, exp, "
                                   "log, sqrt, sin, cos, tanh")


def _product(a: U.Unit | None, b: U.Unit | None, op: Callable[[U.Unit, U.Unit], Any]
             ) -> tuple[U.Unit | None, float]:
    if a is None:
        return b, 1.0
    if b is None:
        return a, 1.0
    unit, k = op(a, b)
    return unit, float(k)


def _times(a: Poly | None, b: Poly | None, k: float) -> Poly | None:
    if a is None or b is None or a.degree + b.degree > 2:
        return None
    Q = k * (a.c * b.Q + b.c * a.Q + np.outer(a.g, b.g))
    return Poly(k * a.c * b.c, k * (a.c * b.g + b.c * a.g), Q)


def _children(node: ast.Node) -> list[Any]:
    out: list[Any] = []
    for name in type(node).model_fields:
        if name == "span":
            continue
        v = getattr(node, name)
        if isinstance(v, tuple):
            out.extend(x for x in v if isinstance(x, ast.Node))
        elif isinstance(v, ast.Node):
            out.append(v)
    return out


def rate_factor(rhs: U.Unit | None, state: U.Unit | None, span: Span, state_name: str) -> float:
    """Factor taking ``der x``'s right-hand side into x's unit per second.

    Raises:
        UnitMismatch: the right-hand side is not x's unit per time.
    """
    per_s, k_target = U.divide(state or U.DIMENSIONLESS, U.unit_at("s", None))
    shown = U.unit_text(state) or "a plain number"
    # as the user would write it (pint's simplest form of pu/s is Hz)
    want = f"{U.unit_text(state)}/s" if U.unit_text(state) else "1/s"
    if rhs is None:
        raise UnitMismatch(f"der {state_name}: the right-hand side is a bare number; "
                           f"{state_name} ({shown}) changes in {want}", span,
                           "divide by a time constant with its unit, e.g. `/ Tg` with "
                           "`param Tg = 0.05 s`")
    f = U.factor(rhs, per_s)
    if f is None:
        raise UnitMismatch(f"der {state_name}: the right-hand side is in {U.describe(rhs)}, "
                           f"but {state_name} ({shown}) changes in {want}", span,
                           "a state's derivative has the state's unit per second")
    return f / k_target
