"""Synthetic, seeded weekly profiles of the rural-microgrid paper's case study (SPECS §D1).

The paper's Northern-California data are not public; these profiles match the statistics it
gives (SPECS §D1 [NG→s]):

* PV, 2.5 MW: 4.5 kWh/kWp/day over the year (seasonal 2.9 / 4.9 / 6.3 / 3.9 kWh/kWp/day in
  winter / spring / summer / autumn, day-to-day clearness drawn per day), a sine-shaped day
  around 12:30 so that the peak falls between 10:00 and 15:00;
* wind, 4 MW: a capacity factor with a diurnal swing that peaks around midnight (20:00-04:00)
  on top of a weekly level and an AR(1) hour-to-hour variation;
* demand: an evening-peaking village load (with an afternoon cooling hump in summer) whose
  seasonal peak is exactly 3.8 MW in summer and 2.6 MW in winter (3.1 MW spring, 3.2 MW
  autumn);
* a time-of-use grid import price ($/kWh): 0.15 night, 0.28 day, 0.45 evening peak
  (17:00-21:00; 0.50 in summer).

Weeks 1-9 and 49-52 are winter, 10-22 spring, 23-35 summer, 36-48 autumn (13 each).
``year(seed)`` returns all 52 weeks; the same seed gives the same year on any machine.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PV_KW = 2500.0
WIND_KW = 4000.0
STEP_KW = 200.0  # the QUBO model's power step (examples/microgrid/microgrid_qubo_day.qgl)
HOURS = 168
SEASONS = ("winter", "spring", "summer", "autumn")
PEAK_KW = {"winter": 2600.0, "spring": 3100.0, "summer": 3800.0, "autumn": 3200.0}
PV_DAILY = {"winter": 2.9, "spring": 4.9, "summer": 6.3, "autumn": 3.9}  # kWh/kWp/day
DAYLIGHT = {"winter": (7.5, 17.5), "spring": (6.0, 19.0), "summer": (5.5, 19.5),
            "autumn": (6.5, 18.0)}  # sunrise, sunset (h); each centred on 12:30
WIND_LEVEL = {"winter": 0.36, "spring": 0.34, "summer": 0.26, "autumn": 0.30}
PV_ANNUAL = 4.5  # kWh/kWp/day, the paper's figure


def season(week: int) -> str:
    """The season of week 1..52."""
    if not 1 <= week <= 52:
        raise ValueError(f"week must be 1..52, got {week}")
    if week <= 9 or week >= 49:
        return "winter"
    return SEASONS[1 + (week - 10) // 13]


@dataclass
class Week:
    """One weekly instance: hourly profiles in kW (168 values each) and $/kWh."""

    week: int
    season: str
    pv: np.ndarray
    wind: np.ndarray
    demand: np.ndarray
    price: np.ndarray

    def day(self, d: int) -> dict[str, np.ndarray]:
        """Day ``d`` (0..6) on the QUBO model's lattice: renewables rounded down to the step,
        demand to the nearest step (kW), and the price."""
        s = slice(24 * d, 24 * d + 24)
        renewable = np.floor((self.pv[s] + self.wind[s]) / STEP_KW + 1e-9) * STEP_KW
        load = np.maximum(STEP_KW, np.round(self.demand[s] / STEP_KW) * STEP_KW)
        return {"renewable": renewable, "load": load, "price": self.price[s].copy()}

    def write_day(self, d: int, path: Path) -> Path:
        """The CSV ``microgrid_qubo_day.qgl`` reads (``hour,renewable,load,price``)."""
        data = self.day(d)
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["hour", "renewable", "load", "price"])
            for h in range(24):
                w.writerow([h + 1, f"{data['renewable'][h]:.0f}", f"{data['load'][h]:.0f}",
                            f"{data['price'][h]:.2f}"])
        return path


def _pv_shape(name: str) -> np.ndarray:
    """Hourly PV output of one day per kWp, scaled to 1 kWh/kWp/day (hour h covers h..h+1)."""
    rise, sets = DAYLIGHT[name]
    mid = np.arange(24) + 0.5
    phase = np.clip((mid - rise) / (sets - rise), 0.0, 1.0)
    shape = np.sin(np.pi * phase) ** 2
    return shape / shape.sum()


def _demand_shape(name: str, rng: np.random.Generator) -> np.ndarray:
    """One day's load shape (peak near 1): night trough, morning ramp, evening peak."""
    h = np.arange(24)
    shape = (0.55 + 0.20 * np.exp(-0.5 * ((h - 8) / 2.0) ** 2)
             + 0.45 * np.exp(-0.5 * ((h - 19) / 2.2) ** 2))
    if name == "summer":  # air conditioning in the afternoon
        shape += 0.30 * np.exp(-0.5 * ((h - 16) / 2.5) ** 2)
    return shape * (1.0 + 0.04 * rng.standard_normal(24))


def _price(name: str) -> np.ndarray:
    h = np.arange(24)
    peak = 0.50 if name == "summer" else 0.45
    day = np.where((h >= 7) & (h < 23), 0.28, 0.15)
    return np.tile(np.where((h >= 17) & (h < 21), peak, day), 7)


def year(seed: int = 2024) -> list[Week]:
    """The 52 weekly instances of one synthetic year."""
    rng = np.random.default_rng(seed)
    weeks: list[Week] = []
    for w in range(1, 53):
        name = season(w)
        clear = np.clip(rng.normal(1.0, 0.25, 7), 0.35, 1.3)  # day-to-day clearness
        pv = np.concatenate([PV_DAILY[name] * c * _pv_shape(name) for c in clear])
        level = WIND_LEVEL[name] * np.clip(rng.normal(1.0, 0.3), 0.4, 1.8)
        noise = np.zeros(HOURS)
        for t in range(1, HOURS):  # AR(1): weather lasts hours
            noise[t] = 0.9 * noise[t - 1] + 0.25 * rng.standard_normal()
        diurnal = 1.0 + 0.45 * np.cos(2 * np.pi * (np.arange(HOURS) % 24) / 24.0)
        wind = np.clip(level * diurnal * np.exp(noise - 0.3), 0.0, 1.0)
        weekend = np.repeat([1, 1, 1, 1, 1, 0.9, 0.9], 24)
        demand = np.concatenate([_demand_shape(name, rng) for _ in range(7)]) * weekend
        weeks.append(Week(w, name, pv, wind * WIND_KW, demand, _price(name)))
    # the paper's annual PV yield exactly, and each season's peak demand exactly
    yield_now = np.mean([wk.pv.sum() / 7 for wk in weeks])
    for name in SEASONS:
        of = [wk for wk in weeks if wk.season == name]
        top = max(float(wk.demand.max()) for wk in of)
        for wk in of:
            wk.demand = wk.demand * PEAK_KW[name] / top
    for wk in weeks:
        wk.pv = np.minimum(wk.pv * PV_ANNUAL / yield_now, 1.0) * PV_KW
    return weeks


def main() -> None:
    """Write the example day (a summer Wednesday) that microgrid_qubo_day.qgl reads."""
    out = Path(__file__).resolve().parents[1] / "examples" / "microgrid" / "data" / "qubo_day.csv"
    year()[29].write_day(2, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
