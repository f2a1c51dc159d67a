"""Turn Lark's parse tree into :mod:`qgridlang.ast` nodes, giving every node its span."""

from __future__ import annotations

from typing import Any

from lark import Token, Transformer_NonRecursive, Tree, v_args
from lark.tree import Meta

from qgridlang import ast
from qgridlang.errors import QglSyntaxError, Span
from qgridlang.limits import MAX_DEPTH

# Rules whose left operand may repeat the rule (`a + b - c`, `p and q and r`): such a chain is
# one level of nesting however long, since the checker folds it in a loop. (Units are not:
# pint parses `MW*MW*…` recursively, and no unit has a hundred factors.)
_CHAINS = {"add": "add", "sub": "add", "mul": "mul", "div": "mul", "and_op": "and",
           "or_op": "or"}


def check_depth(tree: Tree[Token], file: str, limit: int = MAX_DEPTH) -> None:
    """Refuse a parse tree nested deeper than ``limit``, at the construct that goes too deep.

    Left-deep chains of one operator class and `else if` chains count as one level (they are
    evaluated in loops); everything else nested (parentheses around operators, `^`, `-x`,
    `if … then (if …)`, calls) would recurse in the checker. Iterative, so any depth is safe.

    Raises:
        QglSyntaxError: Located at the first node deeper than ``limit``.
    """
    stack: list[tuple[Tree[Token], int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        chain = _CHAINS.get(node.data)
        for i, child in enumerate(node.children):
            if not isinstance(child, Tree):
                continue
            same = (i == 0 and chain is not None and _CHAINS.get(child.data) == chain) or (
                i == 2 and node.data == "if_expr" and child.data == "if_expr")
            d = depth if same else depth + 1
            if d > limit:
                meta = child.meta
                line, col = (meta.line, meta.column) if not getattr(meta, "empty", True) \
                    else (1, 1)
                raise QglSyntaxError(
                    f"expression nested more than {limit} levels deep", Span(file, line, col),
                    "split it into named expressions (expr e = …), or remove parentheses")
            stack.append((child, d))


def _is(x: Any, cls: type) -> bool:
    return isinstance(x, cls)


@v_args(meta=True)
class ToAst(Transformer_NonRecursive[Token, Any]):
    """A Lark transformer; each method receives the rule's children and positions.

    Non-recursive: ``a + b + … `` is a left-deep tree as deep as the sum is long, and a
    10,000-term sum must not exhaust Python's stack (:func:`check_depth` bounds real nesting).
    """

    def __init__(self, file: str, text: str) -> None:
        super().__init__()
        self.file = file
        self.text = text

    # ---- helpers --------------------------------------------------------------------------
    def span(self, meta: Meta | Token) -> Span:
        if isinstance(meta, Token):
            return Span(self.file, meta.line or 0, meta.column or 0,
                        meta.end_line or 0, meta.end_column or 0)
        if getattr(meta, "empty", True):
            return Span(self.file, 0, 0)
        return Span(self.file, meta.line, meta.column, meta.end_line, meta.end_column)

    def transform_program(self, tree: Tree[Token]) -> ast.Program:
        check_depth(tree, self.file)
        stmts = self.transform(tree)
        return ast.Program(span=Span(self.file, 1, 1), statements=tuple(stmts), source=self.text)

    @staticmethod
    def _names(children: list[Any]) -> list[str]:
        return [str(c) for c in children if isinstance(c, Token) and c.type == "NAME"]

    # ---- statements -----------------------------------------------------------------------
    def start(self, meta: Meta, ch: list[Any]) -> list[Any]:
        return [c for c in ch if isinstance(c, ast.Node)]

    def model_decl(self, meta: Meta, ch: list[Any]) -> ast.ModelDecl:
        title = str(ch[1])[1:-1] if len(ch) > 1 else None
        return ast.ModelDecl(span=self.span(meta), name=str(ch[0]), title=title)

    def import_stmt(self, meta: Meta, ch: list[Any]) -> ast.Import:
        return ast.Import(span=self.span(meta), path=str(ch[0])[1:-1])

    def use_stmt(self, meta: Meta, ch: list[Any]) -> ast.Use:
        return ast.Use(span=self.span(meta), name=str(ch[0]))

    def time_decl(self, meta: Meta, ch: list[Any]) -> ast.SetDecl:
        num, unit = ch[2], ch[3]
        step = ast.Quantity(span=self.span(num), value=float(num), unit=str(unit).strip())
        return ast.SetDecl(span=self.span(meta), name=str(ch[0]), value=ch[1], step=step)

    def set_decl(self, meta: Meta, ch: list[Any]) -> ast.SetDecl:
        return ast.SetDecl(span=self.span(meta), name=str(ch[0]), value=ch[1])

    def range(self, meta: Meta, ch: list[Any]) -> ast.RangeExpr:
        return ast.RangeExpr(span=self.span(meta), low=ch[0], high=ch[1])

    def label_set(self, meta: Meta, ch: list[Any]) -> ast.LabelSet:
        labels = tuple(c for c in ch if c is not None)
        return ast.LabelSet(span=self.span(meta), labels=labels)

    def label(self, meta: Meta, ch: list[Any]) -> int | str:
        tok = ch[0]
        if tok.type == "SIGNED_INT":
            return int(tok)
        if tok.type == "STRING":
            return str(tok)[1:-1]
        return str(tok)

    def param_head(self, meta: Meta, ch: list[Any]) -> ast.ParamHead:
        index = next((c for c in ch if _is(c, ast.IndexSpec)), None)
        unit = next((c for c in ch if _is(c, ast.UnitExpr)), None)
        low, high = next((c[1:] for c in ch if isinstance(c, tuple) and c[0] == "bounds"),
                         (None, None))
        return ast.ParamHead(span=self.span(meta), name=str(ch[0]), index=index, unit=unit,
                             low=low, high=high)

    def param_default(self, meta: Meta, ch: list[Any]) -> tuple[str, Any]:
        return ("default", ch[0])

    def param_decl(self, meta: Meta, ch: list[Any]) -> ast.ParamDecl:
        heads = tuple(c for c in ch if _is(c, ast.ParamHead))
        default = next((c[1] for c in ch if isinstance(c, tuple) and c[0] == "default"), None)
        rest = [c for c in ch if not _is(c, ast.ParamHead) and not isinstance(c, tuple)]
        value = rest[0] if rest else None
        return ast.ParamDecl(span=self.span(meta), heads=heads, default=default, value=value)

    def table(self, meta: Meta, ch: list[Any]) -> ast.Table:
        return ast.Table(span=self.span(meta), entries=tuple(c for c in ch if c is not None))

    def entry(self, meta: Meta, ch: list[Any]) -> ast.TableEntry:
        return ast.TableEntry(span=self.span(meta), key=ch[0], value=ch[1])

    def table_key(self, meta: Meta, ch: list[Any]) -> tuple[int | str, ...]:
        return tuple(ch)

    def var_kind(self, meta: Meta, ch: list[Any]) -> str:
        return str(ch[0])

    def var_decl(self, meta: Meta, ch: list[Any]) -> ast.VarDecl:
        index = next((c for c in ch if _is(c, ast.IndexSpec)), None)
        unit = next((c for c in ch if _is(c, ast.UnitExpr)), None)
        kind = next((c for c in ch if isinstance(c, str) and not isinstance(c, Token)), "real")
        low, high = next((c[1:] for c in ch if isinstance(c, tuple) and c[0] == "bounds"),
                         (None, None))
        return ast.VarDecl(span=self.span(meta), name=str(ch[0]), index=index, unit=unit,
                           kind=kind, low=low, high=high)

    # A variable's bounds as ("bounds", low, high); None is an open side.
    def bounds_range(self, meta: Meta, ch: list[Any]) -> tuple[str, Any, Any]:
        return ("bounds", ch[0], ch[1])

    def bounds_lower(self, meta: Meta, ch: list[Any]) -> tuple[str, Any, Any]:
        return ("bounds", ch[0], ch[1] if len(ch) > 1 else None)

    def bounds_upper(self, meta: Meta, ch: list[Any]) -> tuple[str, Any, Any]:
        return ("bounds", ch[1] if len(ch) > 1 else None, ch[0])

    def bounds_nonnegative(self, meta: Meta, ch: list[Any]) -> tuple[str, Any, Any]:
        return ("bounds", ast.Num(span=self.span(meta), value=0.0, text="0"), None)

    def expr_decl(self, meta: Meta, ch: list[Any]) -> ast.ExprDecl:
        index = next((c for c in ch if _is(c, ast.IndexSpec)), None)
        unit = next((c for c in ch if _is(c, ast.UnitExpr)), None)
        return ast.ExprDecl(span=self.span(meta), name=str(ch[0]), index=index, unit=unit,
                            value=ch[-1])

    def constraint_decl(self, meta: Meta, ch: list[Any]) -> ast.ConstraintDecl:
        index = ch[1] if len(ch) == 3 else None
        return ast.ConstraintDecl(span=self.span(meta), name=str(ch[0]), index=index, body=ch[-1])

    def sense(self, meta: Meta, ch: list[Any]) -> str:
        return "min" if str(ch[0]) in ("minimize", "minimise") else "max"

    def objective(self, meta: Meta, ch: list[Any]) -> ast.Objective:
        name = str(ch[1]) if len(ch) == 3 else None
        return ast.Objective(span=self.span(meta), sense=ch[0], name=name, value=ch[-1])

    def index_spec(self, meta: Meta, ch: list[Any]) -> ast.IndexSpec:
        items = tuple(c for c in ch if _is(c, ast.Iterator))
        where = next((c[1] for c in ch if isinstance(c, tuple)), None)
        return ast.IndexSpec(span=self.span(meta), items=items, where=where)

    def bound_index(self, meta: Meta, ch: list[Any]) -> ast.Iterator:
        return ast.Iterator(span=self.span(meta), var=str(ch[0]), domain=ch[1])

    def anon_index(self, meta: Meta, ch: list[Any]) -> ast.Iterator:
        return ast.Iterator(span=self.span(meta), var=None, domain=ch[0])

    def iterator(self, meta: Meta, ch: list[Any]) -> ast.Iterator:
        return ast.Iterator(span=self.span(meta), var=str(ch[0]), domain=ch[1])

    def where(self, meta: Meta, ch: list[Any]) -> tuple[str, Any]:
        return ("where", ch[0])

    # ---- components -----------------------------------------------------------------------
    def component_decl(self, meta: Meta, ch: list[Any]) -> ast.ComponentDecl:
        params = tuple(c for c in ch if _is(c, ast.CParam))
        over_toks = [c for c in ch[1:] if isinstance(c, Token) and c.type == "NAME"]
        body = tuple(c for c in ch if isinstance(c, ast.Node) and not _is(c, ast.CParam))
        over = str(over_toks[0]) if over_toks else None
        variant = next((c[1] for c in ch if isinstance(c, tuple) and c[0] == "variant"), None)
        terminals = next((c[1] for c in ch if isinstance(c, tuple) and c[0] == "terminals"), ())
        return ast.ComponentDecl(span=self.span(meta), name=str(ch[0]), params=params, over=over,
                                 body=body, variant=variant, terminals=terminals)

    def variant(self, meta: Meta, ch: list[Any]) -> tuple[str, str]:
        return ("variant", str(ch[0]))

    def terminals(self, meta: Meta, ch: list[Any]) -> tuple[str, tuple[str, ...]]:
        return ("terminals", tuple(str(c) for c in ch))

    def network_decl(self, meta: Meta, ch: list[Any]) -> ast.NetworkDecl:
        return ast.NetworkDecl(span=self.span(meta), option=str(ch[0]), value=str(ch[1]))

    def ignore_decl(self, meta: Meta, ch: list[Any]) -> ast.IgnoreDecl:
        return ast.IgnoreDecl(span=self.span(meta), names=tuple(str(c) for c in ch))

    def cparam(self, meta: Meta, ch: list[Any]) -> ast.CParam:
        index = next((c for c in ch if _is(c, ast.IndexSpec)), None)
        unit = next((c for c in ch if _is(c, ast.UnitExpr)), None)
        rest = [c for c in ch[1:] if isinstance(c, ast.Node)
                and not _is(c, (ast.IndexSpec, ast.UnitExpr))]
        return ast.CParam(span=self.span(meta), name=str(ch[0]), index=index, unit=unit,
                          default=rest[0] if rest else None)

    def port_decl(self, meta: Meta, ch: list[Any]) -> ast.PortDecl:
        names = [str(c) for c in ch if isinstance(c, Token) and c.type == "NAME"]
        index = next((c for c in ch if _is(c, ast.IndexSpec)), None)
        terminal, name = (names[0], names[1]) if len(names) == 2 else (None, names[0])
        return ast.PortDecl(span=self.span(meta), name=name, index=index, value=ch[-1],
                            terminal=terminal)

    def node_decl(self, meta: Meta, ch: list[Any]) -> ast.NodeDecl:
        index = next((c for c in ch if _is(c, ast.IndexSpec)), None)
        names = [str(c) for c in ch if isinstance(c, Token) and c.type == "NAME"]
        return ast.NodeDecl(span=self.span(meta), name=names[0], index=index,
                            collects=names[1] if len(names) > 1 else None)

    def instance(self, meta: Meta, ch: list[Any]) -> ast.Instance:
        names = [c for c in ch if isinstance(c, Token) and c.type == "NAME"]
        index = next((c for c in ch if _is(c, ast.IndexSpec)), None)
        buses: tuple[ast.Ref, ...] = next((c[1] for c in ch if isinstance(c, tuple)
                                           and c[0] == "buses"), ())
        bindings = next((c[1] for c in ch if isinstance(c, tuple) and c[0] == "bindings"), ())
        over = str(names[2]) if len(names) > 2 else None
        return ast.Instance(span=self.span(meta), type_name=str(names[0]), name=str(names[1]),
                            index=index, over=over, buses=buses, bindings=bindings)

    def at_bus(self, meta: Meta, ch: list[Any]) -> tuple[str, tuple[ast.Ref, ...]]:
        return ("buses", (ch[0],))

    def between_buses(self, meta: Meta, ch: list[Any]) -> tuple[str, tuple[ast.Ref, ...]]:
        return ("buses", (ch[0], ch[1]))

    def bindings(self, meta: Meta, ch: list[Any]) -> tuple[str, tuple[ast.Binding, ...]]:
        return ("bindings", tuple(c for c in ch if _is(c, ast.Binding)))

    def binding(self, meta: Meta, ch: list[Any]) -> ast.Binding:
        index = ch[1] if len(ch) == 3 else None
        return ast.Binding(span=self.span(meta), name=str(ch[0]), index=index, value=ch[-1])

    # ---- scenarios, quantum ---------------------------------------------------------------
    def scenarios_decl(self, meta: Meta, ch: list[Any]) -> ast.ScenariosDecl:
        samples = ch[2] if len(ch) > 2 else ()
        return ast.ScenariosDecl(span=self.span(meta), set_name=str(ch[0]), source=ch[1],
                                 samples=samples)

    def sample_block(self, meta: Meta, ch: list[Any]) -> tuple[ast.SampleStmt, ...]:
        return tuple(c for c in ch if _is(c, ast.SampleStmt))

    def sample_stmt(self, meta: Meta, ch: list[Any]) -> ast.SampleStmt:
        index = ch[1] if len(ch) == 3 else None
        return ast.SampleStmt(span=self.span(meta), name=str(ch[0]), index=index, value=ch[-1])

    def quantum_block(self, meta: Meta, ch: list[Any]) -> ast.QuantumBlock:
        stmts = tuple(c for c in ch if _is(c, (ast.EncodeStmt, ast.PenaltyStmt)))
        return ast.QuantumBlock(span=self.span(meta), statements=stmts)

    def encode_stmt(self, meta: Meta, ch: list[Any]) -> ast.EncodeStmt:
        args: list[tuple[str | None, Any]] = []
        for a in ch[2:]:
            if a is None:
                continue
            args.append(a if isinstance(a, tuple) and len(a) == 2 and isinstance(a[0], str)
                        else (None, a))
        return ast.EncodeStmt(span=self.span(meta), target=ch[0], method=str(ch[1]),
                              args=tuple(args))

    def penalty_stmt(self, meta: Meta, ch: list[Any]) -> ast.PenaltyStmt:
        name = str(ch[0]) if len(ch) == 2 else None
        return ast.PenaltyStmt(span=self.span(meta), constraint=name, value=ch[-1])

    # ---- units ----------------------------------------------------------------------------
    def unit_atom(self, meta: Meta, ch: list[Any]) -> ast.UnitExpr:  # NAME, $, %, (…) or 1
        c = ch[0]
        text = c.text if isinstance(c, ast.UnitExpr) else str(c)
        if isinstance(c, ast.UnitExpr) and ("*" in text or "/" in text):
            text = f"({text})"
        return ast.UnitExpr(span=self.span(meta), text=text)

    def unit_mul(self, meta: Meta, ch: list[Any]) -> ast.UnitExpr:
        return ast.UnitExpr(span=self.span(meta), text=f"{ch[0].text}*{ch[1].text}")

    def unit_div(self, meta: Meta, ch: list[Any]) -> ast.UnitExpr:
        return ast.UnitExpr(span=self.span(meta), text=f"{ch[0].text}/{ch[1].text}")

    def unit_pow(self, meta: Meta, ch: list[Any]) -> ast.UnitExpr:
        return ast.UnitExpr(span=self.span(meta), text=f"{ch[0].text}^{int(ch[1])}")

    # ---- expressions ----------------------------------------------------------------------
    def number(self, meta: Meta, ch: list[Any]) -> ast.Num:
        return ast.Num(span=self.span(meta), value=float(ch[0]), text=str(ch[0]))

    def quantity(self, meta: Meta, ch: list[Any]) -> ast.Quantity:
        return ast.Quantity(span=self.span(meta), value=float(ch[0]), unit=str(ch[1]).strip())

    def infinity(self, meta: Meta, ch: list[Any]) -> ast.Num:
        return ast.Num(span=self.span(meta), value=float("inf"), text="inf")

    def string(self, meta: Meta, ch: list[Any]) -> ast.Str:
        return ast.Str(span=self.span(meta), value=str(ch[0])[1:-1])

    def ref(self, meta: Meta, ch: list[Any]) -> ast.Ref:
        parts: list[ast.Part] = []
        for c in ch:
            if isinstance(c, Token):
                parts.append(ast.Part(span=self.span(c), name=str(c)))
            else:
                last = parts[-1]
                parts[-1] = ast.Part(span=Span(self.file, last.span.line, last.span.column,
                                               c[0].end_line, c[0].end_column),
                                     name=last.name, index=c[1])
        return ast.Ref(span=self.span(meta), parts=tuple(parts))

    def subscript(self, meta: Meta, ch: list[Any]) -> tuple[Span, tuple[Any, ...]]:
        return (self.span(meta), tuple(ch))

    def call(self, meta: Meta, ch: list[Any]) -> ast.Call:
        args = tuple(c for c in ch[1:] if c is not None and not isinstance(c, tuple))
        kwargs = tuple(c for c in ch[1:] if isinstance(c, tuple))
        return ast.Call(span=self.span(meta), name=str(ch[0]), args=args, kwargs=kwargs)

    def call_index(self, meta: Meta, ch: list[Any]) -> ast.CallIndex:
        return ast.CallIndex(span=self.span(meta), call=ch[0], index=ch[1][1])

    def surrogate_decl(self, meta: Meta, ch: list[Any]) -> ast.SurrogateDecl:
        settings = tuple(c for c in ch[3:] if _is(c, ast.SurrogateSetting))
        return ast.SurrogateDecl(span=self.span(meta), name=str(ch[0]), input=ch[1],
                                 output=ch[2], settings=settings)

    def policy_decl(self, meta: Meta, ch: list[Any]) -> ast.PolicyDecl:
        index = ch[1] if _is(ch[1], ast.IndexSpec) else None
        observe = next(c for c in ch if isinstance(c, tuple) and c[0] == "observe")
        decide = next(c for c in ch if isinstance(c, tuple) and c[0] == "decide")
        settings = tuple(c for c in ch if _is(c, ast.SurrogateSetting))
        return ast.PolicyDecl(span=self.span(meta), name=str(ch[0]), index=index,
                              observe=observe[1], decide=decide[1], settings=settings)

    # ---- dynamics and control --------------------------------------------------------------
    def system_decl(self, meta: Meta, ch: list[Any]) -> ast.SystemDecl:
        return ast.SystemDecl(span=self.span(meta), name=str(ch[0]),
                              body=tuple(c for c in ch[1:] if isinstance(c, ast.Node)))

    def signal_kind(self, meta: Meta, ch: list[Any]) -> str:
        return str(ch[0])

    def signal_decl(self, meta: Meta, ch: list[Any]) -> ast.SignalDecl:
        return ast.SignalDecl(span=self.span(meta), kind=ch[0], items=tuple(ch[1:]))

    def signal_item(self, meta: Meta, ch: list[Any]) -> ast.SignalItem:
        unit = next((c for c in ch if _is(c, ast.UnitExpr)), None)
        low, high = next((c[1:] for c in ch if isinstance(c, tuple) and c[0] == "bounds"),
                         (None, None))
        rest = [c for c in ch[1:] if not _is(c, ast.UnitExpr) and not isinstance(c, tuple)]
        return ast.SignalItem(span=self.span(meta), name=str(ch[0]), unit=unit, low=low,
                              high=high, value=rest[0] if rest else None)

    def der_decl(self, meta: Meta, ch: list[Any]) -> ast.DerDecl:
        return ast.DerDecl(span=self.span(meta), name=str(ch[0]), name_span=self.span(ch[0]),
                           value=ch[1])

    def controller_decl(self, meta: Meta, ch: list[Any]) -> ast.ControllerDecl:
        likes = tuple(c[1] for c in ch if isinstance(c, tuple) and c[0] == "like")
        objective = next((c for c in ch if _is(c, ast.ControllerObjective)), None)
        bounds = tuple(b for c in ch if isinstance(c, tuple) and c[0] == "subject"
                       for b in c[1])
        settings = tuple(c for c in ch if _is(c, ast.SurrogateSetting))
        return ast.ControllerDecl(span=self.span(meta), name=str(ch[0]), system=str(ch[1]),
                                  likes=likes, settings=settings, objective=objective,
                                  bounds=bounds)

    def ctl_like(self, meta: Meta, ch: list[Any]) -> tuple[str, tuple[str, Span]]:
        return ("like", (str(ch[0]), self.span(ch[0])))

    def ctl_objective(self, meta: Meta, ch: list[Any]) -> ast.ControllerObjective:
        stage = next((c[1] for c in ch if isinstance(c, tuple) and c[0] == "stage"), None)
        return ast.ControllerObjective(span=self.span(meta), sense=ch[0], stage=stage,
                                       value=ch[-1])

    def stage_sum(self, meta: Meta, ch: list[Any]) -> tuple[str, str]:
        return ("stage", str(ch[0]))

    def ctl_subject(self, meta: Meta, ch: list[Any]) -> tuple[str, tuple[Any, ...]]:
        return ("subject", tuple(c for c in ch if _is(c, ast.ControllerBound)))

    def ctl_bound(self, meta: Meta, ch: list[Any]) -> ast.ControllerBound:
        return ast.ControllerBound(span=self.span(meta), value=ch[0], low=ch[1], high=ch[2])

    def simulate_decl(self, meta: Meta, ch: list[Any]) -> ast.SimulateDecl:
        opt = {c[0]: c[1] for c in ch if isinstance(c, tuple)}
        settings = tuple(c for c in ch if _is(c, ast.SurrogateSetting))
        return ast.SimulateDecl(span=self.span(meta), system=str(ch[0]), duration=ch[1],
                                controller=opt.get("with"), label=opt.get("as"),
                                settings=settings)

    def sim_with(self, meta: Meta, ch: list[Any]) -> tuple[str, str]:
        return ("with", str(ch[0]))

    def sim_as(self, meta: Meta, ch: list[Any]) -> tuple[str, str]:
        return ("as", str(ch[0]))

    def pol_penalty(self, meta: Meta, ch: list[Any]) -> ast.SurrogateSetting:
        return ast.SurrogateSetting(span=self.span(meta), key="penalty", value=ch[-1])

    def pol_observe(self, meta: Meta, ch: list[Any]) -> tuple[str, tuple[Any, ...]]:
        return ("observe", tuple(ch))

    def pol_decide(self, meta: Meta, ch: list[Any]) -> tuple[str, tuple[Any, ...]]:
        return ("decide", tuple(ch))

    def sur_side(self, meta: Meta, ch: list[Any]) -> ast.SurrogateSide:
        unit = ch[2] if len(ch) > 2 else None
        return ast.SurrogateSide(span=self.span(meta), name=str(ch[0]), index=str(ch[1]),
                                 unit=unit)

    def sur_setting(self, meta: Meta, ch: list[Any]) -> ast.SurrogateSetting:
        return ast.SurrogateSetting(span=self.span(meta), key=str(ch[0]), value=ch[1])

    def kwarg(self, meta: Meta, ch: list[Any]) -> tuple[str, Any]:
        return (str(ch[0]), ch[1])

    def tuple(self, meta: Meta, ch: list[Any]) -> ast.TupleExpr:
        return ast.TupleExpr(span=self.span(meta), items=tuple(ch))

    def sum_expr(self, meta: Meta, ch: list[Any]) -> ast.Sum:
        iters = tuple(c for c in ch if _is(c, ast.Iterator))
        where = next((c[1] for c in ch if isinstance(c, tuple)), None)
        return ast.Sum(span=self.span(meta), iterators=iters, where=where, body=ch[-1])

    def _bin(self, op: str, meta: Meta, ch: list[Any]) -> ast.BinOp:
        return ast.BinOp(span=self.span(meta), op=op, left=ch[0], right=ch[-1])  # type: ignore[arg-type]

    def add(self, meta: Meta, ch: list[Any]) -> ast.BinOp:
        return self._bin("+", meta, ch)

    def sub(self, meta: Meta, ch: list[Any]) -> ast.BinOp:
        return self._bin("-", meta, ch)

    def mul(self, meta: Meta, ch: list[Any]) -> ast.BinOp:
        return self._bin("*", meta, ch)

    def div(self, meta: Meta, ch: list[Any]) -> ast.BinOp:
        return self._bin("/", meta, ch)

    def pow(self, meta: Meta, ch: list[Any]) -> ast.BinOp:
        return self._bin("^", meta, ch)

    def and_op(self, meta: Meta, ch: list[Any]) -> ast.BinOp:
        return self._bin("and", meta, ch)

    def or_op(self, meta: Meta, ch: list[Any]) -> ast.BinOp:
        return self._bin("or", meta, ch)

    def neg(self, meta: Meta, ch: list[Any]) -> ast.Neg | ast.Num:
        op = ch[0]
        if isinstance(op, ast.Num) and op.text == "inf":
            # `-inf` is one constant (the lower end of a range), not arithmetic on infinity
            return ast.Num(span=self.span(meta), value=float("-inf"), text="-inf")
        return ast.Neg(span=self.span(meta), operand=op)

    def not_op(self, meta: Meta, ch: list[Any]) -> ast.Not:
        return ast.Not(span=self.span(meta), operand=ch[0])

    def cmp_op(self, meta: Meta, ch: list[Any]) -> str:
        return str(ch[0])

    def compare(self, meta: Meta, ch: list[Any]) -> ast.Compare:
        return ast.Compare(span=self.span(meta), operands=tuple(ch[0::2]), ops=tuple(ch[1::2]))

    def if_expr(self, meta: Meta, ch: list[Any]) -> ast.IfExpr:
        return ast.IfExpr(span=self.span(meta), cond=ch[0], then=ch[1], other=ch[2])

    def __default__(self, data: str, children: list[Any], meta: Meta) -> Any:
        raise QglSyntaxError(f"internal: no AST rule for {data!r}", self.span(meta))
