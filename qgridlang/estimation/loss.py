"""A plan's loss distribution: the measured expression in every scenario, and its 2**n-bin
discretisation (the grid a quantum state can hold)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qgridlang.errors import UsageError, did_you_mean
from qgridlang.flat import FlatModel

MAX_QUBITS = 24  # loader qubits; a statevector of 2**24 amplitudes is 256 MiB


@dataclass(frozen=True)
class Empirical:
    """The measured expression's value in each scenario (in ``unit``) and the probabilities."""

    expr: str
    scenario_set: str
    values: np.ndarray
    probs: np.ndarray
    unit: str


@dataclass(frozen=True)
class Grid:
    """The loss rounded to the nearest of 2**n equally spaced points from the smallest to the
    largest scenario value: ``probs[k]`` is the probability of point ``values[k]``. Each value
    moves by at most ``step / 2``, so the expectation, VaR and CVaR of the grid are within
    ``error_bound`` of the scenarios' own (each of them is 1-Lipschitz in the loss)."""

    n: int
    values: np.ndarray
    probs: np.ndarray
    unit: str

    @property
    def step(self) -> float:
        return float(self.values[1] - self.values[0]) if len(self.values) > 1 else 0.0

    @property
    def error_bound(self) -> float:
        return self.step / 2.0


def empirical(flat: FlatModel, x: np.ndarray, expr: str) -> Empirical:
    """The value of named expression ``expr[s]`` for every scenario ``s``, under plan ``x``."""
    rows = [k for k, e in enumerate(flat.exprs) if e.name == expr]
    if not rows:
        names = sorted({e.name for e in flat.exprs if len(e.index) == 1})
        raise UsageError(f"the model has no expression '{expr}' to measure",
                         hint=did_you_mean(expr, names) or "measure an expression indexed over "
                         "a scenario set, e.g. expr cost[s in S] = …")
    info = flat.exprs[rows[0]]
    if len(info.index) != 1 or info.index[0] not in flat.scenarios:
        over = ", ".join(info.index) or "nothing"
        raise UsageError(f"'{expr}' is indexed over [{over}], not over one scenario set",
                         hint="declare the set's probabilities with `scenarios S = …` and "
                         f"index the expression over it: expr {expr}[s in S] = …")
    set_name = info.index[0]
    probs = flat.scenarios[set_name]
    if len(rows) != len(probs):
        raise UsageError(f"'{expr}' is defined for {len(rows)} of the {len(probs)} scenarios "
                         f"of {set_name}: a measure needs its value in every scenario")
    values = flat.expr_values(x)[rows] * np.array([flat.exprs[k].report_scale for k in rows])
    return Empirical(expr, set_name, values, np.asarray(probs, float),
                     info.shown_unit)


def discretise(emp: Empirical, n: int) -> Grid:
    """``emp`` on a grid of 2**n points (nearest point; the ends are the extreme scenarios)."""
    if not 1 <= n <= MAX_QUBITS:
        raise UsageError(f"qubits must be from 1 to {MAX_QUBITS}, got {n}")
    lo, hi = float(emp.values.min()), float(emp.values.max())
    size = 2**n
    if hi == lo:  # one value: every scenario on the first point; the grid's step is 1 unit
        hi = lo + 1.0
    values = np.linspace(lo, hi, size)
    index = np.clip(np.rint((emp.values - lo) / (hi - lo) * (size - 1)), 0, size - 1)
    probs = np.bincount(index.astype(np.int64), weights=emp.probs, minlength=size)
    return Grid(n, values, probs / probs.sum(), emp.unit)
