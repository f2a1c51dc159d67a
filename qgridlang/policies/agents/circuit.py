"""The variational circuit of SPECS §B5 (eq. 34): the Q-DQN Q-function and the Q-SAC actor.

From an observation x (the Env's normalised vector, d values) to m = ``qubits`` expectation
values:

1. linear reduction (eq. 25) y = W x + b (d -> m), then L2 normalisation y / ||y||_2 (SPECS:
   the paper's "softmax or similar" must make the sum of squares 1, which softmax does not);
2. a Hadamard on every qubit;
3. G = ``layers`` times: RX(pi y_n) on qubit n (one reduced feature per qubit, the data
   re-uploaded in every layer), CZ between neighbours (n, n+1) for n = 0..m-2, then the
   trainable RY(tanh theta_{g,n}) on every qubit (eq. 35);
4. readout <Z_n> on every qubit.

The affine maps that turn the m values into Q-values or action means belong to the agents
(:mod:`.dqn`, :mod:`.sac`). Note what the circuit as written implies: the first layer's RX acts
on |+>, an eigenstate of X, so it only adds a global phase; the data takes effect from the second
layer on (with G = 4, three of the four uploads act).

The QNode runs on PennyLane ``default.qubit`` with the JAX interface and backprop; the batch is
PennyLane parameter broadcasting on the RX angles (one simulation for the whole batch), and the
whole forward/gradient is traced into the agent's ``jax.jit`` update.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jax
import jax.numpy as jnp

Params = dict[str, Any]
# ||y|| below this is treated as this (a zero reduction output would divide by zero)
_NORM_EPS = 1e-8


@lru_cache(maxsize=16)
def _qnode(qubits: int, layers: int) -> Callable[[jax.Array, jax.Array], Any]:
    """The QNode for a register size and depth: angles (B, m), theta (G, m) -> m <Z>'s (each
    of shape (B,))."""
    import pennylane as qml

    dev = qml.device("default.qubit", wires=qubits)

    @qml.qnode(dev, interface="jax", diff_method="backprop")
    def circuit(angles: jax.Array, theta: jax.Array) -> list[Any]:
        for n in range(qubits):
            qml.Hadamard(wires=n)
        for g in range(layers):
            for n in range(qubits):
                qml.RX(angles[..., n], wires=n)
            for n in range(qubits - 1):
                qml.CZ(wires=[n, n + 1])
            for n in range(qubits):
                qml.RY(jnp.tanh(theta[g, n]), wires=n)
        return [qml.expval(qml.PauliZ(n)) for n in range(qubits)]

    return circuit


@dataclass(frozen=True)
class Circuit:
    """The circuit for ``inputs`` observation values on ``qubits`` qubits and ``layers`` layers."""

    inputs: int
    qubits: int = 8
    layers: int = 4

    def init(self, key: jax.Array) -> Params:
        """Reduction weights (LeCun-normal, zero bias) and theta ~ U(-pi, pi)."""
        k1, k2 = jax.random.split(key)
        w = jax.random.normal(k1, (self.inputs, self.qubits)) / jnp.sqrt(max(self.inputs, 1))
        theta = jax.random.uniform(k2, (self.layers, self.qubits), minval=-jnp.pi,
                                   maxval=jnp.pi)
        return {"reduce": {"w": w, "b": jnp.zeros(self.qubits)}, "theta": theta}

    def features(self, params: Params, x: jax.Array) -> jax.Array:
        """The reduced, L2-normalised features y (B, m) of observations x (B, d)."""
        y = x @ params["reduce"]["w"] + params["reduce"]["b"]
        return y / jnp.maximum(jnp.linalg.norm(y, axis=-1, keepdims=True), _NORM_EPS)

    def expvals(self, params: Params, x: jax.Array) -> jax.Array:
        """<Z_n> (B, m) for observations x (B, d)."""
        angles = jnp.pi * self.features(params, x)
        with warnings.catch_warnings():
            # default.qubit asks for complex128, which JAX without x64 truncates to complex64
            # (single precision is what the agents train in); PennyLane 0.45 calls a deprecated
            # jax.core function while tracing
            warnings.filterwarnings("ignore", message="Explicitly requested dtype complex128")
            warnings.filterwarnings("ignore", message="jax.core.is_concrete is deprecated")
            out = _qnode(self.qubits, self.layers)(angles, params["theta"])
        z = jnp.stack(out, axis=-1).astype(jnp.float32)
        # a single observation (no batch) comes back without the batch axis
        return z.reshape(x.shape[:-1] + (self.qubits,))

    def parameter_count(self) -> int:
        return self.inputs * self.qubits + self.qubits + self.layers * self.qubits


def affine_init(key: jax.Array, inputs: int, outputs: int) -> Params:
    """The readout map <Z> (m) -> outputs: W ~ N(0, 1/m), b = 0."""
    return {"w": jax.random.normal(key, (inputs, outputs)) / jnp.sqrt(inputs),
            "b": jnp.zeros(outputs)}


def affine(params: Params, z: jax.Array) -> jax.Array:
    return z @ params["w"] + params["b"]
