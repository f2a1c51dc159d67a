"""The language's draws (``normal(…)``, ``uniform(…)`` … in ``sample`` blocks) as scipy.stats
distributions, with numpy's parameterisations (what the checker draws with)."""

from __future__ import annotations

from typing import Any

import numpy as np

from qgridlang.errors import UsageError


def scipy_distribution(name: str, args: tuple[float, ...]) -> Any:
    """The scipy.stats distribution of a draw as the language's sample() declares it (numpy's
    parameterisations)."""
    from scipy import stats

    if name == "normal":
        return stats.norm(loc=args[0], scale=args[1])
    if name == "uniform":
        return stats.uniform(loc=args[0], scale=args[1] - args[0])
    if name == "lognormal":
        return stats.lognorm(s=args[1], scale=np.exp(args[0]))
    if name == "triangular":
        left, mode, right = args
        return stats.triang(c=(mode - left) / (right - left), loc=left, scale=right - left)
    if name == "exponential":
        return stats.expon(scale=args[0])
    if name == "beta":
        return stats.beta(args[0], args[1])
    if name == "gamma":
        return stats.gamma(a=args[0], scale=args[1])
    raise UsageError(f"a {name}(…) draw has no density to load", hint="source=scenarios")


_Z = np.array([-2.326, -0.842, 0.0, 0.842, 2.326])  # the normal's 1, 20, 50, 80, 99 % points
_U = np.array([0.01, 0.2, 0.5, 0.8, 0.99])


def probe_points(name: str, args: tuple[float, ...]) -> np.ndarray:
    """Five values across a draw's range (roughly its 1 % to 99 % quantiles), without scipy:
    the checker probes a sampled value at them (importing scipy.stats costs every check ~0.3 s).
    """
    if name == "normal":
        return args[0] + args[1] * _Z
    if name == "lognormal":
        return np.exp(args[0] + args[1] * _Z)
    if name in ("uniform", "beta"):
        lo, hi = (args[0], args[1]) if name == "uniform" else (0.0, 1.0)
        return lo + (hi - lo) * _U
    if name == "triangular":
        return args[0] + (args[2] - args[0]) * _U
    if name == "exponential":
        return args[0] * -np.log1p(-_U)
    if name == "gamma":
        return args[0] * args[1] * np.array([0.1, 0.5, 1.0, 1.5, 3.0])
    raise UsageError(f"a {name}(…) draw has no density to load", hint="source=scenarios")
