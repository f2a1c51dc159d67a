"""One registry of targets and backends, keyed by their CLI names.

A decorator registers a class; third parties plug in through the entry-point groups
``qgridlang.targets`` and ``qgridlang.backends``. Capabilities are class-level data.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

from qgridlang.errors import BackendError, UsageError, did_you_mean
from qgridlang.flat import FlatModel
from qgridlang.results import RawResult


@dataclass
class Options:
    """Options common to every backend (each uses those that apply to it)."""

    time_limit: float | None = None
    seed: int | None = None
    mip_gap: float | None = None
    threads: int | None = None
    reads: int | None = None
    sweeps: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Target:
    """A lowering: ``apply(flat) -> (artifact, inverse)`` and ``invert(x, inverse)``."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    REQUIRED_MODULES: ClassVar[tuple[str, ...]] = ()
    EXPORTS: ClassVar[tuple[str, ...]] = ()  # file suffixes `compile -o` can write

    def apply(self, flat: FlatModel, options: Options) -> tuple[Any, Any]:
        raise NotImplementedError

    def invert(self, x: np.ndarray, inverse: Any) -> np.ndarray:
        raise NotImplementedError

    def export(self, artifact: Any, path: Path) -> None:
        raise UsageError(f"target '{self.name}' cannot write '{path.suffix}' files")

    def report(self, artifact: Any, inverse: Any) -> dict[str, Any]:
        """Sizes and other facts about the lowered artifact (for `compile`)."""
        return {}


class Backend:
    """Runs a target's artifact: ``run(artifact, options) -> RawResult``."""

    name: ClassVar[str]
    target: ClassVar[str]
    description: ClassVar[str] = ""
    REQUIRED_MODULES: ClassVar[tuple[str, ...]] = ()
    INSTALL_HINT: ClassVar[str] = 'pip install -e ".[dev]"'

    def run(self, artifact: Any, options: Options) -> RawResult:
        raise NotImplementedError


T = TypeVar("T", bound=type)
TARGETS: dict[str, type[Target]] = {}
BACKENDS: dict[str, type[Backend]] = {}
_BUILTIN_MODULES = (
    "qgridlang.target_milp", "qgridlang.backends.highs",
    "qgridlang.target_qubo", "qgridlang.backends.samplers",
    "qgridlang.target_dwave", "qgridlang.backends.dwave",
    "qgridlang.target_qaoa", "qgridlang.backends.qaoa",
)
_loaded = False


def register_target(cls: type[Target]) -> type[Target]:
    TARGETS[cls.name] = cls
    return cls


def register_backend(cls: type[Backend]) -> type[Backend]:
    BACKENDS[cls.name] = cls
    return cls


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for mod in _BUILTIN_MODULES:
        importlib.import_module(mod)
    for group in ("qgridlang.targets", "qgridlang.backends"):
        for ep in entry_points(group=group):
            ep.load()


def get_target(name: str) -> Target:
    _load()
    if name not in TARGETS:
        raise UsageError(f"unknown target '{name}'", None,
                         did_you_mean(name, TARGETS) or f"targets: {', '.join(sorted(TARGETS))}")
    return TARGETS[name]()


def get_backend(name: str) -> Backend:
    _load()
    if name not in BACKENDS:
        raise UsageError(f"unknown backend '{name}'", None,
                         did_you_mean(name, BACKENDS) or
                         f"backends: {', '.join(sorted(BACKENDS))}")
    cls = BACKENDS[name]
    missing = missing_modules(cls.REQUIRED_MODULES)
    if missing:
        raise BackendError(f"backend '{name}' needs {', '.join(missing)}", None,
                           f"install it: {cls.INSTALL_HINT}")
    return cls()


def missing_modules(modules: tuple[str, ...]) -> list[str]:
    out = []
    for m in modules:
        try:
            found = importlib.util.find_spec(m) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            out.append(m)
    return out


def listing() -> dict[str, list[dict[str, Any]]]:
    """Targets and backends with whether each is available here (for `qglc targets`)."""
    _load()
    targets = [{"name": n, "description": c.description,
                "available": not missing_modules(c.REQUIRED_MODULES),
                "missing": missing_modules(c.REQUIRED_MODULES), "exports": list(c.EXPORTS)}
               for n, c in sorted(TARGETS.items())]
    backends = [{"name": n, "target": c.target, "description": c.description,
                 "available": not missing_modules(c.REQUIRED_MODULES),
                 "missing": missing_modules(c.REQUIRED_MODULES)}
                for n, c in sorted(BACKENDS.items())]
    return {"targets": targets, "backends": backends}
