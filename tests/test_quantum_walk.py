"""The SPECS §C3 quantum walk: circuit vs an independent numpy walk, properties, QASM 3, cost."""

from __future__ import annotations

import math

import numpy as np
import pytest
from qiskit import qasm3
from qiskit.quantum_info import Operator, Statevector

from qgridlang.control.quantum_walk import (
    WalkSimulator,
    circuit_cost,
    circuit_expectations,
    decode_mean,
    prepare_circuit,
    step_circuit,
    walk_circuit,
    walk_qasm3,
)

HADAMARD = np.array([[1.0, 1.0], [1.0, -1.0]]) / math.sqrt(2.0)


def numpy_step(levels: int) -> np.ndarray:
    """U = S (I ⊗ C) on coin ⊗ position (index coin * N + level), reflecting ends, by hand."""
    shift = np.zeros((2 * levels, 2 * levels))
    for x in range(levels):
        # coin up (0): x -> x + 1, at the top the coin flips instead
        shift[x + 1 if x < levels - 1 else levels + x, x] = 1.0
        # coin down (1): x -> x - 1, at the bottom the coin flips instead
        shift[levels + x - 1 if x > 0 else 0, levels + x] = 1.0
    return shift @ np.kron(HADAMARD, np.eye(levels))


def numpy_distributions(n: int, level: int, tau: float, steps: int) -> np.ndarray:
    levels = 2**n
    alpha, beta = math.sqrt((1 + tau) / 2), 1j * math.sqrt((1 - tau) / 2)
    coin = HADAMARD @ np.array([alpha, beta])
    psi = np.kron(coin, np.eye(levels)[level]).astype(complex)
    u = numpy_step(levels)
    out = []
    for _ in range(steps):
        psi = u @ psi
        p = np.abs(psi) ** 2
        out.append(p[:levels] + p[levels:])
    return np.array(out)


@pytest.mark.parametrize("n", [2, 3, 4, 6])
def test_step_circuit_is_the_numpy_walk_unitary(n: int) -> None:
    assert np.allclose(Operator(step_circuit(n)).data, numpy_step(2**n), atol=1e-10)


@pytest.mark.parametrize(
    ("n", "level", "tau"), [(3, 0, 0.7), (3, 7, -0.2), (4, 5, 1.0), (6, 32, 0.4)]
)
def test_circuit_distribution_equals_numpy(n: int, level: int, tau: float) -> None:
    steps = 12
    ref = numpy_distributions(n, level, tau, steps)
    # the circuit, evolved as a Statevector step by step
    state = Statevector(prepare_circuit(n, level, tau))
    for h in range(steps):
        state = state.evolve(step_circuit(n))
        assert np.allclose(state.probabilities(qargs=list(range(n))), ref[h], atol=1e-10)
    # the fast path (the circuit's unitary, cached)
    assert np.allclose(WalkSimulator(n).distributions(level, tau, steps), ref, atol=1e-10)
    # the whole walk circuit at once
    whole = Statevector(walk_circuit(n, steps, level, tau)).probabilities(qargs=list(range(n)))
    assert np.allclose(whole, ref[-1], atol=1e-10)


def test_fast_path_and_circuit_path_agree() -> None:
    z_circuit = circuit_expectations(5, 15, 11, -0.35)
    z_fast = WalkSimulator(5).expectations(11, -0.35, 15)
    assert np.max(np.abs(z_circuit - z_fast)) < 1e-10


def test_decoding_is_the_mean_position() -> None:
    sim = WalkSimulator(6)
    dist = sim.distributions(20, 0.6, 25)
    means = dist @ np.arange(64)
    assert np.allclose(decode_mean(sim.expectations(20, 0.6, 25)), means, atol=1e-10)
    # a basis state decodes to its own level
    assert decode_mean(np.array([1.0 - 2 * ((37 >> j) & 1) for j in range(6)])) == 37


def test_full_trend_moves_one_level_on_the_first_step_only() -> None:
    sim = WalkSimulator(6)
    for tau, sign in ((1.0, 1), (-1.0, -1)):
        dist = sim.distributions(32, tau, 4)
        assert dist[0][32 + sign] == pytest.approx(1.0, abs=1e-12)
        # then the Hadamard coin splits it: after two steps it is not a point any more
        assert dist[1].max() < 1.0 - 1e-6
    # the Hadamard walk from a definite coin: mean +1, +1, +1, +1.5, +2, +2.125 for τ = 1
    means = sim.mean_levels(32, 1.0, 6) - 32
    assert np.allclose(means, [1, 1, 1, 1.5, 2, 2.125], atol=1e-12)


def test_zero_trend_is_symmetric_and_the_mean_is_linear_odd_in_tau() -> None:
    sim = WalkSimulator(6)
    dist0 = sim.distributions(32, 0.0, 20)
    d = np.arange(32)
    # mirror-symmetric about the start: p(32 + d) = p(32 - d) after every step
    assert np.allclose(dist0[:, 32 + d], dist0[:, 32 - d], atol=1e-12)
    assert np.allclose(sim.mean_levels(32, 0.0, 20), 32.0, atol=1e-12)
    unit = sim.mean_levels(32, 1.0, 20) - 32
    for tau in (-0.8, -0.3, 0.25, 0.9):
        assert np.allclose(sim.mean_levels(32, tau, 20) - 32, tau * unit, atol=1e-10)
    # mirror image: τ and -τ give reflected distributions
    a, b = sim.distributions(32, 0.4, 15), sim.distributions(32, -0.4, 15)
    assert np.allclose(a[:, 32 + d], b[:, 32 - d], atol=1e-12)


def test_reflecting_ends_keep_the_walk_on_the_lattice() -> None:
    sim = WalkSimulator(3)
    dist = sim.distributions(7, 1.0, 30)
    assert np.allclose(dist.sum(axis=1), 1.0, atol=1e-12)
    assert np.allclose(dist, numpy_distributions(3, 7, 1.0, 30), atol=1e-10)


def test_qasm3_reimports_to_an_equivalent_circuit() -> None:
    text = walk_qasm3(3, 2, 5, -0.4)
    assert text.startswith("OPENQASM 3")
    back = qasm3.loads(text)
    assert Operator(back).equiv(Operator(walk_circuit(3, 2, 5, -0.4)))


def test_cost_counts_a_transpiled_circuit() -> None:
    cost = circuit_cost(3, 2)
    assert cost["qubits"] == 4
    assert cost["cx"] > 0 and cost["depth"] >= cost["cx"] // 4
    # linear in the number of steps: each step is the same block
    assert circuit_cost(3, 4)["cx"] == pytest.approx(2 * cost["cx"], rel=0.2)
