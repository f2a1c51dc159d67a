"""The units results are reported in, and compact unit text for derived units.

The checker computes in each declaration's own unit (a stdlib battery's ``soc`` in kWh). Results
are reported in the unit the user wrote where there is one:

1. A variable of a component instance is reported in the unit of the instance binding the user
   wrote for a parameter its bounds refer to (``battery ess { power = 50 MW }`` makes
   ``ess.charge``, declared ``kW in 0 .. power``, a result in MW), when that unit has the
   variable's dimension.
2. Otherwise, any member of an instance (variable, expression, port, constraint row) whose
   dimension matches the bindings the user wrote in one unit is reported in that unit
   (``energy = 200 MWh`` makes the battery's kWh rows and expressions MWh). Bindings of one
   dimension in different units (``pmax = 0.4 GW; pmin = 100 MW``) name no unit for it.
3. Otherwise a variable (or an expression with a declared unit) keeps its declared unit, and a
   derived unit is shown compactly (:func:`compact`: ``$/MWh*MW`` is ``$/h``).

The unit of a binding is the unit of the value the user wrote: ``50 MW`` is MW, a parameter
``energy_kwh[a]`` declared in kWh is kWh, a bare number has none.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import lru_cache

from qgridlang import ast
from qgridlang.semantics import units as U
from qgridlang.semantics.units import Unit

pint = U.pint  # loaded on first use (semantics/units.py)

_SYMBOLS = {"dollar": "$", "euro": "€", "percent": "%"}


def record_binding(user_units: dict[str, Unit], name: str, unit: Unit | None) -> None:
    """Remember the unit the user wrote for parameter ``name`` (dimensionless units say none)."""
    if unit is not None and not unit.dimensionless:
        user_units[name] = unit


def by_dimension(user_units: dict[str, Unit]) -> dict[object, Unit]:
    """Dimension -> the one unit the user wrote for it (dimensions written in two units drop)."""
    return _by_dimension(tuple(user_units.values()))


@lru_cache(maxsize=4096)
def _by_dimension(units: tuple[Unit, ...]) -> dict[object, Unit]:
    out: dict[object, Unit] = {}
    clash: set[object] = set()
    for u in units:
        dim = _dimension(u)
        if dim in clash:
            continue
        if dim in out and out[dim] != u:
            del out[dim]
            clash.add(dim)
        elif dim not in out:
            out[dim] = u
    return out


def variable_unit(user_units: dict[str, Unit], declared: Unit,
                  bounds: Iterable[ast.Node | None]) -> Unit:
    """Rules 1-3 of the module docstring for a variable declared in ``declared``."""
    if declared.dimensionless or not user_units:
        return declared
    dim = _dimension(declared)
    named = {u for n in _names(bounds) if (u := user_units.get(n)) is not None
             and _dimension(u) == dim}
    if len(named) == 1:
        return named.pop()
    return by_dimension(user_units).get(dim, declared)


def value_unit(user_units: dict[str, Unit], unit: Unit | None) -> Unit | None:
    """Rules 2-3 for an expression, port or row computed in ``unit``."""
    if unit is None or unit.dimensionless:
        return unit
    hit = by_dimension(user_units).get(_dimension(unit)) if user_units else None
    return hit if hit is not None else compact(unit)[0]


def scale(src: Unit | None, dst: Unit | None) -> float:
    """The factor taking a value in ``src`` to ``dst`` (1 when either is missing)."""
    if src is None or dst is None:
        return 1.0
    f = U.factor(src, dst)
    return 1.0 if f is None else f


@lru_cache(maxsize=4096)
def _dimension(u: Unit) -> object:
    return U._REGISTRY.get_dimensionality(u.pint)


def _names(nodes: Iterable[ast.Node | None]) -> Iterator[str]:
    """Names of the plain references (``power``, ``available[t]``) inside expressions."""
    stack: list[object] = [n for n in nodes if n is not None]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Ref):
            yield node.parts[0].name
        if isinstance(node, ast.Node):
            stack.extend(getattr(node, f) for f in type(node).model_fields if f != "span")
        elif isinstance(node, tuple | list):
            stack.extend(node)


@lru_cache(maxsize=4096)
def compact(u: Unit) -> tuple[Unit, float]:
    """A derived unit with its like terms cancelled, and the factor into it.

    ``$/MWh*MW`` -> (``$/h``, 1); ``$/kWh*MW`` -> (``$/h``, 1000); ``$/MW^2/h*MW`` ->
    (``$/MW/h``, 1). Energy units are read as power times hours (MWh = MW*h) so they cancel
    against powers and durations; a power times hours is an energy again (``MW*h`` is ``MWh``).
    """
    if u.dimensionless:
        return u, 1.0
    terms: list[tuple[str, int]] = []
    for name, exp in _exponents(u):
        base = name[: -len("_hour")] if name.endswith("_hour") else ""
        if base and base in U._REGISTRY:
            terms += [(base, exp), ("hour", exp)]
        else:
            terms.append((name, exp))
    groups: dict[object, list[tuple[str, int]]] = {}
    for name, exp in terms:
        groups.setdefault(U._REGISTRY.get_dimensionality(name), []).append((name, exp))
    factor = 1.0
    result: dict[str, int] = {}
    if all(len(g) == 1 for g in groups.values()):
        # nothing cancels across energy units; pint has merged repeated units already, so the
        # text is kept unless it names a unit twice (``$/MW^2/h*MW``) or is a power times hours
        result = dict(_exponents(u))
        tokens = [t for t in re.split(r"[*/()\s]+", u.text) if t and not t[0].isdigit()]
        if len(tokens) == len(result) and not _rejoin_energy(dict(result)):
            return u, 1.0
        groups = {}
    for group in groups.values():
        keep = max(group, key=lambda t: abs(t[1]))[0]
        total = 0
        for name, exp in group:
            if name != keep:
                factor *= float(U._REGISTRY.Quantity(1.0, name).to(keep).magnitude) ** exp
            total += exp
        if total:
            result[keep] = total
    _rejoin_energy(result)
    text = _format(result)
    if text == u.text:
        return u, factor
    try:
        unit = U.parse_unit(text)
    except ValueError:  # a symbol pint cannot read back: keep the original unit
        return u, 1.0
    return unit, factor


def _exponents(u: Unit) -> list[tuple[str, int]]:
    """The named units of ``u`` with their (integer) powers."""
    return [(name, int(exp)) for name, exp in u.pint._units.items()]  # type: ignore[arg-type]


def _rejoin_energy(units: dict[str, int]) -> bool:
    """``MW*h`` -> ``MWh`` (a power and hours to the first power make an energy)."""
    if units.get("hour") != 1:
        return False
    for name, exp in list(units.items()):
        if exp == 1 and name.endswith("watt") and f"{name}_hour" in U._REGISTRY:
            del units[name], units["hour"]
            units[f"{name}_hour"] = 1
            return True
    return False


def _format(units: dict[str, int]) -> str:
    """``{"dollar": 1, "megawatt": -2, "hour": -1}`` -> ``$/MW^2/h``."""

    def sym(name: str, exp: int) -> str:
        s = _SYMBOLS.get(name) or _symbol(name)
        return s if abs(exp) == 1 else f"{s}^{abs(exp)}"

    num = [sym(n, e) for n, e in units.items() if e > 0]
    den = [sym(n, e) for n, e in units.items() if e < 0]
    return ("*".join(num) or ("1" if den else "")) + "".join("/" + d for d in den)


def _symbol(name: str) -> str:
    try:
        return str(U._REGISTRY.get_symbol(name))
    except (pint.errors.UndefinedUnitError, KeyError):
        return name


def is_currency(u: Unit) -> bool:
    """True for an amount of money ($, €), not a rate ($/h) or a physical quantity."""
    dim = _dimension(u)
    return dim in (U._REGISTRY.get_dimensionality("dollar"),
                   U._REGISTRY.get_dimensionality("euro"))
