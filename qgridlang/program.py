"""Load a program: parse the main file and splice in its imports and ``use`` libraries."""

from __future__ import annotations

from pathlib import Path

from qgridlang import ast
from qgridlang.errors import ErrorCollector, QglError, UnknownName, did_you_mean
from qgridlang.parser import parse
from qgridlang.resources import data_file, library_names


def load_statements(text: str, file: str, errors: ErrorCollector) -> list[ast.Statement]:
    """Statements of ``text`` with imports resolved (each file once; cycles are harmless)."""
    seen: set[Path] = set()
    if Path(file).is_file():
        # the main file counts as loaded, so a file importing it back does not splice it twice
        seen.add(Path(file).resolve())
    return _load(text, file, errors, seen)


def _load(text: str, file: str, errors: ErrorCollector, seen: set[Path]
          ) -> list[ast.Statement]:
    try:
        prog = parse(text, file)
    except QglError as exc:
        errors.add(exc)
        return []
    out: list[ast.Statement] = []
    for st in prog.statements:
        if isinstance(st, ast.Import | ast.Use):
            path = _resolve(st, file, errors)
            if path is None or path.resolve() in seen:
                continue
            seen.add(path.resolve())
            try:
                sub = path.read_text(encoding="utf-8")
            except OSError as exc:
                errors.add(QglError(f"cannot read '{path}': {exc.strerror}", st.span))
                continue
            out.extend(s for s in _load(sub, str(path), errors, seen)
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
    if not path.is_file():
        errors.add(QglError(f"imported file '{st.path}' not found (looked in {base})", st.span))
        return None
    return path
