"""D-Wave: the ``dwave`` backend on dwave-system's MockDWaveSampler (the QPU code path offline),
the ``dwave`` pre-flight target, embedding files and cache, the ``cqm`` target, and the clear
errors without Leap credentials."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import qgridlang as qg
import qgridlang.backends.dwave as dw  # registers dwave, hybrid, hybrid_cqm
import qgridlang.compilers.cqm as cqm_pass
import qgridlang.targets.cqm  # noqa: F401  (registers the cqm target)
import qgridlang.targets.dwave as td  # registers the dwave target
from qgridlang import cli
from qgridlang.errors import BackendError, QglErrors, UsageError

TINY = """
model tiny_commit "Pick units to cover a 5 MW load at least cost"
set G = {g1, g2, g3, g4, g5, g6}
param cap[G]: MW = {g1: 1, g2: 2, g3: 3, g4: 1, g5: 2, g6: 3}
param cost[G] = {g1: 4, g2: 5, g3: 9, g4: 3, g5: 7, g6: 8}
var on[G] binary
constraint cover: sum(g in G) cap[g] * on[g] >= 5 MW
constraint few: sum(g in G) on[g] <= 3
minimize total: sum(g in G) cost[g] * on[g] + 2 * on[g1] * on[g2] + 3 * on[g3] * on[g6]
"""

DENSE = """
model dense6 "Every pair interacts: the QUBO graph is K6"
set N = {a, b, c, d, e, f}
var x[N] binary
minimize energy: sum(i in N, j in N where ord(i) < ord(j)) x[i] * x[j] - sum(i in N) x[i]
"""

MIXED = """
model mixed "Integers, a ranged row, an equality and a maximised quadratic objective"
set K = {k1, k2, k3}
param value[K] = {k1: 3, k2: 2, k3: 4}
var n[K] integer in 0 .. 4
var pick[K] binary
var spare real in 0 .. 10
constraint budget: 2 <= sum(k in K) n[k] <= 6
constraint link[k in K]: n[k] <= 4 * pick[k]
constraint one_off: sum(k in K) pick[k] == 2
constraint slack_def: spare == 6 - sum(k in K) n[k]
maximize worth: sum(k in K) value[k] * n[k] - pick[k3] + 0.1 * spare
  - 0.5 * (n[k1] * n[k1] + n[k1] * n[k2] + n[k2] * n[k2])
"""

REAL_PRODUCT = """
model realprod "A real variable squared"
var p real in 0 .. 5
constraint low: p >= 1
minimize cost: p * p
"""


@pytest.fixture(scope="module")
def tiny() -> object:
    return qg.check(TINY)


@pytest.fixture(scope="module")
def tiny_optimum(tiny: object) -> float:
    sol = qg.solve(tiny, backend="highs")
    assert sol.feasible
    return float(sol.objective)


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No token anywhere the vendor's configuration looks."""
    for name in ("DWAVE_API_TOKEN", "DWAVE_PROFILE", "DWAVE_API_SOLVER"):
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path / "dwave.conf"
    empty.write_text("")
    monkeypatch.setenv("DWAVE_CONFIG_FILE", str(empty))


def test_mock_run_decodes_to_the_highs_optimum(tiny: object, tiny_optimum: float) -> None:
    sol = qg.solve(tiny, backend="dwave", mock=True, seed=7, reads=100)
    assert sol.feasible and sol.status.value == "feasible"
    assert sol.objective == pytest.approx(tiny_optimum)
    info = sol.info
    assert info["mock"] is True and info["sampler"] == "MockDWaveSampler"
    assert info["topology"]["kind"] == "pegasus" and info["topology"]["shape"] == [16]
    assert info["logical_qubits"] == sol.info["report"]["n_bits"] == 11
    assert info["physical_qubits"] >= info["logical_qubits"]
    assert info["max_chain_length"] >= 1
    assert 1.0 <= info["mean_chain_length"] <= info["max_chain_length"]
    assert 0.0 <= info["chain_break_fraction"] <= 1.0
    assert info["chain_strength"] > 0 and info["chain_strength_rule"] == \
        "uniform_torque_compensation"
    assert info["chain_break_method"] == "majority_vote"
    assert info["qpu_access_time_us"] > 0  # the mock's placeholder timing, flagged as such
    assert "placeholder" in info["qpu_timing_note"]
    assert info["sampleset"]["samples"] == 100 and info["sampleset"]["feasible_rate"] > 0
    json.dumps(sol.to_json())


def test_mock_run_is_reproducible_with_a_seed(tiny: object) -> None:
    runs = [qg.solve(tiny, backend="dwave", mock=True, seed=3, reads=20,
                     topology="zephyr4") for _ in range(2)]
    a, b = (r.info for r in runs)
    assert a["topology"]["kind"] == "zephyr"
    same = ("samples", "energy_min", "energy_mean", "feasible_rate", "first_feasible_read")
    assert {k: a["sampleset"][k] for k in same} == {k: b["sampleset"][k] for k in same}
    assert np.array_equal(runs[0].x, runs[1].x)
    assert a["physical_qubits"] == b["physical_qubits"]


def test_embedding_cache_round_trip(tiny: object, tiny_optimum: float, tmp_path: Path) -> None:
    opts = {"mock": True, "seed": 5, "reads": 50, "embedding_cache": str(tmp_path),
            "chain_strength": 600.0, "chain_break_method": "weighted_random"}
    first = qg.solve(tiny, backend="dwave", **opts)
    files = list(tmp_path.glob("*.json"))
    assert first.info["embedding_source"] == "cache miss (stored)" and len(files) == 1
    doc = json.loads(files[0].read_text())
    assert doc["format"] == dw.EMBEDDING_FORMAT
    assert doc["physical_qubits"] == first.info["physical_qubits"]
    second = qg.solve(tiny, backend="dwave", **opts)
    assert second.info["embedding_source"] == "cache hit"
    assert second.info["embedding_seconds"] == 0.0
    assert second.info["physical_qubits"] == first.info["physical_qubits"]
    assert second.info["chain_strength"] == 600.0 and second.info["chain_strength_rule"] == "fixed"
    assert second.info["chain_break_method"] == "weighted_random"
    assert second.feasible and second.objective >= tiny_optimum


def test_compile_exports_an_embedding_the_backend_reuses(tmp_path: Path) -> None:
    dense = qg.check(DENSE)
    out = tmp_path / "dense.embedding.json"
    compiled = qg.compile(dense, target="dwave", output=out, topology="chimera2", seed=3)
    rep = compiled.report
    assert rep["topology"]["name"] == "chimera2" and rep["topology"]["qubits"] == 32
    assert rep["logical_qubits"] == 6 and rep["physical_qubits"] > 6  # K6 needs chains
    doc = json.loads(out.read_text())
    assert doc["model"] == "dense6" and len(doc["embedding"]) == 6
    sol = qg.solve(dense, backend="dwave", mock=True, topology="chimera2", embedding=str(out),
                   seed=3, reads=30)
    assert sol.info["embedding_source"] == f"file {out}"
    assert sol.info["physical_qubits"] == rep["physical_qubits"]
    assert sol.feasible and sol.objective == pytest.approx(-1.0)
    with pytest.raises(UsageError, match="does not fit"):  # made for chimera2, not pegasus
        qg.solve(dense, backend="dwave", mock=True, embedding=str(out))


def test_no_embedding_is_refused_with_names_and_sizes() -> None:
    dense = qg.check(DENSE)  # K6 has no minor in one Chimera cell (K4,4)
    with pytest.raises(BackendError) as exc:
        qg.compile(dense, target="dwave", topology="chimera1", seed=1, embedding_tries=3)
    text = str(exc.value)
    assert "dense6" in text and "6 logical qubits" in text and "15 couplers" in text
    assert "chimera1 (8 qubits" in text and "hybrid" in (exc.value.hint or "")
    with pytest.raises(BackendError, match="no minor embedding"):  # the backend refuses too
        qg.solve(dense, backend="dwave", mock=True, topology="chimera1", seed=1,
                 embedding_tries=3)


def test_cli_compile_offline_reports_physical_qubits(
        no_credentials: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "tiny.qgl"
    path.write_text(TINY)
    emb = tmp_path / "m.embedding.json"
    code = cli.main(["compile", str(path), "--target", "dwave", "--json", "--seed", "2",
                     "-o", str(emb)])
    assert code == cli.EXIT_OK
    rep = json.loads(capsys.readouterr().out)["report"]
    assert rep["topology"]["name"] == "pegasus16"
    assert rep["topology"]["source"].startswith("offline default")
    assert rep["physical_qubits"] >= rep["logical_qubits"] == 11
    assert rep["max_chain_length"] >= 1 and rep["chain_strength"] > 0
    assert rep["unresolved_biases"] == rep["unresolved_qubo_terms"] == 0
    assert rep["warnings"] == []
    assert json.loads(emb.read_text())["physical_qubits"] == rep["physical_qubits"]


def test_precision_warning_on_a_wide_coefficient_range() -> None:
    wide = qg.check("""
model wide "A tiny term next to a huge one"
var x binary
var y binary
var z binary
minimize cost: 10000 * x * y - 5000 * x + 0.01 * z - 3000 * y * z
""")
    rep = qg.compile(wide, target="dwave", topology="pegasus6", seed=1).report
    # 0.01 z hides inside h_z = 0.005 - 750: no programmed bias is small, one QUBO term is
    assert rep["unresolved_qubo_terms"] == 1 and rep["unresolved_biases"] == 0
    assert rep["smallest_term_effect"] < td.RESOLUTION and rep["qubo_dynamic_range"] == 1e6
    assert len(rep["warnings"]) == 1 and "precision" in rep["warnings"][0]
    assert "hybrid" in rep["warnings"][0]


@pytest.mark.parametrize("backend", ["dwave", "hybrid", "hybrid_cqm"])
def test_leap_backends_need_credentials(no_credentials: None, tiny: object,
                                        backend: str) -> None:
    with pytest.raises(BackendError) as exc:
        qg.solve(tiny, backend=backend)
    assert "no Leap credentials" in str(exc.value) and backend in str(exc.value)
    hint = exc.value.hint or ""
    assert "DWAVE_API_TOKEN" in hint and "dwave config create" in hint
    assert ("mock=true" in hint) == (backend == "dwave")


def test_with_credentials_the_named_solver_is_opened(
        no_credentials: None, monkeypatch: pytest.MonkeyPatch, tiny: object) -> None:
    """The Leap branch (token configured, no mock): DWaveSampler(solver=NAME) is what runs and
    what the target embeds into; a mock stands in for Leap so no network is needed."""
    import dwave.system
    from dwave.system.testing import MockDWaveSampler

    opened: list[dict[str, object]] = []

    def fake_qpu(**kwargs: object) -> MockDWaveSampler:
        opened.append(kwargs)
        return MockDWaveSampler(topology_type="pegasus", topology_shape=[6],
                                parameter_warnings=False)

    monkeypatch.setenv("DWAVE_API_TOKEN", "not-a-real-token")
    monkeypatch.setattr(dwave.system, "DWaveSampler", fake_qpu)
    rep = qg.compile(tiny, target="dwave", solver="Advantage_test", seed=1).report
    assert rep["topology"]["qubits"] == dw.parse_topology("pegasus6").qubits
    sol = qg.solve(tiny, backend="dwave", solver="Advantage_test", seed=1, reads=50)
    assert opened == [{"solver": "Advantage_test"}] * 2
    assert sol.info["mock"] is False and sol.feasible
    assert "not-a-real-token" not in json.dumps(sol.to_json())


def test_hybrid_backends_run_the_leap_samplers(
        no_credentials: None, monkeypatch: pytest.MonkeyPatch, tiny: object,
        tiny_optimum: float) -> None:
    """Both hybrid code paths with dimod's exact solvers standing in for Leap."""
    import dimod
    import dwave.system

    calls: list[tuple[str, dict[str, object]]] = []

    class FakeBQM:
        def __init__(self, **config: object) -> None:
            calls.append(("bqm", config))

        def sample(self, bqm: dimod.BinaryQuadraticModel, **kw: object) -> dimod.SampleSet:
            calls.append(("bqm.sample", kw))
            return dimod.ExactSolver().sample(bqm).truncate(3)

    class FakeCQM:
        def __init__(self, **config: object) -> None:
            calls.append(("cqm", config))

        def sample_cqm(self, cqm: dimod.ConstrainedQuadraticModel,
                       **kw: object) -> dimod.SampleSet:
            calls.append(("cqm.sample", kw))
            return dimod.ExactCQMSolver().sample_cqm(cqm)

    monkeypatch.setenv("DWAVE_API_TOKEN", "not-a-real-token")
    monkeypatch.setattr(dwave.system, "LeapHybridBQMSampler", FakeBQM)
    monkeypatch.setattr(dwave.system, "LeapHybridCQMSampler", FakeCQM)
    bqm_run = qg.solve(tiny, backend="hybrid", time_limit=5)
    assert bqm_run.feasible and bqm_run.objective == pytest.approx(tiny_optimum)
    assert bqm_run.info["sampler"] == "LeapHybridBQMSampler"
    assert bqm_run.info["sampleset"]["samples"] == 3
    cqm_run = qg.solve(tiny, backend="hybrid_cqm", solver="hybrid_cqm_test")
    assert cqm_run.feasible and cqm_run.objective == pytest.approx(tiny_optimum)
    assert cqm_run.target == "cqm" and 0 < cqm_run.info["feasible_rate"] < 1
    summary = cqm_run.info["sampleset"]
    assert summary["samples"] == 64 and summary["objective"] == pytest.approx(tiny_optimum)
    assert summary["feasible_rate"] == pytest.approx(cqm_run.info["feasible_rate"])
    assert calls[:2] == [("bqm", {}), ("bqm.sample", {"label": "qgridlang", "time_limit": 5.0})]
    assert calls[2:] == [("cqm", {"solver": "hybrid_cqm_test"}),
                         ("cqm.sample", {"label": "qgridlang"})]


def test_cli_reports_missing_credentials_as_a_backend_error(
        no_credentials: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "tiny.qgl"
    path.write_text(TINY)
    assert cli.main(["solve", str(path), "--backend", "dwave"]) == cli.EXIT_BACKEND
    err = capsys.readouterr().err
    assert "DWAVE_API_TOKEN" in err and "Traceback" not in err


def test_bad_options_are_usage_errors(tiny: object) -> None:
    with pytest.raises(UsageError, match="did you mean 'majority_vote'"):
        qg.solve(tiny, backend="dwave", mock=True, chain_break_method="majority")
    with pytest.raises(UsageError, match="chain_strength"):
        qg.solve(tiny, backend="dwave", mock=True, chain_strength="strong")
    with pytest.raises(UsageError, match="unknown D-Wave topology"):
        qg.compile(tiny, target="dwave", topology="hexagon7")


def test_topologies() -> None:
    assert dw.parse_topology("zephyr").qubits == 4800  # Z12, t = 4 (Advantage2)
    assert dw.parse_topology("advantage").name == "pegasus16"
    assert dw.parse_topology("chimera2").couplers == 80
    p6 = dw.parse_topology("pegasus6")
    assert p6.key == dw.parse_topology("pegasus6").key != dw.parse_topology("pegasus7").key


@pytest.mark.parametrize("source", [TINY, MIXED], ids=["tiny", "mixed"])
def test_cqm_objective_equals_the_model_objective(source: str) -> None:
    checked = qg.check(source)
    flat = checked.flat
    model = cqm_pass.cqm(flat)
    assert list(model.variables) == list(range(flat.n))
    sign = 1.0 if flat.sense == "min" else -1.0
    optimum = qg.solve(checked, backend="highs").x  # a feasible point
    rng = np.random.default_rng(0)
    draws = rng.uniform(flat.lb, flat.ub, size=(40, flat.n))
    draws[:, flat.kind > 0] = np.round(draws[:, flat.kind > 0])
    for k, x in enumerate([optimum, *draws]):
        sample = {i: float(v) for i, v in enumerate(x)}
        assert model.objective.energy(sample) == pytest.approx(sign * flat.objective_value(x))
        feasible = model.check_feasible(sample, atol=1e-6)
        assert feasible == (not flat.violations(x)), k
        assert feasible or k  # the optimum is feasible in the CQM too


def test_cqm_target_report_exports_and_kinds(tmp_path: Path) -> None:
    checked = qg.check(MIXED)
    lp = tmp_path / "mixed.lp"
    rep = qg.compile(checked, target="cqm", output=lp).report
    assert rep["integer_variables"] == 3 and rep["binary_variables"] == 3
    assert rep["real_variables"] == 1
    assert rep["constraints"] == 2 + 3 + 1 + 1  # the ranged budget row is two constraints
    assert rep["equalities"] == 2 and rep["objective_sense"] == "min of -objective"
    text = lp.read_text()
    assert "budget (lower)" not in text and "budget_(lower)" in text and "link(k1)" in text
    qg.compile(checked, target="cqm", output=tmp_path / "mixed.cqm")
    assert (tmp_path / "mixed.cqm").stat().st_size > 0


def test_cqm_refuses_real_variables_in_products() -> None:
    with pytest.raises(QglErrors, match="'p' is real and appears in a product") as exc:
        cqm_pass.cqm(qg.check(REAL_PRODUCT).flat)
    assert exc.value.span is not None and "hybrid" in (exc.value.hint or "")
