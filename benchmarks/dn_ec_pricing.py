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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stages", default="train,descent,reeval,qae,plot")
    ap.add_argument("--ansatz", default="mlp")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    doc = load()
    stages = args.stages.split(",")
    if "train" in stages:
        stage_train(doc, args.ansatz, args.epochs, args.seed)


if __name__ == "__main__":
    main()
