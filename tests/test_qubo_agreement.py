"""Cross-target agreement on small qgl models: the exact QUBO optimum decodes to the MILP optimum,
and the BQM equals PyQUBO's compilation of the same constraints, coefficient by coefficient."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyqubo import Binary, Constraint, Placeholder

from qgridlang.checker import CheckedModel, check_file, check_text
from qgridlang.dispatcher import compile_model, solve_model
from qgridlang.results import Status

KNAPSACK = """
model projects "pick projects under a budget and a crew limit"
set P = 1..6
param value[P] = {1: 10, 2: 13, 3: 7, 4: 8, 5: 12, 6: 4}
param cost[P] = {1: 4, 2: 6, 3: 3, 4: 4, 5: 5, 6: 2}
var pick[P] binary
constraint budget: sum(p in P) cost[p] * pick[p] <= 12
constraint crews: sum(p in P) pick[p] <= 3
maximize value: sum(p in P) value[p] * pick[p]
"""

UNIT_COMMITMENT = """
model tiny_uc "two units, two hours, power on a 10 MW grid"
time T = 1..2 step 1 h
set G = {a, b}
param demand[T]: MW = {1: 20, 2: 40}
param pmax[G]: MW = {a: 10, b: 30}
param fixed[G]: $/h = {a: 40, b: 20}
param marginal[G]: $/MWh = {a: 1, b: 3}
var u[G, T] binary
var p[g in G, t in T]: MW in 0 .. pmax[g]
constraint balance[t in T]: sum(g in G) p[g, t] == demand[t]
constraint limit[g in G, t in T]: p[g, t] <= pmax[g] * u[g, t]
minimize cost: sum(g in G, t in T) (fixed[g] * u[g, t] + marginal[g] * p[g, t]) * dt
quantum { encode p as integer(step = 10 MW) }
"""

MAX_CUT = """
model balanced_cut "weighted max-cut of eight nodes into two halves"
set N = 1..8
param w[N, N] default 0 = {(1, 2): 3, (1, 3): 1, (2, 3): 2, (2, 4): 4, (3, 5): 2, (4, 5): 1,
                           (4, 6): 3, (5, 6): 2, (5, 7): 3, (6, 8): 1, (7, 8): 4, (1, 8): 2}
var x[N] binary
constraint halves: sum(i in N) x[i] == 4
maximize cut: sum(i in N, j in N where w[i, j] > 0) w[i, j] * (x[i] + x[j] - 2 * x[i] * x[j])
"""

MODELS = {"knapsack": KNAPSACK, "unit_commitment": UNIT_COMMITMENT, "max_cut": MAX_CUT}
# shipped examples with at most 20 QUBO bits
EXAMPLES = {"coalition_bipartition": Path(__file__).resolve().parent.parent
            / "examples" / "coalition" / "bipartition.qgl"}


@pytest.fixture(scope="module", params=sorted(MODELS) + sorted(EXAMPLES))
def model(request: pytest.FixtureRequest) -> CheckedModel:
    if request.param in EXAMPLES:
        return check_file(EXAMPLES[request.param])
    return check_text(MODELS[request.param])


def test_exact_qubo_optimum_equals_the_milp_optimum(model: CheckedModel) -> None:
    assert compile_model(model, "qubo").report["n_bits"] <= 20
    milp, exact = solve_model(model, "highs"), solve_model(model, "exact")
    assert milp.status == Status.OPTIMAL and exact.feasible
    assert exact.objective == pytest.approx(milp.objective, abs=1e-6)
    # the ground state is certified unless a real variable was put on a coarser grid
    coarse = bool(exact.info["report"]["discretisation"])
    assert exact.status == (Status.FEASIBLE if coarse else Status.OPTIMAL)


def test_unit_commitment_report_states_the_grid() -> None:
    report = compile_model(check_text(UNIT_COMMITMENT), "qubo").report
    assert report["discretisation"] == {"p": [5.0, "MW"]}  # half a 10 MW step
    assert report["encoding_bits"] == {"p": 6} and report["slack_bits"] == {"limit": 6}


def test_knapsack_bqm_equals_pyqubo() -> None:
    checked = check_text(KNAPSACK)
    compiled = compile_model(checked, "qubo")
    bqm, inverse = compiled.artifact, compiled.inverse
    value, cost = [10, 13, 7, 8, 12, 4], [4, 6, 3, 4, 5, 2]
    assert bqm.num_variables == 6 + 4 + 2
    # bounded-coefficient log slacks: budget 0..12 (1, 2, 4, 5), crews 0..3 (1, 2)
    assert inverse.slacks.bit_weight.tolist() == [1, 2, 4, 5, 1, 2]
    b = [Binary(f"b{k}") for k in range(bqm.num_variables)]
    pick = b[:6]
    budget = sum(c * x for c, x in zip(cost, pick, strict=True)) - (
        b[6] + 2 * b[7] + 4 * b[8] + 5 * b[9])
    crews = sum(pick) - (b[10] + 2 * b[11])
    h = (-sum(v * x for v, x in zip(value, pick, strict=True))
         + Placeholder("budget") * Constraint(budget**2, "budget")
         + Placeholder("crews") * Constraint(crews**2, "crews"))
    weights = {k: p["weight"] for k, p in compiled.report["penalties"].items()}
    ref = h.compile().to_bqm(feed_dict=weights)
    ref.relabel_variables({f"b{k}": k for k in range(bqm.num_variables)})
    assert set(ref.variables) == set(bqm.variables)
    for v in bqm.variables:
        assert bqm.get_linear(v) == pytest.approx(ref.get_linear(v), abs=1e-9)
    for u, v in {*bqm.quadratic, *ref.quadratic}:
        assert bqm.get_quadratic(u, v, default=0) == pytest.approx(
            ref.get_quadratic(u, v, default=0), abs=1e-9)
    assert bqm.offset == pytest.approx(ref.offset, abs=1e-9)
    assert compiled.report["penalties"]["budget"]["guaranteed"]
