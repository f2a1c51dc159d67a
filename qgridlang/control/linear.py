"""Linear algebra of a linear :class:`~qgridlang.control.spec.SystemSpec` through python-control.

The continuous state space (inputs ``[u; w]``, outputs ``[x; y]``), its zero-order-hold
discretisation at a step (the affine constant ``c`` rides along as one more input held at 1),
the terminal cost of an MPC from the discrete algebraic Riccati equation, and step responses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import control
import numpy as np

from qgridlang.control.spec import LinearDynamics, Signal, SystemSpec
from qgridlang.errors import BackendError, Span, UnsupportedConstruct


def linear_system(
    name: str,
    states: Sequence[Signal],
    inputs: Sequence[Signal],
    disturbances: Sequence[Signal],
    outputs: Sequence[Signal],
    A: np.ndarray,
    B: np.ndarray,
    E: np.ndarray,
    c: np.ndarray | None = None,
    C: np.ndarray | None = None,
    D: np.ndarray | None = None,
    F: np.ndarray | None = None,
    g: np.ndarray | None = None,
) -> SystemSpec:
    """A :class:`SystemSpec` from matrices (``rhs`` and ``output_map`` are the affine maps).

    Missing ``c``, ``D``, ``F``, ``g`` are zero; ``C`` is required when there are outputs.
    """
    n, m, p, q = len(states), len(inputs), len(disturbances), len(outputs)
    A = np.asarray(A, dtype=float).reshape(n, n)
    B = np.asarray(B, dtype=float).reshape(n, m)
    E = np.asarray(E, dtype=float).reshape(n, p)
    c = np.zeros(n) if c is None else np.asarray(c, dtype=float).reshape(n)
    C = np.zeros((q, n)) if C is None else np.asarray(C, dtype=float).reshape(q, n)
    D = np.zeros((q, m)) if D is None else np.asarray(D, dtype=float).reshape(q, m)
    F = np.zeros((q, p)) if F is None else np.asarray(F, dtype=float).reshape(q, p)
    g = np.zeros(q) if g is None else np.asarray(g, dtype=float).reshape(q)
    lin = LinearDynamics(A, B, E, c, C, D, F, g)

    def rhs(t: float, x: np.ndarray, u: np.ndarray, w: np.ndarray) -> np.ndarray:
        return A @ x + B @ u + E @ w + c

    def output_map(x: np.ndarray, u: np.ndarray, w: np.ndarray) -> np.ndarray:
        return C @ x + D @ u + F @ w + g

    return SystemSpec(name, tuple(states), tuple(inputs), tuple(disturbances), tuple(outputs),
                      rhs, output_map, lin)


def require_linear(system: SystemSpec, what: str, span: object = None) -> LinearDynamics:
    """The system's :class:`LinearDynamics`, or UnsupportedConstruct naming ``what`` needs it."""
    if system.linear is None:
        raise UnsupportedConstruct(
            f"{what} needs a linear system; '{system.name}' has a 'der' or output that is not "
            "affine in its states, inputs and disturbances",
            span if span is not None else system.span,  # type: ignore[arg-type]
            hint="write the dynamics as affine expressions, or use a PID controller")
    return system.linear


def state_space(system: SystemSpec) -> control.StateSpace:
    """The continuous system with inputs ``[u; w]`` and outputs ``[x; y]`` (``c``, ``g`` left out:
    python-control's state space is linear, the constants enter :func:`discretise`)."""
    lin = require_linear(system, "a state-space model")
    n = lin.A.shape[0]
    Bw = np.hstack([lin.B, lin.E])
    Cxy = np.vstack([np.eye(n), lin.C])
    Dxy = np.vstack([np.zeros((n, Bw.shape[1])), np.hstack([lin.D, lin.F])])
    names = [s.name for s in system.states]
    return control.ss(lin.A, Bw, Cxy, Dxy,
                      inputs=[s.name for s in (*system.inputs, *system.disturbances)],
                      outputs=names + [s.name for s in system.outputs], states=names)


@dataclass(frozen=True)
class Discrete:
    """``x[k+1] = Ad x[k] + Bd u[k] + Ed w[k] + cd`` with u and w held over ``step`` s."""

    Ad: np.ndarray
    Bd: np.ndarray
    Ed: np.ndarray
    cd: np.ndarray
    step: float


def discretise(lin: LinearDynamics, step: float) -> Discrete:
    """Exact zero-order-hold discretisation (``control.c2d``); ``c`` is an input held at 1."""
    n, m, p = lin.A.shape[0], lin.B.shape[1], lin.E.shape[1]
    Bfull = np.hstack([lin.B, lin.E, lin.c.reshape(n, 1)])
    sysc = control.ss(lin.A, Bfull, np.eye(n), np.zeros((n, m + p + 1)))
    sysd = control.c2d(sysc, step, method="zoh")
    Ad = np.asarray(sysd.A, dtype=float)
    Bd = np.asarray(sysd.B, dtype=float)
    return Discrete(Ad, Bd[:, :m], Bd[:, m:m + p], Bd[:, m + p], step)


def _observability_kernel(A: np.ndarray, Cq: np.ndarray, tol: float) -> np.ndarray:
    """An orthonormal basis (columns) of the unobservable subspace of ``(A, Cq)``."""
    n = A.shape[0]
    blocks = [Cq]
    for _ in range(n - 1):
        blocks.append(blocks[-1] @ A)
    O = np.vstack(blocks)  # noqa: E741 - the observability matrix
    _, s, vt = np.linalg.svd(O)
    scale = s[0] if s.size and s[0] > 0 else 1.0
    rank = int(np.sum(s > tol * scale))
    return vt[rank:].T


def terminal_cost(d: Discrete, H: np.ndarray,
                  span: Span | None = None) -> tuple[np.ndarray, bool]:
    """The DARE solution P for the stage cost ``zᵀ H z`` (``z = [x; u]``) on ``(Ad, Bd)``, and
    whether Q had to be regularised.

    The cost ``xᵀ P x`` is the infinite-horizon LQ value of the stage cost. Modes the stage cost
    never sees (the LFC's SOC integrator under ``q Δf²``: eigenvalue 1, unobservable through Q)
    break the DARE's detectability assumption and it has no stabilising solution. Those modes
    span the unobservable subspace N of ``(Ad, [Q; Sᵀ])``, which is Ad-invariant and costs
    nothing, so the value function does not depend on them: the DARE is solved on the quotient
    (coordinates orthogonal to N), exactly, and P is zero along N. Only if that reduced DARE
    still fails (an unstable mode hidden by the cross term) is Q regularised: a tiny weight
    (1e-9 of the largest stage weight) on the offending modes, and the flag says so.
    """
    n = d.Ad.shape[0]
    H = 0.5 * (H + H.T)
    Q, S, R = H[:n, :n], H[:n, n:], H[n:, n:]
    if np.linalg.eigvalsh(R).min() <= 0:
        raise UnsupportedConstruct(
            "the terminal DARE cost needs a positive definite input weight (some input has no "
            "quadratic cost in the stage cost)", span,
            hint="add a term r * u^2 for every input, or set terminal = none")
    kernel = _observability_kernel(d.Ad, np.vstack([Q, S.T]), 1e-10)
    W = _orth_complement(kernel, n)
    Ar, Br = W.T @ d.Ad @ W, W.T @ d.Bd
    Qr, Sr = W.T @ Q @ W, W.T @ S
    if W.shape[1] == 0:
        return np.zeros((n, n)), False
    regularised = False
    try:
        Pr, _, _ = control.dare(Ar, Br, Qr, R, Sr)
    except Exception:  # noqa: BLE001 - python-control raises several kinds; retry regularised
        eps = 1e-9 * max(float(np.abs(H).max()), 1.0)
        Pr, _, _ = _regularised_dare(Ar, Br, Qr, R, Sr, eps, span)
        regularised = True
    P = W @ np.asarray(Pr, dtype=float) @ W.T
    return 0.5 * (P + P.T), regularised


def _orth_complement(basis: np.ndarray, n: int) -> np.ndarray:
    if basis.shape[1] == 0:
        return np.eye(n)
    q, _ = np.linalg.qr(basis, mode="complete")
    return q[:, basis.shape[1]:]


def _regularised_dare(A: np.ndarray, B: np.ndarray, Q: np.ndarray, R: np.ndarray, S: np.ndarray,
                      eps: float, span: Span | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """DARE with ``eps`` added on the eigen-directions of A on or outside the unit circle that
    ``Q - S R⁻¹ Sᵀ`` does not see (the undetectable ones)."""
    At = A - B @ np.linalg.solve(R, S.T)
    Qt = Q - S @ np.linalg.solve(R, S.T)
    lam, V = np.linalg.eig(At)
    cols = []
    for k in range(lam.size):
        v = V[:, k]
        if abs(lam[k]) >= 1 - 1e-9 and np.linalg.norm(Qt @ v) <= 1e-9 * max(
                np.linalg.norm(Qt), 1.0):
            cols += [v.real, v.imag]
    Qreg = Q.copy()
    if cols:
        basis, _ = np.linalg.qr(np.array(cols).T)
        Qreg = Qreg + eps * basis @ basis.T
    try:
        X, L, G = control.dare(A, B, Qreg, R, S)
    except Exception as exc:  # noqa: BLE001
        raise BackendError(f"no stabilising solution of the terminal DARE ({exc})", span,
                           hint="the system may not be stabilisable by its inputs; set "
                                "terminal = none") from exc
    return np.asarray(X), np.asarray(L), np.asarray(G)


def step_response(system: SystemSpec, T: np.ndarray, input: str) -> dict[str, np.ndarray]:
    """Unit-step responses of every state and output to the input or disturbance ``input``
    from rest (x = 0, constants left out), on the time points ``T``."""
    sys = state_space(system)
    names = [s.name for s in (*system.inputs, *system.disturbances)]
    j = names.index(input)
    resp = control.step_response(sys, T, input=j)
    out = np.asarray(resp.outputs)
    outs = [s.name for s in (*system.states, *system.outputs)]
    return {name: out[i].reshape(-1) for i, name in enumerate(outs)}
