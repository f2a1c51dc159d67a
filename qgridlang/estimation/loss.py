"""A plan's loss distribution: the measured expression in every scenario, and its 2**n-bin
discretisation (the grid a quantum state can hold)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from qgridlang.distributions import scipy_distribution
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


# ---- a declared distribution instead of the scenarios -----------------------------------------
_AFFINE_RTOL = 1e-9  # the measured values must be affine in one sampled value to this


def declared(flat: FlatModel, emp: Empirical, n: int, truncate: float | None
             ) -> tuple[Grid, dict[str, Any]]:
    """The measured expression through the declared distribution of the one sampled value it
    is affine in (``L = a x + b`` over the scenarios, ``x ~ slope * D + intercept``): ``D``'s
    range (its support, or ``mean ± truncate * sd`` where it is unbounded) in 2**n equal bins,
    each with its probability under ``D`` (CDF differences, renormalised: the mass outside is
    reported) at its midpoint. Refused, with the reason, where no single sampled value fits."""
    if not 1 <= n <= MAX_QUBITS:
        raise UsageError(f"qubits must be from 1 to {MAX_QUBITS}, got {n}")
    found = _affine_in(flat, emp)
    param, key, a, b, spec = found
    dist = scipy_distribution(spec.dist, spec.args)
    lo, hi = dist.support()
    mean, sd = float(dist.mean()), float(dist.std())
    if truncate is None:
        if np.isfinite(lo) and np.isfinite(hi):
            truncate = np.inf  # bounded: its whole support
        else:  # never a silent cut: the user states where the tails end
            raise UsageError(f"{spec.dist}(…) is unbounded: say where to cut its tails to load "
                             "it on a grid", hint="--option truncate=3 (mean ± 3 sd, the "
                             "paper's choice); the report states the mass left out")
    elif not truncate > 0:
        raise UsageError(f"truncate must be > 0 standard deviations, got {truncate:g}")
    cut_lo, cut_hi = max(lo, mean - truncate * sd), min(hi, mean + truncate * sd)
    edges = np.linspace(cut_lo, cut_hi, 2**n + 1)
    probs = np.diff(dist.cdf(edges))
    inside = float(probs.sum())
    mids = 0.5 * (edges[:-1] + edges[1:])
    loss = a * (spec.slope * mids + spec.intercept) + b
    if loss[0] > loss[-1]:  # a decreasing map: the grid runs from the smallest loss
        loss, probs = loss[::-1], probs[::-1]
    grid = Grid(n, loss, probs / inside, emp.unit)
    where = f"{param}[{','.join(str(k) for k in key)}]" if key else param
    shown = f"{spec.dist}({', '.join(f'{x:g}' for x in spec.args)})"
    info = {
        "source": "declared", "parameter": where, "distribution": shown,
        "map": f"{emp.expr} = {a:.6g} * {where} + {b:.6g}; {where} = {spec.slope:.6g} * "
               f"{shown} + {spec.intercept:.6g}",
        "truncation": None if (cut_lo, cut_hi) == (lo, hi) else
        f"[{cut_lo:.6g}, {cut_hi:.6g}] of {shown} (mean ± {truncate:g} sd where unbounded)",
        "mass_outside": 1.0 - inside,
        "expected_untruncated": float(a * (spec.slope * mean + spec.intercept) + b),
    }

    def sample(size: int, rng: np.random.Generator) -> np.ndarray:
        """Draws of the loss from the declared (untruncated) distribution."""
        return a * (spec.slope * dist.rvs(size=size, random_state=rng) + spec.intercept) + b

    c, d = a * spec.slope, a * spec.intercept + b  # L = c D + d

    def measure(kind: str, alpha: float | None, threshold: float | None,
                op: str | None) -> float:
        """The measure of the declared (untruncated, continuous) distribution."""
        if kind == "expected":
            return float(c * mean + d)
        if kind == "probability":
            assert threshold is not None and op is not None
            q = (threshold - d) / c
            above = float(dist.sf(q)) if c > 0 else float(dist.cdf(q))
            return above if op in (">", ">=") else 1.0 - above
        assert alpha is not None
        var = float(c * dist.ppf(alpha if c > 0 else 1.0 - alpha) + d)
        if kind == "var":
            return var
        excess = float(dist.expect(lambda z: max(c * z + d - var, 0.0)))
        return var + excess / (1.0 - alpha)

    info["sample"] = sample
    info["measure"] = measure
    return grid, info


def _affine_in(flat: FlatModel, emp: Empirical) -> tuple[str, Any, float, float, Any]:
    """The sampled value (parameter, key) the measured values are exactly affine in."""
    e = emp.values
    scale = max(1.0, float(np.abs(e).max()))
    best: tuple[str, Any, float, float, Any] | None = None
    several = []
    for p in flat.sampled.values():
        if p.scenario_set != emp.scenario_set:
            continue
        for k, key in enumerate(p.keys):
            x = p.values[k]
            if np.ptp(x) == 0.0:
                continue
            a, b = np.polyfit(x, e, 1)
            if np.abs(a * x + b - e).max() <= _AFFINE_RTOL * scale and a != 0.0:
                several.append(f"{p.name}{list(key) if key else ''}")
                if best is None:
                    best = (p.name, key, float(a), float(b), p.specs[k])
    if best is None:
        raise UsageError(
            f"'{emp.expr}' is not affine in one sampled value of {emp.scenario_set} under this "
            "plan (it depends on several draws, or on scenario-indexed decisions)",
            hint="estimate over the scenarios themselves (option source=scenarios, the "
                 "default)")
    if best[4] is None:
        raise UsageError(f"'{emp.expr}' follows {several[0]}, whose declaration is not one "
                         "draw scaled and shifted (e.g. exp(normal(…)), or bernoulli/poisson)",
                         hint="estimate over the scenarios themselves (source=scenarios)")
    return best
