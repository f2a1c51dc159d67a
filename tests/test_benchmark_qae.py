"""benchmarks/qae.py at tiny sizes: the loss grid, one Table I row against its own arithmetic,
resumability, Monte Carlo errors, slope fits and the plot (the full runs are not CI)."""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_qae", ROOT / "benchmarks" / "qae.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_qae"] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def test_grid_is_the_truncated_discretised_normal(bench: ModuleType) -> None:
    from scipy.stats import norm

    cost = bench.DailyCost()
    probs, values, facts = cost.grid(4)
    assert len(probs) == 16 and abs(probs.sum() - 1.0) < 1e-12
    assert np.all(np.diff(values) > 0)
    s, mu = cost.sigma, cost.mu
    assert mu > 0 and s > 0
    inside = norm.cdf(3 * s, mu, s) - norm.cdf(-3 * s, mu, s)
    assert facts["truncated_mass"] == pytest.approx(1 - inside, rel=1e-9)
    assert facts["e_exact"] == pytest.approx(float(probs @ values))
    assert values[0] == pytest.approx(cost.plan_cost - 3 * s + facts["bin_width"] / 2)
    # midpoints of equal bins: the discretised mean converges to the truncated normal's
    errs = [abs(cost.grid(n)[2]["e_exact"] - facts["e_continuous"]) for n in (3, 5, 7)]
    assert errs[0] > errs[1] > errs[2]
    # the centred case is symmetric on its window: E[f] = 1/2 exactly
    p, v, _ = bench.DailyCost(centred=True).grid(4)
    f = (v - v[0]) / (v[-1] - v[0])
    assert float(p @ f) == pytest.approx(0.5, abs=1e-12)


def test_table1_row_matches_its_own_arithmetic(bench: ModuleType) -> None:
    from qgridlang.backends.qae import grid_value

    row = bench.measure_row(3, 4, "exact", False, "oracle")
    assert row["estimate"] == pytest.approx(grid_value(row["amplitude"], 4), abs=1e-12)
    assert row["amplitude_simulated"] == pytest.approx(row["amplitude"], abs=1e-9)
    e_hat = row["e_estimate"]
    assert row["error_pct"] == pytest.approx(abs(e_hat - row["e_exact"]) / row["e_exact"] * 100)
    assert row["ci"][0] <= row["amplitude"] <= row["ci"][1]
    assert row["oracle_queries"] == 15 and row["a_applications"] == 31
    assert row["two_qubit_A"] > 0 and row["depth_A"] > 0
    centred = bench.measure_row(3, 3, "exact", True, "oracle")
    assert centred["error_pct"] < 1e-9  # a = 1/2 is a grid point of canonical AE


def test_table1_saves_rows_and_skips_them_on_rerun(bench: ModuleType, tmp_path: Path) -> None:
    out = tmp_path / "t1.json"
    args = argparse.Namespace(n=[3, 3], payoffs=["exact"], budget=60.0, fixed=6, sweeps=False,
                              circuit=False, centred=False, force=False, out=out)
    lines: list[str] = []
    bench.table1(args, log=lines.append)
    doc = json.loads(out.read_text())
    (row,) = doc["rows"].values()
    assert row["status"] == "ok" and row["n"] == 3 and len(lines) == 1
    bench.table1(args, log=lines.append)
    assert len(lines) == 1  # nothing ran again
    assert json.loads(out.read_text())["rows"] == doc["rows"]


def test_extrapolation_and_monte_carlo(bench: ModuleType) -> None:
    assert bench.extrapolate([(5, 1.0), (6, 4.0)], 8) == pytest.approx(64.0)
    assert bench.extrapolate([(5, 1.0)], 8) is None
    probs, values, facts = bench.DailyCost().grid(4)
    few = np.median(bench.mc_errors(probs, values, facts["e_exact"], 10, list(range(9))))
    many = np.median(bench.mc_errors(probs, values, facts["e_exact"], 10_000, list(range(9))))
    assert many < few


def test_fits_recover_slopes_and_plot_is_written(bench: ModuleType, tmp_path: Path) -> None:
    xs = [10, 100, 1000, 10_000]
    points = {f"ae {x}": {"series": "ae", "status": "ok", "a_applications": x,
                          "error_pct": 3.0 / x} for x in xs}
    points.update({f"mc {x}": {"series": "mc", "status": "ok", "a_applications": x,
                               "error_pct": 2.0 / math.sqrt(x)} for x in xs})
    doc: dict[str, Any] = {"setting": {"e_exact": 100.0, "loader_qubits": 3},
                           "points": points}
    doc["fits"] = bench.fits(doc)
    assert doc["fits"]["ae"]["slope"] == pytest.approx(-1.0)
    assert doc["fits"]["mc"]["slope"] == pytest.approx(-0.5)
    png = tmp_path / "p.png"
    bench.plot(doc, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cost_point_counts_a_applications(bench: ModuleType) -> None:
    from qgridlang.backends.qae import estimate_amplitude
    from qgridlang.compilers.qae import expectation_oracle

    ae = bench.cost_point("ae", {"eval_qubits": 3}, 3, [0], 30.0)
    assert ae["a_applications"] == 15 and ae["oracle_queries"] == 7
    # the mode of the exact distribution is the runner's own canonical-AE estimate
    grid, _ = bench.loss_grid(bench.DailyCost(), 3)
    res = estimate_amplitude(expectation_oracle(grid, "exact"), "ae", eval_qubits=3,
                             options={"engine": "analytic"})
    assert ae["estimate"] == pytest.approx(res.estimate, abs=1e-12)
    mlae = bench.cost_point("mlae", {"eval_qubits": 2, "shots": 10}, 3, [0], 30.0)
    # powers 0 and 1: 10 shots x (1 + 3) applications of A
    assert mlae["a_applications"] == 40 and mlae["oracle_queries_each"] == [10]
