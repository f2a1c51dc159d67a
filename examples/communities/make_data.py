"""Build the energy-community example data (``data/profiles.csv``, ``data/price.csv``,
``data/processes.csv``).

Re-run with ``python examples/communities/make_data.py`` after ``pip install simbench==1.6.3``
(the profiles are read from the SimBench data files that the ``simbench`` wheel ships; the
package itself is not imported, so nothing else of it is needed), or point ``--simbench-dir``
at a folder holding SimBench's ``LoadProfile.csv`` and ``RESProfile.csv``. Deterministic: no
random numbers.

Source: SimBench (https://simbench.de), data set ``1-complete_data-mixed-all-0-sw``, year 2016,
15-minute profiles, licensed under the Open Database License 1.0 (contents: Database Contents
License 1.0); the excerpt in ``data/`` is shared under the same licence. SPECS §A5 suggests
SimBench: household H0 for the residential EC, a G-type for the commercial one, an
industrial/agricultural type for the industrial one, and SimBench's PV profiles.

What is taken, for one day, 2016-06-09 (a Thursday: among the Tuesdays to Thursdays of June
2016 the one with the most PV1 energy, so that PV matters):
- residential load: ``H0-A_pload`` (household), scaled so its daily maximum is 0.3 MW;
- commercial load: ``G0-A_pload`` (general business), scaled to a 0.4 MW maximum;
- industrial load: ``G3-A_pload`` (business running around the clock). SimBench has no
  industrial type; BDEW's G3 is the usual stand-in for loads that run continuously. Scaled to
  a 0.8 MW maximum; it INCLUDES the shiftable processes at their original windows (eq. 18f),
  and the script checks that it is at least their sum in every period;
- PV: ``PV1`` for all three (one feeder, one weather), scaled to 0.15 / 0.3 / 0.5 MW maxima.
The maxima are SPECS §A5's "load peak" and "PV peak" rows [NG].

``data/price.csv``: the time-of-use tariff SPECS §A3 suggests for pi^DN, 40 / 80 / 120 $/MWh,
in three 8-hour blocks (00-08 off-peak, 08-16 shoulder, 16-24 peak); its mean, 80 $/MWh, is
the mean-price level pi^EC,av the dataset generator and the price search use [NG].

``data/processes.csv``: SPECS's industrial shiftable processes, N^s = 3, "each 0.1-0.2 MW for
8-16 periods": 0.2 MW for 16 periods from 09:00, 0.15 MW for 12 periods from 14:00, 0.1 MW for
8 periods from 18:00 (chosen here [NG]).

Period t covers [(t-1) * 15 min, t * 15 min) local time (SimBench's time stamps mark the start
of each quarter hour).
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd

DATA_DIR = Path(__file__).resolve().parent / "data"
DATASET = "1-complete_data-mixed-all-0-sw"
DAY = "2016-06-09"
LOAD_PEAK_MW = {"res": 0.3, "com": 0.4, "ind": 0.8}
PV_PEAK_MW = {"res": 0.15, "com": 0.3, "ind": 0.5}
LOAD_PROFILE = {"res": "H0-A_pload", "com": "G0-A_pload", "ind": "G3-A_pload"}
PV_PROFILE = "PV1"
TOU = [(0, 32, 40.0), (32, 64, 80.0), (64, 96, 120.0)]  # [start, stop) periods, $/MWh
PROCESSES = [(1, 0.2, 37, 16), (2, 0.15, 57, 12), (3, 0.1, 73, 8)]  # id, MW, start, periods


def simbench_dir() -> Path:
    spec = importlib.util.find_spec("simbench")
    if spec is None or spec.origin is None:
        raise SystemExit("simbench is not installed: pip install simbench==1.6.3, or pass "
                         "--simbench-dir")
    return Path(spec.origin).parent / "networks" / DATASET


def one_day(path: Path, columns: list[str]) -> pd.DataFrame:
    frame = pd.read_csv(path, sep=";", usecols=["time", *columns])
    frame["time"] = pd.to_datetime(frame["time"], format="%d.%m.%Y %H:%M")
    day = frame[frame["time"].dt.date == pd.Timestamp(DAY).date()].reset_index(drop=True)
    if len(day) != 96:
        raise SystemExit(f"{path}: expected 96 quarter hours on {DAY}, found {len(day)}")
    return day


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--simbench-dir", type=Path, help="folder with LoadProfile.csv and "
                   "RESProfile.csv (default: the installed simbench package's)")
    args = p.parse_args()
    src = args.simbench_dir or simbench_dir()
    loads = one_day(src / "LoadProfile.csv", sorted(set(LOAD_PROFILE.values())))
    pv = one_day(src / "RESProfile.csv", [PV_PROFILE])
    out = pd.DataFrame({"t": np.arange(1, 97),
                        "time": loads["time"].dt.strftime("%H:%M")})
    for ec, column in LOAD_PROFILE.items():
        x = loads[column].to_numpy()
        out[f"{ec}_load"] = np.round(LOAD_PEAK_MW[ec] * x / x.max(), 6)
    shape = pv[PV_PROFILE].to_numpy()
    for ec, peak in PV_PEAK_MW.items():
        out[f"{ec}_pv"] = np.round(peak * shape / shape.max(), 6)
    original = np.zeros(96)
    for _, mw, start, periods in PROCESSES:
        original[start - 1:start - 1 + periods] += mw
    if np.any(out["ind_load"].to_numpy() < original - 1e-9):
        raise SystemExit("the industrial load is below its processes' original consumption")
    DATA_DIR.mkdir(exist_ok=True)
    out.to_csv(DATA_DIR / "profiles.csv", index=False)
    price = np.empty(96)
    for start, stop, value in TOU:
        price[start:stop] = value
    pd.DataFrame({"t": np.arange(1, 97), "price": price}).to_csv(DATA_DIR / "price.csv",
                                                                 index=False)
    pd.DataFrame(PROCESSES, columns=["process", "power", "start", "periods"]).to_csv(
        DATA_DIR / "processes.csv", index=False)
    print(f"wrote {DATA_DIR}/profiles.csv, price.csv, processes.csv")


if __name__ == "__main__":
    main()
