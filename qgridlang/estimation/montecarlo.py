"""Monte Carlo estimates of a risk measure: i.i.d. samples of the scenario distribution.

Confidence intervals at level ``1 - alpha_conf`` (normal approximation): the sample mean's for
``expected``; Wilson's score interval for ``probability``; order statistics for ``var``; for
``cvar`` the mean of Rockafellar–Uryasev's ``VaR + (L - VaR)^+ / (1 - alpha)`` at the sample VaR.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from qgridlang.estimation import exact
from qgridlang.estimation.measure import Measure


@dataclass(frozen=True)
class McResult:
    value: float
    ci: tuple[float, float]
    samples: int
    seconds: float


def estimate(m: Measure, values: np.ndarray, probs: np.ndarray, threshold: float | None,
             samples: int, alpha_conf: float, seed: int | None, *,
             resample: bool = True) -> McResult:
    """``resample``: draw ``samples`` of ``values`` by ``probs``; False: ``values`` are the
    samples already (draws of a declared distribution)."""
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    draw = values[rng.choice(len(values), size=samples, p=probs / probs.sum())] if resample \
        else np.asarray(values, float)
    z = float(norm.ppf(1.0 - alpha_conf / 2.0))
    if m.kind == "expected":
        mean = float(draw.mean())
        half = z * float(draw.std(ddof=1)) / np.sqrt(samples) if samples > 1 else np.inf
        value, ci = mean, (mean - half, mean + half)
    elif m.kind == "probability":
        assert threshold is not None and m.op is not None
        ones = np.full(samples, 1.0 / samples)
        p = exact.probability(draw, ones, threshold, m.op)
        value, ci = p, _wilson(p, samples, z)
    elif m.kind == "var":
        assert m.alpha is not None
        ordered = np.sort(draw)
        k = int(np.ceil(m.alpha * samples - 1e-12)) - 1
        spread = z * np.sqrt(samples * m.alpha * (1.0 - m.alpha))
        lo, hi = int(np.floor(k - spread)), int(np.ceil(k + spread))
        value = float(ordered[max(k, 0)])
        ci = (float(ordered[max(lo, 0)]), float(ordered[min(hi, samples - 1)]))
    else:
        assert m.alpha is not None
        ones = np.full(samples, 1.0 / samples)
        v = exact.value_at_risk(draw, ones, m.alpha)
        terms = v + np.maximum(draw - v, 0.0) / (1.0 - m.alpha)
        value = float(terms.mean())
        half = z * float(terms.std(ddof=1)) / np.sqrt(samples) if samples > 1 else np.inf
        ci = (value - half, value + half)
    return McResult(value, (float(ci[0]), float(ci[1])), samples, time.perf_counter() - start)


def _wilson(p: float, n: int, z: float) -> tuple[float, float]:
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)
