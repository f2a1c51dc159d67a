"""``qglc lsp``: the qgl language server (pygls 2).

Diagnostics run the checker on the editor's text in one background thread: an edit schedules a
check after :data:`DEBOUNCE_S` of quiet, and a check whose text is already outdated when its
turn comes is skipped, so a burst of keystrokes costs one check. Everything else (hover,
definitions, references, completion, outline) answers from the syntax-tree index
(:mod:`qgridlang.lsp.index`), never waiting for the checker.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from qgridlang.errors import QglError, Span
from qgridlang.lsp.diagnostics import diagnose, to_range
from qgridlang.lsp.index import UNITS, Symbol, walk_symbols
from qgridlang.lsp.project import Project, Target

# Quiet time after an edit before the check starts (seconds; QGL_LSP_DEBOUNCE_MS overrides).
DEBOUNCE_S = float(os.environ.get("QGL_LSP_DEBOUNCE_MS", "25")) / 1000.0

log = logging.getLogger(__name__)


class QglLanguageServer(LanguageServer):
    def __init__(self) -> None:
        from qgridlang import __version__

        super().__init__("qglc-lsp", __version__,
                         text_document_sync_kind=lsp.TextDocumentSyncKind.Incremental)
        self.edits: dict[str, int] = {}  # uri -> edits seen (the newest check wins)
        self.published: dict[str, set[str]] = {}  # document uri -> imported uris flagged
        self.checker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qgl-check")

    # ---- documents ------------------------------------------------------------------------
    def path(self, uri: str) -> str:
        return to_fs_path(uri) or uri

    def text(self, uri: str) -> str:
        return self.workspace.get_text_document(uri).source

    def read(self, path: Path) -> str | None:
        """An open buffer's text (unsaved edits included), else the file on disk."""
        uri = from_fs_path(str(path))
        if uri is not None and uri in self.workspace.text_documents:
            return self.text(uri)
        try:
            return path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError):
            return None

    def project(self, uri: str) -> Project:
        return Project(self.text(uri), self.path(uri), self.read)

    # ---- diagnostics ----------------------------------------------------------------------
    def schedule(self, uri: str) -> None:
        n = self.edits.get(uri, 0) + 1
        self.edits[uri] = n
        asyncio.get_running_loop().create_task(self._check_later(uri, n))

    async def _check_later(self, uri: str, n: int) -> None:
        await asyncio.sleep(DEBOUNCE_S)
        if self.edits.get(uri) != n or uri not in self.workspace.text_documents:
            return  # a newer edit has its own check coming
        doc = self.workspace.get_text_document(uri)
        text, version = doc.source, doc.version
        loop = asyncio.get_running_loop()
        by_file = await loop.run_in_executor(self.checker, self._diagnose_if_current, uri, n,
                                             text)
        if by_file is None:
            return
        flagged: set[str] = set()
        for file, diags in by_file.items():
            target = uri if file == self.path(uri) else from_fs_path(file)
            if target is None:
                continue
            if target != uri:
                flagged.add(target)
            self.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(
                target, diags, version=version if target == uri else None))
        for stale in self.published.get(uri, set()) - flagged:  # fixed since: clear them
            self.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(stale, []))
        self.published[uri] = flagged

    def _diagnose_if_current(self, uri: str, n: int, text: str
                             ) -> dict[str, list[lsp.Diagnostic]] | None:
        if self.edits.get(uri) != n:
            return None  # outdated while it waited for the checker thread
        try:
            return diagnose(text, self.path(uri))
        except Exception as exc:  # a checker bug must not take the server down
            log.exception("check failed")
            return {self.path(uri): [lsp.Diagnostic(
                lsp.Range(lsp.Position(0, 0), lsp.Position(0, 1)),
                f"internal error in the checker ({type(exc).__name__}: {exc}); this is a bug "
                "in qglc, please report it with the model", severity=lsp.DiagnosticSeverity.Error,
                source="qglc")]}


server = QglLanguageServer()


@server.feature(lsp.INITIALIZED)
def _initialized(ls: QglLanguageServer, params: lsp.InitializedParams) -> None:
    # load the checker (numpy, pint, the grammar) while the user is still reading
    ls.checker.submit(_warm_up)


def _warm_up() -> None:
    from qgridlang.checker import check_text

    try:
        check_text("time T = 1..2 step 1 h\nvar x[T] in 0 .. 1\nminimize sum(t in T) x[t]\n",
                   "<warm-up>")
    except QglError:
        pass


@server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
def _did_open(ls: QglLanguageServer, params: lsp.DidOpenTextDocumentParams) -> None:
    ls.schedule(params.text_document.uri)


@server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
def _did_change(ls: QglLanguageServer, params: lsp.DidChangeTextDocumentParams) -> None:
    ls.schedule(params.text_document.uri)


@server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
def _did_save(ls: QglLanguageServer, params: lsp.DidSaveTextDocumentParams) -> None:
    ls.schedule(params.text_document.uri)


@server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
def _did_close(ls: QglLanguageServer, params: lsp.DidCloseTextDocumentParams) -> None:
    uri = params.text_document.uri
    ls.edits[uri] = ls.edits.get(uri, 0) + 1  # a pending check is dropped
    for target in {uri, *ls.published.pop(uri, set())}:
        ls.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(target, []))


# ---- hover ----------------------------------------------------------------------------------

def _where(s: Symbol | Span) -> str:
    span = s.name_span if isinstance(s, Symbol) else s
    return f"{Path(span.file).name}:{span.line}"


def describe(s: Symbol) -> str:
    """A declaration as hover markdown: kind, head, index sets, unit, where, doc comment."""
    what = f"{s.kind} of component `{s.container}`" if s.container else s.kind
    lines = [f"**{what}** `{s.name}`", "", "```qgl", s.detail, "```"]
    facts = []
    if s.index:
        facts.append("index: " + ", ".join(f"`{i}`" for i in s.index))
    if s.unit:
        facts.append(f"unit: `{s.unit}`")
    if s.type_name:
        facts.append(f"component: `{s.type_name}`")
    facts.append(f"declared at {_where(s)}")
    lines.append(" · ".join(facts))
    if s.params:
        lines += ["", "parameters:"]
        for name, unit, default in s.params:
            lines.append(f"- `{name}`" + (f": {unit}" if unit else "")
                         + (f" = `{default}`" if default is not None else " (required)"))
    if s.doc:
        lines += ["", s.doc]
    return "\n".join(lines)


@server.feature(lsp.TEXT_DOCUMENT_HOVER)
def _hover(ls: QglLanguageServer, params: lsp.HoverParams) -> lsp.Hover | None:
    uri = params.text_document.uri
    project = ls.project(uri)
    line, col = params.position.line + 1, params.position.character + 1
    target = project.resolve(project.main, line, col)
    if target is None:
        return None
    if target.path is not None:
        state = "exists" if target.path.is_file() else "not found"
        text = f"**data file** `{target.path}` ({state})"
    elif target.local is not None:
        loc = target.local
        text = f"**index** `{loc.name}` in `{loc.domain}` (declared at {_where(loc.span)})"
    else:
        text = "\n\n---\n\n".join(describe(s) for s in target.symbols[:4])
    return lsp.Hover(lsp.MarkupContent(lsp.MarkupKind.Markdown, text))


# ---- definitions and references -------------------------------------------------------------

def _location(span: Span) -> lsp.Location:
    return lsp.Location(from_fs_path(str(Path(span.file).resolve())) or span.file,
                        to_range(span))


def _locations(target: Target) -> list[lsp.Location]:
    if target.path is not None:
        if not target.path.is_file():
            return []
        uri = from_fs_path(str(target.path.resolve())) or str(target.path)
        return [lsp.Location(uri, lsp.Range(lsp.Position(0, 0), lsp.Position(0, 0)))]
    if target.local is not None:
        return [_location(target.local.span)]
    return [_location(s.name_span) for s in target.symbols]


@server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
def _definition(ls: QglLanguageServer, params: lsp.DefinitionParams) -> list[lsp.Location]:
    project = ls.project(params.text_document.uri)
    target = project.resolve(project.main, params.position.line + 1,
                             params.position.character + 1)
    return _locations(target) if target is not None else []


@server.feature(lsp.TEXT_DOCUMENT_REFERENCES)
def _references(ls: QglLanguageServer, params: lsp.ReferenceParams) -> list[lsp.Location]:
    project = ls.project(params.text_document.uri)
    target = project.resolve(project.main, params.position.line + 1,
                             params.position.character + 1)
    if target is None or target.path is not None:
        return _locations(target) if target is not None else []
    spans = project.references(target)
    if not params.context.include_declaration:
        decl = {s.name_span for s in target.symbols} | (
            {target.local.span} if target.local else set())
        spans = [s for s in spans if s not in decl]
    return [_location(s) for s in spans]


# ---- completion -----------------------------------------------------------------------------

_KIND = {"set": lsp.CompletionItemKind.Enum, "time set": lsp.CompletionItemKind.Enum,
         "param": lsp.CompletionItemKind.Constant, "expr": lsp.CompletionItemKind.Value,
         "constraint": lsp.CompletionItemKind.Interface, "instance": lsp.CompletionItemKind.Field,
         "component parameter": lsp.CompletionItemKind.Property,
         "port": lsp.CompletionItemKind.Event}


def _item(s: Symbol) -> lsp.CompletionItem:
    kind = lsp.CompletionItemKind.Variable if s.kind.startswith("var") else \
        lsp.CompletionItemKind.Class if s.kind.startswith("component") else \
        _KIND.get(s.kind, lsp.CompletionItemKind.Reference)
    detail = s.kind + (f" [{', '.join(s.index)}]" if s.index else "") + (
        f": {s.unit}" if s.unit else "")
    return lsp.CompletionItem(s.name, kind=kind, detail=detail,
                              documentation=s.doc or None)


_OPEN_BLOCK = re.compile(r"(?:^|\n)[ \t]*([A-Za-z_]\w*)[ \t]+[A-Za-z_]\w*[^{}\n]*\{[^{}]*$")


def completions(project: Project, text: str, line: int, character: int
                ) -> list[lsp.CompletionItem]:
    """Completion at a 0-based position of the main document's ``text``."""
    from qgridlang.keywords import grammar_keywords

    lines = text.split("\n")
    before = lines[line][:character] if line < len(lines) else ""
    head = "\n".join(lines[:line] + [before])
    # `gen[u].` or `ess.`: the members of the instance's component
    m = re.search(r"([A-Za-z_]\w*)(?:\[[^\]]*\])?\.(\w*)$", before)
    if m:
        out = []
        for inst in project.globals(m.group(1)):
            for comp in project.components(inst.type_name or ""):
                out += [_item(c) for c in comp.children if c.kind != "component parameter"]
        return _unique(out)
    # inside an instance's `{ … }`: the component's parameters
    block = _OPEN_BLOCK.search(head)
    if block and project.components(block.group(1)):
        out = [_item(c) for comp in project.components(block.group(1))
               for c in comp.children if c.kind == "component parameter"]
        if re.search(r"(?:^|[{;,])\s*\w*$", before):  # where a binding's name goes
            return _unique(out)
    # after a number or in a declaration's `: unit`: units first
    units = re.search(r"(?:[0-9][ \t]*|:[ \t]*)[\w$€%/]*$", before) is not None
    items: list[lsp.CompletionItem] = []
    if units:
        items += [lsp.CompletionItem(u, kind=lsp.CompletionItemKind.Unit, detail="unit")
                  for u in UNITS]
    fi = project.main
    pos = (line + 1, character + 1)
    items += [lsp.CompletionItem(loc.name, kind=lsp.CompletionItemKind.Variable,
                                 detail=f"index in {loc.domain}")
              for loc in fi.locals if loc.scope.line <= pos[0] <= (loc.scope.end_line or 0)]
    comp = project.enclosing_component(fi, *pos)
    if comp is not None:
        items += [_item(c) for c in comp.children]
    items += [_item(s) for s in project.all_globals()]
    items += [lsp.CompletionItem(k, kind=lsp.CompletionItemKind.Keyword)
              for k in grammar_keywords()]
    return _unique(items)


def _unique(items: list[lsp.CompletionItem]) -> list[lsp.CompletionItem]:
    seen: set[str] = set()
    out = []
    for it in items:
        if it.label not in seen:
            seen.add(it.label)
            out.append(it)
    return out


@server.feature(lsp.TEXT_DOCUMENT_COMPLETION,
                lsp.CompletionOptions(trigger_characters=[".", "{", ";"]))
def _completion(ls: QglLanguageServer, params: lsp.CompletionParams) -> lsp.CompletionList:
    uri = params.text_document.uri
    items = completions(ls.project(uri), ls.text(uri), params.position.line,
                        params.position.character)
    return lsp.CompletionList(is_incomplete=False, items=items)


# ---- outline and formatting -----------------------------------------------------------------

_SYMBOL_KIND = {"component": lsp.SymbolKind.Class, "instance": lsp.SymbolKind.Object,
                "set": lsp.SymbolKind.Enum, "time set": lsp.SymbolKind.Enum,
                "param": lsp.SymbolKind.Constant, "expr": lsp.SymbolKind.Function,
                "constraint": lsp.SymbolKind.Interface, "objective": lsp.SymbolKind.Event,
                "port": lsp.SymbolKind.Event, "component parameter": lsp.SymbolKind.Property,
                "system": lsp.SymbolKind.Module}


def document_symbol(s: Symbol) -> lsp.DocumentSymbol:
    kind = lsp.SymbolKind.Variable if s.kind.startswith("var") else _SYMBOL_KIND.get(
        s.kind.split(" (")[0], lsp.SymbolKind.Field)
    return lsp.DocumentSymbol(
        s.name, kind, to_range(s.span), to_range(s.name_span),
        detail=s.kind + (f" [{', '.join(s.index)}]" if s.index else ""),
        children=[document_symbol(c) for c in s.children] or None)


@server.feature(lsp.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
def _symbols(ls: QglLanguageServer, params: lsp.DocumentSymbolParams
             ) -> list[lsp.DocumentSymbol]:
    project = ls.project(params.text_document.uri)
    return [document_symbol(s) for s in project.main.symbols]


@server.feature(lsp.TEXT_DOCUMENT_FORMATTING)
def _formatting(ls: QglLanguageServer, params: lsp.DocumentFormattingParams
                ) -> list[lsp.TextEdit] | None:
    from qgridlang.formatter import format_text

    uri = params.text_document.uri
    text = ls.text(uri)
    try:
        out = format_text(text, ls.path(uri))
    except QglError:
        return None  # the diagnostics already show why it does not parse
    if out == text:
        return []
    n = text.count("\n")
    end = lsp.Position(n + 1, 0)  # past the end: the whole document is replaced
    return [lsp.TextEdit(lsp.Range(lsp.Position(0, 0), end), out)]


def serve(host: str | None = None, port: int | None = None) -> None:
    """Run the server on stdio, or on a TCP socket."""
    if host is not None and port is not None:
        server.start_tcp(host, port)
    else:
        server.start_io()


__all__ = ["QglLanguageServer", "completions", "describe", "serve", "server", "walk_symbols"]
