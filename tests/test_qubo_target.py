"""The ``qubo`` target and its sampler post-step: exports, options, errors, the sample-set
summary, penalty retuning and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import dimod
import numpy as np
import pytest
from qgl_models import KNAPSACK_WITH_COUNT

from qgridlang.checker import CheckedModel, check_file, check_text
from qgridlang.cli import main
from qgridlang.dispatcher import compile_model, solve_model
from qgridlang.errors import UnsupportedConstruct, UsageError
from qgridlang.registry import Options, get_target
from qgridlang.results import Status
from qgridlang.targets.feasibility import feasible_rows

TINY = KNAPSACK_WITH_COUNT


@pytest.fixture(scope="module")
def tiny() -> CheckedModel:
    return check_text(TINY)


def energies(bqm: dimod.BinaryQuadraticModel, bits: np.ndarray) -> np.ndarray:
    return np.asarray(bqm.energies((bits, list(bqm.variables))))


@pytest.mark.parametrize("suffix", [".bqm.json", ".coo", ".lp"])
def test_exports(tiny: CheckedModel, tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"m{suffix}"
    compiled = compile_model(tiny, "qubo", output=out)
    text = out.read_text()
    assert "export" in compiled.timings and compiled.report["n_bits"] == 10
    if suffix == ".bqm.json":
        back = dimod.BinaryQuadraticModel.from_serializable(json.loads(text))
        every = np.array(list(np.ndindex(*[2] * 10)))
        np.testing.assert_allclose(energies(back, every), energies(compiled.artifact, every))
    else:
        assert text.startswith(("# qgridlang QUBO", "\\ qgridlang QUBO"))


def test_export_refuses_other_suffixes(tiny: CheckedModel, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="writes .json, .coo or .lp"):
        compile_model(tiny, "qubo", output=tmp_path / "m.mps")


def test_real_without_step_points_at_the_declaration() -> None:
    text = TINY + "var p: MW in 0 .. 30\nconstraint cap_p: p <= 20 MW * x[1]\n"
    with pytest.raises(UnsupportedConstruct) as err:
        compile_model(check_text(text), "qubo")
    assert err.value.span is not None and err.value.span.line == 11  # the `var p` line
    assert "encode p as integer(step = … MW)" in err.value.message


def test_options_reach_the_lowering(tiny: CheckedModel) -> None:
    slack = compile_model(tiny, "qubo").report
    unbalanced = compile_model(tiny, "qubo", Options(extra={"inequality": "unbalanced"})).report
    assert unbalanced["inequality"] == "unbalanced" and unbalanced["slack_bits"] == {}
    assert unbalanced["n_bits"] == slack["n_bits"] - slack["slack_bits"]["capacity"]
    margin = compile_model(tiny, "qubo", Options(extra={"penalty_margin": 1.0})).report
    assert margin["penalties"]["link"]["weight"] == pytest.approx(
        2 / 1.1 * slack["penalties"]["link"]["weight"])
    scaled = compile_model(tiny, "qubo", Options(extra={"penalty_scale": 0.5})).report
    assert scaled["penalties"]["link"]["weight"] == pytest.approx(
        0.5 * slack["penalties"]["link"]["weight"])
    assert scaled["penalties"]["link"]["source"] == "override"
    for bad in ({"inequality": "slak"}, {"penalty_scale": 0}):
        with pytest.raises(UsageError):
            compile_model(tiny, "qubo", Options(extra=bad))


def test_feasibility_is_checked_against_the_model_rows(tiny: CheckedModel) -> None:
    compiled = compile_model(tiny, "qubo")
    bits = np.random.default_rng(0).integers(0, 2, size=(200, compiled.report["n_bits"]))
    x = np.array([get_target("qubo").invert(row, compiled.inverse) for row in bits])
    expected = [not tiny.flat.violations(row) for row in x]
    assert feasible_rows(tiny.flat, x).tolist() == expected and 0 < sum(expected) < 200


def test_summary_reports_the_first_feasible_read(tiny: CheckedModel) -> None:
    sol = solve_model(tiny, "random", Options(reads=50, seed=3))
    summary = sol.info["sampleset"]
    assert summary["samples"] == 50 and summary["first_feasible_read"] >= 1
    per_read = sol.info["sampler_seconds"] / 50
    assert summary["time_to_first_feasible_s"] == pytest.approx(
        per_read * summary["first_feasible_read"])
    assert "first_feasible_read" not in solve_model(tiny, "exact").info["sampleset"]


def test_sampler_options_are_passed_and_recorded(tiny: CheckedModel) -> None:
    sa = solve_model(tiny, "sa", Options(reads=7, sweeps=50, seed=1, time_limit=5.0)).info
    assert (sa["num_reads"], sa["num_sweeps"], sa["seed"]) == (7, 50, 1)
    assert sa["sampleset"]["samples"] == 7
    tabu = solve_model(tiny, "tabu", Options(seed=1, time_limit=0.1,
                                             extra={"reads": 4})).info
    assert (tabu["num_reads"], tabu["timeout"]) == (4, 25)


def test_weak_penalties_fail_then_retuning_restores_feasibility(tiny: CheckedModel) -> None:
    weak = {"penalty_scale": 1e-3}
    sol = solve_model(tiny, "exact", Options(extra=weak))
    assert sol.status == Status.ERROR and not sol.feasible and "penalty_retune" in sol.message
    sol = solve_model(tiny, "exact", Options(extra={**weak, "penalty_retune": 5,
                                                    "penalty_factor": 10.0}))
    rounds = sol.info["penalty_retune"]
    assert sol.feasible and sol.status == Status.FEASIBLE and 1 <= len(rounds) <= 5
    assert rounds[-1]["feasible_rate"] > 0 and rounds[0]["weights"]
    first = rounds[0]["weights"]
    assert any(first[n] > rounds[-1]["weights"][n] / 10.0 ** len(rounds) for n in first)


def test_an_infeasible_model_is_reported_by_exact() -> None:
    sol = solve_model(check_text(TINY.replace("<= 9", ">= 30")), "exact")
    assert sol.status == Status.INFEASIBLE and not sol.feasible


def test_cli_compile_and_solve(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "tiny.qgl"
    model.write_text(TINY)
    out = tmp_path / "tiny.bqm.json"
    assert main(["compile", str(model), "-t", "qubo", "-o", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["report"]["n_bits"] == 10 and {"parse", "check", "lower"} <= set(
        report["timings"])
    assert out.exists()
    assert main(["solve", str(model), "-b", "sa", "--seed", "2", "--option", "reads=30",
                 "--json"]) == 0
    sol = json.loads(capsys.readouterr().out)
    assert sol["feasible"] and sol["info"]["sampleset"]["samples"] == 30
    assert check_file(model).flat.n == 5


def test_sa_refuses_seeds_its_sampler_cannot_take() -> None:
    """dwave-samplers' SA takes seeds below 2^31; `Options` accepts up to 2^32 - 1. A larger
    seed used to be an internal error (exit 70); now it is a usage error (exit 2)."""
    import subprocess
    import sys

    model = Path(__file__).resolve().parent.parent / "examples" / "microgrid_qubo" / \
        "microgrid_qubo.qgl"
    run = subprocess.run([sys.executable, "-m", "qgridlang", "solve", str(model), "--backend",
                          "sa", "--seed", "3000000000", "--option", "reads=2"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "seeds from 0 to 2147483647" in run.stderr
