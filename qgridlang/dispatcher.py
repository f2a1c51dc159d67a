"""Compile and solve: lower a checked model for a target, run a backend, invert the result."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qgridlang.checker import CheckedModel
from qgridlang.registry import Options, get_backend, get_target
from qgridlang.results import Solution, Status, build_solution


@dataclass
class Compiled:
    """A lowered model: the target's artifact, its inverse and a resource report."""

    target: str
    artifact: Any
    inverse: Any
    report: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)


def compile_model(checked: CheckedModel, target: str, options: Options | None = None,
                  output: Path | None = None) -> Compiled:
    options = options or Options()
    tgt = get_target(target)
    t0 = time.perf_counter()
    artifact, inverse = tgt.apply(checked.flat, options)
    t1 = time.perf_counter()
    timings = {**checked.timings, "lower": t1 - t0}
    if output is not None:
        tgt.export(artifact, output)
        timings["export"] = time.perf_counter() - t1
    return Compiled(target, artifact, inverse, tgt.report(artifact, inverse), timings)


def solve_model(checked: CheckedModel, backend: str, options: Options | None = None
                ) -> Solution:
    options = options or Options()
    be = get_backend(backend)
    compiled = compile_model(checked, be.target, options)
    tgt = get_target(be.target)
    t0 = time.perf_counter()
    raw = be.run(compiled.artifact, options)
    refine = getattr(tgt, "refine", None)  # a target's post-step (qubo: sample summary, retune)
    if refine is not None:
        raw = refine(raw, compiled, checked.flat, be, options)
    t1 = time.perf_counter()
    flat = checked.flat
    x = None
    if raw.xs is not None and len(raw.xs):
        x = _best_candidate(checked, [tgt.invert(xi, compiled.inverse) for xi in raw.xs])
    elif raw.x is not None:
        x = tgt.invert(raw.x, compiled.inverse)
    duals = None
    invert_duals = getattr(tgt, "invert_duals", None)
    if raw.duals is not None and invert_duals is not None:
        duals = invert_duals(raw.duals, compiled.inverse)
    timings = {**compiled.timings, "solve": t1 - t0}
    sol = build_solution(flat, x, raw, backend, be.target, timings, duals)
    sol.timings["invert"] = time.perf_counter() - t1
    sol.info.setdefault("report", compiled.report)
    if x is not None and not sol.feasible and sol.status == Status.OPTIMAL:
        sol.status = Status.FEASIBLE if not sol.violations else Status.ERROR
        sol.message = sol.message or "the backend's plan breaks model constraints"
    return sol


def _best_candidate(checked: CheckedModel, xs: list[np.ndarray]) -> np.ndarray:
    """The feasible candidate with the best exact objective, else the least violated one."""
    flat = checked.flat
    sign = 1.0 if flat.sense == "min" else -1.0
    scored = []
    for x in xs:
        viol = flat.violations(x)
        scored.append((len(viol) > 0, sum(v.amount for v in viol),
                       sign * flat.objective_value(x)))
    best = min(range(len(xs)), key=lambda i: scored[i])
    return xs[best]
