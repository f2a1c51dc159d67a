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


def locate(flat: FlatModel, expr: str) -> tuple[list[int], str]:
    """The rows of named expression ``expr`` in ``flat.exprs`` and its scenario set (usage
    errors for a name that is missing or not indexed over one scenario set)."""
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
    if len(rows) != len(flat.scenarios[set_name]):
        raise UsageError(f"'{expr}' is defined for {len(rows)} of the "
                         f"{len(flat.scenarios[set_name])} scenarios of {set_name}: a measure "
                         "needs its value in every scenario")
    return rows, set_name


def empirical(flat: FlatModel, x: np.ndarray, expr: str) -> Empirical:
    """The value of named expression ``expr[s]`` for every scenario ``s``, under plan ``x``."""
    rows, set_name = locate(flat, expr)
    values = flat.expr_values(x)[rows] * np.array([flat.exprs[k].report_scale for k in rows])
    return Empirical(expr, set_name, values, np.asarray(flat.scenarios[set_name], float),
                     flat.exprs[rows[0]].shown_unit)


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
    """The measured expression through the declared distributions of the sampled values it is
    affine in (``L = b + sum_k a_k x_k`` over the scenarios, each ``x_k ~ slope_k D_k +
    intercept_k``, the draws independent).

    Each ``D_k``'s range (its support, or ``mean ± truncate * sd`` where it is unbounded) is
    split into 2**n equal bins, each with its probability under ``D_k`` (CDF differences,
    renormalised: the mass outside is reported) at its midpoint. Several draws make one register
    over their product (``n`` qubits each), its states sorted by loss. Refused, with the reason,
    where the loss is not affine in declared draws.
    """
    if not 1 <= n <= MAX_QUBITS:
        raise UsageError(f"qubits must be from 1 to {MAX_QUBITS}, got {n}")
    terms, b = _affine_terms(flat, emp)
    if len(terms) * n > MAX_QUBITS:
        raise UsageError(f"'{emp.expr}' follows {len(terms)} draws: {len(terms)} x {n} qubits is "
                         f"more than {MAX_QUBITS}", hint=f"fewer qubits per draw (qubits <= "
                         f"{MAX_QUBITS // len(terms)}), or source=scenarios")
    loss = np.full(1, b)
    probs = np.ones(1)
    inside_all = 1.0
    shown, cuts, maps = [], [], []
    dists = []
    for where, a, spec in terms:
        dist = scipy_distribution(spec.dist, spec.args)
        lo, hi = dist.support()
        mean, sd = float(dist.mean()), float(dist.std())
        cut = _cut(spec.dist, lo, hi, mean, sd, truncate)
        edges = np.linspace(cut[0], cut[1], 2**n + 1)
        p = np.diff(dist.cdf(edges))
        inside = float(p.sum())
        mids = 0.5 * (edges[:-1] + edges[1:])
        loss = np.add.outer(loss, a * (spec.slope * mids + spec.intercept)).ravel()
        probs = np.multiply.outer(probs, p / inside).ravel()
        inside_all *= inside
        text = f"{spec.dist}({', '.join(f'{x:g}' for x in spec.args)})"
        shown.append(text)
        maps.append(f"{where} = {spec.slope:.6g} * {text} + {spec.intercept:.6g}")
        if cut != (lo, hi):
            cuts.append(f"{where}: [{cut[0]:.6g}, {cut[1]:.6g}] of {text}")
        dists.append((a, spec, dist, mean))
    order = np.argsort(loss, kind="stable")  # one register, its states in loss order
    grid = Grid(n * len(terms), loss[order], probs[order], emp.unit)
    lin = " + ".join(f"{a:.6g} * {w}" for w, a, _ in terms)
    info: dict[str, Any] = {
        "source": "declared", "parameters": [w for w, _, _ in terms], "distributions": shown,
        "map": f"{emp.expr} = {lin} + {b:.6g}; " + "; ".join(maps),
        "truncation": "; ".join(cuts) + f" (mean ± {truncate:g} sd where unbounded)"
        if cuts else None,
        "mass_outside": 1.0 - inside_all,
        "register": {"draws": len(terms), "qubits": n * len(terms), "states": 2**grid.n},
        "expected_untruncated": float(b + sum(a * (sp.slope * m + sp.intercept)
                                              for a, sp, _, m in dists)),
    }

    def sample(size: int, rng: np.random.Generator) -> np.ndarray:
        """Draws of the loss from the declared (untruncated) distributions."""
        out = np.full(size, b)
        for a, sp, dist, _ in dists:
            out += a * (sp.slope * dist.rvs(size=size, random_state=rng) + sp.intercept)
        return out

    def measure(kind: str, alpha: float | None, threshold: float | None,
                op: str | None) -> float | None:
        """The measure of the declared (untruncated, continuous) distribution; None where it
        has no closed form here (a sum of several draws, except its expectation)."""
        if kind == "expected":
            return float(info["expected_untruncated"])
        if len(dists) != 1:
            return None
        a, sp, dist, _ = dists[0]
        c, d = a * sp.slope, a * sp.intercept + b  # L = c D + d
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


def _cut(name: str, lo: float, hi: float, mean: float, sd: float, truncate: float | None
         ) -> tuple[float, float]:
    if truncate is None:
        if np.isfinite(lo) and np.isfinite(hi):
            return lo, hi  # bounded: its whole support
        # never a silent cut: the user states where the tails end
        raise UsageError(f"{name}(…) is unbounded: say where to cut its tails to load it on a "
                         "grid", hint="--option truncate=3 (mean ± 3 sd, the paper's choice); "
                         "the report states the mass left out")
    if not truncate > 0:
        raise UsageError(f"truncate must be > 0 standard deviations, got {truncate:g}")
    return max(lo, mean - truncate * sd), min(hi, mean + truncate * sd)


def _affine_terms(flat: FlatModel, emp: Empirical) -> tuple[list[tuple[str, float, Any]], float]:
    """The sampled values the measured values are exactly affine in, with their coefficients,
    and the constant: one value alone where one fits, else all of the set's by least squares."""
    e = emp.values
    scale = max(1.0, float(np.abs(e).max()))
    cols: list[tuple[str, np.ndarray, Any]] = []
    for p in flat.sampled.values():
        if p.scenario_set != emp.scenario_set:
            continue
        for k, key in enumerate(p.keys):
            if np.ptp(p.values[k]) > 0.0:
                where = f"{p.name}[{','.join(str(x) for x in key)}]" if key else p.name
                cols.append((where, p.values[k], p.specs[k]))
    fits = []
    for where, x, spec in cols:
        a, b = np.polyfit(x, e, 1)
        if a != 0.0 and np.abs(a * x + b - e).max() <= _AFFINE_RTOL * scale:
            fits.append(([(where, float(a), spec)], float(b)))
    if not fits and cols and len(cols) < len(e):
        X = np.column_stack([np.ones(len(e)), *[x for _, x, _ in cols]])
        coef, *_ = np.linalg.lstsq(X, e, rcond=None)
        if np.abs(X @ coef - e).max() <= _AFFINE_RTOL * scale:
            used = [(w, float(c), sp) for (w, x, sp), c in zip(cols, coef[1:], strict=True)
                    if abs(c) * float(np.ptp(x)) > _AFFINE_RTOL * scale]
            if used:
                fits.append((used, float(coef[0])))
    if not fits:
        raise UsageError(
            f"'{emp.expr}' is not affine in the sampled values of {emp.scenario_set} under this "
            "plan (it depends on scenario-indexed decisions, or on a draw non-linearly)",
            hint="estimate over the scenarios themselves (option source=scenarios, the "
                 "default)")
    terms, b = fits[0]
    for where, _, spec in terms:
        if spec is None:
            raise UsageError(f"'{emp.expr}' follows {where}, whose declaration is not one draw "
                             "scaled and shifted (e.g. exp(normal(…)), or bernoulli/poisson)",
                             hint="estimate over the scenarios themselves (source=scenarios)")
    return terms, b
