"""The rural-microgrid paper's comparison (SPECS §D): MILP vs binary PSO vs SA / tabu / LNS vs
QAOA on 52 synthetic weekly instances of its 35-node microgrid.

Model: ``examples/microgrid/microgrid_qubo_day.qgl`` (every decision an integer count of
200 kW steps, 886 QUBO bits a day), so the MILP and the QUBO samplers solve the SAME discrete
model. A week is its seven days solved one by one (each day ends with the bank where it began,
so they are independent). Profiles: ``benchmarks/microgrid_data.py`` (seeded, SPECS §D1's
statistics).

Methods per week: ``milp`` (HiGHS, 1 % gap, 300 s: the ground truth), ``pso`` (the paper's
binary PSO, ``qgridlang/backends/pso.py``: 50 particles x 200 iterations, w 0.6, c1 = c2 = 1.4,
one run per seed), ``sa`` and ``tabu`` (dwave-samplers), the project's own QUBO pipelines
``tempering`` (10 s a day on four weeks, one a season), and ``qaoa`` (p up to 20, Nelder-Mead,
numpy statevector) on a
subproblem that fits the simulator: the peak hour of the week's first day, with diesel on/off and
output, grid import and demand response free and everything else (renewables, curtailment, the
bank) fixed at the MILP's plan - 15 qubits with the slack bits. The QAOA subproblem's own
optimum (HiGHS) gives its gap.

Run on dask (an embedded LocalCluster, ``--workers``, or ``--scheduler ADDRESS``); each
(week, method) task's rows are appended to the JSONL as the task completes, and a rerun skips
what is there (resumable). ``--summary-only`` rebuilds the markdown table and the plots::

    python benchmarks/microgrid.py --workers 1                     # the 52 weeks
    python benchmarks/microgrid.py --quick --out /tmp/mg.jsonl      # 2 weeks x 2 days
    python benchmarks/microgrid.py --instances 1 30 --methods milp pso
    python benchmarks/microgrid.py --summary-only
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import microgrid_data as data  # noqa: E402
import microgrid_metrics as metrics  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "examples" / "microgrid" / "microgrid_qubo_day.qgl"
RESULTS = ROOT / "benchmarks" / "results" / "microgrid.jsonl"
METHODS = ("milp", "pso", "sa", "tabu", "tempering", "qaoa")
PIPELINES = ("tempering",)  # the project's own QUBO pipeline
STEP = data.STEP_KW
BANK_STEPS, DIESEL_STEPS, IMPORT_STEPS = 15, 5, 5  # as in microgrid_qubo_day.qgl
RESERVE = 0.05
VARS = ("ch", "dis", "gen", "imp", "shed", "spill", "on")


# ---- one day ------------------------------------------------------------------------------

def day_model(week: data.Week, d: int, folder: Path) -> Any:
    """The checked day model of ``week``'s day ``d`` (its data written under ``folder``)."""
    from qgridlang.checker import check_file

    (folder / "data").mkdir(parents=True, exist_ok=True)
    week.write_day(d, folder / "data" / "qubo_day.csv")
    model = folder / "microgrid_qubo_day.qgl"
    shutil.copyfile(MODEL, model)
    return check_file(str(model))


def plan_of(sol: Any) -> dict[str, list[float]]:
    """The solution's hourly decisions in kW (``on`` as 0/1)."""
    out = {}
    for name in VARS:
        values = sol.variables[name]
        row = [float(values[str(h)]) for h in range(1, 25)]
        out[name] = row if name == "on" else [STEP * v for v in row]
    return out


def options_for(method: str, seed: int | None, cfg: dict[str, Any]) -> Any:
    from qgridlang.registry import Options

    if method == "milp":
        return Options(mip_gap=0.01, time_limit=300.0)
    if method == "pso":
        return Options(seed=seed)  # the paper's settings are the backend's defaults
    if method == "sa":
        return Options(seed=seed, reads=cfg["sa_reads"])
    if method == "tabu":
        return Options(seed=seed, time_limit=cfg["tabu_seconds"])
    if method in PIPELINES:
        return Options(seed=seed, time_limit=cfg["pipeline_seconds"])
    raise ValueError(method)


def solve_day(checked: Any, method: str, seed: int | None, cfg: dict[str, Any]) -> dict[str, Any]:
    from qgridlang.dispatcher import solve_model

    backend = "highs" if method == "milp" else method
    t0 = time.perf_counter()
    sol = solve_model(checked, backend, options_for(method, seed, cfg))
    seconds = time.perf_counter() - t0
    row: dict[str, Any] = {
        "status": str(sol.status.value if hasattr(sol.status, "value") else sol.status),
        "objective": sol.objective, "feasible": bool(sol.feasible),
        "violated": len(sol.violations), "rows": int(len(checked.flat.rows)),
        "seconds": seconds}
    if sol.x is not None and sol.objective is not None:
        row["plan"] = plan_of(sol)
    if method == "milp":
        row["bound"] = sol.info.get("mip_dual_bound", sol.info.get("dual_bound"))
        row["mip_gap"] = sol.info.get("mip_gap")
    summary = sol.info.get("sampleset")
    if isinstance(summary, dict):
        row["feasible_rate"] = summary.get("feasible_rate")
    for key in ("repaired", "repair"):
        if key in sol.info:
            row["repaired"] = sol.info[key]
    return row


# ---- QAOA on a subproblem -------------------------------------------------------------------

QAOA_MODEL = """model qaoa_hour "Hour {hour} of week {week}, day 1: diesel, import and DR free"
param step: kW = 200
param hours: h = 1
param residual: kW = {residual:.0f}
param price: $/kWh = {price:.2f}
param fuel: $/kWh = 0.32
param no_load: $/h = 20
param dr_cost: $/kWh = 0.60
var on binary
var gen integer in 0 .. 5
var imp integer in 0 .. 5
var shed integer in 0 .. 2
constraint balance: step * (gen + imp + shed) == residual
constraint diesel_low: gen >= on
constraint diesel_high: gen <= 5 * on
{reserve}
minimize cost: (price * step * imp + fuel * step * gen + dr_cost * step * shed) * hours
               + no_load * on * hours
quantum {{
  encode gen as binary
  encode imp as binary
  encode shed as binary
  penalty = auto
}}
"""


def qaoa_subproblem(week: data.Week, milp_plan: dict[str, list[float]]) -> tuple[str, dict]:
    """The QAOA subproblem's model text: day 1's hour with the largest residual load once the
    MILP's renewables, curtailment and bank are fixed."""
    day = week.day(0)
    residual = (day["load"] - (day["renewable"] - np.asarray(milp_plan["spill"]))
                - np.asarray(milp_plan["dis"]) + np.asarray(milp_plan["ch"]))
    h = int(np.argmax(residual))
    # the reserve row: the bank's unused power is fixed; diesel headroom and the tie cover the
    # rest (dropped when the bank alone covers it: the row would be slack for every plan)
    need = RESERVE * day["load"][h] - STEP * (BANK_STEPS - milp_plan["dis"][h] / STEP)
    reserve = "" if need <= 0 else (
        f"constraint reserve: step * (5 * on - gen + 5 - imp) >= {need:.1f} kW")
    text = QAOA_MODEL.format(hour=h + 1, week=week.week, residual=residual[h],
                             price=day["price"][h], reserve=reserve)
    return text, {"hour": h + 1, "residual_kw": float(residual[h])}


def run_qaoa(week: data.Week, folder: Path, cfg: dict[str, Any]) -> list[dict[str, Any]]:
    from qgridlang.checker import check_text
    from qgridlang.dispatcher import compile_model, solve_model
    from qgridlang.registry import Options

    milp = solve_day(day_model(week, 0, folder), "milp", None, cfg)
    text, where = qaoa_subproblem(week, milp["plan"])
    checked = check_text(text)
    qubits = int(compile_model(checked, "qubo").report["n_bits"])
    t0 = time.perf_counter()
    best = solve_model(checked, "highs")
    t_milp = time.perf_counter() - t0
    rows = []
    for p in cfg["qaoa_p"]:
        t0 = time.perf_counter()
        sol = solve_model(checked, "qaoa", Options(seed=1, extra={
            "p": p, "optimizer": "nelder-mead", "engine": "numpy",
            "maxiter": cfg["qaoa_maxiter"]}))
        seconds = time.perf_counter() - t0
        summary = sol.info.get("sampleset", {})
        rows.append({"method": "qaoa", "p": p, **where, "qubits": qubits,
                     "objective": sol.objective, "feasible": bool(sol.feasible),
                     "optimum": best.objective, "milp_seconds": t_milp, "seconds": seconds,
                     "feasible_rate": summary.get("feasible_rate"),
                     "optimum_probability": sol.info.get("optimum_probability"),
                     "evaluations": sol.info.get("evaluations")})
    return rows


def subproblem_baseline(week: data.Week, milp_row: dict[str, Any], backend: str,
                        shots: int = 1024) -> dict[str, Any]:
    """The QAOA subproblem solved by ``random`` (uniform bit strings, QAOA's shot count: what
    its samples have to beat) or ``pso`` (the paper's settings), seed 1, timed."""
    from qgridlang.checker import check_text
    from qgridlang.dispatcher import solve_model
    from qgridlang.registry import Options

    text, _ = qaoa_subproblem(week, milp_row["day_results"][0]["plan"])
    checked = check_text(text)
    t0 = time.perf_counter()
    options = Options(seed=1, reads=shots) if backend == "random" else Options(seed=1)
    sol = solve_model(checked, backend, options)
    seconds = time.perf_counter() - t0
    summary = sol.info.get("sampleset", {})
    return {"objective": sol.objective, "feasible": bool(sol.feasible),
            "feasible_rate": summary.get("feasible_rate"), "seconds": seconds}


# ---- one task: a week and a method ----------------------------------------------------------

def run_task(cfg: dict[str, Any], week_no: int, method: str) -> list[dict[str, Any]]:
    """Every seed of ``method`` on week ``week_no``: one JSON row per seed (QAOA: per depth)."""
    week = data.year(cfg["data_seed"])[week_no - 1]
    base = {"week": week_no, "season": week.season, "method": method, "days": cfg["days"],
            "data_seed": cfg["data_seed"]}
    with tempfile.TemporaryDirectory(prefix=f"mg{week_no}_") as tmp:
        if method == "qaoa":
            return [{**base, **r} for r in run_qaoa(week, Path(tmp), cfg)]
        checked = [day_model(week, d, Path(tmp) / f"d{d}") for d in range(cfg["days"])]
        seeds: list[int | None] = [None] if method == "milp" else list(cfg["seeds"][method])
        out = []
        for seed in seeds:
            days = [solve_day(c, method, seed, cfg) for c in checked]
            out.append({**base, "seed": seed, "day_results": days})
        return out


def worker_task(cfg: dict[str, Any], week_no: int, method: str) -> list[dict[str, Any]]:
    """The dask entry point: a worker (another process, maybe another machine with this
    checkout at ``cfg["bench_dir"]``) imports this module by path, then runs the task."""
    import importlib
    import sys as _sys

    if cfg["bench_dir"] not in _sys.path:
        _sys.path.insert(0, cfg["bench_dir"])
    return importlib.import_module("microgrid").run_task(cfg, week_no, method)


# ---- metrics of a week ----------------------------------------------------------------------

def week_metrics(row: dict[str, Any], milp: dict[str, Any] | None, week: data.Week
                 ) -> dict[str, Any]:
    """The paper's metrics of one (week, method, seed) row against the week's MILP row."""
    days = row["day_results"]
    out: dict[str, Any] = {
        "feasible": all(d["feasible"] for d in days),
        "feasible_days": sum(d["feasible"] for d in days),
        "cost": sum(d["objective"] for d in days) if all(
            d["objective"] is not None for d in days) else None,
        "seconds": sum(d["seconds"] for d in days),
        "p_viol": metrics.violation_probability(sum(d["violated"] for d in days),
                                                sum(d["rows"] for d in days))}
    if all("plan" in d for d in days):
        ss, rel, load_sum = [], [], []
        for k, d in enumerate(days):
            prof = week.day(k)
            plan = d["plan"]
            avail = STEP * (DIESEL_STEPS * np.asarray(plan["on"]) + BANK_STEPS + IMPORT_STEPS) \
                - np.asarray(plan["gen"]) - np.asarray(plan["dis"]) - np.asarray(plan["imp"])
            ss.append(metrics.self_sufficiency(plan, prof["renewable"], prof["load"]))
            rel.append(metrics.reliability(plan, prof["renewable"], prof["load"],
                                           RESERVE * prof["load"], avail))
            load_sum.append(prof["load"].sum())
        w = np.asarray(load_sum) / sum(load_sum)  # the week's ratios: days weighted by energy
        out["self_sufficiency"] = float(np.dot(w, ss))
        out["reliability"] = float(np.dot(w, rel))
    if milp is not None and milp is not row:
        mdays = milp["day_results"]
        if out["cost"] is not None and all(d["objective"] is not None for d in mdays):
            c_milp = sum(d["objective"] for d in mdays)
            out["gap_pct"] = metrics.gap(out["cost"], c_milp)
            out["improvement_pct"] = metrics.relative_improvement(c_milp, out["cost"])
        # in $, not %: a sunny day's MILP cost can be a few dollars
        out["day_excess"] = [a["objective"] - b["objective"]
                             for a, b in zip(days, mdays, strict=True)
                             if a["feasible"] and b["objective"] is not None]
        if all("plan" in d for d in days + mdays):
            out["variance_mw2"] = sum(metrics.qc_variance(a["plan"], b["plan"])
                                      for a, b in zip(days, mdays, strict=True))
        out["speedup"] = metrics.speedup(sum(d["seconds"] for d in mdays), out["seconds"])
    return out


# ---- the run --------------------------------------------------------------------------------

def load_rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut by a kill: that task reruns
                continue
    return rows


def done_keys(rows: list[dict[str, Any]]) -> set[tuple[int, str, int]]:
    return {(r["week"], r["method"], r["days"]) for r in rows}


def registered(backend: str) -> bool:
    from qgridlang.registry import BACKENDS, _load

    _load()
    return backend in BACKENDS


def config(args: argparse.Namespace) -> dict[str, Any]:
    seeds = {"pso": list(range(1, args.pso_seeds + 1)), "sa": list(range(1, args.seeds + 1)),
             "tabu": list(range(1, args.seeds + 1))}
    seeds.update({p: list(range(1, args.pipeline_seeds + 1)) for p in PIPELINES})
    return {"days": args.days, "data_seed": args.data_seed, "seeds": seeds,
            "sa_reads": args.sa_reads, "tabu_seconds": args.tabu_seconds,
            "pipeline_seconds": args.pipeline_seconds, "qaoa_p": args.qaoa_p,
            "qaoa_maxiter": args.qaoa_maxiter, "bench_dir": str(Path(__file__).resolve().parent)}


def tasks_to_run(args: argparse.Namespace, have: set[tuple[int, str, int]]
                 ) -> tuple[list[tuple[int, str]], list[str]]:
    notes = []
    methods = list(args.methods)
    for name in PIPELINES:
        if name in methods and not registered(name):
            methods.remove(name)
            notes.append(f"{name}: not registered (qgridlang.registry does not know it): "
                         "skipped")
    tasks = []
    for w in args.instances:
        for m in methods:
            if (m == "qaoa" and w not in args.qaoa_weeks) or (
                    m in PIPELINES and w not in args.pipeline_weeks):
                continue
            if (w, m, args.days) not in have:
                tasks.append((w, m))
    # the cheap exact rows first: every later row is measured against them
    # (QAOA next: few and long; then week by week, so that a run cut short has every method
    # on the same weeks)
    order = {m: k for k, m in enumerate(METHODS)}
    tasks.sort(key=lambda t: (t[1] != "milp", t[1] != "qaoa", t[0], order[t[1]]))
    return tasks, notes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--instances", nargs="+", type=int, default=list(range(1, 53)),
                    help="weeks 1..52 to run (default: all 52)")
    ap.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS),
                    help="methods (default: all)")
    ap.add_argument("--days", type=int, default=7, help="days of each week (default 7)")
    ap.add_argument("--pso-seeds", type=int, default=10, help="PSO seeds (default 10)")
    ap.add_argument("--seeds", type=int, default=3, help="SA / tabu seeds (default 3)")
    ap.add_argument("--sa-reads", type=int, default=100, help="SA reads (default 100)")
    ap.add_argument("--tabu-seconds", type=float, default=1.0,
                    help="tabu seconds per day (default 1)")
    ap.add_argument("--pipeline-seconds", type=float, default=10.0,
                    help="tempering seconds per day (default 10)")
    ap.add_argument("--pipeline-seeds", type=int, default=1,
                    help="tempering seeds (default 1)")
    ap.add_argument("--pipeline-weeks", nargs="+", type=int, default=[5, 18, 31, 44],
                    help="weeks the tempering pipeline runs on (default 5 18 31 44)")
    ap.add_argument("--qaoa-weeks", nargs="+", type=int, default=[5, 18, 31, 44],
                    help="weeks whose subproblem QAOA solves (default 5 18 31 44: one a season)")
    ap.add_argument("--qaoa-p", nargs="+", type=int, default=[1, 5, 20],
                    help="QAOA depths (default 1 5 20)")
    ap.add_argument("--qaoa-maxiter", type=int, default=50,
                    help="Nelder-Mead iterations per depth (default 50)")
    ap.add_argument("--data-seed", type=int, default=2024, help="profile seed (default 2024)")
    ap.add_argument("--workers", type=int, default=None,
                    help="embedded dask workers (default 2; not with --scheduler)")
    ap.add_argument("--scheduler", default=None,
                    help="address of an existing dask scheduler (default: embedded cluster)")
    ap.add_argument("--out", type=Path, default=RESULTS, help=f"JSONL (default {RESULTS})")
    ap.add_argument("--quick", action="store_true",
                    help="weeks 1 and 31, 2 days, 2 PSO seeds, 1 SA/tabu seed, QAOA p=1 "
                         "on week 1 (default off)")
    ap.add_argument("--summary-only", action="store_true",
                    help="only rebuild the table and plots from the JSONL (default off)")
    args = ap.parse_args(argv)
    if args.quick:
        args.instances = [w for w in args.instances if w in (1, 31)] or args.instances[:2]
        args.days, args.pso_seeds, args.seeds = min(args.days, 2), 2, 1
        args.sa_reads, args.tabu_seconds, args.pipeline_seconds = 20, 0.3, 2.0
        args.pipeline_weeks = args.instances[:1]
        args.qaoa_weeks, args.qaoa_p, args.qaoa_maxiter = args.instances[:1], [1], 20
    if any(not 1 <= w <= 52 for w in args.instances) or not 1 <= args.days <= 7:
        ap.error("--instances are weeks 1..52 and --days 1..7")
    if args.workers is None and args.scheduler is None:
        args.workers = 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not args.summary_only:
        have = done_keys(load_rows(args.out))
        tasks, notes = tasks_to_run(args, have)
        for note in notes:
            print(note, file=sys.stderr)
        print(f"{len(tasks)} tasks to run ({len(have)} done in {args.out})", file=sys.stderr)
        if tasks:
            execute(args, tasks)
    rows = load_rows(args.out)
    stem = args.out.with_suffix("")
    Path(f"{stem}.md").write_text(summary_markdown(rows, args.data_seed), encoding="utf-8")
    plots(rows, args.data_seed, args.out.parent, args.out.stem)
    print(f"wrote {args.out}, {stem}.md and {args.out.stem}_*.png", file=sys.stderr)
    return 0


def execute(args: argparse.Namespace, tasks: list[tuple[int, str]]) -> None:
    from qgridlang.datasets import cluster

    cfg = config(args)
    start = time.perf_counter()

    def save(rows: list[dict[str, Any]]) -> None:
        with args.out.open("a+", encoding="utf-8") as fh:  # one task's rows, then flushed
            if fh.tell() > 0:
                fh.seek(fh.tell() - 1)
                if fh.read(1) != "\n":  # a line cut by a kill stays a line of its own
                    fh.write("\n")
            for r in rows:
                fh.write(json.dumps(r) + "\n")

    def progress(done: int, total: int) -> None:
        print(f"[{time.perf_counter() - start:7.1f} s] {done}/{total} tasks", file=sys.stderr,
              flush=True)

    with cluster.client(args.workers, args.scheduler) as c:
        cluster.run(c, worker_task, cfg, tasks, save, progress)


# ---- summary --------------------------------------------------------------------------------

def evaluate(rows: list[dict[str, Any]], data_seed: int) -> list[dict[str, Any]]:
    """One metrics row per (week, method, seed) with a MILP reference where there is one."""
    weeks = data.year(data_seed)
    milp = {(r["week"], r["days"]): r for r in rows if r["method"] == "milp"}
    out = []
    for r in rows:
        if r["method"] == "qaoa":
            continue
        m = week_metrics(r, milp.get((r["week"], r["days"])), weeks[r["week"] - 1])
        out.append({"week": r["week"], "season": r["season"], "method": r["method"],
                    "seed": r.get("seed"), "days": r["days"], **m})
    return out


def _fmt(x: float | None, spec: str = ".2f") -> str:
    return "–" if x is None or (isinstance(x, float) and not np.isfinite(x)) else format(x, spec)


def summary_markdown(rows: list[dict[str, Any]], data_seed: int) -> str:
    ev = evaluate(rows, data_seed)
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in ev:
        by[e["method"]].append(e)
    weeks_done = sorted({e["week"] for e in by.get("milp", [])})
    lines = [
        "# Rural microgrid comparison (SPECS §D)", "",
        f"Weeks with a MILP reference: {len(weeks_done)} of 52"
        f" ({', '.join(map(str, weeks_done)) if len(weeks_done) < 52 else 'all'}); "
        f"days per week: {sorted({e['days'] for e in ev})}.", "",
        "Per method, over its (week, seed) runs: the weekly cost (mean over feasible weeks), "
        "the gap to the MILP's cost of the same week, the share of feasible weeks and days, "
        "the paper's metrics (SPECS §D3) and the measured time per week.", "",
        "| method | runs (weeks × seeds) | feasible weeks | feasible days | mean cost $ "
        "(feasible weeks) | MILP $ (same weeks) | gap to MILP % (mean / best / worst) | "
        "$ above MILP per feasible day (mean / median) | ΔC % vs MILP | self-sufficiency | "
        "reliability | P_viol | σ² vs MILP (MW²) | time / week s | speed-up vs MILP |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    milp_cost = {e["week"]: e["cost"] for e in by.get("milp", [])}
    for method in METHODS:
        es = by.get(method, [])
        if not es:
            continue
        feas = [e for e in es if e["feasible"]]
        gaps = [e["gap_pct"] for e in feas if "gap_pct" in e]
        imp = [e["improvement_pct"] for e in feas if "improvement_pct" in e]
        var = [e["variance_mw2"] for e in es if "variance_mw2" in e]
        spd = [e["speedup"] for e in es if "speedup" in e]
        ss = [e["self_sufficiency"] for e in feas if "self_sufficiency" in e]
        rel = [e["reliability"] for e in feas if "reliability" in e]
        fd = sum(e["feasible_days"] for e in es)
        nd = sum(e["days"] for e in es)

        def mean(v: list[float]) -> float | None:
            return float(np.mean(v)) if v else None

        gap_txt = (f"{np.mean(gaps):.1f} / {min(gaps):.1f} / {max(gaps):.1f}" if gaps
                   else "–")
        dg = [g for e in es for g in e.get("day_excess", [])]
        day_txt = f"{np.mean(dg):,.0f} / {np.median(dg):,.0f}" if dg else "–"
        lines.append(
            f"| {method} | {len(es)} | {len(feas)}/{len(es)} | {fd}/{nd} | "
            f"{_fmt(mean([e['cost'] for e in feas]), ',.0f')} | "
            f"{_fmt(mean([milp_cost[e['week']] for e in feas if e['week'] in milp_cost]), ',.0f')}"
            f" | {gap_txt} | "
            f"{day_txt if method != 'milp' else '–'} | "
            f"{_fmt(mean(imp), '.1f')} | {_fmt(mean(ss), '.3f')} | {_fmt(mean(rel), '.4f')} | "
            f"{_fmt(mean([e['p_viol'] for e in es]), '.4f')} | {_fmt(mean(var), '.1f')} | "
            f"{_fmt(mean([e['seconds'] for e in es]), '.1f')} | {_fmt(mean(spd), '.3f')} |")
    q = [r for r in rows if r["method"] == "qaoa"]
    if q:
        lines += ["", "QAOA on the subproblem (the peak hour of day 1; diesel, import and "
                  "demand response free, the rest fixed at the MILP plan; Nelder–Mead, "
                  "numpy statevector, seed 1):", "",
                  "| week | hour | qubits | p | objective $ | optimum $ | gap % | feasible "
                  "samples | P(optimum) | evaluations | time s | HiGHS s | speed-up |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        weeks = data.year(data_seed)
        milps = {(r["week"], r["days"]): r for r in rows if r["method"] == "milp"}
        for r in sorted(q, key=lambda r: (r["week"], r["p"])):
            if r["p"] == min(x["p"] for x in q if x["week"] == r["week"]) and \
                    (r["week"], r["days"]) in milps:
                for name, label in (("random", "random, 1024 shots"), ("pso", "PSO, 50 x 200")):
                    b = subproblem_baseline(weeks[r["week"] - 1], milps[(r["week"], r["days"])],
                                            name)
                    bg = metrics.gap(b["objective"], r["optimum"]) if b["feasible"] else None
                    lines.append(
                        f"| {r['week']} | {r['hour']} | {r['qubits']} | {label} | "
                        f"{_fmt(b['objective'])} | {_fmt(r['optimum'])} | {_fmt(bg, '.1f')} | "
                        f"{_fmt(b['feasible_rate'], '.3f')} | – | – | {b['seconds']:.2f} | "
                        f"{r['milp_seconds']:.3f} | "
                        f"{metrics.speedup(r['milp_seconds'], b['seconds']):.4f} |")
            g = (metrics.gap(r["objective"], r["optimum"])
                 if r["objective"] is not None and r["feasible"] else None)
            lines.append(
                f"| {r['week']} | {r['hour']} | {r['qubits']} | {r['p']} | "
                f"{_fmt(r['objective'])} | {_fmt(r['optimum'])} | {_fmt(g, '.1f')} | "
                f"{_fmt(r['feasible_rate'], '.3f')} | {_fmt(r['optimum_probability'], '.4f')} "
                f"| {r['evaluations']} | {r['seconds']:.1f} | {r['milp_seconds']:.3f} | "
                f"{metrics.speedup(r['milp_seconds'], r['seconds']):.4f} |")
    return "\n".join(lines) + "\n"


def plots(rows: list[dict[str, Any]], data_seed: int, folder: Path, stem: str) -> None:
    """Cost per method over the weeks, the gap distributions, one week's MILP schedule."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ev = evaluate(rows, data_seed)
    if not ev:
        return
    fig, ax = plt.subplots(figsize=(9, 4))
    for method in METHODS:
        es = [e for e in ev if e["method"] == method and e["feasible"] and e["cost"] is not None]
        if not es:
            continue
        weeks = sorted({e["week"] for e in es})
        best = [min(e["cost"] for e in es if e["week"] == w) for w in weeks]
        ax.plot(weeks, best, "o-" if len(weeks) < 20 else "-", label=f"{method} (best seed)",
                ms=3)
    ax.set_xlabel("week")
    ax.set_ylabel("weekly cost ($), feasible weeks")
    ax.set_title("Rural microgrid: weekly cost per method")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(folder / f"{stem}_cost.png", dpi=110)
    plt.close(fig)

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4))
    names, gaps = [], []
    for method in METHODS:
        g = [e["gap_pct"] for e in ev if e["method"] == method and "gap_pct" in e
             and e["feasible"] and method != "milp"]
        if g:
            names.append(method)
            gaps.append(g)
    if gaps:
        ax.boxplot(gaps, tick_labels=names)
    ax.set_ylabel("gap to the MILP's weekly cost (%)")
    ax.set_title("Gap over feasible (week, seed) runs")
    # a method without one feasible week has no gap: its violations show where it stands
    names = [m for m in METHODS if any(e["method"] == m for e in ev)]
    bx.boxplot([[e["p_viol"] for e in ev if e["method"] == m] for m in names],
               tick_labels=names)
    bx.set_ylabel("violated / all constraints (P_viol)")
    bx.set_title("Constraint-violation probability, every run")
    fig.tight_layout()
    fig.savefig(folder / f"{stem}_gaps.png", dpi=110)
    plt.close(fig)

    milp = sorted((r for r in rows if r["method"] == "milp"), key=lambda r: r["week"])
    if milp and all("plan" in d for d in milp[0]["day_results"]):
        r = milp[0]
        week = data.year(data_seed)[r["week"] - 1]
        cat = {k: np.concatenate([d["plan"][k] for d in r["day_results"]]) for k in VARS}
        hours = np.arange(len(cat["ch"]))
        prof = [week.day(k) for k in range(len(r["day_results"]))]
        ren = np.concatenate([p["renewable"] for p in prof]) - cat["spill"]
        load = np.concatenate([p["load"] for p in prof])
        fig, ax = plt.subplots(figsize=(10, 4))
        ax.stackplot(hours, ren / 1e3, cat["gen"] / 1e3, cat["imp"] / 1e3, cat["dis"] / 1e3,
                     cat["shed"] / 1e3, labels=["renewables used", "diesel", "import",
                                                "bank discharge", "demand response"],
                     step="post", alpha=0.8)
        ax.step(hours, (load + cat["ch"]) / 1e3, "k", where="post", lw=1,
                label="load + bank charge")
        ax.set_xlabel("hour of the week")
        ax.set_ylabel("MW")
        ax.set_title(f"MILP schedule, week {r['week']} ({r['season']})")
        ax.legend(fontsize=7, loc="upper right", ncol=2)
        fig.tight_layout()
        fig.savefig(folder / f"{stem}_schedule.png", dpi=110)
        plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
