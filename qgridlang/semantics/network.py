"""The model's network: the radial check LinDistFlow needs, and a record of buses and branches
for tools that read the network back (``qglc validate --ac``).

Buses are instances whose component declares a ``node``; branches are instances of components
with two terminals (``component line(…) over T between a, b``). What a formulation means is
written in the standard library (variants ``for dc`` / ``for lindistflow``); this module only
reads the graph.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qgridlang.errors import QglError, Span, TypeMismatch
from qgridlang.semantics import units as U
from qgridlang.semantics.evaluate import Suppressed
from qgridlang.semantics.scope import ParamData, Scope, VarData


@dataclass(frozen=True)
class NetBus:
    name: str  # "b[18]"
    vn_kv: float | None  # nominal voltage (the bus's `vn`)
    v_min: float | None  # pu
    v_max: float | None
    slack: bool
    v_set: float | None  # pu, at the slack
    # flat names of the ports of everything but branches attached to it, by what they carry:
    # "p" (the balance collecting active power) and "q" (the one collecting ports named q)
    injections: dict[str, tuple[str, ...]] = field(default_factory=dict)
    v2: str | None = None  # the flat variable of the squared voltage magnitude (lindistflow)
    theta: str | None = None  # the flat variable of the voltage angle (dc)


@dataclass(frozen=True)
class NetBranch:
    name: str  # "l[3]"
    from_bus: str
    to_bus: str
    r_ohm: float | None
    x_ohm: float | None
    rating_mw: float | None
    p: str | None  # the flat variable of the flow from `from_bus` to `to_bus` (MW)
    q: str | None  # reactive flow (Mvar), lindistflow


@dataclass(frozen=True)
class Network:
    formulation: str
    buses: tuple[NetBus, ...]
    branches: tuple[NetBranch, ...]

    def bus(self, name: str) -> NetBus:
        return next(b for b in self.buses if b.name == name)


def check_radial(b: Any) -> None:
    """LinDistFlow's voltage-drop recursion holds on a tree: refuse a meshed network, naming one
    loop (networkx's cycle basis over the branches; two parallel branches are a loop too)."""
    if b.network_flow != "lindistflow" or not b.branches:
        return
    import networkx as nx

    graph = nx.Graph()
    for scope, span in b.branches:
        u, v = (t.prefix[:-1] for t in scope.terminals.values())
        name = scope.prefix[:-1]
        if u == v:
            raise TypeMismatch(f"'{name}' connects bus '{u}' to itself", span)
        if graph.has_edge(u, v):
            first = graph.edges[u, v]["name"]
            raise TypeMismatch(f"`network flow = lindistflow` needs a radial network; '{first}' "
                               f"and '{name}' both connect {u} and {v} (a loop)", span,
                               "open one of them, or use `network flow = dc` for a meshed network")
        graph.add_edge(u, v, name=name, span=span)
    cycles = nx.cycle_basis(graph)
    if not cycles:
        return
    loop = min(cycles, key=len)
    edges = [graph.edges[loop[i], loop[(i + 1) % len(loop)]] for i in range(len(loop))]
    where: Span = max(edges, key=lambda e: (e["span"].line, e["span"].column))["span"]
    path = " – ".join(loop + [loop[0]])
    raise TypeMismatch(f"`network flow = lindistflow` needs a radial network; it has a loop: "
                       f"{path} (through {', '.join(e['name'] for e in edges)})", where,
                       f"open one of these branches, or use `network flow = dc` for a meshed "
                       f"network ({len(cycles)} independent loop(s) in all)")


def build(b: Any) -> Network | None:
    """The record of the network, or None when the model declares no bus."""
    if not b.buses:
        return None
    branch_scopes = {id(scope) for scope, _ in b.branches}
    buses = []
    for bus in b.buses:
        inj: dict[str, tuple[str, ...]] = {}
        for node in bus.nodes:
            kind = "q" if node.collects == "q" else "p" if node.collects in (None, "p") else None
            if kind is None:
                continue
            inj[kind] = inj.get(kind, ()) + tuple(
                p.name for p in bus.attached.get(node.name, []) if id(p.scope) not in branch_scopes)
        buses.append(NetBus(bus.prefix[:-1], _num(bus, "vn", "kV"), _num(bus, "v_min", None),
                            _num(bus, "v_max", None), (_num(bus, "slack", None) or 0) > 0.5,
                            _num(bus, "v_set", None), inj, _var(bus, "v2"), _var(bus, "theta")))
    branches = []
    for scope, _ in b.branches:
        u, v = (t.prefix[:-1] for t in scope.terminals.values())
        branches.append(NetBranch(scope.prefix[:-1], u, v, _num(scope, "r_ohm", "ohm"),
                                  _num(scope, "x_ohm", "ohm"), _num(scope, "rating", "MW"),
                                  _var(scope, "p"), _var(scope, "q")))
    return Network(b.network_flow, tuple(buses), tuple(branches))


def _num(scope: Scope, name: str, unit: str | None) -> float | None:
    item = scope.items.get(name)
    if not isinstance(item, ParamData) or item.sets:
        return None
    try:
        v = item.get((), item.span)
    except (QglError, Suppressed):  # a parameter whose value failed (reported already)
        return None
    if unit is None:
        return float(v.value) * (U.convert(v.unit, None, item.span, name) if v.unit else 1.0)
    return float(v.value) * U.convert(v.unit, U.unit_at(unit, item.span), item.span, name)


def _var(scope: Scope, name: str) -> str | None:
    item = scope.items.get(name)
    return item.name if isinstance(item, VarData) else None
