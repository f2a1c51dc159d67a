"""The checker's front door: text or file -> :class:`CheckedModel` (IR + flat numeric form)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qgridlang.errors import ErrorCollector, QglError
from qgridlang.flat import FlatModel
from qgridlang.ir import ModelIR
from qgridlang.program import load_statements
from qgridlang.semantics.builder import Builder
from qgridlang.semantics.summary import summarize
from qgridlang.semantics.units import unit_at
from qgridlang.semantics.values import Scalar


@dataclass
class CheckedModel:
    """A model that passed every check: its IR, its flat form and where time went."""

    ir: ModelIR
    flat: FlatModel
    source: str
    file: str
    timings: dict[str, float] = field(default_factory=dict)


def read_source(path: str | Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        from qgridlang.errors import UsageError

        raise UsageError(f"cannot read '{path}': {exc.strerror}") from None
    except UnicodeDecodeError:
        from qgridlang.errors import UsageError

        raise UsageError(f"'{path}' is not UTF-8 text") from None


def check_text(text: str, file: str = "<string>", overrides: dict[str, str] | None = None,
               subsets: dict[str, list[int | str]] | None = None) -> CheckedModel:
    """Parse and check ``text``. Raises :class:`QglErrors` with every error found.

    ``overrides`` replace scalar parameters (``--set``); ``subsets`` restrict declared sets to
    some of their elements (how a solve strategy re-instantiates a model on a sub-problem).
    """
    errors = ErrorCollector()
    t0 = time.perf_counter()
    statements = _load_cached(text, file, errors)
    t1 = time.perf_counter()
    errors.raise_if_any()
    base = Path(file).parent if Path(file).is_file() else Path.cwd()
    b = Builder(base, _parse_overrides(overrides or {}), subsets)
    try:
        b.run(statements)
    except RecursionError:
        from qgridlang.errors import TypeMismatch

        b.errors.add(TypeMismatch("an expression is nested too deeply (or refers to itself "
                                  "through components)", statements[0].span if statements
                                  else None))
    errors.errors.extend(b.errors.errors)
    errors.raise_if_any()
    flat = b.flat()
    ir = summarize(b, flat)
    t2 = time.perf_counter()
    return CheckedModel(ir, flat, text, file, {"parse": t1 - t0, "check": t2 - t1})


def check_file(path: str | Path, overrides: dict[str, str] | None = None,
               subsets: dict[str, list[int | str]] | None = None) -> CheckedModel:
    return check_text(read_source(path), str(path), overrides, subsets)


_CACHE: dict[tuple[str, str], list[Any]] = {}


def _load_cached(text: str, file: str, errors: ErrorCollector) -> list[Any]:
    """Statements of a program; programs that load cleanly are kept (they are immutable)."""
    key = (text, file)
    if key in _CACHE:
        return _CACHE[key]
    statements = load_statements(text, file, errors)
    if not errors.errors:
        if len(_CACHE) > 64:
            _CACHE.clear()
        _CACHE[key] = statements
    return statements


def _parse_overrides(raw: dict[str, str]) -> dict[str, Scalar]:
    """``--set name=value`` values: a number, optionally followed by a unit (``5 MW``)."""
    from qgridlang.errors import UsageError

    out: dict[str, Scalar] = {}
    for name, text in raw.items():
        parts = text.strip().split(maxsplit=1)
        try:
            value = float(parts[0]) if parts else float("nan")
        except ValueError:
            raise UsageError(f"--set {name}={text}: not a number") from None
        unit = None
        if len(parts) == 2:
            try:
                unit = unit_at(parts[1], None)
            except QglError as exc:
                raise UsageError(f"--set {name}={text}: {exc.message}") from None
        out[name] = Scalar(value, unit)
    return out
