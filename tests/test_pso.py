"""The ``pso`` backend: binary PSO with the rural-microgrid paper's settings (SPECS §D2)."""

from __future__ import annotations

import itertools

import dimod
import numpy as np
import pytest

from qgridlang.backends.pso import BatchEnergy, PsoSettings, binary_pso
from qgridlang.checker import check_text
from qgridlang.dispatcher import solve_model
from qgridlang.errors import UsageError
from qgridlang.registry import Options, get_backend

SMALL_MODEL = """model small_dispatch "two hours, a battery and a diesel on 50 kW steps"
time T = 1..2 step 1 h
param step: kW = 50
param load[T]: kW = {1: 150, 2: 200}
param pv[T]: kW = {1: 200, 2: 0}
var ch[T] integer in 0 .. 2
var dis[T] integer in 0 .. 2
var gen[T] integer in 0 .. 4
var spill[t in T] integer in 0 .. pv[t] / step
expr soc[t in T]: kWh = 100 + sum(k in T where k <= t) step * (ch[k] - dis[k]) * dt
constraint balance[t in T]:
  pv[t] - step * spill[t] + step * (gen[t] + dis[t] - ch[t]) == load[t]
constraint soc_window[t in T]: 0 <= soc[t] <= 200
minimize cost: sum(t in T) (0.3 * step * gen[t] + 0.01 * step * (ch[t] + dis[t])) * dt
quantum {
  encode ch as binary
  encode dis as binary
  encode gen as binary
  encode spill as binary
  penalty = auto
}
"""


def random_qubo(seed: int, n: int = 16) -> dimod.BinaryQuadraticModel:
    rng = np.random.default_rng(seed)
    quad = {(i, j): int(rng.integers(-20, 21)) for i in range(n) for j in range(i + 1, n)
            if rng.random() < 0.4}
    return dimod.BinaryQuadraticModel({i: int(rng.integers(-20, 21)) for i in range(n)}, quad,
                                      0.0, "BINARY")


def brute_force(bqm: dimod.BinaryQuadraticModel) -> float:
    states = np.array(list(itertools.product([0, 1], repeat=bqm.num_variables)), dtype=np.int8)
    return float(BatchEnergy(bqm)(states).min())


def test_batch_energy_equals_dimod() -> None:
    bqm = random_qubo(3, n=30)
    bqm.offset = 7.5
    x = (np.random.default_rng(0).random((40, 30)) < 0.5).astype(np.int8)
    assert np.allclose(BatchEnergy(bqm)(x), bqm.energies((x, list(bqm.variables))))


@pytest.mark.parametrize("instance", [100, 102, 104])
def test_reaches_the_brute_forced_optimum_for_most_seeds(instance: int) -> None:
    bqm = random_qubo(instance)
    optimum = brute_force(bqm)
    hits = sum(binary_pso(BatchEnergy(bqm), 16, PsoSettings(seed=s))[1].min() <= optimum + 1e-9
               for s in range(10))
    assert hits >= 6  # measured 7, 7, 10 of 10 on these instances


def test_a_seed_reproduces_the_swarm_and_the_defaults_are_the_papers() -> None:
    s = PsoSettings()
    assert (s.particles, s.iterations, s.inertia, s.c1, s.c2, s.vmax) == \
        (50, 200, 0.6, 1.4, 1.4, 4.0)
    bqm = random_qubo(7, n=24)
    a = binary_pso(BatchEnergy(bqm), 24, PsoSettings(seed=5, iterations=30))
    b = binary_pso(BatchEnergy(bqm), 24, PsoSettings(seed=5, iterations=30))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == 30
    c = binary_pso(BatchEnergy(bqm), 24, PsoSettings(seed=6, iterations=30))
    assert not np.array_equal(a[0], c[0])


def test_stop_ends_the_swarm_early() -> None:
    bqm = random_qubo(1)
    calls = iter(range(1000))
    _, _, done = binary_pso(BatchEnergy(bqm), 16, PsoSettings(seed=1),
                            stop=lambda: next(calls) >= 3)
    assert done == 3


def test_decodes_a_feasible_plan_of_a_small_model() -> None:
    checked = check_text(SMALL_MODEL)
    optimum = solve_model(checked, "highs").objective
    sol = solve_model(checked, "pso", Options(seed=3))
    assert sol.backend == "pso" and sol.feasible
    assert sol.objective == pytest.approx(optimum, abs=1e-6)
    info = sol.info
    assert info["particles"] == 50 and info["iterations_done"] == 200
    assert info["sampleset"]["samples"] == 50  # every particle's best comes back, decoded
    again = solve_model(checked, "pso", Options(seed=3))
    assert again.variables == sol.variables


@pytest.mark.parametrize("extra", [{"particles": 1}, {"particles": "many"}, {"iterations": 0},
                                   {"inertia": -0.1}, {"c1": "x"}, {"vmax": 0},
                                   {"iterations": 2.5}])
def test_bad_options_are_usage_errors(extra: dict[str, object]) -> None:
    checked = check_text(SMALL_MODEL)
    with pytest.raises(UsageError):
        solve_model(checked, "pso", Options(extra=extra))


def test_options_are_declared_with_defaults() -> None:
    backend = get_backend("pso")
    assert backend.target == "qubo"
    assert set(backend.OPTIONS) == {"particles", "iterations", "inertia", "c1", "c2", "vmax"}
    assert all("default" in text for text in backend.OPTIONS.values())
