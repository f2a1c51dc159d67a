"""qgridlang: a modelling language for energy problems and its compiler.

The front door has the CLI's verbs::

    import qgridlang as qg
    model = qg.check("model.qgl")                  # CheckedModel (IR + flat form)
    sol = qg.solve("model.qgl", backend="highs")   # Solution keyed by model names
    qg.compile("model.qgl", target="milp", output="model.lp")

``source`` is a path or the model's text. It is a path when it is a ``pathlib.Path`` (any
``os.PathLike``), or a ``str`` of one line that names an existing file, ends in ``.qgl`` (any
case), or contains ``/`` (or the OS separator) and no whitespace; a path that does not exist is
a "cannot read" :class:`UsageError`. Any other ``str`` is model text. Other types are refused
(:class:`SourceTypeError`, both a ``UsageError`` and a ``TypeError``).

``overrides`` map parameter names to numbers or strings (``{"cap": 150}``,
``{"cap": "0.15 GW"}``); keyword options are :class:`qgridlang.registry.Options` fields
(``time_limit``, ``seed``, ``mip_gap``, ``threads``, ``reads``, ``sweeps``) or the target's and
backend's own options; an unknown keyword is a :class:`UsageError` with a did-you-mean.
"""

from __future__ import annotations

import numbers
import os
from pathlib import Path
from typing import Any

from qgridlang.errors import QglError, QglErrors, Span, UsageError

__all__ = ["QglError", "QglErrors", "Span", "check", "compile", "estimate", "parse", "simulate",
           "solve", "targets"]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("qgridlang")
    except PackageNotFoundError:  # a source tree that is not installed
        return "0.1.0"


__version__ = _version()


class SourceTypeError(UsageError, TypeError):
    """A model source that is neither a path nor model text (``None``, a number …)."""


def parse(text: str, file: str = "<string>") -> Any:
    """The syntax tree of one file's text (no imports resolved, nothing checked)."""
    from qgridlang.parser import parse as _parse

    return _parse(text, file)


def check(source: str | os.PathLike[str], overrides: dict[str, Any] | None = None, *,
          allow_read: list[str | os.PathLike[str]] | None = None, max_size: int | None = None,
          max_read_mb: float | None = None) -> Any:
    """Parse and check a model; raises :class:`QglErrors` listing every error found.

    ``csv()`` and ``import`` read only regular files under the model's folder (the current
    directory for model text) and the folders in ``allow_read``; ``max_size`` and
    ``max_read_mb`` raise the size limits (see :mod:`qgridlang.limits`).
    """
    from qgridlang.checker import check_file, check_text
    from qgridlang.limits import make

    lim = make(max_size, allow_read, max_read_mb)
    given = _overrides(overrides)
    if _is_path(source):
        return check_file(Path(source), given, limits=lim)
    return check_text(str(source), "<string>", given, limits=lim)


def compile(source: str | Path | Any, target: str, output: str | Path | None = None,  # noqa: A001
            overrides: dict[str, Any] | None = None, *,
            allow_read: list[str | os.PathLike[str]] | None = None, max_size: int | None = None,
            max_read_mb: float | None = None, **options: Any) -> Any:
    """Lower a model for ``target``; writes ``output`` when given. Returns a ``Compiled``.

    ``allow_read``, ``max_size`` and ``max_read_mb`` are as for :func:`check`."""
    from qgridlang.dispatcher import compile_model
    from qgridlang.limits import make, using

    lim = make(max_size, allow_read, max_read_mb)
    checked = source if hasattr(source, "flat") else check(
        source, overrides, allow_read=allow_read, max_size=max_size, max_read_mb=max_read_mb)
    with using(lim):  # the target's own sizes (QUBO bits and penalty terms) are limited too
        return compile_model(checked, target, _options(options),
                             Path(output) if output is not None else None)


def solve(source: str | Path | Any, backend: str = "highs",
          overrides: dict[str, Any] | None = None, *,
          allow_read: list[str | os.PathLike[str]] | None = None, max_size: int | None = None,
          max_read_mb: float | None = None, **options: Any) -> Any:
    """Solve a model with ``backend``; options: time_limit, seed, mip_gap, threads, reads,
    sweeps, verbose (progress and the solver's log on stderr), and backend-specific keywords;
    ``allow_read``, ``max_size`` and ``max_read_mb`` are as for :func:`check`."""
    from qgridlang.dispatcher import solve_model
    from qgridlang.limits import make, using

    lim = make(max_size, allow_read, max_read_mb)
    checked = source if hasattr(source, "flat") else check(
        source, overrides, allow_read=allow_read, max_size=max_size, max_read_mb=max_read_mb)
    with using(lim):
        return solve_model(checked, backend, _options(options))


def estimate(source: str | Path | Any, measure: str, backend: str = "qae",
             plan: str | Path | Any = None, overrides: dict[str, Any] | None = None, *,
             allow_read: list[str | os.PathLike[str]] | None = None,
             max_size: int | None = None, max_read_mb: float | None = None,
             **options: Any) -> Any:
    """Estimate ``measure`` (``"cvar(cost, alpha = 95 %)"``, ``"expected(cost)"``,
    ``"var(cost, alpha = 0.9)"``, ``"probability(cost > 700 $)"``) of a plan with ``backend``
    ``qae``, ``mc`` or ``exact``; ``plan`` is a solve's ``.json``/``.csv`` output, a column
    vector, or None (solve with HiGHS first). Options as for ``qglc estimate --option``
    (qubits, method, payoff, epsilon, alpha_conf, eval_qubits, shots, seed, device, samples).
    Returns an ``Estimate`` (``to_dict()`` is the ``--json`` document)."""
    from qgridlang.estimation.run import estimate as run
    from qgridlang.limits import make, using

    lim = make(max_size, allow_read, max_read_mb)
    checked = source if hasattr(source, "flat") else check(
        source, overrides, allow_read=allow_read, max_size=max_size, max_read_mb=max_read_mb)
    with using(lim):
        return run(checked, measure, backend, plan, options)


def simulate(source: str | Path | Any, simulation: str | None = None,
             controller: str | None = None, seed: int | None = None,
             overrides: dict[str, Any] | None = None, *, model: str | Path | Any = None,
             allow_read: list[str | os.PathLike[str]] | None = None,
             max_size: int | None = None, max_read_mb: float | None = None) -> Any:
    """Run one ``simulate`` declaration (``qglc simulate``): ``simulation`` names it (default:
    the only one), ``controller`` replaces its ``with`` (``"none"``: open loop), ``seed`` its
    seed. ``model``: a checked model (or source) whose controllers and system the controller
    believes, while ``source`` (with ``overrides``) is the plant: robustness to mismatched
    parameters, ``simulate(path, overrides={"M": "12 s"}, model=path)``. Returns a
    ``SimulationResult`` (time, signals, units, metrics, timing)."""
    from qgridlang.control.frontend import dynamics_of, run_simulation

    def checked(src: Any, given: dict[str, Any] | None) -> Any:
        return src if hasattr(src, "flat") else check(
            src, given, allow_read=allow_read, max_size=max_size, max_read_mb=max_read_mb)

    # `overrides` change the plant only; the believed model is checked as written
    believed = dynamics_of(checked(model, None)) if model is not None else None
    return run_simulation(dynamics_of(checked(source, overrides)), simulation, controller, seed,
                          believed)


def targets() -> dict[str, list[dict[str, Any]]]:
    """Targets and backends with their availability (what ``qglc targets`` prints)."""
    from qgridlang.registry import listing

    return listing()


def _is_path(source: Any) -> bool:
    """See the module docstring for the rule."""
    if isinstance(source, os.PathLike):
        return True
    if not isinstance(source, str):
        raise SourceTypeError(f"a model source is a path or model text (str), not "
                              f"{type(source).__name__}",
                              hint="qg.check('model.qgl'), qg.check(Path(...)) or "
                                   "qg.check(model_text)")
    if "\n" in source or "\r" in source or not source.strip():
        return False
    if source.lower().endswith(".qgl") or os.path.isfile(source):
        return True
    separators = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    return any(s in source for s in separators) and not any(c.isspace() for c in source)


def _overrides(raw: Any) -> dict[str, str] | None:
    """``--set``-style strings from API overrides: numbers and strings (``"5 MW"``)."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise UsageError(f"overrides must be a dict of parameter name -> value, not "
                         f"{type(raw).__name__}")
    out: dict[str, str] = {}
    for name, value in raw.items():
        if not isinstance(name, str):
            raise UsageError(f"override names are parameter names (str), got {name!r}")
        if isinstance(value, bool):
            raise UsageError(f"override {name}={value!r}: a boolean is not a parameter value",
                             hint="use 1 or 0")
        if isinstance(value, numbers.Integral):
            out[name] = str(int(value))
        elif isinstance(value, numbers.Real):
            out[name] = repr(float(value))
        elif isinstance(value, str):
            out[name] = value
        else:
            raise UsageError(f"override {name}: expected a number or a string such as "
                             f"'5 MW', got {type(value).__name__}",
                             hint="pass quantities as text: {'cap': '150 MW'}")
    return out


def _options(kw: dict[str, Any]) -> Any:
    from qgridlang.registry import Options

    known = {k: kw.pop(k) for k in ("time_limit", "seed", "mip_gap", "threads", "reads",
                                    "sweeps", "verbose") if k in kw}
    return Options(**known, extra=kw)
