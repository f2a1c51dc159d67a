"""The vqc target and qgridlang.surrogates.circuit: parameter counts against count_parameters,
each reported circuit is the one the ansatz evaluates (its <Z> through the ansatz's own head
reproduce the prediction), gate counts and depth against independent counts (qiskit), the
OpenQASM 3 export read back by qiskit and simulated against PennyLane to 1e-5, the timing
estimate's arithmetic, classical ansätze refused for export, trained weights used, located
usage errors, and the CLI as a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("jax")
pytest.importorskip("pennylane")
pytest.importorskip("qiskit")

import jax  # noqa: E402

from qgridlang.errors import UsageError  # noqa: E402
from qgridlang.surrogates import build, count_parameters  # noqa: E402
from qgridlang.surrogates import circuit as C  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

MODEL = """\
time T = 1..6 step 1 h
param price[T]: $/MWh = 80
surrogate ec: price[T]: $/MWh -> p_ex[T]: MW {{
  ansatz = {ansatz}
  data = "d.npz"; epochs = 2; learning_rate = 0.05; batch = 16; seed = 3
  trained = "ec.qgls"
}}
var x[T]: MW >= 0
minimize cost: sum(t in T) x[t] * 50 $/MWh * dt
"""
QTCN_LSTM = "qtcn_lstm(qubits = 3, layers = 2, hidden = 2, recurrent_layers = 2)"


def _params(ansatz: Any, seed: int = 1) -> Any:
    return ansatz.init(jax.random.PRNGKey(seed))


def _expected_gates(part: C.CircuitPart) -> dict[str, int]:
    n, layers = part.qubits, part.layers
    if part.kind == "qtcn":  # RY encoding + per layer RY on every qubit and a CNOT per qubit
        return {"RY": n * (layers + 1), "CNOT": n * layers}
    return {"Hadamard": n, "RY": n + n * layers, "RZ": n, "CNOT": n * layers}


@pytest.mark.parametrize(("name", "kw", "evaluations"), [
    ("qmlp", {"qubits": 3, "layers": 2}, 1),
    ("qtcn", {"qubits": 4, "layers": 3}, 6),
    ("qlstm", {"hidden": 2, "recurrent_layers": 2}, 6 * 6 * 2),
    ("qtcn_lstm", {"qubits": 3, "layers": 2, "hidden": 2, "recurrent_layers": 1}, 6 + 6 * 6),
])
def test_report_counts(name: str, kw: dict[str, Any], evaluations: int) -> None:
    ansatz = build(name, 6, **kw)
    params = _params(ansatz)
    rep = C.describe(ansatz, params, timing=False)
    assert rep.parameters == count_parameters(params)
    split = ansatz.parameter_split(params)
    circuit_keys = {"qtcn", "qlstm", "circuit"}
    assert rep.circuit_parameters == sum(v for k, v in split.items() if k in circuit_keys)
    assert rep.circuit_parameters < rep.parameters  # every ansatz has a classical head
    assert rep.evaluations == evaluations
    for part in rep.parts:
        res = rep.resources[part.structure]
        assert res["gates"] == _expected_gates(part)
        # depth from qiskit's own count on the converted circuit (no measurements)
        w = C.part_weights(params, part)
        qc = C.to_qiskit(C.tape(part, w, np.zeros(part.qubits)), measure=False)
        assert res["depth"] == qc.depth()
    # the timing model's arithmetic (SPECS A6): 1 us + 10 ns per layer of gates
    depth = rep.resources[rep.parts[0].structure]["depth"]
    assert rep.estimate["per_evaluation_s"] == pytest.approx(1e-6 + 10e-9 * depth)
    total = sum((1e-6 + 10e-9 * rep.resources[p.structure]["depth"]) * p.runs for p in rep.parts)
    assert rep.estimate["per_prediction_s"] == pytest.approx(total)


def test_paper_sized_qtcn_lstm_circuits() -> None:
    """At the paper's sizes (8 qubits, 3 layers, hidden 3, 2 recurrent layers, T = 96)."""
    ansatz = build("qtcn_lstm", 96)
    rep = C.describe(ansatz, _params(ansatz), timing=False)
    assert rep.parameters == 89 and rep.circuit_parameters == 24 + 52
    groups = rep.groups()
    assert [g["qubits"] for g in groups] == [8, 4, 3, 6]
    assert groups[0]["runs"] == 96 and rep.evaluations == 96 + 2 * 6 * 96
    assert groups[0]["depth"] == 18  # 1 encoding + 3 x (1 RY + a ring of 8 CNOTs at depth 5)


def test_reported_circuit_is_the_one_the_ansatz_runs() -> None:
    """The exported Q-TCN window and Q-MLP circuit, bound to the example input, give <Z> that
    the ansatz's own classical head turns into its prediction."""
    from qgridlang.surrogates.base import dense

    qtcn = build("qtcn", 6, qubits=3, layers=2)
    p = _params(qtcn, 4)
    rep = C.describe(qtcn, p, example_seed=5, timing=False)
    part = rep.exported
    assert part is not None and part.name == "qtcn"
    series = C.example_series(6, 5)
    inputs, _ = C.example_input(qtcn, p, part, series, 5)
    z = C.pennylane_expvals(part, C.part_weights(p, part), inputs)
    last = float(np.asarray(dense(p["head"], z))[0])
    assert last == pytest.approx(float(qtcn.apply(p, series)[-1]), abs=1e-5)

    qmlp = build("qmlp", 6, qubits=3, layers=2)
    p = _params(qmlp, 2)
    part = C.circuit_parts(qmlp)[0]
    inputs, _ = C.example_input(qmlp, p, part, series, 5)
    z = C.pennylane_expvals(part, C.part_weights(p, part), inputs)
    np.testing.assert_allclose(np.asarray(dense(p["head"], z)), np.asarray(qmlp.apply(p, series)),
                               atol=1e-5)


@pytest.mark.parametrize("export", ["qtcn", "qlstm.layer0.forget", "qlstm.layer1.out",
                                    "qlstm.layer1.update"])
def test_qasm3_round_trip_matches_pennylane(export: str) -> None:
    from qiskit import qasm3

    ansatz = build("qtcn_lstm", 6, qubits=3, layers=2, hidden=2, recurrent_layers=2)
    params = _params(ansatz, 7)
    rep = C.describe(ansatz, params, example_seed=9, export=export, timing=False)
    text = C.export_qasm(rep)
    assert text.splitlines()[3] == "OPENQASM 3.0;"
    qc = qasm3.loads(text)  # what another tool reads back from the file
    part = rep.exported
    assert part is not None and part.name == export
    assert qc.num_qubits == part.qubits and qc.count_ops()["measure"] == part.readout
    got = C.qiskit_expvals(qc, list(range(part.readout)))
    inputs, _ = C.example_input(ansatz, params, part, C.example_series(6, 9), 9)
    want = C.pennylane_expvals(part, C.part_weights(params, part), inputs)
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert rep.qasm_check is not None and rep.qasm_check < 1e-5
    # the weights are bound as written: each trained angle appears in the file
    for w in C.part_weights(params, part).ravel():
        assert repr(float(np.float32(w))) in text


def test_classical_ansatz_is_not_a_circuit() -> None:
    ansatz = build("tiny", 6, hidden=2)
    rep = C.describe(ansatz, _params(ansatz), timing=True)
    assert not rep.quantum and rep.parts == [] and rep.circuit_parameters == 0
    assert rep.parameters == count_parameters(_params(ansatz))
    assert rep.measured["per_prediction_s"] > 0
    with pytest.raises(C.CircuitError, match="classical"):
        C.export_qasm(rep)


def test_unknown_circuit_is_refused() -> None:
    ansatz = build("qtcn", 6, qubits=3, layers=1)
    with pytest.raises(C.CircuitError, match="its circuits: qtcn"):
        C.describe(ansatz, _params(ansatz), export="qlstm.layer0.forget", timing=False)


def test_measured_timing_is_reported() -> None:
    ansatz = build("qtcn", 6, qubits=3, layers=1)
    rep = C.describe(ansatz, _params(ansatz), timing=True)
    m = rep.measured
    assert m["per_prediction_s"] > 0 and m["per_evaluation_s"] > 0 and m["runs"] >= 3
    assert m["device"] == "default.qubit"


# ---- the target ----------------------------------------------------------------------------
def _model(folder: Path, ansatz: str = QTCN_LSTM, extra: str = "") -> Path:
    path = folder / "m.qgl"
    path.write_text(MODEL.format(ansatz=ansatz) + extra)
    return path


def _compile(path: Path, out: Path | None = None, **extra: Any) -> Any:
    from qgridlang.checker import check_file
    from qgridlang.dispatcher import compile_model
    from qgridlang.registry import Options

    extra.setdefault("timing", False)
    return compile_model(check_file(path), "vqc", Options(extra=extra), out)


def test_target_reports_and_exports(tmp_path: Path) -> None:
    from qiskit import qasm3

    out = tmp_path / "c.qasm"
    compiled = _compile(_model(tmp_path), out)
    rep = compiled.report
    ansatz = build("qtcn_lstm", 6, qubits=3, layers=2, hidden=2, recurrent_layers=2)
    params = ansatz.init(jax.random.PRNGKey(3))  # the declaration's seed
    assert rep["parameters"]["total"] == count_parameters(params)
    assert rep["parameters"]["in circuits"] == 6 + 16 + 20
    assert rep["qubits"] == 4 and rep["evaluations per prediction"] == 6 + 2 * 6 * 6
    assert rep["weights"].startswith("initial, seeded (seed 3)")
    assert "estimate, not a measurement" in rep["timing model"]["note"]
    assert "simulator" not in rep  # timing=no
    qc = qasm3.loads(out.read_text())
    assert qc.num_qubits == 3
    w = np.asarray(params["qtcn"], np.float64)
    angles = [float(i.operation.params[0]) for i in qc.data if i.operation.name == "ry"]
    np.testing.assert_allclose(angles[3:6], w[0], rtol=1e-6)  # after the 3 encoding RYs


def test_target_without_surrogates_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "plain.qgl"
    path.write_text("var x: MW >= 0\nminimize c: x * 1 $/MW\n")
    with pytest.raises(UsageError, match="has none"):
        _compile(path)


def test_target_option_errors(tmp_path: Path) -> None:
    path = _model(tmp_path)
    with pytest.raises(UsageError, match="no surrogate 'eq'") as info:
        _compile(path, surrogate="eq")
    assert "ec" in (info.value.hint or "")
    with pytest.raises(UsageError, match="has no circuit 'nope'"):
        _compile(path, circuit="nope")
    with pytest.raises(UsageError, match="yes or no"):
        _compile(path, timing="maybe")


def test_classical_surrogate_reported_but_not_exported(tmp_path: Path) -> None:
    path = _model(tmp_path, "tiny(hidden = 2)")
    compiled = _compile(path)
    assert compiled.report["circuits"].startswith("none: a classical ansatz")
    assert compiled.report["parameters"]["total"] == 2 * 4 * (1 + 2 + 1) + 3
    with pytest.raises(UsageError, match="classical ansatz"):
        _compile(path, tmp_path / "c.qasm")
    assert not (tmp_path / "c.qasm").exists()


def test_trained_artifact_weights_are_exported(tmp_path: Path) -> None:
    from qgridlang.errors import QglError
    from qgridlang.surrogates.artifact import load_artifact
    from qgridlang.surrogates.fit import train_declared

    rng = np.random.default_rng(0)
    x = rng.uniform(40, 120, (60, 6))
    np.savez(tmp_path / "d.npz", price=x, response=0.5 - 0.003 * x)
    path = _model(tmp_path, "qtcn(qubits = 3, layers = 2)")
    train_declared(path, "ec", tmp_path / "ec.qgls")
    out = tmp_path / "c.qasm"
    compiled = _compile(path, out)  # the declaration's trained = "ec.qgls" exists
    assert compiled.report["weights"] == f"trained: {tmp_path / 'ec.qgls'}"
    art = load_artifact(tmp_path / "ec.qgls", checked_read=False)
    text = out.read_text()
    assert all(repr(float(w)) in text for w in np.asarray(art.params["qtcn"]).ravel())
    initial = build("qtcn", 6, qubits=3, layers=2).init(jax.random.PRNGKey(3))
    assert not np.allclose(np.asarray(art.params["qtcn"]), np.asarray(initial["qtcn"]))
    # --option trained=FILE names it explicitly; a changed declaration refuses it
    (tmp_path / "other").mkdir()
    changed = _model(tmp_path / "other", "qtcn(qubits = 3, layers = 1)")
    with pytest.raises(QglError, match="changed since"):
        _compile(changed, trained=str(tmp_path / "ec.qgls"))


def test_several_surrogates_need_a_choice_to_export(tmp_path: Path) -> None:
    second = ("surrogate ed: price[T]: $/MWh -> p_ex[T]: MW {\n"
              "  ansatz = qtcn(qubits = 2, layers = 1)\n  data = \"d.npz\"; seed = 4\n}\n")
    path = _model(tmp_path, extra=second)
    compiled = _compile(path)
    assert {k.split(":")[0] for k in compiled.report} == {"ec", "ed"}
    with pytest.raises(UsageError, match="choose the one"):
        _compile(path, tmp_path / "c.qasm")
    compiled = _compile(path, tmp_path / "c.qasm", surrogate="ed")
    assert compiled.report["weights"].startswith("initial, seeded (seed 4)")
    assert (tmp_path / "c.qasm").exists()


# ---- the CLI as a real process ---------------------------------------------------------------
def _qglc(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qgridlang", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_cli_compile_vqc(tmp_path: Path) -> None:
    _model(tmp_path)
    proc = _qglc("compile", "m.qgl", "--target", "vqc", "-o", "c.qasm", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    assert payload["target"] == "vqc" and payload["output"] == "c.qasm"
    rep = payload["report"]
    ansatz = build("qtcn_lstm", 6, qubits=3, layers=2, hidden=2, recurrent_layers=2)
    assert rep["parameters"]["total"] == count_parameters(_params(ansatz)) == 49
    assert rep["qubits"] == 4
    sim = rep["simulator"]  # timing is on by default
    assert sim["per prediction"].endswith("s") and "measured" in sim["note"]
    assert (tmp_path / "c.qasm").read_text().splitlines()[3] == "OPENQASM 3.0;"

    (tmp_path / "plain.qgl").write_text("var x: MW >= 0\nminimize c: x * 1 $/MW\n")
    proc = _qglc("compile", "plain.qgl", "--target", "vqc", cwd=tmp_path)
    assert proc.returncode == 2
    assert "surrogate declarations, and this model has none" in proc.stderr
    assert "Traceback" not in proc.stderr
