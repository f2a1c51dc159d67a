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
