"""Quantum ansätze as PennyLane QNodes (default.qubit, JAX interface, backprop, jitted).

SPECS §A6: Q-MLP, Q-TCN (temporal rotational encoding + dilated skip-connected entanglers),
Q-LSTM (Chen et al.'s cell, eq. 9: the gates are VQCs) and Q-TCN-LSTM (Q-TCN features into a
stacked Q-LSTM, linear head). Each circuit is called with a leading batch dimension on its
angles (PennyLane parameter broadcasting), so one circuit evaluation covers every (sample, t)
pair; the recurrent part runs under `jax.lax.scan`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pennylane as qml

from qgridlang.surrogates.base import Ansatz, Params, count_parameters, dense, dense_init


def _quiet(thunk: Callable[[], list[Any]]) -> list[Any]:
    """Trace a QNode without two warnings that carry no information here: default.qubit asks
    for complex128, which JAX (x64 off) truncates to complex64 -- single precision is what we
    train in -- and PennyLane 0.45 calls the deprecated jax.core.is_concrete."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Explicitly requested dtype complex128")
        warnings.filterwarnings("ignore", message="jax.core.is_concrete is deprecated")
        return thunk()


Circuit = Callable[[jax.Array, jax.Array], jax.Array]


def _dilation(layer: int, n: int) -> int:
    """d = 1, 2, 4, ... per layer (SPECS §A6), folded back into 1..n-1 for small registers."""
    d = 2**layer % n
    return d if d else 1


def qtcn_circuit(qubits: int, layers: int, device: str = "default.qubit") -> Circuit:
    """The Q-TCN kernel: window (batch, qubits) in [0, 1] and weights (layers, qubits) ->
    <Z_i> features (batch, qubits).

    Encoding RY(pi * x_{t-n+1+i}) on qubit i; each layer applies trainable RY on every qubit,
    then CNOT q_i -> q_{(i+d) mod n} with dilation d = 2^layer (the skip-connected entangler).
    """
    dev = qml.device(device, wires=qubits)

    @qml.qnode(dev, interface="jax", diff_method=_diff_method(device))
    def circuit(window: jax.Array, weights: jax.Array) -> list[Any]:
        for i in range(qubits):
            qml.RY(jnp.pi * window[..., i], wires=i)
        for layer in range(layers):
            for i in range(qubits):
                qml.RY(weights[layer, i], wires=i)
            if qubits > 1:
                d = _dilation(layer, qubits)
                for i in range(qubits):
                    qml.CNOT(wires=[i, (i + d) % qubits])
        return [qml.expval(qml.PauliZ(i)) for i in range(qubits)]

    def run(window: jax.Array, weights: jax.Array) -> jax.Array:
        return jnp.stack(_quiet(lambda: circuit(window, weights)), axis=-1).astype(jnp.float32)

    # the QNode itself, for circuit reports and OpenQASM export (surrogates.circuit)
    setattr(run, "qnode", circuit)
    return run


def vqc_circuit(qubits: int, layers: int, readout: int, device: str = "default.qubit") -> Circuit:
    """Chen et al.'s QLSTM gate VQC: H, then RY(arctan v_i), RZ(arctan v_i^2) (their encoding),
    then per layer a CNOT ring and trainable RY; readout <Z_i> on the first `readout` qubits."""
    dev = qml.device(device, wires=qubits)

    @qml.qnode(dev, interface="jax", diff_method=_diff_method(device))
    def circuit(v: jax.Array, weights: jax.Array) -> list[Any]:
        for i in range(qubits):
            qml.Hadamard(wires=i)
            qml.RY(jnp.arctan(v[..., i]), wires=i)
            qml.RZ(jnp.arctan(v[..., i] ** 2), wires=i)
        for layer in range(layers):
            if qubits > 1:
                for i in range(qubits):
                    qml.CNOT(wires=[i, (i + 1) % qubits])
            for i in range(qubits):
                qml.RY(weights[layer, i], wires=i)
        return [qml.expval(qml.PauliZ(i)) for i in range(readout)]

    def run(v: jax.Array, weights: jax.Array) -> jax.Array:
        return jnp.stack(_quiet(lambda: circuit(v, weights)), axis=-1).astype(jnp.float32)

    # the QNode itself, for circuit reports and OpenQASM export (surrogates.circuit)
    setattr(run, "qnode", circuit)
    return run


def _diff_method(device: str) -> str:
    """Backprop through default.qubit's JAX simulation; the adjoint method elsewhere (lightning)."""
    return "backprop" if device == "default.qubit" else "adjoint"


def _windows(x: jax.Array, width: int) -> jax.Array:
    """Causal windows with left zero-padding: (B, T) -> (B, T, width), window t ends at x_t."""
    padded = jnp.pad(x, ((0, 0), (width - 1, 0)))
    idx = jnp.arange(x.shape[1])[:, None] + jnp.arange(width)[None, :]
    return padded[:, idx]


def _weights(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    return jax.random.uniform(key, shape, jnp.float32, 0.0, 2 * np.pi)


class _QTCN:
    """Q-TCN features: (B, T) -> (B, T, qubits), the kernel slid over t."""

    def __init__(self, qubits: int, layers: int, device: str) -> None:
        self.qubits, self.layers = qubits, layers
        self.circuit = qtcn_circuit(qubits, layers, device)

    def init(self, key: jax.Array) -> jax.Array:
        return _weights(key, (self.layers, self.qubits))

    def __call__(self, weights: jax.Array, x: jax.Array) -> jax.Array:
        b, t = x.shape
        win = _windows(x, self.qubits).reshape(b * t, self.qubits)
        return self.circuit(win, weights).reshape(b, t, self.qubits)


class _QLSTMLayer:
    """One Q-LSTM layer (eq. 9): v_t = [h_{t-1}, x_t] (h + d qubits); f, i, o = sigma(VQC1,2,4),
    c~ = tanh(VQC3), each read out on the first h qubits; c_t = f c_{t-1} + i c~;
    h_t = VQC5(o * tanh c_t) (h qubits); y_t = VQC6(h_t) (h qubits)."""

    GATES = ("forget", "input", "update", "output")

    def __init__(self, inputs: int, hidden: int, vqc_layers: int, device: str) -> None:
        self.inputs, self.hidden, self.vqc_layers = inputs, hidden, vqc_layers
        self.gate = vqc_circuit(hidden + inputs, vqc_layers, hidden, device)
        self.square = vqc_circuit(hidden, vqc_layers, hidden, device)

    def init(self, key: jax.Array) -> Params:
        keys = jax.random.split(key, 6)
        n = self.hidden + self.inputs
        p: Params = {g: _weights(k, (self.vqc_layers, n)) for g, k in zip(self.GATES, keys)}
        p["hidden"] = _weights(keys[4], (self.vqc_layers, self.hidden))
        p["out"] = _weights(keys[5], (self.vqc_layers, self.hidden))
        return p

    def __call__(self, p: Params, xs: jax.Array) -> jax.Array:
        """xs (B, T, inputs) -> ys (B, T, hidden)."""
        b = xs.shape[0]

        def step(carry: tuple[jax.Array, jax.Array], x_t: jax.Array) -> tuple[Any, jax.Array]:
            h, c = carry
            v = jnp.concatenate([h, x_t], axis=-1)
            f = jax.nn.sigmoid(self.gate(v, p["forget"]))
            i = jax.nn.sigmoid(self.gate(v, p["input"]))
            c_tilde = jnp.tanh(self.gate(v, p["update"]))
            o = jax.nn.sigmoid(self.gate(v, p["output"]))
            c = f * c + i * c_tilde
            h = self.square(o * jnp.tanh(c), p["hidden"])
            y = self.square(h, p["out"])
            return (h, c), y

        zeros = jnp.zeros((b, self.hidden), jnp.float32)
        _, ys = jax.lax.scan(step, (zeros, zeros), jnp.swapaxes(xs, 0, 1))
        return jnp.swapaxes(ys, 0, 1)


def _split(params: Params) -> dict[str, int]:
    return {k: count_parameters(v) for k, v in params.items()}


def qmlp(length: int, qubits: int = 4, layers: int = 2, device: str = "default.qubit") -> Ansatz:
    """Q-MLP (a dressed circuit): linear T -> qubits, angle encoding RY(pi * z), `layers` of
    trainable RY + a CNOT chain-ring, <Z_i> readout, linear qubits -> T."""
    circuit = qtcn_circuit(qubits, layers, device)  # same RY/CNOT layers; dilation 1, 2, 4, ...

    def init(key: jax.Array) -> Params:
        k1, k2, k3 = jax.random.split(key, 3)
        return {
            "in": dense_init(k1, length, qubits),
            "circuit": _weights(k2, (layers, qubits)),
            "head": dense_init(k3, qubits, length),
        }

    def apply(p: Params, x: jax.Array) -> jax.Array:
        z = jax.nn.sigmoid(dense(p["in"], x))
        return dense(p["head"], circuit(z, p["circuit"]))

    cfg = {"length": length, "qubits": qubits, "layers": layers, "device": device}
    return Ansatz("qmlp", cfg, init, jax.jit(apply), _split, quantum=True)


def qtcn(length: int, qubits: int = 8, layers: int = 3, device: str = "default.qubit") -> Ansatz:
    """Q-TCN: the Q-TCN kernel slid over t, linear head qubits -> 1 per step."""
    tcn = _QTCN(qubits, layers, device)

    def init(key: jax.Array) -> Params:
        k1, k2 = jax.random.split(key)
        return {"qtcn": tcn.init(k1), "head": dense_init(k2, qubits, 1)}

    def apply(p: Params, x: jax.Array) -> jax.Array:
        return dense(p["head"], tcn(p["qtcn"], x))[..., 0]

    cfg = {"length": length, "qubits": qubits, "layers": layers, "device": device}
    return Ansatz("qtcn", cfg, init, jax.jit(apply), _split, quantum=True)


def _stack_init(cells: list[_QLSTMLayer], key: jax.Array) -> Params:
    keys = jax.random.split(key, len(cells))
    return {f"layer{i}": cell.init(k) for i, (cell, k) in enumerate(zip(cells, keys))}


def _stack_apply(cells: list[_QLSTMLayer], p: Params, xs: jax.Array) -> jax.Array:
    for i, cell in enumerate(cells):
        xs = cell(p[f"layer{i}"], xs)
    return xs


def qlstm(
    length: int,
    hidden: int = 3,
    recurrent_layers: int = 2,
    vqc_layers: int = 1,
    device: str = "default.qubit",
) -> Ansatz:
    """Q-LSTM: x_t (one price) into `recurrent_layers` stacked Q-LSTM layers, linear head."""
    cells = [
        _QLSTMLayer(1 if i == 0 else hidden, hidden, vqc_layers, device)
        for i in range(recurrent_layers)
    ]

    def init(key: jax.Array) -> Params:
        k1, k2 = jax.random.split(key)
        return {"qlstm": _stack_init(cells, k1), "head": dense_init(k2, hidden, 1)}

    def apply(p: Params, x: jax.Array) -> jax.Array:
        return dense(p["head"], _stack_apply(cells, p["qlstm"], x[..., None]))[..., 0]

    cfg = {
        "length": length,
        "hidden": hidden,
        "recurrent_layers": recurrent_layers,
        "vqc_layers": vqc_layers,
        "device": device,
    }
    return Ansatz("qlstm", cfg, init, jax.jit(apply), _split, quantum=True)


def qtcn_lstm(
    length: int,
    qubits: int = 8,
    layers: int = 3,
    hidden: int = 3,
    recurrent_layers: int = 2,
    vqc_layers: int = 1,
    device: str = "default.qubit",
) -> Ansatz:
    """Q-TCN-LSTM (SPECS §A6): Q-TCN features (qubits per step), a linear map to one input per
    step, stacked Q-LSTM layers, linear head. With the paper's 8 qubits, 3 layers, hidden 3 and
    2 recurrent layers: 24 + 9 + 22 + 30 + 4 = 89 parameters (the paper: 94, split not given)."""
    tcn = _QTCN(qubits, layers, device)
    cells = [
        _QLSTMLayer(1 if i == 0 else hidden, hidden, vqc_layers, device)
        for i in range(recurrent_layers)
    ]

    def init(key: jax.Array) -> Params:
        k1, k2, k3, k4 = jax.random.split(key, 4)
        return {
            "qtcn": tcn.init(k1),
            "features": dense_init(k2, qubits, 1),
            "qlstm": _stack_init(cells, k3),
            "head": dense_init(k4, hidden, 1),
        }

    def apply(p: Params, x: jax.Array) -> jax.Array:
        feats = dense(p["features"], tcn(p["qtcn"], x))
        return dense(p["head"], _stack_apply(cells, p["qlstm"], feats))[..., 0]

    cfg = {
        "length": length,
        "qubits": qubits,
        "layers": layers,
        "hidden": hidden,
        "recurrent_layers": recurrent_layers,
        "vqc_layers": vqc_layers,
        "device": device,
    }
    return Ansatz("qtcn_lstm", cfg, init, jax.jit(apply), _split, quantum=True)
