"""Classical twins of the quantum ansätze (flax.linen), with the same (T,) -> (T,) interface:
MLP, TCN, LSTM, TCN-LSTM (sized near the paper's 37,353 parameters) and a ~100-parameter model
that separates "quantum" from merely "small" (SPECS §A9 claim 1)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import flax.linen as nn
import jax
import jax.numpy as jnp

from qgridlang.surrogates.base import Ansatz, Params, count_parameters


class _MLP(nn.Module):
    length: int
    hidden: Sequence[int]

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for width in self.hidden:
            x = nn.relu(nn.Dense(width)(x))
        return nn.Dense(self.length)(x)


class _TCN(nn.Module):
    """Causal dilated 1-D convolutions (left padding), dilation 1, 2, 4, ...; (B, T, C) in/out."""

    channels: int
    kernel: int
    levels: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for level in range(self.levels):
            d = 2**level
            pad = jnp.pad(x, ((0, 0), ((self.kernel - 1) * d, 0), (0, 0)))
            y = nn.Conv(self.channels, (self.kernel,), kernel_dilation=(d,), padding="VALID")(pad)
            y = nn.relu(y)
            # residual (skip) connection where the widths agree, as in Bai et al.'s TCN
            x = y + x if x.shape[-1] == self.channels else y
        return x


class _LSTMStack(nn.Module):
    hidden: int
    layers: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for _ in range(self.layers):
            # nn.RNN returns the outputs alone unless asked for the carry too
            x = cast(jax.Array, nn.RNN(nn.LSTMCell(self.hidden))(x))
        return x


class _Sequence(nn.Module):
    """(B, T) -> (B, T): optional TCN, optional LSTM stack, per-step linear head."""

    tcn: tuple[int, int, int] | None  # channels, kernel, levels
    lstm: tuple[int, int] | None  # hidden, layers

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        h = x[..., None]
        if self.tcn is not None:
            h = _TCN(*self.tcn)(h)
        if self.lstm is not None:
            h = _LSTMStack(*self.lstm)(h)
        return nn.Dense(1)(h)[..., 0]


def _make(name: str, cfg: dict[str, Any], module: nn.Module, length: int) -> Ansatz:
    def init(key: jax.Array) -> Params:
        params = module.init(key, jnp.zeros((1, length), jnp.float32))["params"]
        return jax.tree_util.tree_map(lambda a: a, dict(params))

    def apply(p: Params, x: jax.Array) -> jax.Array:
        return cast(jax.Array, module.apply({"params": p}, x))

    def split(p: Params) -> dict[str, int]:
        return {k: count_parameters(v) for k, v in p.items()}

    return Ansatz(name, cfg, init, jax.jit(apply), split, quantum=False)


def mlp(length: int, hidden: Sequence[int] = (128, 128)) -> Ansatz:
    hidden = tuple(int(h) for h in hidden)
    return _make("mlp", {"length": length, "hidden": list(hidden)}, _MLP(length, hidden), length)


def tcn(length: int, channels: int = 32, kernel: int = 3, levels: int = 3) -> Ansatz:
    cfg = {"length": length, "channels": channels, "kernel": kernel, "levels": levels}
    return _make("tcn", cfg, _Sequence((channels, kernel, levels), None), length)


def lstm(length: int, hidden: int = 32, layers: int = 2) -> Ansatz:
    cfg = {"length": length, "hidden": hidden, "layers": layers}
    return _make("lstm", cfg, _Sequence(None, (hidden, layers)), length)


def tcn_lstm(
    length: int,
    channels: int = 33,
    kernel: int = 3,
    levels: int = 3,
    hidden: int = 45,
    layers: int = 2,
) -> Ansatz:
    """Defaults give 37,378 parameters (TCN 6,732 + LSTM 30,600 + head 46), 25 above the paper's
    37,353, whose architecture is not given."""
    cfg = {
        "length": length,
        "channels": channels,
        "kernel": kernel,
        "levels": levels,
        "hidden": hidden,
        "layers": layers,
    }
    return _make("tcn_lstm", cfg, _Sequence((channels, kernel, levels), (hidden, layers)), length)


def tiny(length: int, hidden: int = 4) -> Ansatz:
    """About 100 parameters: one LSTM layer of 4 cells on the price and a linear head (101)."""
    return _make("tiny", {"length": length, "hidden": hidden}, _Sequence(None, (hidden, 1)), length)
