"""``qglc estimate --backend qae`` and ``qglc compile --target qae`` on a model's own risk
declaration: the quantum estimate against the exact value of the same discretisation and the
MILP's own measure at its optimum (the circuits and the runner have their own tests:
test_qae_circuits.py, test_qae_runner.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import qgridlang as qg
from qgridlang.checker import check_file
from qgridlang.errors import UsageError
from qgridlang.estimation.run import estimate

pytest.importorskip("qiskit_algorithms")

ROOT = Path(__file__).resolve().parent.parent
RISK = ROOT / "examples" / "risk" / "risk.qgl"
FAST = {"qubits": 4, "epsilon": 0.01, "seed": 7}


@pytest.fixture(scope="module")
def risk() -> object:
    return check_file(RISK)


@pytest.fixture(scope="module")
def solution(risk: object) -> object:
    return qg.solve(risk, "highs")


@pytest.mark.parametrize("measure", ["expected(cost)", "probability(cost > 700 $)",
                                     "cvar(cost, alpha = 0.9)", "var(cost, alpha = 90 %)"])
def test_qae_agrees_with_the_exact_value_of_its_grid(risk: object, solution: object,
                                                     measure: str) -> None:
    est = estimate(risk, measure, "qae", solution.x, FAST)  # type: ignore[attr-defined]
    assert est.oracle_queries and est.oracle_queries > 0
    mc = est.details["monte_carlo"]  # the classical estimate at the same cost, beside it
    assert mc["samples"] == min(est.oracle_queries, 1_000_000)
    if measure.startswith("var"):
        # the bisection's decisions on estimated tails: the grid's VaR or a neighbouring point
        assert abs(est.value - est.exact_grid) <= est.discretisation["step"] + 1e-9
        return
    assert est.ci is not None
    lo, hi = est.ci
    slack = 1e-9 * max(1.0, abs(est.exact_grid))
    assert lo - slack <= est.exact_grid <= hi + slack, (est.value, est.ci, est.exact_grid)
    steps = est.details["steps"]
    for step in steps:  # every amplitude estimate covers the amplitude its circuit encodes
        a, (c0, c1) = step["exact_amplitude"], step["ci"]
        assert c0 - 1e-9 <= a <= c1 + 1e-9, step


def test_qae_cvar_is_the_milps_cvar_within_the_stated_errors(risk: object,
                                                             solution: object) -> None:
    tail = float(solution.expression_results["tail_cost"].values[0])  # type: ignore[attr-defined]
    est = estimate(risk, "cvar(cost, alpha = 0.9)", "qae", solution.x,  # type: ignore[attr-defined]
                   {"qubits": 4, "epsilon": 0.02, "seed": 3})
    assert est.exact_scenarios == pytest.approx(tail, rel=1e-6)
    assert est.ci is not None
    width = est.ci[1] - est.ci[0]
    assert abs(est.value - tail) <= est.discretisation["error_bound"] + width


def test_payoff_forms_give_the_same_expectation(risk: object, solution: object) -> None:
    x = solution.x  # type: ignore[attr-defined]
    got = {p: estimate(risk, "expected(cost)", "qae", x, {**FAST, "qubits": 3, "payoff": p})
           for p in ("exact", "exact_mc", "linear")}
    ref = got["exact"].exact_grid
    for p, est in got.items():
        assert est.ci is not None
        assert est.ci[0] - 1e-9 <= ref <= est.ci[1] + 1e-9 or p == "linear", p
    # linear: within its interval widened by the linearisation's stated bias (in loss units)
    span = got["linear"].discretisation["hi"] - got["linear"].discretisation["lo"]
    assert abs(got["linear"].value - ref) <= (got["linear"].ci[1] - got["linear"].ci[0]  # type: ignore[index]
                                              + 0.05 * span)


def test_shots_and_each_method_run(risk: object, solution: object) -> None:
    x = solution.x  # type: ignore[attr-defined]
    for method in ("ae", "iqae", "mlae", "fae"):
        est = estimate(risk, "expected(cost)", "qae", x,
                       {"qubits": 3, "method": method, "shots": 2000, "seed": 11,
                        "epsilon": 0.02, "eval_qubits": 4})
        assert est.shots and est.shots > 0 and est.details["method"] == method
        step = est.details["steps"][0]
        # a seeded run: within its interval widened by the sampling noise allowance
        c0, c1 = step["ci"]
        a = step["exact_amplitude"]
        assert c0 - 0.05 <= a <= c1 + 0.05, (method, step)


def test_compile_writes_A_and_Q_that_reproduce_the_amplitude(tmp_path: Path) -> None:
    from qiskit import qasm3
    from qiskit.quantum_info import Statevector

    out = tmp_path / "a.qasm"
    proc = subprocess.run(
        [sys.executable, "-m", "qgridlang", "compile", str(RISK), "--target", "qae",
         "--measure", "expected(cost)", "--option", "qubits=3", "-o", str(out), "--json"],
        capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)["report"]
    assert (tmp_path / "a.grover.qasm").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.grover.qasm", "a.qasm"]
    circuit = qasm3.loads(out.read_text(encoding="utf-8"))
    probs = Statevector(circuit).probabilities([report["objective_qubit"]])
    assert probs[1] == pytest.approx(report["amplitude"], abs=1e-9)
    assert report["A"]["decomposed"]["two_qubit_gates"] > 0


def test_qae_errors_are_usage_errors(risk: object, solution: object) -> None:
    x = solution.x  # type: ignore[attr-defined]
    with pytest.raises(UsageError, match="payoff"):
        estimate(risk, "expected(cost)", "qae", x, {"payoff": "cubic"})
    with pytest.raises(UsageError, match="qubits must be from 1 to 24"):
        estimate(risk, "expected(cost)", "qae", x, {"qubits": 30})
    with pytest.raises(UsageError, match="needs the measure"):
        qg.compile(risk, "qae")
    with pytest.raises(UsageError, match="no expression 'profit'"):
        qg.compile(risk, "qae", measure="expected(profit)")



def test_ibm_without_an_account_fails_clearly(tmp_path: Path) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("QISKIT_", "IBM"))}
    env["HOME"] = str(tmp_path)  # no saved account
    proc = subprocess.run(
        [sys.executable, "-m", "qgridlang", "estimate", str(RISK), "-m", "expected(cost)",
         "--option", "qubits=3", "--option", "device=ibm", "--option", "epsilon=0.05"],
        capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert proc.returncode == 3, proc.stderr
    assert "IBM Quantum account" in proc.stderr and "Traceback" not in proc.stderr
