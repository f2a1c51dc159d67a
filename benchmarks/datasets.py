"""Energy-community response data sets: time per sample, and the paper's 3 x 10,240 samples.

    python benchmarks/datasets.py rate [--n 400] [--workers 1 2]
    python benchmarks/datasets.py production [--n 10240] [--workers 2] [--out DIR]

``rate`` prepares each example community once (examples/communities/*.qgl; the preparation's
T + 1 checks are timed separately), then samples ``--n`` price vectors with the objective-update
path on an embedded LocalCluster of 1 and of 2 workers, and a smaller run with a full check per
sample (``recheck``) for comparison; rows go to ``benchmarks/results/datasets_rate.json``.

``production`` writes the three data sets of the paper (10,240 samples each, seed 1, 2 and 3)
to ``--out`` (default ``benchmarks/results/datasets/``, not committed: 16 MB each) with
``qgridlang.datasets.sample.sample_responses``: resumable, so run it in the background and run
it again after an interruption; each finished data set appends its timing to
``benchmarks/results/datasets_production.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "communities"
RESULTS = ROOT / "benchmarks" / "results"
COMMUNITIES = ("residential", "commercial", "industrial")


def _progress(name: str) -> Any:
    last = [-1]

    def show(done: int, total: int) -> None:
        step = done * 20 // total if total else 20
        if step != last[0]:
            last[0] = step
            print(f"  {name}: {done}/{total}", file=sys.stderr, flush=True)

    return show


def rate(args: argparse.Namespace) -> list[dict[str, Any]]:
    from qgridlang.datasets.response import prepare
    from qgridlang.datasets.sample import SampleSpec, sample_responses

    rows: list[dict[str, Any]] = []
    out = RESULTS / "datasets_rate.json"
    for name in args.communities:
        t0 = time.perf_counter()
        model = prepare(EXAMPLES / f"{name}.qgl")
        prep = time.perf_counter() - t0
        print(f"{name}: prepared in {prep:.1f} s ({model.checks} checks), method "
              f"{model.method}", flush=True)
        runs = [("update", w, args.n) for w in args.workers]
        runs.append(("recheck", max(args.workers), args.n_recheck))
        for method, workers, n in runs:
            model.method = method
            with tempfile.TemporaryDirectory() as tmp:
                t1 = time.perf_counter()
                s = sample_responses(model.file, Path(tmp) / "d.npz",
                                     SampleSpec(n=n, seed=7), workers=workers,
                                     prepared=model, progress=_progress(f"{name} {method} "
                                                                        f"x{workers}"))
                wall = time.perf_counter() - t1
            row = {"community": name, "method": method, "workers": workers, "samples": n,
                   "prepare_s": round(prep, 2), "prepare_checks": model.checks,
                   "wall_s": round(wall, 2), "s_per_sample": round(wall / n, 4),
                   "solve_s_per_sample": round(s.solve_seconds / n, 4),
                   "statuses": s.statuses, "cpus": os.cpu_count(),
                   "load_before": round(os.getloadavg()[0], 2)}
            rows.append(row)
            print(json.dumps(row), flush=True)
            out.write_text(json.dumps(rows, indent=1))
        model.method = "update"
    return rows


def production(args: argparse.Namespace) -> None:
    from qgridlang.datasets.sample import SampleSpec, sample_responses

    args.out.mkdir(parents=True, exist_ok=True)
    log = RESULTS / "datasets_production.json"
    for seed, name in enumerate(args.communities, start=1):
        target = args.out / f"{name}_{args.n}.npz"
        t0 = time.perf_counter()
        s = sample_responses(EXAMPLES / f"{name}.qgl", target, SampleSpec(n=args.n, seed=seed),
                             workers=args.workers, chunk=args.chunk,
                             progress=_progress(name))
        wall = time.perf_counter() - t0
        row = {"community": name, "samples": s.samples, "solved_now": s.solved_now,
               "seed": seed, "workers": args.workers, "wall_s": round(wall, 1),
               "prepare_s": round(s.prepare_seconds, 1), "run_s": round(s.run_seconds, 1),
               "s_per_sample": round(s.run_seconds / s.solved_now, 4) if s.solved_now
               else None, "statuses": s.statuses, "method": s.method,
               "file": str(target.relative_to(ROOT)) if target.is_relative_to(ROOT)
               else str(target), "finished": time.strftime("%Y-%m-%d %H:%M:%S")}
        old = json.loads(log.read_text()) if log.exists() else []
        log.write_text(json.dumps([*old, row], indent=1))
        print(json.dumps(row), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("rate")
    r.add_argument("--n", type=int, default=400)
    r.add_argument("--n-recheck", type=int, default=100)
    r.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    r.add_argument("--communities", nargs="+", default=list(COMMUNITIES))
    q = sub.add_parser("production")
    q.add_argument("--n", type=int, default=10240)
    q.add_argument("--workers", type=int, default=2)
    q.add_argument("--chunk", type=int, default=32)
    q.add_argument("--out", type=Path, default=RESULTS / "datasets")
    q.add_argument("--communities", nargs="+", default=list(COMMUNITIES))
    args = p.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.command == "rate":
        rate(args)
    else:
        production(args)


if __name__ == "__main__":
    main()
