"""Coalition formation: generator, exact clique-partitioning MILP, GCS-Q strategy."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from qgridlang.checker import check_file
from qgridlang.cli import main
from qgridlang.dispatcher import solve_model
from qgridlang.strategies.gcsq import gcsq, generate, read_weights, structure_value

ROOT = Path(__file__).resolve().parent.parent


def _partitions(items: list[str]) -> Iterator[list[list[str]]]:
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for part in _partitions(rest):
        for k in range(len(part)):
            yield part[:k] + [[first, *part[k]]] + part[k + 1:]
        yield [[first], *part]


@pytest.fixture
def instance(tmp_path: Path) -> Path:
    for name in ("bipartition.qgl", "partition_milp.qgl"):
        shutil.copy(ROOT / "examples/coalition" / name, tmp_path / name)
    generate(tmp_path / "data", 7, sigma=1.0, seed=11)
    return tmp_path


def test_generator_is_seeded_and_symmetric(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", 6, 2.0, 3)
    b = generate(tmp_path / "b", 6, 2.0, 3)
    assert np.array_equal(a, b) and np.allclose(a, a.T) and np.all(np.diag(a) == 0)
    labels, w = read_weights(tmp_path / "a")
    assert len(labels) == 6 and np.allclose(w, np.round(a, 6))
    assert np.std(a[np.triu_indices(6, 1)]) > 0.5


def test_exact_milp_equals_enumeration_of_all_partitions(instance: Path) -> None:
    labels, w = read_weights(instance / "data")
    best = max(structure_value(p, labels, w) for p in _partitions(labels))  # Bell(7) = 877
    sol = solve_model(check_file(instance / "partition_milp.qgl"), "highs")
    assert sol.objective == pytest.approx(best, abs=1e-6)


@pytest.mark.parametrize("backend", ["highs", "exact", "sa"])
def test_gcsq_splits_only_when_value_increases(instance: Path, backend: str) -> None:
    labels, w = read_weights(instance / "data")
    res = gcsq(instance / "bipartition.qgl", backend)
    members = sorted(a for c in res.coalitions for a in c)
    assert members == sorted(labels)  # a partition of the agents
    value = structure_value(res.coalitions, labels, w)
    assert value == pytest.approx(structure_value([labels], labels, w) + res.gain)
    exact = solve_model(check_file(instance / "partition_milp.qgl"), "highs").objective
    assert value <= exact + 1e-9
    assert value >= structure_value([labels], labels, w)  # never worse than no split
    accepted = [d for d in res.details if d["cut"] < 0]
    assert len(accepted) == len(res.coalitions) - 1


def test_cli_strategy_json(instance: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["solve", str(instance / "bipartition.qgl"), "--strategy", "gcsq",
                 "--backend", "highs", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["strategy"] == "gcsq" and out["solves"] >= 1
    assert sum(len(c) for c in out["coalitions"]) == 7


def test_benchmark_tasks_and_summary() -> None:
    """benchmarks/coalition.py's task and summary on one small instance (the full run is not CI)."""
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "coalition.py"
    spec = importlib.util.spec_from_file_location("coalition_bench", path)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rows = [bench.run_task(6, 1, m, 1.0, 30.0, 50) for m in ("exact-milp", "gcsq-sa", "gcsq-tabu")]
    assert rows[0]["optimal"] and all("error" not in r for r in rows)
    summary = {s["method"]: s for s in bench.summarise(rows)}
    assert summary["exact-milp"]["quality"] == pytest.approx(1.0)
    assert 0.0 < summary["gcsq-sa"]["quality"] <= 1.0 + 1e-9
    assert summary["gcsq-tabu"]["runs"] == 1
