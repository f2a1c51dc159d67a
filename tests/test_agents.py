"""The RL agents (qgridlang.policies.agents): registry and options, the SPECS §B5 circuit against
an independent statevector simulation, the double-DQN target and branching heads, learning on
tiny environments with fixed seeds, save/load and resumable training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qgridlang.policies.agents import (
    AGENTS,
    AgentError,
    agent_defaults,
    agent_keywords,
    evaluate,
    load_agent,
    make_agent,
    train,
)
from qgridlang.policies.agents.circuit import Circuit

# ---------------------------------------------------------------------------------------------
# tiny environments


class ContextBandit(gym.Env[np.ndarray, Any]):
    """Each step shows one of two states (obs [1, 0] or [0, 1], drawn uniformly); ``horizon``
    steps per episode, the last one terminating.

    - Discrete(2): reward 1 when the action equals the state, else 0;
    - MultiBinary(k): reward = the number of bits equal to the state's pattern (state 0:
      1, 0, 1, 0, ...; state 1: the complement);
    - Box: reward -(a - c_s)^2 with c_0 = 1.5, c_1 = 0.5 in the Box [0, 2]^dim.
    Each step's info carries cost = 2 and violation = 0.5 (summed by ``train``).
    """

    TARGETS = (1.5, 0.5)

    def __init__(self, kind: str, dim: int = 1, horizon: int = 8) -> None:
        self.kind, self.dim, self.horizon = kind, dim, horizon
        self.observation_space = gym.spaces.Box(0.0, 1.0, (2,), np.float32)
        if kind == "discrete":
            self.action_space: gym.Space[Any] = gym.spaces.Discrete(2)
        elif kind == "multibinary":
            self.action_space = gym.spaces.MultiBinary(dim)
        else:
            self.action_space = gym.spaces.Box(0.0, 2.0, (dim,), np.float32)
        self.state, self.t = 0, 0

    def _obs(self) -> np.ndarray:
        return np.eye(2, dtype=np.float32)[self.state]

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self.state, self.t = int(self.np_random.integers(2)), 0
        return self._obs(), {}

    def pattern(self, state: int) -> np.ndarray:
        return (np.arange(self.dim) + state) % 2 == 0

    def reward(self, state: int, action: Any) -> float:
        if self.kind == "discrete":
            return float(action == state)
        if self.kind == "multibinary":
            return float(np.sum(np.asarray(action, bool) == self.pattern(state)))
        return float(-np.sum((np.asarray(action) - self.TARGETS[state]) ** 2))

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        assert self.action_space.contains(action), action
        r = self.reward(self.state, action)
        self.t += 1
        self.state = int(self.np_random.integers(2))
        return self._obs(), r, self.t >= self.horizon, False, {"cost": 2.0, "violation": 0.5}


STATES = [np.array([1, 0], np.float32), np.array([0, 1], np.float32)]

# ---------------------------------------------------------------------------------------------
# registry and options


def test_registry_names_keywords_and_defaults() -> None:
    assert set(AGENTS) == {"dqn", "qdqn", "sac", "qsac"}
    assert agent_defaults("qdqn")["qubits"] == 8 and agent_defaults("qdqn")["layers"] == 4
    assert agent_defaults("dqn")["hidden"] == 64 and agent_defaults("dqn")["hidden_layers"] == 2
    assert "qubits" in agent_keywords("qsac") and "qubits" not in agent_keywords("sac")
    assert agent_defaults("sac")["tau"] == 0.005 and agent_defaults("sac")["batch_size"] == 64
    assert set(agent_keywords("dqn")) == set(agent_defaults("dqn"))


@pytest.mark.parametrize(("name", "options", "match"), [
    ("qdnq", {}, "did you mean 'qdqn'"),
    ("qdqn", {"qubit": 4}, "did you mean 'qubits'"),
    ("qdqn", {"qubits": 0}, "positive"),
    ("qdqn", {"layers": 2.5}, "whole number"),
    ("dqn", {"gamma": 1.5}, r"\[0.0, 1.0\]"),
    ("sac", {"autotune": 2}, "true or false"),
    ("sac", {"learning_rate": "fast"}, "number"),
])
def test_bad_agent_or_option_is_an_agent_error(name: str, options: dict[str, Any],
                                               match: str) -> None:
    env = ContextBandit("discrete" if "dq" in name else "box")
    with pytest.raises(AgentError, match=match):
        make_agent(name, env.observation_space, env.action_space, options, seed=0)


def test_options_are_converted_to_the_defaults_types() -> None:
    env = ContextBandit("discrete")
    agent = make_agent("dqn", env.observation_space, env.action_space,
                       {"learning_rate": 1, "hidden": 8.0}, seed=0)
    assert agent.options["learning_rate"] == 1.0 and isinstance(agent.options["hidden"], int)


@pytest.mark.parametrize(("name", "space", "match"), [
    ("sac", gym.spaces.Discrete(3), "Box actions"),
    ("dqn", gym.spaces.Box(-1.0, 1.0, (2,)), "Discrete, MultiBinary"),
    ("sac", gym.spaces.Box(-np.inf, np.inf, (2,)), "bounded"),
    ("qsac", gym.spaces.Box(-1.0, 1.0, (3,)), "qubits >= 3"),
])
def test_unsupported_spaces_are_refused(name: str, space: gym.Space[Any], match: str) -> None:
    obs = gym.spaces.Box(-1.0, 1.0, (2,))
    with pytest.raises(AgentError, match=match):
        make_agent(name, obs, space, {"qubits": 2} if name == "qsac" else {}, seed=0)


# ---------------------------------------------------------------------------------------------
# the circuit


def _statevector_expvals(y: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """<Z_n> of SPECS eq. 34 by a plain numpy statevector (wire 0 = the most significant bit):
    H on all, then per layer RX(pi y_n), CZ(n, n+1), RY(tanh theta_gn)."""
    n = y.size
    psi = np.zeros([2] * n, complex)
    psi[(0,) * n] = 1.0

    def one(psi: np.ndarray, u: np.ndarray, k: int) -> np.ndarray:
        return np.moveaxis(np.tensordot(u, psi, axes=([1], [k])), 0, k)

    h = np.array([[1, 1], [1, -1]]) / np.sqrt(2)
    for k in range(n):
        psi = one(psi, h, k)
    for g in range(theta.shape[0]):
        for k in range(n):
            c, s = np.cos(np.pi * y[k] / 2), np.sin(np.pi * y[k] / 2)
            psi = one(psi, np.array([[c, -1j * s], [-1j * s, c]]), k)
        for k in range(n - 1):
            idx: list[Any] = [slice(None)] * n
            idx[k], idx[k + 1] = 1, 1
            psi[tuple(idx)] *= -1
        for k in range(n):
            a = np.tanh(theta[g, k]) / 2
            psi = one(psi, np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]), k)
    prob = np.abs(psi) ** 2
    return np.array([np.sum(np.take(prob, 0, axis=k)) - np.sum(np.take(prob, 1, axis=k))
                     for k in range(n)])


def test_circuit_matches_a_statevector_simulation() -> None:
    circuit = Circuit(inputs=5, qubits=3, layers=3)
    params = circuit.init(jax.random.PRNGKey(3))
    x = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)
    z = np.asarray(circuit.expvals(params, jnp.asarray(x)))
    assert z.shape == (4, 3)
    y = np.asarray(circuit.features(params, jnp.asarray(x)))
    np.testing.assert_allclose(np.linalg.norm(y, axis=1), 1.0, rtol=1e-5)  # L2-normalised
    theta = np.asarray(params["theta"])
    for row in range(4):
        np.testing.assert_allclose(z[row], _statevector_expvals(y[row], theta), atol=2e-5)


def test_circuit_parameters_and_qdqn_readout_for_eleven_units() -> None:
    # SPECS §B5 / the UC-VPP day-ahead stage: 19 observations, MultiBinary(11), 8 qubits, 4 layers
    obs = gym.spaces.Box(-1.0, 1.0, (19,), np.float32)
    agent = make_agent("qdqn", obs, gym.spaces.MultiBinary(11), {}, seed=0)
    p = agent.params
    assert p["circuit"]["reduce"]["w"].shape == (19, 8)
    assert p["circuit"]["theta"].shape == (4, 8)
    assert p["out"]["w"].shape == (8, 22)  # 8 <Z> -> 11 heads x {off, on}
    assert agent.circuit.parameter_count() == 19 * 8 + 8 + 4 * 8
    assert agent.parameter_count() == 19 * 8 + 8 + 4 * 8 + 8 * 22 + 22
    assert agent.q_values(np.zeros(19, np.float32)).shape == (11, 2)
    action = agent.act(np.full(19, 0.3, np.float32))
    assert agent.action_space.contains(action) and action.shape == (11,)


def test_circuit_gradient_reaches_reduction_and_rotations() -> None:
    circuit = Circuit(inputs=4, qubits=3, layers=2)
    params = circuit.init(jax.random.PRNGKey(0))
    x = jnp.asarray(np.random.default_rng(1).normal(size=(6, 4)), jnp.float32)
    grads = jax.grad(lambda p: jnp.sum(circuit.expvals(p, x)[:, 0]))(params)
    assert float(jnp.abs(grads["theta"]).sum()) > 1e-4
    assert float(jnp.abs(grads["reduce"]["w"]).sum()) > 1e-4


# ---------------------------------------------------------------------------------------------
# DQN: branching heads and the double-DQN target


def _linear(w: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    return {"l0": {"w": jnp.asarray(w, jnp.float32), "b": jnp.asarray(b, jnp.float32)}}


def test_branching_heads_take_each_dimensions_argmax_and_skip_padding() -> None:
    obs = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    agent = make_agent("dqn", obs, gym.spaces.MultiDiscrete([3, 2, 3], start=[1, 0, -1]), {},
                       seed=0)
    # a linear Q-network with zero weights: Q = the bias, heads padded to width 3; the padded
    # third entry of head 1 is the largest value and must never be chosen
    bias = np.array([0.1, 0.9, 0.3, 0.7, 0.2, 5.0, 0.4, 0.0, 0.8])
    agent.params = _linear(np.zeros((2, 9)), bias)
    action = agent.act(np.zeros(2, np.float32))
    np.testing.assert_array_equal(action, [1 + 1, 0, -1 + 2])
    binary = make_agent("dqn", obs, gym.spaces.MultiBinary(3), {}, seed=0)
    binary.params = _linear(np.zeros((2, 6)), [0.0, 1.0, 2.0, -1.0, 0.5, 0.4])
    np.testing.assert_array_equal(binary.act(np.zeros(2, np.float32)), [1, 0, 0])


def test_double_dqn_target_is_the_head_mean_of_target_values_at_online_argmax() -> None:
    obs = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    agent = make_agent("dqn", obs, gym.spaces.MultiBinary(2), {"gamma": 0.9}, seed=0)
    rng = np.random.default_rng(5)
    w, b, wt, bt = rng.normal(size=(2, 4)), rng.normal(size=4), rng.normal(size=(2, 4)), \
        rng.normal(size=4)
    online, target = _linear(w, b), _linear(wt, bt)
    s, s2 = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    a = np.array([[0, 1], [1, 1], [0, 0]])
    r, d = np.array([1.0, -0.5, 2.0]), np.array([0.0, 1.0, 0.0])
    _, _, loss = agent._update(online, target, agent.tx.init(online), jnp.asarray(s, jnp.float32),
                               jnp.asarray(a, jnp.int32), jnp.asarray(r, jnp.float32),
                               jnp.asarray(s2, jnp.float32), jnp.asarray(d, jnp.float32))
    q = (s @ w + b).reshape(3, 2, 2)
    q_next_online = (s2 @ w + b).reshape(3, 2, 2)
    q_next_target = (s2 @ wt + bt).reshape(3, 2, 2)
    best = q_next_online.argmax(-1)
    y = r + 0.9 * (1 - d) * np.take_along_axis(q_next_target, best[..., None], -1)[..., 0].mean(1)
    expected = np.mean((np.take_along_axis(q, a[..., None], -1)[..., 0] - y[:, None]) ** 2)
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    # not the plain DQN target (max of the target network), which differs on this data
    y_max = r + 0.9 * (1 - d) * q_next_target.max(-1).mean(1)
    plain = np.mean((np.take_along_axis(q, a[..., None], -1)[..., 0] - y_max[:, None]) ** 2)
    assert abs(plain - expected) > 1e-3


# ---------------------------------------------------------------------------------------------
# learning on the tiny environments (fixed seeds)

FAST_DQN = {"learning_starts": 32, "batch_size": 32, "target_sync": 20, "gamma": 0.5,
            "exploration_fraction": 0.5}
FAST_SAC = {"learning_starts": 64, "batch_size": 32, "gamma": 0.5, "learning_rate": 3e-3,
            "critic_learning_rate": 3e-3}


@pytest.mark.parametrize(("name", "options", "episodes"), [
    ("dqn", {**FAST_DQN, "hidden": 16, "learning_rate": 1e-2}, 40),
    ("qdqn", {**FAST_DQN, "qubits": 2, "layers": 2, "learning_rate": 5e-2}, 40),
])
def test_dqn_agents_learn_the_better_action(name: str, options: dict[str, Any],
                                            episodes: int) -> None:
    env = ContextBandit("discrete")
    agent = make_agent(name, env.observation_space, env.action_space, options, seed=1)
    before = [agent.act(s) for s in STATES]
    history = train(agent, env, episodes, seed=1)
    assert [agent.act(s) for s in STATES] == [0, 1], (before, agent.q_values(STATES[0]))
    assert np.mean(evaluate(agent, env, 5, seed=1)) == 8.0  # every greedy step is right
    assert history[0]["cost"] == 16.0 and history[0]["violation"] == 4.0


def test_dqn_branching_learns_a_multibinary_pattern() -> None:
    env = ContextBandit("multibinary", dim=3)
    agent = make_agent("dqn", env.observation_space, env.action_space,
                       {**FAST_DQN, "hidden": 16, "learning_rate": 1e-2}, seed=2)
    train(agent, env, 40, seed=2)
    for state, obs in enumerate(STATES):
        np.testing.assert_array_equal(agent.act(obs), env.pattern(state).astype(np.int8))


@pytest.mark.parametrize(("name", "options", "episodes"), [
    ("sac", {**FAST_SAC, "hidden": 32}, 40),
    ("qsac", {**FAST_SAC, "hidden": 32, "qubits": 2, "layers": 2, "learning_rate": 3e-2}, 40),
])
def test_sac_agents_learn_the_targets(name: str, options: dict[str, Any],
                                      episodes: int) -> None:
    env = ContextBandit("box")
    agent = make_agent(name, env.observation_space, env.action_space, options, seed=1)
    train(agent, env, episodes, seed=1)
    for state, obs in enumerate(STATES):
        action = agent.act(obs)
        assert env.action_space.contains(action)
        assert abs(float(action[0]) - env.TARGETS[state]) < 0.25, (state, action)


# ---------------------------------------------------------------------------------------------
# files: round trips and resumable training


def _leaves(tree: Any) -> list[np.ndarray]:
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(tree)]


@pytest.mark.parametrize("name", ["dqn", "qdqn", "sac", "qsac"])
def test_save_load_round_trip(name: str, tmp_path: Path) -> None:
    env = ContextBandit("box" if "sac" in name else "multibinary", dim=2)
    options = {**(FAST_SAC if "sac" in name else FAST_DQN)}
    options.update({"qubits": 2, "layers": 2} if name.startswith("q") else {})
    options.update({"hidden": 8} if name != "qdqn" else {})
    agent = make_agent(name, env.observation_space, env.action_space, options, seed=4)
    train(agent, env, 10, seed=4)  # past learning_starts: parameters and optimiser moved
    assert agent.updates > 0
    path = tmp_path / "agent.qgla"
    agent.save(path, extra={"policy": "commit", "episodes": 10})
    loaded, extra = load_agent(path)
    assert extra == {"policy": "commit", "episodes": 10}
    assert loaded.name == name and loaded.options == agent.options
    assert loaded.step == agent.step and loaded.parameter_count() == agent.parameter_count()
    for mine, theirs in zip(_leaves(agent._arrays()), _leaves(loaded._arrays()), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    probe = np.random.default_rng(0).uniform(0, 1, (5, 2)).astype(np.float32)
    for obs in probe:
        np.testing.assert_array_equal(agent.act(obs), loaded.act(obs))
    assert loaded.buffer.size == 0  # a plain save has no replay buffer; checkpoints do


def test_load_refuses_a_file_that_is_not_an_agent(tmp_path: Path) -> None:
    path = tmp_path / "x.qgla"
    path.write_bytes(b"\x81\xa6format\xa3bad")
    with pytest.raises(AgentError, match="not a qgridlang agent file"):
        load_agent(path)


@pytest.mark.parametrize("name", ["dqn", "sac"])
def test_resumed_training_continues_and_equals_an_uninterrupted_run(name: str,
                                                                    tmp_path: Path) -> None:
    env = ContextBandit("box" if name == "sac" else "discrete")
    options = {**(FAST_SAC if name == "sac" else FAST_DQN), "hidden": 8}

    def fresh() -> Any:
        return make_agent(name, env.observation_space, env.action_space, options, seed=3)

    whole = fresh()
    full = train(whole, env, 12, seed=3)
    ckpt = tmp_path / "run.ckpt"

    class Stop(Exception):
        pass

    def stop_after_six(record: dict[str, Any]) -> None:
        if record["episode"] == 6:
            raise Stop  # the run dies after episode 6; the last checkpoint holds 4 episodes

    with pytest.raises(Stop):
        train(fresh(), env, 12, seed=3, checkpoint=ckpt, every=4, on_episode=stop_after_six)
    seen: list[int] = []
    resumed_agent = fresh()  # a new process starts from a new agent
    resumed = train(resumed_agent, env, 12, seed=3, checkpoint=ckpt, every=4,
                    on_episode=lambda r: seen.append(r["episode"]))
    assert seen == list(range(5, 13))  # only the missing episodes ran
    assert [r["episode"] for r in resumed] == list(range(1, 13))
    assert [r["reward"] for r in resumed] == [r["reward"] for r in full]
    for mine, theirs in zip(_leaves(whole._arrays()), _leaves(resumed_agent._arrays()),
                            strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-6, atol=1e-7)
    # a checkpoint of another agent configuration is refused
    other = make_agent(name, env.observation_space, env.action_space,
                       {**options, "batch_size": 16}, seed=3)
    with pytest.raises(AgentError, match="options differs"):
        train(other, env, 13, seed=3, checkpoint=ckpt)


def test_reward_scale_reaches_learning_only() -> None:
    env = ContextBandit("discrete")
    agent = make_agent("dqn", env.observation_space, env.action_space, FAST_DQN, seed=0)
    history = train(agent, env, 2, seed=0, reward_scale=0.1)
    stored = agent.buffer.rewards[:agent.buffer.size]
    assert sum(r["reward"] for r in history) == pytest.approx(10 * float(stored.sum()))
    assert float(stored.max()) == pytest.approx(0.1)
