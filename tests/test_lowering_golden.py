"""Golden fixtures of checking + lowering: ``tests/golden/lower/*.qgl`` -> ``.json``.

Each fixture stores the checker's IR summary (spans reduced to ``"line:col"``, prefixed with the
file name when the span lies in another file such as the standard library) and the flat model:
columns (name, kind, unit, bounds), rows (name, unit, bounds), the constraint matrix (dense for
tiny models, COO triples otherwise), ``c``, ``Q`` and ``obj_const``, and the named expressions.
Numbers are rounded to 12 significant digits and infinities written as ``"inf"``/``"-inf"``.
``UPDATE_GOLDEN=1`` rewrites the fixtures.

Besides the snapshots, a few coefficients are derived by hand below so that a wrongly blessed
golden file cannot hide a lowering bug.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from qgl_models import assert_matches_golden
from test_parser_golden import pretty_json

from qgridlang.checker import CheckedModel, check_file
from qgridlang.flat import KIND_CODE, FlatModel

# checked both ways: with arrays and element by element (qgridlang.semantics.vector)
pytestmark = pytest.mark.usefixtures("both_expansions")

GOLDEN = Path(__file__).resolve().parent / "golden" / "lower"
FIXTURES = sorted(GOLDEN.glob("*.qgl"))
DENSE_LIMIT = 2500  # store A densely when rows * columns is at most this
KIND_NAME = {v: k for k, v in KIND_CODE.items()}


def num(x: float) -> float | str:
    x = float(x)
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if math.isnan(x):
        return "nan"
    r = float(f"{x:.12g}")
    return 0.0 if r == 0 else r


def reduce_spans(value: Any, own_file: str) -> Any:
    """Replace every span dict of a ``model_dump(mode="json")`` by ``"line:col"``."""
    if isinstance(value, dict):
        if set(value) == {"file", "line", "column", "end_line", "end_column"}:
            where = f"{value['line']}:{value['column']}"
            name = Path(value["file"]).name
            return where if name == own_file else f"{name}:{where}"
        return {k: reduce_spans(v, own_file) for k, v in value.items()}
    if isinstance(value, list):
        return [reduce_spans(v, own_file) for v in value]
    if isinstance(value, float):
        return num(value)
    return value


def flat_dump(flat: FlatModel) -> dict[str, Any]:
    names = flat.column_names()
    units = [b.unit for b in flat.blocks for _ in b.keys]
    columns = [{"name": n, "kind": KIND_NAME[int(k)], "unit": u, "lb": num(lo), "ub": num(hi)}
               for n, k, u, lo, hi in zip(names, flat.kind, units, flat.lb, flat.ub, strict=True)]
    rows = [{"name": r.label, "unit": r.unit, "lo": num(lo), "hi": num(hi)}
            for r, lo, hi in zip(flat.rows, flat.row_lo, flat.row_hi, strict=True)]
    out: dict[str, Any] = {
        "name": flat.name, "sense": flat.sense, "objective": flat.obj_name,
        "objective_unit": flat.obj_unit, "n": flat.n, "m": flat.m,
        "columns": columns, "rows": rows,
    }
    if flat.n * flat.m <= DENSE_LIMIT:
        out["A"] = [[num(v) for v in row] for row in flat.A.toarray()]
    else:
        coo = flat.A.tocoo()
        out["A_coo"] = sorted([int(i), int(j), num(v)]
                              for i, j, v in zip(coo.row, coo.col, coo.data, strict=True))
    out["c"] = [num(v) for v in flat.c]
    qi, qj, qv = flat.Q
    out["Q"] = sorted([int(i), int(j), num(v)] for i, j, v in zip(qi, qj, qv, strict=True))
    out["obj_const"] = num(flat.obj_const)
    out["expressions"] = [f"{e.name}{_key(e.key)} [{e.unit}]" for e in flat.exprs]
    return out


def _key(key: tuple[int | str, ...]) -> str:
    return "[" + ",".join(str(k) for k in key) + "]" if key else ""


def lower_dump(checked: CheckedModel, own_file: str) -> str:
    payload = {"ir": reduce_spans(checked.ir.model_dump(mode="json"), own_file),
               "flat": flat_dump(checked.flat)}
    return pretty_json(payload) + "\n"


def _check(name: str) -> CheckedModel:
    return check_file(GOLDEN / f"{name}.qgl")


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_lowering_matches_golden(path: Path) -> None:
    assert_matches_golden(lower_dump(check_file(path), path.name), path)


def test_every_fixture_has_a_golden() -> None:
    assert {p.stem for p in FIXTURES} == {p.stem for p in GOLDEN.glob("*.json")}
    assert {"battery_bus", "thermal_unit", "cvar_scenarios", "units_tables"} <= {
        p.stem for p in FIXTURES}


# ---- hand-derived spot checks ------------------------------------------------------------------
def _row(flat: FlatModel, label: str) -> tuple[dict[str, float], float, float]:
    names = flat.column_names()
    k = next(i for i, r in enumerate(flat.rows) if r.label == label)
    dense = flat.A[k].toarray().ravel()
    coefs = {names[j]: float(dense[j]) for j in np.flatnonzero(dense)}
    return coefs, float(flat.row_lo[k]), float(flat.row_hi[k])


def test_units_tables_by_hand() -> None:
    flat = _check("units_tables").flat
    # balance in kW (the first operand's unit): p[u1,t] + p[u2,t] == 1.5 MW = 1500 kW
    coefs, lo, hi = _row(flat, "balance[1]")
    assert coefs == {"p[u1,1]": 1.0, "p[u2,1]": 1.0}
    assert lo == hi == 1500.0
    # the where filter keeps t = 2 only; chained bounds give two rows per (g, t)
    assert [r.label for r in flat.rows if r.name == "window"] == [
        "window[u1,2]", "window[u1,2]", "window[u2,2]", "window[u2,2]"]
    # 10 % of 2 MW in MW
    coefs, lo, hi = _row(flat, "headroom[2]")
    assert coefs == {"spare[2]": 1.0} and lo == pytest.approx(0.2) and hi == math.inf
    names = flat.column_names()
    c = dict(zip(names, flat.c, strict=True))
    # 20 $/MWh * kW * 0.5 h = 0.01 $ per kW; spare: 5 $/MWh * MW * 0.5 h = 2.5 $ per MW
    assert c["p[u1,1]"] == pytest.approx(0.01) and c["p[u2,2]"] == pytest.approx(0.015)
    assert c["spare[1]"] == pytest.approx(2.5)
    # 2 $/MW^2/h * (kW)^2 * 0.5 h = 1e-6 $ per kW^2, one diagonal term per period
    qi, qj, qv = flat.Q
    u1 = [names.index("p[u1,1]"), names.index("p[u1,2]")]
    assert sorted(zip(qi.tolist(), qj.tolist(), strict=True)) == [(u, u) for u in u1]
    assert qv.tolist() == pytest.approx([1e-6, 1e-6])
    assert flat.obj_unit == "$"


def test_battery_bus_by_hand() -> None:
    flat = _check("battery_bus").flat
    # soc[2] == soc[1] + 0.9 * charge[2] * 1 h - discharge[2] * 1 h / 0.9
    coefs, lo, hi = _row(flat, "ess.dynamics[2]")
    assert lo == hi == 0.0
    assert coefs == pytest.approx({"ess.soc[2]": 1.0, "ess.soc[1]": -1.0,
                                   "ess.charge[2]": -0.9, "ess.discharge[2]": 1 / 0.9})
    # the first period starts from soc_init * energy = 50 kWh
    coefs, lo, hi = _row(flat, "ess.dynamics[1]")
    assert lo == hi == pytest.approx(50.0)
    # bus balance: discharge - charge + import - export == demand (kW)
    coefs, lo, hi = _row(flat, "site.balance[2]")
    assert coefs == {"ess.discharge[2]": 1.0, "ess.charge[2]": -1.0,
                     "utility.import[2]": 1.0, "utility.export[2]": -1.0}
    assert lo == hi == pytest.approx(80.0)
    names = flat.column_names()
    ub = dict(zip(names, flat.ub, strict=True))
    lb = dict(zip(names, flat.lb, strict=True))
    assert ub["utility.import[1]"] == 200.0  # 0.2 MW in kW
    assert (lb["ess.soc[1]"], ub["ess.soc[1]"]) == pytest.approx((10.0, 90.0))
    c = dict(zip(names, flat.c, strict=True))
    assert c["utility.import[2]"] == pytest.approx(0.3)
    assert c["ess.discharge[3]"] == pytest.approx(0.01)


def test_thermal_unit_by_hand() -> None:
    checked = _check("thermal_unit")
    flat = checked.flat
    assert [b.name for b in flat.blocks] == ["g1.u", "g1.v", "g1.w", "g1.output",
                                             "g1.startup_cost"]
    # commitment logic at t = 1 uses init_status = 1: u[1] - 1 == v[1] - w[1]
    coefs, lo, hi = _row(flat, "g1.logic[1]")
    assert coefs == {"g1.u[1]": 1.0, "g1.v[1]": -1.0, "g1.w[1]": 1.0}
    assert lo == hi == 1.0
    # min up 2 h, on for 1 h before the horizon: must stay on in period 1 only
    assert [r.label for r in flat.rows if r.name == "g1.initial_on"] == ["g1.initial_on[1]"]
    # ramp up at t = 1 from p_init = 40 MW: output[1] - 40 <= 50 * 1 + startup_ramp * v[1]
    coefs, lo, hi = _row(flat, "g1.ramp_up_limit[1]")
    assert coefs == {"g1.output[1]": 1.0, "g1.v[1]": -1_000_000.0}
    assert hi == pytest.approx(90.0)
    # quadratic fuel cost 0.05 $/MW^2/h * 1 h on the diagonal of each output column
    names = flat.column_names()
    qi, qj, qv = flat.Q
    assert sorted(names[i] for i in qi) == [f"g1.output[{t}]" for t in range(1, 5)]
    assert np.array_equal(qi, qj) and qv.tolist() == pytest.approx([0.05] * 4)
    assert checked.ir.objective is not None and checked.ir.objective.quadratic_terms == 4


def test_cvar_scenarios_by_hand() -> None:
    checked = _check("cvar_scenarios")
    flat = checked.flat
    assert [(s.set, s.size, s.probability_sum) for s in checked.ir.scenarios] == [
        ("S", 3, pytest.approx(1.0))]
    aux = [b.name for b in flat.blocks if b.auxiliary]
    assert aux == ["cvar(cost,0.5).eta", "cvar(cost,0.5).excess"]
    names = flat.column_names()
    c = dict(zip(names, flat.c, strict=True))
    # expected: sum_s p_s (0.1 buy[t] + 0.3 short[s,t]); cvar: eta + sum_s p_s/(1-a) z_s, w 0.5
    assert c["buy[1]"] == pytest.approx(0.1)
    assert c["short[mid,2]"] == pytest.approx(0.5 * 0.3)
    assert c["short[low,1]"] == pytest.approx(0.25 * 0.3)
    assert c["cvar(cost,0.5).eta"] == pytest.approx(0.5)
    assert c["cvar(cost,0.5).excess[high]"] == pytest.approx(0.5 * 0.25 / 0.5)
    # tail row: z_s + eta - cost_s >= 0
    coefs, lo, hi = _row(flat, "cvar(cost,0.5).tail[high]")
    assert coefs == pytest.approx({"cvar(cost,0.5).excess[high]": 1.0, "cvar(cost,0.5).eta": 1.0,
                                   "buy[1]": -0.1, "buy[2]": -0.1, "short[high,1]": -0.3,
                                   "short[high,2]": -0.3})
    assert (lo, hi) == (0.0, math.inf)
    # the CSV load joined by label: cover[high,2] needs 60 kW
    coefs, lo, hi = _row(flat, "cover[high,2]")
    assert lo == 60.0 and coefs == {"buy[2]": 1.0, "short[high,2]": 1.0}


def test_ir_names_the_index_sets_of_variables() -> None:
    ir = _check("units_tables").ir
    index = {v.name: v.index for v in ir.variables}
    assert index == {"p": ["G", "T"], "on": ["G"], "spare": ["T"]}
