"""Ansatz names -> constructors, for the `surrogate` declaration's `ansatz = name(k = v, ...)`.

Every constructor takes the series length T first (from the declaration's `price[T]`) and keyword
arguments after it; `build` checks the keywords so that the caller can locate a bad one.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from qgridlang.surrogates import classical, quantum
from qgridlang.surrogates.base import Ansatz

ANSATZE: dict[str, Callable[..., Ansatz]] = {
    "qmlp": quantum.qmlp,
    "qtcn": quantum.qtcn,
    "qlstm": quantum.qlstm,
    "qtcn_lstm": quantum.qtcn_lstm,
    "mlp": classical.mlp,
    "tcn": classical.tcn,
    "lstm": classical.lstm,
    "tcn_lstm": classical.tcn_lstm,
    "tiny": classical.tiny,
}


class AnsatzError(ValueError):
    """An unknown ansatz name or keyword; the message lists what is accepted."""


def ansatz_keywords(name: str) -> list[str]:
    """The keyword arguments `name(...)` accepts (all but the length T)."""
    if name not in ANSATZE:
        raise AnsatzError(f"unknown ansatz {name!r}; known: {', '.join(sorted(ANSATZE))}")
    return list(inspect.signature(ANSATZE[name]).parameters)[1:]


def build(name: str, length: int, **kwargs: Any) -> Ansatz:
    """Construct ansatz `name` for series of length T = `length`."""
    allowed = ansatz_keywords(name)
    for key in kwargs:
        if key not in allowed:
            raise AnsatzError(
                f"ansatz {name!r} has no parameter {key!r}; it accepts: {', '.join(allowed)}"
            )
    if length < 1:
        raise AnsatzError(f"series length must be at least 1, got {length}")
    return ANSATZE[name](length, **kwargs)
