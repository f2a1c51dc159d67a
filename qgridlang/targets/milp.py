"""Registered lowering targets (wrappers over the pure passes in ``qgridlang.compilers``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from qgridlang.flat import FlatModel
from qgridlang.lazy import lazy
from qgridlang.registry import Options, Target, register_target

milp = lazy("qgridlang.compilers.milp")  # the lowering loads on use (qglc start-up)


@register_target
class MilpTarget(Target):
    name = "milp"
    description = "sparse MILP/MIQP matrices (LP and MPS export); ground truth for every target"
    REQUIRED_MODULES = ("highspy",)
    EXPORTS = (".lp", ".mps")
    OPTIONS: ClassVar[dict[str, str]] = {}

    def apply(self, flat: FlatModel, options: Options) -> tuple[milp.Milp, milp.MilpInverse]:
        return milp.apply(flat)

    def invert(self, x: np.ndarray, inverse: Any) -> np.ndarray:
        return milp.invert(x, inverse)

    def invert_duals(self, duals: np.ndarray, inverse: Any) -> np.ndarray:
        return milp.invert_duals(duals, inverse)

    def export(self, artifact: Any, path: Path) -> None:
        from qgridlang.backends.highs import export_model

        export_model(artifact, path)

    def report(self, artifact: Any, inverse: Any) -> dict[str, Any]:
        m: milp.Milp = artifact
        return {
            "columns": m.n, "rows": int(m.A.shape[0]), "nonzeros": int(m.A.nnz),
            "integer_columns": int(m.integer.sum()),
            "quadratic_terms": int(m.H.nnz), "auxiliary_columns": m.n - m.n_model,
            "notes": m.notes, "sense": "max" if m.negated else "min",
        }
