"""The rural-microgrid paper's comparison (benchmarks/microgrid.py, SPECS §D): the metric
functions on hand-computed cases, the seeded week generator's statistics, and the benchmark's
``--quick`` mode run as a real subprocess (JSONL written, a rerun resumes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import microgrid_data as data  # noqa: E402
import microgrid_metrics as m  # noqa: E402

# two hours: 1000 / 500 kW of renewables, 800 / 900 kW of load; the bank charges 200 kW in
# hour 1 and gives it back in hour 2 beside 200 kW of diesel (both hours balance exactly)
RENEWABLE = [1000.0, 500.0]
LOAD = [800.0, 900.0]
PLAN = {"ch": [200.0, 0.0], "dis": [0.0, 200.0], "gen": [0.0, 200.0], "imp": [0.0, 0.0],
        "shed": [0.0, 0.0], "spill": [0.0, 0.0], "on": [0.0, 1.0]}


def test_relative_improvement_gap_and_speedup() -> None:
    # the paper's Table 3 energy cost, 320.4 -> 280.7: its stated 12.4 %
    assert m.relative_improvement(320.4, 280.7) == pytest.approx(12.3908, abs=1e-4)
    assert m.relative_improvement(100.0, 110.0) == pytest.approx(-10.0)
    assert m.gap(105.0, 100.0) == pytest.approx(5.0)
    assert m.speedup(10.0, 2.0) == pytest.approx(5.0) and m.speedup(1.0, 0.0) == float("inf")
    assert m.violation_probability(3, 120) == pytest.approx(0.025)
    assert m.violation_probability(0, 0) == 0.0


def test_self_sufficiency() -> None:
    # (1000 + 0 - 0) + (500 + 200 + 200 - 0) = 1900 over 1700 kWh of load
    assert m.self_sufficiency(PLAN, RENEWABLE, LOAD) == pytest.approx(1900 / 1700)
    importing = {**PLAN, "gen": [0.0, 0.0], "imp": [0.0, 200.0]}
    assert m.self_sufficiency(importing, RENEWABLE, LOAD) == pytest.approx(1500 / 1700)
    assert m.self_sufficiency(PLAN, RENEWABLE, LOAD, omega=0.5) == pytest.approx(950 / 1700)


def test_reliability_counts_unserved_load_and_reserve_shortfall() -> None:
    need, plenty = [40.0, 45.0], [100.0, 100.0]
    assert m.reliability(PLAN, RENEWABLE, LOAD, need, plenty) == pytest.approx(1.0)
    # a 15 kW reserve shortfall in hour 2
    assert m.reliability(PLAN, RENEWABLE, LOAD, need, [100.0, 30.0]) == \
        pytest.approx(1 - 15 / 1700)
    # 200 kW shed by demand response instead of the diesel: 200 kWh not served
    shed = {**PLAN, "gen": [0.0, 0.0], "shed": [0.0, 200.0]}
    assert m.reliability(shed, RENEWABLE, LOAD, need, plenty) == pytest.approx(1 - 200 / 1700)


def test_quantum_classical_variance() -> None:
    other = {**PLAN, "gen": [0.0, 0.0], "shed": [0.0, 200.0]}
    assert m.qc_variance(other, PLAN) == pytest.approx(0.2**2 + 0.2**2)  # MW^2
    assert m.qc_variance(PLAN, PLAN) == 0.0


@pytest.fixture(scope="module")
def year() -> list[data.Week]:
    return data.year(2024)


def test_the_year_has_52_weeks_13_a_season(year: list[data.Week]) -> None:
    assert len(year) == 52 and [w.week for w in year] == list(range(1, 53))
    for name in data.SEASONS:
        assert sum(w.season == name for w in year) == 13
    assert all(w.pv.shape == w.wind.shape == w.demand.shape == (168,) for w in year)


def test_peak_demand_per_season(year: list[data.Week]) -> None:
    peaks = {name: max(float(w.demand.max()) for w in year if w.season == name)
             for name in data.SEASONS}
    assert peaks["summer"] == pytest.approx(3800.0) and peaks["winter"] == pytest.approx(2600.0)
    assert peaks["winter"] < peaks["spring"] < peaks["autumn"] < peaks["summer"]


def test_pv_energy_and_peak_hours(year: list[data.Week]) -> None:
    per_kwp_day = np.mean([w.pv.sum() / 7 / data.PV_KW for w in year])
    assert per_kwp_day == pytest.approx(4.5, rel=0.02)
    assert max(float(w.pv.max()) for w in year) <= data.PV_KW
    peak_hours = {int(np.argmax(w.pv[24 * d:24 * d + 24])) for w in year for d in range(7)}
    assert peak_hours <= set(range(10, 15))  # every day's PV peak lies in 10:00-15:00
    summer = np.mean([w.pv.sum() for w in year if w.season == "summer"])
    winter = np.mean([w.pv.sum() for w in year if w.season == "winter"])
    assert summer > 1.8 * winter


def test_wind_peaks_at_night(year: list[data.Week]) -> None:
    by_hour = np.mean([w.wind.reshape(7, 24).mean(axis=0) for w in year], axis=0)
    night = by_hour[[20, 21, 22, 23, 0, 1, 2, 3]].mean()
    day = by_hour[8:17].mean()
    assert night > 1.5 * day and max(float(w.wind.max()) for w in year) <= data.WIND_KW


def test_the_generator_is_seeded_and_days_are_on_the_lattice(year: list[data.Week]) -> None:
    again = data.year(2024)
    assert all(np.array_equal(a.demand, b.demand) and np.array_equal(a.wind, b.wind)
               for a, b in zip(year, again, strict=True))
    assert not np.array_equal(data.year(7)[0].wind, year[0].wind)
    day = year[30].day(3)
    for key in ("renewable", "load"):
        assert np.allclose(day[key] % data.STEP_KW, 0.0)
    assert np.all(day["renewable"] <= year[30].pv[72:96] + year[30].wind[72:96] + 1e-9)


def run_quick(out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "microgrid.py"), "--quick", "--workers", "1",
         "--methods", "milp", "pso", "sa", "qaoa", "--out", str(out)],
        capture_output=True, text=True, timeout=600, cwd=ROOT)


def test_quick_run_writes_jsonl_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "mg.jsonl"
    first = run_quick(out)
    assert first.returncode == 0, first.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    keys = {(r["week"], r["method"]) for r in rows}
    assert keys == {(1, "milp"), (31, "milp"), (1, "pso"), (31, "pso"), (1, "sa"), (31, "sa"),
                    (1, "qaoa")}
    milp = [r for r in rows if r["method"] == "milp"]
    assert all(d["feasible"] and d["status"] == "optimal" for r in milp
               for d in r["day_results"])
    assert all(len(r["day_results"]) == 2 for r in milp)
    pso = [r for r in rows if r["method"] == "pso"]
    assert sorted(r["seed"] for r in pso) == [1, 1, 2, 2]
    qaoa = next(r for r in rows if r["method"] == "qaoa")
    assert qaoa["qubits"] <= 20 and qaoa["p"] == 1 and qaoa["optimum"] is not None
    summary = (tmp_path / "mg.md").read_text()
    assert "| milp | 2 | 2/2 | 4/4 |" in summary and "| pso | 4 |" in summary
    for name in ("cost", "gaps", "schedule"):
        assert (tmp_path / f"mg_{name}.png").stat().st_size > 1000

    # a rerun has nothing left to do; a run cut short redoes only the tasks it lost
    again = run_quick(out)
    assert again.returncode == 0 and "0 tasks to run" in again.stderr
    assert len(out.read_text().splitlines()) == len(rows)
    kept = [json.dumps(r) for r in rows if r["method"] != "sa"]
    out.write_text("\n".join(kept) + "\n" + '{"week": 1, "meth')  # and a line cut by a kill
    resumed = run_quick(out)
    assert resumed.returncode == 0 and "2 tasks to run" in resumed.stderr
    rows2 = [json.loads(line) for line in out.read_text().splitlines()[len(kept) + 1:]]
    assert sorted((r["week"], r["method"]) for r in rows2) == [(1, "sa"), (31, "sa")]


def test_the_day_model_is_the_same_discrete_model_for_milp_and_qubo() -> None:
    from qgridlang.checker import check_file
    from qgridlang.dispatcher import compile_model, solve_model
    from qgridlang.registry import Options

    checked = check_file(ROOT / "examples" / "microgrid" / "microgrid_qubo_day.qgl")
    milp = solve_model(checked, "highs")
    assert milp.status.value == "optimal" and milp.objective == pytest.approx(5198.48)
    report = compile_model(checked, "qubo").report
    assert 300 <= report["n_bits"] <= 1500  # measured 886
    # a sampler's plan is decoded and priced by the model's own rows and objective: a feasible
    # one can never beat the MILP's proven optimum of the same discrete model
    sol = solve_model(checked, "sa", Options(seed=1, reads=5, sweeps=200))
    assert sol.objective is not None and (not sol.feasible or sol.objective >= milp.objective)
