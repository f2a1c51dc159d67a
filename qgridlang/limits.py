"""Limits that keep a hostile or mistaken model from exhausting memory, time or the terminal.

One :class:`Limits` value is active per check (a context variable, so threads do not share it).
The CLI sets it from ``--max-size``, ``--max-read-mb`` and ``--allow-read``; the API from
``max_size=``, ``max_read_mb=`` and ``allow_read=``. Everything here is plain data and checks; the
file-access rules that use it are in :mod:`qgridlang.fileaccess`.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, replace
from pathlib import Path

from qgridlang.errors import LimitExceeded, Span, UsageError

DEFAULT_MAX_SIZE = 10_000_000
"""Set elements, variable columns, constraint rows, terms of one expression, index combinations
evaluated in one check, and bits of one QUBO encoding: each at most this many."""

DEFAULT_MAX_READ_MB = 64
"""Largest data or imported file read, in MiB (``QGL_MAX_READ_MB`` or ``--max-read-mb``)."""

MAX_DEPTH = 100
"""Deepest nesting of an expression (a long flat ``a + b + …`` chain counts as one level)."""

DEFAULT_MAX_ERRORS = 50
"""Errors the CLI prints before it summarises the rest (``--max-errors``)."""

SIZE_HINT = "raise it with --max-size N, or max_size=N in the Python API"


@dataclass(frozen=True)
class Limits:
    """The limits of one check; ``model_dir`` and ``allow_read`` decide which files it may read.

    Attributes:
        max_size: See :data:`DEFAULT_MAX_SIZE`.
        max_read_bytes: Largest file a model may read (``csv()``, ``import``).
        allow_read: Folders the user allows besides the model's own (resolved).
        model_dir: The folder of the model being checked (the current directory for text).
    """

    max_size: int = DEFAULT_MAX_SIZE
    max_read_bytes: int = DEFAULT_MAX_READ_MB * 2**20
    allow_read: tuple[Path, ...] = ()
    model_dir: Path | None = None

    def roots(self) -> tuple[Path, ...]:
        """Folders a model may read from: its own, the allowed ones, the standard library."""
        from qgridlang.resources import data_file

        base = [self.model_dir if self.model_dir is not None else Path.cwd()]
        library = data_file("models", "stdlib.qgl").parent
        return tuple(_resolved(p) for p in (*base, *self.allow_read, library))

    def with_model_dir(self, folder: Path) -> Limits:
        return replace(self, model_dir=_resolved(folder))


def make(max_size: int | None = None, allow_read: Iterable[str | os.PathLike[str]] | None = None,
         max_read_mb: float | None = None) -> Limits:
    """Limits from user settings; ``None`` keeps the default (or ``QGL_MAX_READ_MB``).

    Raises:
        UsageError: A limit that is not a positive number, or an allowed folder that does not
            exist.
    """
    if max_size is not None and (isinstance(max_size, bool) or not isinstance(max_size, int)
                                 or max_size < 1):
        raise UsageError(f"the size limit (--max-size, max_size=) must be a positive integer, "
                         f"got {max_size!r}")
    if max_read_mb is None:
        env = os.environ.get("QGL_MAX_READ_MB")
        if env:
            try:
                max_read_mb = float(env)
            except ValueError:
                raise UsageError(f"QGL_MAX_READ_MB={env!r} is not a number") from None
    if max_read_mb is not None and (isinstance(max_read_mb, bool)
                                    or not isinstance(max_read_mb, int | float)
                                    or not math.isfinite(max_read_mb) or max_read_mb <= 0):
        raise UsageError(f"the read limit (--max-read-mb, max_read_mb=, QGL_MAX_READ_MB) must "
                         f"be a positive number of MiB, got {max_read_mb!r}")
    if isinstance(allow_read, str | os.PathLike):
        allow_read = [allow_read]  # one folder given as a plain string, not its characters
    folders = []
    for d in allow_read or ():
        p = Path(d).expanduser()
        if not p.is_dir():
            raise UsageError(f"--allow-read {d}: not a folder")
        folders.append(_resolved(p))
    return Limits(max_size=max_size or DEFAULT_MAX_SIZE,
                  max_read_bytes=int((max_read_mb or DEFAULT_MAX_READ_MB) * 2**20),
                  allow_read=tuple(folders))


_CURRENT: ContextVar[Limits | None] = ContextVar("qgl_limits", default=None)


def current() -> Limits:
    """The active limits (the defaults when none were set)."""
    lim = _CURRENT.get()
    if lim is not None:
        return lim
    env = os.environ.get("QGL_MAX_READ_MB")
    if env not in _DEFAULTS:
        _DEFAULTS.clear()
        _DEFAULTS[env] = make()
    return _DEFAULTS[env]


_DEFAULTS: dict[str | None, Limits] = {}


def active() -> Limits | None:
    """The limits a caller set explicitly, if any (so a nested check keeps them)."""
    return _CURRENT.get()


@contextlib.contextmanager
def using(limits: Limits) -> Iterator[Limits]:
    token = _CURRENT.set(limits)
    try:
        yield limits
    finally:
        _CURRENT.reset(token)


def check_size(n: float, what: str, noun: str, span: Span | None) -> None:
    """Refuse ``what`` (e.g. ``var x[A, A, A]``) if it would have more than max_size ``noun``."""
    limit = current().max_size
    if n > limit:
        raise LimitExceeded(f"{what} would have {sci(n)} {noun}; the limit is {sci(limit)}",
                            span, SIZE_HINT)


def sci(x: float) -> str:
    """``8.0e9`` for large numbers, ``1e7`` for round ones, digits below 100 000."""
    if x < 100_000:
        return f"{int(x)}" if float(x).is_integer() else f"{x:g}"
    exp = math.floor(math.log10(x))
    mant = x / 10**exp
    if abs(mant - round(mant)) < 1e-9 and round(mant) == 1:
        return f"1e{exp}"
    text = f"{mant:.1f}"
    if text == "10.0":
        text, exp = "1.0", exp + 1
    return f"{text}e{exp}"


def _resolved(p: Path) -> Path:
    try:
        return p.resolve()
    except (OSError, RuntimeError):  # a symlink loop: keep the path, containment will fail
        return p.absolute()
