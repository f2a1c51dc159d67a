"""Amplitude estimation of an :class:`~qgridlang.compilers.qae.Oracle` (issue 9, SPECS A7).

:func:`estimate_amplitude` runs one of qiskit-algorithms' estimators on the oracle's
``EstimationProblem`` (``A``, its objective qubit and the Grover operator of
:func:`qgridlang.compilers.qae.grover_operator`):

* ``ae``: canonical amplitude estimation (phase estimation on ``eval_qubits`` qubits; the
  estimate is the most likely grid value ``sin^2(pi y / 2^m)``, the paper's Table I; the
  maximum-likelihood refinement is in ``info["mle"]``);
* ``iqae``: IterativeAmplitudeEstimation to half-width ``epsilon`` at confidence ``1 - alpha``;
* ``mlae``: MaximumLikelihoodAmplitudeEstimation with powers ``0, 1, 2, ..., 2^(eval_qubits-1)``;
* ``fae``: FasterAmplitudeEstimation with ``delta = alpha`` and enough iterations for ``epsilon``.

Where the circuits run (``device``):

* ``None`` and ``shots=None``: exact Born probabilities of every circuit (qiskit-aer's statevector
  method, ``save_probabilities``), handed to the estimator as the counts it would expect from
  ``nominal_shots`` shots (1 for ``ae``: qiskit's statevector convention, ``2^m - 1`` queries;
  :data:`EXACT_SHOTS` otherwise; ``fae`` chooses its own). The estimator then runs its noise-free
  expected path: its confidence intervals and query counts are those of that many shots.
  qiskit-algorithms 0.4 takes V2 samplers only, and no V2 sampler returns exact probabilities,
  hence :class:`ExactSampler`.
* ``None`` and ``shots=N``: qiskit-aer's ``SamplerV2``, ``N`` shots per circuit, a fresh seed per
  job drawn from ``seed`` (one seed for every job would correlate the rounds of IQAE).
* ``"Fake..."``: the circuits transpiled to that fake IBM device and sampled on Aer under its
  noise model (:func:`qgridlang.backends.qaoa.device_noise_model`, the errors
  ``AerSimulator.from_backend`` uses).
* ``"ibm"`` / ``"ibm:<device>"``: qiskit-ibm-runtime's ``SamplerV2`` on IBM Quantum, with
  QiskitRuntimeService's own account configuration; without one, a BackendError that says how
  to save one (``"ibm:FakeManilaV2"`` is the runtime's local testing mode, no account needed).

Every run is refused up front, with the numbers, when its state does not fit in memory.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from qgridlang.errors import BackendError, UsageError
from qgridlang.lazy import lazy

if TYPE_CHECKING:
    from qiskit import QuantumCircuit

    from qgridlang.compilers.qae import Oracle

circuits = lazy("qgridlang.compilers.qae")
qaoa_backend = lazy("qgridlang.backends.qaoa")
lowering = lazy("qgridlang.compilers.qaoa")

METHODS = ("ae", "iqae", "mlae", "fae")
EXACT_SHOTS = 1024  # nominal shots of an exact run of iqae / mlae (StatevectorSampler's default)
DEFAULT_SHOTS = 1024  # shots per circuit on devices when none are given
BASIS = ["cx", "u"]  # A is decomposed once, so each Q^k circuit only needs unrolling
WORKSPACE = 4  # statevector, its probabilities and Aer's buffers, in state sizes
DENSITY_MATRIX_MAX = 10  # noisy runs: density matrix up to this many active qubits
IQAE_FLOOR = 1e-15  # smallest per-round lower bound of a handed to IQAE (see iqae_floor)


@dataclass
class AmplitudeResult:
    """One amplitude estimate.

    Attributes:
        estimate: The amplitude ``a``.
        ci: Confidence interval of ``a`` (level ``1 - alpha``).
        oracle_queries: Applications of ``A``/``Q`` as qiskit-algorithms counts them
            (``num_oracle_queries``: shots times powers of ``Q``).
        shots: Shots per circuit (``None``: exact probabilities; ``info["nominal_shots"]`` then
            says how many shots the estimator's statistics assumed).
        seconds: Wall time of the estimation (circuit construction, transpiling, simulation).
        method: ``ae`` | ``iqae`` | ``mlae`` | ``fae``.
        info: Method details (``mle``, grid, powers, qubits, device, nominal shots ...).
    """

    estimate: float
    ci: tuple[float, float]
    oracle_queries: int
    shots: int | None
    seconds: float
    method: str
    info: dict[str, Any] = field(default_factory=dict)


# --- samplers ------------------------------------------------------------------------------

class ExactCounts:
    """Probabilities posing as counts: ``get_counts()`` returns ``p * nominal_shots`` per
    bitstring, the frequencies an infinite run would show scaled to the shots the estimator's
    statistics assume."""

    def __init__(self, probabilities: dict[str, float], shots: int) -> None:
        self.probabilities = probabilities
        self.num_shots = shots

    def get_counts(self) -> dict[str, float]:
        return {k: v * self.num_shots for k, v in self.probabilities.items()}


def _sampler_base() -> type:
    from qiskit.primitives import BaseSamplerV2

    return BaseSamplerV2


def exact_probabilities(circuit: QuantumCircuit) -> dict[str, dict[str, float]]:
    """Exact outcome probabilities of every classical register of ``circuit`` (measurements
    at its end), from qiskit-aer's statevector: ``{register: {bitstring: p}}``."""
    from qiskit import QuantumCircuit as Circuit
    from qiskit_aer import AerSimulator

    measured: dict[int, int] = {}  # clbit -> qubit
    body = Circuit(*circuit.qregs, name=circuit.name)
    for inst in circuit.data:
        if inst.operation.name == "measure":
            measured[circuit.find_bit(inst.clbits[0]).index] = circuit.find_bit(
                inst.qubits[0]).index
        elif inst.operation.name != "barrier":
            if measured and any(circuit.find_bit(q).index in measured.values()
                                for q in inst.qubits):
                raise UsageError("exact probabilities need the measurements at the end")
            body.append(inst.operation, [circuit.find_bit(q).index for q in inst.qubits])
    clbits = sorted(measured)
    body.save_probabilities([measured[c] for c in clbits], label="p")  # type: ignore[attr-defined]
    result = AerSimulator(method="statevector").run(body, shots=1).result()
    probs = np.asarray(result.data(0)["p"], dtype=float)
    width = len(clbits)
    joint = {format(i, f"0{width}b"): float(v) for i, v in enumerate(probs) if v > 0.0}
    out: dict[str, dict[str, float]] = {}
    for creg in circuit.cregs:
        pos = [clbits.index(circuit.find_bit(b).index) for b in creg]
        marginal: dict[str, float] = {}
        for key, v in joint.items():
            bits = "".join(key[width - 1 - j] for j in reversed(pos))
            marginal[bits] = marginal.get(bits, 0.0) + v
        out[creg.name] = marginal
    return out


def _transpiled(pubs: Iterable[Any], transpiler: Any) -> list[Any]:
    """Pubs with their circuits run through ``transpiler`` (the sampler transpiles, not the
    estimator: qiskit-algorithms 0.4's MLAE hands only its first circuit to a transpiler)."""
    out = []
    for pub in pubs:
        if isinstance(pub, tuple):
            out.append((transpiler.run(pub[0]), *pub[1:]))
        else:
            out.append((transpiler.run(pub),))
    return out


def make_exact_sampler(default_shots: int, transpiler: Any) -> Any:
    """A V2 sampler whose counts are exact probabilities times the pub's (nominal) shots."""
    from qiskit.primitives import DataBin, PrimitiveResult, SamplerPubResult
    from qiskit.primitives.containers.sampler_pub import SamplerPub
    from qiskit.primitives.primitive_job import PrimitiveJob

    class ExactSampler(_sampler_base()):  # type: ignore[misc]
        """Exact Born probabilities through the SamplerV2 interface (see :class:`ExactCounts`)."""

        def __init__(self, shots: int) -> None:
            self.default_shots = shots

        def run(self, pubs: Iterable[Any], *, shots: int | None = None) -> Any:
            coerced = [SamplerPub.coerce(pub, shots or self.default_shots)
                       for pub in _transpiled(pubs, transpiler)]
            job = PrimitiveJob(self._run, coerced)
            job._submit()
            return job

        def _run(self, pubs: list[Any]) -> Any:
            results = []
            for pub in pubs:
                if pub.circuit.num_parameters:
                    raise UsageError("the exact sampler takes bound circuits only")
                regs = exact_probabilities(pub.circuit)
                n = int(pub.shots)
                data = DataBin(**{k: ExactCounts(v, n) for k, v in regs.items()})
                results.append(SamplerPubResult(data, metadata={"shots": n, "exact": True}))
            return PrimitiveResult(results, metadata={"version": 2})

    return ExactSampler(default_shots)


def make_seeded_sampler(factory: Callable[[int | None], Any], default_shots: int,
                        seed: int | None, transpiler: Any) -> Any:
    """A V2 sampler that hands every job to ``factory(seed_k)`` with a fresh ``seed_k`` from
    ``seed`` (reproducible, uncorrelated rounds) and exposes ``default_shots`` (read by MLAE)."""
    rng = np.random.default_rng(seed)

    class SeededSampler(_sampler_base()):  # type: ignore[misc]
        def __init__(self) -> None:
            self.default_shots = default_shots

        def run(self, pubs: Iterable[Any], *, shots: int | None = None) -> Any:
            job_seed = int(rng.integers(2**31 - 1)) if seed is not None else None
            return factory(job_seed).run(_transpiled(pubs, transpiler),
                                         shots=shots or self.default_shots)

    return SeededSampler()


# --- the run -------------------------------------------------------------------------------

def estimate_amplitude(oracle: Oracle, method: str = "iqae", *, epsilon: float = 1e-3,
                       alpha: float = 0.05, eval_qubits: int = 5, shots: int | None = None,
                       seed: int | None = None, device: str | None = None,
                       options: dict[str, Any] | None = None) -> AmplitudeResult:
    """Estimate ``oracle``'s amplitude with ``method`` (``ae``, ``iqae``, ``mlae``, ``fae``).

    ``epsilon`` is the target half-width (iqae, fae), ``alpha`` the confidence level's
    complement (every method's interval; fae's ``delta``), ``eval_qubits`` the phase-estimation
    qubits (ae) or the number of powers of ``Q`` (mlae). ``shots=None`` runs exactly (no sampling
    noise) except on devices, which take :data:`DEFAULT_SHOTS`. ``options``: ``maxiter`` (fae:
    overrides the iterations derived from ``epsilon``), ``confint_method`` (iqae: ``chernoff`` |
    ``beta``), ``optimization_level`` (device transpiling, 1), ``channel``, ``instance``,
    ``account`` (ibm).
    """
    opts = dict(options or {})
    method = str(method).lower()
    if method not in METHODS:
        raise UsageError(f"unknown amplitude-estimation method '{method}'",
                         hint=f"use one of {', '.join(METHODS)}")
    if not 0.0 < epsilon < 0.5:
        raise UsageError(f"epsilon must lie in (0, 0.5), got {epsilon}")
    if not 0.0 < alpha < 1.0:
        raise UsageError(f"alpha must lie in (0, 1), got {alpha}")
    if eval_qubits < 1:
        raise UsageError(f"eval_qubits must be at least 1, got {eval_qubits}")
    if shots is not None and shots < 1:
        raise UsageError(f"shots must be positive, got {shots}")
    t0 = time.perf_counter()
    width = oracle.circuit.num_qubits + (eval_qubits if method == "ae" else 0) + (
        1 if method == "fae" else 0)
    where = _where(device)
    if where == "aer" and shots is None:
        where = "exact"
    info: dict[str, Any] = {"qubits": width, "backend": where}
    if where in ("exact", "aer"):
        simulated = oracle.circuit.num_qubits if opts.get("engine") == "analytic" else width
        qaoa_backend.check_memory(simulated, WORKSPACE, f"amplitude estimation ({method})")
    engine = str(opts.get("engine", "circuit")).lower()
    if engine not in ("circuit", "analytic"):
        raise UsageError(f"unknown engine '{engine}'", hint="'circuit' or 'analytic'")
    if engine == "analytic":
        if method != "ae" or where != "exact":
            raise UsageError("engine=analytic is exact canonical AE only (method ae, no shots, "
                             "no device)")
        estimate, ci, queries = _analytic_ae(oracle, eval_qubits, info)
        return AmplitudeResult(estimate=estimate, ci=ci, oracle_queries=queries, shots=None,
                               seconds=time.perf_counter() - t0, method=method, info=info)
    sampler, run_shots = _sampler(oracle, method, shots, seed, device, where, width, opts, info)
    problem = _problem(oracle)
    algorithm = _algorithm(method, sampler, epsilon, alpha, eval_qubits, opts, info)
    with warnings.catch_warnings(), iqae_floor(method == "iqae"):
        # FAE rescales the problem and rebuilds Q itself; it says so each run
        warnings.filterwarnings("ignore", "Rescaling discards the Grover operator")
        result = algorithm.estimate(problem)
    estimate, ci = _read(method, algorithm, result, alpha, eval_qubits, where, info)
    return AmplitudeResult(
        estimate=float(estimate), ci=(float(ci[0]), float(ci[1])),
        oracle_queries=int(result.num_oracle_queries), shots=run_shots,
        seconds=time.perf_counter() - t0, method=method, info=info)


@contextmanager
def iqae_floor(active: bool = True) -> Iterator[None]:
    """Keep IterativeAmplitudeEstimation's per-round lower bound of ``a`` above 0.

    qiskit-algorithms 0.4 defect: in the lower half circle a round whose interval clips to
    ``a_min = 0`` (few shots: the Chernoff half-width exceeds the frequency) gives
    ``theta_max = 1`` exactly, so the scaled upper bound of the next round lands on an integer
    and ``int()`` puts it one full cycle up; the theta interval then grows by ``1/K`` every round
    and the loop never ends (measured: 30 of 35 seeded runs at 100 shots, epsilon 1e-2, on five
    amplitudes). Flooring the bound at :data:`IQAE_FLOOR` keeps ``theta_max`` just below 1, where
    ``int()`` is right; the final interval's lower end is reported as 0 when it is below 1e-12.
    """
    if not active:
        yield
        return
    from qiskit_algorithms.amplitude_estimators import iae

    saved = iae._chernoff_confint, iae._clopper_pearson_confint

    def floored(bound: Callable[..., tuple[float, float]]) -> Callable[..., tuple[float, float]]:
        def inner(*args: Any) -> tuple[float, float]:
            lo, hi = bound(*args)
            return max(float(lo), IQAE_FLOOR), float(hi)

        return inner

    iae._chernoff_confint, iae._clopper_pearson_confint = (floored(f) for f in saved)
    try:
        yield
    finally:
        iae._chernoff_confint, iae._clopper_pearson_confint = saved


def _where(device: str | None) -> str:
    if device is None or str(device).lower() in ("", "aer", "none"):
        return "aer"
    d = str(device)
    if d.lower() == "ibm" or d.lower().startswith("ibm:"):
        return "ibm"
    if d.lower().startswith("fake"):
        return "fake"
    raise UsageError(f"unknown device '{device}'",
                     hint="None (Aer), a fake IBM device (FakeManilaV2 ...), ibm or ibm:<device>")


def _problem(oracle: Oracle) -> Any:
    """The EstimationProblem of ``A`` decomposed to ``cx``/``u`` once (Aer knows neither
    ``ucry`` nor the comparator gate) and its Grover operator."""
    from qiskit import transpile
    from qiskit_algorithms import EstimationProblem

    flat = transpile(oracle.circuit, basis_gates=BASIS, optimization_level=1)
    decomposed = replace(oracle, circuit=flat)
    return EstimationProblem(flat, [oracle.objective_qubit],
                             grover_operator=circuits.grover_operator(decomposed))


def _sampler(oracle: Oracle, method: str, shots: int | None, seed: int | None,
             device: str | None, where: str, width: int, opts: dict[str, Any],
             info: dict[str, Any]) -> tuple[Any, int | None]:
    """The sampler (which transpiles every circuit it runs) and the shots per circuit."""
    from qiskit.transpiler import generate_preset_pass_manager

    level = int(opts.get("optimization_level", 1))
    if where == "exact":
        nominal = 1 if method == "ae" else EXACT_SHOTS
        info.update(backend="exact", nominal_shots=nominal if method != "fae" else "fae's own")
        pm = generate_preset_pass_manager(optimization_level=0, basis_gates=BASIS)
        return make_exact_sampler(nominal, pm), None
    n_shots = int(shots) if shots is not None else DEFAULT_SHOTS
    if where == "aer":
        from qiskit_aer.primitives import SamplerV2

        pm = generate_preset_pass_manager(optimization_level=0, basis_gates=BASIS)

        def aer(s: int | None) -> Any:
            return SamplerV2(default_shots=n_shots, seed=s,
                             options={"backend_options": {"method": "statevector"}})

        return make_seeded_sampler(aer, n_shots, seed, pm), n_shots
    if where == "fake":
        from qiskit_aer.primitives import SamplerV2

        backend = lowering.fake_backend(str(device))
        if width > backend.num_qubits:
            raise BackendError(f"{width} qubits do not fit on {backend.name} "
                               f"({backend.num_qubits} qubits)")
        dm = width <= DENSITY_MATRIX_MAX
        qaoa_backend.check_memory(2 * width if dm else width, WORKSPACE,
                                  "noisy amplitude estimation")
        noise = qaoa_backend.device_noise_model(backend, list(range(backend.num_qubits)))
        pm = generate_preset_pass_manager(optimization_level=level, backend=backend,
                                          seed_transpiler=seed)
        method_name = "density_matrix" if dm else "statevector"
        info.update(device=backend.name, simulation=method_name,
                    noise="qiskit-aer basic device gate and readout errors")

        def noisy(s: int | None) -> Any:
            return SamplerV2(default_shots=n_shots, seed=s, options={"backend_options": {
                "method": method_name, "noise_model": noise}})

        return make_seeded_sampler(noisy, n_shots, seed, pm), n_shots
    # ibm
    from qiskit_ibm_runtime import SamplerV2 as RuntimeSampler

    name = str(device).partition(":")[2] or None
    extra: dict[str, Any] = {k: opts[k] for k in ("channel", "instance", "account") if k in opts}
    if name is not None:
        extra["device"] = name
    backend, local = qaoa_backend.ibm_device(qaoa_backend.Settings(extra=extra), width)
    if width > backend.num_qubits:
        raise BackendError(f"{width} qubits do not fit on {backend.name} "
                           f"({backend.num_qubits} qubits)")
    pm = generate_preset_pass_manager(optimization_level=level, backend=backend,
                                      seed_transpiler=seed)
    runtime = RuntimeSampler(mode=backend)
    runtime.options.default_shots = n_shots
    info.update(device=backend.name, local_testing=local)

    class Runtime(_sampler_base()):  # type: ignore[misc]
        # qiskit-ibm-runtime keeps default_shots in options; MLAE reads the attribute
        default_shots = n_shots

        def run(self, pubs: Iterable[Any], *, shots: int | None = None) -> Any:
            return runtime.run(_transpiled(pubs, pm), shots=shots or n_shots)

    return Runtime(), n_shots


def ae_distribution(a: float, m: int) -> np.ndarray:
    """Exact outcome distribution of canonical AE's ``m``-qubit register for amplitude ``a``.

    ``A|0>`` is ``(|psi+> - |psi->)/sqrt 2`` (up to phases) in Q's eigenvectors with eigenphases
    ``+-2 theta``, ``a = sin^2 theta``; phase estimation maps each to the Fejer kernel
    ``F(d) = sin^2(M pi d) / (M^2 sin^2(pi d))`` around ``+-theta/pi`` and the eigenvectors are
    orthogonal, so ``P(y) = (F(y/M - theta/pi) + F(y/M + theta/pi)) / 2`` with no cross term.
    """
    big_m = 1 << m
    theta = math.asin(math.sqrt(min(max(a, 0.0), 1.0)))
    y = np.arange(big_m, dtype=float) / big_m

    def fejer(d: np.ndarray) -> np.ndarray:
        s = np.sin(np.pi * d)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.sin(big_m * np.pi * d) ** 2 / (big_m**2 * s**2)
        return np.where(np.abs(s) < 1e-15, 1.0, out)

    p = 0.5 * (fejer(y - theta / math.pi) + fejer(y + theta / math.pi))
    return np.asarray(p / p.sum())


def _analytic_ae(oracle: Oracle, m: int, info: dict[str, Any]
                 ) -> tuple[float, tuple[float, float], int]:
    """Canonical AE without simulating its ``m + width`` qubits and ``2^m - 1`` Grover
    operators: ``a`` from the statevector of ``A`` alone (so the circuit is still what is
    measured), the outcome distribution from :func:`ae_distribution`, the grid estimate, the MLE
    (qiskit-algorithms' own) and the grid interval as in the circuit run. Identical, up to
    rounding, to the full circuit's exact probabilities (tests/test_qae_runner.py)."""
    from qiskit import ClassicalRegister, transpile
    from qiskit_algorithms import AmplitudeEstimation
    from qiskit_algorithms.amplitude_estimators.ae import AmplitudeEstimationResult

    flat = transpile(oracle.circuit, basis_gates=BASIS, optimization_level=1)
    measured = flat.copy()
    creg = ClassicalRegister(1, "obj")
    measured.add_register(creg)
    measured.measure(oracle.objective_qubit, creg[0])
    a = exact_probabilities(measured)["obj"].get("1", 0.0)
    dist = ae_distribution(a, m)
    big_m = 1 << m
    samples: dict[float, float] = {}
    for y, p in enumerate(dist):
        key = float(np.round(math.sin(math.pi * y / big_m) ** 2, 7))
        samples[key] = samples.get(key, 0.0) + float(p)
    result = AmplitudeEstimationResult()
    result.num_evaluation_qubits = m
    result.shots = 1
    result.samples = samples
    result.estimation = max(samples, key=lambda k: samples[k])
    grid = grid_value(result.estimation, m)
    mle = float(AmplitudeEstimation.compute_mle(result))
    info.update(engine="analytic", simulated_amplitude=a, mle=mle, eval_qubits=m,
                max_probability=samples[result.estimation], nominal_shots=1, backend="exact")
    _, ci = _grid_interval(grid, m, info)
    return grid, ci, big_m - 1


def grid_value(a: float, m: int) -> float:
    """``sin^2(pi y / 2^m)`` for the grid point nearest ``a`` (qiskit-algorithms rounds its
    grid values to 7 decimals, visible in relative errors of 1e-5 % at m = 11)."""
    big_m = 1 << m
    y = round(big_m * math.asin(math.sqrt(min(max(a, 0.0), 1.0))) / math.pi)
    return math.sin(math.pi * y / big_m) ** 2


def _grid_interval(grid: float, m: int, info: dict[str, Any]
                   ) -> tuple[float, tuple[float, float]]:
    """With the exact outcome distribution the most likely grid point is one of the two
    nearest to ``theta = arcsin sqrt(a)`` (the Fejer kernel's peak), so theta lies within one
    grid step ``pi / 2^m`` of it: a deterministic interval, not a statistical one."""
    step = math.pi / (1 << m)
    theta = math.asin(math.sqrt(min(max(grid, 0.0), 1.0)))
    lo_t, hi_t = max(theta - step, 0.0), min(theta + step, math.pi / 2)
    info["ci_kind"] = "grid: theta within one step pi/2^m of the most likely grid point"
    return grid, (math.sin(lo_t) ** 2, math.sin(hi_t) ** 2)


def fae_iterations(epsilon: float) -> int:
    """FAE iterations for half-width ``epsilon`` in ``a``: its final theta interval has half-width
    ``(pi/3) / (2^(J+1) + 2)`` on the problem rescaled by 1/4, where ``a = 16 sin^2 theta`` moves
    by at most ``32 sin(t) cos(t) <= 7.75`` per radian (``sin t <= 1/4``)."""
    return max(1, math.ceil(math.log2(7.75 * (math.pi / 3) / epsilon)) - 1)


def _algorithm(method: str, sampler: Any, epsilon: float, alpha: float,
               eval_qubits: int, opts: dict[str, Any], info: dict[str, Any]) -> Any:
    from qiskit_algorithms import (
        AmplitudeEstimation,
        FasterAmplitudeEstimation,
        IterativeAmplitudeEstimation,
        MaximumLikelihoodAmplitudeEstimation,
    )

    if method == "ae":
        info["eval_qubits"] = eval_qubits
        return AmplitudeEstimation(eval_qubits, sampler=sampler)
    if method == "iqae":
        confint = str(opts.get("confint_method", "chernoff"))
        info["confint_method"] = confint
        return IterativeAmplitudeEstimation(epsilon, alpha, confint_method=confint,
                                            sampler=sampler)
    if method == "mlae":
        info["powers"] = [0, *(1 << j for j in range(eval_qubits - 1))]
        return MaximumLikelihoodAmplitudeEstimation(eval_qubits - 1, sampler=sampler)
    maxiter = int(opts.get("maxiter", fae_iterations(epsilon)))
    # FAE's delta bounds each of its at most 2 maxiter Chernoff intervals; its own success
    # probability is 1 - (2 maxiter - j0) delta, so delta = alpha / (2 maxiter) keeps 1 - alpha
    delta = alpha / (2 * maxiter)
    info.update(maxiter=maxiter, delta=delta)
    return FasterAmplitudeEstimation(delta, maxiter, sampler=sampler)


def _read(method: str, algorithm: Any, result: Any, alpha: float, m: int, where: str,
          info: dict[str, Any]) -> tuple[float, tuple[float, float]]:
    """The estimate and its interval, per method."""
    if method == "ae":
        grid = grid_value(float(result.estimation), m)
        info.update(mle=float(result.mle), max_probability=float(result.max_probability))
        if where == "exact":
            return _grid_interval(grid, m, info)
        ci = algorithm.compute_confidence_interval(result, alpha, kind="likelihood_ratio")
        info["ci_kind"] = "likelihood_ratio (qiskit-algorithms), around the MLE"
        return grid, (min(ci[0], grid), max(ci[1], grid))
    if method == "mlae":
        ci = algorithm.compute_confidence_interval(result, alpha, kind="likelihood_ratio")
        info.update(ci_kind="likelihood_ratio (qiskit-algorithms)", theta=float(result.theta))
        return float(result.estimation), (float(ci[0]), float(ci[1]))
    if method == "iqae":
        info.update(powers=list(result.powers), epsilon_estimated=float(result.epsilon_estimated))
    else:
        info.update(success_probability=float(result.success_probability),
                    steps=int(result.num_steps))
    ci = result.confidence_interval
    lower = float(ci[0]) if method != "iqae" or ci[0] >= 1e-12 else 0.0  # undo iqae_floor
    return float(result.estimation), (lower, float(ci[1]))
