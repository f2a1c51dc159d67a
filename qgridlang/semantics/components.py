"""Component instantiation: parameter binding, per-instance scopes, ports attached to buses."""

from __future__ import annotations

from functools import partial

from qgridlang import ast
from qgridlang.errors import (
    DimensionMismatch,
    QglError,
    Span,
    TypeMismatch,
    UnknownName,
    did_you_mean,
)
from qgridlang.semantics import units as U
from qgridlang.semantics.arrays import calls, free_names
from qgridlang.semantics.context import Context
from qgridlang.semantics.evaluate import Env, Suppressed
from qgridlang.semantics.report_units import record_binding
from qgridlang.semantics.scope import (
    BusNode,
    ExprData,
    InstanceData,
    Key,
    ParamData,
    Scope,
)
from qgridlang.semantics.values import Scalar, SetValue
from qgridlang.semantics.vector import BATCH_CALLS, together


def component_for(b: Context, st: ast.Instance) -> ast.ComponentDecl:
    """The declaration an instance is made from: the variant for the model's network formulation
    (`component line for dc (…)` under `network flow = dc`) where one exists, else the plain one."""
    flow = b.network_flow
    comp = b.variants.get((st.type_name, flow)) or b.components.get(st.type_name)
    if comp is not None:
        return comp
    has = sorted(v for (n, v) in b.variants if n == st.type_name)
    if has:
        raise TypeMismatch(f"component '{st.type_name}' has no variant for `network flow = "
                           f"{flow}` (it has: {', '.join(has)})", st.span,
                           f"declare `component {st.type_name} for {flow} (…)`, or choose "
                           f"`network flow = {has[0]}`")
    raise UnknownName(f"unknown component '{st.type_name}'", st.span,
                      did_you_mean(st.type_name, b.components) or
                      "declare it with `component …`, or `use stdlib`")


def instantiate(b: Context, st: ast.Instance, env: Env) -> None:
    comp = component_for(b, st)
    items = st.index.items if st.index else ()
    where = st.index.where if st.index else None
    inst = InstanceData(st.name, comp, b.ev.domains(items, env), st.span)
    over = _over_set(b, st, comp, env)
    known = {p.name for p in comp.params}
    for bd in st.bindings:
        if bd.name not in known:
            raise UnknownName(f"component '{comp.name}' has no parameter '{bd.name}'", bd.span,
                              did_you_mean(bd.name, known) or
                              f"its parameters: {', '.join(sorted(known)) or 'none'}")
    if comp.terminals and len(st.buses) != len(comp.terminals):
        raise TypeMismatch(f"{comp.name} '{st.name}' connects {len(comp.terminals)} buses "
                           f"(terminals {', '.join(comp.terminals)})", st.span,
                           f"write `{st.type_name} {st.name} between BUS1, BUS2 {{ … }}`")
    # an indexed instance (`gen[u in U]`) has each constraint of the component expanded once
    # for all its instances (Vectoriser.batch) rather than once per instance: each instance
    # first gets its parameters, variables, expressions and ports (and is attached to its bus),
    # in instance order; then each instance's constraints add their rows, in instance order.
    # `batchable` admits only components whose constraints make no columns and use only names
    # declared before them, so columns, rows and errors are those of one instance at a time
    # (errors are reported sorted by position).
    later = bool(items) and together() and batchable(comp)
    made: list[Scope] = []
    try:
        for e2, key, _ in b.ev.iterate(items, where, env, (f"{st.type_name} {st.name}",
                                                           "instances", st.span)):
            scope = Scope(prefix=f"{env.scope.prefix}{st.name}{_show(key)}.", over=over,
                          over_name=comp.over, component=comp.name, decl=comp)
            _bind_params(b, st, comp, scope, e2)
            if comp.terminals:
                _terminals(b, st, comp, scope, e2)
            for stmt in comp.body:
                if not (later and isinstance(stmt, ast.ConstraintDecl)):
                    b.guard(partial(_body, b, stmt, scope), _names(stmt), scope, node=stmt)
            inst.scopes[key] = scope
            made.append(scope)
            _attach(b, st, scope, e2)
    except Exception:
        # as one at a time: the instances made so far (the one whose attachment failed
        # included) have their constraints; the ones after it are not made
        if later:
            _constraints(b, comp, made, at_once=False)
        raise
    if later:
        _constraints(b, comp, made, at_once=True)
    env.scope.define(st.name, inst, st.span)


def _constraints(b: Context, comp: ast.ComponentDecl, scopes: list[Scope],
                 at_once: bool) -> None:
    stmts = [s for s in comp.body if isinstance(s, ast.ConstraintDecl)]
    got = {id(s): b.vec.batch(s, scopes) if at_once else None for s in stmts}
    for k, scope in enumerate(scopes):
        for stmt in stmts:
            rows = got[id(stmt)]
            run = partial(_body, b, stmt, scope) if rows is None else \
                partial(b.batched_constraint, stmt, scope, rows, k)
            b.guard(run, _names(stmt), scope, node=stmt)


_BATCHABLE: dict[int, tuple[ast.ComponentDecl, bool]] = {}


def batchable(comp: ast.ComponentDecl) -> bool:
    """Can the instances of ``comp`` have their constraints expanded together? Its constraints
    and expressions must add no column or row as they are evaluated (they call only
    ``BATCH_CALLS``: columns are then made in the same order either way), each constraint must
    use only names declared before it (it is evaluated after the instance's other
    declarations), and it has no instances of its own. Kept per declaration."""
    hit = _BATCHABLE.get(id(comp))
    if hit is not None and hit[0] is comp:
        return hit[1]
    ok = True
    declared: set[str] = set()
    later = {n for stmt in comp.body if not isinstance(stmt, ast.ConstraintDecl)
             for n in _names(stmt)}
    for stmt in comp.body:
        if isinstance(stmt, ast.Instance) or (
                isinstance(stmt, ast.ConstraintDecl | ast.ExprDecl | ast.PortDecl) and
                calls(stmt) - BATCH_CALLS) or (
                isinstance(stmt, ast.ConstraintDecl) and free_names(stmt) & (later - declared)):
            ok = False
        declared.update(_names(stmt))
    if len(_BATCHABLE) > 10_000:
        _BATCHABLE.clear()
    _BATCHABLE[id(comp)] = (comp, ok)
    return ok


def _terminals(b: Context, st: ast.Instance, comp: ast.ComponentDecl, scope: Scope,
               env: Env) -> None:
    """``between a, b``: the body sees each connected bus under its terminal's name."""
    for name, ref in zip(comp.terminals, st.buses, strict=True):
        bus = _bus(b, ref, env)
        scope.terminals[name] = bus
        scope.define(name, InstanceData(bus.prefix[:-1], bus.decl, [], ref.span, {(): bus}),
                     comp.span)
    if len(comp.terminals) == 2:
        b.branches.append((scope, st.span))


def _over_set(b: Context, st: ast.Instance, comp: ast.ComponentDecl, env: Env
              ) -> SetValue | None:
    if st.over is not None:
        s = env.scope.lookup(st.over)
        if not isinstance(s, SetValue):
            raise UnknownName(f"'{st.over}' is not a set", st.span)
        return s
    if comp.over is None:
        return None
    if len(b.time_sets) == 1:
        return b.time_sets[0]
    if not b.time_sets:
        raise UnknownName(f"component '{comp.name}' runs over a time set, and the model declares "
                          "none", st.span, "declare one: time T = 1..24 step 1 h")
    raise TypeMismatch(f"the model has {len(b.time_sets)} time sets; say which one "
                       f"'{st.name}' runs over", st.span, f"write `{st.type_name} {st.name} "
                       f"over {b.time_sets[0].name} …`")


def _bind_params(b: Context, st: ast.Instance, comp: ast.ComponentDecl, scope: Scope,
                 outer: Env) -> None:
    given = {bd.name: bd for bd in st.bindings}
    inner = Env(scope)
    missing = [p for p in comp.params if p.name not in given and p.default is None]
    if missing:
        need = ", ".join(p.name + (f": {p.unit.text}" if p.unit else "") for p in missing)
        raise TypeMismatch(f"{comp.name} '{st.name}' is missing parameter(s) {need}", st.span)
    for cp in comp.params:
        unit = U.unit_at(cp.unit.text, cp.unit.span) if cp.unit else None
        sets = b.ev.domains(cp.index.items, inner) if cp.index else []
        bd = given.get(cp.name)
        if bd is None:
            assert cp.default is not None
            v = b.ev.constant(cp.default, inner, f"the default of '{cp.name}'")
            unit = unit if unit is not None else v.unit
            f = U.convert(v.unit, unit, cp.default.span, f"parameter '{cp.name}'")
            data = ParamData(cp.name, sets, unit, cp.span, default=float(v.value) * f)
        elif not sets:
            v = b.ev.constant(bd.value, outer, f"parameter '{cp.name}'")
            unit = unit if unit is not None else v.unit
            f = U.convert(v.unit, unit, bd.value.span, f"parameter '{cp.name}' of {st.name}")
            data = ParamData(cp.name, [], unit, bd.span, {(): float(v.value) * f})
            record_binding(scope.user_units, cp.name, _written(bd.value, v.unit, outer))
        else:
            data = _indexed_binding(b, cp, bd, sets, unit, outer, scope.user_units)
            if data.lazy is not None and sets and all(s is not None and s.elements
                                                      for s in sets):
                # a rule's unit is the unit of its value: evaluate it once now so the units
                # results are reported in do not depend on where the body first uses it
                first = tuple(s.elements[0] for s in sets if s is not None)
                try:
                    data.get(first, bd.span)
                except (QglError, Suppressed):
                    pass  # the body's own use reports it (or it is unused)
        scope.define(cp.name, data, cp.span)


def _written(node: ast.Expr, unit: U.Unit | None, outer: Env) -> U.Unit | None:
    """The unit the user wrote: a bare reference to a parameter of an enclosing instance passes
    on the unit that instance was bound in."""
    if isinstance(node, ast.Ref) and len(node.parts) == 1:
        return outer.scope.user_units.get(node.parts[0].name, unit)
    return unit


def _indexed_binding(b: Context, cp: ast.CParam, bd: ast.Binding, sets: list[SetValue | None],
                     unit: U.Unit | None, outer: Env, user: dict[str, U.Unit]) -> ParamData:
    """``available = pv_forecast`` (an indexed parameter), ``available[t] = expr`` or a constant."""
    if bd.index is not None:
        # in `available[t] = …` a bare name is the index variable, not a set
        names = [it.var or (it.domain.parts[0].name if isinstance(it.domain, ast.Ref) and
                            len(it.domain.parts) == 1 else None) for it in bd.index.items]
        if len(names) != len(sets):
            raise DimensionMismatch(f"'{cp.name}' has {len(sets)} ind(ices), the binding "
                                    f"{len(names)}", bd.span)

        def rule(key: Key, span: Span) -> Scalar:
            e = outer
            for nm, lab, s in zip(names, key, sets, strict=True):
                from qgridlang.semantics.values import Elem

                if nm and s is not None:
                    e = e.with_(nm, Elem(lab, s))
            v = b.ev.constant(bd.value, e, f"parameter '{cp.name}'")
            record_binding(user, cp.name, v.unit)
            return Scalar(float(v.value) * U.convert(v.unit, unit, bd.value.span, cp.name), unit)

        return ParamData(cp.name, sets, unit, bd.span, lazy=rule)
    if isinstance(bd.value, ast.Ref) and len(bd.value.parts) == 1 and \
            bd.value.parts[0].index is None:
        src = outer.scope.lookup(bd.value.parts[0].name)
        if isinstance(src, ParamData) and src.sets:
            if len(src.sets) != len(sets):
                raise DimensionMismatch(f"'{cp.name}' has {len(sets)} ind(ices), "
                                        f"'{src.name}' has {len(src.sets)}", bd.value.span)
            for mine, theirs in zip(sets, src.sets, strict=True):
                if mine is not None and theirs is not None and mine.elements != theirs.elements:
                    raise DimensionMismatch(f"'{src.name}' is indexed over {theirs.name}, "
                                            f"'{cp.name}' over {mine.name}", bd.value.span)
            f = U.convert(src.unit, unit, bd.value.span, f"parameter '{cp.name}'")
            record_binding(user, cp.name, _written(bd.value, src.unit, outer))
            out_unit = unit if unit is not None else src.unit
            return ParamData(cp.name, sets, out_unit, bd.span,
                             lazy=lambda key, span: Scalar(float(src.get(key, span).value) * f,
                                                           out_unit))
    v = b.ev.constant(bd.value, outer, f"parameter '{cp.name}'")
    f = U.convert(v.unit, unit, bd.value.span, f"parameter '{cp.name}'")
    record_binding(user, cp.name, _written(bd.value, v.unit, outer))
    return ParamData(cp.name, sets, unit if unit is not None else v.unit, bd.span,
                     default=float(v.value) * f)


def _body(b: Context, stmt: ast.ComponentStmt, scope: Scope) -> None:
    env = Env(scope)
    if isinstance(stmt, ast.PortDecl):
        decl = scope.decl
        if stmt.terminal is not None and stmt.terminal not in scope.terminals:
            raise UnknownName(f"'{stmt.terminal}' is not a terminal of '{decl.name}'", stmt.span,
                              f"its terminals: {', '.join(decl.terminals)}" if decl.terminals
                              else f"declare them: component {decl.name}(…) between a, b")
        if stmt.terminal is None and decl.terminals:
            raise TypeMismatch(f"a port of '{decl.name}' attaches to one of its terminals",
                               stmt.span, f"write `port {decl.terminals[0]}.{stmt.name}[…] = …`")
        name = f"{stmt.terminal}.{stmt.name}" if stmt.terminal else stmt.name
        data = b.declare_expr(stmt, env, name, None, stmt.value, is_port=True)
        data.port, data.terminal = stmt.name, stmt.terminal
        scope.ports.append(data)
    elif isinstance(stmt, ast.NodeDecl):
        if scope.over is None:
            raise TypeMismatch("a node (bus balance) needs the component to run `over` a time "
                               "set", stmt.span)
        for other in scope.nodes:
            if other.name == stmt.name:
                raise TypeMismatch(f"node '{stmt.name}' is already declared", stmt.span)
            if other.collects == stmt.collects:
                raise TypeMismatch(f"node '{other.name}' already collects "
                                   + (f"the ports named {stmt.collects}" if stmt.collects
                                      else "every other port"), stmt.span,
                                   "a bus has one balance per port name, and at most one "
                                   "without `of`")
        if not scope.nodes:
            b.buses.append(scope)
        scope.nodes.append(BusNode(stmt.name, stmt.span, stmt.collects))
    elif isinstance(stmt, ast.IgnoreDecl):
        scope.ignores.update(stmt.names)
    else:
        b.statement(stmt, scope)


def _names(stmt: ast.ComponentStmt) -> list[str]:
    if isinstance(stmt, ast.ParamDecl):
        return [h.name for h in stmt.heads]
    if isinstance(stmt, ast.IgnoreDecl):
        return []
    if isinstance(stmt, ast.PortDecl) and stmt.terminal:
        return [f"{stmt.terminal}.{stmt.name}"]
    return [stmt.name]


def _attach(b: Context, st: ast.Instance, scope: Scope, env: Env) -> None:
    if scope.terminals:  # each port names its terminal
        for port in scope.ports:
            assert port.terminal is not None
            _connect(st, port, scope.terminals[port.terminal])
        return
    if not st.buses:
        return
    buses = [_bus(b, ref, env) for ref in st.buses]
    ports = scope.ports
    if len(buses) == 1:
        if not ports:
            raise TypeMismatch(f"'{st.name}' has no ports to connect", st.span)
        bus = buses[0]
        taken: dict[str, str] = {}
        routes = []
        for port in ports:  # each port to the balance that collects its name, all checked first
            node = _route_checked(st, port, bus)
            if node is not None and node in taken:
                raise TypeMismatch(f"ports '{taken[node]}' and '{port.port}' of '{st.name}' would "
                                   f"both go to balance '{node}' of bus '{bus.prefix[:-1]}'",
                                   st.span, "use `between a, b` for a two-port component, or "
                                   "give the bus a node for the other port (`node reactive of q`)")
            if node is not None:
                taken[node] = port.port
                routes.append((port, node))
        for port, node in routes:
            bus.attached.setdefault(node, []).append(port)
        return
    if len(ports) != len(buses):
        raise TypeMismatch(f"'{st.name}' has {len(ports)} ports but connects {len(buses)} "
                           "buses", st.span)
    for port, bus in zip(ports, buses, strict=True):  # in declaration order
        _connect(st, port, bus)


def _connect(st: ast.Instance, port: ExprData, bus: Scope) -> None:
    """Attach a port to the balance of ``bus`` that collects its name (or drop it where the bus
    ignores that name)."""
    node = _route_checked(st, port, bus)
    if node is not None:
        bus.attached.setdefault(node, []).append(port)


def _route_checked(st: ast.Instance, port: ExprData, bus: Scope) -> str | None:
    if bus.over is None or len(port.sets) != 1 or port.sets[0] is None or \
            port.sets[0].elements != bus.over.elements:
        raise DimensionMismatch(f"port '{port.port}' must be indexed over the bus's time set",
                                port.span)
    node = route(bus, port.port)
    if node == "":
        names = ", ".join(n.name + (f" (of {n.collects})" if n.collects else "")
                          for n in bus.nodes)
        raise TypeMismatch(f"bus '{bus.prefix[:-1]}' has no balance for port '{port.port}' of "
                           f"'{st.name}' (its balances: {names})", st.span,
                           f"declare `node NAME of {port.port}` or `ignore {port.port}` in the "
                           "bus's component")
    return node


def route(bus: Scope, port: str) -> str | None:
    """The node of ``bus`` that collects ports named ``port``: the one declared ``of port``, else
    None when the bus ignores that name, else the node without ``of``; "" when there is none."""
    for n in bus.nodes:
        if n.collects == port:
            return n.name
    if port in bus.ignores:
        return None
    return next((n.name for n in bus.nodes if n.collects is None), "")


def _bus(b: Context, ref: ast.Ref, env: Env) -> Scope:
    from qgridlang.semantics.scope import InstanceData as Inst

    part = ref.parts[0]
    item = env.scope.lookup(part.name)
    if not isinstance(item, Inst) or len(ref.parts) != 1:
        from qgridlang.semantics.evaluate import Suppressed
        from qgridlang.semantics.scope import Poisoned

        if isinstance(item, Poisoned):
            raise Suppressed()
        raise UnknownName(f"unknown bus '{ref.dotted}'", ref.span,
                          did_you_mean(part.name, [k for k, v in env.scope.items.items()
                                                   if isinstance(v, Inst)]))
    key = b.ev.key(part.index, item.sets, env, part.name, part.span) if part.index else ()
    scope = item.scopes.get(key)
    if scope is None or not scope.nodes:
        raise TypeMismatch(f"'{ref.dotted}' is not a bus (its component declares no `node`)",
                           ref.span)
    return scope


def _show(key: Key) -> str:
    return "[" + ",".join(str(k) for k in key) + "]" if key else ""
