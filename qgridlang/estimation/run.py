"""``qglc estimate`` / ``qg.estimate``: one risk measure of a plan, by one estimator, with the
exact value of the scenarios and of their discretisation alongside."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qgridlang.errors import UsageError, did_you_mean
from qgridlang.estimation import exact, loss
from qgridlang.estimation.measure import Measure, parse_measure
from qgridlang.semantics import units as U

_SOURCE = {
    "source": "scenarios (default: the scenarios' values and probabilities) | declared (the "
              "declared distribution of the one sampled value the expression is affine in)",
    "truncate": "declared: cut an unbounded distribution at mean ± truncate sd (required for "
                "one; e.g. 3)",
}
ESTIMATORS: dict[str, str] = {
    "qae": "quantum amplitude estimation on qiskit-aer (statevector, shots, or a fake IBM "
           "device's noise)",
    "mc": "Monte Carlo: i.i.d. samples of the scenarios",
    "exact": "the exact value on the scenarios and on their 2**n-point discretisation",
}
# estimator -> the --option keys it reads (anything else is refused, with a did-you-mean)
OPTIONS: dict[str, dict[str, str]] = {
    "qae": {
        "qubits": "loader qubits n: the loss on 2**n grid points (default 6)",
        "method": "ae (canonical, phase estimation) | iqae (default) | mlae | fae",
        "payoff": "exact (uniformly-controlled RY, default) | exact_mc (the paper's Circuit-2) "
                  "| linear (Circuit-1, small-angle linearisation)",
        "epsilon": "target half-width of the amplitude's interval (iqae, fae; default 1e-3)",
        "alpha_conf": "1 - confidence level of the intervals (default 0.05)",
        "eval_qubits": "evaluation qubits m of canonical AE; MLAE's largest power 2**(m-1) "
                       "(default 5)",
        "shots": "shots per circuit (default: exact statevector probabilities)",
        "seed": "simulator seed",
        "device": "where the circuits run: a fake IBM device under its noise model "
                  "(FakeManilaV2 …), ibm or ibm:<device> (IBM Quantum via qiskit-ibm-runtime, "
                  "saved account; ibm:Fake… is its local testing mode) (default: Aer)",
        **_SOURCE,
    },
    "mc": {
        "samples": "Monte Carlo samples (default 10000)",
        "qubits": "also report the exact value on the 2**n-point grid (default 6)",
        "alpha_conf": "1 - confidence level of the interval (default 0.05)",
        "seed": "random seed",
        **_SOURCE,
    },
    "exact": {"qubits": "grid points 2**n for the discretised value (default 6)", **_SOURCE},
}
_INTS = {"qubits": 1, "eval_qubits": 1, "shots": 1, "samples": 1, "seed": 0}
_FLOATS = {"epsilon": (0.0, 0.5), "alpha_conf": (0.0, 1.0), "truncate": (0.0, 100.0)}
_CHOICES = {"method": ("ae", "iqae", "mlae", "fae"), "payoff": ("exact", "exact_mc", "linear"),
            "source": ("scenarios", "declared")}


@dataclass
class Loss:
    """A measure's loss for one plan: the scenarios' values, the grid an estimator reads and,
    with ``source=declared``, the declared draws behind it (what ``qglc estimate`` and the
    ``qae`` target both start from)."""

    measure: Measure
    emp: loss.Empirical
    grid: loss.Grid
    declared: dict[str, Any]
    plan: str  # where the plan came from
    threshold: float | None  # probability(e > x): x in the expression's unit

    def discretisation(self) -> dict[str, Any]:
        """The grid and how it was made, for reports."""
        m, grid, declared = self.measure, self.grid, self.declared
        disc = {"qubits": grid.n, "points": 2**grid.n, "lo": float(grid.values[0]),
                "hi": float(grid.values[-1]),
                # equal steps, except over several declared draws (their product by loss)
                "step": grid.step if len(declared.get("parameters", ())) <= 1 else None,
                "error_bound": grid.error_bound if m.kind != "probability" and not declared
                else None, "scenarios": len(self.emp.values),
                **{k: v for k, v in declared.items() if k not in ("sample", "measure")}}
        if declared:  # the declared distribution's own value (continuous, untruncated)
            disc["exact_declared"] = declared["measure"](m.kind, m.alpha, self.threshold,
                                                         m.op)
        return disc


def prepare(checked: Any, m: Measure, plan: str | Path | np.ndarray | None,
            opts: dict[str, Any]) -> Loss:
    """The plan (a file, a column vector, or None: solve with HiGHS) and the measured loss on
    its grid (options ``qubits``, ``source``, ``truncate``, already checked)."""
    flat = checked.flat
    loss.locate(flat, m.expr)  # the measure's expression first: a wrong name costs no solve
    if plan is None:
        from qgridlang.estimation.plan import by_solving

        x, source = by_solving(checked)
    elif isinstance(plan, np.ndarray):
        if plan.shape != (flat.n,):
            raise UsageError(f"a plan has {flat.n} column values, got shape {plan.shape}")
        x, source = plan.astype(float), "given as a column vector"
    else:
        from qgridlang.estimation.plan import from_file

        x, source = from_file(flat, Path(plan)), str(plan)
    emp = loss.empirical(flat, x, m.expr)
    n = int(opts.get("qubits", 6))
    declared: dict[str, Any] = {}
    if opts.get("source", "scenarios") == "declared":
        grid, declared = loss.declared(flat, emp, n, opts.get("truncate"))
    else:
        grid = loss.discretise(emp, n)
    return Loss(m, emp, grid, declared, source, threshold_in(m, emp.unit))


@dataclass
class Estimate:
    """What an estimate reports (``to_dict`` is the ``--json`` document)."""

    measure: str
    expression: str
    scenario_set: str
    unit: str
    backend: str
    value: float
    ci: tuple[float, float] | None
    exact_scenarios: float  # the measure on the scenarios themselves (what the MILP computes)
    exact_grid: float  # the measure on the discretisation the estimator reads
    discretisation: dict[str, Any]
    plan: str
    seconds: float
    oracle_queries: int | None = None
    shots: int | None = None
    samples: int | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ci"] = list(self.ci) if self.ci is not None else None
        return out


def check_options(backend: str, extra: dict[str, Any]) -> dict[str, Any]:
    """Validated ``--option`` values for ``backend`` (a :class:`UsageError` names the bad one)."""
    if backend not in ESTIMATORS:
        raise UsageError(f"unknown estimator '{backend}'",
                         hint=did_you_mean(backend, ESTIMATORS) or
                         "one of " + ", ".join(ESTIMATORS))
    known = OPTIONS[backend]
    out: dict[str, Any] = {}
    for key, raw in extra.items():
        if key not in known:
            raise UsageError(f"estimator '{backend}' has no option '{key}'",
                             hint=did_you_mean(key, known) or
                             "its options: " + ", ".join(sorted(known)))
        out[key] = _value(key, raw)
    return out


def _value(key: str, raw: Any) -> Any:
    if key in _INTS:
        try:
            v = int(str(raw))
        except ValueError:
            v = -1
        if v < _INTS[key] or (isinstance(raw, float) and not raw.is_integer()):
            raise UsageError(f"option '{key}' must be a whole number >= {_INTS[key]}, got "
                             f"{raw!r}")
        return v
    if key in _FLOATS:
        lo, hi = _FLOATS[key]
        try:
            f = float(raw)
        except (TypeError, ValueError):
            f = float("nan")
        if not lo < f < hi:
            raise UsageError(f"option '{key}' must be a number in ({lo:g}, {hi:g}), got {raw!r}")
        return f
    if key in _CHOICES:
        if str(raw) not in _CHOICES[key]:
            raise UsageError(f"option '{key}' must be one of {', '.join(_CHOICES[key])}, got "
                             f"{raw!r}", hint=did_you_mean(str(raw), _CHOICES[key]))
        return str(raw)
    return str(raw)  # device: checked by the runner against the fake backends


def estimate(checked: Any, measure: str | Measure, backend: str = "qae",
             plan: str | Path | np.ndarray | None = None,
             options: dict[str, Any] | None = None) -> Estimate:
    """Estimate ``measure`` of the plan (a file, a column vector, or None: solve with HiGHS)."""
    start = time.perf_counter()
    opts = check_options(backend, dict(options or {}))
    m = measure if isinstance(measure, Measure) else parse_measure(measure)
    lo = prepare(checked, m, plan, opts)
    emp, grid, declared, threshold = lo.emp, lo.grid, lo.declared, lo.threshold
    on_scen = _exact(m, emp.values, emp.probs, threshold)
    on_grid = _exact(m, grid.values, grid.probs, threshold)
    disc = lo.discretisation()
    source = lo.plan
    # exact: the grid's value, no interval (the scenarios' own value is beside it)
    out = Estimate(m.label, m.expr, emp.scenario_set, emp.unit, backend, on_grid, None,
                   on_scen, on_grid, disc, source, 0.0)
    if backend == "mc":
        from qgridlang.estimation import montecarlo

        samples = int(opts.get("samples", 10_000))
        if declared:  # draws of the declared distribution itself, as Monte Carlo would make
            rng = np.random.default_rng(opts.get("seed"))
            draws = declared["sample"](samples, rng)
            r = montecarlo.estimate(m, draws, np.full(samples, 1.0 / samples), threshold,
                                    samples, float(opts.get("alpha_conf", 0.05)),
                                    opts.get("seed"), resample=False)
        else:
            r = montecarlo.estimate(m, emp.values, emp.probs, threshold, samples,
                                    float(opts.get("alpha_conf", 0.05)), opts.get("seed"))
        out.value, out.ci, out.samples = r.value, r.ci, r.samples
    elif backend == "qae":
        from qgridlang.estimation import quantum

        s = quantum.QaeSettings(
            method=opts.get("method", "iqae"), payoff=opts.get("payoff", "exact"),
            epsilon=float(opts.get("epsilon", 1e-3)),
            alpha_conf=float(opts.get("alpha_conf", 0.05)),
            eval_qubits=int(opts.get("eval_qubits", 5)), shots=opts.get("shots"),
            seed=opts.get("seed"), device=opts.get("device"))
        q = quantum.estimate(m, grid, threshold, s)
        out.value, out.ci = q.value, q.ci
        out.oracle_queries, out.shots = q.oracle_queries, q.shots or None
        out.details = {"method": s.method, "payoff": s.payoff, "steps": q.steps,
                       "resources": q.resources, "simulation_seconds": q.seconds,
                       "device": s.device,
                       # the classical estimate at the same cost: as many samples as A-queries
                       "monte_carlo": _same_cost_mc(m, emp, declared, threshold, q.oracle_queries,
                                                    s.alpha_conf, s.seed)}
    out.seconds = time.perf_counter() - start
    return out


_MC_CAP = 1_000_000  # samples of the same-cost Monte Carlo beside a quantum estimate


def _same_cost_mc(m: Measure, emp: loss.Empirical, declared: dict[str, Any],
                  threshold: float | None, queries: int, alpha_conf: float,
                  seed: int | None) -> dict[str, Any]:
    """Monte Carlo with as many samples as the quantum estimate's A-queries (capped), from the
    same distribution (the scenarios, or the declared draws)."""
    from qgridlang.estimation import montecarlo

    n = int(min(max(queries, 2), _MC_CAP))
    if declared:
        draws = declared["sample"](n, np.random.default_rng(seed))
        r = montecarlo.estimate(m, draws, np.full(n, 1.0 / n), threshold, n, alpha_conf, seed,
                                resample=False)
    else:
        r = montecarlo.estimate(m, emp.values, emp.probs, threshold, n, alpha_conf, seed)
    return {"value": r.value, "ci": list(r.ci), "samples": r.samples,
            "capped": queries > _MC_CAP}


def threshold_in(m: Measure, unit: str) -> float | None:
    """``probability(e > x)``'s x in the expression's reported unit."""
    if m.threshold is None:
        return None
    if m.threshold_unit is None or m.threshold_unit == unit:
        return m.threshold
    src = U.parse_unit(m.threshold_unit)
    dst = U.parse_unit(unit) if unit else U.DIMENSIONLESS
    return m.threshold * U.convert(src, dst, None, f"the threshold of {m.label}")


def _exact(m: Measure, values: np.ndarray, probs: np.ndarray, threshold: float | None) -> float:
    if m.kind == "expected":
        return exact.expected(values, probs)
    if m.kind == "var":
        assert m.alpha is not None
        return exact.value_at_risk(values, probs, m.alpha)
    if m.kind == "cvar":
        assert m.alpha is not None
        return exact.cvar(values, probs, m.alpha)
    assert threshold is not None and m.op is not None
    return exact.probability(values, probs, threshold, m.op)
