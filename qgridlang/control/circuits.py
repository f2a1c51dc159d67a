"""``qglc simulate --circuit walk.qasm``: the quantum-walk predictor's circuit as OpenQASM 3."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qgridlang.control.spec import MPCSpec, SimulationResult
from qgridlang.errors import UsageError


def walk_program(spec: MPCSpec) -> str:
    """One prediction's circuit (u/cx basis): the start at the lattice's centre, trend τ = 0.

    Every prediction runs this circuit with two numbers changed: the start level (the X gates
    preparing the position register) and the coin preparation's RY angle (from the trend τ);
    the header says so, and the cost per prediction.
    """
    from qgridlang.control.predictors import check_options
    from qgridlang.control.quantum_walk import circuit_cost, walk_qasm3

    options = check_options(spec.predictor)
    n = int(float(options["position_qubits"]))
    level = 2 ** (n - 1)
    cost = circuit_cost(n, spec.horizon)
    header = (f"// qgridlang: controller '{spec.name}', quantum-walk predictor, one prediction "
              f"of {spec.horizon} steps\n"
              f"// {n} position qubits + 1 coin; start level {level} (the lattice centre), "
              "trend tau = 0; each prediction changes the start level (X gates) and the coin "
              "RY angle (from tau)\n"
              f"// cost after transpiling to u/cx: depth {cost['depth']}, {cost['cx']} cx, "
              f"{cost['u']} u\n")
    return header + walk_qasm3(n, spec.horizon, level, 0.0)


def export_walk(dyn: Any, res: SimulationResult, path: Path) -> None:
    from qgridlang.atomic import write_atomically

    spec = dyn.controllers.get(res.controller) if res.controller else None
    if not isinstance(spec, MPCSpec) or spec.predictor.kind != "quantum_walk":
        raise UsageError(f"--circuit: controller '{res.controller or 'none'}' has no "
                         "quantum-walk predictor",
                         hint="use it with an MPC whose predictor = quantum_walk(…)")
    program = walk_program(spec)
    write_atomically(path, lambda tmp: tmp.write_text(program, encoding="utf-8"))
