"""A document and the files it imports, indexed; what a position in it refers to.

Resolution follows the checker's scopes closely enough for an editor: an index variable
(`t in T`) is visible in its statement, a component's parameters and members inside the
component, everything else is global across the document and its imports; `gen[u].cost` is the
member `cost` of the component that the instance `gen` is made of.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from qgridlang.errors import Span
from qgridlang.lsp.index import FileIndex, Local, Occurrence, Symbol, build, contains, walk_symbols

# The text of a file: an open editor buffer if there is one, else the file on disk.
Reader = Callable[[Path], str | None]

_FILES_LOCK = threading.Lock()
_FILES: dict[tuple[str, str], FileIndex] = {}  # (file, text) -> index (imports are indexed once)


def index_of(text: str, file: str) -> FileIndex:
    key = (file, text)
    hit = _FILES.get(key)
    if hit is None:
        hit = build(text, file)
        with _FILES_LOCK:  # requests and the checker thread (imported files) both index
            if len(_FILES) > 64:
                _FILES.pop(next(iter(_FILES)))
            _FILES[key] = hit
    return hit


def disk_reader(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return None


@dataclass
class Target:
    """What a position refers to: declarations, an index variable, or a file."""

    symbols: list[Symbol]
    local: Local | None = None
    path: Path | None = None


class Project:
    """The main document and every file it imports (transitively), indexed."""

    def __init__(self, text: str, file: str, read: Reader = disk_reader) -> None:
        self.main = index_of(text, file)
        self.files: list[FileIndex] = [self.main]
        seen = {_real(file)}
        queue = [self.main]
        while queue:
            idx = queue.pop(0)
            for _span, path in idx.imports:
                real = _real(str(path))
                if real in seen:
                    continue
                seen.add(real)
                sub = read(path)
                if sub is not None:
                    fi = index_of(sub, str(path))
                    self.files.append(fi)
                    queue.append(fi)

    # ---- declarations -------------------------------------------------------------------
    def globals(self, name: str) -> list[Symbol]:
        return [s for f in self.files for s in f.symbols if s.name == name]

    def components(self, name: str) -> list[Symbol]:
        return [s for s in self.globals(name) if s.kind.startswith("component")]

    def all_globals(self) -> list[Symbol]:
        return [s for f in self.files for s in f.symbols]

    def file_index(self, file: str) -> FileIndex | None:
        real = _real(file)
        return next((f for f in self.files if _real(f.file) == real), None)

    def enclosing_component(self, fi: FileIndex, line: int, column: int) -> Symbol | None:
        return next((s for s in fi.symbols if s.children and contains(s.span, line, column)),
                    None)

    # ---- resolution ---------------------------------------------------------------------
    def occurrence_at(self, fi: FileIndex, line: int, column: int) -> Occurrence | None:
        return next((o for o in fi.occurrences if contains(o.span, line, column)), None)

    def resolve(self, fi: FileIndex, line: int, column: int) -> Target | None:
        """What the text at 1-based (line, column) of ``fi`` refers to."""
        for s in walk_symbols(fi.symbols):
            if contains(s.name_span, line, column):
                return Target([s])
        occ = self.occurrence_at(fi, line, column)
        if occ is None:
            for loc in fi.locals:
                if contains(loc.span, line, column):
                    return Target([], loc)
            return None
        return self.resolve_occurrence(fi, occ)

    def resolve_occurrence(self, fi: FileIndex, occ: Occurrence) -> Target | None:
        if occ.role == "file":
            return Target([], path=occ.path)
        if occ.role == "type":
            return Target(self.components(occ.name))
        if occ.role == "binding":
            return Target([c for comp in self.components(occ.owner or "")
                           for c in comp.children if c.name == occ.name
                           and c.kind == "component parameter"])
        if occ.role == "member":
            found = []
            for inst in self.globals(occ.owner or ""):
                for comp in self.components(inst.type_name or ""):
                    found += [c for c in comp.children if c.name == occ.name]
            comp = self.enclosing_component(fi, occ.span.line, occ.span.column)
            if not found and comp is not None:  # `a.v2[t]` in a component: a bus's member
                found = [c for s in self.components("bus") for c in s.children
                         if c.name == occ.name]
            return Target(found) if found else None
        line, column = occ.span.line, occ.span.column
        for loc in fi.locals:
            if loc.name == occ.name and contains(loc.scope, line, column):
                return Target([], loc)
        comp = self.enclosing_component(fi, line, column)
        if comp is not None:
            inner = [c for c in comp.children if c.name == occ.name]
            if inner:
                return Target(inner)
        found = self.globals(occ.name)
        return Target(found) if found else None

    def references(self, target: Target) -> list[Span]:
        """Every use of the target in the document and its imports, declarations first."""
        if target.local is not None:
            loc = target.local
            fi = self.file_index(loc.span.file)
            spans = [loc.span]
            if fi is not None:
                spans += [o.span for o in fi.occurrences if o.role == "name"
                          and o.name == loc.name and contains(loc.scope, o.span.line,
                                                               o.span.column)
                          and o.span != loc.span]
            return spans
        keys = {(s.file, s.name_span) for s in target.symbols}
        out = [s.name_span for s in target.symbols]
        for fi in self.files:
            for o in fi.occurrences:
                if o.role == "file":
                    continue
                t = self.resolve_occurrence(fi, o)
                if t is not None and any((s.file, s.name_span) in keys for s in t.symbols):
                    out.append(o.span)
        return out


def _real(file: str) -> str:
    try:
        return str(Path(file).resolve())
    except (OSError, RuntimeError):
        return file
