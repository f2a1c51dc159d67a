"""The instances of an indexed component expanded together (``Vectoriser.batch``).

``thermal_unit gen[u in U]`` has each of the component's constraints expanded once for all
instances rather than once per instance. The flat model, the errors (message, line, column,
hint) and the warnings must be exactly those of one instance at a time (``instance``) and of
the per-element path (``element``): on clean models, where the batch is used, and on models
where one instance fails (the batch gives way to each instance on its own), where a binding or
an attachment fails part-way through the instances, and where the component cannot be batched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_lowering_golden import flat_dump
from test_vector_expansion import _outcome

from qgridlang.checker import check_file, check_text
from qgridlang.semantics.vector import expansion

ROOT = Path(__file__).resolve().parent.parent

HEAD = """model m
use stdlib
time T = 1..4 step 1 h
set G = {g1, g2, g3}
param cap[G]: MW = {g1: 40, g2: 30, g3: 20}
param low[G]: MW = {g1: 0, g2: 5, g3: 10}
param n_up[G] = {g1: 1, g2: 2, g3: 3}
param start[G] = {g1: 1, g2: 0, g3: 1}
bus grid
"""

UNIT = """component unit(cap: MW, low: MW = 0, n = 1, start = 0) over T {
  var u[T] binary
  var out[T]: MW in 0 .. cap
  constraint floor[t in T]: out[t] >= low * u[t]
  constraint ceiling[t in T]: out[t] <= cap * u[t]
  constraint logic[t in T]: u[t] - (if t == first(T) then start else u[prev(t)]) <= 1
  constraint stay[t in T]: sum(k in 0 .. n - 1 where ord(t) > k) u[prev(t, k)] <= n
  constraint first_on[t in T where start == 1 and ord(t) <= n]: u[t] == 1
  %EXTRA%
  expr cost = sum(t in T) out[t] * 2 $/MWh * dt
  port p[t in T] = out[t]
}
"""

TAIL = """load town at grid { demand = 30 MW }
minimize total: sum(g in G) gen[g].cost
"""

CLEAN = HEAD + UNIT.replace("%EXTRA%", "") + \
    "unit gen[g in G] at grid { cap = cap[g]; low = low[g]; n = n_up[g]; start = start[g] }\n" \
    + TAIL


def _all_ways(text: str, name: str = "m.qgl") -> tuple[Any, ...]:
    """The outcome of ``text`` on every path; they must agree."""
    got = {mode: _outcome(lambda: check_text(text, name), mode)
           for mode in ("auto", "instance", "element")}
    assert got["auto"] == got["instance"] == got["element"]
    return got["auto"]


def _together(text: str) -> dict[str, Any]:
    with expansion("auto"):
        return check_text(text, "m.qgl").expansion


def test_a_clean_model_is_expanded_together_and_as_one_instance_at_a_time() -> None:
    assert _all_ways(CLEAN)[0] == "ok"
    got = _together(CLEAN)
    # floor, ceiling, logic (rows in two unit groups), stay (each instance's own range) and
    # first_on (a `where` on instance parameters): all five once for the three instances
    assert got["together"] == 5 and got["unbatched"] == [] and got["fallbacks"] == []


def test_rows_and_terms_keep_the_order_of_one_instance_at_a_time() -> None:
    """Row order, names, keys and units, and the matrix, exactly as instance by instance."""
    flats = {}
    for mode in ("auto", "instance"):
        with expansion(mode):
            flats[mode] = check_text(CLEAN, "m.qgl").flat
    a, b = flats["auto"], flats["instance"]
    assert [(r.name, r.key, r.unit) for r in a.rows] == [(r.name, r.key, r.unit) for r in b.rows]
    assert (a.A != b.A).nnz == 0 and a.row_lo.tolist() == b.row_lo.tolist()
    assert a.row_hi.tolist() == b.row_hi.tolist()
    assert a.rows[0].name == "gen[g1].floor"  # instance-major: g1's rows first
    assert [r.name for r in a.rows].index("gen[g2].floor") > \
        [r.name for r in a.rows].index("gen[g1].first_on")


@pytest.mark.parametrize("extra,message", [
    # holds for g1 and g2, never for g3 (a row without terms): g3 only
    ("constraint fits[t in T]: low <= 7 MW", "can never hold"),
    # a unit error on one instance's rows only (n has a unit for g2)
    ("constraint odd[t in T]: out[t] <= n * 1 MW", "cannot"),
])
def test_an_error_in_one_instance_is_reported_as_before(extra: str, message: str) -> None:
    text = HEAD + UNIT.replace("%EXTRA%", extra) + (
        "unit gen[g in G] at grid { cap = cap[g]; low = low[g]; start = start[g]; "
        "n = if ord(g) == 2 then 2 MW else n_up[g] }\n" if "odd" in extra else
        "unit gen[g in G] at grid { cap = cap[g]; low = low[g]; n = n_up[g]; "
        "start = start[g] }\n") + TAIL
    out = _all_ways(text)
    assert out[0] == "errors" and any(message in e[0] for e in out[1]), out


def test_a_binding_that_fails_part_way_keeps_the_earlier_instances_errors() -> None:
    # g2's cap is bound in MWh (the instances stop there, as instance by instance); g1's
    # `fits` never holds: g1's constraint error is reported, and g2's binding error
    extra = "constraint fits[t in T]: cap <= 30 MW"
    text = HEAD + UNIT.replace("%EXTRA%", extra) + (
        "unit gen[g in G] at grid { cap = if ord(g) == 2 then 5 MWh else cap[g]; "
        "low = low[g] }\n"
    ) + TAIL
    out = _all_ways(text)
    assert out[0] == "errors"
    messages = [e[0] for e in out[1]]
    assert any("gen[g1].fits" in m for m in messages), messages
    assert any("MWh" in m for m in messages), messages
    assert not any("gen[g3]" in m for m in messages), messages


def test_an_attachment_that_fails_keeps_that_instances_constraint_errors() -> None:
    # no port: the first instance fails to attach to the bus, after its constraints
    unit = UNIT.replace("  port p[t in T] = out[t]\n", "").replace(
        "%EXTRA%", "constraint fits[t in T]: cap <= 30 MW")
    text = HEAD + unit + "unit gen[g in G] at grid { cap = cap[g] }\n" + TAIL
    out = _all_ways(text)
    assert out[0] == "errors"
    messages = [e[0] for e in out[1]]
    assert any("no ports" in m for m in messages) and any("gen[g1].fits" in m
                                                          for m in messages), messages


def test_a_constraint_before_what_it_uses_is_not_batched() -> None:
    # `early` names `late`, declared after it: an unknown name instance by instance, so the
    # component is expanded one instance at a time (the batch would see `late`)
    unit = UNIT.replace("%EXTRA%", "constraint early[t in T]: late[t] <= cap\n"
                                    "  var late[T]: MW in 0 .. 1")
    text = HEAD + unit + "unit gen[g in G] at grid { cap = cap[g] }\n" + TAIL
    out = _all_ways(text)
    assert out[0] == "errors" and any("late" in e[0] for e in out[1]), out


def test_a_component_whose_constraints_make_columns_is_not_batched() -> None:
    # pos(…) makes an epigraph column per use: columns would be made in another order
    text = HEAD + UNIT.replace("%EXTRA%", "constraint slack[t in T]: pos(out[t] - 10 MW) <= cap") \
        + "unit gen[g in G] at grid { cap = cap[g] }\n" + TAIL
    dumps = []
    for mode in ("auto", "instance"):
        with expansion(mode):
            dumps.append(flat_dump(check_text(text, "m.qgl").flat))
    assert dumps[0] == dumps[1]
    assert _together(text)["together"] == 0


def test_the_rts24_unit_commitment_expands_every_constraint_together() -> None:
    with expansion("auto"):
        got = check_file(ROOT / "examples" / "unit_commitment" / "uc.qgl").expansion
    # the 12 constraints of stdlib's thermal_unit, each once for the 32 units
    assert got["together"] == 12 and got["unbatched"] == [] and got["fallbacks"] == []
