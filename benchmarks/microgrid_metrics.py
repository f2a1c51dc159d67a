"""The rural-microgrid paper's evaluation metrics (SPECS §D3), as small pure functions.

The paper's symbols were lost in its text copy; these follow SPECS §D3's reconstruction [I].
A *plan* is a dict of hourly arrays in kW (``ch``, ``dis``, ``gen``, ``imp``, ``shed``,
``spill``; ``on`` as 0/1), ``renewable`` and ``load`` the hourly profiles in kW; every hour is
1 h long, so kW sums are kWh.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

Plan = Mapping[str, Sequence[float] | np.ndarray]
POWER = ("ch", "dis", "gen", "imp", "shed", "spill")  # the decisions compared by the variance


def _a(x: Sequence[float] | np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def relative_improvement(c_classical: float, c_method: float) -> float:
    """ΔC% = (C_classical − C_method) / C_classical × 100 (positive: the method is cheaper)."""
    return (c_classical - c_method) / c_classical * 100.0


def gap(c_method: float, c_optimum: float) -> float:
    """Relative gap to the optimum (the MILP's), in %: (C − C*) / |C*| × 100."""
    return (c_method - c_optimum) / abs(c_optimum) * 100.0


def local_generation(plan: Plan, renewable: Sequence[float] | np.ndarray) -> np.ndarray:
    """P^gen_t: renewables used (available minus curtailed) plus the diesel, kW."""
    return _a(renewable) - _a(plan["spill"]) + _a(plan["gen"])


def self_sufficiency(plan: Plan, renewable: Sequence[float] | np.ndarray,
                     load: Sequence[float] | np.ndarray, omega: float = 1.0) -> float:
    """SS = ω · Σ_t (P^gen_t + P^dis_t − P^imp_t) / Σ_t D_t (SPECS §D3; ω = 1: the paper's
    "adaptive weight" is not given). Energy put into the bank counts as generated, so a plan
    that charges from local sources can exceed 1."""
    num = local_generation(plan, renewable) + _a(plan["dis"]) - _a(plan["imp"])
    return float(omega * num.sum() / _a(load).sum())


def reliability(plan: Plan, renewable: Sequence[float] | np.ndarray,
                load: Sequence[float] | np.ndarray, reserve_need: Sequence[float] | np.ndarray,
                reserve_available: Sequence[float] | np.ndarray,
                w_balance: float = 1.0, w_reserve: float = 1.0) -> float:
    """1 − (w_b Σ_t |P^supply_t − D_t| + w_r Σ_t max(0, R^need_t − R^avail_t)) / Σ_t D_t.

    Supply is local generation + discharge + import − charge, so load shed by demand response
    (and any imbalance of an infeasible plan) counts as load not served; a reserve shortfall
    counts like unserved energy (the paper's weighted balance and reserve terms, weights 1).
    """
    supply = (local_generation(plan, renewable) + _a(plan["dis"]) + _a(plan["imp"])
              - _a(plan["ch"]))
    short = np.maximum(0.0, _a(reserve_need) - _a(reserve_available))
    penalty = w_balance * np.abs(supply - _a(load)).sum() + w_reserve * short.sum()
    return float(1.0 - penalty / _a(load).sum())


def violation_probability(violated: int, constraints: int) -> float:
    """P_viol = violated constraints / all constraints."""
    return violated / constraints if constraints else 0.0


def qc_variance(plan: Plan, reference: Plan, keys: Sequence[str] = POWER,
                scale: float = 1e-3) -> float:
    """σ² = Σ_t Σ_k (x_k,t − x^ref_k,t)² over the power decisions (in MW² with the default
    ``scale`` from kW): the quantum–classical variance against the reference (MILP) plan."""
    return float(sum((((_a(plan[k]) - _a(reference[k])) * scale) ** 2).sum() for k in keys))


def speedup(t_classical: float, t_method: float) -> float:
    """S = T_classical / T_method (measured wall seconds; > 1: the method is faster)."""
    return t_classical / t_method if t_method > 0 else float("inf")
