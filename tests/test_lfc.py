"""examples/lfc/lfc.qgl and benchmarks/lfc.py (SPECS §C; issue 13)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import control
import numpy as np
import pytest

from qgridlang.checker import check_text
from qgridlang.control.frontend import load_dynamics
from qgridlang.control.simulate import simulate
from qgridlang.control.spec import MPCSpec, PIDSpec
from qgridlang.errors import QglError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "lfc" / "lfc.qgl"
# Table 1 as read in SPECS §C1
M, D, RINV, TG, TT, KR, TR, TB, B, KI = 10.0, 1.0, 20.0, 0.05, 0.3, 0.5, 10.0, 0.1, 21.0, 0.2


@pytest.fixture(scope="module")
def dyn():
    return load_dynamics(EXAMPLE)


def test_example_checks_with_its_controllers_and_simulations(dyn) -> None:
    assert list(dyn.systems) == ["lfc"]
    assert set(dyn.controllers) == {"pid", "mpc", "qmpc", "qmpc_adaptive", "mpc_ar2", "mpc_rw"}
    assert set(dyn.simulations) == {"step", "random"}
    pid = dyn.controllers["pid"]
    assert isinstance(pid, PIDSpec)
    # the frozen ITAE-tuned gains (docs/benchmarks/lfc.md), and the calibrated random sigma
    assert (pid.kp, pid.ki, pid.kd, pid.filter, pid.step) == (635.2, 2360.0, 1.0, 100.0, 0.01)
    assert dyn.simulations["random"].profiles[0].params == {"sigma": 0.0292, "hold": 1.0}
    mpc, qmpc = dyn.controllers["mpc"], dyn.controllers["qmpc"]
    assert isinstance(mpc, MPCSpec) and isinstance(qmpc, MPCSpec)
    assert mpc.predictor.kind == "persistence" and qmpc.predictor.kind == "quantum_walk"
    assert qmpc.predictor.options == {"position_qubits": 6.0, "blend": 0.5}
    adaptive = dyn.controllers["qmpc_adaptive"]
    assert adaptive.predictor.options == {"position_qubits": 6.0, "blend": "adaptive"}
    # `like mpc`: everything but the predictor is the same
    for f in ("step", "horizon", "control_horizon", "terminal", "observer", "soft_states"):
        assert getattr(qmpc, f) == getattr(mpc, f)
    assert np.array_equal(qmpc.stage_H, mpc.stage_H)
    assert qmpc.bounds == mpc.bounds


def test_a_misspelt_walk_option_is_located_at_its_line() -> None:
    text = EXAMPLE.read_text().replace(
        "quantum_walk(position_qubits = 6, blend = 0.5)",
        "quantum_walk(positon_qubits = 6, blend = 0.5)",
    )
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "positon_qubits" in t)
    with pytest.raises(QglError) as err:
        check_text(text, "lfc.qgl")
    msg = str(err.value)
    assert f"lfc.qgl:{line}:" in msg and "did you mean 'position_qubits'" in msg


def _transfer_functions(
    ki: float = KI,
) -> tuple[control.TransferFunction, control.TransferFunction]:
    """Δf/ΔP_L and Δf/u_B of the SPECS §C1 block diagram (secondary PI with K_P = 0)."""
    s = control.tf("s")
    grid = 1 / (M * s + D)
    chain = (1 / (TG * s + 1)) * (1 / (TT * s + 1)) * ((KR * TR * s + 1) / (TR * s + 1))
    feedback = chain * (RINV + ki * B / s)  # Δf -> -ΔP_G
    closed = control.feedback(grid, feedback)
    return -closed, closed * (1 / (TB * s + 1))


def test_plant_matches_the_transfer_function_interconnection(dyn) -> None:
    lin = dyn.systems["lfc"].linear
    assert lin is not None
    T = np.linspace(0.0, 40.0, 4001)
    tf_load, tf_battery = _transfer_functions()
    df = 0  # state index; output freq = 50 df
    assert lin.C[0, df] == pytest.approx(50.0)
    for tf, inputs in ((tf_load, lin.E), (tf_battery, lin.B)):
        ss = control.ss(lin.A, inputs, lin.C, np.zeros((1, 1)))
        y_ss = control.step_response(ss, T).outputs.reshape(-1)
        y_tf = 50.0 * control.step_response(tf, T).outputs.reshape(-1)
        assert np.max(np.abs(y_ss - y_tf)) < 1e-9 * max(1.0, np.max(np.abs(y_tf)))
    # SPECS §C1's sanity check: a 0.01 p.u. load step, no battery, K_I = 0: nadir -0.043 Hz
    y = 0.01 * 50.0 * control.step_response(_transfer_functions(0.0)[0], T).outputs.reshape(-1)
    assert y.min() == pytest.approx(-0.043, abs=0.0005)
    # SOC: 10 MW (0.02 p.u.) for an hour empties 10 MWh; dSOC/dt = -pb * 500 MW / 5 MWh
    soc = [s.name for s in dyn.systems["lfc"].states].index("soc")
    pb = [s.name for s in dyn.systems["lfc"].states].index("pb")
    assert lin.A[soc, pb] == pytest.approx(-500.0 / 5.0 / 3600.0)


@pytest.mark.parametrize("name", ["pid", "mpc", "qmpc", "qmpc_adaptive", "mpc_ar2", "mpc_rw"])
def test_each_controller_runs_a_short_simulation(dyn, name: str) -> None:
    for scenario in ("step", "random"):
        sim = dataclasses.replace(dyn.simulations[scenario], duration=4.0)
        res = simulate(dyn.systems["lfc"], dyn.controllers[name], sim)
        assert res.controller == name and res.measure == "freq"
        ub, soc = res.signals["ub"], res.signals["soc"]
        assert np.all(np.abs(ub) <= 0.02 + 1e-9)
        assert np.all((soc >= 0.1) & (soc <= 0.9))
        if scenario == "step":
            # the load steps up at 2 s: frequency falls, the battery discharges (u > 0)
            assert res.metrics["max_deviation"][0] < 0
            assert ub[res.time > 2.5].mean() > 0


def test_the_battery_helps_on_the_step(dyn) -> None:
    sim = dyn.simulations["step"]
    open_loop = simulate(dyn.systems["lfc"], None, sim).metrics["max_deviation"][0]
    for name in ("pid", "mpc"):
        closed = simulate(dyn.systems["lfc"], dyn.controllers[name], sim)
        assert abs(closed.metrics["max_deviation"][0]) < 0.5 * abs(open_loop)


def test_benchmark_quick_mode_runs(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "lfc.py"), "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    store = json.loads((tmp_path / "lfc_quick.json").read_text())
    # 3 controllers x (1 step + 2 random seeds)
    assert len(store) == 9
    assert {r["controller"] for r in store.values()} == {"pid", "mpc", "qmpc"}
    for r in store.values():
        assert r["duration"] == 10.0 and 0.1 <= r["soc_min"] <= r["soc_max"] <= 0.9
        assert np.isfinite(r["metrics"]["IAE"])
    assert "Table 2" in proc.stdout and "| qmpc |" in proc.stdout
    assert (tmp_path / "lfc_step.png").stat().st_size > 1000
    assert (tmp_path / "lfc_random.png").stat().st_size > 1000
    # resumable: a second run finds every result and simulates nothing
    again = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "lfc.py"), "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert again.returncode == 0 and "[1/" not in again.stdout


def test_the_paper_pid_benchmark_quick_mode_runs(tmp_path: Path) -> None:
    """benchmarks/lfc_paper_pid.py --quick: the weak PID is scaled to the paper's nadir."""
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "lfc_paper_pid.py"), "--quick",
                        "--out", str(tmp_path)], capture_output=True, text=True, timeout=600,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "lfc_paper_pid_quick.json").read_text(encoding="utf-8"))
    assert res["step"]["pid_paper"]["max_deviation"] == pytest.approx(-0.032, abs=1e-6)
    assert 0 < res["scale"] < 1
    assert "| mpc |" in r.stdout and "pid_paper" in r.stdout
