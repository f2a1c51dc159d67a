"""QAOA backends on the ``qubo`` target: ``qaoa`` (local, qiskit-aer) and ``ibm`` (IBM Quantum).

Both take the ``qubo`` target's BQM, build the QAOA circuit of :mod:`qgridlang.compilers.qaoa`,
optimise its ``2p`` angles with a classical optimiser, sample the optimised circuit and return
every shot as a bit row in the BQM's variable order (lowest energy first), so the ``qubo``
target's ``refine`` step and the dispatcher decode them exactly like the other QUBO samplers.

``qaoa`` (local):

* noiseless: the objective is exact, from the statevector's Born probabilities and the
  energy of every basis state (``engine=aer``: qiskit-aer's statevector method;
  ``engine=numpy``: the same circuit applied as a diagonal phase and per-qubit mixers, faster on
  dense Hamiltonians); the final shots are measured on Aer (``numpy``: drawn from the exact
  probabilities). Refused, with the numbers, when the statevector does not fit in memory.
* noisy (``noise=FakeSherbrooke`` …): the circuit is transpiled to the fake device, cut down to
  the qubits it uses, and run with shots on AerSimulator under the device's noise model
  (qiskit-aer's ``basic_device_gate_errors`` / ``basic_device_readout_errors`` of those qubits,
  which is what ``AerSimulator.from_backend`` builds for the whole device); the objective is
  estimated from the shots, optionally after tensored readout-error mitigation.

``ibm``: the same transpiled circuits through qiskit-ibm-runtime's EstimatorV2 (expectations)
and SamplerV2 (CVaR objectives and the final shots), with QiskitRuntimeService's own account
configuration; without one, a BackendError that says how to save one.

Options (``--option KEY=VALUE``; ``Options.reads`` is the shot count, ``Options.seed`` the seed,
``Options.time_limit`` stops the optimiser at its best point so far, ``Options.threads`` caps
Aer's threads): ``p`` (layers, 1), ``optimizer`` (``cobyla`` | ``spsa`` |
``nelder-mead``), ``maxiter`` (per depth, 100), ``shots`` (1024),
``init`` (``interp``: grow from p = 1 with INTERP; ``tqa``: linear ramp at depth p),
``tqa_dt`` (0.75), ``cvar_alpha`` (1: the mean), ``warm_start``,
``warm_start_epsilon`` (0.25), ``engine`` (``aer`` | ``numpy``), ``noise`` (a fake device),
``readout_mitigation``, ``optimization_level`` (1); ``ibm`` adds ``device``, ``optimize_on``
(``device`` | ``local``), ``session``, ``channel``, ``instance``, ``account``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from qgridlang import progress
from qgridlang.errors import BackendError, UsageError
from qgridlang.lazy import lazy
from qgridlang.registry import Backend, Options, register_backend
from qgridlang.results import RawResult, Status
from qgridlang.targets.qaoa import bool_option, int_option

# loaded when the backend runs, not when it is listed (qglc start-up)
if TYPE_CHECKING:
    from qgridlang.compilers.qaoa import IsingForm

dimod = lazy("dimod")
optimize = lazy("scipy.optimize")
lowering = lazy("qgridlang.compilers.qaoa")

BRUTE_FORCE_MAX = 20  # optimum_probability: enumerate all 2^n energies up to this many qubits
MITIGATION_MAX = 20  # tensored readout mitigation works on the full 2^n distribution
WORKSPACE = 5  # state, its update buffers, energy diagonal, phases, probabilities: in state sizes
OPTIMIZERS = ("cobyla", "spsa", "nelder-mead")
ENERGY_TOL = 1e-9

Objective = Callable[[np.ndarray], float]


@dataclass(frozen=True)
class Settings:
    """The QAOA options of one run (validated)."""

    p: int = 1
    optimizer: str = "cobyla"
    maxiter: int = 100
    shots: int = 1024
    init: str = "interp"
    tqa_dt: float = 0.75
    cvar_alpha: float = 1.0
    warm_start: bool = False
    epsilon: float = 0.25
    engine: str = "aer"
    noise: str | None = None
    readout_mitigation: bool = False
    optimization_level: int = 1
    seed: int | None = None
    threads: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_options(cls, options: Options) -> Settings:
        x = options.extra
        shots = options.reads if options.reads is not None else x.get("shots", x.get("reads"))
        s = cls(
            p=int_option(x.get("p", 1), "p"), optimizer=str(x.get("optimizer", "cobyla")).lower(),
            maxiter=int_option(x.get("maxiter", 100), "maxiter"),
            shots=int_option(1024 if shots is None else shots, "shots"),
            init=str(x.get("init", "interp")).lower(), tqa_dt=float(x.get("tqa_dt", 0.75)),
            cvar_alpha=float(x.get("cvar_alpha", 1.0)), warm_start=bool_option(x.get("warm_start")),
            epsilon=float(x.get("warm_start_epsilon", 0.25)),
            engine=str(x.get("engine", "aer")).lower(),
            noise=None if x.get("noise") in (None, "", False, "none") else str(x["noise"]),
            readout_mitigation=bool_option(x.get("readout_mitigation")),
            optimization_level=int_option(x.get("optimization_level", 1), "optimization_level"),
            seed=options.seed if options.seed is not None else x.get("seed"),
            threads=int(options.threads or 0), extra=dict(x),
        )
        s.check()
        return s

    def check(self) -> None:
        if self.p < 1:
            raise UsageError(f"QAOA needs p >= 1 layers, got {self.p}", hint="--option p=2")
        if self.optimizer.replace("_", "-") not in OPTIMIZERS:
            raise UsageError(f"unknown optimizer '{self.optimizer}'",
                             hint=f"use one of {', '.join(OPTIMIZERS)}")
        if self.init not in ("interp", "tqa"):
            raise UsageError(f"unknown init '{self.init}'", hint="use 'interp' or 'tqa'")
        if self.engine not in ("aer", "numpy"):
            raise UsageError(f"unknown engine '{self.engine}'", hint="use 'aer' or 'numpy'")
        if not 0.0 < self.cvar_alpha <= 1.0:
            raise UsageError(f"cvar_alpha must lie in (0, 1], got {self.cvar_alpha}")
        if self.maxiter < 1 or self.shots < 1:
            raise UsageError("maxiter and shots must be positive")


# --- objectives ----------------------------------------------------------------------------

def aggregate(energies: np.ndarray, weights: np.ndarray, alpha: float = 1.0,
              order: np.ndarray | None = None) -> float:
    """Mean energy (``alpha = 1``) or CVaR_alpha (Barkoutsos et al. 2020): the mean over the
    lowest-energy ``alpha`` share of the probability mass. ``order`` sorts ``energies`` (pass it
    when the energies are fixed, as for a statevector)."""
    w = np.clip(weights, 0.0, None)
    total = w.sum()
    if total <= 0:
        return float("nan")
    if alpha >= 1.0:
        return float(w @ energies / total)
    order = np.argsort(energies, kind="stable") if order is None else order
    ws = w[order] / total
    before = np.cumsum(ws) - ws
    take = np.minimum(ws, np.clip(alpha - before, 0.0, None))
    return float(take @ energies[order] / alpha)


def nearest_probability(q: np.ndarray) -> np.ndarray:
    """The probability vector nearest (2-norm) to a quasi-probability vector summing to 1
    (Smolin, Gambetta & Smith 2012), vectorised over the sorted entries."""
    order = np.argsort(q, kind="stable")
    v = q[order]
    n = len(v)
    before = np.cumsum(v) - v  # mass of the entries already zeroed if we zero all up to i
    drop = v + before / (n - np.arange(n)) < 0
    k = int(np.argmin(drop)) if not drop.all() else n
    out_sorted = np.zeros(n)
    if k < n:
        out_sorted[k:] = v[k:] + before[k] / (n - k)
    out = np.empty(n)
    out[order] = out_sorted
    return out


def mitigate(probs: np.ndarray, assignment: np.ndarray) -> np.ndarray:
    """Tensored readout mitigation: apply each qubit's inverse assignment matrix
    (``assignment[q][measured, prepared]``) to the full ``2^n`` distribution (qiskit index
    order), then project to the nearest probability vector."""
    n = assignment.shape[0]
    inverse = np.linalg.inv(assignment)
    v = np.asarray(probs, dtype=float)
    for q in range(n):
        block = v.reshape(-1, 2, 1 << q)
        out = np.empty_like(block)
        out[:, 0] = inverse[q, 0, 0] * block[:, 0] + inverse[q, 0, 1] * block[:, 1]
        out[:, 1] = inverse[q, 1, 0] * block[:, 0] + inverse[q, 1, 1] * block[:, 1]
        v = out.reshape(-1)
    return nearest_probability(v / v.sum())


def readout_assignment(target: Any, physical: list[int]) -> np.ndarray:
    """Assignment matrices ``A[q][measured, prepared]`` of the measured physical qubits, from the
    device's reported readout errors (``prob_meas1_prep0``/``prob_meas0_prep1`` when it gives
    them, else the symmetric measure error; what Aer's device noise model uses)."""
    props = target["measure"] if "measure" in target.operation_names else {}
    out = np.zeros((len(physical), 2, 2))
    for k, q in enumerate(physical):
        prop = props.get((q,)) if props else None
        e = float(getattr(prop, "error", 0.0) or 0.0) if prop is not None else 0.0
        p10 = float(getattr(prop, "prob_meas1_prep0", e) or e)  # measured 1, prepared 0
        p01 = float(getattr(prop, "prob_meas0_prep1", e) or e)
        out[k] = [[1 - p10, p01], [p10, 1 - p01]]
    return out


# --- optimisers ----------------------------------------------------------------------------

def optimise(fun: Objective, x0: np.ndarray, method: str, maxiter: int,
             rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Minimise ``fun`` from ``x0``: COBYLA / Nelder-Mead (scipy) or SPSA (below). Returns the
    final point and its objective value."""
    method = method.replace("_", "-")
    if method == "cobyla":
        res = optimize.minimize(fun, x0, method="COBYLA",
                                options={"maxiter": maxiter, "rhobeg": 0.2})
        return np.asarray(res.x), float(res.fun)
    if method == "nelder-mead":
        simplex = x0 + np.vstack([np.zeros(len(x0)), 0.1 * np.eye(len(x0))])
        res = optimize.minimize(fun, x0, method="Nelder-Mead",
                                options={"maxfev": maxiter, "initial_simplex": simplex,
                                         "xatol": 1e-4, "fatol": 1e-9})
        return np.asarray(res.x), float(res.fun)
    x = spsa(fun, x0, maxiter - 1, rng)
    return x, fun(x)


def spsa(fun: Objective, x0: np.ndarray, maxiter: int, rng: np.random.Generator,
         c: float = 0.1, target_step: float = 0.1, max_step: float = 0.3, alpha: float = 0.602,
         gamma: float = 0.101) -> np.ndarray:
    """Simultaneous-perturbation stochastic approximation (Spall 1998).

    The learning rate is calibrated on four random perturbations so the first step moves the
    angles by about ``target_step``; every step is capped at ``max_step`` (a trust region: one
    unlucky calibration must not throw the angles across several periods). ``maxiter`` counts
    function evaluations: eight for the calibration, then two per iteration.
    """
    x = np.asarray(x0, dtype=float).copy()
    d = len(x)
    iters = max(1, (maxiter - 8) // 2)
    big_a = 0.1 * iters
    probes = rng.choice([-1.0, 1.0], size=(4, d))
    g0 = np.mean([abs(fun(x + c * s) - fun(x - c * s)) / (2 * c) for s in probes])
    a = target_step * (1 + big_a) ** alpha / max(g0 * np.sqrt(d), 1e-12)
    for k in range(iters):
        ck = c / (k + 1) ** gamma
        ak = a / (k + 1 + big_a) ** alpha
        delta = rng.choice([-1.0, 1.0], size=d)
        step = ak * (fun(x + ck * delta) - fun(x - ck * delta)) / (2 * ck) * delta
        norm = float(np.linalg.norm(step))
        x = x - (step if norm <= max_step else step * (max_step / norm))
    return x


# --- engines -------------------------------------------------------------------------------

class Engine:
    """Evaluates the ansatz at ``x = [gammas, betas]`` for one depth."""

    exact: ClassVar[bool] = False
    facts: dict[str, Any]

    def objective(self, x: np.ndarray) -> float:
        raise NotImplementedError

    def sample(self, x: np.ndarray, shots: int) -> np.ndarray:
        """``shots x n`` bits (column ``i`` = qubit ``i``)."""
        raise NotImplementedError


class StatevectorEngine(Engine):
    """Exact Born probabilities: the objective is ``aggregate(diag, probs)``."""

    exact = True

    def __init__(self, ising: IsingForm, diag: np.ndarray, p: int, thetas: np.ndarray | None,
                 s: Settings, rng: np.random.Generator) -> None:
        self.ising, self.diag, self.p, self.thetas = ising, diag, p, thetas
        self.s, self.rng = s, rng
        self.order = np.argsort(diag, kind="stable") if s.cvar_alpha < 1 else None
        self.circuit = lowering.build_ansatz(ising, p, thetas, measure=True)
        self.facts = lowering.circuit_facts(self.circuit)
        self.last: np.ndarray | None = None

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def objective(self, x: np.ndarray) -> float:
        probs = self.probabilities(x)
        self.last = probs
        return aggregate(self.diag, probs, self.s.cvar_alpha, self.order)

    def sample(self, x: np.ndarray, shots: int) -> np.ndarray:
        probs = self.probabilities(x)
        index = np.asarray(self.rng.choice(len(probs), size=shots, p=probs / probs.sum()))
        bits: np.ndarray = lowering.index_bits(index, self.ising.n)
        return bits


class NumpyEngine(StatevectorEngine):
    """The ansatz applied directly: ``exp(-i gamma diag / scale)`` and one 2x2 mixer per qubit
    (the same unitary the circuit compiles to, without per-gate passes over the state)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        n = self.ising.n
        self.phase = self.diag / self.ising.scale
        if self.thetas is None:
            self.start = np.full(1 << n, (1 << n) ** -0.5, dtype=complex)
        else:
            start = np.ones(1, dtype=complex)
            for th in self.thetas:  # qubit q is bit q of the index: prepend higher qubits
                start = np.kron([np.cos(th / 2), np.sin(th / 2)], start)
            self.start = start

    def _mixers(self, beta: float) -> np.ndarray:
        n = self.ising.n
        c, s = np.cos(beta), np.sin(beta)
        rx = np.array([[c, -1j * s], [-1j * s, c]])
        if self.thetas is None:
            return np.broadcast_to(rx, (n, 2, 2))
        th = self.thetas / 2
        ry = np.stack([np.stack([np.cos(th), -np.sin(th)], -1),
                       np.stack([np.sin(th), np.cos(th)], -1)], -2)  # RY(theta), (n, 2, 2)
        rz = np.diag([np.exp(-1j * beta), np.exp(1j * beta)])
        return np.asarray(ry @ rz @ np.swapaxes(ry, 1, 2))

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        p = self.p
        psi = self.start.copy()
        half = len(psi) // 2
        keep, work = np.empty(half, dtype=complex), np.empty(half, dtype=complex)
        for k in range(p):
            psi *= np.exp(-1j * x[k] * self.phase)
            for q, m in enumerate(self._mixers(x[p + k])):
                block = psi.reshape(-1, 2, 1 << q)  # axis 1 is qubit q
                a0, a1 = block[:, 0], block[:, 1]
                old0, tmp = keep.reshape(a0.shape), work.reshape(a0.shape)
                np.copyto(old0, a0)  # in place: the state is the memory bound
                np.multiply(a1, m[0, 1], out=tmp)
                a0 *= m[0, 0]
                a0 += tmp
                np.multiply(old0, m[1, 0], out=tmp)
                a1 *= m[1, 1]
                a1 += tmp
        out: np.ndarray = np.abs(psi) ** 2
        return out


class AerEngine(StatevectorEngine):
    """qiskit-aer's statevector method with ``save_probabilities``; Aer binds the angles."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from qiskit_aer import AerSimulator

        qc = self.circuit.remove_final_measurements(inplace=False)
        qc.save_probabilities()
        self.probe = qc
        self.sim = AerSimulator(method="statevector", max_parallel_threads=self.s.threads,
                                seed_simulator=self.s.seed)

    def _binds(self, x: np.ndarray, circuit: Any) -> list[dict[Any, list[float]]]:
        perm = lowering.parameter_order(circuit, self.p)
        values = lowering.bind_values(perm, np.asarray(x, dtype=float))
        return [{par: [float(v)] for par, v in zip(circuit.parameters, values, strict=True)}]

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        result = self.sim.run(self.probe, parameter_binds=self._binds(x, self.probe)).result()
        return np.asarray(result.data(0)["probabilities"], dtype=float)

    def sample(self, x: np.ndarray, shots: int) -> np.ndarray:
        result = self.sim.run(self.circuit, shots=shots,
                              parameter_binds=self._binds(x, self.circuit)).result()
        return counts_bits(result.get_counts(), self.ising.n)


class ShotEngine(Engine):
    """Objective estimated from shots (noisy simulators and devices), optionally after readout
    mitigation (then on the full ``2^n`` distribution, energies from the enumerated diagonal)."""

    def __init__(self, ising: IsingForm, diag: np.ndarray | None, s: Settings,
                 assignment: np.ndarray | None) -> None:
        self.ising, self.diag, self.s, self.assignment = ising, diag, s, assignment
        self.order = (np.argsort(diag, kind="stable")
                      if diag is not None and s.cvar_alpha < 1 else None)

    def run_bits(self, x: np.ndarray, shots: int) -> np.ndarray:
        raise NotImplementedError

    def objective(self, x: np.ndarray) -> float:
        bits = self.run_bits(x, self.s.shots)
        if self.assignment is not None and self.diag is not None:
            probs = mitigate(shot_distribution(bits), self.assignment)
            return aggregate(self.diag, probs, self.s.cvar_alpha, self.order)
        rows, counts = np.unique(bits, axis=0, return_counts=True)
        return aggregate(self.ising.energies(rows), counts.astype(float), self.s.cvar_alpha)

    def sample(self, x: np.ndarray, shots: int) -> np.ndarray:
        return self.run_bits(x, shots)


class NoisyAerEngine(ShotEngine):
    """The circuit transpiled to a fake IBM device and simulated on its used qubits only."""

    def __init__(self, ising: IsingForm, diag: np.ndarray | None, p: int,
                 thetas: np.ndarray | None, s: Settings, device: Any) -> None:
        from qiskit_aer import AerSimulator

        self.p = p
        logical = lowering.build_ansatz(ising, p, thetas, measure=True)
        isa = lowering.transpile_for(logical, device, s.optimization_level, s.seed)
        self.circuit, physical = compact(isa)
        noise = device_noise_model(device, physical)
        measured = measured_physical(self.circuit, physical)
        assignment = readout_assignment(device.target, measured) if s.readout_mitigation else None
        super().__init__(ising, diag, s, assignment)
        self.sim = AerSimulator(noise_model=noise, seed_simulator=s.seed,
                                max_parallel_threads=s.threads)
        self.facts = {**lowering.circuit_facts(self.circuit), "device": device.name,
                      "physical_qubits": physical, "logical": lowering.circuit_facts(logical)}

    def run_bits(self, x: np.ndarray, shots: int) -> np.ndarray:
        perm = lowering.parameter_order(self.circuit, self.p)
        values = lowering.bind_values(perm, np.asarray(x, dtype=float))
        binds = [{par: [float(v)] for par, v in zip(self.circuit.parameters, values, strict=True)}]
        result = self.sim.run(self.circuit, shots=shots, parameter_binds=binds).result()
        return counts_bits(result.get_counts(), self.ising.n)


def compact(isa: Any) -> tuple[Any, list[int]]:
    """``isa`` without its idle qubits, and the device qubit of each remaining qubit."""
    from qiskit.circuit import Qubit
    from qiskit.converters import circuit_to_dag, dag_to_circuit

    dag = circuit_to_dag(isa)
    idle = [w for w in dag.idle_wires(ignore=["barrier"]) if isinstance(w, Qubit)]
    gone = set(idle)
    physical = [i for i, q in enumerate(isa.qubits) if q not in gone]
    dag.remove_qubits(*idle)
    return dag_to_circuit(dag), physical


def measured_physical(circuit: Any, physical: list[int]) -> list[int]:
    """The device qubit measured into each classical bit (clbit order)."""
    out = [-1] * circuit.num_clbits
    for inst in circuit.data:
        if inst.operation.name == "measure":
            out[circuit.find_bit(inst.clbits[0]).index] = physical[
                circuit.find_bit(inst.qubits[0]).index]
    return out


def device_noise_model(device: Any, physical: list[int]) -> Any:
    """Aer's device noise model (depolarising + thermal relaxation gate errors, readout errors)
    restricted to ``physical`` and renumbered ``0 .. k-1``: the same errors
    ``AerSimulator.from_backend`` uses, without serialising the whole device's every run."""
    from qiskit.transpiler import Target
    from qiskit_aer.noise import NoiseModel
    from qiskit_aer.noise.device import basic_device_gate_errors, basic_device_readout_errors

    full = device.target
    pos = {q: i for i, q in enumerate(physical)}
    qprops = full.qubit_properties
    small = Target(num_qubits=len(physical), dt=full.dt,
                   qubit_properties=[qprops[q] for q in physical] if qprops else None)
    for name in full.operation_names:
        op = full.operation_from_name(name)
        if isinstance(op, type) or name in lowering._CONTROL_FLOW:
            continue
        props = full[name]
        sub = {tuple(pos[q] for q in qargs): prop for qargs, prop in props.items()
               if qargs is not None and all(q in pos for q in qargs)}
        if sub:
            small.add_instruction(op, sub, name=name)
    basis = sorted(set(small.operation_names) - {"measure", "reset", "delay"})
    model = NoiseModel(basis_gates=basis)
    for qubits, error in basic_device_readout_errors(target=small):
        model.add_readout_error(error, qubits)
    for name, qubits, error in basic_device_gate_errors(target=small):
        model.add_quantum_error(error, name, qubits)
    return model


def counts_bits(counts: dict[str, int], n: int) -> np.ndarray:
    """Shots as bit rows (column ``i`` = clbit ``i``) from a ``{bitstring: count}`` dict."""
    keys = [k.replace(" ", "")[-n:] for k in counts] if n else [""] * len(counts)
    if not keys:
        return np.zeros((0, n), dtype=np.uint8)
    rows = (np.frombuffer("".join(keys).encode(), dtype=np.uint8).reshape(len(keys), n)
            == ord("1"))[:, ::-1]
    reps = np.fromiter(counts.values(), dtype=np.int64, count=len(counts))
    return np.repeat(rows.astype(np.uint8), reps, axis=0)


def bitarray_bits(bit_array: Any, n: int) -> np.ndarray:
    """Shots as bit rows from a primitives ``BitArray`` (packed big-endian bytes)."""
    packed = np.asarray(bit_array.array, dtype=np.uint8).reshape(-1, bit_array.array.shape[-1])
    return np.unpackbits(packed, axis=1)[:, ::-1][:, :n].astype(np.uint8)


def shot_distribution(bits: np.ndarray) -> np.ndarray:
    """Empirical distribution over all ``2^n`` basis states (qiskit index order)."""
    n = bits.shape[1]
    index = bits.astype(np.int64) @ (1 << np.arange(n, dtype=np.int64))
    return np.bincount(index, minlength=1 << n) / len(bits)


# --- the run -------------------------------------------------------------------------------

def check_memory(n: int, factor: int = WORKSPACE, what: str = "statevector simulation") -> None:
    """Refuse a ``2^n`` simulation that cannot fit in the memory available now."""
    import psutil

    state = lowering.state_bytes(n) if n < 128 else float("inf")
    available = psutil.virtual_memory().available
    if state * factor > available:
        raise BackendError(
            f"{what} of {n} qubits needs 2^{n} x 16 B = {lowering.human_bytes(state)} for the "
            f"state (about {lowering.human_bytes(state * factor)} with the energy diagonal "
            f"and work arrays); {lowering.human_bytes(available)} of memory is available",
            None, "reduce the binaries (coarser encodings, fewer slack bits), or use a sampler "
                  "that keeps no state: --backend sa / tabu, or --backend ibm")


class OutOfTime(Exception):
    """The time limit passed during an optimisation (caught: the best point so far is used)."""


@dataclass
class Trace:
    """Counts objective evaluations, remembers each depth's start value and best point, and
    stops the optimiser once ``deadline`` (``time.perf_counter``) has passed."""

    evaluations: int = 0
    stages: list[dict[str, Any]] = field(default_factory=list)
    deadline: float | None = None
    start: np.ndarray | None = None
    start_value: float | None = None
    best: tuple[float, np.ndarray] | None = None
    report: Callable[[str], None] | None = None  # progress lines (qgridlang.progress)

    def reset(self, x: np.ndarray) -> None:
        self.start, self.start_value, self.best = x.copy(), None, None

    def wrap(self, fun: Objective) -> Objective:
        def counted(x: np.ndarray) -> float:
            if self.deadline is not None and self.best is not None and \
                    time.perf_counter() > self.deadline:
                raise OutOfTime
            self.evaluations += 1
            x = np.asarray(x, dtype=float)
            value = fun(x)
            if self.start_value is None and self.start is not None and np.array_equal(
                    x, self.start):
                self.start_value = value
            if self.best is None or value < self.best[0]:
                self.best = (value, x.copy())
            if self.report is not None and self.evaluations % 10 == 0:
                self.report(f"evaluation {self.evaluations}: energy {value:.6g} "
                            f"(best {self.best[0]:.6g})")
            return value
        return counted


def schedule(make: Callable[[int], Engine], s: Settings, rng: np.random.Generator,
             trace: Trace) -> tuple[Engine, np.ndarray]:
    """Optimise at depth ``p``: directly from the TQA ramp (``init=tqa``), or from ``p = 1``
    upwards with each depth started by INTERP from the previous optimum (``init=interp``).
    Every evaluation counts (device runs cost); none is made outside the optimiser. Past the
    time limit the best point evaluated so far is kept and no deeper stage starts."""
    depths = list(range(1, s.p + 1)) if s.init == "interp" else [s.p]
    x = lowering.tqa_schedule(depths[0], s.tqa_dt)
    engine = make(depths[0])
    for d in depths:
        if d != depths[0]:
            if trace.deadline is not None and time.perf_counter() > trace.deadline:
                break
            x, engine = lowering.interp(x), make(d)
        before = trace.evaluations
        trace.reset(x)
        stage: dict[str, Any] = {"p": d}
        try:
            x, value = optimise(trace.wrap(engine.objective), x, s.optimizer, s.maxiter, rng)
        except OutOfTime:
            assert trace.best is not None
            value, x = trace.best
            stage["time_limit"] = True
        trace.stages.append({**stage, "evaluations": trace.evaluations - before,
                             "start_value": trace.start_value, "value": value})
        if trace.report is not None:
            trace.report(f"depth p={d}: energy {value:.6g} after "
                         f"{trace.evaluations - before} evaluations")
    return engine, x


@register_backend
class QaoaBackend(Backend):
    """Local QAOA on qiskit-aer (see the module docstring for the options)."""

    name = "qaoa"
    target = "qubo"
    description = ("QAOA on qiskit-aer: statevector or fake-IBM noise; p, optimizer, cvar_alpha, "
                   "warm_start, noise, readout_mitigation")
    REQUIRED_MODULES: ClassVar[tuple[str, ...]] = ("dimod", "qiskit", "qiskit_aer", "psutil")
    # compilers.qaoa.QISKIT_HINT, spelt out: listing this class must not load the compiler
    # (tests/test_startup.py checks that the two agree)
    INSTALL_HINT = 'pip install -e ".[quantum]"  (qiskit, qiskit-aer, qiskit-ibm-runtime)'
    OPTIONS: ClassVar[dict[str, str]] = {
        "p": "QAOA layers (default 1)",
        "optimizer": "cobyla (default), spsa or nelder-mead",
        "maxiter": "optimiser iterations per depth (default 100)",
        "shots": "final shots (default 1024; --reads sets it too)",
        "init": "interp (grow from p = 1, default) or tqa (linear ramp)",
        "tqa_dt": "TQA time step (default 0.75)",
        "cvar_alpha": "CVaR fraction of the best shots in the objective (default 1: the mean)",
        "warm_start": "warm-started ansatz from the relaxation (default false)",
        "warm_start_epsilon": "warm start regularisation (default 0.25)",
        "engine": "aer (default) or numpy statevector",
        "noise": "a fake IBM device whose noise model to simulate (default none)",
        "readout_mitigation": "tensored readout-error mitigation, noisy runs (default false)",
        "optimization_level": "transpiler optimisation level (default 1)",
    }
    COMMON = frozenset({"reads", "seed", "time_limit", "threads"})

    def run(self, artifact: Any, options: Options) -> RawResult:
        bqm = _bqm(artifact)
        s = Settings.from_options(options)
        ising = lowering.IsingForm.from_bqm(bqm)
        n = ising.n
        if n == 0:
            return RawResult(Status.OPTIMAL, x=np.zeros(0, np.int8), xs=np.zeros((1, 0), np.int8),
                             info={"qubits": 0, "optimum_probability": 1.0})
        rng = np.random.default_rng(s.seed)
        t0 = time.perf_counter()
        make, diag, where = self.engines(bqm, ising, s, rng)
        limit = options.time_limit
        trace = Trace(deadline=None if limit is None else t0 + float(limit))
        if progress.enabled(options):
            trace.report = lambda text: progress.emit(self.name, text)
        engine, x = schedule(make, s, rng, trace)
        t1 = time.perf_counter()
        bits = engine.sample(x, s.shots)
        t2 = time.perf_counter()
        info = report(ising, s, engine, x, bits, diag, trace)
        info.update(where, optimize_seconds=t1 - t0, sampler_seconds=t2 - t1)
        return finish(bqm, ising, bits, info)

    def engines(self, bqm: dimod.BinaryQuadraticModel, ising: IsingForm, s: Settings,
                rng: np.random.Generator
                ) -> tuple[Callable[[int], Engine], np.ndarray | None, dict[str, Any]]:
        """An engine factory per depth, the energy diagonal (when enumerated), run facts."""
        n = ising.n
        thetas = warm_thetas(bqm, s)
        if s.readout_mitigation and s.noise is None:
            raise UsageError("readout_mitigation applies to noisy runs",
                             hint="add --option noise=FakeSherbrooke (or use --backend ibm)")
        if s.noise is None:
            check_memory(n)
            diag = lowering.diagonal(ising)
            cls = AerEngine if s.engine == "aer" else NumpyEngine
            return (lambda d: cls(ising, diag, d, thetas, s, rng)), diag, {
                "mode": f"statevector ({s.engine})"}
        device = lowering.fake_backend(s.noise)
        check_memory(n, 1, "noisy simulation")
        if s.readout_mitigation and n > MITIGATION_MAX:
            raise BackendError(f"readout mitigation works on the full 2^n distribution; "
                               f"{n} qubits is more than {MITIGATION_MAX}", None,
                               "drop --option readout_mitigation")
        diag = lowering.diagonal(ising) if n <= BRUTE_FORCE_MAX else None
        return (lambda d: NoisyAerEngine(ising, diag, d, thetas, s, device)), diag, {
            "mode": f"noisy shots ({device.name})"}


def _bqm(artifact: Any) -> dimod.BinaryQuadraticModel:
    bqm = getattr(artifact, "bqm", artifact)  # a QaoaProgram runs as its BQM
    if not isinstance(bqm, dimod.BinaryQuadraticModel):
        raise BackendError(f"the QAOA backends run a dimod BQM, got {type(artifact).__name__}")
    if bqm.vartype is not dimod.BINARY:
        bqm = bqm.change_vartype(dimod.BINARY, inplace=False)
    return bqm


def warm_thetas(bqm: dimod.BinaryQuadraticModel, s: Settings) -> np.ndarray | None:
    return lowering.warm_angles(lowering.relaxation(bqm), s.epsilon) if s.warm_start else None


def report(ising: IsingForm, s: Settings, engine: Engine, x: np.ndarray, bits: np.ndarray,
           diag: np.ndarray | None, trace: Trace) -> dict[str, Any]:
    """The run's facts; ``optimum_probability`` when all energies were enumerated."""
    p = len(x) // 2
    energy = ising.energies(bits)
    facts = engine.facts
    info: dict[str, Any] = {
        "qubits": ising.n, "depth": facts.get("depth"),
        "two_qubit_gates": facts.get("two_qubit_gates"), "layers": p,
        "evaluations": trace.evaluations,
        "parameters": {"gamma": x[:p].tolist(), "beta": x[p:].tolist()},
        "angle_scale": ising.scale, "shots": len(bits),
        "expectation": float(energy.mean()), "sample_energy_min": float(energy.min()),
        "reads_in_order": False,
        "qaoa": {"optimizer": s.optimizer, "init": s.init, "maxiter": s.maxiter,
                 "cvar_alpha": s.cvar_alpha, "warm_start": s.warm_start, "stages": trace.stages,
                 "circuit": facts},
    }
    if isinstance(engine, StatevectorEngine):
        probs = engine.probabilities(x)
        info["expectation"] = float(probs @ engine.diag)  # exact <H>; the shots' mean is noisier
        info["sample_expectation"] = float(energy.mean())
    if diag is not None:
        low = float(diag.min())
        tol = ENERGY_TOL * max(1.0, abs(low))
        info["optimum_energy"] = low
        info["optimum_probability"] = float(np.mean(energy <= low + tol))
        hits = diag <= low + tol
        info["uniform_probability"] = float(hits.mean())
        if isinstance(engine, StatevectorEngine):
            info["optimum_probability_exact"] = float(probs[hits].sum())
        shot = engine.device if isinstance(engine, TransferEngine) else engine
        if isinstance(shot, ShotEngine) and shot.assignment is not None:
            mitigated = mitigate(shot_distribution(bits), shot.assignment)
            info["optimum_probability_mitigated"] = float(mitigated[hits].sum())
            info["expectation_mitigated"] = float(mitigated @ diag)
    return info


def finish(bqm: dimod.BinaryQuadraticModel, ising: IsingForm, bits: np.ndarray,
           info: dict[str, Any]) -> RawResult:
    """Every shot as a BQM-order row (qubit ``i`` is ``bqm.variables[i]``), lowest energy first."""
    energy = ising.energies(bits)
    order = np.argsort(energy, kind="stable")
    xs = np.asarray(bits[order], dtype=np.int8)
    rows, counts = np.unique(xs, axis=0, return_counts=True)
    top = np.argsort(ising.energies(rows), kind="stable")[:10]
    info["top"] = [{"bits": "".join(map(str, rows[i].tolist())), "count": int(counts[i]),
                    "energy": float(e)} for i, e in zip(top, ising.energies(rows[top]),
                                                        strict=True)]
    return RawResult(Status.FEASIBLE, x=xs[0], xs=xs, info=info)



# --- IBM Quantum ---------------------------------------------------------------------------

SAVE_ACCOUNT_HINT = (
    "save an account once: QiskitRuntimeService.save_account(channel='ibm_quantum_platform', "
    "token='<API key>', instance='<instance CRN>', set_as_default=True) (from "
    "qiskit_ibm_runtime), or set QISKIT_IBM_TOKEN and QISKIT_IBM_INSTANCE; for a dry run with "
    "no account, --option device=FakeManilaV2 uses qiskit-ibm-runtime's local testing mode")


class RuntimeEngine(ShotEngine):
    """qiskit-ibm-runtime primitives on a device: EstimatorV2 for mean-energy objectives,
    SamplerV2 for CVaR objectives and the final shots."""

    def __init__(self, ising: IsingForm, diag: np.ndarray | None, p: int,
                 thetas: np.ndarray | None, s: Settings, device: Any, mode: Any,
                 local_testing: bool = False) -> None:
        from qiskit_ibm_runtime import EstimatorV2, SamplerV2

        self.p = p
        logical = lowering.build_ansatz(ising, p, thetas, measure=True)
        self.isa = lowering.transpile_for(logical, device, s.optimization_level, s.seed)
        self.isa_state = self.isa.remove_final_measurements(inplace=False)
        self.observable = ising.operator().apply_layout(self.isa.layout)
        measured = measured_physical(self.isa, list(range(self.isa.num_qubits)))
        assignment = readout_assignment(device.target, measured) if s.readout_mitigation else None
        super().__init__(ising, diag, s, assignment)
        self.sampler = SamplerV2(mode=mode)
        self.sampler.options.default_shots = s.shots
        self.estimator = EstimatorV2(mode=mode)
        self.estimator.options.default_shots = s.shots
        if not local_testing:  # (the local testing mode ignores resilience options, noisily)
            # TREX readout mitigation on the device when asked; nothing else by default
            self.estimator.options.resilience_level = 1 if s.readout_mitigation else 0
        used = lowering.active_qubits(self.isa)
        self.facts = {**lowering.circuit_facts(self.isa), "qubits": len(used),
                      "device": device.name, "physical_qubits": used,
                      "logical": lowering.circuit_facts(logical)}

    def _values(self, x: np.ndarray, circuit: Any) -> np.ndarray:
        values: np.ndarray = lowering.bind_values(lowering.parameter_order(circuit, self.p),
                                                  np.asarray(x, dtype=float))
        return values

    def objective(self, x: np.ndarray) -> float:
        if self.s.cvar_alpha < 1.0:
            return super().objective(x)
        pub = (self.isa_state, self.observable, self._values(x, self.isa_state))
        evs = self.estimator.run([pub]).result()[0].data.evs
        return float(np.real(evs)) + float(self.ising.offset)

    def run_bits(self, x: np.ndarray, shots: int) -> np.ndarray:
        result = self.sampler.run([(self.isa, self._values(x, self.isa))], shots=shots).result()
        return bitarray_bits(result[0].data.meas, self.ising.n)


class TransferEngine(Engine):
    """Angles optimised on a local statevector, shots taken on the device."""

    def __init__(self, local: StatevectorEngine, device: ShotEngine) -> None:
        self.local, self.device = local, device
        self.facts = device.facts

    def objective(self, x: np.ndarray) -> float:
        return self.local.objective(x)

    def sample(self, x: np.ndarray, shots: int) -> np.ndarray:
        return self.device.sample(x, shots)


def ibm_device(s: Settings, n: int) -> tuple[Any, bool]:
    """The device named by ``--option device`` (or the least busy one with ``n`` qubits) from
    QiskitRuntimeService's standard configuration; a ``Fake…`` name selects the runtime's local
    testing mode (no account). Returns ``(backend, local_testing)``."""
    name = s.extra.get("device")
    if name is not None and str(name).lower().startswith("fake"):
        return lowering.fake_backend(str(name)), True
    from qiskit_ibm_runtime import QiskitRuntimeService
    from qiskit_ibm_runtime.accounts import AccountNotFoundError

    kwargs: dict[str, str] = {k: str(s.extra[k]) for k in ("channel", "instance")
                              if k in s.extra}
    if "account" in s.extra:
        kwargs["name"] = str(s.extra["account"])
    try:
        service = QiskitRuntimeService(**kwargs)
    except AccountNotFoundError as exc:
        raise BackendError("the ibm backend needs an IBM Quantum account and none is configured "
                           "(no saved account, no QISKIT_IBM_TOKEN)", None,
                           SAVE_ACCOUNT_HINT) from exc
    except Exception as exc:  # network, expired key …: say so, never fall back
        raise BackendError(f"could not open IBM Quantum with the configured account: "
                           f"{type(exc).__name__}: {exc}", None,
                           "check the saved account (QiskitRuntimeService.saved_accounts()) "
                           "and the network") from exc
    try:
        if name is not None:
            return service.backend(str(name)), False
        return service.least_busy(operational=True, simulator=False, min_num_qubits=n), False
    except Exception as exc:
        raise BackendError(f"no IBM Quantum device '{name or f'with {n} qubits'}' for this "
                           f"account: {exc}", None,
                           "list them: QiskitRuntimeService().backends()") from exc


@register_backend
class IbmBackend(QaoaBackend):
    """QAOA on IBM Quantum devices through qiskit-ibm-runtime's V2 primitives."""

    name = "ibm"
    description = ("QAOA on IBM Quantum (qiskit-ibm-runtime SamplerV2/EstimatorV2; needs a saved "
                   "account); device, optimize_on, shots, p, optimizer")
    REQUIRED_MODULES: ClassVar[tuple[str, ...]] = ("dimod", "qiskit", "qiskit_ibm_runtime",
                                                   "qiskit_aer", "psutil")
    OPTIONS: ClassVar[dict[str, str]] = {
        **QaoaBackend.OPTIONS,
        "device": "IBM device name (default: the least busy); Fake… = local testing mode",
        "optimize_on": "device (default) or local (angles on a local statevector)",
        "session": "run in a qiskit-ibm-runtime Session (default false)",
        "channel": "QiskitRuntimeService channel", "instance": "IBM Quantum instance",
        "account": "a saved account's name",
    }

    def __init__(self) -> None:
        self._session: Any = None

    def run(self, artifact: Any, options: Options) -> RawResult:
        try:
            return super().run(artifact, options)
        finally:
            if self._session is not None:
                self._session.close()
                self._session = None

    def engines(self, bqm: dimod.BinaryQuadraticModel, ising: IsingForm, s: Settings,
                rng: np.random.Generator
                ) -> tuple[Callable[[int], Engine], np.ndarray | None, dict[str, Any]]:
        if s.noise is not None:
            raise UsageError("the ibm backend runs on the device's own noise",
                             hint="drop --option noise (or use --backend qaoa for simulations)")
        n = ising.n
        device, local_testing = ibm_device(s, n)
        if n > device.num_qubits:
            raise BackendError(f"{n} qubits do not fit on {device.name} "
                               f"({device.num_qubits} qubits)")
        if s.readout_mitigation and n > MITIGATION_MAX:
            raise BackendError(f"sample readout mitigation works on the full 2^n distribution; "
                               f"{n} qubits is more than {MITIGATION_MAX}", None,
                               "drop --option readout_mitigation")
        mode: Any = device
        if bool_option(s.extra.get("session")) and not local_testing:
            from qiskit_ibm_runtime import Session

            self._session = mode = Session(backend=device)
        optimize_on = str(s.extra.get("optimize_on", "device")).lower()
        if optimize_on not in ("device", "local"):
            raise UsageError(f"unknown optimize_on '{optimize_on}'", hint="'device' or 'local'")
        thetas = warm_thetas(bqm, s)
        diag = None
        if optimize_on == "local":
            check_memory(n)
            diag = lowering.diagonal(ising)
        elif n <= BRUTE_FORCE_MAX:
            diag = lowering.diagonal(ising)
        where = {"mode": f"ibm ({device.name}{', local testing' if local_testing else ''})",
                 "optimize_on": optimize_on}

        def make(d: int) -> Engine:
            remote = RuntimeEngine(ising, diag, d, thetas, s, device, mode, local_testing)
            if optimize_on == "device":
                return remote
            assert diag is not None
            return TransferEngine(NumpyEngine(ising, diag, d, thetas, s, rng), remote)

        return make, diag, where
