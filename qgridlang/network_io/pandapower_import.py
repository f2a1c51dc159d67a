"""``qglc import pandapower NAME -o DIR``: a pandapower network as CSV tables in stated units
and a ``.qgl`` model that instantiates them with the standard library.

NAME is a function of ``pandapower.networks`` (``case33bw``, ``case24_ieee_rts`` …) called with
its defaults, or the path of a network saved with ``pandapower.to_json``. Only that is read:
a network name must be a public, argument-free function of ``pandapower.networks``; a JSON file
is read within the read limit and parsed here first, keeping only the element tables this
importer uses, and every serialised object in them must be one of the plain table or number
types pandapower writes (a file that asks pandapower to import other modules or build other
objects, such as controllers or functions, is refused before pandapower sees it).

What is written (every column name states its unit; ``#`` lines are comments the model's
``csv(…)`` skips):

- ``buses.csv``: bus (pandapower's bus index), vn_kv, min/max_vm_pu, slack, vm_set_pu.
- ``lines.csv``: lines AND two-winding transformers, from_bus -> to_bus, r_ohm/x_ohm in ohm
  referred to the from bus's nominal voltage (a transformer's from bus is its HV bus),
  tap_ratio (the off-nominal ratio, 1 for lines), shift_degree, rating_mw.
- ``loads.csv``: loads, and shunts (and storage, wards) as constant-power loads at 1 pu.
- ``ext_grids.csv``, ``gens.csv``, ``sgens.csv``: the sources, with their pandapower
  poly_cost (c0 per hour, c1 per MWh, c2 per MW² per hour).
- ``NAME.qgl``: buses, lines, loads and generators from the standard library, ``network flow =
  lindistflow`` for a radial network and ``dc`` for a meshed one, one period, and the objective
  the generation cost.

Out-of-service elements are skipped, as are lines and transformers with an open switch; buses
joined by a closed bus-bus switch become one bus; buses no slack bus can reach are dropped (as
pandapower's power flow does).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import math
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qgridlang.errors import UsageError, did_you_mean
from qgridlang.network_io import pandapower as _pandapower

# Element tables read from a JSON file; every other table (results, controllers, geodata,
# measurements …) is dropped before pandapower parses the file.
_JSON_TABLES = ("bus", "line", "trafo", "load", "sgen", "gen", "ext_grid", "shunt", "switch",
                "storage", "ward", "poly_cost", "pwl_cost", "trafo3w", "impedance", "xward",
                "dcline", "motor", "asymmetric_load", "asymmetric_sgen", "svc", "tcsc", "ssc",
                "vsc", "bus_dc", "line_dc", "source_dc", "load_dc", "vsc_stacked",
                "vsc_bipolar")
_JSON_SCALARS = ("name", "f_hz", "sn_mva", "version", "format_version")

# The serialised objects a table may hold: (module, class) as pandapower's to_json writes them.
_SAFE_OBJECTS = {
    ("pandapower.auxiliary", "pandapowerNet"),
    ("pandas.core.frame", "DataFrame"),
    ("pandas.core.series", "Series"),
    ("pandas", "Series"), ("pandas", "Index"), ("pandas", "RangeIndex"),
    ("builtins", "tuple"), ("builtins", "set"), ("builtins", "frozenset"),
    ("builtins", "complex"),
    *(("numpy", c) for c in ("array", "ndarray", "bool_", "bool", "int8", "int16", "int32",
                             "int64", "uint8", "uint16", "uint32", "uint64", "float16",
                             "float32", "float64", "complex128", "str_")),
}

# Elements this importer cannot represent with the standard library: refused (with a count)
# when any of them is in service, rather than silently left out of the power flow.
_UNSUPPORTED = ("trafo3w", "impedance", "xward", "dcline", "motor", "asymmetric_load",
                "asymmetric_sgen", "svc", "tcsc", "ssc", "vsc", "bus_dc", "line_dc",
                "source_dc", "load_dc", "vsc_stacked", "vsc_bipolar")

# pandapower's from_ppc writes max_i_ka = 99999 for MATPOWER's rateA = 0 (no limit).
_NO_RATING_KA = 99999.0


@dataclass
class Imported:
    """A pandapower network as the rows of the CSV tables (numbers in the columns' units; None
    is an empty cell: no value given, the model's default applies)."""

    source: str  # what the user named
    name: str  # the model's name (an identifier)
    version: str  # pandapower's
    sn_mva: float
    buses: list[dict[str, Any]] = field(default_factory=list)
    lines: list[dict[str, Any]] = field(default_factory=list)
    loads: list[dict[str, Any]] = field(default_factory=list)
    ext_grids: list[dict[str, Any]] = field(default_factory=list)
    gens: list[dict[str, Any]] = field(default_factory=list)
    sgens: list[dict[str, Any]] = field(default_factory=list)
    radial: bool = True
    loop: list[str] = field(default_factory=list)  # one loop's branches, when meshed
    skipped: dict[str, int] = field(default_factory=dict)  # out of service, by table
    notes: list[str] = field(default_factory=list)  # what the import approximated or left out

    @property
    def formulation(self) -> str:
        return "lindistflow" if self.radial else "dc"


@dataclass
class ImportResult:
    imported: Imported
    model: Path
    files: list[Path]


# ---- reading ------------------------------------------------------------------------------------

@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """pandapower's logging and warnings (numba, pandas deprecations) kept off the terminal:
    qglc reports what matters itself."""
    logger = logging.getLogger("pandapower")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def network_names() -> list[str]:
    """The argument-free network functions of ``pandapower.networks``."""
    import inspect

    _pandapower()
    with quiet():
        import pandapower.networks as pn
    out = []
    for n in dir(pn):
        f = getattr(pn, n)
        if n.startswith("_") or not inspect.isfunction(f):
            continue
        if not getattr(f, "__module__", "").startswith("pandapower.networks"):
            continue
        params = inspect.signature(f).parameters.values()
        if any(p.default is inspect.Parameter.empty and p.kind not in (
                p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
            continue
        out.append(n)
    return sorted(out)


def load(source: str) -> tuple[Any, str]:
    """The pandapower network ``source`` names and a model name for it."""
    path = Path(source)
    if source.lower().endswith(".json") or "/" in source or path.is_file():
        return _from_json(path), _identifier(path.stem)
    pp = _pandapower()
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", source):
        raise UsageError(f"'{source}' is neither a pandapower network name nor a JSON file",
                         hint="a function of pandapower.networks (case33bw, case24_ieee_rts, "
                              "case9 …) or the path of a pandapower JSON file")
    names = network_names()
    if source not in names:
        raise UsageError(f"pandapower.networks has no network '{source}'",
                         hint=did_you_mean(source, names) or
                         f"one of {', '.join(names[:12])} … ({len(names)} in all)")
    import pandapower.networks as pn

    try:
        with quiet():
            net = getattr(pn, source)()
    except Exception as exc:  # pandapower's own failure (a missing optional package …)
        raise UsageError(f"pandapower.networks.{source}() failed: {type(exc).__name__}: "
                         f"{exc}") from None
    if not isinstance(net, pp.pandapowerNet):
        raise UsageError(f"pandapower.networks.{source}() does not return a network")
    return net, _identifier(source)


def _from_json(path: Path) -> Any:
    """Read, parse and vet the file before pandapower is imported or sees any of it."""
    from qgridlang.limits import current

    limit = current().max_read_bytes
    try:
        if not path.is_file():
            raise UsageError(f"'{path}': no such file" if not path.exists() else
                             f"'{path}' is not a regular file")
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise UsageError(f"cannot read '{path}': {exc.strerror or exc}") from None
    if len(data) > limit:
        raise UsageError(f"'{path}' is larger than the read limit ({limit / 2**20:g} MiB)",
                         hint="raise it with --max-read-mb")
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise UsageError(f"'{path}' is not UTF-8 text (byte {exc.start})") from None
    except ValueError as exc:  # json.JSONDecodeError
        raise UsageError(f"'{path}' is not valid JSON: {exc}") from None
    tables = _net_tables(doc, path)
    kept = {k: v for k, v in tables.items() if k in _JSON_TABLES or k in _JSON_SCALARS}
    _check_objects(kept, path, [])
    text = json.dumps({"_module": "pandapower.auxiliary", "_class": "pandapowerNet",
                       "_object": kept})
    pp = _pandapower()
    try:
        with quiet():
            net = pp.from_json_string(text)
    except Exception as exc:  # a table pandapower cannot parse
        raise UsageError(f"'{path}': pandapower cannot read this network: "
                         f"{type(exc).__name__}: {exc}") from None
    if not isinstance(net, pp.pandapowerNet) or len(net.bus) == 0:
        raise UsageError(f"'{path}': a pandapower network without buses")
    return net


def _net_tables(doc: Any, path: Path) -> dict[str, Any]:
    """The tables of a ``pandapower.to_json`` document."""
    if (isinstance(doc, dict) and doc.get("_module") == "pandapower.auxiliary"
            and doc.get("_class") == "pandapowerNet"):
        obj = doc.get("_object")
        if isinstance(obj, str):
            try:
                obj = json.loads(obj)
            except ValueError:
                obj = None
        if isinstance(obj, dict) and "bus" in obj:
            return obj
    raise UsageError(f"'{path}' is not a pandapower network (pandapower.to_json writes one)")


def _check_objects(node: Any, path: Path, where: list[str]) -> None:
    """Refuse any serialised object other than the plain ones pandapower writes for tables
    (pandapower would import its module and call its class)."""
    if isinstance(node, dict):
        if "_module" in node or "_class" in node:
            kind = (str(node.get("_module")), str(node.get("_class")))
            if kind not in _SAFE_OBJECTS:
                at = "/".join(where) or "top level"
                raise UsageError(f"'{path}': {at} holds a serialised '{kind[0]}.{kind[1]}' "
                                 "object; qglc import reads only plain pandapower tables",
                                 hint="save the network without it (pandapower.to_json of a "
                                      "net with only its element tables)")
        for k, v in node.items():
            _check_objects(v, path, [*where, str(k)] if k != "_object" else where)
    elif isinstance(node, list):
        for v in node:
            _check_objects(v, path, where)
    elif isinstance(node, str) and "_module" in node and node[:1] in "{[":
        try:  # a table's rows are a JSON string inside the document
            inner = json.loads(node)
        except ValueError:
            return
        _check_objects(inner, path, where)


def _identifier(text: str) -> str:
    name = re.sub(r"\W", "_", text, flags=re.ASCII).strip("_") or "network"
    return name if not name[0].isdigit() else "net_" + name


# ---- extracting ---------------------------------------------------------------------------------

def _num(v: Any) -> float | None:
    """A finite float, or None (NaN, None, a missing column)."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _round(v: float) -> float:
    """A derived value to 12 significant digits (``sqrt(3) * ...`` gives 174.99999999999986 for
    175 MW); far below any tolerance, and the CSV stays readable."""
    return float(f"{v:.12g}")


def _col(df: Any, name: str, idx: Any, default: Any = None) -> Any:
    return df.at[idx, name] if name in df.columns else default


def _flag(v: Any, default: bool) -> bool:
    if v is None:
        return default
    try:
        if v != v:  # NaN
            return default
    except (TypeError, ValueError):
        return default
    return bool(v)


def _text(v: Any) -> str:
    """A name as a CSV cell: one line, printable, at most 80 characters."""
    if v is None or (isinstance(v, float) and v != v):
        return ""
    s = "".join(c if c.isprintable() else " " for c in str(v)).strip()
    return s[:80]


class _Buses:
    """In-service buses, those joined by closed bus-bus switches merged into one (the lowest
    index represents them)."""

    def __init__(self, net: Any) -> None:
        self.vn: dict[int, float] = {int(i): float(net.bus.at[i, "vn_kv"])
                                     for i in net.bus.index if _flag(net.bus.at[i, "in_service"],
                                                                      True)}
        self.parent = {i: i for i in self.vn}

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        a, b = self.find(i), self.find(j)
        if a != b:
            self.parent[max(a, b)] = min(a, b)

    def get(self, i: Any) -> int | None:
        """The representative of bus ``i``, or None when it is out of service (or unknown)."""
        i = int(i)
        return self.find(i) if i in self.parent else None


def extract(net: Any, source: str, name: str) -> Imported:
    """The CSV rows of ``net`` (see the module docstring for what is kept and how)."""
    with quiet():
        return _extract(net, source, name)


def _extract(net: Any, source: str, name: str) -> Imported:
    import pandapower as pp

    out = Imported(source, name, str(getattr(pp, "__version__", "?")),
                   float(_num(getattr(net, "sn_mva", None)) or 1.0))
    present = {t: net[t] for t in _UNSUPPORTED if t in net and len(net[t])}
    live = {t: int(df["in_service"].astype(bool).sum()) if "in_service" in df.columns
            else len(df) for t, df in present.items()}
    live = {t: n for t, n in live.items() if n}
    if live:
        listed = ", ".join(f"{n} {t}" for t, n in live.items())
        raise UsageError(f"'{source}' has elements the standard library cannot represent: "
                         f"{listed}",
                         hint="take them out of service in pandapower (in_service = False) "
                              "or replace them, then import again")
    buses = _Buses(net)
    out.skipped["bus"] = len(net.bus) - len(buses.vn)
    open_line: set[int] = set()
    open_trafo: set[int] = set()
    if "switch" in net and len(net.switch):
        sw = net.switch
        for i in sw.index:
            et, closed = str(sw.at[i, "et"]), _flag(sw.at[i, "closed"], True)
            element = int(sw.at[i, "element"])
            if et == "b" and closed:
                a, b = buses.get(sw.at[i, "bus"]), buses.get(element)
                if a is not None and b is not None and a != b:
                    if abs(buses.vn[a] - buses.vn[b]) > 1e-9 * max(buses.vn[a], 1.0):
                        raise UsageError(f"'{source}': switch {i} closes buses {a} and {b} of "
                                         f"different nominal voltages ({buses.vn[a]:g} and "
                                         f"{buses.vn[b]:g} kV)")
                    buses.union(a, b)
            elif et == "l" and not closed:
                open_line.add(element)
            elif et == "t" and not closed:
                open_trafo.add(element)
        merged = sum(1 for i in buses.parent if buses.find(i) != i)
        if merged:
            out.notes.append(f"{merged} bus(es) joined to another by a closed bus-bus switch "
                             "are one bus (the lowest index)")
    if open_line:
        out.notes.append(f"{len(open_line)} line(s) with an open switch are left out")
    if open_trafo:
        out.notes.append(f"{len(open_trafo)} transformer(s) with an open switch are left out")

    _lines(net, buses, open_line, out)
    _trafos(net, buses, open_trafo, out)
    costs = _costs(net, out)
    _sources(net, buses, costs, out)
    _loads(net, buses, out)
    _bus_rows(net, buses, out)
    _topology(out)
    return out


def _lines(net: Any, buses: _Buses, open_line: set[int], out: Imported) -> None:
    df = net.line
    skipped = 0
    charging = 0
    for i in df.index:
        a, b = buses.get(df.at[i, "from_bus"]), buses.get(df.at[i, "to_bus"])
        if not _flag(df.at[i, "in_service"], True) or a is None or b is None or i in open_line:
            skipped += 1
            continue
        if a == b:
            out.notes.append(f"line {i} connects bus {a} to itself (a closed switch joins its "
                             "ends): left out")
            continue
        par = _num(_col(df, "parallel", i)) or 1.0
        length = float(df.at[i, "length_km"])
        r = float(df.at[i, "r_ohm_per_km"]) * length / par
        x = float(df.at[i, "x_ohm_per_km"]) * length / par
        if (_num(_col(df, "c_nf_per_km", i)) or 0.0) != 0 or (_num(_col(df, "g_us_per_km",
                                                                         i)) or 0.0) != 0:
            charging += 1
        max_i = _num(df.at[i, "max_i_ka"])
        rating = None
        if max_i is not None and max_i < _NO_RATING_KA:
            loading = _num(_col(df, "max_loading_percent", i)) or 100.0
            df_ = _num(_col(df, "df", i)) or 1.0
            rating = math.sqrt(3) * max_i * df_ * par * buses.vn[a] * loading / 100
        out.lines.append({"line": f"line{i}", "kind": "line", "element": int(i),
                          "name": _text(_col(df, "name", i)), "from_bus": a, "to_bus": b,
                          "r_ohm": _round(r), "x_ohm": _round(x), "tap_ratio": 1.0,
                          "shift_degree": 0.0,
                          "rating_mw": None if rating is None else _round(rating)})
    out.skipped["line"] = skipped
    if charging:
        out.notes.append(f"{charging} line(s) have shunt capacitance or conductance, which "
                         "the standard library's line leaves out (series r, x only)")


def _trafos(net: Any, buses: _Buses, open_trafo: set[int], out: Imported) -> None:
    if "trafo" not in net or not len(net.trafo):
        return
    df = net.trafo
    skipped = 0
    magnetising = 0
    for i in df.index:
        hv, lv = buses.get(df.at[i, "hv_bus"]), buses.get(df.at[i, "lv_bus"])
        if not _flag(df.at[i, "in_service"], True) or hv is None or lv is None or \
                i in open_trafo:
            skipped += 1
            continue
        if hv == lv:
            out.notes.append(f"transformer {i} connects bus {hv} to itself: left out")
            continue
        sn = float(df.at[i, "sn_mva"])
        par = _num(_col(df, "parallel", i)) or 1.0
        vn_hv, vn_lv = float(df.at[i, "vn_hv_kv"]), float(df.at[i, "vn_lv_kv"])
        vk, vkr = float(df.at[i, "vk_percent"]), float(df.at[i, "vkr_percent"])
        # short-circuit impedance on the LV side at the rated voltage (pandapower's model),
        # referred to the HV bus through the buses' nominal ratio
        z_lv = vk / 100 * vn_lv ** 2 / sn
        r_lv = vkr / 100 * vn_lv ** 2 / sn
        x_lv = math.sqrt(max(z_lv ** 2 - r_lv ** 2, 0.0))
        refer = (buses.vn[hv] / buses.vn[lv]) ** 2
        r, x = r_lv * refer / par, x_lv * refer / par
        # off-nominal ratio: the rated ratio against the buses' nominal one, times the tap
        ratio = (vn_hv / buses.vn[hv]) / (vn_lv / buses.vn[lv])
        pos, neutral = _num(_col(df, "tap_pos", i)), _num(_col(df, "tap_neutral", i))
        step = _num(_col(df, "tap_step_percent", i))
        shift = _num(_col(df, "shift_degree", i)) or 0.0
        changer = str(_col(df, "tap_changer_type", i, "Ratio") or "Ratio")
        if _flag(_col(df, "tap_phase_shifter", i), False) or changer not in ("Ratio", "nan",
                                                                              "None"):
            out.notes.append(f"transformer {i}: its tap changer ('{changer}') shifts the "
                             "phase; only the ratio part of the tap is imported")
        if pos is not None and step:
            n = pos - (neutral or 0.0)
            d = 1 + n * step / 100
            side = str(_col(df, "tap_side", i, "hv"))
            ratio = ratio * d if side == "hv" else ratio / d
        if shift:
            out.notes.append(f"transformer {i} shifts the phase by {shift:g} degrees, which "
                             "the standard library's line cannot model: left out of its flow")
        if (_num(_col(df, "pfe_kw", i)) or 0.0) or (_num(_col(df, "i0_percent", i)) or 0.0):
            magnetising += 1
        loading = _num(_col(df, "max_loading_percent", i)) or 100.0
        df_ = _num(_col(df, "df", i)) or 1.0
        out.lines.append({"line": f"trafo{i}", "kind": "trafo", "element": int(i),
                          "name": _text(_col(df, "name", i)), "from_bus": hv, "to_bus": lv,
                          "r_ohm": _round(r), "x_ohm": _round(x), "tap_ratio": _round(ratio),
                          "shift_degree": shift, "rating_mw": _round(sn * df_ * par * loading
                                                                     / 100)})
    out.skipped["trafo"] = skipped
    if magnetising:
        out.notes.append(f"{magnetising} transformer(s) have iron losses or magnetising "
                         "current, which the import leaves out (series impedance only)")


def _costs(net: Any, out: Imported) -> dict[tuple[str, int], tuple[float, float, float]]:
    costs: dict[tuple[str, int], tuple[float, float, float]] = {}
    if "poly_cost" in net and len(net.poly_cost):
        pc = net.poly_cost
        reactive = 0
        for i in pc.index:
            key = (str(pc.at[i, "et"]), int(pc.at[i, "element"]))
            costs[key] = (_num(_col(pc, "cp0_eur", i)) or 0.0,
                          _num(_col(pc, "cp1_eur_per_mw", i)) or 0.0,
                          _num(_col(pc, "cp2_eur_per_mw2", i)) or 0.0)
            if any(_num(_col(pc, c, i)) for c in ("cq0_eur", "cq1_eur_per_mvar",
                                                   "cq2_eur_per_mvar2")):
                reactive += 1
        if reactive:
            out.notes.append(f"{reactive} reactive-power cost(s) in poly_cost are left out")
    if "pwl_cost" in net and len(net.pwl_cost):
        out.notes.append(f"{len(net.pwl_cost)} piecewise-linear cost(s) (pwl_cost) are left "
                         "out: only poly_cost is imported")
    return costs


def _sources(net: Any, buses: _Buses, costs: dict[tuple[str, int], tuple[float, float, float]],
             out: Imported) -> None:
    for table, rows in (("ext_grid", out.ext_grids), ("gen", out.gens), ("sgen", out.sgens)):
        if table not in net or not len(net[table]):
            continue
        df = net[table]
        for i, bus in _in_service(df, buses, out, table):
            c0, c1, c2 = costs.get((table, int(i)), (0.0, 0.0, 0.0))
            row: dict[str, Any] = {table: f"{table}{i}", "element": int(i),
                                   "name": _text(_col(df, "name", i)), "bus": bus}
            scaling = _num(_col(df, "scaling", i))
            scaling = 1.0 if scaling is None else scaling
            if table == "ext_grid":
                row["vm_pu"] = _num(df.at[i, "vm_pu"]) or 1.0
            elif table == "gen":
                row["p_mw"] = float(df.at[i, "p_mw"]) * scaling
                row["vm_pu"] = _num(df.at[i, "vm_pu"]) or 1.0
                # pandapower's OPF dispatches a gen unless it is marked not controllable
                row["controllable"] = int(_flag(_col(df, "controllable", i), True))
            else:
                row["p_mw"] = float(df.at[i, "p_mw"]) * scaling
                row["q_mvar"] = (_num(df.at[i, "q_mvar"]) or 0.0) * scaling
                row["controllable"] = int(_flag(_col(df, "controllable", i), False))
            for c in ("min_p_mw", "max_p_mw", "min_q_mvar", "max_q_mvar"):
                row[c] = _num(_col(df, c, i))
            row.update({"c0_per_h": c0, "c1_per_mwh": c1, "c2_per_mw2_h": c2})
            rows.append(row)
    if any(int(r["controllable"]) == 0 for r in out.gens):
        out.notes.append("gens marked not controllable are fixed at their p_mw")
    if out.gens:
        out.notes.append("gens hold their bus voltage (vm_pu) in pandapower's AC power flow; "
                         "the model gives them reactive power within their limits instead")


def _in_service(df: Any, buses: _Buses, out: Imported, table: str | None
                ) -> Iterator[tuple[Any, Any]]:
    """The rows of an element table that are in service at an imported bus, with that bus; the
    others are counted in ``out.skipped[table]`` (not counted when ``table`` is None)."""
    skipped = 0
    for i in df.index:
        bus = buses.get(df.at[i, "bus"])
        if not _flag(df.at[i, "in_service"], True) or bus is None:
            skipped += 1
            continue
        yield i, bus
    if table is not None:
        out.skipped[table] = skipped


def _loads(net: Any, buses: _Buses, out: Imported) -> None:
    # (table, p column, q column, scale column): all as constant-power loads
    kinds = (("load", "p_mw", "q_mvar", "scaling"), ("storage", "p_mw", "q_mvar", "scaling"),
             ("shunt", "p_mw", "q_mvar", "step"), ("ward", "ps_mw", "qs_mvar", None),
             ("ward_shunt", "pz_mw", "qz_mvar", None))
    controllable = 0
    for table, pc, qc, sc in kinds:
        src = "ward" if table == "ward_shunt" else table
        if src not in net or not len(net[src]):
            continue
        df = net[src]
        # a ward's shunt part is the same element as its constant-power part: counted once
        for i, bus in _in_service(df, buses, out, None if table == "ward_shunt" else table):
            scale = _num(_col(df, sc, i)) if sc else 1.0
            scale = 1.0 if scale is None else scale
            p = (_num(df.at[i, pc]) or 0.0) * scale
            q = (_num(df.at[i, qc]) or 0.0) * scale
            if table == "ward_shunt" and not p and not q:
                continue
            if table in ("load", "storage") and _flag(_col(df, "controllable", i), False):
                controllable += 1
            out.loads.append({"load": f"{table}{i}", "kind": table, "element": int(i),
                              "name": _text(_col(df, "name", i)), "bus": bus, "p_mw": p,
                              "q_mvar": q})
    kinds_present = {r["kind"] for r in out.loads} - {"load"}
    if kinds_present:
        out.notes.append(", ".join(sorted(kinds_present)) + " imported as constant-power "
                         "loads (their power at 1 pu voltage)")
    if controllable:
        out.notes.append(f"{controllable} controllable load(s)/storage are fixed at their p_mw")


def _bus_rows(net: Any, buses: _Buses, out: Imported) -> None:
    slack: dict[int, float] = {}
    for r in out.ext_grids:
        slack.setdefault(r["bus"], r["vm_pu"])
    if not slack:  # a gen marked slack stands in for an external grid
        for r in out.gens:
            i = r["element"]
            if _flag(_col(net.gen, "slack", i), False):
                slack.setdefault(r["bus"], r["vm_pu"])
    if not slack:
        raise UsageError(f"'{out.source}' has no slack bus (no in-service ext_grid, nor a gen "
                         "with slack = True)",
                         hint="add an external grid at the feeding bus in pandapower "
                              "(create_ext_grid) and import again")
    df = net.bus
    for i in sorted(buses.vn):
        if buses.find(i) != i:
            continue
        out.buses.append({"bus": i, "name": _text(_col(df, "name", i)), "vn_kv": buses.vn[i],
                          "min_vm_pu": _num(_col(df, "min_vm_pu", i)),
                          "max_vm_pu": _num(_col(df, "max_vm_pu", i)),
                          "slack": int(i in slack), "vm_set_pu": slack.get(i, 1.0)})


def _topology(out: Imported) -> None:
    """Drop buses no slack bus reaches (and what stands at them); decide radial or meshed."""
    import networkx as nx

    g = nx.MultiGraph()
    g.add_nodes_from(r["bus"] for r in out.buses)
    for r in out.lines:
        g.add_edge(r["from_bus"], r["to_bus"], key=r["line"])
    reach: set[int] = set()
    for r in out.buses:
        if r["slack"]:
            reach |= nx.node_connected_component(g, r["bus"])
    dead = {r["bus"] for r in out.buses} - reach
    if dead:
        out.notes.append(f"{len(dead)} bus(es) that no slack bus reaches are left out, with "
                         "what stands at them (pandapower leaves them unsupplied)")
        out.buses = [r for r in out.buses if r["bus"] in reach]
        out.lines = [r for r in out.lines if r["from_bus"] in reach]
        out.loads = [r for r in out.loads if r["bus"] in reach]
        out.ext_grids = [r for r in out.ext_grids if r["bus"] in reach]
        out.gens = [r for r in out.gens if r["bus"] in reach]
        out.sgens = [r for r in out.sgens if r["bus"] in reach]
        g.remove_nodes_from(dead)
    # radial: a forest, parallel branches counting as a loop
    for u, v in g.edges():
        if u != v and g.number_of_edges(u, v) > 1:
            out.radial = False
            out.loop = sorted(g.get_edge_data(u, v))[:2]
            return
    cycles = nx.cycle_basis(nx.Graph(g))
    if cycles:
        out.radial = False
        loop = min(cycles, key=len)
        out.loop = [next(iter(g.get_edge_data(loop[k], loop[(k + 1) % len(loop)])))
                    for k in range(len(loop))]


# ---- writing ------------------------------------------------------------------------------------

_COLUMNS = {
    "buses": ("bus", "name", "vn_kv", "min_vm_pu", "max_vm_pu", "slack", "vm_set_pu"),
    "lines": ("line", "kind", "element", "name", "from_bus", "to_bus", "r_ohm", "x_ohm",
              "tap_ratio", "shift_degree", "rating_mw"),
    "loads": ("load", "kind", "element", "name", "bus", "p_mw", "q_mvar"),
    "ext_grids": ("ext_grid", "element", "name", "bus", "vm_pu", "min_p_mw", "max_p_mw",
                  "min_q_mvar", "max_q_mvar", "c0_per_h", "c1_per_mwh", "c2_per_mw2_h"),
    "gens": ("gen", "element", "name", "bus", "p_mw", "vm_pu", "controllable", "min_p_mw",
             "max_p_mw", "min_q_mvar", "max_q_mvar", "c0_per_h", "c1_per_mwh", "c2_per_mw2_h"),
    "sgens": ("sgen", "element", "name", "bus", "p_mw", "q_mvar", "controllable", "min_p_mw",
              "max_p_mw", "min_q_mvar", "max_q_mvar", "c0_per_h", "c1_per_mwh",
              "c2_per_mw2_h"),
}

_HEADERS = {
    "buses": ["bus: pandapower's bus index; vn_kv: nominal voltage (kV); min_vm_pu, max_vm_pu: "
              "voltage limits (pu; empty: none given)",
              "slack: 1 at an external grid's bus (the reference); vm_set_pu: its voltage set "
              "point (pu)"],
    "lines": ["lines and two-winding transformers from from_bus to to_bus; element: the index "
              "in pandapower's line or trafo table",
              "r_ohm, x_ohm: series impedance (ohm) referred to the nominal voltage of from_bus "
              "(a transformer's from_bus is its HV bus)",
              "tap_ratio: a transformer's off-nominal ratio (1 for lines); shift_degree: its "
              "phase shift (degrees)",
              "rating_mw: thermal limit (MVA taken as MW; empty: none)"],
    "loads": ["p_mw, q_mvar: consumption (MW, Mvar; negative: injection); kind: pandapower's "
              "table (shunt, storage, ward: their power at 1 pu voltage)"],
    "ext_grids": ["external grids (the slack sources); vm_pu: voltage set point (pu); "
                  "min/max_p_mw, min/max_q_mvar: limits (MW, Mvar; empty: none)",
                  "c0_per_h, c1_per_mwh, c2_per_mw2_h: pandapower's poly_cost (cost per h, per "
                  "MWh, per MW^2 h; the currency of the source, $ for the MATPOWER cases)"],
    "gens": ["voltage-controlled generators: p_mw set point (MW); vm_pu (pu); controllable: 1 "
             "when the OPF dispatches it within min/max_p_mw",
             "min/max_p_mw, min/max_q_mvar: limits (MW, Mvar; empty: none); c0_per_h, "
             "c1_per_mwh, c2_per_mw2_h: poly_cost"],
    "sgens": ["static generators: p_mw, q_mvar (MW, Mvar); controllable: 1 when the OPF "
              "dispatches it within min/max_p_mw (else fixed at p_mw, q_mvar)",
              "min/max_p_mw, min/max_q_mvar: limits (MW, Mvar; empty: none); c0_per_h, "
              "c1_per_mwh, c2_per_mw2_h: poly_cost"],
}


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(int(v))
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if v == 0:
            return "0"  # also -0.0
        return repr(v) if not v.is_integer() or abs(v) >= 1e16 else str(int(v))
    return str(v)


def csv_text(imported: Imported, table: str) -> str:
    buf = io.StringIO()
    buf.write(f"# {table} of pandapower network '{imported.source}' "
              f"(qglc import pandapower, pandapower {imported.version})\n")
    for line in _HEADERS[table]:
        buf.write(f"# {line}\n")
    w = csv.writer(buf, lineterminator="\n")
    cols = _COLUMNS[table]
    w.writerow(cols)
    for row in getattr(imported, table):
        w.writerow([_cell(row.get(c)) for c in cols])
    return buf.getvalue()


def write(imported: Imported, out_dir: Path) -> ImportResult:
    """Write the CSV tables and ``NAME.qgl`` into ``out_dir`` (created if missing), each file
    atomically."""
    from qgridlang.atomic import write_atomically

    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"-o {out_dir}: not a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"-o {out_dir}: cannot create it ({exc.strerror or exc})") from None
    texts = {f"{t}.csv": csv_text(imported, t) for t in _COLUMNS if getattr(imported, t)}
    model = out_dir / f"{imported.name}.qgl"
    texts[model.name] = model_text(imported)
    files = []
    for fname, text in texts.items():
        path = out_dir / fname
        data = text.encode("utf-8")
        write_atomically(path, lambda tmp, data=data: tmp.write_bytes(data))  # type: ignore[misc]
        files.append(path)
    return ImportResult(imported, model, files)


def import_network(source: str, out_dir: Path) -> ImportResult:
    """``qglc import pandapower SOURCE -o OUT_DIR``."""
    net, name = load(source)
    return write(extract(net, source, name), out_dir)


# ---- the model ----------------------------------------------------------------------------------

def model_text(imp: Imported) -> str:
    """The ``.qgl`` model over the CSV tables (see :func:`write`)."""
    n_branch = len(imp.lines)
    n_trafo = sum(1 for r in imp.lines if r["kind"] == "trafo")
    skipped = sum(imp.skipped.values())
    what = [f"{len(imp.buses)} buses", f"{n_branch - n_trafo} lines"]
    if n_trafo:
        what.append(f"{n_trafo} transformers")
    what.append(f"{len(imp.loads)} loads")
    for rows, noun in ((imp.ext_grids, "external grids"), (imp.gens, "generators"),
                       (imp.sgens, "static generators")):
        if rows:
            what.append(f"{len(rows)} {noun}")
    src = imp.source if "/" not in imp.source and not imp.source.endswith(".json") else \
        Path(imp.source).name
    h = [f"# Imported from pandapower network '{src}' (pandapower {imp.version}) by",
         f"#   qglc import pandapower {src} -o DIR",
         f"# {', '.join(what)}"
         + (f"; {skipped} out-of-service elements left out." if skipped else "."),
         "# Data: the CSV files next to this model (units in their column names and headers).",
         "#"]
    if imp.radial:
        h += ["# The network is radial (a tree), so it uses LinDistFlow: squared voltage "
              "magnitudes b[i].v2,",
              "# active and reactive flows l[k].p, l[k].q. Other formulations: `network flow = "
              "dc` (DC power",
              "# flow: angles b[i].theta, any network) or `transport` (flows within ratings "
              "only)."]
    else:
        h += [f"# The network is meshed (a loop runs through {', '.join(imp.loop)}), so it "
              "uses the DC",
              "# power flow (angles b[i].theta, flows l[k].p); LinDistFlow (`network flow = "
              "lindistflow`)",
              "# needs a radial network. `transport` keeps only the flows within ratings."]
    h += ["# One period; the objective is the generation cost from pandapower's poly_cost.",
          "# Check the AC power flow of a solved plan: qglc validate THIS.qgl --ac"]
    if imp.notes:
        h.append("# Approximations made by the import:")
        h += [f"#   - {n}" for n in imp.notes]
    out = h + ["", f'model {imp.name} "pandapower network {_qstr(src)}"', "use stdlib",
               f"network flow = {imp.formulation}", "", "time T = 1..1 step 1 h", ""]
    out += _bus_block()
    out += _line_block(any(r["tap_ratio"] != 1.0 for r in imp.lines))
    if imp.loads:
        out += _load_block()
    costs = []
    if imp.ext_grids:
        out += _source_block("ext_grid", "EG", "grid")
        costs.append("sum(k in EG) grid[k].cost")
    if imp.gens:
        out += _source_block("gen", "GEN", "gen")
        costs.append("sum(k in GEN) gen[k].cost")
    if imp.sgens:
        out += _source_block("sgen", "SGEN", "sgen")
        costs.append("sum(k in SGEN) sgen[k].cost")
    out += ["minimize generation_cost: " + " + ".join(costs), ""]
    return "\n".join(out)


def _qstr(s: str) -> str:
    return "".join(c for c in s if c.isprintable() and c not in '"\\')


def _bus_block() -> list[str]:
    return [
        "# ---- buses (buses.csv) ----",
        'set B = csv("buses.csv", key = "bus")',
        'param vn_kv[B]: kV = csv("buses.csv", key = "bus", column = "vn_kv")',
        "# voltage limits pandapower leaves empty take the standard library's 0.9 .. 1.1 pu",
        'param min_vm_pu[B] = csv("buses.csv", key = "bus", column = "min_vm_pu", '
        "default = 0.9)",
        'param max_vm_pu[B] = csv("buses.csv", key = "bus", column = "max_vm_pu", '
        "default = 1.1)",
        'param is_slack[B] = csv("buses.csv", key = "bus", column = "slack")',
        'param vm_set_pu[B] = csv("buses.csv", key = "bus", column = "vm_set_pu")',
        "bus b[i in B] {",
        "  vn = vn_kv[i]; v_min = min_vm_pu[i]; v_max = max_vm_pu[i]",
        "  slack = is_slack[i]; v_set = vm_set_pu[i]",
        "}",
        "",
    ]


def _line_block(taps: bool) -> list[str]:
    lines = [
        "# ---- lines and transformers (lines.csv) ----",
        'set L = csv("lines.csv", key = "line")',
        'param from_bus[L] = csv("lines.csv", key = "line", column = "from_bus")',
        'param to_bus[L] = csv("lines.csv", key = "line", column = "to_bus")',
        'param r_ohm[L]: ohm = csv("lines.csv", key = "line", column = "r_ohm")',
        'param x_ohm[L]: ohm = csv("lines.csv", key = "line", column = "x_ohm")',
        'param rating_mw[L]: MW = csv("lines.csv", key = "line", column = "rating_mw", '
        "default = inf)",
    ]
    if taps:
        lines += [
            'param tap_ratio[L] = csv("lines.csv", key = "line", column = "tap_ratio")',
            "# a transformer's off-nominal ratio at its from side (the stdlib line's `tap`: "
            "b = 1 / (x tap) under dc,",
            "# v2_to = v2_from / tap^2 - … under lindistflow)",
        ]
    lines += [
        "line l[k in L] between b[from_bus[k]], b[to_bus[k]] {",
        "  r = r_ohm[k]; x = x_ohm[k]; rating = rating_mw[k]" + ("; tap = tap_ratio[k]"
                                                                  if taps else ""),
        "}",
        "",
    ]
    return lines


def _load_block() -> list[str]:
    return [
        "# ---- loads (loads.csv): constant power ----",
        'set LD = csv("loads.csv", key = "load")',
        'param load_bus[LD] = csv("loads.csv", key = "load", column = "bus")',
        'param load_p[LD]: MW = csv("loads.csv", key = "load", column = "p_mw")',
        'param load_q[LD]: Mvar = csv("loads.csv", key = "load", column = "q_mvar")',
        "load ld[k in LD] at b[load_bus[k]] {",
        "  demand[t] = load_p[k]; reactive[t] = load_q[k]",
        "}",
        "",
    ]


def _source_block(table: str, S: str, inst: str) -> list[str]:
    f = f"{table}s.csv"
    key = f'key = "{table}"'
    title = {"ext_grid": "external grids (ext_grids.csv): the slack sources",
             "gen": "generators (gens.csv)", "sgen": "static generators (sgens.csv)"}[table]
    out = [f"# ---- {title} ----",
           f'set {S} = csv("{f}", {key})',
           f'param {table}_bus[{S}] = csv("{f}", {key}, column = "bus")']
    # limits pandapower leaves empty are open (an ext_grid may import and export freely)
    pmin_default = "-inf" if table == "ext_grid" else "0"
    out += [f'param {table}_pmin[{S}]: MW = csv("{f}", {key}, column = "min_p_mw", '
            f"default = {pmin_default})",
            f'param {table}_pmax[{S}]: MW = csv("{f}", {key}, column = "max_p_mw", '
            "default = inf)",
            f'param {table}_qmin[{S}]: Mvar = csv("{f}", {key}, column = "min_q_mvar", '
            "default = -inf)",
            f'param {table}_qmax[{S}]: Mvar = csv("{f}", {key}, column = "max_q_mvar", '
            "default = inf)"]
    if table != "ext_grid":
        out += [f'param {table}_p[{S}]: MW = csv("{f}", {key}, column = "p_mw")',
                f'param {table}_controllable[{S}] = csv("{f}", {key}, column = '
                '"controllable")']
    if table == "sgen":
        out += [f'param {table}_q[{S}]: Mvar = csv("{f}", {key}, column = "q_mvar")']
    out += [f'param {table}_c0[{S}]: $/h = csv("{f}", {key}, column = "c0_per_h")',
            f'param {table}_c1[{S}]: $/MWh = csv("{f}", {key}, column = "c1_per_mwh")',
            f'param {table}_c2[{S}]: $/MW^2/h = csv("{f}", {key}, column = "c2_per_mw2_h")']
    if table == "ext_grid":
        p = [f"  pmin = {table}_pmin[k]; pmax = {table}_pmax[k]"]
        q = [f"  qmin = {table}_qmin[k]; qmax = {table}_qmax[k]"]
    else:
        c = f"{table}_controllable[k] == 1"
        out.append(f"# not controllable: fixed at p_mw{' (and q_mvar)' if table == 'sgen' else ''}")
        p = [f"  pmin = if {c} then {table}_pmin[k] else {table}_p[k]",
             f"  pmax = if {c} then {table}_pmax[k] else {table}_p[k]"]
        if table == "sgen":
            q = [f"  qmin = if {c} then {table}_qmin[k] else {table}_q[k]",
                 f"  qmax = if {c} then {table}_qmax[k] else {table}_q[k]"]
        else:
            q = [f"  qmin = {table}_qmin[k]; qmax = {table}_qmax[k]"]
    out += [f"generator {inst}[k in {S}] at b[{table}_bus[k]] {{", *p, *q,
            f"  c0 = {table}_c0[k]; c1 = {table}_c1[k]; c2 = {table}_c2[k]",
            "}", ""]
    return out
