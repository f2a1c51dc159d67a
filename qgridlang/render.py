"""Human-readable tables (rich renderables) for the CLI to print."""

from __future__ import annotations

import re
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from qgridlang.results import Series, Solution

MAX_TABLES = 16  # grouped per member of indexed instances, so 16 cover most models
MAX_ROWS = 12
MAX_COLS = 24


def solution_view(sol: Solution) -> RenderableType:
    """Status, objective and the plan's schedules, every value with its unit.

    Members of indexed component instances that share a schedule (``gen[u1].output``,
    ``gen[u2].output`` …) are rows of one table, each row named with its instance index;
    scalars share one table. Names and labels are plain text (never rich markup, where
    ``[u1]`` would vanish as a tag).
    """
    head = Table(title="qglc solve", show_header=False, box=None)
    head.add_row("status", sol.status.value + ("" if sol.feasible else "  (plan infeasible)"))
    obj = "—" if sol.objective is None else f"{sol.objective:,.6g} {sol.objective_unit}".strip()
    head.add_row("objective", Text(obj))
    head.add_row("backend", f"{sol.backend} (target {sol.target})")
    head.add_row("timings", ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in sol.timings.items()))
    if sol.message:
        head.add_row("message", Text(sol.message))
    parts: list[RenderableType] = [head]
    for w in sol.warnings:
        parts.append(Text(f"warning: {w.message}" + (f" ({w.hint})" if w.hint else ""),
                          style="yellow"))
    for v in sol.violations[:10]:
        parts.append(Text(f"violated: {v}", style="red"))
    tables = _tables([*sol.variable_results.values(), *sol.expression_results.values()])
    for k, table in enumerate(tables):
        if k >= MAX_TABLES:
            parts.append(Text(f"(+ {len(tables) - MAX_TABLES} more tables: --json or --output "
                              "plan.csv has every value)", style="dim"))
            break
        parts.append(table)
    return Group(*parts)


def _tables(series: list[Series]) -> list[Table]:
    scalars = [s for s in series if s.scalar]
    out: list[Table] = []
    if scalars:
        t = Table(title=Text("values"))
        for col, justify in (("name", "left"), ("value", "right"), ("unit", "left")):
            t.add_column(col, justify=justify)  # type: ignore[arg-type]
        for s in scalars[:MAX_ROWS]:
            t.add_row(Text(s.name), f"{s.values[0]:,.6g}", Text(s.unit))
        _more(t, len(scalars), 3)
        out.append(t)
    groups: dict[tuple[str, str, tuple[object, ...]], list[Series]] = {}
    for s in series:
        if s.scalar or len(s.keys[0]) > 2:
            continue
        # one table per member of indexed instances: gen[u1].output and gen[u2].output share
        one_d = len(s.keys[0]) == 1
        family = _INSTANCE.sub("[…]", s.name) if one_d else s.name
        groups.setdefault((family, s.unit, s.keys if one_d else (s.name,)), []).append(s)
    for (family, unit, _), members in groups.items():
        out.append(_schedule(family, unit, members))
    return out


_INSTANCE = re.compile(r"\[[^\]]*\](?=\.)")  # an instance's index inside a qualified name


def _schedule(title: str, unit: str, members: list[Series]) -> Table:
    """1-D schedules as rows (one per member) x time; one 2-D value as rows x columns."""
    caption = f"{title} ({unit})" if unit else title
    t = Table(title=Text(caption))
    first = members[0]
    if len(first.keys[0]) == 2:
        rows: dict[object, dict[object, float]] = {}
        for (r, c), v in zip(first.keys, first.values, strict=True):
            rows.setdefault(r, {})[c] = float(v)
        cols = list(dict.fromkeys(k[1] for k in first.keys))
        t.add_column("")
        for c in cols[:MAX_COLS]:
            t.add_column(Text(str(c)), justify="right")
        for r, row in list(rows.items())[:MAX_ROWS]:
            t.add_row(Text(str(r)), *(_cell(row.get(c)) for c in cols[:MAX_COLS]))
        _more(t, len(rows), 1 + min(len(cols), MAX_COLS))
        return t
    cols = [k[0] for k in first.keys]
    if len(members) > 1:
        t.add_column("")
    for c in cols[:MAX_COLS]:
        t.add_column(Text(str(c)), justify="right")
    for s in members[:MAX_ROWS]:
        cells = [_cell(float(v)) for v in s.values[:MAX_COLS]]
        t.add_row(*([Text(s.name)] if len(members) > 1 else []), *cells)
    _more(t, len(members), min(len(cols), MAX_COLS) + (len(members) > 1))
    return t


def _cell(v: float | None) -> str:
    return "" if v is None else f"{v:.4g}"


def _more(t: Table, n: int, width: int) -> None:
    if n > MAX_ROWS:
        t.add_row(Text(f"… {n - MAX_ROWS} more", style="dim"), *([""] * (width - 1)))


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
