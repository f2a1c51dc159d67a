"""Data loading: CSV tables joined by label, with every key checked against its sets.

Errors name the file, the row and the column, and point at the ``csv(…)`` call in the model.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

from qgridlang.errors import DataError, Span
from qgridlang.fileaccess import read_text
from qgridlang.semantics.values import Label, SetValue

Row = tuple[int, list[str]]  # (line number in the file, 1-based; the row's cells)


def read_table(path: Path, span: Span) -> tuple[list[str], list[Row]]:
    """Header and rows of a CSV file, each row with its line number in the file.

    Comment lines starting with '#' and blank lines are skipped, but still counted, so a row
    number in a message is the line an editor shows.
    """
    # only allowed, regular, bounded, UTF-8 files (see qgridlang.fileaccess); a refusal never
    # shows the file's contents
    text = read_text(path, span, "data file", encoding="utf-8-sig")
    numbered = [(i, ln) for i, ln in enumerate(text.splitlines(), start=1)
                if ln.strip() and not ln.lstrip().startswith("#")]
    if not numbered:
        raise DataError(f"data file '{path}' is empty", span)
    table = [(i, next(csv.reader([ln]), [])) for i, ln in numbered]
    header = [h.strip() for h in table[0][1]]
    return header, [(i, [c.strip() for c in row]) for i, row in table[1:]]


def parse_label(text: str, domain: SetValue) -> Label | None:
    """A CSV cell as an element of ``domain`` (integers compare as integers), or None."""
    if text in domain.position:
        return text
    try:
        as_float = float(text)
    except ValueError:
        return None
    if as_float.is_integer() and int(as_float) in domain.position:
        return int(as_float)
    return None


def _dropped(text: str, domain: SetValue) -> bool:
    if not domain.dropped:
        return False
    if text in domain.dropped:
        return True
    try:
        return int(float(text)) in domain.dropped
    except ValueError:
        return False


def parse_number(text: str) -> float | None:
    """A finite number (``12.5``, ``90%``), else None: ``nan``, ``inf`` and overflowing cells
    (``1e400``) are refused, as a silent infinite bound or NaN would change the model."""
    try:
        v = float(text.rstrip("%")) / (100.0 if text.endswith("%") else 1.0)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def _non_finite(text: str) -> bool:
    """``inf``, ``nan``, ``1e400``: numbers, but not finite ones (for the error message)."""
    try:
        return not math.isfinite(float(text.rstrip("%")))
    except ValueError:
        return False


def load_columns(
    path: Path,
    span: Span,
    key_columns: Sequence[str],
    domains: Sequence[SetValue],
    value_columns: Sequence[str],
    has_default: Sequence[bool],
) -> list[dict[tuple[Label, ...], float]]:
    """Read ``value_columns`` keyed by ``key_columns`` (one per set in ``domains``).

    Every row's key must belong to its sets (extra rows are errors), keys may not repeat, cells
    must be numeric, and every element of the sets' product must be present unless the column's
    parameter has a default.
    """
    header, rows = read_table(path, span)
    name = path.name
    cols = {h: i for i, h in enumerate(header)}
    for needed in [*key_columns, *value_columns]:
        if needed not in cols:
            from qgridlang.errors import did_you_mean

            raise DataError(f"{name}: no column '{needed}' (columns: {columns_text(header)})",
                            span, did_you_mean(needed, header))
    out: list[dict[tuple[Label, ...], float]] = [{} for _ in value_columns]
    seen: dict[tuple[Label, ...], int] = {}
    for r, row in rows:
        if len(row) < len(header):
            raise DataError(f"{name}, row {r}: {len(row)} cells, the header has {len(header)}",
                            span)
        key: list[Label] = []
        for kc, dom in zip(key_columns, domains, strict=True):
            cell = row[cols[kc]]
            lab = parse_label(cell, dom)
            if lab is None and _dropped(cell, dom):
                break  # the set was restricted to a subset: rows outside it are not used
            if lab is None:
                raise DataError(
                    f"{name}, row {r}, column '{kc}': '{cell_text(cell)}' is not an element of "
                    f"{dom.describe()}", span)
            key.append(lab)
        if len(key) < len(domains):
            continue
        k = tuple(key)
        if k in seen:
            where = (f"column '{key_columns[0]}'" if len(key_columns) == 1 else
                     "columns " + ", ".join(f"'{kc}'" for kc in key_columns))
            raise DataError(f"{name}, row {r}, {where}: duplicate key {_show(k)} (first at row "
                            f"{seen[k]})", span)
        seen[k] = r
        for out_map, vc in zip(out, value_columns, strict=True):
            cell = row[cols[vc]]
            if cell == "":
                continue
            v = parse_number(cell)
            if v is None:
                raise DataError(
                    f"{name}, row {r}, column '{vc}': '{cell_text(cell)}' is not a "
                    f"{'finite ' if _non_finite(cell) else ''}number", span)
            out_map[k] = v
    _check_complete(name, span, domains, value_columns, has_default, out)
    return out


def _check_complete(name: str, span: Span, domains: Sequence[SetValue],
                    value_columns: Sequence[str], has_default: Sequence[bool],
                    out: list[dict[tuple[Label, ...], float]]) -> None:
    import itertools

    for out_map, vc, dflt in zip(out, value_columns, has_default, strict=True):
        if dflt:
            continue
        for k in itertools.product(*(d.elements for d in domains)):
            if k not in out_map:
                raise DataError(
                    f"{name}, column '{vc}': no value for {_show(k)}", span,
                    "add the row, or give the parameter a default")


def cell_text(cell: str, width: int = 40) -> str:
    """A CSV cell as shown in a message: control characters escaped, at most ``width`` chars."""
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in cell[:width + 1])
    return shown if len(shown) <= width else shown[:width - 1] + "…"


def columns_text(header: Sequence[str], n: int = 12) -> str:
    """The first ``n`` column names of a header, each clipped (a header can be any long line)."""
    shown = ", ".join(cell_text(h) for h in header[:n])
    return shown + (f", … ({len(header)} columns)" if len(header) > n else "")


def _show(key: tuple[Label, ...]) -> str:
    return "(" + ", ".join(cell_text(str(k)) for k in key) + ")" if len(key) != 1 else \
        cell_text(str(key[0]))
