"""Variable and parameter bounds as modellers write them, and what HiGHS makes of them.

One-sided bounds (`>= a`, `<= b`), `nonnegative`, `inf`, the default (a variable without bounds
is free), parameter bounds, `cvar(alpha = 95 %)`, `--set` value syntax, and files as editors
save them (BOM, CRLF, empty).
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import qgridlang as qg
from qgridlang import ast
from qgridlang.checker import check_file, check_text
from qgridlang.errors import DataError, QglErrors, QglSyntaxError, UsageError
from qgridlang.parser import parse
from qgridlang.results import Solution


def _bounds(text: str, name: str) -> tuple[list[float], list[float]]:
    """The flat lower and upper bounds of variable ``name``'s columns."""
    flat = check_text(text, "b.qgl").flat
    block = next(b for b in flat.blocks if b.name == name)
    cols = slice(block.start, block.start + len(block.keys))
    return list(flat.lb[cols]), list(flat.ub[cols])


def _solve(text: str) -> Solution:
    sol = qg.solve(text, backend="highs")
    assert sol.status.value == "optimal", sol.message
    return sol


# ---- one-sided bounds, solved --------------------------------------------------------------------
def test_lower_bound_holds_when_minimising() -> None:
    sol = _solve("time T = 1..3 step 1 h\n"
                 "var e[T]: MWh >= 2\n"
                 "minimize cost: sum(t in T) 5 $/MWh * e[t]\n")
    assert sol.value("e") == {1: pytest.approx(2.0), 2: pytest.approx(2.0),
                              3: pytest.approx(2.0)}
    assert sol.objective == pytest.approx(30.0)


def test_upper_bound_from_a_parameter_holds_when_maximising() -> None:
    sol = _solve("param cap: MW = 7\n"
                 "var x: MW <= cap\n"
                 "constraint floor: x >= -100\n"
                 "maximize x\n")
    assert sol.value("x") == pytest.approx(7.0)


def test_nonnegative_and_ge_zero_are_the_same_bound() -> None:
    for decl in ("var y: MW nonnegative", "var y: MW >= 0"):
        sol = _solve(f"{decl}\nconstraint c: y >= -5\nminimize y\n")
        assert sol.value("y") == pytest.approx(0.0), decl
        assert _bounds(f"{decl}\nminimize y\n", "y") == ([0.0], [math.inf])


def test_two_one_sided_bounds_in_either_order() -> None:
    for decl in ("var n integer >= 1 <= 7", "var n integer <= 7 >= 1", "var n integer in 1 .. 7"):
        assert _bounds(f"{decl}\nmaximize n\n", "n") == ([1.0], [7.0]), decl
        assert _solve(f"{decl}\nmaximize n\n").value("n") == pytest.approx(7.0)
        assert _solve(f"{decl}\nminimize n\n").value("n") == pytest.approx(1.0)


def test_bounds_are_in_the_declared_unit() -> None:
    assert _bounds("var e: MWh >= 0.5 GWh\nminimize e\n", "e") == ([500.0], [math.inf])
    assert _bounds("var q: % <= 50\nminimize q\n", "q") == ([-math.inf], [50.0])


def test_index_dependent_one_sided_bound() -> None:
    text = ("set G = {a, b}\nparam cap[G]: MW = {a: 3, b: 4}\n"
            "var p[g in G]: MW <= cap[g]\nmaximize sum(g in G) p[g]\n")
    assert _bounds(text, "p") == ([-math.inf, -math.inf], [3.0, 4.0])
    assert _solve(text).value("p") == {"a": pytest.approx(3.0), "b": pytest.approx(4.0)}


# ---- the default: free ---------------------------------------------------------------------------
def test_a_variable_without_bounds_is_free() -> None:
    text = "var f: MW\nconstraint floor: f >= -10\nminimize f\n"
    assert _bounds(text, "f") == ([-math.inf], [math.inf])
    # a solver that put an implicit 0 lower bound on f would return 0, not -10
    assert _solve(text).value("f") == pytest.approx(-10.0)
    integer = "var k integer\nconstraint floor: k >= -3.5\nminimize k\n"
    assert _bounds(integer, "k") == ([-math.inf], [math.inf])
    assert _solve(integer).value("k") == pytest.approx(-3.0)


# ---- inf -----------------------------------------------------------------------------------------
def test_inf_in_ranges_and_parameters() -> None:
    assert _bounds("var z in 0 .. inf\nminimize z\n", "z") == ([0.0], [math.inf])
    assert _bounds("var z in -inf .. 3\nminimize z\n", "z") == ([-math.inf], [3.0])
    text = ("param cap: MW = inf\nvar w: MW <= cap\nvar v: MW >= -cap\n"
            "constraint c: w + v <= 4\nmaximize w\n")
    assert _bounds(text, "w") == ([-math.inf], [math.inf])
    assert _bounds(text, "v") == ([-math.inf], [math.inf])
    table = "set G = {a, b}\nparam cap[G]: MW = {a: 5, b: inf}\nvar p[g in G]: MW <= cap[g]\n" \
        "minimize sum(g in G) p[g]\n"
    assert _bounds(table, "p") == ([-math.inf, -math.inf], [5.0, math.inf])


def test_inf_parameter_overridden_by_set_is_honoured() -> None:
    text = "param cap: MW = inf\nvar w: MW <= cap\nconstraint c: w >= -1\nmaximize w\n"
    sol = qg.solve(text, backend="highs", overrides={"cap": "6 MW"})
    assert sol.value("w") == pytest.approx(6.0)


def test_inf_is_refused_in_arithmetic_and_as_an_impossible_bound() -> None:
    with pytest.raises(QglErrors) as info:
        check_text("param cap = inf\nparam d = 2 * cap\nvar x <= -inf\nvar y >= inf\n", "i.qgl")
    got = [(e.span.line, e.span.column, e.message) for e in info.value.errors if e.span]
    assert got == [(2, 15, "the product has an infinite operand"),
                   (3, 10, "the upper bound of 'x' is -inf: no value fits"),
                   (4, 10, "the lower bound of 'y' is inf: no value fits")]


# ---- syntax: the AST of the new forms ------------------------------------------------------------
def _var(text: str) -> ast.VarDecl:
    (st,) = parse(text).statements
    assert isinstance(st, ast.VarDecl)
    return st


def test_one_sided_bounds_parse_to_low_and_high() -> None:
    v = _var("var x <= 5")
    assert v.low is None and isinstance(v.high, ast.Num) and v.high.value == 5.0
    v = _var("var x: MW >= 2 MW")
    assert isinstance(v.low, ast.Quantity) and v.high is None and v.unit is not None
    v = _var("var x nonnegative")
    assert isinstance(v.low, ast.Num) and v.low.value == 0.0 and v.high is None
    v = _var("var x in -inf .. inf")
    assert isinstance(v.low, ast.Num) and v.low.value == -math.inf
    assert isinstance(v.high, ast.Num) and v.high.value == math.inf
    v = _var("var x")
    assert v.low is None and v.high is None


def test_statement_keywords_are_reserved_with_a_hint() -> None:
    with pytest.raises(QglSyntaxError) as info:
        parse("param set = 3\n", "r.qgl")
    assert (info.value.span.line, info.value.span.column) == (1, 7)  # type: ignore[union-attr]
    assert info.value.hint is not None and "'set' begins a statement" in info.value.hint
    # keywords that are not statement starters stay usable as names (the stdlib has `import`)
    check_text("param step = 2\nparam default = 3\nparam total = step + default\n", "k.qgl")


# ---- parameter bounds ----------------------------------------------------------------------------
def test_parameter_bounds_check_every_value() -> None:
    check_text("set G = {a, b}\nparam cap[G]: MW >= 0 = {a: 1, b: 2}\n", "p.qgl")
    with pytest.raises(QglErrors) as info:
        check_text("set G = {a, b}\nparam cap[G]: MW >= 0 = {a: 1, b: -2}\n"
                   "param eta: % in 0 .. 100 = 120\n", "p.qgl")
    errs = info.value.errors
    assert [type(e) for e in errs] == [DataError, DataError]
    assert errs[0].message == "parameter 'cap' must be >= 0 MW, but cap[b] is -2 MW"
    assert errs[0].span is not None and (errs[0].span.line, errs[0].span.column) == (2, 35)
    assert errs[1].message == "parameter 'eta' must be <= 100 %, but eta is 120 %"


def test_parameter_bounds_refuse_a_set_value_as_usage() -> None:
    text = "param cap: MW >= 0 = 5\nvar x: MW <= cap\nminimize x\n"
    with pytest.raises(UsageError, match=r"--set cap: parameter 'cap' must be >= 0 MW"):
        check_text(text, "p.qgl", {"cap": "-3"})


# ---- cvar(alpha = 95 %) --------------------------------------------------------------------------
CVAR = """
set S = 1..4
scenarios S = equal()
param loss[s in S]: $ = 10 * s
var hedge: MW in 0 .. 10
expr cost[s in S]: $ = loss[s] - 2 $/MWh * hedge * 1 h + 1 $/MWh * hedge * 1 h
minimize expected(cost) + 0.5 * cvar(cost, alpha = ALPHA)
"""


def test_cvar_alpha_in_percent_is_the_same_model_as_the_fraction() -> None:
    pct = check_text(CVAR.replace("ALPHA", "75 %"), "a.qgl").flat
    frac = check_text(CVAR.replace("ALPHA", "0.75"), "a.qgl").flat
    assert [b.name for b in pct.blocks] == [b.name for b in frac.blocks]
    assert "cvar(cost,0.75).eta" in [b.name for b in pct.blocks]
    assert (pct.A != frac.A).nnz == 0
    for field in ("lb", "ub", "row_lo", "row_hi", "c"):
        assert np.array_equal(getattr(pct, field), getattr(frac, field)), field
    a, b = _solve(CVAR.replace("ALPHA", "95 %")), _solve(CVAR.replace("ALPHA", "0.95"))
    assert a.objective == pytest.approx(b.objective)
    # the hedge pays 1 $ per MWh in every scenario: all 10 MWh; E = 25 - 10, CVaR95 = 40 - 10
    assert a.objective == pytest.approx(15.0 + 0.5 * 30.0)


def test_cvar_alpha_must_be_dimensionless_and_below_one() -> None:
    with pytest.raises(QglErrors, match=r"alpha must be dimensionless"):
        check_text(CVAR.replace("ALPHA", "0.9 MW"), "a.qgl")
    with pytest.raises(QglErrors, match=r"alpha must be in \[0, 1\), got 95"):
        check_text(CVAR.replace("ALPHA", "95"), "a.qgl")


# ---- --set through the real command line ---------------------------------------------------------
SET_MODEL = """time T = 1..2 step 1 h
param e_cap: MWh = 1
param eta: % = 90
param demand[T]: MW = {1: 1, 2: 2}
var e: MWh in 0 .. e_cap
maximize stored: eta * 1 $/MWh * e
"""


def _qglc(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qgridlang.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def set_model(tmp_path: Path) -> Path:
    path = tmp_path / "s.qgl"
    path.write_text(SET_MODEL, encoding="utf-8")
    return path


def test_set_accepts_a_unit_without_a_space(set_model: Path) -> None:
    import json

    for value in ("0.3GWh", "0.3 GWh", "3e2MWh", "300000kWh"):
        run = _qglc("solve", str(set_model), "--set", f"e_cap={value}", "--json",
                    cwd=set_model.parent)
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stdout)["objective"] == pytest.approx(0.9 * 300.0), value


def test_set_bare_number_on_a_percentage_is_ambiguous(set_model: Path) -> None:
    run = _qglc("solve", str(set_model), "--set", "eta=90", cwd=set_model.parent)
    assert run.returncode == 2
    assert "--set eta=90 is ambiguous: 'eta' is in %" in run.stderr
    assert "write 90% for 90 %" in run.stderr and "Traceback" not in run.stderr
    ok = _qglc("solve", str(set_model), "--set", "eta=80%", "--json", cwd=set_model.parent)
    assert ok.returncode == 0, ok.stderr
    assert '"objective": 0.8' in ok.stdout


def test_set_on_an_indexed_parameter_is_a_usage_error(set_model: Path) -> None:
    run = _qglc("solve", str(set_model), "--set", "demand=3", cwd=set_model.parent)
    assert run.returncode == 2
    assert "'demand' is indexed over [T]" in run.stderr and "Traceback" not in run.stderr


def test_set_values_that_are_not_numbers_are_usage_errors(set_model: Path) -> None:
    for value in ("abc", "nan", "", "5 furlongs_per_fortnight"):
        run = _qglc("solve", str(set_model), "--set", f"e_cap={value}", cwd=set_model.parent)
        assert run.returncode == 2, (value, run.stderr)
        assert "--set e_cap=" in run.stderr and "Traceback" not in run.stderr


def test_set_inf() -> None:
    text = "param cap: MW = 1\nvar w: MW <= cap\nconstraint c: w <= 9\nmaximize w\n"
    sol = qg.solve(text, backend="highs", overrides={"cap": "inf"})
    assert sol.value("w") == pytest.approx(9.0)


# ---- files as editors save them ------------------------------------------------------------------
def test_bom_and_crlf_are_accepted_and_positions_stay_right(tmp_path: Path) -> None:
    path = tmp_path / "w.qgl"
    path.write_bytes(b"\xef\xbb\xbfparam a = 1\r\nvar x <= a\r\nminimize x # no newline")
    model = check_file(path)
    assert model.flat.n == 1 and not model.source.startswith("\ufeff")
    path.write_bytes(b"\xef\xbb\xbfparam a = 1\r\nparam b = a + nope\r\n")
    with pytest.raises(QglErrors) as info:
        check_file(path)
    (err,) = info.value.errors
    assert err.span is not None and (err.span.line, err.span.column) == (2, 15)
    path.write_bytes(b"\xef\xbb\xbfvar p in 0 ..\r\nminimize p\r\n")
    with pytest.raises(QglErrors) as info:
        check_file(path)
    (err,) = info.value.errors
    assert err.span is not None and (err.span.line, err.span.column) == (1, 14)


@pytest.mark.parametrize("text", ["", "   \n\n", "# only a comment", "\ufeff# c\r\n  \t\r\n"])
def test_an_empty_model_is_an_error_at_1_1(text: str) -> None:
    with pytest.raises(QglErrors) as info:
        check_text(text, "e.qgl")
    (err,) = info.value.errors
    assert err.message == "the model is empty: no declarations"
    assert err.span is not None and (err.span.line, err.span.column) == (1, 1)


def test_numbers_and_lists_as_modellers_write_them() -> None:
    flat = check_text("set G = {a, b,}\n"
                      "param c[G]: MW = {a: 1.5e3, b: .5,}\n"
                      "param big: MW = 2E+2kW\n"
                      "param x: MW = 5 MW\n"
                      "var p[g in G]: MW in 0 .. c[g]\n"
                      "minimise cost: sum(g in G) max(1, 2,) * 1 $/MWh * p[g] * 1 h\n",
                      "n.qgl").flat
    assert list(flat.ub) == [1500.0, 0.5]
    assert flat.sense == "min"
    sol = _solve("var y in 0 .. 2\nmaximise y\n")
    assert sol.value("y") == pytest.approx(2.0)


@pytest.mark.parametrize(("char", "hint"), [("≤", "write <="), ("'", "double quotes"),
                                            ("−", "ASCII minus")])
def test_pasted_characters_get_a_hint(char: str, hint: str) -> None:
    with pytest.raises(QglSyntaxError) as info:
        parse(f"var x\nconstraint c: x {char} 3\n", "u.qgl")
    assert info.value.hint is not None and hint in info.value.hint
