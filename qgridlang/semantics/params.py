"""Parameters (scalars, indexed, tables, CSV, derived) and scenario sets with probabilities."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from qgridlang import ast
from qgridlang.errors import (
    DataError,
    DimensionMismatch,
    QglError,
    Span,
    TypeMismatch,
    UnknownName,
    UsageError,
)
from qgridlang.flat import DrawSpec, SampledParam
from qgridlang.limits import check_size
from qgridlang.semantics import units as U
from qgridlang.semantics.context import Context
from qgridlang.semantics.data import (
    cell_text,
    columns_text,
    load_columns,
    parse_label,
    read_table,
)
from qgridlang.semantics.evaluate import Env
from qgridlang.semantics.scope import ParamData
from qgridlang.semantics.values import Label, Scalar, SetValue


def data_path(b: Context, text: str, span: Span) -> Path:
    """Data files resolve relative to the file that names them."""
    p = Path(text)
    if p.is_absolute():
        return p
    src = Path(span.file)
    base = src.parent if src.is_file() else b.base_dir
    return base / p


def declare_param(b: Context, st: ast.ParamDecl, env: Env) -> None:
    heads = st.heads
    for h in heads:
        if h.name in b.overrides and h.index is not None and env.scope is b.model:
            sets = ", ".join(it.domain.parts[0].name if isinstance(it.domain, ast.Ref) else "…"
                             for it in h.index.items)
            raise UsageError(f"--set {h.name}: '{h.name}' is indexed over [{sets}]; --set "
                             "replaces a scalar parameter only",
                             hint="edit its table or csv data, or scale it by a scalar parameter "
                             f"(`param k = 1`, `k * {h.name}[…]`, then --set k=1.1)")
    units = [U.unit_at(h.unit.text, h.unit.span) if h.unit else None for h in heads]
    default = None
    if st.default is not None:
        d = b.ev.constant(st.default, env, "a default")
        default = d
    if st.value is None:
        if len(heads) == 1 and not heads[0].index and heads[0].name in b.overrides:
            _define_scalar(b, heads[0], units[0], Scalar(0.0, None), env, st.span)
            return
        raise TypeMismatch(f"parameter '{heads[0].name}' has no value", st.span,
                           "give it one: `= 5 MW`, `= csv(…)` or `= {…}`")
    if isinstance(st.value, ast.Call) and st.value.name == "csv":
        _from_csv(b, st, st.value, units, default, env)
        return
    if len(heads) != 1:
        raise TypeMismatch("several parameters can only share a csv(…) source", st.span)
    head, unit = heads[0], units[0]
    items = head.index.items if head.index else ()
    sets = b.ev.domains(items, env)
    if isinstance(st.value, ast.Table):
        data = _from_table(b, head, st.value, sets, unit, env)
        dflt = _default_value(default, unit, st)
        _check_complete_table(head, sets, data, dflt is not None, st.value.span)
        env.scope.define(head.name, ParamData(head.name, sets, unit, st.span, data, dflt),
                         st.span)
        return
    if not items:
        value = b.ev.constant(st.value, env, f"parameter '{head.name}'")
        _define_scalar(b, head, unit, value, env, st.span)
        return
    where = head.index.where if head.index else None
    got = b.vec.param_values(items, where, env, st.value, unit, head.name, st.span)
    if got is not None:  # every value at once with arrays
        values, vec_unit = got
        env.scope.define(head.name, ParamData(head.name, sets, vec_unit, st.span,
                                              dict(values),
                                              _default_value(default, vec_unit, st)), st.span)
        return
    pdata: dict[tuple[Label, ...], float | np.ndarray] = {}
    out_unit = unit
    for e2, key, _ in b.ev.iterate(items, head.index.where if head.index else None, env,
                                   (f"param {head.name}", "values", st.span)):
        v = b.ev.constant(st.value, e2, f"parameter '{head.name}'")
        if out_unit is None and v.unit is not None:
            out_unit = v.unit
        pdata[key] = float(v.value) * U.convert(v.unit, out_unit, st.value.span,
                                                 f"parameter '{head.name}'")
    env.scope.define(head.name, ParamData(head.name, sets, out_unit, st.span, pdata,
                                          _default_value(default, out_unit, st)), st.span)


def _define_scalar(b: Context, head: ast.ParamHead, unit: U.Unit | None, value: Scalar,
                   env: Env, span: Span) -> None:
    if head.name in b.overrides and env.scope is b.model:
        value = b.overrides[head.name]
        b.used_overrides.add(head.name)
        scaled = unit is not None and U.plain_factor(unit) not in (None, 1.0)
        if scaled and value.unit is None and float(value.value) != 0.0:
            # As in a comparison (`q <= 50` with q in %): a bare 90 could be 90 % or the plain
            # number 90 (9000 %); the command line must say which.
            assert unit is not None
            x = float(value.value)
            raise UsageError(f"--set {head.name}={x:g} is ambiguous: '{head.name}' is in "
                             f"{unit.text}",
                             hint=f"write {x:g}{unit.text} for {x:g} {unit.text}, or "
                             f"{x / (U.plain_factor(unit) or 1.0):g}{unit.text} for the plain "
                             f"number {x:g}")
    f = U.convert(value.unit, unit, span, f"parameter '{head.name}'") if unit else 1.0
    out_unit = unit if unit is not None else value.unit
    env.scope.define(head.name, ParamData(head.name, [], out_unit, span,
                                          {(): float(value.value) * f}), span)


def check_param_bounds(b: Context, st: ast.ParamDecl, env: Env) -> None:
    """``param cap: MW >= 0 = …``: every value of the parameter (and its default) must lie
    within its bounds, which are in its declared unit like a variable's."""
    for h in st.heads:
        item = env.scope.lookup(h.name)
        if (h.low is None and h.high is None) or not isinstance(item, ParamData):
            continue
        for lower, node in ((True, h.low), (False, h.high)):
            if node is None:
                continue
            s = b.ev.constant(node, env, f"a bound of '{h.name}'")
            limit = float(s.value) * U.convert(s.unit, item.unit, node.span,
                                               f"bound of '{h.name}'")
            tol = 1e-9 * max(1.0, abs(limit)) if np.isfinite(limit) else 0.0
            values = list(item.data.items())
            if item.default is not None:
                values.append((None, item.default))
            for key, v in values:
                arr = np.atleast_1d(np.asarray(v, float))
                bad = arr < limit - tol if lower else arr > limit + tol
                if not np.any(bad):
                    continue
                op, unit = (">=" if lower else "<="), U.unit_text(item.unit)
                unit = f" {unit}" if unit else ""
                what = "its default" if key is None else h.name + (
                    "[" + ", ".join(map(str, key)) + "]" if key else "")
                msg = (f"parameter '{h.name}' must be {op} {limit:g}{unit}, but {what} is "
                       f"{float(arr[bad][0]):g}{unit}")
                if h.name in b.used_overrides and env.scope is b.model:
                    raise UsageError(f"--set {h.name}: {msg}")
                raise DataError(msg, _value_span(st, key), f"its bounds are at line "
                                f"{node.span.line}, column {node.span.column}")


def _value_span(st: ast.ParamDecl, key: tuple[Label, ...] | None) -> Span:
    """Where a parameter's value for ``key`` is written (its table entry, else the value)."""
    if key is None and st.default is not None:
        return st.default.span
    if isinstance(st.value, ast.Table) and key is not None:
        for entry in st.value.entries:
            if tuple(map(str, entry.key)) == tuple(map(str, key)):
                return entry.value.span
    return st.value.span if st.value is not None else st.span


def _default_value(default: Scalar | None, unit: U.Unit | None, st: ast.ParamDecl
                   ) -> float | None:
    if default is None:
        return None
    span = st.default.span if st.default is not None else st.span
    return float(default.value) * U.convert(default.unit, unit, span, "the default")


def _from_table(b: Context, head: ast.ParamHead, table: ast.Table, sets: list[SetValue | None],
                unit: U.Unit | None, env: Env) -> dict[tuple[Label, ...], float | np.ndarray]:
    data: dict[tuple[Label, ...], float | np.ndarray] = {}
    for entry in table.entries:
        if len(entry.key) != len(sets):
            raise DimensionMismatch(f"table key of '{head.name}' has {len(entry.key)} part(s), "
                                    f"the parameter {len(sets)} ind(ices)", entry.span)
        key: list[Label] = []
        for lab, dom in zip(entry.key, sets, strict=True):
            got = parse_label(str(lab), dom) if dom is not None else lab
            if got is None:
                assert dom is not None
                raise DimensionMismatch(f"'{lab}' is not an element of {dom.describe()}",
                                        entry.span)
            key.append(got)
        k = tuple(key)
        if k in data:
            raise DataError(f"duplicate entry {lab} in the table of '{head.name}'", entry.span)
        v = b.ev.constant(entry.value, env, "a table value")
        data[k] = float(v.value) * U.convert(v.unit, unit, entry.value.span,
                                             f"table of '{head.name}'") if unit else \
            float(v.value)
    return data


def _check_complete_table(head: ast.ParamHead, sets: list[SetValue | None], data: dict[
        tuple[Label, ...], float | np.ndarray], has_default: bool, span: Span) -> None:
    import itertools

    if has_default or any(s is None for s in sets):
        return
    for k in itertools.product(*(s.elements for s in sets if s is not None)):
        if k not in data:
            raise DataError(f"the table of '{head.name}' has no entry for "
                            f"{', '.join(map(str, k))}", span,
                            "add it, or declare `param … default 0 = {…}`")


def _str_arg(b: Context, node: ast.Expr | None, env: Env, what: str) -> str | None:
    if node is None:
        return None
    if isinstance(node, ast.Str):
        return node.value
    if isinstance(node, ast.Ref) and len(node.parts) == 1:
        return node.parts[0].name
    raise TypeMismatch(f"{what} must be a column name (a string)", node.span)


def _from_csv(b: Context, st: ast.ParamDecl, call: ast.Call, units: list[U.Unit | None],
              default: Scalar | None, env: Env) -> None:
    known = {"key", "column", "default"}
    for k, v in call.kwargs:
        if k not in known:
            from qgridlang.errors import did_you_mean

            raise UnknownName(f"csv() has no option '{k}'", v.span, did_you_mean(k, known))
    if len(call.args) != 1 or not isinstance(call.args[0], ast.Str):
        raise TypeMismatch('csv() takes the file name first: csv("data/x.csv", key = …)',
                           call.span)
    path = data_path(b, call.args[0].value, call.args[0].span)
    heads = st.heads
    items = heads[0].index.items if heads[0].index else ()
    sets = b.ev.domains(items, env)
    if any(s is None for s in sets) or not sets:
        raise TypeMismatch("a csv parameter must be indexed over declared sets", st.span)
    for h in heads[1:]:
        other = b.ev.domains(h.index.items if h.index else (), env)
        if [s.name if s else None for s in other] != [s.name for s in sets if s]:
            raise DimensionMismatch(f"parameters sharing a csv source need the same indices; "
                                    f"'{h.name}' differs from '{heads[0].name}'", h.span)
    key_node = call.kwarg("key")
    if isinstance(key_node, ast.TupleExpr):
        keys = [_str_arg(b, n, env, "key") or "" for n in key_node.items]
    else:
        keys = [_str_arg(b, key_node, env, "key") or ""] if key_node is not None else []
    if not keys:
        keys = [s.name for s in sets if s]
    if len(keys) != len(sets):
        raise DimensionMismatch(f"key names {len(keys)} column(s) but the parameter has "
                                f"{len(sets)} ind(ices)", key_node.span if key_node else call.span)
    column = _str_arg(b, call.kwarg("column"), env, "column")
    if column is not None and len(heads) > 1:
        raise TypeMismatch("column = … names one column; with several parameters the columns "
                           "are their names", call.span)
    columns = [column] if column else [h.name for h in heads]
    dflt_node = call.kwarg("default")
    if dflt_node is not None:
        default = b.ev.constant(dflt_node, env, "a default")
    defaults = [_default_value(default, u, st) for u in units]
    tables = load_columns(path, call.span, keys, [s for s in sets if s], columns,
                          [d is not None for d in defaults])
    for h, u, table, d in zip(heads, units, tables, defaults, strict=True):
        env.scope.define(h.name, ParamData(h.name, list(sets), u, h.span,
                                           dict(table), d), h.span)


def set_from_csv(b: Context, call: ast.Call, env: Env) -> SetValue:
    """``set U = csv("units.csv", key = "unit")``: the labels of one column, in file order."""
    if len(call.args) != 1 or not isinstance(call.args[0], ast.Str):
        raise TypeMismatch('csv() takes the file name first: csv("data/x.csv", key = "col")',
                           call.span)
    key = _str_arg(b, call.kwarg("key"), env, "key")
    if key is None:
        raise TypeMismatch('a set from csv names its column: csv("…", key = "unit")', call.span)
    path = data_path(b, call.args[0].value, call.args[0].span)
    header, rows = read_table(path, call.span)
    if key not in header:
        raise DataError(f"{path.name}: no column '{key}' (columns: {columns_text(header)})",
                        call.span)
    col = header.index(key)
    cells = [(r, row[col]) for r, row in rows if len(row) > col]
    labels: list[Label] = [int(c) for _, c in cells] if all(c.lstrip("-").isdigit()
                                                             for _, c in cells) \
        else [c for _, c in cells]
    seen: set[Label] = set()
    for (r, _), lab in zip(cells, labels, strict=True):
        if lab in seen:
            raise DataError(f"{path.name}, row {r}, column '{key}': '{cell_text(str(lab))}' "
                            "repeats", call.span)
        seen.add(lab)
    return SetValue(key, labels, call.span)


# ---- scenarios ----------------------------------------------------------------------------------
def declare_scenarios(b: Context, st: ast.ScenariosDecl, env: Env) -> None:
    s = env.scope.lookup(st.set_name)
    if not isinstance(s, SetValue):
        raise UnknownName(f"scenarios need a declared set: '{st.set_name}' is not one", st.span,
                          f"declare it first: set {st.set_name} = 1..100")
    if st.set_name in b.scenarios:
        raise TypeMismatch(f"scenarios of '{st.set_name}' are already declared", st.span)
    src = st.source
    n = len(s.elements)
    if n == 0:
        raise TypeMismatch(f"scenario set '{st.set_name}' is empty; scenarios need at least one "
                           "element", st.span)
    if src.name == "sample":
        seed_node = src.kwarg("seed")
        if seed_node is None:
            raise TypeMismatch("sample(…) needs a seed so results are reproducible", src.span,
                               "write sample(seed = 7)")
        seed = _seed(b.ev.constant(seed_node, env, "seed"), seed_node.span)
        probs = np.full(n, 1.0 / n)
        rng = np.random.default_rng(seed)
        for stmt in st.samples:
            _sample(b, stmt, s, rng, env)
    elif src.name == "equal":
        probs = np.full(n, 1.0 / n)
    elif src.name == "weights":
        if len(src.args) != 1 or src.kwargs:
            raise TypeMismatch(f"weights(…) takes one argument, the name of a parameter indexed "
                               f"over {st.set_name}; got {len(src.args) + len(src.kwargs)}",
                               src.span, f"write weights(p) with param p[{st.set_name}] = …")
        (arg,) = src.args
        p = b.ev.value(arg, env) if not isinstance(arg, ast.Ref) else None
        item = env.scope.lookup(arg.parts[0].name) if isinstance(arg, ast.Ref) else p
        if not isinstance(item, ParamData) or len(item.sets) != 1 or item.sets[0] is not s:
            raise TypeMismatch(f"weights(…) needs a parameter indexed over {st.set_name}",
                               arg.span)
        probs = np.array([float(item.get((e,), arg.span).value) for e in s.elements])
    elif src.name == "csv":
        if len(src.args) != 1 or not isinstance(src.args[0], ast.Str):
            raise TypeMismatch('csv() takes the file name first', src.span)
        col = _str_arg(b, src.kwarg("probability"), env, "probability") or "probability"
        key = _str_arg(b, src.kwarg("key"), env, "key") or st.set_name
        (table,) = load_columns(data_path(b, src.args[0].value, src.span), src.span, [key], [s],
                                [col], [False])
        probs = np.array([table[(e,)] for e in s.elements], float)
    else:
        raise TypeMismatch(f"unknown scenario source '{src.name}'", src.span,
                           "use sample(seed = …) { … }, csv(…), equal() or weights(p)")
    if st.samples and src.name != "sample":
        raise TypeMismatch("a sampling block needs `= sample(seed = …)`", st.span)
    if np.any(probs < 0) or abs(float(probs.sum()) - 1.0) > 1e-6:
        raise DataError(f"probabilities of scenario set '{st.set_name}' sum to "
                        f"{float(probs.sum()):.6g}, not 1" if np.all(probs >= 0) else
                        f"scenario set '{st.set_name}' has a negative probability", src.span)
    b.scenarios[st.set_name] = probs


def _seed(value: Scalar, span: Span) -> int:
    """A random seed: a non-negative integer without a unit."""
    x = value.value
    if np.ndim(x) != 0 or (value.unit is not None and U.plain_factor(value.unit) != 1.0) or \
            not np.isfinite(x) or not float(x).is_integer() or float(x) < 0:
        shown = f"{float(x):g}" if np.ndim(x) == 0 else "a vector"
        unit = f" {value.unit}" if value.unit is not None and value.unit.text else ""
        raise TypeMismatch(f"a seed must be a plain non-negative integer, got {shown}{unit}",
                           span)
    return int(x)


def _sample(b: Context, stmt: ast.SampleStmt, s: SetValue, rng: np.random.Generator,
            env: Env) -> None:
    items = stmt.index.items if stmt.index else ()
    where = stmt.index.where if stmt.index else None
    n = len(s.elements)
    data: dict[tuple[Label, ...], float | np.ndarray] = {}
    unit = None
    senv = Env(env.scope, env.bind, env.time, rng, n)
    # every index combination draws one value per scenario: refuse before drawing them all
    combos = 1
    for d in b.ev.domains(items, env):
        combos *= len(d.elements) if d is not None else 1
    check_size(n * combos, f"sampled parameter {stmt.name}", "values", stmt.span)
    # Draws are vectors: numpy reports overflow and NaN by warnings, which the evaluator's
    # arithmetic guard turns into located errors instead.
    keys: list[tuple[Label, ...]] = []
    rows: list[np.ndarray] = []
    specs: list[DrawSpec | None] = []
    with np.errstate(all="ignore"):
        for e2, key, _ in b.ev.iterate(items, where, senv):
            v = b.ev.constant(stmt.value, e2, f"sampled parameter '{stmt.name}'")
            if unit is None:
                unit = v.unit
            f = U.convert(v.unit, unit, stmt.value.span, stmt.name)
            vec = np.broadcast_to(np.asarray(v.value, float) * f, (n,))
            for lab, x in zip(s.elements, vec, strict=True):
                data[(lab, *key)] = float(x)
            keys.append(key)
            rows.append(np.array(vec, float))
            specs.append(_draw_spec(b, stmt, e2, f))
    sets: list[SetValue | None] = [s, *b.ev.domains(items, env)]
    env.scope.define(stmt.name, ParamData(stmt.name, sets, unit, stmt.span, data), stmt.span)
    b.sampled[stmt.name] = SampledParam(
        stmt.name, s.name, U.unit_text(unit), tuple(keys),
        np.array(rows).reshape(len(keys), n), tuple(specs))


class _Probe:
    """Stands for the random generator while a sampled value is evaluated once more: every
    draw returns ``value`` (and is recorded), so the value as a function of its draw can be
    read off at a few points (:func:`_draw_spec`)."""

    def __init__(self, value: float) -> None:
        self.value = value
        self.calls: list[tuple[str, tuple[float, ...]]] = []

    def _draw(self, name: str, *args: Any) -> np.ndarray:
        *params, size = args
        self.calls.append((name, tuple(float(np.asarray(a)) for a in params)))
        return np.full(size, self.value)

    def __getattr__(self, name: str) -> Any:
        if name in ("normal", "uniform", "lognormal", "triangular", "exponential", "beta",
                    "gamma", "poisson"):
            return lambda *args: self._draw(name, *args)
        if name == "random":  # bernoulli(p) draws rng.random(n) < p: not a density to load
            return lambda size: self._draw("bernoulli", size)
        raise AttributeError(name)


def _draw_spec(b: Context, stmt: ast.SampleStmt, env: Env, unit_factor: float
               ) -> DrawSpec | None:
    """The declaration of one sampled value as ``slope * D + intercept`` of one draw ``D``
    (None where it draws several times, or is not affine in its draw)."""
    first = _probe(b, stmt, env, 0.0)  # which draw, with which arguments
    if first is None or first[1][0] in ("poisson", "bernoulli"):
        return None
    from qgridlang.distributions import probe_points

    try:
        points = [float(x) for x in probe_points(*first[1])]
    except (UsageError, ValueError, IndexError):
        return None
    outs: list[float] = []
    for p in points:  # across the draw's range: max(normal(…), 0) is caught, not taken as affine
        got = _probe(b, stmt, env, p)
        if got is None or got[1] != first[1]:
            return None
        outs.append(got[0] * unit_factor)
    xs, ys = np.asarray(points), np.asarray(outs)
    if not np.all(np.isfinite(ys)) or np.ptp(xs) == 0.0:
        return None
    slope, intercept = np.polyfit(xs, ys, 1)
    if np.abs(slope * xs + intercept - ys).max() > 1e-9 * max(1.0, float(np.abs(ys).max())):
        return None  # not affine in its draw (exp(normal(…)), max(normal(…), 0))
    # the value at a draw of 0 is the intercept itself (no least-squares rounding)
    slope, intercept = float(slope), first[0] * unit_factor
    name, args = first[1]
    return DrawSpec(name, args, slope, intercept)


def _probe(b: Context, stmt: ast.SampleStmt, env: Env, value: float
           ) -> tuple[float, tuple[str, tuple[float, ...]]] | None:
    """The sampled value when its one draw returns ``value``, and that draw (None: it draws
    more than once, or fails there)."""
    probe = _Probe(value)
    e = Env(env.scope, env.bind, env.time, probe, 1)  # type: ignore[arg-type]
    try:
        v = b.ev.constant(stmt.value, e, stmt.name)
    except QglError:
        return None
    if len(probe.calls) != 1 or np.size(v.value) != 1:
        return None
    return float(np.asarray(v.value).ravel()[0]), probe.calls[0]
