"""Pricing the DN-EC energy communities through trained surrogates (paper eq. 4, SPECS §A4, §A8
Fig. 12, §A9 claims 5-6).

Stages (each resumable; results are merged into benchmarks/results/dn_ec_pricing.json):

1. ``train``: one surrogate per community on its 10,240-sample response data set
   (benchmarks/results/datasets/*_10240.npz), seeded, 80/10/10 split, checkpoints in
   benchmarks/results/dn_ec_pricing_ckpt/ (a rerun resumes them);
2. ``descent``: the operator's expected cost + λ CVaR_95 (20 scenarios) minimised over the
   price by projected Adam from the flat price, responses from the surrogates, the scenario
   expectation exact (classical);
3. ``reeval``: the flat and the final price through the communities' true MILPs and the
   operator LP; the gap to the ground-truth price search (15,644.53 $ at 20 scenarios);
4. ``qae``: a few iterations of the same loop with the expectations estimated by amplitude
   estimation (oracle calls counted), from the flat price;
5. ``plot``: prices before/after and the communities' profiles (like the paper's Fig. 12).

Run: ``nice -n 10 .venv/bin/python benchmarks/dn_ec_pricing.py [--stages train,descent,…]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                      "intra_op_parallelism_threads=1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
OUT = RESULTS / "dn_ec_pricing.json"
CKPT = RESULTS / "dn_ec_pricing_ckpt"
OPERATOR = ROOT / "examples" / "dn_ec" / "operator.qgl"
COMMUNITIES = {"p_res": "residential", "p_com": "commercial", "p_ind": "industrial"}
GROUND_TRUTH = RESULTS / "dn_ec_price_search_step20.json"


def log(*a: Any) -> None:
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def load() -> dict[str, Any]:
    return json.loads(OUT.read_text()) if OUT.exists() else {}


def save(doc: dict[str, Any]) -> None:
    tmp = OUT.with_name(OUT.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1, default=float))
    os.replace(tmp, OUT)


def stage_train(doc: dict[str, Any], ansatz_name: str, epochs: int, seed: int) -> None:
    from qgridlang.datasets.store import read_dataset
    from qgridlang.surrogates import TrainConfig, build, train

    CKPT.mkdir(parents=True, exist_ok=True)
    out = doc.setdefault("surrogates", {})
    for param, name in COMMUNITIES.items():
        arrays, meta = read_dataset(RESULTS / "datasets" / f"{name}_10240.npz")
        ok = arrays["status"] == "optimal"
        prices, responses = arrays["price"][ok], arrays["response"][ok]
        ansatz = build(ansatz_name, prices.shape[1])
        path = CKPT / f"{name}_{ansatz_name}.msgpack"
        t0 = time.perf_counter()
        cfg = TrainConfig(epochs=epochs, learning_rate=0.001, batch=64, seed=seed, patience=10)
        r = train(ansatz, prices, responses, cfg, checkpoint=path, resume=True,
                  callback=lambda e, n=name: log(f"{n} epoch {e.epoch}: train {e.train_loss:.5f}"
                                                 f" val {e.val_loss:.5f} ({e.seconds:.1f} s)"),
                  extra_config={"units": {"input": meta["units"]["price"],
                                          "output": meta["units"]["response"]}})
        out[param] = {"community": name, "ansatz": ansatz_name, "checkpoint": str(
            path.relative_to(ROOT)), "samples": int(ok.sum()), "epochs_run": len(r.history),
            "best_epoch": r.best_epoch, "stopped_early": r.stopped_early,
            "test_mse_normalised": r.test_mse, "test_mse_MW2": r.test_mse_physical,
            "seconds_per_epoch": float(np.mean([h.seconds for h in r.history])) if r.history
            else None, "train_seconds_this_run": time.perf_counter() - t0,
            "learning_rate": cfg.learning_rate, "batch": cfg.batch, "seed": seed}
        log(name, out[param])
        save(doc)


def operator(doc: dict[str, Any]) -> Any:
    """The operator's evaluator at 20 scenarios (5 checks and one LP, several minutes), cached
    outside the repository under a digest of everything it is built from (the model, its data,
    the standard library, the pricing code)."""
    import hashlib
    import pickle

    from qgridlang.pricing.operator import build

    h = hashlib.blake2b(digest_size=12)
    for f in sorted([OPERATOR, *(OPERATOR.parent / "data").glob("*"), ROOT / "models" /
                     "stdlib.qgl", ROOT / "qgridlang" / "pricing" / "operator.py"]):
        h.update(f.read_bytes())
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "qgridlang" / (
        f"dn_ec_operator_20_{h.hexdigest()}.pkl")
    if cache.exists():
        return pickle.loads(cache.read_bytes())
    log("building the operator's evaluator (20 scenarios)")
    op = build(OPERATOR, "price", list(COMMUNITIES), validate=True)
    doc["evaluator"] = {"checks": op.checks, "seconds": op.seconds, "validation": op.validation,
                        "lambda": op.lam, "alpha": op.alpha, "scenarios": op.scenarios}
    save(doc)
    op._fn = None
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_bytes(pickle.dumps(op))
    return op


def surrogates(doc: dict[str, Any]) -> dict[str, Any]:
    from qgridlang.pricing.descent import load_surrogate

    return {p: load_surrogate(p, ROOT / doc["surrogates"][p]["checkpoint"]) for p in COMMUNITIES}


def price_set(op: Any) -> Any:
    from qgridlang.datasets.prices import PriceSet

    mean = float(np.mean(op.own_price))
    return PriceSet(mean, 0.5 * mean, 1.5 * mean)


MODES = {"per_period": (), "tou_blocks": (32, 64)}  # decisions: 96 prices, or 3 block prices


def stage_descent(doc: dict[str, Any], mode: str, max_iterations: int, lr: float) -> None:
    import jax

    from qgridlang.pricing.descent import DescentSettings, descend, response_map

    op = operator(doc)
    prices = price_set(op)
    settings = DescentSettings(learning_rate=lr, max_iterations=max_iterations, tol=1e-4,
                               blocks=MODES[mode])
    r = descend(op, surrogates(doc), prices, settings,
                progress=lambda k, n, row: k % 50 == 0 and log(
                    f"{mode} iteration {k}: C {row['C']:.2f} C* {row['C_star']:.2f}"))
    gt_price = np.asarray(json.loads(GROUND_TRUTH.read_text())["best"]["price"])
    with jax.enable_x64(True):
        gt_pred = op.exact(gt_price, np.asarray(response_map(op, surrogates(doc))(gt_price)))
    doc.setdefault("descent", {})[mode] = {
        "settings": vars(settings), "iterations": r.iterations, "converged": r.converged,
        "best_iteration": r.best_iteration, "seconds": r.seconds,
        "start": {k: v for k, v in r.start.items() if k != "costs"},
        "final": {k: v for k, v in r.best.items() if k != "costs"},
        "price": r.price.tolist(), "surrogate_responses": r.responses.tolist(),
        "constraints": {"min": float(r.price.min()), "max": float(r.price.max()),
                        "mean_error": float(np.mean(r.price) - prices.mean),
                        "lower": prices.lower, "upper": prices.upper},
        "block_means": [float(r.price[a:b].mean()) for a, b in ((0, 32), (32, 64), (64, 96))],
        "ground_truth_price_through_surrogates": {k: v for k, v in gt_pred.items()
                                                  if k != "costs"},
        "history": r.history}
    log(mode, doc["descent"][mode]["final"], doc["descent"][mode]["block_means"])
    save(doc)


def stage_reeval(doc: dict[str, Any], modes: list[str]) -> None:
    from qgridlang.checker import read_source
    from qgridlang.datasets.response import prepare
    from qgridlang.pricing.descent import reevaluate

    op = operator(doc)
    prices = price_set(op)
    models = {p: prepare(ROOT / "examples" / "communities" / f"{n}.qgl", "price", None,
                         prices.mean, "auto") for p, n in COMMUNITIES.items()}
    text = read_source(OPERATOR)
    gt = json.loads(GROUND_TRUTH.read_text())["best"]["objective"]
    out = doc.setdefault("reevaluation", {})
    todo = [("flat", np.full(op.periods, prices.mean), None)] if "flat" not in out else []
    todo += [(m, np.asarray(doc["descent"][m]["price"]), m) for m in modes]
    for name, price, mode in todo:
        t0 = time.perf_counter()
        ev = reevaluate(op, text, models, price, None, ())
        ev["seconds"] = time.perf_counter() - t0
        ev["expressions"] = {k: v for k, v in ev.get("expressions", {}).items()
                             if "[" not in k}  # the scalar ones (not each grid[s].cost)
        if mode is not None and "responses" in ev:
            pred = np.asarray(doc["descent"][mode]["surrogate_responses"])
            true = np.asarray(ev["responses"])
            ev["surrogate_error"] = {p: {"mse_MW2": float(np.mean((pred[i] - true[i]) ** 2)),
                                         "max_abs_MW": float(np.max(np.abs(pred[i] - true[i])))}
                                     for i, p in enumerate(op.responses)}
            ev["gap_to_ground_truth"] = ev["objective"] - gt
            ev["gap_to_ground_truth_relative"] = (ev["objective"] - gt) / gt
        out[name] = ev
        out["ground_truth_objective"] = gt
        log(name, ev.get("objective"), ev.get("expressions", {}).get("mean_voltage_penalty"))
        save(doc)


def stage_qae(doc: dict[str, Any], mode: str, iterations: int) -> None:
    from qgridlang.pricing.descent import DescentSettings, descend

    op = operator(doc)
    settings = DescentSettings(max_iterations=iterations, tol=0.0, expectation="qae",
                               qae_qubits=5, qae_method="iqae", qae_epsilon=1e-2, seed=1,
                               blocks=MODES[mode])
    r = descend(op, surrogates(doc), price_set(op), settings,
                progress=lambda k, n, row: log(f"qae {mode} iteration {k}: C {row['C']:.2f}, "
                                               f"{row['oracle_queries']} oracle queries, "
                                               f"gradient error {row['grad_rel_error']:.2e}"))
    classical = doc.get("descent", {}).get(mode, {}).get("history", [])[:iterations]
    doc.setdefault("qae", {})[mode] = {
        "settings": vars(settings), "iterations": r.iterations,
        "oracle_queries": r.oracle_queries, "estimates": r.estimates,
        "skipped_estimates": r.skipped_estimates, "qae_seconds": r.qae_seconds,
        "seconds": r.seconds, "final_price_block_means": [
            float(r.price[a:b].mean()) for a, b in ((0, 32), (32, 64), (64, 96))],
        "history": r.history, "classical_history_same_iterations": classical}
    save(doc)


def stage_plot(doc: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hours = np.arange(96) * 0.25
    re = doc["reevaluation"]
    fig, ax = plt.subplots(3, 1, figsize=(9, 9), sharex=True)
    ax[0].step(hours, re["flat"]["price"], where="post", label="Price 1 (flat)")
    for mode in MODES:
        if mode in re:
            ax[0].step(hours, re[mode]["price"], where="post",
                       label=f"Price 2, {mode.replace('_', ' ')} (true cost "
                             f"{re[mode]['objective']:,.0f} $)")
    gt = json.loads(GROUND_TRUTH.read_text())["best"]
    ax[0].step(hours, gt["price"], where="post", ls="--",
               label=f"best TOU of the price search ({gt['objective']:,.0f} $)")
    ax[0].set_ylabel("community price ($/MWh)")
    ax[0].legend(fontsize=8)
    for row, mode in ((1, "tou_blocks"), (2, "per_period")):
        if mode not in re:
            continue
        for i, name in enumerate(COMMUNITIES.values()):
            line = ax[row].plot(hours, re[mode]["responses"][i], label=f"{name}, Price 2")
            ax[row].plot(hours, re["flat"]["responses"][i], ls=":",
                         color=line[0].get_color(), label=f"{name}, Price 1")
        ax[row].set_ylabel(f"exchange (MW)\n{mode.replace('_', ' ')}")
        ax[row].legend(fontsize=7, ncol=3)
    ax[2].set_xlabel("hour")
    fig.suptitle("DN-EC pricing through surrogates: prices and true MILP responses "
                 "(> 0: import)")
    fig.tight_layout()
    fig.savefig(RESULTS / "dn_ec_pricing.png", dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stages", default="train,descent,reeval,qae,plot")
    ap.add_argument("--ansatz", default="mlp")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-iterations", type=int, default=500)
    ap.add_argument("--learning-rate", type=float, default=0.01)
    ap.add_argument("--qae-iterations", type=int, default=10,
                    help="QAE iterations with the TOU blocks (per period: 1)")
    ap.add_argument("--modes", default="tou_blocks,per_period")
    ap.add_argument("--force", action="store_true", help="rerun stages already in the JSON")
    args = ap.parse_args()
    doc = load()
    stages = args.stages.split(",")
    if "train" in stages:
        stage_train(doc, args.ansatz, args.epochs, args.seed)
    modes = args.modes.split(",")
    if "descent" in stages:
        for m in modes:
            if m not in doc.get("descent", {}) or args.force:
                stage_descent(doc, m, args.max_iterations, args.learning_rate)
    if "reeval" in stages:
        stage_reeval(doc, [m for m in modes if m not in doc.get("reevaluation", {})
                           or args.force])
    if "qae" in stages:
        for m, k in (("tou_blocks", args.qae_iterations), ("per_period", 1)):
            if m in modes and (m not in doc.get("qae", {}) or args.force):
                stage_qae(doc, m, k)
    if "plot" in stages:
        stage_plot(doc)


if __name__ == "__main__":
    main()
