"""Closed-loop simulation of a system under a PID or MPC controller (or open loop).

The plant advances every ``sim.dt`` s with its inputs and disturbances held over the step: a
linear plant by its exact ZOH discretisation (matrices computed once), a nonlinear one by
``scipy.integrate.solve_ivp`` (RK45, rtol 1e-8, atol 1e-10) over each step. The controller
samples the plant every ``controller.step`` s (a multiple of dt) and holds its output between
samples. ``model`` is the system the controller believes (default: the plant), so that the
controller can be designed on a mismatched model (robustness sweeps over M and D).
"""

from __future__ import annotations

import math
import time

import numpy as np
from scipy.integrate import solve_ivp

from qgridlang.control.disturbances import onset, profile_values
from qgridlang.control.linear import discretise
from qgridlang.control.metrics import compute_metrics
from qgridlang.control.mpc import MPCController
from qgridlang.control.pid import PIDController
from qgridlang.control.predictors import Predictor
from qgridlang.control.spec import (
    MPCSpec,
    PIDSpec,
    SimulationResult,
    SimulationSpec,
    SystemSpec,
)
from qgridlang.errors import (
    BackendError,
    DimensionMismatch,
    TypeMismatch,
    UnknownName,
    UnsupportedConstruct,
    did_you_mean,
)

_TOL = 1e-9  # relative tolerance for "a multiple of dt"


def _steps(length: float, dt: float, what: str, span: object) -> int:
    k = length / dt
    r = round(k)
    if r < 1 or abs(k - r) > _TOL * max(k, 1.0):
        raise UnsupportedConstruct(
            f"{what} ({length:g} s) is not a whole multiple of the simulation step "
            f"dt = {dt:g} s", span,  # type: ignore[arg-type]
            hint=f"use a multiple of {dt:g} s, or change the simulation's dt")
    return int(r)


def _check_model(plant: SystemSpec, model: SystemSpec, span: object) -> None:
    for what, a, b in (("states", plant.states, model.states),
                       ("inputs", plant.inputs, model.inputs),
                       ("disturbances", plant.disturbances, model.disturbances)):
        if len(a) != len(b):
            raise DimensionMismatch(
                f"the controller's model '{model.name}' has {len(b)} {what}, the plant "
                f"'{plant.name}' {len(a)}", span)  # type: ignore[arg-type]


def simulate(plant: SystemSpec, controller: PIDSpec | MPCSpec | None, sim: SimulationSpec,
             model: SystemSpec | None = None,
             predictor: Predictor | None = None) -> SimulationResult:
    """Simulate ``plant`` for ``sim.duration`` s; see the module doc.

    ``predictor`` replaces the MPC's own (``controller.predictor``), e.g. an oracle in tests.
    """
    wall0 = time.perf_counter()
    model = plant if model is None else model
    if sim.dt <= 0 or sim.duration <= 0:
        raise UnsupportedConstruct(
            f"a simulation needs a positive duration and dt, got {sim.duration:g} s and "
            f"{sim.dt:g} s", sim.span)
    n_steps = math.ceil(sim.duration / sim.dt - _TOL)
    dt = sim.dt
    t = np.arange(n_steps + 1) * dt
    n, m, p = len(plant.states), len(plant.inputs), len(plant.disturbances)
    W = profile_values(sim.profiles, p, t, sim.seed, dt)
    X = np.zeros((n_steps + 1, n))
    U = np.zeros((n_steps + 1, m))
    X[0] = plant.x0
    notes: list[str] = []

    # the controller
    ratio = 1
    pid: PIDController | None = None
    mpc: MPCController | None = None
    measured_kind, measured_index = "state", 0
    if controller is not None:
        _check_model(plant, model, controller.span)
        ratio = _steps(controller.step, dt, f"the step of controller '{controller.name}'",
                       controller.span)
        if isinstance(controller, PIDSpec):
            measured_kind, measured_index = controller.measured
            group = plant.states if measured_kind == "state" else plant.outputs
            if measured_kind not in ("state", "output") or not 0 <= measured_index < len(group):
                raise TypeMismatch(
                    f"PID '{controller.name}' must measure a state or an output of "
                    f"'{plant.name}'", controller.span)
            if not 0 <= controller.input < m:
                raise DimensionMismatch(f"PID '{controller.name}' drives input "
                                        f"{controller.input} of {m}", controller.span)
            sig = plant.inputs[controller.input]
            pid = PIDController(controller, m, sig.lower, sig.upper)
        else:
            mpc = MPCController(controller, model, predictor)

    # the plant step
    if plant.linear is not None:
        disc = discretise(plant.linear, dt)
        Ad, Bd, Ed, cd = disc.Ad, disc.Bd, disc.Ed, disc.cd

        def advance(i: int, x: np.ndarray, u: np.ndarray, w: np.ndarray) -> np.ndarray:
            return Ad @ x + Bd @ u + Ed @ w + cd
    else:
        rhs = plant.rhs

        def advance(i: int, x: np.ndarray, u: np.ndarray, w: np.ndarray) -> np.ndarray:
            sol = solve_ivp(lambda tt, xx: rhs(tt, xx, u, w), (t[i], t[i + 1]), x,
                            method="RK45", rtol=1e-8, atol=1e-10)
            if not sol.success:
                raise BackendError(f"the integration of '{plant.name}' failed at "
                                   f"t = {t[i]:g} s: {sol.message}", sim.span)
            return np.asarray(sol.y[:, -1], dtype=float)

    u = np.zeros(m)
    for i in range(n_steps):
        if controller is not None and i % ratio == 0:
            if pid is not None:
                if measured_kind == "state":
                    value = X[i, measured_index]
                else:  # an output may depend on u: it sees the input held so far
                    value = plant.output_map(X[i], u, W[i])[measured_index]
                u = pid.act(float(value))
            elif mpc is not None:
                u = mpc.act(X[i])
        U[i] = u
        X[i + 1] = advance(i, X[i], u, W[i])
        if not np.all(np.isfinite(X[i + 1])):
            raise BackendError(f"the simulation of '{plant.name}' diverged at t = {t[i + 1]:g}"
                               " s", sim.span)
    U[n_steps] = u

    signals: dict[str, np.ndarray] = {}
    units: dict[str, str] = {}
    for j, s in enumerate(plant.states):
        signals[s.name], units[s.name] = X[:, j], s.unit
    for j, s in enumerate(plant.inputs):
        signals[s.name], units[s.name] = U[:, j], s.unit
    for j, s in enumerate(plant.disturbances):
        signals[s.name], units[s.name] = W[:, j], s.unit
    if plant.outputs:
        if plant.linear is not None:
            lin = plant.linear
            Y = X @ lin.C.T + U @ lin.D.T + W @ lin.F.T + lin.g
        else:
            Y = np.array([plant.output_map(X[i], U[i], W[i]) for i in range(n_steps + 1)])
        for j, s in enumerate(plant.outputs):
            signals[s.name], units[s.name] = Y[:, j], s.unit

    measure = sim.measure or (plant.outputs[0].name if plant.outputs else plant.states[0].name)
    if measure not in signals:
        raise UnknownName(f"'{measure}' is not a signal of '{plant.name}'", sim.span,
                          hint=did_you_mean(measure, signals))
    metrics = compute_metrics(t, signals[measure], units[measure], onset(sim.profiles),
                              sim.band)

    timing: dict[str, float] = {"steps": 0.0}
    sample = controller.step if controller is not None else dt
    if pid is not None:
        ms = np.asarray(pid.timings_ms)
        timing.update(steps=float(ms.size), controller_ms_mean=float(ms.mean()),
                      controller_ms_max=float(ms.max()))
    elif mpc is not None:
        st = mpc.stats
        ms, qp = np.asarray(st.total_ms), np.asarray(st.qp_ms)
        timing.update(steps=float(ms.size), controller_ms_mean=float(ms.mean()),
                      controller_ms_max=float(ms.max()), qp_ms_mean=float(qp.mean()),
                      qp_ms_max=float(qp.max()),
                      predictor_ms_mean=float(np.mean(st.predictor_ms)),
                      build_ms=mpc.build_ms)
        if st.solver_ms:
            timing["solver_ms_mean"] = float(np.mean(st.solver_ms))
        notes += mpc.notes()
    if "controller_ms_max" in timing:
        timing["sample_ms"] = 1e3 * sample
        timing["worst_ratio"] = timing["controller_ms_max"] / (1e3 * sample)
        timing["mean_ratio"] = timing["controller_ms_mean"] / (1e3 * sample)
    timing["wall_s"] = time.perf_counter() - wall0
    return SimulationResult(plant.name, controller.name if controller is not None else None,
                            t, signals, units, measure, metrics, timing, tuple(notes))
