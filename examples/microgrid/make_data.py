"""Build the rural AC/DC microgrid data set (``data/profiles.csv``, ``data/assets.csv``).

Deterministic (fixed seed); re-run with ``python examples/microgrid/make_data.py``.

Sized after the Northern-California rural microgrid case study of the QAOA scheduling paper
(shared/papers/rural-microgrid-qaoa-scheduling.txt, Section 4): 15 PV units (2.5 MW in total),
10 wind turbines (4 MW), 10 storage units of 600 kWh (6 MWh), 1 MW diesel backup, 400 kW of
demand response, 5 % reserve, peak demand 3.8 MW (summer) / 2.6 MW (winter), PV yield
4.5 kWh/kWp/day peaking 10:00-15:00, wind peaking 20:00-04:00, load peaks near 08:00 and 18:00.
The day modelled here has the 2.6 MW peak: with the 3.8 MW peak the daily demand (66 MWh) would
exceed renewables (43 MWh) plus 24 h of diesel, i.e. an islanded day would be infeasible.
Model parameters that are not in the CSVs: diesel 1000 kW, reserve 5 % of demand, battery
depth of discharge 85 %, round-trip efficiency 92 %.

Guesses (the paper gives no value): 300 kW power per battery, the split of the 2.5 MW PV into
10 x 170 + 5 x 160 kW, the wind shape (capacity factor about 0.33), the cloudy dip, the load
shape and the price tariff (time of use, $/kWh). flex_max keeps the paper's ratio of 400 kW of
demand response to the 3.8 MW peak, so it is 10.5 % of demand in every hour.
Hour h covers [h-1, h) local time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

DATA_DIR = Path(__file__).resolve().parent / "data"
SEED = 20240611
HOURS = np.arange(1, 25)
MID = HOURS - 0.5  # mid-point of each hour, in hours after midnight

PEAK_KW = 2600.0  # winter peak demand (paper); the summer peak is 3.8 MW
DR_PEAK_KW = 3800.0  # the 400 kW of demand response is quoted at the 3.8 MW peak
DR_KW = 400.0  # flexible load available at peak (paper)
PV_YIELD = 4.5  # kWh per kWp per day (paper)
PV_KW = [170.0] * 10 + [160.0] * 5  # 15 units, 2500 kW (paper total)
WIND_KW = [400.0] * 10  # 10 turbines, 4000 kW (paper total)
DIESEL_KW = 1000.0  # backup diesel (paper); a model parameter, not an asset row
BATTERY_KW, BATTERY_KWH = 300.0, 600.0  # 10 units, 6000 kWh (paper); 300 kW is a guess

# Load shape, fraction of the daily peak (guess): night valley, 08:00 and 18:00-19:00 peaks.
LOAD_SHAPE = np.array([
    0.55, 0.52, 0.50, 0.50, 0.52, 0.58, 0.68, 0.78, 0.80, 0.76, 0.72, 0.72,
    0.73, 0.74, 0.76, 0.80, 0.88, 0.96, 1.00, 0.97, 0.90, 0.80, 0.68, 0.60,
])  # fmt: skip


def pv_profile() -> np.ndarray:
    """Per-unit PV availability: sine bell 06:00-20:00 with a cloudy dip in the early afternoon."""
    bell = np.clip(np.sin(np.pi * (MID - 6.0) / 14.0), 0.0, None) ** 1.5
    cloud = 1.0 - 0.5 * np.exp(-0.5 * ((MID - 14.0) / 1.0) ** 2)
    pv = bell * cloud
    return pv * PV_YIELD / pv.sum()  # daily yield = 4.5 kWh/kWp


def wind_profile(rng: np.random.Generator) -> np.ndarray:
    """Per-unit wind availability: night maximum near 01:00, afternoon lull, AR(1) noise."""
    noise = np.zeros(len(MID))
    for t in range(1, len(MID)):
        noise[t] = 0.6 * noise[t - 1] + rng.normal(0.0, 0.05)
    wind = 0.37 + 0.23 * np.cos(2.0 * np.pi * (MID - 1.0) / 24.0) + noise
    return np.clip(wind, 0.03, 0.95)


def profiles() -> pd.DataFrame:
    rng = np.random.default_rng(SEED)
    wind = wind_profile(rng)
    shape = LOAD_SHAPE * (1.0 + rng.normal(0.0, 0.01, len(MID)))
    demand = PEAK_KW * shape / shape.max()
    # Time-of-use price (guess): 0.12 $/kWh 22:00-06:00, 0.38 at 16:00-21:00, else 0.18.
    price = np.where((HOURS >= 17) & (HOURS <= 21), 0.38, 0.18)
    price[(HOURS <= 6) | (HOURS >= 23)] = 0.12
    return pd.DataFrame(
        {
            "hour": HOURS,
            "pv": np.round(pv_profile(), 4),
            "wind": np.round(wind, 4),
            "demand": np.round(demand, 1),
            "flex_max": np.round(DR_KW * demand / DR_PEAK_KW, 1),
            "price": price,
        }
    )


def assets() -> pd.DataFrame:
    rows = [(f"pv{i:02d}", "pv", "dc", kw, 0.0) for i, kw in enumerate(PV_KW, 1)]
    rows += [(f"wind{i:02d}", "wind", "ac", kw, 0.0) for i, kw in enumerate(WIND_KW, 1)]
    rows += [(f"bat{i:02d}", "battery", "dc", BATTERY_KW, BATTERY_KWH) for i in range(1, 11)]
    return pd.DataFrame(rows, columns=["asset", "kind", "bus", "rating_kw", "energy_kwh"])


def main() -> None:
    prof, fleet = profiles(), assets()
    cap = fleet.groupby("kind")["rating_kw"].sum()
    res = (prof["pv"] * cap["pv"] + prof["wind"] * cap["wind"]).sum()
    load, diesel = prof["demand"].sum(), 24 * DIESEL_KW
    print(f"PV {cap['pv']:.0f} kW ({prof['pv'].sum():.2f} kWh/kWp/day), wind {cap['wind']:.0f} kW")
    print(f"  (capacity factor {prof['wind'].mean():.2f}), battery {cap['battery']:.0f} kW")
    print(f"  / {fleet['energy_kwh'].sum():.0f} kWh; demand peak {prof['demand'].max():.0f} kW")
    print(f"  demand {load:.0f} kWh/day <= renewables {res:.0f} + diesel {diesel:.0f}: ", end="")
    print(load <= res + diesel)
    assert load <= res + diesel, "an islanded day cannot be served"
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    prof.to_csv(DATA_DIR / "profiles.csv", index=False)
    fleet.to_csv(DATA_DIR / "assets.csv", index=False)
    print(f"wrote {DATA_DIR / 'profiles.csv'} and {DATA_DIR / 'assets.csv'}")


if __name__ == "__main__":
    main()
