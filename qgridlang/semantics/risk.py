"""Risk measures over scenario sets: ``expected(e)`` and ``cvar(e, alpha = …)``.

CVaR lowers exactly by Rockafellar–Uryasev: ``cvar_a(L) = min_eta eta + 1/(1-a) sum_s p_s z_s``
with ``z_s >= L_s - eta``, ``z_s >= 0``. The epigraph is exact only where the measure is
minimised, so :meth:`Risk.check_usage` verifies the sign of ``eta`` wherever it appears.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qgridlang import ast
from qgridlang.errors import Span, TypeMismatch, UnitMismatch, UnsupportedConstruct
from qgridlang.flat import VarBlock
from qgridlang.semantics import epigraph
from qgridlang.semantics import units as U
from qgridlang.semantics.context import Context
from qgridlang.semantics.evaluate import Env
from qgridlang.semantics.scope import ExprData, ParamData
from qgridlang.semantics.values import Affine, Scalar, SetValue


@dataclass
class _Cvar:
    label: str
    eta: int
    span: Span


class Risk:
    """Lowers risk measures into the builder's columns and rows."""

    def __init__(self, builder: Context) -> None:
        self.b = builder
        self.blocks: list[VarBlock] = []
        self._cvars: dict[tuple[str, float], tuple[_Cvar, Affine]] = {}

    def _operand(self, node: ast.Call, env: Env) -> tuple[ExprData | ParamData, SetValue,
                                                           np.ndarray]:
        if not node.args or not isinstance(node.args[0], ast.Ref) or node.args[0].parts[-1].index:
            raise TypeMismatch(f"{node.name}() takes the name of an expression or parameter "
                               "indexed over a scenario set", node.span,
                               f"e.g. expr cost[s in S] = …  then {node.name}(cost)")
        ref = node.args[0]
        item = env.scope.lookup(ref.parts[0].name)
        if len(ref.parts) > 1:
            item = _member(self.b, ref, env)
        if not isinstance(item, ExprData | ParamData) or len(item.sets) != 1 or \
                item.sets[0] is None or item.sets[0].name not in self.b.scenarios:
            raise TypeMismatch(f"{node.name}() needs an expression or parameter indexed over "
                               f"one scenario set, got '{ref.dotted}'", ref.span,
                               "declare the set's probabilities with `scenarios S = …`")
        s = item.sets[0]
        return item, s, self.b.scenarios[s.name]

    def _values(self, item: ExprData | ParamData, s: SetValue, span: Span
                ) -> list[Scalar | Affine]:
        if isinstance(item, ParamData):
            return [item.get((e,), span) for e in s.elements]
        return [self.b.expr_value(item, (e,), span) for e in s.elements]

    def expected(self, node: ast.Call, env: Env) -> Scalar | Affine:
        item, s, probs = self._operand(node, env)
        vals = self._values(item, s, node.span)
        unit = vals[0].unit if vals else None
        if all(isinstance(v, Scalar) for v in vals):
            return Scalar(float(sum(p * float(v.value) for p, v in zip(probs, vals,
                                                                        strict=True))), unit)
        acc = Affine.zero(unit)
        for p, v in zip(probs, vals, strict=True):
            acc.iadd(v, float(p))
        return acc

    def cvar(self, node: ast.Call, env: Env) -> Affine:
        item, s, probs = self._operand(node, env)
        alpha_node = node.kwarg("alpha")
        if alpha_node is None:
            raise TypeMismatch("cvar() needs its confidence level: cvar(cost, alpha = 0.95)",
                               node.span)
        a = self.b.ev.constant(alpha_node, env, "alpha")
        if np.ndim(a.value) != 0:
            raise TypeMismatch("alpha must be one number", alpha_node.span)
        # a level is a plain number: `95 %` is 0.95 (any dimensionless unit converts)
        factor = U.plain_factor(a.unit) if a.unit is not None else 1.0
        if factor is None:
            raise UnitMismatch(f"alpha must be dimensionless (0.95 or 95 %), got "
                               f"{U.describe(a.unit)}", alpha_node.span)
        # 15 digits: 95 % is exactly 0.95, the same model as `alpha = 0.95` (95 * 0.01 is not)
        alpha = float(f"{float(a.value) * factor:.15g}")
        if not 0.0 <= alpha < 1.0:
            raise TypeMismatch(f"alpha must be in [0, 1), got {alpha:g}", alpha_node.span)
        cache_key = (item.name, alpha)
        if cache_key in self._cvars:
            return self._cvars[cache_key][1]
        vals = self._values(item, s, node.span)
        unit = vals[0].unit if vals else None
        label = f"cvar({item.name},{alpha:g})"
        eta = self.b.new_columns(label + ".eta", "real", unit, [()], -np.inf, np.inf, node.span)
        z0 = self.b.new_columns(label + ".excess", "real", unit, [(e,) for e in s.elements],
                                0.0, np.inf, node.span, index=(s.name,))
        out = Affine({eta: 1.0}, {}, 0.0, unit)
        for k, (e, p, v) in enumerate(zip(s.elements, probs, vals, strict=True)):
            row = Affine({z0 + k: 1.0, eta: 1.0}, {}, 0.0, unit)
            row.iadd(v, -1.0)
            self.b._row(row, Scalar(0.0), None, label + ".tail", (e,), node.span, node.span)
            out.lin[z0 + k] = float(p) / (1.0 - alpha)
        self._cvars[cache_key] = (_Cvar(label, eta, node.span), out)
        return Affine(dict(out.lin), {}, 0.0, unit)

    def check_usage(self) -> None:
        """CVaR must be minimised: positive in a minimised objective, on the <= side of a row."""
        if not self._cvars:
            return
        cvars = [cv for cv, _ in self._cvars.values()]
        used_all, ok_all = epigraph.usage(self.b, [cv.eta for cv in cvars],
                                          [cv.label + ".tail" for cv in cvars])
        for cv, used, sign_ok in zip(cvars, used_all.tolist(), ok_all.tolist(), strict=True):
            if not used and getattr(getattr(self.b, "errors", None), "errors", None):
                continue  # the objective (or the row) using it failed and is reported already
            if not used:
                raise TypeMismatch(f"{cv.label} has weight 0 in the objective and appears in no "
                                   "constraint, so its value would be undetermined", cv.span,
                                   "give it a positive weight, or remove it")
            if not sign_ok:
                raise UnsupportedConstruct(
                    f"{cv.label} is maximised somewhere; CVaR lowers exactly only where it is "
                    "minimised", cv.span,
                    "use it in a minimised objective with a positive weight, or as cvar(…) <= b")


def _member(b: Context, ref: ast.Ref, env: Env) -> object:
    """Resolve ``inst[k].member`` to the member's declaration (not its value)."""
    from qgridlang.semantics.scope import InstanceData

    item = env.scope.lookup(ref.parts[0].name)
    for i, part in enumerate(ref.parts[:-1]):
        if not isinstance(item, InstanceData):
            return None
        key = b.ev.key(part.index, item.sets, env, part.name, part.span) if part.index else ()
        scope = item.scopes.get(key)
        if scope is None:
            return None
        item = scope.items.get(ref.parts[i + 1].name)
    return item
