"""What the dynamics front end hands the control engine, in plain numbers.

A checked ``system`` becomes a :class:`SystemSpec`; each ``controller`` a :class:`PIDSpec` or an
:class:`MPCSpec`; each ``simulate`` a :class:`SimulationSpec`. Every value is in the unit the
user declared for its signal (``df: pu`` -> per unit, ``soc`` -> plain number) and time is in
seconds, so ``dx/dt`` is "declared unit per second". The engine (``qgridlang.control``) never
sees the syntax tree; the front end (``qgridlang.semantics.systems``) never integrates anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from qgridlang.errors import Span

SignalKind = Literal["state", "input", "disturbance", "output"]


@dataclass(frozen=True)
class Signal:
    """One named signal of a system, with its declared unit and bounds (in that unit)."""

    name: str
    kind: SignalKind
    unit: str  # as written ("pu", "Hz", "MW"); "" for a plain number
    lower: float | None = None  # `in a .. b` on an input (actuator limits) or a state
    upper: float | None = None
    initial: float = 0.0  # states: the value at t = 0 (`state soc = 0.6`)
    span: Span | None = None


@dataclass(frozen=True)
class LinearDynamics:
    """``dx/dt = A x + B u + E w + c`` and ``y = C x + D u + F w + g`` (declared units, per s).

    n states, m inputs, p disturbances, q outputs: A (n,n), B (n,m), E (n,p), c (n,),
    C (q,n), D (q,m), F (q,p), g (q,).
    """

    A: np.ndarray
    B: np.ndarray
    E: np.ndarray
    c: np.ndarray
    C: np.ndarray
    D: np.ndarray
    F: np.ndarray
    g: np.ndarray


# f(t, x, u, w) -> dx/dt and h(x, u, w) -> y, always available (for a linear system they are the
# affine maps above); built from the syntax tree as closures, never from code text
RHS = Callable[[float, np.ndarray, np.ndarray, np.ndarray], np.ndarray]
OutputMap = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class SystemSpec:
    """A checked ``system``: signals in declaration order, its right-hand side and outputs."""

    name: str
    states: tuple[Signal, ...]
    inputs: tuple[Signal, ...]
    disturbances: tuple[Signal, ...]
    outputs: tuple[Signal, ...]
    rhs: RHS
    output_map: OutputMap
    linear: LinearDynamics | None  # None when some `der` or output is not affine
    span: Span | None = None

    @property
    def x0(self) -> np.ndarray:
        return np.array([s.initial for s in self.states], dtype=float)

    def signal(self, name: str) -> Signal:
        for group in (self.states, self.inputs, self.disturbances, self.outputs):
            for s in group:
                if s.name == name:
                    return s
        raise KeyError(name)

    def position(self, name: str) -> tuple[SignalKind, int]:
        """``("state", 0)`` for the first state, and so on."""
        for group in (self.states, self.inputs, self.disturbances, self.outputs):
            for i, s in enumerate(group):
                if s.name == name:
                    return s.kind, i
        raise KeyError(name)


@dataclass(frozen=True)
class Bound:
    """A controller constraint ``subject to NAME in lo .. hi`` or ``change(u) in lo .. hi``.

    ``kind`` is "state", "input" or "output" (the signal's value at every predicted step) or
    "rate" (an input's change from one step to the next, per step, not per second).
    """

    kind: Literal["state", "input", "output", "rate"]
    index: int
    lower: float | None
    upper: float | None
    span: Span | None = None


@dataclass(frozen=True)
class PredictorSpec:
    """``predictor = quantum_walk(position_qubits = 6, blend = 0.5)`` and its classical peers.

    It forecasts the disturbance over the horizon from the history of the observer's estimate
    (``signal``: the disturbance's index); "persistence" holds the last estimate.
    """

    kind: Literal["persistence", "ar2", "random_walk", "quantum_walk"]
    options: dict[str, float | str] = field(default_factory=dict)
    signal: int = 0
    span: Span | None = None


@dataclass(frozen=True)
class PIDSpec:
    """``controller pid for lfc { kp = …; ki = …; kd = …; filter = 100 }``.

    ``u = kp e + ki ∫e + kd ė_f`` with ``e = setpoint - measured``, the derivative through the
    first-order filter ``N s / (s + N)`` (``filter = N`` in 1/s), the output clipped to the
    input's bounds and the integrator held back by back-calculation with gain ``tracking``.
    """

    name: str
    system: str
    measured: tuple[SignalKind, int]  # the controlled signal (state or output)
    input: int  # the input it drives
    kp: float
    ki: float  # per second
    kd: float  # seconds
    filter: float  # N, per second
    step: float  # s: the controller's sample time
    setpoint: float = 0.0
    tracking: float | None = None  # back-calculation gain (1/s); None: sqrt(ki/kd) or ki/kp
    span: Span | None = None


@dataclass(frozen=True)
class MPCSpec:
    """``controller mpc for lfc { step = 0.1 s; horizon = 20; minimize …; subject to … }``.

    Stage cost ``l(x, u) = zᵀ H z + hᵀ z`` with ``z = [x; u]`` (outputs already substituted),
    summed over k = 0 .. horizon-1, plus a terminal cost from the discrete algebraic Riccati
    equation of the discretised system (``terminal = "dare"``). Inputs move only in the first
    ``control_horizon`` steps and are held after.
    """

    name: str
    system: str
    step: float  # s
    horizon: int
    control_horizon: int
    stage_H: np.ndarray  # (n+m, n+m), symmetric positive semidefinite
    stage_h: np.ndarray  # (n+m,)
    bounds: tuple[Bound, ...]  # the inputs' declared ranges are included here
    terminal: Literal["dare", "none"] = "dare"
    predictor: PredictorSpec = field(default_factory=lambda: PredictorSpec("persistence"))
    observer: Literal["kalman", "none"] = "kalman"
    soft_states: bool = True  # state/output bounds with a slack priced far above the cost
    span: Span | None = None


ControllerSpec = PIDSpec | MPCSpec


@dataclass(frozen=True)
class DisturbanceProfile:
    """``dpl = step(at = 2 s, size = 0.01)`` or ``dpl = normal(sigma = 0.005, hold = 1 s)``.

    kind "step": ``size`` from ``at`` (s) on; "normal": N(mean, sigma²) drawn from the
    simulation's seed, held for ``hold`` s, active from ``start`` (s, default 0); "constant":
    ``value``; "series": ``values`` sampled every ``hold`` s. Sizes in the disturbance's unit.
    """

    signal: int
    kind: Literal["step", "normal", "constant", "series"]
    params: dict[str, float] = field(default_factory=dict)
    values: tuple[float, ...] = ()
    span: Span | None = None


@dataclass(frozen=True)
class SimulationSpec:
    """``simulate lfc for 60 s with qmpc { dpl = step(…); seed = 1 }``."""

    system: str
    duration: float  # s
    controller: str | None  # None: open loop (inputs at 0)
    profiles: tuple[DisturbanceProfile, ...]
    seed: int = 0
    dt: float = 0.01  # s: the plant integration and logging step
    measure: str = ""  # the signal the metrics are computed on (default: first output or state)
    band: float | None = None  # regulation band in the measured unit, besides the 5 % one
    span: Span | None = None


@dataclass(frozen=True)
class SimulationResult:
    """Trajectories (declared units, time in s), metrics with their units, and timings."""

    system: str
    controller: str | None
    time: np.ndarray
    signals: dict[str, np.ndarray]  # every state, input, disturbance and output
    units: dict[str, str]
    measure: str
    metrics: dict[str, tuple[float, str]]  # "IAE" -> (1.92, "Hz*s")
    timing: dict[str, float] = field(default_factory=dict)  # "qp_ms_mean", "step_ms", …
    notes: tuple[str, ...] = ()
