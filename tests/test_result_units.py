"""Results in the user's units: reporting rules, objective unit, warnings, tables, the API's
accessors (value, dual, unit, to_frame) and ``qglc solve --output plan.csv|plan.parquet``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import qgridlang as qg
from qgridlang.errors import UsageError
from qgridlang.results import Solution, UnknownResult
from qgridlang.semantics import units as U
from qgridlang.semantics.report_units import compact

# A battery bound in MW/MWh (the stdlib declares kW/kWh), three thermal units in MW, a load.
BATTERY = """model bat
use stdlib
time T = 1..4 step 1 h
set G = {u1, u2, u3}
param demand[T]: MW = {1: 100, 2: 150, 3: 80, 4: 120}
param cost[G]: $/MWh = {u1: 20, u2: 35, u3: 50}
param cap[G]: MW = {u1: 60, u2: 60, u3: 60}
bus grid
battery ess at grid { energy = 200 MWh; power = 50 MW }
thermal_unit gen[g in G] at grid { pmax = cap[g]; b = cost[g] }
load town at grid { demand = demand }
minimize cost: sum(g in G) gen[g].cost
"""

RATE = """model rate
time T = 1..3 step 1 h
param price[T]: $/MWh = {1: 30, 2: 40, 3: 50}
var p[T]: MW in 10 .. 20
minimize cost: sum(t in T) price[t] * p[t]
"""

TWELVE = """model twelve
time T = 1..12 step 1 h
set G = {b, a}
param need[t in T]: MW = t
var p[g in G, t in T]: MW in 0 .. 100
var k in 0 .. 5
constraint balance[t in T]: sum(g in G) p[g, t] == need[t]
constraint kmin: k >= 2
minimize cost: sum(t in T) (10 $/MWh * p[b, t] + 20 $/MWh * p[a, t]) * dt + 1 $ * k
"""


def _qglc(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "qgridlang.cli", *args], capture_output=True,
                          text=True, timeout=300, env=env, cwd=cwd)


@pytest.fixture(scope="module")
def battery() -> Solution:
    return qg.solve(BATTERY, backend="highs")


def test_battery_is_reported_in_the_units_the_user_wrote(battery: Solution) -> None:
    sol = battery
    assert sol.status.value == "optimal" and sol.feasible
    units = {n: sol.unit(n) for n in ("ess.charge", "ess.discharge", "ess.soc", "ess.p",
                                      "gen[u1].output", "town.p", "ess.mode")}
    assert units == {"ess.charge": "MW", "ess.discharge": "MW", "ess.soc": "MWh", "ess.p": "MW",
                     "gen[u1].output": "MW", "town.p": "MW", "ess.mode": ""}
    charge, discharge, soc = (sol.value(n) for n in ("ess.charge", "ess.discharge", "ess.soc"))
    # the bounds in the user's units: 0 .. 50 MW, 10 % .. 90 % of 200 MWh
    assert max(charge.values()) <= 50 + 1e-9 and max(discharge.values()) <= 50 + 1e-9
    assert all(20 - 1e-9 <= v <= 180 + 1e-9 for v in soc.values())
    assert max(charge.values()) > 1 and max(discharge.values()) > 1  # the battery is used
    # the dynamics hold in MW and MWh (one-hour steps, 95 % one way, starting at 50 %)
    prev = 100.0
    for t in range(1, 5):
        assert soc[t] == pytest.approx(prev + 0.95 * charge[t] - discharge[t] / 0.95)
        prev = soc[t]
    # the bus balances in MW: thermal output + battery port + load port = 0
    for t in range(1, 5):
        total = sum(sol.value(f"gen[{g}].output", t) for g in ("u1", "u2", "u3"))
        assert total + sol.value("ess.p", t) + sol.value("town.p", t) == pytest.approx(0, abs=1e-6)
        assert sol.value("ess.p", t) == pytest.approx(discharge[t] - charge[t])
    # the declared unit is one conversion away
    assert sol.value("ess.soc", 2, unit="kWh") == pytest.approx(1000 * soc[2])
    out = json.loads(json.dumps(sol.to_json()))
    assert out["variables"]["ess.charge"]["unit"] == "MW"
    assert out["variables"]["ess.soc"] == {"unit": "MWh", "index": ["T"],
                                           "values": {str(t): v for t, v in soc.items()}}
    assert out["expressions"]["ess.p"]["unit"] == "MW"
    assert out["expressions"]["gen[u1].cost"]["unit"] == "$"
    frame = sol.to_frame("ess.soc")
    assert list(frame.columns) == ["value", "unit"] and set(frame["unit"]) == {"MWh"}
    assert frame["value"].tolist() == [soc[t] for t in range(1, 5)]


def test_duals_are_objective_unit_per_reported_row_unit(battery: Solution) -> None:
    sol = battery
    # the balance row is built in the first port's unit (the battery's kW); its dual is
    # reported per MW, the unit the user bound the battery in
    assert sol.dual_unit("grid.balance") == "$/MW"
    assert sol.dual_unit("ess.dynamics") == "$/MWh" and sol.dual_unit("gen[u1].high") == "$/MW"
    prices = sol.dual("grid.balance")
    # the marginal unit sets the price: u2 (35 $/MWh, one-hour steps) wherever it is not at
    # its limit, and never below the cheapest unit
    assert prices[1] == pytest.approx(35.0)
    assert all(v >= 20 - 1e-6 for v in prices.values())
    assert sol.to_json()["duals"]["grid.balance"]["unit"] == "$/MW"
    assert sol.dual("grid.balance", 1, unit="$/kW") == pytest.approx(0.035)


def test_reporting_rules_for_bounds_clashes_and_bare_numbers() -> None:
    flat = qg.check("""model rules
use stdlib
time T = 1..2 step 1 h
bus grid
battery a at grid { energy = 200 MWh; power = 50000 kW }
battery b at grid { energy = 200; power = 50 }
thermal_unit g at grid { pmax = 0.4 GW; pmin = 100 MW; b = 20 $/MWh }
load town at grid { demand[t] = 300 MW }
minimize cost: g.cost
""").flat
    shown = {b.name: b.shown_unit for b in flat.blocks}
    # rule 1: a variable follows the binding its bounds name (power in kW, energy in MWh)
    assert (shown["a.charge"], shown["a.soc"], shown["g.output"]) == ("kW", "MWh", "GW")
    # bare numbers name no unit: the declared ones stay
    assert (shown["b.charge"], shown["b.soc"]) == ("kW", "kWh")
    # rule 2 needs one unit per dimension: pmax in GW and pmin in MW name none for headroom
    exprs = {e.name: e.shown_unit for e in flat.exprs}
    assert exprs["g.headroom"] == "MW" and exprs["a.p"] == "kW" and exprs["town.p"] == "MW"
    rows = {r.name: r.shown_unit for r in flat.rows}
    assert rows["a.dynamics"] == "MWh" and rows["a.charge_limit"] == "kW"
    scale = {b.name: b.report_scale for b in flat.blocks}
    assert scale["a.soc"] == pytest.approx(1e-3) and scale["g.output"] == pytest.approx(1e-3)


@pytest.mark.parametrize(("text", "expected", "factor"), [
    ("$/MWh*MW", "$/h", 1.0),
    ("$/kWh*MW", "$/h", 1000.0),
    ("$/kWh*kW*min", "$", 1 / 60),
    ("$/MW^2/h*MW", "$/MW/h", 1.0),
    ("MW*h", "MWh", 1.0),
    ("MWh/h", "MW", 1.0),
    ("€/MWh*MW", "€/h", 1.0),
    ("$/MWh", "$/MWh", 1.0),
    ("kVAr*h", "kVAr*h", 1.0),
])
def test_compact_units(text: str, expected: str, factor: float) -> None:
    unit, f = compact(U.parse_unit(text))
    assert unit.text == expected and f == pytest.approx(factor)
    assert U.factor(U.parse_unit(text), unit) == pytest.approx(factor)


def test_objective_unit_is_simplified_and_a_rate_is_warned() -> None:
    checked = qg.check(RATE)
    assert checked.flat.obj_unit == "$/h" and checked.ir.objective.unit == "$/h"
    [warning] = checked.warnings
    assert "the objective 'cost' is in $/h, not a currency amount" in warning.message
    assert warning.span.line == 5 and "dt" in (warning.hint or "")
    sol = qg.solve(checked, backend="highs")
    assert sol.objective_unit == "$/h" and sol.objective == pytest.approx(10 * (30 + 40 + 50))
    assert [w["message"] for w in sol.to_json()["warnings"]] == [warning.message]
    # prices in $/kWh times MW: the same $/h, the factor folded into the objective
    kwh = RATE.replace("$/MWh = {1: 30, 2: 40, 3: 50}", "$/kWh = {1: 0.03, 2: 0.04, 3: 0.05}")
    sol = qg.solve(kwh, backend="highs")
    assert sol.objective_unit == "$/h" and sol.objective == pytest.approx(1200.0)


@pytest.mark.parametrize("objective", ["sum(t in T) p[t] * dt", "sum(t in T) p[t]"])
def test_physical_objectives_are_warned(objective: str) -> None:
    text = RATE.replace("sum(t in T) price[t] * p[t]", objective)
    [warning] = qg.check(text).warnings
    assert "not a currency amount" in warning.message


@pytest.mark.parametrize("objective", ["sum(t in T) price[t] * p[t] * dt", "sum(t in T) 1"])
def test_money_and_plain_number_objectives_are_not_warned(objective: str) -> None:
    text = RATE.replace("sum(t in T) price[t] * p[t]", objective)
    assert qg.check(text).warnings == []


def test_cli_prints_the_warning_on_stderr(tmp_path: Path) -> None:
    path = tmp_path / "rate.qgl"
    path.write_text(RATE)
    run = _qglc("check", str(path))
    assert run.returncode == 0, run.stderr
    assert f"{path}:5:1: warning: the objective 'cost' is in $/h, not a currency amount" in \
        run.stderr
    assert "help:" in run.stderr and "ok" in run.stdout


def test_human_table_names_instance_indices(tmp_path: Path) -> None:
    path = tmp_path / "bat.qgl"
    path.write_text(BATTERY)
    run = _qglc("solve", str(path))
    assert run.returncode == 0, run.stderr
    for name in ("gen[u1].output", "gen[u2].output", "gen[u3].output"):
        assert name in run.stdout
    assert "gen[…].output (MW)" in run.stdout and "ess.soc (MWh)" in run.stdout
    assert "12,263.4 $" in run.stdout


@pytest.fixture(scope="module")
def twelve() -> Solution:
    return qg.solve(TWELVE, backend="highs")


def test_to_frame_follows_the_sets_order_with_element_types(twelve: Solution) -> None:
    frame = twelve.to_frame("p")
    assert list(frame.index.names) == ["G", "T"]
    assert frame.index.get_level_values("T").dtype == np.int64
    # the set order (b before a; 1 .. 12 numerically, never 1, 10, 11, 12, 2 …)
    assert list(frame.index) == [(g, t) for g in ("b", "a") for t in range(1, 13)]
    assert frame.loc[("b", 12), "value"] == pytest.approx(12.0)
    assert set(frame["unit"]) == {"MW"}
    duals = twelve.to_frame("balance")
    assert duals.index.name == "T" and list(duals.index) == list(range(1, 13))
    assert set(duals["unit"]) == {"$/MW"}
    scalar = twelve.to_frame("k")
    assert scalar.loc["k", "value"] == 2.0 and scalar.loc["k", "unit"] == ""
    every = twelve.to_frame()
    assert list(every.columns) == ["kind", "name", "key", "value", "unit"]
    assert set(every["kind"]) == {"variable", "expression", "dual"} - {"expression"}
    row = every[(every["name"] == "p") & (every["key"] == "b,10")]
    assert row["value"].item() == pytest.approx(10.0) and row["unit"].item() == "MW"


def test_value_keys_are_set_elements(twelve: Solution) -> None:
    p = twelve.value("p")
    assert list(p) == ["b", "a"] and list(p["b"]) == list(range(1, 13))
    assert twelve.value("p", ("b", 3)) == pytest.approx(3.0)
    assert twelve.value("k") == 2.0 and twelve.unit("k") == ""
    assert twelve.variables["p"]["b"]["3"] == pytest.approx(3.0)  # JSON-style text keys
    with pytest.raises(UnknownResult, match="no element") as err:
        twelve.value("p", ("b", "3"))
    assert "3)" in (err.value.hint or "")  # names the typed key ('b', 3)


def test_dual_accessor(twelve: Solution) -> None:
    assert twelve.dual("balance", 5) == pytest.approx(10.0)  # b is the marginal unit
    assert twelve.dual_unit("balance") == "$/MW"
    assert twelve.dual("kmin") == pytest.approx(1.0) and twelve.dual_unit("kmin") == "$"


def test_unknown_names_are_a_usage_and_key_error(twelve: Solution) -> None:
    with pytest.raises(UnknownResult) as err:
        twelve.value("pp")
    assert isinstance(err.value, KeyError) and isinstance(err.value, UsageError)
    assert err.value.hint == "did you mean 'p'?"
    assert "no value named 'pp'" in str(err.value)
    with pytest.raises(KeyError, match="sol.dual\\('balance'\\)"):
        twelve.value("balance")
    with pytest.raises(UnknownResult, match="sol.value\\('p'\\)"):
        twelve.dual("p")
    with pytest.raises(UsageError, match="does not convert"):
        twelve.value("p", unit="MWh")


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_output_plan_round_trip(tmp_path: Path, twelve: Solution, suffix: str) -> None:
    model = tmp_path / "twelve.qgl"
    model.write_text(TWELVE)
    plan = tmp_path / f"plan{suffix}"
    run = _qglc("solve", str(model), "--output", str(plan))
    assert run.returncode == 0, run.stderr
    back = pd.read_csv(plan, keep_default_na=False) if suffix == ".csv" else \
        pd.read_parquet(plan)
    expected = twelve.to_frame()
    assert list(back.columns) == list(expected.columns)
    assert back[["kind", "name", "key", "unit"]].astype(str).values.tolist() == \
        expected[["kind", "name", "key", "unit"]].values.tolist()
    np.testing.assert_allclose(back["value"].to_numpy(), expected["value"].to_numpy(),
                               atol=1e-9)
    assert not list(tmp_path.glob(".*.tmp.*"))  # no temporary file left behind


def test_output_refusals_come_before_the_solve(tmp_path: Path) -> None:
    model = tmp_path / "twelve.qgl"
    model.write_text(TWELVE)
    run = _qglc("solve", str(model), "--output", str(tmp_path / "plan.xlsx"))
    assert run.returncode == 2 and "must end in .csv, .parquet or .json" in run.stderr
    assert "qglc solve" not in run.stdout  # refused before solving
    # without pyarrow: a clear error, not a traceback
    code = ("import sys; sys.modules['pyarrow'] = None\n"
            "from qgridlang.cli import main\n"
            f"sys.exit(main(['solve', {str(model)!r}, '--output', "
            f"{str(tmp_path / 'plan.parquet')!r}]))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 2, run.stderr
    assert "needs pyarrow, which is not installed" in run.stderr and "pip install" in run.stderr
    assert not (tmp_path / "plan.parquet").exists()


def test_violations_are_in_the_reported_units() -> None:
    flat = qg.check(BATTERY).flat
    x = np.zeros(flat.n)  # nothing runs: the battery's state of charge sits below its floor
    found = {v.label: v for v in flat.violations(x)}
    soc = found["ess.soc[1]"]
    assert (soc.amount, soc.unit, soc.side) == (pytest.approx(20.0), "MWh", "below bound")
    final = found["ess.final"]  # soc_final * energy = 100 MWh short
    assert (final.amount, final.unit, final.side) == (pytest.approx(100.0), "MWh", "short")
    assert str(final) == "ess.final: 100 MWh short"
    balance = found["grid.balance[1]"]  # 100 MW of load and no supply
    assert (balance.amount, balance.unit) == (pytest.approx(100.0), "MW")


def test_narrow_terminals_split_columns_instead_of_clipping_numbers(battery: Solution,
                                                                   twelve: Solution) -> None:
    import io

    from rich.console import Console

    from qgridlang.render import solution_view

    out = io.StringIO()
    Console(file=out, width=44, color_system=None).print(solution_view(twelve))
    text = out.getvalue()
    assert "p (MW), continued" in text and "…" not in text
    for t in range(1, 13):
        assert f" {t} " in text
    out = io.StringIO()
    Console(file=out, width=40, color_system=None).print(solution_view(battery))
    assert "gen[u3].output" in out.getvalue() and "gen[u3].outp…" not in out.getvalue()
