"""What a quantum surrogate runs: its circuits, their sizes, the paper's timing estimate beside
the simulator's measured time, and one evaluation circuit as OpenQASM 3 (the ``vqc`` target).

One forward pass (one price series of length T) of each quantum ansatz evaluates:

- ``qmlp``: its circuit once (the linear maps before and after are classical);
- ``qtcn``: the Q-TCN kernel once per step t (T windows of ``qubits`` consecutive prices);
- ``qlstm``: per recurrent layer and step, the four gate VQCs (forget, input, update, output:
  VQC1-4 of SPECS eq. 9, on ``hidden + inputs`` qubits) and VQC5/VQC6 (``hidden`` qubits), so
  6 T circuits per layer;
- ``qtcn_lstm``: the Q-TCN's T windows, then the Q-LSTM's 6 T per layer.

Circuits that differ only in their weights (the four gates of one layer) share a structure and
so a depth and gate counts. The timing model (SPECS §A6, the paper's ref. [28]) is
T^Q = T^P + T^G D + T^M with T^P + T^M = 1 us and T^G = 10 ns per layer of gates (D the
circuit's depth): an ESTIMATE for hardware, reported beside the measured wall time of the
simulator (PennyLane default.qubit under jax.jit, after a warm-up call), which is what this
machine actually takes.

Classical ansätze (mlp, tcn, lstm, tcn_lstm, tiny) are not circuits: :func:`describe` reports
their parameters only, and :func:`export_qasm` refuses them.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from qgridlang.surrogates.base import Ansatz, Params, count_parameters

# SPECS §A6: T^P + T^M (state preparation + measurement) and T^G (one layer of gates)
PREP_AND_MEASURE_S = 1e-6
GATE_LAYER_S = 10e-9
TIMING_MODEL = ("estimate, not a measurement: T^Q = T^P + T^G*D + T^M with T^P + T^M = 1 us, "
                "T^G = 10 ns, D = depth (SPECS A6, the paper's ref. [28])")
# PennyLane operation -> qiskit QuantumCircuit method (all the ansätze use)
_QISKIT_GATES = {"RX": "rx", "RY": "ry", "RZ": "rz", "Hadamard": "h", "CNOT": "cx",
                 "PauliX": "x", "PauliY": "y", "PauliZ": "z", "CZ": "cz", "SWAP": "swap"}


class CircuitError(ValueError):
    """A request the circuit report cannot serve (a classical ansatz, an unknown circuit)."""


@dataclass(frozen=True)
class CircuitPart:
    """One circuit of an ansatz: its weights' place in the parameter tree and its structure."""

    name: str  # path of its weights in the parameter tree: "qtcn", "qlstm.layer0.forget"
    role: str  # what it computes, in words
    kind: str  # "qtcn": RY(pi x) encoding, layers of RY + dilated CNOTs; "vqc": Chen et al.'s
    qubits: int
    layers: int
    readout: int  # <Z_i> on the first `readout` qubits
    runs: int  # evaluations per prediction (one series of length T)

    @property
    def structure(self) -> tuple[str, int, int, int]:
        return (self.kind, self.qubits, self.layers, self.readout)


def circuit_parts(ansatz: Ansatz) -> list[CircuitPart]:
    """Every circuit one forward pass of ``ansatz`` evaluates, with how often (see the module
    docstring); empty for a classical ansatz."""
    if not ansatz.quantum:
        return []
    cfg = ansatz.config
    t = int(cfg["length"])
    if ansatz.name == "qmlp":
        return [CircuitPart("circuit", "Q-MLP circuit (between the linear maps T->qubits and "
                            "qubits->T)", "qtcn", cfg["qubits"], cfg["layers"], cfg["qubits"], 1)]
    parts: list[CircuitPart] = []
    if ansatz.name in ("qtcn", "qtcn_lstm"):
        parts.append(CircuitPart("qtcn", f"Q-TCN window (RY(pi x) on {cfg['qubits']} "
                                 "consecutive steps), once per step", "qtcn", cfg["qubits"],
                                 cfg["layers"], cfg["qubits"], t))
    if ansatz.name in ("qlstm", "qtcn_lstm"):
        hidden, vqc_layers = int(cfg["hidden"]), int(cfg["vqc_layers"])
        for layer in range(int(cfg["recurrent_layers"])):
            n = hidden + (1 if layer == 0 else hidden)
            for k, gate in enumerate(("forget", "input", "update", "output"), start=1):
                parts.append(CircuitPart(f"qlstm.layer{layer}.{gate}",
                                         f"Q-LSTM layer {layer} VQC{k} ({gate} gate, on [h, x])",
                                         "vqc", n, vqc_layers, hidden, t))
            parts.append(CircuitPart(f"qlstm.layer{layer}.hidden",
                                     f"Q-LSTM layer {layer} VQC5 (h from o*tanh c)", "vqc",
                                     hidden, vqc_layers, hidden, t))
            parts.append(CircuitPart(f"qlstm.layer{layer}.out",
                                     f"Q-LSTM layer {layer} VQC6 (y from h)", "vqc", hidden,
                                     vqc_layers, hidden, t))
    if not parts:
        raise CircuitError(f"no circuit description for quantum ansatz '{ansatz.name}'")
    return parts


def part_weights(params: Params, part: CircuitPart) -> np.ndarray:
    node: Any = params
    for key in part.name.split("."):
        node = node[key]
    return np.asarray(node, np.float64)


@lru_cache(maxsize=32)
def _runner(structure: tuple[str, int, int, int], device: str) -> Callable[..., Any]:
    """The ansatz's own circuit function for a structure (``.qnode`` is its PennyLane QNode)."""
    from qgridlang.surrogates import quantum

    kind, qubits, layers, readout = structure
    if kind == "qtcn":
        return quantum.qtcn_circuit(qubits, layers, device)
    return quantum.vqc_circuit(qubits, layers, readout, device)


def _quiet(thunk: Callable[[], Any]) -> Any:
    # the same two uninformative warnings quantum._quiet silences (complex64 under JAX's x32,
    # PennyLane calling a deprecated jax.core function)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Explicitly requested dtype complex128")
        warnings.filterwarnings("ignore", message="jax.core.is_concrete is deprecated")
        return thunk()


def example_series(length: int, seed: int) -> np.ndarray:
    """A seeded example input in normalised units ([0, 1]: min-max scaled prices)."""
    return np.random.default_rng(seed).uniform(0.0, 1.0, length)


def example_input(ansatz: Ansatz, params: Params, part: CircuitPart, series: np.ndarray,
                  seed: int) -> tuple[np.ndarray, str]:
    """An input to bind to ``part`` and how it was made: the genuine input a forward pass on
    ``series`` gives it where that needs no recurrence (a Q-TCN window, the Q-MLP's encoded
    vector); a seeded vector in [-1, 1] (the range of h and of tanh c) for a Q-LSTM VQC."""
    if part.kind == "qtcn" and ansatz.name == "qmlp":
        w, b = (np.asarray(params["in"][k], np.float64) for k in ("w", "b"))
        z = 1.0 / (1.0 + np.exp(-(series @ w + b)))  # quantum.qmlp's sigmoid(dense(in, x))
        return z.astype(np.float64), "the example series through the input map (sigmoid(W x + b))"
    if part.kind == "qtcn":
        padded = np.concatenate([np.zeros(max(part.qubits - len(series), 0)), series])
        return padded[-part.qubits:], f"the last window of the example series (steps " \
            f"{max(len(series) - part.qubits, 0) + 1}..{len(series)})"
    rng = np.random.default_rng([seed, part.qubits])
    return rng.uniform(-1.0, 1.0, part.qubits), "a seeded vector in [-1, 1] (v = [h, x])"


def tape(part: CircuitPart, weights: np.ndarray, inputs: np.ndarray) -> Any:
    """The PennyLane tape of one evaluation of ``part``, its weights and inputs bound."""
    import pennylane as qml

    qnode = _runner(part.structure, "default.qubit").qnode  # type: ignore[attr-defined]
    return _quiet(lambda: qml.workflow.construct_tape(qnode)(inputs, weights))


def pennylane_expvals(part: CircuitPart, weights: np.ndarray, inputs: np.ndarray) -> np.ndarray:
    """<Z_i> of the readout qubits as the ansatz computes them (PennyLane default.qubit)."""
    run = _runner(part.structure, "default.qubit")
    return np.asarray(_quiet(lambda: run(inputs[None, :], weights))[0], np.float64)


def to_qiskit(qtape: Any, measure: bool = True) -> Any:
    """A qiskit QuantumCircuit with the tape's gates (PennyLane wire i -> qiskit qubit i) and,
    with ``measure``, the <Z> readout qubits measured into a classical register."""
    from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister

    wires = list(qtape.wires)
    index = {w: k for k, w in enumerate(wires)}
    q = QuantumRegister(len(wires), "q")
    readout = [index[m.wires[0]] for m in qtape.measurements]
    qc = QuantumCircuit(q)
    if measure:
        qc.add_register(ClassicalRegister(len(readout), "z"))
    for op in qtape.operations:
        method = _QISKIT_GATES.get(op.name)
        if method is None:
            raise CircuitError(f"no OpenQASM mapping for PennyLane operation {op.name}")
        angles = [float(np.asarray(p)) for p in op.parameters]
        getattr(qc, method)(*angles, *[index[w] for w in op.wires])
    if measure:
        qc.measure(readout, list(range(len(readout))))
    return qc


def qiskit_expvals(qc: Any, readout: list[int]) -> np.ndarray:
    """<Z_i> on ``readout`` qubits from qiskit's exact statevector (final measurements off)."""
    from qiskit.quantum_info import SparsePauliOp, Statevector

    sv = Statevector(qc.remove_final_measurements(inplace=False))
    n = qc.num_qubits
    return np.asarray([sv.expectation_value(SparsePauliOp.from_sparse_list([("Z", [i], 1.0)], n))
                       .real for i in readout], np.float64)


def _timed(fn: Callable[[], Any], budget_s: float = 0.5, min_runs: int = 3,
           max_runs: int = 100) -> tuple[float, int, float]:
    """(median seconds per call, calls timed, seconds of the warm-up call: JIT compile)."""
    import jax

    t0 = time.perf_counter()
    jax.block_until_ready(fn())
    warm = time.perf_counter() - t0
    times: list[float] = []
    stop = time.perf_counter() + budget_s
    while len(times) < min_runs or (len(times) < max_runs and time.perf_counter() < stop):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), len(times), warm


@dataclass
class CircuitReport:
    """The circuits of one surrogate, one of them bound and exported (quantum ansätze)."""

    ansatz: Ansatz
    parameters: int
    parameter_split: dict[str, int]
    circuit_parameters: int  # the share in circuit weights (the rest: classical maps)
    parts: list[CircuitPart] = field(default_factory=list)
    resources: dict[tuple[str, int, int, int], dict[str, Any]] = field(default_factory=dict)
    exported: CircuitPart | None = None
    example: str = ""
    qasm: str | None = None
    qasm_check: float | None = None  # max |<Z> qiskit - <Z> PennyLane| of the exported circuit
    estimate: dict[str, float] = field(default_factory=dict)
    measured: dict[str, Any] = field(default_factory=dict)

    @property
    def quantum(self) -> bool:
        return bool(self.parts)

    @property
    def evaluations(self) -> int:
        return sum(p.runs for p in self.parts)

    def groups(self) -> list[dict[str, Any]]:
        """The parts grouped by structure (same depth and gates), in order of appearance."""
        out: dict[tuple[str, int, int, int], dict[str, Any]] = {}
        for p in self.parts:
            g = out.get(p.structure)
            if g is None:
                res = self.resources[p.structure]
                out[p.structure] = {"circuits": [p.name], "qubits": p.qubits,
                                    "layers": p.layers, "depth": res["depth"],
                                    "gates": dict(res["gates"]), "runs": p.runs}
            else:
                g["circuits"].append(p.name)
                g["runs"] += p.runs
        return list(out.values())


def describe(ansatz: Ansatz, params: Params, *, example_seed: int = 1,
             export: str | None = None, timing: bool = True) -> CircuitReport:
    """The circuit report of ``ansatz`` with ``params``: every circuit's size, the one named
    ``export`` (default: the first, e.g. the Q-TCN window) bound to an example input and
    written as OpenQASM 3 (checked against PennyLane), the timing estimate, and with
    ``timing`` the simulator's measured time per prediction and per evaluation."""
    import jax.numpy as jnp
    import pennylane as qml

    split = ansatz.parameter_split(params)
    parts = circuit_parts(ansatz)
    report = CircuitReport(ansatz, count_parameters(params), split,
                           sum(int(part_weights(params, p).size) for p in parts), parts)
    length = int(ansatz.config["length"])
    series = example_series(length, example_seed)
    if timing:
        x = jnp.asarray(series[None, :], jnp.float32)
        sec, runs, warm = _timed(lambda: ansatz.apply(params, x))
        report.measured = {"per_prediction_s": sec, "runs": runs, "compile_s": warm,
                           "device": ansatz.config.get("device", "cpu (flax)")}
    if not parts:
        return report
    for p in parts:
        if p.structure not in report.resources:
            t = tape(p, part_weights(params, p), np.zeros(p.qubits))
            res = qml.resource.resources_from_tape(t)
            report.resources[p.structure] = {"depth": int(res.depth),
                                             "gates": {str(k): int(v)
                                                       for k, v in res.gate_types.items()}}
    chosen = parts[0] if export is None else next((p for p in parts if p.name == export), None)
    if chosen is None:
        raise CircuitError(f"ansatz {ansatz.name} has no circuit '{export}'; its circuits: "
                           f"{', '.join(p.name for p in parts)}")
    report.exported = chosen
    weights = part_weights(params, chosen)
    inputs, how = example_input(ansatz, params, chosen, series, example_seed)
    report.example = how
    qtape = tape(chosen, weights, inputs)
    qc = to_qiskit(qtape)
    readout = list(range(chosen.readout))
    report.qasm_check = float(np.max(np.abs(qiskit_expvals(qc, readout)
                                            - pennylane_expvals(chosen, weights, inputs))))
    report.qasm = _qasm_text(ansatz, chosen, qc, inputs, how)
    per = {s: PREP_AND_MEASURE_S + GATE_LAYER_S * r["depth"] for s, r in report.resources.items()}
    report.estimate = {"per_evaluation_s": per[chosen.structure],
                       "per_prediction_s": sum(per[p.structure] * p.runs for p in parts)}
    if timing:
        import jax

        run = _runner(chosen.structure, str(ansatz.config.get("device", "default.qubit")))
        one = jnp.asarray(inputs[None, :], jnp.float32)
        w = jnp.asarray(weights, jnp.float32)
        jitted = jax.jit(run)
        sec, runs, warm = _timed(lambda: jitted(one, w))
        report.measured.update({"per_evaluation_s": sec, "evaluation_runs": runs})
    return report


def _qasm_text(ansatz: Ansatz, part: CircuitPart, qc: Any, inputs: np.ndarray,
               how: str) -> str:
    from qiskit import qasm3

    head = [f"// qgridlang vqc: ansatz {ansatz.name}, circuit {part.name}: {part.role}",
            f"// {part.qubits} qubits, {part.layers} variational layer(s); <Z> of qubits "
            f"0..{part.readout - 1} are the outputs (measured into z)",
            f"// input bound: {how}: " + ", ".join(f"{v:.6g}" for v in inputs)]
    return "\n".join(head) + "\n" + qasm3.dumps(qc)


def export_qasm(report: CircuitReport) -> str:
    """The exported evaluation circuit as OpenQASM 3; a classical ansatz has none."""
    if report.qasm is None:
        raise CircuitError(f"ansatz {report.ansatz.name} is classical (a flax network), not a "
                           "circuit: there is no OpenQASM to export")
    return report.qasm


def fmt_seconds(s: float) -> str:
    """1.1e-06 -> '1.1 us' (ASCII, for reports)."""
    if not math.isfinite(s):
        return str(s)
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"
