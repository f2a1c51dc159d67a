"""What a checked `surrogate` declaration holds, independent of JAX (the checker builds it
without importing the learning stack; targets, `qglc train` and the pricing loop read it).

    surrogate ec_response: price[T] -> p_ex[T] {
      ansatz = qtcn_lstm(qubits = 8, layers = 3, hidden = 3)
      data = "data/commercial.npz"          # or: sample(model = "commercial.qgl", n = 10240)
      epochs = 50; learning_rate = 0.01; batch = 64; seed = 1
      trained = "ec_response.qgls"          # where the trained artifact lives (not hashed)
    }

The declaration's hash covers everything that changes what training produces (ansatz and its
options, the series length, the data source and the training settings) and nothing that does
not (where the artifact is stored, comments, spans): a trained artifact records it, and a model
whose declaration no longer matches refuses the artifact.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from qgridlang.errors import Span

HASH_VERSION = "qgridlang-surrogate-declaration/1"


@dataclass(frozen=True)
class DataSource:
    """Where the training pairs come from: an ``.npz`` file (arrays ``prices`` and
    ``responses``, as ``qglc sample-responses`` writes them) or a community model sampled by
    the data-set generator (``sample(model = "x.qgl", n = 10240, seed = 1, …)``)."""

    kind: str  # "file" | "sample"
    path: str  # the file or the model, as written (resolved against the model's directory)
    options: dict[str, Any] = field(default_factory=dict)  # sample(...) keywords but `model`
    span: Span | None = field(default=None, compare=False)  # the `data = …` setting

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": self.path, "options": dict(sorted(self.options.items()))}


@dataclass(frozen=True)
class SurrogateSpec:
    """One checked `surrogate` declaration."""

    name: str
    input_name: str  # "price"
    output_name: str  # "p_ex"
    index: str  # the index set both sides run over ("T")
    length: int  # its size (the series length the ansatz is built for)
    input_unit: str  # the units both sides are written in ("" when dimensionless)
    output_unit: str
    ansatz: str  # registry name (qgridlang.surrogates.registry.ANSATZE)
    options: dict[str, Any]  # the ansatz's keyword arguments
    data: DataSource | None
    epochs: int = 50
    learning_rate: float = 0.01
    batch: int = 64
    seed: int = 1
    patience: int = 10
    trained: str | None = None  # artifact path as written (relative to the model's directory)
    span: Span | None = None
    source_file: str | None = None  # the .qgl that declares it (to resolve relative paths)

    def hashed(self) -> dict[str, Any]:
        """The fields the declaration's hash covers."""
        return {
            "version": HASH_VERSION,
            "input": self.input_name,
            "output": self.output_name,
            "length": self.length,
            "units": [self.input_unit, self.output_unit],
            "ansatz": self.ansatz,
            "options": dict(sorted(self.options.items())),
            "data": self.data.as_dict() if self.data else None,
            "train": {
                "epochs": self.epochs,
                "learning_rate": self.learning_rate,
                "batch": self.batch,
                "seed": self.seed,
                "patience": self.patience,
            },
        }

    def digest(self) -> str:
        blob = json.dumps(self.hashed(), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()
