"""The plan whose risk is estimated: a solve's output (``--plan plan.json`` / ``plan.csv``), or
the model solved with HiGHS first."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from qgridlang.errors import UsageError
from qgridlang.flat import FlatModel, VarBlock, key_text
from qgridlang.semantics import units as U


def from_file(flat: FlatModel, path: Path) -> np.ndarray:
    """Column values from ``qglc solve --json`` output or ``--output plan.csv``.

    Every declared variable must be given for every key (values in the unit the file states,
    converted to the model's); auxiliary columns (CVaR epigraphs) are not decisions and may be
    absent (they do not enter the measured expressions).
    """
    from qgridlang.fileaccess import read_capped

    try:
        text = read_capped(Path(path)).decode("utf-8-sig")
    except OSError as exc:
        raise UsageError(f"--plan {path}: cannot read it ({exc.strerror or exc})") from None
    if Path(path).suffix.lower() == ".json":
        entries = _json_entries(text, path)
    elif Path(path).suffix.lower() == ".csv":
        entries = _csv_entries(text, path)
    else:
        raise UsageError(f"--plan {path}: a plan is a .json (qglc solve --json) or .csv "
                         "(qglc solve --output plan.csv) file")
    x = np.zeros(flat.n)
    for block in flat.blocks:
        if block.auxiliary:
            continue
        got = entries.get(block.name)
        if got is None:
            raise UsageError(f"--plan {path}: no values for variable '{block.name}'",
                             hint="write the plan with qglc solve --json or --output plan.csv")
        unit, values = got
        f = _factor(unit, block, path)
        for k, key in enumerate(block.keys):
            label = key_text(key)[1:-1] if key else ""
            if label not in values:
                raise UsageError(f"--plan {path}: no value for {block.name}{key_text(key)}")
            x[block.start + k] = values[label] * f
    return x


def _factor(unit: str, block: VarBlock, path: Path) -> float:
    """Into the column's unit from the file's (values are reported in ``shown_unit``)."""
    if unit == block.shown_unit:
        return 1.0 / block.report_scale
    src = U.parse_unit(unit) if unit else U.DIMENSIONLESS
    dst = U.parse_unit(block.unit) if block.unit else U.DIMENSIONLESS
    return U.convert(src, dst, None, f"--plan {path}: variable '{block.name}'")


def _json_entries(text: str, path: Path) -> dict[str, tuple[str, dict[str, float]]]:
    try:
        doc = json.loads(text)
        variables = doc["variables"]
    except (ValueError, KeyError, TypeError):
        raise UsageError(f"--plan {path}: not the JSON document of qglc solve --json (no "
                         "'variables')") from None
    out: dict[str, tuple[str, dict[str, float]]] = {}
    for name, entry in variables.items():
        flat_values: dict[str, float] = {}
        _flatten(entry.get("values"), (), flat_values)
        out[name] = (str(entry.get("unit", "")), flat_values)
    return out


def _flatten(node: Any, prefix: tuple[str, ...], out: dict[str, float]) -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            _flatten(v, (*prefix, str(k)), out)
    elif isinstance(node, int | float) and not isinstance(node, bool):
        out[",".join(prefix)] = float(node)


def _csv_entries(text: str, path: Path) -> dict[str, tuple[str, dict[str, float]]]:
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or not {"kind", "name", "key", "value"} <= set(
            reader.fieldnames):
        raise UsageError(f"--plan {path}: not a plan written by qglc solve --output plan.csv "
                         "(columns kind,name,key,value,unit)")
    out: dict[str, tuple[str, dict[str, float]]] = {}
    for row in reader:
        if row["kind"] != "variable":
            continue
        try:
            value = float(row["value"])
        except ValueError:
            raise UsageError(f"--plan {path}: {row['name']}[{row['key']}] is not a number: "
                             f"{row['value']!r}") from None
        unit, values = out.setdefault(row["name"], (row.get("unit") or "", {}))
        values[row["key"]] = value
    return out


def by_solving(checked: Any) -> tuple[np.ndarray, str]:
    """Solve with HiGHS; the plan and a note of where it came from."""
    from qgridlang.dispatcher import solve_model
    from qgridlang.results import Status

    sol = solve_model(checked, "highs")
    if sol.x is None or sol.status not in (Status.OPTIMAL, Status.FEASIBLE):
        raise UsageError(f"no plan to estimate: HiGHS says {sol.status} ({sol.message})",
                         hint="give one with --plan plan.json")
    return sol.x, f"solved with highs ({sol.status}, objective {sol.objective:g} " \
        f"{sol.objective_unit})"
