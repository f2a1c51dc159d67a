"""Every example checks and solves; the risk example's CVaR agrees with cvxpy's cvar atom."""

from __future__ import annotations

import json
from pathlib import Path

import cvxpy as cp
import numpy as np
import pytest

from qgridlang.checker import check_file
from qgridlang.cli import main
from qgridlang.dispatcher import solve_model
from qgridlang.results import Status

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*/*.qgl"))
SLOW = {"uc.qgl"}  # minutes on 2 cores: solved in the `slow` test below


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name + "/" + p.name)
def test_example_checks(path: Path) -> None:
    checked = check_file(path)
    assert checked.flat.n > 0


@pytest.mark.parametrize("path", [p for p in EXAMPLES if p.name not in SLOW],
                         ids=lambda p: p.parent.name + "/" + p.name)
def test_example_solves_to_optimality(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["solve", str(path), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0, out
    assert out["status"] in ("optimal", "feasible") and out["feasible"]


@pytest.mark.slow
def test_unit_commitment_example_solves_to_proven_optimality() -> None:
    sol = solve_model(check_file(ROOT / "examples/unit_commitment/uc.qgl"), "highs")
    assert sol.status == Status.OPTIMAL and sol.feasible
    assert sol.info["objective_gap"] <= 2e-4 * sol.objective


def test_microgrid_plan_is_islanded_and_meets_reserve() -> None:
    sol = solve_model(check_file(ROOT / "examples/microgrid/microgrid.qgl"), "highs")
    assert sol.status == Status.OPTIMAL
    assert all(v == 0 for v in sol.variables["utility.import"].values())
    ss = sol.expressions["self_sufficiency"]
    assert 0.5 < ss <= 1.0
    connected = solve_model(check_file(ROOT / "examples/microgrid/microgrid.qgl",
                                       {"islanded": "0"}), "highs")
    assert connected.objective < sol.objective  # the grid tie can only help


def test_risk_cvar_matches_cvxpy() -> None:
    sol = solve_model(check_file(ROOT / "examples/risk/risk.qgl"), "highs")
    assert sol.status == Status.OPTIMAL
    costs = np.array([sol.expressions["cost"][str(s)] for s in range(1, 201)])
    ours = sol.expressions["tail_cost"]
    theirs = cp.cvar(cp.Constant(costs), 0.9).value
    assert ours == pytest.approx(float(theirs), rel=1e-6)
    assert sol.expressions["mean_cost"] == pytest.approx(costs.mean(), rel=1e-9)
    # risk aversion buys more day-ahead than the risk-neutral plan
    neutral = solve_model(check_file(ROOT / "examples/risk/risk.qgl", {"lambda": "0.001"}), "highs")
    assert sum(sol.variables["buy"].values()) >= sum(neutral.variables["buy"].values()) - 1e-6
