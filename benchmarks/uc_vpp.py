"""Table II and Table III of the UC-VPP paper (Wei et al., arXiv 2410.21240; SPECS §B1-B7;
issue 12) on the models of ``examples/uc_vpp/``.

Table II (day-ahead, seven days):

- ``lp``: the exact MILP of the whole week (``uc_week.qgl``, 168 chained hours), HiGHS;
- ``daily``: the same days solved as seven independent day-ahead MILPs, each from the units'
  initial status (``uc_da.qgl``): the exact optimum of the problem the learned agents face;
- ``myopic``: the daily-rolling MILP: ``uc_da.qgl`` one day at a time, each day starting from
  the previous day's last hour (status and output);
- ``rlp``: ``uc_week.qgl`` with every binary relaxed to [0, 1]. Its violation: the relaxed plan
  with each commitment rounded at 0.5 (start-ups and shut-downs recomputed from it, every other
  value kept) breaks rows of the MILP; the MW rows' excess, summed, in p.u. of 100 MVA;
- ``dqn`` / ``qdqn``: ``policy commit`` of ``uc_da.qgl`` trained (classical MLP 2x64 / the SPECS
  §B5 circuit, 8 qubits, 4 layers) and rolled out greedily over the seven days (each day an
  episode); violation = the MW rows' slacks the stage problems needed, in p.u. of 100 MVA.

Table III (real time, ``rt_vpp.qgl`` on the ``lp`` plan's day ``--rt-day``): ``sac`` / ``qsac`` on
``policy dispatch``, next to the LP optimum of the same scenarios (a perfect-information bound:
the real-time stages do not couple hours).

Also: ``ac``: pandapower's AC power flow of the ``lp`` plan, every hour (the DC model's check).

Results go to ``benchmarks/results/uc_vpp.json`` (``--quick``: ``uc_vpp_quick.json``) as each
piece completes; a rerun skips pieces already there with the same settings. Learned agents run
one task per (agent, seed) on a dask LocalCluster, each with a checkpoint
(``benchmarks/results/uc_vpp_ckpt/``) from which an interrupted run resumes::

    python benchmarks/uc_vpp.py [--parts lp daily myopic rlp ac dqn qdqn sac qsac]
        [--seeds 1 2 3 4 5] [--episodes 300] [--workers 2] [--quick]
    python benchmarks/uc_vpp.py --summary-only
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
EX = ROOT / "examples" / "uc_vpp"
RESULTS = ROOT / "benchmarks" / "results"
BASE_MVA = 100.0
PARTS = ("lp", "daily", "myopic", "rlp", "ac", "dqn", "qdqn", "sac", "qsac")
DA_AGENTS = ("dqn", "qdqn")
PENALTY = 10_000.0  # the policies' penalty ($ per row unit), as declared in the models
C_VPP = 1.5 * 26.11  # $/MWh, as in rt_vpp.qgl
C_LS = C_OVER = 1000.0  # $/MWh, as in rt_vpp.qgl
RT_AGENTS = ("sac", "qsac")
# SPECS §B6 (cost units not stated by the paper)
PAPER_II = {
    "lp": {"total": 0.7948, "operational": 0.4948, "startup": 0.3, "violation": 0.0,
           "seconds": 76.70},
    "rlp": {"total": 0.7581, "operational": 0.4881, "startup": 0.27, "violation": 0.4983,
            "seconds": 1.14},
    "dqn": {"total": 0.7501, "operational": 0.5201, "startup": 0.23, "violation": 0.0546,
            "seconds": 1.628},
    "qdqn": {"total": 0.7506, "operational": 0.5106, "startup": 0.24, "violation": 0.0118,
             "seconds": 2.617},
}
PAPER_III = {"sac": {"reward": -4.9530, "violation": 0.6892, "adjustment_mw": 7728.97},
             "qsac": {"reward": -5.0192, "violation": 0.0883, "adjustment_mw": 8268.88}}


# ---- results file -------------------------------------------------------------------------------
def _load(out: Path) -> dict[str, Any]:
    return json.loads(out.read_text()) if out.exists() else {"parts": {}}


def _save(doc: dict[str, Any], out: Path) -> None:
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1, default=float) + "\n")
    tmp.replace(out)


def _digest(*paths: Path) -> str:
    """What a result depends on: the models and their data (a changed file reruns)."""
    h = hashlib.sha256()
    for p in paths:
        for f in sorted(p.rglob("*")) if p.is_dir() else [p]:
            if f.is_file() and f.suffix in (".qgl", ".csv") and f.name != "da_plan.csv":
                h.update(f.name.encode())
                h.update(f.read_bytes())
    return h.hexdigest()[:16]


# ---- MILP pieces --------------------------------------------------------------------------------
def _solve(model: Path, overrides: dict[str, str], gap: float, relax: bool = False,
           threads: int = 1) -> tuple[Any, Any, float]:
    from qgridlang.checker import check_file
    from qgridlang.dispatcher import solve_model
    from qgridlang.registry import Options

    checked = check_file(model, overrides)
    if relax:  # every binary a real in [0, 1]: its bounds are 0 .. 1 already
        flat = dataclasses.replace(checked.flat, kind=np.zeros_like(checked.flat.kind))
        checked = dataclasses.replace(checked, flat=flat)
    t0 = time.perf_counter()
    sol = solve_model(checked, "highs", Options(mip_gap=gap, threads=threads))
    return sol, checked, time.perf_counter() - t0


def _sum(node: Any) -> float:
    return float(sum(_sum(v) for v in node.values())) if isinstance(node, dict) else float(node)


def _costs(sol: Any) -> dict[str, float]:
    e = sol.expressions
    start = _sum(e["startup_cost"])
    oper = _sum(e["operating_cost"])
    shed = _sum(e["shedding_cost"])
    return {"total": start + oper + shed, "operational": oper + shed, "startup": start,
            "energy": oper, "shedding": shed, "shed_mwh": _sum(e["shed_mwh"])}


def _week_plan(sol: Any, hours: int) -> list[dict[str, Any]]:
    """The week's plan as rows (unit, day, hour, u_da, p_da)."""
    u, p = sol.variables["u"], sol.variables["p"]
    return [{"unit": g, "day": (t - 1) // 24 + 1, "hour": (t - 1) % 24 + 1,
             "u_da": round(u[g][str(t)]), "p_da": round(p[g][str(t)], 6)}
            for g in u for t in range(1, hours + 1)]


def write_plan(rows: list[dict[str, Any]], path: Path) -> None:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, ["unit", "day", "hour", "u_da", "p_da"])
        w.writeheader()
        w.writerows(rows)


def part_lp(hours: int, gap: float) -> dict[str, Any]:
    sol, checked, sec = _solve(EX / "uc_week.qgl", {"hours": str(hours)}, gap)
    return {"status": str(sol.status), **_costs(sol), "violation": 0.0, "seconds": sec,
            "mip_gap": sol.info.get("mip_gap"), "dual_bound": sol.info.get("mip_dual_bound"),
            "columns": checked.flat.n, "rows": checked.flat.m,
            "plan": _week_plan(sol, hours)}


def part_daily(days: int, gap: float) -> dict[str, Any]:
    sol, checked, sec = _solve(EX / "uc_da.qgl", {"day_to": str(days)}, gap)
    e = sol.expressions
    per_day = [sum(_sum(e[k][str(d)]) for k in
                   ("startup_cost", "operating_cost", "shedding_cost"))
               for d in range(1, days + 1)]
    return {"status": str(sol.status), **_costs(sol), "violation": 0.0, "seconds": sec,
            "mip_gap": sol.info.get("mip_gap"), "dual_bound": sol.info.get("mip_dual_bound"),
            "per_day": per_day}


def part_myopic(days: int, gap: float) -> dict[str, Any]:
    """Day by day; day d+1 starts from day d's hour 24. The model reads the initial status
    from data/units.csv, so each day runs on a copy of the folder with that file rewritten
    (the language cannot override an indexed parameter: reported)."""
    totals = {"total": 0.0, "operational": 0.0, "startup": 0.0, "energy": 0.0, "shedding": 0.0,
              "shed_mwh": 0.0}
    seconds, per_day = 0.0, []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "uc_vpp"
        shutil.copytree(EX, work, ignore=shutil.ignore_patterns("*.qglp*", "__pycache__"))
        units = list(csv.DictReader((work / "data" / "units.csv").open()))
        for d in range(1, days + 1):
            with (work / "data" / "units.csv").open("w", newline="") as f:
                w = csv.DictWriter(f, list(units[0]))
                w.writeheader()
                w.writerows(units)
            sol, _, sec = _solve(work / "uc_da.qgl", {"day_from": str(d), "day_to": str(d)},
                                 gap)
            seconds += sec
            c = _costs(sol)
            per_day.append(c["total"])
            for k in totals:
                totals[k] += c[k]
            u, p = sol.variables["u"], sol.variables["p"]
            for row in units:
                row["init_u"] = str(round(u[row["unit"]][str(d)]["24"]))
                row["init_p"] = repr(round(p[row["unit"]][str(d)]["24"], 9))
    return {**totals, "violation": 0.0, "seconds": seconds, "per_day": per_day}


def rounding_violation(checked: Any, x: np.ndarray, hours: int) -> dict[str, Any]:
    """The relaxed plan with u rounded at 0.5 and su/sd recomputed: the MILP rows it breaks."""
    flat = checked.flat
    xr = x.copy()
    ub = flat.block_of("u")
    su, sd = flat.block_of("su"), flat.block_of("sd")
    init = {r["unit"]: int(float(r["init_u"])) for r in csv.DictReader(
        (EX / "data" / "units.csv").open())}
    u = {k: round(float(x[ub.start + i])) for i, k in enumerate(ub.keys)}
    for i, k in enumerate(ub.keys):
        xr[ub.start + i] = u[k]
    for blk, sign in ((su, 1), (sd, -1)):
        for i, (g, t) in enumerate(blk.keys):
            prev = init[g] if t == 1 else u[(g, t - 1)]
            xr[blk.start + i] = max(0, sign * (u[(g, t)] - prev))
    ax = flat.A @ xr
    excess = np.maximum(np.maximum(flat.row_lo - ax, ax - flat.row_hi), 0.0)
    by_row: dict[str, float] = {}
    mw = 0.0
    for r, info in enumerate(flat.rows):
        if excess[r] > 1e-6:
            by_row[info.name] = by_row.get(info.name, 0.0) + float(excess[r])
            if info.unit == "MW":
                mw += float(excess[r])
    fractional = int(np.sum(np.abs(x[ub.start:ub.stop] - np.round(x[ub.start:ub.stop])) > 1e-6))
    return {"violation": mw / BASE_MVA, "violation_mw": mw, "by_constraint": by_row,
            "fractional_u": fractional, "rounded_cost": float(flat.c @ xr + flat.obj_const)}


def part_rlp(hours: int) -> dict[str, Any]:
    sol, checked, sec = _solve(EX / "uc_week.qgl", {"hours": str(hours)}, 1e-9, relax=True)
    assert sol.x is not None
    return {"status": str(sol.status), **_costs(sol), "seconds": sec,
            **rounding_violation(checked, sol.x, hours)}


# ---- the AC check of the DC plan --------------------------------------------------------------
def ac_check(plan_sol: dict[str, Any], hours: int) -> dict[str, Any]:
    """pandapower's Newton-Raphson AC power flow of the DC plan, hour by hour, on
    case24_ieee_rts itself (its lines, transformers with taps, line charging, the bus-6
    reactor, its generators' voltage set points): our units replace its generators (a committed
    unit is a PV bus at the set point of case24's generator at that bus, 1.0 pu elsewhere; the
    bus-13 units are the slack, which takes up the losses), PV and wind are generators
    holding their bus voltage (case24 had a generator at each of their buses), loads keep case24's
    power factor at each bus. Reactive limits are not enforced (pandapower's default)."""
    import pandapower as pp
    import pandapower.networks as pn

    units = list(csv.DictReader((EX / "data" / "units.csv").open()))
    buses = list(csv.DictReader((EX / "data" / "buses.csv").open()))
    farms = list(csv.DictReader((EX / "data" / "farms.csv").open()))
    prof = list(csv.DictReader((EX / "data" / "profiles.csv").open()))
    net = pn.case24_ieee_rts()
    vm_at = {int(r.bus): float(r.vm_pu) for r in net.gen.itertuples()}
    vm_at[int(net.ext_grid.bus.iloc[0])] = float(net.ext_grid.vm_pu.iloc[0])
    pf = (net.load.groupby("bus").q_mvar.sum() / net.load.groupby("bus").p_mw.sum()).to_dict()
    net.gen.drop(net.gen.index, inplace=True)
    net.sgen.drop(net.sgen.index, inplace=True)
    net.load.drop(net.load.index, inplace=True)
    slack_bus = int(net.ext_grid.bus.iloc[0])  # pandapower index 12 = bus 13
    # the synchronous condenser of case24 (bus 14) stays: it is voltage support, not a unit
    pp.create_gen(net, 13, p_mw=0.0, vm_pu=0.98, min_q_mvar=-50, max_q_mvar=200)
    gens = {}
    for r in units:
        b = int(r["bus"]) - 1
        if b != slack_bus:
            gens[r["unit"]] = pp.create_gen(net, b, p_mw=0.0, vm_pu=vm_at.get(b, 1.0))
    loads = {int(r["bus"]) - 1: pp.create_load(net, int(r["bus"]) - 1, p_mw=0.0)
             for r in buses if float(r["load_share"]) > 0}
    # the farms hold their bus voltage (inverters with reactive capability), at the set point
    # of case24's generator at that bus (buses 1, 2, 22, 23 all had one)
    sgens = {r["farm"]: pp.create_gen(net, int(r["bus"]) - 1, p_mw=0.0,
                                      vm_pu=vm_at.get(int(r["bus"]) - 1, 1.0))
             for r in farms}
    share = {int(r["bus"]) - 1: float(r["load_share"]) for r in buses}
    n_lines = len(net.line)
    u, p = plan_sol["u"], plan_sol["p"]
    flow, shed, spill = plan_sol["flow"], plan_sol["shed"], plan_sol["spill"]
    slack_plan = [r["unit"] for r in units if int(r["bus"]) - 1 == slack_bus]
    rows = []
    for t in range(1, hours + 1):
        load = float(prof[t - 1]["load"])
        for g, idx in gens.items():
            on = round(u[g][str(t)]) == 1
            net.gen.at[idx, "in_service"] = on
            net.gen.at[idx, "p_mw"] = p[g][str(t)] if on else 0.0
        for b, idx in loads.items():
            pd_ = share[b] * load - shed[str(b + 1)][str(t)]
            net.load.at[idx, "p_mw"] = pd_
            net.load.at[idx, "q_mvar"] = pd_ * pf.get(b, 0.0)
        for r in farms:
            net.gen.at[sgens[r["farm"]], "p_mw"] = (float(prof[t - 1][r["farm"]])
                                                    - spill[r["farm"]][str(t)])
        try:
            pp.runpp(net, numba=False)
        except Exception as exc:  # pandapower's LoadflowNotConverged and its other refusals
            rows.append({"hour": t, "converged": False, "error": type(exc).__name__})
            continue
        ac_p = np.concatenate([net.res_line.p_from_mw.to_numpy(),
                               net.res_trafo.p_hv_mw.to_numpy()])
        dc_p = np.array([flow[f"line{i + 1}"][str(t)] for i in range(n_lines)]
                        + [flow[f"trafo{i + 1}"][str(t)] for i in range(len(net.trafo))])
        loading = np.concatenate([net.res_line.loading_percent.to_numpy(),
                                  net.res_trafo.loading_percent.to_numpy()])
        slack_p = float(net.res_ext_grid.p_mw.sum())
        planned = sum(p[g][str(t)] for g in slack_plan)
        rows.append({
            "hour": t, "converged": True,
            "losses_mw": float(net.res_line.pl_mw.sum() + net.res_trafo.pl_mw.sum()),
            "slack_mw": slack_p, "slack_planned_mw": planned,
            "vm_min": float(net.res_bus.vm_pu.min()), "vm_max": float(net.res_bus.vm_pu.max()),
            "vm_min_bus": int(net.res_bus.vm_pu.idxmin()) + 1,
            "buses_below_095": [int(i) + 1 for i in net.res_bus.index[net.res_bus.vm_pu < 0.95]],
            "max_loading_pct": float(loading.max()), "overloaded": int((loading > 100).sum()),
            "max_flow_error_mw": float(np.abs(ac_p - dc_p).max()),
        })
    ok = [r for r in rows if r["converged"]]
    return {
        "hours": hours, "converged": len(ok),
        "losses_mw_mean": float(np.mean([r["losses_mw"] for r in ok])) if ok else None,
        "losses_pct_of_load": float(np.mean([r["losses_mw"] / float(prof[r["hour"] - 1]["load"])
                                             for r in ok]) * 100) if ok else None,
        "vm_min": min(r["vm_min"] for r in ok) if ok else None,
        "vm_max": max(r["vm_max"] for r in ok) if ok else None,
        "max_loading_pct": max(r["max_loading_pct"] for r in ok) if ok else None,
        "hours_with_overload": sum(1 for r in ok if r["overloaded"]),
        "bus_hours_below_095": sum(len(r["buses_below_095"]) for r in ok),
        "buses_below_095": sorted({b for r in ok for b in r["buses_below_095"]}),
        "max_flow_error_mw": max(r["max_flow_error_mw"] for r in ok) if ok else None,
        "per_hour": rows,
    }


def lp_plan_solution(hours: int, gap: float) -> tuple[dict[str, Any], Any]:
    """The week MILP's plan as nested dicts (u, p, flow, shed, spill) for the AC check."""
    sol, _, _ = _solve(EX / "uc_week.qgl", {"hours": str(hours)}, gap)
    v = sol.variables
    return {k: v[k] for k in ("u", "p", "flow", "shed", "spill")}, sol


# ---- learned agents (one dask task per agent and seed) -----------------------------------------
def _violation_pu(violations: list[tuple[str, float, str]]) -> tuple[float, float]:
    """(MW rows' slack in p.u. of 100 MVA, the other rows' slack in their own units)."""
    mw = sum(a for _, a, unit in violations if unit == "MW")
    other = sum(a for _, a, unit in violations if unit != "MW")
    return mw / BASE_MVA, other


def rollout(env: Any, agent: Any, episodes: list[int], stage_exprs: list[str]
            ) -> dict[str, Any]:
    """Greedy episodes; per episode the reward, stage cost, violation and the named
    expressions' sums (from the realised columns)."""
    flat = env.flat
    names = [e.name for e in flat.exprs]
    rows_of = {n: [i for i, m in enumerate(names) if m == n] for n in stage_exprs}
    out: list[dict[str, Any]] = []
    act_seconds = 0.0
    t0 = time.perf_counter()
    for ep in episodes:
        obs, _ = env.reset(options={"episode": ep})
        reward = cost = v_pu = v_other = 0.0
        done = False
        while not done:
            a0 = time.perf_counter()
            action = agent.act(obs)
            act_seconds += time.perf_counter() - a0
            obs, r, term, trunc, info = env.step(action)
            reward += float(r)
            cost += float(info["cost"])
            vp, vo = _violation_pu(info["violations"])
            v_pu += vp
            v_other += vo
            done = bool(term or trunc)
        ex = np.asarray(flat.E @ env.x).ravel() + (flat.e_const if flat.e_const is not None
                                                   else 0.0)
        rec = {"episode": str(env.episode_label), "reward": reward, "cost": cost,
               "violation": v_pu, "violation_other": v_other}
        e_idx = env.episode_label
        for n, idx in rows_of.items():
            rec[n] = float(sum(ex[i] for i in idx if flat.exprs[i].key[:len(e_idx)] == e_idx))
        out.append(rec)
    return {"episodes": out, "seconds": time.perf_counter() - t0, "act_seconds": act_seconds,
            "stage_solve_seconds": None}


def run_agent(task: dict[str, Any]) -> dict[str, Any]:
    """Train one agent on one policy with one seed (resuming from its checkpoint), then roll it
    out greedily; runs in a dask worker."""
    sys.path.insert(0, str(ROOT))
    from qgridlang.checker import check_file
    from qgridlang.policies.agents import make_agent, train
    from qgridlang.policies.command import reward_scale, spec_of
    from qgridlang.policies.env import ModelEnv

    model = Path(task["model"])
    checked = check_file(model, task["overrides"])
    spec = spec_of(checked, task["policy"])
    env = ModelEnv(checked.flat, spec)
    scale = reward_scale(env, task["seed"])
    options = {k: v for k, v in spec.options.items() if k not in ("qubits", "layers")} \
        if task["agent"] in ("dqn", "sac") else dict(spec.options)
    agent = make_agent(task["agent"], env.observation_space, env.action_space, options,
                       task["seed"])
    ckpt = Path(task["checkpoint"])
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    history = train(agent, env, task["episodes"], task["seed"], checkpoint=ckpt,
                    every=task.get("every", 5), reward_scale=scale)
    train_seconds = time.perf_counter() - t0
    evaluation = rollout(env, agent, list(range(len(spec.episode_keys)))[:task["eval_episodes"]],
                         task["stage_exprs"])
    return {"agent": task["agent"], "seed": task["seed"], "episodes": len(history),
            "penalty": env.penalty,
            "parameters": int(agent.parameter_count()), "reward_scale": scale,
            "train_seconds": train_seconds,
            "train_seconds_per_episode": float(np.mean([h["seconds"] for h in history])),
            "history": history, "evaluation": evaluation}


def learned_tasks(args: argparse.Namespace, agents: list[str], ckpt_dir: Path, digest: str
                  ) -> list[dict[str, Any]]:
    tasks = []
    # seed by seed, so that an interrupted run has every agent at its first seeds
    for seed in args.seeds:
        for agent in agents:
            da = agent in DA_AGENTS
            model = EX / ("uc_da.qgl" if da else "rt_vpp.qgl")
            overrides = {"day_to": str(args.days)} if da else {
                "day": str(args.rt_day), "n_scenarios": str(args.scenarios)}
            tasks.append({
                "agent": agent, "seed": seed, "episodes": args.episodes, "model": str(model),
                "policy": "commit" if da else "dispatch", "overrides": overrides,
                # the models, their data, the episodes (the exploration schedule spans them)
                # and the Env's settings: another configuration's checkpoint is never resumed
                "checkpoint": str(ckpt_dir / f"{agent}_s{seed}_e{args.episodes}_{digest}_"
                                  f"{_short(overrides)}.qglp"),
                "eval_episodes": args.days if da else args.scenarios,
                "stage_exprs": (["startup_cost", "operating_cost", "shedding_cost"] if da
                                else ["vpp_cost", "shed_cost", "overload_cost"]),
            })
    return tasks


def _short(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:8]


def run_learned(tasks: list[dict[str, Any]], workers: int, on_result: Any) -> None:
    if workers <= 1:
        for t in tasks:
            on_result(t, run_agent(t))
        return
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    client = Client(cluster)
    try:
        futures = {client.submit(run_agent, t, pure=False): t for t in tasks}
        for fut in as_completed(futures):
            on_result(futures[fut], fut.result())
    finally:  # never leave the cluster's processes behind
        client.close()
        cluster.close()


def part_rt_lp(args: argparse.Namespace) -> dict[str, Any]:
    """The real-time LP over the same scenarios: the bound for any dispatch policy."""
    sol, _, sec = _solve(EX / "rt_vpp.qgl", {"day": str(args.rt_day),
                                              "n_scenarios": str(args.scenarios)}, 1e-9)
    e = sol.expressions
    n = args.scenarios
    return {"status": str(sol.status), "expected_cost": sol.objective,
            "adjustment_mwh_per_episode": _sum(e["adjustment"]),
            "vpp_cost": _sum(e["vpp_cost"]) / n,
            "shed_cost": _sum(e["shed_cost"]) / n,
            "overload_cost": _sum(e["overload_cost"]) / n, "seconds": sec}


# ---- summary ----------------------------------------------------------------------------------
def _stat(xs: list[float]) -> dict[str, float]:
    a = np.asarray(xs, float)
    return {"mean": float(a.mean()), "min": float(a.min()), "max": float(a.max()),
            "n": int(a.size)}


def summarise(doc: dict[str, Any]) -> dict[str, Any]:
    parts = doc["parts"]
    table2: dict[str, Any] = {}
    for name in ("lp", "daily", "myopic", "rlp"):
        if name in parts:
            r = parts[name]["result"]
            table2[name] = {k: r.get(k) for k in ("total", "operational", "startup", "shedding",
                                                  "violation", "seconds")}
    for agent in DA_AGENTS:
        runs = [r["result"] for k, r in parts.items() if k.startswith(f"{agent}/")]
        if not runs:
            continue
        tot, op, su, vi, inf_s, act_s = [], [], [], [], [], []
        for r in runs:
            eps = r["evaluation"]["episodes"]
            su.append(sum(e["startup_cost"] for e in eps))
            op.append(sum(e["operating_cost"] + e["shedding_cost"] for e in eps))
            tot.append(sum(e["cost"] for e in eps))
            vi.append(sum(e["violation"] for e in eps))
            inf_s.append(r["evaluation"]["seconds"])
            act_s.append(r["evaluation"]["act_seconds"])
        table2[agent] = {"total": _stat(tot), "operational": _stat(op), "startup": _stat(su),
                         "violation": _stat(vi), "inference_seconds": _stat(inf_s),
                         "act_seconds": _stat(act_s),
                         "train_seconds": _stat([r["train_seconds"] for r in runs]),
                         "episodes": _stat([r["episodes"] for r in runs]),
                         "parameters": runs[0]["parameters"], "seeds": len(runs)}
    table3: dict[str, Any] = {}
    if "rt_lp" in parts:
        table3["lp"] = parts["rt_lp"]["result"]
    for agent in RT_AGENTS:
        runs = [r["result"] for k, r in parts.items() if k.startswith(f"{agent}/")]
        if not runs:
            continue
        rew, cost, vi, adj, shed = [], [], [], [], []
        for r in runs:
            eps = r["evaluation"]["episodes"]
            pen = r.get("penalty", PENALTY)
            # per scenario in $: the Env's own reward carries the objective's 1/|S| weight
            # (expected(...)), so the costs come from the model's unweighted expressions
            c = [e["vpp_cost"] + e["shed_cost"] + e["overload_cost"] for e in eps]
            cost.append(float(np.mean(c)))
            rew.append(float(np.mean([-ci - pen * (BASE_MVA * e["violation"]
                                                   + e["violation_other"])
                                      for ci, e in zip(c, eps, strict=True)])))
            # Table III's violation: the branch deviation B^D = sum [|P| - P̄]^+ (MW h, in
            # p.u. of 100 MVA; V^D is dropped with DC), the rows' slacks added (none so far)
            vi.append(float(np.mean([e["overload_cost"] / C_OVER / BASE_MVA + e["violation"]
                                      for e in eps])))
            shed.append(float(np.mean([e["shed_cost"] for e in eps])) / C_LS)
            adj.append(float(np.mean([e["vpp_cost"] for e in eps])) / C_VPP)
        table3[agent] = {"reward": _stat(rew), "cost": _stat(cost), "violation": _stat(vi),
                         "shed_mwh_per_episode": _stat(shed),
                         "adjustment_mwh_per_episode": _stat(adj),
                         "train_seconds": _stat([r["train_seconds"] for r in runs]),
                         "episodes": _stat([r["episodes"] for r in runs]),
                         "parameters": runs[0]["parameters"], "seeds": len(runs)}
    return {"table2": table2, "table3": table3, "ac": parts.get("ac", {}).get("result"),
            "in_progress": doc.get("in_progress", {}),
            "paper_table2": PAPER_II, "paper_table3": PAPER_III}


def in_progress(ckpt_dir: Path, parts: dict[str, Any]) -> dict[str, Any]:
    """Runs still training: the history their checkpoints hold (episodes done, last rewards)."""
    from qgridlang.policies.agents.base import read_agent_file

    out: dict[str, Any] = {}
    for f in sorted(ckpt_dir.glob("*.qglp")) if ckpt_dir.is_dir() else []:
        agent, seed = f.name.split("_")[0], f.name.split("_")[1][1:]
        if f"{agent}/{seed}" in parts:
            continue
        try:
            _, meta = read_agent_file(f)
        except Exception:  # a checkpoint being written at this moment
            continue
        h = meta["extra"].get("history", [])
        out[f"{agent}/{seed}"] = {"episodes": len(h), "history": h}
    return out


def _fmt(v: Any, f: str = ",.0f") -> str:
    if v is None:
        return "-"
    if isinstance(v, dict):
        return f"{v['mean']:{f}} [{v['min']:{f}}, {v['max']:{f}}]"
    return f"{v:{f}}"


def markdown(summary: dict[str, Any]) -> str:
    t2 = summary["table2"]
    lines = ["| | total $ | operational $ | start-up $ | violation p.u. | time s | paper "
             "(total / op. / start-up / violation / time) |", "|---" * 7 + "|"]
    for name, row in t2.items():
        p = PAPER_II.get(name)
        paper = (f"{p['total']} / {p['operational']} / {p['startup']} / {p['violation']} / "
                 f"{p['seconds']}" if p else "-")
        time_s = (f"{_fmt(row['inference_seconds'], '.2f')} (agent "
                  f"{_fmt(row['act_seconds'], '.3f')}; train "
                  f"{_fmt(row['train_seconds'], '.0f')})" if "inference_seconds" in row
                  else _fmt(row["seconds"], ".2f"))
        lines.append(f"| {name} | {_fmt(row['total'])} | {_fmt(row['operational'])} | "
                     f"{_fmt(row['startup'])} | {_fmt(row['violation'], '.4f')} | {time_s} | "
                     f"{paper} |")
    t3 = summary["table3"]
    if t3:
        lines += ["", "| | reward / episode | violation p.u. / episode | VPP adjustment MWh / "
                  "episode | paper (reward / violation / adjustment) |", "|---" * 5 + "|"]
        if "lp" in t3:
            r = t3["lp"]
            lines.append(f"| LP (bound) | {-r['expected_cost']:,.1f} | "
                         f"{r['overload_cost'] / C_OVER / BASE_MVA:.4f} | "
                         f"{r['adjustment_mwh_per_episode']:,.1f} | - |")
        for name in RT_AGENTS:
            if name in t3:
                r, p = t3[name], PAPER_III[name]
                lines.append(f"| {name} | {_fmt(r['reward'], ',.1f')} | "
                             f"{_fmt(r['violation'], '.4f')} | "
                             f"{_fmt(r['adjustment_mwh_per_episode'], ',.1f')} | "
                             f"{p['reward']} / {p['violation']} / {p['adjustment_mw']} MW |")
    return "\n".join(lines)


def plot_curves(doc: dict[str, Any], path: Path, partial: dict[str, Any]) -> None:
    """Reward and violation per episode, every seed (runs still training included)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 7))
    for col, pair in enumerate((DA_AGENTS, RT_AGENTS)):
        for agent, color in zip(pair, ("tab:blue", "tab:red"), strict=True):
            runs = [r["result"] for k, r in doc["parts"].items() if k.startswith(f"{agent}/")]
            runs += [r for k, r in partial.items() if k.startswith(f"{agent}/")]
            for i, r in enumerate(runs):
                h = r["history"]
                ep = [x["episode"] for x in h]
                kw = {"color": color, "alpha": 0.6, "lw": 0.8,
                      "label": f"{agent} ({len(runs)} seeds)" if i == 0 else None}
                axes[0, col].plot(ep, [x["reward"] for x in h], **kw)
                axes[1, col].plot(ep, [x["violation"] for x in h], **kw)
        axes[0, col].set_title("day-ahead commit (DQN vs Q-DQN)" if col == 0 else
                               "real-time dispatch (SAC vs Q-SAC)")
        axes[0, col].set_ylabel("episode reward ($)" if col == 0 else
                                "episode reward (the Env's: $ x 1/|S|)")
        axes[1, col].set_ylabel("episode violation (row units)")
        axes[1, col].set_xlabel("episode (epoch)")
        axes[0, col].legend()
        axes[1, col].set_yscale("symlog")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---- main -------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS)
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3, 4, 5])
    ap.add_argument("--episodes", type=int, default=300, help="training episodes (default 300)")
    ap.add_argument("--days", type=int, default=7, help="days of the week (default 7)")
    ap.add_argument("--scenarios", type=int, default=20,
                    help="real-time scenarios (episodes) of the day (default 20)")
    ap.add_argument("--rt-day", type=int, default=1, help="the real-time day (default 1)")
    ap.add_argument("--gap", type=float, default=1e-4, help="MILP relative gap (default 1e-4)")
    ap.add_argument("--workers", type=int, default=2, help="dask workers (default 2)")
    ap.add_argument("--quick", action="store_true",
                    help="a smoke run: 2 days, 1 seed, 3 episodes, 4 scenarios, own results file")
    ap.add_argument("--out-dir", type=Path, default=RESULTS)
    ap.add_argument("--summary-only", action="store_true",
                    help="print the tables (and plot) from the results file; writes no JSON")
    args = ap.parse_args(argv)
    if args.quick:
        args.days, args.seeds, args.episodes, args.scenarios = 2, [1], 3, 4
        args.workers = min(args.workers, 1)
    out_dir: Path = args.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / ("uc_vpp_quick.json" if args.quick else "uc_vpp.json")
    doc = _load(out)
    if not args.summary_only:
        run(args, doc, out)
    doc["in_progress"] = {k: {"episodes": v["episodes"]} for k, v in
                          in_progress(out_dir / "uc_vpp_ckpt", doc["parts"]).items()}
    summary = summarise(doc)
    doc["summary"] = summary
    if not args.summary_only:  # a summary beside a running benchmark must not race its saves
        _save(doc, out)
    if not args.quick and (doc["in_progress"] or any(k.split("/")[0] in DA_AGENTS + RT_AGENTS
                                                     for k in doc["parts"])):
        plot_curves(doc, out_dir / "uc_vpp_curves.png",
                    in_progress(out_dir / "uc_vpp_ckpt", doc["parts"]))
    print(markdown(summary))
    return 0


def run(args: argparse.Namespace, doc: dict[str, Any], out: Path) -> None:
    digest = _digest(EX / "uc_da.qgl", EX / "uc_week.qgl", EX / "rt_vpp.qgl", EX / "data")
    hours = 24 * args.days
    settings = {"days": args.days, "gap": args.gap, "digest": digest}

    def done(key: str, s: dict[str, Any]) -> bool:
        return key in doc["parts"] and doc["parts"][key]["settings"] == s

    def record(key: str, s: dict[str, Any], result: dict[str, Any]) -> None:
        doc["parts"][key] = {"settings": s, "result": result}
        _save(doc, out)
        print(f"done {key}", flush=True)

    pieces = {"lp": lambda: part_lp(hours, args.gap), "daily": lambda: part_daily(args.days,
                                                                                   args.gap),
              "myopic": lambda: part_myopic(args.days, args.gap), "rlp": lambda: part_rlp(hours)}
    for name, fn in pieces.items():
        if name in args.parts and not done(name, settings):
            record(name, settings, fn())
    if "ac" in args.parts and not done("ac", settings):
        plan, _ = lp_plan_solution(hours, args.gap)
        record("ac", settings, ac_check(plan, hours))
    if "lp" in doc["parts"] and not args.quick:
        # the real-time stage reads the week MILP's plan
        write_plan(doc["parts"]["lp"]["result"]["plan"], EX / "data" / "da_plan.csv")
    agents = [a for a in args.parts if a in DA_AGENTS + RT_AGENTS]
    rt_settings = {**settings, "rt_day": args.rt_day, "scenarios": args.scenarios}
    if any(a in RT_AGENTS for a in agents) and not done("rt_lp", rt_settings):
        record("rt_lp", rt_settings, part_rt_lp(args))
    ckpt_dir = out.parent / ("uc_vpp_quick_ckpt" if args.quick else "uc_vpp_ckpt")
    tasks = [t for t in learned_tasks(args, agents, ckpt_dir, digest)
             if not done(f"{t['agent']}/{t['seed']}", _task_settings(t, rt_settings))]

    def on_result(task: dict[str, Any], result: dict[str, Any]) -> None:
        record(f"{task['agent']}/{task['seed']}", _task_settings(task, rt_settings), result)

    if tasks:
        run_learned(tasks, args.workers, on_result)


def _task_settings(task: dict[str, Any], s: dict[str, Any]) -> dict[str, Any]:
    return {**s, "episodes": task["episodes"], "model": Path(task["model"]).name}


if __name__ == "__main__":
    sys.exit(main())
