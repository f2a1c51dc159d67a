"""The ``tempering`` backend and the register-space energy it samples
(compilers/qubo_collapsed.py): the collapsed energy IS the QUBO's energy of the encoded point,
moves keep what they claim to keep, and the sampler reaches known optima."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qgridlang.backends.tempering import Settings, moves_of, temper
from qgridlang.checker import check_file, check_text
from qgridlang.compilers import qubo
from qgridlang.compilers import qubo_penalties as pen
from qgridlang.compilers.qubo_collapsed import collapse
from qgridlang.dispatcher import compile_model, solve_model
from qgridlang.errors import UsageError
from qgridlang.registry import Options
from tests.test_qubo_agreement import KNAPSACK, MAX_CUT, UNIT_COMMITMENT

ROOT = Path(__file__).resolve().parent.parent
MICROGRID = ROOT / "examples" / "microgrid_qubo" / "microgrid_qubo.qgl"

ENCODINGS = """
model encodings "a battery-like integer in every encoding, with a quadratic cost"
time T = 1..3 step 1 h
param need[T] = {1: 3, 2: 5, 3: 2}
var a[T] integer in 0 .. 4
var b[T] integer in 0 .. 3
var c[T] integer in 0 .. 5
var d[T] integer in 0 .. 2
constraint meet[t in T]: a[t] + b[t] + c[t] + d[t] >= need[t]
constraint cap[t in T]: 2 * a[t] + b[t] <= 6
constraint ramp[t in T where t > 1]: -2 <= c[t] - c[t - 1] <= 2
minimize cost: sum(t in T) (a[t] + 2 * b[t] + 0.5 * c[t] * c[t] + 3 * d[t] + b[t] * b[t])
quantum {
  encode a as unary
  encode b as onehot
  encode c as domain_wall
}
"""

CASES = {"knapsack": (KNAPSACK, {}), "unit_commitment": (UNIT_COMMITMENT, {}),
         "max_cut": (MAX_CUT, {}), "encodings": (ENCODINGS, {}),
         "unbalanced": (KNAPSACK, {"inequality": "unbalanced"}),
         "scaled": (UNIT_COMMITMENT, {"penalty_scale": 0.01})}


def _lowered(name: str):  # type: ignore[no-untyped-def]
    text, extra = CASES[name]
    checked = check_text(text, f"{name}.qgl")
    compiled = compile_model(checked, "qubo", Options(extra=dict(extra)))
    return checked.flat, compiled.artifact, compiled.inverse


@pytest.mark.parametrize("name", sorted(CASES))
def test_collapsed_energy_is_the_qubo_energy_of_the_encoded_point(name: str) -> None:
    flat, bqm, inverse = _lowered(name)
    col = collapse(flat, inverse)
    rng = np.random.default_rng(7)
    k = rng.integers(0, col.kmax + 1, size=(200, col.n))
    x = col.values(k)
    bits = col.to_bits(x, inverse)
    exact = bqm.energies((bits, list(bqm.variables)))
    assert np.allclose(col.energy(x), exact, rtol=1e-9, atol=1e-6)
    # and no other setting of the slack bits is lower: flip each slack bit of a few points
    first_slack = inverse.columns.stop
    for b in bits[:5]:
        base = bqm.energy(dict(enumerate(b.tolist())))
        for i in range(first_slack, inverse.n_bits):
            flipped = b.copy()
            flipped[i] ^= 1
            assert bqm.energy(dict(enumerate(flipped.tolist()))) >= base - 1e-6


def test_collapsed_energy_on_the_microgrid_example() -> None:
    checked = check_file(MICROGRID)
    compiled = compile_model(checked, "qubo")
    col = collapse(checked.flat, compiled.inverse)
    rng = np.random.default_rng(3)
    x = col.values(rng.integers(0, col.kmax + 1, size=(50, col.n)))
    bits = col.to_bits(x, compiled.inverse)
    bqm = compiled.artifact
    assert np.allclose(col.energy(x), bqm.energies((bits, list(bqm.variables))), rtol=1e-9)


@pytest.mark.parametrize("name", ["unit_commitment", "max_cut", "encodings"])
def test_moves_keep_the_rows_they_claim_to_keep(name: str) -> None:
    """Singles move one register; pairs keep an equality row's activity; kicks (three
    registers) keep a short inequality row and every equality row they touch; the move's
    cross term is the objective's (max_cut and encodings have quadratic objectives)."""
    flat, _, inverse = _lowered(name)
    col = collapse(flat, inverse)
    mv = moves_of(col)
    assert mv.pairs > 0 or name == "encodings"
    assert mv.kicks > 0 or name != "unit_commitment"
    used = (mv.cols < col.n).sum(axis=1)
    assert set(mv.cols[used == 1, 0].tolist()) == set(np.flatnonzero(col.kmax > 0).tolist())
    dense = col.rows.toarray()
    equality = col.kind == pen.EQUALITY
    for cols, dk, count in zip(mv.cols, mv.dk, used, strict=True):
        js = cols[:count]
        change = dense[:, js] @ (dk[:count] * col.step[js])
        assert np.all(np.abs(dk[:count]) <= col.kmax[js])
        if count == 2:  # a pair keeps some row it shares (an equality row, or a short
            # inequality row when it breaks no equality row: a kick that needed no third)
            shared = np.flatnonzero((dense[:, js] != 0).all(axis=1))
            assert len(shared) and np.any(np.abs(change[shared]) < 1e-9)
            kept_equality = shared[equality[shared]]
            if not np.any(np.abs(change[kept_equality]) < 1e-9):
                assert np.all(np.abs(change[equality]) < 1e-9)
        if count == 3:  # a kick breaks no equality row, keeps some short inequality row
            assert np.all(np.abs(change[equality]) < 1e-9)
            touched = np.flatnonzero((dense[:, js[:2]] != 0).all(axis=1) & ~equality)
            assert np.any(np.abs(change[touched]) < 1e-9)
    # the objective's cross terms of a move are its energy change minus the singles'
    rng = np.random.default_rng(1)
    for i in rng.choice(np.flatnonzero(used >= 2), 10) if (used >= 2).any() else []:
        js = mv.cols[i, :used[i]]
        k = rng.integers(0, col.kmax + 1)
        k[js] = np.clip(k[js], np.abs(mv.dk[i, :used[i]]), col.kmax[js] - np.abs(
            mv.dk[i, :used[i]]))
        x0 = col.values(k)
        k1 = k.astype(float)
        k1[js] += mv.dk[i, :used[i]]
        whole = col.objective(col.values(k1)[None, :])[0] - col.objective(x0[None, :])[0]
        parts = 0.0
        for j, d in zip(js, mv.dk[i, :used[i]], strict=True):
            kj = k.astype(float)
            kj[j] += d
            parts += col.objective(col.values(kj)[None, :])[0] - col.objective(x0[None, :])[0]
        assert whole == pytest.approx(parts + mv.cross[i], abs=1e-6)


@pytest.mark.parametrize("name", ["knapsack", "unit_commitment", "max_cut", "encodings"])
def test_tempering_reaches_the_milp_optimum_of_small_models(name: str) -> None:
    text, _ = CASES[name]
    checked = check_text(text, f"{name}.qgl")
    truth = solve_model(checked, "highs")
    sol = solve_model(checked, "tempering", Options(seed=1, extra={"sweeps": 300}))
    assert sol.feasible
    assert sol.objective == pytest.approx(truth.objective, abs=1e-6)
    # the returned samples are the lowest-energy distinct states seen: on a model with fewer
    # feasible plans than replicas / 2, infeasible states fill the rest
    assert sol.info["sampleset"]["feasible_rate"] > 0
    # the QUBO sampled is the certified one: nothing in the report changed
    assert all(p["guaranteed"] for p in sol.info["report"]["penalties"].values())


def test_convergence_stops_the_chain_after_sweeps_without_a_new_best() -> None:
    flat, _, inverse = _lowered("knapsack")
    col = collapse(flat, inverse)
    out = temper(col, Settings(seed=1, sweeps=5000, convergence=50, penalty_ramp=1.0))
    assert out.sweeps == out.best_sweep + 50
    assert temper(col, Settings(seed=1, sweeps=300, convergence=0)).sweeps == 300
    # with a penalty ramp, convergence counts only once the chain sees its final penalty
    # scale (it used to stop at sweep ~1000 of a 10 s run still at the ramp's low start, with
    # no feasible state: benchmarks/qubo_models/two_battery_3h.qgl, seeds 1, 4, 5)
    ramped = temper(col, Settings(seed=1, sweeps=2000, convergence=50))
    assert ramped.sweeps >= 0.8 * 2000 + 50


def test_tempering_is_reproducible_with_a_seed() -> None:
    flat, _, inverse = _lowered("unit_commitment")
    col = collapse(flat, inverse)
    one = temper(col, Settings(seed=5, sweeps=50))
    two = temper(col, Settings(seed=5, sweeps=50))
    assert one.best_energy == two.best_energy
    assert np.array_equal(one.final, two.final)
    assert one.sweeps == 50 and 0 < one.acceptance < 1 and 0 < one.exchange_rate <= 1


def test_the_two_battery_model_gets_its_optimum() -> None:
    """benchmarks/qubo_models/two_battery_3h.qgl: 31.70 $ (HiGHS); no plain sampler is feasible
    in every seed there."""
    checked = check_file(ROOT / "benchmarks" / "qubo_models" / "two_battery_3h.qgl")
    sol = solve_model(checked, "tempering", Options(seed=5, sweeps=1500))
    assert sol.feasible and sol.objective == pytest.approx(31.7, abs=1e-6)


def test_tempering_on_the_microgrid_example_is_within_two_percent_of_the_milp() -> None:
    """The issue's goal on examples/microgrid_qubo: <= 2 % above 283.00 $ with >= 50 % feasible
    samples in under 10 s (one seed here; benchmarks/qubo_quality.py runs seeds 1-5)."""
    checked = check_file(MICROGRID)
    sol = solve_model(checked, "tempering", Options(seed=1, time_limit=8.0))
    assert sol.feasible
    assert sol.objective <= 283.00 * 1.02
    assert sol.info["sampleset"]["feasible_rate"] >= 0.5
    assert sol.timings["solve"] < 10.0


@pytest.mark.parametrize("extra, needle", [
    ({"replicas": 1}, "at least 2 replicas"),
    ({"replicas": "many"}, "must be a number"),
    ({"t_max": -3}, "must be positive"),
    ({"pairs": "all"}, "pairs must be one of"),
    ({"penalty_ratio": 2}, "at most 1"),
    ({"t_min": 5, "t_max": 1}, "t_min must be below t_max"),
    ({"convergence": -1}, "whole number >= 0"),
    ({"convergence": "soon"}, "whole number"),
])
def test_bad_options_are_refused(extra: dict[str, object], needle: str) -> None:
    checked = check_text(KNAPSACK, "k.qgl")
    with pytest.raises(UsageError, match=needle):
        solve_model(checked, "tempering", Options(extra=extra))


def test_a_bare_qubo_is_refused_with_the_way_to_run_it() -> None:
    from qgridlang.backends.tempering import Tempering

    _, bqm, _ = _lowered("knapsack")
    with pytest.raises(UsageError, match="lowered model"):
        Tempering().run(bqm, Options())


def test_cli_solve_with_tempering(tmp_path: Path) -> None:
    model = tmp_path / "uc.qgl"
    model.write_text(UNIT_COMMITMENT, encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "qgridlang", "solve", str(model), "--backend",
                          "tempering", "--seed", "2", "--option", "sweeps=200", "--json"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["status"] == "feasible"
    assert out["objective"] == pytest.approx(solve_model(check_file(model), "highs").objective)
    bad = subprocess.run([sys.executable, "-m", "qgridlang", "solve", str(model), "--backend",
                          "tempering", "--option", "pairs=some"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "pairs must be one of" in bad.stderr


def test_qubo_inverse_keeps_the_row_plan() -> None:
    _, _, inverse = _lowered("knapsack")
    assert inverse.plan is not None
    assert len(inverse.plan.index) <= len(inverse.weights)
    assert qubo.report(inverse).n_bits == inverse.n_bits


def test_sizes_are_checked_before_the_chain_is_built() -> None:
    from qgridlang import limits
    from qgridlang.errors import LimitExceeded

    checked = check_file(MICROGRID)
    with limits.using(limits.make(max_size=10_000)):
        with pytest.raises(LimitExceeded, match="replicas"):
            solve_model(checked, "tempering", Options(seed=1, sweeps=1,
                                                      extra={"replicas": 1000}))
        flat, _, inverse = _lowered("unit_commitment")
    with limits.using(limits.make(max_size=20)), pytest.raises(
            LimitExceeded, match="tempering move table"):
        moves_of(collapse(flat, inverse))
