"""benchmarks/qubo_quality.py: quick mode as a real process, resumable JSONL, summary from the
records, encoding variants, and methods that this checkout cannot run yet."""

from __future__ import annotations

import importlib.util
import json
import math
import statistics
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from qgl_models import PICK_TWO

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "qubo_quality.py"

TINY = PICK_TWO  # optimum 5 (a and b on, k = 0)


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("qubo_quality", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["qubo_quality"] = mod  # dataclasses resolve their annotations through it
    spec.loader.exec_module(mod)
    return mod


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _records(path: Path) -> list[dict[str, object]]:
    return [json.loads(ln) for ln in path.read_text(encoding="utf-8").splitlines() if ln]


def test_quick_mode_writes_resumes_and_summarises(tmp_path: Path, bench: ModuleType) -> None:
    model = tmp_path / "pick.qgl"
    model.write_text(TINY, encoding="utf-8")
    out = tmp_path / "q.jsonl"
    args = ["--quick", "--models", str(model), "--methods", "sa,steepest,sa_unary",
            "--seeds", "1-2", "--out", str(out)]
    first = _run(*args)
    recs = _records(out)
    milp = [r for r in recs if r["method"] == "milp"]
    runs = [r for r in recs if r["method"] != "milp"]
    assert len(milp) == 1 and milp[0]["objective"] == pytest.approx(5.0)
    assert sorted((r["method"], r["seed"]) for r in runs) == sorted(
        (m, s) for m in ("sa", "steepest", "sa_unary") for s in (1, 2))
    for r in runs:
        assert r["quick"] is True and r["options"]["reads"] == 10  # quick caps the reads
        assert r["status"] in ("feasible", "error") and r["wall_s"] > 0
        if r["objective"] is not None:
            assert r["gap_pct"] == pytest.approx(100 * (r["objective"] - 5.0) / 5.0)
        assert 0.0 <= r["feasible_rate"] <= 1.0
    assert {r["encoding"] for r in runs if r["method"] == "sa_unary"} == {"unary"}
    assert "seed 1:" in first.stdout

    # resumed: nothing recorded twice, no run made
    again = _run(*args)
    assert _records(out) == recs and "seed 1:" not in again.stdout

    # --rerun replaces one method's records only
    _run(*args, "--rerun", "steepest")
    redone = _records(out)
    assert len(redone) == len(recs)
    assert [r for r in redone if r["method"] != "steepest"] == \
        [r for r in recs if r["method"] != "steepest"]

    # the summary is computed from the records (recomputed here independently)
    summary = {s["method"]: s for s in bench.summarise(redone)}
    for method in ("sa", "steepest", "sa_unary"):
        rs = [r for r in redone if r["method"] == method]
        gaps = [math.inf if r["gap_pct"] is None else r["gap_pct"] for r in rs]
        s = summary[method]
        assert s["seeds"] == 2 and s["median_gap_pct"] == statistics.median(gaps)
        assert s["median_feasible_rate"] == statistics.median(r["feasible_rate"] for r in rs)
        assert s["median_wall_s"] == statistics.median(r["wall_s"] for r in rs)
        assert s["goal_seeds"] == sum(1 for r in rs if r["gap_pct"] is not None
                                      and r["gap_pct"] <= 2.0 and r["feasible_rate"] >= 0.5
                                      and r["wall_s"] <= 11.0)
    md = out.with_suffix(".md").read_text(encoding="utf-8")
    assert "| pick (5.00) | sa |" in md and md.count("| pick (5.00) |") == 3


def test_encoding_variants_rewrite_the_quantum_block(bench: ModuleType) -> None:
    from qgridlang.checker import check_text

    text = (ROOT / "examples/microgrid_qubo/microgrid_qubo.qgl").read_text(encoding="utf-8")
    wall = bench.with_encoding(text, "domain_wall")
    spec = check_text(wall).flat.quantum
    methods = {e.var.split("[")[0]: e.method for e in spec.encodings}
    assert set(methods.values()) == {"domain_wall"}
    assert {"ch", "dis", "gen", "imp", "spill"} <= set(methods)
    reals = (ROOT / "benchmarks/qubo_models/uc_stdlib_4x6.qgl").read_text(encoding="utf-8")
    assert bench.with_encoding(reals, "unary") is None  # reals take integer(step) only


def test_methods_this_checkout_lacks_are_skipped_with_a_note(bench: ModuleType) -> None:
    assert bench.unavailable(bench.Method("sa", {"reads": 5})) is None
    assert "not registered" in bench.unavailable(bench.Method("no_such_backend"))
    assert "no_such_option" in bench.unavailable(bench.Method("sa", {"no_such_option": 1}))
