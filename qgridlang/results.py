"""Solutions keyed by model names, with violations in model terms and units."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from qgridlang.flat import FlatModel, Key, Violation


class Status(StrEnum):
    """What a backend achieved, mapped from each solver's own statuses."""

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    TIME_LIMIT = "time_limit"
    ERROR = "error"


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
    info: dict[str, Any] = field(default_factory=dict)
    message: str = ""


@dataclass
class Solution:
    """A plan in the model's own names and units."""

    status: Status
    objective: float | None
    objective_unit: str
    backend: str
    target: str
    feasible: bool
    violations: list[Violation]
    variables: dict[str, Any]
    expressions: dict[str, Any]
    duals: dict[str, Any]
    timings: dict[str, float]
    info: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    x: np.ndarray | None = None

    def value(self, name: str) -> Any:
        """``sol.value("p")`` -> nested dict (or a number for a scalar variable/expression)."""
        if name in self.variables:
            return self.variables[name]
        return self.expressions[name]

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "objective": _finite(self.objective),
            "objective_unit": self.objective_unit,
            "backend": self.backend,
            "target": self.target,
            "feasible": self.feasible,
            "violations": [{"constraint": v.label, "amount": v.amount, "unit": v.unit,
                            "side": v.side, "message": str(v)} for v in self.violations],
            "variables": self.variables,
            "expressions": self.expressions,
            "duals": self.duals,
            "timings": {k: round(v, 6) for k, v in self.timings.items()},
            "info": _jsonable(self.info),
            "message": self.message,
        }


def _finite(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def nest(pairs: list[tuple[str, Key, float]], clean: bool = True) -> dict[str, Any]:
    """``[("p", ("u1", 1), 150.0)]`` -> ``{"p": {"u1": {"1": 150.0}}}``."""
    out: dict[str, Any] = {}
    for name, key, value in pairs:
        v = _clean(value) if clean else value
        if not key:
            out[name] = v
            continue
        node = out.setdefault(name, {})
        for k in key[:-1]:
            node = node.setdefault(str(k), {})
        node[str(key[-1])] = v
    return out


def _clean(v: float) -> float:
    """Round away solver noise (1e-12 -> 0, 149.99999999 -> 150)."""
    if not math.isfinite(v):
        return v
    r = round(v)
    if abs(v - r) <= 1e-9 * max(1.0, abs(v)):
        return float(r)
    return float(v)


def build_solution(flat: FlatModel, x: np.ndarray | None, raw: RawResult, backend: str,
                   target: str, timings: dict[str, float], row_duals: np.ndarray | None = None,
                   show_auxiliary: bool = False) -> Solution:
    """Evaluate ``x`` exactly on the model: objective, named expressions, violations."""
    if x is None:
        return Solution(raw.status, None, flat.obj_unit, backend, target, False, [], {}, {}, {},
                        timings, dict(raw.info), raw.message)
    pairs = [(b.name, k, float(x[b.start + i])) for b in flat.blocks
             if show_auxiliary or not b.auxiliary for i, k in enumerate(b.keys)]
    evals = flat.expr_values(x)
    exprs = [(e.name, e.key, float(v)) for e, v in zip(flat.exprs, evals, strict=True)]
    violations = flat.violations(x)
    duals: dict[str, Any] = {}
    if row_duals is not None:
        duals = nest([(r.name, r.key, float(d)) for r, d in zip(flat.rows, row_duals,
                                                                 strict=True)])
    return Solution(
        status=raw.status, objective=flat.objective_value(x), objective_unit=flat.obj_unit,
        backend=backend, target=target, feasible=not violations, violations=violations,
        variables=nest(pairs), expressions=nest(exprs), duals=duals, timings=timings,
        info=dict(raw.info), message=raw.message, x=x,
    )
