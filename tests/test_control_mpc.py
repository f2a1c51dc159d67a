"""MPC on the LFC model: constraints hold, the QP is built once, a perfect forecast helps."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
from control_lfc import lfc_plant

from qgridlang.control.linear import linear_system
from qgridlang.control.mpc import MPCController
from qgridlang.control.simulate import simulate
from qgridlang.control.spec import (
    Bound,
    DisturbanceProfile,
    MPCSpec,
    Signal,
    SimulationSpec,
    SystemSpec,
)
from qgridlang.errors import Span, UnsupportedConstruct

SPAN = Span("lfc.qgl", 12, 3)


def mpc_spec(rate: float = 0.02, soc: tuple[float, float] | None = (0.1, 0.9),
             soft: bool = True, horizon: int = 20, q: float = 1e4, r: float = 1.0) -> MPCSpec:
    """SPECS §C2: q df² + r ub², |ub| <= 0.02, |Δub| <= rate per step, SOC in 0.1 .. 0.9."""
    H = np.zeros((8, 8))
    H[0, 0], H[7, 7] = q, r
    bounds = [Bound("input", 0, -0.02, 0.02), Bound("rate", 0, -rate, rate)]
    if soc is not None:
        bounds.append(Bound("state", 6, *soc))
    return MPCSpec("mpc", "lfc", 0.1, horizon, horizon, H, np.zeros(8), tuple(bounds),
                   soft_states=soft, span=SPAN)


def step_sim(duration: float, at: float = 0.5, size: float = 0.01) -> SimulationSpec:
    return SimulationSpec("lfc", duration, "mpc",
                          (DisturbanceProfile(0, "step", {"at": at, "size": size}),))


@pytest.mark.parametrize(("rate", "soft"), [(0.02, True), (0.004, True), (0.004, False)])
def test_mpc_keeps_input_rate_and_soc_bounds(rate: float, soft: bool) -> None:
    # SOC starts 0.0005 above its floor and a 0.01 pu load step makes the battery discharge:
    # unconstrained it crosses 0.1 after about 2.5 s
    plant = lfc_plant(soc0=0.1005)
    sim = step_sim(6.0)
    free = simulate(plant, mpc_spec(rate, soc=None), sim)
    assert free.signals["soc"].min() < 0.0998
    res = simulate(plant, mpc_spec(rate, soft=soft), sim)
    u, soc = res.signals["ub"], res.signals["soc"]
    assert np.abs(u).max() <= 0.02 + 1e-12
    moves = np.diff(u[::10])  # the controller acts every 10 plant steps
    assert np.abs(moves).max() <= rate + 1e-12
    if rate < 0.02:  # the tight rate bound is reached, so it is really enforced
        assert np.abs(moves).max() > 0.99 * rate
    assert soc.min() >= 0.1 - 1e-6
    assert u.max() > 0.005  # the battery did help (it is not simply switched off)
    assert not any("violated" in n for n in res.notes)


def test_soft_soc_bound_reports_the_slack_it_needs() -> None:
    # starting below the floor the bound cannot hold at once: the slack is used and noted
    plant = lfc_plant(soc0=0.0995)
    res = simulate(plant, mpc_spec(), step_sim(3.0))
    assert any("soft state/output bounds violated" in n for n in res.notes)
    soc = res.signals["soc"]
    assert soc[-1] > soc[0]  # the MPC charges the battery back toward the bound


def test_qp_is_built_once_and_resolved_every_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    built = []

    class Counting(cp.Problem):
        def __init__(self, *args: object, **kwargs: object) -> None:
            built.append(1)
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(cp, "Problem", Counting)
    before = MPCController.problems_built
    res = simulate(lfc_plant(), mpc_spec(), step_sim(10.0))
    # one QP for OSQP and its copy for the CLARABEL fallback, both before the first sample
    assert len(built) == 2 and MPCController.problems_built == before + 2
    assert res.timing["steps"] == 100
    assert res.timing["qp_ms_mean"] > 0 and res.timing["predictor_ms_mean"] >= 0
    # the QP and the persistence forecast fit the 0.1 s sample time by far (measured ~3 ms)
    assert res.timing["controller_ms_mean"] < 50.0
    assert res.timing["sample_ms"] == pytest.approx(100.0)


class Oracle:
    """Knows the disturbance in advance: the value over each of the next samples."""

    def __init__(self, values: np.ndarray) -> None:
        self.values = values  # per controller sample

    def predict(self, history: np.ndarray, horizon: int) -> np.ndarray:
        k = history.size - 1  # one estimate per sample so far: this is sample k
        idx = np.clip(np.arange(k, k + horizon), 0, self.values.size - 1)
        return self.values[idx]

    def reset(self) -> None:
        pass


def test_perfect_forecast_does_at_least_as_well_as_persistence() -> None:
    plant = lfc_plant()
    sim = SimulationSpec("lfc", 12.0, "mpc", (
        DisturbanceProfile(0, "step", {"at": 2.0, "size": 0.01}),
        DisturbanceProfile(0, "series", {"start": 6.0, "hold": 2.0}, (0.0, -0.015, 0.005)),
    ))
    persistence = simulate(plant, mpc_spec(), sim)
    oracle = Oracle(persistence.signals["dpl"][::10])  # the same realisation, per sample
    perfect = simulate(plant, mpc_spec(), sim, predictor=oracle)
    iae_p = persistence.metrics["IAE"][0]
    iae_o = perfect.metrics["IAE"][0]
    assert iae_o <= iae_p
    assert abs(perfect.metrics["max_deviation"][0]) <= abs(persistence.metrics["max_deviation"][0])


def test_mpc_needs_a_linear_model() -> None:
    p = lfc_plant()
    nonlinear = SystemSpec("lfc", p.states, p.inputs, p.disturbances, p.outputs, p.rhs,
                           p.output_map, None)
    with pytest.raises(UnsupportedConstruct, match="MPC needs a linear system") as err:
        simulate(nonlinear, mpc_spec(), step_sim(1.0))
    assert err.value.span == SPAN


def test_controller_step_must_be_a_multiple_of_dt() -> None:
    spec = mpc_spec()
    bad = MPCSpec(spec.name, spec.system, 0.105, 20, 20, spec.stage_H, spec.stage_h,
                  spec.bounds, span=SPAN)
    with pytest.raises(UnsupportedConstruct, match="not a whole multiple") as err:
        simulate(lfc_plant(), bad, step_sim(1.0))
    assert err.value.span == SPAN


def test_nonconvex_stage_cost_is_refused() -> None:
    spec = mpc_spec(q=-1.0)
    with pytest.raises(UnsupportedConstruct, match="not convex") as err:
        MPCController(spec, lfc_plant())
    assert err.value.span == SPAN


def test_mismatched_model_still_regulates() -> None:
    # the controller designed on M, D 20 % off still keeps the deviation small
    plant, model = lfc_plant(), lfc_plant(M=12.0, D=0.8)
    exact = simulate(plant, mpc_spec(), step_sim(10.0))
    off = simulate(plant, mpc_spec(), step_sim(10.0), model=model)
    open_loop = simulate(plant, None, step_sim(10.0))
    dev = abs(off.metrics["max_deviation"][0])
    assert dev < 0.5 * abs(open_loop.metrics["max_deviation"][0])
    assert off.signals["ub"].tolist() != exact.signals["ub"].tolist()  # the model was used


class Broken:
    """A predictor that returns NaN: the MPC must not hand it to the QP."""

    def predict(self, history: np.ndarray, horizon: int) -> np.ndarray:
        return np.full(horizon, np.nan)

    def reset(self) -> None:
        pass


def test_unusable_forecast_falls_back_to_the_estimate() -> None:
    res = simulate(lfc_plant(), mpc_spec(), step_sim(2.0), predictor=Broken())
    assert any("no usable forecast at 20 sample(s)" in n for n in res.notes)
    assert np.all(np.isfinite(res.signals["ub"])) and res.signals["ub"].max() > 0


def test_output_bound_acts_like_the_same_state_bound() -> None:
    # the SOC bound written on an output soc_out = soc (no feedthrough) gives the same moves
    p = lfc_plant(soc0=0.1005)
    lin = p.linear
    assert lin is not None
    C = np.vstack([lin.C, np.eye(7)[6]])
    outputs = (*p.outputs, Signal("soc_out", "output", ""))
    with_out = linear_system("lfc", p.states, p.inputs, p.disturbances, outputs, lin.A, lin.B,
                             lin.E, C=C)
    spec = mpc_spec(soc=None)
    out_spec = MPCSpec(spec.name, spec.system, spec.step, spec.horizon, spec.control_horizon,
                       spec.stage_H, spec.stage_h,
                       (*spec.bounds, Bound("output", 1, 0.1, 0.9)), span=SPAN)
    a = simulate(p, mpc_spec(), step_sim(4.0))
    b = simulate(with_out, out_spec, step_sim(4.0))
    assert np.abs(a.signals["ub"] - b.signals["ub"]).max() < 1e-6
    assert b.signals["soc"].min() >= 0.1 - 1e-6


def test_control_horizon_holds_the_last_move() -> None:
    spec = mpc_spec()
    short = MPCSpec(spec.name, spec.system, spec.step, 20, 4, spec.stage_H, spec.stage_h,
                    spec.bounds, span=SPAN)
    ctl = MPCController(short, lfc_plant())
    assert ctl.V.shape == (4,)  # four free moves, the rest held
    res = simulate(lfc_plant(), short, step_sim(5.0))
    assert np.abs(res.signals["ub"]).max() <= 0.02 + 1e-12
    open_loop = simulate(lfc_plant(), None, step_sim(5.0))
    assert abs(res.metrics["max_deviation"][0]) < 0.5 * abs(open_loop.metrics["max_deviation"][0])
    with pytest.raises(UnsupportedConstruct, match="control horizon"):
        MPCController(MPCSpec(spec.name, spec.system, spec.step, 20, 21, spec.stage_H,
                              spec.stage_h, spec.bounds, span=SPAN), lfc_plant())
