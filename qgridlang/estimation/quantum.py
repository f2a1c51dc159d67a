"""Quantum amplitude estimation of a measure on a :class:`~.loss.Grid`.

- ``expected``: one expectation oracle (payoff ``f(i) = (v_i - lo) / (hi - lo)``).
- ``probability(e > x)``: one tail oracle (a comparator at the first grid point past ``x``).
- ``var``: bisection on the grid index, each step an estimate of the tail probability
  ``P(i >= k)`` compared with ``1 - alpha`` (Woerner & Egger, npj Quantum Information 2019).
- ``cvar``: at the VaR index ``k``, the comparator-controlled expectation oracle gives
  ``E[L 1(i >= k)]`` and the tail oracle ``P(i >= k)``;
  ``CVaR = VaR + (E[L 1(i >= k)] - VaR P(i >= k)) / (1 - alpha)`` (Rockafellar–Uryasev).

Every amplitude estimate carries its confidence interval, A-queries and shots; the totals
over all steps are reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qgridlang.estimation import exact
from qgridlang.estimation.loss import Grid
from qgridlang.estimation.measure import Measure


@dataclass
class QaeResult:
    value: float
    ci: tuple[float, float] | None
    oracle_queries: int
    shots: int
    seconds: float
    steps: list[dict[str, Any]] = field(default_factory=list)
    resources: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class QaeSettings:
    method: str = "iqae"
    payoff: str = "exact"
    epsilon: float = 1e-3
    alpha_conf: float = 0.05
    eval_qubits: int = 5
    shots: int | None = None
    seed: int | None = None
    device: str | None = None


def estimate(m: Measure, grid: Grid, threshold: float | None, s: QaeSettings) -> QaeResult:
    from qgridlang.compilers import qae

    lossgrid = qae.LossGrid(grid.probs, grid.values)
    run = _Runner(s)
    if m.kind == "expected":
        oracle = qae.expectation_oracle(lossgrid, s.payoff)
        a = run(oracle, "expected")
        value, ci = oracle.post_processing(a.estimate), _mapped(oracle, a.ci)
        resources = qae.resources(oracle.circuit, _fake(s.device))
    elif m.kind == "probability":
        assert threshold is not None and m.op is not None
        k, upper = threshold_index(grid.values, threshold, m.op)
        if k >= len(grid.values):  # nothing beyond the threshold on the grid
            value, ci, resources = 0.0, (0.0, 0.0), {}
        elif k == 0:
            value, ci, resources = 1.0, (1.0, 1.0), {}
        else:
            oracle = qae.tail_probability_oracle(lossgrid, k)
            a = run(oracle, f"P(i >= {k})")
            value, ci = a.estimate, a.ci
            resources = qae.resources(oracle.circuit, _fake(s.device))
        if not upper:  # P(L < x) = 1 - P(i >= k)
            value, ci = 1.0 - value, (1.0 - ci[1], 1.0 - ci[0])
    else:
        assert m.alpha is not None
        k = _var_bisection(qae, lossgrid, m.alpha, run)
        v = float(grid.values[k])
        if m.kind == "var":
            value, ci = v, None
            resources = qae.resources(qae.tail_probability_oracle(lossgrid, max(k, 1)).circuit,
                                      _fake(s.device))
        else:
            tail = run.tail(qae, lossgrid, k)
            oracle = qae.expectation_oracle(lossgrid, s.payoff, threshold_index=k)
            a = run(oracle, f"E[f 1(i >= {k})]")

            alpha = m.alpha

            def cvar_of(amp: float, p_tail: float) -> float:
                # E[(L - VaR)^+] = E[L 1(i >= k)] - VaR P(i >= k), the grid being sorted
                tail_mean = qae.tail_expectation(oracle, amp, p_tail)
                return v + (tail_mean - v * p_tail) / (1.0 - alpha)

            value = cvar_of(a.estimate, tail.estimate)
            # affine in the amplitude and in P(i >= k): the extremes are at the corners
            corners = [cvar_of(x, y) for x in a.ci for y in tail.ci]
            ci = (min(corners), max(corners))
            resources = qae.resources(oracle.circuit, _fake(s.device))
    return QaeResult(float(value), None if ci is None else (float(ci[0]), float(ci[1])),
                     run.queries, run.shots, run.seconds, run.steps, resources)


def _fake(device: str | None) -> str | None:
    """The device to transpile to for the resource report: a fake one (an IBM Quantum device's
    own transpilation happens in the runner, on the service)."""
    return device if device is not None and device.lower().startswith("fake") else None


def _mapped(oracle: Any, ci: tuple[float, float]) -> tuple[float, float]:
    a, b = oracle.post_processing(ci[0]), oracle.post_processing(ci[1])
    return (min(a, b), max(a, b))


def threshold_index(values: np.ndarray, threshold: float, op: str) -> tuple[int, bool]:
    """The first grid index in the event's upper part, and whether the event is that part
    (``>``, ``>=``) or its complement (``<``, ``<=``)."""
    if op in (">", "<="):
        return int(np.searchsorted(values, threshold, side="right")), op == ">"
    return int(np.searchsorted(values, threshold, side="left")), op == ">="


def _var_bisection(qae: Any, grid: Any, alpha: float, run: _Runner) -> int:
    """Smallest k with P(i <= k) >= alpha, i.e. P(i >= k + 1) <= 1 - alpha, by bisection on
    estimated tail probabilities (log2(2**n) = n estimates)."""
    lo, hi = 0, len(grid.values) - 1  # the answer lies in [lo, hi]
    while lo < hi:
        mid = (lo + hi) // 2
        p = run.tail(qae, grid, mid + 1).estimate
        if p <= 1.0 - alpha + exact.CUMULATIVE_TOL:
            hi = mid
        else:
            lo = mid + 1
    return lo


class _Runner:
    """Runs amplitude estimations and keeps the totals (and the tail estimates, by index)."""

    def __init__(self, s: QaeSettings) -> None:
        self.s = s
        self.queries = 0
        self.shots = 0
        self.seconds = 0.0
        self.steps: list[dict[str, Any]] = []
        self._tails: dict[int, Any] = {}

    def __call__(self, oracle: Any, what: str) -> Any:
        from qgridlang.backends.qae import estimate_amplitude

        s = self.s
        r = estimate_amplitude(oracle, s.method, epsilon=s.epsilon, alpha=s.alpha_conf,
                               eval_qubits=s.eval_qubits, shots=s.shots, seed=s.seed,
                               device=s.device)
        self.queries += int(r.oracle_queries)
        self.shots += int(r.shots or 0)
        self.seconds += float(r.seconds)
        self.steps.append({"estimates": what, "amplitude": r.estimate, "ci": list(r.ci),
                           "exact_amplitude": oracle.exact_amplitude,
                           "oracle_queries": int(r.oracle_queries), "shots": r.shots,
                           "seconds": r.seconds})
        return r

    def tail(self, qae: Any, grid: Any, k: int) -> Any:
        if k not in self._tails:
            if k <= 0 or k >= len(grid.values):
                p = 1.0 if k <= 0 else 0.0
                self._tails[k] = _Known(p)
            else:
                self._tails[k] = self(qae.tail_probability_oracle(grid, k), f"P(i >= {k})")
        return self._tails[k]


@dataclass(frozen=True)
class _Known:
    """A tail probability known without a circuit (k = 0 or past the grid)."""

    estimate: float

    @property
    def ci(self) -> tuple[float, float]:
        return (self.estimate, self.estimate)


