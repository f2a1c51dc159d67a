"""The `surrogate` declaration and its use as a function, ``ec(price)[t]``.

A declaration becomes a :class:`~qgridlang.surrogates.spec.SurrogateSpec` (checked settings,
located errors). A call's argument is one indexed parameter or variable over the surrogate's
index set:

- **a parameter**: the call is evaluated here, once per argument, with the trained artifact
  named by ``trained = "…"`` (refused when the declaration changed since training); its values
  are constants in the response's unit, so the model stays a MILP/QP and every target takes it;
- **a variable**: the response becomes columns ``ec(price)[t]`` of its own, linked to the
  argument's columns by the surrogate (a :class:`SurrogateLink` on the flat model). The model is
  then a differentiable program, not a MILP: targets that need a linear or quadratic model
  refuse it at the call (:func:`refuse_links`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qgridlang import ast
from qgridlang.errors import Span, TypeMismatch, UnknownName, did_you_mean
from qgridlang.semantics import units as U
from qgridlang.semantics.evaluate import Env, Suppressed
from qgridlang.semantics.scope import ExprData, ParamData, Poisoned, VarData
from qgridlang.semantics.values import Affine, Elem, Scalar, SetValue
from qgridlang.surrogates.spec import DataSource, SurrogateSpec

SETTINGS = ("ansatz", "data", "epochs", "learning_rate", "batch", "seed", "patience", "trained")
SAMPLE_OPTIONS = ("model", "n", "seed", "mean", "lower", "upper", "sigma", "length", "output",
                  "price_param")


@dataclass(frozen=True)
class SurrogateLink:
    """``out = surrogate(M x + m)``: the response columns ``output_start …`` are the surrogate
    of an affine map of the model's columns (the argument: a variable, ``M`` a selection, or a
    named expression affine in variables), in the surrogate's input unit."""

    surrogate: str
    input_name: str  # the argument ("price")
    input_rows: tuple[int, ...]  # M as triplets: row (position in the index set) …
    input_cols: tuple[int, ...]  # … column …
    input_vals: tuple[float, ...]  # … coefficient (the unit factor included)
    input_offset: tuple[float, ...]  # m, one per element of the index set
    output_start: int  # the response's columns: output_start .. output_start + len - 1
    span: Span

    @property
    def length(self) -> int:
        return len(self.input_offset)


def declare(b: Any, st: ast.SurrogateDecl, env: Env) -> None:
    """Check a declaration and record its spec on the builder."""
    if st.name in b.surrogates:
        raise TypeMismatch(f"surrogate '{st.name}' is already declared at line "
                           f"{b.surrogates[st.name].span.line}", st.span)
    if env.scope.lookup(st.name) is not None:
        raise TypeMismatch(f"'{st.name}' is already declared", st.span,
                           "a surrogate is called like a function: give it a name of its own")
    sets = [_index_set(env, side) for side in (st.input, st.output)]
    if sets[0].name != sets[1].name:
        raise TypeMismatch(f"both sides of surrogate '{st.name}' must run over one index set, "
                           f"got {st.input.index} and {st.output.index}", st.output.span)
    units = [U.unit_text(U.unit_at(s.unit.text, s.unit.span)) if s.unit else ""
             for s in (st.input, st.output)]
    given: dict[str, ast.SurrogateSetting] = {}
    for s in st.settings:
        if s.key not in SETTINGS:
            raise UnknownName(f"surrogate '{st.name}' has no setting '{s.key}'", s.span,
                              did_you_mean(s.key, SETTINGS) or f"settings: {', '.join(SETTINGS)}")
        if s.key in given:
            raise TypeMismatch(f"setting '{s.key}' is given twice", s.span,
                               f"the first is at line {given[s.key].span.line}")
        given[s.key] = s
    if "ansatz" not in given:
        raise TypeMismatch(f"surrogate '{st.name}' needs an ansatz", st.span,
                           "e.g. ansatz = qtcn_lstm(qubits = 8, layers = 3, hidden = 3)")
    ansatz, options = _ansatz(b, given["ansatz"].value, env)
    numbers: dict[str, Any] = {}
    for key, kind in (("epochs", int), ("batch", int), ("seed", int), ("patience", int),
                      ("learning_rate", float)):
        if key in given:
            numbers[key] = _number(b, given[key].value, env, key, kind)
    data = _data(b, given["data"].value, env) if "data" in given else None
    trained = None
    if "trained" in given:
        node = given["trained"].value
        if not isinstance(node, ast.Str):
            raise TypeMismatch("trained = \"file.qgls\": the trained artifact's file name",
                               node.span)
        trained = node.value
    b.surrogates[st.name] = SurrogateSpec(
        name=st.name, input_name=st.input.name, output_name=st.output.name,
        index=sets[0].name, length=len(sets[0].elements), input_unit=units[0],
        output_unit=units[1], ansatz=ansatz, options=options, data=data, trained=trained,
        span=st.span, source_file=st.span.file or None, **numbers)


def _index_set(env: Env, side: ast.SurrogateSide) -> SetValue:
    item = env.scope.lookup(side.index)
    if not isinstance(item, SetValue):
        raise UnknownName(f"'{side.index}' is not a set", side.span,
                          did_you_mean(side.index, [n for n in env.scope.names()
                                                    if isinstance(env.scope.lookup(n), SetValue)]))
    return item


def _ansatz(b: Any, node: ast.Expr, env: Env) -> tuple[str, dict[str, Any]]:
    from qgridlang.surrogates.registry import ANSATZE, ansatz_keywords

    return named_options(b, node, env, "ansatz", sorted(ANSATZE), ansatz_keywords, "layers = 3")


def named_options(b: Any, node: ast.Expr, env: Env, what: str, names: Any,
                  keywords: Any, example: str) -> tuple[str, dict[str, Any]]:
    """``what = name(option = value, …)`` (or a bare ``name``) with ``name`` in ``names`` and
    the options ``keywords(name)`` allows: the name and the evaluated options."""
    kwargs: tuple[tuple[str, ast.Expr], ...] = ()
    args: tuple[ast.Expr, ...] = ()
    listing = f"{'ansätze' if what == 'ansatz' else what + 's'}: {', '.join(names)}"
    if isinstance(node, ast.Ref) and len(node.parts) == 1 and node.parts[0].index is None:
        name = node.parts[0].name
    elif isinstance(node, ast.Call):
        name, kwargs, args = node.name, node.kwargs, node.args
    else:
        raise TypeMismatch(f"{what} = name(option = value, …)", node.span, listing)
    if name not in names:
        raise UnknownName(f"unknown {what} '{name}'", node.span,
                          did_you_mean(name, names) or listing)
    if args:
        raise TypeMismatch(f"{name}(…) takes options by name, e.g. {name}({example})",
                           args[0].span)
    allowed = keywords(name)
    options: dict[str, Any] = {}
    for key, value in kwargs:
        if key not in allowed:
            raise UnknownName(f"{what} '{name}' has no option '{key}'", value.span,
                              did_you_mean(key, allowed) or f"options: {', '.join(allowed)}")
        options[key] = _option(b, value, env, key)
    return name, options


def _option(b: Any, node: ast.Expr, env: Env, key: str) -> Any:
    if isinstance(node, ast.Str):
        return node.value
    if isinstance(node, ast.TupleExpr):
        return tuple(_number(b, x, env, key, int) for x in node.items)
    v = b.ev.constant(node, env, f"option '{key}'")
    x = float(v.value)
    return int(x) if x.is_integer() else x


def _number(b: Any, node: ast.Expr, env: Env, key: str, kind: type) -> Any:
    v = b.ev.constant(node, env, f"setting '{key}'")
    if v.unit is not None and U.unit_text(v.unit):
        raise TypeMismatch(f"'{key}' is a plain number, got {U.describe(v.unit)}", node.span)
    x = float(v.value)
    if kind is int and (not x.is_integer() or x < (0 if key == "seed" else 1)):
        raise TypeMismatch(f"'{key}' must be a {'non-negative' if key == 'seed' else 'positive'}"
                           f" whole number, got {x:g}", node.span)
    if kind is float and not (math.isfinite(x) and x > 0):
        raise TypeMismatch(f"'{key}' must be positive, got {x:g}", node.span)
    return int(x) if kind is int else x


def _data(b: Any, node: ast.Expr, env: Env) -> DataSource:
    if isinstance(node, ast.Str):
        if not node.value.endswith(".npz"):
            raise TypeMismatch("data = \"file.npz\" (written by `qglc sample-responses`) or "
                               "sample(model = \"community.qgl\", n = …)", node.span)
        return DataSource("file", node.value, span=node.span)
    if isinstance(node, ast.Call) and node.name == "sample":
        if node.args:
            raise TypeMismatch("sample(model = \"x.qgl\", n = 10240, …) takes options by name",
                               node.args[0].span)
        opts: dict[str, Any] = {}
        for key, value in node.kwargs:
            if key not in SAMPLE_OPTIONS:
                raise UnknownName(f"sample() has no option '{key}'", value.span,
                                  did_you_mean(key, SAMPLE_OPTIONS) or
                                  f"options: {', '.join(SAMPLE_OPTIONS)}")
            opts[key] = _option(b, value, env, key)
        model = opts.pop("model", None)
        if not isinstance(model, str) or "n" not in opts:
            raise TypeMismatch("sample(…) needs model = \"community.qgl\" and n = samples",
                               node.span)
        return DataSource("sample", model, opts, span=node.span)
    raise TypeMismatch("data = \"file.npz\" or sample(model = \"community.qgl\", n = …)",
                       node.span)


# ---- calls --------------------------------------------------------------------------------
def call_value(b: Any, node: ast.CallIndex, env: Env) -> Scalar | Affine:
    """``ec(price)[t]``: a constant (an argument of parameters) or a response column (an
    argument of variables)."""
    call = node.call
    spec: SurrogateSpec | None = b.surrogates.get(call.name)
    if spec is None:
        raise UnknownName(f"'{call.name}' is not a surrogate", call.span,
                          did_you_mean(call.name, b.surrogates) or
                          "only a surrogate's response can be indexed: name(argument)[t]")
    if len(call.args) != 1 or call.kwargs or not _bare(call.args[0]):
        raise TypeMismatch(f"{spec.name}(…) takes one argument: a parameter, variable or named "
                           f"expression over {spec.index}, by name, e.g. "
                           f"{spec.name}({spec.input_name})", call.span)
    arg = call.args[0]
    assert isinstance(arg, ast.Ref)
    item = env.scope.lookup(arg.parts[0].name)
    if isinstance(item, Poisoned):
        raise Suppressed()
    if not isinstance(item, ParamData | VarData | ExprData):
        raise TypeMismatch(f"the argument of {spec.name}(…) must be a parameter, a variable or "
                           f"a named expression indexed over {spec.index}", arg.span)
    if len(item.sets) != 1 or item.sets[0] is None or item.sets[0].name != spec.index:
        over = ", ".join(s.name if s else "?" for s in item.sets) or "nothing"
        raise TypeMismatch(f"'{item.name}' is indexed over [{over}]; {spec.name}(…) takes one "
                           f"over [{spec.index}]", arg.span)
    if len(node.index) != 1:
        raise TypeMismatch(f"{spec.name}(…) is indexed by one element of {spec.index}",
                           node.span)
    elem = b.ev.value(node.index[0], env)
    if not isinstance(elem, Elem) or elem.set.name != spec.index:
        raise TypeMismatch(f"index {spec.name}(…) by an element of {spec.index}, e.g. "
                           f"{spec.name}({spec.input_name})[t]", node.index[0].span)
    pos = elem.set.position[elem.value]
    out_unit = U.unit_at(spec.output_unit, spec.span) if spec.output_unit else None
    if isinstance(item, ParamData):
        values = _evaluated(b, spec, item, call, elem.set)
        return Scalar(float(values[pos]), out_unit)
    if isinstance(item, ExprData):
        done = b.surrogate_columns.get((spec.name, item.name))
        if done is not None:
            return Affine.var(done + pos, out_unit)
        got = _expression(b, spec, item, call, elem.set)
        if isinstance(got, np.ndarray):  # an expression of parameters only
            return Scalar(float(got[pos]), out_unit)
        start = _linked(b, spec, item.name, got, call, elem.set, out_unit)
        return Affine.var(start + pos, out_unit)
    start = _linked(b, spec, item.name, _selection(b, spec, item, call, elem.set), call,
                    elem.set, out_unit)
    return Affine.var(start + pos, out_unit)


def _bare(node: ast.Expr) -> bool:
    return isinstance(node, ast.Ref) and len(node.parts) == 1 and node.parts[0].index is None


def _evaluated(b: Any, spec: SurrogateSpec, item: ParamData, call: ast.Call,
               index: SetValue) -> np.ndarray:
    key = (spec.name, id(item))
    if key not in b.surrogate_values:
        x = np.array([float(item.get((e,), call.span).value) for e in index.elements])
        b.surrogate_values[key] = _predict(b, spec, x * _factor(spec, item.unit, call), call)
    return b.surrogate_values[key]  # type: ignore[no-any-return]


def _predict(b: Any, spec: SurrogateSpec, x: np.ndarray, call: ast.Call) -> np.ndarray:
    if b.defer_surrogates:
        return np.zeros(len(x))  # `qglc train` checks the model without it
    return np.asarray(trained(b, spec, call.span).predict(x), float)


def _factor(spec: SurrogateSpec, unit: U.Unit | None, call: ast.Call) -> float:
    """The argument's unit -> the surrogate's input unit."""
    if not spec.input_unit:
        return 1.0
    return U.convert(unit, U.unit_at(spec.input_unit, spec.span), call.span,
                     f"the argument of {spec.name}(…)")


Affinemap = tuple[list[int], list[int], list[float], list[float]]  # rows, cols, vals, offset


def _selection(b: Any, spec: SurrogateSpec, item: VarData, call: ast.Call,
               index: SetValue) -> Affinemap:
    cols = [item.cols.get((e,)) for e in index.elements]
    if any(c is None for c in cols):
        raise TypeMismatch(f"'{item.name}' lacks elements of {spec.index}; {spec.name}(…) needs "
                           "the whole vector", call.span)
    f = _factor(spec, item.unit, call)
    n = len(cols)
    return list(range(n)), [int(c) for c in cols if c is not None], [f] * n, [0.0] * n


def _expression(b: Any, spec: SurrogateSpec, item: ExprData, call: ast.Call,
                index: SetValue) -> np.ndarray | Affinemap:
    """A named expression's elements: their values (parameters only: the surrogate is
    evaluated) or their affine map of the model's columns."""
    key = (spec.name, id(item))
    if key in b.surrogate_values:
        return b.surrogate_values[key]  # type: ignore[no-any-return]
    got = [b.expr_value(item, (e,), call.span) for e in index.elements]
    f = _factor(spec, item.unit, call)
    if all(isinstance(v, Scalar) for v in got):
        x = np.array([float(v.value) for v in got]) * f
        b.surrogate_values[key] = _predict(b, spec, x, call)
        return b.surrogate_values[key]  # type: ignore[no-any-return]
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    offset: list[float] = []
    for r, v in enumerate(got):
        if isinstance(v, Affine) and v.quad:
            raise TypeMismatch(f"the argument of {spec.name}(…) must be affine in the "
                               f"variables; '{item.name}' has a product of variables",
                               call.span)
        if isinstance(v, Scalar):
            offset.append(float(v.value) * f)
            continue
        offset.append(float(v.const) * f)
        for c, a in v.lin.items():
            rows.append(r)
            cols.append(int(c))
            vals.append(float(a) * f)
    return rows, cols, vals, offset


def trained(b: Any, spec: SurrogateSpec, span: Span) -> Any:
    """The spec's trained artifact (loaded once per check)."""
    if spec.name in b.trained_surrogates:
        return b.trained_surrogates[spec.name]
    if spec.trained is None:
        raise TypeMismatch(
            f"surrogate '{spec.name}' has no trained artifact to evaluate", span,
            f"train it (qglc train MODEL --surrogate {spec.name} -o {spec.name}.qgls) and add "
            f"trained = \"{spec.name}.qgls\" to its declaration")
    from qgridlang.surrogates.artifact import load_artifact

    art = load_artifact(_artifact_path(b, spec), spec, spec.span)
    b.trained_surrogates[spec.name] = art
    return art


def _artifact_path(b: Any, spec: SurrogateSpec) -> Path:
    path = Path(spec.trained or "")
    return path if path.is_absolute() else b.base_dir / path


def _linked(b: Any, spec: SurrogateSpec, name: str, amap: Affinemap, call: ast.Call,
            index: SetValue, out_unit: U.Unit | None) -> int:
    key = (spec.name, name)
    if key in b.surrogate_columns:
        return b.surrogate_columns[key]  # type: ignore[no-any-return]
    if spec.trained is not None and not b.defer_surrogates and _artifact_path(b, spec).exists():
        # the program target evaluates it (and reports a missing one); a changed declaration
        # is refused here, at check time
        trained(b, spec, call.span)
    start = b.new_columns(f"{spec.name}({name})", "real", out_unit,
                          [(e,) for e in index.elements], -math.inf, math.inf, call.span,
                          (spec.index,))
    b.surrogate_columns[key] = start
    rows, cols, vals, offset = amap
    b.surrogate_links.append(SurrogateLink(spec.name, name, tuple(rows), tuple(cols),
                                           tuple(vals), tuple(offset), start, call.span))
    return start


def refuse_links(flat: Any, target: Any) -> None:
    """A target that needs a linear or quadratic model (``DIFFERENTIABLE`` false) refuses
    surrogate links, at the call."""
    from qgridlang.registry import differentiable_targets

    links = getattr(flat, "surrogate_links", ())
    if links and not target.DIFFERENTIABLE:
        link = links[0]
        accepting = ", ".join(differentiable_targets())
        raise TypeMismatch(
            f"{link.surrogate}({link.input_name}) depends on variable '{link.input_name}': this "
            f"model is a differentiable program, which target '{target.name}' does not take",
            link.span, f"targets that take it: {accepting}; to solve with a "
            f"MILP, QUBO or QAOA target, make '{link.input_name}' a parameter (the surrogate is "
            "then evaluated when the model is checked)")
