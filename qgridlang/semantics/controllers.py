"""``controller`` and ``simulate`` declarations, checked and lowered to the control specs.

A controller with ``minimize`` is an MPC (its stage cost a convex quadratic in the system's
states and inputs, outputs substituted); one with ``kp``/``ki``/``kd`` is a PID. ``like other``
copies another controller's settings, objective and constraints; its own override them. Every
setting with a unit is converted (``step = 100 ms`` is 0.1 s; a PID's ``ki`` is in the input's
unit per measured unit per second, a bare number taken as that).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qgridlang import ast
from qgridlang.control.spec import (
    Bound,
    ControllerSpec,
    DisturbanceProfile,
    MPCSpec,
    PIDSpec,
    PredictorSpec,
    SimulationSpec,
)
from qgridlang.errors import (
    LimitExceeded,
    Span,
    TypeMismatch,
    UnitMismatch,
    UnknownName,
    UnsupportedConstruct,
    did_you_mean,
)
from qgridlang.semantics import units as U
from qgridlang.semantics.evaluate import Env
from qgridlang.semantics.symbolic import Poly, Sym, SymbolicEvaluator
from qgridlang.semantics.systems import SystemData

PID_SETTINGS = ("measure", "input", "kp", "ki", "kd", "filter", "step", "setpoint", "tracking")
MPC_SETTINGS = ("step", "horizon", "control_horizon", "terminal", "predictor", "observer",
                "soft")
SIM_SETTINGS = ("seed", "dt", "measure", "band")
PROFILES = {
    "step": ("at", "size"),
    "normal": ("sigma", "hold", "mean", "start"),
    "constant": ("value",),
}
# the most plant steps one simulation may take (duration / dt), estimated before anything runs
MAX_SIM_STEPS = 5_000_000


@dataclass
class ControllerData:
    """A declaration with ``like`` resolved: settings, objective and bounds, and the result."""

    decl: ast.ControllerDecl
    settings: dict[str, ast.SurrogateSetting] = field(default_factory=dict)
    objective: ast.ControllerObjective | None = None
    bounds: tuple[ast.ControllerBound, ...] = ()
    spec: ControllerSpec | None = None


def declare_controller(b: Any, st: ast.ControllerDecl) -> None:
    if st.name in b.controllers:
        raise TypeMismatch(f"controller '{st.name}' is already declared at line "
                           f"{b.controllers[st.name].decl.span.line}", st.span)
    sysdata = _system(b, st.system, st.span)
    data = ControllerData(st)
    for name, span in st.likes:
        other = b.controllers.get(name)
        if other is None:
            raise UnknownName(f"no controller '{name}' declared before this one", span,
                              did_you_mean(name, b.controllers) or
                              "`like` copies a controller declared above")
        if other.decl.system != st.system:
            raise TypeMismatch(f"controller '{name}' is for system '{other.decl.system}', not "
                               f"'{st.system}'", span)
        data.settings.update(other.settings)
        data.objective = other.objective or data.objective
        data.bounds = other.bounds or data.bounds
    own: dict[str, ast.SurrogateSetting] = {}
    for s in st.settings:
        if s.key in own:
            raise TypeMismatch(f"setting '{s.key}' is given twice", s.span,
                               f"the first is at line {own[s.key].span.line}")
        own[s.key] = s
    data.settings.update(own)
    if st.objective is not None:
        data.objective = st.objective
    if st.bounds:
        data.bounds = st.bounds
    env = Env(sysdata.scope)
    if data.objective is not None:
        _refuse(data.settings, MPC_SETTINGS, st, "an MPC (it has `minimize`)",
                [k for k in PID_SETTINGS if k not in MPC_SETTINGS])
        data.spec = _mpc(b, st, data, sysdata, env)
    elif any(k in data.settings for k in ("kp", "ki", "kd")):
        _refuse(data.settings, PID_SETTINGS, st, "a PID (it has kp/ki/kd)",
                [k for k in MPC_SETTINGS if k not in PID_SETTINGS])
        if data.bounds:
            raise TypeMismatch("a PID takes no `subject to`: its output is clipped to the "
                               "input's range", data.bounds[0].span,
                               "declare the range on the input: input u: pu in -1 .. 1")
        data.spec = _pid(b, st, data, sysdata, env)
    else:
        raise TypeMismatch(f"controller '{st.name}' is neither an MPC nor a PID", st.span,
                           "an MPC has `minimize sum(k) …` (and step, horizon); a PID has "
                           "kp, ki, kd")
    b.controllers[st.name] = data


def _system(b: Any, name: str, span: Span) -> SystemData:
    data = b.systems.get(name)
    if data is None:
        raise UnknownName(f"no system '{name}'", span,
                          did_you_mean(name, b.systems) or "declare it: system NAME { … }")
    return data


def _refuse(settings: dict[str, ast.SurrogateSetting], known: tuple[str, ...],
            st: ast.ControllerDecl, what: str, other: list[str]) -> None:
    for key, s in settings.items():
        if key not in known:
            hint = (f"'{key}' belongs to the other kind of controller" if key in other else
                    did_you_mean(key, known) or f"settings: {', '.join(known)}")
            raise UnknownName(f"controller '{st.name}' is {what} and has no setting '{key}'",
                              s.span, hint)


# ---- values -------------------------------------------------------------------------------
def _number(b: Any, s: ast.SurrogateSetting, env: Env, unit: U.Unit | None, what: str) -> float:
    """A setting's value in ``unit`` (a bare number is taken in it)."""
    v = b.ev.constant(s.value, env, f"setting '{s.key}'")
    value = np.asarray(v.value, float)
    if value.ndim:
        raise TypeMismatch(f"setting '{s.key}' is one number", s.value.span)
    try:
        x = float(value) * U.into(v.unit, unit, s.value.span, f"setting '{s.key}'")
    except UnitMismatch:
        raise UnitMismatch(f"setting '{s.key}' is {what}, not {U.describe(v.unit)}",
                           s.value.span) from None
    if not math.isfinite(x):
        raise TypeMismatch(f"setting '{s.key}' must be finite", s.value.span)
    return x


def _seconds(b: Any, s: ast.SurrogateSetting, env: Env, positive: bool = True) -> float:
    v = b.ev.constant(s.value, env, f"setting '{s.key}'")
    if v.unit is None or U.factor(v.unit, U.unit_at("s", None)) is None:
        raise UnitMismatch(f"setting '{s.key}' is a time, not {U.describe(v.unit)}",
                           s.value.span, f"write it with its unit: {s.key} = "
                           f"{float(np.asarray(v.value)):g} s")
    x = _number(b, s, env, U.unit_at("s", None), "a time")
    if positive and not x > 0:
        raise TypeMismatch(f"setting '{s.key}' must be positive, got {x:g} s", s.value.span)
    return x


def _count(b: Any, s: ast.SurrogateSetting, env: Env, least: int = 1) -> int:
    x = _number(b, s, env, None, "a whole number")
    if x != int(x) or x < least:
        raise TypeMismatch(f"setting '{s.key}' must be a whole number of at least {least}, got "
                           f"{x:g}", s.value.span)
    return int(x)


def _word(s: ast.SurrogateSetting, choices: tuple[str, ...]) -> str:
    node = s.value
    if isinstance(node, ast.Ref) and len(node.parts) == 1 and node.parts[0].index is None \
            and node.parts[0].name in choices:
        return node.parts[0].name
    raise TypeMismatch(f"setting '{s.key}' is one of: {', '.join(choices)}", node.span)


def _signal_ref(node: ast.Expr, sysdata: SystemData, kinds: tuple[str, ...], what: str
                ) -> tuple[str, int, str]:
    spec = sysdata.spec
    if not (isinstance(node, ast.Ref) and len(node.parts) == 1 and node.parts[0].index is None):
        raise TypeMismatch(f"{what} is a signal name of system '{spec.name}'", node.span)
    name = node.parts[0].name
    try:
        kind, i = spec.position(name)
    except KeyError:
        names = [s.name for g in (spec.states, spec.inputs, spec.disturbances, spec.outputs)
                 for s in g]
        raise UnknownName(f"system '{spec.name}' has no signal '{name}'", node.span,
                          did_you_mean(name, names)) from None
    if kind not in kinds:
        raise TypeMismatch(f"{what} must be {' or '.join(kinds)}; '{name}' is {kind}",
                           node.span)
    return kind, i, name


# ---- PID -----------------------------------------------------------------------------------
def _pid(b: Any, st: ast.ControllerDecl, data: ControllerData, sysdata: SystemData, env: Env
         ) -> PIDSpec:
    spec = sysdata.spec
    g = data.settings
    if "measure" in g:
        kind, mi, mname = _signal_ref(g["measure"].value, sysdata, ("state", "output"),
                                      "measure")
    else:
        kind, mi, mname = "state", 0, spec.states[0].name
    if "input" in g:
        _, ui, uname = _signal_ref(g["input"].value, sysdata, ("input",), "input")
    elif len(spec.inputs) == 1:
        ui, uname = 0, spec.inputs[0].name
    else:
        raise TypeMismatch(f"system '{spec.name}' has {len(spec.inputs)} inputs: say which "
                           "this PID drives", st.span, "input = NAME")
    y_unit, u_unit = sysdata.units[mname], sysdata.units[uname]
    per_s = U.unit_at("1/s", None)
    s_unit = U.unit_at("s", None)
    gain, _ = U.divide(u_unit or U.DIMENSIONLESS, y_unit or U.DIMENSIONLESS)
    gain_i, _ = U.multiply(gain, per_s)
    gain_d, _ = U.multiply(gain, s_unit)

    def val(key: str, unit: U.Unit, default: float) -> float:
        if key not in g:
            return default
        return _number(b, g[key], env, unit, f"in {U.unit_text(unit) or 'plain numbers'}")

    kp, ki, kd = val("kp", gain, 0.0), val("ki", gain_i, 0.0), val("kd", gain_d, 0.0)
    filt = val("filter", per_s, 100.0)
    if not filt > 0:
        raise TypeMismatch("filter (N, the derivative filter's bandwidth) must be positive",
                           g["filter"].value.span)
    step = _seconds(b, g["step"], env) if "step" in g else 0.01
    setpoint = val("setpoint", y_unit or U.DIMENSIONLESS, 0.0)
    tracking = val("tracking", per_s, 0.0) if "tracking" in g else None
    return PIDSpec(st.name, spec.name, (kind, mi), ui, kp, ki, kd, filt, step,  # type: ignore[arg-type]
                   setpoint, tracking, st.span)


# ---- MPC -----------------------------------------------------------------------------------
def _mpc(b: Any, st: ast.ControllerDecl, data: ControllerData, sysdata: SystemData, env: Env
         ) -> MPCSpec:
    spec = sysdata.spec
    g = data.settings
    if spec.linear is None:
        raise UnsupportedConstruct(f"MPC needs a linear system; system '{spec.name}' has an "
                                   "equation that is not affine in its signals", st.span,
                                   "write its `der` equations affine (a linearisation), or "
                                   "use a PID")
    for key in ("step", "horizon"):
        if key not in g:
            raise TypeMismatch(f"MPC '{st.name}' needs `{key}`", st.span,
                               "e.g. step = 0.1 s; horizon = 20")
    step = _seconds(b, g["step"], env)
    horizon = _count(b, g["horizon"], env)
    from qgridlang.limits import SIZE_HINT, current

    size = horizon * (len(spec.states) + len(spec.inputs) + len(spec.outputs))
    if size > current().max_size:
        raise LimitExceeded(f"MPC '{st.name}': a horizon of {horizon} steps makes a QP with "
                            f"{size:,} predicted values (the limit is {current().max_size:,})",
                            g["horizon"].value.span, SIZE_HINT)
    ch = _count(b, g["control_horizon"], env) if "control_horizon" in g else horizon
    if ch > horizon:
        raise TypeMismatch(f"control_horizon ({ch}) exceeds the horizon ({horizon})",
                           g["control_horizon"].value.span)
    terminal = _word(g["terminal"], ("dare", "none")) if "terminal" in g else "dare"
    observer = _word(g["observer"], ("kalman", "none")) if "observer" in g else "kalman"
    soft = _word(g["soft"], ("true", "false")) == "true" if "soft" in g else True
    predictor = _predictor(b, g.get("predictor"), sysdata, env)
    assert data.objective is not None
    H, h = _stage_cost(b, data.objective, sysdata, env)
    bounds = _bounds(b, data.bounds, sysdata, env)
    return MPCSpec(st.name, spec.name, step, horizon, ch, H, h, bounds, terminal,  # type: ignore[arg-type]
                   predictor, observer, soft, st.span)  # type: ignore[arg-type]


def _predictor(b: Any, s: ast.SurrogateSetting | None, sysdata: SystemData, env: Env
               ) -> PredictorSpec:
    from qgridlang.control.predictors import OPTIONS, check_options

    spec = sysdata.spec
    if s is None:
        return PredictorSpec("persistence", {}, 0, None)
    node = s.value
    if isinstance(node, ast.Ref) and len(node.parts) == 1 and node.parts[0].index is None:
        kind, args, kwargs = node.parts[0].name, (), ()
    elif isinstance(node, ast.Call):
        kind, args, kwargs = node.name, node.args, node.kwargs
    else:
        raise TypeMismatch("predictor = NAME(options)", node.span,
                           f"predictors: {', '.join(OPTIONS)}")
    if kind not in OPTIONS:
        raise UnknownName(f"unknown predictor '{kind}'", node.span,
                          did_you_mean(kind, OPTIONS) or f"predictors: {', '.join(OPTIONS)}")
    if args:
        raise TypeMismatch("predictor options are named: quantum_walk(position_qubits = 6)",
                           args[0].span)
    if not spec.disturbances:
        raise TypeMismatch(f"system '{spec.name}' has no disturbance to predict", node.span)
    options: dict[str, float | str] = {}
    signal = 0
    spans: dict[str, Span] = {}
    for key, value in kwargs:
        spans[key] = value.span
        if key == "signal":
            _, signal, _ = _signal_ref(value, sysdata, ("disturbance",), "signal")
            continue
        if isinstance(value, ast.Ref) and len(value.parts) == 1 and value.parts[0].index is None \
                and env.scope.lookup(value.parts[0].name) is None:
            options[key] = value.parts[0].name  # a word (`blend = adaptive`)
            continue
        v = b.ev.constant(value, env, f"option '{key}'")
        if key == "range":  # in the predicted disturbance's unit
            dunit = sysdata.units[spec.disturbances[signal].name]
            options[key] = float(np.asarray(v.value)) * U.into(v.unit, dunit, value.span,
                                                                "option 'range'")
        else:
            if v.unit is not None and U.plain_factor(v.unit) is None:
                raise UnitMismatch(f"option '{key}' is a plain number, not "
                                   f"{U.describe(v.unit)}", value.span)
            options[key] = float(np.asarray(v.value)) * (U.plain_factor(v.unit) or 1.0
                                                         if v.unit is not None else 1.0)
    pspec = PredictorSpec(kind, options, signal, node.span)  # type: ignore[arg-type]
    try:
        check_options(pspec)
    except (UnknownName, TypeMismatch) as exc:
        bad = next((k for k in spans if f"'{k}'" in exc.message), None)
        raise type(exc)(exc.message, spans[bad] if bad else node.span, exc.hint) from None
    return pspec


def _stage_cost(b: Any, obj: ast.ControllerObjective, sysdata: SystemData, env: Env
                ) -> tuple[np.ndarray, np.ndarray]:
    """``zᵀ H z + hᵀ z`` with ``z = [x; u]`` from ``minimize sum(k) …``."""
    spec = sysdata.spec
    n, m, p = len(spec.states), len(spec.inputs), len(spec.disturbances)
    size = n + m + p
    symbols = {s.name: (i, sysdata.units[s.name]) for i, s in
               enumerate(spec.states + spec.inputs + spec.disturbances)}
    ev = SymbolicEvaluator(symbols, size, lambda node: b.ev.constant(node, env, "this value"),
                           stage=obj.stage, substitute=sysdata.outputs)
    if obj.stage is None:
        raise TypeMismatch("an MPC's cost sums over the horizon: minimize sum(k) …",
                           obj.value.span, "e.g. minimize sum(k) 1e4 * df[k]^2 + ub[k]^2")
    cost: Sym = ev.eval(obj.value)
    if cost.poly is None:
        raise UnsupportedConstruct("an MPC's stage cost must be quadratic in the signals",
                                   obj.value.span, "squares and products of signals, times "
                                   "weights: q * df[k]^2 + r * ub[k]^2")
    poly: Poly = cost.poly if obj.sense == "min" else cost.poly.scaled(-1.0)
    Q = (poly.Q + poly.Q.T) / 2
    if np.any(Q[n + m:]) or np.any(poly.g[n + m:]):
        raise TypeMismatch("the cost uses a disturbance (directly or through an output); a "
                           "controller cannot choose it", obj.value.span)
    H, h = Q[:n + m, :n + m], poly.g[:n + m]
    eig = np.linalg.eigvalsh(H) if H.size else np.zeros(0)
    if eig.size and eig.min() < -1e-9 * max(1.0, float(np.abs(eig).max())):
        raise UnsupportedConstruct("the stage cost is not convex (its quadratic form has a "
                                   f"negative eigenvalue, {eig.min():.3g})", obj.value.span,
                                   "minimize squares with positive weights")
    return H, h


def _bounds(b: Any, nodes: tuple[ast.ControllerBound, ...], sysdata: SystemData, env: Env
            ) -> tuple[Bound, ...]:
    spec = sysdata.spec
    out: list[Bound] = [Bound("input", i, s.lower, s.upper, s.span)
                        for i, s in enumerate(spec.inputs)
                        if s.lower is not None or s.upper is not None]
    for bn in nodes:
        node = bn.value
        rate = isinstance(node, ast.Call) and node.name == "change"
        if rate:
            assert isinstance(node, ast.Call)
            if len(node.args) != 1 or node.kwargs:
                raise TypeMismatch("change(u) takes one input", node.span)
            kind, i, name = _signal_ref(node.args[0], sysdata, ("input",), "change(…)")
        else:
            kind, i, name = _signal_ref(node, sysdata, ("state", "input", "output"),
                                        "`subject to` constrains a signal or change(input); it")
        unit = sysdata.units[name]
        lo, hi = (_value_in(b, x, unit, env) for x in (bn.low, bn.high))
        if lo > hi:
            raise TypeMismatch(f"{name} in {lo:g} .. {hi:g}: the range is empty", bn.span)
        out.append(Bound("rate" if rate else kind, i, lo, hi, bn.span))  # type: ignore[arg-type]
    return tuple(out)


def _value_in(b: Any, node: ast.Expr, unit: U.Unit | None, env: Env) -> float:
    v = b.ev.constant(node, env, "a bound")
    return float(np.asarray(v.value)) * U.into(v.unit, unit, node.span, "the bound")


# ---- simulate ------------------------------------------------------------------------------
def declare_simulation(b: Any, st: ast.SimulateDecl) -> None:
    sysdata = _system(b, st.system, st.span)
    spec = sysdata.spec
    env = Env(sysdata.scope)
    label = st.label or st.system
    if label in b.simulations:
        raise TypeMismatch(f"a simulation '{label}' is already declared at line "
                           f"{b.simulations[label].span.line}", st.span,
                           "name each one: simulate … as NAME { … }")
    duration = _seconds(b, ast.SurrogateSetting(span=st.duration.span, key="for",
                                                value=st.duration), env)
    if st.controller is not None:
        c = b.controllers.get(st.controller)
        if c is None:
            raise UnknownName(f"no controller '{st.controller}'", st.span,
                              did_you_mean(st.controller, b.controllers))
        if c.decl.system != st.system:
            raise TypeMismatch(f"controller '{st.controller}' is for system "
                               f"'{c.decl.system}', not '{st.system}'", st.span)
    dist_names = [d.name for d in spec.disturbances]
    profiles: list[DisturbanceProfile] = []
    seed, dt, band = 0, 0.01, None
    measure = spec.outputs[0].name if spec.outputs else spec.states[0].name
    given: dict[str, Span] = {}
    for s in st.settings:
        if s.key in given:
            raise TypeMismatch(f"'{s.key}' is given twice", s.span,
                               f"the first is at line {given[s.key].line}")
        given[s.key] = s.span
        if s.key in dist_names:
            profiles.append(_profile(b, s, dist_names.index(s.key), sysdata, env))
        elif s.key == "seed":
            seed = _count(b, s, env, least=0)
        elif s.key == "dt":
            dt = _seconds(b, s, env)
        elif s.key == "measure":
            _, _, measure = _signal_ref(s.value, sysdata, ("state", "output"), "measure")
        elif s.key == "band":
            continue  # converted below, in the unit of `measure` (which may come later)
        else:
            raise UnknownName(f"simulate has no setting '{s.key}'", s.span,
                              did_you_mean(s.key, [*dist_names, *SIM_SETTINGS]) or
                              f"give a disturbance's profile ({', '.join(dist_names) or '-'}) "
                              f"or one of: {', '.join(SIM_SETTINGS)}")
    for s in st.settings:
        if s.key == "band":
            band = _number(b, s, env, sysdata.units[measure],
                           f"in {U.describe(sysdata.units[measure])} (the measured signal's "
                           "unit)")
            if not band > 0:
                raise TypeMismatch("band must be positive", s.value.span)
    steps = duration / dt
    if steps > MAX_SIM_STEPS:
        raise LimitExceeded(f"simulating {duration:g} s at dt = {dt:g} s takes {steps:,.0f} "
                            f"steps (the limit is {MAX_SIM_STEPS:,})", st.span,
                            "raise dt or shorten the simulation")
    b.simulations[label] = SimulationSpec(st.system, duration, st.controller, tuple(profiles),
                                          seed, dt, measure, band, st.span)


def _profile(b: Any, s: ast.SurrogateSetting, index: int, sysdata: SystemData, env: Env
             ) -> DisturbanceProfile:
    node = s.value
    name = sysdata.spec.disturbances[index].name
    unit = sysdata.units[name]
    if not isinstance(node, ast.Call) or node.name not in PROFILES:
        raise TypeMismatch(f"disturbance '{name}' takes a profile: "
                           + ", ".join(f"{k}({', '.join(v)})" for k, v in PROFILES.items()),
                           node.span)
    if node.args:
        raise TypeMismatch(f"{node.name}(…) takes named arguments: "
                           f"{', '.join(PROFILES[node.name])}", node.args[0].span)
    params: dict[str, float] = {}
    for key, value in node.kwargs:
        if key not in PROFILES[node.name]:
            raise UnknownName(f"{node.name}() has no argument '{key}'", value.span,
                              did_you_mean(key, PROFILES[node.name]) or
                              f"arguments: {', '.join(PROFILES[node.name])}")
        arg = ast.SurrogateSetting(span=value.span, key=key, value=value)
        if key in ("at", "hold", "start"):
            params[key] = _seconds(b, arg, env, positive=key == "hold")
        else:
            params[key] = _number(b, arg, env, unit, f"in {U.describe(unit)} (the "
                                  f"disturbance's unit)")
    need = {"step": ("size",), "normal": ("sigma",), "constant": ("value",)}[node.name]
    for key in need:
        if key not in params:
            raise TypeMismatch(f"{node.name}(…) needs {key} = …", node.span)
    if node.name == "normal":
        if params["sigma"] < 0:
            raise TypeMismatch("sigma must not be negative", node.span)
        params.setdefault("hold", 1.0)
    return DisturbanceProfile(index, node.name, params, (), node.span)  # type: ignore[arg-type]
