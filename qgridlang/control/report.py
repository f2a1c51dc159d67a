"""A simulation's result as a JSON document, text, CSV and a PNG (``qglc simulate``).

Every number carries the unit of its signal as declared in the model; time is in seconds.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from qgridlang.control.spec import SimulationResult, SystemSpec

# the order metrics are shown in (the engine may add more; they follow)
METRICS = ("IAE", "ISE", "ITAE", "ITSE", "MAE", "SD", "max_deviation", "mean_abs_deviation",
           "regulation_time", "regulation_time_band")


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(float(x)) else None


def metric_items(res: SimulationResult) -> list[tuple[str, float, str]]:
    keys = [k for k in METRICS if k in res.metrics] + \
        [k for k in res.metrics if k not in METRICS]
    return [(k, float(res.metrics[k][0]), res.metrics[k][1]) for k in keys]


def document(res: SimulationResult, simulation: str, *, trajectories: bool = True
             ) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "status": "ok", "simulation": simulation, "system": res.system,
        "controller": res.controller, "measure": res.measure,
        "measure_unit": res.units.get(res.measure, ""),
        "metrics": {k: {"value": _num(v), "unit": u} for k, v, u in metric_items(res)},
        "timing": {k: _num(v) for k, v in res.timing.items()},
        "notes": list(res.notes),
    }
    if trajectories:
        doc["time"] = {"unit": "s", "values": [round(float(t), 12) for t in res.time]}
        doc["signals"] = {name: {"unit": res.units.get(name, ""),
                                 "values": [_num(v) for v in np.asarray(vals, float)]}
                          for name, vals in res.signals.items()}
    return doc


def text(res: SimulationResult, simulation: str) -> str:
    out = io.StringIO()
    ctrl = res.controller or "open loop"
    unit = res.units.get(res.measure, "")
    n = len(res.time)
    span = float(res.time[-1] - res.time[0]) if n else 0.0
    out.write(f"simulation {simulation}: system {res.system}, controller {ctrl}, {span:g} s "
              f"({n} samples); metrics on {res.measure}" + (f" [{unit}]" if unit else "") +
              "\n")
    width = max((len(k) for k, _, _ in metric_items(res)), default=0)
    for k, v, u in metric_items(res):
        out.write(f"  {k:<{width}}  {v:.6g} {u}\n")
    t = res.timing
    if t:
        out.write("  timing: " + ", ".join(f"{k} {v:.4g}" for k, v in t.items()) + "\n")
    for note in res.notes:
        out.write(f"  note: {note}\n")
    return out.getvalue().rstrip("\n")


def write_csv(res: SimulationResult, path: Path) -> None:
    """One row per sample: ``time [s]`` and every signal ``name [unit]``."""
    from qgridlang.atomic import write_atomically

    buf = io.StringIO()
    w = csv.writer(buf)
    names = list(res.signals)
    w.writerow(["time [s]"] + [f"{n} [{res.units.get(n, '')}]" if res.units.get(n) else n
                               for n in names])
    cols = [np.asarray(res.signals[n], float) for n in names]
    for i, t in enumerate(res.time):
        w.writerow([f"{float(t):.10g}"] + [f"{c[i]:.10g}" for c in cols])
    data = buf.getvalue().encode("utf-8")
    write_atomically(path, lambda tmp: tmp.write_bytes(data))


def write_png(res: SimulationResult, path: Path, system: SystemSpec,
              names: list[str] | None = None) -> None:
    """One panel per signal (default: the measured signal, the inputs, the disturbances)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from qgridlang.atomic import write_atomically

    if names is None:
        names = [res.measure] + [s.name for s in system.inputs + system.disturbances
                                 if s.name != res.measure]
    fig, axes = plt.subplots(len(names), 1, figsize=(8, 1.9 * len(names) + 0.6), sharex=True,
                             squeeze=False)
    for ax, name in zip(axes[:, 0], names, strict=True):
        ax.plot(res.time, res.signals[name], lw=1.2)
        unit = res.units.get(name, "")
        ax.set_ylabel(f"{name} [{unit}]" if unit else name)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("time [s]")
    axes[0, 0].set_title(f"{res.system}: {res.controller or 'open loop'}")
    fig.tight_layout()
    try:
        write_atomically(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    finally:
        plt.close(fig)
