"""Declarations the checker has resolved, and the scopes that hold them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np

from qgridlang import ast
from qgridlang.errors import DimensionMismatch, Span, TypeMismatch
from qgridlang.semantics.units import Unit
from qgridlang.semantics.values import Affine, Elem, Label, Scalar, SetValue

Key = tuple[Label, ...]


@dataclass(eq=False)
class ParamData:
    """A parameter: values by key (or a lazy rule for component bindings), with a unit."""

    name: str
    sets: list[SetValue | None]
    unit: Unit | None
    span: Span
    data: dict[Key, float | np.ndarray] = field(default_factory=dict)
    default: float | None = None
    lazy: Callable[[Key, Span], Scalar] | None = None

    def get(self, key: Key, span: Span) -> Scalar:
        if self.lazy is not None:
            return self.lazy(key, span)
        v = self.data.get(key)
        if v is None:
            if self.default is None:
                raise DimensionMismatch(f"{self.name}{_show(key)} has no value", span,
                                        "give the parameter a default or the missing entry")
            v = self.default
        return Scalar(v, self.unit)


@dataclass(eq=False)
class VarData:
    """A declared variable: one flat column per key."""

    name: str  # qualified: "ess[3].soc"
    sets: list[SetValue | None]
    unit: Unit | None
    kind: str
    span: Span
    cols: dict[Key, int] = field(default_factory=dict)


@dataclass(eq=False)
class ExprData:
    """A named expression or a component port, evaluated lazily per key and cached."""

    name: str  # qualified
    sets: list[SetValue | None]
    unit: Unit | None
    span: Span
    node: ast.Expr
    scope: Scope
    keys: dict[Key, tuple[Elem, ...]] = field(default_factory=dict)
    names: tuple[str, ...] = ()  # index variable names
    cache: dict[Key, Scalar | Affine] = field(default_factory=dict)
    is_port: bool = False
    port: str = ""  # a port's own name (`p`, `q`): the bus node that collects it
    terminal: str | None = None  # `port a.p`: attached to the bus at terminal a
    env: Any = None  # the Env the declaration was made in
    busy: bool = False  # set while evaluating, to catch self-reference


@dataclass(frozen=True)
class BusNode:
    """One balance of a bus: the row ``bus.name[t]`` sums the ports it collects."""

    name: str
    span: Span
    collects: str | None  # a port name (`of q`); None: every port no other node collects

    def route(self, port: str) -> bool:
        return self.collects is None or self.collects == port


@dataclass(eq=False)
class InstanceData:
    """Instances of a component: one scope per key."""

    name: str
    component: ast.ComponentDecl
    sets: list[SetValue | None]
    span: Span
    scopes: dict[Key, Scope] = field(default_factory=dict)


@dataclass(eq=False)
class Poisoned:
    """A declaration that failed; references to it are silently skipped (no cascades)."""

    span: Span


Item = Union[ParamData, VarData, ExprData, InstanceData, SetValue, Poisoned]  # noqa: UP007


@dataclass(eq=False)
class Scope:
    """Names visible in the model, or inside one component instance."""

    prefix: str = ""  # "ess[3]." inside an instance
    items: dict[str, Item] = field(default_factory=dict)
    over: SetValue | None = None  # the component's time set
    over_name: str | None = None
    ports: list[ExprData] = field(default_factory=list)
    # a bus: its balances (`node balance`, `node reactive of q`), the port names it drops
    # (`ignore q`) and the ports attached to each balance, by node name
    nodes: list[BusNode] = field(default_factory=list)
    ignores: set[str] = field(default_factory=set)
    attached: dict[str, list[ExprData]] = field(default_factory=dict)
    component: str | None = None
    decl: Any = None  # the component declaration (the variant) this instance was made from
    terminals: dict[str, Scope] = field(default_factory=dict)  # `between a, b`: the buses
    # parameter -> the unit of the value the user bound it to (results are reported in it)
    user_units: dict[str, Unit] = field(default_factory=dict)

    def lookup(self, name: str) -> Item | None:
        if name == self.over_name and self.over is not None:
            return self.over
        return self.items.get(name)

    def names(self) -> Iterator[str]:
        yield from self.items
        if self.over_name:
            yield self.over_name

    def define(self, name: str, item: Item, span: Span) -> None:
        prev = self.items.get(name)
        if prev is not None and not isinstance(prev, Poisoned):
            where = _span_of(prev)
            raise TypeMismatch(f"'{name}' is already declared" +
                               (f" at line {where.line}" if where and where.line else ""), span)
        self.items[name] = item


def _span_of(item: Any) -> Span | None:
    return getattr(item, "span", None)


def _show(key: Key) -> str:
    return "[" + ", ".join(str(k) for k in key) + "]" if key else ""
