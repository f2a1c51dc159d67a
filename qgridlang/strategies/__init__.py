"""Solve strategies: algorithms that run many solves of a model (``qglc solve --strategy``).

A strategy is not a target or a backend: it re-checks and solves sub-problems of a model through
the dispatcher with any registered backend. :data:`STRATEGIES` names each strategy's module and
function; the module is imported when the strategy runs, so that listing the names (the CLI's
``--strategy`` choices) loads neither the checker nor the dispatcher.

- ``gcsq`` (:mod:`qgridlang.strategies.gcsq`): GCS-Q, recursive bipartition for coalition
  formation.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from qgridlang.errors import UsageError, did_you_mean

if TYPE_CHECKING:
    from collections.abc import Callable

    from qgridlang.strategies.gcsq import CoalitionResult

# CLI name -> (module, function)
STRATEGIES: dict[str, tuple[str, str]] = {
    "gcsq": ("qgridlang.strategies.gcsq", "gcsq"),
}


def get_strategy(name: str) -> Callable[..., CoalitionResult]:
    """The strategy function registered as ``name`` (imported now); an unknown name is a
    :class:`UsageError` with a did-you-mean."""
    if name not in STRATEGIES:
        raise UsageError(f"unknown strategy '{name}'", None,
                         did_you_mean(name, STRATEGIES) or
                         f"strategies: {', '.join(sorted(STRATEGIES))}")
    module, function = STRATEGIES[name]
    found: Callable[..., CoalitionResult] = getattr(importlib.import_module(module), function)
    return found
