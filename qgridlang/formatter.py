"""``qglc fmt``: the canonical layout of ``.qgl`` text.

The formatter works on the parser's own tokens (the same grammar, lexer and parse), so it never
changes what a model means, and keeps every comment. Its style, taken from the examples:

- Line structure is the author's: a statement written on three lines stays on three lines, and
  ``a = 1; b = 2`` stays on one. (Lines carry meaning in qgl: a unit belongs to the number on
  its line.) Trailing whitespace goes; runs of blank lines become one; the file ends with one
  newline and starts with its first non-blank line.
- Indentation: two spaces per open ``{`` block for each statement (a block whose first
  statement follows ``{`` on its line keeps the alignment of its later lines). A continuation
  line (one that does not begin a statement) is indented at least one step deeper than its
  statement;
  deeper hand alignment (under an opening parenthesis, under the first name) is kept.
- Spacing: one space around binary operators, ``=``, ``~``, ``->``, comparisons and keywords;
  one space after ``,``, ``;`` and ``:`` and none before them; none inside ``( )`` and ``[ ]``,
  before a call's or a subscript's opening bracket, around ``.``, ``^`` and after a unary minus;
  ``..`` is tight between two one-token ends (``1..24``, ``1..n``) and spaced otherwise
  (``0 .. n - 1``) and in bounds (``in 0 .. pmax[g]``);
  set and table braces are tight (``{u1, u2}``), block braces spaced (``{ rating = 2 MW }``);
  a unit is written after its number with one space (``600 kWh``) and compound units are tight
  (``$/MWh``, ``MW^2``).
- Comments: a comment on its own line takes its line's indentation (at least the block's); a
  trailing comment keeps its column, or moves right to stay two spaces after the code.

:func:`format_text` checks its own output: the formatted text must parse to the same syntax
tree (spans aside) as the input, or it raises instead of returning changed meaning.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from lark import Lark, Token, Tree

from qgridlang import ast
from qgridlang.errors import QglError, Span

# Rules whose first token begins a statement (top level or inside a `{ }` block).
_STATEMENT_RULES = frozenset({
    "model_decl", "import_stmt", "use_stmt", "time_decl", "set_decl", "param_decl", "var_decl",
    "expr_decl", "constraint_decl", "objective", "component_decl", "instance", "scenarios_decl",
    "quantum_block", "network_decl", "surrogate_decl", "policy_decl", "system_decl",
    "controller_decl", "simulate_decl", "port_decl", "node_decl", "ignore_decl", "binding",
    "sample_stmt", "encode_stmt", "penalty_stmt", "sur_setting", "pol_penalty", "signal_decl",
    "der_decl", "ctl_like", "ctl_objective", "ctl_subject",
})
_UNIT_RULES = frozenset({"unit_expr", "unit_term", "unit_atom", "unit_mul", "unit_div",
                         "unit_pow"})
_TIGHT_BRACES = frozenset({"label_set", "table"})  # `{u1, u2}`, `{1: 220, 2: 260}`
_OPERANDS = frozenset({"NAME", "NUMBER", "SIGNED_INT", "STRING", "UNIT", "DOLLAR", "PERCENT",
                       "UNIT_ONE", "RPAR", "RSQB"})
_CALLERS = frozenset({"sum", "observe", "decide"})  # keywords written like a call: `sum(…)`


@dataclass
class _Tok:
    text: str
    type: str
    line: int
    column: int  # 1-based
    end_column: int
    parent: str  # the rule the token belongs to
    units: bool  # inside a unit expression (`$/MWh`)
    starts: bool  # the first token of a statement
    tight: bool = False  # `..` between two one-token operands (`1..24`)


@lru_cache(maxsize=1)
def _full_parser() -> Lark:
    """The qgl grammar with every token kept in the tree (punctuation included)."""
    from qgridlang.parser import grammar_text

    return Lark(grammar_text(), parser="lalr", propagate_positions=True,
                maybe_placeholders=False, keep_all_tokens=True, cache=True)


def _tokens(tree: Tree[Token]) -> list[_Tok]:
    out: list[_Tok] = []
    first_of: set[int] = set()  # start positions of statements
    tight_ranges: set[int] = set()  # the `..` tokens of `1..24`
    # iterative: a 10,000-term sum is a deep tree
    stack: list[tuple[Any, tuple[str, ...]]] = [(tree, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, Tree):
            rule = str(node.data)
            if rule in _STATEMENT_RULES and not getattr(node.meta, "empty", True):
                first_of.add(node.meta.start_pos)
            sub = (*path, rule)
            if rule == "range" and len(node.children) == 3 and all(
                    _single(c) for c in (node.children[0], node.children[2])):
                tight_ranges.add(id(node.children[1]))
            stack.extend((c, sub) for c in reversed(node.children))
        else:
            tok: Token = node
            text = str(tok).strip() if tok.type == "UNIT" else str(tok)
            col = (tok.column or 1) + (len(str(tok)) - len(str(tok).lstrip()))
            out.append(_Tok(text, tok.type, tok.line or 1, col, col + len(text),
                            path[-1] if path else "", any(p in _UNIT_RULES for p in path),
                            False))
            out[-1].starts = (tok.start_pos or 0) in first_of
            out[-1].tight = id(tok) in tight_ranges
    # a statement's start position is its first token's (UNIT never starts one)
    return out


def _single(node: Any) -> bool:
    """One token: a number, a name (`1..24`, `1..n`, not `0 .. n - 1`)."""
    while isinstance(node, Tree) and len(node.children) == 1:
        node = node.children[0]
    return isinstance(node, Token)


def _space(a: _Tok, b: _Tok, brace_tight: list[bool], before_a: _Tok | None = None) -> str:
    """The text between two tokens on one line."""
    if b.type == "UNIT":  # `600 kWh`
        return " "
    if a.units and b.units and ({a.text, b.text} & {"*", "/"}):  # `$/MWh`, `kW*h`
        return ""
    if (a.type == "UNIT" and b.text == "^") or (
            a.text == "^" and before_a is not None and before_a.type == "UNIT"):
        return " "  # `3 MW ^ 2` squares the quantity; `3 MW^2` would be the unit MW^2
    if a.text == "^" or b.text == "^":
        return ""
    if b.text in (",", ";", ":", ")", "]") or a.text in ("(", "["):
        return ""
    if a.text == "." or b.text == ".":
        return ""
    if a.text == ".." or b.text == "..":
        return "" if (b if b.text == ".." else a).tight else " "
    if b.text == "}":
        return "" if (brace_tight[-1] if brace_tight else False) or a.text == "{" else " "
    if a.text == "{":
        return "" if brace_tight and brace_tight[-1] else " "
    if a.text in ("-", "+") and a.parent in ("neg", "factor"):  # unary
        return ""
    if b.text == "(":
        if a.type == "NAME" and not (a.parent == "variant"):
            return ""
        return "" if a.text in _CALLERS else " "
    if b.text == "[":
        return "" if a.type in ("NAME", "RPAR", "RSQB") else " "
    return " "


def _layout(text: str, toks: list[_Tok]) -> str:
    lines = text.split("\n")
    by_line: dict[int, list[_Tok]] = {}
    for t in toks:
        by_line.setdefault(t.line, []).append(t)
    out: list[str] = []
    depth = 0  # open `{` blocks
    brace_tight: list[bool] = []
    inline: list[bool] = []  # per open block: statements follow its `{` on the same line
    prev: _Tok | None = None
    for no, raw in enumerate(lines, start=1):
        raw = raw.rstrip("\r")
        line_toks = by_line.get(no, [])
        comment = _comment(raw, line_toks)
        original = len(raw) - len(raw.lstrip(" \t"))
        if not line_toks:
            if comment is None:
                out.append("")
            else:
                out.append(" " * max(2 * depth, original) + comment)
            continue
        first = line_toks[0]
        closes = first.text == "}" and bool(brace_tight) and not brace_tight[-1]
        level = depth - 1 if closes else depth
        if first.starts and inline and inline[-1]:
            # `x at b { p = 1;\n            q = 2 }`: a block written inline keeps its alignment
            indent = max(2 * level, original)
        elif first.starts or closes or first.text == ";" or prev is None:
            indent = 2 * level
        else:  # a continuation: one step deeper than the statement, or the author's alignment
            indent = max(2 * level + 2, original)
        parts = [" " * indent]
        before: _Tok | None = None
        before2: _Tok | None = None
        for t in line_toks:
            if before is not None:
                parts.append(_space(before, t, brace_tight, before2))
            parts.append(t.text)
            # set and table braces are brackets of a value, not blocks: no indentation step
            if t.text == "{":
                brace_tight.append(t.parent in _TIGHT_BRACES)
                if not brace_tight[-1]:
                    depth += 1
                    inline.append(t is not line_toks[-1])
            elif t.text == "}" and brace_tight:
                if not brace_tight.pop():
                    depth = max(0, depth - 1)
                    if inline:
                        inline.pop()
            before2, before = before, t
            prev = t
        code = "".join(parts)
        if comment is not None:
            col = comment_column(raw, comment)
            code += " " * max(2, col - len(code)) + comment
        out.append(code)
    # blank lines: none at the start or end, at most one in a row
    result: list[str] = []
    for ln in out:
        if not ln.strip():
            if result and result[-1] != "":
                result.append("")
        else:
            result.append(ln)
    while result and result[-1] == "":
        result.pop()
    return "\n".join(result) + "\n" if result else ""


def comment_column(raw: str, comment: str) -> int:
    """0-based column where a trailing comment starts in the original line."""
    return raw.rfind(comment)


def _comment(raw: str, line_toks: list[_Tok]) -> str | None:
    """The comment of a line: the ``#…`` after its last token (strings are tokens)."""
    start = line_toks[-1].end_column - 1 if line_toks else 0
    rest = raw[start:]
    at = rest.find("#")
    return rest[at:].rstrip() if at >= 0 else None


def format_text(text: str, file: str = "<string>") -> str:
    """The canonical layout of ``text`` (see the module docstring).

    Raises:
        QglSyntaxError: ``text`` does not parse (located at the offending token).
        QglError: the formatted text would not mean the same (a formatter bug, never silent).
    """
    from qgridlang.parser import parse

    text = text.removeprefix("\ufeff").replace("\r\n", "\n")
    before = parse(text, file)  # the located syntax error, as `qglc check` reports it
    tree = _full_parser().parse(text)
    result = _layout(text, _tokens(tree))
    try:
        after = parse(result, file)
    except QglError as exc:
        raise QglError(f"internal: the formatted text does not parse ({exc.message}); this "
                       "is a bug in qglc fmt, the file is left unchanged", Span(file, 1, 1)) \
            from None
    if shape(after) != shape(before):
        raise QglError("internal: formatting would change the model; this is a bug in qglc "
                       "fmt, the file is left unchanged", Span(file, 1, 1))
    return result


def shape(node: Any) -> Any:
    """A node without its positions: two parses of one model compare equal."""
    if isinstance(node, ast.Program):
        return shape(node.statements)
    if isinstance(node, ast.Node):
        return (type(node).__name__,) + tuple(
            (k, shape(getattr(node, k))) for k in type(node).model_fields
            if k not in ("span", "name_span"))
    if isinstance(node, tuple | list):
        return tuple(shape(x) for x in node)
    if isinstance(node, Span):
        return None
    return node
