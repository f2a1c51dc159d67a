"""Give a model's indexed parameter new values: its declaration is rewritten as an inline table.

``--set`` (and the API's ``overrides``) replace scalar parameters only. A price vector or a
response profile is an indexed parameter, so the model text itself is changed: the statement
``param price[T]: $/MWh = csv("data/price.csv", key = "t")`` becomes
``param price[T]: $/MWh = {1: 52.125, 2: 48.5, …}`` (the head, its unit and bounds kept, the
value replaced, a ``default`` dropped: the table names every key). Numbers are written with
``repr``, which reads back as the same double, so the substitution is exact. The model is then
checked as usual, from its own file name, so its other ``csv(…)`` files are read from its own
folder with the usual limits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from qgridlang import ast
from qgridlang.errors import UsageError

_NAME = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")


@dataclass(frozen=True)
class Values:
    """New values of one indexed parameter: ``keys[k]`` (a tuple of set elements) gets
    ``values[k]``, written with ``unit`` when given (converted by the checker to the
    parameter's declared unit), else in the parameter's own unit."""

    keys: Sequence[tuple[int | str, ...]]
    values: np.ndarray
    unit: str | None = None


def substitute(text: str, file: str, new: Mapping[str, Values]) -> str:
    """``text`` with each top-level parameter named in ``new`` declared as an inline table.

    Raises:
        UsageError: A name that is not a top-level parameter declared on its own (``param a[T],
            b[T] = csv(…)`` shares one value between two parameters: split it), a scalar
            parameter (use ``--set``), or a value that is not a finite number.
    """
    from qgridlang.parser import parse

    program = parse(text, file)
    found: dict[str, ast.ParamDecl] = {}
    for st in program.statements:
        if isinstance(st, ast.ParamDecl):
            for head in st.heads:
                if head.name in new:
                    found[head.name] = st
    edits: list[tuple[int, int, str]] = []
    starts = _line_starts(text)
    for name, vals in new.items():
        decl = found.get(name)
        if decl is None:
            raise UsageError(f"the model {file} declares no parameter '{name}' at its top level",
                             hint="the parameter to fill in must be declared with `param` "
                                  "outside any component")
        if len(decl.heads) != 1:
            raise UsageError(f"'{name}' is declared together with "
                             f"{', '.join(h.name for h in decl.heads if h.name != name)} in one "
                             f"statement ({decl.span}); declare it on its own to give it values",
                             hint=f"param {name}[…]: UNIT = csv(…) on a line of its own")
        head = decl.heads[0]
        if head.index is None:
            raise UsageError(f"'{name}' is a scalar parameter ({decl.span}): use --set",
                             hint=f"--set {name}=VALUE")
        start = _offset(starts, decl.span.line, decl.span.column)
        end = _offset(starts, decl.span.end_line, decl.span.end_column)
        keep = _offset(starts, head.span.end_line, head.span.end_column)
        edits.append((start, end, text[start:keep] + " = " + table(vals)))
    out = text
    for start, end, replacement in sorted(edits, reverse=True):
        out = out[:start] + replacement + out[end:]
    return out


def table(vals: Values) -> str:
    """``{1: 52.125, 2: 48.5}`` (or ``{(a, 1): …}`` for several indices), one entry a key."""
    values = np.asarray(vals.values, dtype=float)
    if values.shape != (len(vals.keys),):
        raise UsageError(f"{len(vals.keys)} keys but {values.size} values")
    if not np.all(np.isfinite(values)):
        raise UsageError("parameter values must be finite numbers (a solve without a plan "
                         "gives none)")
    unit = f" {vals.unit}" if vals.unit else ""
    parts = []
    for key, v in zip(vals.keys, values.tolist(), strict=True):
        k = _label(key[0]) if len(key) == 1 else "(" + ", ".join(_label(x) for x in key) + ")"
        parts.append(f"{k}: {float(v)!r}{unit}")
    return "{" + ", ".join(parts) + "}"


def _label(x: int | str) -> str:
    if isinstance(x, int | np.integer):
        return str(int(x))
    text = str(x)
    return text if _NAME.fullmatch(text) else '"' + text + '"'


def _line_starts(text: str) -> list[int]:
    starts = [0]
    for i, ch in enumerate(text):
        if ch == "\n":
            starts.append(i + 1)
    return starts


def _offset(starts: list[int], line: int, column: int) -> int:
    """Offset of a 1-based (line, column), as the parser counts them (characters)."""
    return starts[line - 1] + column - 1
