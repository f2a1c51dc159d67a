"""The energy-community components (models/communities.qgl) on cases small enough to solve by
hand, and the 96-period examples (examples/communities/)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from qgridlang.checker import check_file, check_text
from qgridlang.dispatcher import solve_model
from qgridlang.results import Status

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "communities"


def _solve(text: str) -> dict[str, Any]:
    sol = solve_model(check_text(text), "highs")
    assert sol.status == Status.OPTIMAL and sol.feasible, sol.message
    return {**sol.variables, **sol.expressions, "objective": sol.objective}


def _series(r: dict[str, Any], name: str, n: int) -> list[float]:
    return [r[name][str(t)] for t in range(1, n + 1)]


def _table(values: list[float]) -> str:
    return "{" + ", ".join(f"{t}: {v}" for t, v in enumerate(values, start=1)) + "}"


# Residential: an EV that arrives empty at t2 = 6 and must leave full after t1 = 4 (1-hour
# periods, so ev_departure = 4 h, ev_arrival = 6 h); efficiency 1 and a window 0..1 so the
# arithmetic is exact: 0.2 MWh to charge at 0.1 MW is two full periods.
EV_PRICES = [50, 10, 30, 60, 5, 20, 40, 70]


def _ev(max_switches: int, load8: float = 0.0, export_max: str = "0 MW") -> str:
    load = [0.0] * 7 + [load8]
    return f"""
model ev
use communities
time T = 1..8 step 1 h
param price[T]: $/MWh = {_table(EV_PRICES)}
param load[T]: MW = {_table(load)}
residential_ec ec {{ price = price; load = load; pv[t] = 0 MW
  storage_power = 0.1 MW; storage_energy = 0.2 MWh; efficiency = 1; soc_min = 0; soc_max = 1
  ev_departure = 4 h; ev_arrival = 6 h; max_switches = {max_switches}; flexibility = 0
  export_max = {export_max} }}
minimize ec.cost
"""


def test_ev_charges_in_the_cheapest_periods_it_is_home() -> None:
    r = _solve(_ev(max_switches=40))
    charge = _series(r, "ec.charge", 8)
    # home in 1..4 and 6..8; the cheapest of those are 2 (10 $/MWh) and 6 (20 $/MWh); period
    # 5 is cheaper still (5 $/MWh) but the EV is away (eq. 16g)
    assert charge == pytest.approx([0, 0.1, 0, 0, 0, 0.1, 0, 0], abs=1e-9)
    assert r["objective"] == pytest.approx(0.1 * 10 + 0.1 * 20)
    soc = _series(r, "ec.soc", 8)
    assert soc[3] == pytest.approx(1.0)  # full when it leaves (end of t1 = 4, eq. 16f)
    assert soc[5] == pytest.approx(0.5)  # arrived empty at the start of t2 = 6, charged 0.1 MWh
    assert r["ec.p"]["2"] == pytest.approx(-0.1)  # the port is the injection, -P^EX
    assert r["ec.q"]["2"] == pytest.approx(-0.1 * math.sqrt(1 - 0.95**2) / 0.95)


def test_switching_limit_binds() -> None:
    # A 0.1 MW load in period 8 (70 $/MWh): with enough flags the EV charges at 6, serves the
    # load at 8 and charges again at 2 and 3: bill 0.1 * (20 + 10 + 30) = 6 $ (4 flags). Two or
    # three flags allow only the two charges: 0.1 * (10 + 20) + 0.1 * 70 = 10 $.
    free = _solve(_ev(max_switches=40, load8=0.1))
    assert free["objective"] == pytest.approx(6.0)
    assert _series(free, "ec.discharge", 8)[7] == pytest.approx(0.1)
    for limit in (2, 3):
        bound = _solve(_ev(max_switches=limit, load8=0.1))
        assert bound["objective"] == pytest.approx(10.0)
        flags = _series(bound, "ec.charging", 8) + _series(bound, "ec.discharging", 8)
        assert sum(flags) <= limit
    assert sum(_series(free, "ec.charging", 8) + _series(free, "ec.discharging", 8)) >= 4


def _flexible(price: list[float], neutral: int) -> str:
    # no EV to speak of (its window is one point), 1 MW of load, +-10 % flexibility
    return f"""
model flex
use communities
time T = 1..4 step 1 h
param price[T]: $/MWh = {_table(price)}
residential_ec ec {{ price = price; load[t] = 1 MW; pv[t] = 0 MW; storage_power = 0 MW
  soc_min = 0.5; soc_max = 0.5; ev_departure = 1 h; ev_arrival = 3 h; flexibility = 0.1
  energy_neutral = {neutral}; import_max = 2 MW }}
minimize ec.cost
"""


def test_energy_neutral_shifts_load_to_cheap_periods() -> None:
    r = _solve(_flexible([10, 50, 50, 10], neutral=1))
    assert _series(r, "ec.shift", 4) == pytest.approx([0.1, -0.1, -0.1, 0.1], abs=1e-9)
    assert r["objective"] == pytest.approx(10 * 1.1 + 50 * 0.9 * 2 + 10 * 1.1)  # 112 $


def test_without_neutrality_the_load_reduction_ignores_the_price() -> None:
    # SPECS §A5's caveat: eq. 16 as printed removes rho * load in every period, whatever the
    # price (two different price vectors, the same response)
    for price in ([10, 50, 50, 10], [80, 20, 20, 80]):
        r = _solve(_flexible(price, neutral=0))
        assert _series(r, "ec.shift", 4) == pytest.approx([-0.1] * 4, abs=1e-9)
        assert r["objective"] == pytest.approx(0.9 * sum(price))


def test_commercial_storage_arbitrage_with_zero_net_energy_and_curtailment() -> None:
    # price steps 20 -> 100 $/MWh; 0.4 MWh storage at half charge can take 0.2 MWh while cheap
    # and must give it back (eq. 17c); above 50 $/MWh curtailing 20 % of the load pays (17d).
    # bill 20 * (0.8 + 0.2) + 100 * (0.64 - 0.2) = 64 $, curtailment 50 * 0.16 = 8 $.
    text = """
model com
use communities
time T = 1..4 step 1 h
param price[T]: $/MWh = {1: 20, 2: 20, 3: 100, 4: 100}
commercial_ec ec { price = price; load[t] = 0.4 MW; pv[t] = 0 MW; storage_power = 0.2 MW
  storage_energy = 0.4 MWh; efficiency = 1; soc_min = 0; soc_max = 1; soc_init = 0.5 }
minimize ec.cost
"""
    r = _solve(text)
    assert r["objective"] == pytest.approx(72.0)
    assert r["ec.shed_cost"] == pytest.approx(8.0)
    assert _series(r, "ec.shed", 4) == pytest.approx([0, 0, 0.08, 0.08], abs=1e-9)
    charge, discharge = _series(r, "ec.charge", 4), _series(r, "ec.discharge", 4)
    assert sum(charge[:2]) == pytest.approx(0.2) and sum(discharge[2:]) == pytest.approx(0.2)
    assert _series(r, "ec.soc", 4)[3] == pytest.approx(0.5)  # back where it started


def test_pv_is_curtailed_only_at_a_negative_price() -> None:
    text = """
model pv
use communities
time T = 1..2 step 1 h
param price[T]: $/MWh = {1: 30, 2: -10}
commercial_ec ec { price = price; load[t] = 0.1 MW; pv[t] = 0.3 MW; storage_power = 0 MW
  flexibility = 0 }
minimize ec.cost
"""
    r = _solve(text)
    assert _series(r, "ec.curtail", 2) == pytest.approx([0, 0.3], abs=1e-9)
    assert _series(r, "ec.exchange", 2) == pytest.approx([-0.2, 0.1], abs=1e-9)


def _industrial(price: list[float], body: str, hours: str = "1 h") -> str:
    return f"""
model ind
use communities
time T = 1..{len(price)} step {hours}
param price[T]: $/MWh = {_table(price)}
industrial_ec ec {{ price = price; pv[t] = 0 MW; storage_power = 0 MW
  {body} }}
minimize ec.cost
"""


def test_diesel_ramp_limit_binds() -> None:
    # 15-min periods, ramp 0.4 MW/h = 0.1 MW per period, DG at 90 $/MWh. Unconstrained it would
    # run (0, 0.4, 0.4, 0.4) against prices (50, 200, 200, 200); with the ramp it pays to run
    # 0.3 MW at a loss in period 1 (40 $/MWh) to have 0.4 MW from period 2 (gaining 110 $/MWh).
    r = _solve(_industrial([50, 200, 200, 200],
                           "load[t] = 1 MW; processes = 0; process_power[i] = 0 MW; "
                           "process_start[i] = 1; process_periods[i] = 1", hours="15 min"))
    dg = _series(r, "ec.dg", 4)
    assert dg == pytest.approx([0.3, 0.4, 0.4, 0.4], abs=1e-9)
    assert dg[1] - dg[0] == pytest.approx(0.1)  # the ramp row is active
    assert r["objective"] == pytest.approx(162.5 - 63.75 + 33.75)  # 132.5 $


@pytest.mark.parametrize(("shift_cost", "shift"), [(10, 3), (15, 0)])
def test_process_shifts_when_the_price_gap_exceeds_the_shift_cost(shift_cost: int,
                                                                     shift: int) -> None:
    # A 0.1 MW process in periods 3-4 (0.2 MWh). Shifting by 3 to 6-7 saves (50 - 15) * 0.2 =
    # 7 $ and costs shift_cost * 3 * 0.2: 6 $ at 10 $/MWh (shifted, 1 $ better), 9 $ at
    # 15 $/MWh (stays). Shifts by 2 or 4 half-overlap the cheap periods: 3.5 $ saved for 4 or
    # 8 $ (at 10 $/MWh).
    price = [50, 50, 50, 50, 50, 15, 15, 50]
    r = _solve(_industrial(price, f"""load[t] = 0.5 MW; processes = 1
  process_power[i] = 0.1 MW; process_start[i] = 3; process_periods[i] = 2; max_shift = 4
  shift_cost[i] = {shift_cost} $/MWh"""))
    chosen = [k for k in range(-4, 5) if r["ec.y"]["1"][str(k)] > 0.5]
    assert chosen == [shift]
    base = 0.5 * sum(price)
    if shift:
        assert r["ec.shift_cost_total"] == pytest.approx(6.0)
        assert r["objective"] == pytest.approx(base - 7.0 + 6.0)
        assert _series(r, "ec.net_load", 8) == pytest.approx(
            [0.5, 0.5, 0.4, 0.4, 0.5, 0.6, 0.6, 0.5], abs=1e-9)
    else:
        assert r["objective"] == pytest.approx(base)


def test_process_shifts_stay_inside_the_horizon() -> None:
    # the cheapest hour is period 1, but a shift by -3 would start the process at period 0
    price = [1, 90, 90, 90, 90, 90]
    r = _solve(_industrial(price, """load[t] = 0.5 MW; processes = 1; shift_cost[i] = 0 $/MWh
  process_power[i] = 0.1 MW; process_start[i] = 2; process_periods[i] = 2; max_shift = 3"""))
    assert [k for k in range(-3, 4) if r["ec.y"]["1"][str(k)] > 0.5] == [-1]


def test_quadratic_diesel_cost_is_an_option() -> None:
    # a * P^2 + b * P per hour with a = 100 $/MW^2/h, b = 90 $/MWh against 150 $/MWh:
    # the optimum runs P = (150 - 90) / (2 * 100) = 0.3 MW
    r = _solve(_industrial([150], "load[t] = 1 MW; processes = 0; process_power[i] = 0 MW; "
                           "process_start[i] = 1; process_periods[i] = 1; "
                           "dg_quadratic = 100 $/MW^2/h"))
    assert r["ec.dg"]["1"] == pytest.approx(0.3, abs=1e-5)


def test_unknown_library_lists_communities() -> None:
    from qgridlang.errors import QglErrors

    with pytest.raises(QglErrors) as info:
        check_text("model m\nuse comunities\ntime T = 1..2 step 1 h\n")
    assert "communities" in str(info.value.errors[0].hint)


# --- the 96-period examples ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["residential", "commercial", "industrial"])
def test_examples_solve_to_optimality(name: str) -> None:
    sol = solve_model(check_file(EXAMPLES / f"{name}.qgl"), "highs")
    assert sol.status == Status.OPTIMAL and sol.feasible, sol.message
    exchange = sol.value("ec.exchange")
    assert len(exchange) == 96 and sol.unit("ec.exchange") == "MW"
    low, high = {"industrial": (-1.0, 2.0)}.get(name, (-0.5, 1.0))
    assert all(low - 1e-7 <= v <= high + 1e-7 for v in exchange.values())
    assert sol.objective == pytest.approx(sol.value("ec.cost"))
    if name == "residential":  # the energy-neutral default: shifted, not removed
        assert sum(sol.value("ec.shift").values()) == pytest.approx(0.0, abs=1e-7)
        assert sol.value("ec.soc", 32) == pytest.approx(0.9)


def test_residential_example_responds_to_price() -> None:
    """The flat price and the time-of-use price give different exchange profiles (the default,
    energy-neutral variant moves load towards the cheap block)."""
    flat = check_text((EXAMPLES / "residential.qgl").read_text().replace(
        'param price[T]: $/MWh = csv("data/price.csv", key = "t", column = "price")',
        "param price[T]: $/MWh = 80"), str(EXAMPLES / "residential.qgl"))
    a = solve_model(flat, "highs").value("ec.exchange")
    b = solve_model(check_file(EXAMPLES / "residential.qgl"), "highs").value("ec.exchange")
    night = sum(b[t] - a[t] for t in range(1, 33))  # the 40 $/MWh block takes more
    assert night > 0.1


@pytest.mark.parametrize("flow", ["lindistflow", "transport"])
def test_community_at_a_network_bus(flow: str) -> None:
    """A community `at` a bus injects -exchange as p and -exchange / kappa as q: under
    LinDistFlow the feeder line carries that reactive power (kappa = 0.95 / sqrt(1 - 0.95^2),
    3.04); under transport q is dropped."""
    text = f"""
model feeder
use stdlib
use communities
network flow = {flow}
time T = 1..4 step 1 h
param price[T]: $/MWh = {{1: 40, 2: 40, 3: 120, 4: 120}}
bus b1 {{ vn = 12.66 kV; slack = 1 }}
bus b2 {{ vn = 12.66 kV }}
line l between b1, b2 {{ r = 0.5 ohm; x = 0.4 ohm }}
substation sub at b1 {{ price = price }}
commercial_ec ec at b2 {{ price = price; load[t] = 0.4 MW; pv[t] = 0 MW; storage_power = 0 MW
}}
minimize sub.cost
"""
    r = _solve(text)
    kappa = 0.95 / math.sqrt(1 - 0.95**2)
    assert kappa == pytest.approx(3.04, abs=0.005)
    exchange = _series(r, "ec.exchange", 4)
    assert _series(r, "l.p", 4) == pytest.approx(exchange)
    assert _series(r, "ec.q", 4) == pytest.approx([-x / kappa for x in exchange])
    if flow == "lindistflow":
        assert _series(r, "l.q", 4) == pytest.approx([x / kappa for x in exchange])
    else:
        assert "l.q" not in r
