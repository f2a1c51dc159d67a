"""The integrating-disturbance Kalman observer shared by MPC and QMPC."""

from __future__ import annotations

import numpy as np
import pytest
from control_lfc import lfc_plant

from qgridlang.control.linear import discretise
from qgridlang.control.observer import DisturbanceObserver


def _run(size: float, u: float, steps: int = 60, h: float = 0.1) -> tuple[np.ndarray, np.ndarray,
                                                                            np.ndarray]:
    plant = lfc_plant()
    assert plant.linear is not None
    d = discretise(plant.linear, h)
    obs = DisturbanceObserver(d, 0, plant.x0)
    x = plant.x0.copy()
    uv = np.array([u])
    est, xs, xh = [], [], []
    for k in range(steps):
        xhat, dhat = obs.update(x, uv)
        est.append(dhat)
        xs.append(x.copy())
        xh.append(xhat)
        w = size if k >= 5 else 0.0  # a load step acting from the 6th sample on
        x = d.Ad @ x + d.Bd @ uv + d.Ed[:, 0] * w + d.cd
    return np.array(est), np.array(xs), np.array(xh)


@pytest.mark.parametrize(("size", "u"), [(0.01, 0.0), (-0.02, 0.005)])
def test_disturbance_estimate_converges_to_a_load_step(size: float, u: float) -> None:
    est, xs, xh = _run(size, u)
    assert np.all(np.abs(est[:6]) < 1e-12)  # nothing before the step reaches the sensors
    # within 1 % of the step 1 s (10 samples) after it is first seen (measured: 4 samples),
    # and it stays there
    first = 6  # the step acts over samples 5 -> 6 and shows in the measurement at sample 6
    assert np.all(np.abs(est[first + 10:] - size) < 0.01 * abs(size))
    assert est[-1] == pytest.approx(size, rel=1e-6)
    # the state estimate follows the (noise-free) measurement: off by a fraction of the step's
    # one-sample effect (|Ed| * size = 1e-4 pu of df for 0.01) only while d̂ catches up
    assert np.abs(xh - xs).max() < 5e-3 * abs(size)
    assert np.abs(xh[first + 10:] - xs[first + 10:]).max() < 1e-5 * abs(size)


def test_gain_is_the_steady_state_kalman_gain() -> None:
    plant = lfc_plant()
    assert plant.linear is not None
    d = discretise(plant.linear, 0.1)
    obs = DisturbanceObserver(d, 0, plant.x0)
    # the filter's error dynamics (I - L C) A are stable: the estimate forgets its start
    n = obs.A.shape[0]
    closed = (np.eye(n) - obs.gain @ obs.C) @ obs.A
    assert np.abs(np.linalg.eigvals(closed)).max() < 1.0
