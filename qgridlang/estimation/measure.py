"""``--measure`` text: ``expected(cost)``, ``var(cost, alpha = 95 %)``, ``cvar(cost, alpha =
0.9)`` or ``probability(cost > 700 $)``, parsed with the model language's own grammar."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from qgridlang import ast
from qgridlang.errors import QglSyntaxError, UsageError

Kind = Literal["expected", "var", "cvar", "probability"]
KINDS: tuple[Kind, ...] = ("expected", "var", "cvar", "probability")
_PREFIX = "expr measure__ = "
# `var` is a statement keyword of the language: the measure is parsed as `VaR(…)` (same length,
# so columns in messages stay those of the text the user wrote)
_HEAD = re.compile(r"^(\s*)var(\s*\()")


@dataclass(frozen=True)
class Measure:
    """One risk measure of an expression indexed over a scenario set."""

    kind: Kind
    expr: str  # the measured expression's (or parameter's) name
    alpha: float | None = None  # var / cvar confidence level in [0, 1)
    threshold: float | None = None  # probability(e > x): x as written
    threshold_unit: str | None = None  # its unit as written (None: the expression's unit)
    op: str | None = None  # probability: ">", ">=", "<" or "<="
    text: str = ""

    @property
    def label(self) -> str:
        if self.kind == "expected":
            return f"expected({self.expr})"
        if self.kind in ("var", "cvar"):
            return f"{self.kind}({self.expr}, alpha = {self.alpha:g})"
        unit = f" {self.threshold_unit}" if self.threshold_unit else ""
        return f"probability({self.expr} {self.op} {self.threshold:g}{unit})"


def parse_measure(text: str) -> Measure:
    """The :class:`Measure` in ``text``; a :class:`UsageError` (with the column) otherwise."""
    from qgridlang.parser import parse

    source = _HEAD.sub(lambda m: f"{m.group(1)}VaR{m.group(2)}", text, count=1)
    try:
        program = parse(_PREFIX + source, "<--measure>")
    except QglSyntaxError as exc:
        column = max(1, (exc.span.column if exc.span else 1) - len(_PREFIX))
        raise UsageError(f"--measure {text!r}: {exc.message} (column {column})",
                         hint=_HINT) from None
    decl = program.statements[0] if len(program.statements) == 1 else None
    if not isinstance(decl, ast.ExprDecl) or not isinstance(decl.value, ast.Call):
        raise UsageError(f"--measure {text!r}: not one measure", hint=_HINT)
    call = decl.value
    name = "var" if call.name == "VaR" else call.name
    if name not in KINDS:
        raise UsageError(f"--measure {text!r}: unknown measure '{name}'",
                         hint="one of " + ", ".join(f"{k}(…)" for k in KINDS))
    if name == "probability":
        return _probability(call, text)
    if len(call.args) != 1 or not _is_name(call.args[0]):
        raise UsageError(f"--measure {text!r}: {name}() takes the name of an expression "
                         "indexed over a scenario set", hint=_HINT)
    expr = _name(call.args[0])
    kwargs = dict(call.kwargs)
    if name == "expected":
        if kwargs:
            raise UsageError(f"--measure {text!r}: expected() takes no options")
        return Measure("expected", expr, text=text)
    unknown = set(kwargs) - {"alpha"}
    if unknown or "alpha" not in kwargs:
        raise UsageError(f"--measure {text!r}: {name}() needs its level and nothing else: "
                         f"{name}({expr}, alpha = 95 %)")
    return Measure(name, expr, alpha=_level(kwargs["alpha"], text), text=text)


_HINT = "e.g. --measure \"cvar(cost, alpha = 95 %)\", \"expected(cost)\", " \
    "\"var(cost, alpha = 0.9)\" or \"probability(cost > 700 $)\""


def _is_name(node: ast.Expr) -> bool:
    return isinstance(node, ast.Ref) and all(p.index is None for p in node.parts)


def _name(node: ast.Expr) -> str:
    assert isinstance(node, ast.Ref)
    return node.dotted


def _number(node: ast.Expr, text: str, what: str) -> tuple[float, str | None]:
    sign = 1.0
    while isinstance(node, ast.Neg):
        node, sign = node.operand, -sign
    if isinstance(node, ast.Num):
        return sign * node.value, None
    if isinstance(node, ast.Quantity):
        return sign * node.value, node.unit
    raise UsageError(f"--measure {text!r}: {what} must be a number (with its unit)")


def _level(node: ast.Expr, text: str) -> float:
    value, unit = _number(node, text, "alpha")
    if unit not in (None, "%"):
        raise UsageError(f"--measure {text!r}: alpha is a plain number or a percentage, got a "
                         f"value in {unit}")
    # 15 digits: 95 % is exactly 0.95, as in the language's own cvar(…, alpha = 95 %)
    alpha = float(f"{value / 100.0 if unit == '%' else value:.15g}")
    if not 0.0 <= alpha < 1.0:
        raise UsageError(f"--measure {text!r}: alpha must be in [0, 1), got {alpha:g}")
    return alpha


def _probability(call: ast.Call, text: str) -> Measure:
    if len(call.args) != 1 or call.kwargs or not isinstance(call.args[0], ast.Compare) or \
            len(call.args[0].ops) != 1:
        raise UsageError(f"--measure {text!r}: probability() takes one comparison, e.g. "
                         "probability(cost > 700 $)")
    cmp = call.args[0]
    left, right = cmp.operands
    op = cmp.ops[0]
    if op not in (">", ">=", "<", "<="):
        raise UsageError(f"--measure {text!r}: probability() compares with >, >=, < or <=")
    if not _is_name(left):
        raise UsageError(f"--measure {text!r}: the left side of the comparison is the name of "
                         "an expression indexed over a scenario set")
    value, unit = _number(right, text, "the threshold")
    return Measure("probability", _name(left), threshold=value, threshold_unit=unit, op=op,
                   text=text)
