"""Evaluate expressions of a model to numbers, set elements, sets and affine forms.

Nothing in a model is executed as code: this walks the AST and applies the language's own
operations. Index variables are bound in an :class:`Env`; named expressions are cached.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import numpy as np

from qgridlang import ast, limits
from qgridlang.errors import (
    NOWHERE,
    DimensionMismatch,
    LimitExceeded,
    QglError,
    Span,
    TypeMismatch,
    UnknownName,
    UnsupportedConstruct,
    did_you_mean,
)
from qgridlang.limits import SIZE_HINT, check_size, sci
from qgridlang.semantics import units as U
from qgridlang.semantics import values as V
from qgridlang.semantics.scope import (
    ExprData,
    InstanceData,
    Key,
    ParamData,
    Poisoned,
    Scope,
    VarData,
)
from qgridlang.semantics.values import Affine, Elem, Label, Scalar, SetValue


class RiskMeasures(Protocol):
    """``expected(…)`` and ``cvar(…)``: the owner's :class:`~qgridlang.semantics.risk.Risk`."""

    def expected(self, node: ast.Call, env: Env) -> Scalar | Affine: ...

    def cvar(self, node: ast.Call, env: Env) -> Affine: ...


class PositiveParts(Protocol):
    """``pos(…)``: the owner's :class:`~qgridlang.semantics.positive.Positive`."""

    def of(self, value: Scalar | Affine, node: ast.Expr) -> Scalar | Affine: ...


class Owner(Protocol):
    """What an :class:`Evaluator` uses of the builder that owns it. The builder satisfies it
    structurally; this module never imports the builder (no import cycle: tests/test_layout)."""

    @property
    def risk(self) -> RiskMeasures: ...

    @property
    def positive(self) -> PositiveParts: ...

    def expr_value(self, data: ExprData, key: Key, span: Span) -> Scalar | Affine: ...

    def surrogate_call(self, node: ast.CallIndex, env: Env) -> Scalar | Affine: ...

    @property
    def surrogate_names(self) -> list[str]: ...


class Suppressed(Exception):
    """A reference to a declaration that already failed: skip without a second message."""


@dataclass
class Env:
    """Where an expression is evaluated: a scope, bound index names, the innermost time set."""

    scope: Scope
    bind: dict[str, Elem] = field(default_factory=dict)
    time: SetValue | None = None
    rng: np.random.Generator | None = None  # set while sampling scenarios
    n_draws: int = 0

    def with_(self, name: str, elem: Elem) -> Env:
        bind = dict(self.bind)
        bind[name] = elem
        return Env(self.scope, bind, elem.set if elem.set.is_time else self.time, self.rng,
                   self.n_draws)


BUILTINS = ("first", "last", "prev", "next", "ord", "card", "min", "max", "abs", "sqrt", "exp",
            "log", "floor", "ceil", "round", "expected", "cvar", "sum", "dt", "pos")
DISTRIBUTIONS = ("normal", "uniform", "lognormal", "triangular", "exponential", "beta", "gamma",
                 "poisson", "bernoulli")


# A quantity with a physical unit may be raised to integer powers up to this size: beyond it the
# unit is meaningless (and pint's unit algebra takes time that grows with the exponent).
MAX_UNIT_POWER = 64

_N = TypeVar("_N", bound=ast.Expr)
_R = TypeVar("_R")
_TOO_LARGE = "the number is too large: its magnitude exceeds 1.8e308"
_OPERATION = {"+": "the sum", "-": "the difference", "*": "the product", "/": "the quotient",
              "^": "the power"}


def arithmetic(method: Callable[[Evaluator, _N, Env], _R]) -> Callable[[Evaluator, _N, Env], _R]:
    """The one guard on the evaluator's arithmetic: operators, negation, sums and function calls.

    Python and numpy signal failed arithmetic in several ways: exceptions (overflow, division by
    zero), complex results (``(-8) ^ 0.5``) and inf/NaN. Each becomes a :class:`TypeMismatch`
    at the innermost expression whose result is not a finite real number.
    """

    @functools.wraps(method)
    def guarded(self: Evaluator, node: _N, env: Env) -> _R:
        try:
            out = method(self, node, env)
            _check_real(out, node)
        except ArithmeticError as exc:  # OverflowError, ZeroDivisionError, FloatingPointError
            raise _arith_error(exc, node) from None
        return out

    return guarded


def _arith_error(exc: ArithmeticError, node: ast.Expr) -> TypeMismatch:
    """The located error for an exception of Python's arithmetic at ``node``."""
    what = _operation(node)
    if isinstance(exc, ZeroDivisionError):
        power = isinstance(node, ast.BinOp) and node.op == "^"
        return TypeMismatch(f"{what} is undefined: it divides by zero", node.span,
                            "0 raised to a negative power is 1 / 0" if power else None)
    return TypeMismatch(f"{what} overflows: its magnitude exceeds 1.8e308", node.span)


# the one-argument functions on arrays: numpy's (its round and Python's both round half to even),
# for scenario draws here and whole index domains in semantics.vector; and whether the result
# keeps the argument's unit (sqrt, exp and log need a dimensionless one)
ARRAY_FUNCTIONS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], bool]] = {
    "abs": (np.abs, True), "floor": (np.floor, True), "ceil": (np.ceil, True),
    "round": (np.round, True), "sqrt": (np.sqrt, False), "exp": (np.exp, False),
    "log": (np.log, False)}

# operators that chain left to right (a left-deep tree folded in a loop, see Evaluator._BinOp)
_GROUP = {"+": "add", "-": "add", "*": "mul", "/": "mul", "and": "logic", "or": "logic"}


def _finite_operands(node: ast.BinOp, a: Any, b: Any) -> None:
    for v, side in ((a, node.left), (b, node.right)):
        if isinstance(v, Scalar) and np.ndim(v.value) == 0 and math.isinf(v.value):
            raise TypeMismatch(f"{_operation(node)} has an infinite operand", side.span,
                               "inf can be a bound or a parameter's value, not an operand "
                               "of arithmetic")


def _accumulate(acc: Scalar | Affine, owned: Affine | None, b: Scalar | Affine, sign: float,
                node: ast.BinOp) -> tuple[Scalar | Affine, Affine | None]:
    """``acc + sign * b`` as :func:`values.add` computes it, in place once ``acc is owned``.

    Only the entries ``b`` touches can have become non-finite (unless ``acc`` was rescaled to a
    new unit): checking those keeps a long sum O(n).
    """
    unit, fa, fb = U.reconcile(acc.unit, b.unit, node.span, "cannot add")
    if isinstance(acc, Scalar) and isinstance(b, Scalar):
        out = Scalar((acc.value if fa == 1.0 else fa * acc.value) + sign * fb * b.value, unit)
        _check_real(out, node)
        return out, None
    if acc is owned and fa == 1.0:
        assert isinstance(acc, Affine)
        acc.unit = unit
        out_a = acc
    else:
        a = V.as_affine(acc)
        out_a = Affine(dict(a.lin), dict(a.quad), a.const, unit) if fa == 1.0 else \
            a.scaled(fa, unit)
    out_a.iadd(b, sign * fb)
    if fa != 1.0 or not math.isfinite(out_a.const) or (isinstance(b, Affine) and not (
            all(math.isfinite(out_a.lin[k]) for k in b.lin)
            and all(math.isfinite(out_a.quad[k]) for k in b.quad))):
        _check_real(out_a, node)
    return out_a, out_a


def _operation(node: ast.Expr) -> str:
    if isinstance(node, ast.BinOp):
        return _OPERATION.get(node.op, f"'{node.op}'")
    if isinstance(node, ast.Sum):
        return "the sum"
    if isinstance(node, ast.Neg):
        return "the negation"
    if isinstance(node, ast.Call):
        return f"{node.name}(…)"
    return "the expression"


def _check_real(v: object, node: ast.Expr) -> None:
    """Raise unless ``v`` (a Scalar or Affine; anything else passes) is finite and real."""
    if isinstance(v, Scalar):
        x = v.value
        if type(x) is float and math.isfinite(x):  # the common case, first
            return
        if isinstance(node, ast.Neg) and type(x) is float and math.isinf(x):
            return  # negating a finite number cannot overflow: this is -(±inf), a bound
        if isinstance(x, int):  # an int beyond a float's range cannot be used either
            x = float(x)  # OverflowError: reported by the guard
        if isinstance(x, complex) or (isinstance(x, np.ndarray) and np.iscomplexobj(x)):
            raise TypeMismatch(f"{_operation(node)} is not a real number", node.span,
                               "a negative number raised to a fractional power is complex")
        ok = bool(np.all(np.isfinite(x)))
    elif isinstance(v, Affine):
        # a sum is inf/NaN iff a term is (or the terms are too large to add, also an overflow)
        ok = math.isfinite(v.const) and math.isfinite(sum(v.lin.values())) and \
            math.isfinite(sum(v.quad.values()))
    else:
        return
    if not ok:
        if isinstance(v, Scalar) and bool(np.any(np.isnan(v.value))):
            power = isinstance(node, ast.BinOp) and node.op == "^"
            raise TypeMismatch(f"{_operation(node)} is not a number (NaN)", node.span,
                               "a negative number raised to a fractional power has no real "
                               "value" if power else None)
        raise TypeMismatch(f"{_operation(node)} overflows: its magnitude exceeds 1.8e308",
                           node.span)


class Evaluator:
    """Expression semantics; owned by a :class:`Builder`, which receives new columns and rows."""

    def __init__(self, builder: Owner) -> None:
        self.b = builder
        self._ranges: dict[tuple[int, int], SetValue] = {}
        self.max_size = limits.current().max_size
        self.work = 0  # index combinations evaluated so far (bounded by max_size)

    # ---- entry points ---------------------------------------------------------------------
    def value(self, node: ast.Expr, env: Env) -> Any:
        method: Callable[[Any, Env], Any] = getattr(self, "_" + type(node).__name__)
        return method(node, env)

    def numeric(self, node: ast.Expr, env: Env, what: str) -> Scalar | Affine:
        v = self.value(node, env)
        return self.to_numeric(v, node.span, what)

    def constant(self, node: ast.Expr, env: Env, what: str) -> Scalar:
        v = self.numeric(node, env, what)
        if isinstance(v, Affine):
            if v.lin or v.quad:
                raise TypeMismatch(f"{what} must not depend on variables", node.span,
                                   "use parameters here")
            return Scalar(v.const, v.unit)
        return v

    def condition(self, node: ast.Expr, env: Env) -> bool:
        v = self.value(node, env)
        if isinstance(v, bool):
            return v
        if isinstance(v, Scalar) and np.ndim(v.value) == 0:
            return bool(v.value)
        raise TypeMismatch("a condition must be a comparison of parameters or indices",
                           node.span)

    def to_numeric(self, v: Any, span: Span, what: str) -> Scalar | Affine:
        if isinstance(v, Scalar | Affine):
            return v
        if isinstance(v, Elem):
            if isinstance(v.value, int):
                return Scalar(float(v.value), None)
            raise TypeMismatch(f"label '{v.value}' of {v.set.name} is not a number", span,
                               f"use ord({v.value}) for its position")
        if isinstance(v, bool):
            return Scalar(1.0 if v else 0.0, None)
        if isinstance(v, SetValue):
            raise TypeMismatch(f"set {v.name} used as a number in {what}", span,
                               f"use card({v.name}) for its size")
        raise TypeMismatch(f"{what} must be a number", span)

    # ---- sets and iteration ---------------------------------------------------------------
    def domain(self, node: ast.Expr, env: Env) -> SetValue:
        if isinstance(node, ast.RangeExpr):
            lo = self.range_bound(node.low, env)
            hi = self.range_bound(node.high, env)
            return self.range_set(lo, hi, node.span)
        if isinstance(node, ast.LabelSet):
            return SetValue("{…}", list(node.labels), node.span)
        v = self.value(node, env)
        if isinstance(v, SetValue):
            return v
        raise TypeMismatch("expected a set (a set name, a range a..b, or {labels})", node.span)

    def range_bound(self, node: ast.Expr, env: Env) -> int:
        return self._int(self.constant(node, env, "a range bound"), node.span)

    def range_set(self, lo: int, hi: int, span: Span) -> SetValue:
        """The set ``lo .. hi`` (one object per range: a set is compared by identity)."""
        key = (lo, hi)
        if key not in self._ranges:
            check_size(hi - lo + 1, f"the range {lo}..{hi}", "elements", span)
            self._ranges[key] = SetValue(f"{lo}..{hi}", list(range(lo, hi + 1)), span)
        return self._ranges[key]

    def _int(self, s: Scalar, span: Span) -> int:
        f = float(s.value)
        if not f.is_integer():
            raise TypeMismatch(f"range bound {f:g} is not an integer", span)
        return int(f)

    def iterate(self, items: tuple[ast.Iterator, ...], where: ast.Expr | None,
                env: Env, what: tuple[str, str, Span] | None = None
                ) -> Iterator[tuple[Env, Key, tuple[Elem, ...]]]:
        """All bindings of ``items`` (later domains may use earlier names) that pass ``where``.

        ``what`` is (label, noun, span) for a refusal, e.g. ("var x", "columns", span): before
        expanding, the product of the domain sizes is compared with the size limit
        (``--max-size``), and so is the running count of bindings the whole check evaluates,
        so neither `var x[A, A, A]` nor a sum over 1e5 x 1e5 elements runs out of memory or
        patience.
        """
        limit = self.max_size
        label, noun, span = what or ("the index", "combinations",
                                     items[0].span if items else NOWHERE)

        def rec(i: int, e: Env, key: tuple[Label, ...], elems: tuple[Elem, ...], size: int,
                names: tuple[str, ...]) -> Iterator[tuple[Env, Key, tuple[Elem, ...]]]:
            if i == len(items):
                if where is None or self.condition(where, e):
                    self.work += 1
                    if self.work > limit:
                        raise LimitExceeded(
                            f"the model would evaluate more than {sci(limit)} index "
                            f"combinations (here: {label}[{', '.join(names)}])", span,
                            SIZE_HINT)
                    yield e, key, elems
                return
            it = items[i]
            dom = self.domain(it.domain, e)
            n = size * len(dom.elements)
            if n > limit:
                shown = (*names, dom.name, *(_domain_text(x.domain) for x in items[i + 1:]))
                check_size(n, f"{label}[{', '.join(shown)}]", noun, span)
            for lab in dom.elements:
                el = Elem(lab, dom)
                e2 = e.with_(it.var, el) if it.var else (
                    Env(e.scope, e.bind, dom if dom.is_time else e.time, e.rng, e.n_draws))
                yield from rec(i + 1, e2, (*key, lab), (*elems, el), n, (*names, dom.name))

        yield from rec(0, env, (), (), 1, ())

    def domains(self, items: tuple[ast.Iterator, ...], env: Env) -> list[SetValue | None]:
        """The fixed sets of an index spec (None where a domain depends on an earlier index)."""
        out: list[SetValue | None] = []
        for it in items:
            try:
                out.append(self.domain(it.domain, env))
            except QglError:
                out.append(None)
        return out

    # ---- leaves ---------------------------------------------------------------------------
    def _Num(self, node: ast.Num, env: Env) -> Scalar:
        if not math.isfinite(node.value) and node.text not in ("inf", "-inf"):
            raise TypeMismatch(_TOO_LARGE, node.span)
        return Scalar(node.value, None)

    def _Quantity(self, node: ast.Quantity, env: Env) -> Scalar:
        if not math.isfinite(node.value):
            raise TypeMismatch(_TOO_LARGE, node.span)
        return Scalar(node.value, U.unit_at(node.unit, node.span))

    def _Str(self, node: ast.Str, env: Env) -> str:
        return node.value

    def _TupleExpr(self, node: ast.TupleExpr, env: Env) -> Any:
        raise TypeMismatch("a tuple is only allowed as a keyword value (key = (i, j))", node.span)

    def _RangeExpr(self, node: ast.RangeExpr, env: Env) -> SetValue:
        return self.domain(node, env)

    def _LabelSet(self, node: ast.LabelSet, env: Env) -> SetValue:
        return self.domain(node, env)

    # ---- references -----------------------------------------------------------------------
    def _Ref(self, node: ast.Ref, env: Env) -> Any:
        first = node.parts[0]
        if first.name in env.bind:
            if first.index is not None or len(node.parts) > 1:
                raise TypeMismatch(f"index '{first.name}' cannot be subscripted", first.span)
            return env.bind[first.name]
        item = env.scope.lookup(first.name)
        if item is None:
            if first.name == "dt" and len(node.parts) == 1:
                return self._dt(env, node.span)
            raise UnknownName(f"unknown name '{first.name}'", first.span,
                              did_you_mean(first.name, self._visible(env)))
        return self._resolve(item, node.parts, 0, env, node)

    def _visible(self, env: Env) -> Iterator[str]:
        # lazily: did_you_mean skips it once its budget is spent (many errors, many names)
        yield from env.bind
        yield from env.scope.names()
        yield "dt"

    def _dt(self, env: Env, span: Span) -> Scalar:
        t = env.time or env.scope.over
        if t is None or t.step is None:
            raise UnknownName("dt is only defined inside a sum, constraint or declaration over a "
                              "time set", span, "iterate over a `time` set")
        return t.step

    def _resolve(self, item: Any, parts: tuple[ast.Part, ...], i: int, env: Env,
                 node: ast.Ref) -> Any:
        part = parts[i]
        last = i == len(parts) - 1
        if isinstance(item, Poisoned):
            raise Suppressed()
        if isinstance(item, InstanceData):
            if last:
                raise TypeMismatch(f"'{item.name}' is a component instance; name a member, "
                                   f"e.g. {item.name}.<member>", part.span)
            if part.index is None:
                if item.sets:
                    raise DimensionMismatch(f"'{item.name}' is indexed; write {item.name}[…]",
                                            part.span)
                scope = item.scopes[()]
            else:
                key = self.key(part.index, item.sets, env, item.name, part.span)
                scope = item.scopes.get(key)
                if scope is None:
                    raise DimensionMismatch(f"{item.name}{V_show(key)} does not exist", part.span)
            nxt = parts[i + 1]
            member = scope.items.get(nxt.name)
            if member is None:
                raise UnknownName(f"'{item.component.name}' has no member '{nxt.name}'",
                                  nxt.span, did_you_mean(nxt.name, scope.items))
            return self._resolve(member, parts, i + 1, env, node)
        if not last:
            raise TypeMismatch(f"'{part.name}' has no members", parts[i + 1].span)
        if isinstance(item, SetValue):
            if part.index is not None:
                raise TypeMismatch(f"set '{part.name}' cannot be subscripted", part.span)
            return item
        if isinstance(item, ParamData | VarData | ExprData):
            if part.index is None:
                if item.sets:
                    dims = ", ".join(s.name if s else "…" for s in item.sets)
                    raise DimensionMismatch(
                        f"'{part.name}' is indexed over [{dims}]; write {part.name}[…]",
                        part.span)
                key: Key = ()
            else:
                key = self.key(part.index, item.sets, env, part.name, part.span)
            return self._lookup(item, key, part.span)
        raise TypeMismatch(f"cannot use '{part.name}' here", part.span)

    def _lookup(self, item: ParamData | VarData | ExprData, key: Key, span: Span) -> Any:
        if isinstance(item, ParamData):
            return item.get(key, span)
        if isinstance(item, VarData):
            col = item.cols.get(key)
            if col is None:
                raise DimensionMismatch(f"{item.name}{V_show(key)} is not declared (outside the "
                                        "index filter)", span)
            return Affine.var(col, item.unit)
        return self.b.expr_value(item, key, span)

    def key(self, index: tuple[ast.Expr, ...], sets: list[SetValue | None], env: Env,
            name: str, span: Span) -> Key:
        """Evaluate a subscript against the declared sets; labels may be written bare."""
        if len(index) != len(sets):
            raise DimensionMismatch(f"'{name}' takes {len(sets)} ind"
                                    f"{'ex' if len(sets) == 1 else 'ices'}, got {len(index)}",
                                    span)
        out: list[Label] = []
        for expr, dom in zip(index, sets, strict=True):
            out.append(self._key_part(expr, dom, env, name))
        return tuple(out)

    def _key_part(self, expr: ast.Expr, dom: SetValue | None, env: Env, name: str) -> Label:
        if (isinstance(expr, ast.Ref) and len(expr.parts) == 1 and expr.parts[0].index is None
                and expr.parts[0].name not in env.bind and dom is not None
                and expr.parts[0].name in dom.position):
            return expr.parts[0].name
        if (isinstance(expr, ast.Ref) and len(expr.parts) == 1 and expr.parts[0].index is None
                and expr.parts[0].name not in env.bind and dom is not None
                and env.scope.lookup(expr.parts[0].name) is None and expr.parts[0].name != "dt"):
            lab_name = expr.parts[0].name
            raise DimensionMismatch(f"'{lab_name}' is neither a name nor an element of "
                                    f"{dom.describe()} (index of '{name}')", expr.span,
                                    did_you_mean(lab_name, [str(e) for e in dom.elements]))
        v = self.value(expr, env)
        lab: Label
        if isinstance(v, Elem):
            lab = v.value
        elif isinstance(v, str):
            lab = v
        elif isinstance(v, Scalar) and np.ndim(v.value) == 0 and float(v.value).is_integer() \
                and (v.unit is None or v.unit.dimensionless):
            lab = int(v.value)
        else:
            raise TypeMismatch(f"index of '{name}' must be a set element or an integer",
                               expr.span)
        if dom is not None and lab not in dom.position:
            hint = ("guard the edge with `where` or `if`, e.g. where t > first(T)"
                    if dom.is_time or all(isinstance(e, int) for e in dom.elements) else
                    did_you_mean(str(lab), [str(e) for e in dom.elements]))
            raise DimensionMismatch(f"index {lab!r} of '{name}' is not in {dom.describe()}",
                                    expr.span, hint)
        return lab

    # ---- operators ------------------------------------------------------------------------
    def _BinOp(self, node: ast.BinOp, env: Env) -> Any:
        """One operator, or a chain ``a + b - c …`` of operators of one group.

        A chain is a left-deep tree as deep as it is long; it is folded in a loop, innermost
        pair first, so a 10,000-term sum neither recurses 10,000 deep nor copies its running
        total at every term (O(n), not O(n^2)), and each step is checked and located as the
        single operator would be.
        """
        group = _GROUP.get(node.op)
        if group is None or not (isinstance(node.left, ast.BinOp)
                                 and _GROUP.get(node.left.op) == group):
            return self._binop(node, env)
        spine = [node]
        while isinstance(spine[-1].left, ast.BinOp) and _GROUP.get(spine[-1].left.op) == group:
            spine.append(spine[-1].left)
        spine.reverse()  # innermost (leftmost) operator first
        if group == "logic":
            left = self.condition(spine[0].left, env)
            for n in spine:
                if left == (n.op == "and"):  # `and` needs its right side when left is true
                    left = self.condition(n.right, env)
            return left
        acc = self.numeric(spine[0].left, env, f"'{spine[0].op}'")
        owned: Affine | None = None  # the accumulator this fold made, safe to change in place
        for n in spine:
            b = self.numeric(n.right, env, f"'{n.op}'")
            _finite_operands(n, acc, b)
            try:
                if group == "add":
                    acc, owned = _accumulate(acc, owned, b, 1.0 if n.op == "+" else -1.0, n)
                else:
                    acc = V.multiply(acc, b, n.span) if n.op == "*" else V.divide(acc, b, n.span)
                    _check_real(acc, n)
            except ArithmeticError as exc:
                raise _arith_error(exc, n) from None
        try:
            _check_real(acc, node)  # the total (terms may be finite and their sum not)
        except ArithmeticError as exc:
            raise _arith_error(exc, node) from None
        return acc

    @arithmetic
    def _binop(self, node: ast.BinOp, env: Env) -> Any:
        if node.op in ("and", "or"):
            left = self.condition(node.left, env)
            if node.op == "and":
                return left and self.condition(node.right, env)
            return left or self.condition(node.right, env)
        a = self.numeric(node.left, env, f"'{node.op}'")
        b = self.numeric(node.right, env, f"'{node.op}'")
        _finite_operands(node, a, b)
        if node.op == "+":
            return V.add(a, b, 1.0, node.span)
        if node.op == "-":
            return V.add(a, b, -1.0, node.span)
        if node.op == "*":
            return V.multiply(a, b, node.span)
        if node.op == "/":
            return V.divide(a, b, node.span)
        return self._power(a, b, node)

    def _power(self, a: Scalar | Affine, b: Scalar | Affine, node: ast.BinOp) -> Any:
        bf = U.plain_factor(b.unit) if b.unit is not None else 1.0
        if isinstance(b, Affine) or bf is None:
            raise TypeMismatch("an exponent must be a dimensionless parameter", node.right.span)
        e = b.value if bf == 1.0 else b.value * bf  # 2 ^ (50 %) is 2 ^ 0.5
        if isinstance(a, Scalar):
            if a.unit is None:
                return Scalar(a.value ** e, None)
            af = U.plain_factor(a.unit)
            if af is not None:  # dimensionless (%, pu): raise the plain number
                return Scalar((a.value if af == 1.0 else a.value * af) ** e, U.DIMENSIONLESS)
            n = float(e) if np.ndim(e) == 0 else math.nan
            if not n.is_integer() or abs(n) > MAX_UNIT_POWER:
                raise TypeMismatch(f"a quantity with a unit ({U.describe(a.unit)}) can only be "
                                   f"raised to an integer power from -{MAX_UNIT_POWER} to "
                                   f"{MAX_UNIT_POWER}, got {n:g}", node.span)
            unit, uf = U.power(a.unit, int(n))
            return Scalar(a.value ** n * uf, unit)
        n = float(e) if np.ndim(e) == 0 else math.nan
        if n == 1.0:
            return a
        if n == 2.0:
            return V.multiply(a, a, node.span)
        raise UnsupportedConstruct("a variable may only be raised to the power 1 or 2",
                                   node.span)

    @arithmetic
    def _Neg(self, node: ast.Neg, env: Env) -> Any:
        v = self.numeric(node.operand, env, "'-'")
        if isinstance(v, Scalar):
            return Scalar(-v.value, v.unit)
        return v.scaled(-1.0, v.unit)

    def _Not(self, node: ast.Not, env: Env) -> bool:
        return not self.condition(node.operand, env)

    def _IfExpr(self, node: ast.IfExpr, env: Env) -> Any:
        branch: ast.Expr = node
        while isinstance(branch, ast.IfExpr):  # `else if` chains in a loop, however long
            branch = branch.then if self.condition(branch.cond, env) else branch.other
        return self.value(branch, env)

    def _Compare(self, node: ast.Compare, env: Env) -> bool:
        vals = [self.value(o, env) for o in node.operands]
        for (a, b), op, o in zip(zip(vals, vals[1:]), node.ops, node.operands[1:], strict=True):
            if not self._compare(a, b, op, o.span):
                return False
        return True

    def _compare(self, a: Any, b: Any, op: str, span: Span) -> bool:
        if isinstance(a, Elem) and isinstance(b, Elem) and a.set is b.set:
            x, y = a.set.position[a.value], b.set.position[b.value]
        elif isinstance(a, str | Elem) and isinstance(b, str | Elem) and (
                isinstance(_label(a), str) or isinstance(_label(b), str)):
            if op not in ("==", "!="):
                raise TypeMismatch("labels can only be compared with == and !=", span,
                                   "compare ord(…) positions instead")
            return (_label(a) == _label(b)) == (op == "==")
        else:
            na = self.to_numeric(a, span, "a comparison")
            nb = self.to_numeric(b, span, "a comparison")
            if isinstance(na, Affine) or isinstance(nb, Affine):
                raise TypeMismatch("a condition cannot depend on a variable", span,
                                   "conditions in where/if must use parameters and indices")
            U.check_comparison(na.unit, float(na.value), nb.unit, float(nb.value), span)
            _, fa, fb = U.reconcile(na.unit, nb.unit, span, "cannot compare")
            x, y = float(na.value) * fa, float(nb.value) * fb
        return {"<": x < y, "<=": x <= y + 1e-12, ">": x > y, ">=": x >= y - 1e-12,
                "==": abs(x - y) <= 1e-12 * max(1.0, abs(x)), "!=": x != y}[op]

    @arithmetic
    def _Sum(self, node: ast.Sum, env: Env) -> Scalar | Affine:
        acc: Affine | None = None  # once a term has variables; else the running total
        total: Scalar | None = None
        for e2, _key, _els in self.iterate(node.iterators, node.where, env,
                                           ("the sum over ", "terms", node.span)):
            v = self.numeric(node.body, e2, "a sum's body")
            if acc is None and total is None:
                if isinstance(v, Affine):
                    acc = Affine.zero(v.unit)
                    acc.iadd(v)
                else:
                    total = Scalar(v.value, v.unit)
                continue
            ref = acc.unit if acc is not None else (total.unit if total is not None else None)
            unit, fa, fb = U.reconcile(ref, v.unit, node.body.span, "cannot add")
            if acc is None and isinstance(v, Affine):
                assert total is not None
                acc = Affine.zero(total.unit)
                acc.iadd(total)
                total = None
            if acc is not None:
                if fa != 1.0:
                    acc = acc.scaled(fa, unit)
                acc.unit = unit
                acc.iadd(v, fb)
            else:
                assert total is not None and isinstance(v, Scalar)
                total = Scalar((total.value if fa == 1.0 else fa * total.value)
                               + fb * v.value, unit)
        if acc is not None:
            return acc
        return total if total is not None else Scalar(0.0, None)

    # ---- function calls -------------------------------------------------------------------
    def _CallIndex(self, node: ast.CallIndex, env: Env) -> Scalar | Affine:
        return self.b.surrogate_call(node, env)

    @arithmetic
    def _Call(self, node: ast.Call, env: Env) -> Any:
        name = node.name
        if name in DISTRIBUTIONS:
            return self._draw(node, env)
        fn = getattr(self, f"_fn_{name}", None)
        if fn is None:
            if name in self.b.surrogate_names:
                raise TypeMismatch(f"surrogate '{name}' returns a vector: index it, "
                                   f"{name}(…)[t]", node.span)
            if name in ("csv", "sample", "equal", "weights"):
                raise TypeMismatch(f"{name}(…) is only allowed as a data source of a "
                                   f"{'parameter' if name == 'csv' else 'scenarios declaration'}",
                                   node.span)
            raise UnknownName(f"unknown function '{name}'", node.span,
                              did_you_mean(name, [*BUILTINS, *DISTRIBUTIONS]))
        return fn(node, env)

    def _args(self, node: ast.Call, n: int | tuple[int, int]) -> tuple[ast.Expr, ...]:
        lo, hi = (n, n) if isinstance(n, int) else n
        if not lo <= len(node.args) <= hi:
            want = str(lo) if lo == hi else f"{lo} to {hi}"
            raise TypeMismatch(f"{node.name}() takes {want} argument(s), got {len(node.args)}",
                               node.span)
        return node.args

    def _set_arg(self, node: ast.Call, env: Env) -> SetValue:
        (arg,) = self._args(node, 1)
        return self.domain(arg, env)

    def _elem_arg(self, node: ast.Expr, env: Env, fname: str) -> Elem:
        v = self.value(node, env)
        if not isinstance(v, Elem):
            raise TypeMismatch(f"{fname}() needs a set element (an index such as t)", node.span)
        return v

    def _fn_first(self, node: ast.Call, env: Env) -> Elem:
        s = self._nonempty_set_arg(node, env)
        return Elem(s.elements[0], s)

    def _fn_last(self, node: ast.Call, env: Env) -> Elem:
        s = self._nonempty_set_arg(node, env)
        return Elem(s.elements[-1], s)

    def _nonempty_set_arg(self, node: ast.Call, env: Env) -> SetValue:
        s = self._set_arg(node, env)
        if not s.elements:
            raise DimensionMismatch(f"{node.name}({s.name}): the set {s.name} is empty, so it "
                                    f"has no {node.name} element", node.span,
                                    f"guard the use, e.g. `if card({s.name}) > 0 then … else …`")
        return s

    def _fn_card(self, node: ast.Call, env: Env) -> Scalar:
        return Scalar(float(len(self._set_arg(node, env).elements)), None)

    def _fn_ord(self, node: ast.Call, env: Env) -> Scalar:
        (arg,) = self._args(node, 1)
        return Scalar(float(self._elem_arg(arg, env, "ord").ord), None)

    def _shift(self, node: ast.Call, env: Env, sign: int) -> Elem:
        args = self._args(node, (1, 2))
        el = self._elem_arg(args[0], env, node.name)
        k = 1
        if len(args) == 2:
            k = self._int(self.constant(args[1], env, "a shift"), args[1].span)
        pos = el.set.position[el.value] + sign * k
        if not 0 <= pos < len(el.set.elements):
            edge = "first" if sign < 0 else "last"
            raise DimensionMismatch(
                f"{node.name}({el.value}) steps outside {el.set.describe()}", node.span,
                f"guard the {edge} element, e.g. `where t > first(T)` or "
                f"`if t == {edge}(T) then … else …`")
        return Elem(el.set.elements[pos], el.set)

    def _fn_prev(self, node: ast.Call, env: Env) -> Elem:
        return self._shift(node, env, -1)

    def _fn_next(self, node: ast.Call, env: Env) -> Elem:
        return self._shift(node, env, 1)

    def _scalars(self, node: ast.Call, env: Env,
                 given: list[Scalar | Affine] | None = None) -> list[Scalar]:
        """The arguments as numbers (``given``: already evaluated, in order)."""
        if not node.args:
            raise TypeMismatch(f"{node.name}() needs at least one argument", node.span)
        out = []
        for k, a in enumerate(node.args):
            v = given[k] if given is not None else self.numeric(a, env, f"{node.name}()")
            if isinstance(v, Affine):
                raise UnsupportedConstruct(
                    f"{node.name}() of a variable is not linear", a.span,
                    "model it with an auxiliary variable and constraints")
            out.append(v)
        return out

    def _minmax(self, node: ast.Call, env: Env, pick: Callable[..., Any]) -> Scalar | Affine:
        # each argument evaluated once: a draw in it (sample blocks) consumes the generator
        given = [self.numeric(x, env, f"{node.name}()") for x in node.args]
        if pick is max and len(given) == 2 and any(isinstance(v, Affine) for v in given):
            a, b = given
            # max(a, b) = b + pos(a - b): convex, an epigraph column (semantics.positive)
            return V.add(b, self.b.positive.of(V.add(a, b, -1.0, node.span), node), 1.0,
                         node.span)
        vals = self._scalars(node, env, given)
        unit, fs = U.common([v.unit for v in vals], node.span, f"{node.name}()")
        if any(np.ndim(v.value) for v in vals):  # scenario draws: one value per scenario
            stacked = np.broadcast_arrays(*[np.asarray(v.value, float) * f
                                            for v, f in zip(vals, fs, strict=True)])
            reduce = np.minimum.reduce if pick is min else np.maximum.reduce
            return Scalar(reduce(stacked), unit)
        return Scalar(pick([float(v.value) * f for v, f in zip(vals, fs, strict=True)]), unit)

    def _fn_min(self, node: ast.Call, env: Env) -> Scalar | Affine:
        return self._minmax(node, env, min)

    def _fn_max(self, node: ast.Call, env: Env) -> Scalar | Affine:
        return self._minmax(node, env, max)

    def _fn_pos(self, node: ast.Call, env: Env) -> Scalar | Affine:
        (arg,) = self._args(node, 1)
        return self.b.positive.of(self.numeric(arg, env, "pos()"), node)

    def _unary(self, node: ast.Call, env: Env, fn: Callable[[float], float],
               keep_unit: bool) -> Scalar:
        self._args(node, 1)
        (v,) = self._scalars(node, env)
        if not keep_unit and v.unit is not None and not v.unit.dimensionless:
            raise TypeMismatch(f"{node.name}() needs a dimensionless argument, got "
                               f"{U.describe(v.unit)}", node.span)
        if np.ndim(v.value):  # scenario draws: the function of each (numpy's, same rules)
            x = np.asarray(v.value, float)
            with np.errstate(all="ignore"):
                out = ARRAY_FUNCTIONS[node.name][0](x)
            bad = ~np.isfinite(out)
            if bad.any():
                raise TypeMismatch(f"{node.name}({float(x[bad][0]):g}) is undefined", node.span)
            return Scalar(out.astype(float), v.unit if keep_unit else None)
        try:
            return Scalar(float(fn(float(v.value))), v.unit if keep_unit else None)
        except (ValueError, OverflowError):
            raise TypeMismatch(f"{node.name}({float(v.value):g}) is undefined", node.span) \
                from None

    def _fn_abs(self, node: ast.Call, env: Env) -> Scalar:
        return self._unary(node, env, abs, True)

    def _fn_floor(self, node: ast.Call, env: Env) -> Scalar:
        return self._unary(node, env, math.floor, True)

    def _fn_ceil(self, node: ast.Call, env: Env) -> Scalar:
        return self._unary(node, env, math.ceil, True)

    def _fn_round(self, node: ast.Call, env: Env) -> Scalar:
        return self._unary(node, env, round, True)

    def _fn_sqrt(self, node: ast.Call, env: Env) -> Scalar:
        return self._unary(node, env, math.sqrt, False)

    def _fn_exp(self, node: ast.Call, env: Env) -> Scalar:
        return self._unary(node, env, math.exp, False)

    def _fn_log(self, node: ast.Call, env: Env) -> Scalar:
        return self._unary(node, env, math.log, False)

    def _fn_expected(self, node: ast.Call, env: Env) -> Scalar | Affine:
        return self.b.risk.expected(node, env)

    def _fn_cvar(self, node: ast.Call, env: Env) -> Affine:
        return self.b.risk.cvar(node, env)

    # ---- sampling -------------------------------------------------------------------------
    def _draw(self, node: ast.Call, env: Env) -> Scalar:
        if env.rng is None:
            raise TypeMismatch(f"{node.name}(…) draws random numbers and is only allowed inside "
                               "a `scenarios … = sample(…) { … }` block", node.span)
        args = [self.constant(a, env, f"{node.name}()") for a in node.args]
        unit, fs = U.common([a.unit for a in args], node.span, node.name)
        vals = [np.asarray(a.value, float) * f for a, f in zip(args, fs, strict=True)]
        n, rng = env.n_draws, env.rng
        spec = {"normal": 2, "uniform": 2, "lognormal": 2, "triangular": 3, "exponential": 1,
                "beta": 2, "gamma": 2, "poisson": 1, "bernoulli": 1}[node.name]
        if len(vals) != spec:
            raise TypeMismatch(f"{node.name}() takes {spec} argument(s), got {len(vals)}",
                               node.span)
        try:
            draw = {
                "normal": lambda: rng.normal(vals[0], vals[1], n),
                "uniform": lambda: rng.uniform(vals[0], vals[1], n),
                "lognormal": lambda: rng.lognormal(vals[0], vals[1], n),
                "triangular": lambda: rng.triangular(vals[0], vals[1], vals[2], n),
                "exponential": lambda: rng.exponential(vals[0], n),
                "beta": lambda: rng.beta(vals[0], vals[1], n),
                "gamma": lambda: rng.gamma(vals[0], vals[1], n),
                "poisson": lambda: rng.poisson(vals[0], n).astype(float),
                "bernoulli": lambda: (rng.random(n) < vals[0]).astype(float),
            }[node.name]()
        except ValueError as exc:
            raise TypeMismatch(f"{node.name}(): {exc}", node.span) from None
        return Scalar(draw, unit)


def _domain_text(node: ast.Expr) -> str:
    """A domain as written, for messages (a set name; a range or label set in short)."""
    if isinstance(node, ast.Ref):
        return node.dotted
    return "{…}" if isinstance(node, ast.LabelSet) else "…"


def _label(v: Any) -> Label:
    return v.value if isinstance(v, Elem) else v


def V_show(key: Key) -> str:  # noqa: N802
    return "[" + ", ".join(str(k) for k in key) + "]"
