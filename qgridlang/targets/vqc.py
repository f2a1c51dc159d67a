"""The ``vqc`` target: a model's ``surrogate`` declarations as variational circuits
(``qglc compile model.qgl --target vqc [-o circuit.qasm] [--option surrogate=NAME]``).

Per surrogate (:mod:`qgridlang.surrogates.circuit`): qubits, variational layers, trainable
parameters (all, and the share in circuit weights), the circuits one prediction evaluates and
how often (per series of length T), the depth and gate counts of each, the paper's timing model
T^Q = T^P + T^G D + T^M (an ESTIMATE) beside the simulator's measured wall time, and one
evaluation circuit (default: the first, e.g. the Q-TCN window; ``circuit=NAME`` picks another)
bound to its weights and an example input, exported as OpenQASM 3 and checked against
PennyLane's <Z> outputs (qiskit Statevector) on the way.

Weights: the trained artifact (``trained=FILE``, or the declaration's ``trained = "…"`` file if
it exists), else the seeded initial parameters (the declaration's ``seed``); the report says
which. Classical ansätze (mlp, tcn, lstm, tcn_lstm, tiny) are not circuits: they are reported
with their parameters only, and ``-o`` refuses them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from qgridlang.errors import UsageError
from qgridlang.flat import FlatModel
from qgridlang.registry import Options, Target, register_target

_YES, _NO = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


@dataclass
class VqcSurrogate:
    """One surrogate's circuit report and where its weights came from."""

    spec: Any  # surrogates.spec.SurrogateSpec
    report: Any  # surrogates.circuit.CircuitReport
    weights: str  # "trained: FILE" or "initial (seed N)..."


@dataclass
class VqcProgram:
    surrogates: list[VqcSurrogate] = field(default_factory=list)
    export: VqcSurrogate | None = None  # what -o writes
    no_export: str = ""  # why there is none


@register_target
class VqcTarget(Target):
    name = "vqc"
    description = ("variational-circuit surrogates: qubits, layers, parameters, circuit depth, "
                   "the paper's timing estimate beside simulator time; one evaluation circuit "
                   "as OpenQASM 3")
    REQUIRED_MODULES = ("pennylane", "jax", "flax", "qiskit")
    EXPORTS = (".qasm",)
    DIFFERENTIABLE = True  # it compiles the surrogates' circuits, whatever they are called on
    OPTIONS: ClassVar[dict[str, str]] = {
        "surrogate": "the surrogate to report and export (default: all reported; -o needs one "
                     "when the model declares several quantum surrogates)",
        "trained": "a trained artifact (.qgls) to take the weights from (default: the "
                   "declaration's trained file if it exists, else the seeded initial weights)",
        "circuit": "the circuit to export, by its weights' path, e.g. qtcn or "
                   "qlstm.layer0.forget (default: the first the report lists)",
        "timing": "measure the simulator's time per prediction (default yes; the first call "
                  "compiles, which takes seconds for T = 96)",
    }

    def apply(self, flat: FlatModel, options: Options) -> tuple[VqcProgram, None]:
        specs: dict[str, Any] = dict(getattr(flat, "surrogates", {}) or {})
        if not specs:
            raise UsageError("the vqc target compiles a model's surrogate declarations, and "
                             "this model has none",
                             hint="declare one: surrogate f: price[T] -> p_ex[T] { ansatz = "
                                  "qtcn_lstm(qubits = 8, layers = 3, hidden = 3); data = "
                                  "\"responses.npz\" }")
        extra = dict(options.extra)
        wanted = extra.get("surrogate")
        if wanted is not None:
            wanted = str(wanted)
            if wanted not in specs:
                from qgridlang.errors import did_you_mean

                raise UsageError(f"the model has no surrogate '{wanted}'", None,
                                 did_you_mean(wanted, specs) or
                                 f"its surrogates: {', '.join(specs)}")
            specs = {wanted: specs[wanted]}
        trained = extra.get("trained")
        if trained is not None and len(specs) > 1:
            raise UsageError("option 'trained' gives one surrogate's weights, and the model "
                             f"declares {len(specs)}: {', '.join(specs)}",
                             hint="choose it with --option surrogate=NAME")
        timing = _yes_no(extra.get("timing", True), "timing")
        circuit = extra.get("circuit")
        program = VqcProgram()
        for spec in specs.values():
            program.surrogates.append(_one(spec, trained, circuit, timing))
        quantum = [s for s in program.surrogates if s.report.quantum]
        if len(quantum) == 1:
            program.export = quantum[0]
        elif not quantum:
            names = ", ".join(f"{s.spec.name} ({s.spec.ansatz})" for s in program.surrogates)
            program.no_export = (f"no quantum surrogate to export: {names} is a classical "
                                 "ansatz (a flax network), not a circuit")
        else:
            program.no_export = (f"the model declares {len(quantum)} quantum surrogates "
                                 f"({', '.join(s.spec.name for s in quantum)}): choose the one "
                                 "to export with --option surrogate=NAME")
        return program, None

    def invert(self, x: np.ndarray, inverse: Any) -> np.ndarray:
        raise UsageError("the vqc target has no solve backend: train a surrogate with qglc "
                         "train and use it in a model")

    def export(self, artifact: VqcProgram, path: Path) -> None:
        from qgridlang.surrogates.circuit import export_qasm

        if artifact.export is None:
            raise UsageError(artifact.no_export)
        path.write_text(export_qasm(artifact.export.report), encoding="utf-8")

    def report(self, artifact: VqcProgram, inverse: Any) -> dict[str, Any]:
        if len(artifact.surrogates) == 1:
            return _rows(artifact.surrogates[0])
        out: dict[str, Any] = {}
        for s in artifact.surrogates:
            out.update({f"{s.spec.name}: {k}": v for k, v in _rows(s).items()})
        return out


def _yes_no(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text not in _YES + _NO:
        raise UsageError(f"option '{name}' must be yes or no, got {value!r}")
    return text in _YES


def _one(spec: Any, trained: Any, circuit: Any, timing: bool) -> VqcSurrogate:
    """Build the spec's ansatz, take its weights, describe its circuits."""
    import jax

    from qgridlang.surrogates.circuit import CircuitError, describe
    from qgridlang.surrogates.registry import AnsatzError, build

    base = Path(spec.source_file).parent if spec.source_file else Path.cwd()
    source = None
    if trained is not None:
        source = _load(Path(str(trained)), spec, checked=False)
    elif spec.trained is not None:
        path = Path(spec.trained) if Path(spec.trained).is_absolute() else base / spec.trained
        if path.exists():
            source = _load(path, spec, checked=True, base=base)
    if source is not None:
        ansatz, params, weights = source
    else:
        try:
            ansatz = build(spec.ansatz, spec.length, **spec.options)
        except AnsatzError as exc:
            raise UsageError(f"surrogate '{spec.name}': {exc}", spec.span) from None
        params = ansatz.init(jax.random.PRNGKey(spec.seed))
        missing = f"; trained file '{spec.trained}' not found" if spec.trained else \
            "; no trained artifact (train with qglc train)"
        weights = f"initial, seeded (seed {spec.seed}){missing}"
    try:
        report = describe(ansatz, params, example_seed=spec.seed,
                          export=None if circuit is None else str(circuit), timing=timing)
    except CircuitError as exc:
        raise UsageError(f"surrogate '{spec.name}': {exc}", None) from None
    return VqcSurrogate(spec, report, weights)


def _load(path: Path, spec: Any, checked: bool, base: Path | None = None) -> tuple[Any, Any, str]:
    """A trained artifact for ``spec`` (refused, located, when the declaration changed)."""
    from qgridlang.surrogates.artifact import load_artifact

    if checked:
        from qgridlang.limits import current, using

        with using(current().with_model_dir(base or path.parent)):
            art = load_artifact(path, spec, spec.span)
    else:
        art = load_artifact(path, spec, None, checked_read=False)
    return art.ansatz, art.params, f"trained: {path}"


def _rows(s: VqcSurrogate) -> dict[str, Any]:
    """The report of one surrogate (``qglc compile`` prints one row per key)."""
    from qgridlang.surrogates.circuit import TIMING_MODEL, fmt_seconds

    r, spec = s.report, s.spec
    opts = ", ".join(f"{k}={v}" for k, v in r.ansatz.config.items() if k != "length")
    rows: dict[str, Any] = {
        "surrogate": f"{spec.name}: {spec.input_name}[{spec.index}] -> "
                     f"{spec.output_name}[{spec.index}], T = {spec.length}",
        "ansatz": f"{r.ansatz.name}({opts})",
        "parameters": {"total": r.parameters, "in circuits": r.circuit_parameters,
                       **r.parameter_split},
        "weights": s.weights,
    }
    if not r.quantum:
        rows["circuits"] = "none: a classical ansatz (flax network), not a circuit"
        if r.measured:
            rows["wall time"] = (f"{fmt_seconds(r.measured['per_prediction_s'])} per "
                                 "prediction (measured: jax.jit on cpu, batch 1, after warm-up)")
        return rows
    groups = r.groups()
    rows["qubits"] = max(g["qubits"] for g in groups)
    rows["variational layers"] = "; ".join(
        f"{g['layers']} in {_names(g['circuits'])}" for g in groups)
    rows["circuits per prediction"] = [
        {"circuits": _names(g["circuits"]), "qubits": g["qubits"], "depth": g["depth"],
         "gates": "+".join(f"{n} {k}" for k, n in g["gates"].items()),
         "evaluations": g["runs"]} for g in groups]
    rows["evaluations per prediction"] = r.evaluations
    ex = r.exported
    res = r.resources[ex.structure]
    rows["exported circuit"] = (f"{ex.name} ({ex.role}): {ex.qubits} qubits, depth "
                                f"{res['depth']}, {sum(res['gates'].values())} gates")
    rows["example input"] = r.example
    rows["OpenQASM check"] = (f"qiskit Statevector <Z> within {r.qasm_check:.1e} of "
                              "PennyLane's")
    rows["timing model"] = {"per evaluation": fmt_seconds(r.estimate["per_evaluation_s"]),
                            "per prediction": fmt_seconds(r.estimate["per_prediction_s"]),
                            "note": TIMING_MODEL}
    if r.measured:
        m = r.measured
        rows["simulator"] = {
            "per evaluation": fmt_seconds(m["per_evaluation_s"]),
            "per prediction": fmt_seconds(m["per_prediction_s"]),
            "note": f"measured: {m['device']} under jax.jit, batch 1, median of "
                    f"{m['runs']} after a warm-up call ({fmt_seconds(m['compile_s'])} "
                    "compiling)"}
    return rows


def _names(names: list[str]) -> str:
    """['qlstm.layer0.forget', …, 'qlstm.layer0.output'] -> 'qlstm.layer0.{forget,…}'."""
    if len(names) == 1:
        return names[0]
    heads = {n.rsplit(".", 1)[0] for n in names}
    if len(heads) == 1:
        return f"{heads.pop()}.{{{','.join(n.rsplit('.', 1)[1] for n in names)}}}"
    return ", ".join(names)
