"""`qglc simulate` and `qglc check` on dynamics, as users run them (real subprocesses)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

MODEL = """model first_order "a first-order plant with a PI controller and a short MPC"
param T = 2 s
param K = 1.5
system plant {
  state y: MW
  input u: MW in -5 .. 5
  disturbance d: MW
  der y = (K * u - d - y) / T
}
controller pi for plant { kp = 2; ki = 2; filter = 100; step = 20 ms }
controller mpc for plant { step = 0.2 s; horizon = 8
  minimize sum(k) y[k]^2 / (1 MW^2) + 0.1 * u[k]^2 / (1 MW^2)
  subject to change(u) in -1 MW .. 1 MW }
controller qw for plant { like mpc; predictor = quantum_walk(position_qubits = 4) }
simulate plant for 6 s with pi as load { d = step(at = 1 s, size = 2 MW); band = 0.05 MW }
simulate plant for 6 s with pi as noise { d = normal(sigma = 0.5 MW, hold = 1 s); seed = 4 }
"""


def _qglc(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qgridlang", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)


@pytest.fixture()
def model(tmp_path: Path) -> Path:
    p = tmp_path / "plant.qgl"
    p.write_text(MODEL, encoding="utf-8")
    return p


def test_simulate_json_trajectories_and_metrics(model: Path) -> None:
    r = _qglc("simulate", model.name, "--simulation", "load", "--json", cwd=model.parent)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)  # stdout is one JSON document and nothing else
    assert doc["controller"] == "pi" and doc["measure"] == "y" and doc["measure_unit"] == "MW"
    assert doc["metrics"]["IAE"]["unit"] == "MW*s"
    assert doc["metrics"]["ITSE"]["unit"] == "MW^2*s^2"
    assert doc["time"]["unit"] == "s" and len(doc["time"]["values"]) == 601
    y = doc["signals"]["y"]["values"]
    assert doc["signals"]["u"]["unit"] == "MW"
    # the PI rejects the 2 MW load: y dips, then returns near 0 by the end
    assert min(y) < -0.2 and abs(y[-1]) < 0.05
    assert doc["metrics"]["max_deviation"]["value"] == pytest.approx(min(y), abs=1e-9)


def test_simulate_text_csv_and_png(model: Path) -> None:
    out = model.parent / "run.csv"
    r = _qglc("simulate", model.name, "--simulation", "noise", "-o", "run.csv",
              cwd=model.parent)
    assert r.returncode == 0, r.stderr
    assert "metrics on y [MW]" in r.stdout and "IAE" in r.stdout and "MW*s" in r.stdout
    rows = list(csv.reader(out.open(encoding="utf-8")))
    assert rows[0] == ["time [s]", "y [MW]", "u [MW]", "d [MW]"]
    assert len(rows) == 602
    png = model.parent / "run.png"
    r = _qglc("simulate", model.name, "--simulation", "noise", "-o", "run.png", "--plot", "y,d",
              cwd=model.parent)
    assert r.returncode == 0, r.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_simulate_with_another_controller_and_the_circuit(model: Path) -> None:
    r = _qglc("simulate", model.name, "--simulation", "load", "--controller", "qw", "--json",
              "--circuit", "walk.qasm", cwd=model.parent)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["controller"] == "qw"
    u = doc["signals"]["u"]["values"]
    # the MPC's rate limit: at most 1 MW per 0.2 s step, and within the input's range
    assert max(abs(b - a) for a, b in zip(u, u[1:], strict=False)) <= 1.0 + 1e-6
    assert max(abs(v) for v in u) <= 5.0 + 1e-6
    assert doc["timing"]["qp_ms_mean"] > 0
    text = (model.parent / "walk.qasm").read_text(encoding="utf-8")
    assert "OPENQASM 3.0;" in text and "qubit[4] pos;" in text


def test_simulate_open_loop_and_seed(model: Path) -> None:
    a = json.loads(_qglc("simulate", model.name, "--simulation", "noise", "--controller", "none",
                         "--seed", "7", "--json", cwd=model.parent).stdout)
    assert a["controller"] is None
    assert set(a["signals"]["u"]["values"]) == {0.0}
    b = json.loads(_qglc("simulate", model.name, "--simulation", "noise", "--controller", "none",
                         "--seed", "8", "--json", cwd=model.parent).stdout)
    assert a["signals"]["d"]["values"] != b["signals"]["d"]["values"]


@pytest.mark.parametrize("args, needle", [
    (("--simulation", "nosie"), "did you mean 'noise'"),
    (("--simulation", "load", "--controller", "pd"), "no such controller"),
    (("--simulation", "load", "--circuit", "w.qasm"), "no quantum-walk predictor"),
    (("--simulation", "load", "-o", "x.xlsx"), "write .csv, .png or .json"),
    (("--simulation", "load", "--plot", "z"), "no such signal"),
    ((), "2 simulations"),
])
def test_usage_errors_exit_2_without_traceback(model: Path, args: tuple[str, ...],
                                               needle: str) -> None:
    r = _qglc("simulate", model.name, *args, cwd=model.parent)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert needle in r.stderr and "Traceback" not in r.stderr


def test_model_error_is_located(tmp_path: Path) -> None:
    p = tmp_path / "bad.qgl"
    p.write_text(MODEL.replace("der y = (K * u - d - y) / T", "der y = (K * u - d - y) * T"),
                 encoding="utf-8")
    r = _qglc("simulate", "bad.qgl", cwd=tmp_path)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "bad.qgl:8:11: error: der y: the right-hand side is in 'MWh', but y (MW) changes " \
           "in MW/s" in r.stderr


def test_check_reports_the_dynamics(model: Path) -> None:
    r = _qglc("check", model.name, cwd=model.parent)
    assert r.returncode == 0, r.stderr
    assert "plant.qgl:4:1: note: system plant: 1 state, 1 input, 1 disturbance, 0 outputs; " \
           "linear (state space)" in r.stdout
    assert "controller qw for plant: MPC, step 0.2 s, horizon 8, predictor quantum_walk" \
        in r.stdout
    doc = json.loads(_qglc("check", model.name, "--json", cwd=model.parent).stdout)
    dyn = doc["files"][0]["dynamics"]
    assert [c["kind"] for c in dyn["controllers"]] == ["pid", "mpc", "mpc"]
    assert dyn["simulations"][0]["duration_s"] == 6.0


@pytest.mark.parametrize("verb", [("solve",), ("compile", "--target", "qubo")])
def test_solve_and_compile_refuse_a_model_with_nothing_to_optimise(model: Path,
                                                                   verb: tuple[str, ...]) -> None:
    r = _qglc(*verb, model.name, cwd=model.parent)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "no decision variables to optimise" in r.stderr and "qglc simulate" in r.stderr
