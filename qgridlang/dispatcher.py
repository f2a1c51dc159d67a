"""Compile and solve: lower a checked model for a target, run a backend, invert the result."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qgridlang.atomic import check_writable, write_atomically
from qgridlang.checker import CheckedModel
from qgridlang.errors import UsageError
from qgridlang.flat import FlatModel
from qgridlang.gcpause import paused
from qgridlang.registry import Backend, Options, Target, check_options, get_backend, get_target
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
    """Lower ``checked`` for ``target``; with ``output``, write the artifact atomically.

    The options are checked against the target's ``OPTIONS`` and the output path against the
    file system (and the target's ``EXPORTS``) before lowering, so a typo costs no lowering.
    """
    options = options or Options()
    tgt = get_target(target)
    check_options(options, tgt)
    _refuse_dynamics_only(checked)
    return _compile(checked, tgt, options, output)


def _refuse_dynamics_only(checked: CheckedModel) -> None:
    """A model of systems and controllers only has nothing to optimise: say what runs it."""
    flat = checked.flat
    if flat.n == 0 and (flat.systems or flat.simulations):
        raise UsageError("the model has no decision variables to optimise; it declares "
                         "systems and controllers", hint="run it with `qglc simulate MODEL`, or "
                         "qgridlang.simulate in Python")


def _compile(checked: CheckedModel, tgt: Target, options: Options,
             output: Path | None = None) -> Compiled:
    if output is not None:
        output = Path(output)
        check_writable(output)
        _check_suffix(tgt, output)
    if checked.flat.surrogate_links:
        from qgridlang.semantics.surrogates import refuse_links

        refuse_links(checked.flat, tgt)
    t0 = time.perf_counter()
    with paused():  # see qgridlang.gcpause
        artifact, inverse = tgt.apply(checked.flat, options)
    t1 = time.perf_counter()
    timings = {**checked.timings, "lower": t1 - t0}
    if output is not None:
        write_atomically(output, lambda tmp: tgt.export(artifact, tmp))
        timings["export"] = time.perf_counter() - t1
    return Compiled(tgt.name, artifact, inverse, tgt.report(artifact, inverse), timings)


def _check_suffix(tgt: Target, output: Path) -> None:
    """Refuse a suffix the target cannot write before lowering (a lowering can take long)."""
    name = output.name.lower()
    exports = tgt.EXPORTS
    if exports and not any(name.endswith(s) for s in exports):
        listed = exports[0] if len(exports) == 1 else \
            f"{', '.join(exports[:-1])} or {exports[-1]}"
        raise UsageError(f"the {tgt.name} target writes {listed} files, not '{output.name}'",
                         hint=f"e.g. -o model{exports[0]}")


def solve_model(checked: CheckedModel, backend: str, options: Options | None = None
                ) -> Solution:
    options = options or Options()
    be: Backend = get_backend(backend)
    tgt = get_target(be.target)
    check_options(options, tgt, be)
    _refuse_dynamics_only(checked)
    compiled = _compile(checked, tgt, options)
    t0 = time.perf_counter()
    raw = run_backend(be, compiled.artifact, compiled.inverse, checked.flat, options)
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
    from qgridlang.plotting.layout import model_layout

    # a caller's stand-in for a checked model (the qae target's {flat, timings}) has no layout
    sol.model = model_layout(checked) if getattr(checked, "ir", None) is not None else None
    if x is not None and not sol.feasible and sol.status == Status.OPTIMAL:
        sol.status = Status.FEASIBLE if not sol.violations else Status.ERROR
        sol.message = sol.message or "the backend's plan breaks model constraints"
    if sol.status == Status.ERROR and not sol.message.strip():
        # every backend should say why; this is the floor for one that does not
        sol.message = f"backend '{backend}' failed without giving a reason"
    return sol


def run_backend(be: Backend, artifact: Any, inverse: Any, flat: FlatModel,
                options: Options) -> Any:
    """``be.run(artifact)``, or ``be.run_lowered(artifact, inverse, flat)`` for a backend that
    samples with the lowering's structure (``tempering``: registers and row plan)."""
    run_lowered = getattr(be, "run_lowered", None)
    if run_lowered is not None:
        return run_lowered(artifact, inverse, flat, options)
    return be.run(artifact, options)


def _best_candidate(checked: CheckedModel, xs: list[np.ndarray]) -> np.ndarray:
    """The feasible candidate with the best exact objective, else the least violated one."""
    return xs[best_candidate(checked.flat, xs)]


def best_candidate(flat: FlatModel, xs: list[np.ndarray]) -> int:
    """The index of :func:`_best_candidate`'s choice (a target's refine step uses it too)."""
    sign = 1.0 if flat.sense == "min" else -1.0
    scored = []
    for x in xs:
        viol = flat.violations(x)
        scored.append((len(viol) > 0, sum(v.amount for v in viol),
                       sign * flat.objective_value(x)))
    return min(range(len(xs)), key=lambda i: scored[i])
