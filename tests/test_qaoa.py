"""QAOA: the Ising lowering, the circuit and its exports, the local and IBM backends, noise and
readout mitigation, the qiskit-optimization export and cross-check."""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import dimod
import numpy as np
import pytest
from qgl_models import KNAPSACK_WITH_COUNT

import qgridlang as qg
import qgridlang.backends.qaoa as qb  # registers the qaoa and ibm backends
import qgridlang.targets.qaoa  # noqa: F401  (registers the qaoa target)
from qgridlang.checker import CheckedModel
from qgridlang.compilers import qaoa, qiskit_export, qubo
from qgridlang.errors import BackendError, UsageError
from qgridlang.registry import Options

# six agents, one binary each: the energy-community bipartition (unconstrained, quadratic)
SPLIT = """model split
set N = {a1, a2, a3, a4, a5, a6}
param w[N, N] default 0 = {(a1, a2): -0.80, (a1, a3): -1.32, (a1, a4): -0.25, (a1, a5): 0.42,
  (a1, a6): 1.14, (a2, a3): 0.11, (a2, a4): -0.55, (a2, a5): -0.78, (a2, a6): 0.75,
  (a3, a4): 1.63, (a3, a5): 0.27, (a3, a6): -1.23, (a4, a5): -0.96, (a4, a6): 1.60,
  (a5, a6): 0.20}
var x[N] binary
minimize cut: sum(i in N, j in N where ord(i) < ord(j)) w[i, j] * (x[i] + x[j] - 2 * x[i] * x[j])
"""


def pick(n: int) -> str:
    """Commit exactly two of ``n`` units at least cost (an equality penalty, no slack bits)."""
    costs = [3, 1, 4, 1.5, 5, 2][:n]
    table = ", ".join(f"g{i + 1}: {c}" for i, c in enumerate(costs))
    units = ", ".join(f"g{i + 1}" for i in range(n))
    return f"""model pick
set G = {{{units}}}
param cost[G] = {{{table}}}
var on[G] binary
constraint need: sum(g in G) on[g] == 2
minimize total: sum(g in G) cost[g] * on[g]
"""


@pytest.fixture(scope="module")
def split() -> CheckedModel:
    return qg.check(SPLIT)


def random_bqm(n: int, seed: int, labels: bool = False) -> dimod.BinaryQuadraticModel:
    bqm = dimod.generators.gnp_random_bqm(n, 0.7, "BINARY", random_state=seed)
    if labels:
        bqm.relabel_variables({v: f"v{v}" for v in bqm.variables})
    return bqm


# --- lowering ------------------------------------------------------------------------------

def test_ising_energies_equal_the_bqm_and_dimods_to_ising() -> None:
    bqm = random_bqm(7, 3, labels=True)
    ising = qaoa.IsingForm.from_bqm(bqm)
    bits = qaoa.index_bits(np.arange(2**7), 7)
    expected = bqm.energies((bits, list(bqm.variables)))
    np.testing.assert_allclose(qaoa.diagonal(ising), expected, atol=1e-12)
    np.testing.assert_allclose(ising.energies(bits), expected, atol=1e-12)
    h, j, offset = bqm.to_ising()  # s = 2x - 1 = -Z
    np.testing.assert_allclose(ising.h, [-h[v] for v in bqm.variables])
    pos = {v: k for k, v in enumerate(bqm.variables)}
    ours = {(int(a), int(b)): c for a, b, c in zip(ising.rows, ising.cols, ising.J, strict=True)}
    assert ours == pytest.approx({tuple(sorted((pos[u], pos[v]))): c for (u, v), c in j.items()})
    assert ising.offset == pytest.approx(offset)


def test_operator_is_qiskit_optimizations_ising() -> None:
    bqm = random_bqm(6, 1)
    op, offset = qiskit_export.bqm_to_quadratic_program(bqm).to_ising()
    ising = qaoa.IsingForm.from_bqm(bqm)
    assert np.abs((op - ising.operator()).simplify().coeffs).max() < 1e-12
    assert ising.offset == pytest.approx(offset)


def test_parameter_schedules() -> None:
    np.testing.assert_allclose(qaoa.tqa_schedule(2, 1.0), [0.25, 0.75, -0.75, -0.25])
    # INTERP keeps the end points' trend: p=1 -> p=2 repeats the single value
    np.testing.assert_allclose(qaoa.interp(np.array([0.4, -0.2])), [0.4, 0.4, -0.2, -0.2])
    np.testing.assert_allclose(qaoa.interp(np.array([0.1, 0.3, -0.3, -0.1])),
                               [0.1, 0.2, 0.3, -0.3, -0.2, -0.1])


@pytest.mark.parametrize("warm", [False, True])
def test_engines_and_qiskit_agree_on_the_state(warm: bool) -> None:
    from qiskit.quantum_info import Statevector

    bqm = random_bqm(5, 2)
    ising = qaoa.IsingForm.from_bqm(bqm)
    diag = qaoa.diagonal(ising)
    thetas = qaoa.warm_angles(qaoa.relaxation(bqm)) if warm else None
    x = np.array([0.3, -0.7, -0.4, 0.2])
    s, rng = qb.Settings(), np.random.default_rng(0)
    fast = qb.NumpyEngine(ising, diag, 2, thetas, s, rng).probabilities(x)
    aer = qb.AerEngine(ising, diag, 2, thetas, s, rng).probabilities(x)
    qc = qaoa.build_ansatz(ising, 2, thetas)
    ref = Statevector(qc.assign_parameters(
        qaoa.bind_values(qaoa.parameter_order(qc, 2), x))).probabilities()
    np.testing.assert_allclose(fast, ref, atol=1e-10)
    np.testing.assert_allclose(aer, ref, atol=1e-10)


def test_cvar_and_mitigation_primitives() -> None:
    e, w = np.array([3.0, 0.0, 2.0, 1.0]), np.full(4, 0.25)
    assert qb.aggregate(e, w) == pytest.approx(1.5)
    assert qb.aggregate(e, w, 0.25) == pytest.approx(0.0)
    assert qb.aggregate(e, w, 0.3) == pytest.approx((0.25 * 0 + 0.05 * 1) / 0.3)
    rng = np.random.default_rng(4)
    true = rng.dirichlet(np.ones(8))
    flips = rng.uniform(0.01, 0.1, (3, 2))
    a = np.stack([[[1 - f0, f1], [f0, 1 - f1]] for f0, f1 in flips])  # [measured, prepared]
    noisy = true.reshape(2, 2, 2)  # axis 0 is qubit 2
    noisy = np.einsum("ia,abc->ibc", a[2], noisy)
    noisy = np.einsum("jb,abc->ajc", a[1], noisy)
    noisy = np.einsum("kc,abc->abk", a[0], noisy).ravel()
    np.testing.assert_allclose(qb.mitigate(noisy, a), true, atol=1e-12)
    projected = qb.nearest_probability(np.array([0.6, 0.5, -0.1]))
    assert projected.min() >= 0 and projected.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(projected, [0.55, 0.45, 0.0])


# --- the qaoa target -----------------------------------------------------------------------

def test_compile_exports_qasm3_and_hamiltonian(split: CheckedModel, tmp_path: Path) -> None:
    from qiskit import qasm3

    out = tmp_path / "m.qasm"
    compiled = qg.compile(split, "qaoa", output=out, p=2, seed=1)
    text = out.read_text()
    assert text.startswith("OPENQASM 3.0;") and "input float[64]" in text
    back = qasm3.loads(text)
    assert back.num_qubits == 6 and back.num_parameters == 4
    assert back.count_ops()["measure"] == 6
    ham = tmp_path / "h.json"
    qg.compile(split, "qaoa", output=ham, backend="none")
    doc = json.loads(ham.read_text())
    ising = compiled.artifact.ising
    bits = qaoa.index_bits(np.arange(64), 6)
    z = 1 - 2 * bits.astype(float)
    energy = doc["offset"] + sum(c * z[:, q].prod(axis=1)
                                 for c, q in zip(doc["coeffs"], doc["qubits"], strict=True))
    np.testing.assert_allclose(energy, qaoa.diagonal(ising), atol=1e-9)
    assert all(len(lbl) == 6 and set(lbl) <= {"I", "Z"} for lbl in doc["labels"])
    with pytest.raises(UsageError):
        qg.compile(split, "qaoa", output=tmp_path / "m.txt", backend="none")


def test_report_logical_and_transpiled(split: CheckedModel) -> None:
    rep = qg.compile(split, "qaoa", p=2, backend="FakeSherbrooke", seed=1).report
    logical, device = rep["logical"], rep["transpiled"]
    assert rep["qubits"] == logical["qubits"] == 6 and rep["p"] == 2
    assert logical["two_qubit_gates"] == 2 * rep["zz_terms"] == 2 * 15
    assert device["device"] == "fake_sherbrooke" and device["qubits"] >= 6
    assert device["two_qubit_gates"] >= logical["two_qubit_gates"]
    assert device["depth"] >= logical["depth"] > 0
    assert set(device["gates"]) <= set(device["basis"])
    off = qg.compile(split, "qaoa", backend="none").report
    assert "transpiled" not in off
    with pytest.raises(UsageError, match="did you mean"):
        qg.compile(split, "qaoa", backend="FakeSherbroke")


# --- the qaoa backend ----------------------------------------------------------------------

def test_samples_the_optimum_well_above_uniform(split: CheckedModel) -> None:
    exact = qg.solve(split, "exact")
    sol = qg.solve(split, "qaoa", seed=5, p=2)
    assert sol.feasible and sol.objective == pytest.approx(exact.objective)
    info = sol.info
    assert info["uniform_probability"] == pytest.approx(2 / 64)  # a split and its mirror
    assert info["optimum_probability"] >= 3 * info["uniform_probability"]
    assert info["optimum_probability_exact"] >= 3 * info["uniform_probability"]
    assert info["qubits"] == 6 and info["two_qubit_gates"] == 2 * 15 and info["depth"] > 0
    assert [s["p"] for s in info["qaoa"]["stages"]] == [1, 2]  # grown by INTERP
    assert info["evaluations"] == sum(s["evaluations"] for s in info["qaoa"]["stages"])
    assert len(info["parameters"]["gamma"]) == 2
    assert info["expectation"] < qaoa.diagonal(qaoa.IsingForm.from_bqm(
        qubo.apply(split.flat)[0])).mean()
    assert info["sampleset"]["samples"] == 1024
    json.dumps(sol.to_json())


def test_warm_start_and_cvar_on_a_constrained_model() -> None:
    checked = qg.check(pick(6))
    exact = qg.solve(checked, "exact")
    warm = qg.solve(checked, "qaoa", seed=2, warm_start=True, engine="numpy")
    assert warm.objective == pytest.approx(exact.objective)
    assert warm.info["qaoa"]["warm_start"]
    assert warm.info["optimum_probability"] >= 3 * warm.info["uniform_probability"]
    cvar = qg.solve(checked, "qaoa", seed=2, cvar_alpha=0.25, engine="numpy")
    assert cvar.feasible and cvar.info["qaoa"]["cvar_alpha"] == 0.25


@pytest.mark.parametrize("optimizer", ["spsa", "nelder-mead"])
def test_other_optimizers_lower_the_energy(optimizer: str) -> None:
    bqm = random_bqm(6, 2)
    raw = qb.QaoaBackend().run(bqm, Options(seed=1, extra={"optimizer": optimizer,
                                                            "engine": "numpy"}))
    stage = raw.info["qaoa"]["stages"][0]
    ising = qaoa.IsingForm.from_bqm(bqm)
    start = qb.NumpyEngine(ising, qaoa.diagonal(ising), 1, None, qb.Settings(),
                           np.random.default_rng(0)).objective(qaoa.tqa_schedule(1))
    assert stage["value"] < start
    assert stage["start_value"] == (pytest.approx(start) if optimizer != "spsa" else None)
    assert raw.xs is not None and raw.xs.shape == (1024, 6)
    energies = bqm.energies((raw.xs, list(bqm.variables)))
    assert np.all(np.diff(energies) >= -1e-12)  # lowest energy first


def test_time_limit_keeps_the_best_point_so_far() -> None:
    raw = qb.QaoaBackend().run(random_bqm(5, 1), Options(seed=1, time_limit=1e-9, extra={
        "engine": "numpy", "p": 3}))
    assert raw.info["evaluations"] == 1 and raw.info["layers"] == 1
    assert raw.info["qaoa"]["stages"] == [{"p": 1, "time_limit": True, "evaluations": 1,
                                           "start_value": pytest.approx(
                                               raw.info["qaoa"]["stages"][0]["value"]),
                                           "value": raw.info["qaoa"]["stages"][0]["value"]}]


def test_noisy_fake_ibm_run_returns_decoded_plans() -> None:
    checked = qg.check(pick(4))
    sol = qg.solve(checked, "qaoa", seed=3, noise="FakeSherbrooke", readout_mitigation=True,
                   maxiter=15, shots=512)
    assert set(sol.variables["on"]) == {"g1", "g2", "g3", "g4"}
    assert sol.objective is not None and sol.info["sampleset"]["samples"] == 512
    info = sol.info
    assert info["mode"] == "noisy shots (fake_sherbrooke)"
    assert info["two_qubit_gates"] >= info["qaoa"]["circuit"]["logical"]["two_qubit_gates"]
    assert len(info["qaoa"]["circuit"]["physical_qubits"]) >= 4
    assert 0 <= info["optimum_probability"] <= 1
    assert 0 <= info["optimum_probability_mitigated"] <= 1
    assert info["evaluations"] <= 15


def test_refuses_a_statevector_that_does_not_fit() -> None:
    n = 40
    bqm = dimod.BinaryQuadraticModel.from_numpy_vectors(
        np.ones(n), (np.arange(n - 1), np.arange(1, n), np.ones(n - 1)), 0.0, dimod.BINARY)
    with pytest.raises(BackendError, match=r"2\^40 x 16 B = 16\.0 TiB") as err:
        qb.QaoaBackend().run(bqm, Options())
    assert "available" in err.value.message and err.value.hint


def test_option_errors() -> None:
    bqm = random_bqm(3, 0)
    for extra, words in (({"optimizer": "adam"}, "unknown optimizer"),
                         ({"readout_mitigation": True}, "noisy runs"),
                         ({"p": 0}, "'p' must be an integer >= 1"),
                         ({"cvar_alpha": 1.5}, "cvar_alpha"),
                         ({"noise": "FakeNowhere"}, "unknown fake IBM device")):
        with pytest.raises(UsageError, match=words):
            qb.QaoaBackend().run(bqm, Options(extra=extra))


# --- the ibm backend -----------------------------------------------------------------------

def test_ibm_without_an_account_says_how_to_save_one(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    from qiskit_ibm_runtime.accounts import management

    monkeypatch.setattr(management, "_DEFAULT_ACCOUNT_CONFIG_JSON_FILE",
                        str(tmp_path / "qiskit-ibm.json"))
    for var in ("QISKIT_IBM_TOKEN", "QISKIT_IBM_URL", "QISKIT_IBM_INSTANCE",
                "QISKIT_IBM_CHANNEL"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(BackendError, match="no saved account") as err:
        qg.solve(qg.check(pick(4)), "ibm", seed=1)
    assert "save_account" in (err.value.hint or "")


def test_ibm_primitives_in_local_testing_mode() -> None:
    checked = qg.check(pick(4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sol = qg.solve(checked, "ibm", seed=4, device="FakeManilaV2", optimize_on="local",
                       shots=256)
        sampled = qg.solve(checked, "ibm", seed=4, device="FakeManilaV2", maxiter=3,
                           shots=128)
    for s in (sol, sampled):
        assert set(s.variables["on"]) == {"g1", "g2", "g3", "g4"}
        assert s.info["mode"] == "ibm (fake_manila, local testing)"
    assert sol.info["optimize_on"] == "local" and sol.info["sampleset"]["samples"] == 256
    assert sampled.info["evaluations"] <= 4  # EstimatorV2 runs (scipy COBYLA: at least n + 2)


# --- qiskit-optimization -------------------------------------------------------------------

def test_quadratic_program_export_has_highs_optimum() -> None:
    from qiskit_algorithms import NumPyMinimumEigensolver
    from qiskit_optimization.algorithms import MinimumEigenOptimizer

    text = KNAPSACK_WITH_COUNT
    checked = qg.check(text)
    qp = qiskit_export.to_quadratic_program(checked.flat)
    assert qp.get_num_binary_vars() == 4 and qp.get_num_integer_vars() == 1
    assert [c.name for c in qp.linear_constraints] == ["capacity", "link"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = MinimumEigenOptimizer(NumPyMinimumEigensolver()).solve(qp)
    highs = qg.solve(checked, "highs")
    assert result.fval == pytest.approx(highs.objective) == pytest.approx(15.0)
    lp = qiskit_export.lp_text(checked.flat)
    assert "Maximize" in lp and "capacity:" in lp and "x_1" in lp


def test_cross_check_with_qiskit_optimization_qaoa() -> None:
    """Same Hamiltonian and ansatz as MinimumEigenOptimizer(QAOA): equal energies at equal
    angles (ours in units of 1/scale); and our run is not slower than theirs."""
    from qiskit.primitives import StatevectorSampler
    from qiskit.quantum_info import Statevector
    from qiskit_algorithms import QAOA
    from qiskit_algorithms.optimizers import COBYLA
    from qiskit_optimization.algorithms import MinimumEigenOptimizer

    bqm = random_bqm(4, 6)
    bqm.add_linear_from({v: 0.05 * (k + 1) for k, v in enumerate(bqm.variables)})
    ising = qaoa.IsingForm.from_bqm(bqm)
    qp = qiskit_export.bqm_to_quadratic_program(bqm)
    op, offset = qp.to_ising()
    gamma, beta = 0.4, -0.3
    solver = QAOA(StatevectorSampler(seed=1), COBYLA(maxiter=15), reps=1,
                  initial_point=np.array([beta, gamma / ising.scale]))
    theirs_state = Statevector(solver.ansatz if hasattr(solver, "ansatz") and solver.ansatz
                               is not None else _their_ansatz(op).assign_parameters(
                                   [beta, gamma / ising.scale]))
    ours = qb.NumpyEngine(ising, qaoa.diagonal(ising), 1, None, qb.Settings(),
                          np.random.default_rng(0)).probabilities(np.array([gamma, beta]))
    np.testing.assert_allclose(theirs_state.probabilities(), ours, atol=1e-10)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = MinimumEigenOptimizer(solver).solve(qp)
    t1 = time.perf_counter()
    raw = qb.QaoaBackend().run(bqm, Options(seed=1, extra={"maxiter": 15, "init": "tqa"}))
    t2 = time.perf_counter()
    assert raw.info["sample_energy_min"] == pytest.approx(theirs.fval)
    assert offset == pytest.approx(ising.offset)
    assert t2 - t1 <= t1 - t0


def _their_ansatz(op: object) -> object:
    from qiskit.circuit.library import qaoa_ansatz

    return qaoa_ansatz(op, reps=1)  # parameters sorted: beta[0], gamma[0]
