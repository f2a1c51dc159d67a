"""QAOA lowering of a QUBO: the sparse Ising cost Hamiltonian and the p-layer circuit.

``lower(bqm, p) -> QaoaProgram`` turns the ``qubo`` target's ``dimod.BinaryQuadraticModel`` into

* an :class:`IsingForm`: ``H = offset + sum_i h_i Z_i + sum_(i<j) J_ij Z_i Z_j`` over qubits
  ``0 .. n-1`` (qubit ``i`` is the BQM's ``i``-th variable), kept as coefficient arrays. dimod's
  SPIN conversion (what ``bqm.to_ising()`` returns, as arrays) gives ``s = 2x - 1``; a qubit
  measured as ``|1>`` means ``x = 1`` and has ``Z = -1``, so ``Z = -s``: ``h = -h_dimod`` and
  ``J = J_dimod``. Every energy below is the BQM's energy of the bit string, offset included.
* the QAOA circuit (qiskit): ``|+>^n`` (or a warm-start product state), then ``p`` times
  ``exp(-i gamma_k H / scale)`` and the mixer ``exp(-i beta_k sum_i X_i)`` (the warm-start
  mixer of Egger et al. 2021 when warm started). ``scale`` is the largest absolute coefficient, so
  the angles live on one range whatever the penalty weights; the circuit's free parameters are
  ``gamma[k]`` and ``beta[k]``.

ZZ terms are ordered by a Misra-Gries edge colouring of the interaction graph (rustworkx), so each
colour class is one layer of parallel RZZ gates. Nothing here is dense in ``2^n`` except
:func:`diagonal`, which the statevector backend asks for explicitly and in chunks.

Also here: parameter schedules (TQA linear ramp, INTERP), the continuous relaxation for warm
starts, circuit facts (qubits, depth, two-qubit gates), and fake IBM devices by name.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import dimod
import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize

from qgridlang.errors import BackendError, UsageError, did_you_mean

if TYPE_CHECKING:
    from qiskit import QuantumCircuit
    from qiskit.providers import BackendV2
    from qiskit.quantum_info import SparsePauliOp

__all__ = [
    "IsingForm",
    "QaoaProgram",
    "build_ansatz",
    "circuit_facts",
    "device_facts",
    "diagonal",
    "fake_backend",
    "hamiltonian_json",
    "interp",
    "lower",
    "parameter_order",
    "relaxation",
    "tqa_schedule",
    "warm_angles",
]

QISKIT_HINT = 'pip install -e ".[quantum]"  (qiskit, qiskit-aer, qiskit-ibm-runtime)'
DIAGONAL_CHUNK = 1 << 16  # basis states per chunk when enumerating energies
DROP_RTOL = 1e-12  # coefficients below this fraction of the largest are cancellation noise


@dataclass(frozen=True, eq=False)  # arrays: compare fields explicitly
class IsingForm:
    """``H = offset + sum h_i Z_i + sum J_k Z_(rows_k) Z_(cols_k)`` (``rows < cols``).

    Attributes:
        h: Z coefficient per qubit.
        rows, cols: The two qubits of every ZZ term (``rows < cols``), in circuit order.
        J: ZZ coefficients.
        offset: Constant energy (the BQM's offset plus what the spin change adds).
        labels: The BQM variable of every qubit.
    """

    h: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    J: np.ndarray
    offset: float
    labels: tuple[Any, ...] = field(default=())

    @property
    def n(self) -> int:
        return int(self.h.shape[0])

    @property
    def scale(self) -> float:
        """Largest absolute coefficient (1 for a constant Hamiltonian): the angle unit."""
        big = max(np.abs(self.h).max(initial=0.0), np.abs(self.J).max(initial=0.0))
        return float(big) if big > 0 else 1.0

    @classmethod
    def from_bqm(cls, bqm: dimod.BinaryQuadraticModel) -> IsingForm:
        """The Ising form of ``bqm`` with qubit ``i`` = ``bqm.variables[i]``."""
        order = list(bqm.variables)
        spin = bqm.change_vartype(dimod.SPIN, inplace=False)
        vec = spin.to_numpy_vectors(variable_order=order)
        r = np.asarray(vec.quadratic.row_indices, dtype=np.int64)
        c = np.asarray(vec.quadratic.col_indices, dtype=np.int64)
        j = np.asarray(vec.quadratic.biases, dtype=float)
        h = -np.asarray(vec.linear_biases, dtype=float)
        # the spin change sums terms that may cancel: drop the float dust it leaves (1e-17
        # angles also trip qiskit's parameter-expression hashing)
        dust = DROP_RTOL * max(np.abs(h).max(initial=0.0), np.abs(j).max(initial=0.0))
        h[np.abs(h) <= dust] = 0.0
        keep = np.abs(j) > dust
        lo, hi, j = np.minimum(r, c)[keep], np.maximum(r, c)[keep], j[keep]
        colour = _edge_colours(len(order), lo, hi)
        perm = np.lexsort((hi, lo, colour))
        return cls(h, lo[perm], hi[perm], j[perm], float(vec.offset), tuple(order))

    def energies(self, bits: np.ndarray) -> np.ndarray:
        """Energy of every row of ``bits`` (``k x n`` of 0/1): vectorised, ``O(k (n + m))``."""
        z = 1.0 - 2.0 * np.atleast_2d(np.asarray(bits, dtype=float))
        coupling = sp.csr_matrix((self.J, (self.rows, self.cols)), shape=(self.n, self.n))
        pair = np.asarray((coupling.T @ z.T).T)  # z @ coupling without densifying it
        return np.asarray(self.offset + z @ self.h + np.einsum("ij,ij->i", pair, z))

    def operator(self) -> SparsePauliOp:
        """The cost Hamiltonian without its offset, built from symplectic arrays."""
        from qiskit.quantum_info import PauliList, SparsePauliOp

        n, m = self.n, len(self.J)
        lin = np.flatnonzero(self.h)
        z = np.zeros((len(lin) + m, n), dtype=bool)
        z[np.arange(len(lin)), lin] = True
        z[len(lin) + np.arange(m), self.rows] = True
        z[len(lin) + np.arange(m), self.cols] = True
        paulis = PauliList.from_symplectic(z, np.zeros_like(z))
        coeffs = np.concatenate([self.h[lin], self.J]).astype(complex)
        if not len(coeffs):
            return SparsePauliOp(["I" * n], [0.0])
        return SparsePauliOp(paulis, coeffs)


@dataclass(frozen=True, eq=False)
class QaoaProgram:
    """The ``qaoa`` target's artifact.

    Attributes:
        bqm: The QUBO it came from (what every QUBO backend runs).
        ising: Its sparse Ising form.
        p: Layers.
        circuit: The parameterised ansatz with measurements (``gamma[k]``, ``beta[k]``).
        warm_start: Relaxed values ``c*`` of the warm start (``None``: standard QAOA).
        facts: Logical and transpiled circuit facts (the compile report's ``qaoa`` section).
    """

    bqm: dimod.BinaryQuadraticModel
    ising: IsingForm
    p: int
    circuit: QuantumCircuit
    warm_start: np.ndarray | None
    facts: dict[str, Any]


def lower(bqm: dimod.BinaryQuadraticModel, p: int = 1, *, warm_start: bool = False,
          epsilon: float = 0.25, device: str | None = None, optimization_level: int = 1,
          seed: int | None = None) -> QaoaProgram:
    """The QAOA program of ``bqm``: Ising form, ``p``-layer circuit and its facts.

    Args:
        bqm: A binary quadratic model (the ``qubo`` target's artifact).
        p: Number of QAOA layers (>= 1).
        warm_start: Start from the continuous relaxation (:func:`relaxation`).
        epsilon: Warm-start regularisation: relaxed values are clipped to
            ``[epsilon, 1 - epsilon]``.
        device: A fake IBM backend to transpile to for the report (``FakeSherbrooke`` …);
            ``None`` reports the logical circuit only.
        optimization_level: Preset pass manager level for ``device``.
        seed: Transpiler seed.
    """
    _check_p(p)
    ising = IsingForm.from_bqm(bqm)
    warm = relaxation(bqm) if warm_start else None
    thetas = warm_angles(warm, epsilon) if warm is not None else None
    circuit = build_ansatz(ising, p, thetas, measure=True)
    facts: dict[str, Any] = {
        "p": p, "qubits": ising.n, "z_terms": int(np.count_nonzero(ising.h)),
        "zz_terms": len(ising.J), "angle_scale": ising.scale, "warm_start": warm is not None,
        "logical": circuit_facts(circuit),
    }
    if device is not None:
        facts["transpiled"] = device_facts(circuit, device, optimization_level, seed)
    return QaoaProgram(bqm, ising, p, circuit, warm, facts)


def _check_p(p: int) -> None:
    if not isinstance(p, int | np.integer) or p < 1:
        raise UsageError(f"QAOA needs p >= 1 layers, got {p!r}", hint="--option p=2")


def build_ansatz(ising: IsingForm, p: int, thetas: np.ndarray | None = None,
                 measure: bool = False) -> QuantumCircuit:
    """The ``p``-layer QAOA circuit with parameters ``gamma[0..p-1]`` and ``beta[0..p-1]``.

    Args:
        ising: The cost Hamiltonian (applied as ``exp(-i gamma H / scale)``).
        p: Layers.
        thetas: Warm-start angles ``2 asin(sqrt(c*))`` per qubit: initial state ``RY(theta)|0>``
            and mixer ``RY(theta) RZ(2 beta) RY(-theta)`` (Egger et al. 2021). ``None``:
            ``|+>`` and ``RX(2 beta)``; ``theta = pi/2`` everywhere gives the same circuit.
        measure: Append ``measure_all`` (register ``meas``: bit ``i`` is qubit ``i``).
    """
    from qiskit import QuantumCircuit
    from qiskit.circuit import ParameterVector
    from qiskit.circuit.library import evolved_operator_ansatz

    _check_p(p)
    n = ising.n
    gamma, beta = ParameterVector("gamma", p), ParameterVector("beta", p)
    cost_op = ising.operator() / ising.scale
    # one flat cost layer (qiskit's Rust Pauli evolution: RZ and RZZ in our term order)
    layer = evolved_operator_ansatz(cost_op, reps=1, parameter_prefix="t", flatten=True)
    (t,) = layer.parameters
    qc = QuantumCircuit(n, name=f"qaoa_p{p}")
    qubits = list(range(n))
    if thetas is None:
        qc.h(qubits)
    else:
        for q, th in enumerate(np.asarray(thetas, dtype=float).tolist()):
            qc.ry(th, q)
    for k in range(p):
        qc.compose(layer.assign_parameters({t: gamma[k]}), qubits, inplace=True)
        if thetas is None:
            qc.rx(2 * beta[k], qubits)
        else:
            for q, th in enumerate(np.asarray(thetas, dtype=float).tolist()):
                qc.ry(-th, q)
                qc.rz(2 * beta[k], q)
                qc.ry(th, q)
    if measure:
        qc.measure_all()
    return qc


def parameter_order(circuit: QuantumCircuit, p: int) -> np.ndarray:
    """Positions in ``circuit.parameters`` of ``gamma[0..p-1], beta[0..p-1]``: a vector
    ``x = [gammas, betas]`` binds as ``values[perm] = x`` (``values = np.empty(2p)``)."""
    position = {param.name: i for i, param in enumerate(circuit.parameters)}
    names = [f"gamma[{k}]" for k in range(p)] + [f"beta[{k}]" for k in range(p)]
    return np.asarray([position[nm] for nm in names], dtype=np.int64)


def bind_values(perm: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``x = [gammas, betas]`` in ``circuit.parameters`` order."""
    values = np.empty(len(x))
    values[perm] = x
    return values


def diagonal(ising: IsingForm) -> np.ndarray:
    """Energies of all ``2^n`` basis states (qiskit order: bit ``i`` of the index is qubit
    ``i``); only for sizes whose statevector fits in memory.

    The qubits split into ``L`` low ones (``2^L`` = :data:`DIAGONAL_CHUNK` states) and the high
    rest. The low block's energies and spins are computed once; each block of the high qubits'
    assignment then adds a constant (its own terms) and a matrix-vector product (the couplings
    between the halves): ``O(2^n L)`` flops in BLAS, no per-term loop.
    """
    n = ising.n
    low_n = min(n, DIAGONAL_CHUNK.bit_length() - 1)
    high_n = n - low_n
    z_low = 1.0 - 2.0 * index_bits(np.arange(1 << low_n), low_n)
    coupling = sp.csr_matrix((ising.J, (ising.rows, ising.cols)), shape=(n, n)).toarray()
    lo_lo, lo_hi, hi_hi = (coupling[:low_n, :low_n], coupling[:low_n, low_n:],
                           coupling[low_n:, low_n:])
    base = ising.offset + z_low @ ising.h[:low_n] + np.einsum("ij,ij->i", z_low @ lo_lo, z_low)
    out = np.empty(1 << n)
    size = 1 << low_n
    h_hi = ising.h[low_n:]
    for block in range(1 << high_n):
        z_hi = 1.0 - 2.0 * ((block >> np.arange(high_n)) & 1)
        const = float(h_hi @ z_hi + z_hi @ hi_hi @ z_hi)
        out[block * size:(block + 1) * size] = base + const + z_low @ (lo_hi @ z_hi)
    return out


def index_bits(index: np.ndarray, n: int) -> np.ndarray:
    """Bit rows (``k x n`` uint8, column ``i`` = qubit ``i``) of basis-state indices."""
    idx = np.asarray(index, dtype=np.int64)
    return ((idx[:, None] >> np.arange(n, dtype=np.int64)) & 1).astype(np.uint8)


# --- parameter schedules -------------------------------------------------------------------

def tqa_schedule(p: int, dt: float = 0.75) -> np.ndarray:
    """Linear-ramp (TQA, Sack & Serbyn 2021) start ``[gammas, betas]`` for ``p`` layers.

    A Trotterised anneal from ``-sum X`` (ground state ``|+>``) to ``H / scale`` in steps of
    ``dt``: ``gamma_k = s_k dt`` and, with this module's mixer ``exp(-i beta sum X)``,
    ``beta_k = -(1 - s_k) dt`` where ``s_k = (k - 1/2) / p``.
    """
    s = (np.arange(1, p + 1) - 0.5) / p
    return np.concatenate([s * dt, -(1.0 - s) * dt])


def interp(x: np.ndarray) -> np.ndarray:
    """INTERP (Zhou et al. 2020): optimal ``[gammas, betas]`` at depth ``p`` -> a start at
    ``p + 1`` by linear interpolation of each schedule."""
    p = len(x) // 2
    out = []
    for sched in (x[:p], x[p:]):
        padded = np.concatenate([[0.0], sched, [0.0]])
        i = np.arange(1, p + 2)
        out.append((i - 1) / p * padded[i - 1] + (p - i + 1) / p * padded[i])
    return np.concatenate(out)


# --- warm start ----------------------------------------------------------------------------

def relaxation(bqm: dimod.BinaryQuadraticModel) -> np.ndarray:
    """Minimiser ``c*`` in ``[0, 1]^n`` of the convexified continuous relaxation of ``bqm``.

    The QUBO ``a'x + x'Bx`` is generally not convex over the box, so ``mu sum(x_i^2 - x_i)``
    (zero on every bit string) is added with ``2 mu = max(0, -lambda_min(B + B'))``: the
    relaxation keeps every binary energy, becomes convex, and L-BFGS-B (scipy) finds its global
    minimiser. Order: ``bqm.variables``.
    """
    order = list(bqm.variables)
    n = len(order)
    if n == 0:
        return np.zeros(0)
    vec = bqm.to_numpy_vectors(variable_order=order)
    a = np.asarray(vec.linear_biases, dtype=float)
    r, c, v = (np.asarray(t) for t in (vec.quadratic.row_indices, vec.quadratic.col_indices,
                                       vec.quadratic.biases))
    s = sp.csr_matrix((np.concatenate([v, v]), (np.concatenate([r, c]), np.concatenate([c, r]))),
                      shape=(n, n))
    mu = max(0.0, -_lambda_min(s)) / 2.0 * (1 + 1e-9) + 1e-12

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        sx = s @ x
        value = a @ x + 0.5 * x @ sx + mu * (x @ x - x.sum())
        return float(value), a + sx + mu * (2 * x - 1)

    res = minimize(fun, np.full(n, 0.5), jac=True, method="L-BFGS-B", bounds=[(0.0, 1.0)] * n)
    out: np.ndarray = np.clip(np.asarray(res.x, dtype=float), 0.0, 1.0)
    return out


def _lambda_min(s: sp.csr_matrix) -> float:
    n = s.shape[0]
    if s.nnz == 0:
        return 0.0
    if n <= 64:  # eigsh needs k < n; tiny problems are cheaper dense
        return float(np.linalg.eigvalsh(s.toarray())[0])
    from scipy.sparse.linalg import eigsh

    return float(eigsh(s.astype(float), k=1, which="SA", return_eigenvectors=False)[0])


def warm_angles(c: np.ndarray, epsilon: float = 0.25) -> np.ndarray:
    """``theta_i = 2 asin(sqrt(c_i))`` with ``c`` clipped to ``[epsilon, 1 - epsilon]`` (so the
    mixer can still move every qubit; Egger et al. 2021)."""
    if not 0.0 <= epsilon <= 0.5:
        raise UsageError(f"warm_start_epsilon must lie in [0, 0.5], got {epsilon}")
    out: np.ndarray = 2.0 * np.arcsin(np.sqrt(np.clip(c, epsilon, 1.0 - epsilon)))
    return out


# --- facts and devices ---------------------------------------------------------------------

def _not_io(instruction: Any) -> bool:
    return instruction.operation.name not in ("measure", "barrier")


def circuit_facts(circuit: QuantumCircuit) -> dict[str, Any]:
    """Qubits, depth and two-qubit gates (measurements and barriers left out)."""
    ops = {k: int(v) for k, v in circuit.count_ops().items() if k not in ("measure", "barrier")}
    return {"qubits": circuit.num_qubits, "depth": int(circuit.depth(_not_io)),
            "two_qubit_gates": int(circuit.num_nonlocal_gates()), "gates": ops}


def device_facts(circuit: QuantumCircuit, device: str, optimization_level: int = 1,
                 seed: int | None = None) -> dict[str, Any]:
    """Facts of ``circuit`` transpiled to a fake IBM device's basis and coupling map."""
    import time

    backend = fake_backend(device)
    if circuit.num_qubits > backend.num_qubits:
        return {"device": backend.name, "skipped": f"{circuit.num_qubits} qubits > "
                f"{backend.num_qubits} on the device"}
    t0 = time.perf_counter()
    isa = transpile_for(circuit, backend, optimization_level, seed)
    facts = circuit_facts(isa)
    used = active_qubits(isa)
    facts.update(qubits=len(used), device=backend.name, device_qubits=backend.num_qubits,
                 optimization_level=optimization_level,
                 basis=sorted(set(backend.operation_names) - {"measure", "delay", "reset"}
                              - _CONTROL_FLOW), seconds=time.perf_counter() - t0)
    return facts


_CONTROL_FLOW = {"for_loop", "if_else", "switch_case", "while_loop", "box"}


def transpile_for(circuit: QuantumCircuit, backend: BackendV2, optimization_level: int = 1,
                  seed: int | None = None) -> QuantumCircuit:
    """``circuit`` for ``backend``'s basis and coupling map (qiskit's preset pass manager)."""
    from qiskit.transpiler import generate_preset_pass_manager

    if optimization_level not in (0, 1, 2, 3):
        raise UsageError(f"optimization_level must be 0..3, got {optimization_level!r}")
    pm = generate_preset_pass_manager(optimization_level=optimization_level, backend=backend,
                                      seed_transpiler=seed)
    return pm.run(circuit)


def active_qubits(circuit: QuantumCircuit) -> list[int]:
    """Indices of the qubits some instruction (barriers aside) touches."""
    from qiskit.converters import circuit_to_dag

    dag = circuit_to_dag(circuit)
    idle = set(dag.idle_wires(ignore=["barrier"]))
    return [i for i, q in enumerate(circuit.qubits) if q not in idle]


def fake_backends() -> list[str]:
    """Names of qiskit-ibm-runtime's fake devices (``FakeSherbrooke``, ``FakeManilaV2`` …)."""
    try:
        from qiskit_ibm_runtime import fake_provider
    except ImportError as exc:
        raise BackendError("fake IBM devices need qiskit-ibm-runtime", None,
                           f"install it: {QISKIT_HINT}") from exc
    return sorted(n for n in dir(fake_provider) if re.fullmatch(r"Fake[A-Z][a-z]+(V2)?", n)
                  and n != "FakeFractionalBackend")


def _device_key(name: str) -> str:
    key = re.sub(r"[^a-z0-9]", "", name.lower()).removeprefix("fake")
    return key.removesuffix("v2")


@lru_cache(maxsize=8)
def fake_backend(name: str) -> BackendV2:
    """A fake IBM device by name: ``FakeSherbrooke``, ``fake_sherbrooke``, ``sherbrooke``
    (``FakeManila`` finds ``FakeManilaV2``)."""
    from qiskit_ibm_runtime import fake_provider

    known = fake_backends()
    match = {_device_key(k): k for k in known}.get(_device_key(str(name)))
    if match is None:
        raise UsageError(f"unknown fake IBM device '{name}'", None,
                         did_you_mean(str(name), known) or
                         "e.g. FakeSherbrooke, FakeOsaka, FakeKyoto, FakeTorino")
    backend: BackendV2 = getattr(fake_provider, match)()
    return backend


# --- exports -------------------------------------------------------------------------------

def hamiltonian_json(ising: IsingForm, p: int | None = None) -> str:
    """The cost Hamiltonian as JSON: sparse terms (``paulis``, ``qubits``, ``coeffs``: qiskit's
    ``SparsePauliOp.from_sparse_list`` form), full little-endian Pauli ``labels`` (qubit 0 is the
    last character) and the ``offset``; energy of a bit string = ``offset + sum coeff * prod Z``
    with ``Z = +1`` for bit 0 and ``-1`` for bit 1."""
    n = ising.n
    lin = np.flatnonzero(ising.h)
    t = len(lin) + len(ising.J)
    qubits = [[q] for q in lin.tolist()] + np.stack([ising.rows, ising.cols], 1).tolist()
    grid = np.full((t, n), ord("I"), dtype=np.uint8)
    grid[np.arange(len(lin)), n - 1 - lin] = ord("Z")
    zz = len(lin) + np.arange(len(ising.J))
    grid[zz, n - 1 - ising.rows] = ord("Z")
    grid[zz, n - 1 - ising.cols] = ord("Z")
    labels = grid.view(f"S{n}").ravel().astype(str).tolist() if n else [""] * t
    doc = {
        "format": "qgridlang-ising/1", "num_qubits": n, "offset": ising.offset,
        "scale": ising.scale, "layers": p,
        "convention": "energy(bits) = offset + sum_k coeffs[k] * prod_(q in qubits[k]) Z_q, "
                      "Z_q = 1 - 2 * bit_q; qubit q is BQM variable variables[q]; the circuit "
                      "applies exp(-i gamma H / scale)",
        "variables": [_jsonable(v) for v in ising.labels],
        "paulis": ["Z"] * len(lin) + ["ZZ"] * len(ising.J),
        "qubits": qubits,
        "coeffs": np.concatenate([ising.h[lin], ising.J]).tolist(),
        "labels": labels,
    }
    return json.dumps(doc)


def _jsonable(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v if isinstance(v, int | str) else str(v)


def _edge_colours(n: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Misra-Gries edge colouring (at most max degree + 1 colours); zeros without rustworkx."""
    m = len(rows)
    if m == 0:
        return np.zeros(0, dtype=np.int64)
    try:
        import rustworkx as rx
    except ImportError:  # pragma: no cover - rustworkx ships with qiskit
        return np.zeros(m, dtype=np.int64)
    graph = rx.PyGraph(multigraph=False)
    graph.add_nodes_from(range(n))
    graph.add_edges_from_no_data(list(zip(rows.tolist(), cols.tolist(), strict=True)))
    colouring = rx.graph_misra_gries_edge_color(graph)
    colour = np.zeros(m, dtype=np.int64)
    colour[np.fromiter(colouring.keys(), dtype=np.int64, count=len(colouring))] = np.fromiter(
        colouring.values(), dtype=np.int64, count=len(colouring))
    return colour


def state_bytes(n: int) -> int:
    """Bytes of an ``n``-qubit complex128 statevector: ``2^n * 16``."""
    return (1 << n) * 16


def human_bytes(b: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if b < 1024 or unit == "EiB":
            return f"{b:.1f} {unit}" if unit != "B" else f"{int(b)} B"
        b /= 1024
    return f"{b:.1f} EiB"  # pragma: no cover
