"""The gymnasium Env a `policy` declaration builds from a model (qgridlang.policies.env).

Hand-checked steps, gymnasium's own checker, the MILP optimum replayed through the Env, the
model's dynamics (`prev` links) as the transition, scenario sets as stochastic episodes, and the
three action spaces.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env

import qgridlang
from qgridlang.checker import check_text
from qgridlang.policies.env import ModelEnv

UC = """
time T = 1..3 step 1 h
set G = {a, b}
param demand[T]: MW = {1: 50, 2: 120, 3: 80}
param cap[G]: MW = {a: 100, b: 60}
param cost[G]: $/MWh = {a: 10, b: 30}
var u[G, T] binary
var p[G, T]: MW >= 0
constraint bal[t in T]: sum(g in G) p[g, t] == demand[t]
constraint lim[g in G, t in T]: p[g, t] <= cap[g] * u[g, t]
minimize sum(g in G, t in T) (cost[g] * p[g, t] * 1 h + 100 $ * u[g, t])
policy commit: observe(demand[t], if t == first(T) then 0 else u[G, prev(t)])
    -> decide(u[G, t]) { agent = dqn }
"""

STORAGE = """
time T = 1..4 step 1 h
param price[T]: $/MWh = {1: 20, 2: 50, 3: 10, 4: 80}
param load[T]: MW = {1: 5, 2: 5, 3: 5, 4: 5}
var charge[T]: MW in -4 .. 4
var soc[T]: MWh in 0 .. 8
var buy[T]: MW >= 0
constraint energy[t in T]:
  soc[t] == (if t == first(T) then 2 MWh else soc[prev(t)]) + charge[t] * 1 h
constraint meet[t in T]: buy[t] == load[t] + charge[t]
minimize sum(t in T) price[t] * buy[t] * 1 h
policy store: observe(price[t], if t == first(T) then 2 MWh else soc[prev(t)])
    -> decide(charge[t]) {
  agent = sac; penalty = 1000
}
"""


def _env(text: str, name: str, **kw: object) -> ModelEnv:
    checked = check_text(text, "model.qgl")
    return ModelEnv(checked.flat, checked.flat.policies[name], **kw)


def test_env_passes_gymnasium_check_env() -> None:
    for text, name in ((UC, "commit"), (STORAGE, "store")):
        env = _env(text, name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # unbounded observation Box: stated, not an error
            check_env(env, skip_render_check=True)


def test_reward_is_minus_the_stage_cost_on_hand_checked_steps() -> None:
    env = _env(UC, "commit")
    assert isinstance(env.action_space, spaces.MultiBinary)
    env.reset(seed=0)
    # t = 1: a on (10 $/MWh x 50 MW) + 100 $ commitment = 600 $
    _, r, done, _, info = env.step(np.array([1, 0]))
    assert (r, info["cost"], info["violation"], done) == (-600.0, 600.0, 0.0, False)
    # t = 2: both on: a at 100 MW (1000 $) + b at 20 MW (600 $) + 200 $ = 1800 $
    _, r, _, _, info = env.step(np.array([1, 1]))
    assert r == pytest.approx(-1800.0) and info["cost"] == pytest.approx(1800.0)
    # t = 3: none on: 80 MW of balance broken, priced at 10 x the largest coefficient (100 $)
    _, r, done, _, info = env.step(np.array([0, 0]))
    assert env.penalty == 1000.0
    assert info["cost"] == 0.0 and info["violation"] == pytest.approx(80.0)
    assert info["violations"] == [("bal[3]", pytest.approx(80.0), "MW")]
    assert r == pytest.approx(-80_000.0) and done


def test_the_milp_optimum_replayed_through_the_env_costs_the_same() -> None:
    """Decisions taken from the exact MILP of the whole horizon: the stage problems complete
    them to the same plan, so the episode's cost is the MILP's objective."""
    sol = qgridlang.solve(UC)
    env = _env(UC, "commit")
    env.reset(seed=0)
    total = 0.0
    for t in (1, 2, 3):
        a = np.array([round(sol.value("u", (g, t))) for g in ("a", "b")])
        _, r, _, _, info = env.step(a)
        total += info["cost"]
        assert info["violation"] == 0.0
    assert total == pytest.approx(sol.objective) and sol.objective == pytest.approx(3300.0)


def test_the_observation_reads_realised_earlier_periods() -> None:
    env = _env(STORAGE, "store", normalize=False)
    assert isinstance(env.action_space, spaces.Box)
    assert env.action_space.low.tolist() == [-4.0] and env.action_space.high.tolist() == [4.0]
    obs, _ = env.reset(seed=0)
    assert obs.tolist() == [20.0, 2.0]
    obs, r, _, _, info = env.step(np.array([3.0], np.float32))  # soc 2 -> 5, buy 8 MW at 20
    assert obs.tolist() == [50.0, 5.0] and r == pytest.approx(-160.0)
    obs, r, _, _, info = env.step(np.array([-4.0], np.float32))  # soc 5 -> 1, buy 1 MW at 50
    assert obs.tolist() == [10.0, 1.0] and r == pytest.approx(-50.0)
    # draining 4 MWh from 1 MWh breaks the energy balance by 3 MWh (penalty 1000 $ per MWh)
    _, r, _, _, info = env.step(np.array([-4.0], np.float32))
    assert info["violation"] == pytest.approx(3.0)
    assert r == pytest.approx(-(10.0 * 1.0 + 1000.0 * 3.0))


def test_normalised_observations_span_minus_one_to_one() -> None:
    env = _env(STORAGE, "store")
    seen = []
    obs, _ = env.reset(seed=0)
    done = False
    while not done:
        seen.append(obs)
        obs, _, done, _, _ = env.step(np.array([0.0], np.float32))
    prices = np.array(seen)[:, 0]
    assert prices.min() == pytest.approx(-1.0) and prices.max() == pytest.approx(1.0)
    assert np.all(np.abs(np.array(seen)) <= 1.0 + 1e-6)  # soc by its bounds 0 .. 8 MWh


SCENARIOS = """
time T = 1..2 step 1 h
param demand[T]: MW = {1: 50, 2: 60}
set S = 1..5
scenarios S = sample(seed = 3) { dev[t in T] ~ normal(0, 10) }
var u[S, T] binary
var p[S, T]: MW >= 0
var shed[S, T]: MW >= 0
constraint bal[s in S, t in T]: p[s, t] + shed[s, t] == demand[t] + dev[s, t]
constraint lim[s in S, t in T]: p[s, t] <= 100 MW * u[s, t]
minimize sum(s in S, t in T)
  (20 $/MWh * p[s, t] * 1 h + 50 $ * u[s, t] + 1000 $/MWh * shed[s, t] * 1 h)
policy run[s in S, t in T]: observe(demand[t] + dev[s, t]) -> decide(u[s, t]) { agent = dqn }
"""


def test_a_scenario_set_gives_stochastic_episodes() -> None:
    checked = check_text(SCENARIOS, "model.qgl")
    spec = checked.flat.policies["run"]
    assert spec.episode_sets == ("S",) and len(spec.episode_keys) == 5
    assert spec.episode_probs == pytest.approx(np.full(5, 0.2))
    env = ModelEnv(checked.flat, spec, normalize=False)
    dev = checked.flat.sampled["dev"]
    drawn = set()
    for seed in range(20):
        obs, info = env.reset(seed=seed)
        s = info["episode"][0]
        drawn.add(s)
        k = dev.keys.index((1,))
        assert obs[0] == pytest.approx(50.0 + dev.values[k, s - 1], rel=1e-6)
        _, r, _, _, step = env.step(np.array([1]))
        assert step["cost"] == pytest.approx(50.0 + 20.0 * obs[0])
    assert len(drawn) >= 3  # episodes are drawn, not fixed
    obs, info = env.reset(options={"episode": 4})
    assert info["episode"] == (5,)


def test_integer_decisions_are_a_multidiscrete_offset_by_their_bound() -> None:
    text = UC.replace("var u[G, T] binary", "var u[G, T] integer in 1 .. 3").replace(
        "p[g, t] <= cap[g] * u[g, t]", "p[g, t] <= cap[g] * u[g, t] / 3")
    env = _env(text, "commit")
    assert isinstance(env.action_space, spaces.MultiDiscrete)
    assert env.action_space.nvec.tolist() == [3, 3]
    assert env.decision(np.array([0, 2])).tolist() == [1.0, 3.0]


def test_a_step_after_another_thread_count_in_this_thread(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    """HiGHS 1.16 keeps one scheduler per thread: after a threads=2 solve in the calling thread,
    the stage solves (threads=1) failed with kNotset until the Env reset the scheduler."""
    import highspy

    from qgridlang.backends import highs
    from qgridlang.dispatcher import solve_model
    from qgridlang.registry import Options

    highspy.Highs.resetThreadScheduler(True)
    monkeypatch.setattr(highs, "_call", lambda s, work: work())  # solve in this thread
    assert solve_model(check_text(UC, "m.qgl"), "highs", Options(threads=2)).objective == \
        pytest.approx(3300.0)
    env = _env(UC, "commit")
    env.reset(seed=0)
    _, r, _, _, _ = env.step(np.array([1, 0]))
    assert r == -600.0
    highspy.Highs.resetThreadScheduler(True)


def test_a_max_epigraph_column_belongs_to_the_period_of_its_rows() -> None:
    text = """
time T = 1..3 step 1 h
param demand[T]: MW = {1: 50, 2: 120, 3: 80}
var u[T] binary
var p[T]: MW in 0 .. 150
constraint lim[t in T]: p[t] <= 150 MW * u[t]
minimize sum(t in T) (10 $/MWh * p[t] * 1 h + 1000 $/MWh * max(demand[t] - p[t], 0 MW) * 1 h)
policy run: observe(demand[t]) -> decide(u[t]) { agent = dqn }
"""
    env = _env(text, "run")
    env.reset(seed=0)
    costs = [env.step(np.array([a]))[4]["cost"] for a in (1, 0, 1)]
    assert costs == [500.0, 120_000.0, 800.0]  # hour 2 uncommitted: 120 MW short at 1000 $/MWh
