"""Metrics against hand-computed integrals, on non-uniform grids."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qgridlang.control.metrics import compute_metrics, settle_time


def grid(a: float, b: float, n: int, seed: int = 0) -> np.ndarray:
    """A non-uniform grid on [a, b]: n points, both ends included, spacing varying 1..3 x."""
    w = np.random.default_rng(seed).uniform(1.0, 3.0, n - 1)
    return a + (b - a) * np.concatenate([[0.0], np.cumsum(w) / w.sum()])


def trap_bound(t: np.ndarray, f2: float) -> float:
    """The trapezoid rule's error bound: (b - a) h_max² max|f''| / 12."""
    return float((t[-1] - t[0]) * np.diff(t).max() ** 2 * f2 / 12)


def test_ramp() -> None:
    t = grid(0.0, 2.0, 400)
    m = compute_metrics(t, t, "Hz")
    assert m["IAE"] == pytest.approx((2.0, "Hz*s"), abs=1e-12)  # linear: the rule is exact
    assert m["ISE"][0] == pytest.approx(8 / 3, abs=trap_bound(t, 2.0))
    assert m["ITAE"][0] == pytest.approx(8 / 3, abs=trap_bound(t, 2.0))
    assert m["ITSE"][0] == pytest.approx(4.0, abs=trap_bound(t, 12.0))
    assert m["ISE"][1] == "Hz^2*s" and m["ITAE"][1] == "Hz*s^2" and m["ITSE"][1] == "Hz^2*s^2"
    assert m["MAE"] == pytest.approx((1.0, "Hz"))
    assert m["mean_abs_deviation"] == m["MAE"]
    # time-weighted: mean 1, ∫(t - 1)² dt / 2 = 1/3
    assert m["SD"][0] == pytest.approx(math.sqrt(1 / 3), abs=trap_bound(t, 2.0))
    assert m["max_deviation"] == (pytest.approx(2.0), "Hz")
    assert m["regulation_time"][0] == math.inf  # still growing at the end


def test_sine() -> None:
    t = grid(0.0, 2 * math.pi, 2000, seed=3)
    y = np.sin(t)
    m = compute_metrics(t, y, "pu")
    # |sin| has a kink at pi: within h_max of it the rule is off by at most h_max² more
    tol = trap_bound(t, 1.0) + np.diff(t).max() ** 2
    assert m["IAE"][0] == pytest.approx(4.0, abs=tol)
    assert m["ISE"][0] == pytest.approx(math.pi, abs=trap_bound(t, 2.0))
    assert m["ITAE"][0] == pytest.approx(4 * math.pi, abs=2 * math.pi * tol + tol)
    assert m["ITSE"][0] == pytest.approx(math.pi ** 2, abs=trap_bound(t, 4 + 4 * math.pi))
    assert m["MAE"][0] == pytest.approx(4 / (2 * math.pi), abs=tol)
    assert m["SD"][0] == pytest.approx(math.sqrt(0.5), abs=1e-4)
    assert abs(m["max_deviation"][0]) == pytest.approx(1.0, abs=1e-5)


def test_step_decay_regulation_times() -> None:
    # 0 until the onset at 1 s, then -a exp(-(t - 1)/tau)
    a, tau, onset = 0.03, 0.5, 1.0
    t = np.unique(np.concatenate([grid(0.0, 10.0, 5000, seed=5), [onset]]))
    y = np.where(t >= onset, -a * np.exp(-(t - onset) / tau), 0.0)
    m = compute_metrics(t, y, "Hz", onset=onset, band=0.002)
    assert m["max_deviation"] == (pytest.approx(-a), "Hz")
    # 5 % of the peak: a exp(-s/tau) = 0.05 a -> s = tau ln 20; the band: s = tau ln(a / band)
    h = np.diff(t).max()
    assert m["regulation_time"][0] == pytest.approx(tau * math.log(20), abs=h)
    assert m["regulation_time_band"][0] == pytest.approx(tau * math.log(a / 0.002), abs=h)
    assert m["regulation_time"][1] == "s"
    # the integral of the decay, a tau (1 - exp(-9/tau)) (curvature a/tau² after the onset),
    # plus the sampled jump: the interval ending at the onset is a ramp from 0 to a
    before = onset - t[np.searchsorted(t, onset) - 1]
    assert m["IAE"][0] == pytest.approx(a * tau * (1 - math.exp(-9 / tau)) + a * before / 2,
                                        abs=trap_bound(t, a / tau ** 2))


def test_regulation_time_counts_the_last_exit() -> None:
    t = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    y = np.array([0.0, 1.0, 0.01, 0.5, 0.02, 0.0, 0.0])  # back outside at 3 s, in from 4 s
    # threshold 0.05: between t = 3 (0.5) and t = 4 (0.02): 3 + 0.45/0.48
    assert settle_time(t, y, 0.0, 0.05) == pytest.approx(3 + 0.45 / 0.48)
    assert settle_time(t, np.zeros(7), 0.0, 0.05) == 0.0
    m = compute_metrics(t, y, "", onset=0.5)
    assert m["IAE"][1] == "s" and m["ISE"][1] == "s" and m["ITSE"][1] == "s^2"
    assert m["regulation_time"][0] == pytest.approx(3 + 0.45 / 0.48 - 0.5)


def test_units_of_a_compound_unit() -> None:
    m = compute_metrics(np.array([0.0, 1.0]), np.array([1.0, 1.0]), "pu*s")
    assert m["ISE"][1] == "(pu*s)^2*s" and m["IAE"][1] == "pu*s*s"
