"""The server's diagnostics are ``qglc check``'s: for every error fixture and example, the
same messages at the same positions (in-process, :func:`qgridlang.lsp.diagnostics.diagnose`),
and the index behind hover and definitions covers every declaration of the standard library."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from lsprotocol import types as lsp

from qgridlang.checker import check_file
from qgridlang.errors import QglError, QglErrors
from qgridlang.lsp.diagnostics import diagnose, to_range
from qgridlang.lsp.index import build
from qgridlang.lsp.project import Project

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = sorted((ROOT / "tests" / "errors").glob("*.qgl"))
EXAMPLES = sorted((ROOT / "examples").rglob("*.qgl"))


def _expected(path: Path) -> list[tuple[str, int, int, str]]:
    try:
        found = list(check_file(path).warnings)
    except QglErrors as exc:
        found = list(exc.errors)
    except QglError as exc:
        found = [exc]
    out = []
    for e in found:
        r = to_range(e.span)
        out.append((str(Path(e.span.file).resolve()) if e.span and e.span.line else
                    str(path.resolve()), r.start.line, r.start.character, e.message))
    return sorted(out)


def _got(path: Path) -> list[tuple[str, int, int, str]]:
    out = []
    for file, diags in diagnose(path.read_text(encoding="utf-8-sig"), str(path)).items():
        for d in diags:
            if d.code == "ImportedFileError":
                continue
            out.append((file, d.range.start.line, d.range.start.character,
                        d.message.split("\nhint: ")[0]))
    return sorted(out)


@pytest.mark.parametrize("path", FIXTURES + EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_diagnostics_are_the_checkers(path: Path) -> None:
    assert _got(path) == _expected(path)


def test_a_fixture_against_the_cli() -> None:
    """One fixture through the real `qglc check`: line and column agree with the LSP range."""
    path = ROOT / "tests" / "errors" / "unit_mismatch.qgl"
    proc = subprocess.run([sys.executable, "-m", "qgridlang.cli", "check", str(path)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    first = proc.stderr.splitlines()[0]
    got = _got(path)[0]
    assert first.startswith(f"{path}:{got[1] + 1}:{got[2] + 1}: error: ")


def test_hints_and_severity() -> None:
    text = "time T = 1..3 step 1 h\nparam demand[T] = 1\nvar x[T] in 0 .. 1\n" \
           "constraint c[t in T]: x[t] <= demnd[t]\nminimize sum(t in T) x[t]\n"
    [d] = diagnose(text, "<string>")["<string>"]
    assert d.severity == lsp.DiagnosticSeverity.Error and d.code == "UnknownName"
    assert d.message == "unknown name 'demnd'\nhint: did you mean 'demand'?"
    assert (d.range.start.line, d.range.start.character) == (3, 30)


def test_the_stdlib_index() -> None:
    stdlib = ROOT / "models" / "stdlib.qgl"
    idx = build(stdlib.read_text(encoding="utf-8"), str(stdlib))
    comps = [s for s in idx.symbols if s.kind.startswith("component")]
    assert {"battery", "thermal_unit", "bus", "line", "pv", "load", "grid"} <= {
        c.name for c in comps}
    battery = next(c for c in comps if c.name == "battery")
    assert ("soc_min", None, "10 %") in battery.params
    assert {"charge", "discharge", "soc", "p"} <= {c.name for c in battery.children}
    assert "Storage with charge/discharge" in battery.doc
    # every declaration's name span points at its name
    text = stdlib.read_text(encoding="utf-8").split("\n")
    for c in comps:
        for s in [c, *c.children]:
            line = text[s.name_span.line - 1]
            assert line[s.name_span.column - 1:s.name_span.end_column - 1] == s.name, s


def test_project_follows_imports(tmp_path: Path) -> None:
    (tmp_path / "a.qgl").write_text('import "b.qgl"\nparam x = y\n', encoding="utf-8")
    (tmp_path / "b.qgl").write_text('import "a.qgl"\nparam y = 1  # why\n', encoding="utf-8")
    p = Project((tmp_path / "a.qgl").read_text(), str(tmp_path / "a.qgl"))
    assert len(p.files) == 2  # the cycle is followed once
    target = p.resolve(p.main, 2, 11)
    assert target is not None and [s.doc for s in target.symbols] == ["why"]
