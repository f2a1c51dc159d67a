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
EXAMPLES = sorted([*(ROOT / "examples").glob("*/*.qgl"),
                   *(ROOT / "examples").glob("networks/*/*.qgl")])  # qglc import output
SLOW = {"uc.qgl", "uc_dc.qgl"}  # minutes on 2 cores: solved in the `slow` tests below
# examples run smaller here (--set); their full size runs in a slow test of their own
SMALL = {"operator.qgl": {"n_scenarios": "2"}, "surrogate_pricing.qgl": {"n_scenarios": "2"},
         "surrogate_pricing_tou.qgl": {"n_scenarios": "2"},
         # UC-VPP: one day / 2 scenarios here; the week runs in benchmarks/uc_vpp.py
         "uc_da.qgl": {"day_to": "1"}, "uc_week.qgl": {"hours": "24"},
         "rt_vpp.qgl": {"n_scenarios": "2"}}
# differentiable programs (surrogates called on variables) are solved by pgd, a few iterations
PGD = ["--backend", "pgd", "--option", "maxiter=3"]
BACKEND = {"surrogate_pricing.qgl": PGD, "surrogate_pricing_tou.qgl": PGD}


# examples of systems and controllers only (nothing to optimise): every simulation runs instead
DYNAMICS = {"lfc.qgl"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name + "/" + p.name)
def test_example_checks(path: Path) -> None:
    checked = check_file(path, SMALL.get(path.name))
    if path.name in DYNAMICS:
        assert checked.flat.systems and checked.flat.simulations
    else:
        assert checked.flat.n > 0


@pytest.mark.parametrize("path", [p for p in EXAMPLES if p.name in DYNAMICS],
                         ids=lambda p: p.parent.name + "/" + p.name)
def test_example_simulates(path: Path) -> None:
    """Every `simulate` of a dynamics example runs with its own controller, metrics finite."""
    from qgridlang.control.frontend import dynamics_of, run_simulation

    dyn = dynamics_of(check_file(path))
    for name in dyn.simulations:
        res = run_simulation(dyn, name)
        assert np.isfinite(res.metrics["IAE"][0]) and res.metrics["IAE"][0] > 0, name


@pytest.mark.parametrize("path", [p for p in EXAMPLES
                                  if p.name not in SLOW and p.name not in DYNAMICS],
                         ids=lambda p: p.parent.name + "/" + p.name)
def test_example_solves_to_optimality(path: Path, capsys: pytest.CaptureFixture[str],
                                      tmp_path: Path) -> None:
    sets = [f"--set={k}={v}" for k, v in SMALL.get(path.name, {}).items()]
    code = main(["solve", str(path), "--json", *sets, *BACKEND.get(path.name, [])])
    text = capsys.readouterr().out
    out = json.loads(text)
    assert code == 0, out
    assert out["status"] in ("optimal", "feasible") and out["feasible"]
    # every example's result plots (qglc plot, headless)
    (tmp_path / "result.json").write_text(text, encoding="utf-8")
    assert main(["plot", str(tmp_path / "result.json"), "-o", str(tmp_path / "plan.png")]) == 0
    assert (tmp_path / "plan.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_unit_commitment_example_solves_to_proven_optimality() -> None:
    sol = solve_model(check_file(ROOT / "examples/unit_commitment/uc.qgl"), "highs")
    assert sol.status == Status.OPTIMAL and sol.feasible
    assert sol.info["objective_gap"] <= 2e-4 * sol.objective


def test_unit_commitment_on_the_dc_network_over_six_hours() -> None:
    """The DC option of the RTS-24 example over its first six hours: every branch within its
    rating, each flow equal to its angle difference over its reactance, every bus balanced."""
    checked = check_file(ROOT / "examples/unit_commitment/uc_dc.qgl",
                         subsets={"T": [1, 2, 3, 4, 5, 6]})
    net = checked.network
    assert net.formulation == "dc" and len(net.buses) == 24 and len(net.branches) == 38
    sol = solve_model(checked, "highs")
    assert sol.status == Status.OPTIMAL and sol.feasible
    v = sol.variables
    for br in net.branches:
        x = br.x_ohm  # the branch's reactance in ohm at its from-bus voltage
        vn = net.bus(br.from_bus).vn_kv
        for t in map(str, range(1, 7)):
            p = v[br.p][t]
            assert abs(p) <= br.rating_mw + 1e-6
            dtheta = v[net.bus(br.from_bus).theta][t] - v[net.bus(br.to_bus).theta][t]
            assert p == pytest.approx(dtheta * vn**2 / x, abs=1e-5)
    single = solve_model(check_file(ROOT / "examples/unit_commitment/uc.qgl",
                                    subsets={"T": [1, 2, 3, 4, 5, 6]}), "highs")
    # the network can only add cost (up to the MIP gaps of the two solves)
    assert sol.objective >= single.objective * (1 - 2e-4)


@pytest.mark.slow
def test_unit_commitment_on_the_dc_network_solves() -> None:
    sol = solve_model(check_file(ROOT / "examples/unit_commitment/uc_dc.qgl"), "highs")
    assert sol.status == Status.OPTIMAL and sol.feasible


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
