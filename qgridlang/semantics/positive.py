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
from qgridlang.flat import RowInfo
from qgridlang.semantics import epigraph
from qgridlang.semantics import units as U
from qgridlang.semantics.context import Context
from qgridlang.semantics.values import Affine, Scalar

INF = float("inf")


@dataclass
class _Part:
    label: str  # "pos#3 (line 12, column 5)"
    columns: np.ndarray  # one column per use (the array path makes many at once)
    row_name: str
    span: Span
    orphan: bool = False  # made by an array attempt that fell back: unused, not checked


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
        label, where = self._label(node)
        z = self.b.new_columns(label, "real", value.unit, [()], 0.0, INF, node.span)
        row = Affine({z: 1.0}, {}, 0.0, value.unit)
        row.iadd(value, -1.0)  # z - e >= 0
        self.b._row(row, Scalar(0.0), None, label + ".epigraph", (), node.span, node.span)
        self._parts.append(_Part(where, np.array([z]), label + ".epigraph", node.span))
        return Affine({z: 1.0}, {}, 0.0, value.unit)

    def block(self, unit: U.Unit | None, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray,
              const: np.ndarray, node: ast.Expr) -> int:
        """``pos`` of ``len(const)`` affine rows at once (the array path): one column ``z_j >= 0``
        per row with ``z_j - sum vals x_cols >= const_j`` (``rows`` numbers the rows' terms).
        Returns the first column."""
        b = self.b
        k = int(const.shape[0])
        label, where = self._label(node)
        z = b.new_columns(label, "real", unit, [(j,) for j in range(k)], 0.0, INF, node.span)
        first = len(b.rows)
        own = np.arange(k, dtype=np.int64)
        b.r_rows.extend((np.concatenate([own, rows]) + first).tolist())
        b.r_cols.extend(np.concatenate([own + z, cols]).tolist())
        b.r_vals.extend(np.concatenate([np.ones(k), -vals]).tolist())
        b.row_lo.extend(const.tolist())
        b.row_hi.extend([INF] * k)
        text = U.unit_text(unit)
        name = label + ".epigraph"
        b.rows.extend(RowInfo(name, (j,), text, node.span) for j in range(k))
        self._parts.append(_Part(where, own + z, name, node.span))
        return z

    def _label(self, node: ast.Expr) -> tuple[str, str]:
        label = f"pos#{len(self._parts) + 1}"
        return label, f"{label} (line {node.span.line}, column {node.span.column})"

    def mark(self) -> int:
        return len(self._parts)

    def disown(self, mark: int) -> None:
        """The columns made since ``mark`` belong to an array attempt that fell back to the
        element path (which makes its own): they stay, unused (``z >= e`` alone, at no cost),
        because values cached meanwhile may refer to them, and the usage check skips them."""
        for part in self._parts[mark:]:
            part.orphan = True

    def check_usage(self) -> None:
        """Each column minimised (see the module docstring), else a located refusal."""
        if not self._parts:
            return
        parts = [p for p in self._parts if not p.orphan]
        if not parts:
            return
        cols = np.concatenate([p.columns for p in parts])
        names = [p.row_name for p in parts for _ in range(p.columns.shape[0])]
        used_all, ok_all = epigraph.usage(self.b, cols, names)
        at = 0
        for part in parts:
            n = part.columns.shape[0]
            used, ok = bool(used_all[at:at + n].all()), bool(ok_all[at:at + n].all())
            at += n
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
