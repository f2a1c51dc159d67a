"""Figures of a result document: dispatch stacks per bus, state of charge, commitment (a Gantt
chart), nodal prices and the scenario distribution of costs with VaR and CVaR marked.

Everything is drawn on a :class:`matplotlib.figure.Figure` without pyplot, so no display and no
global state is involved (headless, safe in threads and tests). Every axis is labelled in the
unit the result reports (the unit the user wrote).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from qgridlang.errors import UsageError

PANELS = ("dispatch", "soc", "commitment", "prices", "scenarios", "values")
MAX_VALUE_PANELS = 4
MAX_LAYERS = 40  # a stack by a set's elements: more layers than this are not readable
MAX_BUSES = 8
Entry = dict[str, Any]


def draw(doc: dict[str, Any], panels: Sequence[str] | None = None) -> tuple[Any, list[str]]:
    """The figure of a result document and the panels drawn (only those it has data for)."""
    from matplotlib.figure import Figure

    for p in panels or ():
        if p not in PANELS:
            raise UsageError(f"unknown panel '{p}'", hint=f"panels: {', '.join(PANELS)}")
    if doc.get("variables") is None or not (doc.get("variables") or doc.get("expressions")):
        raise UsageError("the result has no plan to plot",
                         hint=f"its status is {doc.get('status', 'unknown')}")
    r = _Result(doc)
    plans = []  # (panel name, title, draw function)
    wanted = list(panels or PANELS)
    if "dispatch" in wanted:
        plans += r.dispatch_plans()
    if "soc" in wanted and r.soc():
        plans.append(("soc", "State of charge", r.draw_soc))
    if "commitment" in wanted and r.commitment():
        plans.append(("commitment", "Commitment", r.draw_commitment))
    if "prices" in wanted and r.prices():
        plans.append(("prices", "Nodal prices", r.draw_prices))
    if "scenarios" in wanted:
        plans += r.scenario_plans()
    if "values" in wanted and (panels is not None or not plans):
        plans += r.value_plans()  # a model without time series: its decisions themselves
    if not plans:
        what = ", ".join(wanted)
        raise UsageError(f"nothing to plot: the result has no data for {what}",
                         hint="dispatch needs time-indexed values; scenarios need a cost "
                              "indexed by a scenario set")
    fig = Figure(figsize=(10, 2.8 * len(plans) + 0.6), layout="constrained")
    axes = fig.subplots(len(plans), 1, squeeze=False)[:, 0]
    for ax, (_, title, fn) in zip(axes, plans, strict=True):
        fn(ax)
        ax.set_title(title, loc="left", fontsize=10)
    name = (doc.get("model") or {}).get("name") or ""
    obj = doc.get("objective")
    head = f"{name}: " if name else ""
    if obj is not None:
        head += f"objective {obj:,.6g} {doc.get('objective_unit', '')}".rstrip()
    head += f" ({doc.get('backend', '?')}, {doc.get('status', '?')})"
    fig.suptitle(head, fontsize=11)
    return fig, list(dict.fromkeys(p for p, _, _ in plans))


class _Result:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.layout: dict[str, Any] = doc.get("model") or {}
        self.values: dict[str, Entry] = {**(doc.get("variables") or {}),
                                         **(doc.get("expressions") or {})}
        self.duals: dict[str, Entry] = doc.get("duals") or {}
        self.time = self.layout.get("time_set") or self._guess_time()

    # ---- data -----------------------------------------------------------------------------
    def _guess_time(self) -> str | None:
        """Without a layout: the set most one-index series are indexed by."""
        counts: dict[str, int] = {}
        for e in self.values.values():
            if len(e.get("index", [])) == 1:
                counts[e["index"][0]] = counts.get(e["index"][0], 0) + 1
        return max(counts, key=lambda k: counts[k]) if counts else None

    def series(self, entry: Entry | None) -> tuple[list[str], np.ndarray] | None:
        """Labels and values of a series indexed by the time set alone."""
        if entry is None or entry.get("index") != [self.time]:
            return None
        return (self.rows(entry) or {}).get("")

    def rows(self, entry: Entry | None) -> dict[str, tuple[list[str], np.ndarray]] | None:
        """A series whose last index is the time set, one row per element of its first index
        (the other indices joined into the time axis: ``d1/t``); ``""`` for ``[T]`` alone."""
        idx = (entry or {}).get("index") or []
        if entry is None or self.time is None or not idx or idx[-1] != self.time:
            return None
        if len(idx) == 1:
            labels, v = _flatten(entry["values"], 1)
            return {"": (labels, v)}
        return {str(k): _flatten(inner, len(idx) - 1) for k, inner in entry["values"].items()}

    def timeaxis(self, ax: Any, labels: list[str]) -> None:
        step = self.layout.get("time_step")
        ax.set_xlabel(f"{self.time}" + (f" (step {step})" if step else ""))
        n = len(labels)
        ticks = list(range(0, n, max(1, n // 12)))
        ax.set_xticks(ticks, [labels[i] for i in ticks])
        ax.set_xlim(-0.5, n - 0.5)

    # ---- dispatch -------------------------------------------------------------------------
    def dispatch_plans(self) -> list[tuple[str, str, Any]]:
        buses = [b for b in self.layout.get("buses", []) if any(
            self.series(self.values.get(n)) for n in b["injections"])]
        if buses:
            shown = sorted(buses, key=lambda b: -self._throughput(b))[:MAX_BUSES]
            shown.sort(key=buses.index)
            more = f" ({len(shown)} of {len(buses)} buses, by throughput)" \
                if len(shown) < len(buses) else ""
            return [("dispatch", f"Dispatch at bus {b['name']}{more}",
                     lambda ax, b=b: self.draw_stack(ax, b["injections"], "injection"))
                    for b in shown]
        # power-like series (a unit of power: no commitment binary), not a state of charge,
        # not zero throughout
        names = [n for n, e in self.values.items() if n.rsplit(".", 1)[-1] != "soc"
                 and _power_like(e.get("unit", "")) and _moves(self.rows(e))]
        if not names:
            return []
        flat = [n for n in names if len(self.values[n]["index"]) == 1]
        plans = [("dispatch", "Dispatch", lambda ax: self.draw_lines(ax, flat))] if flat else []
        for n in names:
            idx = self.values[n]["index"]
            scen = idx[0] in (self.layout.get("scenarios") or {})
            if len(idx) > 1 and len(plans) < MAX_BUSES and not scen and \
                    len(self.values[n]["values"]) <= MAX_LAYERS:
                plans.append(("dispatch", f"Dispatch {n}[{', '.join(idx)}] by {idx[0]}",
                              lambda ax, n=n: self.draw_rows_stack(ax, n)))
        return plans

    def draw_rows_stack(self, ax: Any, name: str) -> None:
        rows = self.rows(self.values[name]) or {}
        unit = self.values[name].get("unit", "")
        labels = next(iter(rows.values()))[0] if rows else []
        x = np.arange(len(labels))
        colors = _colors(len(rows))
        ax.stackplot(x, *[np.clip(v, 0, None) for _, v in rows.values()], labels=list(rows),
                     colors=colors, alpha=0.85)
        if any((v < 0).any() for _, v in rows.values()):
            ax.stackplot(x, *[np.clip(v, None, 0) for _, v in rows.values()], colors=colors,
                         alpha=0.85)
        ax.set_ylabel(f"{name} [{unit}]" if unit else name)
        self.timeaxis(ax, labels)
        ax.legend(fontsize=7, ncol=min(8, len(rows)), loc="upper left")

    def _throughput(self, bus: dict[str, Any]) -> float:
        total = 0.0
        for n in bus["injections"]:
            s = self.series(self.values.get(n))
            if s is not None:
                total += float(np.abs(s[1]).sum())
        return total

    def draw_stack(self, ax: Any, names: list[str], what: str) -> None:
        groups: dict[str, np.ndarray] = {}
        unit = None
        labels: list[str] = []
        for n in names:
            s = self.series(self.values.get(n))
            if s is None:
                continue
            labels, v = s
            u = self.values[n].get("unit", "")
            unit = unit if unit is not None else u
            v = v * _factor(u, unit)
            key = _family(n)
            groups[key] = groups.get(key, 0) + v
        x = np.arange(len(labels))
        colors = _colors(len(groups))
        pos = [np.clip(v, 0, None) for v in groups.values()]
        neg = [np.clip(v, None, 0) for v in groups.values()]
        ax.stackplot(x, *pos, labels=list(groups), colors=colors, step=None, alpha=0.85)
        ax.stackplot(x, *neg, colors=colors, alpha=0.85)
        ax.plot(x, sum(groups.values()), color="black", lw=0.8, ls="--", label="net")
        ax.axhline(0, color="black", lw=0.5)
        ax.set_ylabel(f"{what} [{unit}]" if unit else what)
        self.timeaxis(ax, labels)
        ax.legend(fontsize=7, ncol=min(6, len(groups) + 1), loc="upper left",
                  bbox_to_anchor=(1.0, 1.0) if len(groups) > 6 else None)

    def draw_lines(self, ax: Any, names: list[str]) -> None:
        unit = None
        labels: list[str] = []
        for n in names[:12]:
            s = self.series(self.values[n])
            if s is None:
                continue
            labels, v = s
            u = self.values[n].get("unit", "")
            unit = unit if unit is not None else u
            ax.plot(np.arange(len(labels)), v * _factor(u, unit), label=n, lw=1.2)
        ax.set_ylabel(f"[{unit}]" if unit else "")
        self.timeaxis(ax, labels)
        ax.legend(fontsize=7, ncol=4)

    # ---- storage, commitment, prices --------------------------------------------------------
    def soc(self) -> list[str]:
        return [n for n, e in self.values.items() if n.rsplit(".", 1)[-1] == "soc"
                and self.series(e) is not None]

    def draw_soc(self, ax: Any) -> None:
        self.draw_lines(ax, self.soc())
        ax.set_ylabel(ax.get_ylabel().replace("[", "state of charge ["))

    def commitment(self) -> list[tuple[str, list[str], np.ndarray]]:
        """Gantt rows: (label, time labels, values) of every commitment binary."""
        named = self.layout.get("commitment")
        if named is None:
            named = [n for n in self.values if n.rsplit(".", 1)[-1] in ("u", "on", "commit")]
        out = []
        for n in named:
            rows = self.rows(self.values.get(n))
            for k, (labels, v) in (rows or {}).items():
                out.append((f"{_short(n)}[{k}]" if k else _short(n), labels, v))
        return out

    def draw_commitment(self, ax: Any) -> None:
        rows = self.commitment()
        labels: list[str] = []
        for row, (_, labels, v) in enumerate(rows):
            on = v > 0.5
            bars, start = [], None
            for i, flag in enumerate([*on, False]):
                if flag and start is None:
                    start = i
                elif not flag and start is not None:
                    bars.append((start - 0.5, i - start))
                    start = None
            ax.broken_barh(bars, (row - 0.4, 0.8), color="tab:orange")
        ax.set_yticks(range(len(rows)), [r[0] for r in rows],
                      fontsize=7 if len(rows) <= 40 else 5)
        ax.set_ylim(-0.6, len(rows) - 0.4)
        ax.invert_yaxis()
        ax.set_ylabel("committed units")
        self.timeaxis(ax, labels)

    def prices(self) -> list[str]:
        out = [b["balance"] for b in self.layout.get("buses", [])
               if self.series(self.duals.get(b["balance"])) is not None]
        return out[:12]

    def draw_prices(self, ax: Any) -> None:
        unit = None
        labels: list[str] = []
        for n in self.prices():
            s = self.series(self.duals[n])
            assert s is not None
            labels, v = s
            u = self.duals[n].get("unit", "")
            unit = unit if unit is not None else u
            ax.step(np.arange(len(labels)), v * _factor(u, unit), where="mid",
                    label=n.removesuffix(".balance"), lw=1.2)
        ax.set_ylabel(f"nodal price [{unit}]" if unit else "nodal price")
        self.timeaxis(ax, labels)
        ax.legend(fontsize=7, ncol=6)

    # ---- decisions of a model without time series ----------------------------------------
    def value_plans(self) -> list[tuple[str, str, Any]]:
        plans: list[tuple[str, str, Any]] = []
        scalars = [n for n, e in (self.doc.get("variables") or {}).items()
                   if not e.get("index")]
        for n, e in (self.doc.get("variables") or {}).items():
            idx = e.get("index", [])
            if len(idx) in (1, 2) and len(plans) < MAX_VALUE_PANELS:
                plans.append(("values", f"{n}[{', '.join(idx)}]",
                              lambda ax, n=n: self.draw_values(ax, n)))
        if scalars:
            plans.append(("values", "Scalar decisions", lambda ax: self.draw_scalars(ax, scalars)))
        return plans

    def draw_values(self, ax: Any, name: str) -> None:
        e = self.doc["variables"][name]
        unit = e.get("unit", "")
        if len(e["index"]) == 1:
            keys = list(e["values"])
            ax.bar(range(len(keys)), [float(v) for v in e["values"].values()], color="tab:blue")
            ax.set_xticks(range(len(keys)), keys, fontsize=7, rotation=90 if len(keys) > 20
                          else 0)
            ax.set_xlabel(e["index"][0])
            ax.set_ylabel(f"{name} [{unit}]" if unit else name)
            return
        rows = list(e["values"])
        cols = list(dict.fromkeys(k for inner in e["values"].values() for k in inner))
        m = np.array([[float(e["values"][r].get(c, np.nan)) for c in cols] for r in rows])
        im = ax.imshow(m, aspect="auto", cmap="viridis", interpolation="nearest")
        ax.set_yticks(range(len(rows)), rows, fontsize=7)
        ax.set_xticks(range(len(cols)), cols, fontsize=7)
        ax.set_ylabel(e["index"][0])
        ax.set_xlabel(e["index"][1])
        ax.figure.colorbar(im, ax=ax, label=f"{name} [{unit}]" if unit else name)

    def draw_scalars(self, ax: Any, names: list[str]) -> None:
        vals = [float(self.doc["variables"][n]["values"]) for n in names]
        ax.barh(range(len(names)), vals, color="tab:blue")
        ax.set_yticks(range(len(names)),
                      [f"{n} [{self.doc['variables'][n].get('unit') or '1'}]" for n in names],
                      fontsize=7)

    # ---- scenarios --------------------------------------------------------------------------
    def scenario_plans(self) -> list[tuple[str, str, Any]]:
        sets = self.layout.get("scenarios") or {}
        plans = []
        risk = {r["of"]: r["alpha"] for r in self.layout.get("risk", [])}
        for n, e in self.values.items():
            idx = e.get("index", [])
            if not idx or idx[0] not in sets or not _money(e.get("unit", "")):
                continue
            alpha = risk.get(n)
            what = f"CVaR at α = {alpha:g}" if alpha is not None else "VaR and CVaR at 95 %"
            if len(idx) == 1:
                plans.append(("scenarios", f"Scenario costs {n}: {what}",
                              lambda ax, n=n, a=alpha: self.draw_distribution(ax, n, a)))
            elif len(idx) == 2 and idx[1] == self.time:
                plans.append(("scenarios", f"Scenario fan of {n} over {self.time}",
                              lambda ax, n=n: self.draw_fan(ax, n)))
        return plans

    def _probabilities(self, set_name: str, n: int) -> np.ndarray:
        info = (self.layout.get("scenarios") or {}).get(set_name) or {}
        p = info.get("probabilities")
        return np.asarray(p, float) if p is not None else np.full(n, 1.0 / n)

    def draw_distribution(self, ax: Any, name: str, alpha: float | None) -> None:
        e = self.values[name]
        x = np.array([float(v) for v in e["values"].values()])
        p = self._probabilities(e["index"][0], len(x))
        a = 0.95 if alpha is None else alpha
        var, cvar = var_cvar(x, p, a)
        mean = float(p @ x)
        unit = e.get("unit", "")
        ax.hist(x, bins=min(40, max(10, len(x) // 5)), weights=p, color="tab:blue", alpha=0.7)
        for val, lab, col, ls in ((mean, "expected", "black", "-"),
                                  (var, f"VaR {a:g}", "tab:orange", "--"),
                                  (cvar, f"CVaR {a:g}", "tab:red", "-")):
            ax.axvline(val, color=col, ls=ls, lw=1.5, label=f"{lab}: {val:,.6g} {unit}")
        ax.set_xlabel(f"{name} [{unit}]" if unit else name)
        ax.set_ylabel("probability")
        ax.legend(fontsize=7)

    def draw_fan(self, ax: Any, name: str) -> None:
        e = self.values[name]
        rows = [np.array([float(v) for v in inner.values()]) for inner in e["values"].values()]
        labels = list(next(iter(e["values"].values())))
        m = np.vstack(rows)  # scenarios × time
        x = np.arange(m.shape[1])
        for lo, hi, a in ((5, 95, 0.25), (25, 75, 0.45)):
            ax.fill_between(x, np.percentile(m, lo, axis=0), np.percentile(m, hi, axis=0),
                            color="tab:blue", alpha=a, lw=0, label=f"{lo}–{hi} %")
        ax.plot(x, np.median(m, axis=0), color="tab:blue", lw=1.5, label="median")
        unit = e.get("unit", "")
        ax.set_ylabel(f"{name} [{unit}]" if unit else name)
        self.timeaxis(ax, labels)
        ax.legend(fontsize=7)


def var_cvar(x: np.ndarray, p: np.ndarray, alpha: float) -> tuple[float, float]:
    """VaR (the α-quantile of the discrete distribution) and CVaR in the Rockafellar–Uryasev
    form, ``VaR + E[(X − VaR)^+] / (1 − α)``: what the model's ``cvar`` measures."""
    order = np.argsort(x)
    xs, ps = x[order], p[order] / p.sum()
    cdf = np.cumsum(ps)
    var = float(xs[min(int(np.searchsorted(cdf, alpha - 1e-12)), len(xs) - 1)])
    cvar = var + float(ps @ np.clip(xs - var, 0, None)) / (1 - alpha) if alpha < 1 else \
        float(xs[-1])
    return var, cvar


def _flatten(nested: Any, depth: int) -> tuple[list[str], np.ndarray]:
    """A nested ``{k: {…}}`` of ``depth`` levels as joined labels (``d1/3``) and values."""
    if depth <= 1:
        return [str(k) for k in nested], np.array([float(v) for v in nested.values()])
    labels: list[str] = []
    vals: list[np.ndarray] = []
    for k, inner in nested.items():
        lab, v = _flatten(inner, depth - 1)
        labels += [f"{k}/{x}" for x in lab]
        vals.append(v)
    return labels, np.concatenate(vals) if vals else np.zeros(0)


def _family(name: str) -> str:
    """``gen[u01].p`` -> ``gen``; ``village.p`` -> ``village``; ``link.a`` -> ``link``."""
    return name.split("[", 1)[0].split(".", 1)[0]


def _short(name: str) -> str:
    return name.rsplit(".", 1)[0] if "." in name else name


def _factor(unit: str, to: str | None) -> float:
    if not to or unit == to:
        return 1.0
    from qgridlang.semantics import units as U

    try:
        f = U.factor(U.parse_unit(unit), U.parse_unit(to))
    except ValueError:
        f = None
    if f is None:
        raise UsageError(f"cannot stack {unit} with {to} on one axis")
    return float(f)


def _dimension_of(unit: str, reference: str) -> bool:
    if not unit:
        return False
    from qgridlang.semantics import units as U

    try:
        return U.factor(U.parse_unit(unit), U.parse_unit(reference)) is not None
    except ValueError:
        return False


def _moves(rows: dict[str, tuple[list[str], np.ndarray]] | None) -> bool:
    """A series over time that is not zero throughout."""
    return rows is not None and any(np.abs(v).max(initial=0) > 1e-9 for _, v in rows.values())


def _power_like(unit: str) -> bool:
    return _dimension_of(unit, "kW")


def _money(unit: str) -> bool:
    return _dimension_of(unit, "$")


def _colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab20" if n > 10 else "tab10"]
    return [cmap(i % cmap.N) for i in range(n)]
