"""Repair of decoded QUBO samples (``--option repair=N``): the nearest feasible grid point, always
feasible, always marked, and the raw sampler's numbers kept beside it."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qgridlang.checker import check_text
from qgridlang.compilers import qubo
from qgridlang.compilers.qubo_repair import nearest_feasible
from qgridlang.dispatcher import compile_model, solve_model
from qgridlang.errors import UsageError
from qgridlang.registry import Options
from tests.test_qubo_agreement import KNAPSACK, UNIT_COMMITMENT


def _grid(inverse: qubo.QuboInverse) -> np.ndarray:
    regs = inverse.columns
    ks = itertools.product(*(range(int(k) + 1) for k in regs.kmax))
    return np.asarray([regs.offset + regs.step * np.asarray(k) for k in ks])


@pytest.mark.parametrize("text", [UNIT_COMMITMENT, KNAPSACK])
def test_nearest_feasible_is_feasible_and_nearest(text: str) -> None:
    """Against brute force over the whole grid: the repaired point is feasible and no feasible
    grid point is fewer register steps away."""
    checked = check_text(text, "m.qgl")
    flat = checked.flat
    inverse = compile_model(checked, "qubo").inverse
    grid = _grid(inverse)
    feasible = np.asarray([not flat.violations(x) for x in grid])
    step = inverse.columns.step
    rng = np.random.default_rng(0)
    for x_hat in grid[rng.choice(np.flatnonzero(~feasible), 8, replace=False)]:
        rep = nearest_feasible(flat, inverse, x_hat)
        assert rep.x is not None and not flat.violations(rep.x)
        best = np.abs((grid[feasible] - x_hat) / step).sum(axis=1).min()
        assert rep.steps == pytest.approx(best)
        assert rep.steps == pytest.approx(np.abs((rep.x - x_hat) / step).sum())
        assert rep.columns == np.count_nonzero(np.abs(rep.x - x_hat) > 1e-9)


def test_a_feasible_point_is_left_where_it_is() -> None:
    checked = check_text(UNIT_COMMITMENT, "uc.qgl")
    inverse = compile_model(checked, "qubo").inverse
    x = next(g for g in _grid(inverse) if not checked.flat.violations(g))
    rep = nearest_feasible(checked.flat, inverse, x)
    assert rep.steps == 0 and np.allclose(rep.x, x)


def test_random_samples_repaired_are_feasible_and_marked() -> None:
    checked = check_text(UNIT_COMMITMENT, "uc.qgl")
    raw = solve_model(checked, "random", Options(seed=3, reads=6))
    fixed = solve_model(checked, "random", Options(seed=3, reads=6, extra={"repair": 4}))
    assert fixed.feasible
    rep = fixed.info["repair"]
    assert rep["tried"] == min(4, rep["tried"]) and rep["repaired"] >= 1 and rep["failed"] == 0
    # the raw sample set's summary is the unrepaired sampler's
    assert fixed.info["sampleset"]["feasible_rate"] == raw.info["sampleset"]["feasible_rate"]
    if rep["plan_repaired"]:
        assert "REPAIRED" in fixed.message
    else:  # a raw feasible sample was better than every repaired one
        assert raw.feasible and fixed.objective == raw.objective
    assert "repair" not in raw.info


def test_a_sampler_without_feasible_samples_gets_a_marked_feasible_plan() -> None:
    checked = check_text(UNIT_COMMITMENT, "uc.qgl")
    # one read of one sweep, hot: a feasible read is possible, so find a seed where none is
    for seed in range(1, 30):
        raw = solve_model(checked, "random", Options(seed=seed, reads=1))
        if not raw.feasible:
            break
    else:
        pytest.skip("every random read was feasible")
    fixed = solve_model(checked, "random", Options(seed=seed, reads=1, extra={"repair": 1}))
    assert fixed.feasible and fixed.status.value == "feasible"
    assert fixed.info["repair"]["plan_repaired"] is True
    assert "REPAIRED" in fixed.message
    assert fixed.info["sampleset"]["feasible_rate"] == 0.0


def test_repair_is_a_solve_option_and_is_validated(tmp_path: Path) -> None:
    checked = check_text(KNAPSACK, "k.qgl")
    with pytest.raises(UsageError, match="repair_time"):
        solve_model(checked, "random", Options(seed=1, extra={"repair": 2,
                                                              "repair_time": "soon"}))
    with pytest.raises(UsageError, match="applies when solving"):
        compile_model(checked, "qubo", Options(extra={"repair": 2}))


def test_cli_repair_json(tmp_path: Path) -> None:
    model = tmp_path / "uc.qgl"
    model.write_text(UNIT_COMMITMENT, encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "qgridlang", "solve", str(model), "--backend",
                          "random", "--seed", "1", "--reads", "2", "--option", "repair=2",
                          "--json"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["feasible"] is True
    assert out["info"]["repair"]["asked"] == 2
    assert out["info"]["repair"]["plan_repaired"] == ("REPAIRED" in out["message"])
