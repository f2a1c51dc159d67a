"""Penalties of the QUBO lowering: row analysis, slack sizing, weights, quadratic expansion.

Every constraint row ``lo <= a @ x <= hi`` is first substituted with the column encodings
(``x = o + M b``), so its activity is ``c0 + g @ b`` over bits. Then, per row and vectorised:

- its range ``[amin, amax]`` over the box of encodable points decides whether it is dropped
  (never violated), infeasible, an equality, or an inequality needing a slack;
- its *lattice* ``delta``: the largest number dividing every bit coefficient ``g`` (a rational
  gcd, so ``0.1 MW`` coefficients are fine). All activities lie in ``c0 + delta * Z``, so the row
  bounds are tightened onto that lattice and a slack of step ``delta`` makes the penalty exactly
  0 on feasible points and at least ``delta^2`` on violated ones;
- rows whose coefficients share no usable lattice get a resolution ``sigma`` (the row's range
  over ``2^nongrid_bits - 1`` steps) and a recorded residual instead.

Penalised rows are written ``(g @ b + d)^2`` (slack bits are extra columns of ``g``) and
expanded all at once as ``b' G' W G b + 2 (W d)' G b + d' W d`` with scipy.sparse.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

EQUALITY, SLACK, UNBALANCED_LE, UNBALANCED_GE, INFEASIBLE = 0, 1, 2, 3, 4
KIND_NAME: dict[int, str] = {EQUALITY: "equality", SLACK: "inequality (slack)",
                             UNBALANCED_LE: "inequality (unbalanced)",
                             UNBALANCED_GE: "inequality (unbalanced)",
                             INFEASIBLE: "infeasible over the box"}
_TOL = 1e-9  # relative tolerance of bound comparisons, against float noise
_RATIONAL_RTOL = 1e-12


@dataclass(frozen=True)
class RowPlan:
    """How each kept (penalised) model row is turned into a penalty.

    Attributes:
        index: Model row of each kept row.
        kind: ``EQUALITY``, ``SLACK``, ``UNBALANCED_LE``, ``UNBALANCED_GE`` or ``INFEASIBLE``.
        target: The residual is ``c0 + g @ b - target`` (``- slack`` for slack rows).
        sigma: Lattice step (grid rows) or resolution (other rows); the slack's step.
        slack_kmax: Slack register size (0 when the row has no slack).
        grid: Whether the row's coefficients share a lattice (exact zero penalty when feasible).
        mu: Smallest penalty, before weighting, that a violation of the row can cost.
        residual: Largest penalty, before weighting, that a feasible point can carry.
        dropped: Number of rows that no encodable point can violate.
    """

    index: np.ndarray
    kind: np.ndarray
    target: np.ndarray
    sigma: np.ndarray
    slack_kmax: np.ndarray
    grid: np.ndarray
    mu: np.ndarray
    residual: np.ndarray
    dropped: int


def rationalize(values: np.ndarray, max_den: int,
                rtol: float = _RATIONAL_RTOL) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised continued fractions: ``|values| ~= num / den`` with ``den <= max_den``.

    Returns:
        Integer numerators, denominators, and whether each approximation is within ``rtol``.
    """
    x = np.abs(np.asarray(values, dtype=float))
    p_prev, q_prev = np.zeros_like(x), np.ones_like(x)
    p, q = np.ones_like(x), np.zeros_like(x)
    num, den = np.zeros_like(x), np.ones_like(x)
    y, active = x.copy(), x > 0
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        for _ in range(64):
            a = np.floor(y)
            p_new, q_new = a * p + p_prev, a * q + q_prev
            active &= q_new <= max_den
            num, den = np.where(active, p_new, num), np.where(active, q_new, den)
            frac = y - a
            active &= (np.abs(num / den - x) > rtol * x) & (frac > 0)
            if not active.any():
                break
            y = np.where(active, 1.0 / np.where(active, frac, 1.0), 1.0)
            p_prev, p, q_prev, q = p, p_new, q, q_new
    ok = (np.abs(num / den - x) <= rtol * x) & (num < 2.0**53)
    return num.astype(np.int64), den.astype(np.int64), ok


def row_lattice(g: sp.csr_matrix, max_den: int) -> np.ndarray:
    """Per row, the largest ``delta`` with every coefficient in ``delta * Z`` (NaN if none).

    Coefficients are read as fractions ``num/den``; ``delta = gcd(num * L/den) / L`` with ``L``
    the lcm of the row's denominators. Rows without coefficients, or whose lcm or scaled
    numerators would overflow int64, get NaN.
    """
    g = g.tocsr(copy=True)
    g.sum_duplicates()
    g.eliminate_zeros()
    m = g.shape[0]
    counts = np.diff(g.indptr)
    rows = np.repeat(np.arange(m), counts)
    num, den, ok = rationalize(g.data, max_den)
    filled = counts > 0
    starts = g.indptr[:-1][filled]
    lcm = np.ones(m, dtype=np.int64)
    if starts.size:
        lcm[filled] = np.lcm.reduceat(den, starts)
    big = lcm[rows]
    # A wrapped (overflowed) lcm fails this divisibility test; a passing one is a common multiple.
    ok &= (big > 0) & (big % den == 0) & (num * (big / den) < 2.0**62)
    scaled = np.where(ok, num * (big // np.maximum(den, 1)), 1)
    gcd = np.zeros(m, dtype=np.int64)
    if starts.size:
        gcd[filled] = np.gcd.reduceat(scaled, starts)
    bad = np.bincount(rows, weights=~ok, minlength=m) > 0
    return np.where(filled & ~bad, gcd / lcm, np.nan)


def box_range(a: sp.csr_matrix, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Smallest and largest ``a @ x`` over the box ``lo <= x <= hi`` (interval arithmetic)."""
    pos, neg = a.maximum(0), a.minimum(0)
    return np.asarray(pos @ lo + neg @ hi).ravel(), np.asarray(pos @ hi + neg @ lo).ravel()


def plan_rows(a: sp.csr_matrix, row_lo: np.ndarray, row_hi: np.ndarray, g: sp.csr_matrix,
              c0: np.ndarray, box: tuple[np.ndarray, np.ndarray], *, unbalanced: bool,
              unbalanced_l: tuple[float, float], max_slack_bits: int, nongrid_bits: int,
              max_den: int) -> RowPlan:
    """Classify every row and size its slack (see the module docstring).

    Args:
        a: Model rows over columns.
        row_lo: Lower row bounds (``-inf`` when none).
        row_hi: Upper row bounds (``inf`` when none).
        g: Model rows over bits (``a @ M``).
        c0: Row activity at all bits 0 (``a @ o``).
        box: Smallest and largest encodable value of each column.
        unbalanced: Penalise one-sided inequalities without slack (Montañez-Barrera et al.).
        unbalanced_l: ``(l1, l2)`` of the unbalanced penalty ``-l1 h + l2 h^2``.
        max_slack_bits: Rows whose lattice would need more slack bits count as off-grid.
        nongrid_bits: Off-grid rows resolve their range into ``2^nongrid_bits - 1`` steps.
        max_den: Largest denominator tried when reading coefficients as fractions.
    """
    amin, amax = box_range(a, *box)
    tol = _TOL * np.maximum(1.0, np.maximum(np.abs(amin), np.abs(amax)))
    lo_free, hi_free = row_lo <= amin + tol, row_hi >= amax - tol
    keep = np.flatnonzero(~(lo_free & hi_free))
    amin, amax, tol, c0 = amin[keep], amax[keep], tol[keep], c0[keep]
    lo_free, hi_free = lo_free[keep], hi_free[keep]
    lo_b, hi_b = np.maximum(row_lo[keep], amin), np.minimum(row_hi[keep], amax)
    width = amax - amin
    delta = row_lattice(g[keep], max_den)
    with np.errstate(invalid="ignore"):
        grid = np.isfinite(delta) & (width <= delta * 2.0**max_slack_bits)
    sigma = np.where(grid, delta, width / (2.0**nongrid_bits - 1))
    safe = np.where(sigma > 0, sigma, 1.0)
    lo_eff = np.where(grid, c0 + safe * _ceil((lo_b - c0) / safe), lo_b)
    hi_eff = np.where(grid, c0 + safe * _floor((hi_b - c0) / safe), hi_b)
    span = hi_eff - lo_eff
    infeasible = span < -tol
    equality = ~infeasible & (span <= tol)
    one_sided = unbalanced & ~equality & ~infeasible & (lo_free | hi_free)
    kind = np.select([infeasible, equality, one_sided & lo_free, one_sided],
                     [INFEASIBLE, EQUALITY, UNBALANCED_LE, UNBALANCED_GE], default=SLACK)
    target = np.select([kind == INFEASIBLE, kind == UNBALANCED_LE],
                       [(lo_b + hi_b) / 2, hi_eff], default=lo_eff)
    slack_kmax = np.where(kind == SLACK, _floor(span / safe), 0).astype(np.int64)
    tail = np.where(kind == SLACK, span - slack_kmax * sigma, 0.0)
    off_grid = np.maximum(np.where(kind == SLACK, sigma / 2, 0.0), tail)
    residual = np.where(grid, 0.0, off_grid**2)
    l1, l2 = unbalanced_l
    is_ub = (kind == UNBALANCED_LE) | (kind == UNBALANCED_GE)
    residual = np.where(is_ub, _unbalanced_residual(span, l1, l2), residual)
    mu = np.where(is_ub, l1 * sigma + l2 * sigma**2, sigma**2)
    return RowPlan(keep, kind.astype(np.int8), target, sigma, slack_kmax, grid,
                   np.where(mu > 0, mu, 1.0), residual, int(a.shape[0] - len(keep)))


def _ceil(z: np.ndarray) -> np.ndarray:
    """``ceil`` that treats values within float noise of an integer as that integer."""
    near = np.rint(z)
    return np.asarray(np.where(np.abs(z - near) <= _TOL * np.maximum(1.0, np.abs(z)), near,
                               np.ceil(z)), dtype=float)


def _floor(z: np.ndarray) -> np.ndarray:
    """``floor`` that treats values within float noise of an integer as that integer."""
    near = np.rint(z)
    return np.asarray(np.where(np.abs(z - near) <= _TOL * np.maximum(1.0, np.abs(z)), near,
                               np.floor(z)), dtype=float)


def _unbalanced_residual(span: np.ndarray, l1: float, l2: float) -> np.ndarray:
    """Largest ``|-l1 h + l2 h^2|`` over feasible ``h`` in ``[0, span]`` (``l2 > 0``).

    The parabola is 0 at ``h = 0``, dips to ``-l1^2 / (4 l2)`` at ``h = l1 / (2 l2)`` and
    rises after it, so the extremes are the dip (when reached) and the end of the range.
    """
    at_end = np.abs(-l1 * span + l2 * span**2)
    dip = np.where(span >= l1 / (2 * l2), l1**2 / (4 * l2), 0.0)
    return np.maximum(at_end, dip)


def auto_weights(objective_span: float, mu: np.ndarray, margin: float) -> np.ndarray:
    """``(1 + margin) * objective_span / mu``, or ``1 / mu`` for a constant objective.

    With ``P > (F_hi - F_lo) / mu`` an assignment violating a row costs at least
    ``F_lo + P mu > F_hi``, above every feasible point's energy (see ``qubo.apply``).
    """
    scale = (1 + margin) * objective_span if objective_span > 0 else 1.0
    return np.asarray(scale / mu, dtype=float)


def interval_objective(c: np.ndarray, q: tuple[np.ndarray, np.ndarray, np.ndarray],
                       lo: np.ndarray, hi: np.ndarray) -> tuple[float, float]:
    """Bounds of ``c @ x + sum(v x_i x_j)`` over the box, each term bounded on its own.

    Products are bounded from their factors' intervals (the four corner products; a square
    ``x_i^2`` is at least 0 when its interval straddles 0).
    """
    lin_lo, lin_hi = np.minimum(c * lo, c * hi), np.maximum(c * lo, c * hi)
    i, j, v = q
    corners = np.stack([lo[i] * lo[j], lo[i] * hi[j], hi[i] * lo[j], hi[i] * hi[j]])
    straddle = (i == j) & (lo[i] < 0) & (hi[i] > 0)
    p_lo, p_hi = np.where(straddle, 0.0, corners.min(axis=0)), corners.max(axis=0)
    t_lo, t_hi = np.minimum(v * p_lo, v * p_hi), np.maximum(v * p_lo, v * p_hi)
    return float(lin_lo.sum() + t_lo.sum()), float(lin_hi.sum() + t_hi.sum())
