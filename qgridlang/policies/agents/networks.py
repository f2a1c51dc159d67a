"""Classical networks of the agents: ReLU MLPs as plain parameter dicts (pytrees of jax arrays,
which is what optax and flax.serialization take).

Initialisation follows flax's ``nn.Dense`` (which CleanRL's JAX agents use): LeCun-normal
kernels, zero biases.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

Params = dict[str, Any]


def mlp_init(key: jax.Array, sizes: list[int], last_scale: float = 1.0) -> Params:
    """Dense layers ``sizes[0] -> sizes[1] -> ... -> sizes[-1]``; ``last_scale`` shrinks the
    output layer's kernel (small initial outputs)."""
    init = jax.nn.initializers.lecun_normal()
    keys = jax.random.split(key, len(sizes) - 1)
    layers = {}
    for i, (k, (a, b)) in enumerate(zip(keys, zip(sizes[:-1], sizes[1:]), strict=True)):
        scale = last_scale if i == len(sizes) - 2 else 1.0
        layers[f"l{i}"] = {"w": init(k, (a, b), jnp.float32) * scale, "b": jnp.zeros(b)}
    return layers


def mlp(params: Params, x: jax.Array) -> jax.Array:
    """ReLU between layers, linear output."""
    n = len(params)
    for i in range(n):
        x = x @ params[f"l{i}"]["w"] + params[f"l{i}"]["b"]
        if i < n - 1:
            x = jax.nn.relu(x)
    return x


def hidden_sizes(options: dict[str, Any]) -> list[int]:
    return [int(options["hidden"])] * int(options["hidden_layers"])


def count(params: Any) -> int:
    return int(sum(int(jnp.size(leaf)) for leaf in jax.tree_util.tree_leaves(params)))
