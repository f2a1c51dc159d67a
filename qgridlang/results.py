"""Solutions keyed by model names, every value with its unit, violations in model terms.

Values are reported in the unit the user wrote where there is one (a battery bound to
``power = 50 MW`` reports its charge in MW; the rules are in
:mod:`qgridlang.semantics.report_units`); duals are in objective unit per row unit.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeAlias, Union

import numpy as np

from qgridlang.errors import QglError, QglWarning, UsageError, did_you_mean
from qgridlang.flat import FlatModel, Key, Violation
from qgridlang.semantics import units as U

if TYPE_CHECKING:
    import pandas as pd

Label: TypeAlias = int | str
# values keyed by label text, as in JSON; a plain number for a scalar
Nested: TypeAlias = Union[float, dict[str, "Nested"]]  # noqa: UP007
# values keyed by the set elements themselves (int for integer sets)
Native: TypeAlias = Union[float, dict[Label, "Native"]]  # noqa: UP007
JsonValue: TypeAlias = Union[  # noqa: UP007
    None, bool, int, float, str, list["JsonValue"], dict[str, "JsonValue"]]


class Status(StrEnum):
    """What a backend achieved, mapped from each solver's own statuses.

    ``optimal``: proven best plan; ``feasible``: a plan, not proven best (heuristics, limits);
    ``infeasible``: proven that no plan exists; ``unbounded``: plans improve the objective
    without limit; ``infeasible_or_unbounded``: one of the two, not told apart within the
    limits; ``time_limit``: a limit stopped the solver before it had a plan; ``interrupted``:
    Ctrl-C stopped it (the best plan so far, if any); ``error``: the backend failed (the
    message says why: it is never empty).
    """

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    INFEASIBLE_OR_UNBOUNDED = "infeasible_or_unbounded"
    TIME_LIMIT = "time_limit"
    INTERRUPTED = "interrupted"
    ERROR = "error"


def status_message(status: Status, has_x: bool, solver: str) -> str | None:
    """The message every milp backend gives for a status that means the same whatever the
    solver (None for the statuses each backend words itself)."""
    if status == Status.INTERRUPTED:
        return "interrupted (Ctrl-C): " + ("the best plan found so far" if has_x
                                          else "no plan had been found yet")
    if status == Status.UNBOUNDED:
        return "the objective is unbounded: plans improve it without limit (is a bound or " \
               "constraint missing?)"
    if status == Status.INFEASIBLE:
        return "no plan satisfies every constraint and bound"
    if status == Status.INFEASIBLE_OR_UNBOUNDED:
        return f"{solver} proved the model infeasible or unbounded without telling which, and " \
               "the feasibility check did not finish"
    return None


def settled_status(check: Status, has_plan: bool) -> Status:
    """What a solver's "infeasible or unbounded" is, from a solve of the same rows, bounds and
    integrality with a zero objective: no plan means infeasible, a plan means the objective was
    unbounded (its data being rational); anything else leaves it undecided."""
    if check == Status.INFEASIBLE:
        return Status.INFEASIBLE
    if has_plan and check in (Status.OPTIMAL, Status.FEASIBLE):
        return Status.UNBOUNDED
    return Status.INFEASIBLE_OR_UNBOUNDED


@dataclass
class RawResult:
    """What a backend returns before inversion (columns in the target's own space).

    ``xs`` holds candidate points (samplers return many); ``x`` the backend's best one.
    """

    status: Status
    x: np.ndarray | None = None
    xs: np.ndarray | None = None
    duals: np.ndarray | None = None
    bound: float | None = None
    info: dict[str, object] = field(default_factory=dict)
    message: str = ""


class UnknownResult(UsageError, KeyError):
    """A name (or key) the solution has no value for; ``except KeyError`` catches it too."""

    def __str__(self) -> str:  # KeyError would quote the message
        return QglError.__str__(self)


@dataclass(frozen=True, eq=False)
class Series:
    """One named result (a variable, an expression or a constraint's duals).

    ``values[k]`` belongs to ``keys[k]`` (tuples of set elements in the sets' order; ``()`` for
    a scalar) and is in ``unit``, the unit results are reported in (see
    :mod:`qgridlang.semantics.report_units`). ``index`` names the index sets.
    """

    name: str
    unit: str
    index: tuple[str, ...]
    keys: tuple[Key, ...]
    values: np.ndarray

    @property
    def scalar(self) -> bool:
        return self.keys == ((),)

    def nested(self) -> Nested:
        """``{"u1": {"1": 150.0}}`` (labels as text, as in JSON); a number for a scalar."""
        if self.scalar:
            return float(self.values[0])
        out: dict[str, Nested] = {}
        for key, v in zip(self.keys, self.values, strict=True):
            node = out
            for k in key[:-1]:
                node = node.setdefault(str(k), {})  # type: ignore[assignment]
            node[str(key[-1])] = float(v)
        return out

    def native(self, factor: float = 1.0) -> Native:
        """Like :meth:`nested` with the elements' own types as keys (``{"u1": {1: 150.0}}``)."""
        if self.scalar:
            return float(self.values[0]) * factor
        out: dict[Label, Native] = {}
        for key, v in zip(self.keys, self.values, strict=True):
            node = out
            for k in key[:-1]:
                node = node.setdefault(k, {})  # type: ignore[assignment]
            node[key[-1]] = float(v) * factor
        return out

    def get(self, key: Key) -> float:
        try:
            return float(self.values[self.keys.index(key)])
        except ValueError:
            shown = ", ".join(map(str, self.keys[:4])) + (", …" if len(self.keys) > 4 else "")
            typed = [k for k in self.keys if tuple(map(str, k)) == tuple(map(str, key))]
            hint = (f"the keys are in the elements' types: {typed[0]!r}" if typed else
                    f"its keys: {shown}")
            raise UnknownResult(f"'{self.name}' has no element {key!r}", None, hint) from None

    def to_json(self) -> dict[str, JsonValue]:
        return {"unit": self.unit, "index": list(self.index),
                "values": _jsonable(self.nested())}

    def to_frame(self) -> pd.DataFrame:
        """Indexed by the set elements (level names are the sets'), columns value and unit."""
        pd = _pandas()

        if self.scalar:
            index = pd.Index([self.name], name="name")
        elif len(self.keys[0]) == 1:
            index = pd.Index([k[0] for k in self.keys], name=_level_names(self)[0])
        else:
            index = pd.MultiIndex.from_tuples(list(self.keys), names=_level_names(self))
        return pd.DataFrame({"value": np.asarray(self.values, float),
                             "unit": [self.unit] * len(self.keys)}, index=index)


def _level_names(s: Series) -> list[str]:
    """The index sets' names, made unique (``x[T, T]`` -> T, T_2); i1, i2 … when unknown."""
    width = len(s.keys[0])
    names = list(s.index) if len(s.index) == width else [f"i{k + 1}" for k in range(width)]
    seen: dict[str, int] = {}
    out: list[str] = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}_{seen[n]}")
    return out


@dataclass
class Solution:
    """A plan in the model's own names, every value in the unit it is reported in.

    ``variable_results``, ``expression_results`` and ``dual_results`` map model names
    (``p``, ``ess[3].soc``, ``ac.balance``) to :class:`Series`; ``variables``,
    ``expressions`` and ``duals`` are the same values as nested dicts keyed by label text.
    """

    status: Status
    objective: float | None
    objective_unit: str
    backend: str
    target: str
    feasible: bool
    violations: list[Violation]
    variable_results: dict[str, Series]
    expression_results: dict[str, Series]
    dual_results: dict[str, Series]
    timings: dict[str, float]
    info: dict[str, object] = field(default_factory=dict)
    message: str = ""
    x: np.ndarray | None = None
    warnings: list[QglWarning] = field(default_factory=list)
    # what plots need from the model (time set, buses, commitment, scenarios, risk): see
    # qgridlang.plotting.layout; None for a solution built without its checked model
    model: dict[str, object] | None = None

    @cached_property
    def variables(self) -> dict[str, Nested]:
        """``{"p": {"u1": {"1": 150.0}}, "k": 3.0}`` in each variable's reported unit."""
        return {n: s.nested() for n, s in self.variable_results.items()}

    @cached_property
    def expressions(self) -> dict[str, Nested]:
        return {n: s.nested() for n, s in self.expression_results.items()}

    @cached_property
    def duals(self) -> dict[str, Nested]:
        return {n: s.nested() for n, s in self.dual_results.items()}

    def unit(self, name: str) -> str:
        """The unit ``value(name)`` is in ('' for a plain number)."""
        return self._series(name, values=True).unit

    def dual_unit(self, name: str) -> str:
        """The unit of the duals of constraint ``name`` (objective unit per row unit)."""
        return self._series(name, values=False).unit

    def value(self, name: str, key: Label | Key | None = None, unit: str | None = None
              ) -> Native:
        """A variable's or expression's values: ``sol.value("p")`` -> ``{"u1": {1: 150.0}}``
        keyed by set elements in their own types (int for integer sets); a number for a
        scalar or with ``key`` (``sol.value("p", ("u1", 1))``). ``unit`` converts
        (``unit="kW"``); by default values are in :meth:`unit`."""
        return self._pick(self._series(name, values=True), key, unit)

    def dual(self, name: str, key: Label | Key | None = None, unit: str | None = None
             ) -> Native:
        """A constraint's duals (marginal objective per unit of the row), keyed as
        :meth:`value`; in :meth:`dual_unit` unless ``unit`` says otherwise."""
        return self._pick(self._series(name, values=False), key, unit)

    def to_frame(self, name: str | None = None) -> pd.DataFrame:
        """Results as a pandas DataFrame.

        With ``name``: that variable's, expression's or constraint's (duals) values indexed by
        its set elements (a ``MultiIndex`` named after the index sets; rows in the sets' order;
        integer elements as integers), columns ``value`` and ``unit``. Without: every
        variable, expression and dual in one long table with columns ``kind`` (variable,
        expression, dual), ``name``, ``key`` (the elements as text, ``u1,3``; empty for a
        scalar), ``value`` and ``unit``, which is what ``qglc solve --output`` writes.
        """
        pd = _pandas()

        if name is not None:
            try:
                return self._series(name, values=True).to_frame()
            except UnknownResult:
                if name in self.dual_results:
                    return self.dual_results[name].to_frame()
                raise
        rows: list[tuple[str, str, str, float, str]] = []
        for kind, results in (("variable", self.variable_results),
                              ("expression", self.expression_results),
                              ("dual", self.dual_results)):
            for s in results.values():
                for key, v in zip(s.keys, s.values, strict=True):
                    rows.append((kind, s.name, ",".join(map(str, key)), float(v), s.unit))
        return pd.DataFrame(rows, columns=["kind", "name", "key", "value", "unit"])

    def write(self, path: str | Path) -> None:
        """Write :meth:`to_frame` to ``path``: ``.csv``, or ``.parquet`` (needs pyarrow); or
        ``.json``, the result document :meth:`to_json` (what ``qglc plot`` reads)."""
        from qgridlang.atomic import write_atomically

        path = Path(path)
        check_plan_path(path)
        if path.suffix.lower() == ".json":  # the result document of `qglc solve --json`
            from qgridlang.jsondoc import dumps

            text = dumps(self.to_json(), indent=1)
            write_atomically(path, lambda tmp: tmp.write_text(text + "\n", encoding="utf-8"))
            return
        frame = self.to_frame()
        if path.suffix.lower() == ".csv":
            write_atomically(path, lambda tmp: frame.to_csv(tmp, index=False))
        else:
            write_atomically(path, lambda tmp: frame.to_parquet(tmp, index=False))

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "status": self.status.value,
            "objective": _finite(self.objective),
            "objective_unit": self.objective_unit,
            "backend": self.backend,
            "target": self.target,
            "feasible": self.feasible,
            "violations": [{"constraint": v.label, "amount": v.amount, "unit": v.unit,
                            "side": v.side, "message": str(v)} for v in self.violations],
            "variables": {n: s.to_json() for n, s in self.variable_results.items()},
            "expressions": {n: s.to_json() for n, s in self.expression_results.items()},
            "duals": {n: s.to_json() for n, s in self.dual_results.items()},
            "warnings": [w.to_json() for w in self.warnings],  # type: ignore[misc]
            "timings": {k: round(v, 6) for k, v in self.timings.items()},
            "info": _jsonable(self.info),
            "message": self.message,
            "model": _jsonable(self.model) if self.model is not None else None,
        }

    def plot(self, path: str | Path | None = None, panels: list[str] | None = None,
             dpi: int = 110) -> Any:
        """A matplotlib Figure of this plan: dispatch stacks per bus, state of charge,
        commitment, nodal prices and scenario costs with VaR and CVaR (only the panels the
        plan has data for, or ``panels``), axes in the model's units. With ``path`` it is also
        written (.png, .svg, .pdf). Headless: no display is needed."""
        from qgridlang.plotting import figure, save

        fig, _ = figure(self.to_json(), panels)
        if path is not None:
            save(fig, path, dpi)
        return fig

    def _series(self, name: str, values: bool) -> Series:
        mine = {**self.variable_results, **self.expression_results} if values else \
            self.dual_results
        hit = mine.get(name)
        if hit is not None:
            return hit
        other = self.dual_results if values else {**self.variable_results,
                                                  **self.expression_results}
        if name in other:
            hint = (f"'{name}' is a constraint: sol.dual('{name}')" if values else
                    f"'{name}' is a variable or expression: sol.value('{name}')")
        elif not values and not self.dual_results:
            hint = ("this solve returned no duals (HiGHS gives them for LPs and, with integers "
                    "fixed, for MILPs)")
        elif self.x is None:
            hint = f"the solve found no plan ({self.status.value})"
        else:
            hint = did_you_mean(name, mine) or f"known names: {', '.join(list(mine)[:8])}" + (
                ", …" if len(mine) > 8 else "")
        what = "value" if values else "dual"
        raise UnknownResult(f"no {what} named '{name}' in the solution", None, hint)

    @staticmethod
    def _pick(s: Series, key: Label | Key | None, unit: str | None) -> Native:
        factor = 1.0
        if unit is not None:
            try:
                f = U.factor(U.parse_unit(s.unit), U.parse_unit(unit))
            except ValueError as exc:
                raise UsageError(str(exc)) from None
            if f is None:
                raise UsageError(f"'{s.name}' is in {s.unit or 'plain numbers'}, which does not "
                                 f"convert to {unit}")
            factor = f
        if key is None:
            return s.native(factor)
        k: Key = key if isinstance(key, tuple) else (key,)
        return s.get(k) * factor


def check_plan_path(path: Path) -> None:
    """Refuse, before solving, a plan file qglc cannot write (suffix, pyarrow, folder)."""
    from qgridlang.atomic import check_writable

    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".json"):
        raise UsageError(f"cannot write a plan to '{path}': the file name must end in .csv, "
                         ".parquet or .json")
    needs = {".parquet": ("pandas", "pyarrow"), ".csv": ("pandas",)}.get(suffix, ())
    for module in needs:
        try:
            importlib.import_module(module)
        except ImportError:
            raise UsageError(f"writing '{path}' needs {module}, which is not installed",
                             hint=f"pip install {module} (or pip install "
                                  "'qgridlang[classical]')" + (", or write .csv"
                                                               if module == "pyarrow" else ""))
    check_writable(path)


def _pandas() -> ModuleType:
    try:
        return importlib.import_module("pandas")
    except ImportError:
        raise UsageError("results as a DataFrame need pandas, which is not installed",
                         hint="pip install pandas (or pip install 'qgridlang[classical]')"
                         ) from None


def _finite(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def _jsonable(v: object) -> JsonValue:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return _jsonable(v.tolist())
    if isinstance(v, np.generic):
        return _jsonable(v.item())
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if v is None or isinstance(v, bool | int | float | str):
        return v
    return str(v)


def _clean(v: float) -> float:
    """Round away solver noise (1e-12 -> 0, 149.99999999 -> 150)."""
    if not math.isfinite(v):
        return v
    r = round(v)
    if abs(v - r) <= 1e-9 * max(1.0, abs(v)):
        return float(r)
    return float(v)


def _series(entries: list[tuple[str, Key, float, str, tuple[str, ...]]]) -> dict[str, Series]:
    """Group ``(name, key, value, unit, index)`` in first-seen order into :class:`Series`.

    The elements of one name share the first element's unit; an element computed in another
    unit (an ``if`` with a bare number on one branch) is converted where it can be.
    """
    grouped: dict[str, tuple[str, tuple[str, ...], list[Key], list[float]]] = {}
    for name, key, value, unit, index in entries:
        g = grouped.get(name)
        if g is None:
            g = grouped[name] = (unit, index, [], [])
        elif unit != g[0] and unit and g[0]:
            f = U.factor(U.parse_unit(unit), U.parse_unit(g[0]))
            value = value * f if f is not None else value
        g[2].append(key)
        g[3].append(_clean(value))
    return {n: Series(n, unit, index, tuple(keys), np.asarray(vals, float))
            for n, (unit, index, keys, vals) in grouped.items()}


def build_solution(flat: FlatModel, x: np.ndarray | None, raw: RawResult, backend: str,
                   target: str, timings: dict[str, float], row_duals: np.ndarray | None = None,
                   show_auxiliary: bool = False) -> Solution:
    """Evaluate ``x`` exactly on the model: objective, named expressions, violations; every
    value scaled into the unit it is reported in."""
    if x is None:
        return Solution(raw.status, None, flat.obj_unit, backend, target, False, [], {}, {}, {},
                        timings, dict(raw.info), raw.message, warnings=list(flat.warnings))
    variables = _series([(b.name, k, float(x[b.start + i]) * b.report_scale, b.shown_unit,
                          b.index)
                         for b in flat.blocks if show_auxiliary or not b.auxiliary
                         for i, k in enumerate(b.keys)])
    expressions = _series([(e.name, e.key, float(v) * e.report_scale, e.shown_unit, e.index)
                           for e, v in zip(flat.exprs, flat.expr_values(x), strict=True)])
    duals: dict[str, Series] = {}
    if row_duals is not None:
        duals = _series([(r.name, r.key, float(d) * r.dual_scale, r.dual_unit, r.index)
                         for r, d in zip(flat.rows, row_duals, strict=True)])
    violations = flat.violations(x)
    return Solution(
        status=raw.status, objective=flat.objective_value(x), objective_unit=flat.obj_unit,
        backend=backend, target=target, feasible=not violations, violations=violations,
        variable_results=variables, expression_results=expressions, dual_results=duals,
        timings=timings, info=dict(raw.info), message=raw.message, x=x,
        warnings=list(flat.warnings),
    )
