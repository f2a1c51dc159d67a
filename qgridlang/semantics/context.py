"""What the checker's statement modules use of the builder, as a Protocol.

:mod:`.components`, :mod:`.params`, :mod:`.quantum` and :mod:`.risk` receive the
:class:`~qgridlang.semantics.builder.Builder` that drives them and call back into it. They
annotate against :class:`Context` instead of importing the builder, so the imports of the
package run one way only: ``builder`` imports them, they never import ``builder``
(tests/test_layout.py checks it, ``TYPE_CHECKING`` imports included). The builder satisfies the
protocol structurally. The evaluator, which this module imports, names the little it uses of
its owner in :class:`~qgridlang.semantics.evaluate.Owner`.

Attributes are read-only properties here because the modules only read them (a list or dict
they read may be appended to: the builder's columns and rows are its own).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from qgridlang import ast
from qgridlang.errors import Span
from qgridlang.flat import RowInfo, SampledParam, VarBlock
from qgridlang.semantics.evaluate import Env, Evaluator
from qgridlang.semantics.scope import ExprData, Key, Scope
from qgridlang.semantics.units import Unit
from qgridlang.semantics.values import Affine, Scalar, SetValue


class ParamExpander(Protocol):
    """The array expansion (:mod:`.vector`), as :mod:`.params` and :mod:`.components` use it."""

    def batch(self, st: ast.ConstraintDecl, scopes: list[Scope]) -> Any: ...

    def param_values(self, items: tuple[ast.Iterator, ...], where: ast.Expr | None, env: Env,
                     value: ast.Expr, unit: Unit | None, name: str, span: Span
                     ) -> tuple[dict[Key, float], Unit | None] | None: ...


class ObjectiveView(Protocol):
    """The declared objective, as :mod:`.risk` reads it (the sign of each CVaR's weight)."""

    @property
    def sense(self) -> str: ...

    @property
    def value(self) -> Affine: ...


class Context(Protocol):
    """Exactly the members of the builder that the statement modules use."""

    # ---- the model being built ------------------------------------------------------------
    @property
    def ev(self) -> Evaluator: ...

    @property
    def model(self) -> Scope: ...

    @property
    def base_dir(self) -> Path: ...  # params: data files resolve against it

    @property
    def components(self) -> dict[str, ast.ComponentDecl]: ...

    @property
    def variants(self) -> dict[tuple[str, str], ast.ComponentDecl]: ...

    @property
    def network_flow(self) -> str: ...  # `network flow = …` (transport without one)

    @property
    def branches(self) -> list[tuple[Scope, Span]]: ...  # two-terminal instances

    @property
    def time_sets(self) -> list[SetValue]: ...

    @property
    def buses(self) -> list[Scope]: ...

    @property
    def overrides(self) -> dict[str, Scalar]: ...  # --set values, by parameter name

    @property
    def used_overrides(self) -> set[str]: ...

    @property
    def scenarios(self) -> dict[str, np.ndarray]: ...  # scenario set -> probabilities

    @property
    def sampled(self) -> dict[str, SampledParam]: ...  # sampled parameters (estimation reads)

    @property
    def quantum(self) -> ast.QuantumBlock | None: ...

    @property
    def vec(self) -> ParamExpander: ...  # declarations expanded with arrays (semantics.vector)

    @property
    def objective(self) -> ObjectiveView | None: ...

    @property
    def positive(self) -> Any: ...  # semantics.positive.Positive (pos(…) epigraph columns)

    # ---- the flat column / row space (COO rows) -------------------------------------------
    @property
    def blocks(self) -> list[VarBlock]: ...

    @property
    def lb(self) -> list[float]: ...  # column lower bounds (vector: the column count)

    @property
    def rows(self) -> list[RowInfo]: ...

    @property
    def r_rows(self) -> list[int]: ...

    @property
    def r_cols(self) -> list[int]: ...

    @property
    def r_vals(self) -> list[float]: ...

    @property
    def row_lo(self) -> list[float]: ...

    @property
    def row_hi(self) -> list[float]: ...

    # ---- call-backs -----------------------------------------------------------------------
    def guard(self, fn: Callable[[], Any], names: list[str], scope: Scope | None = None,
              node: ast.Node | None = None, bound: tuple[str, ...] = ()) -> None: ...

    def statement(self, st: ast.Statement, scope: Scope) -> None: ...

    def declare_expr(self, st: ast.Node, env: Env, name: str, unit_node: ast.UnitExpr | None,
                     value: ast.Expr, index: ast.IndexSpec | None = None,
                     is_port: bool = False) -> ExprData: ...

    def expr_value(self, data: ExprData, key: Key, span: Span) -> Scalar | Affine: ...

    def batched_constraint(self, st: ast.ConstraintDecl, scope: Scope, rows: Any,
                           k: int) -> None: ...

    def new_columns(self, name: str, kind: str, unit: Unit | None, keys: list[Key],
                    lo: float, hi: float, span: Span, index: tuple[str, ...] = ()) -> int: ...

    # risk adds the CVaR tail rows through the builder's own row assembly
    def _row(self, expr: Scalar | Affine, lo: Scalar | Affine | None,
             hi: Scalar | Affine | None, name: str, key: Key, span: Span, at: Span) -> None: ...
