"""``qglc train model.qgl --surrogate NAME -o NAME.qgls``: train a declared surrogate.

1. The model is checked (calls of surrogates on parameters are not evaluated: the surrogate
   is not trained yet) and the declaration's :class:`SurrogateSpec` taken from it.
2. The training pairs come from the declaration's ``data``: an ``.npz`` written by
   ``qglc sample-responses`` (arrays ``price`` and ``response``, their units in the metadata;
   only samples solved to optimality are used), read under the model's file rules; or
   ``sample(model = "community.qgl", n = …)``, which runs that generator first and keeps its
   data set beside the artifact (``NAME.qgls.data.npz``; rerunning continues it).
3. Units: the data's units are converted into the units the declaration writes; a data set of
   another dimension, or of another series length, is an error at the ``data`` setting.
4. Training (:func:`qgridlang.surrogates.training.train`) checkpoints every epoch to
   ``NAME.qgls.ckpt``; rerunning the same command resumes there. The artifact
   (:mod:`qgridlang.surrogates.artifact`) records the declaration's hash.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qgridlang.errors import Span, TypeMismatch, UsageError, did_you_mean
from qgridlang.surrogates.spec import SurrogateSpec


@dataclass
class TrainSummary:
    surrogate: str
    output: Path
    ansatz: str
    parameters: int
    samples: int
    units: dict[str, str]
    epochs_run: int
    best_epoch: int
    stopped_early: bool
    test_mse: float  # normalised
    test_mse_physical: float  # in the output's unit, squared
    seconds: float
    history: list[dict[str, float]]
    digest: str

    def to_dict(self) -> dict[str, Any]:
        return {"status": "ok", "surrogate": self.surrogate, "output": str(self.output),
                "ansatz": self.ansatz, "parameters": self.parameters, "samples": self.samples,
                "units": self.units, "epochs_run": self.epochs_run,
                "best_epoch": self.best_epoch, "stopped_early": self.stopped_early,
                "test_mse": self.test_mse, "test_mse_physical": self.test_mse_physical,
                "seconds": round(self.seconds, 3), "history": self.history,
                "digest": self.digest}


def spec_of(checked: Any, name: str | None) -> SurrogateSpec:
    """The declaration called ``name`` (or the model's only one)."""
    specs: dict[str, SurrogateSpec] = checked.flat.surrogates
    if not specs:
        raise UsageError(f"{checked.file} declares no surrogate",
                         hint="declare one: surrogate NAME: price[T] -> p_ex[T] { ansatz = … }")
    if name is None:
        if len(specs) > 1:
            raise UsageError(f"{checked.file} declares {len(specs)} surrogates: name one with "
                             f"--surrogate ({', '.join(specs)})")
        return next(iter(specs.values()))
    if name not in specs:
        raise UsageError(f"{checked.file} declares no surrogate '{name}'",
                         hint=did_you_mean(name, specs) or f"surrogates: {', '.join(specs)}")
    return specs[name]


def load_data(spec: SurrogateSpec, base: Path, output: Path, *,
              progress: Callable[[int, int], None] | None = None,
              allow_read: tuple[str, ...] = ()) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """(prices, responses) in the declaration's units, and where they came from."""
    if spec.data is None:
        raise TypeMismatch(f"surrogate '{spec.name}' has no data to train on", spec.span,
                           "add data = \"responses.npz\" (qglc sample-responses) or "
                           "data = sample(model = \"community.qgl\", n = 1024)")
    span = spec.data.span or spec.span
    if spec.data.kind == "file":
        from qgridlang.fileaccess import read_bytes
        from qgridlang.limits import current, using

        path = Path(spec.data.path)
        path = path if path.is_absolute() else base / path
        with using(current().with_model_dir(base)):  # the model's file rules
            raw = read_bytes(path, span, "training data")
        try:
            with np.load(io.BytesIO(raw), allow_pickle=False) as z:
                arrays = {k: np.asarray(z[k]) for k in z.files}
        except (ValueError, OSError) as exc:
            raise TypeMismatch(f"training data '{path}' is not a readable .npz ({exc})",
                               span) from None
        meta = _meta(arrays)
        source: dict[str, Any] = {"file": str(path)}
    else:
        from qgridlang.datasets.sample import SampleSpec, sample_responses

        opts = dict(spec.data.options)
        model = Path(spec.data.path)
        model = model if model.is_absolute() else base / model
        store = output.with_name(output.name + ".data.npz")
        sample_spec = SampleSpec(n=int(opts.pop("n")), seed=int(opts.pop("seed", 0)),
                                 **{k: v for k, v in opts.items()})
        summary = sample_responses(model, store, sample_spec, allow_read=allow_read,
                                   progress=progress)
        with np.load(store, allow_pickle=False) as z:
            arrays = {k: np.asarray(z[k]) for k in z.files}
        meta = summary.meta
        source = {"sample": str(model), "store": str(store), "n": sample_spec.n,
                  "seed": sample_spec.seed}
    if "price" not in arrays or "response" not in arrays:
        raise TypeMismatch("training data needs arrays 'price' and 'response' (as qglc "
                           f"sample-responses writes them); found {', '.join(arrays)}", span)
    x, y = np.asarray(arrays["price"], float), np.asarray(arrays["response"], float)
    if "status" in arrays:
        keep = np.asarray([str(s) == "optimal" for s in arrays["status"]])
        x, y = x[keep], y[keep]
    if x.ndim != 2 or x.shape != y.shape:
        raise TypeMismatch(f"training data: price {x.shape} and response {y.shape} must both be "
                           "(samples, T)", span)
    if x.shape[1] != spec.length:
        raise TypeMismatch(f"training data has series of length {x.shape[1]}; "
                           f"{spec.index} has {spec.length} elements", span)
    units = meta.get("units", {}) if isinstance(meta, dict) else {}
    x = x * _factor(units.get("price"), spec.input_unit, span, "price")
    y = y * _factor(units.get("response"), spec.output_unit, span, "response")
    return x, y, {**source, "samples": int(len(x))}


def _meta(arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """The data set's metadata (qgridlang.datasets.store), {} for a plain .npz."""
    import json

    from qgridlang.datasets.store import META_KEY

    if META_KEY in arrays:
        try:
            return dict(json.loads(str(arrays.pop(META_KEY))))
        except (ValueError, TypeError):
            return {}
    return {}


def _factor(data_unit: str | None, declared: str, span: Span | None, what: str) -> float:
    """Data in ``data_unit`` -> the declared unit (1 where either is not stated)."""
    if not data_unit or not declared:
        return 1.0
    from qgridlang.semantics import units as U

    return U.convert(U.unit_at(data_unit, span), U.unit_at(declared, span), span,
                     f"the training data's {what}")


def train_declared(model_file: str | Path, name: str | None, output: str | Path, *,
                   overrides: dict[str, str] | None = None, resume: bool = True,
                   epoch_callback: Callable[[Any, int], None] | None = None,
                   progress: Callable[[int, int], None] | None = None,
                   allow_read: tuple[str, ...] = ()) -> TrainSummary:
    """Train the declared surrogate ``name`` of ``model_file`` and write ``output``."""
    from qgridlang.atomic import check_writable
    from qgridlang.checker import check_file
    from qgridlang.surrogates.artifact import save_artifact
    from qgridlang.surrogates.base import count_parameters
    from qgridlang.surrogates.registry import build
    from qgridlang.surrogates.training import TrainConfig, TrainingError, train

    output = Path(output)
    if output.suffix != ".qgls":
        raise UsageError(f"a trained surrogate is written as FILE.qgls, not '{output.name}'")
    check_writable(output)
    checked = check_file(model_file, overrides, defer_surrogates=True)
    spec = spec_of(checked, name)
    t0 = time.perf_counter()
    x, y, source = load_data(spec, Path(model_file).parent, output, progress=progress,
                             allow_read=allow_read)
    ansatz = build(spec.ansatz, spec.length, **spec.options)
    cfg = TrainConfig(epochs=spec.epochs, learning_rate=spec.learning_rate, batch=spec.batch,
                      seed=spec.seed, patience=spec.patience)
    ckpt = output.with_name(output.name + ".ckpt")

    def report(r: Any) -> None:
        if epoch_callback is not None:
            epoch_callback(r, spec.epochs)

    try:
        result = train(ansatz, x, y, cfg, callback=report, checkpoint=ckpt, resume=resume,
                       extra_config={"digest": spec.digest()})
    except TrainingError as exc:
        raise TypeMismatch(f"training surrogate '{spec.name}': {exc}", spec.span) from None
    seconds = time.perf_counter() - t0
    history = [{"epoch": h.epoch, "train_loss": h.train_loss, "val_loss": h.val_loss,
                "seconds": round(h.seconds, 3)} for h in result.history]
    training = {"source": source, "best_epoch": result.best_epoch,
                "stopped_early": result.stopped_early, "test_mse": result.test_mse,
                "test_mse_physical": result.test_mse_physical, "history": history}
    save_artifact(output, spec, result, training)
    return TrainSummary(spec.name, output, spec.ansatz, count_parameters(result.params),
                        int(len(x)), {"input": spec.input_unit, "output": spec.output_unit},
                        len(result.history), result.best_epoch, result.stopped_early,
                        float(result.test_mse), float(result.test_mse_physical), seconds,
                        history, spec.digest())
