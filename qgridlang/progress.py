"""Progress lines on stderr for long work: the HiGHS log, outer-approximation rounds, sampling,
penalty retuning and QAOA iterations.

stdout carries only the result (a ``--json`` document must parse), so progress goes to stderr,
and only when someone is watching: with ``Options.verbose`` (``qglc solve --verbose``) or when
stderr is a terminal. The solver's own log (:func:`verbose`) is long, so it needs ``--verbose``.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

_lock = threading.Lock()  # HiGHS logs from its solver thread: one line at a time


def verbose(options: Any) -> bool:
    """``--verbose`` was given (``Options.verbose``)."""
    return bool(getattr(options, "verbose", False))


def enabled(options: Any) -> bool:
    """Progress lines are shown: ``--verbose``, or stderr is a terminal."""
    if verbose(options):
        return True
    try:
        return bool(sys.stderr is not None and sys.stderr.isatty())
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False


def line(options: Any, source: str, message: str) -> None:
    """``source: message`` on stderr when :func:`enabled` (``source`` names the backend)."""
    if enabled(options):
        emit(source, message)


def emit(source: str, message: str) -> None:
    """Write ``source: message`` to stderr now (callers decide whether to show it)."""
    from rich.console import Console

    text = message.rstrip("\n")
    if not text.strip():
        return
    with _lock:
        # a Console per line: it binds sys.stderr as it is now (pytest swaps it per test)
        console = Console(stderr=True, highlight=False, soft_wrap=True)
        for part in text.split("\n"):
            console.print(f"[dim]{source}:[/dim] {_escape(part)}")


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
