"""The UC-VPP reproduction (examples/uc_vpp/, benchmarks/uc_vpp.py): both stages check and
solve, the plans keep the paper's constraints, the daily-rolling MILP costs at least the
whole-horizon MILP, the day-ahead policy's reward is the model's stage cost, the DC plan passes
pandapower's AC power flow, and the benchmark's --quick mode runs."""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from qgridlang.checker import check_file
from qgridlang.dispatcher import solve_model
from qgridlang.registry import Options
from qgridlang.results import Status

ROOT = Path(__file__).resolve().parent.parent
EX = ROOT / "examples" / "uc_vpp"


def _bench() -> Any:
    spec = importlib.util.spec_from_file_location("uc_vpp_bench", ROOT / "benchmarks/uc_vpp.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _units() -> dict[str, dict[str, float]]:
    return {r["unit"]: {k: float(v) for k, v in r.items() if k != "unit"}
            for r in csv.DictReader((EX / "data" / "units.csv").open())}


@pytest.fixture(scope="module")
def day1() -> Any:
    checked = check_file(EX / "uc_da.qgl", {"day_to": "1"})
    return checked, solve_model(checked, "highs", Options(mip_gap=1e-6))


def test_data_is_the_dtu_system_without_its_hydro_unit() -> None:
    units = _units()
    assert [int(u["bus"]) for u in units.values()] == [1, 2, 7, 13, 15, 15, 16, 18, 21, 23, 23]
    assert sum(u["pmax"] for u in units.values()) == 3075
    assert max(u["cost"] for u in units.values()) == 26.11
    prof = list(csv.DictReader((EX / "data" / "profiles.csv").open()))
    assert len(prof) == 168
    # Tuesday is the DTU profile itself (RTS-79: 100 % of the weekly peak), peak 2650.5 MW
    assert max(float(r["load"]) for r in prof if r["day"] == "2") == pytest.approx(2650.5)
    shares = [float(r["load_share"]) for r in csv.DictReader((EX / "data/buses.csv").open())]
    assert sum(shares) == pytest.approx(1.0)


def test_day_ahead_plan_keeps_eq_6_to_9(day1: Any) -> None:
    """Commitment logic, output limits and ramps hold in the plan, read back by model name."""
    _, sol = day1
    assert sol.status == Status.OPTIMAL
    units = _units()
    u, su, sd, p = (sol.variables[k] for k in ("u", "su", "sd", "p"))
    for g, d in units.items():
        prev_u, prev_p = d["init_u"], d["init_p"]
        for t in range(1, 25):
            ut, pt = u[g]["1"][str(t)], p[g]["1"][str(t)]
            assert ut == pytest.approx(prev_u + su[g]["1"][str(t)] - sd[g]["1"][str(t)])
            assert d["pmin"] * ut - 1e-6 <= pt <= d["pmax"] * ut + 1e-6
            assert -d["ramp_down"] - 1e-6 <= pt - prev_p <= d["ramp_up"] + 1e-6
            prev_u, prev_p = ut, pt
    # the system balances: thermal + renewables used + shedding = load, every hour
    prof = {int(r["hour"]): r for r in csv.DictReader((EX / "data/profiles.csv").open())
            if r["day"] == "1"}
    for t in range(1, 25):
        thermal = sum(p[g]["1"][str(t)] for g in units)
        ren = sum(float(prof[t][r]) - sol.variables["spill"][r]["1"][str(t)]
                  for r in ("pv1", "pv2", "w1", "w2"))
        shed = sum(v["1"][str(t)] for v in sol.variables["shed"].values())
        assert thermal + ren + shed == pytest.approx(float(prof[t]["load"]), abs=1e-4)


def test_policy_reward_is_minus_the_stage_cost_of_the_milp_commitment(day1: Any) -> None:
    """Rolling the MILP's own commitment through the policy's Env costs the MILP's day cost
    (the Env re-dispatches hour by hour, so at least as much, and here within 0.01 %), with no
    violation; a commitment with too few units is penalised."""
    from qgridlang.policies.command import spec_of
    from qgridlang.policies.env import ModelEnv

    checked, sol = day1
    env = ModelEnv(checked.flat, spec_of(checked, "commit"))
    units = list(_units())
    milp = sum(sol.expressions[k]["1"][str(t)] for t in range(1, 25)
               for k in ("startup_cost", "operating_cost", "shedding_cost"))
    env.reset(options={"episode": 0})
    reward = cost = violation = 0.0
    for t in range(1, 25):
        action = np.array([round(sol.variables["u"][g]["1"][str(t)]) for g in units])
        _, r, _, _, info = env.step(action)
        reward, cost, violation = reward + r, cost + info["cost"], violation + info["violation"]
    assert violation == 0.0
    assert reward == pytest.approx(-cost)
    assert milp - 1e-6 <= cost <= milp * 1.0001
    # only the two cheapest nuclear units: far too little capacity, rows need slack
    env.reset(options={"episode": 0})
    few = np.array([1 if g in ("g08", "g09") else 0 for g in units])
    _, r, _, _, info = env.step(few)
    assert info["violation"] > 0 and r < -env.penalty * info["violation"] + 1e-6


def test_daily_rolling_milp_costs_at_least_the_whole_horizon_milp() -> None:
    """SPECS §B7 claim 3 on two days: the chained 48-hour MILP is a lower bound for the
    day-by-day MILP (whose plan is feasible for it)."""
    bench = _bench()
    # the MILPs stop at a 1e-3 gap: the week's dual bound is still a valid lower bound
    week = bench.part_lp(48, 1e-3)
    myopic = bench.part_myopic(2, 1e-3)
    assert week["status"] == "optimal"
    assert myopic["total"] >= week["dual_bound"] - 1e-6
    assert myopic["total"] == pytest.approx(sum(myopic["per_day"]))
    assert week["total"] == pytest.approx(week["operational"] + week["startup"])


def test_relaxed_commitment_is_cheaper_and_breaks_rows_when_rounded() -> None:
    bench = _bench()
    rlp = bench.part_rlp(24)
    lp = bench.part_lp(24, 1e-7)
    assert rlp["total"] <= lp["total"] + 1e-6
    assert rlp["fractional_u"] >= 0 and rlp["violation"] >= 0
    assert rlp["violation"] == pytest.approx(rlp["violation_mw"] / 100)


def test_real_time_model_checks_and_solves() -> None:
    checked = check_file(EX / "rt_vpp.qgl", {"n_scenarios": "2"})
    assert "dispatch" in checked.flat.policies
    sol = solve_model(checked, "highs")
    assert sol.status == Status.OPTIMAL
    vpp = sol.variables["vpp"]
    up, dn = sol.variables["vpp_up"], sol.variables["vpp_dn"]
    for v in vpp:
        for s in vpp[v]:
            for t in vpp[v][s]:
                assert -50 - 1e-6 <= vpp[v][s][t] <= 50 + 1e-6
                assert vpp[v][s][t] == pytest.approx(up[v][s][t] - dn[v][s][t], abs=1e-6)
                assert min(up[v][s][t], dn[v][s][t]) <= 1e-6  # |P^VPP| is priced once
    assert sol.expressions["adjustment"] > 0  # the deviations need the VPPs


def test_dc_plan_passes_the_ac_power_flow() -> None:
    """pandapower's AC power flow of one day's DC plan: every hour converges, no branch is
    over its rating, the DC flows are within 40 MW of the AC ones and the losses are 1-4 % of
    the load. Voltages are what DC cannot see: bus 7 sags when its unit is off (reported)."""
    bench = _bench()
    plan, _ = bench.lp_plan_solution(24, 1e-4)
    ac = bench.ac_check(plan, 24)
    assert ac["converged"] == 24
    assert ac["hours_with_overload"] == 0 and ac["max_loading_pct"] < 100
    assert ac["max_flow_error_mw"] < 40
    assert 1.0 < ac["losses_pct_of_load"] < 4.0
    assert ac["vm_max"] <= 1.06


def test_benchmark_quick_mode_runs_as_a_subprocess(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks/uc_vpp.py"), "--quick",
                           "--parts", "rlp", "--out-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "uc_vpp_quick.json").read_text())
    assert doc["parts"]["rlp"]["result"]["status"] == "optimal"
    assert "| rlp |" in proc.stdout
    # a rerun with the same settings skips the finished piece
    again = subprocess.run([sys.executable, str(ROOT / "benchmarks/uc_vpp.py"), "--quick",
                            "--parts", "rlp", "--out-dir", str(tmp_path)],
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "done rlp" not in again.stdout


@pytest.mark.slow  # 15-40 s (two checks of the model, JAX compiling the agent)
def test_learned_agent_task_trains_resumes_and_rolls_out(tmp_path: Path) -> None:
    """One benchmark task (dqn, day 1, 2 episodes): the rollout's per-episode cost equals the
    model's own start-up + operating + shedding expressions over the realised plan, and a
    rerun resumes from the checkpoint instead of training again."""
    bench = _bench()
    task = {"agent": "dqn", "seed": 3, "episodes": 2, "model": str(EX / "uc_da.qgl"),
            "policy": "commit", "overrides": {"day_to": "1"},
            "checkpoint": str(tmp_path / "dqn.qglp"), "eval_episodes": 1, "every": 1,
            "stage_exprs": ["startup_cost", "operating_cost", "shedding_cost"]}
    rec = bench.run_agent(task)
    assert rec["episodes"] == 2 and len(rec["history"]) == 2 and rec["penalty"] == 10_000
    (ep,) = rec["evaluation"]["episodes"]
    parts = ep["startup_cost"] + ep["operating_cost"] + ep["shedding_cost"]
    assert ep["cost"] == pytest.approx(parts, rel=1e-9)
    assert ep["reward"] == pytest.approx(-ep["cost"] - 10_000 * (100 * ep["violation"]
                                                                 + ep["violation_other"]))
    again = bench.run_agent(task)
    assert [h["reward"] for h in again["history"]] == [h["reward"] for h in rec["history"]]
    assert again["train_seconds"] < rec["train_seconds"]
