"""qgl expressions as LaTeX math: the syntax tree becomes a sympy expression, sympy prints it.

sympy decides what a paper would: parentheses by precedence, ``\\frac`` for a division, signs of
a subtraction. The model's own names stay (``\\mathit{spill\\_cost}_{s,t}``), so they are atoms
(:class:`Tex`) that print as themselves; sums over the model's sets and the language's functions
are small sympy expressions of their own with a ``_latex`` method. Every expression is built
with ``evaluate=False`` and printed with ``order="none"``: the terms stay in the order the
modeller wrote them.

The LaTeX is kept inside what matplotlib's mathtext reads as well as LaTeX does (no
``\\begin{…}`` environments, ``\\wedge`` rather than ``\\land``), so every formula can be
checked where no LaTeX engine is installed.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import sympy
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE

from qgridlang import ast

GREEK = frozenset({
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
    "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "phi", "chi", "psi", "omega",
    "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Phi", "Psi", "Omega",
})

_OPS = {"==": "=", "<=": r"\leq", ">=": r"\geq", "<": "<", ">": ">", "!=": r"\neq"}
_FUNCS = {"min": r"\min", "max": r"\max", "exp": r"\exp", "log": r"\ln"}
_DISTRIBUTIONS = {"normal": r"\mathcal{N}", "uniform": r"\mathcal{U}"}


def escape_text(text: str) -> str:
    """Text for a LaTeX argument (``\\mathit{…}``, ``\\mathrm{…}``)."""
    return (text.replace("\\", r"\backslash ").replace("_", r"\_").replace("$", r"\$")
            .replace("%", r"\%").replace("&", r"\&").replace("#", r"\#")
            .replace("{", r"\{").replace("}", r"\}"))


def name_tex(name: str) -> str:
    """A model name as a paper prints it: one letter italic, a Greek name as its letter, a
    longer name upright-italic as one word (``\\mathit{demand}``)."""
    primes = len(name) - len(name.rstrip("'"))
    if primes:
        return name_tex(name[:-primes]) + "'" * primes
    if name in GREEK:
        return "\\" + name
    if name == "dt":
        return r"\Delta t"
    if len(name) == 1:
        return name
    return r"\mathit{" + escape_text(name) + "}"


def unit_tex(unit: str) -> str:
    """``$/MW^2/h`` as ``\\$/\\mathrm{MW}^{2}/\\mathrm{h}``; ``%`` as ``\\%``."""
    if not unit:
        return ""
    out = []
    for tok in re.findall(r"[A-Za-z_µΩ°]+|\^-?\d+(?:\.\d+)?|\d+(?:\.\d+)?|\S", unit):
        if tok.startswith("^"):
            out.append("^{" + tok[1:] + "}")
        elif tok[0].isalpha() or tok[0] in "_µΩ°":
            out.append(r"\mathrm{" + escape_text(tok) + "}")
        elif tok in "$%":
            out.append("\\" + tok)
        elif tok == "*":
            out.append(r"\cdot ")
        else:
            out.append(tok)
    return "".join(out)


def number_tex(text: str) -> str:
    """A literal as written, with an exponent as a power of ten (``1e-3`` → ``1 \\cdot
    10^{-3}``) and ``inf`` as ``\\infty``."""
    if text in ("inf", "infinity"):
        return r"\infty"
    m = re.fullmatch(r"([0-9.]+)[eE]([+-]?\d+)", text)
    if m:
        exp = str(int(m.group(2)))
        return (m.group(1) + r" \cdot " if m.group(1) not in ("1", "1.0") else "") + \
            "10^{" + exp + "}"
    return text


class Tex(sympy.Symbol):
    """An atom printed as its own LaTeX (a model name, a quantity, a label)."""

    def _latex(self, printer: LatexPrinter) -> str:
        return self.name


class Number(Tex):
    """A literal, printed as written; sympy treats it as a number (a ``\\cdot`` before it)."""

    is_number = False

    def _latex(self, printer: LatexPrinter) -> str:
        return number_tex(self.name)


class _Wrapped(sympy.Expr):
    """A sympy expression printed by a ``str.format`` template of its printed arguments."""

    precedence = PRECEDENCE["Func"]

    def __new__(cls, template: str, *args: sympy.Basic) -> _Wrapped:
        return sympy.Expr.__new__(cls, sympy.Symbol(template), *args)

    def _latex(self, printer: LatexPrinter) -> str:
        template = self.args[0].name
        parts = [printer._print(a) for a in self.args[1:]]
        return template.format(*parts)


class SetSum(sympy.Expr):
    """``\\sum_{u \\in U} body``: a sum over the model's sets (sympy's own Sum wants bounds)."""

    precedence = PRECEDENCE["Mul"]

    def __new__(cls, under: str, body: sympy.Basic) -> SetSum:
        return sympy.Expr.__new__(cls, sympy.Symbol(under), body)

    def _latex(self, printer: LatexPrinter) -> str:
        under, body = self.args
        text = printer.parenthesize(body, PRECEDENCE["Mul"], strict=True)
        return r"\sum_{" + under.name + "} " + text


def printer() -> LatexPrinter:
    return LatexPrinter({"order": "none", "mul_symbol": "dot"})


class MathWriter:
    """Turns qgl expressions into LaTeX. ``rename`` maps a bare name to other LaTeX (a
    component parameter replaced by an instance's binding, a member by its instance's name)."""

    def __init__(self, rename: Callable[[str], sympy.Basic | None] | None = None) -> None:
        self.rename = rename
        self._printer = printer()

    # ---- public --------------------------------------------------------------------------
    def tex(self, expr: ast.Expr) -> str:
        """An expression or a relation (``a <= b``, ``0 <= x <= 1``) as LaTeX."""
        if isinstance(expr, ast.Compare):
            parts = [self.tex(expr.operands[0])]
            for op, rhs in zip(expr.ops, expr.operands[1:], strict=True):
                parts += [_OPS.get(op, op), self.tex(rhs)]
            return " ".join(parts)
        if isinstance(expr, ast.BinOp) and expr.op in ("and", "or"):
            sym = r"\wedge" if expr.op == "and" else r"\vee"
            return f"{self._logic(expr.left)} {sym} {self._logic(expr.right)}"
        if isinstance(expr, ast.Not):
            return r"\neg " + self._logic(expr.operand)
        return self._printer.doprint(self.sym(expr))

    def domain(self, index: ast.IndexSpec | None) -> str:
        """``\\forall s \\in S, t \\in T : cond`` (empty without an index)."""
        if index is None or not index.items:
            return ""
        names = index_vars(index)
        items = ", ".join(f"{name_tex(v)} \\in {self.set_tex(it.domain)}"
                          for v, it in zip(names, index.items, strict=True))
        cond = f" : {self.tex(index.where)}" if index.where is not None else ""
        return r"\forall " + items + cond

    def iterator(self, it: ast.Iterator) -> str:
        dom = self.set_tex(it.domain)
        return f"{name_tex(it.var)} \\in {dom}" if it.var else dom

    def set_tex(self, expr: ast.Expr) -> str:
        if isinstance(expr, ast.Ref) and len(expr.parts) == 1 and expr.parts[0].index is None:
            return name_tex(expr.parts[0].name)
        if isinstance(expr, ast.RangeExpr):
            return r"\{" + self.tex(expr.low) + r", \dots, " + self.tex(expr.high) + r"\}"
        if isinstance(expr, ast.LabelSet):
            return r"\{" + ", ".join(label_tex(x) for x in expr.labels) + r"\}"
        return self.tex(expr)

    def indices(self, index: ast.IndexSpec | None) -> str:
        """The subscript a declaration's index gives its name: ``_{s,t}`` (an anonymous index
        ``[S, T]`` gets the set's letter, ``_{s,t}``, as a paper writes it)."""
        if index is None or not index.items:
            return ""
        return "_{" + ",".join(name_tex(v) for v in index_vars(index)) + "}"

    # ---- expressions -> sympy ---------------------------------------------------------------
    def _logic(self, expr: ast.Expr) -> str:
        text = self.tex(expr)
        if isinstance(expr, ast.BinOp) and expr.op in ("and", "or"):
            return r"\left(" + text + r"\right)"
        return text

    def sym(self, e: ast.Expr) -> sympy.Basic:  # noqa: C901 - one case per node kind
        if isinstance(e, ast.Num):
            return Number(e.text)
        if isinstance(e, ast.Quantity):
            return Tex(number_tex(_num_text(e.value)) + r"\," + unit_tex(e.unit))
        if isinstance(e, ast.Str):
            return Tex(label_tex(e.value))
        if isinstance(e, ast.Ref):
            return self._ref(e)
        if isinstance(e, ast.BinOp):
            a, b = self.sym(e.left), self.sym(e.right)
            if e.op == "+":
                return sympy.Add(*_terms(a), *_terms(b), evaluate=False)
            if e.op == "-":
                return sympy.Add(*_terms(a), _negate(b), evaluate=False)
            if e.op == "*":
                return sympy.Mul(a, b, evaluate=False)
            if e.op == "/":
                return sympy.Mul(a, sympy.Pow(b, -1, evaluate=False), evaluate=False)
            if e.op == "^":
                return sympy.Pow(a, b, evaluate=False)
            return Tex(self.tex(e))
        if isinstance(e, ast.Neg):
            return _negate(self.sym(e.operand))
        if isinstance(e, ast.Sum):
            under = ", ".join(self.iterator(it) for it in e.iterators)
            if e.where is not None:
                under += " : " + self.tex(e.where)
            return SetSum(under, self.sym(e.body))
        if isinstance(e, ast.Call):
            return self._call(e)
        if isinstance(e, ast.CallIndex):
            sub = ",".join(self.tex(i) for i in e.index)
            return _Wrapped("{0}_{{" + _brace(sub) + "}}", self._call(e.call))
        if isinstance(e, ast.TupleExpr):
            return Tex(r"\left(" + ", ".join(self.tex(i) for i in e.items) + r"\right)")
        if isinstance(e, ast.IfExpr):
            return Tex(r"\left(" + self.tex(e.then) + r"\ \text{if}\ " + self.tex(e.cond)
                       + r"\ \text{else}\ " + self.tex(e.other) + r"\right)")
        if isinstance(e, ast.RangeExpr | ast.LabelSet):
            return Tex(self.set_tex(e))
        if isinstance(e, ast.Compare | ast.Not):
            return Tex(r"\left[" + self.tex(e) + r"\right]")
        raise TypeError(f"no LaTeX for {type(e).__name__}")  # pragma: no cover - exhaustive

    def _ref(self, r: ast.Ref) -> sympy.Basic:
        first = r.parts[0]
        if self.rename is not None:
            renamed = self.rename(first.name)
            if renamed is not None:
                if first.index is None and len(r.parts) == 1:
                    return renamed
                head = self._printer.doprint(renamed)
                if not isinstance(renamed, Tex):
                    head = r"\left(" + head + r"\right)"
                rest = [self._part(p) for p in r.parts[1:]]
                return Tex(".".join([head + self._subscript(first), *rest]))
        return Tex(".".join(self._part(p) for p in r.parts))

    def _part(self, p: ast.Part) -> str:
        return name_tex(p.name) + self._subscript(p)

    def _subscript(self, p: ast.Part) -> str:
        if not p.index:
            return ""
        return "_{" + ",".join(self.tex(i) for i in p.index) + "}"

    def _call(self, c: ast.Call) -> sympy.Basic:
        name = c.name
        args = [self.sym(a) for a in c.args]
        kw = [(k, self.sym(v)) for k, v in c.kwargs]
        if name == "sqrt" and len(args) == 1 and not kw:
            return sympy.Pow(args[0], sympy.Rational(1, 2), evaluate=False)
        if name == "abs" and len(args) == 1:
            return _Wrapped(r"\left|{0}\right|", args[0])
        if name == "pos" and len(args) == 1:
            return _Wrapped(r"\left({0}\right)^{{+}}", args[0])
        if name in ("floor", "ceil") and len(args) == 1:
            left, right = (r"\lfloor", r"\rfloor") if name == "floor" else (r"\lceil", r"\rceil")
            return _Wrapped(left + " {0} " + right, args[0])
        if name == "card" and len(args) == 1:
            return _Wrapped(r"\left|{0}\right|", args[0])
        if name == "expected" and len(args) == 1:
            return _Wrapped(r"\mathbb{{E}}\left[{0}\right]", args[0])
        if name == "cvar" and args:
            alpha = dict(kw).get("alpha", args[1] if len(args) > 1 else None)
            if alpha is not None:
                return _Wrapped(r"\mathrm{{CVaR}}_{{{1}}}\left[{0}\right]", args[0], alpha)
            return _Wrapped(r"\mathrm{{CVaR}}\left[{0}\right]", args[0])
        head = _FUNCS.get(name) or _DISTRIBUTIONS.get(name) or (
            r"\operatorname{" + escape_text(name) + "}")
        parts = list(args) + [Tex(name_tex(k) + " = " + self._printer.doprint(v))
                              for k, v in kw]
        template = _brace(head) + r"\left(" + ", ".join(
            "{" + str(i) + "}" for i in range(len(parts))) + r"\right)"
        return _Wrapped(template, *parts)


def index_vars(index: ast.IndexSpec) -> list[str]:
    """The iterator names of an index; an anonymous one is named for its set (``T`` -> ``t``,
    ``Units`` -> ``u``), primed where two would clash."""
    taken = {it.var for it in index.items if it.var}
    out = []
    for it in index.items:
        if it.var:
            out.append(it.var)
            continue
        d = it.domain
        base = d.parts[0].name if isinstance(d, ast.Ref) and d.parts else "i"
        v = base[0].lower() if base[:1].isalpha() else "i"
        while v in taken:
            v += "'"
        taken.add(v)
        out.append(v)
    return out


def label_tex(label: int | str) -> str:
    return str(label) if isinstance(label, int) else r"\mathrm{" + escape_text(str(label)) + "}"


def _brace(text: str) -> str:
    """``text`` safe inside a ``str.format`` template."""
    return text.replace("{", "{{").replace("}", "}}")


def _num_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(value)


def _terms(e: sympy.Basic) -> tuple[sympy.Basic, ...]:
    return e.args if isinstance(e, sympy.Add) else (e,)


def _negate(e: sympy.Basic) -> sympy.Basic:
    if isinstance(e, sympy.Add):
        e = sympy.Mul(sympy.Integer(1), e, evaluate=False)  # keeps its parentheses
        return sympy.Mul(sympy.S.NegativeOne, e.args[1], evaluate=False)
    return sympy.Mul(sympy.S.NegativeOne, e, evaluate=False)
