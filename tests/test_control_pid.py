"""PID on a first-order plant against the analytic closed loop; derivative filter; anti-windup."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.linalg import expm

from qgridlang.control.linear import linear_system
from qgridlang.control.pid import PIDController, default_tracking
from qgridlang.control.simulate import simulate
from qgridlang.control.spec import PIDSpec, Signal, SimulationSpec, SystemSpec

T_PLANT, K_PLANT = 1.0, 2.0


def first_order(lower: float | None = None, upper: float | None = None,
                x0: float = 0.0) -> SystemSpec:
    """dx/dt = (-x + K u)/T."""
    return linear_system("fo", (Signal("x", "state", "", initial=x0),),
                         (Signal("u", "input", "", lower, upper),), (), (),
                         [[-1 / T_PLANT]], [[K_PLANT / T_PLANT]], np.zeros((1, 0)))


def pid(kp: float, ki: float = 0.0, kd: float = 0.0, step: float = 1e-3, setpoint: float = 1.0,
        N: float = 100.0, tracking: float | None = None) -> PIDSpec:
    return PIDSpec("pid", "fo", ("state", 0), 0, kp, ki, kd, N, step, setpoint, tracking)


def run(plant: SystemSpec, spec: PIDSpec, duration: float) -> tuple[np.ndarray, np.ndarray]:
    res = simulate(plant, spec, SimulationSpec("fo", duration, "pid", (), dt=spec.step))
    return res.time, res.signals["x"]


def one_step_bound(t: np.ndarray, x: np.ndarray, h: float) -> float:
    """A held controller output lags the continuous controller by less than one sample, so the
    sampled loop's response stays within one sample's change of the continuous one:
    h * max |dx/dt| (the slope estimated from the analytic curve itself)."""
    return h * float(np.max(np.abs(np.diff(x) / np.diff(t))))


def test_p_only_matches_the_first_order_closed_loop() -> None:
    kp, h, r = 3.0, 1e-3, 1.0
    t, x = run(first_order(), pid(kp, step=h, setpoint=r), 1.0)
    # T dx/dt = -x + K kp (r - x): time constant T/(1 + K kp), offset r/(1 + K kp)
    tau = T_PLANT / (1 + K_PLANT * kp)
    final = K_PLANT * kp * r / (1 + K_PLANT * kp)
    exact = final * (1 - np.exp(-t / tau))
    err = np.max(np.abs(x - exact))
    assert err < one_step_bound(t, exact, h)  # 6e-3 here
    # first order in h: ten times finer is about ten times closer
    t2, x2 = run(first_order(), pid(kp, step=h / 10, setpoint=r), 1.0)
    err2 = np.max(np.abs(x2 - final * (1 - np.exp(-t2 / tau))))
    assert err2 < err / 5
    assert x[-1] == pytest.approx(final, abs=1e-3)  # the P-only offset r - final = 1/7


def test_pi_matches_the_analytic_second_order_response() -> None:
    kp, ki, h, r = 3.0, 2.0, 1e-3, 1.0
    t, x = run(first_order(), pid(kp, ki, step=h, setpoint=r), 4.0)
    # X/R = K (kp s + ki) / (T s^2 + (1 + K kp) s + K ki): real poles p1, p2, no offset
    a, b = (1 + K_PLANT * kp) / T_PLANT, K_PLANT * ki / T_PLANT
    disc = math.sqrt(a * a - 4 * b)
    p1, p2 = (-a + disc) / 2, (-a - disc) / 2
    c1 = K_PLANT * (kp * p1 + ki) / (T_PLANT * p1 * (p1 - p2))
    c2 = K_PLANT * (kp * p2 + ki) / (T_PLANT * p2 * (p2 - p1))
    exact = r * (1 + c1 * np.exp(p1 * t) + c2 * np.exp(p2 * t))
    assert exact[0] == pytest.approx(0.0, abs=1e-12)
    assert np.max(np.abs(x - exact)) < one_step_bound(t, exact, h)
    assert x[-1] == pytest.approx(r, abs=2e-2)  # integral action: no offset (p1 = -0.63/s)


def test_pid_with_filtered_derivative_matches_the_continuous_loop() -> None:
    # regulation from x(0) = 1 to 0: the filter starts at e(0), as the digital one does (no kick)
    kp, ki, kd, N, h = 2.0, 1.5, 0.2, 50.0, 1e-3
    t, x = run(first_order(x0=1.0), pid(kp, ki, kd, step=h, setpoint=0.0, N=N), 3.0)
    # states (x, I = ∫e, ef = e low-passed), e = -x, u = kp e + ki I + kd N (e - ef)
    K, T = K_PLANT, T_PLANT
    A = np.array([[(-1 - K * kp - K * kd * N) / T, K * ki / T, -K * kd * N / T],
                  [-1.0, 0.0, 0.0],
                  [-N, 0.0, -N]])
    z0 = np.array([1.0, 0.0, -1.0])
    step = expm(A * h)  # the exact solution, one sample at a time
    z = [z0]
    for _ in range(t.size - 1):
        z.append(step @ z[-1])
    exact = np.array(z)[:, 0]
    assert np.max(np.abs(x - exact)) < one_step_bound(t, exact, h)


def test_derivative_filter_is_exact_for_a_ramp() -> None:
    # e = s t from rest through N s/(s + N): d(t) = s (1 - exp(-N t)), at every sample
    N, h, slope = 5.0, 0.1, 0.7
    ctl = PIDController(PIDSpec("d", "x", ("state", 0), 0, 0.0, 0.0, 1.0, N, h), 1, None, None)
    out = [ctl.act(-slope * k * h)[0] for k in range(40)]
    t = np.arange(40) * h
    assert np.allclose(out, slope * (1 - np.exp(-N * t)), atol=1e-12)


def test_output_clipped_to_the_input_bounds() -> None:
    res = simulate(first_order(-0.3, 0.3), pid(50.0, step=1e-2),
                   SimulationSpec("fo", 2.0, "pid", (), dt=1e-2))
    u, x, t = res.signals["u"], res.signals["x"], res.time
    assert u.max() == pytest.approx(0.3) and u.min() >= 0.3 - 1e-15
    # held at the limit all along (kp e > 0.3 while x < 0.994): x = K 0.3 (1 - exp(-t/T))
    assert np.allclose(x, K_PLANT * 0.3 * (1 - np.exp(-t / T_PLANT)), atol=1e-12)


def test_back_calculation_reduces_the_overshoot_after_saturation() -> None:
    plant = first_order(-0.6, 0.6)
    # a setpoint of 1 needs u = 0.5 at rest, close to the limit: the integrator winds up while
    # the output sits at 0.6 on the way there
    base = dict(kp=1.0, ki=4.0, step=1e-2, setpoint=1.0)
    _, x_aw = run(plant, pid(**base), 8.0)  # default tracking ki/kp = 4 /s
    _, x_no = run(plant, pid(**base, tracking=0.0), 8.0)
    over_aw, over_no = x_aw.max() - 1.0, x_no.max() - 1.0
    assert over_no > 0.1  # without anti-windup a clear overshoot
    assert over_aw < 0.5 * over_no
    assert x_aw[-1] == pytest.approx(1.0, abs=1e-2) and x_no[-1] == pytest.approx(1.0, abs=2e-2)


def test_default_tracking_gains() -> None:
    assert default_tracking(pid(1.0, 4.0, 0.25)) == pytest.approx(4.0)  # sqrt(ki/kd)
    assert default_tracking(pid(2.0, 4.0)) == pytest.approx(2.0)  # ki/kp
    assert default_tracking(pid(0.0, 4.0, step=0.1)) == pytest.approx(10.0)  # 1/step
    assert default_tracking(pid(1.0, 4.0, tracking=0.5)) == 0.5
