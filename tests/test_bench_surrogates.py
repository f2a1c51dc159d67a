"""benchmarks/surrogates.py at a tiny size: 2 models x 2 seeds x 2 epochs on a synthetic data
set, one JSON line per run with its measured fields, the summary files and plot, and a rerun
that skips the finished runs (and an interrupted run that resumes from its checkpoint)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

pytest.importorskip("jax")
pytest.importorskip("flax")
pytest.importorskip("pennylane")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_surrogates",
                                                  ROOT / "benchmarks" / "surrogates.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_surrogates"] = module
    spec.loader.exec_module(module)
    return module


def _data(path: Path, n: int = 40, t: int = 6) -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(40, 120, (n, t))
    y = 0.5 - 0.004 * x + 0.002 * np.roll(x, 1, axis=1)
    status = np.array(["optimal"] * (n - 2) + ["infeasible"] * 2)
    np.savez(path, price=x, response=y, status=status)


def test_runs_summary_and_skip(bench: ModuleType, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    _data(tmp_path / "syn.npz")
    argv = ["--models", "qtcn", "tiny", "--communities", "syn", "--seeds", "1", "2",
            "--epochs", "2", "--patience", "5", "--batch", "8",
            "--data", f"syn={tmp_path / 'syn.npz'}", "--out-dir", str(tmp_path)]
    assert bench.main(argv) == 0
    lines = (tmp_path / "surrogates_runs.jsonl").read_text().splitlines()
    runs = [json.loads(line) for line in lines]
    assert [(r["model"], r["seed"]) for r in runs] == [("qtcn", 1), ("qtcn", 2), ("tiny", 1),
                                                       ("tiny", 2)]
    import jax

    from qgridlang.surrogates import build, count_parameters

    for r in runs:
        assert r["community"] == "syn" and r["length"] == 6 and r["epochs"] == 2
        ansatz = build(r["model"], 6)
        assert r["parameters"] == count_parameters(ansatz.init(jax.random.PRNGKey(0)))
        assert r["quantum"] == (r["model"] == "qtcn")
        assert len(r["history"]) == r["epochs_run"] == 2 and 1 <= r["best_epoch"] <= 2
        assert r["test_mse"] > 0 and r["test_mse_physical"] > 0
        assert r["seconds_per_epoch_median"] > 0 and r["stopped_early"] is False
        # normalised and physical MSE differ by the response range squared
        assert r["test_mse_physical"] != pytest.approx(r["test_mse"])
    # the failed solves (status) are left out: 38 series -> 30/4/4
    summary = json.loads((tmp_path / "surrogates_summary.json").read_text())
    rows = {r["model"]: r for r in summary["rows"]}
    assert set(rows) == {"qtcn", "tiny"} and rows["qtcn"]["seeds"] == [1, 2]
    mses = [r["test_mse"] for r in runs if r["model"] == "tiny"]
    assert rows["tiny"]["test_mse"]["mean"] == pytest.approx(np.mean(mses))
    assert rows["tiny"]["test_mse"]["std"] == pytest.approx(np.std(mses, ddof=1))
    assert (tmp_path / "surrogates_summary.md").read_text().count("| syn |") == 2
    assert (tmp_path / "surrogates_mse.png").stat().st_size > 1000
    assert not list((tmp_path / "surrogates_ckpt").iterdir())  # finished runs leave none

    capsys.readouterr()
    assert bench.main(argv) == 0  # a rerun: every run is skipped, nothing appended
    out = capsys.readouterr().out
    assert out.count("skip ") == 4 and "\nrun " not in out
    assert (tmp_path / "surrogates_runs.jsonl").read_text().splitlines() == lines


def test_interrupted_run_resumes_from_its_checkpoint(bench: ModuleType, tmp_path: Path) -> None:
    """A checkpoint left by a run that stopped after epoch 1 is continued, not restarted: the
    result equals an uninterrupted run's."""
    from qgridlang.surrogates import TrainConfig, build, train

    _data(tmp_path / "syn.npz")
    x, y = bench.load_data(tmp_path / "syn.npz", None)
    ansatz = build("tiny", 6)
    key = {"model": "tiny", "community": "syn", "seed": 1, "samples": None, "epochs": 3,
           "patience": 5, "batch": 8, "learning_rate": 0.01, "length": 6}
    ckpt_dir = tmp_path / "surrogates_ckpt"
    ckpt_dir.mkdir()
    stem = "_".join(str(key[k]) for k in bench.KEY_FIELDS)
    with pytest.raises(_Stop):
        train(ansatz, x, y, TrainConfig(epochs=3, batch=8, seed=1, patience=5),
              checkpoint=ckpt_dir / f"{stem}.msgpack", callback=_stop_after(1))
    assert (ckpt_dir / f"{stem}.msgpack").exists()
    argv = ["--models", "tiny", "--communities", "syn", "--seeds", "1", "--epochs", "3",
            "--batch", "8", "--patience", "5", "--data", f"syn={tmp_path / 'syn.npz'}",
            "--out-dir", str(tmp_path)]
    assert bench.main(argv) == 0
    (rec,) = [json.loads(s) for s in (tmp_path / "surrogates_runs.jsonl").read_text()
              .splitlines()]
    whole = train(ansatz, x, y, TrainConfig(epochs=3, batch=8, seed=1, patience=5))
    assert rec["epochs_run"] == 3
    assert rec["test_mse"] == pytest.approx(whole.test_mse, rel=1e-5)


class _Stop(Exception):
    """Interrupts training (as a kill would) after an epoch's checkpoint is written."""


def _stop_after(n: int) -> Any:
    def callback(report: Any) -> None:
        if report.epoch >= n:
            raise _Stop

    return callback
