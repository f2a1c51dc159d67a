"""Build the IEEE RTS-24 unit-commitment data set (``data/units.csv``, ``data/demand.csv``).

Run from anywhere: ``python examples/unit_commitment/extract_rts24.py``; it overwrites both CSVs.

Sources, per column of ``units.csv``:

- unit, bus, pmax, pmin: ``pandapower.networks.case24_ieee_rts()`` (MATPOWER ``case24_ieee_rts``),
  tables ``gen``, ``sgen`` and ``ext_grid``; bus = pandapower bus index + 1. The synchronous
  condenser (max_p_mw = 0) is dropped, leaving the 32 RTS units. Units are ordered by
  (bus, pmax), which reproduces the MATPOWER generator order.
- type: RTS unit group, ``U<pmax>`` (U12, U20, U50, U76, U100, U155, U197, U350, U400).
- a, b, c: pandapower ``poly_cost`` (cp0_eur, cp1_eur_per_mw, cp2_eur_per_mw2), read as $.
  Hydro (U50) carries MATPOWER's placeholder 0.001 $/h and 0.001 $/MWh, i.e. zero fuel cost.
- min_up, min_down (h), ramp (MW/min): IEEE RTS-96 (Grigg et al., IEEE Trans. Power Syst. 14(3),
  1999, Table 9), as tabulated in RTS-GMLC ``RTS_Data/SourceData/gen.csv``; U100 and U197 are
  absent from RTS-GMLC and come from its ``RTS_Data/gen_params.csv`` (the RTS-96 table).
  Hydro has no limits there (0 h); 1 h is used, which is the same at hourly resolution.
- ramp_up = ramp_down = min(60 * ramp MW/min, pmax) MW/h (a larger value never binds).
- startup_hot, startup_cold ($): RTS-GMLC start heat (hot / cold, MMBtu) times its fuel price
  ($/MMBtu: oil 10.3494, coal 2.11399, nuclear 0.81035), the same rule RTS-GMLC uses for its
  start costs. The warm tier is folded into the hot one. GUESS: U100 and U197 (oil steam) have
  no published start heat there; they take the per-MW start heat of the U12 oil-steam group.
  U400 uses its cold start heat for both (RTS-GMLC lists no usable hot value).
- cold_hours (h): RTS-GMLC "Start Time Cold Hr" (U100, U197: gen_params.csv); U400: its
  min_down (every start cold); hydro: 1.
- shutdown_cost: 0 (the RTS gives none).
- init_status, init_hours: chosen here, not from the RTS. Base-load groups (U50, U76, U155, U197,
  U350, U400) are on for max(min_up, 24) h; peakers (U12, U20, U100) are off for
  max(min_down, 8) h. Every unit is therefore free to switch at t = 1.

``demand.csv``: RTS-79 (IEEE Trans. PAS-98(6), 1979, Table 4) winter weekday hourly load in % of
the daily peak, times the 2850 MW system peak (the sum of case24_ieee_rts loads).

The DC network option (``uc_dc.qgl``) reads two more files from the same pandapower case:

- ``buses.csv``: bus (pandapower index + 1), vn_kv, load_share (the bus's share of the system
  load: its case24 load over 2850 MW; every hour's demand is split by these shares).
- ``branches.csv``: the 33 lines and 5 transformers. Lines: x_ohm = x_ohm_per_km * length_km,
  rating_mw = sqrt(3) * vn_kv * max_i_ka (the thermal limit at 1 pu voltage and unity power
  factor, max_loading_percent 100). Transformers: x_pu = vk_percent / 100 on base_mva = sn_mva,
  rating_mw = sn_mva; the off-nominal tap ratio is ignored (a DC approximation).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandapower.networks as pn
import pandas as pd

DATA_DIR = Path(__file__).resolve().parent / "data"
PEAK_MW = 2850.0

# RTS-79 Table 4, winter weekday, hours 1..24 (hour 1 = 00:00-01:00), % of daily peak.
WINTER_WEEKDAY_PCT = [
    67, 63, 60, 59, 59, 60, 74, 86, 95, 96, 96, 95,
    95, 95, 93, 94, 99, 100, 100, 96, 91, 83, 73, 63,
]  # fmt: skip

FUEL_PRICE = {"oil": 10.3494, "coal": 2.11399, "nuclear": 0.81035, "hydro": 0.0}  # $/MMBtu


@dataclass(frozen=True)
class Group:
    """Per-unit-group operating data (RTS-96 Table 9 via RTS-GMLC)."""

    fuel: str
    min_up: float  # h
    min_down: float  # h
    ramp_mw_per_min: float
    heat_hot: float  # MMBtu per start
    heat_cold: float  # MMBtu per start
    cold_hours: float  # h off-line after which a start is cold
    base_load: bool  # initially on (True) or off (False)


_U12_HOT, _U12_COLD = 38.0 / 12.0, 68.0 / 12.0  # MMBtu per MW, used for U100 and U197 (guess)

GROUPS: dict[str, Group] = {
    "U12": Group("oil", 4, 2, 1, 38.0, 68.0, 12, False),
    "U20": Group("oil", 1, 1, 3, 5.0, 5.0, 1, False),
    "U50": Group("hydro", 1, 1, 50, 0.0, 0.0, 1, True),
    "U76": Group("coal", 8, 4, 2, 3379.4, 5284.8, 12, True),
    "U100": Group("oil", 8, 8, 7, 100 * _U12_HOT, 100 * _U12_COLD, 60, False),
    "U155": Group("coal", 8, 8, 3, 6892.1, 10778.1, 60, True),
    "U197": Group("oil", 12, 10, 3, 197 * _U12_HOT, 197 * _U12_COLD, 24, True),
    "U350": Group("coal", 24, 48, 4, 9768.2, 17384.1, 96, True),
    "U400": Group("nuclear", 24, 48, 20, 78978.0, 78978.0, 48, True),
}

COLUMNS = [
    "unit", "bus", "type", "pmax", "pmin", "a", "b", "c", "ramp_up", "ramp_down",
    "min_up", "min_down", "init_status", "init_hours", "startup_hot", "startup_cold",
    "cold_hours", "shutdown_cost",
]  # fmt: skip


def raw_units() -> pd.DataFrame:
    """All generating elements of case24_ieee_rts with their polynomial cost, one row each."""
    net = pn.case24_ieee_rts()
    frames = []
    for et in ("gen", "sgen", "ext_grid"):
        table = net[et][["bus", "max_p_mw", "min_p_mw"]].copy()
        table["et"], table["element"] = et, table.index
        frames.append(table)
    units = pd.concat(frames, ignore_index=True)
    cost = net.poly_cost[["et", "element", "cp0_eur", "cp1_eur_per_mw", "cp2_eur_per_mw2"]]
    units = units.merge(cost, on=["et", "element"], how="left", validate="one_to_one")
    if units["cp0_eur"].isna().any():
        raise ValueError("a generating element has no poly_cost row")
    return units


def build_units() -> pd.DataFrame:
    units = raw_units()
    units = units[units["max_p_mw"] > 0].sort_values(["bus", "max_p_mw"], kind="stable")
    rows = []
    for k, u in enumerate(units.itertuples(index=False), start=1):
        pmax, pmin = float(u.max_p_mw), float(u.min_p_mw)
        kind = f"U{round(pmax)}"
        g = GROUPS[kind]
        price = FUEL_PRICE[g.fuel]
        ramp = min(60.0 * g.ramp_mw_per_min, pmax)
        on = 1 if g.base_load else 0
        rows.append(
            {
                "unit": f"u{k:02d}",
                "bus": int(u.bus) + 1,
                "type": kind,
                "pmax": pmax,
                "pmin": pmin,
                "a": round(float(u.cp0_eur), 6),
                "b": round(float(u.cp1_eur_per_mw), 6),
                "c": round(float(u.cp2_eur_per_mw2), 6),
                "ramp_up": ramp,
                "ramp_down": ramp,
                "min_up": g.min_up,
                "min_down": g.min_down,
                "init_status": on,
                "init_hours": max(g.min_up, 24) if on else max(g.min_down, 8),
                "startup_hot": round(g.heat_hot * price, 2),
                "startup_cold": round(g.heat_cold * price, 2),
                "cold_hours": g.cold_hours,
                "shutdown_cost": 0.0,
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def build_demand() -> pd.DataFrame:
    hours = range(1, len(WINTER_WEEKDAY_PCT) + 1)
    demand = [round(PEAK_MW * p / 100.0, 1) for p in WINTER_WEEKDAY_PCT]
    return pd.DataFrame({"hour": list(hours), "demand": demand})


def check(units: pd.DataFrame, demand: pd.DataFrame) -> None:
    """Consistency and quick feasibility checks; raises on failure, prints a summary."""
    assert len(units) == 32, len(units)
    assert (units["pmin"] >= 0).all() and (units["pmin"] <= units["pmax"]).all()
    assert (units["ramp_up"] >= units["pmin"]).all(), "a unit could not start up"
    assert (units["startup_cold"] >= units["startup_hot"]).all()
    assert (units["cold_hours"] >= units["min_down"]).all()
    on = units["init_status"] == 1
    assert (units.loc[on, "init_hours"] >= units.loc[on, "min_up"]).all()
    assert (units.loc[~on, "init_hours"] >= units.loc[~on, "min_down"]).all()

    cap, peak = units["pmax"].sum(), demand["demand"].max()
    d = demand["demand"]
    print(f"units: {len(units)}, capacity {cap:.0f} MW, peak demand {peak:.1f} MW")
    print(f"  capacity >= 1.1 * peak: {cap >= 1.1 * peak} ({cap / peak:.3f} x peak)")
    assert cap >= 1.1 * peak
    # Every hour must lie between 0 and capacity, the first hour within reach of the
    # initially committed units, and every hourly change within the fleet's ramp limits.
    on_min, on_max = units.loc[on, "pmin"].sum(), units.loc[on, "pmax"].sum()
    first = d.iloc[0]
    print(f"  hour 1: {first:.1f} MW within initial on-units [{on_min:.1f}, {on_max:.1f}]")
    assert on_min <= first <= on_max
    step = d.diff().abs().max()
    print(f"  max hourly change {step:.1f} MW <= fleet ramp {units['ramp_up'].sum():.0f} MW/h")
    assert (d <= cap).all() and step <= units["ramp_up"].sum()
    print(f"  all 24 hours servable; daily energy {d.sum():.0f} MWh")


def build_network() -> tuple[pd.DataFrame, pd.DataFrame]:
    net = pn.case24_ieee_rts()
    load = net.load.groupby("bus").p_mw.sum()
    buses = pd.DataFrame({"bus": net.bus.index + 1, "vn_kv": net.bus.vn_kv.to_numpy(),
                          "load_share": [round(float(load.get(i, 0.0)) / PEAK_MW, 8)
                                         for i in net.bus.index]})
    rows = []
    for i, ln in net.line[net.line.in_service].iterrows():
        vn = float(net.bus.vn_kv[ln.from_bus])
        rows.append({"branch": f"line{i + 1}", "from": ln.from_bus + 1, "to": ln.to_bus + 1,
                     "x_ohm": round(ln.x_ohm_per_km * ln.length_km, 8), "x_pu": 0.0,
                     "base_mva": 100.0,
                     "rating_mw": round(3**0.5 * vn * ln.max_i_ka, 6)})
    for i, tr in net.trafo[net.trafo.in_service].iterrows():
        rows.append({"branch": f"trafo{i + 1}", "from": tr.hv_bus + 1, "to": tr.lv_bus + 1,
                     "x_ohm": 0.0, "x_pu": round(tr.vk_percent / 100, 8),
                     "base_mva": float(tr.sn_mva), "rating_mw": float(tr.sn_mva)})
    return buses, pd.DataFrame(rows)


def main() -> None:
    units, demand = build_units(), build_demand()
    check(units, demand)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    units.to_csv(DATA_DIR / "units.csv", index=False)
    demand.to_csv(DATA_DIR / "demand.csv", index=False)
    buses, branches = build_network()
    assert abs(buses.load_share.sum() - 1) < 1e-6
    buses.to_csv(DATA_DIR / "buses.csv", index=False)
    branches.to_csv(DATA_DIR / "branches.csv", index=False)
    print(f"wrote units, demand, buses and branches CSVs in {DATA_DIR}")


if __name__ == "__main__":
    main()
