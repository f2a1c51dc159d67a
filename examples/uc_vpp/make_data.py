"""Build the UC-VPP data set of SPECS §B1 (``examples/uc_vpp/data/*.csv``).

Run from anywhere: ``python examples/uc_vpp/make_data.py``; it overwrites every CSV in ``data/``
(``da_plan.csv`` excepted: the day-ahead stage writes it, see ``benchmarks/uc_vpp.py``).
Every choice is stated in ``data/README.md``; the numbers below are the sources' own.

- Network: ``pandapower.networks.case24_ieee_rts()`` (MATPOWER ``case24_ieee_rts``): 24 buses,
  33 lines and 5 transformers with r, x (ohm at the from bus's nominal voltage), the
  transformers' off-nominal ratio, and ratings (lines sqrt(3)·vn·max_i_ka, transformers sn_mva).
- Units: the DTU "updated version of the IEEE RTS 24-bus system" (Ordoudis, Pinson, Morales,
  Zugno, DTU technical report 2016, Table 1/2), without its must-run 300 MW hydro unit at bus 22:
  11 thermal units at buses 1, 2, 7, 13, 15, 15, 16, 18, 21, 23, 23.
- Load: the same report's 24-hour system load (1775.835 ... 1669.815 MW, peak 2650.5 MW) and its
  bus shares, scaled per day of the week by the RTS-79 daily peaks (Table 3 of the IEEE RTS,
  1979: Mon 93, Tue 100, Wed 98, Thu 96, Fri 94, Sat 77, Sun 75 % of the weekly peak).
- PV (2 x 200 MW at buses 1 and 22) and wind (2 x 200 MW at buses 2 and 23): formulas below,
  seeded; not measured profiles.
- VPPs: 8 x +/-50 MW at buses 3, 5, 6, 8, 9, 14, 17, 20.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parent / "data"
HOURS = 24
DAYS = 7

# DTU updated RTS-24 (Ordoudis et al. 2016), units 1-12 without unit 10 (bus 22, hydro,
# P_min = P_max = 300 MW, zero cost). Columns: bus, P_max, P_min (MW), ramp up/down (MW/h),
# min up/down (h, not modelled: SPECS §B2(d)), C_g ($/MWh), start-up cost ($), P_ini (MW),
# U_ini (0/1), T_ini (h; negative: off for that long).
DTU_UNITS = [
    (1, 152, 30.4, 120, 120, 8, 4, 13.32, 1430.4, 76, 1, 22),
    (2, 152, 30.4, 120, 120, 8, 4, 13.32, 1430.4, 76, 1, 22),
    (7, 350, 75.0, 350, 350, 8, 8, 20.70, 1725.0, 0, 0, -2),
    (13, 591, 206.85, 240, 240, 12, 10, 20.93, 3056.7, 0, 0, -1),
    (15, 60, 12.0, 60, 60, 4, 2, 26.11, 437.0, 0, 0, -1),
    (15, 155, 54.25, 155, 155, 8, 8, 10.52, 312.0, 0, 0, -2),
    (16, 155, 54.25, 155, 155, 8, 8, 10.52, 312.0, 124, 1, 10),
    (18, 400, 100.0, 280, 280, 1, 1, 6.02, 0.0, 240, 1, 50),
    (21, 400, 100.0, 280, 280, 1, 1, 5.47, 0.0, 240, 1, 16),
    (23, 310, 108.5, 180, 180, 8, 8, 10.52, 624.0, 248, 1, 10),
    (23, 350, 140.0, 240, 240, 8, 8, 10.89, 2298.0, 280, 1, 50),
]
# DTU system load, hours 1..24 (MW)
DTU_LOAD = [
    1775.835, 1669.815, 1590.3, 1563.795, 1563.795, 1590.3, 1961.37, 2279.43, 2517.975,
    2544.48, 2544.48, 2517.975, 2517.975, 2517.975, 2464.965, 2464.965, 2623.995, 2650.5,
    2650.5, 2544.48, 2411.955, 2199.915, 1934.865, 1669.815,
]  # fmt: skip
# DTU load shares (% of the system load) by bus
DTU_SHARE = {1: 3.8, 2: 3.4, 3: 6.3, 4: 2.6, 5: 2.5, 6: 4.8, 7: 4.4, 8: 6.0, 9: 6.1, 10: 6.8,
             13: 9.3, 14: 6.8, 15: 11.1, 16: 3.5, 18: 11.7, 19: 6.4, 20: 4.5}
# RTS-79 Table 3: daily peak in % of the weekly peak, Monday..Sunday
DAY_PEAK_PCT = [93, 100, 98, 96, 94, 77, 75]

PV = {"pv1": 1, "pv2": 22}  # name -> bus, 200 MW each
WIND = {"w1": 2, "w2": 23}
CAPACITY_MW = 200.0
VPP_BUSES = [3, 5, 6, 8, 9, 14, 17, 20]
VPP_MW = 50.0
SEED = 20241028  # the paper's arXiv month; any fixed seed


def network() -> tuple[pd.DataFrame, pd.DataFrame]:
    import pandapower.networks as pn

    net = pn.case24_ieee_rts()
    total = sum(DTU_SHARE.values())
    buses = pd.DataFrame({
        "bus": net.bus.index + 1,
        "vn_kv": net.bus.vn_kv.to_numpy(),
        "load_share": [round(DTU_SHARE.get(i + 1, 0.0) / total, 8) for i in net.bus.index],
        "slack": [1 if i + 1 == 13 else 0 for i in net.bus.index],
    })
    rows = []
    for i, ln in net.line[net.line.in_service].iterrows():
        vn = float(net.bus.vn_kv[ln.from_bus])
        rows.append({"branch": f"line{i + 1}", "from": ln.from_bus + 1, "to": ln.to_bus + 1,
                     "vn_kv": vn, "r_ohm": ln.r_ohm_per_km * ln.length_km,
                     "x_ohm": ln.x_ohm_per_km * ln.length_km, "tap": 1.0,
                     "rating_mw": 3**0.5 * vn * ln.max_i_ka * ln.parallel})
    for i, tr in net.trafo[net.trafo.in_service].iterrows():
        vn = float(tr.vn_hv_kv)
        z = tr.vk_percent / 100 * vn**2 / tr.sn_mva  # ohm at the HV side
        r = tr.vkr_percent / 100 * vn**2 / tr.sn_mva
        tap = 1 + (tr.tap_pos - tr.tap_neutral) * tr.tap_step_percent / 100
        rows.append({"branch": f"trafo{i + 1}", "from": tr.hv_bus + 1, "to": tr.lv_bus + 1,
                     "vn_kv": vn, "r_ohm": r, "x_ohm": math.sqrt(z**2 - r**2), "tap": tap,
                     "rating_mw": float(tr.sn_mva)})
    br = pd.DataFrame(rows)
    # DC susceptance in MW per rad: vn^2 / (x tap), as the stdlib's dc line (kV^2/ohm = MW)
    br["b_mw"] = br.vn_kv**2 / (br.x_ohm * br.tap)
    br["r_pu"] = br.r_ohm / (br.vn_kv**2 / 100.0)
    br["x_pu"] = br.x_ohm / (br.vn_kv**2 / 100.0)
    return buses, br.round(8)


def units() -> pd.DataFrame:
    rows = []
    for k, (bus, pmax, pmin, ru, rd, ut, dt, cg, csu, pini, uini, tini) in enumerate(DTU_UNITS):
        rows.append({"unit": f"g{k + 1:02d}", "bus": bus, "pmax": pmax, "pmin": pmin,
                     "ramp_up": ru, "ramp_down": rd, "min_up": ut, "min_down": dt,
                     "cost": cg, "startup": csu, "init_u": uini, "init_p": pini,
                     "init_hours": tini})
    return pd.DataFrame(rows)


def profiles() -> pd.DataFrame:
    """One row per (day, hour): system load, PV and wind availability per farm (MW)."""
    rng = np.random.default_rng(SEED)
    h = np.arange(1, HOURS + 1) - 0.5  # hour mid-points
    # PV: a clear-sky half-sine from 06:00 to 18:00, peak 200 MW, times a daily clearness
    # index k ~ uniform(0.35, 1.0) per farm and day, times hourly cloud noise
    # clip(1 + 0.1 N(0,1), 0, 1)
    shape = np.clip(np.sin(np.pi * (h - 6.0) / 12.0), 0.0, None)
    # Wind: capacity factor = clip(m_d + 0.10 sin(2 pi (h - 3) / 24) + x_h, 0, 1), with a daily
    # mean m_d ~ uniform(0.15, 0.55) per farm and day and x_h an AR(1) (0.85, sigma 0.05)
    rows = []
    for d in range(DAYS):
        load = np.array(DTU_LOAD) * DAY_PEAK_PCT[d] / 100.0
        pv = {}
        for name in PV:
            k = rng.uniform(0.35, 1.0)
            noise = np.clip(1 + 0.1 * rng.standard_normal(HOURS), 0.0, 1.0)
            pv[name] = CAPACITY_MW * k * shape * noise
        wind = {}
        for name in WIND:
            m = rng.uniform(0.15, 0.55)
            x = np.zeros(HOURS)
            for t in range(1, HOURS):
                x[t] = 0.85 * x[t - 1] + 0.05 * rng.standard_normal()
            cf = np.clip(m + 0.10 * np.sin(2 * np.pi * (h - 3.0) / 24.0) + x, 0.0, 1.0)
            wind[name] = CAPACITY_MW * cf
        for t in range(HOURS):
            rows.append({"day": d + 1, "hour": t + 1, "week_hour": 24 * d + t + 1,
                         "load": round(float(load[t]), 4),
                         **{n: round(float(v[t]), 4) for n, v in pv.items()},
                         **{n: round(float(v[t]), 4) for n, v in wind.items()}})
    return pd.DataFrame(rows)


def renewables() -> pd.DataFrame:
    return pd.DataFrame([{"farm": n, "bus": b, "kind": "pv", "capacity": CAPACITY_MW}
                         for n, b in PV.items()]
                        + [{"farm": n, "bus": b, "kind": "wind", "capacity": CAPACITY_MW}
                           for n, b in WIND.items()])


def vpps() -> pd.DataFrame:
    return pd.DataFrame({"vpp": [f"v{k + 1}" for k in range(len(VPP_BUSES))],
                         "bus": VPP_BUSES, "pmax": VPP_MW})


def check(u: pd.DataFrame, prof: pd.DataFrame) -> None:
    cap = u.pmax.sum()
    assert len(u) == 11 and list(u.bus) == [1, 2, 7, 13, 15, 15, 16, 18, 21, 23, 23]
    assert (u.ramp_up >= u.pmin).all(), "a unit could not start within its ramp"
    peak = prof.load.max()
    print(f"11 units, {cap:.0f} MW; peak load {peak:.1f} MW; "
          f"min load {prof.load.min():.1f} MW; PV+wind energy "
          f"{prof[list(PV) + list(WIND)].to_numpy().sum():.0f} MWh/week")
    assert cap >= peak


def main() -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    buses, branches = network()
    assert abs(buses.load_share.sum() - 1) < 1e-6
    u, prof = units(), profiles()
    check(u, prof)
    buses.to_csv(DATA / "buses.csv", index=False)
    branches.to_csv(DATA / "branches.csv", index=False)
    u.to_csv(DATA / "units.csv", index=False)
    prof.to_csv(DATA / "profiles.csv", index=False)
    renewables().to_csv(DATA / "farms.csv", index=False)
    vpps().to_csv(DATA / "vpps.csv", index=False)
    print(f"wrote buses, branches, units, profiles, farms and vpps CSVs in {DATA}")


if __name__ == "__main__":
    main()
