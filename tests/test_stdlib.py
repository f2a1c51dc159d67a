"""Standard-library components behave as their physics says."""

from __future__ import annotations

import pytest

from qgridlang.checker import check_text
from qgridlang.dispatcher import solve_model
from qgridlang.results import Status

# checked both ways: with arrays and element by element (qgridlang.semantics.vector)
pytestmark = pytest.mark.usefixtures("both_expansions")

THERMAL = """
model thermal
use stdlib
time T = 1..8 step 1 h
param demand[T]: MW = {1: 60, 2: 60, 3: 150, 4: 220, 5: 230, 6: 150, 7: 60, 8: 60}
bus sys
load town at sys { demand = demand }
thermal_unit base at sys { pmax = 160 MW; pmin = 50 MW; a = 100 $/h; b = 12 $/MWh;
  c = 0.01 $/MW^2/h; min_up = 4 h; min_down = 4 h; init_status = 1; init_hours = 10 h;
  p_init = 60 MW; ramp_up = 60 MW/h; ramp_down = 60 MW/h }
thermal_unit peaker at sys { pmax = 100 MW; pmin = 20 MW; a = 50 $/h; b = 30 $/MWh;
  min_up = 3 h; min_down = 2 h; startup_hot = 200 $; startup_cold = 500 $; cold_hours = 3 h;
  init_status = 0; init_hours = 5 h }
minimize cost: base.cost + peaker.cost
"""


def _solve(text: str) -> dict:  # type: ignore[type-arg]
    sol = solve_model(check_text(text), "highs")
    assert sol.status == Status.OPTIMAL and sol.feasible, sol.message
    return {**sol.variables, **sol.expressions, "objective": sol.objective}


def test_thermal_unit_commitment_logic_and_min_up() -> None:
    r = _solve(THERMAL)
    u = [r["peaker.u"][str(t)] for t in range(1, 9)]
    assert sum(r["peaker.v"].values()) == 1  # one start
    start = u.index(1.0)
    assert u[start:start + 3] == [1.0, 1.0, 1.0]  # minimum up time 3 h
    ramps = [r["base.output"][str(t + 1)] - r["base.output"][str(t)] for t in range(1, 8)]
    assert max(ramps) <= 60 + 1e-6 and min(ramps) >= -60 - 1e-6
    # off for 5 h before the horizon > cold_hours: the start is cold
    assert sum(r["peaker.startup_cost"].values()) == pytest.approx(500.0)


def test_battery_shifts_cheap_energy_and_respects_soc() -> None:
    text = """
model arbitrage
use stdlib
time T = 1..4 step 30 min
param price[T]: $/kWh = {1: 0.05, 2: 0.05, 3: 0.40, 4: 0.40}
param demand[T]: kW = {1: 0, 2: 0, 3: 100, 4: 100}
bus site
grid utility at site { import_max = 500 kW; price = price }
load shop at site { demand = demand }
battery ess at site { energy = 100 kWh; power = 100 kW; efficiency = 100 %; soc_min = 0 %;
                      soc_max = 100 %; soc_init = 0 %; soc_final = 0 % }
minimize cost: utility.cost
"""
    r = _solve(text)
    assert r["ess.soc"]["2"] == pytest.approx(100.0)  # 2 x 30 min x 100 kW = 100 kWh
    assert r["objective"] == pytest.approx(0.05 * 100 * 0.5 * 2)  # 100 kWh at 0.05 $/kWh


def test_bus_balance_converts_units() -> None:
    text = """
model mixed
use stdlib
time T = 1..2 step 1 h
param d[T]: MW = {1: 1, 2: 2}
bus b
load big at b { demand = d }
diesel gen at b { pmax = 3000 kW; fuel_cost = 0.1 $/kWh }
minimize cost: gen.cost
"""
    r = _solve(text)
    assert r["gen.output"]["2"] == pytest.approx(2000.0)
    assert r["objective"] == pytest.approx(0.1 * 3000)
