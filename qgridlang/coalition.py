"""Energy-community coalition formation on an induced subgraph game (ISG).

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

from qgridlang.checker import check_file
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


def gcsq(model: Path, backend: str, options: Options | None = None, set_name: str = "N",
         var_name: str = "x", tol: float = 1e-9) -> CoalitionResult:
    """GCS-Q: recursive bipartition of ``set_name`` with the model's binary ``var_name``."""
    options = options or Options()
    start = time.perf_counter()
    labels = _agents(model, var_name)
    pending: list[list[Label]] = [labels]
    final: list[list[Label]] = []
    gain, solves, bad = 0.0, 0, 0
    details: list[dict[str, Any]] = []
    while pending:
        coalition = pending.pop()
        if len(coalition) < 2:
            final.append(coalition)
            continue
        checked = check_file(model, subsets={set_name: coalition})
        sol = solve_model(checked, backend, options)
        solves += 1
        if sol.status not in (Status.OPTIMAL, Status.FEASIBLE) or not sol.feasible:
            bad += 1
            final.append(coalition)
            continue
        side = sol.variables[var_name]
        one = [a for a in coalition if side[str(a)] > 0.5]
        zero = [a for a in coalition if side[str(a)] <= 0.5]
        assert sol.objective is not None
        details.append({"size": len(coalition), "cut": sol.objective,
                        "seconds": sum(sol.timings.values())})
        if one and zero and sol.objective < -tol:
            gain -= sol.objective
            pending.extend([one, zero])
        else:
            final.append(coalition)
    return CoalitionResult(sorted(final, key=lambda c: str(c[0])), gain, solves,
                           time.perf_counter() - start, bad, details)


def _agents(model: Path, var_name: str) -> list[Label]:
    """The agents: the keys of the model's one-index binary variable ``var_name``."""
    from qgridlang.errors import UsageError

    checked = check_file(model)
    try:
        block = checked.flat.block_of(var_name)
    except KeyError:
        raise UsageError(f"gcsq: the model has no variable '{var_name}'") from None
    if block.kind != "binary" or any(len(k) != 1 for k in block.keys):
        raise UsageError(f"gcsq: '{var_name}' must be a binary variable with one index")
    return [k[0] for k in block.keys]


STRATEGIES = {"gcsq": gcsq}
