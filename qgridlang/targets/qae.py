"""The ``qae`` target: a risk measure of a plan as an amplitude-estimation oracle
(``qglc compile model.qgl --target qae --measure "cvar(cost, alpha = 95 %)" -o a.qasm``).

Lowering: the plan (``plan`` option: a solve's ``.json``/``.csv``; default: the model solved
with HiGHS) fixes the measured expression's value in every scenario; that loss distribution on
``2**qubits`` grid points (:mod:`qgridlang.estimation.loss`) becomes the state-preparation
operator ``A`` of :mod:`qgridlang.compilers.qae` and its Grover operator ``Q``:

- ``expected(e)``: the expectation oracle;
- ``probability(e > x)``: the tail oracle at the first grid point in the event;
- ``var(e, alpha)``: the tail oracle at the VaR grid index (an estimate of ``P(i >= k)`` is one
  step of the VaR bisection ``qglc estimate`` runs);
- ``cvar(e, alpha)``: the thresholded expectation oracle at the VaR grid index (with the tail
  oracle, the two amplitudes ``qglc estimate`` combines).

The VaR index is the grid's exact one (numpy): ``qglc estimate --backend qae`` finds it by
bisection on estimated tail probabilities instead. Exports ``.qasm``: ``A`` as OpenQASM 3 (in
``cx`` and ``u``), and ``Q`` beside it as ``<name>.grover.qasm``. There is no solve backend on
this target: estimates come from ``qglc estimate``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np

from qgridlang.errors import UsageError
from qgridlang.flat import FlatModel
from qgridlang.registry import Options, Target, register_target


@dataclass
class QaeProgram:
    """``A`` (and ``Q``) for one measure of one plan, with what they encode."""

    measure: str
    oracle: Any  # compilers.qae.Oracle
    grover: Any  # QuantumCircuit
    discretisation: dict[str, Any]
    plan: str
    resources: dict[str, Any] = field(default_factory=dict)
    grover_resources: dict[str, Any] = field(default_factory=dict)


@register_target
class QaeTarget(Target):
    name = "qae"
    description = ("amplitude-estimation oracle (state preparation A and Grover operator Q) of "
                   "a risk measure of a plan: OpenQASM 3, qubits, depth, two-qubit gates")
    REQUIRED_MODULES = ("qiskit",)
    EXPORTS = (".qasm",)
    OPTIONS: ClassVar[dict[str, str]] = {
        "measure": "the measure (required): expected(e), var(e, alpha = 95 %), cvar(e, alpha "
                   "= 0.9) or probability(e > x)",
        "plan": "the plan: a solve's .json or .csv output (default: solve with highs)",
        "qubits": "loader qubits n: the loss on 2**n grid points (default 6)",
        "payoff": "exact (default) | exact_mc (the paper's Circuit-2) | linear (Circuit-1)",
        "device": "a fake IBM backend to transpile to for the report (default: none)",
        "source": "scenarios (default) | declared: the declared distribution of the one "
                  "sampled value the expression is affine in",
        "truncate": "declared: cut an unbounded distribution at mean ± truncate sd (required "
                    "for one; e.g. 3)",
    }

    def apply(self, flat: FlatModel, options: Options) -> tuple[QaeProgram, None]:
        from qgridlang.compilers import qae
        from qgridlang.estimation import exact
        from qgridlang.estimation.measure import parse_measure
        from qgridlang.estimation.run import check_options, prepare

        extra = dict(options.extra)
        text = extra.pop("measure", None)
        if not text:
            raise UsageError("the qae target needs the measure to compile",
                             hint='--measure "cvar(cost, alpha = 95 %)"')
        m = parse_measure(str(text))
        plan = extra.pop("plan", None)
        device = extra.pop("device", None)
        opts = check_options("qae", {k: v for k, v in extra.items()
                                     if k in ("qubits", "payoff", "source", "truncate")})
        lo = prepare(SimpleNamespace(flat=flat, timings={}), m,
                     None if plan is None else Path(str(plan)), opts)
        grid = lo.grid
        lossgrid = qae.LossGrid(grid.probs, grid.values)
        payoff = str(opts.get("payoff", "exact"))
        if m.kind == "expected":
            oracle = qae.expectation_oracle(lossgrid, payoff)
        elif m.kind == "probability":
            from qgridlang.estimation.quantum import threshold_index

            at = lo.threshold
            assert at is not None  # a probability measure has its threshold
            k, _ = threshold_index(grid.values, at, str(m.op))
            oracle = qae.tail_probability_oracle(lossgrid, min(max(k, 0), len(grid.values)))
        else:
            assert m.alpha is not None
            k = exact.var_index(grid.values, grid.probs, m.alpha)
            oracle = qae.tail_probability_oracle(lossgrid, k) if m.kind == "var" else \
                qae.expectation_oracle(lossgrid, payoff, threshold_index=k)
        grover = qae.grover_operator(oracle)
        disc = {**lo.discretisation(), "unit": grid.unit}
        device = None if device in (None, "none") else str(device)
        program = QaeProgram(m.label, oracle, grover, disc, lo.plan,
                             qae.resources(oracle.circuit, device),
                             qae.resources(grover, device))
        return program, None

    def invert(self, x: np.ndarray, inverse: Any) -> np.ndarray:
        raise UsageError("the qae target has no solve backend: estimate with qglc estimate")

    def export(self, artifact: QaeProgram, path: Path) -> None:
        from qgridlang.atomic import final_path, write_atomically

        path.write_text(_qasm(artifact.oracle.circuit), encoding="utf-8")
        final = final_path(path)
        grover = final.with_name(final.name.removesuffix(".qasm") + ".grover.qasm")

        def write(tmp: Path) -> None:
            tmp.write_text(_qasm(artifact.grover), encoding="utf-8")

        write_atomically(grover, write)

    def report(self, artifact: QaeProgram, inverse: Any) -> dict[str, Any]:
        o = artifact.oracle
        return {"measure": artifact.measure, "payoff": o.payoff,
                "amplitude": o.exact_amplitude, "objective_qubit": o.objective_qubit,
                "state_qubits": len(o.state_qubits), "A": artifact.resources,
                "Q": artifact.grover_resources, "discretisation": artifact.discretisation,
                "plan": artifact.plan,
                "notes": {k: v for k, v in o.notes.items() if isinstance(v, str | int | float)}}


def _qasm(circuit: Any) -> str:
    """OpenQASM 3 of ``circuit`` in ``cx`` and ``u`` (the standard library's gates): qiskit's
    exporter cannot write the loader's and the comparator's composite instructions as they are,
    and any OpenQASM 3 reader takes these two (seeded: the same file every time)."""
    from qiskit import qasm3, transpile

    return qasm3.dumps(transpile(circuit, basis_gates=["cx", "u"], optimization_level=1,
                                 seed_transpiler=0))
