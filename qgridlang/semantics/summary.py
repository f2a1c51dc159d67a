"""Build the :class:`~qgridlang.ir.ModelIR` summary from a finished builder."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from qgridlang.flat import FlatModel
from qgridlang.ir import (
    ConstraintIR,
    ExprIR,
    InstanceIR,
    ModelIR,
    ObjectiveIR,
    ParamIR,
    ScenarioIR,
    SetIR,
    VarIR,
)
from qgridlang.semantics import units as U
from qgridlang.semantics.scope import InstanceData, ParamData, Scope
from qgridlang.semantics.values import SetValue

if TYPE_CHECKING:
    from qgridlang.semantics.builder import Builder


def summarize(b: Builder, flat: FlatModel) -> ModelIR:
    sets, params, instances = [], [], []
    for scope in _scopes(b.model):
        for name, item in scope.items.items():
            if isinstance(item, SetValue):
                step = f"{item.step.value:g} {item.step.unit}" if item.step is not None else None
                els = item.elements
                sets.append(SetIR(span=item.span, name=scope.prefix + name, size=len(els),
                                  first=els[0] if els else None, last=els[-1] if els else None,
                                  step=step))
            elif isinstance(item, ParamData):
                params.append(ParamIR(span=item.span, name=scope.prefix + name,
                                      index=[s.name if s else "?" for s in item.sets],
                                      unit=U.unit_text(item.unit), entries=len(item.data)))
            elif isinstance(item, InstanceData):
                bus = any(s.nodes for s in item.scopes.values())
                instances.append(InstanceIR(span=item.span, name=scope.prefix + name,
                                            component=item.component.name,
                                            count=len(item.scopes), bus=bus))
    variables = [VarIR(span=blk.span, name=blk.name, kind=blk.kind, unit=blk.unit,
                       index=list(blk.index), columns=len(blk.keys), auxiliary=blk.auxiliary)
                 for blk in flat.blocks]
    counts = Counter(r.name for r in flat.rows)
    first = {}
    for r in flat.rows:
        first.setdefault(r.name, r.span)
    constraints = [ConstraintIR(span=first[n], name=n, rows=c) for n, c in counts.items()]
    expressions = [ExprIR(span=e.span, name=e.name, unit=U.unit_text(e.unit),
                          elements=len(e.keys), port=e.is_port) for e in b.exprs]
    objective = None
    if b.objective is not None:
        o = b.objective
        objective = ObjectiveIR(span=o.span, name=o.name, sense=o.sense,
                                unit=flat.obj_unit, linear_terms=len(o.value.lin),
                                quadratic_terms=len(o.value.quad))
    scenarios = [ScenarioIR(span=b.model.items[n].span, set=n, size=len(p),  # type: ignore[union-attr]
                            probability_sum=float(p.sum())) for n, p in b.scenarios.items()]
    return ModelIR(name=b.model_name, sets=sets, params=params, variables=variables,
                   constraints=constraints, expressions=expressions, objective=objective,
                   scenarios=scenarios, instances=instances)


def _scopes(scope: Scope) -> list[Scope]:
    out = [scope]
    for item in scope.items.values():
        if isinstance(item, InstanceData):
            for sub in item.scopes.values():
                out.extend(_scopes(sub))
    return out
