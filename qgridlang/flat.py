"""The flat numeric form of a checked model: what every lowering target consumes.

The checker expands a model (sets, indexed declarations, components, scenarios) into one flat
column space. Every column belongs to a :class:`VarBlock` (one declared variable, all its index
tuples) so results can be keyed by model names again. Constraints are rows of a sparse matrix
with two-sided bounds; the objective is linear plus an optional quadratic part.

Conventions:
- ``Q`` holds the quadratic objective as COO triples ``(i, j, v)`` with ``i <= j`` meaning the
  term ``v * x_i * x_j`` (so ``x_i^2`` has ``i == j``). Objective = ``c @ x + sum(v x_i x_j) +
  obj_const``, to be minimised when ``sense == "min"`` and maximised otherwise.
- Rows: ``row_lo <= A @ x <= row_hi`` with ``-inf``/``inf`` for one-sided rows and
  ``row_lo == row_hi`` for equalities. Each row's values are in ``rows[k].unit``.
- Units: columns, rows and expressions hold values in their declared (computed) ``unit``;
  results are reported in ``report_unit`` (the unit the user wrote, see
  :mod:`qgridlang.semantics.report_units`): a value in ``unit`` times ``report_scale`` is the
  value in ``report_unit``. A row's dual is in ``dual_unit`` (objective unit per row unit) after
  ``dual_scale``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from qgridlang.errors import QglWarning, Span
from qgridlang.lazy import lazy

sp = lazy("scipy.sparse")  # loaded when a model is built, not on import (qglc start-up)

VarKind = Literal["binary", "integer", "real"]
KIND_CODE: dict[str, int] = {"real": 0, "integer": 1, "binary": 2}

Key = tuple[int | str, ...]


def key_text(key: Key) -> str:
    """``("u1", 3)`` -> ``"[u1,3]"``; ``()`` -> ``""``."""
    return "[" + ",".join(str(k) for k in key) + "]" if key else ""


@dataclass(frozen=True)
class VarBlock:
    """One declared variable (all its index tuples), occupying columns ``start .. start+len``."""

    name: str  # model name, component-qualified: "p", "ess[3].soc", "utility.imp"
    kind: VarKind
    unit: str  # "" when dimensionless
    keys: tuple[Key, ...]
    start: int
    span: Span
    auxiliary: bool = False  # introduced by the checker (CVaR epigraph, …), hidden by default
    index: tuple[str, ...] = ()  # the names of the index sets ("?" where a domain is dependent)
    report_unit: str | None = None  # the unit results are reported in (None: ``unit``)
    report_scale: float = 1.0  # value in ``unit`` * report_scale = value in ``report_unit``

    @property
    def stop(self) -> int:
        return self.start + len(self.keys)

    @property
    def shown_unit(self) -> str:
        return self.unit if self.report_unit is None else self.report_unit


@dataclass(frozen=True)
class RowInfo:
    """Where a constraint row came from, for violations in model terms."""

    name: str  # "balance", "ess[3].dynamics", "ac.balance"
    key: Key
    unit: str
    span: Span
    report_unit: str | None = None
    report_scale: float = 1.0
    dual_unit: str = ""  # objective unit per report unit ("$/MW"); set when the model is built
    dual_scale: float = 1.0  # a dual (objective per ``unit``) * dual_scale is in ``dual_unit``
    index: tuple[str, ...] = ()  # the names of the constraint's index sets

    @property
    def label(self) -> str:
        return self.name + key_text(self.key)

    @property
    def shown_unit(self) -> str:
        return self.unit if self.report_unit is None else self.report_unit


@dataclass(frozen=True)
class ExprInfo:
    """One element of a named expression (or a component port)."""

    name: str
    key: Key
    unit: str
    report_unit: str | None = None
    report_scale: float = 1.0
    index: tuple[str, ...] = ()  # the names of the index sets

    @property
    def shown_unit(self) -> str:
        return self.unit if self.report_unit is None else self.report_unit


@dataclass(frozen=True)
class EncodeSpec:
    """``encode p[g, t] as integer(step = 10 MW)`` from the model's quantum block."""

    var: str  # VarBlock name it applies to
    method: str  # binary | unary | onehot | domain_wall | integer
    step: float | None  # in the variable's unit (None: integers step 1)
    span: Span


@dataclass(frozen=True)
class QuantumSpec:
    """The model's ``quantum { … }`` block."""

    encodings: tuple[EncodeSpec, ...] = ()
    penalty: float | None = None  # None = auto
    penalties: tuple[tuple[str, float], ...] = ()  # per-constraint overrides by name
    span: Span | None = None


@dataclass(frozen=True)
class DrawSpec:
    """How one sampled value was declared: ``slope * D + intercept`` with ``D`` the draw
    ``dist(*args)`` (``x[t] ~ uniform(-0.3, 0.3) * pv[t]`` is ``uniform(-0.3, 0.3)`` with slope
    ``pv[t]``), in the sampled parameter's unit."""

    dist: str
    args: tuple[float, ...]
    slope: float
    intercept: float


@dataclass(frozen=True)
class SampledParam:
    """A parameter drawn in a ``scenarios … = sample(…)`` block: its per-scenario values for
    each key (``values[k]`` over the scenario set) and, where the declaration is affine in one
    draw, that draw (:class:`DrawSpec`, else None)."""

    name: str
    scenario_set: str
    unit: str
    keys: tuple[Key, ...]
    values: np.ndarray  # (len(keys), scenarios)
    specs: tuple[DrawSpec | None, ...]


@dataclass
class FlatModel:
    """A fully expanded model over one column space (see module docstring)."""

    name: str
    blocks: list[VarBlock]
    lb: np.ndarray
    ub: np.ndarray
    kind: np.ndarray  # int8 codes, see KIND_CODE
    A: sp.csr_matrix
    row_lo: np.ndarray
    row_hi: np.ndarray
    rows: list[RowInfo]
    c: np.ndarray
    Q: tuple[np.ndarray, np.ndarray, np.ndarray]  # (i, j, v) with i <= j
    obj_const: float
    sense: Literal["min", "max"]
    obj_name: str
    obj_unit: str
    obj_span: Span | None
    exprs: list[ExprInfo] = field(default_factory=list)
    E: sp.csr_matrix | None = None  # named expressions, linear part
    e_const: np.ndarray | None = None
    e_quad: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None  # (row, i, j, v)
    quantum: QuantumSpec = field(default_factory=QuantumSpec)
    warnings: list[QglWarning] = field(default_factory=list)  # the checker's, for every output
    # scenario set -> probabilities, in the set's order (the risk measures' weights; estimation
    # reads them to build a measured expression's distribution)
    scenarios: dict[str, np.ndarray] = field(default_factory=dict)
    sampled: dict[str, SampledParam] = field(default_factory=dict)  # by parameter name
    # the model's `surrogate` declarations by name (qgridlang.surrogates.spec.SurrogateSpec):
    # the vqc target compiles them; `qglc train` trains them
    surrogates: dict[str, Any] = field(default_factory=dict)
    # `f(x)[t]` of a variable x: response columns tied to x's columns by the surrogate
    # (qgridlang.semantics.surrogates.SurrogateLink); targets needing a MILP/QP refuse them
    surrogate_links: list[Any] = field(default_factory=list)
    surrogate_models: dict[str, Any] = field(default_factory=dict)  # name -> TrainedSurrogate
    # `policy` declarations (qgridlang.policies.spec.PolicySpec): the Env and `qglc train
    # --policy` read them
    policies: dict[str, Any] = field(default_factory=dict)
    # `system`, `controller` and `simulate` declarations (qgridlang.semantics.systems and
    # .controllers): SystemData, ControllerData and SimulationSpec by name
    systems: dict[str, Any] = field(default_factory=dict)
    controllers: dict[str, Any] = field(default_factory=dict)
    simulations: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.lb.shape[0])

    @property
    def m(self) -> int:
        return int(self.A.shape[0])

    def column_names(self) -> list[str]:
        """``["p[u1,1]", …]`` in column order."""
        return [b.name + key_text(k) for b in self.blocks for k in b.keys]

    def block_of(self, name: str) -> VarBlock:
        for b in self.blocks:
            if b.name == name:
                return b
        raise KeyError(name)

    def objective_value(self, x: np.ndarray) -> float:
        """Exact model objective at ``x`` (quadratic part included)."""
        i, j, v = self.Q
        return float(self.c @ x + np.sum(v * x[i] * x[j]) + self.obj_const)

    def row_activity(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.A @ x).ravel()

    def expr_values(self, x: np.ndarray) -> np.ndarray:
        if self.E is None or self.e_const is None:
            return np.zeros(0)
        vals = np.asarray(self.E @ x).ravel() + self.e_const
        if self.e_quad is not None and len(self.e_quad[0]):
            r, i, j, v = self.e_quad
            np.add.at(vals, r, v * x[i] * x[j])
        return vals

    def violations(self, x: np.ndarray, tol: float = 1e-6) -> list[Violation]:
        """Rows, bounds and integrality that ``x`` breaks, in model terms and units."""
        out: list[Violation] = []
        act = self.row_activity(x)
        scale = np.maximum(1.0, np.abs(act))
        low = act < self.row_lo - tol * scale
        high = act > self.row_hi + tol * scale
        for k in np.flatnonzero(low | high):
            info = self.rows[k]
            if low[k]:
                amount, side = float(self.row_lo[k] - act[k]), "short"
            else:
                amount, side = float(act[k] - self.row_hi[k]), "over"
            out.append(Violation(info.label, amount * info.report_scale, info.shown_unit, side,
                                 info.span))
        names = None
        bad_lb = x < self.lb - tol * np.maximum(1.0, np.abs(self.lb))
        bad_ub = x > self.ub + tol * np.maximum(1.0, np.abs(self.ub))
        integral = self.kind > 0
        bad_int = integral & (np.abs(x - np.round(x)) > 1e-5)
        for col in np.flatnonzero(bad_lb | bad_ub | bad_int):
            names = names if names is not None else self.column_names()
            blk = self.block_containing(int(col))
            if bad_int[col]:
                out.append(
                    Violation(names[col], float(abs(x[col] - round(x[col]))), "", "fractional",
                              blk.span)
                )
            elif bad_lb[col]:
                out.append(Violation(names[col], float(self.lb[col] - x[col]) * blk.report_scale,
                                     blk.shown_unit, "below bound", blk.span))
            else:
                out.append(Violation(names[col], float(x[col] - self.ub[col]) * blk.report_scale,
                                     blk.shown_unit, "above bound", blk.span))
        return out

    def block_containing(self, col: int) -> VarBlock:
        for b in self.blocks:
            if b.start <= col < b.stop:
                return b
        raise IndexError(col)


@dataclass(frozen=True)
class Violation:
    """``balance[14]: 3.2 MW short``."""

    label: str
    amount: float
    unit: str
    side: str  # short | over | below bound | above bound | fractional
    span: Span | None = None

    def __str__(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.label}: {self.amount:.6g}{unit} {self.side}"
