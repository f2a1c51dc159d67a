"""qgridlang.datasets: the price set and its projection, the sampling rule, indexed-parameter
substitution, the objective-update path against a full check per sample, the data set on a real
LocalCluster (determinism, resume) and the price search."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qgridlang.datasets.prices import Perturbation, PriceSet, project, sample_prices, tou_family
from qgridlang.datasets.response import SolveSettings, prepare
from qgridlang.datasets.substitute import Values, substitute
from qgridlang.errors import UsageError

pytest.importorskip("distributed")

# the real scheduler + workers of tests/test_dask_cluster.py (pytest puts tests/ on the path)
from test_dask_cluster import cluster  # noqa: E402, F401

ROOT = Path(__file__).resolve().parent.parent

# --- the projection ------------------------------------------------------------------------

finite = st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False)


@st.composite
def problems(draw: Any) -> tuple[np.ndarray, PriceSet]:
    n = draw(st.integers(1, 40))
    y = np.array(draw(st.lists(finite, min_size=n, max_size=n)))
    lo = draw(st.floats(-100, 100))
    width = draw(st.floats(0, 300))
    frac = draw(st.floats(0, 1))
    return y, PriceSet(mean=lo + frac * width, lower=lo, upper=lo + width)


@settings(max_examples=300, deadline=None)
@given(problems())
def test_projection_is_feasible(p: tuple[np.ndarray, PriceSet]) -> None:
    y, s = p
    x = project(y, s)
    scale = max(1.0, abs(s.mean), abs(s.upper), abs(s.lower))
    assert np.all(x >= s.lower) and np.all(x <= s.upper)
    assert abs(x.mean() - s.mean) <= 1e-9 * scale


@settings(max_examples=300, deadline=None)
@given(problems(), st.integers(0, 2**32 - 1))
def test_projection_is_the_nearest_point(p: tuple[np.ndarray, PriceSet], seed: int) -> None:
    """The variational inequality of a Euclidean projection onto a convex set:
    (y - x) . (z - x) <= 0 for every z in the set (z drawn in it), and a common shift."""
    y, s = p
    x = project(y, s)
    rng = np.random.default_rng(seed)
    scale = max(1.0, float(np.max(np.abs(y))), abs(s.upper), abs(s.lower))
    for _ in range(5):
        z = project(s.mean + (s.upper - s.lower) * rng.standard_normal(y.size), s)
        assert float(np.dot(y - x, z - x)) <= 1e-7 * scale**2 * y.size
    free = (x > s.lower) & (x < s.upper)
    if free.sum() > 1:
        shift = (x - y)[free]
        assert np.ptp(shift) <= 1e-9 * scale


@settings(max_examples=200, deadline=None)
@given(problems())
def test_projection_leaves_a_feasible_point_where_it_is(p: tuple[np.ndarray, PriceSet]) -> None:
    y, s = p
    x = project(y, s)
    assert np.allclose(project(x, s), x, rtol=0, atol=1e-9 * max(1.0, abs(s.upper),
                                                                    abs(s.lower)))


def test_projection_by_hand() -> None:
    s = PriceSet(mean=80, lower=40, upper=120)
    # shift by -20 on the free coordinates; 130 - 20 = 110 is within bounds
    assert project(np.array([100.0, 100.0, 100.0, 100.0]), s) == pytest.approx([80] * 4)
    # clipped at 120, the others share the rest: c with 10 + c + 20 + c + 120 = 240 -> c = 45
    assert project(np.array([10.0, 20.0, 500.0]), s) == pytest.approx([55, 65, 120])
    with pytest.raises(UsageError):
        PriceSet(mean=130, lower=40, upper=120)


# --- the sampling rule and the time-of-use family --------------------------------------------


def test_samples_depend_only_on_seed_and_index() -> None:
    s = PriceSet(80, 40, 120)
    a = sample_prices(1, [0, 1, 2, 3], 96, s)
    b = sample_prices(1, [3, 1], 96, s)
    assert np.array_equal(a[3], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a, sample_prices(2, [0, 1, 2, 3], 96, s))
    assert all(s.contains(p) for p in a)
    # smooth: neighbouring periods differ far less than the spread
    assert np.mean(np.abs(np.diff(a, axis=1))) < 0.2 * np.std(a)
    assert np.std(a) > 5.0  # and it does perturb


def test_perturbation_has_the_stated_size() -> None:
    rule = Perturbation(sigma=0.25, length=8)
    z = np.concatenate([rule.raw(5, i, 96) for i in range(400)])
    assert np.std(z) == pytest.approx(0.25, rel=0.1)


def test_time_of_use_family_by_hand() -> None:
    # three equal blocks, mean 80, bounds 40 .. 120, step 10: block 3 = 240 - a - b must lie
    # in 40 .. 120, i.e. 120 <= a + b <= 200 for a, b in 40 .. 120: 61 pairs
    family = tou_family(96, [32, 64], PriceSet(80, 40, 120), 10)
    assert len(family) == 61
    for p in family:
        assert PriceSet(80, 40, 120).contains(p)
        assert len(set(p[:32])) == len(set(p[32:64])) == len(set(p[64:])) == 1
    with pytest.raises(UsageError):
        tou_family(96, [64, 32], PriceSet(80, 40, 120), 10)


# --- substitution ----------------------------------------------------------------------------

MODEL = """model m
time T = 1..3 step 1 h
param price[T]: $/MWh >= 0 = {1: 1, 2: 2, 3: 3}   # comment
param other[T]: kW default 0 = {1: 1}
var x[T]: MW in 0 .. 1
expr echo[t in T] = price[t]
expr echo2[t in T] = other[t]
minimize sum(t in T) price[t] * x[t] * dt
"""


def _echo(text: str, name: str) -> list[float]:
    from qgridlang.checker import check_text

    flat = check_text(text).flat
    return [flat.e_const[k] * flat.exprs[k].report_scale for k, e in enumerate(flat.exprs)
            if e.name == name]


def test_substitution_is_exact() -> None:
    values = np.array([0.1, 1 / 3, 12345.678901234567])
    text = substitute(MODEL, "<m>", {"price": Values([(1,), (2,), (3,)], values)})
    assert _echo(text, "echo") == values.tolist()  # bit for bit
    assert "# comment" in text  # the rest of the line is kept


def test_substitution_converts_a_unit() -> None:
    text = substitute(MODEL, "<m>", {"other": Values([(1,), (2,), (3,)],
                                                     np.array([0.5, -1.0, 2.0]), "MW")})
    assert _echo(text, "echo2") == pytest.approx([500.0, -1000.0, 2000.0])  # in kW


def test_substitution_refusals() -> None:
    keys = [(1,), (2,), (3,)]
    shared = MODEL + 'param a[T], b[T] = csv("ab.csv", key = "t")\n'
    with pytest.raises(UsageError, match="declared together"):
        substitute(shared, "<m>", {"a": Values(keys, np.zeros(3))})
    with pytest.raises(UsageError, match="declares no parameter"):
        substitute(MODEL, "<m>", {"prise": Values(keys, np.zeros(3))})
    with pytest.raises(UsageError, match="finite"):
        substitute(MODEL, "<m>", {"price": Values(keys, np.array([1.0, np.nan, 2.0]))})
    from qgridlang.checker import check_text
    from qgridlang.errors import QglErrors

    negative = substitute(MODEL, "<m>", {"price": Values(keys, np.array([1.0, -2.0, 3.0]))})
    with pytest.raises(QglErrors) as info:  # the declaration's bounds still apply
        check_text(negative)
    assert "price[2]" in str(info.value) and ">= 0" in negative


# --- a small community for the solve paths ------------------------------------------------

SMALL = """model res8
use communities
time T = 1..8 step 1 h
param price[T]: $/MWh = {1: 50, 2: 10, 3: 30, 4: 60, 5: 5, 6: 20, 7: 40, 8: 70}
param load[T]: MW = {1: 0.2, 2: 0.2, 3: 0.3, 4: 0.3, 5: 0.2, 6: 0.2, 7: 0.4, 8: 0.3}
residential_ec ec { price = price; load = load; pv[t] = 0 MW
  storage_power = 0.1 MW; storage_energy = 0.2 MWh; ev_departure = 4 h; ev_arrival = 6 h }
minimize ec.cost
"""

INDUSTRIAL = """model ind8
use communities
time T = 1..8 step 1 h
param price[T]: $/MWh = {1: 50, 2: 10, 3: 30, 4: 60, 5: 5, 6: 20, 7: 40, 8: 70}
industrial_ec ec { price = price; load[t] = 0.6 MW; pv[t] = 0.1 MW; processes = 1
  process_power[i] = 0.2 MW; process_start[i] = 3; process_periods[i] = 2; max_shift = 3
  dg_ramp = 0.2 MW/h }
minimize ec.cost
"""


@pytest.fixture
def small(tmp_path: Path) -> Path:
    (tmp_path / "res8.qgl").write_text(SMALL)
    (tmp_path / "ind8.qgl").write_text(INDUSTRIAL)
    return tmp_path / "res8.qgl"


@pytest.mark.parametrize("name", ["res8.qgl", "ind8.qgl"])
def test_objective_update_equals_a_full_check(small: Path, name: str) -> None:
    model = prepare(small.parent / name)
    assert model.method == "update", model.why_recheck
    assert model.checks == 8 + 4  # own, base, one per period, two random verifications
    prices = sample_prices(3, list(range(6)), 8, PriceSet(35.0, 17.5, 52.5),
                           Perturbation(0.4, 1.5))
    exact = SolveSettings(mip_gap=0)
    for p in prices:
        fast = model.solve(p, exact)
        slow = model.check(p)
        from qgridlang.dispatcher import solve_model

        sol = solve_model(slow, "highs", exact.options())
        assert fast["status"] == "optimal"
        assert fast["objective"] == pytest.approx(sol.objective, rel=1e-9)
        ref = slow.flat.expr_values(sol.x)[model.output_rows]
        assert fast["response"] == pytest.approx(ref, abs=1e-7)
        # and the objective the update path builds is the checker's, coefficient by coefficient
        d = p - model.base_price
        assert model.checked.flat.c + model.G @ d == pytest.approx(slow.flat.c, abs=1e-9)


def test_price_in_a_constraint_falls_back_to_recheck(tmp_path: Path) -> None:
    text = SMALL.replace("minimize ec.cost", "constraint cap[t in T]: ec.exchange[t] <= "
                         "price[t] / (1 $/MWh) * 0.02 MW\nminimize ec.cost")
    (tmp_path / "m.qgl").write_text(text)
    model = prepare(tmp_path / "m.qgl")
    assert model.method == "recheck"
    assert "row bounds" in model.why_recheck
    with pytest.raises(UsageError, match="changes more than the objective"):
        prepare(tmp_path / "m.qgl", method="update")
    r = model.solve(np.full(8, 40.0), SolveSettings())
    assert r["status"] == "optimal" and np.all(r["response"] <= 0.8 + 1e-9)


def test_prepare_names_what_is_missing(small: Path) -> None:
    with pytest.raises(UsageError, match="no parameter 'tariff'"):
        prepare(small, price_param="tariff")
    with pytest.raises(UsageError, match="no expression"):
        prepare(small, output="ec.exchang")


# --- the data set on a real LocalCluster --------------------------------------------------


def _run(small: Path, out: Path, **kw: Any) -> Any:
    from qgridlang.datasets.sample import SampleSpec, sample_responses

    spec = SampleSpec(n=kw.pop("n", 8), seed=kw.pop("seed", 11))
    return sample_responses(small, out, spec, workers=kw.pop("workers", 2),
                            chunk=kw.pop("chunk", 3), **kw)


def test_sample_responses_on_a_local_cluster(small: Path, tmp_path: Path) -> None:
    from qgridlang.datasets.store import read_dataset

    seen: list[tuple[int, int]] = []
    s = _run(small, tmp_path / "a.npz", progress=lambda d, n: seen.append((d, n)))
    assert s.statuses == {"optimal": 8} and s.solved_now == 8 and s.method == "update"
    assert seen[0] == (0, 8) and seen[-1] == (8, 8)  # counted in samples, not chunks
    arrays, meta = read_dataset(tmp_path / "a.npz")
    assert arrays["price"].shape == (8, 8) and arrays["response"].shape == (8, 8)
    assert list(arrays["sample"]) == list(range(8))
    assert meta["units"] == {"price": "$/MWh", "response": "MW", "objective": "$",
                             "seconds": "s"}
    assert meta["output"] == "ec.exchange" and meta["seed"] == 11
    prices = PriceSet(meta["mean"], meta["lower"], meta["upper"])
    assert all(prices.contains(p) for p in arrays["price"])
    assert not (tmp_path / "a.npz.parts").exists()  # the chunks are gone once assembled
    # each response is the community's optimum at its price (a direct solve agrees)
    model = prepare(small)
    for i in (0, 5):
        r = model.solve(arrays["price"][i], SolveSettings())
        assert r["objective"] == pytest.approx(arrays["objective"][i], rel=1e-6)
    # determinism: another run with the same seed, one worker, other chunks: the same data
    s2 = _run(small, tmp_path / "b.parquet", workers=1, chunk=8)
    assert s2.statuses == {"optimal": 8}
    other, meta2 = read_dataset(tmp_path / "b.parquet")
    assert np.array_equal(arrays["price"], other["price"])
    assert np.allclose(arrays["response"], other["response"], atol=1e-9)
    assert meta2["units"] == meta["units"]
    # the finished file is not overwritten by another data set
    with pytest.raises(UsageError, match="another data set"):
        _run(small, tmp_path / "a.npz", seed=12)


def test_an_interrupted_run_resumes(small: Path, tmp_path: Path) -> None:
    from qgridlang.datasets.store import read_dataset

    class Stop(Exception):
        pass

    def stop_after_first(done: int, total: int) -> None:
        if done > 0:
            raise Stop

    with pytest.raises(Stop):
        _run(small, tmp_path / "r.npz", chunk=2, workers=1, progress=stop_after_first)
    parts = tmp_path / "r.npz.parts"
    saved = sorted(parts.glob("rows-*.npz"))
    assert saved and not (tmp_path / "r.npz").exists()
    with pytest.raises(UsageError, match="other settings"):  # not mixed with another seed
        _run(small, tmp_path / "r.npz", seed=99)
    s = _run(small, tmp_path / "r.npz", chunk=2)
    assert s.solved_now == 8 - 2 * len(saved) and s.statuses == {"optimal": 8}
    resumed, _ = read_dataset(tmp_path / "r.npz")
    _run(small, tmp_path / "full.npz")
    full, _ = read_dataset(tmp_path / "full.npz")
    assert np.array_equal(resumed["price"], full["price"])
    assert np.allclose(resumed["response"], full["response"], atol=1e-9)


def test_cli_sample_responses_process(small: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli.npz"
    run = subprocess.run([sys.executable, "-m", "qgridlang.cli", "sample-responses", str(small),
                          "--n", "4", "--seed", "2", "-o", str(out), "--workers", "1",
                          "--json"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["statuses"] == {"optimal": 4} and doc["units"]["response"] == "MW"
    assert "4/4 samples" in run.stderr  # progress on stderr, stdout is the document
    bad = subprocess.run([sys.executable, "-m", "qgridlang.cli", "sample-responses", str(small),
                          "--n", "4", "-o", str(tmp_path / "x.csv")], capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and ".npz or .parquet" in bad.stderr


def test_sample_responses_through_a_scheduler_address(cluster: str,  # noqa: F811
                                                       small: Path, tmp_path: Path) -> None:
    """An existing cluster (a `dask scheduler` and two `dask worker` processes started from
    the venv, working in another folder): the model travels to the workers in memory."""
    from qgridlang.datasets.store import read_dataset

    out = tmp_path / "remote.npz"
    run = subprocess.run([sys.executable, "-m", "qgridlang.cli", "sample-responses", str(small),
                          "--n", "6", "--seed", "4", "-o", str(out), "--scheduler", cluster,
                          "--json"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["statuses"] == {"optimal": 6}
    remote, _ = read_dataset(out)
    _run(small, tmp_path / "local.npz", n=6, seed=4, workers=1)
    local, _ = read_dataset(tmp_path / "local.npz")
    assert np.array_equal(remote["price"], local["price"])
    assert np.allclose(remote["response"], local["response"], atol=1e-9)
    both = subprocess.run([sys.executable, "-m", "qgridlang.cli", "sample-responses", str(small),
                           "--n", "6", "-o", str(tmp_path / "x.npz"), "--scheduler", cluster,
                           "--workers", "2"], capture_output=True, text=True, timeout=120)
    assert both.returncode == 2 and "--workers sizes the embedded cluster" in both.stderr


# --- the price search ---------------------------------------------------------------------

OPERATOR = """model operator_small
time T = 1..6 step 4 h
set S = 1..40
param price[T]: $/MWh = {1: 80, 2: 80, 3: 80, 4: 80, 5: 80, 6: 80}
param p_res[T]: MW = {1: 0, 2: 0, 3: 0, 4: 0, 5: 0, 6: 0}
param p_com[T]: kW = {1: 0, 2: 0, 3: 0, 4: 0, 5: 0, 6: 0}
param dn_price[T]: $/MWh = {1: 40, 2: 40, 3: 80, 4: 80, 5: 120, 6: 120}
param base_load[T]: MW = {1: 0.5, 2: 0.6, 3: 0.9, 4: 1.0, 5: 1.2, 6: 0.8}
param cap: MW = 1.3
scenarios S = sample(seed = 3) { dev[t in T] ~ normal(0, 0.1 * base_load[t]) }
var head[S, T]: MW
constraint balance[s in S, t in T]: head[s, t] == base_load[t] + dev[s, t] + p_res[t] + p_com[t]
expr cost[s in S]: $ = sum(t in T) dt * (-price[t] * (p_res[t] + p_com[t])
                                      + dn_price[t] * head[s, t]
                                      + 1000 $/MWh * pos(head[s, t] - cap))
minimize expected(cost) + 1 * cvar(cost, alpha = 0.95)
"""

RES6 = """model res
use communities
time T = 1..6 step 4 h
param price[T]: $/MWh = {1: 80, 2: 80, 3: 80, 4: 80, 5: 80, 6: 80}
residential_ec ec { price = price; load[t] = 0.3 MW; pv[t] = 0 MW; storage_power = 0.1 MW
  storage_energy = 0.6 MWh; ev_departure = 8 h; ev_arrival = 16 h }
minimize ec.cost
"""

COM6 = """model com
use communities
time T = 1..6 step 4 h
param price[T]: $/MWh = {1: 80, 2: 80, 3: 80, 4: 80, 5: 80, 6: 80}
param pv[T]: MW = {1: 0, 2: 0.1, 3: 0.3, 4: 0.2, 5: 0, 6: 0}
commercial_ec ec { price = price; load[t] = 0.4 MW; pv = pv; storage_power = 0.1 MW
  storage_energy = 0.8 MWh }
minimize ec.cost
"""


def _search(folder: Path, out: Path, **kw: Any) -> Any:
    from qgridlang.datasets.search import SearchSpec, price_search

    return price_search(folder / "op.qgl", {"p_res": folder / "res.qgl",
                                            "p_com": folder / "com.qgl"}, out,
                        SearchSpec(step=kw.pop("step", 20.0)), workers=kw.pop("workers", 2),
                        **kw)


def test_price_search_finds_the_best_candidate_and_resumes(tmp_path: Path) -> None:
    from qgridlang.checker import check_text
    from qgridlang.datasets.search import read_results
    from qgridlang.dispatcher import solve_model

    for name, text in (("op.qgl", OPERATOR), ("res.qgl", RES6), ("com.qgl", COM6)):
        (tmp_path / name).write_text(text)
    out = tmp_path / "s.csv"
    r = _search(tmp_path, out)
    # 40 .. 120 in steps of 20, three 8-hour blocks at mean 80: a + b in 120 .. 200 -> 19
    assert r.candidates == 19 and r.evaluated_now == 19 and r.failed == 0
    rows = read_results(out)
    assert len(rows) == 19 and r.best is not None
    assert r.best["objective"] == min(row["objective"] for row in rows)
    assert r.best["mean"] == pytest.approx(80.0)
    assert r.best["block_periods"] == [[1, 2], [3, 4], [5, 6]]
    # the best candidate re-evaluated independently: each community's model with the price
    # written in, solved; the operator's with price and responses written in (p_com in kW)
    price = np.array(r.best["price"])
    responses = {}
    for param, name in (("p_res", "res.qgl"), ("p_com", "com.qgl")):
        text = substitute((tmp_path / name).read_text(), name,
                          {"price": Values([(t,) for t in range(1, 7)], price)})
        sol = solve_model(check_text(text, str(tmp_path / name)), "highs")
        responses[param] = [sol.value("ec.exchange", t) for t in range(1, 7)]
    keys = [(t,) for t in range(1, 7)]
    text = substitute(OPERATOR, "op.qgl", {
        "price": Values(keys, price),
        "p_res": Values(keys, np.array(responses["p_res"])),
        "p_com": Values(keys, 1000 * np.array(responses["p_com"]))})
    op = solve_model(check_text(text), "highs")
    assert op.objective == pytest.approx(r.best["objective"], rel=1e-6)
    # rerunning continues: nothing left to evaluate, the same answer
    again = _search(tmp_path, out, workers=1)
    assert again.evaluated_now == 0 and again.best == r.best
    with pytest.raises(UsageError, match="other settings"):
        _search(tmp_path, out, step=10.0)


def test_price_search_rows_are_saved_as_they_complete(tmp_path: Path) -> None:
    from qgridlang.datasets.search import read_results

    for name, text in (("op.qgl", OPERATOR), ("res.qgl", RES6), ("com.qgl", COM6)):
        (tmp_path / name).write_text(text)
    out = tmp_path / "s.csv"
    counts: list[int] = []

    class Stop(Exception):
        pass

    def watch(done: int, total: int) -> None:
        counts.append(len(read_results(out)) if out.exists() else 0)
        if done >= 5:
            raise Stop

    with pytest.raises(Stop):
        _search(tmp_path, out, workers=1, progress=watch)
    assert counts[1:6] == [1, 2, 3, 4, 5]  # each row on disk when its progress is reported
    r = _search(tmp_path, out, workers=1)
    assert r.evaluated_now == 19 - 5 and len(read_results(out)) == 19
    assert math.isfinite(r.best["objective"])
