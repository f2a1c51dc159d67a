"""Human-readable tables (rich renderables) for the CLI to print."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from qgridlang.results import Solution

MAX_TABLES = 8
MAX_ROWS = 12
MAX_COLS = 24


def solution_view(sol: Solution) -> RenderableType:
    head = Table(title="qglc solve", show_header=False, box=None)
    head.add_row("status", sol.status.value + ("" if sol.feasible else "  (plan infeasible)"))
    obj = "—" if sol.objective is None else f"{sol.objective:,.6g} {sol.objective_unit}".strip()
    head.add_row("objective", obj)
    head.add_row("backend", f"{sol.backend} (target {sol.target})")
    head.add_row("timings", ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in sol.timings.items()))
    if sol.message:
        head.add_row("message", sol.message)
    parts: list[RenderableType] = [head]
    for v in sol.violations[:10]:
        parts.append(Text(f"violated: {v}", style="red"))
    shown = 0
    for name, value in {**sol.variables, **sol.expressions}.items():
        if shown >= MAX_TABLES:
            parts.append(Text("(+ more schedules: use --json for every value)", style="dim"))
            break
        table = _schedule(name, value)
        if table is not None:
            parts.append(table)
            shown += 1
    return Group(*parts)


def _schedule(name: str, value: Any) -> Table | None:
    """A 1-D or 2-D indexed value as a table (rows x time), None for deeper nesting."""
    if not isinstance(value, dict):
        t = Table(title=name, show_header=False)
        t.add_row(f"{value:.6g}")
        return t
    first = next(iter(value.values()), None)
    if isinstance(first, dict):
        if any(isinstance(v, dict) for v in first.values()):
            return None
        cols = list(first)[:MAX_COLS]
        t = Table(title=name)
        t.add_column("")
        for c in cols:
            t.add_column(str(c), justify="right")
        for r, row in list(value.items())[:MAX_ROWS]:
            t.add_row(str(r), *(f"{row.get(c, 0):.4g}" for c in cols))
        return t
    cols = list(value)[:MAX_COLS]
    t = Table(title=name)
    for c in cols:
        t.add_column(str(c), justify="right")
    t.add_row(*(f"{value[c]:.4g}" for c in cols))
    return t


def report_view(payload: dict[str, Any]) -> RenderableType:
    t = Table(title=f"qglc compile --target {payload['target']}", show_header=False, box=None)
    for k, v in payload["report"].items():
        t.add_row(k, _fmt(v))
    t.add_row("timings", ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in
                                   payload["timings"].items()))
    if payload.get("output"):
        t.add_row("written", payload["output"])
    return t


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, dict):
        return ", ".join(f"{k}={_fmt(x)}" for k, x in v.items())
    if isinstance(v, list):
        return "; ".join(_fmt(x) for x in v) or "—"
    return str(v)


def targets_view(listing: dict[str, list[dict[str, Any]]]) -> RenderableType:
    t1 = Table(title="targets")
    for col in ("name", "available", "exports", "description"):
        t1.add_column(col)
    for row in listing["targets"]:
        t1.add_row(row["name"], _avail(row), " ".join(row["exports"]), row["description"])
    t2 = Table(title="backends")
    for col in ("name", "target", "available", "description"):
        t2.add_column(col)
    for row in listing["backends"]:
        t2.add_row(row["name"], row["target"], _avail(row), row["description"])
    return Group(t1, t2)


def _avail(row: dict[str, Any]) -> str:
    return "yes" if row["available"] else "no (needs " + ", ".join(row["missing"]) + ")"
