"""The amplitude-estimation runner (qgridlang/backends/qae.py): every method within its interval of
the exact amplitude (exact probabilities and Aer shots), query counts as qiskit-algorithms counts
them, a noisy fake-device run, the memory refusal and the ibm path without an account."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

import numpy as np
import pytest

pytest.importorskip("qiskit_algorithms")
pytest.importorskip("qiskit_aer")

from qgridlang.backends import qae as runner  # noqa: E402
from qgridlang.compilers import qae  # noqa: E402
from qgridlang.errors import BackendError, UsageError  # noqa: E402

if TYPE_CHECKING:
    from qiskit import QuantumCircuit


@pytest.fixture(scope="module")
def oracle() -> qae.Oracle:
    rng = np.random.default_rng(11)
    p = rng.random(8)
    return qae.expectation_oracle(qae.LossGrid(p / p.sum(), np.linspace(-1.0, 4.0, 8)))


METHODS = [("ae", {"eval_qubits": 4}), ("iqae", {"epsilon": 0.01}),
           ("mlae", {"eval_qubits": 4}), ("fae", {"epsilon": 0.02})]


@pytest.mark.parametrize(("method", "kwargs"), METHODS)
@pytest.mark.parametrize("shots", [None, 400])
def test_each_method_lands_within_its_interval(oracle: qae.Oracle, method: str,
                                               kwargs: dict[str, float], shots: int | None
                                               ) -> None:
    a = oracle.exact_amplitude
    r = runner.estimate_amplitude(oracle, method, shots=shots, seed=3, **kwargs)  # type: ignore[arg-type]
    assert r.method == method and r.shots == shots
    assert r.ci[0] <= a <= r.ci[1], (r.estimate, r.ci, a)
    assert r.ci[0] <= r.estimate <= r.ci[1]
    assert r.seconds > 0 and r.oracle_queries > 0
    assert r.info["backend"] == ("exact" if shots is None else "aer")
    if method in ("iqae", "fae"):  # the target half-width is met
        assert (r.ci[1] - r.ci[0]) / 2 <= kwargs["epsilon"] * 1.01
    # a seeded run repeats itself
    again = runner.estimate_amplitude(oracle, method, shots=shots, seed=3, **kwargs)  # type: ignore[arg-type]
    assert (again.estimate, again.ci, again.oracle_queries) == (r.estimate, r.ci, r.oracle_queries)


def test_canonical_ae_counts_2_to_the_m_minus_1_queries_per_shot(oracle: qae.Oracle) -> None:
    exact = runner.estimate_amplitude(oracle, "ae", eval_qubits=4)
    assert exact.oracle_queries == 2**4 - 1  # qiskit's statevector convention: one "shot"
    sampled = runner.estimate_amplitude(oracle, "ae", eval_qubits=4, shots=100, seed=1)
    assert sampled.oracle_queries == 100 * (2**4 - 1)
    # the estimate is a grid value sin^2(pi y / 2^m); the MLE refines it
    y = math.asin(math.sqrt(exact.estimate)) * 16 / math.pi
    assert y == pytest.approx(round(y), abs=1e-9)
    assert abs(exact.info["mle"] - oracle.exact_amplitude) < abs(
        exact.estimate - oracle.exact_amplitude) + 1e-12


def test_exact_canonical_ae_is_the_nearest_grid_point() -> None:
    # exact mode: the most likely grid point is the nearest one (half a step pi/2^m), inside
    # the reported interval of one step
    rng = np.random.default_rng(5)
    for a in rng.uniform(0.02, 0.98, size=6):
        one = qae.Oracle(_ry_circuit(a), 0, [], "exact", float(a), float)
        for m in (2, 3, 5):
            r = runner.estimate_amplitude(one, "ae", eval_qubits=m)
            assert r.ci[0] <= a <= r.ci[1], (a, m, r.estimate, r.ci)
            theta, est = math.asin(math.sqrt(a)), math.asin(math.sqrt(r.estimate))
            assert abs(theta - est) <= math.pi / 2 ** (m + 1) + 1e-12


def _ry_circuit(a: float) -> QuantumCircuit:
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(1)
    qc.ry(2 * math.asin(math.sqrt(a)), 0)
    return qc


def test_query_counts_are_qiskit_algorithms_own(oracle: qae.Oracle) -> None:
    iq = runner.estimate_amplitude(oracle, "iqae", epsilon=0.01, shots=200, seed=2)
    assert iq.oracle_queries == 200 * sum(iq.info["powers"])
    ml = runner.estimate_amplitude(oracle, "mlae", eval_qubits=4, shots=200, seed=2)
    assert ml.info["powers"] == [0, 1, 2, 4]
    assert ml.oracle_queries == 200 * (1 + 2 + 4)
    ex = runner.estimate_amplitude(oracle, "iqae", epsilon=0.01)
    assert ex.info["nominal_shots"] == runner.EXACT_SHOTS
    assert ex.oracle_queries == runner.EXACT_SHOTS * sum(ex.info["powers"])


def test_exact_probabilities_per_register() -> None:
    from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister

    q = QuantumRegister(3)
    c1, c2 = ClassicalRegister(1, "x"), ClassicalRegister(2, "y")
    qc = QuantumCircuit(q, c1, c2)
    qc.ry(2 * math.asin(math.sqrt(0.3)), 0)
    qc.x(2)
    qc.measure(0, c1[0])
    qc.measure([1, 2], c2)
    probs = runner.exact_probabilities(qc)
    assert probs["x"] == pytest.approx({"1": 0.3, "0": 0.7})
    assert probs["y"] == pytest.approx({"10": 1.0})  # clbit y[1] <- qubit 2 = 1


def test_noisy_fake_device_run_reports() -> None:
    pytest.importorskip("qiskit_ibm_runtime")
    grid = qae.LossGrid(np.array([0.4, 0.6]), np.array([0.0, 1.0]))
    oracle = qae.expectation_oracle(grid)  # a = 0.6 on two qubits
    r = runner.estimate_amplitude(oracle, "iqae", epsilon=0.05, shots=256, seed=7,
                                  device="FakeManilaV2")
    assert r.info["device"] == "fake_manila" and r.info["backend"] == "fake"
    assert r.info["simulation"] == "density_matrix"
    assert r.shots == 256 and r.oracle_queries == 256 * sum(r.info["powers"])
    assert 0.0 <= r.ci[0] <= r.estimate <= r.ci[1] <= 1.0
    # the noise moves it, but not beyond recognition on three qubits
    assert abs(r.estimate - 0.6) < 0.2


def test_memory_refusal_names_the_numbers(oracle: qae.Oracle,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import psutil

    monkeypatch.setattr(psutil, "virtual_memory", lambda: SimpleNamespace(available=1024))
    with pytest.raises(BackendError) as info:
        runner.estimate_amplitude(oracle, "ae", eval_qubits=6)
    text = str(info.value)
    assert "10 qubits" in text and "16.0 KiB" in text and "1.0 KiB" in text


def test_ibm_without_an_account_is_a_clear_error(oracle: qae.Oracle,
                                                monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    pytest.importorskip("qiskit_ibm_runtime")
    from qiskit_ibm_runtime.accounts import management

    monkeypatch.setattr(management, "_DEFAULT_ACCOUNT_CONFIG_JSON_FILE",
                        str(tmp_path / "qiskit-ibm.json"))
    for var in ("QISKIT_IBM_TOKEN", "QISKIT_IBM_URL", "QISKIT_IBM_INSTANCE",
                "QISKIT_IBM_CHANNEL"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(BackendError, match="needs an IBM Quantum account") as info:
        runner.estimate_amplitude(oracle, "iqae", device="ibm")
    assert "save_account" in str(info.value.hint)


def test_ibm_runtime_local_testing_mode_runs() -> None:
    pytest.importorskip("qiskit_ibm_runtime")
    grid = qae.LossGrid(np.array([0.75, 0.25]), np.array([0.0, 1.0]))
    oracle = qae.expectation_oracle(grid)
    r = runner.estimate_amplitude(oracle, "mlae", eval_qubits=2, shots=128, seed=1,
                                  device="ibm:FakeManilaV2")
    assert r.info["local_testing"] is True and r.info["device"] == "fake_manila"
    assert r.oracle_queries == 128 * 1 and 0.0 <= r.estimate <= 1.0


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"method": "qpe"}, "unknown amplitude-estimation method"),
    ({"device": "rigetti"}, "unknown device"),
    ({"epsilon": 0.0}, "epsilon"),
    ({"alpha": 1.5}, "alpha"),
    ({"shots": 0}, "shots"),
    ({"eval_qubits": 0}, "eval_qubits"),
])
def test_bad_arguments_are_usage_errors(oracle: qae.Oracle, kwargs: dict[str, object],
                                        message: str) -> None:
    with pytest.raises(UsageError, match=message):
        runner.estimate_amplitude(oracle, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("n", "m"), [(2, 3), (3, 5), (1, 7)])
def test_analytic_canonical_ae_equals_the_simulated_circuit(n: int, m: int) -> None:
    rng = np.random.default_rng(n + m)
    p = rng.random(1 << n)
    oracle = qae.expectation_oracle(qae.LossGrid(p / p.sum(), np.sort(rng.normal(size=1 << n))))
    circuit = runner.estimate_amplitude(oracle, "ae", eval_qubits=m)
    analytic = runner.estimate_amplitude(oracle, "ae", eval_qubits=m,
                                         options={"engine": "analytic"})
    assert analytic.estimate == circuit.estimate
    assert analytic.ci == pytest.approx(circuit.ci, abs=1e-12)
    assert analytic.oracle_queries == circuit.oracle_queries == 2**m - 1
    assert analytic.info["max_probability"] == pytest.approx(circuit.info["max_probability"],
                                                             abs=1e-10)
    assert analytic.info["mle"] == pytest.approx(circuit.info["mle"], abs=1e-7)
    assert analytic.info["simulated_amplitude"] == pytest.approx(oracle.exact_amplitude,
                                                                 abs=1e-12)
    # the distribution itself: a probability vector peaked at the nearest grid point
    dist = runner.ae_distribution(oracle.exact_amplitude, m)
    assert dist.sum() == pytest.approx(1.0) and dist.min() >= 0.0


def test_analytic_engine_is_exact_canonical_ae_only(oracle: qae.Oracle) -> None:
    with pytest.raises(UsageError, match="engine=analytic"):
        runner.estimate_amplitude(oracle, "iqae", options={"engine": "analytic"})
    with pytest.raises(UsageError, match="engine=analytic"):
        runner.estimate_amplitude(oracle, "ae", shots=10, options={"engine": "analytic"})


class _Stuck(Exception):
    pass


def _capped_rounds(monkeypatch: pytest.MonkeyPatch, cap: int) -> None:
    """Make IQAE raise after ``cap`` rounds instead of looping for ever."""
    from qiskit_algorithms import IterativeAmplitudeEstimation

    original = IterativeAmplitudeEstimation._find_next_k
    rounds = [0]

    def counted(self: object, *args: object, **kwargs: object) -> object:
        rounds[0] += 1
        if rounds[0] > cap:
            raise _Stuck
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(IterativeAmplitudeEstimation, "_find_next_k", counted)


def test_iqae_with_few_shots_terminates_inside_its_interval(monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    one = qae.Oracle(_ry_circuit(0.35), 0, [], "exact", 0.35, float)
    _capped_rounds(monkeypatch, 300)
    for seed in (1, 2, 3):
        r = runner.estimate_amplitude(one, "iqae", epsilon=1e-2, shots=100, seed=seed)
        assert r.ci[0] <= 0.35 <= r.ci[1] and (r.ci[1] - r.ci[0]) / 2 <= 1e-2


def test_iqae_floor_works_around_the_upstream_endless_loop(monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    # the same run without the floor: qiskit-algorithms 0.4's interval drifts a cycle a round
    one = qae.Oracle(_ry_circuit(0.35), 0, [], "exact", 0.35, float)
    _capped_rounds(monkeypatch, 100)  # the floored runs above need fewer than 30
    floor = runner.iqae_floor
    monkeypatch.setattr(runner, "iqae_floor", lambda active=True: floor(False))
    with pytest.raises(_Stuck):
        runner.estimate_amplitude(one, "iqae", epsilon=1e-2, shots=100, seed=1)
