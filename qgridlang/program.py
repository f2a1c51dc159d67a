"""Load a program: parse the main file and splice in its imports and ``use`` libraries."""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

from qgridlang import ast
from qgridlang.errors import (
    ErrorCollector,
    LimitExceeded,
    QglError,
    Span,
    UnknownName,
    did_you_mean,
)
from qgridlang.fileaccess import read_text
from qgridlang.limits import SIZE_HINT, current, sci
from qgridlang.parser import parse
from qgridlang.resources import data_file, library_names


def load_statements(text: str, file: str, errors: ErrorCollector,
                    files: dict[Path, str] | None = None) -> list[ast.Statement]:
    """Statements of ``text`` with imports resolved (each file once; cycles are harmless).

    ``files``, when given, receives the resolved path and the text read of every file the
    program is made of (the main file and every import and library): the checker's cache
    keys on them, without reading any of them a second time.
    """
    seen: set[Path] = set()
    texts: dict[Path, str] = {}
    if Path(file).is_file():
        # the main file counts as loaded, so a file importing it back does not splice it twice
        seen.add(_real(Path(file)))
        texts[_real(Path(file))] = text
    out = _load(text, file, errors, seen, texts)
    if files is not None:
        files.update(texts)
    return out


MAX_IMPORT_DEPTH = 64


def _real(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a symlink loop: reading it reports the error
        return path.absolute()


# Roughly Lark's tokens (comments excluded, a string is one): for the token count only.
_TOKEN = re.compile(r'#[^\n]*|"[^"\n]*"|[A-Za-z_0-9.]+|\S')


def _check_tokens(text: str, file: str) -> None:
    """Refuse text with more tokens than a twentieth of the size limit, before parsing it.

    Parsing costs about 1 KB of memory per token (Lark's tree, then the AST): a 10 MB line of
    `1 + 1 + …` would take gigabytes and minutes.
    """
    limit = max(1000, current().max_size // 20)
    if len(text) <= limit:  # fewer characters than the limit: fewer tokens too
        return
    n = 0
    for m in _TOKEN.finditer(text):
        if m.group().startswith("#"):
            continue
        n += 1
        if n > limit:
            at = m.start()
            line = text.count("\n", 0, at) + 1
            column = at - text.rfind("\n", 0, at)
            raise LimitExceeded(f"the model text has more than {sci(limit)} tokens (names, "
                                f"numbers, symbols); the limit is {sci(limit)}, a twentieth "
                                "of the size limit", Span(file, line, column), SIZE_HINT)


# (text, file) -> its syntax tree. Trees are immutable, so a file that did not change (the
# standard library, the imports of a model being edited) is parsed once: an editor checks the
# model again after every edit, and parsing models/stdlib.qgl took most of the parse time.
_PARSED: dict[tuple[str, str], ast.Program] = {}
_PARSED_MAX = 32
_PARSED_LOCK = threading.Lock()  # the language server parses in two threads


def parse_cached(text: str, file: str) -> ast.Program:
    """:func:`qgridlang.parser.parse`, remembered for the last few distinct texts."""
    key = (text, file)
    prog = _PARSED.get(key)
    if prog is None:
        prog = parse(text, file)  # a syntax error is raised, never cached
        with _PARSED_LOCK:
            if len(_PARSED) >= _PARSED_MAX:
                del _PARSED[next(iter(_PARSED))]  # the oldest entry
            _PARSED[key] = prog
    return prog


def _load(text: str, file: str, errors: ErrorCollector, seen: set[Path],
          texts: dict[Path, str], depth: int = 0) -> list[ast.Statement]:
    try:
        _check_tokens(text, file)
        prog = parse_cached(text, file)
    except QglError as exc:
        errors.add(exc)
        return []
    out: list[ast.Statement] = []
    for st in prog.statements:
        if isinstance(st, ast.Import | ast.Use):
            path = _resolve(st, file, errors)
            if path is None or _real(path) in seen:
                continue
            seen.add(_real(path))
            if depth >= MAX_IMPORT_DEPTH:  # a chain of files each importing the next
                errors.add(QglError(f"imports nested more than {MAX_IMPORT_DEPTH} files deep",
                                    st.span, "import the files from one place instead"))
                continue
            try:
                # only allowed, regular, bounded, UTF-8 files (qgridlang.fileaccess): an import
                # of /etc/passwd is refused before anything of it is read, let alone shown
                sub = read_text(path, st.span, "imported file")
            except QglError as exc:
                errors.add(exc)
                continue
            texts[_real(path)] = sub
            out.extend(s for s in _load(sub, str(path), errors, seen, texts, depth + 1)
                       if not isinstance(s, ast.ModelDecl))
        else:
            out.append(st)
    return out


def _resolve(st: ast.Import | ast.Use, file: str, errors: ErrorCollector) -> Path | None:
    if isinstance(st, ast.Use):
        names = library_names()
        if st.name not in names:
            errors.add(UnknownName(f"unknown library '{st.name}'", st.span,
                                   did_you_mean(st.name, names) or
                                   f"libraries: {', '.join(names)}"))
            return None
        return data_file("models", f"{st.name}.qgl")
    base = Path(file).parent if Path(file).is_file() else Path.cwd()
    path = base / st.path
    if not os.path.lexists(path):  # anything else (a FIFO, a folder) is refused when read
        errors.add(QglError(f"imported file '{st.path}' not found (looked in {base})", st.span))
        return None
    return path
