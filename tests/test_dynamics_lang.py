"""The dynamics language: `system`, `controller`, `simulate` checked and lowered to the specs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qgridlang.checker import check_text
from qgridlang.control.frontend import dynamics_of, run_simulation
from qgridlang.control.spec import MPCSpec, PIDSpec
from qgridlang.errors import QglErrors
from tests.control_lfc import lfc_plant

LFC = """
model lfc_lang "single-area LFC, SPECS C1"
param f0 = 50 Hz
param Sbase = 500 MW
param EB = 5 MWh
param M = 10 s
param D = 1
param Rinv = 20
param Tg = 0.05 s
param Tt = 0.3 s
param Kr = 0.5
param Tr = 10 s
param Tb = 0.1 s
param B = 21
param KI: 1/s = 0.2
system lfc {
  state df: pu, pv: pu, pt: pu, pg: pu, pb: pu, ace: pu*s, soc in 0.1 .. 0.9 = 0.6
  input ub: pu in -0.02 .. 0.02
  disturbance dpl: pu
  output freq: mHz = f0 * df
  der df = (pg + pb - dpl - D * df) / M
  der pv = (-KI * ace - Rinv * df - pv) / Tg
  der pt = (pv - pt) / Tt
  der pg = (pt - pg) / Tr + Kr * (pv - pt) / Tt
  der pb = (ub - pb) / Tb
  der ace = B * df
  der soc = -pb * Sbase / EB
}
controller pid for lfc { measure = df; kp = 0.5; ki = 2; kd = 100 ms; filter = 50 Hz }
param q: 1/mHz^2 = 4
controller mpc for lfc {
  step = 100 ms; horizon = 10
  minimize sum(k) q * freq[k]^2 + ub[k]^2
  subject to soc in 0.1 .. 0.9, change(ub) in -0.02 .. 0.02
}
controller walk for lfc { like mpc; horizon = 12; predictor = quantum_walk(blend = adaptive) }
simulate lfc for 5 s with pid as step { dpl = step(at = 1 s, size = 0.01); band = 2 mHz }
simulate lfc for 5 s as noise { dpl = normal(sigma = 0.004, hold = 500 ms); seed = 3 }
"""


@pytest.fixture(scope="module")
def lfc():
    return dynamics_of(check_text(LFC, "<lfc>"))


def test_the_plant_equals_the_hand_built_state_space(lfc) -> None:
    """Every `der` lowered with its units (1/h -> per second, ms, mHz) equals SPECS C1."""
    s = lfc.systems["lfc"]
    ref = lfc_plant()
    assert s.linear is not None and ref.linear is not None
    for name in ("A", "B", "E", "c"):
        np.testing.assert_allclose(getattr(s.linear, name), getattr(ref.linear, name),
                                   atol=1e-12, err_msg=name)
    # the output in the unit written (mHz): 50 Hz per pu = 50,000 mHz per pu
    np.testing.assert_allclose(s.linear.C[0], [50_000, 0, 0, 0, 0, 0, 0])
    assert [x.unit for x in s.states] == ["pu", "pu", "pu", "pu", "pu", "pu*s", ""]
    assert s.outputs[0].unit == "mHz"
    assert s.states[-1].initial == 0.6 and (s.states[-1].lower, s.states[-1].upper) == (0.1,
                                                                                      0.9)
    assert (s.inputs[0].lower, s.inputs[0].upper) == (-0.02, 0.02)
    x = np.linspace(-1, 1, 7)
    np.testing.assert_allclose(s.rhs(0.0, x, np.array([0.01]), np.array([0.02])),
                               s.linear.A @ x + s.linear.B @ [0.01] + s.linear.E @ [0.02])


def test_controllers_convert_units_and_inherit(lfc) -> None:
    pid = lfc.controllers["pid"]
    assert isinstance(pid, PIDSpec)
    assert (pid.kp, pid.ki, pid.kd, pid.filter, pid.step) == (0.5, 2.0, 0.1, 50.0, 0.01)
    assert pid.measured == ("state", 0) and pid.input == 0
    mpc = lfc.controllers["mpc"]
    assert isinstance(mpc, MPCSpec)
    assert mpc.step == pytest.approx(0.1) and mpc.horizon == 10
    # q * freq^2 with freq = 50,000 mHz/pu * df: the df weight is 4 * 50,000^2 per pu^2
    assert mpc.stage_H[0, 0] == pytest.approx(4 * 50_000**2)
    assert mpc.stage_H[7, 7] == pytest.approx(1.0)
    assert np.count_nonzero(mpc.stage_H) == 2
    kinds = sorted((b.kind, b.index, b.lower, b.upper) for b in mpc.bounds)
    assert kinds == [("input", 0, -0.02, 0.02), ("rate", 0, -0.02, 0.02),
                     ("state", 6, 0.1, 0.9)]
    walk = lfc.controllers["walk"]
    assert isinstance(walk, MPCSpec)
    assert walk.horizon == 12 and walk.step == mpc.step  # own setting over the liked one
    np.testing.assert_array_equal(walk.stage_H, mpc.stage_H)
    assert walk.predictor.kind == "quantum_walk"
    assert walk.predictor.options == {"blend": "adaptive"}
    assert mpc.predictor.kind == "persistence"


def test_simulations_are_lowered(lfc) -> None:
    step, noise = lfc.simulations["step"], lfc.simulations["noise"]
    assert (step.duration, step.controller, step.measure, step.band) == (5.0, "pid", "freq",
                                                                         2.0)
    p = step.profiles[0]
    assert (p.kind, p.params) == ("step", {"at": 1.0, "size": 0.01})
    assert noise.controller is None and noise.seed == 3
    assert noise.profiles[0].params == {"sigma": 0.004, "hold": 0.5}


def test_simulation_runs_and_reports_in_the_measured_unit(lfc) -> None:
    res = run_simulation(lfc, "step")
    assert res.units["freq"] == "mHz" and res.metrics["MAE"][1] == "mHz"
    assert res.metrics["IAE"][1] == "mHz*s"
    np.testing.assert_allclose(res.signals["freq"], 50_000 * res.signals["df"])
    # the PID acted: the battery's command moved and stayed within the input's range
    assert np.abs(res.signals["ub"]).max() > 0
    assert np.abs(res.signals["ub"]).max() <= 0.02 + 1e-12
    # --seed changes the noise; the same seed repeats it
    a = run_simulation(lfc, "noise", seed=1)
    b = run_simulation(lfc, "noise", seed=1)
    c = run_simulation(lfc, "noise", seed=2)
    np.testing.assert_array_equal(a.signals["dpl"], b.signals["dpl"])
    assert not np.array_equal(a.signals["dpl"], c.signals["dpl"])


NONLINEAR = """
param k: 1/s = 0.5
system decay {
  state x: pu = 2
  der x = -k * x^2
}
simulate decay for 4 s { dt = 10 ms }
"""


def test_a_nonlinear_system_is_integrated_against_its_closed_form() -> None:
    """der x = -k x^2 has x(t) = x0 / (1 + k x0 t)."""
    dyn = dynamics_of(check_text(NONLINEAR, "<nl>"))
    s = dyn.systems["decay"]
    assert s.linear is None
    res = run_simulation(dyn)
    exact = 2.0 / (1.0 + 0.5 * 2.0 * res.time)
    np.testing.assert_allclose(res.signals["x"], exact, rtol=1e-5)


def test_the_der_unit_check_converts_compatible_units() -> None:
    """A right-hand side in MW/h for a state in MWh is 1/3600 of it per second."""
    text = """
param P = 3600 MW
system store {
  state e: MWh
  input p: MW
  der e = p - P / 10
}
"""
    s = dynamics_of(check_text(text, "<u>")).systems["store"]
    assert s.linear is not None
    np.testing.assert_allclose(s.linear.B, [[1 / 3600]])
    np.testing.assert_allclose(s.linear.c, [-360 / 3600])


@pytest.mark.parametrize("text, message", [
    ("system s { state x: pu; der x = x / (1 s); der x = -x / (1 s) }", "der x is given twice"),
    ("system s { state x: pu; output y = 2 * x; der x = -x / (1 s) }\n"
     "simulate s for 1 s { measure = z }", "has no signal 'z'"),
    ("system s { state x: pu; der x = -x / (1 s) }\nsimulate s for -1 s { }",
     "must be positive"),
    ("system s { state x: pu; der x = -x / (1 s) }\nsimulate s for 10 { }", "is a time"),
    ("system s { state x: pu; input u: pu; input v: pu; der x = (u + v - x) / (1 s) }\n"
     "controller p for s { kp = 1 }", "has 2 inputs"),
    ("system s { state x: pu; input u: pu; der x = (u - x) / (1 s) }\n"
     "controller p for s { kp = 1; horizon = 3 }", "belongs to the other kind"),
    ("system s { state x: pu in 0 .. 1 = 2; der x = -x / (1 s) }", "outside its range"),
    ("system s { state x: pu; der x = -x / (1 s) }\n"
     "simulate s for 1e9 s { dt = 1 ms }", "the limit is"),
    ("system s { state x: pu; input u: pu; der x = (u - x) / (1 s) }\n"
     "controller c for s { step = 1 s; horizon = 1e8; minimize sum(k) x[k]^2 }",
     "predicted values (the limit is"),
])
def test_mistakes_are_located(text: str, message: str) -> None:
    with pytest.raises(QglErrors) as info:
        check_text(text, "<bad>")
    errs = info.value.errors
    assert any(message in f"{e.message} {e.hint}" for e in errs), [e.message for e in errs]
    assert all(e.span is not None and e.span.line >= 1 for e in errs)


def test_a_failed_system_does_not_cascade() -> None:
    text = ("system s { state x: pu; der x = x * (1 s) }\n"
            "controller p for s { kp = 1 }\nsimulate s for 1 s with p { }")
    with pytest.raises(QglErrors) as info:
        check_text(text, "<bad>")
    assert len(info.value.errors) == 1
    assert "der x" in info.value.errors[0].message


def test_metrics_are_finite_numbers(lfc) -> None:
    res = run_simulation(lfc, "step")
    for name, (value, unit) in res.metrics.items():
        assert isinstance(value, float) and unit is not None, name
        assert math.isfinite(value) or name.startswith("regulation"), name


def test_public_api_simulate_with_a_mismatched_plant(tmp_path) -> None:
    """qgridlang.simulate: overrides change the plant; `model` is what the controller believes."""
    import qgridlang as qg

    path = tmp_path / "lfc.qgl"
    path.write_text(LFC, encoding="utf-8")
    nominal = qg.simulate(path, "step", controller="mpc")
    heavy = qg.simulate(path, "step", controller="mpc", overrides={"M": "12 s"}, model=path)
    both = qg.simulate(path, "step", controller="mpc", overrides={"M": "12 s"})
    assert nominal.controller == heavy.controller == "mpc"
    # more inertia: a shallower nadir, whoever designed the controller
    assert abs(heavy.metrics["max_deviation"][0]) < abs(nominal.metrics["max_deviation"][0])
    # the mismatched run differs from the one whose controller knows M = 12 s
    assert not np.allclose(heavy.signals["ub"], both.signals["ub"])


def test_the_dynamics_words_stay_usable_as_names() -> None:
    """`bus system` (examples/unit_commitment) and other names that are dynamics keywords
    inside a system or controller remain names everywhere else."""
    text = """
time T = 1..2 step 1 h
param der = 2
param state = 1
param output = 3
param controller = 1
set input = {a, b}
var simulate[T] >= 0
constraint c[t in T]: simulate[t] >= der + state + output + controller
minimize sum(t in T) simulate[t]
system s { state x: pu; der x = (output - x) / (1 s) }
"""
    m = check_text(text, "<kw>")
    assert m.flat.n == 2 and "s" in m.flat.systems
    np.testing.assert_allclose(m.flat.systems["s"].spec.linear.c, [3.0])
