"""The discrete-time quantum walk of SPECS §C3, as a qiskit circuit simulated exactly.

Registers: ``n`` position qubits (qubits ``0 .. n-1``, little-endian, so the level is the integer
they spell; ``N = 2**n`` levels) and one coin qubit (qubit ``n``; ``|0>`` = up, ``|1>`` = down).
A statevector index is ``coin * N + level``.

One step is ``U = S (I ⊗ C)``: the Hadamard coin ``C`` on the coin qubit, then the conditional
shift ``S`` (level + 1 on coin up, level - 1 on coin down).

Choices the paper leaves open (documented in docs/language/control.md, tested in
tests/test_quantum_walk.py):

- **Coin encoding.** The trend ``τ ∈ [-1, 1]`` is amplitude-encoded as ``α = √((1+τ)/2)`` and
  ``β = i √((1-τ)/2)``, and that is the coin the *first shift* reads: the circuit prepares
  ``C (α|↑> + β|↓>)`` (RY, S, H), and the first step's Hadamard undoes the H. So the first step
  moves up with probability ``(1+τ)/2``, as the classical biased walk does. The phase ``i`` on
  ``β`` is what makes the walk unbiased at ``τ = 0``: with real amplitudes the Hadamard walk
  drifts up (+5.6 levels after 20 steps at τ = 0), and with the literal order (coin prepared as
  ``α|↑> + β|↓>`` then tossed) the first move is even in τ and the trend's sign is lost. With
  this encoding the mean displacement is exactly ``τ`` times the τ = 1 walk's (odd and linear
  in τ; tested).
- **Boundary.** A unitary walk cannot clamp. At the two ends the shift that would leave the
  lattice instead flips the coin and stays (``|N-1,↑> -> |N-1,↓>``, ``|0,↓> -> |0,↑>``): a
  reflecting wall, still a permutation of basis states. In the circuit it is the cyclic
  increment/decrement followed by the transposition ``|0,↑> <-> |N-1,↓>``.

The fast path (:class:`WalkSimulator`) evolves the statevector with the step's unitary taken
from the circuit itself (``qiskit.quantum_info.Operator``), cached per register size, and
decodes every horizon from one pass; the circuit path (:func:`circuit_expectations`) evolves a
``qiskit.quantum_info.Statevector`` step by step. They agree to machine precision (tested).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from qiskit import QuantumCircuit, QuantumRegister, qasm3, transpile
from qiskit.quantum_info import Operator, Statevector


def coin_angle(tau: float) -> float:
    """The RY angle with ``cos(θ/2) = α = √((1+τ)/2)`` and ``sin(θ/2) = √((1-τ)/2)``."""
    t = float(np.clip(tau, -1.0, 1.0))
    return 2.0 * math.acos(math.sqrt((1.0 + t) / 2.0))


def _increment(qc: QuantumCircuit, pos: list[int], coin: int) -> None:
    """Level + 1 (mod N) controlled on coin |1>: an MCX ladder, most significant bit first."""
    for j in reversed(range(len(pos))):
        qc.mcx([coin, *pos[:j]], pos[j])


def _shift(qc: QuantumCircuit, pos: list[int], coin: int) -> None:
    """The cyclic conditional shift: level + 1 on coin |0> (up), level - 1 on coin |1> (down).

    Decrement is the increment conjugated by X on every position qubit (the complement of
    ``~x + 1`` is ``x - 1``); the up branch is the increment with the coin control negated.
    """
    qc.x(coin)
    _increment(qc, pos, coin)
    qc.x(coin)
    qc.x(pos)
    _increment(qc, pos, coin)
    qc.x(pos)


def step_circuit(position_qubits: int) -> QuantumCircuit:
    """One walk step ``U = S (I ⊗ C)`` with reflecting ends (see the module docstring)."""
    n = int(position_qubits)
    if n < 1:
        raise ValueError("position_qubits must be at least 1")
    pos_reg = QuantumRegister(n, "pos")
    coin_reg = QuantumRegister(1, "coin")
    qc = QuantumCircuit(pos_reg, coin_reg, name="walk_step")
    pos = list(range(n))
    coin = n
    qc.h(coin)
    _shift(qc, pos, coin)
    # reflecting ends: after the cyclic shift the two wrapped states are |0,↑> (came from
    # |N-1,↑>) and |N-1,↓> (came from |0,↓>); swap them. They differ in every bit, so CX from
    # the coin makes them differ only in the coin, an MCX on the coin (open controls on the
    # position) swaps them, and the CXs are undone.
    for q in pos:
        qc.cx(coin, q)
    qc.x(pos)
    qc.mcx(pos, coin)
    qc.x(pos)
    for q in pos:
        qc.cx(coin, q)
    return qc


def prepare_circuit(position_qubits: int, level: int, tau: float) -> QuantumCircuit:
    """The start: the position register in ``|level>``, the coin in ``C (α|↑> + i β|↓>)``."""
    n = int(position_qubits)
    if not 0 <= level < 2**n:
        raise ValueError(f"level {level} outside 0 .. {2**n - 1}")
    qc = QuantumCircuit(QuantumRegister(n, "pos"), QuantumRegister(1, "coin"), name="prepare")
    for j in range(n):
        if (level >> j) & 1:
            qc.x(j)
    qc.ry(coin_angle(tau), n)
    qc.s(n)  # the phase i on the down amplitude
    qc.h(n)  # undone by the first step's coin toss
    return qc


def walk_circuit(position_qubits: int, steps: int, level: int, tau: float) -> QuantumCircuit:
    """Preparation followed by ``steps`` walk steps (no measurement: read ⟨Z_j⟩ exactly)."""
    qc = prepare_circuit(position_qubits, level, tau)
    step = step_circuit(position_qubits)
    for _ in range(int(steps)):
        qc.compose(step, inplace=True)
    qc.name = f"quantum_walk_{position_qubits}q_{steps}steps"
    return qc


def walk_qasm3(position_qubits: int, steps: int, level: int, tau: float) -> str:
    """OpenQASM 3 text of :func:`walk_circuit`, in the ``u``/``cx`` basis (portable: no MCX)."""
    qc = transpile(
        walk_circuit(position_qubits, steps, level, tau),
        basis_gates=["u", "cx"],
        optimization_level=0,
    )
    return qasm3.dumps(qc)


@lru_cache(maxsize=32)
def circuit_cost(position_qubits: int, steps: int) -> dict[str, int]:
    """Qubits, depth and gate counts of one prediction's circuit after transpiling to u/cx."""
    qc = transpile(
        walk_circuit(position_qubits, steps, 2 ** (position_qubits - 1), 0.3),
        basis_gates=["u", "cx"],
        optimization_level=1,
        seed_transpiler=0,
    )
    ops = qc.count_ops()
    return {
        "qubits": qc.num_qubits,
        "depth": int(qc.depth()),
        "cx": int(ops.get("cx", 0)),
        "u": int(ops.get("u", 0)),
        "steps": int(steps),
    }


def _z_signs(position_qubits: int) -> np.ndarray:
    """(n, N): the eigenvalue of Z_j on each level, 1 - 2 * bit_j(level)."""
    levels = np.arange(2**position_qubits)
    bits = (levels[None, :] >> np.arange(position_qubits)[:, None]) & 1
    return 1.0 - 2.0 * bits


def decode_mean(z: np.ndarray) -> np.ndarray:
    """SPECS §C3 step 4: ``x̄ = Σ_j 2^j (1 - ⟨Z_j⟩) / 2`` (the last axis runs over j)."""
    z = np.asarray(z, dtype=float)
    weights = 2.0 ** np.arange(z.shape[-1])
    return ((1.0 - z) / 2.0) @ weights


def circuit_expectations(position_qubits: int, steps: int, level: int, tau: float) -> np.ndarray:
    """⟨Z_j⟩ of the position qubits after each of ``steps`` steps, shape (steps, n).

    The reference path: a qiskit Statevector evolved through the step circuit one step at a
    time, the expectations read from it after each step.
    """
    n = int(position_qubits)
    state = Statevector(prepare_circuit(n, level, tau))
    step = step_circuit(n)
    signs = _z_signs(n)
    out = np.empty((int(steps), n))
    for h in range(int(steps)):
        state = state.evolve(step)
        p_level = state.probabilities(qargs=list(range(n)))
        out[h] = signs @ p_level
    return out


@lru_cache(maxsize=16)
def _step_matrix(position_qubits: int) -> np.ndarray:
    """The step's unitary from the circuit (2N x 2N, index coin * N + level), read-only."""
    m = Operator(step_circuit(position_qubits)).data
    m.setflags(write=False)
    return m


class WalkSimulator:
    """Exact, fast evaluation of the walk for one register size.

    The walk is linear and starts in ``|level> ⊗ (c_up |↑> + c_down |↓>)``, so the state after
    h steps is ``c_up U^h |level,↑> + c_down U^h |level,↓>``. The two basis evolutions depend
    only on the level and are computed once (with the circuit's step unitary) and cached; a
    prediction is then a handful of array operations, whatever the trend.
    """

    def __init__(self, position_qubits: int) -> None:
        self.n = int(position_qubits)
        self.levels = 2**self.n
        self._u = _step_matrix(self.n)
        self._signs_t = np.ascontiguousarray(_z_signs(self.n).T)
        self._basis: dict[int, np.ndarray] = {}  # level -> (steps, 2, 2N)

    def coin(self, tau: float) -> tuple[complex, complex]:
        """(c_up, c_down) = C (α, iβ): the first toss undoes C (module docstring)."""
        t = float(np.clip(tau, -1.0, 1.0))
        alpha = math.sqrt((1.0 + t) / 2.0)
        beta = 1j * math.sqrt((1.0 - t) / 2.0)
        s = 1.0 / math.sqrt(2.0)
        return s * (alpha + beta), s * (alpha - beta)

    def initial_state(self, level: int, tau: float) -> np.ndarray:
        up, down = self.coin(tau)
        psi = np.zeros(2 * self.levels, dtype=complex)
        psi[level], psi[self.levels + level] = up, down
        return psi

    def _evolved_basis(self, level: int, steps: int) -> np.ndarray:
        have = self._basis.get(level)
        if have is not None and have.shape[0] >= steps:
            return have[:steps]
        if not 0 <= level < self.levels:
            raise ValueError(f"level {level} outside 0 .. {self.levels - 1}")
        vecs = np.zeros((2 * self.levels, 2), dtype=complex)
        vecs[level, 0] = vecs[self.levels + level, 1] = 1.0
        out = np.empty((steps, 2, 2 * self.levels), dtype=complex)
        for h in range(steps):
            vecs = self._u @ vecs
            out[h] = vecs.T
        self._basis[level] = out
        return out

    def distributions(self, level: int, tau: float, steps: int) -> np.ndarray:
        """(steps, N): the position distribution after 1 .. steps steps."""
        basis = self._evolved_basis(int(level), int(steps))
        up, down = self.coin(tau)
        psi = up * basis[:, 0] + down * basis[:, 1]
        p = psi.real**2 + psi.imag**2
        return p[:, : self.levels] + p[:, self.levels :]

    def expectations(self, level: int, tau: float, steps: int) -> np.ndarray:
        """(steps, n): ⟨Z_j⟩ after each step (what a device would estimate by sampling)."""
        return self.distributions(level, tau, steps) @ self._signs_t

    def mean_levels(self, level: int, tau: float, steps: int) -> np.ndarray:
        """(steps,): the decoded mean level x̄ after each step."""
        return decode_mean(self.expectations(level, tau, steps))
