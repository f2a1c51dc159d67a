"""The ``cqm`` target: the model as a dimod ConstrainedQuadraticModel, for Leap's hybrid CQM
solver (``--backend hybrid_cqm``).

The lowering keeps the model's rows as constraints (no penalties): binaries, bounded integers
and real variables that enter the objective linearly (:mod:`qgridlang.compilers.cqm`). This
module adds the exports (``.cqm``: dimod's file; ``.lp``), the report, and the sample-set
summary in model terms (``refine``).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from qgridlang.errors import UsageError
from qgridlang.flat import FlatModel
from qgridlang.lazy import lazy
from qgridlang.registry import Backend, Options, Target, register_target
from qgridlang.results import RawResult
from qgridlang.targets.feasibility import feasible_rows

# loaded when a model is lowered, not when the registry lists this target (qglc start-up)
dimod = lazy("dimod")
cqm = lazy("qgridlang.compilers.cqm")

if TYPE_CHECKING:
    from qgridlang.dispatcher import Compiled


@register_target
class CqmTarget(Target):
    name = "cqm"
    description = ("constrained quadratic model (dimod) straight from the model: rows stay "
                   "constraints, no penalties; for --backend hybrid_cqm")
    REQUIRED_MODULES = ("dimod",)
    EXPORTS = (".lp", ".cqm")
    OPTIONS: ClassVar[dict[str, str]] = {}

    def apply(self, flat: FlatModel, options: Options
              ) -> tuple[dimod.ConstrainedQuadraticModel, cqm.CqmInverse]:
        lowered: tuple[dimod.ConstrainedQuadraticModel, cqm.CqmInverse] = cqm.apply(flat)
        return lowered

    def invert(self, x: np.ndarray, inverse: Any) -> np.ndarray:
        return np.asarray(cqm.invert(x, inverse))

    def export(self, artifact: Any, path: Path) -> None:
        suffix = Path(path).suffix.lower()
        if suffix == ".cqm":
            with artifact.to_file() as handle, open(path, "wb") as out:
                out.write(handle.read())
        elif suffix == ".lp":
            Path(path).write_text(dimod.lp.dumps(cqm.lp_ready(artifact)), encoding="utf-8")
        else:
            raise UsageError(f"the cqm target writes .lp or .cqm (dimod's file) files, not "
                             f"'{suffix}'", hint="e.g. -o model.lp")

    def refine(self, raw: RawResult, compiled: Compiled, flat: FlatModel, backend: Backend,
               options: Options) -> RawResult:
        """The sample-set summary the QUBO backends give (``info["sampleset"]``), here with
        CQM objective energies and feasibility checked on the model's own rows."""
        if raw.xs is None or not len(raw.xs):
            return raw
        xs = np.asarray(raw.xs, dtype=float)
        model: dimod.ConstrainedQuadraticModel = compiled.artifact
        energy = np.asarray(model.objective.energies((xs, list(range(flat.n)))))
        feasible = feasible_rows(flat, xs)
        sign = 1.0 if flat.sense == "min" else -1.0
        summary = {"samples": len(xs), "energy_min": float(energy.min()),
                   "energy_mean": float(energy.mean()), "feasible_rate": float(feasible.mean()),
                   "objective": float(sign * energy[feasible].min()) if feasible.any() else None}
        return replace(raw, info={**raw.info, "sampleset": summary})

    def report(self, artifact: Any, inverse: Any) -> dict[str, Any]:
        model: dimod.ConstrainedQuadraticModel = artifact
        kinds = [model.vartype(v).name.lower() for v in model.variables]
        senses = [c.sense.value for c in model.constraints.values()]
        return {"variables": len(kinds),
                **{f"{k}_variables": kinds.count(k) for k in ("binary", "integer", "real")},
                "constraints": len(senses), "equalities": senses.count("=="),
                "objective_linear": int(np.count_nonzero(
                    [b for _, b in model.objective.iter_linear()])),
                "objective_quadratic": model.objective.num_interactions,
                "objective_sense": "min" if inverse.sense == "min" else "min of -objective"}
