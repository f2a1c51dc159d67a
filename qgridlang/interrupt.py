"""Ctrl-C during a solve stops the solver and keeps its best plan (status ``interrupted``).

Solvers run in C without returning to Python, and Python's default SIGINT handler only raises
KeyboardInterrupt when the interpreter next runs Python code, which for a HiGHS solve or a
simulated-annealing run is when the solve has finished (a minute later on a hard model). While a
backend runs inside :func:`watch`, the first Ctrl-C only records the request; the backend polls
:func:`requested` (HiGHS from its interrupt callbacks, simulated annealing between reads), stops
and returns what it has. A second Ctrl-C raises KeyboardInterrupt as usual (for a stuck solver).

Signal handlers can only be installed from the main thread; in other threads :func:`watch` only
scopes :func:`request` (which any thread may call) to the solve that runs in it.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

_requested = threading.Event()
_local = threading.local()  # per thread: how deep in watch() (outer approximation nests solves)


def requested() -> bool:
    """Ctrl-C was pressed (or :func:`request` called) since the outermost :func:`watch`
    began."""
    return _requested.is_set()


def request() -> None:
    """Ask the running backend to stop (what the first Ctrl-C does; also for tests and GUIs)."""
    _requested.set()


@contextmanager
def watch() -> Iterator[None]:
    """Within the block, the first Ctrl-C sets :func:`requested` instead of raising."""
    depth = getattr(_local, "depth", 0)
    if depth == 0:
        _requested.clear()  # a request belongs to the solve it was made during
    install = depth == 0 and threading.current_thread() is threading.main_thread() and \
        signal.getsignal(signal.SIGINT) is not signal.SIG_IGN  # nohup: Ctrl-C stays ignored
    previous: Any = signal.getsignal(signal.SIGINT) if install else None

    def handler(signum: int, frame: FrameType | None) -> None:
        if _requested.is_set():
            raise KeyboardInterrupt
        _requested.set()

    if install:
        signal.signal(signal.SIGINT, handler)
    _local.depth = depth + 1
    try:
        yield
    finally:
        _local.depth = depth
        if install:
            signal.signal(signal.SIGINT, previous if previous is not None
                          else signal.default_int_handler)
