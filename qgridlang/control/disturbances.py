"""Disturbance profiles on the simulation's time grid.

Every value is held over ``[t_i, t_i + dt)`` (zero-order hold, like the plant step), so an event
at a time that is not on the grid starts at the first grid point at or after it. Random profiles
draw from one ``numpy.random.default_rng(seed)`` in declaration order, so a seed gives the same
realisation to every controller (the disturbance never depends on the closed loop).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from qgridlang.control.spec import DisturbanceProfile
from qgridlang.errors import TypeMismatch

# grid times within this fraction of dt of an event count as at the event (t = i*dt is inexact)
_GRID_TOL = 1e-9


def _param(profile: DisturbanceProfile, key: str, default: float | None = None) -> float:
    if key in profile.params:
        return float(profile.params[key])
    if default is None:
        raise TypeMismatch(f"a '{profile.kind}' disturbance needs '{key} = …'", profile.span,
                           hint=f"write {profile.kind}({key} = …)")
    return default


def _index_from(t: np.ndarray, start: float, dt: float) -> np.ndarray:
    """True where the grid time is at or after ``start`` (to within the grid tolerance)."""
    return t >= start - _GRID_TOL * dt


def profile_values(profiles: Sequence[DisturbanceProfile], n_disturbances: int, t: np.ndarray,
                   seed: int, dt: float) -> np.ndarray:
    """``(len(t), n_disturbances)`` values; disturbances without a profile are 0.

    step: ``size`` from ``at`` (default 0) on. normal: N(``mean`` (0), ``sigma``²), a fresh draw
    every ``hold`` s (default: every dt) from ``start`` (default 0), 0 before. constant:
    ``value``. series: ``values`` one every ``hold`` s (default dt) from ``start``, the last one
    held to the end. Several profiles on one disturbance add up.
    """
    W = np.zeros((t.size, n_disturbances))
    rng = np.random.default_rng(seed)
    for pr in profiles:
        if not 0 <= pr.signal < n_disturbances:
            raise TypeMismatch(f"disturbance profile for signal {pr.signal}, but the system has "
                               f"{n_disturbances} disturbance(s)", pr.span)
        col = W[:, pr.signal]
        if pr.kind == "step":
            col += np.where(_index_from(t, _param(pr, "at", 0.0), dt), _param(pr, "size"), 0.0)
        elif pr.kind == "constant":
            col += _param(pr, "value")
        elif pr.kind in ("normal", "series"):
            start, hold = _param(pr, "start", 0.0), _param(pr, "hold", dt)
            if hold <= 0:
                raise TypeMismatch(f"'hold' must be positive, got {hold} s", pr.span)
            active = _index_from(t, start, dt)
            # which hold period each grid time falls in (tolerant at the period boundaries)
            slot = np.floor((t - start) / hold + _GRID_TOL * dt / hold).astype(int)
            slot = np.clip(slot, 0, None)
            if pr.kind == "normal":
                sigma = _param(pr, "sigma")
                if sigma < 0:
                    raise TypeMismatch(f"'sigma' must be >= 0, got {sigma}", pr.span)
                n_draws = int(slot[active].max()) + 1 if active.any() else 0
                draws = rng.normal(_param(pr, "mean", 0.0), sigma, n_draws)
            else:
                if not pr.values:
                    raise TypeMismatch("a 'series' disturbance needs at least one value", pr.span)
                draws = np.asarray(pr.values, dtype=float)
                slot = np.clip(slot, 0, draws.size - 1)
            if active.any():
                col[active] += draws[slot[active]]
        else:  # the front end only builds the four kinds
            raise TypeMismatch(f"unknown disturbance profile '{pr.kind}'", pr.span)
    return W


def onset(profiles: Sequence[DisturbanceProfile]) -> float:
    """The earliest time any profile may be non-zero (the regulation time counts from it)."""
    times = []
    for pr in profiles:
        if pr.kind == "step":
            times.append(float(pr.params.get("at", 0.0)))
        elif pr.kind in ("normal", "series"):
            times.append(float(pr.params.get("start", 0.0)))
        else:
            times.append(0.0)
    return min(times) if times else 0.0
