"""Names a statement uses that nothing defines, found without evaluating it.

When a statement refers to a declaration that failed (a poisoned name), evaluating it stops at
that reference without a message, so one broken declaration would hide every later mistake of
the statements that use it. This walk runs instead: it reports the names and functions of the
statement that are unknown whatever the broken declaration meant, and nothing else (units, index
ranges and values depend on the broken declaration and stay unchecked).
"""

from __future__ import annotations

from qgridlang import ast
from qgridlang.errors import QglError, UnknownName, did_you_mean
from qgridlang.semantics.evaluate import BUILTINS, DISTRIBUTIONS
from qgridlang.semantics.scope import Scope

# scenario sources and data files: allowed only in their own places, but names all the same
_SOURCES = ("csv", "sample", "equal", "weights")


def unresolved_names(node: ast.Node, scope: Scope, bound: tuple[str, ...] = ()
                     ) -> list[QglError]:
    """The unknown names and functions of a statement or expression, in source order.

    ``bound`` are the index names an expression is evaluated with (a named expression's index).
    """
    walk = _Walk(scope)
    if isinstance(node, ast.Statement | ast.PortDecl):
        walk.node(node, frozenset(bound))
    else:
        walk.expr(node, frozenset(bound))
    return walk.errors


class _Walk:
    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.errors: list[QglError] = []

    # ---- statements ---------------------------------------------------------------------------
    def node(self, n: ast.Node | None, bound: frozenset[str]) -> None:
        if n is None:
            return
        if isinstance(n, ast.ParamDecl):
            inner = bound
            for h in n.heads:
                inner = self.index(h.index, bound)
                self.expr(h.low, bound)
                self.expr(h.high, bound)
            self.expr(n.default, bound)
            if isinstance(n.value, ast.Table):
                for entry in n.value.entries:
                    self.expr(entry.value, bound)
            else:
                self.expr(n.value, inner if len(n.heads) == 1 else bound)
        elif isinstance(n, ast.VarDecl):
            inner = self.index(n.index, bound)
            self.expr(n.low, inner)
            self.expr(n.high, inner)
        elif isinstance(n, ast.ExprDecl | ast.PortDecl):
            self.expr(n.value, self.index(n.index, bound))
        elif isinstance(n, ast.ConstraintDecl):
            self.expr(n.body, self.index(n.index, bound))
        elif isinstance(n, ast.Objective):
            self.expr(n.value, bound)
        elif isinstance(n, ast.SetDecl):
            self.expr(n.value, bound)
        elif isinstance(n, ast.Instance):
            inner = self.index(n.index, bound)
            for ref in n.buses:
                self.expr(ref, inner)
            for bd in n.bindings:
                names = inner
                if bd.index is not None:
                    # in `available[t] = …` a bare name is the binding's index variable
                    for it in bd.index.items:
                        var = it.var or (it.domain.parts[0].name if isinstance(
                            it.domain, ast.Ref) and len(it.domain.parts) == 1 else None)
                        names = names | {var} if var else names
                self.expr(bd.value, names)
        elif isinstance(n, ast.ScenariosDecl):
            self.expr(n.source, bound)
            for sm in n.samples:
                self.expr(sm.value, self.index(sm.index, bound))
        # model header, imports, nodes and the quantum block name nothing to resolve here

    def index(self, spec: ast.IndexSpec | None, bound: frozenset[str]) -> frozenset[str]:
        if spec is None:
            return bound
        for it in spec.items:
            self.expr(it.domain, bound)
            if it.var:
                bound = bound | {it.var}
        self.expr(spec.where, bound)
        return bound

    # ---- expressions --------------------------------------------------------------------------
    def expr(self, n: ast.Node | None, bound: frozenset[str]) -> None:
        if n is None or isinstance(n, ast.Num | ast.Quantity | ast.Str | ast.LabelSet):
            return
        if isinstance(n, ast.Ref):
            self.ref(n, bound)
        elif isinstance(n, ast.Call):
            self.call(n, bound)
        elif isinstance(n, ast.CallIndex):  # a surrogate's response: the name is checked later
            for a in n.call.args:
                self.expr(a, bound)
            for i in n.index:
                self.expr(i, bound)
        elif isinstance(n, ast.Sum):
            inner = bound
            for it in n.iterators:
                self.expr(it.domain, inner)
                if it.var:
                    inner = inner | {it.var}
            self.expr(n.where, inner)
            self.expr(n.body, inner)
        elif isinstance(n, ast.BinOp):
            # `a + b + …` is a left-deep chain as long as the sum: walk it in a loop
            rights = []
            while isinstance(n, ast.BinOp):
                rights.append(n.right)
                n = n.left
            self.expr(n, bound)
            for r in reversed(rights):
                self.expr(r, bound)
        elif isinstance(n, ast.Neg | ast.Not):
            self.expr(n.operand, bound)
        elif isinstance(n, ast.Compare):
            for o in n.operands:
                self.expr(o, bound)
        elif isinstance(n, ast.IfExpr):
            while isinstance(n, ast.IfExpr):  # `else if` chains in a loop
                self.expr(n.cond, bound)
                self.expr(n.then, bound)
                n = n.other
            self.expr(n, bound)
        elif isinstance(n, ast.TupleExpr):
            for o in n.items:
                self.expr(o, bound)
        elif isinstance(n, ast.RangeExpr):
            self.expr(n.low, bound)
            self.expr(n.high, bound)

    def ref(self, n: ast.Ref, bound: frozenset[str]) -> None:
        first = n.parts[0]
        if first.name not in bound and first.name != "dt" and \
                self.scope.lookup(first.name) is None:
            self.errors.append(UnknownName(f"unknown name '{first.name}'", first.span,
                                           did_you_mean(first.name, [*bound, *self.scope.names(),
                                                                     "dt"])))
            return
        for part in n.parts:
            for sub in part.index or ():
                # a bare name in a subscript may be a label of the indexed set (`p[u1, t]`);
                # which set that is depends on the declaration, so it is not judged here
                if isinstance(sub, ast.Ref) and len(sub.parts) == 1 and \
                        sub.parts[0].index is None:
                    continue
                self.expr(sub, bound)

    def call(self, n: ast.Call, bound: frozenset[str]) -> None:
        if n.name == "csv":
            return  # its arguments are a file name and column names, not model names
        if n.name not in BUILTINS and n.name not in DISTRIBUTIONS and n.name not in _SOURCES:
            self.errors.append(UnknownName(f"unknown function '{n.name}'", n.span,
                                           did_you_mean(n.name, [*BUILTINS, *DISTRIBUTIONS])))
        for a in n.args:
            self.expr(a, bound)
        for _, v in n.kwargs:
            self.expr(v, bound)

