"""The highs backend's convex MIQP path starts from a piecewise-linear epigraph.

Round 1 solves the MILP with ``pwl_segments`` tangents per separable quadratic term (perspective
cuts where a binary switches the column off) and re-dispatches its commitment on the exact QP;
when that certifies the gap no cut round runs. Checked against SCIP (which solves the MIQP
itself) and against the cut-round path (``pwl_segments=1``: a single tangent per term).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qgridlang.backends import highs
from qgridlang.checker import CheckedModel, check_text
from qgridlang.dispatcher import compile_model, solve_model
from qgridlang.errors import UsageError
from qgridlang.registry import Options
from qgridlang.results import Solution, Status

pytest.importorskip("pyscipopt")

GAP = 2e-4  # the outer tolerance: twice HiGHS's default MIP gap

# four units, six hours: commitment, start-ups, minimum output, quadratic fuel cost
SMALL_UC = """
model small_uc
time T = 1..6 step 1 h
set G = {a, b, c, d}
param demand[T]: MW = {1: 150, 2: 210, 3: 280, 4: 330, 5: 260, 6: 180}
param pmax[G]: MW = {a: 120, b: 100, c: 90, d: 60}
param pmin[G]: MW = {a: 40, b: 30, c: 20, d: 10}
param fixed[G]: $/h = {a: 300, b: 250, c: 200, d: 120}
param lin[G]: $/MWh = {a: 18, b: 20, c: 23, d: 27}
param quad[G]: $/MW^2/h = {a: 0.01, b: 0.015, c: 0.02, d: 0.03}
param start[G]: $ = {a: 600, b: 400, c: 250, d: 100}
var u[G, T] binary
var v[G, T] binary
var p[g in G, t in T]: MW in 0 .. pmax[g]
constraint balance[t in T]: sum(g in G) p[g, t] == demand[t]
constraint low[g in G, t in T]: p[g, t] >= pmin[g] * u[g, t]
constraint high[g in G, t in T]: p[g, t] <= pmax[g] * u[g, t]
constraint starts[g in G, t in T]:
  v[g, t] >= u[g, t] - (if t == first(T) then 0 else u[g, prev(t)])
minimize cost: sum(g in G, t in T) ((fixed[g] * u[g, t] + lin[g] * p[g, t]
                                    + quad[g] * p[g, t]^2) * dt + start[g] * v[g, t])
"""

# the same units with the quadratic term dominating: eight tangents under-estimate it by more
# than the gap, so cut rounds have to follow
QUADRATIC_HEAVY = SMALL_UC.replace(
    "{a: 300, b: 250, c: 200, d: 120}", "{a: 3, b: 2, c: 2, d: 1}").replace(
    "{a: 18, b: 20, c: 23, d: 27}", "{a: 0, b: 0, c: 0, d: 0}").replace(
    "{a: 0.01, b: 0.015, c: 0.02, d: 0.03}", "{a: 1, b: 1.5, c: 2, d: 3}").replace(
    "{a: 600, b: 400, c: 250, d: 100}", "{a: 6, b: 4, c: 2, d: 1}")

# a coupled quadratic (off-diagonal Hessian: the tangent_nd path) beside separable terms
COUPLED = """
model coupled_uc
set G = {a, b, c}
param pmax[G] = {a: 50, b: 40, c: 30}
param fixed[G] = {a: 40, b: 30, c: 20}
var u[G] binary
var p[g in G] in 0 .. pmax[g]
constraint high[g in G]: p[g] <= pmax[g] * u[g]
constraint demand: sum(g in G) p[g] >= 60
minimize cost: sum(g in G) (fixed[g] * u[g] + 2 * p[g]) + 0.05 * (p[a] - p[b])^2
               + 0.02 * (p[b] + p[c])^2 + 0.01 * p[c]^2
"""

# output may go negative (a storage-like unit): "p <= 80 u" alone does not force p = 0 at u = 0,
# so the column must not be treated as switched (a perspective cut there would be invalid)
NOT_SWITCHED = """
model two_sided
set G = {a, b}
param pmax[G] = {a: 80, b: 60}
var u[G] binary
var p[g in G] in -20 .. pmax[g]
constraint high[g in G]: p[g] <= pmax[g] * u[g]
constraint demand: sum(g in G) p[g] >= 50
minimize cost: sum(g in G) (25 * u[g] + 0.5 * (p[g] - 10)^2)
"""


def solve(checked: CheckedModel, backend: str = "highs", **extra: object) -> Solution:
    sol = solve_model(checked, backend, Options(extra=dict(extra)))
    assert sol.status == Status.OPTIMAL and sol.feasible, sol.message
    assert sol.objective is not None
    return sol


def optimum(checked: CheckedModel) -> float:
    """SCIP's proven optimum (gap 0, its default)."""
    sol = solve(checked, "scip")
    assert sol.objective is not None
    return sol.objective


def test_pwl_start_certifies_small_unit_commitment() -> None:
    checked = check_text(SMALL_UC)
    best = optimum(checked)
    sol = solve(checked)
    info = sol.info
    assert info["cut_rounds"] == 0 and info["outer_approximation_rounds"] == 1
    assert info["pwl_segments"] == 8
    assert info["pwl_switched_terms"] == 24  # every output column, by its commitment binary
    assert info["redispatch_objective"] == pytest.approx(sol.objective, rel=1e-9)
    assert info["certified_gap"] <= GAP == info["gap_tolerance"]
    assert sol.objective == pytest.approx(best, rel=GAP)
    # the piecewise-linear MILP under-estimates: its bound is below the optimum
    assert info["pwl_bound"] <= best + 1e-6 * abs(best)
    assert info["pwl_objective"] <= sol.objective + 1e-6 * abs(best)
    assert sol.objective - info["pwl_bound"] <= GAP * abs(sol.objective)


def test_cut_round_path_agrees_with_the_pwl_start() -> None:
    """One tangent per term cannot certify: cut rounds run and reach the same optimum."""
    checked = check_text(SMALL_UC)
    pwl = solve(checked)
    cuts = solve(checked, pwl_segments=1)
    assert cuts.info["pwl_segments"] == 1 and cuts.info["cut_rounds"] >= 1
    assert cuts.objective == pytest.approx(pwl.objective, rel=GAP)
    # the single tangent is a weaker start than eight
    assert cuts.info["pwl_bound"] < pwl.info["pwl_bound"]


def test_pwl_not_enough_falls_through_to_cut_rounds() -> None:
    checked = check_text(QUADRATIC_HEAVY)
    best = optimum(checked)
    sol = solve(checked)
    info = sol.info
    assert info["cut_rounds"] >= 1
    # the start alone was not within the gap: that is why the rounds ran
    assert info["redispatch_objective"] - info["pwl_bound"] > GAP * abs(best)
    assert info["pwl_bound"] <= best + 1e-6 * abs(best)
    assert info["objective_lower_bound"] <= best + 1e-6 * abs(best)
    assert info["certified_gap"] <= GAP
    assert sol.objective == pytest.approx(best, rel=GAP)


def test_non_separable_quadratic_keeps_the_coupled_tangents() -> None:
    checked = check_text(COUPLED)
    milp = compile_model(checked, "milp").artifact
    ep = highs._split(milp)
    assert ep.R is not None  # p[a], p[b], p[c] are coupled
    assert len(ep.diag_cols) == 0
    best = optimum(checked)
    sol = solve(checked)
    assert sol.objective == pytest.approx(best, rel=GAP)
    assert sol.info["certified_gap"] <= GAP
    assert sol.info["objective_lower_bound"] <= best + 1e-6 * abs(best)


def test_switches_are_found_only_where_the_binary_forces_zero() -> None:
    milp = compile_model(check_text(SMALL_UC), "milp").artifact
    ep = highs._split(milp)
    names = [milp.col_names[j] for j in ep.diag_cols]
    switched = [milp.col_names[b] for b in ep.switch]
    assert all(s == n.replace("p[", "u[") for n, s in zip(names, switched, strict=True))
    pmin = {"a": 40, "b": 30, "c": 20, "d": 10}
    pmax = {"a": 120, "b": 100, "c": 90, "d": 60}
    unit = [n[2] for n in names]  # "p[a,1]" -> "a"
    assert np.allclose(ep.on_lo, [pmin[g] for g in unit])
    assert np.allclose(ep.on_hi, [pmax[g] for g in unit])

    two_sided = check_text(NOT_SWITCHED)
    ep = highs._split(compile_model(two_sided, "milp").artifact)
    assert len(ep.diag_cols) == 2 and (ep.switch == -1).all()
    best = optimum(two_sided)
    assert solve(two_sided).objective == pytest.approx(best, rel=GAP)


def test_maximisation_reports_the_start_in_its_own_sense() -> None:
    text = SMALL_UC.replace("minimize cost: sum", "maximize neg_cost: -sum")
    checked = check_text(text)
    best = optimum(checked)
    sol = solve(checked)
    assert sol.objective == pytest.approx(best, rel=GAP) and best < 0
    # for a maximisation the bound is above the optimum
    assert sol.info["pwl_bound"] >= best - 1e-6 * abs(best)
    assert sol.info["redispatch_objective"] == pytest.approx(sol.objective, rel=1e-9)


@pytest.mark.parametrize("value", ["0", "-3", "two"])
def test_pwl_segments_must_be_a_positive_whole_number(value: str) -> None:
    with pytest.raises(UsageError, match="pwl_segments"):
        Options(extra={"pwl_segments": value})


def test_verbose_names_the_start_and_stdout_is_the_document(tmp_path: Path) -> None:
    model = tmp_path / "small_uc.qgl"
    model.write_text(SMALL_UC, encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "qgridlang.cli", "solve", str(model), "--json",
                          "--verbose"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["status"] == "optimal" and doc["info"]["cut_rounds"] == 0
    rounds = [line for line in out.stderr.splitlines()
              if line.startswith("highs: outer approximation round")]
    assert len(rounds) == 1 and "piecewise-linear start, 8 tangents per term" in rounds[0]
