"""Fig. 8/10 of the DN-EC paper: eight surrogate models plus a ~100-parameter classical one on the
three community data sets (SPECS §A6, §A9 claims 1-2; issue 11).

Models: ``qmlp qtcn qlstm qtcn_lstm`` (PennyLane default.qubit + JAX) and their classical twins
``mlp tcn lstm tcn_lstm`` (flax), plus ``tiny`` (one LSTM layer of 4 cells, 101 parameters), each
at its registry defaults (the paper's sizes: 8 qubits, 3 layers, hidden 3, 2 recurrent layers),
trained by :func:`qgridlang.surrogates.train` (Adam, 80/10/10 split from the seed, min-max
normalisation fitted on the training split, early stopping on the validation loss).

Per run (model x community x seed) one JSON line is appended to ``surrogates_runs.jsonl`` as it
finishes: test MSE in normalised units and in MW^2 (the response's unit squared), parameters,
wall time per epoch, the best epoch (epochs to converge), whether it stopped early and the loss
history. A rerun skips runs already in the file with the same settings; an interrupted run
resumes from its checkpoint (``surrogates_ckpt/``, gitignored). The summary (mean ± std over
seeds, the paper's numbers beside) goes to ``surrogates_summary.json``/``.md`` and a plot to
``surrogates_mse.png``::

    python benchmarks/surrogates.py [--models qtcn_lstm tcn_lstm tiny] [--communities commercial]
        [--seeds 1 2 3 4 5] [--samples 1024] [--epochs 50] [--patience 10]
    python benchmarks/surrogates.py --summary-only

Data: ``benchmarks/results/datasets/{community}_10240.npz`` (``qglc sample-responses``; arrays
``price`` and ``response``, (N, 96) in $/MWh and MW); ``--data COMMUNITY=FILE`` points elsewhere.
``--samples N`` trains on a seeded subsample of N series (the same subsample for every model
and seed), so the cheap configurations compare like with like.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
MODELS = ("qmlp", "qtcn", "qlstm", "qtcn_lstm", "mlp", "tcn", "lstm", "tcn_lstm", "tiny")
COMMUNITIES = ("residential", "commercial", "industrial")
# quantum model -> its classical counterpart (SPECS §A9 claim 2)
TWINS = {"qmlp": "mlp", "qtcn": "tcn", "qlstm": "lstm", "qtcn_lstm": "tcn_lstm"}
# SPECS §A8 (Fig. 8, commercial EC, test set; the text's only numbers): the MSE is normalised
PAPER = {
    ("qtcn_lstm", "commercial"): {"test_mse": 0.004, "parameters": 94, "epochs_to_converge": 10},
    ("tcn_lstm", "commercial"): {"test_mse": 0.013, "parameters": 37353,
                                 "epochs_to_converge": 25},
}
# what makes two runs the same run (a rerun skips a finished one)
KEY_FIELDS = ("model", "community", "seed", "samples", "epochs", "patience", "batch",
              "learning_rate", "length")
SETTINGS = ("samples", "epochs", "patience", "batch", "learning_rate", "length")


def load_data(path: Path, samples: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(prices, responses), each (N, T): the solved samples of a response data set, optionally
    a seeded subsample of ``samples`` of them (seed 0: the same subset for every run)."""
    with np.load(path, allow_pickle=False) as z:
        names = set(z.files)
        px = "price" if "price" in names else "prices"
        ry = "response" if "response" in names else "responses"
        if px not in names or ry not in names:
            raise SystemExit(f"{path}: expected arrays 'price' and 'response', found "
                             f"{sorted(names)}")
        x, y = np.asarray(z[px], np.float64), np.asarray(z[ry], np.float64)
        if "status" in names:  # a failed solve has no response worth learning
            ok = np.isin(z["status"], ("optimal", "feasible"))
            x, y = x[ok], y[ok]
    if samples is not None and samples < len(x):
        keep = np.sort(np.random.default_rng(0).choice(len(x), samples, replace=False))
        x, y = x[keep], y[keep]
    return x, y


def run_key(rec: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(rec.get(k) for k in KEY_FIELDS)


def read_runs(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    runs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            runs.append(json.loads(line))
    return runs


def one_run(ansatz: Any, x: np.ndarray, y: np.ndarray, key: dict[str, Any], ckpt: Path,
            log: Any) -> dict[str, Any]:
    from qgridlang.surrogates import TrainConfig, count_parameters, train

    cfg = TrainConfig(epochs=key["epochs"], learning_rate=key["learning_rate"],
                      batch=key["batch"], seed=key["seed"], patience=key["patience"])
    tag = f"{key['model']}/{key['community']}/seed {key['seed']}"

    def progress(r: Any) -> None:
        print(f"  {tag} epoch {r.epoch}: train {r.train_loss:.5f} val {r.val_loss:.5f} "
              f"({r.seconds:.1f} s)", file=log, flush=True)

    t0 = time.perf_counter()
    res = train(ansatz, x, y, cfg, callback=progress, checkpoint=ckpt, resume=True)
    wall = time.perf_counter() - t0
    seconds = [h.seconds for h in res.history]
    params = res.params
    return {
        **key,
        "quantum": ansatz.quantum,
        "parameters": count_parameters(params),
        "parameter_split": ansatz.parameter_split(params),
        "test_mse": res.test_mse,
        "test_mse_physical": res.test_mse_physical,
        "best_epoch": res.best_epoch,
        "epochs_run": len(res.history),
        "stopped_early": res.stopped_early,
        # the first epoch includes compiling the step (seconds for a quantum ansatz): the median
        # is the steady cost, the mean is what the run paid
        "seconds_per_epoch_median": float(np.median(seconds)) if seconds else math.nan,
        "seconds_per_epoch_mean": float(np.mean(seconds)) if seconds else math.nan,
        "wall_seconds_this_process": wall,
        "best_val_mse": min((h.val_loss for h in res.history), default=math.nan),
        "history": [[h.epoch, round(h.train_loss, 7), round(h.val_loss, 7), round(h.seconds, 3)]
                    for h in res.history],
        "physical_unit": "MW^2",
    }


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean ± std (sample std, ddof 1) over seeds per (model, community) and settings."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in runs:
        g = (r["model"], r["community"], r["samples"], r["epochs"], r["patience"], r["batch"],
             r["learning_rate"], r["length"])
        groups.setdefault(g, []).append(r)
    rows = []
    for g, rs in sorted(groups.items(), key=lambda kv: (
            kv[0][1], MODELS.index(kv[0][0]) if kv[0][0] in MODELS else 99, str(kv[0][2:]))):
        def stat(field: str, rs: list[dict[str, Any]] = rs) -> dict[str, float]:
            v = np.asarray([r[field] for r in rs], np.float64)
            return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
                    "median": float(np.median(v))}

        row = {
            "model": g[0], "community": g[1], "samples": g[2], "epochs": g[3], "patience": g[4],
            "batch": g[5], "learning_rate": g[6], "length": g[7], "seeds": sorted(
                r["seed"] for r in rs), "quantum": rs[0]["quantum"],
            "parameters": rs[0]["parameters"],
            "test_mse": stat("test_mse"), "test_mse_physical": stat("test_mse_physical"),
            "best_epoch": stat("best_epoch"),
            "seconds_per_epoch": stat("seconds_per_epoch_median"),
            "stopped_early": sum(bool(r["stopped_early"]) for r in rs),
        }
        paper = PAPER.get((g[0], g[1]))
        if paper:
            row["paper"] = paper
        rows.append(row)
    return {"rows": rows, "claims": _claims(rows), "paper": {
        f"{m}/{c}": v for (m, c), v in PAPER.items()},
        "note": "test MSE in min-max normalised units (the paper's, SPECS §A6) and in MW^2; "
                "std is over seeds (ddof 1); seconds per epoch: the median epoch of each run"}


def _claims(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """SPECS §A9 claims 1-2 on what was run: each quantum model's mean test MSE against its
    classical twin's (and Q-TCN-LSTM against the ~100-parameter tiny), per community and
    settings."""
    by = {(r["model"], r["community"], r["samples"], r["epochs"], r["patience"]): r
          for r in rows}
    out = []
    pairs = [*TWINS.items(), ("qtcn_lstm", "tiny")]
    for (m, c, s, e, p), r in sorted(by.items(), key=lambda kv: str(kv[0])):
        for q, k in pairs:
            if m != q or (k, c, s, e, p) not in by:
                continue
            other = by[(k, c, s, e, p)]
            out.append({"quantum": q, "classical": k, "community": c, "samples": s,
                        "epochs": e, "quantum_mse": r["test_mse"]["mean"],
                        "classical_mse": other["test_mse"]["mean"],
                        "quantum_better": r["test_mse"]["mean"] < other["test_mse"]["mean"],
                        "quantum_parameters": r["parameters"],
                        "classical_parameters": other["parameters"]})
    return out


def _pm(s: dict[str, float], fmt: str = ".4g") -> str:
    return f"{s['mean']:{fmt}} ± {s['std']:{fmt}}"


def markdown(summary: dict[str, Any]) -> str:
    lines = ["| community | model | params | test MSE (normalised) | median | test MSE (MW²) | "
             "best epoch | s/epoch | stopped early | seeds | samples, epochs | paper |",
             "| --- | --- | ---: | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in summary["rows"]:
        paper = r.get("paper")
        ptxt = (f"MSE {paper['test_mse']}, {paper['parameters']:,} params, converges "
                f"~{paper['epochs_to_converge']} epochs") if paper else ""
        lines.append(
            f"| {r['community']} | {r['model']} | {r['parameters']:,} | "
            f"{_pm(r['test_mse'])} | {r['test_mse']['median']:.4g} | "
            f"{_pm(r['test_mse_physical'])} | "
            f"{_pm(r['best_epoch'], '.3g')} | {_pm(r['seconds_per_epoch'], '.3g')} | "
            f"{r['stopped_early']}/{len(r['seeds'])} | {len(r['seeds'])} | "
            f"{r['samples'] or 'all'}, ≤{r['epochs']} (patience {r['patience']}) | {ptxt} |")
    if summary["claims"]:
        lines += ["", "| community | quantum | classical | MSE quantum | MSE classical | "
                      "quantum lower? | params (q / c) |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for c in summary["claims"]:
            lines.append(f"| {c['community']} | {c['quantum']} | {c['classical']} | "
                         f"{c['quantum_mse']:.4g} | {c['classical_mse']:.4g} | "
                         f"{'yes' if c['quantum_better'] else 'no'} | "
                         f"{c['quantum_parameters']:,} / {c['classical_parameters']:,} |")
    lines += ["", summary["note"] + "."]
    return "\n".join(lines) + "\n"


def plot(summary: dict[str, Any], path: Path, chosen: tuple[Any, ...] | None = None) -> None:
    """Test MSE per model and community for one configuration (default: the one with the most
    (model, community) rows)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    settings = [tuple(r[k] for k in SETTINGS) for r in summary["rows"]]
    chosen = chosen or max(settings, key=settings.count)
    rows = [r for r, s in zip(summary["rows"], settings) if s == chosen]
    communities = [c for c in COMMUNITIES if any(r["community"] == c for r in rows)]
    communities += sorted({r["community"] for r in rows} - set(communities))
    models = [m for m in MODELS if any(r["model"] == m for r in rows)]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(models) * len(communities) ** 0.5), 4.2))
    width = 0.8 / max(len(communities), 1)
    for j, c in enumerate(communities):
        xs, means, stds, medians = [], [], [], []
        for i, m in enumerate(models):
            match = [r for r in rows if r["model"] == m and r["community"] == c]
            if match:
                xs.append(i + (j - (len(communities) - 1) / 2) * width)
                means.append(match[0]["test_mse"]["mean"])
                stds.append(match[0]["test_mse"]["std"])
                medians.append(match[0]["test_mse"]["median"])
        ax.bar(xs, means, width, yerr=stds, capsize=2, label=c)
        # the mean of a few seeds hides a seed that did not converge: the median beside it
        ax.plot(xs, medians, "o", color="white", markeredgecolor="black", markersize=4)
    for (m, c), p in PAPER.items():
        if m in models and c in communities:
            j = communities.index(c)
            x = models.index(m) + (j - (len(communities) - 1) / 2) * width
            ax.plot([x], [p["test_mse"]], "k*", markersize=9)
    ax.plot([], [], "k*", label="paper (commercial)")
    ax.plot([], [], "o", color="white", markeredgecolor="black", markersize=4, label="median")
    ax.set_xticks(range(len(models)), models, rotation=30)
    ax.set_yscale("log")
    ax.set_ylabel("test MSE (normalised), mean ± std over seeds")
    seeds = max(len(r["seeds"]) for r in rows)
    ax.set_title(f"{chosen[0] or 'all'} series, ≤ {chosen[1]} epochs (patience {chosen[2]}), "
                 f"batch {chosen[3]}, lr {chosen[4]}, T = {chosen[5]}, {seeds} seeds", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_summary(runs: list[dict[str, Any]], out_dir: Path) -> dict[str, Any]:
    summary = summarise(runs)
    (out_dir / "surrogates_summary.json").write_text(json.dumps(summary, indent=1) + "\n",
                                                     encoding="utf-8")
    (out_dir / "surrogates_summary.md").write_text(markdown(summary), encoding="utf-8")
    if summary["rows"]:
        settings = [tuple(r[k] for k in SETTINGS) for r in summary["rows"]]
        main = max(settings, key=settings.count)
        plot(summary, out_dir / "surrogates_mse.png", main)
        for other in sorted(set(settings) - {main}, key=str):  # one more plot per configuration
            plot(summary, out_dir / f"surrogates_mse_n{other[0]}_e{other[1]}.png", other)
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    ap.add_argument("--communities", nargs="+", default=list(COMMUNITIES))
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3, 4, 5])
    ap.add_argument("--samples", type=int, default=None,
                    help="a seeded subsample of N series (default: all)")
    ap.add_argument("--epochs", type=int, default=50, help="at most (default 50)")
    ap.add_argument("--patience", type=int, default=10, help="early stopping (default 10)")
    ap.add_argument("--batch", type=int, default=64, help="(default 64)")
    ap.add_argument("--learning-rate", type=float, default=0.01, help="(default 0.01)")
    ap.add_argument("--data", nargs="*", default=[], metavar="COMMUNITY=FILE",
                    help="data set per community (default: "
                         "benchmarks/results/datasets/{community}_10240.npz)")
    ap.add_argument("--out-dir", type=Path, default=RESULTS, help="(default benchmarks/results)")
    ap.add_argument("--summary-only", action="store_true",
                    help="rebuild the summary from the runs file")
    args = ap.parse_args(argv)
    out_dir: Path = args.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    runs_path = out_dir / "surrogates_runs.jsonl"
    if args.summary_only:
        summary = write_summary(read_runs(runs_path), out_dir)
        print(markdown(summary))
        return 0
    files = {c: RESULTS / "datasets" / f"{c}_10240.npz" for c in args.communities}
    for item in args.data:
        name, _, path = item.partition("=")
        if not path:
            ap.error(f"--data takes COMMUNITY=FILE, got {item!r}")
        files[name] = Path(path)
    ckpt_dir = out_dir / "surrogates_ckpt"
    ckpt_dir.mkdir(exist_ok=True)
    done = {run_key(r) for r in read_runs(runs_path)}
    from qgridlang.surrogates import build

    ansatze: dict[tuple[str, int], Any] = {}
    for community in args.communities:
        if not files[community].exists():
            raise SystemExit(f"no data set for {community}: {files[community]} (generate it "
                             f"with benchmarks/datasets.py or pass --data {community}=FILE)")
        x, y = load_data(files[community], args.samples)
        length = x.shape[1]
        for model in args.models:
            for seed in args.seeds:
                key = {"model": model, "community": community, "seed": seed,
                       "samples": args.samples, "epochs": args.epochs,
                       "patience": args.patience, "batch": args.batch,
                       "learning_rate": args.learning_rate, "length": length}
                if run_key(key) in done:
                    print(f"skip {model}/{community}/seed {seed}: already in {runs_path.name}",
                          flush=True)
                    continue
                # one ansatz object per model and length: training caches its compiled step
                # per object, so later seeds do not recompile
                ansatz = ansatze.setdefault((model, length), build(model, length))
                stem = "_".join(str(key[k]) for k in KEY_FIELDS).replace("/", "-")
                ckpt = ckpt_dir / f"{stem}.msgpack"
                print(f"run {model}/{community}/seed {seed} (N = {len(x)}, T = {length})",
                      flush=True)
                rec = one_run(ansatz, x, y, key, ckpt, sys.stdout)
                with runs_path.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(rec) + "\n")
                ckpt.unlink(missing_ok=True)  # the result line is the record now
                done.add(run_key(key))
                print(f"done {model}/{community}/seed {seed}: test MSE {rec['test_mse']:.5g} "
                      f"(normalised), {rec['test_mse_physical']:.4g} MW^2, best epoch "
                      f"{rec['best_epoch']}, {rec['seconds_per_epoch_median']:.2f} s/epoch",
                      flush=True)
    summary = write_summary(read_runs(runs_path), out_dir)
    print(markdown(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
