"""``qglc validate model.qgl --ac``: pandapower's AC power flow on a plan, next to the model's
linearised network.

The AC network is built from the checked model's network record (``CheckedModel.network``):
one pandapower bus per model bus (its ``vn``), one line per branch (its series ``r``, ``x`` in
ohm; a branch between buses of different nominal voltages becomes a transformer with the same
impedance), an external grid at each slack bus (at ``v_set``), and at every other bus the net
injection the plan gives it: the sum of the ports attached to its balances (``flat.expr_values``
of the plan), as a constant-power injection. pandapower's Newton-Raphson power flow then gives
the true voltage magnitudes, flows and losses for those injections; the slack buses take up the
losses the linearised model leaves out.

Reported per period (a key of the ports, e.g. each ``t`` of ``T``): per bus the AC |V| next to
the model's (``sqrt(v2)`` under LinDistFlow) and, under ``dc``, the angles; per branch the AC
flow at its from end (P, Q), its loading, next to the model's ``p`` (and ``q``); the AC losses,
the lowest voltage and its bus, and the relative errors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qgridlang.errors import QglError, UsageError, did_you_mean
from qgridlang.flat import FlatModel, Key, key_text
from qgridlang.network_io import pandapower as _pandapower

# A rating-less branch's current limit in the pandapower net (its loading is then ~0 %).
_NO_LIMIT_KA = 99999.0


@dataclass
class BusIn:
    """One bus of the AC run: its data and the plan's net injection (MW, Mvar)."""

    name: str
    vn_kv: float
    slack: bool
    v_set: float
    v_min: float | None
    v_max: float | None
    p_mw: float
    q_mvar: float
    v_model: float | None = None  # pu: sqrt(v2) under lindistflow
    angle_model_deg: float | None = None  # dc


@dataclass
class BranchIn:
    name: str
    from_bus: str
    to_bus: str
    r_ohm: float
    x_ohm: float
    rating_mw: float | None  # None or inf: no rating
    p_mw: float | None = None  # the model's flow from from_bus (MW)
    q_mvar: float | None = None


@dataclass
class Validation:
    """The AC check of one plan: a report per period (see :func:`run_ac`)."""

    model: str
    formulation: str
    plan: str  # where the plan came from
    periods: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"status": "ok", "model": self.model, "formulation": self.formulation,
                "plan": self.plan, "notes": self.notes, "periods": self.periods}


def _rel(model: float | None, true: float | None) -> float | None:
    if model is None or true is None or true == 0 or not math.isfinite(true):
        return None
    return (model - true) / abs(true)


def _finite(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def run_ac(buses: list[BusIn], branches: list[BranchIn], period: str = "",
           reactive: bool = True) -> dict[str, Any]:
    """pandapower's AC power flow for these injections, next to the model's values
    (``reactive``: whether the model has reactive power, for the hint when it fails).

    Raises:
        UsageError: The network cannot be run (no slack bus, a branch without impedance).
        QglError: The power flow does not converge (exit status 1).
    """
    return AcNet(buses, branches).run(buses, period, reactive)


class AcNet:
    """The pandapower network of a model's buses and branches, built once (element by element
    creation costs 0.5 s for 33 buses; a period only sets the injections and runs)."""

    def __init__(self, buses: list[BusIn], branches: list[BranchIn]) -> None:
        pp = _pandapower()
        from qgridlang.network_io.pandapower_import import quiet

        if not any(b.slack for b in buses):
            raise UsageError("the model's network has no slack bus (a bus with slack = 1)",
                             hint="mark the bus the network is fed from: bus b { slack = 1 }")
        self.branches = branches
        vn = {b.name: b.vn_kv for b in buses}
        index = {b.name: k for k, b in enumerate(buses)}
        lines: list[tuple[int, BranchIn, float]] = []  # (position, branch, max_i_ka)
        trafos: list[tuple[int, BranchIn, bool, float]] = []  # (…, swapped ends, sn_mva)
        for pos, br in enumerate(branches):
            if br.r_ohm == 0 and br.x_ohm == 0:
                raise UsageError(f"branch '{br.name}' has no impedance (r = x = 0): the AC "
                                 "power flow needs one", hint="give the line r and x")
            rating = br.rating_mw if br.rating_mw is not None and \
                math.isfinite(br.rating_mw) and br.rating_mw > 0 else None
            va, vb = vn[br.from_bus], vn[br.to_bus]
            if abs(va - vb) <= 1e-9 * max(va, vb):
                lines.append((pos, br, rating / (math.sqrt(3) * va) if rating else
                              _NO_LIMIT_KA))
            else:  # a transformer: the same series impedance, referred to the HV side
                trafos.append((pos, br, va < vb, rating or 100.0))
        self.kinds: list[tuple[str, int, bool]] = [("", 0, False)] * len(branches)
        with quiet():
            net = pp.create_empty_network(sn_mva=1.0)
            pp.create_buses(net, len(buses), vn_kv=[b.vn_kv for b in buses],
                            name=[b.name for b in buses], index=list(range(len(buses))))
            if lines:
                ids = pp.create_lines_from_parameters(
                    net, [index[br.from_bus] for _, br, _ in lines],
                    [index[br.to_bus] for _, br, _ in lines], length_km=1.0,
                    r_ohm_per_km=[br.r_ohm for _, br, _ in lines],
                    x_ohm_per_km=[br.x_ohm for _, br, _ in lines], c_nf_per_km=0.0,
                    max_i_ka=[m for *_, m in lines], name=[br.name for _, br, _ in lines])
                for (pos, _, _), k in zip(lines, ids, strict=True):
                    self.kinds[pos] = ("line", int(k), False)
            for pos, br, swapped, sn in trafos:
                hv, lv = (br.to_bus, br.from_bus) if swapped else (br.from_bus, br.to_bus)
                base = vn[br.from_bus] ** 2 / sn  # ohm per pu at the from bus
                k = pp.create_transformer_from_parameters(
                    net, index[hv], index[lv], sn_mva=sn, vn_hv_kv=vn[hv], vn_lv_kv=vn[lv],
                    vkr_percent=100 * br.r_ohm / base,
                    vk_percent=100 * math.hypot(br.r_ohm, br.x_ohm) / base, pfe_kw=0.0,
                    i0_percent=0.0, name=br.name)
                self.kinds[pos] = ("trafo", int(k), swapped)
            for b in buses:
                if b.slack:
                    pp.create_ext_grid(net, index[b.name], vm_pu=b.v_set, name=b.name)
            self.injected = [k for k, b in enumerate(buses) if not b.slack]
            if self.injected:
                pp.create_sgens(net, self.injected, p_mw=0.0, q_mvar=0.0)
        self.net = net

    def run(self, buses: list[BusIn], period: str = "", reactive: bool = True
            ) -> dict[str, Any]:
        """The report for one period's injections (``buses`` in the order built)."""
        pp = _pandapower()
        from qgridlang.network_io.pandapower_import import quiet

        net = self.net
        if self.injected:
            net.sgen["p_mw"] = [buses[k].p_mw for k in self.injected]
            net.sgen["q_mvar"] = [buses[k].q_mvar for k in self.injected]
        with quiet():
            try:
                pp.runpp(net, numba=False, init="flat")
            except Exception as exc:  # LoadflowNotConverged and pandapower's other refusals
                hint = ("the plan's injections may exceed what the network can carry at any "
                        "voltage; check the model's flows and voltages") if reactive else (
                    "the model has no reactive power, so the AC run draws all of it from the "
                    "slack bus (q = 0 elsewhere, generators hold no voltage); on a radial "
                    "network use network flow = lindistflow")
                raise QglError("pandapower's AC power flow did not converge"
                               + (f" for period {period}" if period else "")
                               + f" ({type(exc).__name__})", hint=hint) from None
        return _report(net, buses, self.branches, self.kinds, period)


def _report(net: Any, buses: list[BusIn], branches: list[BranchIn],
            kinds: list[tuple[str, int, bool]], period: str) -> dict[str, Any]:
    rb = net.res_bus
    bus_rows = []
    for k, b in enumerate(buses):
        v = _finite(rb.vm_pu.iat[k])
        ang = _finite(rb.va_degree.iat[k])
        bus_rows.append({"bus": b.name, "v_ac": v, "v_model": b.v_model,
                         "v_error": _rel(b.v_model, v), "angle_ac_deg": ang,
                         "angle_model_deg": b.angle_model_deg,
                         "p_mw": b.p_mw, "q_mvar": b.q_mvar,
                         "v_min": b.v_min, "v_max": b.v_max})
    slack_rows = []
    for k in net.ext_grid.index:
        name = str(net.ext_grid.at[k, "name"])
        model = next(b for b in buses if b.name == name)
        slack_rows.append({"bus": name, "p_ac_mw": _finite(net.res_ext_grid.p_mw.at[k]),
                           "q_ac_mvar": _finite(net.res_ext_grid.q_mvar.at[k]),
                           "p_model_mw": model.p_mw, "q_model_mvar": model.q_mvar})
    branch_rows = []
    losses_p = losses_q = 0.0
    for br, (table, k, swapped) in zip(branches, kinds, strict=True):
        res = net["res_" + table]
        if table == "line":
            p, q = res.p_from_mw.at[k], res.q_from_mvar.at[k]
            lp, lq = res.pl_mw.at[k], res.ql_mvar.at[k]
        else:
            side = "lv" if swapped else "hv"
            p, q = res[f"p_{side}_mw"].at[k], res[f"q_{side}_mvar"].at[k]
            lp, lq = res.pl_mw.at[k], res.ql_mvar.at[k]
        losses_p += _finite(lp) or 0.0
        losses_q += _finite(lq) or 0.0
        rating = br.rating_mw if br.rating_mw is not None and math.isfinite(br.rating_mw) \
            else None
        loading = _finite(res.loading_percent.at[k]) if rating else None
        branch_rows.append({
            "branch": br.name, "from_bus": br.from_bus, "to_bus": br.to_bus,
            "p_ac_mw": _finite(p), "q_ac_mvar": _finite(q), "loss_ac_mw": _finite(lp),
            "loading_ac_percent": loading,
            "p_model_mw": br.p_mw, "q_model_mvar": br.q_mvar,
            "loading_model_percent": (100 * abs(br.p_mw) / rating
                                      if rating and br.p_mw is not None else None),
            "rating_mw": rating})
    return {"period": period, "converged": True, "losses_ac_mw": losses_p,
            "losses_ac_mvar": losses_q, "slack": slack_rows,
            **_summary(bus_rows, branch_rows), "buses": bus_rows, "branches": branch_rows}


def _summary(bus_rows: list[dict[str, Any]], branch_rows: list[dict[str, Any]]
             ) -> dict[str, Any]:
    ac = [r for r in bus_rows if r["v_ac"] is not None]
    low = min(ac, key=lambda r: r["v_ac"]) if ac else None
    modelled = [r for r in bus_rows if r["v_model"] is not None]
    low_m = min(modelled, key=lambda r: r["v_model"]) if modelled else None
    errors = [abs(r["v_error"]) for r in bus_rows if r["v_error"] is not None]
    out: dict[str, Any] = {
        "vmin_ac": {"bus": low["bus"], "v": low["v_ac"]} if low else None,
        "vmin_model": {"bus": low_m["bus"], "v": low_m["v_model"]} if low_m else None,
        "vmin_error": _rel(low_m["v_model"], low["v_ac"]) if low and low_m else None,
        "max_v_error": max(errors) if errors else None,
    }
    flows = [r for r in branch_rows if r["p_model_mw"] is not None and r["p_ac_mw"] is not None]
    if flows:
        scale = max(abs(r["p_ac_mw"]) for r in flows) or 1.0
        dp = max(abs(r["p_model_mw"] - r["p_ac_mw"]) for r in flows)
        out["max_p_error_mw"] = dp
        out["max_p_error"] = dp / scale  # relative to the largest AC flow
    qs = [r for r in branch_rows if r["q_model_mvar"] is not None and r["q_ac_mvar"] is not None]
    if qs:
        out["max_q_error_mvar"] = max(abs(r["q_model_mvar"] - r["q_ac_mvar"]) for r in qs)
    violations = []
    for r in bus_rows:
        v = r["v_ac"]
        if v is None:
            continue
        if r["v_min"] is not None and v < r["v_min"] - 1e-9:
            violations.append(f"{r['bus']}: |V| = {v:.5f} pu below v_min {r['v_min']:g}")
        if r["v_max"] is not None and v > r["v_max"] + 1e-9:
            violations.append(f"{r['bus']}: |V| = {v:.5f} pu above v_max {r['v_max']:g}")
    for r in branch_rows:
        if r["loading_ac_percent"] is not None and r["loading_ac_percent"] > 100 + 1e-6:
            violations.append(f"{r['branch']}: loading {r['loading_ac_percent']:.1f} % of "
                              f"{r['rating_mw']:g} MW")
    out["violations_ac"] = violations
    return out


# ---- from a checked model and a plan -------------------------------------------------------------

def validate(checked: Any, x: np.ndarray, plan: str, period: str | None = None) -> Validation:
    """The AC check of plan ``x`` of ``checked`` (every period, or the one named)."""
    network = getattr(checked, "network", None)
    if network is None:
        raise UsageError("the model has no network to validate (no bus)",
                         hint="--ac runs an AC power flow over the model's buses and lines")
    if not network.branches:
        raise UsageError("the model's network has no lines: nothing for an AC power flow")
    flat: FlatModel = checked.flat
    values = _Values(flat, x)
    keys = values.period_keys(network)
    labels = [key_text(k)[1:-1] for k in keys]
    if period is not None:
        if period not in labels:
            raise UsageError(f"--period {period}: not a period of the model's network "
                             f"(periods: {_few(labels)})", hint=did_you_mean(period, labels))
        keys = [keys[labels.index(period)]]
    out = Validation(checked.ir.name if getattr(checked, "ir", None) else "",
                     network.formulation, plan)
    if network.formulation != "lindistflow":
        out.notes.append(f"`network flow = {network.formulation}` has no voltage magnitudes: "
                         "only the AC values are shown for |V|")
    reactive = any("q" in b.injections for b in network.buses)
    if not reactive:
        out.notes.append("the model has no reactive power: the AC run injects q = 0 at every "
                         "bus")
    ac: AcNet | None = None
    for key in keys:
        buses, branches = inputs(network, values, key)
        ac = ac or AcNet(buses, branches)  # the same buses and branches every period
        out.periods.append(ac.run(buses, key_text(key)[1:-1], reactive))
    return out


def _few(labels: list[str], n: int = 8) -> str:
    return ", ".join(labels[:n]) + (f" … ({len(labels)} in all)" if len(labels) > n else "")


class _Values:
    """Port and variable values of a plan, by flat name and key, in MW / Mvar / pu / rad."""

    def __init__(self, flat: FlatModel, x: np.ndarray) -> None:
        self.flat = flat
        self.x = x
        self.e = flat.expr_values(x)
        self.exprs: dict[str, dict[Key, int]] = {}
        for k, info in enumerate(flat.exprs):
            self.exprs.setdefault(info.name, {})[info.key] = k
        self._factors: dict[tuple[str, str], float] = {}

    def _factor(self, unit: str, to: str, what: str) -> float:
        from qgridlang.semantics import units as U

        if (unit, to) not in self._factors:
            if not to:
                f = 1.0 if not unit else U.convert(U.parse_unit(unit), U.DIMENSIONLESS,
                                                   None, what)
            elif not unit:
                raise UsageError(f"{what} has no unit; the AC check needs {to}")
            else:
                f = U.convert(U.parse_unit(unit), U.parse_unit(to), None, what)
            self._factors[(unit, to)] = f
        return self._factors[(unit, to)]

    def port(self, name: str, key: Key, to: str) -> float:
        at = self.exprs.get(name)
        if at is None or key not in at:
            raise UsageError(f"port '{name}{key_text(key)}' has no value in the plan")
        k = at[key]
        info = self.flat.exprs[k]
        return float(self.e[k]) * self._factor(info.unit, to, f"port '{name}'")

    def var(self, name: str | None, key: Key, to: str) -> float | None:
        if name is None:
            return None
        try:
            block = self.flat.block_of(name)
        except KeyError:
            return None
        try:
            i = block.keys.index(key)
        except ValueError:
            return None
        return float(self.x[block.start + i]) * self._factor(block.unit, to,
                                                             f"variable '{name}'")

    def period_keys(self, network: Any) -> list[Key]:
        """The keys every injection port of the network is given at (the model's periods)."""
        keys: list[Key] | None = None
        for b in network.buses:
            for names in b.injections.values():
                for name in names:
                    at = self.exprs.get(name, {})
                    keys = list(at) if keys is None else [k for k in keys if k in at]
        if keys is None:  # no injections at all: the branches' flows say which periods
            br = network.branches[0]
            keys = list(self.flat.block_of(br.p).keys) if br.p else [()]
        if not keys:
            raise UsageError("the model's ports have no period in common: nothing to run")
        return keys


def inputs(network: Any, values: _Values, key: Key) -> tuple[list[BusIn], list[BranchIn]]:
    """The AC run's buses and branches at one period."""
    buses = []
    for b in network.buses:
        p = sum(values.port(n, key, "MW") for n in b.injections.get("p", ()))
        q = sum(values.port(n, key, "Mvar") for n in b.injections.get("q", ()))
        v2 = values.var(b.v2, key, "")
        theta = values.var(b.theta, key, "rad")
        buses.append(BusIn(b.name, float(b.vn_kv or 1.0), bool(b.slack),
                           float(b.v_set if b.v_set is not None else 1.0), b.v_min, b.v_max,
                           p, q, math.sqrt(v2) if v2 is not None and v2 >= 0 else None,
                           math.degrees(theta) if theta is not None else None))
    branches = [BranchIn(br.name, br.from_bus, br.to_bus, float(br.r_ohm or 0.0),
                         float(br.x_ohm or 0.0), br.rating_mw, values.var(br.p, key, "MW"),
                         values.var(br.q, key, "Mvar"))
                for br in network.branches]
    return buses, branches


def validation_view(v: Validation) -> Any:
    """Rich tables of a :class:`Validation` (the CLI prints them)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    def f(x: float | None, spec: str) -> str:
        return "—" if x is None else format(x, spec)

    def pct(x: float | None) -> str:
        return "—" if x is None else f"{100 * x:+.3f}%"

    parts: list[Any] = []
    head = Table(title="qglc validate --ac (pandapower AC power flow)", show_header=False,
                 box=None)
    head.add_row("model", Text(f"{v.model} (network flow = {v.formulation})"))
    head.add_row("plan", Text(v.plan))
    for n in v.notes:
        head.add_row("note", Text(n))
    parts.append(head)
    if len(v.periods) > 1:
        t = Table(title="per period")
        for c in ("period", "losses AC (MW)", "Vmin AC (pu)", "at", "Vmin model (pu)",
                  "Vmin error", "max |V| error", "max P error"):
            t.add_column(c, justify="left" if c in ("period", "at") else "right")
        for r in v.periods:
            t.add_row(Text(r["period"]), f(r["losses_ac_mw"], ".6g"),
                      f((r["vmin_ac"] or {}).get("v"), ".5f"),
                      Text((r["vmin_ac"] or {}).get("bus", "—")),
                      f((r["vmin_model"] or {}).get("v"), ".5f"), pct(r["vmin_error"]),
                      pct(r["max_v_error"]), pct(r.get("max_p_error")))
        parts.append(t)
        worst = min(v.periods, key=lambda r: (r["vmin_ac"] or {}).get("v", math.inf))
        parts.append(Text(f"lowest AC voltage: period {worst['period']}; --period "
                          f"{worst['period']} shows its buses and lines"))
        return Group(*parts)
    r = v.periods[0]
    s = Table(show_header=False, box=None, title=f"period {r['period']}" if r["period"] else None)
    s.add_row("losses (AC)", f"{r['losses_ac_mw'] * 1000:,.2f} kW, "
              f"{r['losses_ac_mvar'] * 1000:,.2f} kvar")
    if r["vmin_ac"]:
        s.add_row("Vmin (AC)", Text(f"{r['vmin_ac']['v']:.5f} pu at {r['vmin_ac']['bus']}"))
    if r["vmin_model"]:
        s.add_row("Vmin (model)", Text(f"{r['vmin_model']['v']:.5f} pu at "
                                       f"{r['vmin_model']['bus']}  (error "
                                       f"{pct(r['vmin_error'])})"))
    if r["max_v_error"] is not None:
        s.add_row("max |V| error", pct(r["max_v_error"]))
    if "max_p_error_mw" in r:
        s.add_row("max P error", f"{r['max_p_error_mw']:.6g} MW ({pct(r['max_p_error'])} of "
                  "the largest AC flow)")
    for sl in r["slack"]:
        s.add_row("slack " + sl["bus"], f"P AC {f(sl['p_ac_mw'], '.6g')} MW vs model "
                  f"{f(sl['p_model_mw'], '.6g')} MW; Q AC {f(sl['q_ac_mvar'], '.6g')} vs "
                  f"{f(sl['q_model_mvar'], '.6g')} Mvar")
    for viol in r["violations_ac"][:10]:
        s.add_row("violated (AC)", Text(viol, style="red"))
    parts.append(s)
    # columns the formulation has: |V| under lindistflow, angles under dc
    has_v = any(b["v_model"] is not None for b in r["buses"])
    has_angle = any(b["angle_model_deg"] is not None for b in r["buses"])
    cols = ["bus", "|V| AC", *(["|V| model", "error"] if has_v else []),
            *(["angle AC °", "angle model °"] if has_angle else []), "P inj MW", "Q inj Mvar"]
    bt = Table(title="buses (|V| in pu)")
    for c in cols:
        bt.add_column(c, justify="left" if c == "bus" else "right")
    for b in r["buses"]:
        row: list[Any] = [Text(b["bus"]), f(b["v_ac"], ".5f")]
        if has_v:
            row += [f(b["v_model"], ".5f"), pct(b["v_error"])]
        if has_angle:
            row += [f(b["angle_ac_deg"], ".3f"), f(b["angle_model_deg"], ".3f")]
        bt.add_row(*row, f(b["p_mw"], ".6g"), f(b["q_mvar"], ".6g"))
    parts.append(bt)
    lt = Table(title="branches (flow at the from end)")
    for c in ("branch", "from", "to", "P AC MW", "P model MW", "Q AC Mvar",
              "Q model Mvar", "loss AC kW", "loading AC"):
        lt.add_column(c, justify="left" if c in ("branch", "from", "to") else "right")
    for br in r["branches"]:
        lt.add_row(Text(br["branch"]), Text(br["from_bus"]), Text(br["to_bus"]),
                   f(br["p_ac_mw"], ".6g"), f(br["p_model_mw"], ".6g"),
                   f(br["q_ac_mvar"], ".6g"), f(br["q_model_mvar"], ".6g"),
                   f(None if br["loss_ac_mw"] is None else br["loss_ac_mw"] * 1000, ".4g"),
                   "—" if br["loading_ac_percent"] is None else
                   f"{br['loading_ac_percent']:.1f} %")
    parts.append(lt)
    return Group(*parts)
