"""The milp target and the highs backend: LP/MPS round trips, QP, MIQP, products, statuses."""

from __future__ import annotations

import itertools
from pathlib import Path

import cvxpy as cp
import highspy
import numpy as np
import pytest
from qgl_models import DISPATCH

from qgridlang.checker import check_text
from qgridlang.dispatcher import compile_model, solve_model
from qgridlang.registry import Options
from qgridlang.results import Status


def _brute_force_dispatch() -> float:
    """Enumerate commitments; solve each convex QP with cvxpy (Clarabel)."""
    demand = np.array([90.0, 160.0, 120.0])
    pmax, pmin = np.array([100.0, 120.0]), np.array([20.0, 30.0])
    fixed, lin, quad = np.array([80.0, 20.0]), np.array([10.0, 14.0]), np.array([0.05, 0.02])
    best = np.inf
    for bits in itertools.product([0, 1], repeat=6):
        u = np.array(bits, float).reshape(2, 3)
        p = cp.Variable((2, 3))
        cons = [cp.sum(p, axis=0) == demand, p >= np.diag(pmin) @ u, p <= np.diag(pmax) @ u]
        obj = cp.sum(cp.multiply(fixed[:, None], u)) + cp.sum(lin @ p) + \
            cp.sum(cp.multiply(quad[:, None], cp.square(p)))
        prob = cp.Problem(cp.Minimize(obj), cons)
        prob.solve(solver=cp.CLARABEL)
        if prob.status == "optimal":
            best = min(best, float(prob.value))
    return best


def test_miqp_outer_approximation_matches_enumeration() -> None:
    sol = solve_model(check_text(DISPATCH), "highs")
    assert sol.status == Status.OPTIMAL and sol.feasible
    assert sol.info["outer_approximation_rounds"] >= 1
    assert sol.objective == pytest.approx(_brute_force_dispatch(), rel=2e-4)
    assert sol.objective_unit == "$"


def test_continuous_qp_goes_to_highs_qp() -> None:
    text = DISPATCH.replace("var u[G, T] binary", "param u[G, T] = 1")
    sol = solve_model(check_text(text), "highs")
    assert sol.status == Status.OPTIMAL
    assert "outer_approximation_rounds" not in sol.info
    # KKT: both units interior => equal marginal cost 10 + 0.1 pa == 14 + 0.04 pb
    pa, pb = sol.variables["p"]["a"]["2"], sol.variables["p"]["b"]["2"]
    assert 10 + 0.1 * pa == pytest.approx(14 + 0.04 * pb, abs=1e-4)
    assert sol.duals["balance"]["2"] == pytest.approx(10 + 0.1 * pa, rel=1e-4)


@pytest.mark.parametrize("suffix", [".lp", ".mps"])
def test_export_reads_back_to_same_optimum(tmp_path: Path, suffix: str) -> None:
    text = DISPATCH.replace("+ quad[g] * p[g, t]^2", "")
    checked = check_text(text)
    out = tmp_path / f"m{suffix}"
    compile_model(checked, "milp", output=out)
    h = highspy.Highs()
    h.silent()
    assert h.readModel(str(out)) == highspy.HighsStatus.kOk
    h.run()
    ours = solve_model(checked, "highs")
    assert h.getInfo().objective_function_value == pytest.approx(ours.objective, rel=1e-9)
    assert "balance(2)" in out.read_text()


def test_binary_products_are_linearised_exactly() -> None:
    text = """
model pairs
set N = 1..5
param w[N, N] default 0 = {(1, 2): -3, (2, 3): 2, (1, 3): -1, (3, 4): -4, (4, 5): 1.5,
                           (1, 5): -2}
var x[N] binary
var y in 0 .. 10
constraint pick: sum(i in N) x[i] <= 3
maximize value: sum(i in N, j in N where i < j) -w[i, j] * x[i] * x[j] + 0.5 * x[1] * y
    - 0.1 * y
"""
    sol = solve_model(check_text(text), "highs")
    best = -np.inf
    W = {(1, 2): -3, (2, 3): 2, (1, 3): -1, (3, 4): -4, (4, 5): 1.5, (1, 5): -2}
    for bits in itertools.product([0, 1], repeat=5):
        if sum(bits) > 3:
            continue
        x = dict(zip(range(1, 6), bits, strict=True))
        v = sum(-w * x[i] * x[j] for (i, j), w in W.items())
        v += max(0.0, (0.5 * x[1] - 0.1) * 10)
        best = max(best, v)
    assert sol.status == Status.OPTIMAL
    assert sol.objective == pytest.approx(best)
    assert "linearised" in sol.info["report"]["notes"][0]


def test_nonconvex_quadratic_is_refused_with_span() -> None:
    text = "model nc\nvar x in -1 .. 1\nvar y in -1 .. 1\nminimize f: x * y\n"
    checked = check_text(text)
    from qgridlang.errors import UnsupportedConstruct

    with pytest.raises(UnsupportedConstruct) as err:
        compile_model(checked, "milp")
    assert err.value.span is not None and err.value.span.line == 4


@pytest.mark.parametrize(("body", "status"), [
    ("constraint c: x >= 11\nminimize f: x", Status.INFEASIBLE),
    ("var y\nconstraint c: y >= x\nmaximize f: y", Status.UNBOUNDED),
])
def test_statuses(body: str, status: Status) -> None:
    sol = solve_model(check_text(f"model s\nvar x in 0 .. 10\n{body}\n"), "highs")
    assert sol.status == status
    assert sol.objective is None and not sol.feasible


def test_maximise_keeps_model_sign_and_duals() -> None:
    text = """
model lp
var x in 0 .. 4
var y in 0 .. 4
constraint cap: x + 2 * y <= 6
maximize f: 3 * x + 4 * y
"""
    sol = solve_model(check_text(text), "highs", Options(seed=1))
    assert sol.objective == pytest.approx(3 * 4 + 4 * 1)
    assert sol.duals["cap"] == pytest.approx(2.0)


def test_time_limit_option_is_passed() -> None:
    sol = solve_model(check_text(DISPATCH), "highs", Options(time_limit=30, mip_gap=1e-6,
                                                             threads=1, seed=3))
    assert sol.status in (Status.OPTIMAL, Status.FEASIBLE)
