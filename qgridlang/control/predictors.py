"""Disturbance predictors for MPC: persistence, AR(2), a classical random walk, the quantum walk.

The MPC hands a predictor the history of the observer's disturbance estimate (oldest first,
one sample per controller step) and gets the next ``horizon`` values back. All four sit behind
the same controller, so that the quantum walk's contribution can be isolated (SPECS §C7.2).

Contract (used by ``qgridlang.control.mpc``)::

    p = make_predictor(spec, step)      # spec: PredictorSpec, step: the controller's Ts in s
    p.predict(history, horizon) -> np.ndarray (horizon,)
    p.reset()                           # forget adaptive state between simulations
    p.cost                              # {"ms_mean": …, "predictions": …, "qubits": …, …}

``cost`` is computed when read: the quantum walk's circuit size (a transpile, ~0.1-2 s the first
time per register size and horizon) is kept out of the per-step timing.

``predict`` is called once per controller step with the history ending at the newest sample;
the adaptive blend relies on that (it scores the previous call's one-step-ahead forecasts
against the newest sample).
"""

from __future__ import annotations

import time
from typing import Protocol

import numpy as np

from qgridlang.control.quantum_walk import WalkSimulator, circuit_cost
from qgridlang.control.spec import PredictorSpec
from qgridlang.errors import TypeMismatch, UnknownName, did_you_mean

# The walks' options (both walks take the same ones, so that the ablation differs only in the
# walk): position_qubits n -> 2**n levels; range: the lattice's half-width in the signal's unit,
# 0 = from the history (a lattice centred on the current value with spacing δ, the trend scale);
# window: the samples δ is estimated from (mean |first difference|); blend: the walk's weight
# against persistence, a number in [0, 1] or "adaptive"; forget: the adaptive blend's
# exponential forgetting factor per step.
_WALK_OPTIONS: dict[str, float | str] = {
    "position_qubits": 6,
    "range": 0.0,
    "window": 10,
    "blend": 0.5,
    "forget": 0.9,
}

OPTIONS: dict[str, dict[str, float | str]] = {
    "persistence": {},
    "ar2": {"window": 50, "min_samples": 10},
    "random_walk": dict(_WALK_OPTIONS),
    "quantum_walk": dict(_WALK_OPTIONS),
}
"""Every predictor kind's option names and defaults (the front end checks `.qgl` options)."""

# options that must be numbers (blend may also be the word "adaptive")
_STRING_OPTIONS = {("random_walk", "blend"), ("quantum_walk", "blend")}


class Predictor(Protocol):
    @property
    def cost(self) -> dict[str, float]: ...

    def predict(self, history: np.ndarray, horizon: int) -> np.ndarray: ...

    def reset(self) -> None: ...


def check_options(spec: PredictorSpec) -> dict[str, float | str]:
    """The spec's options merged over the kind's defaults; unknown names/kinds located."""
    if spec.kind not in OPTIONS:
        raise UnknownName(
            f"unknown predictor '{spec.kind}'",
            spec.span,
            did_you_mean(spec.kind, OPTIONS) or f"predictors: {', '.join(OPTIONS)}",
        )
    known = OPTIONS[spec.kind]
    merged = dict(known)
    for name, value in spec.options.items():
        if name not in known:
            raise UnknownName(
                f"predictor '{spec.kind}' has no option '{name}'",
                spec.span,
                did_you_mean(name, known)
                or (f"options: {', '.join(known)}" if known else "it takes no options"),
            )
        if isinstance(value, str):
            if (spec.kind, name) not in _STRING_OPTIONS or value != "adaptive":
                allowed = "a number or 'adaptive'" if name == "blend" else "a number"
                raise TypeMismatch(
                    f"option '{name}' of predictor '{spec.kind}' must be {allowed}, not '{value}'",
                    spec.span,
                )
        merged[name] = value
    _check_ranges(spec, merged)
    return merged


def _check_ranges(spec: PredictorSpec, o: dict[str, float | str]) -> None:
    def bad(name: str, what: str) -> TypeMismatch:
        return TypeMismatch(
            f"option '{name}' of predictor '{spec.kind}' must be {what}, not {o[name]}", spec.span
        )

    if spec.kind in ("random_walk", "quantum_walk"):
        n = float(o["position_qubits"])
        if n != int(n) or not 2 <= n <= 12:
            raise bad("position_qubits", "an integer in 2 .. 12")
        if float(o["range"]) < 0:
            raise bad("range", "0 (from the history) or positive")
        if float(o["window"]) < 2 or float(o["window"]) != int(float(o["window"])):
            raise bad("window", "an integer of at least 2")
        if o["blend"] != "adaptive" and not 0.0 <= float(o["blend"]) <= 1.0:
            raise bad("blend", "in 0 .. 1 or 'adaptive'")
        if not 0.0 < float(o["forget"]) < 1.0:
            raise bad("forget", "strictly between 0 and 1")
    if spec.kind == "ar2":
        for name, least in (("window", 4), ("min_samples", 4)):
            v = float(o[name])
            if v != int(v) or v < least:
                raise bad(name, f"an integer of at least {least}")


def make_predictor(spec: PredictorSpec, step: float) -> Predictor:
    """The predictor a controller's ``predictor = kind(options)`` asks for."""
    options = check_options(spec)
    if spec.kind == "persistence":
        return Persistence()
    if spec.kind == "ar2":
        return AR2(int(options["window"]), int(options["min_samples"]))
    return WalkPredictor(spec.kind, options, step)


class _Timed:
    """Wall time per prediction, kept in ``cost``."""

    def __init__(self) -> None:
        self._cost: dict[str, float] = {}
        self._times: list[float] = []

    @property
    def cost(self) -> dict[str, float]:
        return dict(self._cost)

    def _record(self, t0: float) -> None:
        self._times.append((time.perf_counter() - t0) * 1e3)
        t = np.asarray(self._times)
        self._cost.update(predictions=float(t.size), ms_mean=float(t.mean()), ms_max=float(t.max()))

    def reset(self) -> None:
        self._times = []
        for k in ("predictions", "ms_mean", "ms_max"):
            self._cost.pop(k, None)


def _as_history(history: np.ndarray) -> np.ndarray:
    h = np.asarray(history, dtype=float).reshape(-1)
    if h.size and not np.all(np.isfinite(h)):
        raise ValueError("predictor history holds a non-finite value")
    return h


class Persistence(_Timed):
    """Hold the last value (zero before any sample)."""

    def predict(self, history: np.ndarray, horizon: int) -> np.ndarray:
        t0 = time.perf_counter()
        h = _as_history(history)
        out = np.full(int(horizon), h[-1] if h.size else 0.0)
        self._record(t0)
        return out


class AR2(_Timed):
    """``x_t = c + a1 x_{t-1} + a2 x_{t-2}`` fitted by least squares on the last ``window``
    samples, iterated over the horizon.

    While fewer than ``min_samples`` samples exist, or when the fit is explosive (a root of
    ``z² - a1 z - a2`` on or outside the unit circle) or the window is constant, it holds the
    last value (persistence) for that call.
    """

    def __init__(self, window: int = 50, min_samples: int = 10) -> None:
        super().__init__()
        self.window = window
        self.min_samples = max(min_samples, 4)
        self.coefficients: tuple[float, float, float] | None = None  # (c, a1, a2), last fit

    def fit(self, history: np.ndarray) -> tuple[float, float, float] | None:
        x = _as_history(history)[-self.window :]
        if x.size < self.min_samples or np.ptp(x) == 0.0:
            return None
        design = np.column_stack([np.ones(x.size - 2), x[1:-1], x[:-2]])
        coef, *_ = np.linalg.lstsq(design, x[2:], rcond=None)
        c, a1, a2 = (float(v) for v in coef)
        if np.max(np.abs(np.roots([1.0, -a1, -a2]))) >= 1.0:
            return None
        return c, a1, a2

    def predict(self, history: np.ndarray, horizon: int) -> np.ndarray:
        t0 = time.perf_counter()
        x = _as_history(history)
        fit = self.fit(x)
        self.coefficients = fit
        out = np.empty(int(horizon))
        if fit is None:
            out[:] = x[-1] if x.size else 0.0
        else:
            c, a1, a2 = fit
            prev, last = x[-2], x[-1]
            for k in range(out.size):
                prev, last = last, c + a1 * last + a2 * prev
                out[k] = last
        self._record(t0)
        return out

    def reset(self) -> None:
        super().reset()
        self.coefficients = None


class WalkPredictor(_Timed):
    """The quantum walk of SPECS §C3, or its classical twin, blended with persistence.

    The lattice: ``N = 2**position_qubits`` levels. With ``range = 0`` (the default) it is centred
    on the current value with spacing δ (the window's mean |first difference|), so the start is
    level ``N/2`` and a walk of fewer than ``N/2`` steps never meets an edge. With ``range = r``
    the levels span ``[-r, r]`` in the signal's unit and the start is the level nearest the
    current value; the walk reflects at the ends (quantum_walk.py). The trend
    ``τ = clip(Δ/δ, -1, 1)``, Δ the last first difference, drives the coin: the quantum walk
    amplitude-encodes it; the classical walk steps up with probability ``(1+τ)/2`` (the same
    first-step drift and spread), its mean computed exactly by propagating the distribution.

    The forecast for ``h = 1 .. horizon`` is ``w · walk_h + (1 - w) · last``; ``blend = "adaptive"``
    sets ``w = e_p / (e_p + e_w)`` from the exponentially forgotten squared one-step-ahead errors
    of the walk (e_w) and of persistence (e_p), starting at 0.5 (the paper's "parameters of the
    predictive model continuously adjusted through a feedback loop").
    """

    def __init__(self, kind: str, options: dict[str, float | str], step: float) -> None:
        super().__init__()
        self.kind = kind
        self.step = step
        self.n = int(float(options["position_qubits"]))
        self.levels = 2**self.n
        self.range = float(options["range"])
        self.window = int(float(options["window"]))
        self.adaptive = options["blend"] == "adaptive"
        self.weight = 0.5 if self.adaptive else float(options["blend"])
        self.forget = float(options["forget"])
        self._sim = WalkSimulator(self.n) if kind == "quantum_walk" else None
        self._horizon = 0
        self.reset()

    def reset(self) -> None:
        super().reset()
        self._err_walk = 0.0
        self._err_hold = 0.0
        self._last_walk: float | None = None  # previous call's one-step-ahead walk forecast
        self._last_hold: float | None = None
        if self.adaptive:
            self.weight = 0.5
        self._cost["blend"] = self.weight

    @property
    def cost(self) -> dict[str, float]:
        """Timing and blend weight; for the quantum walk also the circuit of the last horizon
        (qubits, depth, cx and u counts after transpiling to u/cx)."""
        out = dict(self._cost)
        if self.kind == "quantum_walk" and self._horizon:
            out.update({k: float(v) for k, v in circuit_cost(self.n, self._horizon).items()})
        return out

    def _lattice(self, x: np.ndarray) -> tuple[int, float, float, float]:
        """(start level, spacing, value of level 0, trend τ) for this history."""
        last = x[-1]
        diffs = np.diff(x[-(self.window + 1) :])
        delta = float(np.mean(np.abs(diffs))) if diffs.size else 0.0
        tau = float(np.clip(diffs[-1] / delta, -1.0, 1.0)) if delta > 0 else 0.0
        if self.range > 0:
            spacing = 2.0 * self.range / (self.levels - 1)
            start = int(np.clip(round((last + self.range) / spacing), 0, self.levels - 1))
            return start, spacing, -self.range, tau
        start = self.levels // 2
        return start, delta, last - start * delta, tau

    def walk_means(self, level: int, tau: float, steps: int) -> np.ndarray:
        """The mean level after 1 .. steps steps (exact)."""
        if self._sim is not None:
            return self._sim.mean_levels(level, tau, steps)
        return classical_walk_means(self.levels, level, tau, steps)

    def predict(self, history: np.ndarray, horizon: int) -> np.ndarray:
        t0 = time.perf_counter()
        x = _as_history(history)
        horizon = int(horizon)
        self._horizon = horizon
        if x.size == 0:
            self._record(t0)
            return np.zeros(horizon)
        last = float(x[-1])
        if self.adaptive and self._last_walk is not None:
            f = self.forget
            self._err_walk = f * self._err_walk + (1 - f) * (last - self._last_walk) ** 2
            self._err_hold = f * self._err_hold + (1 - f) * (last - self._last_hold) ** 2
            total = self._err_walk + self._err_hold
            self.weight = self._err_hold / total if total > 0 else 0.5
        if x.size < 2:
            walk = np.full(horizon, last)
        else:
            level, spacing, origin, tau = self._lattice(x)
            walk = origin + spacing * self.walk_means(level, tau, horizon)
        self._last_walk, self._last_hold = float(walk[0]), last
        out = self.weight * walk + (1.0 - self.weight) * last
        self._record(t0)
        self._cost["blend"] = self.weight
        return out


def classical_walk_distributions(levels: int, start: int, tau: float, steps: int) -> np.ndarray:
    """(steps, levels): the biased random walk's distribution, p(up) = (1+τ)/2, exactly.

    The ends reflect as the quantum walk's do: a step that would leave the lattice stays put.
    """
    t = float(np.clip(tau, -1.0, 1.0))
    up, down = (1.0 + t) / 2.0, (1.0 - t) / 2.0
    p = np.zeros(levels)
    p[start] = 1.0
    out = np.empty((int(steps), levels))
    for h in range(int(steps)):
        q = np.zeros(levels)
        q[1:] += up * p[:-1]
        q[:-1] += down * p[1:]
        q[-1] += up * p[-1]
        q[0] += down * p[0]
        p = q
        out[h] = p
    return out


def classical_walk_means(levels: int, start: int, tau: float, steps: int) -> np.ndarray:
    """The mean level after 1 .. steps steps; ``start + h τ`` while no edge is reachable."""
    if start - steps >= 0 and start + steps <= levels - 1:
        # closed form: h independent ±1 steps of mean τ
        return start + np.arange(1, int(steps) + 1) * float(np.clip(tau, -1.0, 1.0))
    return classical_walk_distributions(levels, start, tau, steps) @ np.arange(levels)
