"""The ``qaoa`` target: a checked model as a QAOA circuit (``qglc compile --target qaoa``).

Lowering: the ``qubo`` target's BQM (same options: ``inequality``, ``penalty_margin`` …), its
sparse Ising form and the ``p``-layer circuit (:mod:`qgridlang.compilers.qaoa`). Inversion is the
QUBO's: qubit ``i`` is BQM variable ``i``, so the backends (``qaoa``, ``ibm``, which run on the
``qubo`` target) and this target decode bit strings the same way.

Exports: ``.qasm`` (OpenQASM 3 with ``input float[64]`` angles ``gamma_k``/``beta_k`` and a final
``measure``), ``.json`` (the cost Hamiltonian: Pauli terms, coefficients, offset).

Options read from ``Options.extra``: ``p`` (layers, 1), ``backend`` (a fake IBM device to transpile
to for the report; default ``FakeSherbrooke``, ``none`` to skip), ``optimization_level`` (1),
``warm_start`` and ``warm_start_epsilon`` (a warm-started ansatz, Egger et al. 2021).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from qgridlang.errors import UsageError
from qgridlang.flat import FlatModel
from qgridlang.lazy import lazy
from qgridlang.registry import Options, Target, missing_modules, register_target
from qgridlang.targets.qubo import lower, lowering_options

# loaded when a model is lowered, not when the registry lists this target (qglc start-up)
qaoa = lazy("qgridlang.compilers.qaoa")
qubo = lazy("qgridlang.compilers.qubo")

DEFAULT_DEVICE = "FakeSherbrooke"


@register_target
class QaoaTarget(Target):
    name = "qaoa"
    description = ("QAOA circuit (qiskit) of the QUBO's Ising form: OpenQASM 3 and the cost "
                   "Hamiltonian; logical and transpiled depth and two-qubit gates")
    REQUIRED_MODULES = ("dimod", "qiskit")
    EXPORTS = (".qasm", ".json")
    OPTIONS: ClassVar[dict[str, str]] = {
        **lowering_options(),
        "p": "QAOA layers (default 1)",
        "backend": "fake IBM device to transpile to for the report (FakeSherbrooke; none)",
        "device": "same as backend",
        "optimization_level": "transpiler optimisation level (default 1)",
        "warm_start": "warm-started ansatz from the relaxation (default false)",
        "warm_start_epsilon": "warm start regularisation (default 0.25)",
    }

    def apply(self, flat: FlatModel, options: Options
              ) -> tuple[qaoa.QaoaProgram, qubo.QuboInverse]:
        bqm, inverse = lower(flat, options)  # the qubo target's lowering (penalty_scale too)
        extra = options.extra
        program = qaoa.lower(
            bqm, int_option(extra.get("p", 1), "p"),
            warm_start=bool_option(extra.get("warm_start")),
            epsilon=float(extra.get("warm_start_epsilon", 0.25)), device=_device(extra),
            optimization_level=int_option(extra.get("optimization_level", 1),
                                          "optimization_level"),
            seed=options.seed)
        return program, inverse

    def invert(self, x: np.ndarray, inverse: Any) -> np.ndarray:
        return np.asarray(qubo.invert(np.asarray(x).ravel(), inverse))

    def export(self, artifact: Any, path: Path) -> None:
        program: qaoa.QaoaProgram = artifact
        suffix = Path(path).suffix.lower()
        if suffix == ".qasm":
            from qiskit import qasm3

            text = qasm3.dumps(program.circuit)
        elif suffix == ".json":
            text = qaoa.hamiltonian_json(program.ising, program.p)
        else:
            raise UsageError(f"the qaoa target writes .qasm (OpenQASM 3) or .json (cost "
                             f"Hamiltonian) files, not '{suffix}'", hint="e.g. -o model.qasm")
        Path(path).write_text(text, encoding="utf-8")

    def report(self, artifact: Any, inverse: Any) -> dict[str, Any]:
        program: qaoa.QaoaProgram = artifact
        out: dict[str, Any] = qubo.report(inverse).to_dict()
        out["energy_offset"] = float(program.bqm.offset)
        out.update(program.facts)  # p, qubits, terms, logical and transpiled circuit facts
        return out


def _device(extra: dict[str, Any]) -> str | None:
    """The device for the report: the option, else FakeSherbrooke when the fake devices are
    installed (qiskit-ibm-runtime), ``none`` to skip."""
    value = extra.get("backend", extra.get("device"))
    if value is None:
        return DEFAULT_DEVICE if not missing_modules(("qiskit_ibm_runtime",)) else None
    text = str(value)
    return None if text.lower() in ("", "none", "false") else text


def int_option(v: Any, name: str) -> int:
    """An integer ``--option`` value (``2``, ``"2"``, ``2.0``), else a UsageError."""
    try:
        out = int(v)
        whole = out == float(v)
    except (TypeError, ValueError):
        whole = False
    if not whole:
        raise UsageError(f"option {name} must be an integer, got {v!r}")
    return out


def bool_option(v: Any) -> bool:
    """A boolean ``--option`` value (``true``/``false``, ``1``/``0``, ``yes``/``no``)."""
    if isinstance(v, str):
        return v.strip().lower() in ("1", "true", "yes", "on")
    return bool(v)
