"""The common interface of every surrogate ansatz, quantum or classical.

An ansatz maps a price vector (T,) -- or a batch (B, T) -- to a response of the same shape.
Parameters are a plain nested dict of arrays so that one checkpoint format (flax.serialization's
msgpack) holds quantum and classical models alike.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

Params = dict[str, Any]


# eq=False: hashed by identity, so training can cache its compiled step per ansatz
@dataclass(frozen=True, eq=False)
class Ansatz:
    """A constructed ansatz: `init(key)` gives parameters, `apply(params, x)` the response.

    `apply` accepts x of shape (T,) or (B, T) and returns the same shape; `config` records the
    registry name and keyword arguments so a checkpoint can rebuild the ansatz.
    """

    name: str
    config: dict[str, Any]
    init_fn: Callable[[jax.Array], Params]
    batch_apply: Callable[[Params, jax.Array], jax.Array]
    # how the trainable parameters split between the ansatz's parts (name -> count)
    split_fn: Callable[[Params], dict[str, int]] = field(default=lambda p: {})
    quantum: bool = False

    def init(self, key: jax.Array) -> Params:
        return self.init_fn(key)

    def apply(self, params: Params, x: jax.Array) -> jax.Array:
        x = jnp.asarray(x, dtype=jnp.float32)
        if x.ndim == 1:
            return self.batch_apply(params, x[None, :])[0]
        if x.ndim != 2:
            raise ValueError(
                f"{self.name}: expected a price vector (T,) or a batch (B, T), got shape {x.shape}"
            )
        return self.batch_apply(params, x)

    def parameter_split(self, params: Params) -> dict[str, int]:
        return self.split_fn(params)


def count_parameters(params: Params) -> int:
    """The number of trainable scalars in a parameter tree."""
    # np.shape would convert jax.eval_shape's ShapeDtypeStructs; their .shape is enough
    leaves = jax.tree_util.tree_leaves(params)
    return int(sum(math.prod(getattr(leaf, "shape", np.shape(leaf))) for leaf in leaves))


def dense_init(key: jax.Array, n_in: int, n_out: int) -> Params:
    """A linear layer's parameters (LeCun-normal weights, zero bias), as flax would."""
    w = jax.random.normal(key, (n_in, n_out), dtype=jnp.float32) / np.sqrt(max(n_in, 1))
    return {"w": w, "b": jnp.zeros((n_out,), dtype=jnp.float32)}


def dense(p: Params, x: jax.Array) -> jax.Array:
    return x @ p["w"] + p["b"]
