"""Pause Python's cyclic garbage collector while a model is checked or lowered.

Expanding a model allocates many small containers (keys, dicts of coefficients) that form no
reference cycles. Each allocation burst makes the collector walk every live object again: at
48,000 binaries that was ~40 % of the check (measured with benchmarks/qubo_compile.py). The
pause ends with the stage (reference counting frees everything as usual meanwhile); an outer
pause is left as it was.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
