"""``pos(e)`` / ``max(e, 0)``: soft limits as epigraph columns, refused where not minimised."""

from __future__ import annotations

import pytest

import qgridlang as qg
from qgridlang.checker import check_text
from qgridlang.errors import QglErrors

BASE = """time T = 1..3 step 1 h
param demand[T]: MW = {1: 4, 2: 9, 3: 6}
param v_max: MW = 5
var p[T]: MW in 0 .. 20
constraint serve[t in T]: p[t] >= demand[t]
"""


def _solve(text: str) -> object:
    return qg.solve(check_text(BASE + text, "pos.qgl"), "highs")


def test_a_penalty_on_the_positive_part_is_its_exact_value() -> None:
    sol = _solve("minimize cost: sum(t in T) (2 $/MWh * p[t] + 30 $/MWh * pos(p[t] - v_max)) "
                 "* dt\n")
    # p = demand; the excess over 5 MW is 0, 4, 1 MWh at 30 $/MWh
    assert sol.objective == pytest.approx(2 * 19 + 30 * 5)  # type: ignore[attr-defined]


def test_max_of_an_affine_expression_and_zero_is_pos() -> None:
    a = _solve("minimize cost: sum(t in T) (2 $/MWh * p[t] + 30 $/MWh * max(p[t] - v_max, 0))"
               " * dt\n")
    b = _solve("minimize cost: sum(t in T) (2 $/MWh * p[t] + 30 $/MWh * max(0 MW, p[t] - "
               "v_max)) * dt\n")
    assert a.objective == pytest.approx(188.0) and b.objective == pytest.approx(188.0)  # type: ignore[attr-defined]


def test_pos_bounded_in_a_constraint_limits_the_excess() -> None:
    text = ("constraint soft: sum(t in T) pos(p[t] - v_max) <= 3 MW\n"
            "minimize cost: sum(t in T) 2 $/MWh * p[t] * dt\n")
    # demand exceeds 5 MW by 4 + 1 = 5 MW in all: at most 3 is infeasible, at most 5 is not
    assert _solve(text).status == "infeasible"  # type: ignore[attr-defined]
    ok = _solve(text.replace("<= 3 MW", "<= 5 MW"))
    assert ok.status == "optimal"  # type: ignore[attr-defined]
    assert ok.objective == pytest.approx(38.0)  # type: ignore[attr-defined]


def test_a_constant_positive_part_is_a_number() -> None:
    checked = check_text(BASE + "param over = pos(demand[2] - v_max)\n"
                         "minimize cost: sum(t in T) p[t] * over * 1 $/MWh * dt\n", "c.qgl")
    assert checked.flat.n == 3  # no epigraph column for a constant


@pytest.mark.parametrize(("objective", "says"), [
    ("maximize gain: sum(t in T) pos(p[t] - v_max) * 1 $/MW\n", "maximised somewhere"),
    ("minimize cost: sum(t in T) (2 $/MWh * p[t] - 30 $/MWh * pos(p[t] - v_max)) * dt\n",
     "maximised somewhere"),
    ("constraint floor: pos(p[1] - v_max) >= 1 MW\nminimize cost: sum(t in T) p[t] * 1 $/MWh"
     " * dt\n", "maximised somewhere"),
    ("constraint fix: pos(p[1] - v_max) == 1 MW\nminimize cost: sum(t in T) p[t] * 1 $/MWh"
     " * dt\n", "maximised somewhere"),
    ("minimize cost: sum(t in T) (p[t] + 0 * pos(p[t] - v_max)) * 1 $/MWh * dt\n",
     "weight 0"),
    ("minimize cost: sum(t in T) min(p[t], v_max) * 1 $/MWh * dt\n", "not linear"),
])
def test_pos_where_it_is_not_minimised_is_refused_at_its_place(objective: str, says: str
                                                               ) -> None:
    with pytest.raises(QglErrors) as err:
        check_text(BASE + objective, "bad.qgl")
    first = err.value.errors[0]
    assert says in first.message and first.span is not None and first.span.line >= 6
