"""Deferred imports: a module object that imports the real module on first attribute access.

Every ``qglc`` call imports the registry, which imports every target and backend module to
list them; those modules name dimod, scipy.optimize, the QAOA compilers and pint at the top.
Importing them all cost ~1 s per call, even for ``qglc targets`` or a MILP solve. A module
written ``dimod = lazy("dimod")`` keeps the ``dimod.X`` spelling (and string annotations) but
pays for dimod only when a function that uses it runs. Unlike ``importlib.util.LazyLoader`` it
puts nothing in ``sys.modules`` until then, so ``sys.modules`` tells what a command really
loaded (tests/test_startup.py).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands for module ``name``; the first attribute read imports it (then it is cached)."""

    __slots__ = ("_name", "_module")

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def _load(self) -> ModuleType:
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return self._module

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._load(), attr)

    def __repr__(self) -> str:
        state = "loaded" if self._module is not None else "not loaded"
        return f"<lazy module {self._name!r} ({state})>"


def lazy(name: str) -> Any:
    """A stand-in for ``import name`` (typed ``Any`` so ``dimod.BinaryQuadraticModel`` checks)."""
    return LazyModule(name)
