"""Syntax tree of a ``.qgl`` file: frozen pydantic nodes, each with the span it came from."""

from __future__ import annotations

from typing import Literal, Union

from pydantic import BaseModel, ConfigDict

from qgridlang.errors import Span


class Node(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True, defer_build=True)
    span: Span


# ---- expressions ------------------------------------------------------------------------------
class Num(Node):
    value: float
    text: str


class Quantity(Node):
    value: float
    unit: str


class Str(Node):
    value: str


class Part(Node):
    """``name[i, j]`` inside a dotted reference."""

    name: str
    index: tuple[Expr, ...] | None = None


class Ref(Node):
    parts: tuple[Part, ...]

    @property
    def dotted(self) -> str:
        return ".".join(p.name for p in self.parts)


class Call(Node):
    name: str
    args: tuple[Expr, ...] = ()
    kwargs: tuple[tuple[str, Expr], ...] = ()

    def kwarg(self, key: str) -> Expr | None:
        for k, v in self.kwargs:
            if k == key:
                return v
        return None


class CallIndex(Node):
    """``f(args)[i, …]``: one element of a function's vector result (a surrogate's response)."""

    call: Call
    index: tuple[Expr, ...]


class TupleExpr(Node):
    items: tuple[Expr, ...]


class Iterator(Node):
    var: str | None  # None for an anonymous index (`var u[G, T]`)
    domain: Expr  # a set name, a range, or a label set


class RangeExpr(Node):
    low: Expr
    high: Expr


class LabelSet(Node):
    labels: tuple[int | str, ...]


class Sum(Node):
    iterators: tuple[Iterator, ...]
    where: Expr | None
    body: Expr


class BinOp(Node):
    op: Literal["+", "-", "*", "/", "^", "and", "or"]
    left: Expr
    right: Expr


class Neg(Node):
    operand: Expr


class Not(Node):
    operand: Expr


class Compare(Node):
    operands: tuple[Expr, ...]
    ops: tuple[str, ...]


class IfExpr(Node):
    cond: Expr
    then: Expr
    other: Expr


Expr = Union[  # noqa: UP007 - pydantic forward refs
    Num, Quantity, Str, Ref, Call, CallIndex, TupleExpr, Sum, BinOp, Neg, Not, Compare, IfExpr,
    RangeExpr, LabelSet,
]


# ---- declarations ------------------------------------------------------------------------------
class IndexSpec(Node):
    items: tuple[Iterator, ...]
    where: Expr | None = None


class UnitExpr(Node):
    text: str  # normalised unit text ("$/MWh", "kW*h", "%")


class ModelDecl(Node):
    name: str
    title: str | None = None


class Import(Node):
    path: str


class Use(Node):
    name: str


class SetDecl(Node):
    name: str
    value: Expr
    step: Quantity | None = None  # present for `time` sets


class ParamHead(Node):
    name: str
    index: IndexSpec | None = None
    unit: UnitExpr | None = None
    low: Expr | None = None  # `param cap: MW >= 0 = …`: every value is checked against these
    high: Expr | None = None


class TableEntry(Node):
    key: tuple[int | str, ...]
    value: Expr


class Table(Node):
    entries: tuple[TableEntry, ...]


class ParamDecl(Node):
    heads: tuple[ParamHead, ...]
    default: Expr | None = None
    value: Table | Expr | None = None


class VarDecl(Node):
    name: str
    index: IndexSpec | None = None
    unit: UnitExpr | None = None
    kind: Literal["binary", "integer", "real"] = "real"
    low: Expr | None = None
    high: Expr | None = None


class ExprDecl(Node):
    name: str
    index: IndexSpec | None = None
    unit: UnitExpr | None = None
    value: Expr


class ConstraintDecl(Node):
    name: str
    index: IndexSpec | None = None
    body: Expr


class Objective(Node):
    sense: Literal["min", "max"]
    name: str | None
    value: Expr


class CParam(Node):
    name: str
    index: IndexSpec | None = None
    unit: UnitExpr | None = None
    default: Expr | None = None


class PortDecl(Node):
    name: str
    index: IndexSpec | None = None
    value: Expr
    terminal: str | None = None  # `port a.p[…]`: attached to the bus at terminal a


class NodeDecl(Node):
    name: str
    index: IndexSpec | None = None
    collects: str | None = None  # `node reactive of q`: the ports named q (None: every other)


class IgnoreDecl(Node):
    names: tuple[str, ...]  # `ignore q`: ports of these names are dropped at this bus


ComponentStmt = Union[  # noqa: UP007
    ParamDecl, VarDecl, ExprDecl, ConstraintDecl, PortDecl, NodeDecl, IgnoreDecl]


class ComponentDecl(Node):
    name: str
    params: tuple[CParam, ...]
    over: str | None
    body: tuple[ComponentStmt, ...]
    variant: str | None = None  # `component line for dc (…)`: used under `network flow = dc`
    terminals: tuple[str, ...] = ()  # `between a, b`


class NetworkDecl(Node):
    option: str  # "flow"
    value: str  # "transport" | "dc" | "lindistflow"


class Binding(Node):
    name: str
    index: IndexSpec | None = None
    value: Expr


class Instance(Node):
    type_name: str
    name: str
    index: IndexSpec | None = None
    over: str | None = None
    buses: tuple[Ref, ...] = ()
    bindings: tuple[Binding, ...] = ()


class SampleStmt(Node):
    name: str
    index: IndexSpec | None = None
    value: Expr


class ScenariosDecl(Node):
    set_name: str
    source: Call
    samples: tuple[SampleStmt, ...] = ()


class EncodeStmt(Node):
    target: Ref
    method: str
    args: tuple[tuple[str | None, Expr], ...] = ()


class PenaltyStmt(Node):
    constraint: str | None
    value: Expr


class QuantumBlock(Node):
    statements: tuple[EncodeStmt | PenaltyStmt, ...]


class SurrogateSide(Node):
    """``price[T]: $/MWh``: one side of a surrogate's signature."""

    name: str
    index: str
    unit: UnitExpr | None = None


class SurrogateSetting(Node):
    key: str
    value: Expr


class SurrogateDecl(Node):
    """``surrogate NAME: in[T] -> out[T] { key = value; … }``."""

    name: str
    input: SurrogateSide
    output: SurrogateSide
    settings: tuple[SurrogateSetting, ...] = ()


class PolicyDecl(Node):
    """``policy NAME[d in D, t in T]: observe(e, …) -> decide(v, …) { key = value; … }``: the
    model as a decision process over its time set (the last index; earlier ones are drawn per
    episode), observing ``e`` and deciding the variables ``v`` at each period."""

    name: str
    index: IndexSpec | None
    observe: tuple[Expr, ...]
    decide: tuple[Expr, ...]
    settings: tuple[SurrogateSetting, ...] = ()


# ---- dynamics and control ----------------------------------------------------------------------
class SignalItem(Node):
    """``df: pu``, ``ub: pu in -0.02 .. 0.02``, ``soc = 0.6`` (a state's initial value) or
    ``freq: Hz = f0 * df`` (an output's definition)."""

    name: str
    unit: UnitExpr | None = None
    low: Expr | None = None
    high: Expr | None = None
    value: Expr | None = None


class SignalDecl(Node):
    kind: Literal["state", "input", "disturbance", "output"]
    items: tuple[SignalItem, ...]


class DerDecl(Node):
    """``der x = expr``: the state's time derivative (its unit per second)."""

    name: str
    name_span: Span
    value: Expr


class SystemDecl(Node):
    """``system NAME { state …; input …; disturbance …; output …; der …; param … }``."""

    name: str
    body: tuple[ParamDecl | SignalDecl | DerDecl, ...]


class ControllerBound(Node):
    """``soc in 0.1 .. 0.9`` or ``change(ub) in -0.02 .. 0.02`` after ``subject to``."""

    value: Expr
    low: Expr
    high: Expr


class ControllerObjective(Node):
    """``minimize sum(k) q * df[k]^2 + r * ub[k]^2``: the stage cost, summed over the horizon."""

    sense: Literal["min", "max"]
    stage: str | None  # the stage index (`k`); None without `sum(k)`
    value: Expr


class ControllerDecl(Node):
    """``controller NAME for SYSTEM { like other; key = value; minimize …; subject to … }``."""

    name: str
    system: str
    likes: tuple[tuple[str, Span], ...] = ()
    settings: tuple[SurrogateSetting, ...] = ()
    objective: ControllerObjective | None = None
    bounds: tuple[ControllerBound, ...] = ()


class SimulateDecl(Node):
    """``simulate SYSTEM for 60 s with CONTROLLER as NAME { dpl = step(…); seed = 1 }``."""

    system: str
    duration: Expr
    controller: str | None = None
    label: str | None = None
    settings: tuple[SurrogateSetting, ...] = ()


Statement = Union[  # noqa: UP007
    ModelDecl, Import, Use, SetDecl, ParamDecl, VarDecl, ExprDecl, ConstraintDecl, Objective,
    ComponentDecl, Instance, ScenariosDecl, QuantumBlock, NetworkDecl, SurrogateDecl, PolicyDecl,
    SystemDecl, ControllerDecl, SimulateDecl,
]


class Program(Node):
    statements: tuple[Statement, ...]
    source: str


