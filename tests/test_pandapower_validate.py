"""``qglc validate --ac``: pandapower's AC power flow on a plan next to the model's values.

The AC run against a closed form (two buses), the 33-bus feeder at base load against
pandapower's own power flow (SPECS §A2: losses 202.68 kW, Vmin 0.91309 pu at bus 18, i.e.
pandapower's index 17) with LinDistFlow's error, a small hand-made feeder read from JSON,
several periods, the errors, and the real ``qglc`` process."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pp = pytest.importorskip("pandapower")
pn = pytest.importorskip("pandapower.networks")

from qgridlang.checker import check_file  # noqa: E402
from qgridlang.cli import main  # noqa: E402
from qgridlang.dispatcher import solve_model  # noqa: E402
from qgridlang.errors import QglError, UsageError  # noqa: E402
from qgridlang.network_io.ac_validate import (  # noqa: E402
    BranchIn,
    BusIn,
    run_ac,
    validate,
)
from qgridlang.network_io.pandapower_import import import_network, quiet  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BW33 = ROOT / "examples/networks/case33bw/case33bw.qgl"

TWO_BUS = """model two_bus
use stdlib
network flow = lindistflow
time T = 1..3 step 1 h
param demand[T]: MW = {1: 1, 2: 2, 3: 3}
bus up { vn = 10 kV; slack = 1; v_set = 1.02 }
bus down { vn = 10 kV }
line feeder between up, down { r = 1 ohm; x = 2 ohm }
substation grid at up { price[t] = 30 $/MWh }
load ld at down { demand = demand; power_factor = 0.9 }
minimize cost: grid.cost
"""


def closed_form(v0: float, p: float, q: float, r: float, x: float) -> float:
    """|V| at the end of one line feeding P + jQ (per unit): the larger root of
    V^4 + (2 (P r + Q x) - V0^2) V^2 + (P^2 + Q^2)(r^2 + x^2) = 0."""
    b = v0 ** 2 - 2 * (p * r + q * x)
    return math.sqrt((b + math.sqrt(b * b - 4 * (p * p + q * q) * (r * r + x * x))) / 2)


def test_run_ac_matches_the_closed_form() -> None:
    vn, r, x, p, q = 10.0, 1.0, 2.0, 3.0, 1.2  # kV, ohm, ohm, MW, Mvar
    buses = [BusIn("a", vn, True, 1.02, None, None, 0.0, 0.0),
             BusIn("b", vn, False, 1.0, 0.9, 1.1, -p, -q, v_model=0.9)]
    rep = run_ac(buses, [BranchIn("l", "a", "b", r, x, 10.0, p, q)])
    z = vn ** 2  # ohm per pu on 1 MVA
    v = closed_form(1.02, p, q, r / z, x / z)
    got = {b["bus"]: b for b in rep["buses"]}
    assert got["b"]["v_ac"] == pytest.approx(v, abs=1e-8)
    assert got["b"]["v_error"] == pytest.approx((0.9 - v) / v)
    # the line's losses are I^2 r with I = S / V at the load end
    loss = (p * p + q * q) / (v * vn) ** 2 * r
    assert rep["losses_ac_mw"] == pytest.approx(loss, rel=1e-6)
    assert rep["slack"][0]["p_ac_mw"] == pytest.approx(p + loss, rel=1e-6)
    assert rep["vmin_ac"]["bus"] == "b" and rep["violations_ac"] == []
    assert rep["branches"][0]["loading_model_percent"] == pytest.approx(30.0)


def test_run_ac_transformer_between_voltage_levels() -> None:
    """A branch between 20 and 0.4 kV buses becomes a transformer with the same impedance
    (ohm at the from bus): the same |V| as a line at one level with that impedance."""
    r, x, p, q = 0.8, 6.0, 0.3, 0.1  # ohm at 20 kV
    hv = run_ac([BusIn("a", 20.0, True, 1.0, None, None, 0, 0),
                 BusIn("b", 0.4, False, 1.0, None, None, -p, -q)],
                [BranchIn("t", "a", "b", r, x, None)])
    lv_first = run_ac([BusIn("a", 20.0, True, 1.0, None, None, 0, 0),
                       BusIn("b", 0.4, False, 1.0, None, None, -p, -q)],
                      [BranchIn("t", "b", "a", r * (0.4 / 20) ** 2, x * (0.4 / 20) ** 2,
                                None)])
    v = closed_form(1.0, p, q, r / 400, x / 400)
    assert hv["buses"][1]["v_ac"] == pytest.approx(v, abs=1e-7)
    assert lv_first["buses"][1]["v_ac"] == pytest.approx(v, abs=1e-7)
    assert hv["branches"][0]["p_ac_mw"] == pytest.approx(p + hv["losses_ac_mw"])
    assert lv_first["branches"][0]["p_ac_mw"] == pytest.approx(-p, abs=1e-9)  # from the LV end


def test_case33bw_base_load_against_pandapower() -> None:
    """SPECS §A2's numbers from pandapower itself, the same from validate's rebuilt network,
    and LinDistFlow's lowest voltage within the 0.5 % goal."""
    net = pn.case33bw()
    with quiet():
        pp.runpp(net, numba=False)
    assert net.res_line.pl_mw.sum() * 1000 == pytest.approx(202.68, abs=0.005)
    assert net.res_bus.vm_pu.min() == pytest.approx(0.91309, abs=5e-6)
    assert int(net.res_bus.vm_pu.idxmin()) == 17  # bus 18 counted from 1
    checked = check_file(BW33)
    sol = solve_model(checked, "highs")
    rep = validate(checked, sol.x, "highs").periods[0]
    assert rep["losses_ac_mw"] == pytest.approx(net.res_line.pl_mw.sum(), rel=1e-6)
    assert rep["vmin_ac"] == {"bus": "b[17]", "v": pytest.approx(net.res_bus.vm_pu[17],
                                                                   abs=1e-7)}
    for b in rep["buses"]:
        k = int(b["bus"][2:-1])
        assert b["v_ac"] == pytest.approx(net.res_bus.vm_pu[k], abs=1e-7)
    assert rep["vmin_model"]["bus"] == "b[17]"
    assert rep["vmin_model"]["v"] == pytest.approx(0.915934, abs=1e-6)  # measured
    assert 0 < rep["vmin_error"] < 0.005  # LinDistFlow is lossless: it overestimates |V|
    assert rep["vmin_error"] == pytest.approx(0.003115, abs=1e-6)
    assert rep["max_v_error"] == pytest.approx(rep["vmin_error"])  # the far end errs most
    # the model's flows leave out the losses: the head line differs by all of them
    head = rep["branches"][0]
    assert head["p_ac_mw"] - head["p_model_mw"] == pytest.approx(rep["losses_ac_mw"], rel=1e-9)
    assert rep["slack"][0]["p_model_mw"] == pytest.approx(3.715)


def small_feeder(folder: Path) -> tuple[Path, Any]:
    """Five buses at 20 kV, two laterals, loads with reactive power (a hand-made net saved as
    pandapower JSON)."""
    net = pp.create_empty_network()
    b = [pp.create_bus(net, 20.0) for _ in range(5)]
    pp.create_ext_grid(net, b[0], vm_pu=1.0)
    for f, t, km in [(0, 1, 3.0), (1, 2, 2.0), (2, 3, 2.5), (1, 4, 4.0)]:
        pp.create_line_from_parameters(net, b[f], b[t], km, 0.3, 0.38, 0, 0.3)
    for k, p, q in [(1, 1.0, 0.4), (2, 1.5, 0.6), (3, 1.2, 0.5), (4, 0.8, 0.3)]:
        pp.create_load(net, b[k], p_mw=p, q_mvar=q)
    pp.create_poly_cost(net, 0, "ext_grid", cp1_eur_per_mw=40)
    path = folder / "feeder.json"
    with quiet():
        pp.to_json(net, str(path))
        pp.runpp(net, numba=False)
    return path, net


def test_small_feeder_lindistflow_within_tolerance(tmp_path: Path) -> None:
    """LinDistFlow within 0.1 % of the AC voltages on a lightly loaded feeder (measured
    0.034 %); the AC run equals pandapower's on the original net."""
    path, net = small_feeder(tmp_path)
    model = import_network(str(path), tmp_path / "out").model
    assert "network flow = lindistflow" in model.read_text()
    checked = check_file(model)
    rep = validate(checked, solve_model(checked, "highs").x, "highs").periods[0]
    for k, b in enumerate(rep["buses"]):
        assert b["v_ac"] == pytest.approx(net.res_bus.vm_pu[k], abs=1e-9)
    assert rep["losses_ac_mw"] == pytest.approx(net.res_line.pl_mw.sum(), rel=1e-9)
    assert 0 < rep["max_v_error"] < 1e-3
    assert rep["vmin_ac"]["bus"] == rep["vmin_model"]["bus"] == "b[3]"
    assert rep["max_q_error_mvar"] > 0  # lossless: the reactive losses are missing too


def two_bus(folder: Path, text: str = TWO_BUS) -> Path:
    path = folder / "two_bus.qgl"
    path.write_text(text)
    return path


def test_every_period_and_one(tmp_path: Path) -> None:
    checked = check_file(two_bus(tmp_path))
    x = solve_model(checked, "highs").x
    v = validate(checked, x, "highs")
    assert [r["period"] for r in v.periods] == ["1", "2", "3"]
    tan = math.tan(math.acos(0.9))
    for k, r in enumerate(v.periods, start=1):
        want = closed_form(1.02, k, k * tan, 1 / 100, 2 / 100)
        assert r["buses"][1]["v_ac"] == pytest.approx(want, abs=1e-8)
        assert r["buses"][1]["v_model"] == pytest.approx(
            math.sqrt(1.02 ** 2 - 2 * (k * 1 + k * tan * 2) / 100))
    assert [r["period"] for r in validate(checked, x, "highs", "2").periods] == ["2"]
    with pytest.raises(UsageError, match="--period 7: not a period"):
        validate(checked, x, "highs", "7")


def test_several_periods_as_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(two_bus(tmp_path)), "--ac"]) == 0
    out = capsys.readouterr().out
    assert "per period" in out and "lowest AC voltage: period 3" in out


def test_no_convergence_is_a_model_error(tmp_path: Path) -> None:
    text = TWO_BUS.replace("{1: 1, 2: 2, 3: 3}", "{1: 1, 2: 2, 3: 90}")
    checked = check_file(two_bus(tmp_path, text))
    with pytest.raises(QglError, match="did not converge for period 3"):
        validate(checked, solve_model(checked, "highs").x, "highs")


@pytest.mark.parametrize("text, args, message", [
    ("model m\nvar x in 0 .. 1\nminimize f: x\n", ["--ac"], "has no network to validate"),
    (TWO_BUS, [], "nothing to check"),
    (TWO_BUS, ["--ac", "--period", "x"], "--period x: not a period"),
    (TWO_BUS, ["--ac", "--plan", "missing.json"], "cannot read it"),
])
def test_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str,
                      args: list[str], message: str) -> None:
    model = two_bus(tmp_path, text)
    code = main(["validate", str(model), *args, "--json"]) if "--plan" not in args else \
        main(["validate", str(model), *args[:2], str(tmp_path / args[2]), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 2 and doc["errors"][0]["kind"] == "usage_error", doc
    assert message in doc["errors"][0]["message"]


def qglc(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qgridlang", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


def test_cli_validate_process(tmp_path: Path) -> None:
    r = qglc("validate", str(BW33), "--ac", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["status"] == "ok" and doc["formulation"] == "lindistflow"
    assert doc["plan"].startswith("solved with highs (optimal")
    (rep,) = doc["periods"]
    assert rep["losses_ac_mw"] * 1000 == pytest.approx(202.68, abs=0.005)
    assert rep["vmin_ac"]["bus"] == "b[17]" and rep["vmin_ac"]["v"] == pytest.approx(
        0.91309, abs=5e-6)
    # a plan from a file, one period, as tables
    model = two_bus(tmp_path)
    sol = solve_model(check_file(model), "highs")
    (tmp_path / "plan.json").write_text(json.dumps(sol.to_json()))
    t = qglc("validate", "two_bus.qgl", "--ac", "--plan", "plan.json", "--period", "3",
             cwd=tmp_path)
    assert t.returncode == 0, t.stderr
    assert "plan.json" in t.stdout and "period 3" in t.stdout and "Vmin (model)" in t.stdout
    # the AC power flow fails for a load the line cannot carry: exit 1, no traceback
    heavy = two_bus(tmp_path, TWO_BUS.replace("{1: 1, 2: 2, 3: 3}", "{1: 90, 2: 2, 3: 3}"))
    f = qglc("validate", heavy.name, "--ac", cwd=tmp_path)
    assert f.returncode == 1 and "did not converge for period 1" in f.stderr
    assert "Traceback" not in f.stderr
