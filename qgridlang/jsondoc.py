"""Strict JSON for qglc's documents: NaN and infinities become null (no numpy needed)."""

from __future__ import annotations

import json
from typing import Any


def strict(v: Any) -> Any:
    """``v`` with every non-finite float replaced by None and every key a string."""
    if isinstance(v, float):
        return v if v == v and v not in (float("inf"), float("-inf")) else None
    if isinstance(v, dict):
        return {k if isinstance(k, str) else str(k): strict(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [strict(x) for x in v]
    return v


def dumps(doc: Any, indent: int | None = 2) -> str:
    """The one document of a ``--json`` run (or a ``.json`` result file)."""
    return json.dumps(strict(doc), indent=indent, default=str, allow_nan=False)
