"""Discrete PID with a filtered derivative and back-calculation anti-windup.

``u = kp e + I + kd d`` with ``e = setpoint - measured``, ``I`` the integral ``ki ∫e`` and ``d``
the derivative through ``N s / (s + N)``. The controller only sees samples of ``e`` every
``step`` s, and is discretised *exactly* for the error linear between samples (first-order
hold): the integral by the trapezoid rule (= Tustin) and the filter by its FOH equivalent,
``d[k] = a d[k-1] + (1 - a) (e[k] - e[k-1]) / h`` with ``a = exp(-N h)``. Unlike the ZOH
equivalent (whose sample is the peak ``N Δe`` of the filter's impulse) or Tustin (a pole at
``(2 - N h)/(2 + N h)``, which rings for ``N h > 2``), this stays a sensible derivative when
``N h`` is large, e.g. N = 100 /s at h = 0.1 s.

Anti-windup: ``dI/dt = ki e + kt (v - u)`` with ``v`` the output clipped to the input's bounds
and ``kt`` the tracking gain. The tracking term is integrated exactly with the other terms held
(``I`` moves a fraction ``1 - exp(-kt h)`` of the way to where ``u`` would equal ``v``), so any
``kt`` is stable. Default ``kt``: ``sqrt(ki / kd)`` (Åström & Hägglund's rule, the geometric
mean of the integral and derivative rates) when ``kd > 0``, else ``ki / kp`` (the inverse of the
integral time) when ``kp > 0``, else ``1 / step`` (undo the windup within one sample).
"""

from __future__ import annotations

import math
import time

import numpy as np

from qgridlang.control.spec import PIDSpec


def default_tracking(spec: PIDSpec) -> float:
    """The back-calculation gain (1/s) used when the spec gives none (see the module doc)."""
    if spec.tracking is not None:
        return float(spec.tracking)
    if spec.kd > 0 and spec.ki > 0:
        return math.sqrt(spec.ki / spec.kd)
    if spec.kp > 0 and spec.ki > 0:
        return spec.ki / spec.kp
    return 1.0 / spec.step


class PIDController:
    """One PID loop on input ``spec.input`` (the other inputs stay at 0)."""

    def __init__(self, spec: PIDSpec, n_inputs: int, lower: float | None,
                 upper: float | None) -> None:
        self.spec = spec
        self.n_inputs = n_inputs
        self.lower = -np.inf if lower is None else float(lower)
        self.upper = np.inf if upper is None else float(upper)
        self.kt = default_tracking(spec)
        h = spec.step
        self._a = math.exp(-spec.filter * h) if spec.filter > 0 else 0.0
        self._track = 1.0 - math.exp(-self.kt * h)
        self.timings_ms: list[float] = []
        self.reset()

    def reset(self) -> None:
        self.integral = 0.0
        self.deriv = 0.0
        self.e_prev: float | None = None
        self.gap = 0.0  # v - u of the previous step (what the tracking loop must undo)
        self.timings_ms = []

    def act(self, measured: float) -> np.ndarray:
        """The input vector for the sample ``measured`` (the controlled signal's value now)."""
        t0 = time.perf_counter()
        s, h = self.spec, self.spec.step
        e = s.setpoint - measured
        if self.e_prev is None:  # first sample: no history, no derivative kick
            self.e_prev = e
        else:
            self.integral += s.ki * h * 0.5 * (self.e_prev + e)
            self.integral += self._track * self.gap
            self.deriv = self._a * self.deriv + (1.0 - self._a) * (e - self.e_prev) / h
            self.e_prev = e
        u = s.kp * e + self.integral + s.kd * self.deriv
        v = min(max(u, self.lower), self.upper)
        self.gap = v - u if s.ki != 0 else 0.0
        out = np.zeros(self.n_inputs)
        out[s.input] = v
        self.timings_ms.append(1e3 * (time.perf_counter() - t0))
        return out
