"""Amplitude-estimation circuits for a discrete loss distribution (issue 9, SPECS A7).

A :class:`LossGrid` is a loss distribution on ``2^n`` basis states: probabilities ``p_i`` and each
state's loss value ``v_i`` (non-decreasing in ``i``, so a comparator on the index is a threshold on
the loss). The circuits here are the pieces of the state-preparation operator ``A`` with
``A|0> = sqrt(1-a)|psi0>|0> + sqrt(a)|psi1>|1>`` on an objective qubit:

* :func:`loader`: ``sum_i sqrt(p_i)|i>`` exactly, as a Grover-Rudolph tree of uniformly controlled
  RY rotations (qiskit's ``UCRYGate``): level ``l`` rotates one qubit conditioned on the ``l``
  more significant ones, ``2^l`` CX after decomposition, ``2^n - 1`` CX in all. qiskit's generic
  ``StatePreparation`` is exact too but its isometry synthesis is what issue 9 saw fail from
  ``n ~ 8``; the tree needs real amplitudes only, which ``sqrt(p)`` is.
* :func:`expectation_oracle`: the loader and a payoff rotation ``F|i>|0> = sqrt(1-f(i))|i>|0> +
  sqrt(f(i))|i>|1>`` with ``f(i) = (v_i - lo)/(hi - lo)`` in ``[0, 1]``, so ``a = E[f]``. Three
  forms (``payoff``):

  - ``exact``: one uniformly controlled RY on the objective qubit, ``theta_i = 2 arcsin
    sqrt(f(i))`` (``2^n`` CX);
  - ``exact_mc``: the paper's Circuit-2: ``n`` reversal qubits set to ``|1>`` and flipped by a CNOT
    from their original qubit (so they hold ``NOT i``), then one multi-controlled RY per basis
    state whose controls are, bit by bit, the original qubit where ``i`` has a 1 and the reversal
    qubit where it has a 0 (the reversal register stands in for open controls; ``2n + 1`` qubits,
    ``2^n`` multi-controlled rotations, states with ``f(i) = 0`` skipped);
  - ``linear``: the paper's Circuit-1, as qiskit's ``LinearAmplitudeFunction`` does it: the angle
    ``pi/2 + 2c (f(i) - 1/2)`` is affine in ``i = sum_k 2^k i_k`` when the loss is affine in the
    index, so it is one RY plus one controlled RY per state qubit; ``sin^2(pi/4 + y) ~ 1/2 + y``
    for small ``y = c (f - 1/2)`` gives ``a ~ 1/2 + c (E[f] - 1/2)``, inverted in
    ``post_processing``; the rest, ``(2y - sin 2y)/2`` per state, is the linearisation bias
    (bound and exact value in ``notes``).

  With ``threshold_index=k`` the payoff becomes ``f(i) 1(i >= k)``: ``linear`` puts qiskit's
  ``IntegerComparatorGate`` on the state register and controls every rotation by its flag;
  ``exact`` and ``exact_mc`` fold the indicator into their angles (``theta_i = 0`` below ``k``,
  which is what a comparator-controlled rotation applies there, without its ``O(n)`` gates and
  flag qubit). The tail expectation in loss units also needs ``P(i >= k)`` (the rescaling offset
  ``lo`` and, for ``linear``, the linearisation's ``1/2`` are weighted by it): estimate it with
  :func:`tail_probability_oracle` and combine the two amplitudes with :func:`tail_expectation`.
* :func:`grover_operator`: ``Q = A S_0 A^dagger S_chi`` (qiskit's ``grover_operator``; the zero
  reflection acts on every qubit of ``A``, ancillas and reversal register included).
* :func:`resources`: qubits, depth and two-qubit gates as built, decomposed to ``cx``/``u`` and
  (optionally) transpiled to a fake IBM device.

Qubit layout of every oracle: state qubits ``0 .. n-1`` (qubit ``k`` is bit ``k`` of ``i``), the
objective qubit ``n``, then the reversal register or the comparator's flag.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from qgridlang.errors import UsageError

if TYPE_CHECKING:
    from qiskit import QuantumCircuit

__all__ = [
    "PAYOFFS",
    "LossGrid",
    "Oracle",
    "expectation_oracle",
    "grover_operator",
    "linear_bias_bound",
    "loader",
    "loader_angles",
    "resources",
    "tail_expectation",
    "tail_probability_oracle",
]

PAYOFFS = ("exact", "exact_mc", "linear")
MAX_LOADER_QUBITS = 24  # 2^24 angles (~128 MiB per level); far beyond what AE simulates
PROB_ATOL = 1e-9  # probabilities must sum to 1 within this
AFFINE_RTOL = 1e-9  # linear payoff: largest deviation from the affine fit, relative to the range
DEFAULT_LINEAR_SCALE = 0.25  # qiskit's finance tutorials' c_approx: bias <= c^2/12 of the range


@dataclass(frozen=True, eq=False)  # arrays: compare fields explicitly
class LossGrid:
    """A discrete loss distribution on ``2**n`` basis states.

    Attributes:
        probs: Probability of every basis state (non-negative, summing to 1).
        values: Each state's loss (non-decreasing in the index, so a comparator on the index is a
            threshold on the loss).
    """

    probs: np.ndarray
    values: np.ndarray

    def __post_init__(self) -> None:
        p = np.asarray(self.probs, dtype=float)
        v = np.asarray(self.values, dtype=float)
        object.__setattr__(self, "probs", p)
        object.__setattr__(self, "values", v)
        size = len(p)
        if p.ndim != 1 or size < 2 or size & (size - 1):
            raise UsageError(f"a loss grid needs 2^n >= 2 probabilities, got {p.shape}")
        if v.shape != p.shape:
            raise UsageError(f"{len(v)} loss values for {size} probabilities")
        if not (np.all(np.isfinite(p)) and np.all(np.isfinite(v))):
            raise UsageError("loss grid probabilities and values must be finite")
        if np.any(p < 0) or abs(p.sum() - 1.0) > PROB_ATOL:
            raise UsageError(f"probabilities must be non-negative and sum to 1 "
                             f"(sum {p.sum():.12g}, min {p.min():.3g})")
        if np.any(np.diff(v) < 0):
            raise UsageError("loss values must be non-decreasing in the index "
                             "(sort the states by loss)")

    @property
    def n(self) -> int:
        """Qubits of the state register: ``log2(len(probs))``."""
        return int(len(self.probs)).bit_length() - 1


@dataclass
class Oracle:
    """State preparation ``A`` with ``A|0> = sqrt(1-a)|psi0>|0> + sqrt(a)|psi1>|1>`` on
    ``objective_qubit``.

    Attributes:
        circuit: ``A``.
        objective_qubit: The qubit whose ``|1>`` probability is ``a``.
        state_qubits: The loss register (qubit ``k`` = bit ``k`` of the state index).
        payoff: ``exact`` | ``exact_mc`` | ``linear`` | ``indicator``.
        exact_amplitude: The ``a`` this circuit encodes, from the construction (not simulated).
        post_processing: Amplitude -> the measure in loss units (undoes the rescaling and, for
            ``linear``, the linearisation); the identity for threshold oracles, whose loss-unit
            value also needs ``P(i >= k)`` (:func:`tail_expectation`).
        notes: Rescaling ``lo``/``hi``, threshold, linearisation constant and bias, qubit counts.
    """

    circuit: QuantumCircuit
    objective_qubit: int
    state_qubits: list[int]
    payoff: str
    exact_amplitude: float
    post_processing: Callable[[float], float]
    notes: dict[str, Any] = field(default_factory=dict)


# --- the loader ----------------------------------------------------------------------------

def loader_angles(probs: np.ndarray) -> list[np.ndarray]:
    """RY angles of the Grover-Rudolph tree, most significant qubit first.

    Level ``l`` rotates qubit ``t = n-1-l``; its angle ``j`` belongs to the value ``j`` of the
    ``l`` more significant bits (qubit ``t+1`` is bit 0 of ``j``, UCRYGate's control order) and
    is ``2 arccos sqrt(P(prefix j, bit t = 0) / P(prefix j))`` (0 where the prefix has no mass).
    """
    p = np.asarray(probs, dtype=float)
    n = int(len(p)).bit_length() - 1
    levels = []
    for t in range(n - 1, -1, -1):
        joint = p.reshape(1 << (n - 1 - t), 2, 1 << t).sum(axis=2)  # [prefix, bit t]
        total = joint.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(total > 0, joint[:, 0] / np.where(total > 0, total, 1.0), 1.0)
        levels.append(2.0 * np.arccos(np.sqrt(np.clip(ratio, 0.0, 1.0))))
    return levels


def loader(probs: np.ndarray) -> QuantumCircuit:
    """``sum_i sqrt(p_i)|i>`` on ``n = log2(len(probs))`` qubits: a uniformly-controlled-RY tree
    (Grover-Rudolph), ``2^n - 1`` CX after decomposition; exact (fidelity 1 - 1e-10 and better
    measured to ``n = 12``, tests/test_qae_circuits.py)."""
    from qiskit import QuantumCircuit
    from qiskit.circuit.library import UCRYGate

    p = np.asarray(probs, dtype=float)
    size = len(p)
    if p.ndim != 1 or size < 2 or size & (size - 1):
        raise UsageError(f"the loader needs 2^n >= 2 probabilities, got {p.shape}")
    n = size.bit_length() - 1
    if n > MAX_LOADER_QUBITS:
        raise UsageError(f"a {n}-qubit loader is beyond the {MAX_LOADER_QUBITS}-qubit limit")
    qc = QuantumCircuit(n, name="load")
    for level, angles in enumerate(loader_angles(p)):
        t = n - 1 - level
        if level == 0:
            if angles[0] != 0.0:
                qc.ry(float(angles[0]), t)
        elif np.any(angles != 0.0):
            qc.append(UCRYGate(angles.tolist()), [t, *range(t + 1, n)])
    return qc


# --- payoffs -------------------------------------------------------------------------------

def _rescaling(grid: LossGrid) -> tuple[float, float, np.ndarray]:
    """``lo``, ``hi`` and ``f(i) = (v_i - lo)/(hi - lo)`` (zeros for a constant loss)."""
    lo, hi = float(grid.values[0]), float(grid.values[-1])
    span = hi - lo
    f = (grid.values - lo) / span if span > 0 else np.zeros_like(grid.values)
    return lo, hi, np.clip(f, 0.0, 1.0)


def _check_threshold(grid: LossGrid, k: int | None) -> None:
    if k is not None and not 0 <= int(k) <= len(grid.probs):
        raise UsageError(f"threshold index {k} is outside 0..{len(grid.probs)}")


def linear_bias_bound(c: float) -> float:
    """Largest error in ``E[f]`` (fraction of ``hi - lo``) of the linear payoff with rescaling
    factor ``c``: ``|sin^2(pi/4 + y) - 1/2 - y| = |sin 2y - 2y| / 2 <= (c - sin c)/2`` for
    ``|y| <= c/2``, divided by ``c`` when ``post_processing`` undoes the scaling."""
    return float((c - math.sin(c)) / (2.0 * c))


def expectation_oracle(grid: LossGrid, payoff: str = "exact", *,
                       threshold_index: int | None = None,
                       linear_scale: float = DEFAULT_LINEAR_SCALE) -> Oracle:
    """``A`` with ``a = E[f(i)]`` (``f`` the loss rescaled to ``[0, 1]``) or, with
    ``threshold_index=k``, ``a = E[f(i) 1(i >= k)]``.

    Without a threshold ``post_processing(a) = lo + (hi - lo) a`` (``linear``: after undoing the
    linearisation) is ``E[loss]``; with one it is the identity and :func:`tail_expectation`
    turns ``a`` and an estimate of ``P(i >= k)`` into ``E[loss 1(i >= k)]``.
    """
    from qiskit import QuantumCircuit
    from qiskit.circuit.library import RYGate, UCRYGate

    if payoff not in PAYOFFS:
        raise UsageError(f"unknown payoff '{payoff}'", hint=f"use one of {', '.join(PAYOFFS)}")
    _check_threshold(grid, threshold_index)
    n, p = grid.n, grid.probs
    lo, hi, f = _rescaling(grid)
    mask = np.ones(len(p), dtype=bool)
    if threshold_index is not None:
        mask[: int(threshold_index)] = False
    obj = n
    notes: dict[str, Any] = {"lo": lo, "hi": hi, "n": n, "threshold_index": threshold_index,
                             "rescaling": "f(i) = (v_i - lo) / (hi - lo)"}
    if payoff == "linear":
        return _linear_oracle(grid, f, mask, threshold_index, linear_scale, notes)

    target = np.where(mask, f, 0.0)
    theta = 2.0 * np.arcsin(np.sqrt(target))
    if payoff == "exact":
        qc = QuantumCircuit(n + 1, name="A")
        qc.compose(loader(p), range(n), inplace=True)
        qc.append(UCRYGate(theta.tolist()), [obj, *range(n)])
    else:  # exact_mc: Circuit-2 with its reversal register
        qc = QuantumCircuit(2 * n + 1, name="A")
        qc.compose(loader(p), range(n), inplace=True)
        rev = list(range(n + 1, 2 * n + 1))
        qc.x(rev)
        for k in range(n):
            qc.cx(k, rev[k])
        rotations = 0
        for i in np.flatnonzero(theta):
            controls = [k if (int(i) >> k) & 1 else rev[k] for k in range(n)]
            qc.append(RYGate(float(theta[i])).control(n, annotated=False), [*controls, obj])
            rotations += 1
        notes.update(reversal_qubits=rev, multi_controlled_rotations=rotations)
    a = float(np.dot(p, target))
    notes["qubits"] = qc.num_qubits
    if threshold_index is not None:
        notes["threshold"] = "folded into the angles (theta_i = 0 for i < k)"
        post: Callable[[float], float] = _identity
    else:
        post = _affine(lo, hi - lo)
    return Oracle(qc, obj, list(range(n)), payoff, a, post, notes)


def _linear_oracle(grid: LossGrid, f: np.ndarray, mask: np.ndarray, k: int | None, c: float,
                   notes: dict[str, Any]) -> Oracle:
    """Circuit-1: RY(pi/2 + 2c(f_0 - 1/2)) and CRY(2c * 2^j * df) from every state qubit ``j``
    (``df`` the per-index step of ``f``), each controlled by the comparator flag when
    thresholded."""
    from qiskit import QuantumCircuit
    from qiskit.circuit.library import IntegerComparatorGate, RYGate

    n, p = grid.n, grid.probs
    if not 0.0 < c <= math.pi / 2:
        raise UsageError(f"linear_scale must lie in (0, pi/2], got {c}")
    index = np.arange(len(p), dtype=float)
    step = f[-1] / (len(p) - 1)
    span = notes["hi"] - notes["lo"]
    deviation = float(np.max(np.abs(f - step * index))) if span > 0 else 0.0
    if deviation > AFFINE_RTOL:
        raise UsageError(
            f"the linear payoff needs losses affine in the state index; these deviate from the "
            f"line through the first and last state by {deviation * span:.6g} "
            f"({deviation:.3g} of the range)", hint="use payoff=exact (or exact_mc)")
    obj = n
    flag = n + 1 if k is not None else None
    qc = QuantumCircuit(n + 1 + (flag is not None), name="A")
    qc.compose(loader(p), range(n), inplace=True)
    base = math.pi / 2 - c  # 2 (pi/4 + c (f_0 - 1/2)) with f_0 = 0
    slopes = [2.0 * c * step * (1 << j) for j in range(n)]
    if flag is None:
        qc.ry(base, obj)
        for j, s in enumerate(slopes):
            if s != 0.0:
                qc.cry(s, j, obj)
    else:
        qc.append(IntegerComparatorGate(n, int(k), geq=True), [*range(n), flag])  # type: ignore[arg-type]
        qc.cry(base, flag, obj)
        for j, s in enumerate(slopes):
            if s != 0.0:
                qc.append(RYGate(s).control(2, annotated=False), [flag, j, obj])
    phi = base + 2.0 * c * step * index
    amp = np.where(mask, np.sin(phi / 2.0) ** 2, 0.0)
    a = float(np.dot(p, amp))
    lo = float(notes["lo"])

    def undo(x: float) -> float:
        return lo + span * ((x - 0.5) / c + 0.5)

    expect = float(np.dot(p, np.where(mask, f, 0.0)))
    p_tail = float(np.dot(p, mask))
    linearised = (a - 0.5 * p_tail) / c + 0.5 * p_tail  # E[f 1] as post-processing reads it
    notes.update(
        qubits=qc.num_qubits, linear_scale=c,
        linearisation="sin^2(pi/4 + c (f - 1/2)) ~ 1/2 + c (f - 1/2); "
                      "E[f] = (a - 1/2)/c + 1/2 (thresholded: (a - P/2)/c + P/2)",
        bias_bound=linear_bias_bound(c) * span,
        bias=(linearised - expect) * span)
    if k is not None:
        notes["threshold"] = "IntegerComparatorGate flag controls every rotation"
        notes["flag_qubit"] = flag
        return Oracle(qc, obj, list(range(n)), "linear", a, _identity, notes)
    return Oracle(qc, obj, list(range(n)), "linear", a, undo, notes)


def tail_probability_oracle(grid: LossGrid, threshold_index: int) -> Oracle:
    """``A`` with ``a = P(i >= threshold_index)``: the loader and qiskit's
    ``IntegerComparatorGate`` writing ``1(i >= k)`` onto the objective qubit."""
    from qiskit import QuantumCircuit
    from qiskit.circuit.library import IntegerComparatorGate

    _check_threshold(grid, threshold_index)
    n, k = grid.n, int(threshold_index)
    qc = QuantumCircuit(n + 1, name="A")
    qc.compose(loader(grid.probs), range(n), inplace=True)
    if k == 0:
        qc.x(n)  # every state is in the tail (the comparator needs 0 < value < 2^n)
    elif k < len(grid.probs):
        qc.append(IntegerComparatorGate(n, k, geq=True), [*range(n), n])
    a = float(grid.probs[k:].sum())
    return Oracle(qc, n, list(range(n)), "indicator", a, _identity,
                  {"n": n, "threshold_index": k, "qubits": qc.num_qubits,
                   "threshold_value": float(grid.values[k]) if k < len(grid.values) else None})


def tail_expectation(oracle: Oracle, amplitude: float, tail_probability: float) -> float:
    """``E[loss 1(i >= k)]`` in loss units from a thresholded expectation oracle's amplitude and
    an estimate of ``P(i >= k)`` (:func:`tail_probability_oracle`):
    ``lo P + (hi - lo) E[f 1]``, where ``E[f 1] = a`` (``exact``, ``exact_mc``) or
    ``(a - P/2)/c + P/2`` (``linear``). CVaR is this divided by ``P`` when ``k`` is the VaR
    index."""
    notes = oracle.notes
    if notes.get("threshold_index") is None:
        raise UsageError("tail_expectation needs an oracle built with threshold_index")
    lo, span = float(notes["lo"]), float(notes["hi"]) - float(notes["lo"])
    e = amplitude
    if oracle.payoff == "linear":
        c = float(notes["linear_scale"])
        e = (amplitude - 0.5 * tail_probability) / c + 0.5 * tail_probability
    return lo * tail_probability + span * e


def _identity(x: float) -> float:
    return float(x)


def _affine(lo: float, span: float) -> Callable[[float], float]:
    def post(x: float) -> float:
        return lo + span * float(x)

    return post


# --- Grover operator and resources ---------------------------------------------------------

def grover_operator(oracle: Oracle) -> QuantumCircuit:
    """``Q = A S_0 A^dagger S_chi``: ``S_chi`` a Z on the objective qubit (phase flip of the good
    state), ``S_0`` the reflection about ``|0...0>`` of every qubit of ``A`` (qiskit's
    ``grover_operator``, which qiskit-algorithms' default ``EstimationProblem.grover_operator``
    also builds, global phase included)."""
    from qiskit import QuantumCircuit
    from qiskit.circuit.library import grover_operator as qiskit_grover

    flip = QuantumCircuit(oracle.circuit.num_qubits)
    flip.z(oracle.objective_qubit)
    return qiskit_grover(flip, oracle.circuit)


def resources(circuit: QuantumCircuit, device: str | None = None, *,
              optimization_level: int = 1, seed: int | None = None) -> dict[str, Any]:
    """Qubits, depth and two-qubit gates of ``circuit`` as built (``logical``; a uniformly
    controlled rotation counts as one gate there), decomposed to ``cx``/``u`` (``decomposed``:
    what the gate counts of the paper's Table I compare) and, with ``device``, transpiled to a
    fake IBM backend (``device``; qgridlang.compilers.qaoa.device_facts)."""
    from qiskit import transpile

    from qgridlang.compilers.qaoa import circuit_facts, device_facts

    out: dict[str, Any] = {"logical": circuit_facts(circuit)}
    flat = transpile(circuit, basis_gates=["cx", "u"], optimization_level=optimization_level,
                     seed_transpiler=seed)
    out["decomposed"] = circuit_facts(flat)
    if device is not None:
        out["device"] = device_facts(circuit, device, optimization_level, seed)
    return out
