"""``qglc plot`` and ``Solution.plot()``: figures of a result, headless, in the model's units.

Every example's solve is plotted in tests/test_examples.py; here: what each panel shows, that
the VaR/CVaR marked are what the model's ``cvar`` measures, the CLI as a real process and its
errors.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qgridlang.checker import check_file
from qgridlang.dispatcher import solve_model
from qgridlang.plotting import figure
from qgridlang.plotting.figures import var_cvar

ROOT = Path(__file__).resolve().parent.parent
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def risk_solution():  # type: ignore[no-untyped-def]
    return solve_model(check_file(ROOT / "examples/risk/risk.qgl"), "highs")


def test_marked_cvar_is_what_the_model_measures(risk_solution) -> None:  # type: ignore[no-untyped-def]
    doc = risk_solution.to_json()
    layout = doc["model"]
    assert layout["risk"] == [{"measure": "cvar", "of": "cost", "alpha": 0.9}]
    assert layout["scenarios"] == {"S": {"size": 200, "uniform": True}}
    cost = np.array(list(doc["expressions"]["cost"]["values"].values()), float)
    var, cvar = var_cvar(cost, np.full(len(cost), 1 / len(cost)), 0.9)
    # the model's tail_cost is its CVaR (Rockafellar–Uryasev, solved by HiGHS)
    assert cvar == pytest.approx(risk_solution.value("tail_cost"), rel=1e-7)
    assert var == pytest.approx(float(np.quantile(cost, 0.9, method="inverted_cdf")))
    fig, panels = figure(doc)
    assert panels == ["dispatch", "scenarios"]
    hist = fig.axes[1]
    labels = [line.get_label() for line in hist.get_lines()]
    assert any(lab.startswith("CVaR 0.9: ") and lab.endswith(" $") for lab in labels), labels
    assert hist.get_xlabel() == "cost [$]"


def test_var_cvar_weighted() -> None:
    x = np.array([1.0, 2.0, 3.0, 10.0])
    p = np.array([0.4, 0.3, 0.2, 0.1])
    var, cvar = var_cvar(x, p, 0.8)
    assert var == 3.0  # P(X <= 2) = 0.7 < 0.8 <= P(X <= 3) = 0.9
    # VaR + E[(X - VaR)^+] / (1 - alpha) = 3 + 0.1 * 7 / 0.2
    assert cvar == pytest.approx(6.5)


def test_unit_commitment_panels(tmp_path: Path) -> None:
    checked = check_file(ROOT / "examples/unit_commitment/uc.qgl", subsets={"T": [1, 2, 3, 4]})
    sol = solve_model(checked, "highs")
    fig = sol.plot(tmp_path / "uc.png")
    assert (tmp_path / "uc.png").read_bytes()[:8] == PNG
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    assert titles == ["Dispatch at bus system", "Commitment", "Nodal prices"]
    dispatch, gantt, prices = fig.axes
    assert dispatch.get_ylabel() == "injection [MW]"  # the unit the model wrote
    assert prices.get_ylabel() == f"nodal price [{sol.dual_unit('system.balance')}]"
    # one Gantt row per unit, each bar where the unit is committed
    assert len(gantt.get_yticks()) == 32
    on = sum(v > 0.5 for n in sol.variable_results if n.endswith(".u")
             for v in sol.variable_results[n].values)
    drawn = sum(len(c.get_paths()) for c in gantt.collections)
    assert 0 < drawn <= on
    # the stack's net line is the bus balance: zero at every hour
    net = [ln for ln in dispatch.get_lines() if ln.get_label() == "net"][0]
    assert np.allclose(net.get_ydata(), 0, atol=1e-6)


def test_storage_and_two_buses(tmp_path: Path) -> None:
    sol = solve_model(check_file(ROOT / "examples/microgrid/microgrid.qgl"), "highs")
    fig = sol.plot()
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    assert titles == ["Dispatch at bus ac", "Dispatch at bus dc", "State of charge",
                      "Commitment", "Nodal prices"]
    soc = fig.axes[2]
    assert soc.get_ylabel() == "state of charge [kWh]" and len(soc.get_lines()) == 10
    fig2, panels = figure(sol.to_json(), ["soc"])
    assert panels == ["soc"] and len(fig2.axes) == 1


def test_without_model_layout_still_plots_time_series(risk_solution) -> None:  # type: ignore[no-untyped-def]
    doc = risk_solution.to_json()
    doc.pop("model")
    fig, panels = figure(doc)
    assert panels == ["dispatch"]  # the scenario panel needs the layout's scenario sets


def _qglc(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qgridlang", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


def test_cli_plot_headless(tmp_path: Path) -> None:
    result = tmp_path / "result.json"
    proc = _qglc("solve", str(ROOT / "examples/risk/risk.qgl"), "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result.write_text(proc.stdout, encoding="utf-8")
    out = _qglc("plot", str(result), "-o", "schedule.svg", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "" and "wrote schedule.svg (dispatch, scenarios)" in out.stderr
    assert (tmp_path / "schedule.svg").read_text(encoding="utf-8").lstrip().startswith("<?xml")
    # no display, no pyplot: the figure is drawn on its own canvas
    probe = subprocess.run([sys.executable, "-c", (
        "import sys, json; from qgridlang.plotting import plot_result_file;"
        f"plot_result_file({str(result)!r}, {str(tmp_path / 'p.png')!r});"
        "print('matplotlib.pyplot' in sys.modules)")], capture_output=True, text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, timeout=300)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "False"


@pytest.mark.parametrize(("args", "message"), [
    (["-o", "x.bmp"], "cannot write a plot as '.bmp'"),
    (["-o", "x.png", "--panels", "dispatch,gantt"], "unknown panel 'gantt'"),
    (["-o", "x.png", "--dpi", "0"], "--dpi must be positive"),
])
def test_cli_plot_usage_errors(tmp_path: Path, risk_solution, args: list[str],  # type: ignore[no-untyped-def]
                               message: str) -> None:
    result = tmp_path / "r.json"
    result.write_text(json.dumps(risk_solution.to_json()), encoding="utf-8")
    proc = _qglc("plot", str(result), *args, cwd=tmp_path)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_plot_refuses_what_is_not_a_result(tmp_path: Path) -> None:
    (tmp_path / "notjson.json").write_text("{oops", encoding="utf-8")
    (tmp_path / "other.json").write_text('{"a": 1}', encoding="utf-8")
    bad = _qglc("plot", "notjson.json", "-o", "x.png", cwd=tmp_path)
    assert bad.returncode == 2 and "is not a JSON result document" in bad.stderr
    other = _qglc("plot", "other.json", "-o", "x.png", cwd=tmp_path)
    assert other.returncode == 2 and "is not a result of qglc solve --json" in other.stderr
    missing = _qglc("plot", "missing.json", "-o", "x.png", cwd=tmp_path)
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    assert not (tmp_path / "x.png").exists()


def test_cli_plot_model_option_supplies_the_layout(tmp_path: Path, risk_solution) -> None:  # type: ignore[no-untyped-def]
    """A result without its `model` entry (older, or edited): --model reads it from the model."""
    doc = risk_solution.to_json()
    doc.pop("model")
    (tmp_path / "r.json").write_text(json.dumps(doc), encoding="utf-8")
    bare = _qglc("plot", "r.json", "-o", "a.png", cwd=tmp_path)
    assert bare.returncode == 0 and "(dispatch)" in bare.stderr, bare.stderr
    full = _qglc("plot", "r.json", "-o", "b.png", "--model",
                 str(ROOT / "examples/risk/risk.qgl"), cwd=tmp_path)
    assert full.returncode == 0 and "(dispatch, scenarios)" in full.stderr, full.stderr


def test_solve_writes_the_result_document_that_plot_reads(tmp_path: Path) -> None:
    model = str(ROOT / "examples/risk/risk.qgl")
    solved = _qglc("solve", model, "--output", "result.json", "--json", cwd=tmp_path)
    assert solved.returncode == 0, solved.stderr
    written = json.loads((tmp_path / "result.json").read_text(encoding="utf-8"))
    printed = json.loads(solved.stdout)
    written.pop("timings"), printed.pop("timings")
    assert written == printed  # the file is the --json document
    plotted = _qglc("plot", "result.json", "-o", "plan.pdf", cwd=tmp_path)
    assert plotted.returncode == 0, plotted.stderr
    assert (tmp_path / "plan.pdf").read_bytes()[:5] == b"%PDF-"
    # and the estimator takes it as a plan
    est = _qglc("estimate", model, "--plan", "result.json", "--measure",
                "cvar(cost, alpha = 90 %)", "--backend", "exact", "--json", cwd=tmp_path)
    assert est.returncode == 0, est.stderr
    # its CVaR over the scenarios (before the 64-point grid) is the model's own tail_cost
    assert json.loads(est.stdout)["exact_scenarios"] == pytest.approx(
        printed["expressions"]["tail_cost"]["values"], rel=1e-7)
