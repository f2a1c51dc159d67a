"""Convex MIQP: ``qglc solve`` on the RTS-24 unit commitment, highs against SCIP and the PWL recipe.

Rows, each a real process timed end to end (start-up, check, lowering, solve, output):

- ``highs``: ``qglc solve uc.qgl --backend highs`` (the piecewise-linear start with perspective
  tangents and exact re-dispatch, cut rounds only if that leaves the gap open);
- ``scip``: ``qglc solve uc.qgl --backend scip`` (SCIP solves the MIQP itself; its default gap 0);
- ``scip_gap``: the same with ``--mip-gap 2e-4``, the gap highs certifies;
- ``pwl``: the recipe issue 8 measured by hand, in a process of this script (``--pwl-row``):
  the fuel cost as an 8-segment piecewise-linear (secant, incremental) function on each unit's
  range when committed, solved by HiGHS as a MILP, its commitment re-dispatched on the exact QP.
  Its MILP over-estimates the cost, so its bound is no lower bound; the row reports a certified
  one, the bound less the largest over-estimate of every term.

Then the ratios of the highs row to the others. Rows are saved to ``--out`` as each completes,
and rows already there are skipped unless ``--force`` (a run on this shared machine takes
minutes)::

    python benchmarks/miqp.py                   # all rows, benchmarks/results/miqp.json
    python benchmarks/miqp.py --force --rows highs
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "examples" / "unit_commitment" / "uc.qgl"
OUT = ROOT / "benchmarks" / "results" / "miqp.json"
SEGMENTS = 8
GAP = 2e-4  # the gap highs certifies (twice HiGHS's default MIP gap)
ROWS = ("highs", "scip", "scip_gap", "pwl")


def qglc(*args: str) -> list[str]:
    return [sys.executable, "-m", "qgridlang.cli", "solve", str(MODEL), "--json", *args]


COMMANDS: dict[str, list[str]] = {
    "highs": qglc("--backend", "highs"),
    "scip": qglc("--backend", "scip"),
    "scip_gap": qglc("--backend", "scip", "--mip-gap", str(GAP)),
    "pwl": [sys.executable, str(Path(__file__).resolve()), "--pwl-row"],
}


def run_row(name: str, timeout: float) -> dict[str, Any]:
    """One row: its process timed wall clock, the document it printed summarised."""
    load = os.getloadavg()[0]
    started = time.perf_counter()
    out = subprocess.run(COMMANDS[name], capture_output=True, text=True, timeout=timeout,
                         cwd=ROOT)
    wall = time.perf_counter() - started
    if out.returncode not in (0, 1):
        raise SystemExit(f"{name}: exit {out.returncode}\n{out.stderr[-2000:]}")
    doc = json.loads(out.stdout)
    info = doc.get("info", {})
    row = {"command": " ".join(COMMANDS[name][1:]).replace(str(ROOT) + "/", ""),
           "status": doc["status"], "objective": doc["objective"], "wall_s": wall,
           "solve_s": info.get("solve_seconds"), "timings": doc.get("timings"),
           "load_1min_before": load,
           "when": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())}
    if name == "highs":
        row.update({k: info.get(k) for k in (
            "certified_gap", "objective_lower_bound", "pwl_segments", "pwl_bound",
            "pwl_objective", "redispatch_objective", "pwl_seconds", "cut_rounds",
            "outer_approximation_rounds", "mip_nodes")})
        row["bound"] = info.get("objective_lower_bound")
    elif name.startswith("scip"):
        bound = info.get("dual_bound")
        row.update({"bound": bound, "nodes": info.get("nodes"), "certified_gap": (
            (doc["objective"] - bound) / abs(doc["objective"])
            if bound is not None and doc["objective"] else None)})
    else:
        row.update({k: info[k] for k in ("bound", "certified_gap", "pwl_milp_objective",
                                         "pwl_milp_bound", "milp_s", "redispatch_s",
                                         "compile_s", "mip_nodes")})
    return row


def pwl_row() -> dict[str, Any]:
    """The ``pwl`` row's process: check + lower with qglc, then the 8-segment secant MILP in
    HiGHS and the exact re-dispatch. Prints a document shaped like ``qglc solve --json``."""
    from qgridlang import compile as qg_compile
    from qgridlang.backends import highs
    from qgridlang.registry import Options

    t0 = time.perf_counter()
    milp = qg_compile(MODEL, target="milp").artifact
    t1 = time.perf_counter()
    model, over = secant_milp(milp, SEGMENTS)
    res = highs._run(highs._highs(Options()), model)
    t2 = time.perf_counter()
    if res.x is None:
        return {"status": res.status.value, "objective": None, "info": {}}
    x = highs._polish(milp, res.x[: milp.n], Options())
    t3 = time.perf_counter()
    exact = float(milp.c @ x + 0.5 * x @ (milp.H @ x) + milp.const)
    milp_bound = float(res.bound) if res.bound is not None else float("nan")
    bound = milp_bound - over  # the secant lies at most `over` above the cost in total
    return {"status": res.status.value, "objective": exact, "info": {
        "solve_seconds": t3 - t1, "compile_s": t1 - t0, "milp_s": t2 - t1,
        "redispatch_s": t3 - t2, "pwl_milp_objective": float(np.asarray(model.lp_.col_cost_) @ res.x
                                                               + model.lp_.offset_),
        "pwl_milp_bound": milp_bound, "bound": bound,
        "certified_gap": (exact - bound) / abs(exact), "mip_nodes": res.info.get("mip_nodes")}}


def secant_milp(milp: Any, segments: int) -> tuple[Any, float]:
    """The MILP with each separable ``h/2 p^2`` replaced by its secant interpolation on
    ``segments`` equal pieces of the column's range when switched on: ``p = L b + sum_k d_k``,
    ``0 <= d_k <= w b``, cost ``h/2 L^2 b + sum_k s_k d_k`` (slopes increase: no SOS needed).
    Returns the HiGHS model and the largest total over-estimate, ``sum h/2 (w/2)^2``."""
    import scipy.sparse as sp

    from qgridlang.backends import highs

    ep = highs._split(milp)
    if ep.R is not None:
        raise SystemExit("the piecewise-linear recipe needs a separable quadratic")
    n, m, k = milp.n, milp.A.shape[0], len(ep.diag_cols)
    cols = n + k * segments
    c = np.concatenate([milp.c, np.zeros(k * segments)])
    lb = np.concatenate([milp.lb, np.zeros(k * segments)])
    ub = np.concatenate([milp.ub, np.zeros(k * segments)])
    rows: list[tuple[list[int], list[float], float, float]] = []
    const = 0.0
    over = 0.0
    for e, (j, h) in enumerate(zip(ep.diag_cols, ep.diag_h, strict=True)):
        b, lo, hi = int(ep.switch[e]), float(ep.on_lo[e]), float(ep.on_hi[e])
        w = (hi - lo) / segments
        d = n + e * segments + np.arange(segments)
        knots = lo + w * np.arange(segments + 1)
        c[d] = 0.5 * h * np.diff(knots**2) / w
        ub[d] = w
        over += 0.5 * h * (w / 2) ** 2
        if b >= 0:
            c[b] += 0.5 * h * lo * lo
            rows += [([int(i), b], [1.0, -w], -np.inf, 0.0) for i in d]
            rows.append(([int(j), b, *map(int, d)], [1.0, -lo] + [-1.0] * segments, 0.0, 0.0))
        else:
            const += 0.5 * h * lo * lo
            rows.append(([int(j), *map(int, d)], [1.0] + [-1.0] * segments, lo, lo))
    r = np.concatenate([np.full(len(ix), i) for i, (ix, _, _, _) in enumerate(rows)])
    extra = sp.csr_matrix((np.concatenate([v for _, v, _, _ in rows]),
                           (r, np.concatenate([ix for ix, _, _, _ in rows]))),
                          shape=(len(rows), cols))
    A = sp.vstack([sp.hstack([milp.A, sp.csr_matrix((m, cols - n))]), extra]).tocsr()
    row_lo = np.concatenate([milp.row_lo, [lo for _, _, lo, _ in rows]])
    row_hi = np.concatenate([milp.row_hi, [hi for _, _, _, hi in rows]])
    integer = np.concatenate([milp.integer, np.zeros(k * segments, bool)])
    model = highs.build_model(milp, False, c, A, lb, ub, row_lo, row_hi, integer)
    model.lp_.offset_ = float(milp.const + const)
    return model, over


def print_table(rows: dict[str, dict[str, Any]]) -> None:
    print(f"{'row':<9} {'status':<9} {'objective $':>14} {'bound $':>14} {'gap':>9} "
          f"{'solve s':>8} {'wall s':>8}  command")
    for name in ROWS:
        if name not in rows:
            continue
        r = rows[name]
        gap = r.get("certified_gap")
        print(f"{name:<9} {r['status']:<9} {r['objective']:>14,.2f} "
              f"{r['bound'] if r.get('bound') is not None else float('nan'):>14,.2f} "
              f"{gap if gap is not None else float('nan'):>9.2e} "
              f"{r['solve_s'] or float('nan'):>8.1f} {r['wall_s']:>8.1f}  {r['command']}")
    if "highs" not in rows:
        return
    h = rows["highs"]
    print(f"highs: {h['outer_approximation_rounds']} MILP ({h['cut_rounds']} cut rounds), "
          f"piecewise-linear start {h['pwl_segments']} tangents/term: bound {h['pwl_bound']:,.2f},"
          f" re-dispatched {h['redispatch_objective']:,.2f}")
    others = [n for n in ROWS[1:] if n in rows]
    for key in ("wall_s", "solve_s"):
        for name in others:
            print(f"ratio highs / {name} ({key}): {h[key] / rows[name][key]:.2f}")
    reference = [n for n in ("scip", "pwl") if n in rows]  # the two references
    if reference:
        fastest = min(reference, key=lambda n: rows[n]["wall_s"])
        ratio = h["wall_s"] / rows[fastest]["wall_s"]
        print(f"goal: highs wall <= 1.1 x the faster of scip and pwl ({fastest}): "
              f"measured {ratio:.2f} -> {'met' if ratio <= 1.1 else 'not met'} in this run")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help="results JSON (default: %(default)s)")
    parser.add_argument("--rows", nargs="+", choices=ROWS, default=list(ROWS))
    parser.add_argument("--force", action="store_true", help="re-run rows already saved")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per row")
    parser.add_argument("--pwl-row", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pwl_row:
        print(json.dumps(pwl_row()))
        return
    saved: dict[str, Any] = (json.loads(args.out.read_text(encoding="utf-8"))
                             if args.out.is_file() else {})
    rows: dict[str, dict[str, Any]] = saved.setdefault("rows", {})
    saved["machine"] = {"cpus": os.cpu_count(), "model": str(MODEL.relative_to(ROOT))}
    for name in args.rows:
        if name in rows and not args.force:
            print(f"{name}: saved {rows[name]['when']} (--force re-runs)", flush=True)
            continue
        print(f"{name}: running {' '.join(COMMANDS[name][1:])}", flush=True)
        old = rows.get(name)
        rows[name] = run_row(name, args.timeout)
        if old is not None:  # --force: the earlier runs stay on record (shared machine: spread)
            rows[name]["earlier"] = old.pop("earlier", []) + [
                {k: old.get(k) for k in ("when", "status", "objective", "wall_s", "solve_s",
                                         "load_1min_before")}]
        print(f"{name}: {rows[name]['status']} {rows[name]['objective']:,.2f} in "
              f"{rows[name]['wall_s']:.1f} s", flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(saved, indent=1) + "\n", encoding="utf-8")
    print_table(rows)


if __name__ == "__main__":
    main()
