"""Unit semantics: energy = power * time, exact conversions, percent, objective units, errors.

Every expectation below is a coefficient or bound of the flat model, derived by hand.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from qgridlang.checker import CheckedModel, check_text
from qgridlang.dispatcher import solve_model
from qgridlang.errors import QglErrors, UnitMismatch
from qgridlang.flat import FlatModel
from qgridlang.results import Status

# checked both ways: with arrays and element by element (qgridlang.semantics.vector)
pytestmark = pytest.mark.usefixtures("both_expansions")


def _check(text: str) -> CheckedModel:
    return check_text(text, "units.qgl")


def row(flat: FlatModel, label: str) -> tuple[dict[str, float], float, float, str]:
    """Coefficients by column name, lower and upper bound and unit of the row ``label``."""
    names = flat.column_names()
    k = next(i for i, r in enumerate(flat.rows) if r.label == label)
    dense = flat.A[k].toarray().ravel()
    return ({names[j]: float(dense[j]) for j in np.flatnonzero(dense)},
            float(flat.row_lo[k]), float(flat.row_hi[k]), flat.rows[k].unit)


def errors_of(text: str) -> list[tuple[int, int, str, str]]:
    with pytest.raises(QglErrors) as info:
        _check(text)
    return [(e.span.line if e.span else 0, e.span.column if e.span else 0, type(e).__name__,
             e.message) for e in info.value.errors]


# ---- power * time is energy --------------------------------------------------------------------
def test_kw_times_h_is_energy_comparable_to_kwh() -> None:
    flat = _check("""
var e: kWh in 0 .. 100
var p: kW in 0 .. 10
constraint c: e == p * 2 h
expr stored: kWh = p * 3 h
param e1: kW*h = 4 kWh
constraint d: e <= e1
""").flat
    assert row(flat, "c") == ({"e": 1.0, "p": -2.0}, 0.0, 0.0, "kWh")
    assert row(flat, "d") == ({"e": 1.0}, -np.inf, 4.0, "kWh")
    (info,) = flat.exprs
    assert (info.name, info.unit) == ("stored", "kWh")


def test_dt_of_a_time_set_in_minutes_scales_power_to_energy() -> None:
    flat = _check("""
time T = 1..4 step 15 min
var p[T]: kW in 0 .. 10
var e: kWh in 0 .. 100
constraint c: e == sum(t in T) p[t] * dt
""").flat
    coefs, lo, hi, unit = row(flat, "c")
    assert coefs == {"e": 1.0, "p[1]": -0.25, "p[2]": -0.25, "p[3]": -0.25, "p[4]": -0.25}
    assert unit == "kWh"


def test_ramp_rate_times_hours_is_power() -> None:
    flat = _check("""
var r: MW/h in 0 .. 1
var p: MW in 0 .. 10
constraint c: r * 30 min <= p
""").flat
    assert row(flat, "c") == ({"r": 0.5, "p": -1.0}, -np.inf, 0.0, "MW")


# ---- conversions are exact ---------------------------------------------------------------------
def test_kw_against_mw_uses_exactly_1000() -> None:
    flat = _check("""
var p: MW in 0 .. 10
var q: kW in 0 .. 2 MW
param a: MW = 1500 kW
constraint cap: q <= p
constraint cap_mw: p >= q
constraint lim: q <= a
""").flat
    coefs, lo, hi, unit = row(flat, "cap")
    assert coefs == {"q": 1.0, "p": -1000.0} and unit == "kW"
    coefs, lo, hi, unit = row(flat, "cap_mw")
    assert coefs == {"p": 1.0, "q": -0.001} and unit == "MW" and lo == 0.0
    assert row(flat, "lim") == ({"q": 1.0}, -np.inf, 1500.0, "kW")
    assert flat.ub[flat.column_names().index("q")] == 2000.0


def test_where_conditions_compare_converted_quantities() -> None:
    flat = _check("""
param cap[g in 1..3]: MW = g
var q: kW in 0 .. 5000
constraint c[g in 1..3 where cap[g] > 1500 kW]: q <= cap[g]
""").flat
    assert [(r.label, hi) for r, hi in zip(flat.rows, flat.row_hi, strict=True)] == [
        ("c[2]", 2000.0), ("c[3]", 3000.0)]


# ---- percent -----------------------------------------------------------------------------------
def test_percent_is_a_hundredth() -> None:
    flat = _check("""
param reserve = 10 %
var p: MW in 0 .. 10
var q: kW in 0 .. 5000
var z in 0 .. 1
constraint half: q <= 50 % * p
constraint res: z >= reserve * z + 25 %
constraint frac: z <= 25 %
""").flat
    assert row(flat, "half") == ({"q": 1.0, "p": -500.0}, -np.inf, 0.0, "kW")
    coefs, lo, hi, _ = row(flat, "res")
    assert coefs == {"z": pytest.approx(0.9)} and lo == pytest.approx(0.25)
    coefs, lo, hi, _ = row(flat, "frac")
    assert coefs == {"z": 1.0} and hi == pytest.approx(0.25)


def test_one_minus_a_percentage_is_the_complement() -> None:
    flat = _check("""
param reserve = 5 %
var z in 0 .. 1
constraint c: z <= 1 - reserve
""").flat
    coefs, lo, hi, _ = row(flat, "c")
    assert hi == pytest.approx(0.95)


# ---- objective units ---------------------------------------------------------------------------
OBJ = """
time T = 1..2 step 30 min
param price: $/MWh = 50
param retail: $/kWh = 0.2
var p[T]: MW in 0 .. 10
var q[T]: MW in 0 .. 10
constraint need[t in T]: p[t] + q[t] >= 4
minimize cost: sum(t in T) (price * p[t] * dt + retail * q[t] * dt)
"""


def test_dollars_per_mwh_times_mw_times_h_is_dollars() -> None:
    checked = _check(OBJ)
    flat = checked.flat
    assert flat.obj_unit == "$"
    assert checked.ir.objective is not None and checked.ir.objective.unit == "$"
    c = dict(zip(flat.column_names(), flat.c, strict=True))
    assert c["p[1]"] == pytest.approx(25.0)  # 50 $/MWh * 1 MW * 0.5 h
    assert c["q[2]"] == pytest.approx(100.0)  # 0.2 $/kWh * 1000 kW * 0.5 h


def test_solution_reports_the_objective_in_dollars() -> None:
    sol = solve_model(_check(OBJ), "highs")
    assert sol.status == Status.OPTIMAL
    assert sol.objective_unit == "$"
    assert sol.objective == pytest.approx(2 * 4 * 25.0)


def test_a_unitless_objective_has_no_unit() -> None:
    flat = _check("var x in 0 .. 1\nminimize 2 * x\n").flat
    assert flat.obj_unit == ""


# ---- errors ------------------------------------------------------------------------------------
def test_adding_mw_to_mwh_names_both_units() -> None:
    errs = errors_of("""param p: MW = 5
param e: MWh = 3
param s = p + e
var x: MW in 0 .. 1
var y: MWh in 0 .. 1
constraint c: x + y <= 3
""")
    assert [(line, col, kind) for line, col, kind, _ in errs] == [
        (3, 11, "UnitMismatch"), (6, 15, "UnitMismatch")]
    for *_, message in errs:
        assert re.search(r"'MWh?' and 'MWh?'", message), message
        assert "'MW'" in message and "'MWh'" in message


def test_comparing_power_with_energy_is_an_error() -> None:
    errs = errors_of("var x: MW in 0 .. 1\nvar y: MWh in 0 .. 1\nconstraint c: x <= y\n")
    (line, col, kind, message) = errs[0]
    assert len(errs) == 1 and kind == "UnitMismatch" and (line, col) == (3, 20)
    assert "'MW'" in message and "'MWh'" in message


def test_unit_mismatch_is_the_error_class() -> None:
    with pytest.raises(QglErrors) as info:
        _check("param a = 1 MW + 1 h\n")
    assert isinstance(info.value.errors[0], UnitMismatch)


def test_offset_units_are_refused_difference_units_accepted() -> None:
    errs = errors_of("param t_amb: degC = 20\nparam t2 = 3 degF\n")
    assert [(line, col) for line, col, *_ in errs] == [(1, 14), (2, 12)]
    assert all("offset unit" in m for *_, m in errs)
    flat = _check("var dT: delta_degC in 0 .. 5\nvar k: K in 0 .. 5\n").flat
    assert [b.unit for b in flat.blocks] == ["delta_degC", "K"]


def test_unknown_unit_is_an_error_at_the_unit() -> None:
    errs = errors_of("param a: megawatt_hourz = 1\n")
    assert errs == [(1, 10, "QglError", "unknown unit 'megawatt_hourz'")]


# ---- bare numbers ------------------------------------------------------------------------------
def test_a_bare_number_adopts_the_unit_of_its_partner() -> None:
    flat = _check("""
time T = 1..2 step 1 h
var p: MW in 0 .. 10
var q: kW in 0 .. 5000
var z[T]: kW in 0 .. 10
constraint mw: p <= 5
constraint kw: q <= 5
constraint left: 5 >= q
constraint plus: q + 1 <= 3
constraint summed: sum(t in T) (z[t] + 1) <= 10
""").flat
    assert row(flat, "mw") == ({"p": 1.0}, -np.inf, 5.0, "MW")
    assert row(flat, "kw") == ({"q": 1.0}, -np.inf, 5.0, "kW")
    assert row(flat, "left") == ({"q": -1.0}, -5.0, np.inf, "kW")  # 5 - q >= 0
    assert row(flat, "plus")[2] == 2.0
    assert row(flat, "summed")[2] == 8.0


def test_a_bare_number_in_a_declared_unit_parameter_takes_that_unit() -> None:
    flat = _check("param a: MW = 5\nvar q: kW in 0 .. 1 MW\nconstraint c: q <= a\n").flat
    assert row(flat, "c") == ({"q": 1.0}, -np.inf, 5000.0, "kW")
