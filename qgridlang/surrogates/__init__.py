"""Variational-circuit surrogates and their classical twins (issue 11; SPECS §A4, §A6).

Needs the `learning` extra (pennylane, jax, optax, flax): `pip install -e ".[learning]"`.
"""

from __future__ import annotations

from qgridlang.surrogates.base import Ansatz, Params, count_parameters
from qgridlang.surrogates.registry import ANSATZE, AnsatzError, ansatz_keywords, build
from qgridlang.surrogates.training import (
    Checkpoint,
    EpochReport,
    Normalisation,
    TrainConfig,
    TrainingError,
    TrainResult,
    load_checkpoint,
    predict,
    save_checkpoint,
    split_indices,
    train,
)

__all__ = [
    "ANSATZE",
    "Ansatz",
    "AnsatzError",
    "Checkpoint",
    "EpochReport",
    "Normalisation",
    "Params",
    "TrainConfig",
    "TrainResult",
    "TrainingError",
    "ansatz_keywords",
    "build",
    "count_parameters",
    "load_checkpoint",
    "predict",
    "save_checkpoint",
    "split_indices",
    "train",
]
