"""``pos(e)`` (also written ``max(e, 0)``, and ``max(a, b)`` = ``b + pos(a - b)``): the
positive part of an affine expression, for soft limits such as a voltage penalty
``pos(v[b, t] - v_max)``.

``pos`` is convex, so it lowers exactly to an epigraph column ``z >= 0`` with ``z >= e`` where it
is minimised: :meth:`Positive.check_usage` verifies, as for ``cvar``, that every such column
appears with a positive weight in a minimised objective (negative in a maximised one) or on the
``<=`` side of a constraint. Anywhere else the column could take any value above ``pos(e)``, so
the model is refused rather than solved wrongly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qgridlang import ast
from qgridlang.errors import Span, TypeMismatch, UnsupportedConstruct
from qgridlang.semantics import epigraph
from qgridlang.semantics.context import Context
from qgridlang.semantics.values import Affine, Scalar

INF = float("inf")


@dataclass(frozen=True)
class _Part:
    label: str  # "pos(…) at line 12, column 5"
    column: int
    row_name: str
    span: Span


class Positive:
    """Lowers ``pos(e)`` into the builder's columns and rows (one column per use)."""

    def __init__(self, builder: Context) -> None:
        self.b = builder
        self._parts: list[_Part] = []

    def of(self, value: Scalar | Affine, node: ast.Expr) -> Scalar | Affine:
        """``pos(value)``: a number for a constant, else an epigraph column."""
        if isinstance(value, Scalar):
            return Scalar(np.maximum(value.value, 0.0), value.unit)
        if value.quad:
            raise UnsupportedConstruct("pos(…) of a quadratic expression is not linear",
                                       node.span, "pos(…) takes an affine expression")
        if not value.lin:
            return Scalar(max(value.const, 0.0), value.unit)
        n = len(self._parts)
        label = f"pos#{n + 1}"
        where = f"{label} (line {node.span.line}, column {node.span.column})"
        z = self.b.new_columns(label, "real", value.unit, [()], 0.0, INF, node.span)
        row = Affine({z: 1.0}, {}, 0.0, value.unit)
        row.iadd(value, -1.0)  # z - e >= 0
        self.b._row(row, Scalar(0.0), None, label + ".epigraph", (), node.span, node.span)
        self._parts.append(_Part(where, z, label + ".epigraph", node.span))
        return Affine({z: 1.0}, {}, 0.0, value.unit)

    def check_usage(self) -> None:
        """Each column minimised (see the module docstring), else a located refusal."""
        if not self._parts:
            return
        uses = epigraph.usage(self.b, [(p.column, p.row_name) for p in self._parts])
        for part, (used, ok) in zip(self._parts, uses, strict=True):
            if not used:
                raise TypeMismatch(f"{part.label} has weight 0 in the objective and appears in "
                                   "no constraint, so its value would be undetermined",
                                   part.span, "give it a positive weight, or remove it")
            if not ok:
                raise UnsupportedConstruct(
                    f"{part.label} is maximised somewhere (or fixed by an equality); pos(…) "
                    "lowers exactly only where it is minimised", part.span,
                    "use it in a minimised objective with a positive weight (a penalty), or as "
                    "pos(…) <= b")
