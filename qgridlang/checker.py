"""The checker's front door: text or file -> :class:`CheckedModel` (IR + flat numeric form)."""

from __future__ import annotations

import hashlib
import re
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qgridlang.errors import ErrorCollector, QglError, QglWarning, hint_budget
from qgridlang.fileaccess import read_source
from qgridlang.flat import FlatModel
from qgridlang.gcpause import paused
from qgridlang.ir import ModelIR
from qgridlang.limits import Limits, current, using
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
    # how the checker expanded declarations: how many with arrays, which one by one and why
    # (see qgridlang.semantics.vector)
    expansion: dict[str, Any] = field(default_factory=dict)
    # the network's buses and branches (qgridlang.semantics.network); None without buses
    network: Any = None

    @property
    def warnings(self) -> list[QglWarning]:
        """Legal but suspicious (an objective that is not an amount of money, …)."""
        return self.flat.warnings


def check_text(text: str, file: str = "<string>", overrides: dict[str, str] | None = None,
               subsets: dict[str, list[int | str]] | None = None, *,
               limits: Limits | None = None, defer_surrogates: bool = False) -> CheckedModel:
    """Parse and check ``text``. Raises :class:`QglErrors` with every error found.

    ``overrides`` replace scalar parameters (``--set``); ``subsets`` restrict declared sets to
    some of their elements (how a solve strategy re-instantiates a model on a sub-problem).
    ``limits`` (default: the active ones, see :mod:`qgridlang.limits`) cap sizes and decide
    which files ``csv()`` and ``import`` may read: those under the model's folder (the current
    directory for text without a file) and the allowed folders. ``defer_surrogates``: calls of
    surrogates on parameters are not evaluated (``qglc train`` checks a model before its
    surrogate is trained).
    """
    base = Path(file).parent if Path(file).is_file() else Path.cwd()
    with using((limits or current()).with_model_dir(base)), hint_budget():
        return _check_text(text, file, overrides, subsets, defer_surrogates)


def _check_text(text: str, file: str, overrides: dict[str, str] | None,
                subsets: dict[str, list[int | str]] | None,
                defer_surrogates: bool = False) -> CheckedModel:
    errors = ErrorCollector()
    t0 = time.perf_counter()
    statements = _load_cached(text, file, errors)
    t1 = time.perf_counter()
    errors.raise_if_any()
    base = Path(file).parent if Path(file).is_file() else Path.cwd()
    b = Builder(base, _parse_overrides(overrides or {}), subsets)
    b.defer_surrogates = defer_surrogates
    b.texts[file] = text.splitlines()
    with paused():
        return _build(b, statements, errors, text, file, t0, t1)


def _build(b: Builder, statements: list[Any], errors: ErrorCollector, text: str, file: str,
           t0: float, t1: float) -> CheckedModel:
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
    if flat.policies:  # each policy's per-period stages, refused where the model has none
        from qgridlang.errors import QglError
        from qgridlang.policies.stages import analyse

        for spec in flat.policies.values():
            try:
                analyse(flat, spec)
            except QglError as exc:
                errors.add(exc)
        errors.raise_if_any()
    ir = summarize(b, flat)
    t2 = time.perf_counter()
    from qgridlang.semantics.network import build as build_network

    return CheckedModel(ir, flat, text, file, {"parse": t1 - t0, "check": t2 - t1},
                        {"vectorised": b.vec.vectorised, "fallbacks": list(b.vec.fallbacks),
                         "together": b.vec.together, "unbatched": list(b.vec.unbatched)},
                        build_network(b))


def check_file(path: str | Path, overrides: dict[str, str] | None = None,
               subsets: dict[str, list[int | str]] | None = None, *,
               limits: Limits | None = None, defer_surrogates: bool = False) -> CheckedModel:
    with using(limits or current()):  # the read limit applies to the model file too
        text = read_source(path)
    return check_text(text, str(path), overrides, subsets, limits=limits,
                      defer_surrogates=defer_surrogates)


# program key -> (statements, the content digest of every file it was made of)
_CACHE: dict[tuple[Any, ...], tuple[list[Any], tuple[tuple[str, str | None], ...]]] = {}


def _load_cached(text: str, file: str, errors: ErrorCollector) -> list[Any]:
    """Statements of a program; programs that load cleanly are kept (they are immutable).

    An entry is used only while every file the program was made of (imports, libraries) still
    has the content it had: editing an imported file is seen on the next check.
    """
    lim = current()  # what the program may read is part of what it is
    key = (text, file, lim.model_dir, lim.allow_read, lim.max_read_bytes)
    hit = _CACHE.get(key)
    if hit is not None and all(_digest(Path(p), lim.max_read_bytes) == d for p, d in hit[1]):
        return hit[0]
    files: dict[Path, str] = {}
    statements = load_statements(text, file, errors, files)
    if not errors.errors:
        if len(_CACHE) > 64:
            _CACHE.clear()
        # digests of the texts that were parsed (read once; an edit made meanwhile is seen)
        _CACHE[key] = (statements, tuple((str(p), _hash(files[p].encode("utf-8")))
                                         for p in sorted(files)))
    return statements


def _digest(path: Path, limit: int) -> str | None:
    """A hash of a regular file's content (None: gone, not regular, or over the read limit).

    Content, not the modification time: an edit within the file system's timestamp
    resolution that keeps the size would otherwise be missed.
    """
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return None
        raw = path.read_bytes()
    except OSError:
        return None
    return _hash(raw)


def _hash(raw: bytes) -> str:
    """The digest of a file's text as parsed: a byte-order mark is not part of it (the main
    file is read with utf-8-sig)."""
    return hashlib.blake2b(raw.removeprefix(b"\xef\xbb\xbf"), digest_size=16).hexdigest()


# A --set value: a number (or inf), then an optional unit with or without a space (5MW, 5 MW).
_OVERRIDE = re.compile(r"\s*([+-]?(?:inf|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?))(.*)",
                       re.DOTALL)


def _parse_overrides(raw: dict[str, str]) -> dict[str, Scalar]:
    """``--set name=value`` values: a number, optionally followed by a unit (``5 MW``)."""
    from qgridlang.errors import UsageError

    out: dict[str, Scalar] = {}
    for name, text in raw.items():
        m = _OVERRIDE.fullmatch(text)
        if m is None:
            raise UsageError(f"--set {name}={text}: not a number",
                             hint="write a number, optionally with a unit: 5, 0.3GWh, '90 %', inf")
        value = float(m[1])
        unit = None
        if m[2].strip():
            try:
                unit = unit_at(m[2].strip(), None)
            except QglError as exc:
                raise UsageError(f"--set {name}={text}: {exc.message}", hint=exc.hint) from None
        out[name] = Scalar(value, unit)
    return out
