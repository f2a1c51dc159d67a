"""The offline dwave-hybrid workflows on the qubo target: ``pt`` and ``kerberos``."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from qgl_models import PICK_TWO

from qgridlang.checker import CheckedModel, check_text
from qgridlang.dispatcher import compile_model, solve_model
from qgridlang.errors import UsageError
from qgridlang.registry import Options
from qgridlang.results import Status

pytest.importorskip("hybrid")

ROOT = Path(__file__).resolve().parent.parent

SMALL = PICK_TWO  # optimum 5 (a and b on, k = 0)
# pt needs ~200 iterations here: the cold replicas sit in the 6 valley until a swap brings the
# 5 down from the hot end (measured with seed 3: 6 after 20 iterations, 5 after 200)
FAST = {"pt": {"max_iter": 200, "convergence": 10**6, "sweeps": 100, "replicas": 4},
        "kerberos": {"max_iter": 5, "sub_reads": 10, "tabu_timeout": 20}}


@pytest.fixture(scope="module")
def small() -> CheckedModel:
    return check_text(SMALL)


def _solve(model: CheckedModel, backend: str, seed: int = 3, **extra: Any) -> Any:
    opts = {**FAST[backend], **extra}
    sweeps = opts.pop("sweeps", None)
    limit = opts.pop("time_limit", None)
    return solve_model(model, backend, Options(seed=seed, sweeps=sweeps, time_limit=limit,
                                               extra=opts))


@pytest.mark.parametrize(("backend", "extra"), [("pt", {}), ("kerberos", {}),
                                                 ("kerberos", {"subsampler": "tabu"})])
def test_finds_the_optimum_and_every_sample_decodes(small: CheckedModel, backend: str,
                                                    extra: dict[str, Any]) -> None:
    optimum = solve_model(small, "highs")
    sol = _solve(small, backend, **extra)
    assert sol.status == Status.FEASIBLE and sol.feasible
    assert sol.objective == pytest.approx(optimum.objective) == pytest.approx(5.0)
    assert sol.variables == optimum.variables
    summary = sol.info["sampleset"]
    # pt: the best sample seen, then one per replica; kerberos: the winning state's
    assert summary["samples"] == (FAST["pt"]["replicas"] + 1 if backend == "pt" else 1)
    assert 0.0 < summary["feasible_rate"] <= 1.0
    # the lowest energy is the certified QUBO's ground state: the optimum's value
    assert summary["energy_min"] == pytest.approx(5.0, abs=1e-6)
    assert sol.info["sampler"] == f"dwave-hybrid {backend}"
    assert sol.info.get("subsampler", "sa") == extra.get("subsampler", "sa")


def test_samples_are_rows_in_bqm_order(small: CheckedModel) -> None:
    """The backend's rows, decoded by the target, are the plans it reports (BQM order)."""
    from qgridlang.registry import get_backend

    compiled = compile_model(small, "qubo", Options())
    bqm = compiled.artifact
    raw = get_backend("pt").run(bqm, Options(seed=2, sweeps=100,
                                             extra={"max_iter": 10, "replicas": 3}))
    assert raw.xs is not None and raw.xs.shape == (4, bqm.num_variables)
    assert set(np.unique(raw.xs)) <= {0, 1}
    mine = np.asarray(bqm.energies((raw.xs, list(bqm.variables))))
    best = raw.xs[int(np.argmin(mine))]
    assert np.array_equal(best, raw.x)


def test_pt_is_reproducible_with_a_seed(small: CheckedModel) -> None:
    """pt stops on max_iter here: the same seed gives the same samples (not only the plan)."""
    from qgridlang.registry import get_backend

    bqm = compile_model(small, "qubo", Options()).artifact
    opts = Options(seed=9, sweeps=20, extra={"max_iter": 5, "replicas": 5, "convergence": 50})
    first, again = (get_backend("pt").run(bqm, opts) for _ in range(2))
    assert np.array_equal(first.xs, again.xs)
    other = get_backend("pt").run(bqm, Options(seed=10, sweeps=20, extra={
        "max_iter": 5, "replicas": 5, "convergence": 50}))
    assert first.info["seed"] == 9 and other.info["seed"] == 10


def test_the_time_limit_ends_the_loop(small: CheckedModel) -> None:
    start = time.perf_counter()
    sol = _solve(small, "pt", max_iter=10**6, convergence=10**6, time_limit=0.5)
    assert time.perf_counter() - start < 5.0
    assert sol.info["stopped_by_time"] is True and sol.feasible


@pytest.mark.parametrize(("backend", "extra", "match"), [
    ("pt", {"replicas": 1}, "replicas"),
    ("pt", {"max_iter": 0}, "max_iter"),
    ("pt", {"convergence": "x"}, "convergence"),
    ("kerberos", {"subsampler": "qpu"}, "subsampler"),
    ("kerberos", {"subproblem_size": 2.5}, "subproblem_size"),
    ("kerberos", {"sub_reads": True}, "sub_reads"),
    ("pt", {"replica": 4}, "did you mean 'replicas'"),
    ("kerberos", {"reads": 4}, "does not use reads"),
])
def test_bad_options_are_usage_errors(small: CheckedModel, backend: str,
                                      extra: dict[str, Any], match: str) -> None:
    with pytest.raises(UsageError, match=match):
        solve_model(small, backend, Options(seed=1, extra=dict(extra)))


def test_cli_solves_and_bad_option_exits_2(tmp_path: Path) -> None:
    model = tmp_path / "pick.qgl"
    model.write_text(SMALL, encoding="utf-8")
    base = [sys.executable, "-m", "qgridlang.cli", "solve", str(model), "--json", "--seed", "4"]
    ok = subprocess.run([*base, "--backend", "kerberos", "--option", "max_iter=3",
                         "--option", "sub_reads=5", "--option", "tabu_timeout=20"],
                        capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert ok.returncode == 0, ok.stderr[-2000:]
    doc = json.loads(ok.stdout)
    assert doc["feasible"] and doc["objective"] == pytest.approx(5.0)
    bad = subprocess.run([*base, "--backend", "pt", "--option", "replicas=1"],
                         capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert bad.returncode == 2 and "replicas" in bad.stdout  # --json: the error document


def test_listing_the_backends_does_not_import_dwave_hybrid() -> None:
    code = ("import sys, qgridlang as qg; names = [b['name'] for b in qg.targets()['backends']]; "
            "print('pt' in names and 'kerberos' in names, "
            "any(m == 'hybrid' or m.startswith(('hybrid.', 'dwave.system')) "
            "for m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["True", "False"]


def test_kerberos_subproblems_start_on_their_own_variables() -> None:
    """The reference subproblem samplers start from ``state.subsamples``, which hold the
    previous subproblem's variables after an iteration that branch won: on the 4x6 UC model
    that raised "mismatch between variables in 'initial_states' and 'bqm'" (seed 2, before
    the fix). Every run now ends with a plan (feasible or the least violated)."""
    from qgridlang.checker import check_file

    uc = check_file(ROOT / "benchmarks/qubo_models/uc_stdlib_4x6.qgl")
    for seed in (1, 2, 3):
        sol = solve_model(uc, "kerberos", Options(seed=seed, sweeps=100, extra={
            "max_iter": 4, "convergence": 100, "sub_reads": 10, "tabu_timeout": 20}))
        assert sol.objective is not None and sol.info["sampleset"]["samples"] == 1
