"""Beasley's QUBO instances (OR-Library via BiqMac) written as qgl models reach their known optima
with `sa`. The eleven instances are copied into tests/data/beasley so that a clean checkout runs
them."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from qgridlang.checker import check_file
from qgridlang.dispatcher import solve_model
from qgridlang.registry import Options

ROOT = Path(__file__).resolve().parent.parent
FOLDER = Path(__file__).resolve().parent / "data" / "beasley"
INSTANCES = [f"bqp50-{k}" for k in range(1, 11)] + ["bqp100-1"]

def load_beasley() -> ModuleType:
    spec = importlib.util.spec_from_file_location("beasley", ROOT / "benchmarks" / "beasley.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def beasley() -> ModuleType:
    return load_beasley()


def test_model_objective_is_x_q_x(beasley: ModuleType, tmp_path: Path) -> None:
    """The qgl objective equals x'Qx with Q symmetric from the listed (i <= j) entries."""
    n, rows = beasley.read_sparse(FOLDER / "bqp50-1.sparse")
    q = np.zeros((n, n))
    q[rows[:, 0] - 1, rows[:, 1] - 1] = rows[:, 2]
    q = q + q.T - np.diag(np.diag(q))
    flat = check_file(beasley.write_model("bqp50-1", tmp_path, FOLDER)).flat
    x = np.random.default_rng(1).integers(0, 2, size=(5, n)).astype(float)
    assert [flat.objective_value(row) for row in x] == pytest.approx(
        np.einsum("si,ij,sj->s", x, q, x).tolist())


@pytest.mark.parametrize("label", INSTANCES)
def test_sa_reaches_the_known_optimum(beasley: ModuleType, tmp_path: Path, label: str) -> None:
    checked = check_file(beasley.write_model(label, tmp_path, FOLDER))
    sol = solve_model(checked, "sa", Options(reads=20, sweeps=500, seed=1))
    assert sol.feasible and sol.objective == beasley.optimal_energies(FOLDER)[label]
