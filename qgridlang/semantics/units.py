"""Units: a pint registry with the power-system vocabulary, and the few operations we need.

A :class:`Unit` wraps a pint unit; ``None`` stands for a bare number literal, which adopts the
unit of whatever it is added to or compared with (``p[t] <= 5`` with ``p`` in MW means 5 MW)
when that unit has a dimension; next to a scaled dimensionless unit (%) it stays a plain number
and the partner is converted instead (``1 - 5 %`` is 0.95). See :func:`reconcile`.
"""

from __future__ import annotations

import importlib
import sys
import threading
from functools import lru_cache
from typing import Any

from qgridlang.errors import QglError, Span, UnitMismatch
from qgridlang.lazy import lazy

# Importing pint and building its registry cost ~0.3 s: both wait until a unit is first parsed
# (`qglc targets`, `--version` and a model without units never pay), and the registry's parsed
# definitions are cached on disk by pint (``cache_folder=":auto:"``, the user's cache folder).
pint = lazy("pint")
_BUILD_LOCK = threading.Lock()  # one registry per process: units of two never compare equal
_BUILT: list[Any] = []


def _import_pint() -> None:
    """Import pint without dask. pint imports ``dask.base`` (~0.1 s) whenever dask is installed,
    for dask arrays of quantities, which qgl never makes; dask is installed here for the sweeps.
    A ``None`` entry in ``sys.modules`` makes pint's ``find_spec("dask")`` report it missing for
    the moment of that import, and is removed right after, so ``import dask`` works as usual.
    Where dask is loaded already (a sweep's worker), pint is imported as it is."""
    if "pint" in sys.modules or "dask" in sys.modules:
        return
    sys.modules["dask"] = None  # type: ignore[assignment]
    try:
        importlib.import_module("pint")
    finally:
        if "dask" in sys.modules and sys.modules["dask"] is None:
            del sys.modules["dask"]


def _build() -> Any:
    with _BUILD_LOCK:
        if not _BUILT:
            _import_pint()
            try:
                reg = pint.UnitRegistry(autoconvert_offset_to_baseunit=False,
                                        cache_folder=":auto:")
            except Exception:  # an unwritable or corrupt cache: build from the text
                reg = pint.UnitRegistry(autoconvert_offset_to_baseunit=False)
            reg.define("dollar = [currency] = USD = usd")
            reg.define("euro = [currency_eur] = EUR = eur")
            reg.define("pu = [] = per_unit")
            reg.define("VAr = volt * ampere = var")
            reg.define("cycle_count = [] = cycles")
            _BUILT.append(reg)
        return _BUILT[0]


class _Registry:
    """Stands for the pint registry (``U._REGISTRY.Quantity``, ``name in U._REGISTRY``)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(_BUILT[0] if _BUILT else _build(), name)

    def __contains__(self, name: object) -> bool:
        return name in (_BUILT[0] if _BUILT else _build())


_REGISTRY: Any = _Registry()

_ALIASES = {"$": "dollar", "€": "euro", "%": "percent"}


class Unit:
    """A unit of measure; hashable, cached; ``Unit.parse("$/MWh")``."""

    __slots__ = ("pint", "text")

    def __init__(self, pint_unit: pint.Unit, text: str) -> None:
        self.pint = pint_unit
        self.text = text

    def __repr__(self) -> str:
        return f"Unit({self.text!r})"

    def __str__(self) -> str:
        return self.text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Unit) and self.pint == other.pint

    def __hash__(self) -> int:
        return hash(self.pint)

    @property
    def dimensionless(self) -> bool:
        return bool(self.pint.dimensionless)


@lru_cache(maxsize=4096)
def parse_unit(text: str) -> Unit:
    """Parse unit text such as ``MW``, ``$/MWh``, ``kW*h``, ``%``; raises ValueError."""
    norm = text.strip()
    expr = norm
    for sym, name in _ALIASES.items():
        expr = expr.replace(sym, f" {name} ")
    try:
        q = _REGISTRY.parse_expression(expr) if expr.strip() else _REGISTRY.Quantity(1)
    except (pint.errors.UndefinedUnitError, pint.errors.DefinitionSyntaxError, AttributeError,
            TypeError, SyntaxError, ValueError, KeyError) as exc:
        raise ValueError(f"unknown unit {norm!r}") from exc
    if not isinstance(q, pint.Quantity) or q.magnitude != 1:
        raise ValueError(f"{norm!r} is not a unit")
    u = q.units
    try:
        _REGISTRY.Quantity(1.0, u) * _REGISTRY.Quantity(1.0, u)
    except pint.errors.OffsetUnitCalculusError:
        raise ValueError(f"offset unit {norm!r} is refused; use a difference unit (K, delta_degC)")
    return Unit(u, norm)


def unit_at(text: str, span: Span | None) -> Unit:
    """:func:`parse_unit` that raises a :class:`QglError` pointing at the source."""
    try:
        return parse_unit(text)
    except ValueError as exc:
        raise QglError(str(exc), span,
                       "units are pint names such as MW, kWh, h, min, $, $/MWh, %, pu") from None


def _dimensionless() -> Unit:
    return parse_unit("")


def __getattr__(name: str) -> Any:
    """``U.DIMENSIONLESS``, made on first use (it needs the registry)."""
    if name == "DIMENSIONLESS":
        return _dimensionless()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@lru_cache(maxsize=65536)
def factor(src: Unit, dst: Unit) -> float | None:
    """Multiplier taking a value in ``src`` to ``dst``; None when not convertible."""
    if src.pint == dst.pint:
        return 1.0
    try:
        return float(_REGISTRY.Quantity(1.0, src.pint).to(dst.pint).magnitude)
    except pint.errors.DimensionalityError:
        return None


def convert(src: Unit | None, dst: Unit | None, span: Span | None, what: str) -> float:
    """Conversion factor src -> dst, or a :class:`UnitMismatch` naming both units."""
    if src is None or dst is None:
        return 1.0
    f = factor(src, dst)
    if f is None:
        raise UnitMismatch(f"{what}: {describe(src)} and {describe(dst)} are incompatible", span)
    return f


@lru_cache(maxsize=4096)
def plain_factor(u: Unit) -> float | None:
    """Factor taking a dimensionless unit to a plain number (0.01 for %); None for a dimension."""
    if not u.dimensionless:
        return None
    f = factor(u, _dimensionless())
    assert f is not None
    return 1.0 if abs(f - 1.0) < 1e-12 else f


def reconcile(a: Unit | None, b: Unit | None, span: Span | None, what: str
              ) -> tuple[Unit | None, float, float]:
    """The common unit of two operands of ``+``, ``-`` or a comparison, and each one's factor.

    A bare number (``None``) adopts its partner's unit when that unit has a physical dimension
    (``p <= 5`` with ``p`` in MW means 5 MW) or is a plain dimensionless unit (pu). Against a
    scaled dimensionless unit (%, ppm) the partner becomes a plain number instead, so
    ``1 - 5 %`` is 0.95, not -4 %.
    """
    if a is None:
        if b is None:
            return None, 1.0, 1.0
        f = plain_factor(b)
        return (b, 1.0, 1.0) if f is None or f == 1.0 else (_dimensionless(), 1.0, f)
    if b is None:
        f = plain_factor(a)
        return (a, 1.0, 1.0) if f is None or f == 1.0 else (_dimensionless(), f, 1.0)
    return a, 1.0, convert(b, a, span, what)


def check_comparison(a: Unit | None, a_value: float, b: Unit | None, b_value: float,
                     span: Span | None) -> None:
    """Refuse comparing a scaled dimensionless quantity (%, ppm) with a nonzero bare number.

    ``q <= 50`` with ``q`` in % could mean 50 % or the plain number 50 (5000 %); pint reads the
    latter, most readers the former, so the model must say which (a bare 0 is unambiguous).
    """
    for unit, bare, value in ((a, b, b_value), (b, a, a_value)):
        if unit is not None and bare is None and value == value and value != 0.0 \
                and plain_factor(unit) not in (None, 1.0):
            raise UnitMismatch(
                f"ambiguous comparison of a quantity in {unit.text} with the bare number "
                f"{value:g}", span,
                f"write {value:g} {unit.text}, or {value / (plain_factor(unit) or 1.0):g} "
                f"{unit.text} for the plain number {value:g}")


def into(src: Unit | None, dst: Unit | None, span: Span | None, what: str) -> float:
    """Factor taking a value in ``src`` to ``dst`` by the bare-number rule of :func:`reconcile`.

    A bare number is taken as is in a unit with a dimension (or in pu), and as a plain number in
    a scaled dimensionless unit (a bare 1 is 100 in %).
    """
    if src is None:
        if dst is None:
            return 1.0
        f = plain_factor(dst)
        return 1.0 if f is None else 1.0 / f
    if dst is None:
        f = plain_factor(src)
        return 1.0 if f is None else f
    return convert(src, dst, span, what)


def common(units: list[Unit | None], span: Span | None, what: str
           ) -> tuple[Unit | None, list[float]]:
    """:func:`reconcile` for several operands (``min``, ``max``, a distribution's arguments)."""
    target = next((u for u in units if u is not None), None)
    if target is None:
        return None, [1.0] * len(units)
    if any(u is None for u in units) and plain_factor(target) not in (None, 1.0):
        target = _dimensionless()
    return target, [into(u, target, span, what) for u in units]


def describe(u: Unit | None) -> str:
    if u is None or (u.dimensionless and not u.text):
        return "a dimensionless number"
    return f"'{u.text}'" if u.text else f"'{u.pint:~}'"


@lru_cache(maxsize=65536)
def multiply(a: Unit, b: Unit) -> tuple[Unit, float]:
    """The product's unit and the factor to apply to the product of the values."""
    return _simplify(a.pint * b.pint, _join(a.text, "*", b.text))


@lru_cache(maxsize=65536)
def divide(a: Unit, b: Unit) -> tuple[Unit, float]:
    return _simplify(a.pint / b.pint, _join(a.text, "/", b.text))


@lru_cache(maxsize=4096)
def power(a: Unit, n: int) -> tuple[Unit, float]:
    return _simplify(a.pint**n, f"({a.text})^{n}" if a.text else "")


def _join(a: str, op: str, b: str) -> str:
    if not b:
        return a
    if not a:
        return b if op == "*" else f"1/{b}"
    inner = f"({b})" if "/" in b or "*" in b else b
    return f"{a}{op}{inner}"


_PREFERRED = ["dollar", "euro", "MWh", "kWh", "MW", "kW", "h", "min", "s", "MVAr", "kV", "Hz"]


def _simplify(u: pint.Unit, text: str) -> tuple[Unit, float]:
    """Normalise a derived unit: ``$/kWh*kW*min`` -> (``$``, 1/60); ``%*MW`` -> (``MW``, 0.01).

    Dimensionless results become plain numbers; a result with the dimension of a preferred unit
    ($, MWh, kWh, MW, kW, h …) becomes that unit (the first whose factor is 1, else the first
    that matches); anything else keeps its composed text with factor 1.
    """
    q = _REGISTRY.Quantity(1.0, u)
    if q.dimensionless:
        return _dimensionless(), float(q.to("dimensionless").magnitude)
    matches = []
    for name in _PREFERRED:
        target = _REGISTRY.Unit(name)
        if target.dimensionality == q.dimensionality:
            f = float(q.to(target).magnitude)
            label = {"dollar": "$", "euro": "€"}.get(name, name)
            if abs(f - 1.0) < 1e-12:
                return Unit(target, label), 1.0
            matches.append((Unit(target, label), f))
    return matches[0] if matches else (Unit(u, text), 1.0)


def unit_text(u: Unit | None) -> str:
    """Display text of a unit ('' when dimensionless)."""
    if u is None or (u.dimensionless and u.text in ("", "1")):
        return ""
    return u.text
