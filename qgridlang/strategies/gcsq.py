"""GCS-Q: energy-community coalition formation on an induced subgraph game (ISG).

- :func:`generate` writes a random instance as the paper describes its random problems: a fully
  connected graph of agents with Gaussian pairwise joint utilities of a given width, seeded.
- :func:`gcsq` is the GCS-Q solve strategy: start from the grand coalition, solve the
  bipartition model on each coalition with any QUBO (or MILP) backend, and accept a split only
  when it strictly increases the total value; recurse on both sides.
- :func:`structure_value` scores a coalition structure from the weights.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qgridlang.checker import CheckedModel, check_file
from qgridlang.dispatcher import solve_model
from qgridlang.registry import Options
from qgridlang.results import Status

Label = int | str


def generate(folder: Path, n: int, sigma: float = 1.0, seed: int = 0) -> np.ndarray:
    """Write ``agents.csv`` and ``weights.csv`` (one row per pair i < j) into ``folder``."""
    rng = np.random.default_rng(seed)
    w = np.triu(rng.normal(0.0, sigma, (n, n)), 1)
    folder.mkdir(parents=True, exist_ok=True)
    labels = [f"a{k + 1:02d}" for k in range(n)]
    with (folder / "agents.csv").open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["agent"])
        out.writerows([[lab] for lab in labels])
    with (folder / "weights.csv").open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["i", "j", "w"])
        for i in range(n):
            for j in range(i + 1, n):
                out.writerow([labels[i], labels[j], f"{w[i, j]:.6f}"])
    return w + w.T


def read_weights(folder: Path) -> tuple[list[str], np.ndarray]:
    """Agents and the symmetric weight matrix of an instance folder."""
    with (folder / "agents.csv").open() as fh:
        labels = [row["agent"] for row in csv.DictReader(fh)]
    pos = {lab: k for k, lab in enumerate(labels)}
    w = np.zeros((len(labels), len(labels)))
    with (folder / "weights.csv").open() as fh:
        for row in csv.DictReader(fh):
            i, j = pos[row["i"]], pos[row["j"]]
            w[i, j] += float(row["w"])
            w[j, i] += float(row["w"])
    return labels, w


def structure_value(coalitions: list[list[str]], labels: list[str], w: np.ndarray) -> float:
    """Sum over coalitions of the joint utilities of their pairs."""
    pos = {lab: k for k, lab in enumerate(labels)}
    total = 0.0
    for c in coalitions:
        idx = np.array([pos[a] for a in c])
        total += float(np.triu(w[np.ix_(idx, idx)], 1).sum())
    return total


@dataclass
class CoalitionResult:
    coalitions: list[list[Label]]
    gain: float  # value gained over the grand coalition (minus the sum of accepted cuts)
    solves: int
    seconds: float
    infeasible_solves: int = 0
    details: list[dict[str, Any]] = field(default_factory=list)
    value: float | None = None  # the structure's value (None: the objective is not a cut)
    value_unit: str = ""
    value_note: str = ""
    warnings: list[dict[str, Any]] = field(default_factory=list)  # the model's, as JSON

    def to_json(self, strategy: str, backend: str, target: str) -> dict[str, Any]:
        """The shape of a solve result (``Solution.to_json``): ``objective`` is the structure
        value, ``feasible`` that the coalitions partition the agents, plus ``coalitions``,
        ``gain``, ``solves``, ``failed_solves`` and ``seconds``."""
        ok = self.infeasible_solves == 0
        message = self.value_note if ok else (
            f"{self.infeasible_solves} of {self.solves} bipartition solves found no feasible "
            "split; those coalitions were kept whole")
        return {
            "status": "feasible" if ok else "error", "objective": self.value,
            "objective_unit": self.value_unit, "backend": backend, "target": target,
            "feasible": True, "violations": [], "variables": {}, "expressions": {},
            "duals": {}, "timings": {"solve": round(self.seconds, 6)},
            "info": {"strategy": strategy, "details": self.details}, "message": message,
            "warnings": self.warnings,
            "model": None,  # a structure of many solves: no one plan for `qglc plot`
            "strategy": strategy, "coalitions": self.coalitions, "gain": self.gain,
            "solves": self.solves, "failed_solves": self.infeasible_solves,
            "seconds": round(self.seconds, 6),
        }


def gcsq(model: Path, backend: str, options: Options | None = None, set_name: str = "N",
         var_name: str = "x", tol: float = 1e-9,
         overrides: dict[str, str] | None = None) -> CoalitionResult:
    """GCS-Q: recursive bipartition of ``set_name`` with the model's binary ``var_name``.

    ``overrides`` are ``--set`` values, applied to every sub-problem. The result's ``value``
    is the structure value: the model's objective must be the cut of an induced subgraph game,
    ``sum(i < j) W[i, j] * (x[i] + x[j] - 2 x[i] x[j])``, whose pair weights ``W`` are read
    off the objective's coefficients (the bipartition example's form).
    """
    options = options or Options()
    start = time.perf_counter()
    grand = check_file(model, overrides)
    labels = _agents(grand, var_name)
    weights, note = pair_weights(grand, var_name)
    pending: list[list[Label]] = [labels]
    final: list[list[Label]] = []
    gain, solves, bad = 0.0, 0, 0
    details: list[dict[str, Any]] = []
    while pending:
        coalition = pending.pop()
        if len(coalition) < 2:
            final.append(coalition)
            continue
        checked = check_file(model, overrides, subsets={set_name: coalition})
        sol = solve_model(checked, backend, options)
        solves += 1
        if sol.status not in (Status.OPTIMAL, Status.FEASIBLE) or not sol.feasible:
            bad += 1
            final.append(coalition)
            continue
        # the sides from the plan's columns (model order), not from the reported values,
        # whose shape is for people and tools
        assert sol.x is not None
        block = checked.flat.block_of(var_name)
        side = {k[0]: float(v) for k, v in zip(block.keys, sol.x[block.start:block.stop],
                                                strict=True)}
        one = [a for a in coalition if side[a] > 0.5]
        zero = [a for a in coalition if side[a] <= 0.5]
        assert sol.objective is not None
        details.append({"size": len(coalition), "cut": sol.objective,
                        "seconds": sum(sol.timings.values())})
        if one and zero and sol.objective < -tol:
            gain -= sol.objective
            pending.extend([one, zero])
        else:
            final.append(coalition)
    coalitions = sorted(final, key=lambda c: str(c[0]))
    value = None
    if weights is not None:
        pos = {a: k for k, a in enumerate(labels)}
        value = 0.0
        for c in coalitions:
            idx = np.array([pos[a] for a in c])
            value += float(np.triu(weights[np.ix_(idx, idx)], 1).sum())
    return CoalitionResult(coalitions, gain, solves, time.perf_counter() - start, bad, details,
                           value, grand.flat.obj_unit, note,
                           [w.to_json() for w in grand.warnings])


def pair_weights(checked: CheckedModel, var_name: str, tol: float = 1e-9
                 ) -> tuple[np.ndarray | None, str]:
    """The symmetric pair weights ``W`` of a cut objective over ``var_name`` (see :func:`gcsq`),
    or None and the reason when the objective is not such a cut."""
    flat = checked.flat
    block = flat.block_of(var_name)
    n = len(block.keys)
    i, j, v = flat.Q
    inside = (i >= block.start) & (i < block.stop) & (j >= block.start) & (j < block.stop)
    w = np.zeros((n, n))
    np.add.at(w, (i[inside] - block.start, j[inside] - block.start), -0.5 * v[inside])
    w = np.triu(w, 1) + np.triu(w, 1).T
    c = np.asarray(flat.c, dtype=float)
    others = np.delete(c, np.arange(block.start, block.stop))
    diag = np.asarray(i == j) & inside
    scale = max(1.0, float(np.abs(w).max(initial=0.0)))
    if (flat.sense != "min" or not inside.all() or np.any(np.abs(v[diag]) > tol * scale)
            or np.any(np.abs(others) > tol * scale)
            or not np.allclose(c[block.start:block.stop], w.sum(axis=1), atol=tol * scale)
            or abs(flat.obj_const) > tol * scale):
        return None, ("the objective is not the cut of an induced subgraph game over "
                      f"'{var_name}', so the structure value is not reported")
    return w, ""


def _agents(checked: CheckedModel, var_name: str) -> list[Label]:
    """The agents: the keys of the model's one-index binary variable ``var_name``."""
    from qgridlang.errors import UsageError

    try:
        block = checked.flat.block_of(var_name)
    except KeyError:
        raise UsageError(f"gcsq: the model has no variable '{var_name}'") from None
    if block.kind != "binary" or any(len(k) != 1 for k in block.keys):
        raise UsageError(f"gcsq: '{var_name}' must be a binary variable with one index")
    return [k[0] for k in block.keys]

