"""Training a surrogate: Adam (optax), seeded and reproducible, min-max normalisation fitted on
the training split, 80/10/10 split, fixed-size batches, early stopping on the validation loss, a
per-epoch callback, and checkpoints (flax.serialization msgpack) from which training resumes.

Reproducibility: the split and the initial parameters come from `seed`; epoch e shuffles with
numpy's generator seeded by (seed, e), so a run resumed from a checkpoint after epoch e takes the
same batches as one that never stopped.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import serialization

from qgridlang.surrogates.base import Ansatz, Params
from qgridlang.surrogates.registry import build

FORMAT = "qgridlang-surrogate-checkpoint/1"


class TrainingError(ValueError):
    """Bad training data or settings, or a checkpoint that does not fit the ansatz."""


@dataclass(frozen=True)
class Normalisation:
    """Min-max scaling of prices (x) and responses (y) to [0, 1], fitted on the training split
    (one scalar range each, so the scaling does not depend on the series length)."""

    x_min: float
    x_max: float
    y_min: float
    y_max: float

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray) -> Normalisation:
        return cls(float(np.min(x)), float(np.max(x)), float(np.min(y)), float(np.max(y)))

    @staticmethod
    def _span(lo: float, hi: float) -> float:
        # a constant series scales by 1 instead of dividing by zero
        return hi - lo if hi > lo else 1.0

    def x(self, x: Any) -> Any:
        return (x - self.x_min) / self._span(self.x_min, self.x_max)

    def y(self, y: Any) -> Any:
        return (y - self.y_min) / self._span(self.y_min, self.y_max)

    def y_inverse(self, y: Any) -> Any:
        return y * self._span(self.y_min, self.y_max) + self.y_min


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 50
    learning_rate: float = 0.01
    batch: int = 64
    seed: int = 1
    patience: int = 10  # epochs without a better validation loss before stopping
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)


@dataclass(frozen=True)
class EpochReport:
    epoch: int  # 1-based
    train_loss: float  # normalised MSE, mean over the epoch's batches
    val_loss: float
    seconds: float


@dataclass
class TrainResult:
    ansatz: Ansatz
    params: Params  # the best parameters (lowest validation loss)
    normalisation: Normalisation
    config: TrainConfig
    history: list[EpochReport] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False
    test_mse: float = float("nan")  # normalised units
    test_mse_physical: float = float("nan")  # the response's units squared

    def predict(self, prices: Any) -> np.ndarray:
        return predict(self.ansatz, self.params, self.normalisation, prices)


def predict(ansatz: Ansatz, params: Params, norm: Normalisation, prices: Any) -> np.ndarray:
    """Physical prices (T,) or (B, T) -> physical responses of the same shape."""
    out = ansatz.apply(params, jnp.asarray(norm.x(np.asarray(prices, np.float32))))
    return np.asarray(norm.y_inverse(np.asarray(out)))


def split_indices(
    n: int, seed: int, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A seeded permutation cut into train/validation/test (each at least one sample)."""
    if n < 3:
        raise TrainingError(f"need at least 3 samples to split train/validation/test, got {n}")
    perm = np.random.default_rng(seed).permutation(n)
    n_val = max(1, round(fractions[1] * n))
    n_test = max(1, round(fractions[2] * n))
    n_train = n - n_val - n_test
    if n_train < 1:
        raise TrainingError(f"{n} samples leave no training split at fractions {fractions}")
    return perm[:n_train], perm[n_train : n_train + n_val], perm[n_train + n_val :]


def _batches(idx: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-size batches (so the jitted step compiles once): the last one is padded with
    repeats of its own indices at weight 0."""
    n_batches = -(-len(idx) // size)
    padded = np.resize(idx, n_batches * size) if len(idx) % size else idx
    weights = np.zeros(n_batches * size, np.float32)
    weights[: len(idx)] = 1.0
    return padded.reshape(n_batches, size), weights.reshape(n_batches, size)


def _config_blob(ansatz: Ansatz, cfg: TrainConfig, extra: dict[str, Any]) -> str:
    return json.dumps(
        {"ansatz": ansatz.name, "ansatz_config": ansatz.config, "train": asdict(cfg), **extra},
        sort_keys=True,
    )


@dataclass
class Checkpoint:
    ansatz: Ansatz
    params: Params  # best parameters so far
    normalisation: Normalisation
    config: dict[str, Any]  # the ansatz's name/config, the TrainConfig and any extra entries
    state: dict[str, Any]  # training state for resuming (epoch, current params, optimiser, ...)

    def predict(self, prices: Any) -> np.ndarray:
        return predict(self.ansatz, self.params, self.normalisation, prices)


def save_checkpoint(
    path: str | Path,
    ansatz: Ansatz,
    params: Params,
    norm: Normalisation,
    config: dict[str, Any] | None = None,
    state: dict[str, Any] | None = None,
) -> None:
    """Write parameters + normalisation + a config dict (+ resume state) to one msgpack file,
    atomically (a crash mid-write leaves the previous checkpoint)."""
    cfg = {"ansatz": ansatz.name, "ansatz_config": ansatz.config, **(config or {})}
    blob = {
        "format": FORMAT,
        "config": json.dumps(cfg, sort_keys=True),
        "normalisation": asdict(norm),
        "params": serialization.to_state_dict(params),
        "state": state or {},
    }
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(serialization.msgpack_serialize(blob))
    os.replace(tmp, path)


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint and rebuild its ansatz from the registry."""
    try:
        blob = serialization.msgpack_restore(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        raise TrainingError(f"{path}: cannot read surrogate checkpoint: {exc}") from exc
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise TrainingError(f"{path}: not a qgridlang surrogate checkpoint")
    cfg = json.loads(blob["config"])
    ansatz = build(cfg["ansatz"], **cfg["ansatz_config"])
    norm = Normalisation(**{k: float(v) for k, v in blob["normalisation"].items()})
    return Checkpoint(ansatz, blob["params"], norm, cfg, blob.get("state") or {})


@functools.lru_cache(maxsize=16)
def _compiled(ansatz: Ansatz, learning_rate: float) -> tuple[Any, Any, Any]:
    """The optimiser, the jitted Adam step and the jitted weighted error sum, cached per ansatz
    object and learning rate: compiling a quantum ansatz's step takes seconds, and several
    seeds or a resumed run reuse it."""
    opt = optax.adam(learning_rate)

    def weighted_sse(p: Params, xb: jax.Array, yb: jax.Array, w: jax.Array) -> jax.Array:
        err = jnp.mean((ansatz.batch_apply(p, xb) - yb) ** 2, axis=-1)
        return jnp.sum(w * err)

    @jax.jit
    def step(p: Params, s: Any, xb: jax.Array, yb: jax.Array, w: jax.Array) -> Any:
        def loss(q: Params) -> jax.Array:
            return weighted_sse(q, xb, yb, w) / jnp.sum(w)

        value, grads = jax.value_and_grad(loss)(p)
        updates, s = opt.update(grads, s, p)
        return optax.apply_updates(p, updates), s, value

    return opt, step, jax.jit(weighted_sse)


def train(
    ansatz: Ansatz,
    prices: Any,
    responses: Any,
    config: TrainConfig | None = None,
    *,
    callback: Callable[[EpochReport], None] | None = None,
    checkpoint: str | Path | None = None,
    resume: bool = False,
    extra_config: dict[str, Any] | None = None,
) -> TrainResult:
    """Fit `ansatz` to map prices (N, T) to responses (N, T) by MSE (eq. 3, normalised units).

    With `checkpoint`, the state is saved after every epoch; with `resume` too (and the file
    present), training continues from it. `extra_config` is stored in the checkpoint's config
    (e.g. the declaration's hash).
    """
    cfg = config or TrainConfig()
    x = np.asarray(prices, np.float32)
    y = np.asarray(responses, np.float32)
    if x.ndim != 2 or x.shape != y.shape:
        raise TrainingError(
            f"prices and responses must both be (N, T); got {x.shape} and {y.shape}"
        )
    if "length" in ansatz.config and ansatz.config["length"] != x.shape[1]:
        raise TrainingError(
            f"ansatz {ansatz.name} is built for T = {ansatz.config['length']}, "
            f"the data has T = {x.shape[1]}"
        )
    if cfg.epochs < 1 or cfg.batch < 1 or cfg.learning_rate <= 0:
        raise TrainingError("epochs, batch and learning_rate must be positive")
    tr, va, te = split_indices(len(x), cfg.seed, cfg.fractions)
    norm = Normalisation.fit(x[tr], y[tr])
    xn, yn = jnp.asarray(norm.x(x)), jnp.asarray(norm.y(y))
    size = min(cfg.batch, len(tr))
    opt, step, sse = _compiled(ansatz, cfg.learning_rate)

    def evaluate(p: Params, idx: np.ndarray) -> float:
        batches, weights = _batches(idx, size)
        total = sum(float(sse(p, xn[b], yn[b], jnp.asarray(w))) for b, w in zip(batches, weights))
        return total / len(idx)

    params = ansatz.init(jax.random.PRNGKey(cfg.seed))
    opt_state = opt.init(params)
    best, best_val, best_epoch, bad, start = params, float("inf"), 0, 0, 0
    history: list[EpochReport] = []
    blob_cfg = json.loads(_config_blob(ansatz, cfg, extra_config or {}))
    blob_cfg.pop("ansatz"), blob_cfg.pop("ansatz_config")
    if checkpoint is not None and resume and Path(checkpoint).exists():
        ck = load_checkpoint(checkpoint)
        if ck.ansatz.name != ansatz.name or ck.ansatz.config != ansatz.config:
            raise TrainingError(
                f"{checkpoint}: checkpoint is for {ck.ansatz.name} "
                f"{ck.ansatz.config}, not {ansatz.name} {ansatz.config}"
            )
        if ck.config.get("train") != blob_cfg["train"]:
            raise TrainingError(f"{checkpoint}: checkpoint was trained with {ck.config['train']}")
        st = ck.state
        params = serialization.from_state_dict(params, st["params"])
        opt_state = serialization.from_state_dict(opt_state, st["opt_state"])
        best = serialization.from_state_dict(params, ck.params)
        best_val, best_epoch = float(st["best_val"]), int(st["best_epoch"])
        bad, start = int(st["bad"]), int(st["epoch"])
        history = [
            EpochReport(int(e), float(a), float(b), float(c))
            for e, a, b, c in np.asarray(st["history"]).reshape(-1, 4)
        ]
    stopped = bool(bad >= cfg.patience)
    for epoch in range(start, 0 if stopped else cfg.epochs):
        t0 = time.perf_counter()
        order = tr[np.random.default_rng([cfg.seed, epoch]).permutation(len(tr))]
        batches, weights = _batches(order, size)
        losses = []
        for b, w in zip(batches, weights):
            params, opt_state, value = step(params, opt_state, xn[b], yn[b], jnp.asarray(w))
            losses.append(float(value))
        val = evaluate(params, va)
        report = EpochReport(epoch + 1, float(np.mean(losses)), val, time.perf_counter() - t0)
        history.append(report)
        if val < best_val:
            best, best_val, best_epoch, bad = params, val, epoch + 1, 0
        else:
            bad += 1
        if checkpoint is not None:
            state = {
                "epoch": epoch + 1,
                "params": serialization.to_state_dict(params),
                "opt_state": serialization.to_state_dict(opt_state),
                "best_val": best_val,
                "best_epoch": best_epoch,
                "bad": bad,
                "history": np.asarray(
                    [[h.epoch, h.train_loss, h.val_loss, h.seconds] for h in history], np.float64
                ),
            }
            save_checkpoint(checkpoint, ansatz, best, norm, blob_cfg, state)
        if callback is not None:
            callback(report)
        if bad >= cfg.patience:
            stopped = True
            break
    result = TrainResult(ansatz, best, norm, cfg, history, best_epoch, stopped)
    result.test_mse = evaluate(best, te)
    pred = result.predict(x[te])
    result.test_mse_physical = float(np.mean((pred - y[te]) ** 2))
    return result
