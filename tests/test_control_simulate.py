"""simulate(): the SPECS §C1 sanity check, the nonlinear path, PID on the LFC, located errors."""

from __future__ import annotations

import numpy as np
import pytest
from control_lfc import lfc_plant

from qgridlang.control.simulate import simulate
from qgridlang.control.spec import (
    DisturbanceProfile,
    PIDSpec,
    SimulationSpec,
    SystemSpec,
)
from qgridlang.errors import DimensionMismatch, Span, UnknownName, UnsupportedConstruct

STEP = DisturbanceProfile(0, "step", {"at": 2.0, "size": 0.01})


def test_open_loop_nadir_is_the_specs_sanity_check() -> None:
    # SPECS §C1: no battery control, K_I = 0, a 0.01 pu load step at 2 s: nadir -0.043 Hz
    res = simulate(lfc_plant(ki=0.0), None, SimulationSpec("lfc", 60.0, None, (STEP,)))
    nadir, unit = res.metrics["max_deviation"]
    assert unit == "Hz" and res.measure == "df_hz"
    assert nadir == pytest.approx(-0.043, abs=5e-4)  # measured -0.04315 Hz
    assert np.all(res.signals["ub"] == 0.0) and np.all(res.signals["soc"] == 0.6)
    # droop alone leaves the offset -50 * 0.01 / (D + 1/R) Hz after the reheater settles
    assert res.signals["df_hz"][-1] == pytest.approx(-0.5 / 21, rel=2e-2)
    assert res.time[-1] == pytest.approx(60.0) and res.time.size == 6001
    assert res.units["soc"] == "" and res.units["df"] == "pu" and res.units["dpl"] == "pu"
    assert res.metrics["IAE"][1] == "Hz*s"


def test_nonlinear_path_agrees_with_the_exact_linear_step() -> None:
    lin = lfc_plant()
    # the same right-hand side, without the matrices: integrated by solve_ivp per dt
    nonlinear = SystemSpec("lfc", lin.states, lin.inputs, lin.disturbances, lin.outputs,
                           lin.rhs, lin.output_map, None)
    pid = PIDSpec("pid", "lfc", ("state", 0), 0, 2.0, 1.0, 0.1, 100.0, 0.1)
    sim = SimulationSpec("lfc", 4.0, "pid", (DisturbanceProfile(0, "step", {"at": 0.5,
                                                                            "size": 0.01}),))
    a = simulate(lin, pid, sim)
    b = simulate(nonlinear, pid, sim)
    for name in ("df", "pg", "pb", "soc", "ub", "df_hz"):
        assert np.max(np.abs(a.signals[name] - b.signals[name])) < 1e-8


def test_pid_on_the_lfc_measures_the_output_in_hz_and_helps() -> None:
    # e = 0 - df_hz; u = kp e + ...: the battery discharges when the frequency drops
    pid = PIDSpec("pid", "lfc", ("output", 0), 0, 0.5, 0.2, 0.0, 100.0, 0.1)
    sim = SimulationSpec("lfc", 20.0, "pid", (STEP,))
    closed = simulate(lfc_plant(), pid, sim)
    open_ = simulate(lfc_plant(), None, sim)
    assert abs(closed.metrics["max_deviation"][0]) < 0.7 * abs(open_.metrics["max_deviation"][0])
    assert closed.signals["ub"].max() > 0 and np.abs(closed.signals["ub"]).max() <= 0.02
    assert closed.timing["steps"] == 200 and closed.timing["worst_ratio"] < 1.0
    # the controller holds its output between samples (dt 0.01, step 0.1)
    u = closed.signals["ub"][:-1].reshape(-1, 10)
    assert np.all(u == u[:, :1])


def test_measure_and_band() -> None:
    sim = SimulationSpec("lfc", 20.0, None, (STEP,), measure="df", band=1e-4)
    res = simulate(lfc_plant(), None, sim)
    assert res.measure == "df" and res.metrics["max_deviation"][1] == "pu"
    assert "regulation_time_band" in res.metrics


def test_errors_are_located() -> None:
    span = Span("lfc.qgl", 30, 1)
    with pytest.raises(UnknownName, match="'dff'") as err:
        simulate(lfc_plant(), None, SimulationSpec("lfc", 1.0, None, (), measure="dff",
                                                   span=span))
    assert err.value.span == span and "df" in (err.value.hint or "")
    with pytest.raises(UnsupportedConstruct, match="positive duration"):
        simulate(lfc_plant(), None, SimulationSpec("lfc", 0.0, None, (), span=span))
    p = lfc_plant()
    fewer = SystemSpec("m", p.states[:6], p.inputs, p.disturbances, p.outputs, p.rhs,
                       p.output_map, None)
    pid = PIDSpec("pid", "lfc", ("state", 0), 0, 1.0, 0.0, 0.0, 100.0, 0.1, span=span)
    with pytest.raises(DimensionMismatch, match="6 states") as err2:
        simulate(p, pid, SimulationSpec("lfc", 1.0, "pid", ()), model=fewer)
    assert err2.value.span == span
