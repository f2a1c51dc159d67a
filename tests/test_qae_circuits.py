"""Amplitude-estimation circuits (compilers/qae.py): loader exactness and cost, every payoff form
against numpy on the same grid, thresholds, the tail probability, Q and the resource report."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("qiskit")

from qiskit import QuantumCircuit, transpile  # noqa: E402
from qiskit.circuit.library import StatePreparation  # noqa: E402
from qiskit.quantum_info import Operator, Statevector  # noqa: E402

from qgridlang.compilers import qae  # noqa: E402
from qgridlang.errors import UsageError  # noqa: E402


def random_probs(n: int, rng: np.random.Generator, zeros: bool = False) -> np.ndarray:
    p = rng.random(1 << n) ** 3  # skewed, some tiny bins
    if zeros:
        p[rng.random(1 << n) < 0.3] = 0.0
        p[0] = max(p[0], 0.1)
    return p / p.sum()


def grid(n: int, seed: int, affine: bool = False) -> qae.LossGrid:
    rng = np.random.default_rng(seed)
    p = random_probs(n, rng)
    v = (-2.5 + 0.75 * np.arange(1 << n) if affine
         else np.sort(rng.normal(3.0, 2.0, size=1 << n)))
    return qae.LossGrid(p, v)


def objective_probability(oracle: qae.Oracle) -> float:
    return float(Statevector(oracle.circuit).probabilities([oracle.objective_qubit])[1])


def cx_count(circuit: QuantumCircuit) -> int:
    flat = transpile(circuit, basis_gates=["cx", "u"], optimization_level=1, seed_transpiler=1)
    return int(flat.count_ops().get("cx", 0))


def expected_f(g: qae.LossGrid, k: int | None = None) -> float:
    f = (g.values - g.values[0]) / (g.values[-1] - g.values[0])
    mask = np.arange(len(f)) >= (k or 0)
    return float(np.dot(g.probs, f * mask))


# --- the loader ----------------------------------------------------------------------------

def test_loader_is_exact_to_1e_10_up_to_12_qubits() -> None:
    rng = np.random.default_rng(7)
    for n in range(1, 13):
        p = random_probs(n, rng, zeros=n % 3 == 0)
        state = Statevector(qae.loader(p)).data
        fidelity = abs(np.vdot(np.sqrt(p), state)) ** 2
        assert fidelity >= 1 - 1e-10, (n, fidelity)
        # real, non-negative amplitudes: sqrt(p) itself, not just up to phases
        assert np.allclose(state, np.sqrt(p), atol=1e-7), n


def test_loader_costs_2_to_the_n_minus_2_cx_like_qiskits_state_preparation() -> None:
    rng = np.random.default_rng(3)
    for n in range(2, 9):
        p = random_probs(n, rng)
        ours = cx_count(qae.loader(p))
        assert ours <= (1 << n) - 2, (n, ours)  # one CX per angle of levels 1..n-1
        reference = QuantumCircuit(n)
        reference.append(StatePreparation(np.sqrt(p)), range(n))
        theirs = cx_count(reference)
        # qiskit's isometry synthesis: within a few percent either way, both O(2^n)
        assert 0.85 * theirs <= ours <= 1.15 * theirs + 2, (n, ours, theirs)
    p = random_probs(12, rng)
    assert cx_count(qae.loader(p)) <= (1 << 12) - 2


def test_uniform_distribution_loads_as_hadamards() -> None:
    p = np.full(8, 1 / 8)
    state = Statevector(qae.loader(p)).data
    assert np.allclose(state, np.full(8, math.sqrt(1 / 8)))


def test_loader_rejects_a_size_that_is_no_power_of_two() -> None:
    with pytest.raises(UsageError, match="2\\^n"):
        qae.loader(np.full(3, 1 / 3))


def test_loss_grid_validates_its_input() -> None:
    with pytest.raises(UsageError, match="sum to 1"):
        qae.LossGrid(np.array([0.5, 0.6]), np.array([0.0, 1.0]))
    with pytest.raises(UsageError, match="non-decreasing"):
        qae.LossGrid(np.array([0.5, 0.5]), np.array([1.0, 0.0]))
    with pytest.raises(UsageError, match="values"):
        qae.LossGrid(np.array([0.5, 0.5]), np.array([0.0, 1.0, 2.0]))
    assert qae.LossGrid(np.full(16, 1 / 16), np.arange(16.0)).n == 4


# --- payoffs -------------------------------------------------------------------------------

@pytest.mark.parametrize("payoff", ["exact", "exact_mc"])
@pytest.mark.parametrize("n", [1, 3, 5])
def test_exact_payoffs_encode_e_f(payoff: str, n: int) -> None:
    g = grid(n, seed=10 + n)
    oracle = qae.expectation_oracle(g, payoff)
    e = expected_f(g)
    assert oracle.exact_amplitude == pytest.approx(e, abs=1e-12)
    assert objective_probability(oracle) == pytest.approx(e, abs=1e-9)
    mean_loss = float(np.dot(g.probs, g.values))
    assert oracle.post_processing(oracle.exact_amplitude) == pytest.approx(mean_loss, rel=1e-12)


def test_exact_mc_is_the_papers_circuit_2_and_agrees_with_exact() -> None:
    g = grid(4, seed=4)
    mc = qae.expectation_oracle(g, "exact_mc")
    ex = qae.expectation_oracle(g, "exact")
    assert mc.circuit.num_qubits == 2 * 4 + 1 and ex.circuit.num_qubits == 4 + 1
    assert mc.notes["multi_controlled_rotations"] == 15  # f(0) = 0: one rotation skipped
    assert objective_probability(mc) == pytest.approx(objective_probability(ex), abs=1e-10)
    # the reversal register holds NOT i: with the loader's mass on i = 0b0110 it reads 0b1001
    p = np.zeros(16)
    p[6] = 1.0
    one = qae.expectation_oracle(qae.LossGrid(p, g.values), "exact_mc")
    probs = Statevector(one.circuit).probabilities(one.notes["reversal_qubits"])
    assert int(np.argmax(probs)) == 0b1001 and probs.max() == pytest.approx(1.0)


@pytest.mark.parametrize("n", [2, 4, 6])
def test_linear_payoff_is_within_its_stated_bias(n: int) -> None:
    g = grid(n, seed=20 + n, affine=True)
    oracle = qae.expectation_oracle(g, "linear", linear_scale=0.25)
    assert objective_probability(oracle) == pytest.approx(oracle.exact_amplitude, abs=1e-10)
    mean_loss = float(np.dot(g.probs, g.values))
    got = oracle.post_processing(oracle.exact_amplitude)
    assert got - mean_loss == pytest.approx(oracle.notes["bias"], abs=1e-12)
    assert abs(got - mean_loss) <= oracle.notes["bias_bound"]
    assert oracle.notes["bias_bound"] == pytest.approx(
        qae.linear_bias_bound(0.25) * (g.values[-1] - g.values[0]))
    # Circuit-1's shape: loader, one RY and one controlled RY per state qubit
    ops = oracle.circuit.count_ops()
    assert ops.get("cry", 0) == n and ops.get("ry", 0) >= 1


def test_linear_bias_shrinks_like_c_squared() -> None:
    g = grid(5, seed=5, affine=True)
    mean_loss = float(np.dot(g.probs, g.values))
    errors = []
    for c in (0.4, 0.2, 0.1):
        o = qae.expectation_oracle(g, "linear", linear_scale=c)
        errors.append(abs(o.post_processing(o.exact_amplitude) - mean_loss))
    assert errors[0] > errors[1] > errors[2]
    assert errors[1] / errors[2] == pytest.approx(4.0, rel=0.05)


def test_linear_payoff_refuses_losses_that_are_not_affine() -> None:
    with pytest.raises(UsageError, match="affine in the state index") as info:
        qae.expectation_oracle(grid(3, seed=1), "linear")
    assert "payoff=exact" in str(info.value.hint)


def test_unknown_payoff_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown payoff"):
        qae.expectation_oracle(grid(2, seed=1), "quadratic")


def test_constant_loss_is_its_own_expectation() -> None:
    g = qae.LossGrid(np.full(4, 0.25), np.full(4, 7.0))
    oracle = qae.expectation_oracle(g)
    assert oracle.exact_amplitude == 0.0 and oracle.post_processing(0.0) == 7.0


# --- thresholds ----------------------------------------------------------------------------

@pytest.mark.parametrize("payoff", ["exact", "exact_mc", "linear"])
@pytest.mark.parametrize("k", [0, 3, 9, 16])
def test_thresholded_payoff_and_tail_probability_against_numpy(payoff: str, k: int) -> None:
    g = grid(4, seed=30, affine=payoff == "linear")
    oracle = qae.expectation_oracle(g, payoff, threshold_index=k)
    assert objective_probability(oracle) == pytest.approx(oracle.exact_amplitude, abs=1e-10)
    tail = qae.tail_probability_oracle(g, k)
    p_tail = float(g.probs[k:].sum())
    assert tail.exact_amplitude == pytest.approx(p_tail, abs=1e-12)
    assert objective_probability(tail) == pytest.approx(p_tail, abs=1e-10)
    want = float(np.dot(g.probs[k:], g.values[k:]))  # E[L 1(i >= k)]
    got = qae.tail_expectation(oracle, oracle.exact_amplitude, tail.exact_amplitude)
    if payoff == "linear":
        assert abs(got - want) <= oracle.notes["bias_bound"] + 1e-12
        assert got - want == pytest.approx(oracle.notes["bias"], abs=1e-12)
        if 0 < k < 16:  # the comparator's flag controls the rotations
            assert oracle.notes["flag_qubit"] == 5
    else:
        assert oracle.exact_amplitude == pytest.approx(expected_f(g, k), abs=1e-12)
        assert got == pytest.approx(want, abs=1e-12)


def test_cvar_from_the_two_amplitudes() -> None:
    g = grid(5, seed=40)
    k = 27
    e = qae.expectation_oracle(g, "exact", threshold_index=k)
    t = qae.tail_probability_oracle(g, k)
    cvar = qae.tail_expectation(e, e.exact_amplitude, t.exact_amplitude) / t.exact_amplitude
    tail = g.probs[k:]
    assert cvar == pytest.approx(float(np.dot(tail, g.values[k:]) / tail.sum()), rel=1e-12)


def test_threshold_outside_the_grid_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="outside"):
        qae.tail_probability_oracle(grid(2, seed=1), 5)
    with pytest.raises(UsageError, match="threshold_index"):
        qae.tail_expectation(qae.expectation_oracle(grid(2, seed=1)), 0.1, 0.5)


# --- Q and resources -----------------------------------------------------------------------

def test_grover_operator_is_qiskit_algorithms_default_q() -> None:
    from qiskit_algorithms import EstimationProblem

    oracle = qae.expectation_oracle(grid(2, seed=2))
    ours = Operator(qae.grover_operator(oracle))
    default = EstimationProblem(oracle.circuit, [oracle.objective_qubit]).grover_operator
    assert ours.equiv(Operator(default)) and ours == Operator(default)
    # Q rotates by 2 theta in the plane of A|0>: Q A|0> has P(1) = sin^2(3 theta)
    theta = math.asin(math.sqrt(oracle.exact_amplitude))
    qc = oracle.circuit.compose(qae.grover_operator(oracle))
    p1 = Statevector(qc).probabilities([oracle.objective_qubit])[1]
    assert p1 == pytest.approx(math.sin(3 * theta) ** 2, abs=1e-10)


def test_resources_match_qiskits_own_counts() -> None:
    oracle = qae.expectation_oracle(grid(4, seed=3))
    facts = qae.resources(oracle.circuit)
    assert facts["logical"]["qubits"] == 5
    assert facts["logical"]["gates"] == dict(oracle.circuit.count_ops())
    assert facts["logical"]["depth"] == oracle.circuit.depth()
    flat = transpile(oracle.circuit, basis_gates=["cx", "u"], optimization_level=1)
    assert facts["decomposed"]["two_qubit_gates"] == flat.count_ops()["cx"]
    assert facts["decomposed"]["depth"] == flat.depth()
    assert facts["decomposed"]["two_qubit_gates"] <= 2 * 16 - 2  # loader + 2^n-angle UCRY


def test_resources_on_a_fake_device() -> None:
    pytest.importorskip("qiskit_ibm_runtime")
    oracle = qae.expectation_oracle(grid(2, seed=3))
    facts = qae.resources(oracle.circuit, "FakeManilaV2", seed=1)
    dev = facts["device"]
    assert dev["device"] == "fake_manila" and dev["qubits"] == 3
    assert dev["two_qubit_gates"] >= facts["decomposed"]["two_qubit_gates"]


def test_payoff_gate_counts_scale_as_stated() -> None:
    counts = {}
    for n in (3, 4, 5):
        g = grid(n, seed=n)
        lin = qae.LossGrid(g.probs, np.arange(1 << n, dtype=float))
        counts[n] = {p: qae.resources(qae.expectation_oracle(
            lin if p == "linear" else g, p).circuit)["decomposed"]["two_qubit_gates"]
            for p in qae.PAYOFFS}
        assert counts[n]["exact"] <= 2 * (1 << n) - 2  # loader 2^n - 2, payoff 2^n
        assert counts[n]["linear"] <= (1 << n) - 2 + 2 * n  # loader, 2 CX per CRY
        assert counts[n]["exact_mc"] > counts[n]["exact"]
    # Circuit-2: 2^n multi-controlled rotations of growing width -> more than doubles per qubit
    assert counts[5]["exact_mc"] > 2 * counts[4]["exact_mc"] > 4 * counts[3]["exact_mc"]
