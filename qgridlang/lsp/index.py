"""What the language server knows about a document without checking it: its declarations
(name, kind, span, index sets, unit, doc comment), the names it uses and where, and the same
for the files it imports (the standard library included).

Built from the syntax tree alone (:func:`qgridlang.program.parse_cached`), so hover, go to
definition, references and the outline answer in milliseconds, also while the checker runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qgridlang import ast
from qgridlang.errors import QglError, Span

# Units offered by completion after a number or a `:` (the ones the examples use).
UNITS = ("kW", "MW", "GW", "kWh", "MWh", "GWh", "h", "min", "s", "$", "€", "%", "$/MWh",
         "$/kWh", "$/h", "$/MW", "pu", "kV", "V", "A", "ohm", "Hz", "rad", "MVAr", "kVAr",
         "kg", "t", "degC")


@dataclass
class Symbol:
    """A declaration: a set, parameter, variable, component, one of its members …"""

    name: str
    kind: str  # "set", "time set", "param", "var", "expr", "constraint", "component", …
    file: str
    span: Span  # the whole declaration
    name_span: Span  # the name itself
    container: str | None = None  # the component a member belongs to
    index: tuple[str, ...] = ()  # index sets as written: ("g in G", "T")
    unit: str | None = None
    detail: str = ""  # one line of source: the declaration's head
    doc: str = ""  # the comment lines just above the declaration (and one on its line)
    type_name: str | None = None  # an instance's component
    params: tuple[tuple[str, str | None, str | None], ...] = ()  # component: (name, unit, default)
    children: list[Symbol] = field(default_factory=list)  # component members


@dataclass
class Occurrence:
    """A use of a name: ``demand[t]`` (name), ``gen[u].cost`` (member ``cost`` of ``gen``),
    ``thermal_unit gen …`` (component type), ``csv("data/x.csv")`` (a file)."""

    name: str
    span: Span
    role: str  # "name" | "member" | "type" | "binding" | "file"
    owner: str | None = None  # for a member: the dotted prefix's first name (`gen`)
    path: Path | None = None  # for a file


@dataclass
class Local:
    """An index variable (`t in T`) and the statement it is visible in."""

    name: str
    domain: str
    span: Span
    scope: Span


@dataclass
class FileIndex:
    file: str
    text: str
    symbols: list[Symbol]
    occurrences: list[Occurrence]
    locals: list[Local]
    imports: list[tuple[Span, Path]]  # the import/use statement and the file it names
    program: ast.Program | None


def _line_starts(text: str) -> list[int]:
    starts = [0]
    for m in re.finditer("\n", text):
        starts.append(m.end())
    return starts


class Source:
    """A file's text with 1-based (line, column) <-> offset conversion."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = _line_starts(text)

    def offset(self, line: int, column: int) -> int:
        if line < 1:
            return 0
        if line > len(self.starts):
            return len(self.text)
        return min(self.starts[line - 1] + max(column, 1) - 1, len(self.text))

    def position(self, offset: int) -> tuple[int, int]:
        lo, hi = 0, len(self.starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.starts[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        return lo + 1, offset - self.starts[lo] + 1

    def snippet(self, span: Span | None) -> str:
        if span is None or span.line <= 0:
            return ""
        a = self.offset(span.line, span.column)
        b = self.offset(span.end_line or span.line, span.end_column or span.column + 1)
        return self.text[a:b]

    def find_name(self, name: str, span: Span, skip_first_word: bool) -> Span:
        """The span of ``name`` inside a declaration (the first whole-word match, after the
        keyword or the component type when ``skip_first_word``)."""
        start = self.offset(span.line, span.column)
        end = self.offset(span.end_line or span.line, span.end_column or span.column) \
            if span.end_line else len(self.text)
        if skip_first_word:
            m = re.match(r"\s*\w+", self.text[start:end])
            start += m.end() if m else 0
        m = re.compile(rf"(?<![\w.]){re.escape(name)}(?!\w)").search(self.text, start, end)
        if m is None:
            return span
        line, col = self.position(m.start())
        return Span(span.file, line, col, line, col + len(name))

    def doc_above(self, line: int) -> str:
        """Comment lines right above ``line`` (1-based), and a comment at its end."""
        lines = self.text.split("\n")
        out: list[str] = []
        i = line - 2
        while i >= 0 and lines[i].lstrip().startswith("#"):
            out.append(lines[i].lstrip()[1:].strip())
            i -= 1
        out.reverse()
        if 0 < line <= len(lines):
            trailing = _trailing_comment(lines[line - 1])
            if trailing:
                out.append(trailing)
        # a section banner (`# ---- networks ----`) is not documentation
        return "\n".join(x for x in out if not re.fullmatch(r"-+.*-+", x)).strip()


def _trailing_comment(line: str) -> str | None:
    in_string = False
    for i, ch in enumerate(line):
        if ch == '"':
            in_string = not in_string
        elif ch == "#" and not in_string:
            return line[i + 1:].strip() if line[:i].strip() else None
    return None


# ---- building -----------------------------------------------------------------------------------

def _children(node: Any) -> Iterator[Any]:
    for key in type(node).model_fields:
        if key in ("span", "name_span", "source"):
            continue
        v = getattr(node, key)
        if isinstance(v, ast.Node):
            yield v
        elif isinstance(v, tuple):
            for x in v:
                if isinstance(x, ast.Node):
                    yield x
                elif isinstance(x, tuple):  # kwargs: (name, expr)
                    yield from (y for y in x if isinstance(y, ast.Node))


def _walk(node: Any) -> Iterator[Any]:
    stack = [node]
    while stack:  # iterative: a 10,000-term sum nests deep
        n = stack.pop()
        yield n
        stack.extend(reversed(list(_children(n))))


def _index_texts(src: Source, spec: ast.IndexSpec | None) -> tuple[str, ...]:
    if spec is None:
        return ()
    return tuple(src.snippet(it.span) for it in spec.items)


def _unit(u: ast.UnitExpr | None) -> str | None:
    return u.text if u is not None else None


def _head(src: Source, span: Span) -> str:
    """The declaration's first line, trimmed (shown in hover and the outline)."""
    line = src.text.split("\n")[span.line - 1] if span.line > 0 else ""
    code = line.split("#", 1)[0] if _trailing_comment(line) is not None else line
    return code.strip()


def build(text: str, file: str) -> FileIndex:
    """The index of one file's text; a file that does not parse has no symbols."""
    from qgridlang.program import parse_cached

    src = Source(text)
    try:
        prog = parse_cached(text, file)
    except QglError:
        # text being typed: no symbols of its own, but its imports (read line by line) still
        # give completion the components and the names of the files it uses
        return FileIndex(file, text, [], [], [], _imports_by_line(text, file), None)
    symbols: list[Symbol] = []
    occ: list[Occurrence] = []
    locs: list[Local] = []
    imports: list[tuple[Span, Path]] = []
    base = Path(file).parent
    for st in prog.statements:
        if isinstance(st, ast.Import):
            imports.append((st.span, (base / st.path)))
        elif isinstance(st, ast.Use):
            from qgridlang.resources import data_file

            imports.append((st.span, data_file("models", f"{st.name}.qgl")))
        symbols.extend(_declare(src, st, file, None))
        _uses(src, st, file, occ, locs, base)
    return FileIndex(file, text, symbols, occ, locs, imports, prog)


_IMPORT_LINE = re.compile(r'^[ \t]*(?:import[ \t]+"([^"\n]+)"|use[ \t]+([A-Za-z_]\w*))', re.M)


def _imports_by_line(text: str, file: str) -> list[tuple[Span, Path]]:
    from qgridlang.resources import data_file, library_names

    out = []
    for m in _IMPORT_LINE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        span = Span(file, line, 1, line, len(m.group(0)) + 1)
        if m.group(1):
            out.append((span, Path(file).parent / m.group(1)))
        elif m.group(2) in library_names():
            out.append((span, data_file("models", f"{m.group(2)}.qgl")))
    return out


def _sym(src: Source, node: Any, name: str, kind: str, file: str, container: str | None,
         skip_first: bool = True, **kw: Any) -> Symbol:
    name_span = src.find_name(name, node.span, skip_first)
    return Symbol(name, kind, file, node.span, name_span, container,
                  detail=_head(src, node.span), doc=src.doc_above(node.span.line), **kw)


def _declare(src: Source, st: Any, file: str, container: str | None) -> list[Symbol]:
    out: list[Symbol] = []
    if isinstance(st, ast.SetDecl):
        out.append(_sym(src, st, st.name, "time set" if st.step else "set", file, container))
    elif isinstance(st, ast.ParamDecl):
        for h in st.heads:
            s = _sym(src, h, h.name, "param", file, container, skip_first=False,
                     index=_index_texts(src, h.index), unit=_unit(h.unit))
            s.doc = s.doc or src.doc_above(st.span.line)
            s.detail = _head(src, st.span) if h is st.heads[0] else src.snippet(h.span)
            out.append(s)
    elif isinstance(st, ast.VarDecl):
        out.append(_sym(src, st, st.name, f"var ({st.kind})", file, container,
                        index=_index_texts(src, st.index), unit=_unit(st.unit)))
    elif isinstance(st, ast.ExprDecl):
        out.append(_sym(src, st, st.name, "expr", file, container,
                        index=_index_texts(src, st.index), unit=_unit(st.unit)))
    elif isinstance(st, ast.ConstraintDecl):
        out.append(_sym(src, st, st.name, "constraint", file, container,
                        index=_index_texts(src, st.index)))
    elif isinstance(st, ast.Objective) and st.name:
        out.append(_sym(src, st, st.name, "objective", file, container))
    elif isinstance(st, ast.PortDecl):
        out.append(_sym(src, st, st.name, "port", file, container,
                        index=_index_texts(src, st.index)))
    elif isinstance(st, ast.NodeDecl):
        out.append(_sym(src, st, st.name, "node (bus balance)", file, container,
                        index=_index_texts(src, st.index)))
    elif isinstance(st, ast.ComponentDecl):
        params = tuple((p.name, _unit(p.unit), src.snippet(p.default.span) if p.default else None)
                       for p in st.params)
        comp = _sym(src, st, st.name, "component", file, container, params=params)
        if st.variant:
            comp.kind = f"component (variant for {st.variant})"
        for p in st.params:
            par = _sym(src, p, p.name, "component parameter", file, st.name, skip_first=False,
                       index=_index_texts(src, p.index), unit=_unit(p.unit))
            par.detail = src.snippet(p.span)
            # the comment at the end of its line, not the component's documentation above
            trailing = _trailing_comment(src.text.split("\n")[p.span.line - 1])
            par.doc = trailing or "" if p.span.line != st.span.line else ""
            comp.children.append(par)
        for b in st.body:
            comp.children.extend(_declare(src, b, file, st.name))
        out.append(comp)
    elif isinstance(st, ast.Instance):
        out.append(_sym(src, st, st.name, "instance", file, container, type_name=st.type_name,
                        index=_index_texts(src, st.index)))
    elif isinstance(st, ast.ScenariosDecl):
        for s in st.samples:
            out.append(_sym(src, s, s.name, "sampled param", file, container,
                            skip_first=False, index=_index_texts(src, s.index)))
    elif isinstance(st, ast.SurrogateDecl):
        out.append(_sym(src, st, st.name, "surrogate", file, container))
    elif isinstance(st, ast.PolicyDecl):
        out.append(_sym(src, st, st.name, "policy", file, container))
    elif isinstance(st, ast.SystemDecl):
        sysm = _sym(src, st, st.name, "system", file, container)
        for b in st.body:
            if isinstance(b, ast.SignalDecl):
                for it in b.items:
                    sysm.children.append(_sym(src, it, it.name, b.kind, file, st.name,
                                              skip_first=False, unit=_unit(it.unit)))
            else:
                sysm.children.extend(_declare(src, b, file, st.name))
        out.append(sysm)
    elif isinstance(st, ast.ControllerDecl):
        out.append(_sym(src, st, st.name, "controller", file, container))
    return out


_FILE_CALLS = ("csv", "read", "table", "parquet")


def _uses(src: Source, st: Any, file: str, occ: list[Occurrence], locs: list[Local],
          base: Path) -> None:
    if isinstance(st, ast.Instance):
        occ.append(Occurrence(st.type_name, src.find_name(st.type_name, st.span, False), "type"))
        for b in st.bindings:  # `{ pmax = … }`: the component's parameter pmax
            occ.append(Occurrence(b.name, src.find_name(b.name, b.span, False), "binding",
                                  owner=st.type_name))
    for node in _walk(st):
        if isinstance(node, ast.Ref):
            first = node.parts[0]
            occ.append(Occurrence(first.name, _part_name_span(first), "name"))
            for part in node.parts[1:]:
                occ.append(Occurrence(part.name, _part_name_span(part), "member",
                                      owner=first.name))
        elif isinstance(node, ast.Call):
            if node.name in _FILE_CALLS and node.args and isinstance(node.args[0], ast.Str):
                arg = node.args[0]
                occ.append(Occurrence(arg.value, arg.span, "file", path=base / arg.value))
            occ.append(Occurrence(node.name, Span(file, node.span.line, node.span.column,
                                                  node.span.line,
                                                  node.span.column + len(node.name)), "name"))
        elif isinstance(node, ast.Iterator) and node.var:
            locs.append(Local(node.var, src.snippet(node.domain.span),
                              Span(file, node.span.line, node.span.column, node.span.line,
                                   node.span.column + len(node.var)), st.span))


def _part_name_span(part: ast.Part) -> Span:
    s = part.span
    return Span(s.file, s.line, s.column, s.line, s.column + len(part.name))


def contains(span: Span, line: int, column: int) -> bool:
    """Whether 1-based (line, column) lies in ``span`` (end exclusive; a point span: its
    column)."""
    if span.line <= 0:
        return False
    end_line = span.end_line or span.line
    end_col = span.end_column or span.column + 1
    if (line, column) < (span.line, span.column):
        return False
    return (line, column) < (end_line, end_col) or (line, column) == (end_line, end_col)


def walk_symbols(symbols: list[Symbol]) -> Iterator[Symbol]:
    for s in symbols:
        yield s
        yield from walk_symbols(s.children)
