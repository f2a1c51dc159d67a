"""The checker's errors and warnings as LSP diagnostics, grouped by the file they are in.

The same check as ``qglc check`` (:func:`qgridlang.checker.check_text` on the editor's text):
the same messages, spans and hints. An error inside an imported file is reported on that file
and also at the ``import``/``use`` line of the document that brings it in.
"""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types as lsp

from qgridlang.errors import QglError, QglErrors, QglWarning, Span

SOURCE = "qglc"


def to_range(span: Span | None) -> lsp.Range:
    """A 1-based, end-exclusive span as an LSP range (0-based)."""
    if span is None or span.line <= 0:
        return lsp.Range(lsp.Position(0, 0), lsp.Position(0, 0))
    start = lsp.Position(span.line - 1, max(span.column - 1, 0))
    if span.end_line and (span.end_line, span.end_column) > (span.line, span.column):
        end = lsp.Position(span.end_line - 1, max(span.end_column - 1, 0))
    else:  # a point: one character wide, so the editor can underline it
        end = lsp.Position(start.line, start.character + 1)
    return lsp.Range(start, end)


def _diagnostic(item: QglError | QglWarning) -> lsp.Diagnostic:
    message = item.message + (f"\nhint: {item.hint}" if item.hint else "")
    severity = (lsp.DiagnosticSeverity.Warning if isinstance(item, QglWarning)
                else lsp.DiagnosticSeverity.Error)
    code = type(item).__name__
    return lsp.Diagnostic(to_range(item.span), message, severity=severity, code=code,
                          source=SOURCE)


def _real(file: str) -> str:
    try:
        return str(Path(file).resolve())
    except (OSError, RuntimeError):
        return file


def diagnose(text: str, file: str) -> dict[str, list[lsp.Diagnostic]]:
    """Check ``text`` (the document ``file``) and return diagnostics per file.

    ``file`` itself is always a key (an empty list clears old diagnostics); imported files are
    keyed by their resolved paths.
    """
    from qgridlang.checker import check_text

    found: list[QglError | QglWarning] = []
    try:
        checked = check_text(text, file)
        found.extend(checked.warnings)
    except QglErrors as exc:
        found.extend(exc.errors)
    except QglError as exc:
        found.append(exc)
    except RecursionError:
        found.append(QglError("the model is nested too deeply to check", Span(file, 1, 1)))
    # the document under the name it was checked as (an editor's untitled buffer has no
    # path); the files it imports under their resolved paths
    main = _real(file)
    out: dict[str, list[lsp.Diagnostic]] = {file: []}
    imported: dict[str, list[QglError | QglWarning]] = {}
    for item in found:
        span = item.span
        if span is None or span.file in ("", "<builtin>", file) or _real(span.file) == main:
            out[file].append(_diagnostic(item))
            continue
        where = _real(span.file)
        imported.setdefault(where, []).append(item)
        out.setdefault(where, []).append(_diagnostic(item))
    if imported:
        _flag_imports(text, file, imported, out[file])
    return out


def _flag_imports(text: str, file: str, imported: dict[str, list[QglError | QglWarning]],
                  diags: list[lsp.Diagnostic]) -> None:
    """At each import/use line, say what is wrong in the files it brings in."""
    from qgridlang.lsp.project import Project

    project = Project(text, file)
    statements = project.main.imports
    if not statements:
        return
    # which imported files each import statement reaches (itself and its imports)
    reach: dict[int, set[str]] = {}
    for i, (_span, path) in enumerate(statements):
        sub = Project(path.read_text(encoding="utf-8-sig"), str(path)) if path.is_file() \
            else None
        reach[i] = {_real(f.file) for f in sub.files} if sub else {_real(str(path))}
    for where, items in imported.items():
        errors = [x for x in items if not isinstance(x, QglWarning)]
        if not errors:
            continue
        for i, (span, _path) in enumerate(statements):
            if where in reach[i]:
                first = errors[0]
                more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
                at = f"{Path(where).name}:{first.span.line}:{first.span.column}" \
                    if first.span else Path(where).name
                diags.append(lsp.Diagnostic(
                    to_range(span), f"error in imported file {at}: {first.message}{more}",
                    severity=lsp.DiagnosticSeverity.Error, code="ImportedFileError",
                    source=SOURCE))
                break
