"""Registered lowering targets: one module per ``--target`` name.

Each module wraps the pure passes of :mod:`qgridlang.compilers` (``apply(flat) -> (artifact,
inverse)``, ``invert(x, inverse)``) in a :class:`~qgridlang.registry.Target`: its options,
exports, report and, where a backend's raw samples need the model, ``refine``. The registry
imports these modules to list them, so they load their compilers and vendor SDKs lazily
(:mod:`qgridlang.lazy`); this package imports nothing heavy itself.
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _Package(types.ModuleType):
    """This package, callable as the front door's ``qg.targets()``.

    Importing ``qgridlang.targets.qubo`` sets the attribute ``qgridlang.targets`` to this
    package, replacing the function ``qgridlang.targets()`` of the public API; calling the
    package gives the same listing, so ``qg.targets()`` works before and after any import.
    """

    def __call__(self) -> dict[str, list[dict[str, Any]]]:
        from qgridlang.registry import listing

        return listing()


sys.modules[__name__].__class__ = _Package  # the documented way to customise a module
