"""Performance metrics of a regulated signal (SPECS §C5), in the signal's unit.

Integrals are trapezoid rules over the (possibly non-uniform) time grid of the simulation
window, with ``t`` the absolute time (the window starts at the first grid point):

- IAE = ∫|y| dt, ISE = ∫y² dt, ITAE = ∫t|y| dt, ITSE = ∫t y² dt
- MAE = IAE / T and mean_abs_deviation = the same time average of |y| (Table 4's "average
  frequency deviation of the absolute values"; kept under its own name), with T the window
- SD = sqrt(∫(y - ȳ)² dt / T), ȳ = ∫y dt / T (time-weighted population deviation)
- max_deviation = the signed value of y where |y| is largest
- regulation_time = from the disturbance onset until |y| stays within 5 % of the peak |y|
  after the onset (the crossing interpolated linearly between samples); 0 if |y| never
  leaves the band, inf if it has not settled by the end; regulation_time_band the same with
  the fixed band ``|y| <= band``.
"""

from __future__ import annotations

import numpy as np


def _trapz(y: np.ndarray, t: np.ndarray) -> float:
    return float(np.sum(0.5 * (y[1:] + y[:-1]) * np.diff(t)))


def _unit(base: str, power: int, time_power: int) -> str:
    parts = []
    if base:
        parts.append(base if power == 1 else f"{base}^{power}"
                     if _simple(base) else f"({base})^{power}")
    if time_power:
        parts.append("s" if time_power == 1 else f"s^{time_power}")
    return "*".join(parts)


def _simple(unit: str) -> bool:
    return all(ch.isalnum() or ch == "_" for ch in unit)


def settle_time(t: np.ndarray, y: np.ndarray, start: float, threshold: float) -> float:
    """Time from ``start`` until ``|y|`` stays within ``threshold`` (linear interpolation of the
    last exit); 0 if it never leaves, inf if it is outside at the end."""
    mask = t >= start
    tt, ay = t[mask], np.abs(y[mask])
    outside = np.nonzero(ay > threshold)[0]
    if outside.size == 0:
        return 0.0
    last = int(outside[-1])
    if last == tt.size - 1:
        return float("inf")
    a, b = ay[last], ay[last + 1]  # a > threshold >= b
    frac = (a - threshold) / (a - b) if a != b else 1.0
    return float(tt[last] + frac * (tt[last + 1] - tt[last]) - start)


def compute_metrics(t: np.ndarray, y: np.ndarray, unit: str, onset: float = 0.0,
                    band: float | None = None) -> dict[str, tuple[float, str]]:
    """Every metric as ``name -> (value, unit)`` for the signal ``y`` (in ``unit``) on ``t``."""
    t = np.asarray(t, dtype=float)
    y = np.asarray(y, dtype=float)
    if t.size < 2:
        raise ValueError("metrics need at least two time points")
    T = float(t[-1] - t[0])
    ay = np.abs(y)
    iae, ise = _trapz(ay, t), _trapz(y * y, t)
    itae, itse = _trapz(t * ay, t), _trapz(t * y * y, t)
    mean = _trapz(y, t) / T
    sd = float(np.sqrt(max(_trapz((y - mean) ** 2, t) / T, 0.0)))
    after = t >= onset - 1e-12
    peak_i = int(np.argmax(np.where(after, ay, -np.inf))) if after.any() else int(np.argmax(ay))
    k = int(np.argmax(ay))
    out: dict[str, tuple[float, str]] = {
        "IAE": (iae, _unit(unit, 1, 1)),
        "ISE": (ise, _unit(unit, 2, 1)),
        "ITAE": (itae, _unit(unit, 1, 2)),
        "ITSE": (itse, _unit(unit, 2, 2)),
        "MAE": (iae / T, unit),
        "SD": (sd, unit),
        "max_deviation": (float(y[k]), unit),
        "mean_abs_deviation": (iae / T, unit),
        "regulation_time": (settle_time(t, y, onset, 0.05 * float(ay[peak_i])), "s"),
    }
    if band is not None:
        out["regulation_time_band"] = (settle_time(t, y, onset, float(band)), "s")
    return out
