"""Source spans and the error hierarchy of the pipeline.

Errors carry a :class:`Span` so every message can point at the ``.qgl`` line and column; the
CLI renders them (``path:LINE:COL: error: message``, the source line and a caret).
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Span:
    """A region of a source file (1-based line and column, end inclusive-exclusive)."""

    file: str
    line: int
    column: int
    end_line: int = 0
    end_column: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


NOWHERE = Span("<builtin>", 0, 0)


class _Located:
    """A message about a place in a model, with an optional hint (errors and warnings)."""

    severity = "error"

    def __init__(self, message: str, span: Span | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.span = span
        self.hint = hint

    def __str__(self) -> str:
        where = f"{self.span}: " if self.span and self.span.line else ""
        hint = f" ({self.hint})" if self.hint else ""
        return f"{where}{self.severity}: {self.message}{hint}"


class QglError(_Located, Exception):
    """Base of every error a user can cause. Never shown as a traceback."""

    kind = "error"


class QglSyntaxError(QglError):
    """The text does not follow the grammar."""


class UnknownName(QglError):
    """A name that no declaration, index or builtin defines."""


class DimensionMismatch(QglError):
    """Wrong number of indices, or an index outside its set."""


class UnitMismatch(QglError):
    """Quantities of incompatible units combined or compared."""


class TypeMismatch(QglError):
    """A value of the wrong kind (a variable where a parameter is needed, …)."""


class DataError(QglError):
    """A data file or table that does not fit its declaration."""


class UnsupportedConstruct(QglError):
    """A construct the chosen target or backend cannot lower."""


class UsageError(QglError):
    """Bad command-line or API usage (exit status 2)."""


class BackendError(QglError):
    """A backend could not run (missing SDK, missing credentials, solver failure)."""


class LimitExceeded(QglError):
    """A model larger than a limit the user can raise (``--max-size``, ``--max-read-mb``)."""


class FileAccessError(QglError):
    """A file a model may not read (outside the allowed folders, not a regular file, too big)."""


class QglErrors(QglError):
    """Several errors of one model, sorted by position."""

    def __init__(self, errors: list[QglError]) -> None:
        self.errors = sorted(errors, key=_position)
        first = self.errors[0]
        super().__init__(first.message, first.span, first.hint)

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


def _position(err: QglError) -> tuple[str, int, int]:
    s = err.span or NOWHERE
    return (s.file, s.line, s.column)


@dataclass
class ErrorCollector:
    """Keeps every error of a run so a user sees them all at once."""

    errors: list[QglError] = field(default_factory=list)
    # (message, span) of every error kept: a duplicate is found in O(1), so collecting n errors
    # costs O(n), not O(n^2) (8,000 errors took 78 s with a linear scan per error)
    _seen: set[tuple[str, Span | None]] = field(default_factory=set, repr=False)
    _indexed: int = field(default=0, repr=False)  # errors[:_indexed] are in _seen

    def add(self, err: QglError) -> None:
        if isinstance(err, QglErrors):
            self.errors.extend(err.errors)
            return
        self._index()
        key = _key(err)
        if key not in self._seen:
            self._seen.add(key)
            self.errors.append(err)
            self._indexed += 1

    def _index(self) -> None:
        """Take in errors appended to ``errors`` directly (callers may extend the list)."""
        if self._indexed > len(self.errors):  # the list was replaced or cut: start over
            self._seen.clear()
            self._indexed = 0
        for e in self.errors[self._indexed:]:
            self._seen.add(_key(e))
        self._indexed = len(self.errors)

    def raise_if_any(self) -> None:
        if self.errors:
            raise QglErrors(self.errors)


def _key(err: QglError) -> tuple[str, Span | None]:
    return (err.message, err.span)


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """A hint naming the closest known name, if any is close.

    Within :func:`hint_budget` (one check) the comparisons are counted: a model with thousands
    of unknown names among thousands of declarations would otherwise spend minutes on hints
    (O(errors x names)); past the budget the remaining errors come without one.
    """
    spent = _HINT_WORK.get()
    if spent is not None and spent[0] > HINT_BUDGET:
        return None
    pool = list(candidates)
    if spent is not None:
        spent[0] += len(pool)
    close = difflib.get_close_matches(name, pool, n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


HINT_BUDGET = 500_000  # name comparisons for did-you-mean hints per check (under a second)
_HINT_WORK: ContextVar[list[int] | None] = ContextVar("qgl_hint_work", default=None)


@contextlib.contextmanager
def hint_budget() -> Iterator[None]:
    """Count did-you-mean comparisons in this block against :data:`HINT_BUDGET`."""
    token = _HINT_WORK.set([0])
    try:
        yield
    finally:
        _HINT_WORK.reset(token)


class QglWarning(_Located, UserWarning):
    """Something legal that is probably not what the model means (the run goes on).

    The checker collects these in ``CheckedModel.warnings``; ``qglc`` prints them on stderr as
    ``path:LINE:COL: warning: message`` and ``--json`` lists them under ``warnings``.
    """

    severity = "warning"

    def to_json(self) -> dict[str, str | int | None]:
        s = self.span
        return {"message": self.message, "hint": self.hint,
                "file": s.file if s else None, "line": s.line if s else None,
                "column": s.column if s else None}
