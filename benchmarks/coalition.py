"""Energy-coalition benchmark (the paper's Fig. 2/3): GCS-Q with many backends vs exact MILP.

For each n and each of `--instances` random ISG instances (Gaussian weights, fully connected,
seeded), run the exact clique-partitioning MILP (HiGHS, within a time budget) and GCS-Q with
every backend named in `--methods`; report solution quality relative to the exact optimum
(or value per agent where no exact value exists) and run time versus n, as a table and as PNG
plots. Instances run in parallel on dask.distributed: an embedded LocalCluster by default, or
`--scheduler ADDRESS` for a real cluster.

    python benchmarks/coalition.py --n 4 8 12 16 20 --instances 20 --out bench-out
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "examples" / "coalition"

# method -> (backend, backend options, largest n it is run for). Random sampling gets the same
# number of reads as the samplers and as QAOA's shots (`--reads`); tabu's reads are restarts of
# 20 ms each, so it keeps its own default of 10 (a "reads" entry here wins over `--reads`).
METHODS: dict[str, tuple[str, dict[str, Any], int]] = {
    "exact-milp": ("highs", {}, 30),
    "gcsq-highs": ("highs", {}, 200),
    "gcsq-sa": ("sa", {}, 200),
    "gcsq-tabu": ("tabu", {"reads": 10}, 200),
    "gcsq-exact": ("exact", {}, 20),
    "gcsq-dwave-mock": ("dwave", {"mock": True}, 60),
    "gcsq-qaoa": ("qaoa", {"p": 1, "engine": "numpy"}, 20),
    "gcsq-qaoa-fake-ibm": ("qaoa", {"p": 1, "noise": "FakeSherbrooke", "maxiter": 30}, 8),
    "gcsq-random": ("random", {}, 200),
}


def model_sources() -> dict[str, str]:
    """The two models' texts, read where the script runs and shipped with each task: a worker
    of an existing cluster need not have this checkout (only qgridlang installed)."""
    return {name: (MODELS / name).read_text(encoding="utf-8")
            for name in ("bipartition.qgl", "partition_milp.qgl")}


def run_task(n: int, seed: int, method: str, sigma: float, exact_limit: float,
             reads: int, models: dict[str, str] | None = None) -> dict[str, Any]:
    """One method on one instance (runs on a dask worker; the instance is regenerated from its
    seed, so tasks are independent)."""
    from qgridlang.checker import check_file
    from qgridlang.dispatcher import solve_model
    from qgridlang.registry import Options, get_backend
    from qgridlang.results import Status
    from qgridlang.strategies.gcsq import gcsq, generate, read_weights, structure_value

    work = Path(tempfile.mkdtemp(prefix=f"isg{n}-{seed}-"))
    row: dict[str, Any] = {"n": n, "seed": seed, "method": method}
    try:
        from distributed import get_worker

        row["worker"] = get_worker().address  # which process ran it (a cluster's, or local)
    except (ImportError, ValueError):  # called outside a dask worker
        pass
    try:
        for name, text in (models or model_sources()).items():
            (work / name).write_text(text, encoding="utf-8")
        generate(work / "data", n, sigma, seed)
        labels, w = read_weights(work / "data")
        backend, extra, _ = METHODS[method]
        t0 = time.perf_counter()
        if method == "exact-milp":
            sol = solve_model(check_file(work / "partition_milp.qgl"), backend,
                              Options(time_limit=exact_limit))
            row.update(value=sol.objective if sol.objective is not None else np.nan,
                       seconds=time.perf_counter() - t0, optimal=sol.status == Status.OPTIMAL)
            return row
        extra = dict(extra)
        # `reads` only where the backend samples (highs and exact refuse it as unused)
        n_reads = int(extra.pop("reads", reads)) if "reads" in get_backend(backend).COMMON \
            else None
        opts = Options(seed=seed, reads=n_reads, extra=extra)
        try:
            res = gcsq(work / "bipartition.qgl", backend, opts)
        except Exception as exc:  # a backend that cannot run here is recorded, not fatal
            row.update(value=np.nan, seconds=np.nan, error=f"{type(exc).__name__}: {exc}")
            return row
        row.update(value=structure_value(res.coalitions, labels, w), seconds=res.seconds,
                   solves=res.solves, coalitions=len(res.coalitions))
        return row
    finally:
        shutil.rmtree(work, ignore_errors=True)


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean quality (value / exact value, when the MILP proved optimality) and time."""
    exact = {(r["n"], r["seed"]): r["value"] for r in rows
             if r["method"] == "exact-milp" and r.get("optimal")}
    out = []
    for (n, m) in sorted({(r["n"], r["method"]) for r in rows}):
        sel = [r for r in rows if r["n"] == n and r["method"] == m]
        ratios = [r["value"] / exact[(n, r["seed"])] for r in sel
                  if (n, r["seed"]) in exact and exact[(n, r["seed"])] > 0
                  and np.isfinite(r["value"])]
        per_agent = [r["value"] / n for r in sel if np.isfinite(r["value"])]
        secs = [r["seconds"] for r in sel if np.isfinite(r["seconds"])]
        errors = {r["error"] for r in sel if "error" in r}
        out.append({"n": n, "method": m, "runs": len(sel),
                    "quality": float(np.mean(ratios)) if ratios else np.nan,
                    "value_per_agent": float(np.mean(per_agent)) if per_agent else np.nan,
                    "seconds": float(np.mean(secs)) if secs else np.nan,
                    "error": "; ".join(sorted(errors))[:80]})
    return out


def plot(summary: list[dict[str, Any]], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = sorted({s["method"] for s in summary})
    files = []
    for key, label, log in (("quality", "value / exact optimum", False),
                            ("seconds", "run time [s]", True),
                            ("value_per_agent", "coalition-structure value per agent", False)):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for m in methods:
            pts = [(s["n"], s[key]) for s in summary if s["method"] == m and np.isfinite(s[key])]
            if pts:
                xs, ys = zip(*pts, strict=True)
                ax.plot(xs, ys, marker="o", label=m)
        ax.set_xlabel("number of agents n")
        ax.set_ylabel(label)
        if log:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = out / f"coalition_{key}.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        files.append(path)
    return files


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, nargs="+", default=[4, 6, 8, 10, 12, 14, 16, 18, 20, 25, 30])
    p.add_argument("--instances", type=int, default=20)
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS),
                   help="exact-milp always runs: it is the reference")
    p.add_argument("--sigma", type=float, default=1.0, help="width of the Gaussian weights")
    p.add_argument("--exact-limit", type=float, default=60.0, help="MILP time budget [s]")
    p.add_argument("--reads", type=int, default=100, help="reads / shots per bipartition")
    p.add_argument("--scheduler", help="dask scheduler address (default: a LocalCluster)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", type=Path, default=Path("coalition-out"))
    p.add_argument("--from-json", type=Path, help="re-summarise and re-plot saved rows")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.from_json:
        rows = json.loads(args.from_json.read_text())
    else:
        rows = run_all(args)
    report(rows, args)


def run_all(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every (n, instance, method) task on dask, rows saved as they complete."""
    from dask.distributed import Client, LocalCluster, as_completed
    from rich.progress import Progress

    cluster = None
    if args.scheduler:
        # an existing cluster: its workers need qgridlang (and the backends' packages)
        # installed, not this checkout; `run_task` travels by value (cloudpickle pickles the
        # functions of a __main__ script by value) and the model texts travel with each task
        client = Client(args.scheduler, timeout=60)
    else:
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    try:
        methods = ["exact-milp", *[m for m in args.methods if m != "exact-milp"]]
        tasks = [(n, s, m) for n in args.n for m in methods for s in range(args.instances)
                 if n <= METHODS[m][2]]
        # one copy of the texts per worker, not one per task (a list: a dict would be split)
        models = client.scatter([model_sources()], broadcast=True)[0]
        futures = [client.submit(run_task, n, s, m, args.sigma, args.exact_limit, args.reads,
                                 models, pure=False) for n, s, m in tasks]
        rows: list[dict[str, Any]] = []
        saved = args.out / "coalition_rows.json"
        with Progress() as progress:
            bar = progress.add_task("tasks", total=len(futures))
            for fut in as_completed(futures):
                rows.append(fut.result())
                saved.write_text(json.dumps(rows, default=float, indent=1))
                progress.advance(bar)
    finally:  # never leave an embedded cluster's processes behind (an error, Ctrl-C)
        client.close()
        if cluster is not None:
            cluster.close()
    return rows


def report(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """Print the table and write the plots."""
    from rich.console import Console
    from rich.table import Table

    summary = summarise(rows)
    table = Table(title=f"GCS-Q vs exact MILP ({args.instances} instances per n)")
    for col in ("n", "method", "runs", "quality", "value/agent", "seconds", "error"):
        table.add_column(col)
    for s in summary:
        table.add_row(str(s["n"]), s["method"], str(s["runs"]), f"{s['quality']:.4f}",
                      f"{s['value_per_agent']:.4f}", f"{s['seconds']:.3f}", s["error"])
    Console(width=160).print(table)
    for f in plot(summary, args.out):
        print(f"wrote {f}")


if __name__ == "__main__":
    main()
