"""Error fixtures: every ``tests/errors/*.qgl`` states the errors it must produce.

The header of a fixture holds comment lines read by this test::

    # expect: LINE:COL message substring      (one per expected error, in source order)
    # hint: substring of the previous error's did-you-mean / help text
    # xfail: bug: why this fixture fails today (the test is a strict xfail)

The checker must report exactly the expected errors (no more, no fewer), each at the exact line
and column, and ``qglc check`` must print each as ``path:LINE:COL: error: message`` followed by
the source line and a caret under the column, and exit with status 1.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from qgridlang.checker import check_file, check_text
from qgridlang.cli import main
from qgridlang.errors import QglError, QglErrors, QglSyntaxError

# checked both ways: with arrays and element by element (qgridlang.semantics.vector)
pytestmark = pytest.mark.usefixtures("both_expansions")

HERE = Path(__file__).resolve().parent / "errors"
FIXTURES = sorted(HERE.glob("*.qgl"))
_EXPECT = re.compile(r"^# expect: (\d+):(\d+) (.+)$")


@dataclass
class Expected:
    line: int
    column: int
    message: str
    hint: str | None = None


@dataclass
class Fixture:
    path: Path
    expected: list[Expected] = field(default_factory=list)
    xfail: str | None = None


def load_fixture(path: Path) -> Fixture:
    fx = Fixture(path)
    for raw in path.read_text(encoding="utf-8").splitlines():
        if not raw.startswith("#"):
            break
        if m := _EXPECT.match(raw):
            fx.expected.append(Expected(int(m[1]), int(m[2]), m[3].strip()))
        elif raw.startswith("# hint: "):
            assert fx.expected, f"{path.name}: a hint needs an expect line before it"
            fx.expected[-1].hint = raw.removeprefix("# hint: ").strip()
        elif raw.startswith("# xfail: "):
            fx.xfail = raw.removeprefix("# xfail: ").strip()
    assert fx.expected, f"{path.name} has no '# expect:' line"
    return fx


def _params() -> list[object]:
    out: list[object] = []
    for path in FIXTURES:
        fx = load_fixture(path)
        marks = [pytest.mark.xfail(strict=True, reason=fx.xfail)] if fx.xfail else []
        out.append(pytest.param(fx, id=path.stem, marks=marks))
    return out


PARAMS = _params()


def _errors(path: Path) -> list[QglError]:
    with pytest.raises(QglErrors) as info:
        check_file(path)
    return info.value.errors


def _describe(errors: list[QglError]) -> str:
    return "\n".join(f"{e.span.line if e.span else '?'}:{e.span.column if e.span else '?'} "
                     f"{e.message} | {e.hint}" for e in errors)


@pytest.mark.parametrize("fx", PARAMS)
def test_fixture_reports_exactly_its_errors(fx: Fixture) -> None:
    errors = _errors(fx.path)
    assert len(errors) == len(fx.expected), _describe(errors)
    for err, exp in zip(errors, fx.expected, strict=True):
        assert err.span is not None
        assert Path(err.span.file).resolve() == fx.path.resolve(), _describe(errors)
        assert (err.span.line, err.span.column) == (exp.line, exp.column), _describe(errors)
        assert exp.message in err.message, _describe(errors)
        if exp.hint is not None:
            assert err.hint is not None and exp.hint in err.hint, _describe(errors)


@pytest.mark.parametrize("fx", PARAMS)
def test_cli_prints_path_line_column_source_and_caret(
        fx: Fixture, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(fx.path)
    source = fx.path.read_text(encoding="utf-8").splitlines()
    assert main(["check", path]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    lines = captured.err.splitlines()
    heads = [i for i, ln in enumerate(lines) if re.match(r"^.+:\d+:\d+: error: ", ln)]
    assert len(heads) == len(fx.expected), captured.err
    for i, exp in zip(heads, fx.expected, strict=True):
        assert lines[i].startswith(f"{path}:{exp.line}:{exp.column}: error: "), lines[i]
        assert exp.message in lines[i]
        assert lines[i + 1] == f"  {exp.line:>4} | {source[exp.line - 1]}"
        caret = lines[i + 2]
        assert caret.startswith("       | ") and caret.index("^") == 9 + exp.column - 1
    n = len(fx.expected)
    assert lines[-1] == f"{n} error{'s' if n != 1 else ''}"


def test_every_error_kind_has_a_fixture() -> None:
    names = {p.stem for p in FIXTURES}
    assert {
        "syntax_unexpected_token", "syntax_unexpected_character", "syntax_unexpected_eof",
        "unknown_name", "index_arity", "index_prev_first", "index_offset_outside",
        "label_not_in_set", "unit_mismatch", "offset_unit", "binary_bounds",
        "variable_in_where", "division_by_variable", "cubic_term", "quadratic_constraint",
        "unknown_component", "unknown_component_param", "missing_component_param",
        "csv_missing_entry", "csv_duplicate_key", "csv_extra_key", "csv_non_numeric",
        "probabilities_sum", "cvar_maximised", "duplicate_declaration",
        "infeasible_constant_equality", "five_mistakes",
    } <= names


# ---- the model with five mistakes ---------------------------------------------------------------
FIVE = HERE / "five_mistakes.qgl"


def test_five_mistakes_via_check_text() -> None:
    text = FIVE.read_text(encoding="utf-8")
    with pytest.raises(QglErrors) as info:
        check_text(text, "five.qgl")
    errors = info.value.errors
    got = [(e.span.line, e.span.column) for e in errors if e.span is not None]
    assert got == [(17, 21), (18, 52), (19, 33), (20, 15), (21, 31)]
    kinds = [type(e).__name__ for e in errors]
    assert kinds == ["TypeMismatch", "UnknownName", "DimensionMismatch", "UnitMismatch",
                     "UnknownName"]
    assert {e.span.file for e in errors if e.span is not None} == {"five.qgl"}
    assert str(info.value).count("five.qgl:") == 5


def test_five_mistakes_via_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(FIVE)]) == 1
    err = capsys.readouterr().err
    heads = re.findall(rf"^{re.escape(str(FIVE))}:(\d+):(\d+): error: ", err, flags=re.M)
    assert heads == [("17", "21"), ("18", "52"), ("19", "33"), ("20", "15"), ("21", "31")]
    assert err.rstrip().endswith("5 errors")


# ---- further properties of errors ---------------------------------------------------------------
def test_unexpected_eof_is_a_syntax_error_on_the_last_line() -> None:
    with pytest.raises(QglErrors) as info:
        check_text("var x in 0 .. 1\nminimize x\nconstraint c: x <=\n", "eof.qgl")
    (err,) = info.value.errors
    assert isinstance(err, QglSyntaxError)
    assert err.span is not None and err.span.line == 3
    assert err.message.startswith("unexpected end of file; expected ")


def test_syntax_error_stops_before_checking() -> None:
    """A file that does not parse reports the syntax error only (no semantic follow-ups)."""
    with pytest.raises(QglErrors) as info:
        check_text("param a = nope\nparam b = (1 +\n", "s.qgl")
    assert [type(e) for e in info.value.errors] == [QglSyntaxError]


def test_errors_of_two_files_are_all_printed(capsys: pytest.CaptureFixture[str]) -> None:
    one, two = HERE / "unknown_name.qgl", HERE / "offset_unit.qgl"
    assert main(["check", str(one), str(two)]) == 1
    err = capsys.readouterr().err
    assert f"{one}:5:19: error: unknown name 'pmx'" in err
    assert f"{two}:3:14: error: offset unit 'degC' is refused" in err
    assert err.rstrip().endswith("2 errors")


def test_clean_and_broken_files_together_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    good = Path(__file__).resolve().parent / "golden" / "lower" / "units_tables.qgl"
    assert main(["check", str(good)]) == 0
    assert main(["check", str(good), str(HERE / "binary_bounds.qgl")]) == 1
    out = capsys.readouterr()
    assert f"{good}: ok" in out.out
