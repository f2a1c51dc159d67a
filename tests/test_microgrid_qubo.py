"""The QUBO-sized microgrid example: `sa` returns a feasible plan; its gap to the MILP optimum of
the same discrete model is recorded (61.9 % with the defaults below, see docs/QUBO.md)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def load_compare() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "microgrid_qubo_compare", ROOT / "examples" / "microgrid_qubo" / "compare.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sa_plan_is_feasible_and_its_gap_is_recorded(
        record_property: pytest.RecordProperty) -> None:
    out = load_compare().compare("sa", reads=100, sweeps=1000, seed=1)
    record_property("sa_gap", out["gap"])
    assert 200 <= out["binaries"] <= 400 and out["feasible"] and not out["violations"]
    assert out["milp_objective"] == pytest.approx(283.0)
    assert 0.0 <= out["gap"] < 1.0  # the MILP optimum bounds every feasible plan from below
