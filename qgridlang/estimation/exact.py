"""Risk measures of a discrete distribution, exactly (numpy).

VaR is the smallest value whose cumulative probability reaches ``alpha``; CVaR is
Rockafellar–Uryasev's ``VaR + E[(L - VaR)^+] / (1 - alpha)``, the same number the MILP target's
``cvar(…)`` epigraph takes at its optimum for the same scenarios.
"""

from __future__ import annotations

import numpy as np

CUMULATIVE_TOL = 1e-12  # probabilities sum in floating point: 0.95 may be 0.9499999999999


def expected(values: np.ndarray, probs: np.ndarray) -> float:
    return float(probs @ values)


def var_index(values: np.ndarray, probs: np.ndarray, alpha: float) -> int:
    """Index (in ``values`` sorted ascending) of the alpha-quantile."""
    order = np.argsort(values, kind="stable")
    cdf = np.cumsum(probs[order])
    k = int(np.searchsorted(cdf, alpha - CUMULATIVE_TOL, side="left"))
    return int(order[min(k, len(order) - 1)])


def value_at_risk(values: np.ndarray, probs: np.ndarray, alpha: float) -> float:
    return float(values[var_index(values, probs, alpha)])


def cvar(values: np.ndarray, probs: np.ndarray, alpha: float) -> float:
    v = value_at_risk(values, probs, alpha)
    return float(v + probs @ np.maximum(values - v, 0.0) / (1.0 - alpha))


def probability(values: np.ndarray, probs: np.ndarray, threshold: float, op: str) -> float:
    hit = {">": values > threshold, ">=": values >= threshold, "<": values < threshold,
           "<=": values <= threshold}[op]
    return float(probs[hit].sum())
