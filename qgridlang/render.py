"""Human-readable tables (rich renderables) for the CLI to print."""

from __future__ import annotations

import re
from typing import Any

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
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


def _tables(series: list[Series]) -> list[RenderableType]:
    scalars = [s for s in series if s.scalar]
    out: list[RenderableType] = []
    if scalars:
        t = Table(title=Text("values"))
        for col, justify in (("name", "left"), ("value", "right"), ("unit", "left")):
            t.add_column(col, justify=justify)  # type: ignore[arg-type]
        for s in scalars[:MAX_ROWS]:
            t.add_row(Text(s.name), f"{s.values[0]:,.6g}", Text(s.unit))
        if len(scalars) > MAX_ROWS:
            t.add_row(Text(f"… {len(scalars) - MAX_ROWS} more", style="dim"), "", "")
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


def _schedule(title: str, unit: str, members: list[Series]) -> Schedule:
    """1-D schedules as rows (one per member) x time; one 2-D value as rows x columns."""
    caption = f"{title} ({unit})" if unit else title
    first = members[0]
    if len(first.keys[0]) == 2:
        rows: dict[object, dict[object, float]] = {}
        for (r, c), v in zip(first.keys, first.values, strict=True):
            rows.setdefault(r, {})[c] = float(v)
        cols = list(dict.fromkeys(k[1] for k in first.keys))[:MAX_COLS]
        return Schedule(caption, [str(c) for c in cols],
                        [(str(r), [_cell(row.get(c)) for c in cols]) for r, row in rows.items()])
    cols = [k[0] for k in first.keys][:MAX_COLS]
    label = len(members) > 1
    return Schedule(caption, [str(c) for c in cols],
                    [(s.name if label else None, [_cell(float(v)) for v in s.values[:MAX_COLS]])
                     for s in members])


class Schedule:
    """A table of numbers that splits its columns over several tables to fit the terminal
    (rich would otherwise squeeze the labels and numbers into ``arra…`` and ``23…``)."""

    def __init__(self, caption: str, cols: list[str],
                 rows: list[tuple[str | None, list[str]]]) -> None:
        self.caption = caption
        self.cols = cols
        self.rows = rows[:MAX_ROWS]
        self.more = len(rows) - len(self.rows)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        labelled = any(label is not None for label, _ in self.rows)
        label_w = max([len(label or "") for label, _ in self.rows] + [len(f"… {self.more} more")
                                                                      if self.more else 0])
        widths = [max([len(c)] + [len(cells[k]) for _, cells in self.rows])
                  for k, c in enumerate(self.cols)]
        budget = options.max_width - (label_w + 3 if labelled else 0) - 1
        chunks: list[list[int]] = [[]]
        used = 0
        for k, w in enumerate(widths):
            if chunks[-1] and used + w + 3 > budget:
                chunks.append([])
                used = 0
            chunks[-1].append(k)
            used += w + 3
        for n, chunk in enumerate(chunks):
            title = self.caption if n == 0 else f"{self.caption}, continued"
            t = Table(title=Text(title))
            if labelled:
                t.add_column("", no_wrap=True, min_width=label_w)
            for k in chunk:
                t.add_column(Text(self.cols[k]), justify="right", no_wrap=True,
                             min_width=widths[k])
            for label, cells in self.rows:
                t.add_row(*([Text(label or "")] if labelled else []), *(cells[k] for k in chunk))
            if self.more:
                t.add_row(*([Text(f"… {self.more} more", style="dim")] if labelled else []),
                          *("" for _ in chunk))
            yield t


def _cell(v: float | None) -> str:
    return "" if v is None else f"{v:.4g}"


def report_view(payload: dict[str, Any]) -> RenderableType:
    t = Table(title=f"qglc compile --target {payload['target']}", show_header=False, box=None)
    for k, v in payload["report"].items():
        t.add_row(k, _fmt(v))
    t.add_row("timings", ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in
                                   payload["timings"].items()))
    if payload.get("output"):
        t.add_row("written", payload["output"])
    return t


def estimate_view(est: Any) -> RenderableType:
    """``qglc estimate``: the estimate with its interval, and the exact values beside it."""
    unit = f" {est.unit}" if est.unit and est.measure.split("(")[0] != "probability" else ""
    t = Table(title=f"qglc estimate --backend {est.backend}: {est.measure}", show_header=False,
              box=None)
    ci = f"  [{est.ci[0]:.6g}, {est.ci[1]:.6g}]" if est.ci is not None else ""
    t.add_row("estimate", f"{est.value:.6g}{unit}{ci}")
    d = est.discretisation
    t.add_row("exact, scenarios", f"{est.exact_scenarios:.6g}{unit} ({d['scenarios']} "
              f"scenarios of {est.scenario_set})")
    bound = f", within {d['error_bound']:.3g}{unit} of the scenarios'" \
        if d.get("error_bound") is not None else ""
    step = f", step {d['step']:.4g}{unit}" if d.get("step") is not None else ""
    t.add_row("exact, grid", f"{est.exact_grid:.6g}{unit} (2^{d['qubits']} points{step}{bound})")
    if d.get("source") == "declared":
        t.add_row("declared", d["map"])
        if d.get("truncation"):
            t.add_row("truncation", f"{d['truncation']}, mass outside {d['mass_outside']:.3g}")
        if d.get("exact_declared") is not None:
            t.add_row("exact, declared", f"{d['exact_declared']:.6g}{unit} (continuous, uncut)")
    if est.oracle_queries is not None:
        t.add_row("oracle queries", f"{est.oracle_queries}" + (
            f", {est.shots} shots" if est.shots else ", exact probabilities"))
        res = est.details.get("resources") or {}
        if res:
            t.add_row("circuit", _fmt(res))
        t.add_row("method", f"{est.details.get('method')}, payoff {est.details.get('payoff')}")
        mc = est.details.get("monte_carlo")
        if mc:
            t.add_row("Monte Carlo", f"{mc['value']:.6g}{unit}  [{mc['ci'][0]:.6g}, "
                      f"{mc['ci'][1]:.6g}] with {mc['samples']} samples (as many as A-queries"
                      f"{', capped' if mc['capped'] else ''})")
    if est.samples is not None:
        t.add_row("samples", str(est.samples))
    t.add_row("plan", est.plan)
    t.add_row("time", f"{est.seconds:.3f} s")
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
