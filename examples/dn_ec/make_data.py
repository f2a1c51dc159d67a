"""Build the data of the DN-EC operator example (``data/*.csv``); deterministic, re-runnable.

``python examples/dn_ec/make_data.py [--simbench-dir DIR]`` (the profiles come from SimBench's
``LoadProfile.csv`` / ``RESProfile.csv``, as for ``examples/communities``: ``pip download
simbench==1.6.3`` and point ``--simbench-dir`` at ``simbench/networks/1-complete_data-mixed-all-
0-sw`` inside the wheel). Writes:

- ``buses.csv``: the 33 buses of pandapower's ``case33bw`` (bus = index + 1): base active and
  reactive load (kW, kvar) and whether the load is uncertain (buses 10, 12, 14, SPECS §A2).
- ``lines.csv``: its 32 in-service lines (the 5 tie lines are out of service there): from, to,
  r and x in ohm, and ``pbar`` (MW), the soft flow limit: 1.2 x |the base-case flow| from
  pandapower's AC power flow (case33bw has no ratings; SPECS §A2's suggestion).
- ``profiles.csv``: for t = 1..96 (15 min, 2016-06-09 as in examples/communities):
  ``load_shape`` (SimBench ``H0-A_pload`` over its daily maximum, so the evening peak is
  case33bw's base load), ``pv_pu`` (``PV1`` per unit of capacity), ``wind_pu`` (``WP4`` per
  unit; SPECS suggests Renewables.ninja, not reachable offline), ``price_dn`` (the operator's
  purchase price pi^DN: the 40/80/120 $/MWh time-of-use tariff of examples/communities).
- ``price_ec.csv``: the community price pi^EC, flat at the mean of pi^DN (80 $/MWh: "Price 1").
- ``responses.csv``: the three communities' exchange (MW, > 0 imports) at that price, from their
  own MILPs (examples/communities/*.qgl solved with HiGHS).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
COMMUNITIES = HERE.parent / "communities"
DAY = "09.06.2016"
UNCERTAIN = {10, 12, 14}


def network() -> tuple[pd.DataFrame, pd.DataFrame]:
    import pandapower as pp
    import pandapower.networks as pn

    net = pn.case33bw()
    pp.runpp(net, numba=False)
    load = net.load.groupby("bus")[["p_mw", "q_mvar"]].sum()
    buses = pd.DataFrame({
        "bus": net.bus.index + 1,
        "pd": [round(1e3 * float(load.p_mw.get(i, 0.0)), 6) for i in net.bus.index],
        "qd": [round(1e3 * float(load.q_mvar.get(i, 0.0)), 6) for i in net.bus.index],
        "uncertain": [int(i + 1 in UNCERTAIN) for i in net.bus.index]})
    lines = net.line[net.line.in_service]
    flow = net.res_line.p_from_mw[lines.index].abs()
    out = pd.DataFrame({
        "line": np.arange(1, len(lines) + 1),
        "fb": lines.from_bus.to_numpy() + 1, "tb": lines.to_bus.to_numpy() + 1,
        "r": (lines.r_ohm_per_km * lines.length_km).round(8).to_numpy(),
        "x": (lines.x_ohm_per_km * lines.length_km).round(8).to_numpy(),
        "pbar": (1.2 * flow).round(6).to_numpy()})
    return buses, out


def _day(frame: pd.DataFrame, column: str) -> np.ndarray:
    rows = frame[frame.time.str.startswith(DAY)]
    assert len(rows) == 96, len(rows)
    return rows[column].astype(float).to_numpy()


def profiles(simbench: Path) -> pd.DataFrame:
    load = pd.read_csv(simbench / "LoadProfile.csv", sep=";")
    res = pd.read_csv(simbench / "RESProfile.csv", sep=";")
    shape = _day(load, "H0-A_pload")
    price = pd.read_csv(COMMUNITIES / "data/price.csv")
    return pd.DataFrame({"t": np.arange(1, 97), "load_shape": np.round(shape / shape.max(), 6),
                         "pv_pu": np.round(_day(res, "PV1"), 6),
                         "wind_pu": np.round(_day(res, "WP4"), 6),
                         "price_dn": price.price.to_numpy()})


def responses(price: float) -> pd.DataFrame:
    """The communities' exchange at a flat price, from their own MILPs (the price written into
    each community model, as `qglc sample-responses` and `qglc price-search` do)."""
    from qgridlang.datasets.response import SolveSettings, prepare

    out: dict[str, object] = {"t": np.arange(1, 97)}
    for name in ("residential", "commercial", "industrial"):
        model = prepare(COMMUNITIES / f"{name}.qgl", method="recheck")
        r = model.solve(np.full(model.periods, price), SolveSettings())
        assert r["feasible"], (name, r["status"])
        out[name] = np.round(r["response"], 6)
    return pd.DataFrame(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--simbench-dir", type=Path, required=True)
    args = ap.parse_args()
    DATA.mkdir(exist_ok=True)
    buses, lines = network()
    buses.to_csv(DATA / "buses.csv", index=False)
    lines.to_csv(DATA / "lines.csv", index=False)
    prof = profiles(args.simbench_dir)
    prof.to_csv(DATA / "profiles.csv", index=False)
    flat = float(prof.price_dn.mean())
    pd.DataFrame({"t": prof.t, "price": flat}).to_csv(DATA / "price_ec.csv", index=False)
    responses(flat).to_csv(DATA / "responses.csv", index=False)
    print(f"wrote {', '.join(sorted(p.name for p in DATA.glob('*.csv')))} in {DATA}")


if __name__ == "__main__":
    main()
