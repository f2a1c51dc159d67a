"""The ``program`` target: a model whose surrogate is called on variables, as a differentiable
program (``qglc solve model.qgl --backend pgd``).

A call ``ec(price)[t]`` of a variable gives the model response columns tied to ``price`` by the
trained surrogate (:class:`~qgridlang.semantics.surrogates.SurrogateLink`). The program splits
the columns in two:

- the **outer** columns: every surrogate's argument (``price``), continuous, with the rows that
  involve only them (bounds, ``sum(t) price[t] == …``): the feasible set the descent projects on;
- the **inner** problem: everything else, for fixed outer values and the responses the
  surrogates give for them: an LP/MILP/convex QP, solved exactly by HiGHS.

``C(z) = V(z, φ(z))`` is the inner optimum; its gradient is the envelope theorem's:
``∂V/∂x_j = ∂f/∂x_j − (Aᵀy)_j`` at the inner optimum (y: the row duals; with integer columns,
those of the LP with the integers fixed), chained through the surrogates by JAX
(``∇C = g_z + J_φ(z)ᵀ g_φ``). Products of an outer column with anything (a price times a
response: revenue) are linear or constant once the outer values are fixed, so the inner problem
stays linear; they enter the gradient exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from qgridlang.errors import TypeMismatch
from qgridlang.flat import FlatModel
from qgridlang.registry import Options, Target, register_target


@dataclass
class Program:
    """A differentiable program: the flat model, its links, their trained surrogates and the
    outer columns (in one order)."""

    flat: FlatModel
    links: list[Any]
    surrogates: dict[str, Any]  # name -> TrainedSurrogate
    outer: np.ndarray  # the outer columns (sorted)
    outer_rows: np.ndarray  # rows that involve outer columns only
    responses: np.ndarray  # every link's response columns (fixed in the inner problem)
    notes: list[str] = field(default_factory=list)


@register_target
class ProgramTarget(Target):
    name = "program"
    description = ("a model with surrogates called on variables: a differentiable program "
                   "(projected gradient through the surrogates, exact inner LP/MILP)")
    REQUIRED_MODULES = ("highspy", "jax")
    EXPORTS: ClassVar[tuple[str, ...]] = ()
    OPTIONS: ClassVar[dict[str, str]] = {}
    DIFFERENTIABLE = True

    def apply(self, flat: FlatModel, options: Options) -> tuple[Program, None]:
        return build(flat), None

    def invert(self, x: np.ndarray, inverse: Any) -> np.ndarray:
        return np.asarray(x, float)

    def export(self, artifact: Any, path: Path) -> None:
        raise TypeMismatch("the program target writes no file", None)

    def report(self, artifact: Any, inverse: Any) -> dict[str, Any]:
        p: Program = artifact
        return {"outer_columns": int(len(p.outer)), "outer_rows": int(len(p.outer_rows)),
                "response_columns": int(len(p.responses)),
                "surrogates": sorted({k.surrogate for k in p.links}),
                "inner_columns": int(p.flat.n - len(p.outer) - len(p.responses)),
                "rows": int(p.flat.m), "notes": p.notes}


def build(flat: FlatModel) -> Program:
    """Split ``flat`` into outer columns and the inner problem (see the module docstring)."""
    links = list(flat.surrogate_links)
    if not links:
        raise TypeMismatch("the program target takes models that call a surrogate on a "
                           "variable (ec(price)[t] with `var price[T]`)", flat.obj_span,
                           "this model is a MILP/QP: solve it with highs")
    missing = [k for k in links if k.surrogate not in flat.surrogate_models]
    if missing:
        k = missing[0]
        raise TypeMismatch(f"surrogate '{k.surrogate}' has no trained artifact to evaluate",
                           k.span, f"train it (qglc train MODEL --surrogate {k.surrogate} -o "
                           f"{k.surrogate}.qgls) and add trained = \"{k.surrogate}.qgls\" to "
                           "its declaration")
    outer = np.unique(np.concatenate([np.asarray(k.input_cols, np.int64) for k in links]))
    responses = np.concatenate([k.output_start + np.arange(k.length) for k in links])
    if np.intersect1d(outer, responses).size:
        k = links[0]
        raise TypeMismatch("a surrogate's response feeds a surrogate here: chained surrogates "
                           "are not supported", k.span)
    if (flat.kind[outer] != 0).any():
        k = next(k for k in links if (flat.kind[np.asarray(k.input_cols, np.int64)] != 0).any())
        raise TypeMismatch(f"'{k.input_name}' must be continuous: the program descends along "
                           "the gradient of its argument", k.span)
    is_outer = np.zeros(flat.n)
    is_outer[outer] = 1.0
    pattern = flat.A.tocsr().copy()
    pattern.data = np.ones_like(pattern.data)
    counts = pattern @ np.ones(flat.n)
    inside = pattern @ is_outer
    outer_rows = np.flatnonzero((counts > 0) & (inside == counts))
    return Program(flat, links, dict(flat.surrogate_models), outer, outer_rows, responses)
