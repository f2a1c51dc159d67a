"""One registry of targets and backends, keyed by their CLI names.

A decorator registers a class; third parties plug in through the entry-point groups
``qgridlang.targets`` and ``qgridlang.backends``. Capabilities are class-level data.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import threading
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

from qgridlang.errors import BackendError, UsageError, did_you_mean
from qgridlang.flat import FlatModel
from qgridlang.results import RawResult

COMMON_OPTIONS: dict[str, str] = {
    "time_limit": "wall-clock limit in seconds (> 0)",
    "seed": "random seed (0 .. 2**32 - 1)",
    "mip_gap": "relative MIP gap (>= 0)",
    "threads": "solver threads (>= 1)",
    "reads": "samples / shots (>= 1)",
    "sweeps": "sweeps per read (>= 1)",
}
# numeric ``--option`` keys, checked here so a bad value is a usage error (exit 2), never a
# ValueError deep in a backend (exit 70): name -> (int | float, lower bound, bound excluded)
NUMERIC_OPTIONS: dict[str, tuple[str, float, bool]] = {
    "penalty_retune": ("int", 0, False), "penalty_factor": ("float", 1.0, True),
    "penalty_scale": ("float", 0.0, True), "penalty_margin": ("float", 0.0, True),
    "p": ("int", 1, False), "maxiter": ("int", 1, False), "shots": ("int", 1, False),
    "optimization_level": ("int", 0, False), "tqa_dt": ("float", 0.0, True),
    "cvar_alpha": ("float", 0.0, True), "warm_start_epsilon": ("float", 0.0, False),
    "embedding_timeout": ("float", 0.0, True), "embedding_tries": ("int", 1, False),
    "annealing_time": ("float", 0.0, True), "pwl_segments": ("int", 1, False),
    "learning_rate": ("float", 0.0, True), "tolerance": ("float", 0.0, True),
}
# yes/no ``--option`` keys: `duals=no` or `mock=maybe` used to be read as true or false silently
BOOLEAN_OPTIONS = frozenset({"duals", "iis", "mock", "warm_start", "readout_mitigation",
                             "session", "kicks"})
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")
_SEED_MAX = 2**32 - 1  # dwave-samplers and numpy take seeds as unsigned 32-bit integers


@dataclass
class Options:
    """Options common to every backend (each declares those it reads: ``Backend.COMMON``).

    Validated on construction (one place for the CLI and the API): a bad number is a
    :class:`UsageError` naming the option. A common option given through ``extra``
    (``--option reads=500``) is moved to its field, so backends read it in one place.
    """

    time_limit: float | None = None
    seed: int | None = None
    mip_gap: float | None = None
    threads: int | None = None
    reads: int | None = None
    sweeps: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    verbose: bool = False  # progress and the solver's log on stderr (qgridlang.progress)

    def __post_init__(self) -> None:
        self.extra = dict(self.extra)
        for name in COMMON_OPTIONS:
            if name in self.extra:
                value = self.extra.pop(name)
                if getattr(self, name) is not None and getattr(self, name) != value:
                    raise UsageError(f"option '{name}' is given twice ({getattr(self, name)!r} "
                                     f"and {value!r})")
                setattr(self, name, value)
        self.time_limit = _number(self.time_limit, "time_limit", low=0.0, strict=True)
        self.mip_gap = _number(self.mip_gap, "mip_gap", low=0.0)
        self.seed = _whole(self.seed, "seed", 0, _SEED_MAX)
        self.threads = _whole(self.threads, "threads", 1)
        self.reads = _whole(self.reads, "reads", 1)
        self.sweeps = _whole(self.sweeps, "sweeps", 1)
        for name, (kind, low, strict) in NUMERIC_OPTIONS.items():
            if name in self.extra:
                value = self.extra[name]
                self.extra[name] = _whole(value, name, int(low)) if kind == "int" else \
                    _number(value, name, low, strict)
        for name in BOOLEAN_OPTIONS:
            if name in self.extra:
                self.extra[name] = _boolean(self.extra[name], name)

    def given(self) -> list[str]:
        """The common options that are set (not None)."""
        return [n for n in COMMON_OPTIONS if getattr(self, n) is not None]


def _flag(name: str) -> str:
    """How the user wrote an option: ``time_limit (--time-limit)``, ``option 'p'``."""
    if name in COMMON_OPTIONS or name == "penalty_retune":
        return f"{name} (--{name.replace('_', '-')})"
    return f"option '{name}'"


def _number(value: Any, name: str, low: float, strict: bool = False) -> float | None:
    """A finite real ``> low`` (``strict``) or ``>= low``; None stays None."""
    if value is None:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        out = math.nan
    if isinstance(value, bool) or not math.isfinite(out) or out < low or (strict and out == low):
        bound = f"> {low:g}" if strict else f">= {low:g}"
        raise UsageError(f"{_flag(name)} must be a finite number {bound}, got {value!r}")
    return out


def _boolean(value: Any, name: str) -> bool:
    """``true``/``false``, ``1``/``0``, ``yes``/``no``, ``on``/``off`` (any case), or a bool."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise UsageError(f"{_flag(name)} must be true or false, got {value!r}")


def _whole(value: Any, name: str, low: int, high: int | None = None) -> int | None:
    """An integer in ``low .. high`` (``3``, ``"3"`` and ``3.0`` are accepted); None stays None."""
    if value is None:
        return None
    try:
        out = int(value)
        ok = not isinstance(value, bool) and out == float(value)
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok or out < low or (high is not None and out > high):
        span = f"{low} .. {high}" if high is not None else f">= {low}"
        raise UsageError(f"{_flag(name)} must be an integer {span}, got {value!r}")
    return out


def whole_option(options: Options, name: str, default: int, low: int,
                 high: int | None = None) -> int:
    """A backend's integer ``Options.extra[name]`` (``default`` when absent), checked like the
    common options; the hint names the default."""
    try:
        out = _whole(options.extra.get(name, default), name, low, high)
    except UsageError as err:
        raise UsageError(err.message, hint=f"--option {name}={default}") from None
    assert out is not None
    return out


def number_option(options: Options, name: str, default: float, low: float,
                  strict: bool = False) -> float:
    """A backend's real ``Options.extra[name]`` (``default`` when absent), ``> low`` when
    ``strict`` else ``>= low``."""
    out = _number(options.extra.get(name, default), name, low, strict)
    assert out is not None
    return out


def choice_option(options: Options, name: str, default: str, allowed: tuple[str, ...]) -> str:
    """A backend's ``Options.extra[name]`` that must be one of ``allowed``."""
    value = str(options.extra.get(name, default))
    if value not in allowed:
        raise UsageError(f"option '{name}' must be one of {', '.join(allowed)}, got {value!r}",
                         hint=f"--option {name}={default}")
    return value


class Target:
    """A lowering: ``apply(flat) -> (artifact, inverse)`` and ``invert(x, inverse)``."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    REQUIRED_MODULES: ClassVar[tuple[str, ...]] = ()
    EXPORTS: ClassVar[tuple[str, ...]] = ()  # file suffixes `compile -o` can write
    # the ``Options.extra`` keys (``--option KEY=VALUE``) the lowering reads: name -> meaning;
    # any other key is refused with a did-you-mean before lowering
    OPTIONS: ClassVar[dict[str, str]] = {}
    SOLVE_OPTIONS: ClassVar[frozenset[str]] = frozenset()  # read by `refine` only: not compile
    # takes a model whose surrogate is called on a variable (a differentiable program); the
    # others need a linear or quadratic model and refuse it at the call
    DIFFERENTIABLE: ClassVar[bool] = False

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
    # the ``Options.extra`` keys the backend reads (name -> meaning), and which of the common
    # options (``COMMON_OPTIONS``) it honours; ``seed`` is accepted everywhere (a deterministic
    # backend is trivially reproducible). Anything else given is refused, never ignored.
    OPTIONS: ClassVar[dict[str, str]] = {}
    COMMON: ClassVar[frozenset[str]] = frozenset(COMMON_OPTIONS)

    def run(self, artifact: Any, options: Options) -> RawResult:
        raise NotImplementedError


T = TypeVar("T", bound=type)
TARGETS: dict[str, type[Target]] = {}
BACKENDS: dict[str, type[Backend]] = {}
# one module per target (qgridlang/targets/<name>.py) and per backend family; each loads its
# compilers and vendor SDKs lazily, so importing them all here stays cheap (qglc start-up)
_BUILTIN_MODULES = (
    "qgridlang.targets.milp", "qgridlang.backends.highs", "qgridlang.backends.scip",
    "qgridlang.backends.cvxpy_backend",
    "qgridlang.targets.qubo", "qgridlang.backends.samplers", "qgridlang.backends.pso",
    "qgridlang.backends.hybrid_workflows", "qgridlang.backends.tempering",
    "qgridlang.targets.dwave", "qgridlang.targets.cqm", "qgridlang.backends.dwave",
    "qgridlang.targets.qaoa", "qgridlang.backends.qaoa", "qgridlang.targets.qae",
    "qgridlang.targets.vqc", "qgridlang.targets.program", "qgridlang.backends.pgd",
)
_loaded = False
# two threads solving at once in a fresh process: the second must wait for the first's imports
# (it used to see `_loaded` set and an empty registry)
_load_lock = threading.RLock()


def differentiable_targets() -> list[str]:
    """The targets that take differentiable programs (``Target.DIFFERENTIABLE``)."""
    _load()
    return sorted(n for n, c in TARGETS.items() if c.DIFFERENTIABLE)


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
    with _load_lock:
        if _loaded:
            return
        for mod in _BUILTIN_MODULES:
            importlib.import_module(mod)
        for group in ("qgridlang.targets", "qgridlang.backends"):
            for ep in entry_points(group=group):
                ep.load()
        _loaded = True  # only now: every registration above has happened


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


def check_options(options: Options, target: type[Target] | Target,
                  backend: type[Backend] | Backend | None = None) -> None:
    """Refuse ``--option`` keys neither the target nor the backend reads, and common options
    the backend does not honour (a misspelt or misplaced option is never silently ignored)."""
    known = {**target.OPTIONS, **(backend.OPTIONS if backend is not None else {})}
    where = f"backend '{backend.name}' (target '{target.name}')" if backend is not None \
        else f"target '{target.name}'"
    for key in options.extra:
        if key not in known:
            listed = ", ".join(sorted(known)) if known else "none"
            raise UsageError(f"unknown option '{key}' for {where}", None,
                             did_you_mean(key, [*known, *COMMON_OPTIONS]) or
                             f"its options: {listed}")
    if backend is None:
        for key in options.extra:
            if key in target.SOLVE_OPTIONS:
                raise UsageError(f"option '{key}' applies when solving (qglc solve), not to "
                                 f"compile --target {target.name}")
        return
    for name in options.given():
        if name != "seed" and name not in backend.COMMON:
            users = sorted(n for n, c in BACKENDS.items() if name in c.COMMON)
            raise UsageError(f"backend '{backend.name}' does not use {_flag(name)}", None,
                             f"it applies to: {', '.join(users)}" if users else None)


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
                "missing": missing_modules(c.REQUIRED_MODULES), "exports": list(c.EXPORTS),
                "options": dict(c.OPTIONS)}
               for n, c in sorted(TARGETS.items())]
    backends = [{"name": n, "target": c.target, "description": c.description,
                 "available": not missing_modules(c.REQUIRED_MODULES),
                 "missing": missing_modules(c.REQUIRED_MODULES),
                 "common_options": [o for o in COMMON_OPTIONS if o in c.COMMON or o == "seed"],
                 "options": dict(c.OPTIONS)}
                for n, c in sorted(BACKENDS.items())]
    return {"targets": targets, "backends": backends}
