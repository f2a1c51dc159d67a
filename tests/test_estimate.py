"""``qglc estimate`` / ``qg.estimate``: risk measures of a plan (exact, Monte Carlo; the quantum
estimator's own tests are in test_estimate_qae.py and test_qae_*.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import qgridlang as qg
from qgridlang.checker import check_file, check_text
from qgridlang.errors import UsageError
from qgridlang.estimation import exact, loss
from qgridlang.estimation.measure import parse_measure
from qgridlang.estimation.run import estimate

ROOT = Path(__file__).resolve().parent.parent
RISK = ROOT / "examples" / "risk" / "risk.qgl"


@pytest.fixture(scope="module")
def risk() -> object:
    return check_file(RISK)


@pytest.fixture(scope="module")
def risk_solution(risk: object) -> object:
    return qg.solve(risk, "highs")


# ---- measures ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "kind", "alpha"), [
    ("expected(cost)", "expected", None), ("var(cost, alpha = 95 %)", "var", 0.95),
    ("cvar(cost, alpha = 0.9)", "cvar", 0.9), ("  var ( cost , alpha=0.5)", "var", 0.5)])
def test_measures_parse(text: str, kind: str, alpha: float | None) -> None:
    m = parse_measure(text)
    assert (m.kind, m.expr, m.alpha) == (kind, "cost", alpha)


def test_probability_keeps_its_threshold_and_unit() -> None:
    m = parse_measure("probability(cost >= 700 $)")
    assert (m.kind, m.op, m.threshold, m.threshold_unit) == ("probability", ">=", 700.0, "$")


@pytest.mark.parametrize(("text", "says"), [
    ("cvar(cost)", "needs its level"), ("cvar(cost, alpha = 1.5)", "alpha must be in [0, 1)"),
    ("cvar(cost, alpha = 5 MW)", "plain number or a percentage"),
    ("median(cost)", "unknown measure 'median'"), ("expected(cost[1])", "takes the name"),
    ("cvar(cost alpha = 0.9)", "column 11"), ("probability(cost)", "one comparison"),
    ("probability(cost == 3)", "compares with >")])
def test_bad_measures_are_usage_errors_that_say_why(text: str, says: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_measure(text)
    assert says in err.value.message


# ---- exact measures against their definitions ---------------------------------------------------
@settings(max_examples=80, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=40),
       st.floats(0.0, 0.99), st.integers(0, 2**31 - 1))
def test_var_and_cvar_match_their_definitions(values: list[float], alpha: float,
                                              seed: int) -> None:
    v = np.asarray(values)
    p = np.random.default_rng(seed).random(len(v)) + 0.01
    p /= p.sum()
    var = exact.value_at_risk(v, p, alpha)
    # VaR: the smallest value whose cumulative probability reaches alpha
    assert p[v <= var].sum() >= alpha - 1e-9
    assert all(p[v <= w].sum() < alpha - 1e-12 for w in v if w < var)
    # CVaR: Rockafellar-Uryasev's minimum over eta, attained at VaR
    grid = np.unique(np.concatenate([v, np.linspace(v.min() - 1, v.max() + 1, 50)]))
    ru = [eta + p @ np.maximum(v - eta, 0) / (1 - alpha) for eta in grid]
    assert exact.cvar(v, p, alpha) == pytest.approx(min(ru), rel=1e-9, abs=1e-9)


def test_the_grid_moves_each_value_by_at_most_half_a_step() -> None:
    rng = np.random.default_rng(4)
    emp = loss.Empirical("cost", "S", rng.normal(100, 15, 300), np.full(300, 1 / 300), "$")
    for n in (2, 5, 9):
        g = loss.discretise(emp, n)
        assert len(g.values) == 2**n and g.probs.sum() == pytest.approx(1.0)
        assert g.values[0] == emp.values.min() and g.values[-1] == emp.values.max()
        for kind in ("expected", "var", "cvar"):
            m = parse_measure(f"{kind}(cost)" if kind == "expected" else f"{kind}(cost, "
                              "alpha = 0.9)")
            on_grid = {"expected": exact.expected(g.values, g.probs),
                       "var": exact.value_at_risk(g.values, g.probs, 0.9),
                       "cvar": exact.cvar(g.values, g.probs, 0.9)}[m.kind]
            own = {"expected": exact.expected(emp.values, emp.probs),
                   "var": exact.value_at_risk(emp.values, emp.probs, 0.9),
                   "cvar": exact.cvar(emp.values, emp.probs, 0.9)}[m.kind]
            assert abs(on_grid - own) <= g.error_bound + 1e-9


# ---- on the risk example: agreement with the MILP's own measures --------------------------------
def test_exact_agrees_with_the_milps_expected_and_cvar_at_its_optimum(risk: object,
                                                                     risk_solution: object
                                                                     ) -> None:
    sol = risk_solution
    mean = float(sol.expression_results["mean_cost"].values[0])  # type: ignore[attr-defined]
    tail = float(sol.expression_results["tail_cost"].values[0])  # type: ignore[attr-defined]
    plan = sol.x  # type: ignore[attr-defined]
    e = estimate(risk, "expected(cost)", "exact", plan, {"qubits": 8})
    c = estimate(risk, "cvar(cost, alpha = 0.9)", "exact", plan, {"qubits": 8})
    assert e.exact_scenarios == pytest.approx(mean, rel=1e-9)
    assert c.exact_scenarios == pytest.approx(tail, rel=1e-6)
    for est in (e, c):
        assert abs(est.value - est.exact_scenarios) <= est.discretisation["error_bound"] + 1e-9
        assert est.ci is None and est.unit == "$" and est.scenario_set == "S"


def test_monte_carlo_interval_covers_the_exact_value(risk: object, risk_solution: object
                                                     ) -> None:
    plan = risk_solution.x  # type: ignore[attr-defined]
    hits = 0
    for seed in range(20):
        r = estimate(risk, "expected(cost)", "mc", plan, {"samples": 2000, "seed": seed})
        hits += r.ci[0] <= r.exact_scenarios <= r.ci[1]  # type: ignore[index]
        assert r.samples == 2000
    assert hits >= 16  # a 95 % interval: 19 of 20 expected, >= 16 with probability > 0.99
    p = estimate(risk, "probability(cost > 700 $)", "mc", plan, {"samples": 5000, "seed": 1})
    assert p.ci[0] <= p.exact_scenarios <= p.ci[1]  # type: ignore[index]
    c = estimate(risk, "cvar(cost, alpha = 0.9)", "mc", plan, {"samples": 50_000, "seed": 2})
    assert abs(c.value - c.exact_scenarios) < 0.01 * c.exact_scenarios


def test_a_threshold_in_another_unit_is_converted() -> None:
    text = """time T = 1..2 step 1 h
set S = 1..4
scenarios S = sample(seed = 1) { d[t in T] ~ uniform(0, 10) }
var p[T]: MW in 0 .. 20
constraint cover[s in S, t in T]: p[t] >= d[s, t] * 1 MW
expr energy[s in S]: MWh = sum(t in T) (p[t] - d[s, t] * 1 MW) * dt
minimize cost: sum(t in T) p[t] * 1 $/MWh * dt
"""
    checked = check_text(text, "units.qgl")
    a = estimate(checked, "probability(energy > 2 MWh)", "exact")
    b = estimate(checked, "probability(energy > 2000 kWh)", "exact")
    assert a.exact_scenarios == b.exact_scenarios


# ---- plans from files ---------------------------------------------------------------------------
def test_a_plan_from_json_or_csv_gives_the_solved_plans_numbers(tmp_path: Path, risk: object,
                                                                risk_solution: object) -> None:
    sol = risk_solution
    (tmp_path / "plan.json").write_text(json.dumps(sol.to_json()),  # type: ignore[attr-defined]
                                        encoding="utf-8")
    sol.write(tmp_path / "plan.csv")  # type: ignore[attr-defined]
    direct = estimate(risk, "cvar(cost, alpha = 0.9)", "exact", sol.x)  # type: ignore[attr-defined]
    for name in ("plan.json", "plan.csv"):
        got = estimate(risk, "cvar(cost, alpha = 0.9)", "exact", tmp_path / name)
        assert got.exact_scenarios == pytest.approx(direct.exact_scenarios, rel=1e-12)
        assert got.plan.endswith(name)


def test_plan_errors_are_usage_errors(tmp_path: Path, risk: object) -> None:
    bad = tmp_path / "plan.json"
    bad.write_text('{"status": "optimal"}', encoding="utf-8")
    with pytest.raises(UsageError, match="no 'variables'"):
        estimate(risk, "expected(cost)", "exact", bad)
    other = tmp_path / "plan.txt"
    other.write_text("x", encoding="utf-8")
    with pytest.raises(UsageError, match=r"\.json .* or \.csv"):
        estimate(risk, "expected(cost)", "exact", other)
    part = tmp_path / "part.csv"
    part.write_text("kind,name,key,value,unit\nvariable,buy,1,5,kW\n", encoding="utf-8")
    with pytest.raises(UsageError, match="no value for buy\\[2\\]|no values for variable"):
        estimate(risk, "expected(cost)", "exact", part)
    with pytest.raises(UsageError, match="cannot read"):
        estimate(risk, "expected(cost)", "exact", tmp_path / "missing.json")


def test_measuring_what_is_not_over_scenarios_is_refused(risk: object) -> None:
    with pytest.raises(UsageError, match="did you mean 'cost'"):
        estimate(risk, "expected(costs)", "exact", np.zeros(risk.flat.n))  # type: ignore[attr-defined]
    with pytest.raises(UsageError, match="not over one scenario set"):
        estimate(risk, "expected(mean_cost)", "exact", np.zeros(risk.flat.n))  # type: ignore[attr-defined]


def test_estimator_options_are_checked(risk: object) -> None:
    x = np.zeros(risk.flat.n)  # type: ignore[attr-defined]
    with pytest.raises(UsageError, match="has no option 'seed'"):
        estimate(risk, "expected(cost)", "exact", x, {"seed": 1})
    with pytest.raises(UsageError, match="did you mean 'samples'"):
        estimate(risk, "expected(cost)", "mc", x, {"sample": 10})
    with pytest.raises(UsageError, match="qubits must be from 1 to 24"):
        estimate(risk, "expected(cost)", "exact", x, {"qubits": 40})
    with pytest.raises(UsageError, match="unknown estimator"):
        estimate(risk, "expected(cost)", "quantum", x)


# ---- the CLI, as a process ----------------------------------------------------------------------
def _qglc(*argv: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qgridlang", *argv], capture_output=True,
                          text=True, timeout=300, cwd=cwd)


def test_cli_estimate_json_is_one_document_and_matches_the_api(risk: object) -> None:
    proc = _qglc("estimate", str(RISK), "--measure", "cvar(cost, alpha = 90 %)", "--backend",
                 "mc", "--seed", "5", "--option", "samples=4000", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    api = qg.estimate(RISK, "cvar(cost, alpha = 90 %)", "mc", samples=4000, seed=5)
    assert doc["value"] == pytest.approx(api.value, rel=1e-12)
    assert doc["measure"] == "cvar(cost, alpha = 0.9)" and doc["unit"] == "$"
    assert doc["plan"].startswith("solved with highs")


def test_cli_estimate_errors_exit_2_with_a_message() -> None:
    proc = _qglc("estimate", str(RISK), "--measure", "cvar(cost)", "--backend", "exact")
    assert proc.returncode == 2 and "needs its level" in proc.stderr and proc.stdout == ""
    proc = _qglc("estimate", str(RISK), "--measure", "expected(cost)", "--backend", "exact",
                 "--json", "--plan", "nowhere.json")
    assert proc.returncode == 2
    assert json.loads(proc.stdout)["errors"][0]["message"].startswith("--plan nowhere.json")


# ---- the declared distribution (source=declared) ------------------------------------------------
IMBALANCE = """time T = 1..4 step 6 h
set S = 1..400
param forecast[T]: MW = {1: 80, 2: 120, 3: 150, 4: 100}
param da_price[T]: $/MWh = {1: 40, 2: 55, 3: 70, 4: 50}
param rt_price: $/MWh = 90
param premium: $ = 1500
scenarios S = sample(seed = 11) { err ~ normal(0 MWh, 40 MWh) }
var h in 0 .. 0.8
expr cost[s in S]: $ = sum(t in T) da_price[t] * forecast[t] * dt + premium * h
                       + rt_price * err[s] * (1 - h)
minimize total: expected(cost) + 0.5 * cvar(cost, alpha = 0.95)
"""


@pytest.fixture(scope="module")
def imbalance() -> object:
    return check_text(IMBALANCE, "imbalance.qgl")


def test_a_sampled_value_records_its_declared_draw(imbalance: object) -> None:
    (spec,) = imbalance.flat.sampled["err"].specs  # type: ignore[attr-defined]
    assert (spec.dist, spec.args, spec.intercept) == ("normal", (0.0, 40.0), 0.0)
    assert spec.slope == pytest.approx(1.0, rel=1e-12)
    risk = check_file(RISK)
    pv = risk.flat.sampled["pv_dev"]
    # pv_dev[t] ~ uniform(-0.3, 0.3) * pv_forecast[t]: the draw scaled by the forecast (kW)
    assert [s.slope for s in pv.specs] == pytest.approx([0.0, 60.0, 180.0, 160.0, 30.0, 0.0],
                                                       abs=1e-9)
    assert {s.dist for s in pv.specs} == {"uniform"}


def test_declared_normal_matches_its_closed_form(imbalance: object) -> None:
    from scipy.stats import norm

    # the plan: h = 0.8 (the hedge pays off), so cost = 153000 $ + 18 $/MWh * err
    c = 90.0 * (1 - 0.8)
    cvar_closed = 153_000.0 + c * 40.0 * norm.pdf(norm.ppf(0.95)) / 0.05
    est = estimate(imbalance, "cvar(cost, alpha = 0.95)", "exact", None,
                   {"source": "declared", "qubits": 10, "truncate": 6})
    d = est.discretisation
    assert d["exact_declared"] == pytest.approx(cvar_closed, rel=1e-9)
    assert est.value == pytest.approx(cvar_closed, abs=c * d["step"] / 18)
    assert d["map"].startswith("cost = 18 * err + 153000") and d["mass_outside"] < 1e-8
    # an unbounded draw is never cut silently; the cut is stated, with the mass it leaves out
    with pytest.raises(UsageError, match="unbounded: say where to cut"):
        estimate(imbalance, "cvar(cost, alpha = 0.95)", "exact", None, {"source": "declared"})
    cut = estimate(imbalance, "cvar(cost, alpha = 0.95)", "exact", None,
                   {"source": "declared", "truncate": 3})
    assert "mean ± 3 sd" in cut.discretisation["truncation"]
    assert cut.discretisation["mass_outside"] == pytest.approx(2 * norm.sf(3), rel=1e-9)


def test_declared_monte_carlo_and_qae_agree_with_the_closed_form(imbalance: object) -> None:
    pytest.importorskip("qiskit_algorithms")
    mc = estimate(imbalance, "expected(cost)", "mc", None,
                  {"source": "declared", "truncate": 3, "samples": 20000, "seed": 4})
    assert mc.ci[0] <= 153_000.0 <= mc.ci[1]  # type: ignore[index]
    q = estimate(imbalance, "expected(cost)", "qae", None,
                 {"source": "declared", "truncate": 3, "qubits": 4, "payoff": "linear",
                  "epsilon": 0.01, "seed": 1})
    assert q.ci is not None and q.ci[0] - 1e-6 <= q.exact_grid <= q.ci[1] + 1e-6


def test_declared_is_refused_where_no_draw_explains_the_loss() -> None:
    risk = check_file(RISK)
    with pytest.raises(UsageError, match="not affine in the sampled values of S"):
        estimate(risk, "expected(cost)", "exact", None, {"source": "declared", "truncate": 3})
    text = IMBALANCE.replace("err ~ normal(0 MWh, 40 MWh)", "err ~ exp(normal(0, 1)) * 1 MWh")
    with pytest.raises(UsageError, match="not one draw scaled and shifted"):
        estimate(check_text(text, "exp.qgl"), "expected(cost)", "exact", None,
                 {"source": "declared", "truncate": 3})


def test_functions_of_draws_give_one_value_per_scenario() -> None:
    # exp, sqrt, min, max … of a draw were a TypeError (one float expected) before issue 9
    text = """set S = 1..50
scenarios S = sample(seed = 3) {
  x ~ exp(normal(0, 0.5))
  y ~ max(normal(0, 1), 0)
  z ~ min(uniform(0, 2), 1)
}
param m = 1
"""
    sampled = check_text(text, "draws.qgl").flat.sampled
    rng = np.random.default_rng(3)
    x = np.exp(rng.normal(0, 0.5, 50))
    y = np.maximum(rng.normal(0, 1, 50), 0)
    z = np.minimum(rng.uniform(0, 2, 50), 1)
    for name, want in (("x", x), ("y", y), ("z", z)):
        assert sampled[name].values[0] == pytest.approx(want, rel=1e-12)
    # not affine in their draw (max is caught across the draw's range): no declared density
    assert sampled["x"].specs == (None,) and sampled["y"].specs == (None,)
    assert sampled["z"].specs == (None,)
    with pytest.raises(Exception, match="sqrt\\(-"):
        check_text("set S = 1..5\nscenarios S = sample(seed = 1) { w ~ sqrt(normal(0, 1)) }\n",
                   "bad.qgl")


TWO_DRAWS = """set S = 1..300
scenarios S = sample(seed = 5) {
  load_err ~ normal(0 MWh, 30 MWh)
  pv_err ~ uniform(-20 MWh, 20 MWh)
}
param price: $/MWh = 80
var hedge in 0 .. 1
expr cost[s in S]: $ = 1000 $ * hedge + price * (load_err[s] - pv_err[s]) * (1.2 - hedge)
minimize total: expected(cost) + cvar(cost, alpha = 0.9)
"""


def test_two_independent_draws_load_as_one_register_over_their_product() -> None:
    checked = check_text(TWO_DRAWS, "two.qgl")
    est = estimate(checked, "cvar(cost, alpha = 0.9)", "exact", None,
                   {"source": "declared", "truncate": 4, "qubits": 5})
    d = est.discretisation
    assert d["register"] == {"draws": 2, "qubits": 10, "states": 1024}
    assert d["parameters"] == ["load_err", "pv_err"] and d["step"] is None
    assert "load_err: [-120, 120] of normal(0, 30)" in d["truncation"]  # uniform: not cut
    mc = estimate(checked, "cvar(cost, alpha = 0.9)", "mc", None,
                  {"source": "declared", "truncate": 4, "samples": 400_000, "seed": 2})
    assert est.value == pytest.approx(mc.value, rel=0.01)
    assert d["exact_declared"] is None  # no closed form for a sum of draws here
    mean = estimate(checked, "expected(cost)", "exact", None,
                    {"source": "declared", "truncate": 4, "qubits": 5})
    assert mean.value == pytest.approx(mean.discretisation["exact_declared"], abs=1e-6)
    with pytest.raises(UsageError, match="2 x 13 qubits is more than 24"):
        estimate(checked, "expected(cost)", "exact", None,
                 {"source": "declared", "truncate": 4, "qubits": 13})


def test_without_a_plan_an_infeasible_model_has_nothing_to_estimate() -> None:
    text = """set S = 1..3
scenarios S = equal()
param d[S]: MW = {1: 1, 2: 2, 3: 3}
var p: MW in 0 .. 1
constraint impossible: p >= 2 MW
expr cost[s in S]: $ = 10 $/MWh * (p + d[s]) * 1 h
minimize c: expected(cost)
"""
    with pytest.raises(UsageError, match="no plan to estimate: HiGHS says infeasible") as err:
        estimate(check_text(text, "inf.qgl"), "expected(cost)", "exact")
    assert "--plan" in (err.value.hint or "")
