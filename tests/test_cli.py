"""qglc: verbs, exit statuses, --json schema, --set, targets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from qgl_models import KNAPSACK_WITH_COUNT

from qgridlang.cli import main

MODEL = """model tiny
time T = 1..2 step 1 h
set G = {u1, u2}
param cap: MW = 100
param demand[T]: MW = {1: 120, 2: 80}
param price[G]: $/MWh = {u1: 10, u2: 20}
var p[g in G, t in T]: MW in 0 .. cap
constraint balance[t in T]: sum(g in G) p[g, t] == demand[t]
minimize cost: sum(g in G, t in T) price[g] * p[g, t] * dt
"""


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.qgl"
    path.write_text(MODEL)
    return path


def test_solve_json_schema(model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["solve", str(model), "--backend", "highs", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("status", "objective", "objective_unit", "backend", "target", "feasible",
                "violations", "variables", "expressions", "timings"):
        assert key in out
    assert out["objective"] == pytest.approx(10 * 100 + 20 * 20 + 10 * 80)
    assert out["objective_unit"] == "$"
    assert out["variables"]["p"] == {"unit": "MW", "index": ["G", "T"], "values": {
        "u1": {"1": 100.0, "2": 80.0}, "u2": {"1": 20.0, "2": 0.0}}}
    assert set(out["timings"]) >= {"parse", "check", "lower", "solve"}
    assert out["duals"]["balance"]["unit"] == "$/MW"
    assert out["duals"]["balance"]["values"]["1"] == pytest.approx(20.0)


def test_set_overrides_scalar_with_units(model: Path, capsys: pytest.CaptureFixture[str]
                                         ) -> None:
    assert main(["solve", str(model), "--json", "--set", "cap=0.15 GW"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["variables"]["p"]["values"]["u1"]["1"] == pytest.approx(120.0)
    assert main(["solve", str(model), "--set", "cap=5 MWh"]) == 1
    assert "incompatible" in capsys.readouterr().err
    assert main(["solve", str(model), "--set", "cpa=5"]) == 2  # a usage error
    assert "did you mean 'cap'" in capsys.readouterr().err


def test_human_output_and_infeasible_exit(model: Path, capsys: pytest.CaptureFixture[str]
                                          ) -> None:
    assert main(["solve", str(model)]) == 0
    text = capsys.readouterr().out
    assert "optimal" in text and "2,200 $" in text
    assert main(["solve", str(model), "--set", "cap=10 MW"]) == 1
    assert "infeasible" in capsys.readouterr().out


def test_usage_errors_exit_2(model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["solve", str(model), "--backend", "higs"]) == 2
    assert "did you mean 'highs'" in capsys.readouterr().err
    assert main(["compile", str(model), "--target", "milp", "-o", "x.txt"]) == 2
    assert main(["check", "/nonexistent.qgl"]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2


def test_compile_writes_lp_and_reports(model: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "m.mps"
    assert main(["compile", str(model), "--target", "milp", "-o", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["report"]["columns"] == 4 and out.is_file()
    assert {"parse", "check", "lower", "export"} <= set(report["timings"])


def test_targets_lists_availability(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["targets"]) == 0
    text = capsys.readouterr().out
    assert "milp" in text and "highs" in text and "yes" in text


def test_check_ok_and_json(model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(model)]) == 0
    assert "ok" in capsys.readouterr().out
    assert main(["check", str(model), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)  # one document for every file checked
    ir = doc["files"][0]["model"]
    assert doc["status"] == "ok" and ir["name"] == "tiny" and ir["objective"]["unit"] == "$"


def test_sampler_flags_reach_the_backend(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    model = Path(__file__).resolve().parent.parent / "examples/coalition/bipartition.qgl"
    code = main(["solve", str(model), "--backend", "sa", "--reads", "7", "--sweeps", "50",
                 "--seed", "3", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["backend"] == "sa" and out["feasible"]
    assert out["info"]["sampleset"]["samples"] == 7
    assert out["info"]["num_sweeps"] == 50 and out["info"]["seed"] == 3
    # --penalty-retune: penalties scaled far below their bound leave no sample feasible until
    # the loop raises the weights of the broken constraints
    tiny = tmp_path / "tiny.qgl"
    tiny.write_text(KNAPSACK_WITH_COUNT, encoding="utf-8")
    weak = ["solve", str(tiny), "--backend", "exact", "--option", "penalty_scale=0.001",
            "--option", "penalty_factor=10", "--json"]
    assert main(weak) == 1 and not json.loads(capsys.readouterr().out)["feasible"]
    assert main([*weak, "--penalty-retune", "5"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["feasible"] and 1 <= len(out["info"]["penalty_retune"]) <= 5
