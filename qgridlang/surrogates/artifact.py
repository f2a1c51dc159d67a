"""A trained surrogate as a file (``.qgls``): what ``qglc train`` writes and a model reads.

The file is a training checkpoint (:func:`qgridlang.surrogates.training.save_checkpoint`:
msgpack with the ansatz's name and configuration, the min-max normalisation and the best
parameters) whose configuration also records the surrogate's name, its declaration (the fields
:meth:`SurrogateSpec.hashed` covers), their hash, the units of both sides and a summary of the
training run. A model reads it through :mod:`qgridlang.fileaccess` (only files it may read) and
refuses it when the declaration has changed since training, naming what changed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qgridlang.errors import Span, TypeMismatch
from qgridlang.surrogates.spec import SurrogateSpec

KIND = "qgridlang-trained-surrogate/1"
# loaded artifacts by (content hash, declaration hash): a model checked again (or another model
# with the same declaration) reuses the ansatz object, and with it JAX's compiled circuits
# (compiling a Q-TCN-LSTM's forward pass and gradient takes about a minute)
_LOADED: dict[tuple[str, str | None], TrainedSurrogate] = {}


class ArtifactError(TypeMismatch):
    """A trained-surrogate file that cannot be used for this declaration."""


@dataclass
class TrainedSurrogate:
    """A surrogate ready to evaluate: physical prices in, physical responses out."""

    name: str
    ansatz: Any  # qgridlang.surrogates.base.Ansatz
    params: Any
    normalisation: Any  # training.Normalisation
    meta: dict[str, Any] = field(default_factory=dict)

    def predict(self, x: Any) -> np.ndarray:
        from qgridlang.surrogates.training import predict

        return predict(self.ansatz, self.params, self.normalisation, x)

    def function(self) -> Any:
        """The response as a JAX function of the physical input (differentiable: jax.grad,
        jax.vjp), for programs that optimise through the surrogate."""
        ansatz, params, norm = self.ansatz, self.params, self.normalisation

        def f(x: Any) -> Any:
            return norm.y_inverse(ansatz.apply(params, norm.x(x)))

        return f


def save_artifact(path: str | Path, spec: SurrogateSpec, result: Any,
                  training: dict[str, Any]) -> None:
    """Write ``result`` (a :class:`~qgridlang.surrogates.training.TrainResult`) for ``spec``."""
    from qgridlang.surrogates.training import save_checkpoint

    config = {
        "kind": KIND,
        "surrogate": spec.name,
        "digest": spec.digest(),
        "declaration": json.loads(json.dumps(spec.hashed(), default=str)),
        "units": {"input": spec.input_unit, "output": spec.output_unit},
        "training": training,
    }
    save_checkpoint(path, result.ansatz, result.params, result.normalisation, config)


def load_artifact(path: str | Path, spec: SurrogateSpec | None = None,
                  span: Span | None = None, *, checked_read: bool = True) -> TrainedSurrogate:
    """Read a trained surrogate; with ``spec``, refuse it unless it was trained for exactly
    that declaration (:class:`ArtifactError` at ``span``, naming the fields that changed).

    ``checked_read``: read through :mod:`qgridlang.fileaccess` (a model's files); the CLI and
    the API reading a file the user named pass False.
    """
    from flax import serialization

    from qgridlang.surrogates.registry import build
    from qgridlang.surrogates.training import FORMAT, Normalisation

    path = Path(path)
    if checked_read:
        from qgridlang.fileaccess import read_bytes

        data = read_bytes(path, span, "trained surrogate")
    else:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ArtifactError(f"cannot read trained surrogate '{path}': {exc.strerror}",
                                span) from None
    key = (hashlib.sha256(data).hexdigest(), spec.digest() if spec is not None else None)
    if key in _LOADED:
        return _LOADED[key]
    try:
        blob = serialization.msgpack_restore(data)
        ok = isinstance(blob, dict) and blob.get("format") == FORMAT
        cfg = json.loads(blob["config"]) if ok else {}
    except (ValueError, KeyError, TypeError):
        ok, cfg = False, {}
    if not ok or cfg.get("kind") != KIND:
        raise ArtifactError(f"'{path}' is not a trained qgridlang surrogate", span,
                            "write one with `qglc train MODEL --surrogate NAME -o FILE.qgls`")
    try:
        if spec is not None:
            _check_declaration(path, cfg, spec, span)
            # the declaration builds the ansatz, not the file: a file cannot make the model
            # build something else (or something huge)
            ansatz = build(spec.ansatz, spec.length, **spec.options)
        else:
            ansatz = build(cfg["ansatz"], **cfg["ansatz_config"])
        norm = Normalisation(**{k: float(v) for k, v in blob["normalisation"].items()})
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise ArtifactError(f"'{path}': cannot rebuild its ansatz: {exc}", span) from None
    params = blob.get("params")
    if _shapes(params) != _shapes(_init_shapes(ansatz)):
        raise ArtifactError(f"'{path}': its parameters do not fit the declared ansatz", span,
                            "retrain it with qglc train")
    art = TrainedSurrogate(str(cfg["surrogate"]), ansatz, params, norm, cfg)
    if len(_LOADED) >= 32:
        _LOADED.pop(next(iter(_LOADED)))
    _LOADED[key] = art
    return art


def _init_shapes(ansatz: Any) -> Any:
    import jax

    return jax.eval_shape(ansatz.init, jax.random.PRNGKey(0))


def _shapes(tree: Any) -> Any:
    """A parameter tree's structure and leaf shapes (None for something that is not one)."""
    import jax

    try:
        leaves, treedef = jax.tree_util.tree_flatten(tree)
        return str(treedef), [tuple(getattr(x, "shape", np.shape(x))) for x in leaves]
    except (TypeError, ValueError):
        return None


def _check_declaration(path: Path, cfg: dict[str, Any], spec: SurrogateSpec,
                       span: Span | None) -> None:
    if cfg.get("surrogate") != spec.name:
        raise ArtifactError(f"'{path}' holds surrogate '{cfg.get('surrogate')}', not "
                            f"'{spec.name}'", span)
    if cfg.get("digest") == spec.digest():
        return
    old = cfg.get("declaration") or {}
    new = json.loads(json.dumps(spec.hashed(), default=str))
    flat_old, flat_new = _flatten(old), _flatten(new)
    changed = [k for k in sorted(set(flat_old) | set(flat_new))
               if flat_old.get(k) != flat_new.get(k)]
    detail = "; ".join(f"{k}: trained with {_show(flat_old.get(k))}, declared "
                       f"{_show(flat_new.get(k))}" for k in changed[:4])
    raise ArtifactError(
        f"surrogate '{spec.name}' changed since '{path}' was trained ({detail or 'hash'})",
        span, f"retrain it: qglc train MODEL --surrogate {spec.name} -o {path.name}")


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"train": {"epochs": 3}} -> {"epochs": 3}: a changed setting is named by itself."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and k in ("train", "options"):
            out.update(_flatten(v, f"{k}." if k == "options" else ""))
        else:
            out[prefix + k] = v
    return out


def _show(v: Any) -> str:
    return json.dumps(v, sort_keys=True) if v is not None else "nothing"
