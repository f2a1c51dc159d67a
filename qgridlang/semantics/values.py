"""Values the checker computes with: numbers with units, set elements, sets and affine forms.

An :class:`Affine` is a linear-plus-quadratic form over flat columns with a constant and a unit.
Sums accumulate in place (:meth:`Affine.iadd`) so a sum of n terms costs O(n).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

import numpy as np

from qgridlang.errors import Span, TypeMismatch, UnsupportedConstruct
from qgridlang.limits import check_size
from qgridlang.semantics import units as U
from qgridlang.semantics.units import Unit

Label = Union[int, str]  # noqa: UP007


@dataclass(eq=False)
class SetValue:
    """An ordered set: integers (ranges) or labels; a time set also has a step."""

    name: str
    elements: list[Label]
    span: Span
    step: Scalar | None = None
    position: dict[Label, int] = field(default_factory=dict)
    dropped: frozenset[Label] = frozenset()  # elements a subset restriction removed

    def __post_init__(self) -> None:
        if not self.position:
            self.position = {e: i for i, e in enumerate(self.elements)}

    @property
    def is_time(self) -> bool:
        return self.step is not None

    def describe(self) -> str:
        els = self.elements
        if els and all(isinstance(e, int) for e in els) and len(els) > 4:
            return f"{self.name} ({els[0]}..{els[-1]})"
        shown = ", ".join(str(e) for e in els[:6]) + (", …" if len(els) > 6 else "")
        return f"{self.name} {{{shown}}}"

    def __contains__(self, item: object) -> bool:
        return item in self.position


@dataclass(slots=True)
class Elem:
    """An element of a set, bound to an index name."""

    value: Label
    set: SetValue

    @property
    def ord(self) -> int:
        return self.set.position[self.value] + 1


@dataclass(slots=True)
class Scalar:
    """A number with a unit (``unit is None``: a bare literal that adopts its partner's unit).

    ``value`` may be a numpy vector while scenarios are sampled (one entry per scenario).
    """

    value: float | np.ndarray
    unit: Unit | None = None


@dataclass(slots=True)
class Affine:
    """``sum lin[i] x_i + sum quad[i, j] x_i x_j + const`` in ``unit``."""

    lin: dict[int, float]
    quad: dict[tuple[int, int], float]
    const: float
    unit: Unit | None

    @staticmethod
    def var(col: int, unit: Unit | None) -> Affine:
        return Affine({col: 1.0}, {}, 0.0, unit)

    @staticmethod
    def zero(unit: Unit | None) -> Affine:
        return Affine({}, {}, 0.0, unit)

    @property
    def is_quadratic(self) -> bool:
        return bool(self.quad)

    def scaled(self, f: float, unit: Unit | None) -> Affine:
        return Affine({k: v * f for k, v in self.lin.items()},
                      {k: v * f for k, v in self.quad.items()}, self.const * f, unit)

    def iadd(self, other: Affine | Scalar, f: float = 1.0) -> None:
        """``self += f * other`` in place (units already reconciled by the caller)."""
        if isinstance(other, Scalar):
            self.const += f * float(other.value)
            return
        lin = self.lin
        for k, v in other.lin.items():
            lin[k] = lin.get(k, 0.0) + f * v
        if other.quad:
            quad = self.quad
            for k, v in other.quad.items():
                quad[k] = quad.get(k, 0.0) + f * v
        self.const += f * other.const


Value = Union[Scalar, Affine, Elem, SetValue, bool, str]  # noqa: UP007


def as_affine(v: Scalar | Affine) -> Affine:
    if isinstance(v, Affine):
        return v
    return Affine({}, {}, float(v.value), v.unit)


def _unit_of(v: Scalar | Affine) -> Unit | None:
    return v.unit


def add(a: Scalar | Affine, b: Scalar | Affine, sign: float, span: Span) -> Scalar | Affine:
    """``a + sign * b`` with unit reconciliation (:func:`units.reconcile`; mostly ``a``'s unit)."""
    unit, fa, fb = U.reconcile(_unit_of(a), _unit_of(b), span, "cannot add")
    if isinstance(a, Scalar) and isinstance(b, Scalar):
        return Scalar((a.value if fa == 1.0 else fa * a.value) + sign * fb * b.value, unit)
    out = as_affine(a)
    out = Affine(dict(out.lin), dict(out.quad), out.const, unit) if fa == 1.0 else \
        out.scaled(fa, unit)
    out.iadd(b, sign * fb)
    return out


def multiply(a: Scalar | Affine, b: Scalar | Affine, span: Span) -> Scalar | Affine:
    unit, uf = _mul_unit(a.unit, b.unit)
    if isinstance(a, Scalar) and isinstance(b, Scalar):
        return Scalar(a.value * b.value * uf, unit)
    if isinstance(a, Scalar) or isinstance(b, Scalar):
        s, e = (a, b) if isinstance(a, Scalar) else (b, a)
        assert isinstance(s, Scalar) and isinstance(e, Affine)
        return e.scaled(float(s.value) * uf, unit)
    assert isinstance(a, Affine) and isinstance(b, Affine)
    if a.quad and (b.lin or b.quad) or b.quad and a.lin:
        raise UnsupportedConstruct(
            "product of more than two variables; qgl models are at most quadratic", span,
            "introduce an auxiliary variable for the inner product")
    # (sum of n variables) * (sum of m variables) has n*m quadratic terms: refuse before
    # building them, e.g. a sum over 1e5 variables squared
    check_size(len(a.lin) * len(b.lin), "this product", "quadratic terms", span)
    out = Affine({}, {}, a.const * b.const, unit)
    for k, v in a.quad.items():
        out.quad[k] = v * b.const
    for k, v in b.quad.items():
        out.quad[k] = out.quad.get(k, 0.0) + v * a.const
    for i, vi in a.lin.items():
        if b.const:
            out.lin[i] = out.lin.get(i, 0.0) + vi * b.const
        for j, vj in b.lin.items():
            key = (i, j) if i <= j else (j, i)
            out.quad[key] = out.quad.get(key, 0.0) + vi * vj
    if a.const:
        for j, vj in b.lin.items():
            out.lin[j] = out.lin.get(j, 0.0) + vj * a.const
    return out if uf == 1.0 else out.scaled(uf, unit)


def _mul_unit(a: Unit | None, b: Unit | None) -> tuple[Unit | None, float]:
    if a is None:
        return b, 1.0
    if b is None:
        return a, 1.0
    return U.multiply(a, b)


def divide(a: Scalar | Affine, b: Scalar | Affine, span: Span) -> Scalar | Affine:
    if isinstance(b, Affine):
        raise UnsupportedConstruct("division by a variable is not linear", span,
                                   "multiply both sides by the divisor instead")
    if np.any(np.asarray(b.value) == 0):
        raise TypeMismatch("division by zero", span)
    unit, uf = quotient_unit(a.unit, b.unit)
    if isinstance(a, Scalar):
        return Scalar(a.value / b.value * uf, unit)
    return a.scaled(uf / float(b.value), unit)


def quotient_unit(a: Unit | None, b: Unit | None) -> tuple[Unit | None, float]:
    """The unit of ``a / b`` and the factor into it (a bare divisor keeps ``a``'s unit)."""
    if a is None and b is None:
        return None, 1.0
    if b is None:
        return a, 1.0
    return U.divide(a or U.DIMENSIONLESS, b)
