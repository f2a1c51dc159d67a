"""What a plot needs to know about the model a result came from, as plain JSON.

A result document (``qglc solve --json``) carries it under ``"model"``, so ``qglc plot
result.json`` needs nothing else: the time set and its step, each bus's injections (the ports its
balance collects) and the constraint whose duals are its nodal price, the binary variables that
commit a unit, the scenario sets with their probabilities, and the risk measures' ``alpha``.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from qgridlang.checker import CheckedModel

# member names of binaries that say "committed / on" (a battery's `mode` is not a commitment)
COMMITMENT_NAMES = frozenset({"u", "on", "commit", "commitment", "committed", "status"})
_CVAR = re.compile(r"^cvar\((?P<of>[^,()]+),(?P<alpha>[0-9.eE+-]+)\)\.eta$")


def model_layout(checked: CheckedModel) -> dict[str, Any]:
    ir = checked.ir
    time = next((s for s in ir.sets if s.step is not None), None)
    buses: list[dict[str, Any]] = []
    if checked.network is not None:
        for b in checked.network.buses:
            buses.append({"name": b.name, "injections": list(b.injections.get("p", ())),
                          "balance": f"{b.name}.balance"})
    commitment = [v.name for v in ir.variables if v.kind == "binary" and time is not None
                  and v.index and v.index[-1] == time.name
                  and v.name.rsplit(".", 1)[-1] in COMMITMENT_NAMES]
    scenarios: dict[str, Any] = {}
    for name, probs in checked.flat.scenarios.items():
        p = np.asarray(probs, float)
        uniform = bool(len(p)) and bool(np.allclose(p, p[0]))
        scenarios[name] = {"size": int(len(p)), "uniform": uniform,
                           **({} if uniform else {"probabilities": [float(x) for x in p]})}
    risk = []
    for v in ir.variables:
        m = _CVAR.match(v.name)
        if m:
            risk.append({"measure": "cvar", "of": m["of"], "alpha": float(m["alpha"])})
    return {
        "file": checked.file,
        "name": ir.name,
        "time_set": time.name if time else None,
        "time_step": time.step if time else None,
        "buses": buses,
        "commitment": commitment,
        "scenarios": scenarios,
        "risk": risk,
    }
