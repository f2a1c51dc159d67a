"""Progress of long work goes to stderr, with --verbose (or a terminal), never to stdout:
outer-approximation rounds, sampling, penalty-retune rounds, QAOA evaluations. Real processes,
so that stdout is checked to hold nothing but the JSON document."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from qgl_models import DISPATCH, KNAPSACK_WITH_COUNT


def solve(model: Path, *args: str) -> tuple[dict[str, object], list[str]]:
    out = subprocess.run([sys.executable, "-m", "qgridlang.cli", "solve", str(model), "--json",
                          *args], capture_output=True, text=True, timeout=600)
    doc = json.loads(out.stdout)  # stdout is the document alone
    return doc, out.stderr.splitlines()


@pytest.fixture()
def dispatch(tmp_path: Path) -> Path:
    path = tmp_path / "dispatch.qgl"
    path.write_text(DISPATCH, encoding="utf-8")
    return path


def test_outer_approximation_rounds(dispatch: Path) -> None:
    doc, err = solve(dispatch, "--verbose")
    rounds = [line for line in err if line.startswith("highs: outer approximation round")]
    info = doc["info"]
    assert isinstance(info, dict)
    assert len(rounds) == info["outer_approximation_rounds"] >= 1
    assert "gap" in rounds[-1] and "cuts" in rounds[-1]


def test_nothing_without_verbose_when_stderr_is_not_a_terminal(dispatch: Path) -> None:
    doc, err = solve(dispatch)
    assert doc["status"] == "optimal"
    assert not [line for line in err if line.startswith("highs:")]


def test_sampling_start_and_finish(tmp_path: Path) -> None:
    model = tmp_path / "tiny.qgl"
    model.write_text(KNAPSACK_WITH_COUNT, encoding="utf-8")
    doc, err = solve(model, "--backend", "sa", "--reads", "30", "--seed", "1", "--verbose")
    assert doc["status"] == "feasible"
    assert "sa: sampling 30 reads of" in err[0]
    assert any(line.startswith("sa: 30 reads in") and "lowest energy" in line for line in err)


def test_penalty_retune_rounds(tmp_path: Path) -> None:
    model = tmp_path / "tiny.qgl"
    model.write_text(KNAPSACK_WITH_COUNT, encoding="utf-8")
    doc, err = solve(model, "--backend", "exact", "--option", "penalty_scale=0.001",
                     "--option", "penalty_factor=10", "--penalty-retune", "5", "--verbose")
    info = doc["info"]
    assert isinstance(info, dict)
    rounds = [line for line in err if line.startswith("retune: round")]
    assert len(rounds) == len(info["penalty_retune"]) >= 1
    assert "feasible rate" in rounds[-1]


def test_qaoa_evaluations(tmp_path: Path) -> None:
    model = tmp_path / "tiny.qgl"
    model.write_text(KNAPSACK_WITH_COUNT, encoding="utf-8")
    doc, err = solve(model, "--backend", "qaoa", "--option", "maxiter=20", "--option",
                     "engine=numpy", "--reads", "64", "--seed", "1", "--verbose")
    assert doc["backend"] == "qaoa"
    assert [line for line in err if line.startswith("qaoa: evaluation 10:")]
    assert [line for line in err if line.startswith("qaoa: depth p=1:")]
