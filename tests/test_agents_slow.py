"""Validation of the classical agents on gymnasium's standard tasks (``slow``: minutes each), so
that RL numbers on our models can be trusted: DQN solves CartPole-v1 (greedy mean return >= 475,
the solved threshold) and SAC reaches about -200 on Pendulum-v1.

The measured numbers are in docs/language/policies.md ("Agents"); run with
``pytest -m slow -s tests/test_agents_slow.py``.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from qgridlang.policies.agents import evaluate, make_agent, train

pytestmark = pytest.mark.slow

# CleanRL dqn_jax.py's settings (lr 2.5e-4, batch 128, target every 500 steps, end epsilon
# 0.05, hidden 120) with learning from step 1000 and every step, epsilon over 20 % of 600 episodes
CARTPOLE = {"learning_rate": 2.5e-4, "batch_size": 128, "target_sync": 500,
            "train_frequency": 1, "learning_starts": 1000, "epsilon_end": 0.05,
            "exploration_fraction": 0.2, "hidden": 120}


def test_dqn_solves_cartpole() -> None:
    env = gym.make("CartPole-v1")
    agent = make_agent("dqn", env.observation_space, env.action_space, CARTPOLE, seed=1)
    history = train(agent, env, 600, seed=1)
    greedy = evaluate(agent, env, 20, seed=1)
    last = np.mean([r["reward"] for r in history[-20:]])
    print(f"CartPole-v1 dqn: greedy {np.mean(greedy):.1f}, last 20 training episodes {last:.1f}")
    assert np.mean(greedy) >= 475.0, (np.mean(greedy), last)


def test_sac_reaches_minus_200_on_pendulum() -> None:
    env = gym.make("Pendulum-v1")
    agent = make_agent("sac", env.observation_space, env.action_space, {}, seed=1)
    history = train(agent, env, 100, seed=1)
    greedy = evaluate(agent, env, 10, seed=1)
    last = np.mean([r["reward"] for r in history[-10:]])
    print(f"Pendulum-v1 sac: greedy {np.mean(greedy):.1f}, last 10 training episodes {last:.1f}")
    assert np.mean(greedy) >= -250.0, np.mean(greedy)
