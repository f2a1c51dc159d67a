"""The ``scip`` and ``cvxpy`` backends of the milp target agree with ``highs``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from qgl_models import DISPATCH, KNAPSACK_WITH_COUNT

from qgridlang.checker import CheckedModel, check_text
from qgridlang.dispatcher import solve_model
from qgridlang.errors import UsageError
from qgridlang.registry import Options
from qgridlang.results import Solution, Status

pytest.importorskip("pyscipopt")
pytest.importorskip("cvxpy")

BACKENDS = ("scip", "cvxpy")

LP = """
model lp
set G = {a, b}
param cost[G] = {a: 3, b: 5}
param cap[G] = {a: 60, b: 100}
var p[g in G] in 0 .. cap[g]
constraint demand: sum(g in G) p[g] >= 90
constraint mix: p[a] - p[b] <= 20
minimize total: sum(g in G) cost[g] * p[g]
"""
# a coupled (non-diagonal) convex quadratic on integers: 1/2 x'Hx with off-diagonal terms
COUPLED_MIQP = """
model coupled
var a integer in -5 .. 5
var b integer in -5 .. 5
var c in -5 .. 5
minimize o: (a - b)^2 + (a + b - 3.4)^2 + (c - a)^2 + 0.5 * b
"""
INFEASIBLE_LP = """
model inf
var y in 0 .. 1
constraint c: y >= 2
minimize o: y
"""
INFEASIBLE_MILP = """
model inf_int
var k integer in 0 .. 10
constraint odd: 2 * k == 7
minimize o: k
"""
UNBOUNDED_LP = """
model unb
var y
constraint c: y >= 2
maximize o: y
"""
UNBOUNDED_MILP = """
model unb_int
var k integer
var y
constraint c: y - k >= 2
maximize o: y + k
"""


def _solve(src: str, backend: str, **extra: object) -> Solution:
    return solve_model(check_text(src), backend, Options(extra=dict(extra)))


@pytest.fixture(scope="module")
def references() -> dict[str, Solution]:
    models = {"lp": LP, "milp": KNAPSACK_WITH_COUNT, "miqp": DISPATCH, "coupled": COUPLED_MIQP}
    return {k: solve_model(check_text(v), "highs") for k, v in models.items()}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("model", ["lp", "milp", "miqp", "coupled"])
def test_agrees_with_highs(references: dict[str, Solution], backend: str, model: str) -> None:
    src = {"lp": LP, "milp": KNAPSACK_WITH_COUNT, "miqp": DISPATCH, "coupled": COUPLED_MIQP}
    ref = references[model]
    sol = _solve(src[model], backend)
    assert ref.status == Status.OPTIMAL and sol.status == Status.OPTIMAL, sol.message
    assert sol.objective == pytest.approx(ref.objective, rel=1e-6, abs=1e-6)
    assert sol.feasible
    if model in ("milp", "miqp"):  # unique optima: the same plan
        assert sol.variables.keys() == ref.variables.keys()
        assert sol.x == pytest.approx(ref.x, abs=1e-4)
        # integer columns come back whole, not within the solver's integrality tolerance
        integers = np.concatenate([np.ravel(list(_leaves(sol.variables[n])))
                                   for n in ("u", "x", "k") if n in sol.variables])
        assert np.array_equal(integers, np.round(integers))


def _leaves(values: object) -> list[float]:
    if isinstance(values, dict):
        return [leaf for v in values.values() for leaf in _leaves(v)]
    return [float(values)]  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", BACKENDS)
def test_lp_row_duals_match_highs(backend: str) -> None:
    ref, sol = _solve(LP, "highs"), _solve(LP, backend)
    for row in ("demand", "mix"):
        assert sol.dual(row) == pytest.approx(ref.dual(row), abs=1e-5)
    assert ref.dual("demand") == pytest.approx(4.0) and ref.dual("mix") == pytest.approx(-1.0)


def test_scip_reports_its_dual_bound() -> None:
    sol = _solve(DISPATCH, "scip")
    ref = _solve(DISPATCH, "highs")
    assert sol.info["dual_bound"] == pytest.approx(ref.objective, rel=1e-6)
    maximised = _solve(KNAPSACK_WITH_COUNT, "scip")  # the bound in the model's own sense
    assert maximised.info["dual_bound"] == pytest.approx(15.0, abs=1e-6)
    assert sol.info["scip_status"] == "optimal"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("src", "status"), [
    (INFEASIBLE_LP, Status.INFEASIBLE), (INFEASIBLE_MILP, Status.INFEASIBLE),
    (UNBOUNDED_LP, Status.UNBOUNDED), (UNBOUNDED_MILP, Status.UNBOUNDED)])
def test_infeasible_and_unbounded_are_told_apart(backend: str, src: str,
                                                  status: Status) -> None:
    sol = _solve(src, backend)
    assert sol.status == status, (sol.status, sol.message, sol.info)
    assert sol.variables == {} and sol.message


def test_scip_time_limit_keeps_a_plan_or_says_none() -> None:
    sol = solve_model(check_text(DISPATCH), "scip",
                      Options(time_limit=30, mip_gap=0.0, seed=3))
    assert sol.status == Status.OPTIMAL  # the limits are passed and a small model is done


def test_cvxpy_solver_option() -> None:
    ref = _solve(KNAPSACK_WITH_COUNT, "highs")
    sol = _solve(KNAPSACK_WITH_COUNT, "cvxpy", solver="scip")
    assert sol.info["solver"] == "SCIP" and sol.objective == pytest.approx(ref.objective)
    with pytest.raises(UsageError) as err:
        _solve(KNAPSACK_WITH_COUNT, "cvxpy", solver="hihgs")
    assert "not installed" in err.value.message and err.value.hint == "did you mean 'HIGHS'?"


def test_cvxpy_time_limit_needs_a_solver_that_takes_it() -> None:
    with pytest.raises(UsageError) as err:
        solve_model(check_text(LP), "cvxpy", Options(time_limit=5))
    assert "solver=" in err.value.message
    sol = solve_model(check_text(LP), "cvxpy", Options(time_limit=5, extra={"solver": "HIGHS"}))
    assert sol.status == Status.OPTIMAL and sol.objective == pytest.approx(340.0)


def test_scip_refuses_options_it_does_not_use(tmp_path: Path) -> None:
    checked: CheckedModel = check_text(LP)
    with pytest.raises(UsageError):
        solve_model(checked, "scip", Options(extra={"solver": "SCIP"}))
    with pytest.raises(UsageError):
        solve_model(checked, "scip", Options(reads=3))


def test_scip_json_stdout_is_only_the_document(tmp_path: Path) -> None:
    model = tmp_path / "dispatch.qgl"
    model.write_text(DISPATCH, encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "qgridlang.cli", "solve", str(model),
                           "--backend", "scip", "--json"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)  # SCIP's banner or log would break this
    assert doc["status"] == "optimal"
    assert doc["objective"] == pytest.approx(5572.857142857143, rel=1e-6)


def test_requested_interrupt_stops_scip_with_its_incumbent(tmp_path: Path) -> None:
    """interrupt.request() (what the first Ctrl-C does) stops SCIP; the incumbent comes back."""
    from test_interrupt import solve_interrupted_after, write_knapsack

    from qgridlang.checker import check_file

    sol = solve_interrupted_after(check_file(write_knapsack(tmp_path)), 2.0, "scip")
    assert sol.status == Status.INTERRUPTED and sol.info["scip_status"] == "userinterrupt"
    assert sol.feasible and sol.objective is not None and "Ctrl-C" in sol.message


def test_scip_stopping_at_the_requested_gap_is_optimal_within_it() -> None:
    # SCIP says "gaplimit" when --mip-gap is reached; like HiGHS (which stops at its default
    # 1e-4 and says optimal) that is "optimal (within the MIP gap)", not a bare feasible plan
    from qgridlang.checker import check_file

    root = Path(__file__).resolve().parent.parent
    checked = check_file(root / "examples" / "microgrid" / "microgrid.qgl")
    sol = solve_model(checked, "scip", Options(mip_gap=0.05, seed=1))
    assert sol.info["scip_status"] == "gaplimit"
    assert sol.status is Status.OPTIMAL
    assert 0.0 <= sol.info["mip_gap"] <= 0.05
    exact = solve_model(checked, "highs", Options(mip_gap=0.0))
    assert sol.objective >= exact.objective - 1e-6 * abs(exact.objective)  # a minimisation
    assert sol.objective <= exact.objective * 1.05 + 1e-6
