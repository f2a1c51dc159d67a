"""The checked model's IR: a typed, serialisable summary of every resolved declaration.

The numbers live in :class:`qgridlang.flat.FlatModel`; the IR says what the model declared,
with spans, so tools can inspect a model and golden tests can pin what the checker resolved.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from qgridlang.errors import Span


class IRNode(BaseModel):
    model_config = ConfigDict(frozen=True)
    span: Span


class SetIR(IRNode):
    name: str
    size: int
    first: int | str | None
    last: int | str | None
    step: str | None = None  # "15 min" for time sets


class ParamIR(IRNode):
    name: str
    index: list[str]
    unit: str
    entries: int


class VarIR(IRNode):
    name: str
    kind: str
    index: list[str]
    unit: str
    columns: int
    auxiliary: bool = False


class ConstraintIR(IRNode):
    name: str
    rows: int


class ExprIR(IRNode):
    name: str
    unit: str
    elements: int
    port: bool = False


class ObjectiveIR(IRNode):
    name: str
    sense: str
    unit: str
    linear_terms: int
    quadratic_terms: int


class ScenarioIR(IRNode):
    set: str
    size: int
    probability_sum: float


class InstanceIR(IRNode):
    name: str
    component: str
    count: int
    bus: bool


class ModelIR(BaseModel):
    model_config = ConfigDict(frozen=True)
    name: str
    sets: list[SetIR]
    params: list[ParamIR]
    variables: list[VarIR]
    constraints: list[ConstraintIR]
    expressions: list[ExprIR]
    objective: ObjectiveIR | None
    scenarios: list[ScenarioIR]
    instances: list[InstanceIR]
